#!/usr/bin/env bash
# tests/sql_test.sh — runs the SQL layer's Check tests (tests/check_sql)
# against a throw-away PostgreSQL cluster: a temp dir, a free port, unix
# socket only, migrated twice (the second run must be a no-op), stopped and
# removed on exit. Exits 77 (automake SKIP) without PostgreSQL binaries.
#
# Environment: CHECK_SQL (default $builddir/tests/check_sql).
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/lib/stack.sh"
check_sql=${CHECK_SQL:-$builddir/tests/check_sql}
stack_need_built "$check_sql"
stack_pg_migrated sql_test 55000
again=$("$srcdir/sql/migrate.sh" "$conninfo") || {
	echo "sql_test: second migrate failed" >&2
	exit 1
}
if [ "$again" != "up to date" ]; then
	echo "sql_test: second migrate was not a no-op: $again" >&2
	exit 1
fi
echo "sql_test: second migrate: $again"

ATTEMPTS_TEST_DB=$conninfo "$check_sql"
