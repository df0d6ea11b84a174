# shellcheck shell=bash
# lib/sh/cluster.sh — `./dev cluster up|status|down|test`: the whole
# high-availability topology of docs/SCALING.md on this one machine, each
# host in a network namespace of its own. It owns the namespaces, their
# addresses and links, and the processes of the cluster (pg_auto_failover's
# monitor and two PostgreSQL nodes, a PgBouncer on each database node, the
# app hosts' nginx and workers, the front nginx); the failure scenarios
# live in tests/cluster/cluster_test.sh. Sourced by dev (it uses dev's say,
# die, need_tool, fill_template, pg_bindir and lib/sh/proc.sh).
#
# Network: a "switch" namespace holds a bridge; every host namespace is
# joined to it by a veth pair (h-HOST in the switch, eth0 in the host).
# Addresses come from 198.18.0.0/24 (RFC 2544's benchmarking range) and
# exist only inside these namespaces; the root namespace gets none, and
# reaches the services through `ip netns exec` or their unix sockets.
#
#   mon   198.18.0.10  pg_auto_failover monitor (PostgreSQL, port 5432)
#   db1   198.18.0.11  PostgreSQL node (5432) + PgBouncer (6432)
#   db2   198.18.0.12  PostgreSQL node (5432) + PgBouncer (6432)
#   appN  198.18.0.2N  nginx (8080) + FastCGI workers
#   front 198.18.0.2   nginx on 198.18.0.2:80 and its own 127.0.0.1:PORT
#
# Every process is started by pid (RUN_DIR/cluster/pids/HOST-NAME.pid) in
# a session of its own and stopped by pid; `down` then stops whatever is
# left in the cluster's namespaces (only this command puts processes
# there) and deletes them.

CL_DIR=$RUN_DIR/cluster
CL_NET=198.18.0
CL_APPS=${ATTEMPTS_CLUSTER_APPS:-2}
CL_WORKERS=${ATTEMPTS_CLUSTER_WORKERS:-2}
CL_FRONT_PORT=${ATTEMPTS_PORT:-8080}
CL_APP_PORT=8080
CL_PG_PORT=5432
CL_BOUNCER_PORT=6432
# Namespaces are named PREFIX-HOST; the prefix is unique per run directory.
CL_PREFIX=atc$(printf '%s' "$RUN_DIR" | cksum | cut -c1-6)
CL_EXAM=00000000-0000-4000-8000-0000000c1001
CL_ADMIN=00000000-0000-4000-8000-0000000c100a

cl_apps() {
	local i
	for ((i = 1; i <= CL_APPS; i++)); do echo "app$i"; done
}
cl_hosts() { echo mon db1 db2 "$(cl_apps | paste -sd ' ')" front; }
cl_ns() { printf '%s-%s\n' "$CL_PREFIX" "$1"; }

cl_ip() {
	case $1 in
	mon) echo "$CL_NET.10" ;;
	db1) echo "$CL_NET.11" ;;
	db2) echo "$CL_NET.12" ;;
	front) echo "$CL_NET.2" ;;
	app*) echo "$CL_NET.$((20 + ${1#app}))" ;;
	*) return 1 ;;
	esac
}

# Runs a command in HOST's namespace.
cl_in() {
	local host=$1
	shift
	ip netns exec "$(cl_ns "$host")" "$@"
}

# The cluster's namespaces that exist now.
cl_namespaces() {
	ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$CL_PREFIX-" || true
}

# ------------------------------------------------------------------ network

cl_net_up() {
	local sw host ns
	sw=$(cl_ns sw)
	ip netns add "$sw"
	ip -n "$sw" link set lo up
	ip -n "$sw" link add br0 type bridge
	ip -n "$sw" link set br0 up
	for host in $(cl_hosts); do
		ns=$(cl_ns "$host")
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		# Both ends are made where they belong: nothing appears in the
		# root namespace.
		ip -n "$sw" link add "h-$host" type veth peer name eth0 netns "$ns"
		ip -n "$sw" link set "h-$host" master br0 up
		ip -n "$ns" addr add "$(cl_ip "$host")/24" dev eth0
		ip -n "$ns" link set eth0 up
	done
	say "cluster: network $CL_NET.0/24 in namespaces $CL_PREFIX-{sw,$(cl_hosts | tr ' ' ',')}"
}

# cl_link HOST up|down: plugs HOST's cable into the switch or pulls it.
cl_link() {
	ip -n "$(cl_ns sw)" link set "h-$1" "$2"
}

