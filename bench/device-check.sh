#!/usr/bin/env bash
# bench/device-check.sh [BUILD_DIR]: the accelerator checks, ready for a GPU
# host.  Build here (meson finds the CUDA toolkit at -Dcudapath, default
# /usr/local/cuda), carry the source tree and BUILD_DIR there, run this from
# the tree's root.  In about 7 minutes it runs the cuda and clblast tests,
# then sgemm: cuBLAS called by hand, the cuda plugin in-process and through
# a vmacceld (unix and tcp), clblast likewise; classify on OpenCL vs the CPU,
# single and batched; it prints the tables and one summary (about 3 minutes
# on an H200 host).  Nothing here needs a network.  docs/performance.md says
# where the numbers go.  DEVICE_CHECK_CLASSIFY=no leaves classify out
# (a minute and a half).
set -uo pipefail
cd "$(dirname "$0")/.."
b=${1:-build}
sizes=${DEVICE_CHECK_SIZES:-1024 4096} # sgemm n (a dry run here: 64 128)
out=$(mktemp -d)
say() { echo; echo "== $*"; }

say "machine"
nvidia-smi -L 2>&1 | head -4 || echo "no nvidia-smi"
missing=$(ldd "$b"/plugins/vmaccel-*.so "$b"/tests/vmaccel-tests 2>/dev/null | grep "not found" | sort -u)
[ -n "$missing" ] && { echo "libraries missing here (install them: scripts/deps.sh):"; echo "$missing"; }
VMACCEL_PLUGIN_DIR=$b/plugins "$b"/tools/vmaccel info 2>&1 | sed -n '/device/p;/sgemm/p'

say "tests: cuda_ clblast_ (a missing GPU fails them here; a missing OpenCL skips)"
VMACCEL_TEST_REQUIRE=cuda timeout 300 "$b"/tests/vmaccel-tests cuda_ clblast_ 2>&1 | tee "$out/tests.log"

say "sgemm: cuBLAS by hand (page-locked and pageable host memory, device buffers kept)"
if [ -x "$b"/bench/bench-cublas ]; then
  timeout 120 "$b"/bench/bench-cublas $sizes | tee "$out/cublas.log"
else
  echo "not built: no CUDA toolkit where $b was configured"
fi

for p in cuda clblast; do
  say "sgemm: the $p plugin in-process vs through vmacceld"
  BENCH_SGEMM_PLUGIN=$p timeout 240 "$b"/bench/bench-sgemm-remote $sizes 2>&1 | tee "$out/$p.log"
done

if [ "${DEVICE_CHECK_CLASSIFY:-yes}" != no ]; then
  say "classify: opencv.target = opencl (the GPU's OpenCL, if its driver has one) vs in-process"
  BENCH_CLASSIFY_TARGET=opencl timeout 240 "$b"/bench/bench-classify 30 2>/dev/null | grep '^|' ||
    echo "not measured (no OpenCL device, or it failed)"
  echo "(classify on CUDA/cuDNN does not exist yet: issue 15 §4)"

  say "classify images/s, batching off and on: opencv.target = opencl vs cpu (0.5 s per point on the CPU, 1.5 s on OpenCL: a new batch size builds kernels)"
  for t in opencl cpu; do
    echo "opencv.target = $t"
    BENCH_TENANTS_TARGET=$t timeout 150 "$b"/bench/bench-tenants throughput "$([ $t = cpu ] && echo 0.5 || echo 1.5)" 2>&1 |
      grep -E 'clients:|bench-tenants:' || echo "not measured for $t (no OpenCL device, or it failed)"
  done
  VMACCEL_PLUGIN_DIR=$b/plugins VMACCEL_CONFIG=<(printf 'opencv.target = opencl\nopencv.isolation = thread\n') \
    "$b"/tools/vmaccel info 2>&1 | grep image_classify | sed 's/^/agent.batch = auto would batch when this says gpu: /'
fi

say "summary"
grep -E '^[0-9]+ passed' "$out/tests.log" | tail -1
grep -E '^skip ' "$out/tests.log" | sed 's/^/  /'
echo "| n | path | ms | GFLOP/s |"
echo "|---|---|---|---|"
awk -F'|' '/^\| [0-9]+ \| [a-z-]+ \| [0-9.]+ \| [0-9]+ \|$/ {
  sub(/^ /, "", $3); sub(/ $/, "", $3); printf "| %d | cuBLAS by hand, %s | %.3f | %d |\n", $2, $3, $4, $5 }' \
  "$out/cublas.log" 2>/dev/null
for p in cuda clblast; do # bench-sgemm-remote's rows: in-process, unix, tcp ms
  awk -F'|' -v p="$p" '$3 ~ /^ (plain|mem) $/ {
    n = $2 + 0; buf = $3; gsub(/ /, "", buf); split("in-process unix tcp", name, " ")
    for (i = 1; i <= 3; i++) {
      ms = $(4 + i) + 0
      printf "| %d | %s, %s, %s | %.3f | %.0f |\n", n, p, name[i], buf, ms, (ms > 0 ? 2 * n * n * n / (ms / 1e3) / 1e9 : 0)
    }
  }' "$out/$p.log" 2>/dev/null
done
rm -rf "$out"
