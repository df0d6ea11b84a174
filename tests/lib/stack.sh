# shellcheck shell=bash
# tests/lib/stack.sh — helpers shared by the test scripts: the ones that
# start the whole embedded stack (tests/e2e/*_test.sh, tests/browser/,
# tests/bench/examday.sh, live_watchers.sh) and the ones that start a
# throw-away PostgreSQL of their own (tests/sql_test.sh, db_pool_test.sh,
# tests/deploy/*.sh). Source it; it sources lib/sh/proc.sh (read_pid,
# alive, children_of, ...), lib/sh/port.sh (port_free, free_port) and
# lib/sh/pg.sh (pg_cluster_*), defines functions, sets the check counters
# n_pass/n_fail to 0, runs stack_locate and sets no shell options of its
# own.
#
#   stack_locate        sets srcdir, builddir and fcgi_bin (see below)
#   skip REASON...      prints "SKIP: REASON" and exits 77 (with
#                       stack_ci_strict=1 and CI=true: "FAIL: ...", exit 1)
#   have_tool NAME      true if NAME is on PATH or in /usr/sbin or /sbin
#   stack_need_pg_server  skips (77) without PostgreSQL's server binaries,
#                       or as root without a postgres user
#   stack_need_tools    skips (77) unless nginx, spawn-fcgi, multiwatch, curl
#                       and a PostgreSQL server are there; exits 99 unless
#                       $fcgi_bin is built
#   stack_need_psql     sets PSQL to psql's path; skips (77) without one
#   stack_need_built FILE...  exits 99 ("ERROR: FILE not built") unless
#                       each FILE is executable
#   stack_isolate_env   unsets every ATTEMPTS_* variable of the caller
#   stack_pick_ports TCP_FROM PG_FROM
#                       sets port (nginx) and pgport (PostgreSQL) to free
#                       ports from those upward; exits 99 if there is none
#   stack_prepare NAME TCP_FROM PG_FROM LOG_LINES [--copy-bin]
#                       everything before `./dev up`: stack_isolate_env,
#                       stack_pick_ports, run directory $dir (removed on
#                       exit, see stack_temp_dir) with `dev`, `url` and
#                       `conninfo` set and the stack's variables exported
#                       (see there); says where the stack will run
#   stack_up [VAR=value...]  ./dev up (see there); exits 99 if it fails
#   stack_temp_dir NAME [KEEP_VAR]
#                       makes $dir; on exit stops what runs in it, removes
#                       it (see there)
#   stack_pg_scratch NAME PG_FROM [KEEP_VAR]
#                       stack_temp_dir NAME with a throw-away PostgreSQL in
#                       $dir/pg; sets pgport and conninfo (see there)
#   stack_print_logs N  prints the last N lines of the stack's logs in $dir
#   stack_teardown      stops the stack of run directory $dir (./dev down,
#                       quietly) and removes $dir
#   stack_apache_stop CONF PID_FILE  stops a private Apache (see there)
#   random_hex N        prints N random bytes in hex
#   json_id KEY TEXT    prints the UUID that "KEY" has in the JSON TEXT
#   stack_new_exam TOKEN JSON  creates an exam, prints its id
#   ok DESC             prints "ok - DESC", counts a pass
#   not_ok DESC [DETAIL]  prints "$stack_not_ok_word - DESC[: DETAIL]"
#                       ("not ok" unless the script sets another), counts
#                       a failure
#   check DESC DETAIL CMD...  runs CMD: ok DESC when it succeeds, else
#                       not_ok DESC DETAIL (its first 1500 bytes); its status
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
stack_ci_strict=0   # 1: under CI=true, which installs everything, skip fails
stack_exit_hook=    # a function the exit trap of stack_temp_dir runs first

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
	if ((stack_ci_strict)) && [[ ${CI:-} == true ]]; then
		echo "FAIL: $* (CI=true: nothing may be missing)"
		exit 1
	fi
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
	stack_need_pg_server
	stack_need_built "$fcgi_bin"
}

# Skips the test unless PostgreSQL's server can run here: its binaries,
# and as root a postgres user to run it (lib/sh/pg.sh).
stack_need_pg_server() {
	local bin
	bin=$(pg_bindir 2>/dev/null) && [[ -x $bin/postgres && -x $bin/psql ]] ||
		skip "PostgreSQL server binaries (initdb, postgres, psql) not found (Debian: postgresql-15)"
	if ((EUID == 0)) && ! id postgres >/dev/null 2>&1; then
		skip "running as root but there is no postgres user to run the server"
	fi
}

