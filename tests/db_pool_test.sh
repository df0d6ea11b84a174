#!/usr/bin/env bash
# tests/db_pool_test.sh — runs the connection pool's tests that need a real
# server (tests/check_db_pool: the db_pool_live and db_failover cases)
# against a throw-away PostgreSQL cluster: a temp dir, a free port, unix
# socket only, sql/ migrated, stopped and removed on exit; then once more
# under valgrind's memcheck with CK_FORK=no, as tests/valgrind_unit.sh runs
# tests/check_unit (unless valgrind is missing or the binary is built with
# AddressSanitizer: then it says so and that run is left out). Exits 77
# (automake SKIP) naming what is missing: PostgreSQL's server binaries, or
# the postgres user when run as root.
#
# Environment: CHECK_DB_POOL (default $builddir/tests/check_db_pool).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/lib/stack.sh"
check_bin=${CHECK_DB_POOL:-$builddir/tests/check_db_pool}
stack_need_built "$check_bin"
stack_pg_migrated db_pool_test 57000

export ATTEMPTS_TEST_DB=$conninfo
"$check_bin" || exit
if ! command -v valgrind >/dev/null 2>&1; then
	echo "db_pool_test: no valgrind run: valgrind is not installed (Debian: valgrind)"
elif nm "$check_bin" 2>/dev/null | grep -q '__asan_init'; then
	echo "db_pool_test: no valgrind run: $check_bin is built with AddressSanitizer"
else
	CK_FORK=no valgrind --leak-check=full --error-exitcode=1 \
		--errors-for-leak-kinds=definite,indirect "$check_bin" || {
		echo "db_pool_test: FAIL: valgrind or the tests reported errors" >&2
		exit 1
	}
fi
