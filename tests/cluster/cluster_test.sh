# shellcheck shell=bash
# tests/cluster/cluster_test.sh — `./dev cluster test` (issue 19): the
# failure scenarios of docs/SCALING.md, each under the open-loop exam-day
# load (tests/bench/examday, run in the front's namespace against the
# front nginx), on a fresh `./dev cluster up`:
#   1. failover: the primary's PostgreSQL (postmaster and backends) killed
#      with SIGKILL and its cable pulled; full service back (5 saves in a
#      row through the front) within 15 s; no acknowledged save lost. The
#      old primary, plugged in again 20 s after the kill, must be the
#      standby again within 120 s (watched while the scenarios go on).
#   3. read-your-writes across hosts: probes save through one app host and
#      at once read through the other, both ways, under load: 0 stale
#      (examday's own state reads, spread over the hosts by the front,
#      count too).
#   4. the primary's PgBouncer restarted (SIGINT, started again): the probe's
#      failed saves span at most 5 s; no acknowledged save lost.
#   2. an app host killed (every process of it, SIGKILL) and its cable
#      pulled: from 2 s after the kill no probe request through the front
#      fails or takes over 3 s (a request the front sends to the dead host
#      waits for its 1 s connect timeout, then goes to another; a probe's
#      request takes up to a second on this shared machine anyway); no
#      acknowledged save lost.
# Sourced by dev (lib/sh/cluster.sh's functions); the cluster is taken down
# on every exit. Prints `cluster: failover_s=X lost=N app_host_loss_lost=N
# stale_reads=N` last and fails when a promise breaks.

CT_DIR=$CL_DIR/test
CT_STUDENTS=${CLUSTER_TEST_STUDENTS:-400}
CT_FAILS=()

ct_cleanup() {
	trap - EXIT INT TERM
	cl_down >/dev/null 2>&1 || cl_net_down
}

ct_now() { printf '%s\n' "$EPOCHREALTIME"; }

# A token for a new student of the probes.
ct_token() {
	env -i "ATTEMPTS_JWT_SECRET=$(<"$CL_DIR/jwt_secret")" "$FCGI_BIN" token --role student \
		--sub "$(cat /proc/sys/kernel/random/uuid)" --ttl 7200
}

# ct_probe NAME SAVE_URL [READ_URL]: starts a probe student in the front's
# namespace; its log is $CT_DIR/NAME.log.
ct_probe() {
	: >"$CT_DIR/$1.log"
	setsid ip netns exec "$(cl_ns front)" bash "$repo/tests/cluster/probe.sh" "$2" "$(ct_token)" \
		"$CL_EXAM" "$CT_DIR/$1.log" ${3:+"$3"} </dev/null >/dev/null 2>&1 &
	echo "$!" >"$CT_DIR/$1.pid"
}

ct_probe_stop() {
	local pid
	pid=$(read_pid "$CT_DIR/$1.pid")
	if alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
	wait_gone 12 "$pid" || kill_survivors "$pid" || true
}

# ct_examday NAME HOLD_S: starts the load in the background (pid in
# CT_EX_PID, report $CT_DIR/NAME.md).
ct_examday() {
	say "cluster test: $1: examday, $CT_STUDENTS students starting within 10 s, held $2 s"
	ip netns exec "$(cl_ns front)" env "ATTEMPTS_JWT_SECRET=$(<"$CL_DIR/jwt_secret")" \
		"$repo/tests/bench/examday" -u "http://127.0.0.1:$CL_FRONT_PORT" \
		-d "$(cl_conninfo "$CL_PG_PORT")" -c 64 -s "$CT_STUDENTS" -w 10 -H "$2" -p 10 \
		-r "$CT_DIR/$1.md" >"$CT_DIR/$1.out" 2>&1 &
	CT_EX_PID=$!
}

# ct_examday_wait NAME: waits for the load to end; sets MISSING and STALE_N
# from its report (-1 when it could not measure).
ct_examday_wait() {
	local rc=0 row
	wait "$CT_EX_PID" || rc=$?
	row=$(awk -F'|' '/^Acknowledged saves/ {t = 1} t && $2 ~ /step/ {gsub(/ /, ""); print $4, $8}' \
		"$CT_DIR/$1.md" 2>/dev/null | tail -n 1) || true
	MISSING=-1 STALE_N=-1
	if ((rc > 1)) || [[ -z $row ]]; then
		warn "cluster test: $1: examday could not measure (exit $rc):"
		tail -n 15 "$CT_DIR/$1.out" >&2
		return 0
	fi
	read -r MISSING STALE_N <<<"$row"
}

# ct_back_s LOG T0: seconds from T0 to the end of the first acknowledged
# save after T0 that starts a run of 5 in a row; -1 if none.
ct_back_s() {
	awk -v t0="$2" '$3 == "save" && $1 >= t0 {
		if ($4 == 200) { if (run++ == 0) first = $2; if (run == 5) { printf "%.1f\n", first - t0; found = 1; exit } }
		else run = 0
	} END { if (!found) print -1 }' "$1"
}

