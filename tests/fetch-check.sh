#!/usr/bin/env bash
# fetch-check.sh — `decobench fetch` (harness/util/fetch.c) against a real
# HTTP server: lighttpd on 127.0.0.1 (two free ports), a generated config
# serving a temporary directory (static files with Range support) and small
# CGI scripts for what a static server cannot do: a 302 to the second port,
# 401 unless a token, 500 then 200, a body cut mid-way, a slow server, the
# Hub's X-Linked-Etag / X-Repo-Commit / git-sha1 ETag headers.  Checks: a
# full download, resume (in one process after a cut, and across processes
# from a partial file), redirects without the token, 401 with and without a
# token, 404, 5xx retries, wrong sha256 (given and the Hub's), timeouts, disk
# full and an unwritable cache (no file left under the final name), two
# concurrent fetches (one download), offline mode, bad input (exit 2), and
# that the token never appears in any output or cached file.  Skips when
# lighttpd is missing (scripts/setup.sh --test installs it).
# Ends with "N passed, N failed[, N skipped]".
set -u
src="${DB_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
build="$(cd "${DB_BUILDDIR:-$src}" && pwd)"
src="$(cd "$src" && pwd)"
bin="$build/decobench"
. "$src/tests/lib.sh"

"$bin" fetch --help >/dev/null 2>&1 && "$bin" fetch --help | grep -q "^usage: decobench fetch" &&
  "$bin" --help | grep -q "^  fetch " && ok "fetch --help, and fetch in decobench --help" || fail "fetch --help"

# DB_LIGHTTPD: the server binary (default: lighttpd on PATH or in /usr/sbin)
lighttpd="${DB_LIGHTTPD:-$(command -v lighttpd || ls /usr/sbin/lighttpd 2>/dev/null || true)}"
if [ -z "$lighttpd" ] || [ ! -x "$lighttpd" ]; then
  skip "fetch-check" "lighttpd is not installed (apt-get install lighttpd; scripts/setup.sh --test does)"
  finish
fi
if ! command -v python3 >/dev/null; then
  skip "fetch-check" "python3 (the CGI scripts) is not installed"
  finish
fi

