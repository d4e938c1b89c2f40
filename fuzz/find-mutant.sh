#!/bin/sh
# Shows that fuzz-agent finds a planted bug, and how fast.
#
#   fuzz/find-mutant.sh [PATCH [SECONDS [CORPUS]]]
#
# Copies the working tree (tracked and untracked files git does not ignore)
# to a temporary directory, applies PATCH there (default
# fuzz/mutants/batch-double-unref.patch: issue 13 §1's mistake re-created
# in today's code; the others in fuzz/mutants are caught by the harness's
# own checks: a descriptor closed twice, a connection kept), builds
# fuzz-agent and the plugins it loads with clang, ASan and UBSan, then
# fuzzes from a copy of CORPUS (default
# fuzz/corpus/agent; give an empty directory to start from nothing) for at
# most SECONDS (default 300), with $FUZZ_ARGS added to its command line
# (e.g. FUZZ_ARGS=-dict=fuzz/agent.dict), $RUNS times (default 1), each
# from a fresh copy.  Prints how long each took to crash and exits 0 if
# every one did, 1 if not.  The working tree itself is never touched.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
patch=$(realpath "${1:-$root/fuzz/mutants/batch-double-unref.patch}")
secs=${2:-300}
corpus=$(realpath "${3:-$root/fuzz/corpus/agent}")
tmp=$(mktemp -d /tmp/vmaccel-mutant.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "== mutant $(basename "$patch") in $tmp"
mkdir "$tmp/src"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 tar cf - 2>/dev/null) |
    tar xf - -C "$tmp/src"
ln -s "$(realpath "$root/../shared")" "$tmp/shared" 2>/dev/null || true
(cd "$tmp/src" && patch -s -p1 <"$patch")
CC=clang meson setup "$tmp/build" "$tmp/src" -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false -Dc_args=-fno-sanitize-recover=all >"$tmp/setup.log" 2>&1 ||
    { cat "$tmp/setup.log"; exit 1; }
ninja -C "$tmp/build" fuzz/fuzz-agent plugins/vmaccel-noop.so plugins/vmaccel-mbench.so \
    plugins/vmaccel-openssl.so plugins/vmaccel-blas.so plugins/vmaccel-exec.so \
    plugins/exec/demo/libvmaccel-exec-demo.so tests/plugins/vmaccel-tclassify.so \
    >"$tmp/build.log" 2>&1 || { tail -30 "$tmp/build.log"; exit 1; }

# One fuzzing run from a fresh copy of the corpus: prints how long it took.
hunt() {
    rm -rf "$tmp/corpus" && mkdir "$tmp/corpus"
    cp "$corpus"/* "$tmp/corpus/" 2>/dev/null || true
    local start end took runs found
    start=$(date +%s.%N)
    (cd "$tmp" && "$tmp/build/fuzz/fuzz-agent" -max_total_time="$secs" -timeout=10 \
        -print_final_stats=1 ${FUZZ_ARGS:-} "$tmp/corpus" >"$tmp/fuzz.log" 2>&1) && found=0 ||
        found=1
    end=$(date +%s.%N)
    took=$(awk "BEGIN { printf \"%.1f\", $end - $start }")
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/fuzz.log")
    # Found: a sanitizer's report, or an abort of the harness's own checks
    # (fuzz-agent: ... then libFuzzer's "deadly signal").
    if [ "$found" = 1 ] &&
        grep -q "ERROR: AddressSanitizer\|runtime error\|ERROR: libFuzzer: deadly signal" \
            "$tmp/fuzz.log"; then
        grep -m1 "ERROR: AddressSanitizer\|runtime error\|^fuzz-agent: " "$tmp/fuzz.log"
        grep -m6 "^    #[0-9]" "$tmp/fuzz.log" || true
        echo "mutant found in $took s ($runs executions)"
        return 0
    fi
    tail -5 "$tmp/fuzz.log"
    echo "mutant NOT found in $took s ($runs executions)"
    return 1
}

echo "== fuzzing from $(ls "$corpus" | wc -l) seeds, at most $secs s, ${RUNS:-1} time(s)"
status=0
for _ in $(seq "${RUNS:-1}"); do
    hunt || status=1
done
exit $status
