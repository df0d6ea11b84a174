#!/usr/bin/env bash
# tests/e2e/resilience_test.sh — resilience tests of the running stack
# (automake runs it from `make check`; run by hand it works from the build
# directory or the checkout).
#
# Starts its own embedded stack (`./dev up`: PostgreSQL, spawn-fcgi +
# multiwatch workers, nginx) in a temporary run directory on free ports and
# checks, over HTTP and psql, what docs/API.md §7 and §8 promise:
#   1. read-your-writes across 4 worker processes (LISTEN/NOTIFY
#      invalidation): no stale read after an acknowledged save;
#   5. the cache hit rate of a 90 % read / 10 % save mix (a figure);
#   2. PostgreSQL stopped for 5 s under load, with the shipped breaker
#      settings: workers survive, every request answers 503 (or a cached
#      200) within 1 s with a Retry-After of the next probe (1..2 s), the
#      first save succeeds within 2 s of PostgreSQL accepting connections
#      and every worker within 2 s, each breaker and listener transition
#      is logged once, nothing acknowledged is lost;
#   3. a worker killed with SIGKILL under load is replaced, nothing
#      acknowledged is lost;
#   4. pool exhaustion (1 worker x 8 threads, pool_max 2, a row lock held
#      from psql), with write coalescing off and on: the surplus saves
#      answer 503 + Retry-After after the acquire timeout (waiting for a
#      connection, or for the coalesced statement before theirs), the
#      blocked ones complete once the lock goes.
# Prints one `ok - ...` / `FAIL - ...` line per check, then
# `resilience: N passed, N failed`; writes the measured figures to
# tests/e2e/resilience-figures.txt under the build directory
# ($abs_top_builddir, else the current directory). Exit 0 all passed,
# 1 a check failed, 77 (skip) nginx/spawn-fcgi/multiwatch/PostgreSQL/curl
# missing, 99 the stack could not be started.
set -uo pipefail
export LC_ALL=C # $EPOCHREALTIME and awk with a decimal point

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/../lib/stack.sh"
stack_locate
stack_not_ok_word=FAIL # a failed check prints "FAIL - ..."
figures_file=${abs_top_builddir:-$PWD}/tests/e2e/resilience-figures.txt

stack_need_tools
stack_need_psql
# %header{} in --write-out needs curl 7.84.
curl -s -o /dev/null -w '%header{x}' file:///dev/null 2>/dev/null ||
	skip "curl too old (--write-out %header{} needs 7.84)"

stack_need_built "$fcgi_bin"

# ------------------------------------------------------------------ helpers

now() { printf '%s\n' "$EPOCHREALTIME"; }
# fcalc EXPR: prints EXPR evaluated by awk with 3 decimals.
fcalc() { awk "BEGIN { printf \"%.3f\", ($1) }"; }
# flt A B: true if A < B (floating point).
flt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }

# jnum KEY TEXT: the first integer value of "KEY" in the JSON TEXT.
jnum() {
	local re="\"$1\": *(-?[0-9]+)"
	[[ $2 =~ $re ]] && printf '%s\n' "${BASH_REMATCH[1]}"
}
jstr() {
	local re="\"$1\": *\"([^\"]*)\""
	[[ $2 =~ $re ]] && printf '%s\n' "${BASH_REMATCH[1]}"
}

# ok_if COND_STATUS DESCRIPTION [DETAIL]: ok when the status is 0.
ok_if() {
	if (($1 == 0)); then ok "$2"; else not_ok "$2" "${3:-}"; fi
}

figures=()
figure() {
	figures+=("$*")
	echo "# figure: $*"
}

