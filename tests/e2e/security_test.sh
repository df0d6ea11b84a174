#!/usr/bin/env bash
# tests/e2e/security_test.sh — security tests of the running stack
# (automake runs it from `make check`; run by hand it works from the build
# directory or the checkout).
#
# Starts its own embedded stack (`./dev up`: PostgreSQL, spawn-fcgi +
# multiwatch workers, nginx) in a temporary run directory on free ports
# (from 18900 and 56900 upward), then:
#   1. creates a control attempt through the API (its own proctor, exam and
#      student) and saves known answers holding a random marker;
#   2. records the worker pids (the children of the multiwatch pid in
#      RUN_DIR/fcgi.pid);
#   3. runs tests/e2e/check_authz (the authorization matrix, HTTP and SQL);
#   4. runs tests/e2e/hostile (20000 hostile requests by default; set
#      SECURITY_HOSTILE_REQUESTS to change it), aiming other students'
#      tokens at the control attempt and watching for its marker, then its
#      keep-alive checks through nginx and straight to the workers' socket;
#   5. runs tests/e2e/flood: one student floods batch reads of its ~1 MB
#      attempt from 16 connections for 10 s while another saves every
#      20 ms: every save of that one must succeed and the workers' memory
#      stay bounded (its latencies are printed, not judged: timing on a
#      shared machine is a benchmark's, `flood -l MS` checks a p99);
# and checks: both programs passed, the worker pids are unchanged (else the
# tail of workers.log is printed), the control attempt's row is unchanged
# (version, answers, auto_save_data, status, activity and upload counts),
# /api/health still answers 200, and no log file holds the JWT secret or a
# bearer token.
# Prints one `ok - ...` / `not ok - ...` line per check and
# `security: N passed, N failed`. Exit 0 all passed, 1 a check failed, 77
# (skip) nginx/spawn-fcgi/multiwatch/PostgreSQL/curl missing, 99 the stack
# could not be started.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/../lib/stack.sh"
stack_locate
authz_bin=${CHECK_AUTHZ:-$builddir/tests/e2e/check_authz}
hostile_bin=${HOSTILE:-$builddir/tests/e2e/hostile}
flood_bin=${FLOOD:-$builddir/tests/e2e/flood}
hostile_requests=${SECURITY_HOSTILE_REQUESTS:-20000}

stack_need_tools
stack_need_psql

stack_need_built "$fcgi_bin" "$authz_bin" "$hostile_bin" "$flood_bin"
if [[ ! $hostile_requests =~ ^[0-9]+$ ]] || ((hostile_requests < 1)); then
	echo "ERROR: SECURITY_HOSTILE_REQUESTS must be a positive integer"
	exit 99
fi

# ------------------------------------------------------------------ the stack

stack_prepare sec 18900 56900 0
export ATTEMPTS_WORKERS=2 ATTEMPTS_THREADS=4
stack_up

sql() {
	"$PSQL" "$conninfo" -XAtq -v ON_ERROR_STOP=1 "$@"
}

