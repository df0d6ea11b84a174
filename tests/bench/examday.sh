#!/usr/bin/env bash
# tests/bench/examday.sh — the exam-day load test behind `./dev examday`
# (issue 15). Starts a stack of its own (./dev up with the shipped
# settings, in .run/examday on free ports), runs tests/bench/examday (the
# open-loop generator: steps of students, start storms, a deadline storm,
# then the per-attempt check of every acknowledged save in the database),
# stops the stack, and writes the report: to the run directory, and with
# --write also to docs/BENCHMARKS.md under "Exam day (./dev examday)".
# Timing never fails the run: it exits non-zero only when it could not
# measure (2) or when an acknowledged save is missing (1).
set -euo pipefail

usage() {
	cat <<'EOF'
usage: ./dev examday [--quick] [--write] [--keep] [--students N,N,...]
                     [--conc N] [--window S] [--hold S]
                     [--deadline-students N] [--no-deadline]

  --quick               small run (2,000 students: 10 s of starts + 10 s,
                        then a deadline storm of 400), under 2 minutes
  --write               also append the report to docs/BENCHMARKS.md
  --keep                leave the stack running afterwards
  --students N,N,...    the steps (default 5000,10000,15000,20000,30000)
  --conc N              keep-alive connections to nginx (default 256)
  --window S            each step's students start within S s (default 60)
  --hold S              each step runs S s after its last start (default 30)
  --deadline-students N students of the deadline storm (default 2000)
  --no-deadline         no deadline storm

Environment: ATTEMPTS_RUN_DIR (default .run/examday; a stack of its own,
never a running one), ATTEMPTS_PORT, ATTEMPTS_PG_PORT (default: free ports).
Every other ATTEMPTS_* variable is ignored: the stack runs with the shipped
settings.
EOF
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
caller_pwd=$PWD

say() { printf '==> %s\n' "$*"; }
die() {
	printf 'examday: %s\n' "$*" >&2
	exit 2
}
is_uint() { [[ ${1:-} =~ ^[0-9]+$ ]]; }

QUICK=0 WRITE=0 KEEP=0 STEPS='' CONC=256 WINDOW='' HOLD='' DL_N='' DL=1
while (($#)); do
	case $1 in
	--quick) QUICK=1 ;;
	--write) WRITE=1 ;;
	--keep) KEEP=1 ;;
	--students) STEPS=${2:-}; shift ;;
	--conc) CONC=${2:-}; shift ;;
	--window) WINDOW=${2:-}; shift ;;
	--hold) HOLD=${2:-}; shift ;;
	--deadline-students) DL_N=${2:-}; shift ;;
	--no-deadline) DL=0 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown option '$1'" ;;
	esac
	shift
done
if ((QUICK)); then
	STEPS=${STEPS:-2000} WINDOW=${WINDOW:-10} HOLD=${HOLD:-10} DL_N=${DL_N:-400}
	DL_LIMIT=15 DL_WINDOW=5 PROGRESS=2
else
	STEPS=${STEPS:-5000,10000,15000,20000,30000} WINDOW=${WINDOW:-60} HOLD=${HOLD:-30}
	DL_N=${DL_N:-2000} DL_LIMIT=40 DL_WINDOW=20 PROGRESS=5
