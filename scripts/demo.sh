#!/usr/bin/env bash
# The main job: builds vmaccel and runs each operation through the plugins.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build

export VMACCEL_PLUGIN_DIR=$PWD/build/plugins
export VMACCEL_EXEC_ALLOW=$PWD/build/plugins/exec/demo
vmaccel=build/tools/vmaccel/vmaccel
[ -x "$vmaccel" ] || vmaccel=build/tools/vmaccel
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s\n' "$*"; }
step "vmaccel info: plugins, and which plugin serves each op"
$vmaccel info
step "noop: cost of one call through the dispatcher"
$vmaccel noop --count 100000
step "sha256 (openssl plugin)"
printf 'abc' >"$work/abc"
$vmaccel sha256 "$work/abc"
step "AES-256-GCM round trip of 8 MiB (openssl plugin)"
head -c 32 /dev/urandom >"$work/key"
head -c $((8 << 20)) /dev/urandom >"$work/plain"
$vmaccel encrypt --key "$work/key" -o "$work/ct" "$work/plain"
$vmaccel decrypt --key "$work/key" -o "$work/back" "$work/ct"
cmp "$work/plain" "$work/back" && echo "round trip OK: $(stat -c %s "$work/ct") bytes of ciphertext, plaintext identical"
step "sgemm 1024×1024 (blas plugin)"
$vmaccel sgemm --n 1024
step "exec: a host function from an allowed library"
$vmaccel exec libvmaccel-exec-demo.so vmaccel_demo_reverse "stressed"
