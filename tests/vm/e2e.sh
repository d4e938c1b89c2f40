#!/usr/bin/env bash
# End to end through a real guest kernel: QEMU guests talk to one host agent
# over virtio-serial.
#  1. vmaccel-e2e (every op, fixed inputs) inside a guest prints exactly what
#     it prints in-process on the host: each result line is compared.
#     And one op through the VM's shared region (ivshmem): `vmaccel sgemm`,
#     whose matrices are vmaccel mems, gives the host's checksum.
#     And the Python examples (examples/python, Debian's Python in the
#     guest image): classify and detect print what they print on the host.
#  2. A guest killed (QEMU SIGKILL) in the middle of its calls leaves the
#     agent serving the next guest, with nothing of the dead one left.
# Prints one line per check and "N passed, N failed".
#
#   tests/vm/e2e.sh [BUILD_DIR]
set -uo pipefail
cd "$(dirname "$0")/../.."
# Relative or absolute: made absolute once, so every use below works.
build=$(cd "${1:-build}" && pwd) || { echo "e2e: no build dir ${1:-build}" >&2; exit 2; }
source tests/vm/check.sh

work=$(mktemp -d)
agent_pid=""
cleanup() {
  for f in "$work"/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
  [ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -d ../shared/models/squeezenet1.0 ] || { fail "../shared (model, photos) is missing"; finish; }
guest/build-image.sh "$build" 2>/dev/null || { fail "guest image builds"; finish; }

# The same data the guest gets, for the host's in-process reference run.
(cd "$work" && zcat "$build/guest/initramfs.cpio.gz" | cpio -id --quiet 'data/*')
export VMACCEL_PLUGIN_DIR=$build/plugins VMACCEL_EXEC_ALLOW=$build/plugins/exec/demo
"$build/tests/vmaccel-e2e" "$work/data" >"$work/host.txt" 2>"$work/host.err" ||
  { fail "vmaccel-e2e in-process on the host"; cat "$work/host.err"; finish; }

# The Python examples in-process, from the same directory the guest runs
# them in (/data), so that the paths they print are the same.
repo=$PWD
pyex() { # pyex SCRIPT ARGS...: one example's output, as the guest gets it
  local script=$1; shift
  (cd "$work/data" && PYTHONPATH=$build/python /usr/bin/python3 "$repo/examples/python/$script" "$@")
}
pyex classify.py squeezenet1.0.meta coffee.png >"$work/host-py.txt" 2>&1 &&
  pyex detect.py face.meta messi5.jpg >>"$work/host-py.txt" 2>&1 ||
  { fail "the Python examples in-process on the host"; cat "$work/host-py.txt"; }

# One agent for every guest, with a counters page, and a VM region on the
# guests' socket (run-vm hands it to QEMU as ivshmem).
"$build/agent/vmacceld" --listen "unix://$work/agent.sock" --admin "unix://$work/admin.sock" \
  --vm-region 64 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 200); do [ -S "$work/admin.sock" ] && break; sleep 0.05; done
stat() { # stat NAME: vmaccel_NAME from the agent's metrics
  "$build/tools/vmaccel" stats --admin "unix://$work/admin.sock" --raw | sed -n "s/^vmaccel_$1 //p"
}
wait_stat() { # wait_stat NAME VALUE: up to 10 s
  for _ in $(seq 100); do [ "$(stat "$1")" = "$2" ] && return 0; sleep 0.1; done
  return 1
}
vm() { # vm NAME [run-vm options] -- COMMAND...
  local name=$1; shift
  guest/run-vm --build "$build" --agent "unix://$work/agent.sock" --quiet --timeout 150 \
    --console "$work/$name.log" --pidfile "$work/$name.pid" "$@" 2>>"$work/run-vm.log"
}
console() { tr -d '\r' <"$work/$1.log"; }

# --- 1. every op from inside the guest -------------------------------------
t0=$(date +%s.%N)
vm a --script <(cat <<'EOF'
echo "uname: $(uname -r)"
vmaccel-e2e /data >/tmp/out 2>/tmp/err; rc=$?
echo "==results"; cat /tmp/out; echo "==end"; cat /tmp/err
VMACCEL_LOG_LEVEL=debug vmaccel sgemm --n 512 --reps 1 2>&1 | grep -e region -e checksum
echo "==python"
python3 /usr/share/vmaccel/examples/classify.py squeezenet1.0.meta coffee.png 2>&1
python3 /usr/share/vmaccel/examples/detect.py face.meta messi5.jpg 2>&1
echo "==pyend"
exit $rc
EOF
)
rc=$?
t1=$(date +%s.%N)
check "guest boots and runs vmaccel-e2e through virtio-serial (exit $rc)" [ "$rc" -eq 0 ]
console a | sed -n '/^==results$/,/^==end$/p' | sed '1d;$d' >"$work/guest.txt"
check "the guest ran its own kernel ($(console a | sed -n 's/^uname: //p'))" \
  grep -q '^uname: [0-9]' <(console a)
