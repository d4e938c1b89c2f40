#!/usr/bin/env bash
# fuzz/device-pack.sh [CORPUS] [PACK_DIR]: what fuzz/device-run.sh needs to
# run the long fuzz-agent run on another x86-64 Linux host with many cores
# (a GPU machine lent for a few minutes, say), packed into PACK_DIR
# (default .gpu-fuzz, ~9 MB): build-fuzz's fuzz-agent and the plugins its
# harness loads, fuzz-worker (self-contained) and its corpus, the five Debian libraries they need that such a host may
# lack (OpenBLAS, gfortran, quadmath, OpenSSL), and CORPUS (default
# fuzz/corpus/agent) as a tarball.  There, from the tree's root:
# bash fuzz/device-run.sh PACK_DIR (as root: it links the tree at the path
# it was built in and registers the libraries with ldconfig).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-fuzz/corpus/agent} pack=${2:-.gpu-fuzz}
b=build-fuzz
[ -x $b/fuzz/fuzz-agent ] || { echo "no $b/fuzz/fuzz-agent: build it first (docs/security.md)" >&2; exit 1; }
mkdir -p "$pack"
tar -cf - $b/fuzz/fuzz-agent $b/fuzz/fuzz-worker $b/src/libvmaccel.so* $b/plugins/vmaccel-{noop,mbench,openssl,blas,exec}.so \
  $b/plugins/exec/demo/libvmaccel-exec-demo.so $b/tests/plugins/vmaccel-tclassify.so |
  xz -6 -T0 >"$pack/build.tar.xz"
libs=$(mktemp -d)
mkdir "$libs/gpulibs"
ldd $b/fuzz/fuzz-agent $b/plugins/vmaccel-{openssl,blas}.so | awk '/=> \// { print $3 }' |
  grep -E 'libopenblas|libgfortran|libquadmath|libssl|libcrypto' | sort -u |
  while read -r f; do cp -L "$f" "$libs/gpulibs/"; done
tar -C "$libs" -cf - gpulibs | xz -6 -T0 >"$pack/libs.tar.xz"
rm -rf "$libs"
snap=$(mktemp -d) # a copy: a fuzzer may be adding to the corpus now
cp -r "$corpus"/. "$snap"/ 2>/dev/null || true # a file the fuzzer just replaced may be gone
tar -C "$snap" -cf - . | xz -6 -T0 >"$pack/agent-corpus.tar.xz"
rm -rf "$snap"
tar -C fuzz/corpus/worker -cf - . | xz -6 -T0 >"$pack/worker-corpus.tar.xz"
pwd >"$pack/source_root"
du -ch "$pack"/* | tail -1
