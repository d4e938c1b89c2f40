#!/usr/bin/env bash
# scripts/build.sh DIR [MESON_OPTION...]: configure DIR once, then build it.
# The project's own builds turn warnings into errors; packagers who run
# meson themselves get warnings only (werror defaults to false).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1; shift
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" -Dwerror=true "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log" >&2; exit 1; }
fi
ninja -C "$dir" >"$dir.build.log" 2>&1 || { cat "$dir.build.log" >&2; exit 1; }
