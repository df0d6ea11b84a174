# shellcheck shell=bash
# lib/sh/port.sh — port numbers for private servers on 127.0.0.1: TCP ports
# nothing listens on, whose number names no PostgreSQL socket either (a
# cluster that listens on a unix socket only still takes its port's name).
# It does not reserve them: a caller that loses a race picks again. Source
# it; it defines functions and sets no shell options of its own.
#
#   port_free PORT            true if no TCP listener has PORT
#   free_port FROM [SKIP...]  prints the first free port from FROM upward
#                             (1000 tried, none above 65535), not one of the
#                             SKIP ports; false if there is none

# True if no TCP socket listens on port PORT (on any address, as ss sees
# it; without ss, if nothing accepts a connection on 127.0.0.1:PORT).
port_free() {
	if command -v ss >/dev/null 2>&1; then
		[[ -z $(ss -ltnH "sport = :$1" 2>/dev/null) ]]
	else
		! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# Prints the first port from FROM upward that port_free finds free, that
# names no PostgreSQL socket in /tmp or /var/run/postgresql and that is not
# one of the SKIP ports.
free_port() {
	local from=$1 p skip
	shift
	for ((p = from; p < from + 1000 && p <= 65535; p++)); do
		for skip in "$@"; do
			[[ $p == "$skip" ]] && continue 2
		done
		[[ -e /tmp/.s.PGSQL.$p || -e /var/run/postgresql/.s.PGSQL.$p ]] && continue
		if port_free "$p"; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}
