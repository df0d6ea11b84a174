#!/usr/bin/env bash
# tests/e2e/metrics_test.sh — GET /metrics and correlated logs, end to end
# (automake runs it from `make check`).
#
# Starts the embedded stack (`./dev up`: PostgreSQL, 2 workers under
# multiwatch, nginx with nginx/attempts.conf) in a temp dir on free ports,
# with log_format=json and log_level=debug (one line per request), then
# checks:
#   - /metrics through nginx: 200, text/plain version 0.0.4, accepted by
#     `promtool check metrics` (Debian: apt-get install prometheus);
#   - N requests (whichever workers take them) raise
#     attempts_http_requests_total by exactly N, one log line each;
#   - a killed worker's counts stay (the new worker adopts its slot);
#   - /metrics is refused to a client that is not 127.0.0.1 or ::1 (curl
#     from 127.0.0.2, still loopback), and nginx's config denies it;
#   - a request's X-Request-Id (sent, or generated) is in the worker's log
#     line about it and in nginx's access log; the workers' lines are JSON.
# Prints "metrics: N passed, N failed". Fails (not skips) without promtool;
# skips (77) without nginx, spawn-fcgi, multiwatch, curl or PostgreSQL.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/../lib/stack.sh"
stack_need_tools
promtool=$(command -v promtool || true)

stack_prepare metrics 18480 56400 30
export ATTEMPTS_WORKERS=2 ATTEMPTS_THREADS=4
export ATTEMPTS_LOG_FORMAT=json ATTEMPTS_LOG_LEVEL=debug
wlog=$dir/logs/workers.log
alog=$dir/logs/nginx-access.log
stack_up

# The scrape, into file $1; prints the HTTP status.
scrape() {
	curl -s -m 10 -o "$1" -D "$1.head" -w '%{http_code}' "$url/metrics" || true
}

# The sum of the samples of series $2 (a name, optionally with a label
# selector's beginning, e.g. 'attempts_http_requests_total{action="health"')
# in scrape file $1.
sum_of() {
	awk -v want="$2" '
		index($0, want) == 1 && $0 !~ /^#/ { s += $NF }
		END { printf "%d\n", s }' "$1"
}

# Waits until the workers answer /metrics with $1 live workers (up to 10 s).
wait_workers() {
	local i
	for ((i = 0; i < 100; i++)); do
		scrape "$dir/w.txt" >/dev/null
		[[ $(sum_of "$dir/w.txt" attempts_workers) == "$1" ]] && return 0
		sleep 0.1
	done
	return 1
}

# ------------------------------------------------------------ the scrape

wait_workers 2 || true
code=$(scrape "$dir/m0.txt")
ctype=$(grep -i '^content-type:' "$dir/m0.txt.head" | tr -d '\r')
if [[ $code == 200 && $ctype == *'text/plain; version=0.0.4'* ]]; then
	ok "GET /metrics answers 200 text/plain; version=0.0.4"
else
	not_ok "GET /metrics answers 200 text/plain; version=0.0.4" "status $code, $ctype"
fi
missing=
for f in attempts_http_requests_total attempts_http_request_duration_seconds attempts_db_calls_total \
	attempts_db_pool_connections attempts_cache_hits_total attempts_cache_misses_total \
	attempts_breaker_state attempts_listener_connected attempts_coalesced_batch_size attempts_workers; do
	grep -q "^# TYPE $f " "$dir/m0.txt" || missing+=" $f"
done
if [[ -z $missing ]]; then
	ok "the scrape has every family of issue #18"
else
	not_ok "the scrape has every family of issue #18" "missing:$missing"
fi
if [[ $(sum_of "$dir/m0.txt" attempts_workers) == 2 ]]; then
	ok "the scrape counts both workers (attempts_workers 2)"
else
	not_ok "the scrape counts both workers" "$(grep '^attempts_workers' "$dir/m0.txt")"
fi

# ------------------------------------------------------------ N requests