# Exits 99 unless every FILE given is an executable (a program of the build).
stack_need_built() {
	local f
	for f in "$@"; do
		if [[ ! -x $f ]]; then
			echo "ERROR: $f not built"
			exit 99
		fi
	done
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

# stack_prepare NAME TCP_FROM PG_FROM LOG_LINES [--copy-bin]: what comes
# before `./dev up`: no ATTEMPTS_* variable of the caller, free ports from
# TCP_FROM and PG_FROM, the run directory $dir (stack_temp_dir NAME; on exit
# the stack is stopped, and after a failure, an exit status other than 0
# and 77 or a not_ok, the last LOG_LINES lines of its logs are printed
# unless LOG_LINES is 0), dev=$srcdir/dev, and exported for ./dev:
# ATTEMPTS_RUN_DIR, ATTEMPTS_PORT, ATTEMPTS_PG_PORT, ATTEMPTS_FCGI_BIN
# ($fcgi_bin, or with --copy-bin a copy of it in $dir, so that a rebuild
# during the run does not pull it from under the stack), PG_FAST=1 and a
# random ATTEMPTS_JWT_SECRET; sets url (nginx) and conninfo (PostgreSQL).
# The caller exports the rest (ATTEMPTS_WORKERS, ...) before stack_up.
# shellcheck disable=SC2034 # for the sourcing script
stack_prepare() {
	stack_isolate_env
	stack_pick_ports "$2" "$3"
	stack_temp_dir "$1"
	stack__log_lines=$4
	stack__teardown=stack_teardown
	dev=$srcdir/dev
	export ATTEMPTS_RUN_DIR=$dir ATTEMPTS_PORT=$port ATTEMPTS_PG_PORT=$pgport PG_FAST=1
	export ATTEMPTS_FCGI_BIN=$fcgi_bin
	if [[ ${5:-} == --copy-bin ]]; then
		cp "$fcgi_bin" "$dir/attempts.fcgi" || exit 99
		ATTEMPTS_FCGI_BIN=$dir/attempts.fcgi
	fi
	ATTEMPTS_JWT_SECRET=$(random_hex 32)
	export ATTEMPTS_JWT_SECRET
	url=http://127.0.0.1:$port
	conninfo=$(pg_cluster_conninfo "$dir/pg" "$pgport")
	echo "# $1: run dir $dir, nginx $url, PostgreSQL port $pgport"
}

# stack_up [VAR=value...]: `./dev up --no-install --no-build --no-demo` of
# the prepared stack, with those variables added, its output in
# $dir/up.log. When nginx's port was taken since stack_prepare looked, it
# tries again on the next free one (port, url and ATTEMPTS_PORT follow, 5
# tries); otherwise a failure prints the log and exits 99.
stack_up() {
	local try
	for ((try = 1; ; try++)); do
		env "$@" "$dev" up --no-install --no-build --no-demo >"$dir/up.log" 2>&1 && return 0
		if ((try < 5)) && grep -q 'already in use' "$dir/up.log" &&
			port=$(free_port $((port + 1))); then
			export ATTEMPTS_PORT=$port
			url=http://127.0.0.1:$port
			echo "# port taken meanwhile: nginx on $url"
			continue
		fi
		cat "$dir/up.log"
		echo "ERROR: ./dev up failed"
		exit 99
	done
}

# stack_temp_dir NAME [KEEP_VAR]: makes $dir, a new directory
# ${TMPDIR:-/tmp}/attempts-NAME.XXXXXX of mode 755 (PostgreSQL's user must
# reach it; its socket path, under $dir/pg, must fit in 108 bytes), and
# traps the exit: the function named by stack_exit_hook runs first (given
# the exit status), then what runs in $dir stops (the stack of
# stack_prepare; else the PostgreSQL of stack_pg_scratch) and $dir goes,
# unless the variable named KEEP_VAR is set (then it says it kept it).
# INT, TERM and HUP exit 130 through the same trap.
stack_temp_dir() {
	stack__keep_var=${2:-}
	stack__teardown=stack__pg_teardown
	dir=$(mktemp -d "${TMPDIR:-/tmp}/attempts-$1.XXXXXX") || exit 99
	chmod 755 "$dir"
	trap stack__on_exit EXIT
	trap 'exit 130' INT TERM HUP
}

# shellcheck disable=SC2317 # the EXIT trap
stack__on_exit() {
	local rc=$?
	trap - EXIT
	[[ -z $stack_exit_hook ]] || "$stack_exit_hook" "$rc"
	if ((${stack__log_lines:-0} > 0)) && { ((rc != 0 && rc != 77)) || ((n_fail)); }; then
		stack_print_logs "$stack__log_lines"
	fi
	"$stack__teardown"
	exit "$rc"
}

# shellcheck disable=SC2317 # from the EXIT trap
stack__pg_teardown() {
	pg_cluster_stop "$dir/pg" >/dev/null 2>&1
	stack__remove_dir
}

stack__remove_dir() {
	if [[ -n ${stack__keep_var:-} && -n ${!stack__keep_var:-} ]]; then
		echo "# kept $dir ($stack__keep_var)"
	else
		rm -rf "$dir"
	fi
}

# stack_pg_scratch NAME PG_FROM [KEEP_VAR]: skips (77) unless PostgreSQL's
# server can run here; else makes $dir (stack_temp_dir NAME KEEP_VAR) and
# starts a throw-away PostgreSQL cluster in $dir/pg (unix socket only,
# PG_FAST=1) on the first free port from PG_FROM, its programs first on
# PATH; sets pgport and conninfo, says where it runs. Exits 99, saying
# why, if it cannot.
# shellcheck disable=SC2034 # for the sourcing script
stack_pg_scratch() {
	stack_need_pg_server
	stack_temp_dir "$1" "${3:-}"
	pgport=$(free_port "$2") || {
		echo "ERROR: no free port number from $2"
		exit 99
	}
	if ! PG_FAST=1 pg_cluster_start "$dir/pg" "$pgport" >"$dir/pg-start.log" 2>&1; then
		cat "$dir/pg-start.log"
		echo "ERROR: PostgreSQL did not start"
		exit 99
	fi
	conninfo=$(pg_cluster_conninfo "$dir/pg" "$pgport")
	PATH=$(pg_bindir):$PATH
	export PATH
	echo "# $1: temp dir $dir, PostgreSQL port $pgport"
}

# stack_pg_migrated NAME PORT [KEEP_VAR]: stack_pg_scratch, then sql/
# migrated into it; exits 99 with migrate's output when that fails.
stack_pg_migrated() {
	local out
	stack_pg_scratch "$@"
	if ! out=$(PSQL="$(pg_bindir)/psql" bash "$srcdir/sql/migrate.sh" "$conninfo" 2>&1); then
		echo "$out"
		echo "ERROR: sql/migrate.sh failed"
		exit 99
	fi
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
	stack__remove_dir
}

# stack_apache_stop CONF PID_FILE: stops the private Apache ($APACHE,
# default /usr/sbin/apache2) started from CONF whose pid is in PID_FILE:
# apache2 -k stop (else TERM), 15 s to go, then KILL (saying so) and
# false. True when it was not running.
stack_apache_stop() {
	local pid
	pid=$(read_pid "$2")
	alive "$pid" || return 0
	"${APACHE:-/usr/sbin/apache2}" -f "$1" -k stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null
	wait_gone 15 "$pid" && return 0
	kill_survivors "$pid"
	return 1
}

# Prints $1 random bytes as 2*$1 hex digits (a secret, a marker).
random_hex() {
	head -c "$1" /dev/urandom | od -An -tx1 -v | tr -d ' \n'
}

# json_id KEY TEXT: the UUID that "KEY" has in the JSON TEXT (the last one).
json_id() {
	sed -n "s/.*\"$1\": *\"\([0-9a-f-]\{36\}\)\".*/\1/p" <<<"$2"
}

# stack_new_exam TOKEN JSON: creates an exam from JSON as TOKEN's holder
# (POST /api/exams at $url) and prints its id; false, the answer on stderr,
# when none was created.
stack_new_exam() {
	local out id
	out=$(curl -sS -m 10 -X POST -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		-d "$2" "$url/api/exams")
	id=$(json_id exam_id "$out")
	if [[ -z $id ]]; then
		echo "ERROR: could not create an exam: $out" >&2
		return 1
	fi
	printf '%s\n' "$id"
}

ok() {
	echo "ok - $1"
	n_pass=$((n_pass + 1))
}

not_ok() {
	echo "$stack_not_ok_word - $1${2:+: $2}"
	n_fail=$((n_fail + 1))
}

check() {
	local desc=$1 detail=$2
	shift 2
	if "$@"; then
		ok "$desc"
		return 0
	fi
	not_ok "$desc" "$(head -c 1500 <<<"$detail")"
	return 1
}

summary() {
	echo "$1: $n_pass passed, $n_fail failed"
}

stack_locate
