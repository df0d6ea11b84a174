#!/usr/bin/env bash
# tests/e2e/e2e_test.sh — end-to-end tests (automake runs it from `make check`).
#
# Starts the whole embedded stack (`./dev up`: PostgreSQL, spawn-fcgi +
# multiwatch workers, nginx with nginx/attempts.conf) in a temporary run
# directory on free ports, runs the Check programs tests/e2e/check_e2e,
# tests/e2e/check_api, tests/e2e/check_uploads and tests/e2e/check_consistency
# against it over HTTP (paths overridable with CHECK_E2E, CHECK_API,
# CHECK_UPLOADS, CHECK_CONSISTENCY), then
# checks from the shell what only the shell can see: the supervisor, nginx's
# own JSON errors, `up` twice, and that `down` leaves no process behind.
# Exit 77 (skip) when nginx, spawn-fcgi, multiwatch or PostgreSQL is
# missing, 99 when the stack cannot be started.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/../lib/stack.sh"
stack_locate
check_bin=${CHECK_E2E:-tests/e2e/check_e2e}
[[ $check_bin == /* ]] || check_bin=$builddir/$check_bin
api_bin=${CHECK_API:-tests/e2e/check_api}
[[ $api_bin == /* ]] || api_bin=$builddir/$api_bin
uploads_bin=${CHECK_UPLOADS:-tests/e2e/check_uploads}
[[ $uploads_bin == /* ]] || uploads_bin=$builddir/$uploads_bin
consistency_bin=${CHECK_CONSISTENCY:-tests/e2e/check_consistency}
[[ $consistency_bin == /* ]] || consistency_bin=$builddir/$consistency_bin

stack_need_tools
stack_need_built "$fcgi_bin"
stack_prepare e2e 18080 56000 40
export ATTEMPTS_WORKERS=2 ATTEMPTS_THREADS=4
# A quick deadline sweep: check_api waits for it to close an expired attempt.
export ATTEMPTS_SWEEP_INTERVAL_MS=500
stack_up

# ------------------------------------------------------------ the Check suite

# run_check NAME BIN: runs one Check program against the stack; prints
# its exit status, which it returns (1 when it was not built).
run_check() {
	local rc=0
	if [[ ! -x $2 ]]; then
		echo "FAIL: $2 not built"
		return 1
	fi
	echo "# running $2"
	ATTEMPTS_TEST_URL=$url ATTEMPTS_TEST_DB=$conninfo "$2" || rc=$?
	echo "# $1 exited $rc"
	return "$rc"
}

check_rc=0
run_check check_e2e "$check_bin" || check_rc=$?
# The rest of the API (activity, submit, deadlines, batch, stats, optimize)
# against the same stack.
api_rc=0
run_check check_api "$api_bin" || api_rc=$?
# Uploads and downloads (nginx's body file, X-Accel-Redirect, the store)
# against the same stack. It compares the upload store
# ($ATTEMPTS_RUN_DIR/uploads) before and after requests, so it runs alone.
uploads_rc=0
run_check check_uploads "$uploads_bin" || uploads_rc=$?
# Read-your-writes across the workers under CPU stress (100,000 reads).
consistency_rc=0
run_check check_consistency "$consistency_bin" || consistency_rc=$?

# ------------------------------------------------------------ shell checks

# HTTP status of a request: http_code [curl args...]
http_code() {
	curl -s -o /dev/null -m 5 -w '%{http_code}' "$@" || true
}

mw_pid=$(read_pid "$dir/fcgi.pid")
nginx_pid=$(read_pid "$dir/nginx/nginx.pid")
pg_pid=$(read_pid "$dir/pg/data/postmaster.pid")

# up twice: the same processes keep running, nothing fails.
if out=$("$dev" up --no-install --no-build --no-demo 2>&1); then
	if [[ $(read_pid "$dir/fcgi.pid") == "$mw_pid" && $(read_pid "$dir/nginx/nginx.pid") == "$nginx_pid" &&
		$(read_pid "$dir/pg/data/postmaster.pid") == "$pg_pid" ]] && alive "$mw_pid" && alive "$nginx_pid"; then
		ok "a second ./dev up keeps the running stack"
	else
		not_ok "a second ./dev up keeps the running stack" "pids changed"
	fi
else
	not_ok "a second ./dev up succeeds" "$out"
fi

if out=$("$dev" status 2>&1); then
	ok "./dev status reports everything up"
else
	not_ok "./dev status reports everything up" "$out"
fi

token=$("$dev" token --role admin 2>&1)
if [[ $token =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]]; then
	ok "./dev token prints a JWT"
else
	not_ok "./dev token prints a JWT" "$token"
fi

# nginx's own errors speak the service's JSON error shape (docs/API.md §3).
big=$dir/big.json
head -c 1100000 /dev/zero | tr '\0' ' ' >"$big"
resp=$(curl -s -m 10 -D - -X POST -H 'Content-Type: application/json' -H 'X-Request-Id: e2e-413' \
	--data-binary @"$big" "$url/api/attempts/new?action=start" | tr -d '\r')
if [[ $resp == "HTTP/1.1 413"* && $resp == *'"code":"payload_too_large"'* &&
	$resp == *$'\n'[Cc]ontent-[Tt]ype:\ application/json* && $resp == *$'\n'[Xx]-[Rr]equest-[Ii]d:\ e2e-413* ]]; then
	ok "a body over 1 MiB answers 413 payload_too_large in JSON with X-Request-Id"
else
	not_ok "a body over 1 MiB answers 413 payload_too_large in JSON" "$(head -c 400 <<<"$resp")"
fi
rm -f "$big"

resp=$(curl -s -m 5 -D - "$url/no/such/place" | tr -d '\r')
if [[ $resp == "HTTP/1.1 404"* && $resp == *'"code":"not_found"'* && $resp == *$'\n'[Xx]-[Rr]equest-[Ii]d:* ]]; then
	ok "a path outside /api/ answers 404 not_found in JSON"
else
	not_ok "a path outside /api/ answers 404 not_found in JSON" "$(head -c 400 <<<"$resp")"
fi

# nginx's own refusals around uploads and downloads speak JSON too: a Range
# outside the file (416), an If-Match the file fails (412), a stored file
# nginx may not read (500), a request line over its buffers (414).
# expect_nginx_json NAME STATUS CODE RESPONSE: the status, the code, JSON,
# exactly one X-Request-Id.
expect_nginx_json() {
	local name=$1 status=$2 code=$3 resp=$4 ids
	ids=$(grep -ci '^x-request-id:' <<<"$resp")
	if [[ $resp == "HTTP/1.1 $status"* && $resp == *"\"code\":\"$code\""* &&
		$resp == *$'\n'[Cc]ontent-[Tt]ype:\ application/json* && $ids == 1 ]]; then
		ok "$name answers $status $code in JSON"
	else
		not_ok "$name answers $status $code in JSON" "$(head -c 600 <<<"$resp")"
	fi
}
student=$("$dev" token --role student --sub "$(cat /proc/sys/kernel/random/uuid)" 2>/dev/null)
exam=$(stack_new_exam "$token" '{"title":"nginx errors"}')
attempt=$(json_id attempt_id "$(curl -s -m 10 -X POST -H "Authorization: Bearer $student" \
	-H 'Content-Type: application/json' -d "{\"exam_id\":\"$exam\"}" "$url/api/attempts/new?action=start")")
upload=$(json_id upload_id "$(curl -s -m 10 -X POST -H "Authorization: Bearer $student" \
	-H 'Content-Type: text/plain' --data-binary 'hello' \
	"$url/api/attempts/$attempt?action=upload&filename=hello.txt")")
if [[ -n $upload ]]; then
	download=$url/api/attempts/$attempt?action=upload\&upload_id=$upload
	resp=$(curl -s -m 5 -D - -H "Authorization: Bearer $student" "$download" | tr -d '\r')
	if [[ $resp == "HTTP/1.1 200"* && $resp == *$'\n\n'hello ]]; then
		ok "a stored upload downloads"
	else
		not_ok "a stored upload downloads" "$(head -c 400 <<<"$resp")"
	fi
	expect_nginx_json "a download with a Range outside the file" 416 range_not_satisfiable \
		"$(curl -s -m 5 -D - -H "Authorization: Bearer $student" -H 'Range: bytes=100-200' "$download" | tr -d '\r')"
	expect_nginx_json "a download with an If-Match the file fails" 412 precondition_failed \
		"$(curl -s -m 5 -D - -H "Authorization: Bearer $student" -H 'If-Match: "nope"' "$download" | tr -d '\r')"
	mode=$(stat -c %a "$dir/uploads/$upload")
	chmod 000 "$dir/uploads/$upload"
	expect_nginx_json "a download nginx may not read" 500 internal_error \
		"$(curl -s -m 5 -D - -H "Authorization: Bearer $student" "$download" | tr -d '\r')"
	chmod "$mode" "$dir/uploads/$upload"
else
	not_ok "an upload for the download checks" "exam '$exam', attempt '$attempt'"
fi
long=$(head -c 9000 /dev/zero | tr '\0' a)
expect_nginx_json "a request line over nginx's buffers" 414 uri_too_long \
	"$(curl -s -m 5 -D - "$url/api/attempts/x?action=state&x=$long" | tr -d '\r')"

# Supervisor: a killed worker is replaced and the service answers again.
mapfile -t kids < <(children_of "$mw_pid")
if ((${#kids[@]} != ATTEMPTS_WORKERS)); then
	not_ok "multiwatch runs $ATTEMPTS_WORKERS workers" "children: ${kids[*]:-none}"
else
	ok "multiwatch runs $ATTEMPTS_WORKERS workers"
	victim=${kids[0]}
	kill -KILL "$victim"
	replaced=0
	healthy=0
	for ((i = 0; i < 100; i++)); do
		mapfile -t now < <(children_of "$mw_pid")
		if ((${#now[@]} == ATTEMPTS_WORKERS)) && [[ " ${now[*]} " != *" $victim "* ]]; then
			replaced=1
			[[ $(http_code "$url/api/health") == 200 ]] && healthy=1
		fi
		((replaced && healthy)) && break
		sleep 0.1
	done
	if ((replaced)); then
		ok "a worker killed with SIGKILL is replaced (new pids: ${now[*]})"
	else
		not_ok "a worker killed with SIGKILL is replaced within 10 s" "children: ${now[*]:-none}"
	fi
	if ((healthy)); then
		ok "/api/health answers 200 again after the kill"
	else
		not_ok "/api/health answers 200 again within 10 s of the kill" "last: $(http_code "$url/api/health")"
	fi
fi

# Without workers nginx answers 502 in JSON; ./dev up brings them back.
mapfile -t kids < <(children_of "$mw_pid")
kill -TERM "$mw_pid"
for ((i = 0; i < 100; i++)); do
	left=0
	for p in "$mw_pid" "${kids[@]}"; do
		alive "$p" && left=1
	done
	((left)) || break
	sleep 0.1
done
resp=$(curl -s -m 5 -D - "$url/api/health" | tr -d '\r')
if [[ $resp == "HTTP/1.1 502"* && $resp == *'"code":"bad_gateway"'* ]]; then
	ok "with the workers stopped nginx answers 502 bad_gateway in JSON"
else
	not_ok "with the workers stopped nginx answers 502 bad_gateway in JSON" "$(head -c 400 <<<"$resp")"
fi
# An upload's pre-check gets no answer either: the same 502, no body read.
resp=$(curl -s -m 5 -D - -X POST -H 'Content-Type: application/pdf' --data-binary 'x' \
	"$url/api/attempts/${attempt:-x}?action=upload&filename=a.pdf" | tr -d '\r')
if [[ $resp == "HTTP/1.1 502"* && $resp == *'"code":"bad_gateway"'* ]]; then
	ok "with the workers stopped an upload answers 502 bad_gateway in JSON"
else
	not_ok "with the workers stopped an upload answers 502 bad_gateway in JSON" "$(head -c 400 <<<"$resp")"
fi
if out=$("$dev" up --no-install --no-build --no-demo 2>&1) &&
	[[ $(http_code "$url/api/health") == 200 ]] && [[ $(read_pid "$dir/fcgi.pid") != "$mw_pid" ]]; then
	ok "./dev up restarts stopped workers"
else
	not_ok "./dev up restarts stopped workers" "$(tail -n 5 <<<"$out")"
fi

# ./dev down stops every process of the run directory.
pids=()
for p in "$(read_pid "$dir/fcgi.pid")" "$(read_pid "$dir/nginx/nginx.pid")" "$(read_pid "$dir/pg/data/postmaster.pid")"; do
	[[ -n $p ]] || continue
	pids+=("$p")
	mapfile -t -O "${#pids[@]}" pids < <(children_of "$p")
done
if out=$("$dev" down 2>&1); then
	ok "./dev down succeeds"
else
	not_ok "./dev down succeeds" "$out"
fi
left=()
for ((i = 0; i < 50; i++)); do
	left=()
	for p in "${pids[@]}"; do
		alive "$p" && left+=("$p")
	done
	((${#left[@]} == 0)) && break
	sleep 0.1
done
# Anything else still naming the run directory (command line or environment).
for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do
	p=${f#/proc/}
	p=${p%%/*}
	[[ $p == "$$" || $p == "$BASHPID" ]] && continue
	if grep -qaF -- "$dir" "$f" 2>/dev/null && alive "$p" && [[ " ${left[*]} " != *" $p "* ]]; then
		left+=("$p")
	fi
done
if ((${#left[@]} == 0)) && [[ ! -e $dir/fcgi.sock ]]; then
	ok "./dev down left no process behind (${#pids[@]} stopped)"
else
	detail=
	for p in "${left[@]}"; do
		detail+="$p($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | head -c 80)) "
	done
	not_ok "./dev down left no process behind" "left: ${detail:-none}; socket: $(ls "$dir/fcgi.sock" 2>&1)"
fi

summary shell-checks
if ((check_rc != 0 || api_rc != 0 || uploads_rc != 0 || consistency_rc != 0 || n_fail != 0)); then
	exit 1
fi
exit 0
