# shellcheck shell=bash
# lib/sh/proc.sh — processes by pid, read from /proc (no procps needed):
# pid files, liveness, children, and stopping a process together with the
# children it had. It never finds or signals a process by name. Source it;
# it defines functions, sets no shell options of its own and works under
# `set -euo pipefail`.
#
#   read_pid FILE             prints the pid FILE holds, if any; always true
#   alive PID [NAME]          true if PID is a live, non-zombie process (and,
#                             with NAME, its command line contains NAME: a
#                             recycled pid does not count)
#   children_of PID           prints PID's live children, sorted, one a line
#   wait_gone SECS PID...     true once every PID is gone; false after SECS
#   wait_started SECS FILE    true once pid file FILE names a live process;
#                             false after SECS
#   kill_survivors PID...     KILLs each PID still alive (saying so on
#                             stderr), waits up to 5 s; true if all are gone
#   stop_tree PID SIG SECS [SIG SECS]...
#                             sends each SIG to PID in turn, waiting up to
#                             SECS after each for PID and the children it had
#                             to be gone, then kill_survivors; true if all
#                             are gone, also when PID was not running

# Prints the pid on the first line of FILE when it is one (digits only);
# prints nothing for a missing, unreadable or malformed file.
read_pid() {
	local pid=
	read -r pid 2>/dev/null <"${1:-}" || true
	if [[ $pid =~ ^[0-9]+$ ]]; then printf '%s\n' "$pid"; fi
	return 0
}

# True if PID is a live (not zombie) process whose command line contains
# NAME (when given).
alive() {
	local pid=${1:-} name=${2:-} stat
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	# (not $(<file): under set -e bash exits when that file is gone)
	read -r stat 2>/dev/null <"/proc/$pid/stat" || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]] || return 1
	[[ -z $name ]] || grep -qaF -- "$name" "/proc/$pid/cmdline" 2>/dev/null
}

# Prints the pids of PID's live children, sorted numerically, one a line.
children_of() {
	local want=${1:-} f stat ppid pid
	for f in /proc/[0-9]*/stat; do
		read -r stat 2>/dev/null <"$f" || continue
		stat=${stat##*) }
		read -r _ ppid _ <<<"$stat"
		[[ $ppid == "$want" ]] || continue
		pid=${f#/proc/}
		pid=${pid%/stat}
		if alive "$pid"; then printf '%s\n' "$pid"; fi
	done | sort -n
}

# Waits up to SECS for every pid given to be gone; true if they are.
wait_gone() {
	local secs=$1 p left i
	shift
	for ((i = 0; i <= secs * 10; i++)); do
		left=0
		for p in "$@"; do
			if alive "$p"; then left=1; fi
		done
		((left)) || return 0
		sleep 0.1
	done
	return 1
}

# Waits up to SECS for the pid file FILE to name a live process; true if
# it does.
wait_started() {
	local i
	for ((i = 0; i <= $1 * 10; i++)); do
		alive "$(read_pid "$2")" && return 0
		sleep 0.1
	done
	return 1
}

# Sends KILL to each pid given that is still alive, naming it on stderr;
# waits up to 5 s for them to be gone and is true if they are.
kill_survivors() {
	local p me=${0##*/}
	for p in "$@"; do
		if alive "$p"; then
			printf '%s: pid %s did not stop in time: KILL\n' "${me%.sh}" "$p" >&2
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	wait_gone 5 "$@"
}

# Stops PID and the children it has now: each SIG (without SIG prefix) goes
# to PID alone, which is expected to pass it on or to stop its children
# itself; after the last SECS, whatever is left of them is KILLed.
stop_tree() {
	local pid=$1 kids=()
	shift
	alive "$pid" || return 0
	mapfile -t kids < <(children_of "$pid")
	while (($# >= 2)); do
		kill "-$1" "$pid" 2>/dev/null || true
		wait_gone "$2" "$pid" "${kids[@]}" && return 0
		shift 2
	done
	kill_survivors "$pid" "${kids[@]}"
}
