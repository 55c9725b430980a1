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
server.modules = ( "mod_cgi", "mod_accesslog" )
server.follow-symlink = "enable"
server.stat-cache-engine = "disable"
cgi.assign = ( ".cgi" => "" )
accesslog.filename = "$tmp/access.log"
accesslog.format = "%s %{Range}i %U"
mimetype.assign = ( "" => "application/octet-stream" )
CONF
if ! "$lighttpd" -f "$tmp/lighttpd.conf" 2>"$tmp/start.log"; then
  fail "lighttpd starts" "$(cat "$tmp/start.log" "$tmp/error.log" 2>/dev/null | head -5)"
  finish
fi
for _ in $(seq 100); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $p1), 1)" 2>/dev/null && break
  sleep 0.1
done

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

# ---- 13. the token is never written ------------------------------------------------------
if grep -rqF "$TOKEN" "$tmp/all.log" "$tmp/cache" "$tmp/error.log" 2>/dev/null; then
  fail "the token never appears" "$(grep -rlF "$TOKEN" "$tmp/all.log" "$tmp/cache" "$tmp/error.log")"
elif ! grep -q "auth=yes" "$tmp/state/auth.cgi.log"; then
  fail "the token never appears (the token was never sent: the check would be empty)"
else ok "HF_TOKEN appears in no output, error, cached file or metadata"; fi

finish
