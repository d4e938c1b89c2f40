#!/usr/bin/env bash
# The demo through a real guest (run by scripts/demo.sh): the guest's
# kernel and processes are QEMU's; the work is done by the host agent.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d ../shared/images ] || { echo "demo: ../shared (model and photos) is missing" >&2; exit 1; }
vmaccel=build/tools/vmaccel
[ -x "$vmaccel" ] || vmaccel=build/tools/vmaccel/vmaccel
photos=(chelsea.png coffee.png squirrel_cls.jpg)

step() { printf '\n== %s\n' "$*"; }
step "booting a QEMU guest; inside it, vmaccel calls the host agent over virtio-serial"
echo "   (lines from the guest start with 'guest|', the host agent's with 'vmacceld:')"
guest/run-vm --timeout 300 --script <(cat <<GUEST
set -e
echo "guest kernel: \$(uname -r) (host: $(uname -r))"
echo; echo "-- what the guest's library sees: only the remote plugin"
vmaccel info | sed -n 1,2p
echo; echo "-- image classification on the host's OpenCV, from the guest: SqueezeNet, top 3"
vmaccel classify --model /data/squeezenet1.0.meta --top 3 ${photos[*]}
echo; echo "-- face detection on the host's OpenCV, from the guest (Debian's Haar cascade)"
vmaccel detect --model /data/face.meta /data/messi5.jpg
echo; echo "-- the other operations"
vmaccel ping --count 1000
printf abc >/tmp/abc && vmaccel sha256 /tmp/abc
head -c 32 /dev/urandom >/tmp/key && head -c 4194304 /dev/urandom >/tmp/plain
vmaccel encrypt --key /tmp/key -o /tmp/ct /tmp/plain
vmaccel decrypt --key /tmp/key -o /tmp/back /tmp/ct
cmp /tmp/plain /tmp/back && echo "AES-256-GCM round trip of 4 MiB: identical"
vmaccel sgemm --n 256
vmaccel exec libvmaccel-exec-demo.so vmaccel_demo_reverse stressed
GUEST
)

step "the same calls from a host process, through an agent on a unix socket"
export VMACCEL_PLUGIN_DIR=$PWD/build/plugins
work=$(mktemp -d)
build/agent/vmacceld --listen "unix://$work/a.sock" 2>"$work/agent.log" &
agent=$!
trap 'kill $agent 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -S "$work/a.sock" ] && break; sleep 0.05; done
run_classify() {
  $vmaccel classify --model models/squeezenet1.0.meta --top 1 "${photos[@]/#/../shared/images/}"
}
VMACCEL_REMOTE=unix://$work/a.sock $vmaccel ping --count 1000
VMACCEL_REMOTE=unix://$work/a.sock run_classify
VMACCEL_REMOTE=unix://$work/a.sock $vmaccel detect --model models/face.meta \
  --draw build/demo-faces.jpg tests/data/messi5.jpg   # the picture, drawn on the host
kill -TERM $agent && wait $agent

step "and in-process on the host (no VM, no agent)"
run_classify
echo
echo "Timings side by side over many calls: bench/vm.sh (docs/performance.md)."