# Kills every process left in the cluster's namespaces and deletes them.
cl_net_down() {
	local ns pids=()
	for ns in $(cl_namespaces); do
		mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
		if ((${#pids[@]})); then
			say "cluster: killing what is left in $ns: ${pids[*]}"
			kill -KILL "${pids[@]}" 2>/dev/null || true
			wait_gone 5 "${pids[@]}" || true
		fi
	done
	for ns in $(cl_namespaces); do
		ip netns del "$ns" || warn "could not delete namespace $ns"
	done
}

# ------------------------------------------------------------------ processes

# cl_spawn HOST NAME USER CMD...: runs CMD in HOST's namespace as USER
# (root or postgres), in a session of its own, with the environment in
# CL_ENV only; its pid goes to pids/HOST-NAME.pid, its output to
# logs/HOST-NAME.log. (ip netns exec, setpriv and env exec: $! is CMD.)
cl_spawn() {
	local host=$1 name=$2 user=$3 as=()
	shift 3
	if [[ $user != root ]]; then as=(setpriv "--reuid=$user" "--regid=$user" --init-groups); fi
	setsid ip netns exec "$(cl_ns "$host")" "${as[@]}" env -i "${CL_ENV[@]}" "$@" \
		</dev/null >>"$CL_DIR/logs/$host-$name.log" 2>&1 &
	echo "$!" >"$CL_DIR/pids/$host-$name.pid"
	# Not this shell's job: stopped by pid, its end not reported here.
	disown "$!"
}

cl_pid() { read_pid "$CL_DIR/pids/$1-$2.pid"; }

# cl_stop HOST NAME SIG SECS...: stop_tree on a pid file, then forgets it.
cl_stop() {
	local f=$CL_DIR/pids/$1-$2.pid
	shift 2
	[[ -f $f ]] || return 0
	stop_tree "$(read_pid "$f")" "$@" || true
	rm -f "$f"
}

# Waits up to SECS (wall clock) for a command to succeed.
cl_wait() {
	local secs=$1 what=$2 deadline=$((SECONDS + $1))
	shift 2
	while ((SECONDS < deadline)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	warn "cluster: $what did not happen within $secs s"
	return 1
}

# ------------------------------------------------------------------ PostgreSQL

# The environment of pg_autoctl and PgBouncer on HOST: their state, sockets
# and configuration in HOST's directory, never in postgres's home.
cl_pg_env() {
	local d=$CL_DIR/$1 bin
	bin=$(pg_bindir)
	CL_ENV=(HOME="$d" PATH="$bin:/usr/bin:/bin" LANG=C.UTF-8 PG_CONFIG="$bin/pg_config"
		XDG_CONFIG_HOME="$d/xdg/config" XDG_DATA_HOME="$d/xdg/data" XDG_RUNTIME_DIR="$d/xdg/run"
		PG_REGRESS_SOCK_DIR="$d" PGHOST="$d" PGPORT="$CL_PG_PORT")
}

cl_psql() {
	local host=$1 db=$2
	shift 2
	"$(pg_bindir)/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
		-d "host=$CL_DIR/$host port=$CL_PG_PORT dbname=$db user=postgres" "$@"
}

cl_monitor_uri() {
	echo "postgres://autoctl_node@$(cl_ip mon):$CL_PG_PORT/pg_auto_failover?sslmode=disable"
}

# pg_auto_failover's view of the data nodes: "name reported goal" a line.
cl_node_states() {
	cl_psql mon pg_auto_failover -F ' ' \
		-c "SELECT nodename, reportedstate, goalstate FROM pgautofailover.node ORDER BY nodeid" 2>/dev/null
}

# Prints the node the monitor has as the writable one, settled (primary;
# wait_primary while it has no standby).
cl_primary() {
	cl_node_states | awk '$2 ~ /^(primary|wait_primary|single)$/ && $3 == $2 {print $1; exit}'
}

# True when the data nodes are a primary and a secondary, settled.
cl_pair_settled() {
	local s
	s=$(cl_node_states)
	[[ $(grep -c -E '^db[12] (primary primary|secondary secondary)$' <<<"$s") == 2 &&
		$(grep -c ' primary primary$' <<<"$s") == 1 ]]
}

# cl_pair_settled after a CHECKPOINT on the node that is or becomes the
# primary: a standby's base backup (and its rejoin) waits for one, and the
# spread checkpoint it would start on its own takes minutes.
cl_settle_pushed() {
	local p
	p=$(cl_node_states | awk '$3 ~ /primary/ {print $1; exit}')
	if [[ -n $p ]]; then cl_psql "$p" postgres -c CHECKPOINT >/dev/null 2>&1 || true; fi
	cl_pair_settled
}

# Failover within seconds, not the shipped 20-30 s: the monitor checks
# every half second and calls a node unhealthy after 2 s without a report
# and a failed check; the old primary's drain is given 1 s (with
# synchronous replication no acknowledged write is lost whatever the old
# primary does meanwhile: with its standby gone, its commits wait).
cl_tune_monitor() {
	cl_psql mon pg_auto_failover >/dev/null <<'SQL'
ALTER SYSTEM SET pgautofailover.health_check_period = 500;
ALTER SYSTEM SET pgautofailover.health_check_timeout = 1000;
ALTER SYSTEM SET pgautofailover.health_check_max_retries = 1;
ALTER SYSTEM SET pgautofailover.health_check_retry_delay = 250;
ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = 2000;
ALTER SYSTEM SET pgautofailover.primary_demote_timeout = 1000;
ALTER SYSTEM SET pgautofailover.startup_grace_period = 2000;
SELECT pg_reload_conf();
SQL
}

cl_prepare_dir() {
	local d=$CL_DIR/$1
	mkdir -p "$d/xdg/config" "$d/xdg/data" "$d/xdg/run"
	chmod 700 "$d/xdg/run"
	chown -R postgres: "$d"
}

cl_start_monitor() {
	cl_prepare_dir mon
	cl_pg_env mon
	say "cluster: pg_auto_failover monitor on mon ($(cl_ip mon):$CL_PG_PORT)"
	cl_spawn mon pg_autoctl postgres pg_autoctl create monitor --pgdata "$CL_DIR/mon/data" \
		--pgport "$CL_PG_PORT" --hostname "$(cl_ip mon)" --auth trust --no-ssl --run
	cl_wait 60 "the monitor" cl_psql mon pg_auto_failover -c 'SELECT 1 FROM pgautofailover.node LIMIT 0' ||
		die "the monitor did not start (log: $CL_DIR/logs/mon-pg_autoctl.log)"
	cl_tune_monitor
}

# cl_start_node HOST: a PostgreSQL node registered with the monitor; the
# first becomes the primary, the second its synchronous standby (a base
# backup of the primary).
cl_start_node() {
	local host=$1
	cl_prepare_dir "$host"
	cl_pg_env "$host"
	say "cluster: PostgreSQL node $host ($(cl_ip "$host"):$CL_PG_PORT)"
	cl_spawn "$host" pg_autoctl postgres pg_autoctl create postgres --pgdata "$CL_DIR/$host/data" \
		--pgport "$CL_PG_PORT" --hostname "$(cl_ip "$host")" --name "$host" --dbname attempts \
		--auth trust --no-ssl --pg-hba-lan --monitor "$(cl_monitor_uri)" --run
}

# pg_autoctl's HBA entries name the node's database (attempts) and
# replication; pg_rewind, when the old primary rejoins, connects to
# "postgres": the cluster's network is trusted whole (on real hosts:
# scram-sha-256 and the hosts' own network). The standby's base backup
# copies the file.
cl_trust_lan() {
	echo "host all all $CL_NET.0/24 trust" >>"$CL_DIR/$1/data/pg_hba.conf"
	cl_psql "$1" postgres -c 'SELECT pg_reload_conf()' >/dev/null
}

cl_start_bouncer() {
	local host=$1 d=$CL_DIR/$1/pgbouncer
	mkdir -p "$d"
	printf '"postgres" ""\n' >"$d/userlist.txt"
	fill_template LISTEN "$(cl_ip "$host")" PORT "$CL_BOUNCER_PORT" PG_DIR "$CL_DIR/$host" \
		PG_PORT "$CL_PG_PORT" DIR "$d" <"$repo/deploy/cluster/pgbouncer.ini.in" >"$d/pgbouncer.ini"
	chown -R postgres: "$d"
	cl_pg_env "$host"
	cl_spawn "$host" pgbouncer postgres "$(need_tool pgbouncer pgbouncer)" "$d/pgbouncer.ini"
}

# The follower that RECONNECTs the node's PgBouncer when its PostgreSQL
# changes role (deploy/cluster/bouncer-follow.sh says why).
cl_start_follower() {
	cl_pg_env "$1"
	cl_spawn "$1" follower postgres bash "$repo/deploy/cluster/bouncer-follow.sh" \
		"$CL_DIR/$1" "$CL_PG_PORT" "$CL_DIR/$1/pgbouncer" "$CL_BOUNCER_PORT"
}

# ------------------------------------------------------------------ app hosts

# The conninfo of the workers' pool (through the PgBouncers) and of their
# LISTEN connection (straight to PostgreSQL): both hosts, the writable one
# chosen; keepalives and a TCP user timeout notice a pulled cable in
# seconds, and the TCP user timeout also gives up a connect to a host that
# does not answer after 1.5 s (libpq's connect_timeout cannot go below 2).
cl_conninfo() {
	local port=$1 extra='keepalives=1 keepalives_idle=2 keepalives_interval=1 keepalives_count=2 tcp_user_timeout=1500'
	echo "host=$(cl_ip db1),$(cl_ip db2) port=$port,$port dbname=attempts user=postgres target_session_attrs=read-write connect_timeout=2 $extra"
}

# The workers' settings: the shipped ones but the database's (above),
# breaker_timeout_ms (an open breaker probes at least every second, so a
# host finds the new primary as soon as it is there) and no cached attempt
# reads: a host's cache learns of another host's write by NOTIFY, which
# can arrive after a read sent at once through that host (measured: 3
# stale of 97 such reads), so reads go to the primary (docs/SCALING.md).
cl_worker_env() {
	CL_ENV=(PATH=/usr/bin:/bin HOME=/ LANG=C.UTF-8
		"ATTEMPTS_DB=$(cl_conninfo "$CL_BOUNCER_PORT")"
		"ATTEMPTS_DB_LISTEN=$(cl_conninfo "$CL_PG_PORT")"
		ATTEMPTS_DB_PREPARED_STATEMENTS=0
		ATTEMPTS_BREAKER_TIMEOUT_MS=1000
		ATTEMPTS_CACHE_TTL_ATTEMPT_STATE_MS=0
		ATTEMPTS_CACHE_TTL_ATTEMPT_INFO_MS=0
		ATTEMPTS_CACHE_TTL_BATCH_OPERATIONS_MS=0
		"ATTEMPTS_THREADS=$THREADS"
		"ATTEMPTS_UPLOAD_DIR=$CL_DIR/$1/uploads"
		"ATTEMPTS_JWT_SECRET=$(<"$CL_DIR/jwt_secret")")
}

# An app host: the same nginx configuration as `./dev up` (embedded.conf.in,
# listening on the host's address instead of loopback) and the workers
# under spawn-fcgi + multiwatch, with a /dev/shm of their own (the write
# stamps are per host).
cl_start_app() {
	local host=$1 d=$CL_DIR/$1 ip dd
	ip=$(cl_ip "$host")
	mkdir -p "$d/nginx" "$d/logs" "$d/uploads"
	for dd in client_body fastcgi proxy scgi uwsgi; do mkdir -p "$d/nginx/tmp/$dd"; done
	chown -R nobody "$d/nginx/tmp"
	cl_worker_env "$host"
	say "cluster: app host $host ($ip:$CL_APP_PORT, $CL_WORKERS workers x $THREADS threads)"
	cl_spawn "$host" workers root sh -c 'mount -t tmpfs -o mode=1777,size=64m shm /dev/shm && exec "$@"' sh \
		"$(need_tool spawn-fcgi spawn-fcgi)" -n -s "$d/fcgi.sock" -M 0666 -b 1024 -- \
		"$(need_tool multiwatch multiwatch)" -f "$CL_WORKERS" -s TERM -- "$FCGI_BIN"
	fill_template SOCKET "$d/fcgi.sock" UPLOAD_DIR "$d/uploads" <"$repo/nginx/attempts-upstream.conf.in" \
		>"$d/nginx/attempts-upstream.conf"
	cp "$repo/nginx/attempts_fastcgi_params" "$d/nginx/"
	: >"$d/nginx/attempts-cors-origins.map"
	fill_template USER_LINE "user nobody $(id -gn nobody 2>/dev/null || echo nogroup);" \
		NGINX_DIR "$d/nginx" LOG_DIR "$d/logs" PORT "$CL_APP_PORT" REPO "$repo" \
		LIVE_LOAD "# the live view is per host: off in the cluster" LIVE_CONF attempts-live-off.conf \
		<"$repo/nginx/embedded.conf.in" |
		sed -e "s/listen 127\.0\.0\.1:$CL_APP_PORT;/listen $ip:$CL_APP_PORT;/" -e 's/^daemon on;/daemon off;/' \
			>"$d/nginx/nginx.conf"
	cl_start_nginx "$host" "$d/nginx/nginx.conf" "$d/logs"
}

# cl_start_nginx HOST CONF LOGDIR: nginx (CONF says daemon off: its master is
# the spawned process) in HOST's namespace.
cl_start_nginx() {
	local out
	CL_ENV=(PATH=/usr/bin:/bin:/usr/sbin)
	out=$(cl_in "$1" "$(need_tool nginx nginx-light)" -t -q -p "${2%/*}/" -c "$2" -e "$3/nginx-error.log" 2>&1) ||
		die "nginx rejects $2: $out"
	cl_spawn "$1" nginx root "$(need_tool nginx nginx-light)" -p "${2%/*}/" -c "$2" \
		-e "$3/nginx-error.log"
}

cl_start_front() {
	local d=$CL_DIR/front servers='' host
	mkdir -p "$d/logs" "$d/tmp"
	chown nobody "$d/tmp"
	for host in $(cl_apps); do
		servers+="        server $(cl_ip "$host"):$CL_APP_PORT max_fails=1 fail_timeout=5s;"$'\n'
	done
	fill_template USER_LINE "user nobody $(id -gn nobody 2>/dev/null || echo nogroup);" \
		DIR "$d" PORT "$CL_FRONT_PORT" ADDR "$(cl_ip front)" SERVERS "$servers" \
		<"$repo/deploy/cluster/front-nginx.conf.in" >"$d/nginx.conf"
	say "cluster: front nginx on $(cl_ip front):80 and 127.0.0.1:$CL_FRONT_PORT (namespace $(cl_ns front))"
	cl_start_nginx front "$d/nginx.conf" "$d/logs"
}

cl_health() {
	cl_in "$1" curl -fsS -m 3 "http://$2/api/health"
}

# ------------------------------------------------------------------ commands

cl_running() { [[ -n $(cl_namespaces) ]]; }

cl_up() {
	local host pair
	((EUID == 0)) || die "cluster: network namespaces need root"
	check_range ATTEMPTS_CLUSTER_APPS "$CL_APPS" 2 9
	check_range ATTEMPTS_CLUSTER_WORKERS "$CL_WORKERS" 1 16
	! cl_running || die "cluster: already up ($(cl_namespaces | paste -sd ' ')): \`./dev cluster down\` first"
	[[ -x $FCGI_BIN ]] || die "worker binary $FCGI_BIN missing (build it: ./dev cluster up without --no-build)"
	need_tool pg_autoctl postgresql-15-auto-failover >/dev/null
	# The longest unix socket: PgBouncer's, in CL_DIR/dbN/pgbouncer/.
	((${#CL_DIR} + 36 < 108)) ||
		die "cluster: run directory path too long for unix sockets: $RUN_DIR (set ATTEMPTS_RUN_DIR)"
	rm -rf "$CL_DIR"
	mkdir -p "$CL_DIR/pids" "$CL_DIR/logs"
	chmod 755 "$RUN_DIR" "$CL_DIR"
	setpriv --reuid=postgres --regid=postgres --init-groups test -x "$CL_DIR" ||
		die "cluster: user postgres cannot reach $CL_DIR (a parent directory is not searchable): set ATTEMPTS_RUN_DIR to a directory under e.g. /tmp"
	(umask 077 && head -c 24 /dev/urandom | od -An -tx1 -v | tr -d ' \n' >"$CL_DIR/jwt_secret")
	cl_net_up
	cl_start_monitor
	cl_start_node db1
	cl_wait 90 "db1 registered as single" eval '[[ $(cl_node_states) == "db1 single single" ]]' ||
		die "db1 did not start (log: $CL_DIR/logs/db1-pg_autoctl.log)"
	cl_trust_lan db1
	cl_start_node db2
	cl_wait 120 "db1 primary and db2 secondary" cl_settle_pushed ||
		die "the pair did not settle: $(cl_node_states | paste -sd ';') (logs: $CL_DIR/logs/db*-pg_autoctl.log)"
	say "cluster: $(cl_node_states | paste -sd ';' | sed 's/;/; /g')"
	say "cluster: migrations on the primary"
	PSQL="$(pg_bindir)/psql" bash "$repo/sql/migrate.sh" "host=$CL_DIR/db1 port=$CL_PG_PORT dbname=attempts user=postgres" |
		sed 's/^/    /' || die "migrations failed"
	# PgBouncer's transaction mode shares server connections between
	# clients: what the pool sets per session is every session's default.
	# remote_apply: an acknowledged write is applied on the standby too,
	# so a session that lands on it (a demoted primary's PgBouncer) reads
	# nothing older than what was acknowledged.
	cl_psql db1 attempts >/dev/null <<SQL || die "database defaults failed"
ALTER DATABASE attempts SET search_path = pg_catalog, attempts;
ALTER DATABASE attempts SET "TimeZone" = 'UTC';
ALTER DATABASE attempts SET synchronous_commit = remote_apply;
SELECT set_config('request.jwt.claims', '{"sub":"$CL_ADMIN","role":"admin"}', false);
INSERT INTO attempts.exams(exam_id, title, time_limit_s, grace_s, max_attempts)
VALUES ('$CL_EXAM', 'Cluster probe exam', 10800, 60, 1000) ON CONFLICT DO NOTHING;
SQL
	for host in db1 db2; do
		cl_start_bouncer "$host"
		cl_start_follower "$host"
	done
	for host in $(cl_apps); do cl_start_app "$host"; done
	cl_start_front
	for host in $(cl_apps); do
		cl_wait 30 "$host healthy" cl_health front "$(cl_ip "$host"):$CL_APP_PORT" ||
			die "app host $host is not healthy (logs: $CL_DIR/logs/$host-*.log, $CL_DIR/$host/logs)"
	done
	cl_wait 20 "the front healthy" cl_health front "127.0.0.1:$CL_FRONT_PORT" ||
		die "the front nginx does not answer (log: $CL_DIR/front/logs/nginx-error.log)"
	pair=$(cl_psql "$(cl_primary)" postgres -c 'SHOW synchronous_standby_names')
	say "cluster: up; primary $(cl_primary), synchronous_standby_names = $pair"
	echo "  front:  ip netns exec $(cl_ns front) curl http://127.0.0.1:$CL_FRONT_PORT/api/health"
	echo "  status: ./dev cluster status    down: ./dev cluster down"
}

cl_down() {
	local host
	for host in front $(cl_apps); do
		cl_stop "$host" nginx QUIT 5 TERM 3
		cl_stop "$host" workers TERM 10
	done
	for host in db1 db2; do
		cl_stop "$host" follower TERM 3
		cl_stop "$host" pgbouncer INT 5 TERM 3
	done
	for host in db2 db1 mon; do cl_stop "$host" pg_autoctl TERM 20; done
	cl_net_down
	say "cluster: down (logs kept in $CL_DIR/logs)"
}

cl_status() {
	local ok=1 f name pid host
	if ! cl_running; then
		echo "cluster: down (no namespace $CL_PREFIX-*)"
		return 1
	fi
	echo "namespaces: $(cl_namespaces | paste -sd ' ')"
	for f in "$CL_DIR"/pids/*.pid; do
		[[ -f $f ]] || continue
		name=${f##*/}
		pid=$(read_pid "$f")
		if alive "$pid"; then
			printf '  %-18s running (pid %s)\n' "${name%.pid}" "$pid"
		else
			printf '  %-18s STOPPED (pid %s)\n' "${name%.pid}" "$pid"
			ok=0
		fi
	done
	echo "pg_auto_failover (node reported goal):"
	cl_node_states | sed 's/^/  /' || ok=0
	for host in $(cl_apps); do
		printf '  %-6s health: %s\n' "$host" "$(cl_health front "$(cl_ip "$host"):$CL_APP_PORT" 2>&1 || true)"
	done
	if f=$(cl_health front "127.0.0.1:$CL_FRONT_PORT" 2>&1); then
		echo "  front  health: $f"
	else
		echo "  front  health: FAILED $f"
		ok=0
	fi
	((ok))
}

cmd_cluster() {
	local sub=${1:-} do_install=1 do_build=1
	shift || true
	while (($#)); do
		case $1 in
		--no-install) do_install=0 ;;
		--no-build) do_build=0 ;;
		--build) do_build=1 ;;
		*) die "cluster: unknown option '$1' (usage: ./dev cluster up|status|down|test [--no-install] [--no-build])" ;;
		esac
		shift
	done
	case $sub in
	up | test)
		if ((do_install)); then ensure_packages cluster; fi
		if ((do_build)); then
			build
			make -s tests/bench/examday
		fi
		;;
	esac
	case $sub in
	up) cl_up ;;
	down) cl_down ;;
	status) cl_status ;;
	test) . "$repo/tests/cluster/cluster_test.sh" ;;
	*) die "usage: ./dev cluster up|status|down|test [--no-install] [--no-build]" ;;
	esac
}
