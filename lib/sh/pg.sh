# shellcheck shell=bash
# lib/sh/pg.sh — start and stop a private PostgreSQL cluster that listens
# on a unix socket only: the throw-away ones of the tests and the one of
# `./dev up`. It owns the cluster's directory layout and start options, not
# the schema (sql/migrate.sh). Source it; it defines functions and sets no
# shell options of its own.
#
#   pg_cluster_start DIR [PORT]   initdb (once) + start + create db "attempts"
#   pg_cluster_stop DIR           fast shutdown, quiet when not running
#   pg_cluster_conninfo DIR [PORT]
#   pg_bindir                     directory holding initdb/postgres/psql
#
# As root the server runs as user postgres (initdb and postgres refuse root),
# so DIR must be reachable by postgres: every parent directory traversable.
# PG_FAST=1 turns off fsync, synchronous_commit and full_page_writes.

# Prints the directory that holds initdb; returns 1 if there is none.
pg_bindir() {
	local d
	if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
		echo /usr/lib/postgresql/15/bin
		return 0
	fi
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null)
		if [ -n "$d" ] && [ -x "$d/initdb" ]; then
			echo "$d"
			return 0
		fi
	fi
	d=$(command -v initdb 2>/dev/null) || return 1
	dirname "$d"
}

# Runs a command as the cluster's owner: postgres when we are root, else us.
# It runs from DIR ($1) so that postgres never tries to use our cwd.
pg__as_owner() {
	local dir=$1
	shift
	if [ "$(id -u)" -eq 0 ]; then
		(cd "$dir" && "$(pg__runuser)" -u postgres -- "$@")
	else
		(cd "$dir" && "$@")
	fi
}

# Prints the conninfo of the cluster in DIR.
pg_cluster_conninfo() {
	local dir=$1 port=${2:-5433}
	echo "host=$dir port=$port dbname=attempts user=postgres"
}

# Starts (initialising it first if needed) the cluster in DIR on PORT and
# makes sure database "attempts" exists. Returns 0 if it was already running.
pg_cluster_start() {
	local dir=$1 port=${2:-5433} bin opts i
	if [ -z "$dir" ]; then
		echo "pg_cluster_start: usage: pg_cluster_start DIR [PORT]" >&2
		return 2
	fi
	bin=$(pg_bindir) || {
		echo "pg_cluster_start: PostgreSQL server binaries (initdb) not found" >&2
		return 1
	}
	mkdir -p "$dir" || return 1
	dir=$(cd "$dir" && pwd) || return 1
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir" && chmod 755 "$dir" || return 1
		if ! "$(pg__runuser)" -u postgres -- test -w "$dir" -a -x "$dir"; then
			echo "pg_cluster_start: user postgres cannot reach $dir (a parent directory is not traversable?)" >&2
			return 1
		fi
	fi

	if [ -f "$dir/data/postmaster.pid" ] &&
		pg__as_owner "$dir" "$bin/pg_ctl" status -D "$dir/data" >/dev/null 2>&1; then
		return 0
	fi

	if [ ! -d "$dir/data" ]; then
		if ! pg__as_owner "$dir" "$bin/initdb" -D "$dir/data" -A trust -U postgres \
			--nosync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
			echo "pg_cluster_start: initdb failed:" >&2
			tail -n 20 "$dir/initdb.log" >&2
			return 1
		fi
	fi

	# pg_stat_statements lets tests count the statements a request costs
	# and lets the optimize "analyze" operation see per-statement costs.
	opts="-c listen_addresses='' -c unix_socket_directories='$dir' -c port=$port"
	opts="$opts -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
	if [ "${PG_FAST:-0}" = 1 ]; then
		opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	fi
	if [ "$(id -u)" -eq 0 ]; then
		touch "$dir/postgres.log" && chown postgres: "$dir/postgres.log" || return 1
	fi
	if ! pg__as_owner "$dir" "$bin/pg_ctl" start -W -D "$dir/data" \
		-l "$dir/postgres.log" -o "$opts" >/dev/null; then
		echo "pg_cluster_start: pg_ctl start failed:" >&2
		tail -n 20 "$dir/postgres.log" >&2
		return 1
	fi

	for ((i = 0; i < 300; i++)); do
		if "$bin/pg_isready" -q -h "$dir" -p "$port" -U postgres -d postgres; then
			break
		fi
		sleep 0.1
	done
	if ((i >= 300)); then
		echo "pg_cluster_start: server in $dir did not answer within 30 s; log tail:" >&2
		tail -n 20 "$dir/postgres.log" >&2
		return 1
	fi

	if [ -z "$("$bin/psql" -X -A -t -q -h "$dir" -p "$port" -U postgres -d postgres \
		-c "SELECT 1 FROM pg_database WHERE datname = 'attempts'")" ]; then
		"$bin/createdb" -h "$dir" -p "$port" -U postgres attempts || return 1
	fi
	"$bin/psql" -X -q -h "$dir" -p "$port" -U postgres -d attempts \
		-c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null 2>&1 || true
	return 0
}

# runuser lives in /usr/sbin, which root's PATH may lack.
pg__runuser() {
	command -v runuser 2>/dev/null || echo /usr/sbin/runuser
}

# Stops the cluster in DIR (fast shutdown). Not running is not an error.
pg_cluster_stop() {
	local dir=$1 bin
	[ -n "$dir" ] && [ -f "$dir/data/postmaster.pid" ] || return 0
	bin=$(pg_bindir) || return 0
	if pg__as_owner "$dir" "$bin/pg_ctl" status -D "$dir/data" >/dev/null 2>&1; then
		pg__as_owner "$dir" "$bin/pg_ctl" stop -D "$dir/data" -m fast -w >/dev/null
		return
	fi
	return 0
}
