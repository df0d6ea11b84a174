#!/bin/sh
# The README's configuration table must be the one the code prints, so
# every key the code reads is documented with its real default; and its
# architecture section must name every module of lib/.
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${abs_top_builddir:-$top}/cgi-bin/attempts.fcgi
[ -x "$bin" ] || { echo "readme_test: $bin not built" >&2; exit 99; }
missing=0
checked=0
tmp=$(mktemp) || exit 99
trap 'rm -f "$tmp"' EXIT
"$bin" config-table > "$tmp" || exit 99
while IFS= read -r line; do
	checked=$((checked + 1))
	if ! grep -qxF -- "$line" "$top/README.md"; then
		echo "README.md lacks: $line"
		missing=$((missing + 1))
	fi
done < "$tmp"
# The architecture section names every module of lib/ (each lib/<m>.h).
for header in "$top"/lib/*.h; do
	module=$(basename "$header" .h)
	checked=$((checked + 1))
	if ! grep -qF -- "\`$module\`" "$top/README.md"; then
		echo "README.md's architecture lacks the module $module"
		missing=$((missing + 1))
	fi
done
echo "$((checked - missing)) passed, $missing failed"
[ "$missing" -eq 0 ]
