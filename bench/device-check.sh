#!/usr/bin/env bash
# bench/device-check.sh [BUILD_DIR]: the accelerator checks, ready for a GPU
# host.  Build here (meson finds the CUDA toolkit at -Dcudapath, default
# /usr/local/cuda), carry the source tree and BUILD_DIR there, run this from
# the tree's root.  In about 5 minutes it runs the cuda and clblast tests,
# then sgemm: cuBLAS called by hand, the cuda plugin in-process and through
# a vmacceld (unix and tcp), clblast likewise; it prints the tables and
# one summary.  Nothing here needs a network.  docs/performance.md says
# where the numbers go.
set -uo pipefail
cd "$(dirname "$0")/.."
b=${1:-build}
out=$(mktemp -d)
say() { echo; echo "== $*"; }

say "machine"
nvidia-smi -L 2>&1 | head -4 || echo "no nvidia-smi"
missing=$(ldd "$b"/plugins/vmaccel-*.so "$b"/tests/vmaccel-tests 2>/dev/null | grep "not found" | sort -u)
[ -n "$missing" ] && { echo "libraries missing here (install them: scripts/deps.sh):"; echo "$missing"; }
VMACCEL_PLUGIN_DIR=$b/plugins "$b"/tools/vmaccel info 2>&1 | sed -n '/device/p;/sgemm/p'

say "tests: cuda_ clblast_ (a missing GPU fails them here; a missing OpenCL skips)"
VMACCEL_TEST_REQUIRE=cuda timeout 300 "$b"/tests/vmaccel-tests cuda_ clblast_ 2>&1 | tee "$out/tests.log"

say "sgemm: cuBLAS by hand (pinned host memory, device buffers kept)"
if [ -x "$b"/bench/bench-cublas ]; then
  timeout 120 "$b"/bench/bench-cublas 1024 4096 | tee "$out/cublas.log"
else
  echo "not built: no CUDA toolkit where $b was configured"
fi

for p in cuda clblast; do
  say "sgemm: the $p plugin in-process vs through vmacceld"
  BENCH_SGEMM_PLUGIN=$p timeout 240 "$b"/bench/bench-sgemm-remote 1024 4096 2>&1 | tee "$out/$p.log"
done

say "classify on the GPU"
echo "not measured: the opencv plugin has no GPU target yet (issue 15 §2)"

say "summary"
grep -E '^[0-9]+ passed' "$out/tests.log" | tail -1
grep -E '^skip ' "$out/tests.log" | sed 's/^/  /'
gf() { # gflops N MS
  awk -v n="$1" -v ms="$2" 'BEGIN { if (ms > 0) printf "%.0f", 2 * n * n * n / (ms / 1e3) / 1e9 }'
}
echo "| n | path | ms | GFLOP/s |"
echo "|---|---|---|---|"
grep -E '^\| [0-9]+ \| [0-9.]+ \| [0-9]+ \|$' "$out/cublas.log" 2>/dev/null |
  awk -F'|' '{ printf "| %d | cuBLAS by hand | %.3f | %d |\n", $2, $3, $4 }'
for p in cuda clblast; do
  grep -E '^\| [0-9]+ \| plain \|' "$out/$p.log" 2>/dev/null | while IFS='|' read -r _ n _ _ in unix tcp _; do
    n=$((n)); for path in in-process:$in unix:$unix tcp:$tcp; do
      ms=${path#*:}; ms=$(echo $ms)
      echo "| $n | $p ${path%%:*} | $ms | $(gf "$n" "$ms") |"
    done
  done
done
rm -rf "$out"
