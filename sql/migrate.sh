#!/usr/bin/env bash
# sql/migrate.sh [conninfo] — brings a database up to date with sql/:
# every numbered migration (NNN_*.sql) not yet recorded in
# attempts.schema_migrations, once each, in name order, each together with
# its record in one transaction; then each repeatable file of functions
# (the list below, in its order: a file's LANGUAGE sql bodies may use the
# functions of the files before it) whose SHA-256 differs from the recorded
# one; then it forgets the records of repeatable files no longer shipped.
# conninfo defaults to $ATTEMPTS_DB. Prints "applied <file>" per file, or
# "up to date". The SQL files are found beside this script.
set -euo pipefail

usage() {
	cat <<EOF
usage: $0 [CONNINFO]
       $0 --help

Brings the database named by CONNINFO (a libpq connection string, e.g.
"host=localhost dbname=attempts user=attempts password=SECRET"; default:
\$ATTEMPTS_DB) up to date with the SQL files beside this script:
  - each numbered migration (NNN_*.sql) not yet applied, once, in name
    order, each in one transaction with its record in
    attempts.schema_migrations;
  - each file of functions (helpers.sql ... admin.sql) whose SHA-256
    differs from the one recorded;
  - then forgets the records of function files no longer shipped.
Prints "applied FILE" per file, or "up to date". Safe to run again; run it
after every upgrade, before restarting the workers.

Environment: PSQL (the psql program; default: psql on PATH, else
/usr/lib/postgresql/15/bin/psql), ATTEMPTS_DB, PGOPTIONS.
Exit status: 0 done; 2 no conninfo or an unknown option; another non-zero
one (psql's) when a file failed: its transaction is rolled back, the files
before it stay applied, and the error is on stderr.
EOF
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case ${1:-} in
-h | --help)
	usage
	exit 0
	;;
-*)
	echo "$0: unknown option '$1'" >&2
	usage >&2
	exit 2
	;;
esac
conninfo=${1:-${ATTEMPTS_DB:-}}
if [ -z "$conninfo" ]; then
	usage >&2
	exit 2
fi

psql_bin=${PSQL:-psql}
if ! command -v "$psql_bin" >/dev/null 2>&1; then
	if [ -x /usr/lib/postgresql/15/bin/psql ]; then
		psql_bin=/usr/lib/postgresql/15/bin/psql
	else
		echo "$0: psql not found (set PSQL or PATH)" >&2
		exit 1
	fi
fi
PSQL=("$psql_bin" -X -q -v ON_ERROR_STOP=1 -d "$conninfo")
# Keep NOTICEs such as "schema ... already exists, skipping" off the output.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

"${PSQL[@]}" <<'SQL'
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS attempts;
CREATE TABLE IF NOT EXISTS attempts.schema_migrations (
    name       text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
SQL

declare -A recorded=()
while IFS='|' read -r name sum; do
	[ -n "$name" ] && recorded[$name]=$sum
done < <("${PSQL[@]}" -A -t -F '|' -c 'SELECT name, checksum FROM attempts.schema_migrations')

applied=0

# Runs FILE and records NAME/SUM in the same transaction. The record's values
# travel as psql variables, quoted by psql (:'var'), never pasted into SQL.
apply_file() {
	local file=$1 name=$2 sum=$3
	"${PSQL[@]}" --single-transaction -v mname="$name" -v msum="$sum" \
		-f "$file" -f - <<'SQL'
INSERT INTO attempts.schema_migrations (name, checksum)
VALUES (:'mname', :'msum')
ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now();
SQL
	echo "applied $name"
	applied=$((applied + 1))
}

shopt -s nullglob
for file in "$here"/[0-9][0-9][0-9]_*.sql; do
	name=$(basename "$file")
	sum=$(sha256sum "$file" | cut -d' ' -f1)
	if [ -n "${recorded[$name]+set}" ]; then
		if [ "${recorded[$name]}" != "$sum" ]; then
			echo "warning: $name changed after it was applied; add a new migration instead" >&2
		fi
		continue
	fi
	apply_file "$file" "$name" "$sum"
done

# The functions, split by resource (docs/SQL.md).
repeatable=(helpers.sql canonical_json.sql attempt_rules.sql uploads.sql
	attempt_writes.sql attempts.sql exams.sql batch.sql admin.sql)

for name in "${repeatable[@]}"; do
	file=$here/$name
	if [ ! -f "$file" ]; then
		echo "$0: missing $file" >&2
		exit 1
	fi
	sum=$(sha256sum "$file" | cut -d' ' -f1)
	if [ "${recorded[$name]:-}" = "$sum" ]; then
		continue
	fi
	apply_file "$file" "$name" "$sum"
done

# Records of repeatable files this version no longer has (their functions
# now live in the files above).
for name in "${!recorded[@]}"; do
	case $name in [0-9][0-9][0-9]_*.sql) continue ;; esac
	case " ${repeatable[*]} " in *" $name "*) continue ;; esac
	"${PSQL[@]}" -v mname="$name" -f - <<'SQL'
DELETE FROM attempts.schema_migrations WHERE name = :'mname';
SQL
	echo "forgot $name"
done

if [ "$applied" -eq 0 ]; then
	echo "up to date"
fi