# POSTs/PATCHes JSON with a token; prints the body, fails unless 2xx.
api() {
	local method=$1 path=$2 token=$3 body=$4 out code
	out=$(curl -s -m 10 -w '\n%{http_code}' -X "$method" -H "Authorization: Bearer $token" \
		-H 'Content-Type: application/json' --data-binary "$body" "$url$path") || return 1
	code=${out##*$'\n'}
	out=${out%$'\n'*}
	printf '%s\n' "$out"
	[[ $code == 2* ]]
}

# ------------------------------------------------------------------ control

proctor=$("$dev" token --role proctor 2>/dev/null)
student_sub=$(cat /proc/sys/kernel/random/uuid)
student=$("$dev" token --role student --sub "$student_sub" 2>/dev/null)
marker=ctlmarker$(random_hex 12)
exam=$(stack_new_exam "$proctor" '{"title":"security control","max_attempts":1}') || exit 99
attempt_json=$(api POST /api/attempts/new?action=start "$student" "{\"exam_id\":\"$exam\"}") || {
	echo "ERROR: cannot start the control attempt: $attempt_json"
	exit 99
}
control=$(json_id attempt_id "$attempt_json")
if ! out=$(api PATCH "/api/attempts/$control?action=save" "$student" \
	"{\"answers\":{\"q1\":\"control\",\"secret\":\"$marker\"},\"auto_save_data\":{\"p\":7}}"); then
	echo "ERROR: cannot save the control answers: $out"
	exit 99
fi

# The control row as one line.
control_row() {
	sql -v id="$control" <<'EOF'
SELECT concat_ws(' | ', 'version=' || a.version, 'status=' || a.status,
       'answers=' || a.answers::text, 'auto_save=' || a.auto_save_data::text,
       'deadline=' || a.deadline_at, 'receipt=' || a.receipt,
       'activity=' || (SELECT count(*) FROM attempts.attempt_activity v WHERE v.attempt_id = a.attempt_id),
       'uploads=' || (SELECT count(*) FROM attempts.attempt_uploads u WHERE u.attempt_id = a.attempt_id))
  FROM attempts.attempts a WHERE a.attempt_id = :'id';
EOF
}

before=$(control_row)
if [[ $before == *"version=2"* && $before == *"$marker"* ]]; then
	ok "control attempt $control saved (version 2, answers with the marker)"
else
	not_ok "control attempt saved" "$before"
fi

mw_pid=$(read_pid "$dir/fcgi.pid")
workers_before=$(children_of "$mw_pid" | tr '\n' ' ')
echo "# workers before: ${workers_before:-none} (multiwatch $mw_pid)"

# ------------------------------------------------------------------ the programs

echo "# running $authz_bin"
authz_rc=0
ATTEMPTS_TEST_URL=$url ATTEMPTS_TEST_DB=$conninfo ATTEMPTS_TEST_UPLOAD_DIR=$dir/uploads \
	"$authz_bin" || authz_rc=$?
if ((authz_rc == 0)); then
	ok "check_authz: the authorization matrix holds (HTTP and SQL)"
else
	not_ok "check_authz: the authorization matrix holds" "exit $authz_rc"
fi

echo "# running $hostile_bin -n $hostile_requests -c 8"
hostile_rc=0
ATTEMPTS_TEST_URL=$url ATTEMPTS_HOSTILE_FOREIGN_ATTEMPT=$control \
	ATTEMPTS_HOSTILE_FOREIGN_MARKER=$marker ATTEMPTS_HOSTILE_FCGI_SOCKET=$dir/fcgi.sock \
	"$hostile_bin" -n "$hostile_requests" -c 8 || hostile_rc=$?
if ((hostile_rc == 0)); then
	ok "hostile: $hostile_requests hostile requests answered within the rules"
else
	not_ok "hostile: $hostile_requests hostile requests answered within the rules" "exit $hostile_rc"
fi

# No latency limit here (timing on a shared 2-core machine is noise): the
# 50 ms p99 target of issue 14 is a benchmark figure (`flood -l 50`).
echo "# running $flood_bin -d 10 -c 16 $workers_before"
flood_rc=0
# shellcheck disable=SC2086 # the worker pids, one argument each
ATTEMPTS_TEST_URL=$url "$flood_bin" -d 10 -c 16 $workers_before || flood_rc=$?
if ((flood_rc == 0)); then
	ok "flood: one student's batch flood stalls nobody else and is bounded in memory"
else
	not_ok "flood: one student's batch flood stalls nobody else and is bounded in memory" "exit $flood_rc"
fi

# ------------------------------------------------------------------ after

workers_after=$(children_of "$mw_pid" | tr '\n' ' ')
if alive "$mw_pid" && [[ -n $workers_before && $workers_after == "$workers_before" ]]; then
	ok "worker pids unchanged (${workers_after% })"
else
	not_ok "worker pids unchanged" "before: ${workers_before:-none}; after: ${workers_after:-none}"
	echo "--- tail of $dir/logs/workers.log"
	tail -n 40 "$dir/logs/workers.log" 2>/dev/null
fi

after=$(control_row)
if [[ -n $after && $after == "$before" ]]; then
	ok "control attempt unchanged ($(cut -d'|' -f1 <<<"$after" | tr -d ' '))"
else
	not_ok "control attempt unchanged" "before: $before; after: $after"
fi

code=$(curl -s -o /dev/null -m 10 -w '%{http_code}' "$url/api/health" || true)
if [[ $code == 200 ]]; then
	ok "/api/health still answers 200"
else
	not_ok "/api/health still answers 200" "status $code"
fi

# Neither the secret nor a token (an HS256 JWT header) reaches a log.
leaks=$(grep -l -a -F -e "$ATTEMPTS_JWT_SECRET" -e "eyJhbGciOiJIUzI1NiIs" \
	"$dir"/logs/* "$dir"/pg/*.log 2>/dev/null | tr '\n' ' ')
if [[ -z $leaks ]]; then
	ok "no log holds the JWT secret or a bearer token"
else
	not_ok "no log holds the JWT secret or a bearer token" "found in: $leaks"
fi

summary security
((n_fail == 0)) || exit 1
exit 0
