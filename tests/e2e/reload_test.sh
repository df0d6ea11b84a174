#!/usr/bin/env bash
# tests/e2e/reload_test.sh — `./dev restart` under load loses nothing: a
# stack of its own (./dev up in a temp dir), the open-loop exam-day
# generator (tests/bench/examday: 300 students saving, logging activity and
# reading their state over 32 keep-alive connections) running while the
# workers are replaced twice (./dev restart --no-build); then no request
# may have failed (no 502, no 503, no timeout) and every acknowledged save
# must be in the database (the generator checks it). Prints
# `reload: N passed, N failed`.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/../lib/stack.sh"
gen=${EXAMDAY_BIN:-$builddir/tests/bench/examday}
stack_need_built "$gen"
stack_need_tools

stack_prepare reload 18700 56700 0
stack_up
"$gen" -u "$url" -d "$conninfo" -c 32 -s 300 -w 3 -H 22 -D 0 \
	-r "$dir/report.md" >"$dir/gen.log" 2>&1 &
gen_pid=$!
old_workers=$(children_of "$(read_pid "$dir/fcgi.pid")" | paste -sd ' ')
for round in 1 2; do
	sleep 6
	if "$dev" restart --no-build >"$dir/restart$round.log" 2>&1; then
		ok "restart $round under load"
	else
		not_ok "restart $round under load" "$(tail -n 5 "$dir/restart$round.log" | paste -sd ';')"
	fi
done
new_workers=$(children_of "$(read_pid "$dir/fcgi.pid")" | paste -sd ' ')
if [[ -n $new_workers && -n $old_workers && $new_workers != "$old_workers" ]]; then
	ok "the workers were replaced ($old_workers -> $new_workers)"
else
	not_ok "the workers were replaced" "before: $old_workers, after: $new_workers"
fi
wait "$gen_pid"
rc=$?
if ((rc == 0)); then
	ok "every acknowledged save is in the database (the generator's check)"
else
	not_ok "every acknowledged save is in the database" "examday exit $rc; $(tail -n 5 "$dir/gen.log" | paste -sd ';')"
fi
# The report's step row: errors and answers other than 2xx, per kind.
errors=$(awk -F'|' '/^\| step 1 /,/^$/ { if ($11 ~ /[0-9]/) e += $11 } END { print e + 0 }' "$dir/report.md")
others=$(grep -c '^| step 1 .*| none |' "$dir/report.md")
if [[ $errors == 0 ]] && ((others == 1)); then
	ok "no request failed while the workers were replaced (no error, every answer 2xx)"
else
	not_ok "no request failed while the workers were replaced" "errors $errors; $(grep -A5 '^| step 1' "$dir/report.md" | paste -sd ';')"
fi
# how many requests met a kept-alive connection nginx closed (resent), for the log
grep '^Requests sent again' "$dir/report.md"
# what nginx answered 5xx, if anything, for the log
awk '$9 ~ /^5[0-9][0-9]$/' "$dir/logs/nginx-access.log" 2>/dev/null | head -n 3
summary reload
((n_fail == 0))
