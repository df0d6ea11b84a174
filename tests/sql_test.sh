#!/usr/bin/env bash
# tests/sql_test.sh — runs the SQL layer's Check tests (tests/check_sql)
# against a throw-away PostgreSQL cluster: a temp dir, a free port, unix
# socket only, migrated twice (the second run must be a no-op), stopped and
# removed on exit. Exits 77 (automake SKIP) without PostgreSQL binaries.
#
# Environment: srcdir (set by automake; default: this script's parent dir),
# builddir (default .), CHECK_SQL (default $builddir/tests/check_sql).
set -u

srcdir=${srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
builddir=${builddir:-.}
check_sql=${CHECK_SQL:-$builddir/tests/check_sql}

# shellcheck source=lib/sh/pg.sh
. "$srcdir/lib/sh/pg.sh"
# shellcheck source=lib/sh/port.sh
. "$srcdir/lib/sh/port.sh"

if ! bindir=$(pg_bindir) || [ ! -x "$bindir/postgres" ] || [ ! -x "$bindir/psql" ]; then
	echo "sql_test: SKIP: PostgreSQL server binaries (initdb, postgres, psql) not found"
	exit 77
fi
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
	echo "sql_test: SKIP: running as root but there is no postgres user to run the server"
	exit 77
fi
if [ ! -x "$check_sql" ]; then
	echo "sql_test: $check_sql is not built" >&2
	exit 99
fi
export PATH="$bindir:$PATH"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sql_test.XXXXXX") || exit 99
chmod 755 "$tmp"
cleanup() {
	pg_cluster_stop "$tmp/pg"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port whose socket does not exist in the usual places and that nothing
# listens on over TCP (our server uses a unix socket only, but a clash in
# lock files or in a developer's head is cheap to avoid).
port=$(free_port 55000) || {
	echo "sql_test: no free port in 55000..55999" >&2
	exit 99
}
PG_FAST=1 pg_cluster_start "$tmp/pg" "$port" || exit 99
conninfo=$(pg_cluster_conninfo "$tmp/pg" "$port")

echo "sql_test: cluster in $tmp/pg, port $port"
"$srcdir/sql/migrate.sh" "$conninfo" || {
	echo "sql_test: migrate failed" >&2
	exit 1
}
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