check "the agent logged the guest's connection" grep -q 'open conn=.*agent.sock' "$work/agent.log"
while IFS= read -r line; do
  op=${line%%:*}
  got=$(grep -F -m1 "$op:" "$work/guest.txt" || true)
  if [ "$got" = "$line" ]; then ok "in guest = on host: $line"
  else fail "in guest = on host: $op"; echo "     host:  $line"; echo "     guest: ${got:-<missing>}"; fi
done <"$work/host.txt"
check "the guest printed no other results" [ "$(wc -l <"$work/guest.txt")" -eq "$(wc -l <"$work/host.txt")" ]
# The shared region: same checksum, and the bytes went through the region.
want=$("$build/tools/vmaccel" sgemm --n 512 --reps 1 2>/dev/null | sed -n 's/.*checksum //p')
got=$(console a | sed -n 's/^sgemm: .*checksum //p')
check "sgemm through the VM region = on host (checksum ${got:-<none>}, want $want)" \
  [ -n "$want" -a "$got" = "$want" ]
mem=$(console a | sed -n 's/.*VM region (64 MiB) is mem \([0-9]*\).*/\1/p')
check "the guest's mems were in the region (mem ${mem:-<none>} on the agent)" \
  grep -q 'mems come from the VM region (64 MiB)' <(console a)
answered_region() { # the page read whole first: under pipefail, `stats | grep -q`
  local page          # fails when grep quits early and stats then writes (SIGPIPE)
  page=$("$build/tools/vmaccel" stats --admin "unix://$work/admin.sock" --raw) &&
    grep -q 'requests_total{.*op="mem_region"} [1-9]' <<<"$page"
}
check "the agent answered MEM_REGION" answered_region
console a | sed -n '/^==python$/,/^==pyend$/p' | sed '1d;$d' >"$work/guest-py.txt"
if [ -s "$work/host-py.txt" ] && cmp -s "$work/host-py.txt" "$work/guest-py.txt"; then
  ok "Python in the guest = on host: $(head -1 "$work/host-py.txt"); $(sed -n 3p "$work/host-py.txt")"
else
  fail "Python in the guest = on host (classify.py, detect.py)"
  diff "$work/host-py.txt" "$work/guest-py.txt" | sed 's/^/     /'
fi
echo "     (guest a: $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s from QEMU start to power-off)"

# --- 2. a guest killed mid-call ---------------------------------------------
vm b -- vmaccel-e2e --loop &
runvm_b=$!
for _ in $(seq 600); do grep -q '^looping' "$work/b.log" 2>/dev/null && break; sleep 0.1; done
in_call() { # a request of guest b is in the agent right now (up to 10 s)
  for _ in $(seq 200); do [ "$(stat inflight)" -ge 1 ] && return 0; sleep 0.05; done
  return 1
}
check "guest b is in the middle of a call" in_call
kill -9 "$(cat "$work/b.pid")"
wait "$runvm_b"
check "run-vm reports a guest that died (exit 125)" [ $? -eq 125 ]
check "no QEMU of guest b is left" bash -c "! kill -0 $(cat "$work/b.pid") 2>/dev/null"
rm -f "$work/b.pid"
check "the agent outlived the guest" kill -0 "$agent_pid"
check "its connection is closed" wait_stat connections 0
check "its sessions are freed" wait_stat sessions 0
check "its resources are freed" wait_stat resources 0
check "nothing of it is in flight" wait_stat inflight 0
want=$(VMACCEL_REMOTE= "$build/tools/vmaccel" sha256 "$work/data/coffee.png" 2>/dev/null | awk '{print $1}')
vm c --script <(cat <<'EOF'
vmaccel sha256 /data/coffee.png && vmaccel ping --count 50 || exit 1
# AF_VSOCK, which this host cannot loop back: an agent inside the guest,
# reached over the guest kernel's vsock loopback (CID 1).
VMACCEL_PLUGIN_DIR=/usr/lib/vmaccel/agent-plugins vmacceld --listen vsock://any:5000 2>/tmp/agent.log &
sleep 1
VMACCEL_REMOTE=vsock://1:5000 vmaccel ping --count 200 && grep 'peer=vsock:1:' /tmp/agent.log
EOF
)
rc=$?
check "a second guest is served afterwards" grep -q "^$want" <(console c)
check "AF_VSOCK: a client and an agent inside the guest, over vsock loopback (exit $rc)" \
  grep -q '^ping via remote: 200 round trips' <(console c)
check "the agent log names the dead guest's connection closing" \
  grep -q 'close conn=2 .*closed by peer' "$work/agent.log"

# --- 3. run-vm's own limits ---------------------------------------------------
vm t --timeout 10 -- sleep 600
rc=$?
check "a guest over its time limit is stopped (exit $rc, want 124)" [ "$rc" -eq 124 ]
check "no QEMU of it is left" bash -c "! kill -0 $(cat "$work/t.pid") 2>/dev/null"
rm -f "$work/t.pid"

kill -TERM "$agent_pid"
wait "$agent_pid"
check "the agent drains and exits cleanly" [ $? -eq 0 ]
agent_pid=""
if [ "$failed" -gt 0 ]; then
  echo "--- agent log"; cat "$work/agent.log"; echo "--- run-vm"; cat "$work/run-vm.log"
  for n in a b c; do [ -f "$work/$n.log" ] && { echo "--- console $n"; console "$n" | tail -30; }; done
fi
finish
