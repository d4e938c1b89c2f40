#!/usr/bin/env bash
# What a real VM adds: boot time, the first call, and steady-state calls from
# inside a QEMU guest (virtio-serial to the host agent), next to the same
# calls from a host process through the agent (unix socket) and in-process.
# All in one run, on one machine.
#
#   bench/vm.sh [BUILD_DIR] [N]     N: classifications per path (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
# Relative or absolute: made absolute once, so every use below works.
build=$(cd "${1:-build}" && pwd) || { echo "bench/vm.sh: no build dir ${1:-build}" >&2; exit 2; }
n=${2:-30}
vmaccel=$build/tools/vmaccel
[ -x "$vmaccel" ] || vmaccel=$build/tools/vmaccel/vmaccel
img=coffee.png
work=$(mktemp -d)
agent=""
trap '{ [ -n "$agent" ] && kill $agent 2>/dev/null; } || true; rm -rf "$work"' EXIT

# medians: reads "(12.3 ms)" per classified image, skips the first (the
# model's upload and load), prints "median p90".
ms_stats() {
  sed -n 's/.*(\([0-9.]*\) ms)$/\1/p' | tail -n +2 | sort -n |
    awk '{v[NR]=$1} END{printf "%.2f %.2f", v[int((NR+1)/2)], v[int(NR*0.9+0.5)]}'
}
ping_median() { sed -n 's/.*median \([0-9.]*\) us.*/\1/p'; }
sgemm_ms() { sed -n 's/^sgemm: n=1024 *\([0-9.]*\) ms (best of.*/\1/p'; }
images=$(for _ in $(seq "$n"); do printf '%s ' "$img"; done)

# --- in the guest ------------------------------------------------------------
t0=$(date +%s.%N)
guest/run-vm --build "$build" --quiet --console "$work/console" --script <(cat <<EOF
vmaccel-e2e /data 2>&1 >/dev/null | sed -nE 's/^time (init \+ session|noop): /first \1: /p'
vmaccel ping --count 2000
vmaccel classify --model /data/squeezenet1.0.meta --top 1 $images 2>/dev/null
vmaccel sgemm --n 1024 --reps 9
EOF
) 2>"$work/run-vm.err"
t1=$(date +%s.%N)
accel=$(sed -n 's/^run-vm: accelerator: \([a-z]*\) .*/\1/p' "$work/run-vm.err")
con=$(tr -d '\r' <"$work/console")
boot=$(sed -n 's/^guest: kernel .*, up \([0-9.]*\) s,.*/\1/p' <<<"$con")
first_init=$(sed -n 's/^first init + session: \([0-9.]*\) ms/\1/p' <<<"$con")
first_noop=$(sed -n 's/^first noop: \([0-9.]*\) ms/\1/p' <<<"$con")
g_ping=$(ping_median <<<"$con")
read -r g_cls g_cls90 <<<"$(ms_stats <<<"$con")"
g_mm=$(sgemm_ms <<<"$con")

# --- on the host: through an agent, then in-process ---------------------------
export VMACCEL_PLUGIN_DIR=$build/plugins
"$build/agent/vmacceld" --listen "unix://$work/a.sock" 2>/dev/null &
agent=$!
for _ in $(seq 100); do [ -S "$work/a.sock" ] && break; sleep 0.05; done
classify() { $vmaccel classify --model models/squeezenet1.0.meta --top 1 \
  $(for _ in $(seq "$n"); do printf '../shared/images/%s ' "$img"; done) 2>/dev/null; }
a_ping=$(VMACCEL_REMOTE=unix://$work/a.sock $vmaccel ping --count 2000 | ping_median)
read -r a_cls a_cls90 <<<"$(VMACCEL_REMOTE=unix://$work/a.sock classify | ms_stats)"
read -r l_cls l_cls90 <<<"$(classify | ms_stats)"
a_mm=$(VMACCEL_REMOTE=unix://$work/a.sock $vmaccel sgemm --n 1024 --reps 9 | sgemm_ms)
l_mm=$($vmaccel sgemm --n 1024 --reps 9 | sgemm_ms)

printf '\nvmaccel in a VM: %s (QEMU %s, %s), one run\n\n' "$(uname -m)" \
  "$(qemu-system-x86_64 --version | head -1 | awk '{print $4}')" \
  "${accel:-?} (guest/run-vm's choice)"
printf '| %-48s | %14s | %14s | %12s |\n' "" "guest (virtio-serial)" "host process → agent" "in-process"
printf '|%s|%s|%s|%s|\n' "--------------------------------------------------" "------------------------" "-----------------------" "--------------"
printf '| %-48s | %22s | %21s | %12s |\n' "kernel boot to /init" "${boot} s" "" ""
printf '| %-48s | %22s | %21s | %12s |\n' "QEMU start to power-off (whole run)" \
  "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f s", b-a}')" "" ""
printf '| %-48s | %22s | %21s | %12s |\n' "first call: library init, plugin load" "${first_init} ms" "" ""
printf '| %-48s | %22s | %21s | %12s |\n' "first call: noop (connect, handshake, session)" "${first_noop} ms" "" ""
printf '| %-48s | %22s | %21s | %12s |\n' "noop round trip, median of 2000" "${g_ping} µs" "${a_ping} µs" "—"
printf '| %-48s | %22s | %21s | %12s |\n' "classify $img, median of $((n - 1))" "${g_cls} ms" "${a_cls} ms" "${l_cls} ms"
printf '| %-48s | %22s | %21s | %12s |\n' "classify $img, p90" "${g_cls90} ms" "${a_cls90} ms" "${l_cls90} ms"
printf '| %-48s | %22s | %21s | %12s |\n' "sgemm n = 1024 in mems, best of 9" "${g_mm} ms" "${a_mm} ms" "${l_mm} ms"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.3f", a / b; else printf "?" }'; }
printf '\nguest / in-process: classify %s, sgemm %s; host process → agent / in-process: classify %s, sgemm %s\n' \
  "$(ratio "$g_cls" "$l_cls")" "$(ratio "$g_mm" "$l_mm")" "$(ratio "$a_cls" "$l_cls")" "$(ratio "$a_mm" "$l_mm")"
