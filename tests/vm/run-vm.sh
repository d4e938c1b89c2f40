#!/usr/bin/env bash
# guest/run-vm's own behaviour: which accelerator it picks (with a fake
# qemu-system-x86_64 on PATH that hangs silently under -accel kvm, as nested
# KVM does with a stock kernel), its TCG fallback, live guest output, its
# messages and exit codes.  Prints one line per check and "N passed, N failed".
#
#   tests/vm/run-vm.sh [BUILD_DIR]
set -uo pipefail
cd "$(dirname "$0")/../.."
build=$(cd "${1:-build}" && pwd) || { echo "run-vm.sh: no build dir ${1:-build}" >&2; exit 2; }
source tests/vm/check.sh

work=$(mktemp -d)
# The fakes' verdicts are cached under their own keys: remove those after.
ls "$build"/guest/accel-* >"$work/cache-before" 2>/dev/null
new_cache() { ls "$build"/guest/accel-* 2>/dev/null | grep -vxF -f "$work/cache-before"; }
trap 'new_cache | xargs -r rm -f; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
real_qemu=$(command -v qemu-system-x86_64) || { fail "qemu-system-x86_64 is installed"; finish; }
guest/build-image.sh "$build" 2>/dev/null || { fail "guest image builds"; finish; }

# fake_qemu NAME MODE: a qemu-system-x86_64 in $work/NAME/ that logs each
# -accel kvm call and, under KVM, either hangs silently (MODE=hang) or
# passes the probe boot (no -initrd) and hangs on the real one (MODE=late).
fake_qemu() {
  mkdir -p "$work/$1"
  cat >"$work/$1/qemu-system-x86_64" <<EOF
#!/bin/bash
case " \$* " in *" -accel kvm "*) ;; *) exec "$real_qemu" "\$@" ;; esac
echo call >>"$work/$1/kvm-calls"
if [ $2 = late ] && [[ " \$* " != *" -initrd "* ]]; then
  args=("\$@"); args=("\${args[@]/#kvm/tcg}"); args=("\${args[@]/#host/max}")
  exec "$real_qemu" "\${args[@]}"
fi
exec sleep 600
EOF
  chmod +x "$work/$1/qemu-system-x86_64"
}
kvm_calls() { [ -f "$work/$1/kvm-calls" ] && wc -l <"$work/$1/kvm-calls" || echo 0; }
touch "$work/kvm"   # a read-writable stand-in for /dev/kvm
runvm() { # runvm FAKE NAME [run-vm options] -- COMMAND: stdout, stderr in $work/NAME.{out,err}
  local fake=$1 name=$2; shift 2
  PATH=$work/$fake:$PATH VMACCEL_KVM_DEV=$work/kvm VMACCEL_VM_PROBE_S=${probe_s:-2} VMACCEL_VM_STALL_S=4 \
    guest/run-vm --build "$build" --timeout 120 --pidfile "$work/$name.pid" "$@" \
    >"$work/$name.out" 2>"$work/$name.err"
}
said() { grep -qF -- "$2" "$work/$1.err"; }

# --- auto: KVM that never prints is probed once, then TCG, cached ------------
fake_qemu hang hang
runvm hang a -- echo ran-a
rc=$?
check "auto with a silent KVM: the guest runs under TCG (exit $rc)" [ "$rc" -eq 0 ]
check "it ran the command" grep -q '^guest| ran-a$' "$work/a.out"
check "one line says TCG and why" said a "accelerator: tcg (a KVM probe boot printed nothing in 2s"
check "the probe booted KVM once" [ "$(kvm_calls hang)" -eq 1 ]
check "the verdict is cached in the build dir" grep -q '^tcg a KVM probe' $(new_cache) /dev/null

# Cached: no probe.  And the guest's lines show while it runs, not after.
runvm hang b --script <(printf 'echo live-marker\nsleep 6\n') &
runvm_pid=$!
live=""
for _ in $(seq 300); do
  grep -q '^guest| live-marker$' "$work/b.out" 2>/dev/null && { kill -0 "$(cat "$work/b.pid")" && live=1; break; }
  sleep 0.1
