#!/usr/bin/env bash
# build-llama.sh — fetch the pinned llama.cpp source from the npm registry
# (node-llama-cpp@3.21.1 ships it as llama/gitRelease.bundle), clone it,
# apply decobench's patches (patches/llama.cpp), and
# build static CPU (optionally CUDA) libraries plus the reference tools that
# decobench's tests and benchmarks compare against, into a local prefix.
#
# Usage: scripts/build-llama.sh [--prefix DIR] [--cuda] [--jobs N]
# (CUDA_ARCHITECTURES=90 in the environment limits the CUDA targets built)
# Default prefix: .deps/llama (what ./configure looks for first).
set -euo pipefail

NODE_LLAMA_CPP_VERSION=3.21.1
here="$(cd "$(dirname "$0")/.." && pwd)"
prefix="$here/.deps/llama"
cuda=OFF
jobs="$(nproc 2>/dev/null || echo 2)"
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --cuda) cuda=ON; shift ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "build-llama.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

work="$here/.deps"
src="$work/llama.cpp-src"
build="$work/llama.cpp-build"
mkdir -p "$work"

for tool in npm git cmake tar; do
  command -v "$tool" >/dev/null || { echo "build-llama.sh: '$tool' not found (apt-get install npm git cmake tar)" >&2; exit 1; }
done

if [ ! -d "$src/.git" ]; then
  tmp="$(mktemp -d "$work/npm.XXXXXX")"
  ( cd "$tmp" && npm pack --silent "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >/dev/null )
  tar -xzf "$tmp"/node-llama-cpp-*.tgz -C "$tmp" package/llama/gitRelease.bundle
  rm -rf "$src.partial"
  git -c advice.detachedHead=false clone -q "$tmp/package/llama/gitRelease.bundle" "$src.partial"
  mv "$src.partial" "$src"
  rm -rf "$tmp"
fi
commit="$(git -C "$src" rev-parse HEAD)"

# decobench's patches to llama.cpp (patches/llama.cpp/*.patch, each explains
# itself in its header): a ggml-opt bug fix, three opt-in llama_opt_params
# additions decobench-train uses, a faster CPU kernel for the weight
# gradients (ggml's OUT_PROD), and a batch check in llama_decode that no
# longer loops over every pair of LLAMA_MAX_SEQ sequences, and a grammar
# parser that refuses what made it exhaust memory.  The
# source tree is reset to the bundle's commit and patched whenever the set of
# patches differs from the one recorded in $src/.decobench-patches.
patches_sum="$(cd "$here/patches/llama.cpp" && sha256sum ./*.patch)"
if [ "$(cat "$src/.decobench-patches" 2>/dev/null)" != "$patches_sum" ]; then
  git -C "$src" reset -q --hard "$commit"
  for p in "$here"/patches/llama.cpp/*.patch; do
    git -C "$src" apply "$p" || { echo "build-llama.sh: $p does not apply to llama.cpp $commit" >&2; exit 1; }
  done
  printf '%s\n' "$patches_sum" > "$src/.decobench-patches"
fi

if [ "$cuda" = ON ] && ! command -v nvcc >/dev/null; then
  if [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH="/usr/local/cuda/bin:$PATH"
  else
    echo "build-llama.sh: --cuda given but nvcc is neither on PATH nor in /usr/local/cuda/bin" >&2; exit 1
  fi
fi

cmake -S "$src" -B "$build" \
  -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_COMMON=ON \
  -DLLAMA_OPENSSL=OFF -DLLAMA_TOOLS_INSTALL=ON \
  -DGGML_CUDA="$cuda" -DGGML_OPENMP=ON -DGGML_RPC=ON \
  ${CUDA_ARCHITECTURES:+-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCHITECTURES} \
  -DCMAKE_INSTALL_PREFIX="$prefix" >"$work/cmake-configure.log" 2>&1 \
  || { tail -30 "$work/cmake-configure.log" >&2; exit 1; }

# libraries first, then only the reference tools decobench uses
# (llama-server: the serving benchmark's server, tests/serve-check.sh;
# ggml-rpc-server: the RPC backend's server, a model's layers on other machines, tests/rpc-check.sh)
targets="llama ggml llama-simple llama-speculative llama-speculative-simple llama-lookahead llama-lookup llama-diffusion-cli llama-bench llama-finetune llama-quantize llama-tokenize llama-perplexity llama-server ggml-rpc-server"
cmake --build "$build" -j "$jobs" --target $targets >"$work/cmake-build.log" 2>&1 \
  || { tail -40 "$work/cmake-build.log" >&2; exit 1; }

# install: headers, static libraries, tools
mkdir -p "$prefix/include" "$prefix/lib" "$prefix/bin"
cp "$src"/include/llama.h "$src"/include/llama-cpp.h "$prefix/include/"
cp "$src"/ggml/include/*.h "$prefix/include/"
find "$build" -name '*.a' -exec cp {} "$prefix/lib/" \;
for t in $targets; do
  case "$t" in llama|ggml) continue ;; esac
  [ -x "$build/bin/$t" ] && cp "$build/bin/$t" "$prefix/bin/"
done
echo "$commit" > "$prefix/LLAMA_COMMIT"
printf '%s\n' "$patches_sum" > "$prefix/LLAMA_PATCHES"
echo "$cuda" > "$prefix/LLAMA_CUDA"
echo "build-llama.sh: llama.cpp $commit installed in $prefix (cuda=$cuda)"
