#!/usr/bin/env bash
# The man pages meson built from docs/man/*.scd: each renders without a
# groff or man warning, and they cannot drift from the code —
# vmaccel.conf(5) names every configuration key (tests/doc_keys.py),
# vmaccel(1) every command of the CLI's table (tools/vmaccel/main.c),
# vmacceld(8) every option of the agent (agent/options.c).
#   tests/man.sh BUILD     (ends with "N passed, N failed")
set -uo pipefail
build=${1:?usage: tests/man.sh BUILD}
cd "$(dirname "$0")/.."
source tests/vm/check.sh # ok, fail, finish

for page in vmaccel.1 vmacceld.8 vmaccel.conf.5 vmaccel-plugin.7; do
  f=$build/docs/man/$page
  if [ ! -s "$f" ]; then fail "$page: not built (scdoc missing?)"; continue; fi
  warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
  lines=$(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$f" 2>/dev/null | wc -l)
  if [ -n "$warn" ] || [ "$lines" -lt 20 ]; then
    echo "$warn" | head -20; fail "$page renders ($lines lines, warnings above)"
  else
    ok "$page renders without warnings ($lines lines)"
  fi
done

# documents PAGE WHAT ITEM...: every ITEM appears in PAGE's source in bold.
documents() {
  local page=$1 what=$2; shift 2
  local missing=() item
  for item in "$@"; do grep -qF -- "*$item*" "docs/man/$page.scd" || missing+=("$item"); done
  if [ $# -lt 5 ]; then
    fail "$page: only $# $what found in the code (the extraction broke)"
  elif [ ${#missing[@]} -gt 0 ]; then
    fail "$page lacks ${#missing[@]} of $# $what: ${missing[*]}"
  else
    ok "$page documents all $# $what"
  fi
}
mapfile -t keys < <(python3 tests/doc_keys.py .)
documents vmaccel.conf.5 "configuration keys" "${keys[@]}"
mapfile -t cmds < <(sed -n 's/^    {"\([a-z0-9-]*\)", cmd_.*/\1/p' tools/vmaccel/main.c)
documents vmaccel.1 "CLI commands" "${cmds[@]}"
mapfile -t opts < <(grep -o 'is_option(argc, argv, &i, "--[a-z-]*"' agent/options.c |
                    sed 's/.*"\(--[a-z-]*\)"/\1/'; echo --help; echo --version)
documents vmacceld.8 "agent options" "${opts[@]}"

finish
