#!/bin/sh
# tests/layers_test.sh — lib/'s modules form layers: no module includes,
# directly or through others, a header of a module that includes its own
# (README.md, "lib/": a request goes down through them, and no module calls
# one above it). Reads each lib/<m>.c and lib/<m>.h for #include "<n>.h" of
# another module and hands the pairs to tsort(1), which names any loop.
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=$(mktemp) || exit 99
trap 'rm -f "$tmp" "$tmp.err"' EXIT
pairs=0
for file in "$top"/lib/*.c "$top"/lib/*.h; do
	module=$(basename "$file")
	module=${module%.*}
	[ -f "$top/lib/$module.h" ] || continue
	for used in $(sed -n 's/^#include "\([a-z0-9_]*\)\.h".*/\1/p' "$file"); do
		[ "$used" != "$module" ] && [ -f "$top/lib/$used.h" ] || continue
		echo "$used $module" >>"$tmp"
		pairs=$((pairs + 1))
	done
done
# A test that read nothing proves nothing.
[ "$pairs" -ge 50 ] || {
	echo "layers_test: only $pairs include pairs found under $top/lib"
	echo "0 passed, 1 failed"
	exit 1
}
if tsort "$tmp" >/dev/null 2>"$tmp.err"; then
	echo "layers_test: $pairs include pairs, no loop"
	echo "1 passed, 0 failed"
	exit 0
fi
echo "layers_test: modules that include each other (tsort):"
cat "$tmp.err"
echo "0 passed, 1 failed"
exit 1
