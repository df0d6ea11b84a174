#!/usr/bin/env bash
# tests/bench/live_watchers.sh — measures the proctors' live feed: WATCHERS
# Server-Sent-Event subscribers on nginx (nchan) while STUDENTS save, in a
# stack of its own (`./dev up` in a temp run directory, free ports,
# stopped and removed at the end). tests/bench/live_watchers.mjs does the
# work and reports: save latency without and with the watchers (the
# FastCGI threads stay free: a watcher is a connection to nginx, not a
# thread), the delivery latency of each change to each watcher (p50/p99,
# from the save's answer to the watcher reading the event), how many
# arrived, and the CPU of nginx, the workers and PostgreSQL per phase.
#
#   tests/bench/live_watchers.sh [--watchers N] [--students N]
#       [--save-every-ms MS] [--phase-s S] [--out FILE]
#
# Defaults: 1000 watchers, 300 students saving every 5 s, 20 s phases.
# Needs the build (cgi-bin/attempts.fcgi), node 18+, nginx with nchan
# (libnginx-mod-nchan). Not part of `make check`: a figure, not a verdict.
set -uo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/../lib/stack.sh"

watchers=1000 students=300 every=5000 phase=20 out=
while (($#)); do
	case $1 in
	--watchers) watchers=$2 ;;
	--students) students=$2 ;;
	--save-every-ms) every=$2 ;;
	--phase-s) phase=$2 ;;
	--out) out=$2 ;;
	*)
		echo "usage: $0 [--watchers N] [--students N] [--save-every-ms MS] [--phase-s S] [--out FILE]" >&2
		exit 2
		;;
	esac
	shift 2
done

stack_need_tools
command -v node >/dev/null 2>&1 || skip "node not installed"
[[ -f ${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so} ]] ||
	skip "nginx's nchan module is missing (apt-get install libnginx-mod-nchan)"

stack_prepare live 18800 56800 20 --copy-bin
stack_up
admin=$("$dev" token --role admin --sub 00000000-0000-4000-8000-00000000a001 --ttl 3600) || exit 99
proctor=$("$dev" token --role proctor --sub 00000000-0000-4000-8000-00000000b001 --ttl 3600) || exit 99
exam=$(stack_new_exam "$admin" '{"title": "Live feed benchmark", "time_limit_s": 7200}') || exit 99
for ((i = 0; i < students; i++)); do
	"$dev" token --role student --sub "$(cat /proc/sys/kernel/random/uuid)" --ttl 3600
done >"$dir/students.txt" || exit 99

echo "# live feed: $watchers watchers, $students students saving every $every ms, ${phase} s phases; stack $url ($dir)"
echo "# $(nproc) CPUs; $(nginx -v 2>&1 || /usr/sbin/nginx -v 2>&1); $(dpkg-query -W -f='libnginx-mod-nchan ${Version}' libnginx-mod-nchan 2>/dev/null)"
node "$here/live_watchers.mjs" --url "$url" --exam "$exam" --proctor "$proctor" \
	--students "$dir/students.txt" --watchers "$watchers" --save-every-ms "$every" --phase-s "$phase" \
	--nginx-pid "$(read_pid "$dir/nginx/nginx.pid")" --fcgi-pid "$(read_pid "$dir/fcgi.pid")" \
	--pg-pid "$(head -n 1 "$dir/pg/data/postmaster.pid")" --out "${out:-$dir/live-report.json}"
rc=$?
grep -c 'live feed: ' "$dir/logs/workers.log" | sed 's/^/# live feed log lines: /'
grep 'live feed: ' "$dir/logs/workers.log" | tail -n 5
exit "$rc"
