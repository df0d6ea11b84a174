#!/bin/sh
# valgrind_unit.sh: runs the unit tests (tests/check_unit) under valgrind's
# memcheck with CK_FORK=no, so every check runs in this one process and
# valgrind sees it: invalid reads/writes, uses of uninitialised values and
# definite or indirect leaks fail the test. An automake test: exits 77
# (SKIP) with the reason when valgrind is missing or the runner was built
# with AddressSanitizer (the two cannot run together).
set -u

unit="${abs_top_builddir:-.}/tests/check_unit"

if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind_unit: SKIP: valgrind is not installed (Debian: valgrind)"
	exit 77
fi
if [ ! -x "$unit" ]; then
	echo "valgrind_unit: ERROR: $unit is not built (make check builds it)" >&2
	exit 99
fi
if nm "$unit" 2>/dev/null | grep -q '__asan_init'; then
	echo "valgrind_unit: SKIP: $unit is built with AddressSanitizer" \
	     "(--enable-sanitizers); valgrind cannot run it"
	exit 77
fi

CK_FORK=no
export CK_FORK
valgrind --leak-check=full --error-exitcode=1 \
	--errors-for-leak-kinds=definite,indirect \
	"$unit"
status=$?
if [ "$status" -ne 0 ]; then
	echo "valgrind_unit: FAIL: valgrind or the unit tests reported errors (exit $status)" >&2
fi
exit "$status"
