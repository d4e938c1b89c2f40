#!/usr/bin/env bash
# The main job.  By default: boots a QEMU guest whose processes call the
# host agent over virtio-serial — SqueezeNet classifies the three shared
# photos, and noop, sha256, AES-GCM, sgemm and exec run, all computed on the
# host — then times the same calls on the host for comparison.
#   scripts/demo.sh --local   no VM: every op in-process, then through the
#                             agent on a unix socket (for hosts without QEMU)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-vm}
case $mode in
  vm | --vm) mode=vm ;;
  --local) mode=local ;;
  *) echo "usage: scripts/demo.sh [--local]" >&2; exit 2 ;;
esac
scripts/deps.sh
scripts/build.sh build
[ "$mode" = vm ] && exec scripts/demo-vm.sh

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

step "the same calls as a guest makes them: through the host agent vmacceld"
sock=$work/vmaccel.sock
build/agent/vmacceld --listen "unix://$sock" 2>"$work/agent.log" &
agent=$!
trap 'kill $agent 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
export VMACCEL_REMOTE=unix://$sock
$vmaccel info | sed -n '/^ops/,$p' | head -4
$vmaccel ping --count 2000
$vmaccel sha256 "$work/abc"
$vmaccel encrypt --key "$work/key" -o "$work/ct2" "$work/plain"
$vmaccel decrypt --key "$work/key" "$work/ct2" | cmp - "$work/plain" && echo "AES-GCM round trip through the agent OK"
$vmaccel sgemm --n 512
$vmaccel exec libvmaccel-exec-demo.so vmaccel_demo_reverse "stressed"

step "image classification through the agent: SqueezeNet on the three shared photos"
if [ -d ../shared/images ]; then
  $vmaccel classify --model models/squeezenet1.0.meta --top 3 \
    ../shared/images/chelsea.png ../shared/images/coffee.png ../shared/images/squirrel_cls.jpg
else
  echo "../shared (model and photos) is missing: skipping classification" >&2
fi

step "face detection through the agent, drawn into build/demo-faces.jpg"
$vmaccel detect --model models/face.meta --draw build/demo-faces.jpg tests/data/messi5.jpg
unset VMACCEL_REMOTE
kill -TERM $agent && wait $agent
echo "agent log:"; sed 's/^/  /' "$work/agent.log"
