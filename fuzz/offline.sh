#!/usr/bin/env bash
# fuzz/offline.sh TARGET SECONDS JOBS CORPUS [LOGDIR]: the long offline run
# of one libFuzzer target (issue 13 asks for >= 50 M executions of each):
# JOBS processes for SECONDS each, sharing CORPUS (new inputs land there),
# then one line with what they did together:
#
#   fuzz-agent: 16 jobs x 480 s: 41234567 executions, cov 1140, ft 7400, corpus 1402 units, 0 crashes
#
# TARGET is a binary of build-fuzz/fuzz or a path.  The jobs' logs (and any
# crash-*, timeout-*, leak-* input) go to LOGDIR (default: a new dir in
# /tmp), named in the summary.  Exits 1 when a job found something.
set -uo pipefail
[ $# -ge 4 ] || { sed -n '2,12p' "$0"; exit 2; }
target=$1 secs=$2 jobs=$3 corpus=$4
logs=${5:-$(mktemp -d /tmp/vmaccel-fuzz.XXXXXX)}
[ -x "$target" ] || target="$(dirname "$0")/../build-fuzz/fuzz/$target"
[ -x "$target" ] || { echo "no fuzz target $1" >&2; exit 2; }
target=$(cd "$(dirname "$target")" && pwd)/$(basename "$target")
mkdir -p "$logs" "$corpus"
logs=$(cd "$logs" && pwd)
corpus=$(cd "$corpus" && pwd)
dict=$(cd "$(dirname "$0")" && pwd)/agent.dict
extra=()
[[ "$(basename "$target")" = fuzz-agent && -f "$dict" ]] && extra=(-dict="$dict")
# -jobs: independent processes (fuzz-N.log each, in the current dir), each
# reloading the shared corpus now and then; -timeout: a hang is a finding.
(cd "$logs" && "$target" -jobs="$jobs" -workers="$jobs" -max_total_time="$secs" \
   -timeout=10 -print_final_stats=1 -artifact_prefix="$logs/" "${extra[@]}" "$corpus" \
   >"$logs/jobs.log" 2>&1)
execs=$(cat "$logs"/fuzz-*.log | sed -n 's/^stat::number_of_executed_units: *//p' |
  awk '{ s += $1 } END { print s + 0 }')
last=$(cat "$logs"/fuzz-*.log | grep -E '^#[0-9]+' | grep -o 'cov: [0-9]* ft: [0-9]*' |
  sort -t' ' -k2,2n | tail -1)
found=$(find "$logs" -maxdepth 1 \( -name 'crash-*' -o -name 'timeout-*' -o -name 'leak-*' \
  -o -name 'oom-*' \) | wc -l)
echo "$(basename "$target"): $jobs jobs x $secs s: $execs executions, ${last:-cov ?}," \
  "corpus $(find "$corpus" -type f | wc -l) units, $found crashes (logs: $logs)"
[ "$found" -eq 0 ]
