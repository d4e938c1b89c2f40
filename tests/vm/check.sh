# Counting checks for the shell suites (sourced by tests/vm, tests/man.sh,
# scripts/package.sh): one line per check, then "N passed, N failed" from
# finish, which exits.
passed=0 failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
check() { # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then ok "$name"; else fail "$name"; fi
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
