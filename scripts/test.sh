#!/usr/bin/env bash
# Runs every test: the suite on a normal build, again under ASan+UBSan
# (any report fails it), and a subset under valgrind.  Ends with one
# "N passed, N failed" line totalling all runs.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh || exit 1
scripts/build.sh build || exit 1
scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false \
  -Dc_args=-fno-sanitize-recover=all || exit 1
# What packagers build: -O3 raises warnings -O2 does not (they must build).
scripts/build.sh build-release -Dbuildtype=release || exit 1
CC=clang scripts/build.sh build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
  -Db_lundef=false -Dc_args=-fno-sanitize-recover=all || exit 1

# deps.sh installed PoCL: OpenCL tests must run here, not skip.
export VMACCEL_TEST_REQUIRE=opencl
# No configuration file but the ones tests give: not one installed on this
# machine (<sysconfdir>/vmaccel/vmaccel.conf), nor one named by the caller.
export VMACCEL_CONFIG=
passed=0 failed=0 skipped=0 skips=""
run() { # run NAME COMMAND...: runs a suite, adds its counts to the totals
  local name=$1; shift
  echo "== $name"
  local log; log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line; line=$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -n 1)
  local sk; sk=$(grep -E '^skip ' "$log" | awk -v n="$name" '{ print "  " n ": " $0 }')
  [ -n "$sk" ] && skips+="$sk"$'\n'
  rm -f "$log"
  if [ -z "$line" ]; then
    echo "$name: no summary line (exit $rc)"; failed=$((failed + 1)); return
  fi
  local p f s; read -r p _ f _ s _ <<<"${line//,/}"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + ${s:-0}))
  [ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || failed=$((failed + 1))
}

run "tests" build/tests/vmaccel-tests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run "tests under ASan+UBSan" build-asan/tests/vmaccel-tests
run "core tests under valgrind" valgrind -q --error-exitcode=99 --leak-check=full \
  --suppressions=tests/valgrind.supp \
  --errors-for-leak-kinds=definite,indirect build/tests/vmaccel-tests \
  init_ config_ session resource dispatch exec_ sha256 aes_gcm_nist

# The Python binding (python/vmaccel), in-process and through an agent,
# with Debian's Python (the one python3-numpy is for).
PYTHONPATH=build/python run "Python binding" /usr/bin/python3 tests/python/run.py build

# A real guest kernel in the loop: QEMU guests call the agent over
# virtio-serial; results must equal the in-process ones (under 1 min).
# (The build dir is given absolute here and relative below: both work.)
run "end to end through QEMU guests" tests/vm/e2e.sh "$PWD/build"
# guest/run-vm itself: KVM only when a probe proves it boots, the TCG
# fallback, live output, messages and exit codes (~2 min).
run "guest/run-vm: accelerator choice, fallback, messages" tests/vm/run-vm.sh build

# vmacceld's files depend on each other one way only (includes and calls).
echo "== agent/ layering: no include or call cycle"
if tests/agent-layers.sh build; then
  echo "ok   agent-layers"; passed=$((passed + 1))
else
  echo "FAIL agent-layers"; failed=$((failed + 1))
fi

# What operators install: the man pages render and name every key, command
# and option the code has; the shell completion; the Debian packages, built
# with Debian's tools, checked by lintian, and used installed (~6 min).
run "man pages: rendering, keys, commands, options" tests/man.sh build
run "bash completion" tests/completion.sh
run "Debian packages: build, lintian, installed in a throw-away root" scripts/package.sh

# fuzz TARGET SECONDS CORPUS WHAT: a libFuzzer target from the saved corpus
# (new finds go to a scratch dir, so the tree stays clean).
fuzz() {
  local target=$1 secs=$2 corpus=$3; shift 3
  echo "== fuzz: $*, $secs s"
  local scratch; scratch=$(mktemp -d)
  if "build-fuzz/fuzz/$target" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$scratch/" "$scratch" "$corpus" >"$scratch.log" 2>&1; then
    grep -E "^stat::number_of_executed_units" "$scratch.log" | tail -1
    echo "ok   $target"; passed=$((passed + 1))
    rm -rf "$scratch" "$scratch.log"
  else
    # What broke (the report's head: a CI log keeps only its end) and the
    # input itself, so that a run elsewhere can be reproduced here.
    # Kept for the end of the log too, which is what a CI page shows.
    tail -25 "$scratch.log"
    {
      echo "== $target failed:"
      grep -E -m 40 -A 12 '^(==[0-9]+==ERROR|fuzz-[a-z]+: |.*runtime error:)' "$scratch.log" | head -60
      local crash; for crash in "$scratch"/crash-* "$scratch"/timeout-* "$scratch"/leak-*; do
        [ -f "$crash" ] && { echo "$(basename "$crash"), base64:"; base64 -w 100 "$crash" | head -200; }
      done
    } >>"$fuzz_digest"
    echo "FAIL $target (crashing input kept in $scratch)"
    failed=$((failed + 1))
  fi
}
fuzz_digest=$(mktemp)
fuzz fuzz-proto 60 fuzz/corpus/proto "src/proto decoder"
fuzz fuzz-agent 60 fuzz/corpus/agent "the whole agent"
fuzz fuzz-worker 60 fuzz/corpus/worker "the agent's side of process isolation: taken-over workers"
fuzz fuzz-pngstrip 15 fuzz/corpus/png "plugins/opencv PNG chunk walker"
fuzz fuzz-onnx 15 fuzz/corpus/onnx "src/core ONNX reader (vmaccel_model_info)"

echo "== all runs"
cat "$fuzz_digest"; rm -f "$fuzz_digest"
if [ "$skipped" -gt 0 ]; then
  printf 'skipped (no such hardware here):\n%s' "$skips"
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
