#!/usr/bin/env bash
# tests/format_check.sh [--fix] — every C source and header git tracks is
# formatted as the top-level .clang-format says (`make format-check`, a
# stage of ./dev test); --fix rewrites them (`make format`). Prints one
# line per file that is not, then `format: N passed, N failed`.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
if ! command -v clang-format >/dev/null 2>&1; then
	echo "format_check: clang-format not found (Debian: clang-format)" >&2
	exit 1
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t files < <(git ls-files '*.c' '*.h')
else
	mapfile -t files < <(find lib cgi-bin tests -name '*.[ch]' -not -path '*/node_modules/*' | sort)
fi
if [[ ${1:-} == --fix ]]; then
	clang-format -i "${files[@]}"
	echo "format: ${#files[@]} files formatted"
	exit 0
fi
bad=0
for f in "${files[@]}"; do
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (make format)"
		bad=$((bad + 1))
	fi
done
echo "format: $((${#files[@]} - bad)) passed, $bad failed"
((bad == 0))
