#!/usr/bin/env bash
# build.sh — builds decobench's libFuzzer targets (tests/fuzz/fuzz_*.c) with
# clang, ASan and UBSan in a separate tree (default build-fuzz/, configured
# with CC=clang --enable-sanitizers --enable-fuzzers; the gcc trees build/ and
# build-san/ are not touched), and writes the seed corpora from data/ and the
# JSON-Schema-Test-Suite into BUILDDIR/fuzz-seeds/TARGET (tests/fuzz/seeds.py).
#
#   tests/fuzz/build.sh [BUILDDIR]
# Environment: DB_LLAMA_PREFIX (llama.cpp install prefix; default: configure's,
# .deps/llama), DB_JOBS (make -j, default 2), CLANG (default clang).
# Exit status 77 when no clang that links libFuzzer is installed (Debian:
# apt-get install clang libclang-rt-14-dev; scripts/setup.sh --test does it).
set -eu
src="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$src/build-fuzz}"
cc="${CLANG:-clang}"
targets="suite jsonl jsonschema json_gbnf regex_dfa regex_search regex_gbnf gbnf merge sse"

probe="$(mktemp -d /tmp/decobench-fuzzprobe.XXXXXX)"
trap 'rm -rf "$probe"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' > "$probe/p.c"
if ! command -v "$cc" >/dev/null 2>&1 || ! "$cc" -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
  echo "build.sh: no clang with libFuzzer ($cc -fsanitize=fuzzer fails); install clang libclang-rt-14-dev" >&2
  exit 77
fi

if [ ! -x "$src/configure" ]; then (cd "$src" && autoreconf -fi >/dev/null 2>&1); fi
mkdir -p "$out"
if [ ! -f "$out/Makefile" ] || [ "$src/configure" -nt "$out/Makefile" ]; then
  llama_opt=()
  [ -n "${DB_LLAMA_PREFIX:-}" ] && llama_opt=(--with-llama="$DB_LLAMA_PREFIX")
  (cd "$out" && "$src/configure" -q CC="$cc" --enable-sanitizers --enable-fuzzers CFLAGS="-O1 -g" "${llama_opt[@]}")
fi
progs=""
for t in $targets; do progs="$progs tests/fuzz/fuzz-$t"; done
make -s -C "$out" harness/util/version.h >/dev/null   # a BUILT_SOURCE: made by `make all` only
# shellcheck disable=SC2086
make -s -C "$out" -j "${DB_JOBS:-2}" $progs >/dev/null
python3 "$src/tests/fuzz/seeds.py" "$src" "$out/fuzz-seeds" >/dev/null
echo "build.sh: fuzz targets in $out/tests/fuzz, seeds in $out/fuzz-seeds"
