#!/usr/bin/env bash
# deploy/cluster/bouncer-follow.sh — keeps a database node's PgBouncer in
# step with its PostgreSQL's role (docs/SCALING.md); one per database node,
# run as the database's owner beside PgBouncer.
#
#   bouncer-follow.sh PG_HOST PG_PORT BOUNCER_HOST BOUNCER_PORT
#
# Why: PgBouncer (1.18) gives every new client the parameters its first
# server connection reported, in_hot_standby and
# default_transaction_read_only among them, and libpq's
# target_session_attrs=read-write trusts them without asking. After a
# promotion the new primary's PgBouncer would still say "read-only"
# (clients pass it over: no primary found), after a demotion the old one
# "writable". pg_auto_failover changes both: it promotes, and it keeps
# default_transaction_read_only on until the old primary's demotion
# timeout. So four times a second it asks PostgreSQL for both, and when the
# answer changes it sends PgBouncer RECONNECT (admin console): the cached
# parameters are dropped and the server connections are replaced once
# released. A line on stdout per change.
set -u
pg_host=$1 pg_port=$2 bouncer_host=$3 bouncer_port=$4
last=''
trap 'exit 0' TERM INT
while :; do
	role=$(psql -X -A -t -q -h "$pg_host" -p "$pg_port" -U postgres -d postgres \
		-c "SELECT 'in_recovery=' || pg_is_in_recovery() || ' default_transaction_read_only=' || current_setting('default_transaction_read_only')" \
		2>/dev/null) || role=''
	if [[ -n $role && $role != "$last" ]]; then
		if psql -X -q -h "$bouncer_host" -p "$bouncer_port" -U postgres -d pgbouncer \
			-c RECONNECT >/dev/null 2>&1; then
			echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $role: PgBouncer RECONNECT"
			last=$role
		fi
	fi
	sleep 0.25
done
