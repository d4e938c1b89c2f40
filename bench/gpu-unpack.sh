#!/usr/bin/env bash
# bench/gpu-unpack.sh [PACK_DIR]: on the GPU host, as root, from the tree's
# root: puts in place what bench/gpu-pack.sh packed.  The build directory
# goes into the tree; the tree is linked at the path it had where it was
# built (the tests and benchmarks were compiled with it), ../shared beside
# it; the libraries go to /opt/vmaccel-libs, listed after the host's own in
# ld.so.conf (a library the host has is the host's); the NVIDIA OpenCL
# driver, if there is one, is registered with the ICD loader.
set -euo pipefail
cd "$(dirname "$0")/.."
pack=${1:-.gpu}
root=$(cat "$pack/source_root")
if [ "$root" != "$PWD" ]; then
  mkdir -p "$(dirname "$root")"
  [ -e "$root" ] || ln -s "$PWD" "$root"
fi
[ -e "$(dirname "$root")/shared" ] || tar -C "$(dirname "$root")" -xJf "$pack/shared.tar.xz"
tar -xJf "$pack/build.tar.xz"
mkdir -p /opt/vmaccel-libs
tar -C /opt/vmaccel-libs -xJf "$pack/libs.tar.xz"
{
  echo /opt/vmaccel-libs/gpulibs
  [ -d /usr/local/cuda/lib64 ] && echo /usr/local/cuda/lib64
} >/etc/ld.so.conf.d/zz-vmaccel.conf
ldconfig
icd=$(ls /usr/local/nvidia/lib64/libnvidia-opencl.so.1 \
  /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 2>/dev/null | head -1 || true)
if [ -n "$icd" ] && ! grep -qs nvidia /etc/OpenCL/vendors/*.icd; then
  mkdir -p /etc/OpenCL/vendors
  echo "$icd" >/etc/OpenCL/vendors/nvidia.icd
fi
missing=$(ldd "$root"/build*/plugins/*.so 2>/dev/null | grep "not found" | sort -u || true)
[ -z "$missing" ] || { echo "still missing:"; echo "$missing"; }
echo "unpacked: run bench/device-check.sh from $root"