fi
DL_GRACE=2
((DL)) || DL_N=0
[[ $STEPS =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--students must be a list like 5000,10000"
for v in "$CONC" "$WINDOW" "$HOLD" "$DL_N"; do is_uint "$v" || die "bad number '$v'"; done
((CONC >= 1 && CONC <= 4096)) || die "--conc must be in 1..4096"

# shellcheck source=tests/lib/stack.sh
. "$repo/tests/lib/stack.sh"
stack_need_tools
stack_need_psql
GEN=$builddir/tests/bench/examday
[[ -x $GEN ]] || die "$GEN missing: build first (./dev examday builds it)"

# A stack of its own with the shipped settings: only where it runs is ours.
RUN_DIR=${ATTEMPTS_RUN_DIR:-$repo/.run/examday}
case $RUN_DIR in /*) ;; *) RUN_DIR=$caller_pwd/$RUN_DIR ;; esac
port=${ATTEMPTS_PORT:-} pgport=${ATTEMPTS_PG_PORT:-}
stack_isolate_env
[[ -n $port ]] || port=$(free_port 18680) || die "no free TCP port from 18680"
[[ -n $pgport ]] || pgport=$(free_port 25480) || die "no free port number from 25480"
if [[ -f $RUN_DIR/fcgi.pid ]] && alive "$(read_pid "$RUN_DIR/fcgi.pid")"; then
	die "a stack already runs in $RUN_DIR: stop it (ATTEMPTS_RUN_DIR=$RUN_DIR ./dev down)"
fi
mkdir -p "$RUN_DIR"
LOG=$RUN_DIR/examday-dev.log
dev_stack() { ATTEMPTS_RUN_DIR=$RUN_DIR ATTEMPTS_PORT=$port ATTEMPTS_PG_PORT=$pgport "$repo/dev" "$@"; }
cleanup() {
	local rc=$?
	set +e
	if ((!KEEP)); then
		say "stopping the stack ($RUN_DIR)"
		dev_stack down >>"$LOG" 2>&1 || echo "examday: ./dev down failed (log: $LOG)" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "stack: ./dev up in $RUN_DIR (nginx 127.0.0.1:$port, PostgreSQL port $pgport)"
: >"$LOG"
dev_stack up --no-install --no-build --no-demo >>"$LOG" 2>&1 || {
	tail -n 30 "$LOG" >&2
	die "./dev up failed (log: $LOG)"
}
CONNINFO=$(set +eu; . "$RUN_DIR/env" >/dev/null 2>&1; printf '%s' "${ATTEMPTS_DB:-}")
[[ -n $CONNINFO ]] || die "cannot read the workers' database from $RUN_DIR/env"
SECRET=$(<"$RUN_DIR/jwt_secret")
PG_PID=$(head -n 1 "$RUN_DIR/pg/data/postmaster.pid")
NGINX_PID=$(read_pid "$RUN_DIR/nginx/nginx.pid")
MW_PID=$(read_pid "$RUN_DIR/fcgi.pid")
WORKERS=$(children_of "$MW_PID" | wc -l)

REPORT=$RUN_DIR/EXAMDAY.md
TABLE=$RUN_DIR/examday-table.md
OUT=$RUN_DIR/examday-output.txt
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
say "examday: steps $STEPS, $CONC connections, starts within $WINDOW s, hold $HOLD s, deadline storm $DL_N"
rc=0
ATTEMPTS_JWT_SECRET=$SECRET "$GEN" -u "http://127.0.0.1:$port" -d "$CONNINFO" -c "$CONC" \
	-s "$STEPS" -w "$WINDOW" -H "$HOLD" -D "$DL_N" -L "$DL_LIMIT" -G "$DL_GRACE" -W "$DL_WINDOW" \
	-p "$PROGRESS" -r "$TABLE" -P "pg:$PG_PID,nginx:$NGINX_PID,workers:$MW_PID" |
	tee "$OUT" || rc=${PIPESTATUS[0]}
[[ -f $TABLE ]] || die "the generator wrote no report (exit $rc; output: $OUT)"
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

{
	echo "### $(date -u +%Y-%m-%dT%H:%MZ), checkout $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$( ((QUICK)) && echo ' (--quick)')"
	echo
	echo "\`./dev examday$( ((QUICK)) && echo ' --quick') --students $STEPS --conc $CONC\`: $(nproc) cores,"
	echo "$WORKERS worker processes (shipped settings), PostgreSQL with fsync on; the"
	echo "generator, nginx, the workers and PostgreSQL share the machine (load average"
	echo "before / after: $LOAD0 / $LOAD1; other benchmarks may have run meanwhile)."
	echo "Each step: its students start evenly within $WINDOW s (the start storm), then"
	echo "$HOLD s more; every student saves every 15 s, logs an event every 10 s and reads"
	echo "its state every 30 s. Latency counts from each request's intended send time."
	echo
	cat "$TABLE"
	echo
} >"$REPORT"
say "report: $REPORT"

if ((WRITE)); then
	BM=$repo/docs/BENCHMARKS.md
	HEAD='## Exam day (./dev examday)'
	if ! grep -qxF "$HEAD" "$BM"; then
		{
			echo
			echo "$HEAD"
			echo
			echo "Written by \`./dev examday --write\` (tests/bench/examday.sh); each run adds"
			echo "its report at the end of this section. Timing is not a test: only a missing"
			echo "acknowledged save fails the run."
			echo
		} >>"$BM"
	fi
	# The run's report goes at the end of the section (before the next
	# level-2 heading, if any).
	awk -v head="$HEAD" -v rep="$REPORT" '
		function flush() { while ((getline l < rep) > 0) print l; done = 1 }
		$0 == head { in_sec = 1; print; next }
		in_sec && !done && /^## / { flush() }
		{ print }
		END { if (in_sec && !done) flush() }
	' "$BM" >"$BM.tmp" && mv -f "$BM.tmp" "$BM"
	say "appended to docs/BENCHMARKS.md"
fi
exit "$rc"