# ct_bad_span LOG T0 SLOW: seconds from T0 to the end of the last request
# started after T0 that failed or took longer than SLOW s; 0 if none.
ct_bad_span() {
	awk -v t0="$2" -v slow="$3" 'BEGIN { last = t0 } $1 >= t0 && ($4 != 200 || $2 - $1 > slow) {
		if ($2 > last) last = $2 } END { printf "%.1f\n", last - t0 }' "$1"
}

# ct_burst LOG T0: seconds from the start of the first failed save that
# ended after T0 to the end of the last one; 0 if none failed.
ct_burst() {
	awk -v t0="$2" '$3 == "save" && $2 >= t0 && $4 != 200 {
		if (!n++) first = $1; last = $2 } END { printf "%.1f\n", n ? last - first : 0 }' "$1"
}

# ct_stale LOG: reads through the other host older than the save before.
ct_stale() {
	awk '$3 == "read" && $4 == 200 && $5 < $6 {n++} END {print n + 0}' "$1"
}

ct_count() {
	awk -v k="$2" '$3 == k {n++} END {print n + 0}' "$1"
}

# ct_check NAME VALUE OP LIMIT: records a broken promise.
ct_check() {
	if ! awk -v v="$2" -v l="$4" "BEGIN { exit !(v >= 0 && v $3 l) }"; then
		CT_FAILS+=("$1=$2 (want $3 $4)")
		warn "cluster test: FAIL: $1 = $2, want $3 $4"
	fi
}

# Prints the pids of HOST's PostgreSQL: its postmaster and every backend.
ct_postgres_pids() {
	local pm
	pm=$(read_pid "$CL_DIR/$1/data/postmaster.pid")
	alive "$pm" || die "cluster test: no PostgreSQL runs on $1"
	echo "$pm"
	children_of "$pm"
}

ct_scenario_failover() {
	local old t0 miss stale pids
	old=$(cl_primary)
	[[ -n $old ]] || die "cluster test: no primary"
	ct_examday failover 35
	sleep 10
	ct_probe failover "http://127.0.0.1:$CL_FRONT_PORT"
	sleep 4
	say "cluster test: failover: SIGKILL PostgreSQL on $old and pull its cable"
	mapfile -t pids < <(ct_postgres_pids "$old")
	t0=$(ct_now)
	kill -KILL "${pids[@]}"
	cl_link "$old" down
	cl_wait 40 "a new primary" eval '[[ -n $(cl_primary) && $(cl_primary) != '"$old"' ]]' || true
	say "cluster test: failover: $(cl_node_states | paste -sd ';' | sed 's/;/; /g') ($(awk -v t0="$t0" 'BEGIN {printf "%.1f", '"$(ct_now)"' - t0}') s after the kill)"
	# The machine comes back 20 s after it died, while the load runs.
	sleep "$(awk -v t0="$t0" -v now="$(ct_now)" 'BEGIN {d = t0 + 20 - now; print (d > 0 ? d : 0)}')"
	say "cluster test: failover: plug $old back in; it rejoins as the standby (watched meanwhile)"
	cl_link "$old" up
	ct_rejoin_start
	ct_examday_wait failover
	miss=$MISSING stale=$STALE_N
	ct_probe_stop failover
	FAILOVER_S=$(ct_back_s "$CT_DIR/failover.log" "$t0")
	LOST=$miss
	STALE=$stale
	say "cluster test: failover: service back in ${FAILOVER_S} s; examday: missing $miss, stale reads $stale; probe saves failed: $(awk -v t0="$t0" '$3 == "save" && $1 >= t0 && $4 != 200 {n++} END {print n + 0}' "$CT_DIR/failover.log")"
}

# The old primary's rejoin, watched in the background: the time it is
# the standby again goes to rejoin.t.
ct_rejoin_start() {
	CT_PLUG_T=$(ct_now)
	(
		# A CHECKPOINT every 3 s, not more: the load runs meanwhile.
		until cl_settle_pushed; do
			(($(awk -v a="$CT_PLUG_T" -v b="$(ct_now)" 'BEGIN {print int(b - a)}') < 240)) || exit 1
			sleep 3
		done
		ct_now >"$CT_DIR/rejoin.t"
	) >/dev/null 2>&1 &
	CT_REJOIN_PID=$!
}

ct_rejoin_wait() {
	wait "$CT_REJOIN_PID" || true
	if [[ -s $CT_DIR/rejoin.t ]]; then
		REJOIN_S=$(awk -v a="$CT_PLUG_T" '{printf "%.0f\n", $1 - a}' "$CT_DIR/rejoin.t")
	else
		warn "cluster test: the old primary did not rejoin: $(cl_node_states | paste -sd ';')"
	fi
	say "cluster test: failover: the old primary was the standby again ${REJOIN_S} s after it was plugged in"
}

