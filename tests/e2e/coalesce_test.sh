#!/usr/bin/env bash
# tests/e2e/coalesce_test.sh — the write-coalescing differential test
# (automake runs it from `make check`).
#
# Runs tests/e2e/coalesce_diff twice with the same seed, each time on a
# fresh embedded stack (`./dev up`, shipped settings): once as shipped
# (coalesce_writes and coalesce_reads on) and once with both off. Each run
# sends 48 students' seeded random calls at once - saves, activity,
# submits, state and info reads, other students' attempts, a proctor,
# past-deadline attempts, invalid and oversized bodies, a number
# PostgreSQL cannot store - and writes every normalized response and every
# row. The two transcripts must be identical; the first run must really
# have coalesced (calls of coalesced_writes and coalesced_reads in
# pg_stat_statements, each carrying two or more calls), the second must
# not have. COALESCE_KEEP=1 keeps the transcripts.
# Exit 77 (skip) when nginx, spawn-fcgi, multiwatch or PostgreSQL is
# missing, 99 when a stack cannot be started.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/../lib/stack.sh"
diff_bin=${COALESCE_DIFF:-tests/e2e/coalesce_diff}
[[ $diff_bin == /* ]] || diff_bin=$builddir/$diff_bin
stack_need_tools
stack_need_psql
stack_need_built "$diff_bin"
stack_isolate_env

out=$(mktemp -d "${TMPDIR:-/tmp}/attempts-coalesce.XXXXXX") || exit 99
dir=
# shellcheck disable=SC2317 # the EXIT trap
cleanup() {
	local rc=$?
	trap - EXIT
	if [[ -n $dir ]]; then
		((rc != 0 && rc != 77)) && stack_print_logs 40
		stack_teardown
	fi
	[[ -n ${COALESCE_KEEP:-} ]] && echo "# transcripts kept in $out" || rm -rf "$out"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# run_once NAME [VAR=value...]: a fresh stack with the given settings (the
# value @LISTEN@ stands for the stack's own conninfo with
# application_name=attempts_listen), the
# differential program against it, the counts of coalesced_writes and
# coalesced_reads calls in $out/NAME.writes and $out/NAME.reads; the stack
# is stopped afterwards.
run_once() {
	local name=$1 rc=0 conninfo setting
	local -a settings=()
	shift
	stack_pick_ports 18480 56480
	dir=$(mktemp -d "${TMPDIR:-/tmp}/attempts-coalesce-run.XXXXXX") || exit 99
	chmod 755 "$dir"
	conninfo=$(pg_cluster_conninfo "$dir/pg" "$pgport")
	for setting in "$@"; do
		settings+=("${setting//@LISTEN@/$conninfo application_name=attempts_listen}")
	done
	echo "# $name: run dir $dir, port $port, PostgreSQL port $pgport${*:+, $*}"
	if ! env "${settings[@]}" ATTEMPTS_RUN_DIR="$dir" ATTEMPTS_PORT="$port" ATTEMPTS_PG_PORT="$pgport" \
		ATTEMPTS_JWT_SECRET="$secret" ATTEMPTS_FCGI_BIN="$fcgi_bin" PG_FAST=1 \
		"$srcdir/dev" up --no-install --no-build --no-demo >"$out/$name.up" 2>&1; then
		cat "$out/$name.up"
		echo "ERROR: ./dev up failed"
		exit 99
	fi
	psql "$conninfo" -qAtc "SELECT pg_stat_statements_reset()" >/dev/null 2>&1
	ATTEMPTS_TEST_URL=http://127.0.0.1:$port ATTEMPTS_TEST_DB=$conninfo ATTEMPTS_JWT_SECRET=$secret \
		"$diff_bin" "$out/$name.txt" || rc=$?
	for kind in writes reads; do
		psql "$conninfo" -qAtc "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
			WHERE query LIKE '%attempts.coalesced_$kind(%'" >"$out/$name.$kind" 2>/dev/null
	done
	psql "$conninfo" -qAtc "SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'attempts_listen'" >"$out/$name.listeners" 2>/dev/null
	echo "# $name: coalesce_diff exited $rc; coalesced_writes calls: $(cat "$out/$name.writes")," \
		"coalesced_reads calls: $(cat "$out/$name.reads")"
	grep -h 'coalesced \(writes\|reads\):' "$dir/logs/workers.log" | head -n 3
	ATTEMPTS_RUN_DIR=$dir "$srcdir/dev" down >/dev/null 2>&1
	stack_teardown
	dir=
	return "$rc"
}

secret=$(head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n')

if run_once on; then
	ok "coalesce_diff ran with coalescing on (shipped settings)"
else
	not_ok "coalesce_diff ran with coalescing on"
fi
# The reference run also takes the other path to PostgreSQL a PgBouncer
# deployment uses: unnamed statements, and a LISTEN connection of its own
# connection string (db_listen).
if run_once off ATTEMPTS_COALESCE_WRITES=0 ATTEMPTS_COALESCE_READS=0 \
	ATTEMPTS_DB_PREPARED_STATEMENTS=0 ATTEMPTS_DB_LISTEN=@LISTEN@; then
	ok "coalesce_diff ran with coalescing off, unnamed statements and db_listen"
else
	not_ok "coalesce_diff ran with coalescing off, unnamed statements and db_listen"
fi
if [[ $(cat "$out/off.listeners" 2>/dev/null) -ge 1 ]]; then
	ok "the workers LISTEN on db_listen's connection ($(cat "$out/off.listeners") of them)"
else
	not_ok "the workers LISTEN on db_listen's connection" "found: $(cat "$out/off.listeners" 2>/dev/null)"
fi

for kind in writes reads; do
	calls_on=$(cat "$out/on.$kind" 2>/dev/null)
	calls_off=$(cat "$out/off.$kind" 2>/dev/null)
	if [[ $calls_on =~ ^[0-9]+$ ]] && ((calls_on > 0)); then
		ok "with coalescing on, $calls_on coalesced_$kind calls carried two or more calls each"
	else
		not_ok "with coalescing on, $kind were coalesced" "calls: ${calls_on:-none}"
	fi
	if [[ $calls_off == 0 ]]; then
		ok "with coalescing off, no $kind were coalesced"
	else
		not_ok "with coalescing off, no $kind were coalesced" "calls: ${calls_off:-none}"
	fi
done

# The transcript holds every kind of answer the sequence aims at, so that
# equality means something.
for want in ' 200 ' ' 404 ' ' 403 ' 'version_conflict' 'attempt_closed' 'attempt_submitted' \
	'already_submitted":true' 'payload_too_large' ' 422 ' '"duplicates":1' \
	'the database cannot store: value overflows numeric format' ' read-p ' ' read-other 404 ' \
	'"activity_count":'; do
	if grep -qF -- "$want" "$out/on.txt" 2>/dev/null; then
		ok "the transcript has $want"
	else
		not_ok "the transcript has $want"
	fi
done
lines=$(wc -l <"$out/on.txt" 2>/dev/null || echo 0)
if [[ -s $out/on.txt && -s $out/off.txt ]] && cmp -s "$out/on.txt" "$out/off.txt"; then
	ok "every response and every row is the same with coalescing on and off ($lines lines; off: unnamed statements, db_listen)"
else
	not_ok "every response and every row is the same with coalescing on and off" \
		"$(diff "$out/on.txt" "$out/off.txt" 2>&1 | head -n 20)"
fi

summary coalesce_test
((n_fail == 0))
