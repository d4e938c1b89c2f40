#!/usr/bin/env bash
# bench/gpu-pack.sh [BUILD_DIR] [PACK_DIR]: what bench/device-check.sh
# needs on a GPU host that is not this Debian 12, packed into PACK_DIR
# (default .gpu, ~58 MB): BUILD_DIR without its objects, the Debian
# libraries its programs and plugins load (not glibc's, not libstdc++'s,
# not the CUDA toolkit's: the host has its own), ../shared's models and
# images.  Carry the tree and PACK_DIR there and, as root, from the tree's
# root: bench/gpu-unpack.sh PACK_DIR, then bench/device-check.sh BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
b=${1:-build} pack=${2:-.gpu}
mkdir -p "$pack"
libs=$(mktemp -d)
mkdir "$libs/gpulibs"
bins=$(find "$b"/plugins "$b"/agent "$b"/tools "$b"/tests "$b"/bench -name '*.p' -prune -o \
  -type f -perm -u+x -print)
{ ldd $bins 2>/dev/null || true; } | awk '/=> \// { print $1, $3 }' |
  grep -v -E '^(libvmaccel|libc\.so|libm\.so|libstdc\+\+|libgcc_s|ld-linux|libpthread|libdl\.so|librt\.so)' |
  grep -v "$(sed -n "s/^option('cudapath'.*value : '\([^']*\)'.*/\1/p" meson_options.txt)" |
  sort -u | while read -r name path; do cp -L "$path" "$libs/gpulibs/$name"; done
tar -C "$libs" -cf - gpulibs | xz -6 -T0 >"$pack/libs.tar.xz"
rm -rf "$libs"
tar -cf - --exclude='*.p' --exclude='*.log' --exclude=meson-logs --exclude=compile_commands.json \
  --exclude="$b/guest" "$b" | xz -6 -T0 >"$pack/build.tar.xz"
tar -C .. -cf - shared/images shared/models | xz -6 -T0 >"$pack/shared.tar.xz"
# The tests and benchmarks find the tree by the absolute path meson saw.
pwd >"$pack/source_root"
du -ch "$pack"/* | tail -1