done
wait "$runvm_pid"
check "guest output is live (a line shows while the guest still runs)" [ -n "$live" ]
check "a cached verdict does not probe again" [ "$(kvm_calls hang)" -eq 1 ]
check "it says the verdict is cached" said b "; cached in "

# --- auto: KVM passes the probe but the real boot stays silent -> TCG once ----
fake_qemu late late
probe_s=20 runvm late c -- echo ran-c
rc=$?
check "a KVM guest that stays silent falls back to TCG and runs (exit $rc)" [ "$rc" -eq 0 ]
check "the probe chose KVM first" said c "accelerator: kvm (a KVM probe boot printed its first line in"
check "the fallback is said in one line" said c "printed nothing in 4s under KVM: falling back to TCG"
check "it ran the command" grep -q '^guest| ran-c$' "$work/c.out"
check "KVM was tried twice (probe, boot), no more" [ "$(kvm_calls late)" -eq 2 ]
runvm late c2 --quiet -- true
check "the fallback's verdict is cached: TCG next time, no KVM call" \
  bash -c "[ $(kvm_calls late) -eq 2 ] && grep -qF 'accelerator: tcg (a KVM guest printed nothing' $work/c2.err"

# --- overrides, and forced KVM that stalls -----------------------------------
runvm hang d --accel tcg --timeout 5 --quiet -- sleep 600
rc=$?
check "--accel tcg boots no KVM" [ "$(kvm_calls hang)" -eq 1 ]
check "a guest over its time limit exits 124 (got $rc)" [ "$rc" -eq 124 ]
check "... with one clean line, no shell 'Killed' report" \
  bash -c "grep -qx 'run-vm: the guest ran out of time (5s)' $work/d.err && ! grep -q Killed $work/d.err"
check "no QEMU of it is left" bash -c "! kill -0 $(cat "$work/d.pid") 2>/dev/null"
runvm hang e --accel kvm --quiet -- true
rc=$?
check "forced KVM that stays silent fails clearly (exit $rc, want 125)" \
  bash -c "[ $rc -eq 125 ] && grep -qF 'printed nothing in 4s under KVM (forced by --accel)' $work/e.err"
check "no fake KVM guest is left" bash -c "! pgrep -f 'sleep 600' -P $(cat "$work/e.pid") >/dev/null 2>&1 && ! kill -0 $(cat "$work/e.pid") 2>/dev/null"
VMACCEL_VM_ACCEL=tcg runvm hang f --quiet -- true
check "VMACCEL_VM_ACCEL=tcg is honoured" said f "accelerator: tcg (set by VMACCEL_VM_ACCEL)"

# --- scripts that take a build dir take it absolute as well as relative --------
bench/vm.sh "$build" 2 >"$work/bench.out" 2>"$work/bench.err"
check "bench/vm.sh with an absolute build dir (exit $?)" \
  grep -qE '^\| noop round trip, median of 2000 +\| +[0-9.]+ µs +\| +[0-9.]+ µs' "$work/bench.out"

# --- usage --------------------------------------------------------------------
guest/run-vm --help >"$work/help.out" 2>&1
check "--help prints usage on stdout and exits 0" \
  bash -c "[ $? -eq 0 ] && grep -q '^usage: guest/run-vm' $work/help.out"
guest/run-vm --accel bogus -- true 2>"$work/u1.err"
check "--accel bogus: exit 2, names the value" \
  bash -c "[ $? -eq 2 ] && grep -qF -e \"--accel 'bogus': must be kvm, tcg or auto\" $work/u1.err"
VMACCEL_VM_ACCEL=fast guest/run-vm -- true 2>"$work/u2.err"
check "VMACCEL_VM_ACCEL=fast: exit 2, names the variable" \
  bash -c "[ $? -eq 2 ] && grep -qF \"VMACCEL_VM_ACCEL 'fast'\" $work/u2.err"
guest/run-vm --timeout abc -- true 2>"$work/u3.err"
check "--timeout abc: exit 2, says why" \
  bash -c "[ $? -eq 2 ] && grep -qF -e \"--timeout 'abc': must be a whole number\" $work/u3.err"

if [ "$failed" -gt 0 ]; then
  for f in "$work"/*.err; do echo "--- $f"; tail -15 "$f"; done
fi
finish
