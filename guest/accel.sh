# Which accelerator QEMU gets (sourced by guest/run-vm).
#
# /dev/kvm can exist and be writable yet never boot a stock kernel (nested
# KVM on a host that is itself a VM: the guest prints nothing, ever).  So
# "auto" trusts KVM only after a short probe boot of the guest's own kernel
# has printed a line, and caches that verdict per host, QEMU and kernel in
# the build dir so later runs pay nothing.
#
# Uses from run-vm: accel_mode, accel_from, kvm_dev, probe_s, img, work,
# stop_pid.

accel_log() { echo "run-vm: $*" >&2; }

# The verdict depends on the host kernel, the QEMU binary, the KVM device
# and the guest kernel: a change in any of them probes again.
accel_cache_file() {
  local key
  key=$({ uname -r; command -v qemu-system-x86_64; qemu-system-x86_64 --version | head -1
          echo "$kvm_dev"; cksum <"$img/vmlinuz"; } | cksum | cut -d' ' -f1)
  echo "$img/accel-$key"
}

accel_save() { # accel_save VERDICT REASON: remembered for auto mode only
  [ "$accel_mode" = auto ] && echo "$1 $2" >"$(accel_cache_file)"
}

# accel_wait_output FILE PID SECONDS: succeeds once FILE has a byte in it;
# fails when PID exits first or SECONDS pass.
accel_wait_output() {
  local deadline=$(( $(date +%s%N) + $3 * 1000000000 ))
  while [ "$(date +%s%N)" -lt "$deadline" ]; do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || { [ -s "$1" ]; return; }
    sleep 0.1
  done
  return 1
}

# Boots the guest kernel alone under KVM (no initramfs: it panics, which
# is fine) and prints "kvm REASON" if it printed a line in time, else
# "tcg REASON".
accel_probe() {
  local con=$work/probe.console err=$work/probe.err t0 t1 pid
  : >"$con"
  t0=$(date +%s%N)
  qemu-system-x86_64 -accel kvm -cpu host -m 256 -smp 1 -nodefaults -no-reboot \
    -display none -kernel "$img/vmlinuz" -append "console=ttyS0 panic=-1" \
    -serial "file:$con" </dev/null >/dev/null 2>"$err" &
  pid=$!
  echo "$pid" >"$work/probe.pid"
  if accel_wait_output "$con" "$pid" "$probe_s"; then
    t1=$(date +%s%N)
    echo "kvm a KVM probe boot printed its first line in $(( (t1 - t0) / 1000000 )) ms"
  elif kill -0 "$pid" 2>/dev/null; then
    echo "tcg a KVM probe boot printed nothing in ${probe_s}s"
  else
    echo "tcg QEMU under KVM failed: $(head -1 "$err")"
  fi
  stop_pid "$pid" KILL
  rm -f "$work/probe.pid"
}

# Prints kvm or tcg, and logs one line saying which and why.
accel_choose() {
  local usable="" cache verdict reason
  [ -r "$kvm_dev" ] && [ -w "$kvm_dev" ] && usable=1
  case $accel_mode in
    tcg) accel_log "accelerator: tcg (set by $accel_from)"; echo tcg; return 0 ;;
    kvm) [ -n "$usable" ] || { accel_log "$accel_from kvm: $kvm_dev is missing or not read-writable"; return 1; }
         accel_log "accelerator: kvm (set by $accel_from)"; echo kvm; return 0 ;;
  esac
  if [ -z "$usable" ]; then
    accel_log "accelerator: tcg ($kvm_dev is missing or not read-writable)"; echo tcg; return 0
  fi
  cache=$(accel_cache_file)
  if [ -f "$cache" ] && read -r verdict reason <"$cache" && [[ $verdict =~ ^(kvm|tcg)$ ]]; then
    accel_log "accelerator: $verdict ($reason; cached in $cache)"; echo "$verdict"; return 0
  fi
  read -r verdict reason < <(accel_probe)
  accel_save "$verdict" "$reason"
  accel_log "accelerator: $verdict ($reason; --accel or VMACCEL_VM_ACCEL overrides)"
  echo "$verdict"
}