# shellcheck disable=SC2317 # called from the EXIT trap
write_figures() {
	local d
	((${#figures[@]})) || return 0
	d=$(dirname "$figures_file")
	mkdir -p "$d" 2>/dev/null || return 0
	{
		echo "# tests/e2e/resilience_test.sh figures, $(date -u +%Y-%m-%dT%H:%M:%SZ), host $(uname -n), $(nproc 2>/dev/null || echo '?') CPUs"
		printf '%s\n' "${figures[@]}"
		echo "checks: $n_pass passed, $n_fail failed"
	} >"$figures_file.tmp" && mv -f "$figures_file.tmp" "$figures_file"
}

# ------------------------------------------------------------------ the stack

stack_prepare res 18600 56600 30 --copy-bin
mkdir -p "$dir/w"
bg_pids=()
started_at=$SECONDS

# The exit trap's first step: the background loops stop, the figures go
# to their file.
# shellcheck disable=SC2317 # the EXIT trap
stop_and_write_figures() {
	local p
	touch "$dir/w/stop" 2>/dev/null
	for p in "${bg_pids[@]}"; do
		alive "$p" && kill -TERM "$p" 2>/dev/null
	done
	for p in "${bg_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	write_figures
}
stack_exit_hook=stop_and_write_figures

recovery_limit_s=2 # API.md section 8: full service within 2 s of the database
workers=0
mw_pid=

# workers_up WORKERS THREADS [ATTEMPTS_X=value...]: (re)starts the stack
# with that worker environment, waits for the workers.
workers_up() {
	local w=$1 t=$2 i
	shift 2
	stack_up ATTEMPTS_WORKERS="$w" ATTEMPTS_THREADS="$t" "$@"
	workers=$w
	mw_pid=$(read_pid "$dir/fcgi.pid")
	for ((i = 0; i < 50; i++)); do
		[[ $(children_of "$mw_pid" | wc -l) -ge $w ]] && return 0
		sleep 0.1
	done
	echo "ERROR: multiwatch ($mw_pid) did not start $w workers"
	exit 99
}

stack_down() {
	"$dev" down >"$dir/dev-down.log" 2>&1 || {
		cat "$dir/dev-down.log"
		echo "ERROR: ./dev down failed"
		exit 99
	}
}

token() {
	local t
	if ! t=$("$dev" token --role "$1" --sub "$2" --ttl 3600 2>&1) ||
		[[ ! $t =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]]; then
		echo "ERROR: ./dev token --role $1 failed: $t" >&2
		return 1
	fi
	printf '%s\n' "$t"
}

psql_q() {
	"$PSQL" -X -A -t -q -v ON_ERROR_STOP=1 -d "$conninfo" -c "$1"
}

# api METHOD PATH TOKEN [BODY] [CURL ARGS...]: one request; sets R_CODE,
# R_TIME and R_BODY.
api() {
	local method=$1 path=$2 tok=$3 body=${4-} out last
	local args=(-s -m 5 -X "$method" -w '\n%{http_code} %{time_total}')
	shift 3
	(($#)) && shift
	[[ -n $tok ]] && args+=(-H "Authorization: Bearer $tok")
	[[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
	out=$(curl "${args[@]}" "$@" "$url$path")
	last=${out##*$'\n'}
	R_BODY=${out%$'\n'*}
	R_CODE=${last%% *}
	R_TIME=${last#* }
}

# The version of attempt $1 (token $2) as the database has it (no cache).
fresh_version() {
	local i
	for ((i = 0; i < 50; i++)); do
		api GET "/api/attempts/$1?action=state" "$2" '' -H 'Cache-Control: no-cache'
		if [[ $R_CODE == 200 ]]; then
			jnum version "$R_BODY"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# Prints "pid hits misses size opened_count rejected" for every worker,
# one line each, from action=stats&type=optimization: parallel bursts until
# $workers distinct pids answered (at most $1 bursts, default 10).
sample_stats() {
	local i f text pid line bursts=${1:-10}
	local -A seen=()
	mkdir -p "$dir/w/st"
	for ((i = 0; i < bursts; i++)); do
		rm -f "$dir/w/st/"*
		curl -s -m 5 --parallel --parallel-max 16 -H "Authorization: Bearer $admin_tok" \
			-o "$dir/w/st/s_#1" \
			"$url/api/attempts/$stats_id?action=stats&type=optimization&r=[1-40]" >/dev/null 2>&1
		for f in "$dir/w/st/"s_*; do
			[[ -f $f ]] || continue
			text=$(<"$f")
			pid=$(jnum pid "$text") || continue
			line="$pid $(jnum hits "$text") $(jnum misses "$text") $(jnum size "$text")"
			line+=" $(jnum opened_count "$text") $(jnum rejected "$text")"
			seen[$pid]=$line
		done
		((${#seen[@]} >= workers)) && break
	done
	for pid in "${!seen[@]}"; do
		echo "${seen[$pid]}"
	done | sort -n
}

# Missing acknowledged saves: prints each key of ACKFILE ("key value
# version" lines) that attempt $1 does not hold with that value. Returns 2
# if the query failed.
missing_acks() {
	local id=$1 f=$2 values out
	[[ -s $f ]] || return 0
	values=$(awk '{ printf "%s(\047%s\047, \047%s\047)", (NR > 1 ? ", " : ""), $1, $2 }' "$f")
	out=$(psql_q "SELECT v.k FROM (VALUES $values) AS v(k, val)
		WHERE NOT EXISTS (SELECT 1 FROM attempts.attempts a
		WHERE a.attempt_id = '$id' AND a.answers ->> v.k = v.val)") || return 2
	[[ -n $out ]] && printf '%s\n' "$out"
	return 0
}

# healthy_since T0 TRIES: waits (TRIES times 0.1 s at most) for /api/health
# to answer 200; prints the seconds from T0 to then, nothing if it did not.
healthy_since() {
	local i
	for ((i = 0; i < $2; i++)); do
		if [[ $(curl -s -o /dev/null -m 5 -w '%{http_code}' "$url/api/health") == 200 ]]; then
			fcalc "$(now) - $1"
			return 0
		fi
		sleep 0.1
	done
}

# count_lost PHASE C...: sets acked (the saves acknowledged to clients C of
# $dir/w/PHASE: the lines of their acks files), lost (how many of them the
# database lacks; -1 when a query failed) and lostkeys (their keys).
count_lost() {
	local phase=$1 c m rc
	shift
	lost=0 acked=0 lostkeys=""
	for c in "$@"; do
		[[ -f $dir/w/$phase/acks.$c ]] && acked=$((acked + $(wc -l <"$dir/w/$phase/acks.$c")))
		m=$(missing_acks "${att[c]}" "$dir/w/$phase/acks.$c")
		rc=$?
		if ((rc == 2)); then
			lost=-1
			lostkeys+=" query failed for attempt $c"
		elif [[ -n $m ]]; then
			((lost >= 0)) && lost=$((lost + $(wc -l <<<"$m")))
			lostkeys+=" $(paste -sd ' ' <<<"$m")"
		fi
	done
}

# save_loop TOKEN ID PREFIX LOG ACKS READS: saves (a distinct answer key
# each, with the expected_version last acknowledged) until $dir/w/stop
# exists, each followed by a state read when READS is 1. LOG gets one line
# a request: "save|read START_EPOCH STATUS TIME_TOTAL X-CACHE RETRY-AFTER
# ERROR_CODE KEY" ("-" for what is absent); ACKS gets "key value version"
# for every 2xx save.
save_loop() {
	local tok=$1 id=$2 prefix=$3 log=$4 acks=$5 reads=$6
	local n=0 exp ver key val t0 out last body code t ra xc cur ecode
	exp=$(fresh_version "$id" "$tok") || exp=1
	while [[ ! -e $dir/w/stop ]]; do
		n=$((n + 1))
		key=${prefix}_$n
		val=v${n}_$RANDOM
		t0=$EPOCHREALTIME
		out=$(curl -s -m 5 -X PATCH -H "Authorization: Bearer $tok" \
			-H 'Content-Type: application/json' \
			--data-binary "{\"answers\":{\"$key\":\"$val\"},\"expected_version\":$exp}" \
			-w '\n%{http_code} %{time_total} R%header{retry-after}' "$url/api/attempts/$id?action=save")
		last=${out##*$'\n'}
		body=${out%$'\n'*}
		read -r code t ra <<<"$last"
		ra=${ra#R}
		ecode=$(jstr code "$body") || ecode=-
		echo "save $t0 $code $t - ${ra:--} $ecode $key" >>"$log"
		case $code in
		2??)
			if ver=$(jnum version "$body"); then
				echo "$key $val $ver" >>"$acks"
				exp=$ver
			else
				echo "badbody $t0 $code $t - - - $body" >>"$log"
			fi
			;;
		409)
			cur=$(jnum current_version "$body") && exp=$cur
			;;
		esac
		if ((reads)); then
			t0=$EPOCHREALTIME
			out=$(curl -s -m 5 -o /dev/null -H "Authorization: Bearer $tok" \
				-w '%{http_code} %{time_total} X%header{x-cache} R%header{retry-after}' \
				"$url/api/attempts/$id?action=state")
			read -r code t xc ra <<<"$out"
			xc=${xc#X}
			ra=${ra#R}
			echo "read $t0 $code $t ${xc:--} ${ra:--} - -" >>"$log"
		fi
	done
}

# Prints "kind:status count" pairs of a loop log, for requests whose start
# lies in [FROM, TO).
status_counts() {
	awk -v from="$2" -v to="$3" '$2 >= from && $2 < to { n[$1 ":" $3 ($1 == "read" && $3 == 200 ? "/" $5 : "")]++ }
		END { for (k in n) printf "%s=%d ", k, n[k] }' "$1" | tr ' ' '\n' | sort | paste -sd ' '
}

# Stack A runs with the shipped settings (breaker, pool, retries): only
# the number of workers differs from ./dev up's default, for more
# cross-worker traffic.
workers_up 4 4
echo "# stack A: 4 workers x 4 threads, shipped settings"
figure "stack_a: workers=4 threads=4 shipped settings"

# ------------------------------------------------------------------ fixtures

uuid_of() { printf '00000000-0000-4000-8000-%012d' "$1"; }
proctor_tok=$(token proctor "$(uuid_of 900001)") || exit 99
admin_tok=$(token admin "$(uuid_of 900002)") || exit 99
api POST /api/exams "$proctor_tok" '{"title":"resilience","time_limit_s":3600}'
exam_id=$(jstr exam_id "$R_BODY")
if [[ $R_CODE != 201 || -z $exam_id ]]; then
	echo "ERROR: cannot create an exam: $R_CODE $R_BODY"
	exit 99
fi
# Students 1..26, one attempt each: 1..20 the mixed run (1 also the
# consistency cycles), 21..22 the outage, 23..25 the kill, 26 the pool.
n_students=26
stu_tok=()
att=()
for ((i = 1; i <= n_students; i++)); do
	stu_tok[i]=$(token student "$(uuid_of "$i")") || exit 99
	api POST /api/attempts/new?action=start "${stu_tok[i]}" "{\"exam_id\":\"$exam_id\"}"
	att[i]=$(jstr attempt_id "$R_BODY")
	if [[ $R_CODE != 201 || -z ${att[i]} ]]; then
		echo "ERROR: cannot start attempt $i: $R_CODE $R_BODY"
		exit 99
	fi
done
stats_id=${att[1]}
echo "# fixtures: exam $exam_id, $n_students attempts ($((SECONDS - started_at)) s)"

# =================================================== 1. cross-worker consistency
echo "# 1. cross-worker consistency: warm every worker, save, read 50 times, x5"
s1_tok=${stu_tok[1]}
s1_id=${att[1]}
mkdir -p "$dir/w/s1"

# read_batch N TAG: N parallel state reads of attempt 1 (up to 16 at
# once); prints "status x-cache etag time file" per read.
read_batch() {
	curl -s -m 5 --parallel --parallel-max 16 -H "Authorization: Bearer $s1_tok" \
		-o "$dir/w/s1/$2_#1" \
		-w '%{http_code} %header{x-cache} %header{etag} %{time_total} %{filename_effective}\n' \
		"$url/api/attempts/$s1_id?action=state&r=[1-$1]" 2>/dev/null
}

# Warm-up reaches several workers: their caches hold the entry, so the
# reads below cross workers. (Which workers nginx's kept-alive connections
# lead to is the kernel's choice: every worker process races for each new
# connection; at least two of them are asked for, all are tried for.)
s1_warm_ok=0
s1_warm_detail=
for ((try = 1; try <= 5; try++)); do
	read_batch 40 warm$try >/dev/null
	mapfile -t st < <(sample_stats)
	filled=0
	for line in "${st[@]}"; do
		read -r _ _ _ size _ _ <<<"$line"
		((size >= 1)) && filled=$((filled + 1))
	done
	s1_warm_detail="$filled of $workers workers hold a cached state after $try warm-up batch(es) of 40 reads (pid hits misses size: $(printf '%s; ' "${st[@]}"))"
	((filled >= 2)) && s1_warm_ok=1
	((filled == workers)) && break
done
ok_if $((!s1_warm_ok)) "1: warm-up reads reach at least 2 of the $workers workers' caches" "$s1_warm_detail"
echo "# $s1_warm_detail"

s1_stale=0
s1_errors=0
s1_reads=0
s1_miss=0
s1_hit=0
s1_detail=
version=$(fresh_version "$s1_id" "$s1_tok")
for ((cycle = 1; cycle <= 5; cycle++)); do
	read_batch 40 "pre$cycle" >/dev/null
	api PATCH "/api/attempts/$s1_id?action=save" "$s1_tok" \
		"{\"answers\":{\"c$cycle\":\"x$cycle\"},\"expected_version\":$version}"
	if [[ $R_CODE != 200 ]]; then
		not_ok "1: cycle $cycle save answers 200" "$R_CODE $R_BODY"
		version=$(fresh_version "$s1_id" "$s1_tok")
		continue
	fi
	version=$(jnum version "$R_BODY")
	stale=0 errs=0 hits=0 misses=0
	while read -r code xc etag t file; do
		s1_reads=$((s1_reads + 1))
		if [[ $code != 200 ]]; then
			errs=$((errs + 1))
			s1_detail+=" cycle $cycle: status $code;"
			continue
		fi
		[[ $xc == HIT ]] && hits=$((hits + 1))
		[[ $xc == MISS ]] && misses=$((misses + 1))
		bodyv=$(jnum version "$(<"$file")")
		if [[ $etag != "\"$version\"" || $bodyv != "$version" ]]; then
			stale=$((stale + 1))
			s1_detail+=" cycle $cycle: saw ETag $etag body version $bodyv ($xc) after save acked $version;"
		fi
	done < <(read_batch 50 "post$cycle")
	echo "# cycle $cycle: save acked version $version; 50 reads: $hits HIT, $misses MISS, $stale stale, $errs errors"
	s1_stale=$((s1_stale + stale))
	s1_errors=$((s1_errors + errs))
	s1_hit=$((s1_hit + hits))
	s1_miss=$((s1_miss + misses))
done
ok_if $((s1_stale + s1_errors > 0)) "1: 5 save/read cycles, every one of $s1_reads reads after the save shows the new version" "$s1_stale stale, $s1_errors errors:$s1_detail"
figure "consistency_cycles: cycles=5 reads=$s1_reads stale=$s1_stale errors=$s1_errors hit=$s1_hit miss=$s1_miss"

# Phase B: readers hammer the attempt (no pause) while saves land every
# 150 ms; a read that started after a save was acknowledged must not show
# an older version. Start times are taken before curl is spawned and ack
# times after it returned, so a flagged read is certainly stale.
echo "# 1b. continuous readers during saves"
rm -f "$dir/w/stop"
reader() {
	local t0 out
	while [[ ! -e $dir/w/stop ]]; do
		t0=$EPOCHREALTIME
		out=$(curl -s -m 5 -o /dev/null -H "Authorization: Bearer $s1_tok" \
			-w '%{http_code} %header{etag} %header{x-cache}' \
			"$url/api/attempts/$s1_id?action=state")
		echo "$t0 $out" >>"$1"
	done
}
for ((r = 1; r <= 8; r++)); do
	reader "$dir/w/s1/readers.$r" &
	bg_pids+=($!)
done
sleep 0.3
: >"$dir/w/s1/acks"
for ((k = 1; k <= 15; k++)); do
	api PATCH "/api/attempts/$s1_id?action=save" "$s1_tok" \
		"{\"answers\":{\"b$k\":\"y$k\"},\"expected_version\":$version}"
	t_ack=$(now)
	if [[ $R_CODE == 200 ]]; then
		version=$(jnum version "$R_BODY")
		echo "$t_ack $version" >>"$dir/w/s1/acks"
	else
		version=$(fresh_version "$s1_id" "$s1_tok")
	fi
	sleep 0.15
done
sleep 0.3
touch "$dir/w/stop"
for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null; done
bg_pids=()
# awk: acks first ("t version"), then reads ("t0 status etag xcache").
s1b=$(cat "$dir/w/s1/readers."* | sort -n | awk '
	NR == FNR { at[NR] = $1; av[NR] = $2; na = NR; next }
	{
		reads++
		if ($2 != 200) { errs++; next }
		v = $3; gsub(/"/, "", v)
		want = 0; lag = 0
		for (i = 1; i <= na; i++) if (at[i] < $1) { want = av[i]; lag = $1 - at[i] }
		if (v + 0 < want) { stale++; if (lag > maxlag) maxlag = lag }
	}
	END { printf "%d %d %d %.3f\n", reads, stale + 0, errs + 0, maxlag }' "$dir/w/s1/acks" -)
read -r b_reads b_stale b_errs b_lag <<<"$s1b"
b_saves=$(wc -l <"$dir/w/s1/acks")
ok_if $((b_stale + b_errs > 0 || b_saves < 10)) "1b: $b_reads reads by 8 concurrent readers during $b_saves saves: none started after an ack shows an older version" "$b_stale stale (largest time since the ack $b_lag s), $b_errs errors"
figure "consistency_concurrent: readers=8 reads=$b_reads saves=$b_saves stale=$b_stale errors=$b_errs max_stale_lag_s=$b_lag"

# =================================================== 5. mixed run, cache hit rate
echo "# 5. mixed run: 90% reads / 10% saves, 2000 requests on 20 attempts"
mapfile -t before < <(sample_stats)
declare -A b_hits=() b_miss=()
for line in "${before[@]}"; do
	read -r pid h m _ <<<"$line"
	b_hits[$pid]=$h
	b_miss[$pid]=$m
done
# 10 clients, each one curl process over 200 requests on its own 2
# attempts (saves without expected_version: last writer wins).
mkdir -p "$dir/w/s5"
t5=$(now)
for ((c = 0; c < 10; c++)); do
	args=()
	for ((q = 0; q < 200; q++)); do
		i=$((c * 2 + 1 + RANDOM % 2))
		((q > 0)) && args+=(--next)
		args+=(-s -m 5 -o /dev/null -H "Authorization: Bearer ${stu_tok[i]}")
		if ((RANDOM % 10 == 0)); then
			args+=(-w 'save %{http_code} %{time_total} -\n' -X PATCH -H 'Content-Type: application/json'
				--data-binary "{\"answers\":{\"m$q\":$RANDOM}}" "$url/api/attempts/${att[i]}?action=save")
		else
			args+=(-w 'read %{http_code} %{time_total} %header{x-cache}\n'
				"$url/api/attempts/${att[i]}?action=state")
		fi
	done
	curl "${args[@]}" >"$dir/w/s5/client.$c" 2>/dev/null &
	bg_pids+=($!)
done
for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null; done
bg_pids=()
t5_end=$(now)
mapfile -t after < <(sample_stats)
read -r m_total m_reads m_saves m_bad m_chit <<<"$(cat "$dir/w/s5/client."* | awk '
	{ n++; if ($1 == "read") r++; else s++; if ($2 !~ /^2/) bad++; if ($4 == "HIT") h++ }
	END { printf "%d %d %d %d %d\n", n, r, s, bad, h }')"
m_p=$(cat "$dir/w/s5/client."* | awk '{ print $1, $3 }' | sort -k1,1 -k2,2n | awk '
	{ t[$1, ++n[$1]] = $2 }
	END { for (k in n) printf "%s_p50_ms=%.1f %s_p95_ms=%.1f ", k, 1000 * t[k, int(n[k] * 0.5 + 0.5)], k, 1000 * t[k, int(n[k] * 0.95 + 0.5)] }')
hits=0 misses=0 per=
for line in "${after[@]}"; do
	read -r pid h m _ <<<"$line"
	if [[ -n ${b_hits[$pid]:-} ]]; then
		dh=$((h - b_hits[$pid]))
		dm=$((m - b_miss[$pid]))
	else
		dh=$h dm=$m
	fi
	hits=$((hits + dh))
	misses=$((misses + dm))
	per+="pid $pid: $dh/$((dh + dm)); "
done
rate=$(fcalc "($hits + $misses) > 0 ? $hits / ($hits + $misses) : 0")
crate=$(fcalc "$m_reads > 0 ? $m_chit / $m_reads : 0")
echo "# mixed run: $m_total requests ($m_reads reads, $m_saves saves) in $(fcalc "$t5_end - $t5") s; $m_p"
echo "# cache (stats of ${#after[@]} workers, this run only): $hits hits / $((hits + misses)) lookups = $rate; per worker: $per"
echo "# client-side X-Cache: $m_chit HIT of $m_reads reads = $crate"
ok_if $((m_bad > 0 || m_total < 2000)) "5: mixed run of $m_total requests answered 2xx" "$m_bad not 2xx"
figure "mixed_run: requests=$m_total reads=$m_reads saves=$m_saves non_2xx=$m_bad seconds=$(fcalc "$t5_end - $t5") $m_p"
figure "cache_hit_rate: $rate (hits=$hits lookups=$((hits + misses)) from stats&type=optimization summed over ${#after[@]} workers; per worker hits/lookups: $per client X-Cache HIT rate $crate)"

# =================================================== 2. fault injection
# RESILIENCE_OUTAGE_S lengthens the outage for a run by hand (recovery
# does not depend on it: a server that does not answer is pinged often).
outage_s=${RESILIENCE_OUTAGE_S:-5}
echo "# 2. PostgreSQL stopped for $outage_s s under load"
rm -f "$dir/w/stop"
mkdir -p "$dir/w/s2"
pids_before=$(children_of "$mw_pid" | paste -sd ' ')
log_mark=$(stat -c %s "$dir/logs/workers.log" 2>/dev/null || echo 0)
for c in 21 22; do
	save_loop "${stu_tok[c]}" "${att[c]}" "o$c" "$dir/w/s2/log.$c" "$dir/w/s2/acks.$c" 1 &
	bg_pids+=($!)
done
sleep 1.5
t_stop0=$(now)
pg_cluster_stop "$dir/pg" || not_ok "2: pg_ctl stop -m fast"
t_down=$(now)
# Down for $outage_s s: meanwhile /api/ready and /api/health (about every
# 0.5 s) and, half-way, every worker's breaker.
: >"$dir/w/s2/health"
mid_stats=
while flt "$(now)" "$(fcalc "$t_down + $outage_s")"; do
	for probe in ready health; do
		out=$(curl -s -m 5 -w '\n%{http_code} %{time_total}' "$url/api/$probe")
		echo "${out##*$'\n'} $(jstr status "${out%$'\n'*}") $probe" >>"$dir/w/s2/health"
	done
	if [[ -z $mid_stats ]] && flt "$(fcalc "$t_down + $outage_s / 2")" "$(now)"; then
		mid_stats=$(sample_stats 2 | awk '{ printf "%s%s:opened_count=%s,rejected=%s", (NR > 1 ? " " : ""), $1, $5, $6 }')
	fi
	left=$(fcalc "$t_down + $outage_s - $(now)")
	flt "$left" 0.5 || left=0.5
	flt 0 "$left" && sleep "$left"
done
t_start0=$(now)
pg_cluster_start "$dir/pg" "$pgport" >"$dir/w/s2/pgstart.log" 2>&1 || {
	cat "$dir/w/s2/pgstart.log"
	not_ok "2: PostgreSQL starts again"
}
t_up=$(now)
# Until the first 2xx save after the restart (at most 15 s), then on until
# every worker's breaker has had its chance to close (the recovery limit
# + 2 s after PostgreSQL was back), at least 1.5 s more.
for ((i = 0; i < 150; i++)); do
	cat "$dir/w/s2/log."* 2>/dev/null | awk -v s="$t_start0" '$1 == "save" && $2 >= s && $3 ~ /^2/ { f = 1 } END { exit !f }' && break
	sleep 0.1
done
left=$(fcalc "$t_up + $recovery_limit_s + 2 - $(now)")
flt 1.5 "$left" || left=1.5
sleep "$left"
touch "$dir/w/stop"
for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null; done
bg_pids=()
pids_after=$(children_of "$mw_pid" | paste -sd ' ')
s2log=$dir/w/s2/all
cat "$dir/w/s2/log."* | sort -k2,2n >"$s2log"

ok_if "$([[ $pids_before == "$pids_after" && -n $pids_before ]] && echo 0 || echo 1)" \
	"2: worker pids unchanged across the outage ($pids_before)" "before: $pids_before; after: $pids_after"

# During the outage: each request 503, or 200 from the cache for reads,
# within 1 s.
read -r out_n out_bad out_slow out_max <<<"$(awk -v a="$t_down" -v b="$t_start0" '
	$2 >= a && $2 < b {
		n++
		good = ($3 == 503) || ($1 == "read" && $3 == 200 && $5 == "HIT")
		if (!good) bad++
		if ($4 + 0 >= 1.0) slow++
		if ($4 + 0 > max) max = $4 + 0
	}
	END { printf "%d %d %d %.3f\n", n, bad, slow, max }' "$s2log")"
out_counts=$(status_counts "$s2log" "$t_down" "$t_start0")
ok_if $((out_n == 0 || out_bad > 0)) "2: all $out_n requests issued while PostgreSQL was down answered 503 (or a cached 200)" \
	"$out_bad others: $(awk -v a="$t_down" -v b="$t_start0" '$2 >= a && $2 < b && !($3 == 503 || ($1 == "read" && $3 == 200 && $5 == "HIT"))' "$s2log" | head -n 5 | paste -sd ';')"
ok_if $((out_n == 0 || out_slow > 0)) "2: each of them answered within 1 s (slowest $out_max s)" \
	"$out_slow took >= 1 s: $(awk -v a="$t_down" -v b="$t_start0" '$2 >= a && $2 < b && $4 >= 1.0' "$s2log" | head -n 5 | paste -sd ';')"
bad_ra=$(awk '$3 == 503 && ($6 == "-" || ($1 == "save" && $7 != "service_unavailable"))' "$s2log")
ok_if "$([[ -z $bad_ra ]] && echo 0 || echo 1)" \
	"2: every 503 ($(awk '$3 == 503' "$s2log" | wc -l)) carries Retry-After (and, for saves, code service_unavailable)" \
	"$(head -n 5 <<<"$bad_ra" | paste -sd ';')"
# Retry-After of a 503 says when the next probe is due: the probes are at
# most a fifth of the time open apart (about 1 s in a 5 s outage).
ra_range=$(awk '$3 == 503 && $6 != "-" { if (min == "" || $6 < min) min = $6; if ($6 > max) max = $6 } END { printf "%s..%s", min, max }' "$s2log")
# (From how long PostgreSQL was really unreachable: stopping, down, starting.)
ra_max=$(awk -v s="$(fcalc "$t_up - $t_stop0")" 'BEGIN { printf "%d", int(s / 5 + 0.2) + 1 }')
bad_ra=$(awk -v m="$ra_max" '$3 == 503 && ($6 + 0 < 1 || $6 + 0 > m)' "$s2log")
ok_if "$([[ -z $bad_ra ]] && echo 0 || echo 1)" \
	"2: every 503's Retry-After is the wait for the next probe, 1..$ra_max s (seen $ra_range)" \
	"$(head -n 5 <<<"$bad_ra" | paste -sd ';')"
read -r h_n h_bad <<<"$(awk '$4 == "ready" { n++; if (!($1 == 503 && $2 + 0 < 1.0 && $3 == "not_ready")) bad++ } END { printf "%d %d\n", n, bad }' "$dir/w/s2/health")"
ok_if $((h_n == 0 || h_bad > 0)) "2: /api/ready answered 503 not_ready within 1 s during the outage ($h_n probes)" \
	"$(paste -sd ';' "$dir/w/s2/health")"
# Liveness is the process's own view (its breaker), no database call: fast,
# 200 ok or 503 degraded, and degraded once the breakers have opened.
read -r h_n h_bad h_deg <<<"$(awk '$4 == "health" { n++; if ($3 == "degraded") d++; if (!($2 + 0 < 1.0 && (($1 == 200 && $3 == "ok") || ($1 == 503 && $3 == "degraded")))) bad++ } END { printf "%d %d %d\n", n, bad, d }' "$dir/w/s2/health")"
ok_if $((h_n == 0 || h_bad > 0 || h_deg == 0)) "2: /api/health answered within 1 s, 200 ok or 503 degraded, degraded $h_deg of $h_n times during the outage" \
	"$(paste -sd ';' "$dir/w/s2/health")"
hung=$(awk '$3 == "000" || $4 + 0 >= 4.9' "$s2log" | wc -l)
ok_if $((hung > 0)) "2: no request hung (none timed out at 5 s) during the whole run ($(wc -l <"$s2log") requests)" \
	"$(awk '$3 == "000" || $4 + 0 >= 4.9' "$s2log" | head -n 5 | paste -sd ';')"

# Recovery: first 2xx save that started after the restart began, measured
# from the moment PostgreSQL answered again.
first_ok=$(awk -v s="$t_start0" '$1 == "save" && $2 >= s && $3 ~ /^2/ { printf "%.6f\n", $2 + $4; exit }' "$s2log")
if [[ -n $first_ok ]]; then
	recovery=$(fcalc "$first_ok - $t_up")
	ok_if "$(flt "$recovery" "$recovery_limit_s" && echo 0 || echo 1)" \
		"2: first 2xx save $recovery s after PostgreSQL was back (limit $recovery_limit_s s)" \
		"too slow"
else
	recovery=none
	not_ok "2: a save succeeds after PostgreSQL is back" "no 2xx save in 15 s: $(tail -n 5 "$s2log" | paste -sd ';')"
fi
# Every worker back: nothing started later than the limit answers 503.
late=$(awk -v s="$(fcalc "$t_up + $recovery_limit_s")" '$2 >= s && $3 !~ /^(2..|409)$/' "$s2log")
ok_if "$([[ -z $late ]] && echo 0 || echo 1)" \
	"2: every request started later than $recovery_limit_s s after PostgreSQL was back succeeds ($(awk -v s="$(fcalc "$t_up + $recovery_limit_s")" '$2 >= s' "$s2log" | wc -l) requests)" \
	"$(head -n 5 <<<"$late" | paste -sd ';')"
full_recovery=$(awk -v u="$t_up" '$2 + $4 >= u && $3 !~ /^(2..|409)$/ { e = $2 + $4 - u } END { printf "%.3f\n", e }' "$s2log")
first_503=$(awk -v s="$t_stop0" '$2 >= s && $3 == 503 { printf "%.3f\n", $2 + $4 - s; exit }' "$s2log")
during_stop=$(status_counts "$s2log" "$t_stop0" "$t_down")
during_start=$(status_counts "$s2log" "$t_start0" "$t_up")
after_up=$(status_counts "$s2log" "$t_up" 1e12)
mapfile -t st < <(sample_stats)
opened=0
for line in "${st[@]}"; do
	read -r _ _ _ _ o _ <<<"$line"
	opened=$((opened + o))
done
echo "# stop took $(fcalc "$t_down - $t_stop0") s; down for $(fcalc "$t_start0 - $t_down") s; start took $(fcalc "$t_up - $t_start0") s; first 503 $first_503 s after the stop began"
echo "# requests while stopping: $during_stop"
echo "# requests while down ($out_n): $out_counts (slowest $out_max s)"
echo "# requests while starting: $during_start"
echo "# requests after it was back: $after_up"
ok_if $((opened == 0)) "2: the circuit breaker opened during the outage (opened_count summed over workers: $opened)" "never opened"
echo "# breakers half-way through the outage: $mid_stats"
echo "# recovery: first 2xx save $recovery s after PostgreSQL was back, last failure ended $full_recovery s after; breakers opened $opened times in total"
figure "outage: down_s=$(fcalc "$t_start0 - $t_down") stop_s=$(fcalc "$t_down - $t_stop0") start_s=$(fcalc "$t_up - $t_start0") first_503_after_stop_s=$first_503"
figure "outage_breakers_midway: $mid_stats"
figure "outage_health_probes: $(awk '{ printf "%s%s/%ss", (NR > 1 ? " " : ""), $1, $2 }' "$dir/w/s2/health")"
figure "outage_requests_while_down: total=$out_n $out_counts slowest_s=$out_max"
figure "outage_requests_while_stopping: $during_stop"
figure "outage_requests_while_starting: $during_start"
figure "outage_requests_after_back: $after_up"
figure "recovery_s: $recovery (first 2xx save after PostgreSQL answered again; shipped breaker settings; breaker opened_count summed over workers=$opened)"
figure "full_recovery_s: $full_recovery (end of the last failed request after PostgreSQL answered again)"

# Each worker logged each transition of this outage once: its breaker
# closed -> open, one probe let through and closed again, its listener
# lost and back. (The log lines carry the worker's pid.)
tail -c +"$((log_mark + 1))" "$dir/logs/workers.log" >"$dir/w/s2/workers.log" 2>/dev/null
bad_log=""
for pid in $pids_before; do
	counts=()
	for what in "breaker: closed -> open" "breaker: half_open -> closed" "listener: connection lost" "listener: connected again"; do
		counts+=("$(grep -F "[$pid]" "$dir/w/s2/workers.log" | grep -cF "$what")")
	done
	# A worker whose requests did not fail 5 times in a row never opened.
	if ((counts[0] > 1 || counts[1] != counts[0] || counts[2] != 1 || counts[3] != 1)); then
		bad_log+=" worker $pid: opened ${counts[0]}, closed ${counts[1]}, listener lost ${counts[2]}, back ${counts[3]};"
	fi
done
ok_if "$([[ -z $bad_log ]] && echo 0 || echo 1)" \
	"2: each worker logged its breaker's opening and closing and its listener's loss and return once each" \
	"$bad_log $(grep -E 'breaker|listener' "$dir/w/s2/workers.log" | head -n 12 | paste -sd ';')"
figure "outage_log: $(grep -oE 'breaker: [a-z_]+ -> [a-z_]+|listener: (connection lost|connected again)' "$dir/w/s2/workers.log" | sort | uniq -c | awk '{ n = $1; $1 = ""; printf "%s%s x%d", (NR > 1 ? ";" : ""), $0, n }')"

h_ok=$(healthy_since "$t_up" 50)
ok_if "$([[ -n $h_ok ]] && echo 0 || echo 1)" "2: /api/health answers 200 after recovery" "not 200 within 5 s"
count_lost s2 21 22
ok_if $((lost != 0 || acked == 0)) "2: all $acked acknowledged saves are in the database" "lost: $lost:$lostkeys"
# The caches were emptied when the listeners lost PostgreSQL: the state
# read through any worker shows the stored version (at least the last one
# acknowledged).
stale2=""
for c in 21 22; do
	acked_v=$(tail -n 1 "$dir/w/s2/acks.$c" | awk '{ print $3 }')
	want=$(psql_q "SELECT version FROM attempts.attempts WHERE attempt_id = '${att[c]}'")
	got=$(curl -s -m 5 --parallel --parallel-max 8 -H "Authorization: Bearer ${stu_tok[c]}" -o /dev/null \
		-w '%header{etag}\n' "$url/api/attempts/${att[c]}?action=state&r=[1-16]" 2>/dev/null | tr -d '"' | sort -u | paste -sd ' ')
	if [[ $got != "$want" || -z $want ]] || ((want < ${acked_v:-0})); then
		stale2+=" attempt $c: stored version ${want:-?}, last acknowledged ${acked_v:-none}, reads show ${got:-nothing};"
	fi
done
ok_if "$([[ -z $stale2 ]] && echo 0 || echo 1)" "2: after recovery, 16 parallel reads (spread over the workers) show the stored version" "$stale2"
figure "outage_acked_saves: $acked lost=$lost"

# =================================================== 3. kill -9 a worker under load
echo "# 3. kill -9 a worker under load"
rm -f "$dir/w/stop"
mkdir -p "$dir/w/s3"
for c in 23 24 25; do
	save_loop "${stu_tok[c]}" "${att[c]}" "k$c" "$dir/w/s3/log.$c" "$dir/w/s3/acks.$c" 0 &
	bg_pids+=($!)
done
sleep 1
mapfile -t kids < <(children_of "$mw_pid")
# The victim: the worker holding the most connections from nginx (so it
# serves the load), else the first.
victim=
if command -v ss >/dev/null 2>&1; then
	victim=$(ss -xpH state established src "$dir/fcgi.sock" 2>/dev/null |
		grep -o 'pid=[0-9]*' | sort | uniq -c | sort -rn | awk 'NR == 1 { sub("pid=", "", $2); print $2 }')
fi
[[ " ${kids[*]} " == *" $victim "* ]] || victim=${kids[0]}
t_kill=$(now)
kill -KILL "$victim"
replaced="" t_replaced=""
for ((i = 0; i < 100; i++)); do
	mapfile -t nowk < <(children_of "$mw_pid")
	if ((${#nowk[@]} == workers)) && [[ " ${nowk[*]} " != *" $victim "* ]]; then
		replaced=$(comm -13 <(printf '%s\n' "${kids[@]}" | sort) <(printf '%s\n' "${nowk[@]}" | sort) | paste -sd ' ')
		t_replaced=$(now)
		break
	fi
	sleep 0.1
done
if [[ -n $t_replaced ]]; then
	ok "3: killed worker $victim replaced by $replaced after $(fcalc "$t_replaced - $t_kill") s"
else
	not_ok "3: killed worker $victim replaced within 10 s" "children now: ${nowk[*]:-none}"
	t_replaced=$(now)
fi
healthy=$(healthy_since "$t_kill" 100)
ok_if "$([[ -n $healthy ]] && echo 0 || echo 1)" "3: /api/health answers 200 again (${healthy:-never} s after the kill)" "not within 10 s"
sleep 1.5
touch "$dir/w/stop"
for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null; done
bg_pids=()
s3log=$dir/w/s3/all
cat "$dir/w/s3/log."* | sort -k2,2n >"$s3log"
k_counts=$(status_counts "$s3log" 0 1e12)
k_after=$(awk -v s="$t_replaced" '$2 >= s && $3 ~ /^2/' "$s3log" | wc -l)
ok_if $((k_after == 0)) "3: saves succeed after the replacement ($k_after 2xx)" "$(tail -n 3 "$s3log" | paste -sd ';')"
count_lost s3 23 24 25
ok_if $((lost != 0 || acked == 0)) "3: all $acked acknowledged saves are in the database" "lost: $lost:$lostkeys"
echo "# kill: statuses $k_counts"
figure "kill9: victim=$victim replaced_by=${replaced:-none} replaced_after_s=$(fcalc "$t_replaced - $t_kill") health_200_after_s=${healthy:-never} statuses: $k_counts acked=$acked lost=$lost"

# =================================================== 4. pool exhaustion
# pool_scenario NAME EXPECT503 EXPECTDONE COUNTER [VAR=value...]: 1 worker x
# 8 threads, pool_max 2, acquire timeout 500 ms, a row lock held 4 s from
# psql, 6 concurrent saves of the locked attempt. EXPECT503 of them answer
# 503 + Retry-After after the 500 ms, the other EXPECTDONE complete once
# the lock goes; the worker's optimization stats count at least EXPECT503
# timeouts at COUNTER (a jq-like key path read by jnum); its breaker stays
# closed (waiting is not a database failure).
pool_scenario() {
	local name=$1 want503=$2 wantdone=$3 counter=$4
	shift 4
	echo "# 4 ($name). 1 worker x 8 threads, pool_max 2, acquire timeout 500 ms${*:+, $*}"
	stack_down
	stack_b_env=(ATTEMPTS_POOL_MAX=2 ATTEMPTS_POOL_ACQUIRE_TIMEOUT_MS=500 "$@")
	workers_up 1 8 "${stack_b_env[@]}"
	figure "stack_b ($name): workers=1 threads=8 ${stack_b_env[*]}"
	p_tok=${stu_tok[26]}
	p_id=${att[26]}
	p_ver=$(fresh_version "$p_id" "$p_tok")
	rm -rf "$dir/w/s4"
	mkdir -p "$dir/w/s4"
	# The lock holder: a transaction holding the attempt's row for 4 s.
	printf '%s\n' "BEGIN;" "SELECT 1 FROM attempts.attempts WHERE attempt_id = '$p_id' FOR UPDATE;" \
		"SELECT pg_sleep(4);" "COMMIT;" |
		PGAPPNAME=resilience-lock "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$conninfo" >"$dir/w/s4/lock.log" 2>&1 &
	lock_pid=$!
	bg_pids+=("$lock_pid")
	locked=
	for ((i = 0; i < 50; i++)); do
		if [[ $(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'resilience-lock'
			AND state = 'active' AND query LIKE '%pg_sleep%'") == 1 ]]; then
			locked=$(now)
			break
		fi
		sleep 0.05
	done
	if [[ -z $locked ]]; then
		not_ok "4 ($name): psql holds the row lock" "$(cat "$dir/w/s4/lock.log")"
		locked=$(now)
	fi
	t_fire=$(now)
	save_pids=()
	for ((j = 1; j <= 6; j++)); do
		(
			t0=$EPOCHREALTIME
			curl -s -m 10 -X PATCH -D "$dir/w/s4/hdr.$j" -o "$dir/w/s4/body.$j" \
				-H "Authorization: Bearer $p_tok" -H 'Content-Type: application/json' \
				--data-binary "{\"answers\":{\"p$j\":\"w$j\"},\"expected_version\":$p_ver}" \
				-w "$t0 %{http_code} %{time_total}\n" "$url/api/attempts/$p_id?action=save" >"$dir/w/s4/res.$j"
		) &
		save_pids+=($!)
		bg_pids+=($!)
	done
	wait "$lock_pid"
	t_release=$(now)
	for p in "${save_pids[@]}"; do wait "$p" 2>/dev/null; done
	bg_pids=()
	n503=0 n_done=0 bad503="" baddone="" p_lines=""
	for ((j = 1; j <= 6; j++)); do
		t0=0 code=none t=0
		read -r t0 code t <"$dir/w/s4/res.$j" 2>/dev/null
		body=$(cat "$dir/w/s4/body.$j" 2>/dev/null)
		hdrs=$(tr -d '\r' <"$dir/w/s4/hdr.$j" 2>/dev/null)
		end=$(fcalc "${t0:-0} + ${t:-0}")
		p_lines+=" $code/${t}s"
		if [[ $code == 503 ]]; then
			n503=$((n503 + 1))
			ra=$(grep -i '^retry-after:' <<<"$hdrs" | awk '{ print $2 }')
			if [[ $(jstr code "$body") != service_unavailable || -z $ra ]] ||
				flt "$t" 0.4 || ! flt "$t" 3; then
				bad503+=" save $j: $t s, Retry-After '${ra}', body $body;"
			fi
		elif [[ $code == 200 || $code == 409 ]]; then
			n_done=$((n_done + 1))
			# It waited for the lock and finished soon after it went.
			if flt "$end" "$(fcalc "$t_release - 1")" || ! flt "$end" "$(fcalc "$t_release + 2")"; then
				baddone+=" save $j ($code) ended $(fcalc "$end - $t_release") s after the lock was released;"
			fi
		else
			baddone+=" save $j: status $code after $t s: $body;"
		fi
	done
	echo "# pool ($name): lock held $(fcalc "$t_release - $locked") s; saves fired $(fcalc "$t_fire - $locked") s after it was taken; results:$p_lines"
	ok_if "$([[ $n503 == "$want503" && -z $bad503 ]] && echo 0 || echo 1)" \
		"4 ($name): $want503 of 6 concurrent saves answer 503 service_unavailable with Retry-After after 0.4..3 s" \
		"$n503 answered 503:$bad503 (all:$p_lines)"
	ok_if "$([[ $n_done == "$wantdone" && -z $baddone ]] && echo 0 || echo 1)" \
		"4 ($name): the $wantdone save(s) on their way to the database complete (200/409) once the lock is released" \
		"$n_done completed:$baddone (all:$p_lines)"
	p_ver=$(fresh_version "$p_id" "$p_tok")
	api PATCH "/api/attempts/$p_id?action=save" "$p_tok" "{\"answers\":{\"pfresh\":\"z\"},\"expected_version\":$p_ver}"
	ok_if "$([[ $R_CODE == 200 ]] && flt "$R_TIME" 2 && echo 0 || echo 1)" \
		"4 ($name): a fresh save afterwards answers 200 at once ($R_TIME s): no deadlock" "$R_CODE after $R_TIME s: $R_BODY"
	p_fresh=$R_CODE/${R_TIME}s
	api GET "/api/attempts/$p_id?action=stats&type=optimization" "$admin_tok"
	p_to=$(jnum "$counter" "$R_BODY")
	p_opened=$(jnum opened_count "$R_BODY")
	p_state=$(jstr state "$R_BODY")
	# (The worker's own deadline sweep may also have waited for a
	# connection while the lock was held: at least the requests' timeouts.)
	ok_if "$([[ ${p_to:-0} -ge $want503 && $p_opened == 0 && $p_state == closed ]] && echo 0 || echo 1)" \
		"4 ($name): the worker counted the $want503 requests' timeouts ($counter) and its breaker stayed closed" \
		"$counter=$p_to opened_count=$p_opened state=$p_state"
	mapfile -t st < <(sample_stats)
	figure "pool_exhaustion ($name): results(status/time):$p_lines lock_held_s=$(fcalc "$t_release - $locked") fresh_save=$p_fresh $counter=$p_to breaker=$p_state worker_stats(pid hits misses size opened rejected)=${st[*]}"
}
# Without coalescing every save takes a connection: 2 wait for the lock
# holding the pool's 2 connections, 4 find none within 500 ms.
pool_scenario "coalescing off" 4 2 acquire_timeouts ATTEMPTS_COALESCE_WRITES=0
# As shipped, the first save goes alone and waits for the lock; the other 5
# wait for it to come back, not for connections, and give up after the
# same 500 ms.
pool_scenario "coalescing on" 5 1 timeouts

stack_down
echo "# total time $((SECONDS - started_at)) s"
figure "runtime_s: $((SECONDS - started_at))"
summary resilience
((n_fail == 0)) || exit 1
exit 0
