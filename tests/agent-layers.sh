#!/bin/sh
# Checks that vmacceld's files (agent/) depend on each other only one way.
#
#   tests/agent-layers.sh [BUILD_DIR]
#
# A module is agent/NAME.c with agent/NAME.h.  Module A depends on B when
# one of A's files includes B's header ("B.h", a header that lives in
# agent/), and, when BUILD_DIR holds the compiled agent (or one is found
# under build*/), when A's object file calls a function that B's object
# file defines (nm).  The edges go to tsort(1): it prints the modules
# bottom-up and reports any cycle; the script then exits non-zero.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
agent="$root/agent"
build=${1:-}
if [ -z "$build" ]; then
    for d in "$root"/build*/; do
        [ -d "$d/agent/vmacceld.p" ] && { build=$d; break; }
    done
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mod() { basename "$1" | sed 's/\.[ch]$//; s/\.c\.o$//'; }

# Include edges: "HEADER-MODULE FILE-MODULE" (the one below first).
for f in "$agent"/*.c "$agent"/*.h; do
    m=$(mod "$f")
    echo "$m $m" >>"$tmp/edges" # every module is a node, even one without edges
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
        while read -r h; do
            [ -f "$agent/$h" ] || continue # not the agent's (library, proto)
            [ "$(mod "$h")" = "$m" ] || echo "$(mod "$h") $m include" >>"$tmp/why"
            echo "$(mod "$h") $m" >>"$tmp/edges"
        done
done

# Call edges from the object files: who defines what, who uses it.
objs=""
if [ -n "$build" ] && [ -d "$build/agent/vmacceld.p" ]; then
    for o in "$build"/agent/vmacceld.p/*.c.o; do
        [ -f "$agent/$(basename "$o" .o)" ] && objs="$objs $o"
    done
fi
if [ -n "$objs" ]; then
    for o in $objs; do
        nm "$o" | awk -v m="$(mod "$o")" '$2 ~ /^[TDBR]$/ {print $3, m}'
    done | sort -u >"$tmp/defs"
    for o in $objs; do
        nm -u "$o" | awk -v m="$(mod "$o")" '{print $NF, m}'
    done | sort -u >"$tmp/uses"
    join "$tmp/defs" "$tmp/uses" | awk '$2 != $3 {print $2, $3, "call", $1}' >>"$tmp/why"
    join "$tmp/defs" "$tmp/uses" | awk '$2 != $3 {print $2, $3}' >>"$tmp/edges"
    echo "agent-layers: includes and calls (objects in $build)"
else
    echo "agent-layers: includes only (no build directory with agent objects)"
fi

if ! tsort "$tmp/edges" >"$tmp/order" 2>"$tmp/err"; then
    cat "$tmp/err" >&2
    echo "agent-layers: FAIL: the agent's modules depend on each other in a cycle;" >&2
    echo "edges (lower upper how):" >&2
    sort -u "$tmp/why" >&2
    exit 1
fi
echo "agent-layers: no cycle; bottom to top:"
tr '\n' ' ' <"$tmp/order"
echo