n=300
# 16 at once: nginx opens that many FastCGI connections, which the workers
# race to accept, so the requests spread over both. On a busy machine one
# worker may win every race: up to 3 rounds, until a round reached both.
for round in 1 2 3; do
	scrape "$dir/m0.txt" >/dev/null
	base=$(sum_of "$dir/m0.txt" 'attempts_http_requests_total{action="health"')
	base_all=$(sum_of "$dir/m0.txt" attempts_http_requests_total)
	base_metrics=$(sum_of "$dir/m0.txt" 'attempts_http_requests_total{action="metrics"')
	seq 1 "$n" | xargs -P 16 -I{} curl -s -o /dev/null -m 10 -H "X-Request-Id: mt-spread-$round-{}" \
		"$url/api/health"
	scrape "$dir/m1.txt" >/dev/null
	after=$(sum_of "$dir/m1.txt" 'attempts_http_requests_total{action="health"')
	after_all=$(sum_of "$dir/m1.txt" attempts_http_requests_total)
	after_metrics=$(sum_of "$dir/m1.txt" 'attempts_http_requests_total{action="metrics"')
	pids=$(grep -F "\"request_id\":\"mt-spread-$round-" "$wlog" | grep -F '"msg":"request: GET /api/health' |
		sed -n 's/.*"pid":\([0-9]*\).*/\1/p' | sort | uniq -c)
	served=$(grep -F "\"request_id\":\"mt-spread-$round-" "$wlog" | grep -cF '"msg":"request: GET /api/health')
	(($(wc -l <<<"$pids") >= 2)) && break
done
if ((after - base == n)); then
	ok "$n requests raise attempts_http_requests_total{action=\"health\"} by exactly $n"
else
	not_ok "$n requests raise attempts_http_requests_total{action=\"health\"} by exactly $n" \
		"before $base, after $after"
fi
# Everything else counted in between is the scrapes themselves.
if (((after_all - after_metrics) - (base_all - base_metrics) == n)); then
	ok "attempts_http_requests_total over every action rose by $n besides the scrapes"
else
	not_ok "attempts_http_requests_total over every action rose by $n besides the scrapes" \
		"all $base_all -> $after_all, metrics $base_metrics -> $after_metrics"
fi
# Which worker takes a connection is the kernel's choice (the processes
# race for accept), so all of a round may land on one; the sum over
# processes is proven by check_host_metrics with forked processes. Here:
# every request has its line, and the scrape counted each, whoever served.
if ((served == n)); then
	ok "the $n requests have one log line each (by pid, round $round: $(echo $pids))"
else
	not_ok "the $n requests have one log line each" "$served lines; $(echo $pids)"
fi

# ------------------------------------------------------------ promtool

if [[ -z $promtool ]]; then
	not_ok "promtool check metrics accepts the scrape" "promtool not installed (Debian: apt-get install prometheus)"
elif out=$("$promtool" check metrics <"$dir/m1.txt" 2>&1); then
	ok "promtool check metrics accepts the scrape"
else
	not_ok "promtool check metrics accepts the scrape" "$(head -n 10 <<<"$out")"
