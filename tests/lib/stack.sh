# shellcheck shell=bash
# tests/lib/stack.sh — helpers shared by the tests that start the whole
# embedded stack (tests/e2e/e2e_test.sh, resilience_test.sh,
# security_test.sh, coalesce_test.sh, tests/bench/examday.sh). Source it;
# it sources lib/sh/proc.sh (read_pid, alive, children_of, ...),
# lib/sh/port.sh (port_free, free_port) and lib/sh/pg.sh (pg_cluster_*),
# defines functions, sets the check counters n_pass/n_fail to 0 and sets no
# shell options of its own.
#
#   stack_locate        sets srcdir, builddir and fcgi_bin (see below)
#   skip REASON...      prints "SKIP: REASON" and exits 77
#   have_tool NAME      true if NAME is on PATH or in /usr/sbin or /sbin
#   stack_need_tools    skips (77) unless nginx, spawn-fcgi, multiwatch, curl
#                       and a PostgreSQL server are there
#   stack_need_psql     sets PSQL to psql's path; skips (77) without one
#   stack_isolate_env   unsets every ATTEMPTS_* variable of the caller
#   stack_pick_ports TCP_FROM PG_FROM
#                       sets port (nginx) and pgport (PostgreSQL) to free
#                       ports from those upward; exits 99 if there is none
#   stack_print_logs N  prints the last N lines of the stack's logs in $dir
#   stack_teardown      stops the stack of run directory $dir (./dev down,
#                       quietly) and removes $dir
#   ok DESC             prints "ok - DESC", counts a pass
#   not_ok DESC [DETAIL]  prints "$stack_not_ok_word - DESC[: DETAIL]"
#                       ("not ok" unless the script sets another), counts
#                       a failure
#   summary NAME        prints "NAME: N passed, N failed"

# shellcheck source=lib/sh/proc.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../lib/sh/proc.sh"
# shellcheck source=lib/sh/port.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../lib/sh/port.sh"
# shellcheck source=lib/sh/pg.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../lib/sh/pg.sh"

n_pass=0
n_fail=0
stack_not_ok_word="not ok"

# Sets srcdir (the checkout), builddir (where the binaries are) and
# fcgi_bin. automake exports srcdir (top source directory, relative to the
# build directory we run in; Makefile.am also exports abs_top_srcdir and
# abs_top_builddir); run by hand, the checkout is the one holding this file.
stack_locate() {
	local top
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	srcdir=${abs_top_srcdir:-${srcdir:-$top}}
	[[ -x $srcdir/dev ]] || srcdir=$top
	srcdir=$(cd "$srcdir" && pwd)
	if [[ -n ${abs_top_builddir:-} ]]; then
		builddir=$abs_top_builddir
	elif [[ -f ./config.status && -x ./cgi-bin/attempts.fcgi ]]; then
		builddir=$PWD
	else
		builddir=$srcdir
	fi
	# shellcheck disable=SC2034 # for the sourcing script
	fcgi_bin=$builddir/cgi-bin/attempts.fcgi
}

skip() {
	echo "SKIP: $*"
	exit 77
}

have_tool() {
	command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 || -x /sbin/$1 ]]
}

# Skips the test unless the stack's tools are installed.
stack_need_tools() {
	have_tool nginx || skip "nginx not installed (Debian: nginx-light)"
	have_tool spawn-fcgi || skip "spawn-fcgi not installed"
	have_tool multiwatch || skip "multiwatch not installed"
	have_tool curl || skip "curl not installed"
	pg_bindir >/dev/null 2>&1 || skip "PostgreSQL server (initdb) not installed (Debian: postgresql-15)"
}

# Sets PSQL: the psql next to initdb, else the one on PATH.
stack_need_psql() {
	PSQL=$(pg_bindir)/psql
	[[ -x $PSQL ]] || PSQL=$(command -v psql) || skip "psql not installed"
}

# The test owns its world: nothing of the caller's configuration leaks in.
stack_isolate_env() {
	local v
	for v in $(compgen -e); do
		case $v in
		ATTEMPTS_*) unset "$v" ;;
		esac
	done
}

# Sets port (for nginx) and pgport (PostgreSQL's socket) to the first free
# ports from $1 and $2 upward.
# shellcheck disable=SC2034 # for the sourcing script
stack_pick_ports() {
	port=$(free_port "$1") || {
		echo "ERROR: no free TCP port from $1"
		exit 99
	}
	pgport=$(free_port "$2") || {
		echo "ERROR: no free port number from $2"
		exit 99
	}
}

# Prints the last $1 lines of each log of the stack in run directory $dir.
stack_print_logs() {
	local f
	for f in "$dir/logs/workers.log" "$dir/logs/nginx-error.log" "$dir/pg/postgres.log"; do
		[[ -f $f ]] || continue
		echo "--- tail of $f"
		tail -n "$1" "$f"
	done
}

# Stops whatever $srcdir/dev runs in $dir and removes the directory.
stack_teardown() {
	ATTEMPTS_RUN_DIR=$dir "$srcdir/dev" down >/dev/null 2>&1 || true
	rm -rf "$dir"
}

ok() {
	echo "ok - $1"
	n_pass=$((n_pass + 1))
}

not_ok() {
	echo "$stack_not_ok_word - $1${2:+: $2}"
	n_fail=$((n_fail + 1))
}

summary() {
	echo "$1: $n_pass passed, $n_fail failed"
}
