#!/usr/bin/env bash
# fuzz/device-run.sh [PACK_DIR]: on a many-core host, as root, from the
# tree's root: unpacks what fuzz/device-pack.sh packed and runs fuzz-agent
# for FUZZ_SECS (450) seconds (fuzz/offline.sh), after a 5 s probe, on
# every core but the FUZZ_WORKER_JOBS (a quarter) that run fuzz-worker
# meanwhile.  With $OUT set (the device tool's output folder) the log, the
# jobs' logs and the grown corpus go there too.
set -u
pack=${1:-.gpu-fuzz}
out=${OUT:-/tmp/vmaccel-device-fuzz}
mkdir -p "$out"
exec > >(tee "$out/run.log") 2>&1
t0=$(date +%s)
root=$(cat "$pack/source_root")
if [ "$root" != "$PWD" ]; then
  mkdir -p "$(dirname "$root")"
  [ -e "$root" ] || ln -s "$PWD" "$root"
fi
tar -xJf "$pack/build.tar.xz"
mkdir -p /opt/vmaccel-libs && tar -C /opt/vmaccel-libs -xJf "$pack/libs.tar.xz"
echo /opt/vmaccel-libs/gpulibs >/etc/ld.so.conf.d/zz-vmaccel.conf
ldconfig
nproc; lscpu | grep -E "Model name"
ldd build-fuzz/fuzz/fuzz-agent build-fuzz/plugins/*.so | grep "not found" | sort -u
corpus=/tmp/vmaccel-agent-corpus
mkdir -p "$corpus" && tar -C "$corpus" -xJf "$pack/agent-corpus.tar.xz"
echo "unpacked in $(($(date +%s) - t0)) s; corpus $(ls "$corpus" | wc -l) units"
fuzz/offline.sh fuzz-agent 5 1 /tmp/vmaccel-probe /tmp/vmaccel-probe-logs ||
  { tail -30 /tmp/vmaccel-probe-logs/fuzz-0.log; exit 1; }
wcorpus=/tmp/vmaccel-worker-corpus
mkdir -p "$wcorpus" && tar -C "$wcorpus" -xJf "$pack/worker-corpus.tar.xz"
wjobs=${FUZZ_WORKER_JOBS:-$(($(nproc) / 4))}
wpid=
if [ "$wjobs" -gt 0 ]; then
  fuzz/offline.sh fuzz-worker "${FUZZ_SECS:-450}" "$wjobs" "$wcorpus" /tmp/vmaccel-agent-logs/worker &
  wpid=$!
fi
ajobs=$(($(nproc) - wjobs))
fuzz/offline.sh fuzz-agent "${FUZZ_SECS:-450}" "$((ajobs > 0 ? ajobs : 1))" "$corpus" \
  /tmp/vmaccel-agent-logs
rc=$?
[ -z "$wpid" ] || wait "$wpid" || rc=1
# Quick compression: this runs on the lender's clock.
tar -C /tmp -cf - vmaccel-agent-logs | xz -1 -T0 >"$out/agent-logs.tar.xz"
tar -C "$corpus" -cf - . | xz -1 -T0 >"$out/agent-corpus-new.tar.xz"
echo "total $(($(date +%s) - t0)) s, rc $rc"
exit $rc
