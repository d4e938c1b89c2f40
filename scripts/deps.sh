#!/usr/bin/env bash
# Installs the Debian 12 packages vmaccel needs to build, test and run its
# demo — only those that are missing, so it is cheap to run every time.
set -euo pipefail

packages=(
  meson ninja-build pkg-config gcc g++ python3   # build, test helpers
  libssl-dev                                      # openssl plugin, tokens, tls://
  openssl                                         # tests/test_auth.c makes certificates
  libseccomp-dev                                  # vmacceld's seccomp allowlist
  systemd                                         # systemd-analyze rates vmacceld.service
  libopenblas-dev                                 # blas plugin
  libopencv-dnn-dev libopencv-imgcodecs-dev libopencv-imgproc-dev  # opencv plugin
  libopencv-objdetect-dev opencv-data             # cascades (detection), Debian's trained ones
  ocl-icd-opencl-dev opencl-headers libclblast-dev  # clblast plugin (OpenCL)
  pocl-opencl-icd clinfo                          # an OpenCL device on the CPU, for its tests
  valgrind libc6-dbg                              # memory checks in the tests
  clang libclang-rt-14-dev                        # the libFuzzer target
  gnuplot-nox                                     # bench/tenants' plot
  python3-numpy                                   # the Python binding's tests (sgemm)
  python3-onnx                                    # tests/models/gen_onnx.py: models made at test time
  scdoc man-db bash-completion                    # man pages (docs/man), shell completion
  dpkg-dev debhelper lintian adduser              # the Debian packages (scripts/package.sh)
  qemu-system-x86 busybox-static cpio kmod        # the guest VM (guest/); the kernel
                                                  # is fetched by guest/build-image.sh
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# An old or empty package list makes apt-get install fail: refresh it once.
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