tmp="$(mktemp -d /tmp/decobench-fetch.XXXXXX)"
chmod 755 "$tmp"
pidfile="$tmp/lighttpd.pid"
cleanup() {
  [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
  chmod -R u+w "$tmp" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp" || exit 1
export no_proxy="127.0.0.1" NO_PROXY="127.0.0.1"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy HF_HUB_OFFLINE HF_ENDPOINT
TOKEN="hf_s3cr3tTOKENvalue42"

read -r p1 p2 < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1",0))
print(*[x.getsockname()[1] for x in s])')
base="http://127.0.0.1:$p1"
export DECOBENCH_HF_ENDPOINT="$base"
www="$tmp/www"
mkdir -p "$www/data" "$tmp/state"

# ---- content: deterministic bytes -------------------------------------------------
python3 -c 'import sys,random; r=random.Random(9); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(300000)))' > "$tmp/blob"
sha_blob="$(sha256sum "$tmp/blob" | cut -c1-64)"
printf 'hello, cut test\n%.0s' {1..4000} > "$tmp/text"
sha_text="$(sha256sum "$tmp/text" | cut -c1-64)"
cp "$tmp/blob" "$www/data/blob.bin"
mkdir -p "$www/org/repo/resolve/main/sub" "$www/org/repo/resolve/v1"
cp "$tmp/blob" "$www/org/repo/resolve/main/model.gguf"
cp "$tmp/text" "$www/org/repo/resolve/v1/notes.txt"
cp "$tmp/blob" "$www/org/repo/resolve/main/sub/other.bin"
cp "$tmp/text" "$www/org/repo/resolve/main/unused.bin"   # never fetched: the unwritable cache must fail first
# section 14's suite: a model and a dataset in the Hub layout, served with the Hub's headers
commit14="$(printf '5eedc0de%.0s' 1 2 3 4 5)"
mkdir -p "$www/org/tiny/resolve/main" "$www/datasets/org/prompts/resolve/main"
cp "$src/data/models/draft.gguf" "$www/org/tiny/resolve/main/draft.gguf"
sha_model="$(sha256sum "$www/org/tiny/resolve/main/draft.gguf" | cut -c1-64)"
printf '{"id": "q1", "prompt": "The old house stood at the end of the road"}\n{"id": "q2", "prompt": "In the beginning there was"}\n' \
  > "$www/datasets/org/prompts/resolve/main/p.jsonl"
sha_ds="$(sha256sum "$www/datasets/org/prompts/resolve/main/p.jsonl" | cut -c1-64)"

# ---- CGI scripts ---------------------------------------------------------------------
# one Python helper, the behaviour chosen by the script's name
cat > "$tmp/cgi.py" <<PY
import os, sys, time, hashlib
name = os.path.basename(os.environ.get("SCRIPT_FILENAME", ""))
state = "$tmp/state"
out = sys.stdout.buffer
def log(what):
    with open(os.path.join(state, name + ".log"), "a") as f:
        f.write(what + "\n")
def count():
    p = os.path.join(state, name + ".n")
    n = int(open(p).read()) if os.path.exists(p) else 0
    open(p, "w").write(str(n + 1))
    return n
def send(body, status=200, headers=()):
    rng = os.environ.get("HTTP_RANGE", "")
    start = 0
    if rng.startswith("bytes=") and rng.endswith("-"):
        start = int(rng[6:-1])
    part = body[start:]
    if start:
        out.write(b"Status: 206\r\nContent-Range: bytes %d-%d/%d\r\n" % (start, len(body) - 1, len(body)))
    else:
        out.write(b"Status: %d\r\n" % status)
    for h in headers:
        out.write(h.encode() + b"\r\n")
    out.write(b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(part))
    return part
blob = open("$tmp/blob", "rb").read()
text = open("$tmp/text", "rb").read()
log("range=%s auth=%s" % (os.environ.get("HTTP_RANGE", "-"), "yes" if os.environ.get("HTTP_AUTHORIZATION") else "no"))
if name == "cut.cgi":
    body = send(blob)
    if os.environ.get("HTTP_RANGE"):
        out.write(body)
    else:
        out.write(body[:100000]); out.flush()
        os._exit(0)                       # the connection closes mid-body
elif name == "redirect.cgi":
    out.write(b"Status: 302\r\nLocation: http://127.0.0.1:$p2/target.cgi\r\nContent-Length: 0\r\n\r\n")
elif name == "target.cgi":
    out.write(send(text))
elif name == "auth.cgi":
    if os.environ.get("HTTP_AUTHORIZATION") == "Bearer $TOKEN":
        out.write(send(text))
    else:
        out.write(b"Status: 401\r\nContent-Type: text/plain\r\n\r\nno\n")
elif name == "flaky.cgi":
    if count() == 0:
        out.write(b"Status: 500\r\nContent-Type: text/plain\r\n\r\nboom\n")
    else:
        out.write(send(text))
elif name == "busy.cgi":
    out.write(b"Status: 503\r\nRetry-After: 0\r\nContent-Type: text/plain\r\n\r\nbusy\n")
elif name == "slow.cgi":
    time.sleep(8)
    out.write(send(text))
elif name == "trickle.cgi":
    body = send(blob)
    for i in range(0, len(body), 30000):
        out.write(body[i:i + 30000]); out.flush(); time.sleep(0.15)
elif name in ("lfs.cgi", "lfsbad.cgi"):
    h = hashlib.sha256(blob).hexdigest() if name == "lfs.cgi" else "0" * 64
    out.write(send(blob, headers=["X-Repo-Commit: " + "c0ffee" * 6 + "abcd", 'X-Linked-Etag: "%s"' % h,
                                  "X-Linked-Size: %d" % len(blob), 'ETag: "%s"' % h]))
elif name in ("git.cgi", "gitbad.cgi"):
    h = hashlib.sha1(b"blob %d\0" % len(text) + text).hexdigest() if name == "git.cgi" else "1" * 40
    out.write(send(text, headers=["X-Repo-Commit: " + "ab" * 20, 'ETag: "%s"' % h]))
else:
    out.write(b"Status: 500\r\n\r\n")
PY
mkdir -p "$www/hub/x/resolve/main"
for n in cut redirect target auth flaky busy slow trickle lfs lfsbad git gitbad; do
  printf '#!/bin/sh\nexec python3 %s/cgi.py\n' "$tmp" > "$www/$n.cgi"
  chmod 755 "$www/$n.cgi"
  ln -s "$www/$n.cgi" "$www/hub/x/resolve/main/$n.cgi"   # the Hub layout: hf:hub/x/NAME.cgi
done

cat > "$tmp/lighttpd.conf" <<CONF
server.document-root = "$www"
server.bind = "127.0.0.1"
server.port = $p1
\$SERVER["socket"] == "127.0.0.1:$p2" { }
server.pid-file = "$pidfile"
server.errorlog = "$tmp/error.log"
server.modules = ( "mod_cgi", "mod_accesslog", "mod_setenv" )
server.follow-symlink = "enable"
server.stat-cache-engine = "disable"
cgi.assign = ( ".cgi" => "" )
accesslog.filename = "$tmp/access.log"
accesslog.format = "%s %{Range}i %U"
\$HTTP["url"] =~ "^/org/tiny/resolve/" {
  setenv.set-response-header = ( "X-Repo-Commit" => "$commit14", "X-Linked-Etag" => "\\"$sha_model\\"" )
}
\$HTTP["url"] =~ "^/datasets/org/prompts/resolve/" {
  setenv.set-response-header = ( "X-Repo-Commit" => "$commit14" )
}
mimetype.assign = ( "" => "application/octet-stream" )
CONF
if ! "$lighttpd" -f "$tmp/lighttpd.conf" 2>"$tmp/start.log"; then
  fail "lighttpd starts" "$(cat "$tmp/start.log" "$tmp/error.log" 2>/dev/null | head -5)"
  finish
fi
wait_port "$p1"

export DECOBENCH_CACHE_DIR="$tmp/cache"
export HF_TOKEN="$TOKEN"
fast=(--retries 2 --backoff 0.05 --timeout 5)
out="$tmp/out" errf="$tmp/err"
runf() {  # runf ARGS...: decobench fetch, stdout/stderr kept (appended to all.log), status in $rc
  "$bin" fetch "$@" >"$out" 2>"$errf"
  rc=$?
  cat "$out" "$errf" >> "$tmp/all.log"
}
json_field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$out" "$1"; }
# lighttpd buffers its access log (flushed about once a second): before
# reading it, request a marker and wait (up to 20 s) until the marker is there
log_sync() {  # (called in $(...) subshells: the counter lives in a file)
  local nsync
  nsync=$(( $(cat "$tmp/nsync" 2>/dev/null || echo 0) + 1 ))
  echo "$nsync" > "$tmp/nsync"
  python3 -c "import urllib.request,sys
try: urllib.request.urlopen('$base/sync-$nsync', timeout=5)
except Exception: pass" 2>/dev/null
  for _ in $(seq 200); do grep -q " /sync-$nsync\$" "$tmp/access.log" 2>/dev/null && return; sleep 0.1; done
}
accesses() { log_sync; grep -c "^[0-9]* .* $1\$" "$tmp/access.log" 2>/dev/null || true; }
# every request but the markers and slow.cgi: lighttpd logs a request when its CGI
# ends, so the two slow.cgi requests the client gave up on (section 6) land in the
# log about 8 s later, under load after later counts were taken (seen in CI)
requests() { log_sync; grep -vc -e " /sync-[0-9]*\$" -e " /slow\.cgi\$" "$tmp/access.log" 2>/dev/null || true; }
no_leftovers() { ! ls "$tmp/cache/.fetch/"*.part >/dev/null 2>&1; }

# ---- 1. a full download of a plain URL, then from the cache ------------------------------
runf --json "${fast[@]}" "$base/data/blob.bin"
path="$(json_field path 2>/dev/null)"
if [ "$rc" = 0 ] && cmp -s "$path" "$tmp/blob" && [ "$(json_field sha256)" = "$sha_blob" ] &&
   [ "$(json_field sha256_source)" = computed ] && [ "$(json_field cached)" = False ] && no_leftovers; then
  ok "full download: the bytes, their sha256, no .part left"
else fail "full download" "rc=$rc" "$(cat "$out" "$errf")"; fi
n0="$(accesses /data/blob.bin)"
runf --json "$base/data/blob.bin"
if [ "$rc" = 0 ] && [ "$(json_field cached)" = True ] && [ "$(accesses /data/blob.bin)" = "$n0" ] &&
   [ "$(json_field path)" = "$path" ]; then ok "second fetch: served from the cache, no request"
else fail "second fetch from the cache" "rc=$rc" "$(cat "$out" "$errf")"; fi
runf "$base/data/blob.bin"
if [ "$rc" = 0 ] && [ "$(cat "$out")" = "$path" ] && [ ! -s "$errf" ]; then ok "plain output: the path, nothing on stderr (not a terminal)"
else fail "plain output" "$(cat "$out" "$errf")"; fi

# ---- 2. an hf: reference: the URL layout, the cache layout, the revision -------------------
runf --json "${fast[@]}" hf:org/repo/notes.txt@v1
if [ "$rc" = 0 ] && [ "$(json_field path)" = "$tmp/cache/hub/org/repo/v1/notes.txt" ] &&
   cmp -s "$tmp/cache/hub/org/repo/v1/notes.txt" "$tmp/text" && [ "$(json_field revision)" = v1 ] &&
   [ "$(accesses /org/repo/resolve/v1/notes.txt)" = 1 ]; then
  ok "hf:org/repo/notes.txt@v1 -> /org/repo/resolve/v1/notes.txt, cached as hub/org/repo/v1/notes.txt"
else fail "hf: reference" "rc=$rc" "$(cat "$out" "$errf")" "$(tail -n4 "$tmp/access.log")"; fi

# ---- 3. resume --------------------------------------------------------------------------
runf --json "${fast[@]}" "$base/cut.cgi"
if [ "$rc" = 0 ] && cmp -s "$(json_field path)" "$tmp/blob" &&
   [ "$(cat "$tmp/state/cut.cgi.log" | tr '\n' ' ')" = "range=- auth=no range=bytes=100000- auth=no " ]; then
  ok "a connection cut mid-body resumes with Range: bytes=100000- (two requests, the right bytes)"
else fail "resume after a cut" "rc=$rc" "$(cat "$out" "$errf" "$tmp/state/cut.cgi.log" 2>/dev/null)"; fi
# across processes: a partial file left by an earlier fetch
rel="hub/org/repo/main/sub/other.bin"
key="$(printf '%s' "$rel" | sha256sum | cut -c1-32)"
mkdir -p "$tmp/cache/.fetch"
head -c 123456 "$tmp/blob" > "$tmp/cache/.fetch/$key.part"
runf --json "${fast[@]}" hf:org/repo/sub/other.bin
if [ "$rc" = 0 ] && cmp -s "$(json_field path)" "$tmp/blob" &&
   log_sync && grep -q "^206 bytes=123456- /org/repo/resolve/main/sub/other.bin$" "$tmp/access.log" && no_leftovers; then
  ok "a partial file from an earlier fetch is resumed (206 for bytes=123456-)"
else fail "resume across processes" "rc=$rc" "$(cat "$out" "$errf")" "$(tail -n3 "$tmp/access.log")"; fi

# ---- 4. redirects: followed, the token not sent to the second address ------------------------
runf --json "${fast[@]}" hf:hub/x/redirect.cgi
if [ "$rc" = 0 ] && cmp -s "$(json_field path)" "$tmp/text" && grep -q "auth=yes" "$tmp/state/redirect.cgi.log" &&
   grep -q "auth=no" "$tmp/state/target.cgi.log" && ! grep -q "auth=yes" "$tmp/state/target.cgi.log"; then
  ok "302 to a second address: followed; the Hub token went to the Hub only"
else fail "302 redirect" "rc=$rc" "$(cat "$out" "$errf" "$tmp/state/"{redirect,target}.cgi.log 2>/dev/null)"; fi

# ---- 5. 401 with and without a token; 404 ------------------------------------------------
HF_TOKEN= runf "${fast[@]}" hf:hub/x/auth.cgi
if [ "$rc" = 1 ] && grep -q "HTTP 401: the repository is gated or private; set HF_TOKEN" "$errf" &&
   [ "$(wc -l < "$errf")" = 1 ] && [ ! -e "$tmp/cache/hub/hub/x/main/auth.cgi" ]; then
  ok "401 without a token: one line naming HF_TOKEN, exit 1, nothing cached"
else fail "401 without a token" "rc=$rc" "$(cat "$errf")"; fi
HF_TOKEN=wrong-token runf "${fast[@]}" hf:hub/x/auth.cgi
if [ "$rc" = 1 ] && grep -q "refused the token in HF_TOKEN" "$errf" && ! grep -q wrong-token "$errf"; then
  ok "401 with a wrong token: says so without printing it"
else fail "401 with a wrong token" "rc=$rc" "$(cat "$errf")"; fi
runf --json "${fast[@]}" hf:hub/x/auth.cgi
if [ "$rc" = 0 ] && cmp -s "$(json_field path)" "$tmp/text"; then ok "the right token (HF_TOKEN): fetched"
else fail "401 with the token" "rc=$rc" "$(cat "$out" "$errf")"; fi
runf "${fast[@]}" hf:org/repo/missing.bin
if [ "$rc" = 1 ] && grep -q "HTTP 404: not found" "$errf" && [ "$(accesses /org/repo/resolve/main/missing.bin)" = 1 ] &&
   [ ! -e "$tmp/cache/hub/org/repo/main/missing.bin" ] && no_leftovers; then
  ok "404: one line, exit 1, asked once (no retry), nothing cached"
else fail "404" "rc=$rc" "$(cat "$errf")"; fi

# ---- 6. retries ------------------------------------------------------------------------
runf --json "${fast[@]}" "$base/flaky.cgi"
if [ "$rc" = 0 ] && cmp -s "$(json_field path)" "$tmp/text" && [ "$(cat "$tmp/state/flaky.cgi.n")" = 2 ]; then
  ok "500 then 200: retried, fetched after 2 requests"
else fail "500 then success" "rc=$rc" "$(cat "$out" "$errf")"; fi
runf --retries 2 --backoff 0 "$base/busy.cgi"
if [ "$rc" = 1 ] && grep -q "HTTP 503 (gave up after 3 attempts)" "$errf" && [ "$(wc -l < "$tmp/state/busy.cgi.log")" = 3 ]; then
  ok "503 every time: 3 attempts (--retries 2), then one line, exit 1"
else fail "503 give up" "rc=$rc" "$(cat "$errf")"; fi
runf --retries 1 --backoff 0 --timeout 1 "$base/slow.cgi"
if [ "$rc" = 1 ] && grep -q "timed out" "$errf" && grep -q "gave up after 2 attempts" "$errf" &&
   ! ls "$tmp/cache/url/127.0.0.1_$p1"/*/slow.cgi >/dev/null 2>&1 && no_leftovers; then
  ok "a server slower than --timeout: timed out, retried, exit 1, nothing cached"
else fail "slow server" "rc=$rc" "$(cat "$errf")"; fi

# ---- 7. sha256 checks ----------------------------------------------------------------------
runf "${fast[@]}" --sha256 "$(printf '%064d' 7)" "$base/org/repo/resolve/v1/notes.txt"
if [ "$rc" = 1 ] && grep -q "sha256 mismatch: expected 0000000000000000000000000000000000000000000000000000000000000007 (given), got $sha_text; the download was deleted" "$errf" &&
   ! ls "$tmp/cache/url/127.0.0.1_$p1"/*/notes.txt >/dev/null 2>&1 && no_leftovers; then
  ok "a wrong --sha256: mismatch named, the file deleted, exit 1"
else fail "wrong sha256" "rc=$rc" "$(cat "$errf")"; fi
runf --json "${fast[@]}" --sha256 "$sha_text" "$base/org/repo/resolve/v1/notes.txt"
if [ "$rc" = 0 ] && [ "$(json_field sha256_source)" = given ]; then ok "the right --sha256: fetched, source given"
else fail "right sha256" "rc=$rc" "$(cat "$out" "$errf")"; fi
runf --json "${fast[@]}" hf:hub/x/lfs.cgi
if [ "$rc" = 0 ] && [ "$(json_field sha256_source)" = hub ] && [ "$(json_field revision)" = "$(printf 'c0ffee%.0s' 1 2 3 4 5 6)abcd" ]; then
  ok "the Hub's X-Linked-Etag checked (source hub), X-Repo-Commit recorded as the revision"
else fail "Hub LFS etag" "rc=$rc" "$(cat "$out" "$errf")"; fi
runf "${fast[@]}" hf:hub/x/lfsbad.cgi
if [ "$rc" = 1 ] && grep -q "sha256 mismatch: expected 0\{64\} (the Hub's X-Linked-Etag/ETag)" "$errf" &&
   [ ! -e "$tmp/cache/hub/hub/x/main/lfsbad.cgi" ] && no_leftovers; then
  ok "a wrong X-Linked-Etag: mismatch, deleted, exit 1"
else fail "wrong Hub etag" "rc=$rc" "$(cat "$errf")"; fi
runf --json "${fast[@]}" hf:hub/x/git.cgi
if [ "$rc" = 0 ] && [ "$(json_field sha256_source)" = git-sha1 ]; then ok "a git file's ETag (blob sha1) checked"
else fail "git blob sha1" "rc=$rc" "$(cat "$out" "$errf")"; fi
runf "${fast[@]}" hf:hub/x/gitbad.cgi
if [ "$rc" = 1 ] && grep -q "git blob sha1 mismatch" "$errf" && [ ! -e "$tmp/cache/hub/hub/x/main/gitbad.cgi" ]; then
  ok "a wrong git blob sha1: mismatch, deleted, exit 1"
else fail "wrong git sha1" "rc=$rc" "$(cat "$errf")"; fi
# trust on first use: a URL whose bytes changed since the first download
cp "$tmp/text" "$www/data/changing.txt"
runf "${fast[@]}" "$base/data/changing.txt"
first="$(cat "$out")"
rm -f "$first"
{ cat "$tmp/text"; echo changed; } > "$www/data/changing.new" && mv "$www/data/changing.new" "$www/data/changing.txt"
runf "${fast[@]}" "$base/data/changing.txt"
if [ "$rc" = 1 ] && grep -q "expected $sha_text (recorded at the first download)" "$errf" && [ ! -e "$first" ]; then
  ok "trust on first use: changed bytes at the same URL are refused"
else fail "trust on first use" "rc=$rc" "$(cat "$errf")"; fi

# ---- 8. disk full, unwritable cache -------------------------------------------------------
( ulimit -f 100; trap '' XFSZ; exec "$bin" fetch "${fast[@]}" "$base/org/repo/resolve/main/model.gguf" ) >"$out" 2>"$errf"
rc=$?
if [ "$rc" = 1 ] && grep -q "File too large" "$errf" && [ "$(wc -l < "$errf")" = 1 ] &&
   ! ls "$tmp/cache/url/127.0.0.1_$p1"/*/model.gguf >/dev/null 2>&1 && no_leftovers; then
  ok "a full disk (file size limit): one line, exit 1, no partial file under either name"
else fail "disk full" "rc=$rc" "$(cat "$errf")"; fi
mkdir -p "$tmp/cache2" && chmod 700 "$tmp/cache2" && : > "$tmp/cache2/hub"
DECOBENCH_CACHE_DIR="$tmp/cache2" runf "${fast[@]}" hf:org/repo/unused.bin
if [ "$rc" = 1 ] && grep -q "cache: $tmp/cache2/hub: not a directory" "$errf" && [ "$(accesses /org/repo/resolve/main/unused.bin)" = 0 ]; then
  ok "an unwritable cache (a file where a folder must go): one line before any download"
else fail "unwritable cache" "rc=$rc" "$(cat "$errf")"; fi
if [ "$(id -u)" != 0 ]; then
  mkdir -p "$tmp/cache3" && chmod 500 "$tmp/cache3"
  DECOBENCH_CACHE_DIR="$tmp/cache3" runf "${fast[@]}" hf:org/repo/model.gguf
  if [ "$rc" = 1 ] && grep -q "Permission denied" "$errf"; then ok "a read-only cache: Permission denied, exit 1"
  else fail "read-only cache" "rc=$rc" "$(cat "$errf")"; fi
fi

# ---- 9. concurrent fetches of one file ------------------------------------------------------
"$bin" fetch --json "${fast[@]}" "$base/trickle.cgi" >"$tmp/c1.out" 2>"$tmp/c1.err" &
pa=$!
"$bin" fetch --json "${fast[@]}" "$base/trickle.cgi" >"$tmp/c2.out" 2>"$tmp/c2.err" &
pb=$!
wait "$pa"; ra=$?
wait "$pb"; rb=$?
cat "$tmp"/c[12].out "$tmp"/c[12].err >> "$tmp/all.log"
pa_path="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["path"])' "$tmp/c1.out" 2>/dev/null)"
pb_path="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["path"])' "$tmp/c2.out" 2>/dev/null)"
if [ "$ra" = 0 ] && [ "$rb" = 0 ] && [ "$pa_path" = "$pb_path" ] && cmp -s "$pa_path" "$tmp/blob" &&
   [ "$(wc -l < "$tmp/state/trickle.cgi.log")" = 1 ]; then
  ok "two concurrent fetches of one file: both succeed, one download"
else fail "concurrent fetches" "rc=$ra/$rb" "$(cat "$tmp"/c[12].err "$tmp/state/trickle.cgi.log" 2>/dev/null)"; fi

# ---- 9b. the progress bar on a terminal only; proxies as libcurl reads them ----------------
if command -v script >/dev/null; then
  script -qec "'$bin' fetch --backoff 0.05 '$base/data/blob.bin?bar=1'" /dev/null > "$tmp/tty.out" 2>&1
  if grep -q '\[#*\] 100.0% 293.0 KiB / 293.0 KiB' "$tmp/tty.out"; then ok "a terminal gets a progress bar (100.0%, 293.0 KiB)"
  else fail "progress bar on a terminal" "$(tr '\r' '\n' < "$tmp/tty.out" | tail -3)"; fi
  cat "$tmp/tty.out" >> "$tmp/all.log"
else
  skip "progress bar on a terminal" "script(1) is not installed"
fi
# a host that does not resolve, reachable only through the proxy (lighttpd's second port
# answers the absolute-form request from its document root)
http_proxy="http://127.0.0.1:$p2" runf --json "${fast[@]}" "http://decobench-proxy-test.invalid/data/blob.bin"
if [ "$rc" = 0 ] && cmp -s "$(json_field path)" "$tmp/blob"; then ok "http_proxy is honoured (libcurl's proxy variables)"
else fail "http_proxy" "rc=$rc" "$(cat "$out" "$errf")"; fi
runf --retries 0 "http://decobench-proxy-test.invalid/data/blob.bin?direct"
if [ "$rc" = 1 ] && [ "$(wc -l < "$errf")" = 1 ]; then ok "without the proxy that host fails: one line, exit 1"
else fail "no proxy" "rc=$rc" "$(cat "$errf")"; fi

# ---- 10. offline mode --------------------------------------------------------------------
n0="$(requests)"
HF_HUB_OFFLINE=1 runf hf:org/repo/notes.txt@v1
if [ "$rc" = 0 ] && [ "$(cat "$out")" = "$tmp/cache/hub/org/repo/v1/notes.txt" ]; then ok "offline: a cached file is served"
else fail "offline cached" "rc=$rc" "$(cat "$errf")"; fi
HF_HUB_OFFLINE=1 runf hf:org/repo/never.bin
if [ "$rc" = 1 ] && grep -q "hf:org/repo/never.bin: not in the cache (.*) and offline mode is on (HF_HUB_OFFLINE)" "$errf" &&
   [ "$(requests)" = "$n0" ]; then
  ok "offline: a missing file is a clear error, and no request is made"
else fail "offline missing" "rc=$rc" "$(cat "$errf")"; fi
runf --offline "$base/data/never.bin"
if [ "$rc" = 1 ] && grep -q "offline mode is on" "$errf"; then ok "--offline works like HF_HUB_OFFLINE=1"
else fail "--offline" "rc=$rc" "$(cat "$errf")"; fi

# ---- 11. bad input: one line, exit 2, nothing fetched --------------------------------------
n0="$(requests)"
bad_ok=1
for args in "hf:org" "hf:org/repo/../x" "ftp://h/x" "no-such-catalogue-name" "--sha256 abc $base/data/blob.bin" \
            "--retries -1 $base/x" "--timeout 0 $base/x" "--list $base/x" "$base/data/blob.bin hf:bad"; do
  # shellcheck disable=SC2086
  runf $args
  if [ "$rc" != 2 ] || [ "$(wc -l < "$errf")" != 1 ] || [ -s "$out" ]; then bad_ok=0; echo "    bad input '$args': rc=$rc $(cat "$errf")"; fi
done
if [ "$bad_ok" = 1 ] && [ "$(requests)" = "$n0" ]; then
  ok "bad input (9 cases): one line, exit 2, no output, no request"
else fail "bad input"; fi

# ---- 12. the catalogue --------------------------------------------------------------------
cat > "$tmp/cat.json" <<JSON
{ "entries": [
  { "name": "pinned", "kind": "dataset", "ref": "$base/org/repo/resolve/v1/notes.txt", "sha256": "$sha_text" },
  { "name": "wrongpin", "kind": "dataset", "ref": "$base/data/blob.bin?x=1", "sha256": "$(printf '%064d' 1)" },
  { "name": "tofu", "kind": "model", "ref": "hf:org/repo/sub/other.bin", "revision": "main", "sha256": null },
  { "name": "badsha", "kind": "model", "ref": "$base/data/unused-badsha.bin", "sha256": "xyz" } ] }
JSON
n0="$(requests)"
runf --catalogue "$tmp/cat.json" "$base/data/unused-first.bin" badsha
if [ "$rc" = 2 ] && grep -q "badsha: sha256 'xyz' is not 64 hexadecimal digits" "$errf" && [ "$(requests)" = "$n0" ]; then
  ok "a malformed sha256 in the catalogue: exit 2 before any REF is fetched"
else fail "catalogue malformed sha256" "rc=$rc" "$(cat "$errf")"; fi
runf --catalogue "$tmp/cat.json" --json pinned
if [ "$rc" = 0 ] && [ "$(json_field sha256_source)" = given ]; then ok "a catalogue name is fetched with its pinned sha256"
else fail "catalogue fetch" "rc=$rc" "$(cat "$out" "$errf")"; fi
runf --catalogue "$tmp/cat.json" wrongpin
if [ "$rc" = 1 ] && grep -q "sha256 mismatch" "$errf"; then ok "a catalogue pin that does not match fails"
else fail "catalogue wrong pin" "rc=$rc" "$(cat "$errf")"; fi
runf --catalogue "$tmp/cat.json" --list
if [ "$rc" = 0 ] && grep -q "sha256:  $sha_text (pinned in the catalogue)" "$out" &&
   grep -q "sha256:  $sha_blob (unknown to the catalogue: recorded at the first download, trust on first use)" "$out" &&
   grep -q "cached:  $tmp/cache/hub/org/repo/main/sub/other.bin (300000 bytes, revision main)" "$out"; then
  ok "--list: pinned and recorded (trust on first use) hashes, the cached path"
else fail "--list" "rc=$rc" "$(cat "$out" "$errf")"; fi
runf --list
if [ "$rc" = 0 ] && [ "$(grep -c '^  ref: ' "$out")" -ge 6 ] && grep -q "^qwen2.5-0.5b-instruct-q4_k_m  (model, draft)" "$out"; then
  ok "--list shows the shipped catalogue"
else fail "--list shipped" "rc=$rc" "$(head -5 "$out" "$errf")"; fi

# ---- 14. a suite naming its model and dataset by reference: decobench run ------------------
# (the bundled draft as the model, a two-prompt dataset; one greedy ar case, --limit 1)
suite14() {  # suite14 FILE MODEL_EXTRA [MODEL_PATH]: the suite, with extra keys for the model
  cat > "$1" <<JSON
{ "name": "refs", "models": { "target": { "path": "${3:-hf:org/tiny/draft.gguf}", "n_ctx": 256$2 } },
  "datasets": { "p": { "path": "hf:datasets/org/prompts/p.jsonl" } },
  "engines": [ { "engine": "ar" } ], "max_new_tokens": 4, "repetitions": 1, "warmup": 0, "threads": 1 }
JSON
}
runr() {  # runr ARGS...: decobench run, stdout/stderr kept (appended to all.log), status in $rc
  "$bin" run "$@" --no-progress --format none >"$out" 2>"$errf"
  rc=$?
  cat "$out" "$errf" >> "$tmp/all.log"
}
sql() { python3 -c 'import sqlite3,sys; print("\n".join("|".join(str(v) for v in r) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])))' "$@" 2>/dev/null; }
runs() { [ -e "$1" ] && sql "$1" "select count(*) from run" || echo 0; }
suite14 "$tmp/ref.json" ""
mcache="$tmp/cache/hub/org/tiny/main/draft.gguf" dcache="$tmp/cache/hub/datasets/org/prompts/main/p.jsonl"
runr "$tmp/ref.json" --db "$tmp/ref.db" --limit 1
if [ "$rc" = 0 ] && cmp -s "$mcache" "$www/org/tiny/resolve/main/draft.gguf" && cmp -s "$dcache" "$www/datasets/org/prompts/resolve/main/p.jsonl" &&
   [ "$(accesses /org/tiny/resolve/main/draft.gguf)" = 1 ] && [ "$(accesses /datasets/org/prompts/resolve/main/p.jsonl)" = 1 ] &&
   [ "$(sql "$tmp/ref.db" "select status, (select count(*) from sample) from run")" = "completed|1" ] && ! grep -q "%" "$errf"; then
  ok "run: an hf: model and an hf:datasets/ dataset fetched once each into the cache, one sample measured, no progress bar off a terminal"
else fail "run with references" "rc=$rc" "$(cat "$errf" | tail -3)" "$(tail -n4 "$tmp/access.log")"; fi
stored="$(sql "$tmp/ref.db" "select config_json from run where id = 1")"
cfg_ok="$(printf '%s' "$stored" | python3 -c '
import json, sys
c = json.load(sys.stdin)
m, d = c["models"]["target"], c["datasets"]["p"]
want_m = {"path": sys.argv[1], "source": "hf:org/tiny/draft.gguf", "revision": sys.argv[3], "sha256": sys.argv[4]}
want_d = {"path": sys.argv[2], "source": "hf:datasets/org/prompts/p.jsonl", "revision": sys.argv[3], "sha256": sys.argv[5]}
print(all(m.get(k) == v for k, v in want_m.items()) and all(d.get(k) == v for k, v in want_d.items()))' \
  "$mcache" "$dcache" "$commit14" "$sha_model" "$sha_ds" 2>&1)"
case_row="$(sql "$tmp/ref.db" "select model_path, model_sha256, model_desc from \"case\"")"
if [ "$cfg_ok" = True ] && [ "${case_row%%|*}" = "$mcache" ] && [[ "$case_row" == *"|$sha_model|"*" (hf:org/tiny/draft.gguf at revision $commit14)" ]]; then
  ok "the run's stored configuration: path (cached), source, revision (X-Repo-Commit), sha256 of both; the case: the model's sha256 and where it came from"
else fail "stored configuration of a run with references" "$cfg_ok" "$stored" "$case_row"; fi
n0="$(requests)"
runr "$tmp/ref.json" --db "$tmp/ref.db" --limit 1
if [ "$rc" = 0 ] && [ "$(requests)" = "$n0" ] && [ "$(runs "$tmp/ref.db")" = 2 ] &&
   [ "$(sql "$tmp/ref.db" "select count(distinct config_json) from run")" = 1 ]; then
  ok "a second run uses the cache: no request, the same stored configuration"
else fail "second run from the cache" "rc=$rc" "$(tail -2 "$errf")"; fi
# offline with an empty cache: one line naming the suite, the JSON path and the reference; no run row
n0="$(requests)"
DECOBENCH_CACHE_DIR="$tmp/cache-empty" HF_HUB_OFFLINE=1 runr "$tmp/ref.json" --db "$tmp/off.db" --limit 1
rc1=$rc; e1="$(cat "$errf")"
DECOBENCH_CACHE_DIR="$tmp/cache-empty" runr "$tmp/ref.json" --db "$tmp/ref.db" --limit 1 --offline
want="decobench run: $tmp/ref.json: \$.models.target.path: hf:org/tiny/draft.gguf: not in the cache ($tmp/cache-empty/hub/org/tiny/main/draft.gguf) and offline mode is on (--offline or HF_HUB_OFFLINE)"
if [ "$rc1" = 2 ] && [ "$e1" = "$want" ] && [ "$rc" = 2 ] && [ "$(cat "$errf")" = "$want" ] && [ ! -e "$tmp/off.db" ] &&
   [ "$(runs "$tmp/ref.db")" = 2 ] && [ "$(requests)" = "$n0" ]; then
  ok "offline (HF_HUB_OFFLINE=1, --offline) with an empty cache: one line, exit 2, no request, no database, no run row"
else fail "offline run with an empty cache" "rc=$rc1/$rc" "$e1" "$(cat "$errf")"; fi
# a wrong sha256 in the suite: the download fails verification before anything is written
suite14 "$tmp/ref-badsha.json" ", \"sha256\": \"$(printf '%064d' 5)\""
runr "$tmp/ref-badsha.json" --db "$tmp/ref.db" --limit 1
if [ "$rc" = 2 ] && [ "$(wc -l < "$errf")" = 1 ] &&
   grep -qF "$tmp/ref-badsha.json: \$.models.target.path: hf:org/tiny/draft.gguf: $base/org/tiny/resolve/main/draft.gguf: sha256 mismatch: expected $(printf '%064d' 5) (given), got $sha_model" "$errf" &&
   [ "$(runs "$tmp/ref.db")" = 2 ] && cmp -s "$mcache" "$www/org/tiny/resolve/main/draft.gguf"; then
  ok "a wrong sha256 for a referenced model: one line, exit 2, no run row, the cached file kept"
else fail "wrong sha256 in the suite" "rc=$rc" "$(cat "$errf")"; fi
suite14 "$tmp/ref-sha.json" ", \"sha256\": \"$sha_model\""
n0="$(requests)"
runr "$tmp/ref-sha.json" --db "$tmp/ref.db" --limit 1
if [ "$rc" = 0 ] && [ "$(requests)" = "$n0" ] && [ "$(runs "$tmp/ref.db")" = 3 ]; then
  ok "the right sha256 for a referenced model: runs from the cache"
else fail "right sha256 in the suite" "rc=$rc" "$(tail -2 "$errf")"; fi
# a malformed reference: bad input before anything else
n0="$(requests)"
suite14 "$tmp/ref-bad.json" "" "hf:org/tiny"
runr "$tmp/ref-bad.json" --db "$tmp/bad.db"
if [ "$rc" = 2 ] && [ "$(cat "$errf")" = "decobench run: $tmp/ref-bad.json: \$.models.target.path: bad reference: hf:org/tiny: expected hf:ORG/REPO/PATH[@REVISION]" ] &&
   [ ! -e "$tmp/bad.db" ] && [ "$(requests)" = "$n0" ]; then
  ok "a malformed reference in a suite: one line, exit 2, no request, no database"
else fail "malformed reference in a suite" "rc=$rc" "$(cat "$errf")"; fi
# --resume: the references resolved from the cache again; a cached file that changed is refused
DECOBENCH_TEST_KILL_AFTER_SAMPLES=1:TERM runr "$tmp/ref.json" --db "$tmp/resume.db" --limit 2
rc1=$rc
cp "$mcache" "$tmp/model.keep"
python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-1] ^= 1; open(p, "wb").write(b)' "$mcache"
n0="$(requests)"
runr --resume 1 --db "$tmp/resume.db"
rc2=$rc; e2="$(cat "$errf")"
cp "$tmp/model.keep" "$mcache"
runr --resume 1 --db "$tmp/resume.db"
if [ "$rc1" = 143 ] && [ "$rc2" = 2 ] && [[ "$e2" == *"\$.models.target.source: hf:org/tiny/draft.gguf: the cached file $mcache changed after it was fetched"* ]] &&
   [ "$rc" = 0 ] && [ "$(sql "$tmp/resume.db" "select status, resumed, (select count(*) from sample) from run")" = "completed|1|2" ] &&
   [ "$(requests)" = "$n0" ]; then
  ok "--resume re-resolves the references from the cache (no request); a cached model that changed is refused (exit 2)"
else fail "--resume with references" "rc=$rc1/$rc2/$rc" "$e2" "$(tail -2 "$errf")"; fi
# the download progress bar: on a terminal only
if command -v script >/dev/null; then
  DECOBENCH_CACHE_DIR="$tmp/cache-tty" script -qec "'$bin' run '$tmp/ref.json' --db '$tmp/tty.db' --limit 1 --format none" /dev/null > "$tmp/tty.out" 2>&1
  if grep -q '\[#*\] 100.0% 1.6 MiB / 1.6 MiB' "$tmp/tty.out" && [ "$(runs "$tmp/tty.db")" = 1 ]; then ok "run on a terminal: a download progress bar (100.0%, 1.6 MiB)"
  else fail "run's progress bar on a terminal" "$(tr '\r' '\n' < "$tmp/tty.out" | tail -3)"; fi
  cat "$tmp/tty.out" >> "$tmp/all.log"
else
  skip "run's progress bar on a terminal" "script(1) is not installed"
fi

# ---- 13. the token is never written ------------------------------------------------------
if grep -rqF "$TOKEN" "$tmp/all.log" "$tmp/cache" "$tmp/error.log" 2>/dev/null; then
  fail "the token never appears" "$(grep -rlF "$TOKEN" "$tmp/all.log" "$tmp/cache" "$tmp/error.log")"
elif ! grep -q "auth=yes" "$tmp/state/auth.cgi.log"; then
  fail "the token never appears (the token was never sent: the check would be empty)"
else ok "HF_TOKEN appears in no output, error, cached file or metadata"; fi

finish
