#!/usr/bin/env bash
# The module graph of sim/core is one-way: every #include "core/X/..." in a module's files names the module itself
# or one it depends on (transitively, as declared in sim/CMakeLists.txt and written to BUILD/core_layers.txt);
# nothing under sim/core or policies/ includes SimGrid. Usage: layering.sh MOESIM SRC BLD
source "$(dirname "$0")/common.sh"
LAYERS="$BLD/core_layers.txt"
[ -s "$LAYERS" ] || { fail "no module list at $LAYERS"; exit 1; }
declare -A allowed
while IFS=: read -r mod deps; do allowed[$mod]=" $mod $deps "; done <"$LAYERS"
for dir in "$SRC"/sim/core/*/; do
  mod=$(basename "$dir")
  if [ -z "${allowed[$mod]:-}" ]; then fail "sim/core/$mod is not a module of sim/CMakeLists.txt"; continue; fi
  bad=0
  while IFS= read -r line; do
    file=${line%%:*}
    target=$(sed -E 's#.*"core/([a-z_]+)/.*#\1#' <<<"$line")
    case "${allowed[$mod]}" in
      *" $target "*) ;;
      *) fail "${file#"$SRC"/} includes core/$target, which core/$mod does not depend on"; bad=1 ;;
    esac
  done < <(grep -HnE '#include "core/[a-z_]+/' "$dir"*.hpp "$dir"*.cpp 2>/dev/null)
  [ "$bad" -eq 0 ] && pass "core/$mod includes only ${allowed[$mod]}"
done
if stray=$(ls "$SRC"/sim/core/*.hpp "$SRC"/sim/core/*.cpp 2>/dev/null) && [ -n "$stray" ]; then
  fail "files outside a module folder: $stray"
fi
if grep -rlE '#include [<"]simgrid' "$SRC"/sim/core "$SRC"/policies; then
  fail "SimGrid included outside sim/simgrid"
else
  pass "no SimGrid outside sim/simgrid"
fi
finish