# Waits until a save through the front succeeds (a scenario starts on a
# working service).
ct_ready() {
	ct_probe ready "http://127.0.0.1:$CL_FRONT_PORT"
	cl_wait 60 "a save through the front" grep -q ' save 200 ' "$CT_DIR/ready.log" ||
		warn "cluster test: the service is not back before the next scenario"
	ct_probe_stop ready
}

ct_scenario_bouncer() {
	local host t0 miss stale ryw pid
	host=$(cl_primary)
	ct_examday bouncer 35
	sleep 12
	say "cluster test: read-your-writes: save through app1 and read through app2 at once, and back"
	ct_probe ryw12 "http://$(cl_ip app1):$CL_APP_PORT" "http://$(cl_ip app2):$CL_APP_PORT"
	ct_probe ryw21 "http://$(cl_ip app2):$CL_APP_PORT" "http://$(cl_ip app1):$CL_APP_PORT"
	ct_probe bouncer "http://127.0.0.1:$CL_FRONT_PORT"
	sleep 12
	say "cluster test: PgBouncer on $host restarted"
	pid=$(cl_pid "$host" pgbouncer)
	t0=$(ct_now)
	kill -INT "$pid"
	wait_gone 10 "$pid" || kill_survivors "$pid" || true
	cl_start_bouncer "$host"
	ct_examday_wait bouncer
	miss=$MISSING stale=$STALE_N
	ct_probe_stop bouncer
	ct_probe_stop ryw12
	ct_probe_stop ryw21
	ryw=$(($(ct_stale "$CT_DIR/ryw12.log") + $(ct_stale "$CT_DIR/ryw21.log")))
	BOUNCER_S=$(ct_burst "$CT_DIR/bouncer.log" "$t0")
	LOST=$((LOST + miss))
	STALE=$((STALE + stale + ryw))
	say "cluster test: read-your-writes: $(($(ct_count "$CT_DIR/ryw12.log" read) + $(ct_count "$CT_DIR/ryw21.log" read))) reads through the other host right after a save, $ryw stale"
	say "cluster test: PgBouncer restart: saves failed during ${BOUNCER_S} s; examday: missing $miss, stale reads $stale"
}

ct_scenario_app_host() {
	local host t0 miss stale pids
	host=app$CL_APPS
	ct_examday apphost 25
	sleep 12
	ct_probe apphost "http://127.0.0.1:$CL_FRONT_PORT"
	sleep 4
	say "cluster test: app host $host: SIGKILL every process of it and pull its cable"
	mapfile -t pids < <(ip netns pids "$(cl_ns "$host")")
	t0=$(ct_now)
	kill -KILL "${pids[@]}"
	cl_link "$host" down
	ct_examday_wait apphost
	miss=$MISSING stale=$STALE_N
	ct_probe_stop apphost
	APP_S=$(ct_bad_span "$CT_DIR/apphost.log" "$t0" 3)
	APP_LOST=$miss
	STALE=$((STALE + stale))
	say "cluster test: app host loss: last failed or slow (> 3 s) request ${APP_S} s after the kill; examday: missing $miss, stale reads $stale"
}

ct_main() {
	local started=$SECONDS
	FAILOVER_S=-1 LOST=-1 APP_LOST=-1 STALE=-1 BOUNCER_S=-1 APP_S=-1 REJOIN_S=-1
	[[ -x $repo/tests/bench/examday ]] || die "tests/bench/examday missing (build: make tests/bench/examday)"
	need_tool curl curl >/dev/null
	if cl_running; then cl_down; fi
	trap ct_cleanup EXIT
	trap 'exit 130' INT TERM
	cl_up
	mkdir -p "$CT_DIR"
	ct_ready
	ct_scenario_failover
	ct_ready
	ct_scenario_bouncer
	ct_ready
	ct_scenario_app_host
	ct_rejoin_wait
	ct_check failover_s "$FAILOVER_S" '<=' 15
	ct_check lost "$LOST" '==' 0
	ct_check pgbouncer_restart_s "$BOUNCER_S" '<=' 5
	ct_check app_host_switch_s "$APP_S" '<=' 2
	ct_check app_host_loss_lost "$APP_LOST" '==' 0
	ct_check stale_reads "$STALE" '==' 0
	ct_check rejoin_s "$REJOIN_S" '<=' 120
	say "cluster test: $((SECONDS - started)) s; pgbouncer_restart_s=$BOUNCER_S app_host_switch_s=$APP_S rejoin_s=$REJOIN_S (reports: $CT_DIR)"
	ct_cleanup
	echo "cluster: failover_s=$FAILOVER_S lost=$LOST app_host_loss_lost=$APP_LOST stale_reads=$STALE"
	((${#CT_FAILS[@]} == 0))
}

ct_main