fi
# Histogram buckets are cumulative and end in +Inf = _count.
bad=$(awk '
	/^attempts_http_request_duration_seconds_bucket/ {
		split($0, a, "le=\""); split(a[2], b, "\""); key = a[1]
		if (key == prev && $NF < last) print "not cumulative: " $0
		prev = key; last = $NF
		if (b[1] == "+Inf") inf[key] = $NF
	}
	/^attempts_http_request_duration_seconds_count/ {
		k = $1; sub(/_count\{/, "_bucket{", k); sub(/\}$/, ",", k)
		if (!(k in inf) || inf[k] != $NF) print "+Inf != _count: " $0
	}' "$dir/m1.txt")
if [[ -z $bad ]]; then
	ok "duration buckets are cumulative and +Inf equals _count"
else
	not_ok "duration buckets are cumulative and +Inf equals _count" "$(head -n 3 <<<"$bad")"
fi

# ------------------------------------------------------------ a killed worker

mw_pid=$(read_pid "$dir/fcgi.pid")
mapfile -t kids < <(children_of "$mw_pid")
before_kill=$(sum_of "$dir/m1.txt" attempts_http_requests_total)
if ((${#kids[@]} == 2)); then
	kill -KILL "${kids[0]}"
	sleep 0.5
	wait_workers 2 || true
	scrape "$dir/m2.txt" >/dev/null
	after_kill=$(sum_of "$dir/m2.txt" attempts_http_requests_total)
	if ((after_kill >= before_kill)) && [[ $(sum_of "$dir/m2.txt" attempts_workers) == 2 ]]; then
		ok "after kill -9 of a worker no counter went back ($before_kill -> $after_kill) and 2 workers count"
	else
		not_ok "after kill -9 of a worker no counter went back" \
			"$before_kill -> $after_kill, workers $(sum_of "$dir/m2.txt" attempts_workers)"
	fi
else
	not_ok "multiwatch runs 2 workers" "children: ${kids[*]:-none}"
fi

# ------------------------------------------------------------ loopback only

nginx_conf=$dir/nginx/nginx.conf
# Into a file first: awk stops reading at the location's end, and under
# pipefail nginx's SIGPIPE from an early-closed pipe failed this check.
if ! "$(command -v nginx || echo /usr/sbin/nginx)" -T -c "$nginx_conf" >"$dir/nginx-T.txt" 2>"$dir/nginx-T.err"; then
	not_ok "nginx -T reads the stack's configuration" "$(tail -n 3 "$dir/nginx-T.err")"
elif awk '/location = \/metrics/ { on = 1 } on && /allow +127\.0\.0\.1;/ { a = 1 } on && /allow +::1;/ { b = 1 }
		on && /deny +all;/ { d = 1 } on && /^ *}/ { exit } END { exit !(a && b && d) }' "$dir/nginx-T.txt"; then
	ok "nginx's /metrics location allows 127.0.0.1 and ::1 and denies the rest"
else
	not_ok "nginx's /metrics location allows 127.0.0.1 and ::1 and denies the rest"
fi
# A client that is not 127.0.0.1 or ::1, still on loopback: 127.0.0.2
# (the whole of 127/8 is this host's loopback), so nothing leaves it.
remote=$(curl -s -m 5 --interface 127.0.0.2 -o "$dir/r.txt" -w '%{http_code}' "$url/metrics" || true)
health=$(curl -s -m 5 --interface 127.0.0.2 -o /dev/null -w '%{http_code}' "$url/api/health" || true)
if [[ $remote == 403 && $health == 200 ]] && grep -q '"code":"forbidden"' "$dir/r.txt"; then
	ok "/metrics from 127.0.0.2 (not 127.0.0.1 or ::1) answers 403 forbidden; /api/health from there 200"
else
	not_ok "/metrics from 127.0.0.2 answers 403 forbidden, /api/health 200" "metrics $remote, health $health"
fi

# ------------------------------------------------------------ request ids

rid=mt-log-$RANDOM$RANDOM
curl -s -o /dev/null -m 5 -H "X-Request-Id: $rid" "$url/api/attempts/00000000-0000-4000-8000-000000000000?action=state"
gen=$(curl -s -o /dev/null -m 5 -D - "$url/api/health" | tr -d '\r' | sed -n 's/^[Xx]-[Rr]equest-[Ii]d: //p')
sleep 0.3
line=$(grep -F "\"request_id\":\"$rid\"" "$wlog" | head -n 1)
if [[ $line == '{"ts":"'*'"msg":"request: GET /api/attempts/'*'-> 401'* ]]; then
	ok "the worker's log line about a request names its X-Request-Id ($rid)"
else
	not_ok "the worker's log line about a request names its X-Request-Id" "${line:-no line with $rid}"
fi
if grep -qF "request_id=$rid " "$alog"; then
	ok "nginx's access log names the same X-Request-Id"
else
	not_ok "nginx's access log names the same X-Request-Id" "$(tail -n 2 "$alog")"
fi
if [[ -n $gen ]] && grep -qF "\"request_id\":\"$gen\"" "$wlog" && grep -qF "request_id=$gen " "$alog"; then
	ok "a generated request id ($gen) is in the worker's log and the access log"
else
	not_ok "a generated request id is in the worker's log and the access log" "id '$gen'"
fi
# Every line the workers wrote is one JSON object (the lines of dev and
# spawn-fcgi aside).
if command -v python3 >/dev/null 2>&1; then
	bad=$(grep '^{' "$wlog" | python3 -c '
import json, sys
bad = 0
for line in sys.stdin:
    try:
        o = json.loads(line)
        assert set(o) == {"ts", "level", "pid", "request_id", "msg"}
    except Exception:
        bad += 1
print(bad)')
	total=$(grep -c '^{' "$wlog")
	if ((bad == 0 && total > n)); then
		ok "all $total worker log lines are JSON objects {ts, level, pid, request_id, msg}"
	else
		not_ok "all worker log lines are JSON objects" "$bad of $total are not"
	fi
	# multiwatch's own lines are allowed: its start and the respawn after
	# this test's kill -9 of a worker (not "died to often").
	other=$(grep -v '^{' "$wlog" | grep -v '^---' | grep -vi 'spawn-fcgi' | grep -v '^Spawning child' | grep -vx 'Child\[[0-9]*\] died, respawn' | head -n 3)
	if [[ -z $other ]]; then
		ok "the workers wrote nothing but JSON lines"
	else
		not_ok "the workers wrote nothing but JSON lines" "$other"
	fi
fi

summary metrics
((n_fail == 0))
