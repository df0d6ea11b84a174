#!/usr/bin/env bash
# tests/deploy/apache_test.sh — the shipped Apache configurations, run for real
# (automake runs it from `make check`).
#
# Starts a private PostgreSQL in a temp dir, then a private Apache three
# times, each from a configuration generated in the temp dir around one of the
# shipped files, on a free port of 127.0.0.1:
#   fcgid     mpm_event + mod_fcgid   deploy/apache/attempts-fcgid.conf.in
#   cgi       mpm_event + mod_cgid    deploy/apache/attempts-cgi.conf.in
#   htaccess  mpm_prefork + mod_cgi   deploy/apache/htaccess.example (rewrite)
# and runs the core flow against each with curl (health, start, state, save,
# conflicts, submit, a second attempt, upload and download of a binary file),
# then stops Apache and checks that no worker is left. mod_fcgid is loaded
# in every mode with Debian's `AddHandler fcgid-script .fcgi`, as on a
# Debian host with libapache2-mod-fcgid installed: the CGI modes must still
# run attempts.fcgi as CGI. Prints one line per check and `apache: N
# passed, N failed`; exits 1 on any failure, 77 (skip; under CI=true a
# failure) when Apache, mod_fcgid, PostgreSQL, curl or jq is missing. Requests per
# second of GET state (wrk, else ab) go to
# $abs_top_builddir/tests/deploy/apache-figures.txt; nothing asserts on time.
#
# Environment: APACHE (/usr/sbin/apache2), APACHE_MODULES
# (/usr/lib/apache2/modules), APACHE_TEST_MODES (fcgid cgi htaccess),
# APACHE_TEST_KEEP=1 keeps the temp dir (logs, configs) for a look.
#
# The checks are single-quoted expressions run by `check ... eval`:
# shellcheck disable=SC2016,SC2034,SC2317
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/../lib/stack.sh"
# shellcheck source=lib/sh/template.sh
. "$here/../../lib/sh/template.sh"
figures=$builddir/tests/deploy/apache-figures.txt

APACHE=${APACHE:-/usr/sbin/apache2}
MODS=${APACHE_MODULES:-/usr/lib/apache2/modules}

# Missing tools skip the test (77), but under CI (CI=true), which installs
# everything, they fail it.
stack_ci_strict=1

[[ -x $APACHE ]] || skip "$APACHE not installed (Debian: apache2)"
for m in mpm_event mpm_prefork authz_core mime alias env cgi cgid rewrite; do
	[[ -f $MODS/mod_$m.so ]] || skip "$MODS/mod_$m.so missing (Debian: apache2)"
done
[[ -f $MODS/mod_fcgid.so ]] || skip "$MODS/mod_fcgid.so missing (Debian: libapache2-mod-fcgid)"
have_tool curl || skip "curl not installed"
have_tool jq || skip "jq not installed (Debian: jq)"
stack_need_built "$fcgi_bin"
stack_isolate_env

# Apache's children (and so the service) run as this user when we are root.
run_user='' run_group=''
if ((EUID == 0)); then
	for u in www-data nobody; do
		if id "$u" >/dev/null 2>&1; then
			run_user=$u
			run_group=$(id -gn "$u")
			break
		fi
	done
	[[ -n $run_user ]] || skip "running as root but there is neither a www-data nor a nobody user for Apache's children"
fi

# Prints the pids of live processes whose command line starts with $1.
pids_running() {
	local f p cmd
	for f in /proc/[0-9]*/cmdline; do
		p=${f#/proc/}
		p=${p%/cmdline}
		cmd=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
		[[ $cmd == "$1"* ]] && alive "$p" && echo "$p"
	done
	return 0
}

started_confs=()

# Stops the Apache started from config $1 (its pid file is beside it).
stop_apache() {
	stack_apache_stop "$1" "$(dirname "$1")/httpd.pid"
}

# The exit trap's first step: every Apache stopped, then what of ours
# outlived it; after a failure, the tails of the logs.
# shellcheck disable=SC2317 # the EXIT trap
stop_all() {
	local rc=$1 c p f
	for c in "${started_confs[@]}"; do
		stop_apache "$c"
	done
	# Workers or CGI programs of ours that outlived their Apache.
	for p in $(pids_running "$dir/"); do
		kill -KILL "$p" 2>/dev/null
	done
	if ((rc != 0 && rc != 77)) || ((n_fail)); then
		for f in "$dir"/*/error.log "$dir/pg/postgres.log"; do
			[[ -s $f ]] || continue
			echo "--- tail of $f"
			tail -n 30 "$f"
		done
	fi
}
stack_exit_hook=stop_all

# ------------------------------------------------------------ PostgreSQL

stack_pg_migrated apache 56900 APACHE_TEST_KEEP
psql_bin=$(pg_bindir)/psql

exam=00000000-0000-4000-8000-0000000ae001
admin=00000000-0000-4000-8000-0000000ae0ad
if ! "$psql_bin" -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$conninfo" >/dev/null <<SQL; then
SELECT set_config('request.jwt.claims', '{"sub":"$admin","role":"admin"}', true);
INSERT INTO attempts.exams(exam_id, title, time_limit_s, grace_s, max_attempts)
VALUES ('$exam', 'Apache deployment test', 3600, 60, 100);
SQL
	echo "ERROR: creating the exam failed"
	exit 99
fi

secret=$(random_hex 32)
# The service runs from the temp dir: Apache's user may not reach the build
# tree (e.g. a home directory).
mkdir -p "$dir/bin"
cp "$fcgi_bin" "$dir/bin/attempts.fcgi"
chmod 755 "$dir/bin" "$dir/bin/attempts.fcgi"

# A ~200 KiB binary file to upload.
payload=$dir/payload.pdf
{
	printf '%%PDF-1.4\n'
	head -c 204800 /dev/urandom
} >"$payload"
payload_sha=$(sha256sum "$payload" | cut -d' ' -f1)
# A valid JSON body of 600 KiB (under max_body_bytes).
bigjson=$dir/big.json
{
	printf '{"exam_id":"%s","pad":"' "$exam"
	head -c 614400 /dev/zero | tr '\0' 'x'
	printf '"}'
} >"$bigjson"
payload_size=$(stat -c %s "$payload")

# ------------------------------------------------------------ Apache configs

# Writes $sr/httpd.conf for mode $1 (fcgid, cgi, htaccess) listening on $2,
# with the service's upload store $3.
write_conf() {
	local mode=$1 port=$2 uploads=$3 mpm=event mods mod types=/dev/null
	local fill=(BINARY "$dir/bin/attempts.fcgi" DB "$conninfo" JWT_SECRET "$secret"
		UPLOAD_DIR "$uploads" PROCESSES 4)
	# mod_fcgid in every mode: Debian enables it when
	# libapache2-mod-fcgid is installed, with `AddHandler fcgid-script
	# .fcgi` (its fcgid.conf, written below), which a CGI program named
	# attempts.fcgi must survive.
	mods=(authz_core mime alias env fcgid)
	case $mode in
	fcgid) ;;
	cgi) mods+=(cgid) ;;
	htaccess)
		mpm=prefork
		mods+=(cgi rewrite)
		;;
	esac
	[[ -r /etc/mime.types ]] && types=/etc/mime.types
	{
		echo "# generated by tests/deploy/apache_test.sh (mode $mode)"
		echo "ServerRoot \"$sr\""
		echo "ServerName 127.0.0.1"
		echo "Listen 127.0.0.1:$port"
		echo "PidFile \"$sr/httpd.pid\""
		echo "DefaultRuntimeDir \"$sr/run\""
		echo "Mutex file:$sr/run default"
		echo "ErrorLog \"$sr/error.log\""
		echo "LogLevel warn"
		echo "LoadModule mpm_${mpm}_module $MODS/mod_mpm_$mpm.so"
		for mod in "${mods[@]}"; do
			echo "LoadModule ${mod}_module $MODS/mod_$mod.so"
		done
		if [[ -n $run_user ]]; then
			echo "User $run_user"
			echo "Group $run_group"
		fi
		if [[ $mpm == event ]]; then
			printf '%s\n' "StartServers 1" "ServerLimit 2" "ThreadsPerChild 25" \
				"MinSpareThreads 5" "MaxSpareThreads 50" "MaxRequestWorkers 50"
		else
			printf '%s\n' "StartServers 2" "MinSpareServers 2" "MaxSpareServers 10" \
				"MaxRequestWorkers 20"
		fi
		echo "TypesConfig $types"
		echo "LogFormat \"%h \\\"%r\\\" %>s %B %D\" timed"
		echo "CustomLog \"$sr/access.log\" timed"
		echo "DocumentRoot \"$sr/htdocs\""
		echo "<Directory />"
		echo "    AllowOverride None"
		echo "    Require all denied"
		echo "</Directory>"
		# Apache looks PATH_INFO up under the DocumentRoot (for
		# PATH_TRANSLATED): grant it, as Debian grants /var/www, or every
		# request logs "client denied by server configuration".
		echo "<Directory \"$sr/htdocs\">"
		echo "    Require all granted"
		echo "</Directory>"
		echo "<Files \".ht*\">"
		echo "    Require all denied"
		echo "</Files>"
		# Debian's /etc/apache2/mods-available/fcgid.conf.
		echo "<IfModule mod_fcgid.c>"
		echo "  FcgidConnectTimeout 20"
		echo "  <IfModule mod_mime.c>"
		echo "    AddHandler fcgid-script .fcgi"
		echo "  </IfModule>"
		echo "</IfModule>"
		echo "FcgidIPCDir \"$sr/fcgid\""
		echo "FcgidProcessTableFile \"$sr/fcgid/shm\""
		case $mode in
		fcgid)
			fill_template "${fill[@]}" <"$srcdir/deploy/apache/attempts-fcgid.conf.in" >"$sr/attempts.conf"
			echo "Include \"$sr/attempts.conf\""
			;;
		cgi)
			echo "ScriptSock \"$sr/run/cgisock\""
			fill_template "${fill[@]}" <"$srcdir/deploy/apache/attempts-cgi.conf.in" >"$sr/attempts.conf"
			echo "Include \"$sr/attempts.conf\""
			;;
		htaccess)
			# What a shared host grants a customer's document root.
			echo "<Directory \"$sr/htdocs\">"
			echo "    AllowOverride FileInfo AuthConfig Options=ExecCGI"
			echo "    Options SymLinksIfOwnerMatch"
			echo "    Require all granted"
			echo "</Directory>"
			fill=(BINARY "$sr/htdocs/attempts.fcgi" "${fill[@]:2}")
			fill_template "${fill[@]}" <"$srcdir/deploy/apache/htaccess.example" >"$sr/htdocs/.htaccess"
			cp "$fcgi_bin" "$sr/htdocs/attempts.fcgi"
			chmod 755 "$sr/htdocs/attempts.fcgi"
			chmod 644 "$sr/htdocs/.htaccess"
			;;
		esac
	} >"$sr/httpd.conf"
}

# ------------------------------------------------------------ HTTP helpers

hdrs=$dir/headers
bodyf=$dir/body
code='' body=''
# req METHOD URL [curl args...]: sets code and body; headers in $hdrs.
req() {
	local method=$1 url=$2
	shift 2
	: >"$hdrs"
	: >"$bodyf"
	code=$(curl -sS -m 30 -o "$bodyf" -D "$hdrs" -w '%{http_code}' -X "$method" \
		-H 'Expect:' "$@" "$url" 2>&1) || code="curl-failed:$code"
	body=$(head -c 2000 "$bodyf" | tr -d '\0')
}
# The value of response header $1 (last one), without CR.
header() {
	grep -i "^$1:" "$hdrs" | tail -n 1 | cut -d: -f2- | sed 's/^ *//; s/\r$//'
}
jqr() { jq -r "$1" <<<"$body" 2>/dev/null; }
is() { [[ $1 == "$2" ]]; }
seen() { printf '%s %s' "$code" "$(head -c 300 <<<"$body")"; }

# The service's JSON error: status $1, code $2.
json_error() {
	[[ $code == "$1" && $(jqr .error.code) == "$2" && $(header Content-Type) == application/json* ]]
}

# ------------------------------------------------------------ the flow

# flow MODE URL UPLOAD_DIR STUDENT: the core end-to-end flow, every step checked.
flow() {
	local m=$1 url=$2 uploads=$3 student=$4 tok auth a1 a2 v v2 receipt up dl
	local api=$url/api/attempts
	tok=$(ATTEMPTS_JWT_SECRET=$secret "$fcgi_bin" token --role student --sub "$student" --ttl 3600)
	auth="Authorization: Bearer $tok"
	TOKEN=$tok

	req GET "$url/api/health"
	check "$m: GET /api/health answers 200 ok" "$(seen)" \
		eval '[[ $code == 200 && $(jqr .status) == ok && $(jqr .db) == ok ]]'

	req GET "$url/api/no-such-route" -H "$auth"
	check "$m: an unknown route answers the service's JSON 404 not_found" "$(seen)" json_error 404 not_found

	req GET "$api/00000000-0000-4000-8000-000000000001?action=state"
	check "$m: no token answers 401 unauthorized with WWW-Authenticate: Bearer" "$(seen)" \
		eval 'json_error 401 unauthorized && [[ $(header WWW-Authenticate) == Bearer* ]]'

	req POST "$api/new?action=start" -H "$auth" -H 'Content-Type: application/json' \
		-H 'X-Request-Id: apache-start-1' --data "{\"exam_id\":\"$exam\"}"
	a1=$(jqr .attempt_id)
	v=$(jqr .version)
	check "$m: start answers 201 with an in-progress attempt (Authorization reached the service)" "$(seen)" \
		eval '[[ $code == 201 && $a1 =~ ^[0-9a-f-]{36}$ && $(jqr .status) == in_progress && $(jqr .attempt_number) == 1 && $v =~ ^[0-9]+$ ]]'
	check "$m: X-Request-Id of the request comes back" "got '$(header X-Request-Id)'" \
		is "$(header X-Request-Id)" apache-start-1

	req POST "$api/new?action=start" -H "$auth" -H 'Content-Type: application/json' \
		--data "{\"exam_id\":\"$exam\"}"
	check "$m: a second start answers 200 with the same attempt" "$(seen)" \
		eval '[[ $code == 200 && $(jqr .attempt_id) == "$a1" ]]'

	req GET "$api/$a1?action=state" -H "$auth"
	check "$m: state answers 200 with the attempt, version $v and an ETag" "$(seen) etag $(header ETag)" \
		eval '[[ $code == 200 && $(jqr .attempt_id) == "$a1" && $(jqr .exam_id) == "$exam" && $(jqr .version) == "$v" && $(jqr .status) == in_progress && $(header ETag) == "\"$v\"" ]]'

	req GET "$api/$a1?action=state" -H "$auth" -H "If-None-Match: \"$v\""
	check "$m: state with If-None-Match of the current ETag answers 304" "$(seen)" is "$code" 304

	req PATCH "$api/$a1?action=save" -H "$auth" -H 'Content-Type: application/json' \
		--data "{\"answers\":{\"q1\":\"a\",\"q2\":[1,2]},\"auto_save_data\":{\"progress\":50},\"expected_version\":$v}"
	v2=$(jqr .version)
	check "$m: save answers 200 and the version goes up by one" "$(seen)" \
		eval '[[ $code == 200 && $(jqr .attempt_id) == "$a1" && $v2 == $((v + 1)) ]]'

	req PATCH "$api/$a1?action=save" -H "$auth" -H 'Content-Type: application/json' \
		--data "{\"answers\":{\"q1\":\"b\"},\"expected_version\":$v}"
	check "$m: a stale save answers 409 version_conflict with the current version" "$(seen)" \
		eval 'json_error 409 version_conflict && [[ $(jqr .error.details.current_version) == "$v2" && $(jqr .error.details.answers.q1) == a ]]'

	req PATCH "$api/$a1?action=save" -H "$auth" -H 'Content-Type: application/json' \
		-H "If-Match: \"$v\"" --data '{"answers":{"q1":"b"}}'
	check "$m: a save with a stale If-Match answers 409 version_conflict" "$(seen)" json_error 409 version_conflict

	req PATCH "$api/$a1?action=save" -H "$auth" -H 'Content-Type: application/json' \
		-H "If-Match: \"$v2\"" --data '{"answers":{"q3":"c"}}'
	check "$m: a save with the current If-Match answers 200" "$(seen)" \
		eval '[[ $code == 200 && $(jqr .version) == $((v2 + 1)) ]]'

	req GET "$api/$a1?action=state" -H "$auth" -H 'Cache-Control: no-cache'
	check "$m: state reflects both saves" "$(seen)" \
		eval '[[ $code == 200 && $(jqr .version) == $((v2 + 1)) && $(jqr '"'"'.answers == {"q1": "a", "q2": [1, 2], "q3": "c"} and .auto_save_data == {"progress": 50}'"'"') == true ]]'

	if [[ $m == fcgid ]]; then
		# A persistent worker caches states: a repeated GET hits, one
		# with Cache-Control: no-cache must not.
		local hit=0 i
		for ((i = 0; i < 10; i++)); do
			req GET "$api/$a1?action=state" -H "$auth"
			[[ $code == 200 && $(header X-Cache) == HIT ]] && hit=1 && break
		done
		req GET "$api/$a1?action=state" -H "$auth" -H 'Cache-Control: no-cache'
		check "$m: Cache-Control: no-cache reaches the worker (X-Cache: HIT without it, MISS with it)" \
			"hit seen: $hit; with no-cache: $code X-Cache $(header X-Cache)" \
			eval '((hit)) && [[ $code == 200 && $(header X-Cache) == MISS ]]'
	else
		# One process per request: nothing is cached between requests.
		req GET "$api/$a1?action=state" -H "$auth"
		req GET "$api/$a1?action=state" -H "$auth"
		check "$m: a repeated state answers X-Cache: MISS (no cache between CGI requests)" \
			"$code X-Cache '$(header X-Cache)'" eval '[[ $code == 200 && $(header X-Cache) == MISS ]]'
	fi

	req POST "$api/$a1?action=submit" -H "$auth"
	receipt=$(jqr .receipt)
	check "$m: submit answers 200 with a 64-hex receipt" "$(seen)" \
		eval '[[ $code == 200 && $receipt =~ ^[0-9a-f]{64}$ && $(jqr .status) == submitted && $(jqr .already_submitted) == false ]]'

	req POST "$api/$a1?action=submit" -H "$auth"
	check "$m: submitting again answers 200, the same receipt, already_submitted" "$(seen)" \
		eval '[[ $code == 200 && $(jqr .receipt) == "$receipt" && $(jqr .already_submitted) == true ]]'

	req PATCH "$api/$a1?action=save" -H "$auth" -H 'Content-Type: application/json' \
		--data '{"answers":{"q1":"late"}}'
	check "$m: a save after submit answers 409 attempt_submitted" "$(seen)" json_error 409 attempt_submitted

	req POST "$api/new?action=start" -H "$auth" -H 'Content-Type: application/json' \
		--data "{\"exam_id\":\"$exam\"}"
	a2=$(jqr .attempt_id)
	check "$m: a second attempt starts: 201, attempt_number 2" "$(seen)" \
		eval '[[ $code == 201 && $a2 =~ ^[0-9a-f-]{36}$ && $a2 != "$a1" && $(jqr .attempt_number) == 2 ]]'
	ATTEMPT=$a2

	req POST "$api/$a2?action=upload&filename=essay%20final.pdf" -H "$auth" \
		-H 'Content-Type: application/pdf' --data-binary @"$payload"
	up=$(jqr .upload_id)
	check "$m: upload of a $payload_size-byte PDF answers 201 with its sha256 and size" "$(seen)" \
		eval '[[ $code == 201 && $up =~ ^[0-9a-f-]{36}$ && $(jqr .sha256) == "$payload_sha" && $(jqr .size_bytes) == "$payload_size" && $(jqr .content_type) == application/pdf && $(jqr .filename) == "essay final.pdf" ]]'

	dl=$dir/download-$m
	req GET "$api/$a2?action=upload&upload_id=$up" -H "$auth"
	cp "$bodyf" "$dl"
	check "$m: download answers 200 with the same bytes" "$code, $(stat -c %s "$dl") bytes" \
		eval '[[ $code == 200 ]] && cmp -s "$payload" "$dl"'
	check "$m: download has Content-Type application/pdf" "got '$(header Content-Type)'" \
		is "$(header Content-Type)" application/pdf
	check "$m: download has Content-Disposition: attachment with the filename" "got '$(header Content-Disposition)'" \
		eval '[[ $(header Content-Disposition) == "attachment; filename=\"essay final.pdf\"; filename*=UTF-8'"''"'essay%20final.pdf" ]]'
	check "$m: download has X-Content-Type-Options: nosniff" "got '$(header X-Content-Type-Options)'" \
		is "$(header X-Content-Type-Options)" nosniff
	check "$m: download has no X-Accel-Redirect (the service streams it)" "got '$(header X-Accel-Redirect)'" \
		is "$(header X-Accel-Redirect)" ''

	req GET "$api/$a2?action=uploads" -H "$auth"
	check "$m: the uploads list shows the file" "$(seen)" \
		eval '[[ $code == 200 && $(jqr "[.uploads[] | select(.upload_id == \"$up\") | .sha256] | join(\",\")") == "$payload_sha" && $(jqr ".uploads | length") == 1 ]]'

	check "$m: the file sits in the upload dir under its id, same bytes" "$(find "$uploads" -mindepth 1 -printf '%f %s; ')" \
		cmp -s "$payload" "$uploads/$up"
	check "$m: no temporary file is left in the upload dir" "$(find "$uploads" -mindepth 1 -printf '%f ')" \
		is "$(find "$uploads" -mindepth 1 -printf '%f\n')" "$up"

	# A body without Content-Length (chunked): Apache passes it on
	# de-chunked; the service reads to its end.
	req POST "$api/$a2?action=upload&filename=chunked.pdf" -H "$auth" \
		-H 'Content-Type: application/pdf' -H 'Transfer-Encoding: chunked' --data-binary @"$payload"
	check "$m: a chunked upload (no Content-Length) answers 201 with the right sha256 and size" "$(seen)" \
		eval '[[ $code == 201 && $(jqr .sha256) == "$payload_sha" && $(jqr .size_bytes) == "$payload_size" ]]'

	# Refusals before the body is read: the program must still be heard
	# (under mod_cgid it must read its whole stdin before it exits).
	req POST "$api/$a2?action=upload&filename=x.exe" -H "$auth" \
		-H 'Content-Type: application/x-msdownload' --data-binary @"$payload"
	check "$m: an upload ($payload_size bytes) of a type the exam does not allow answers 415 unsupported_media_type" "$(seen)" \
		json_error 415 unsupported_media_type
	req POST "$api/new?action=start" -H 'Content-Type: application/json' --data-binary @"$bigjson"
	check "$m: a start without a token and with a 600 KiB JSON body answers 401 unauthorized" "$(seen)" \
		json_error 401 unauthorized
}

# ------------------------------------------------------------ figures

figure_lines=()
# measure MODE URL: requests/s of GET state of the mode's attempt.
measure() {
	local m=$1 url=$2 target out rps non2xx i t times=()
	target="$url/api/attempts/$ATTEMPT?action=state"
	# Latency of single sequential requests (what one user sees).
	for ((i = 0; i < 20; i++)); do
		t=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $TOKEN" "$target")
		times+=("$t")
	done
	t=$(printf '%s\n' "${times[@]}" | sort -n | sed -n '10p')
	if command -v wrk >/dev/null 2>&1; then
		# Warm up (mod_fcgid starts its processes on demand), then measure.
		wrk -t2 -c8 -d1s -H "Authorization: Bearer $TOKEN" "$target" >/dev/null 2>&1
		out=$(wrk -t2 -c8 -d5s -H "Authorization: Bearer $TOKEN" "$target" 2>&1)
		rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
		non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
		figure_lines+=("$m: GET state wrk -t2 -c8 -d5s: ${rps:-?} requests/s, non-2xx ${non2xx:-0}; sequential curl p50 ${t}s")
	elif command -v ab >/dev/null 2>&1; then
		ab -q -c 8 -t 1 -H "Authorization: Bearer $TOKEN" "$target" >/dev/null 2>&1
		out=$(ab -q -c 8 -t 5 -n 1000000 -H "Authorization: Bearer $TOKEN" "$target" 2>&1)
		rps=$(awk '/^Requests per second:/ {print $4}' <<<"$out")
		non2xx=$(awk '/^Non-2xx responses:/ {print $3}' <<<"$out")
		figure_lines+=("$m: GET state ab -c8 -t5: ${rps:-?} requests/s, non-2xx ${non2xx:-0}; sequential curl p50 ${t}s")
	else
		figure_lines+=("$m: GET state: no wrk or ab installed, requests/s not measured; sequential curl p50 ${t}s")
	fi
	echo "# ${figure_lines[-1]}"
}

# ------------------------------------------------------------ the runs

# run_mode MODE STUDENT: one Apache from the mode's config, the flow, the
# figures, stop, nothing left.
run_mode() {
	local m=$1 student=$2 port sr conf uploads out pid i kids workers left
	local pass0=$n_pass fail0=$n_fail
	# shellcheck disable=SC2064 # the counts at the start, now
	trap "echo \"# $m: \$((n_pass - $pass0)) passed, \$((n_fail - $fail0)) failed\"; trap - RETURN" RETURN
	sr=$dir/$m
	conf=$sr/httpd.conf
	uploads=$sr/uploads
	mkdir -p "$sr/run" "$sr/htdocs" "$sr/fcgid" "$uploads"
	chmod 755 "$sr" "$sr/htdocs"
	if [[ -n $run_user ]]; then
		chown "$run_user:$run_group" "$uploads" "$sr/fcgid"
	fi
	port=$(free_port 18900) || {
		check "$m: a free port for Apache" "none from 18900" false
		return
	}
	write_conf "$m" "$port" "$uploads"

	out=$("$APACHE" -f "$conf" -t 2>&1)
	check "$m: apache2 -t accepts the generated configuration" "$out" \
		eval '[[ $out == *"Syntax OK"* ]]'
	started_confs+=("$conf")
	out=$("$APACHE" -f "$conf" -k start 2>&1)
	for ((i = 0; i < 100; i++)); do
		pid=$(read_pid "$sr/httpd.pid")
		if alive "$pid" && [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/api/health") != 000 ]]; then
			break
		fi
		sleep 0.1
	done
	if ! check "$m: Apache starts on 127.0.0.1:$port" "$out $(tail -n 5 "$sr/error.log" 2>/dev/null)" alive "$pid"; then
		return
	fi
	echo "# $m: Apache pid $pid, http://127.0.0.1:$port"

	flow "$m" "http://127.0.0.1:$port" "$uploads" "$student"
	if [[ -n ${ATTEMPT:-} && -n ${TOKEN:-} ]]; then
		measure "$m" "http://127.0.0.1:$port"
	fi
	if [[ $m == fcgid ]]; then
		mapfile -t workers < <(pids_running "$dir/bin/attempts.fcgi")
		check "$m: mod_fcgid runs between 1 and 4 worker processes (FcgidMaxProcessesPerClass)" \
			"${#workers[@]}: ${workers[*]}" eval '((${#workers[@]} >= 1 && ${#workers[@]} <= 4))'
		check "$m: the workers run as ${run_user:-$(id -un)}" "$(stat -c %U "/proc/${workers[0]:-0}" 2>&1)" \
			eval '[[ $(stat -c %U "/proc/${workers[0]:-0}" 2>/dev/null) == "${run_user:-$(id -un)}" ]]'
	fi

	mapfile -t kids < <(children_of "$pid")
	stop_apache "$conf"
	check "$m: apache2 -k stop stops Apache" "pid $pid" eval '! alive "$pid"'
	left=()
	for ((i = 0; i < 150; i++)); do
		left=()
		for p in "${kids[@]}" $(pids_running "$dir/"); do
			alive "$p" && left+=("$p")
		done
		((${#left[@]} == 0)) && break
		sleep 0.1
	done
	check "$m: no Apache child or service process is left after the stop" "${left[*]}" \
		eval '((${#left[@]} == 0))'
	if [[ $m == fcgid ]]; then
		# mod_fcgid stops its processes with SIGTERM, then KILLs those
		# still there a few seconds later.
		check "$m: the workers exit on mod_fcgid's SIGTERM (no 'terminating forcefully' in error.log)" \
			"$(grep -m 3 'terminating forcefully' "$sr/error.log" | tr '\n' ' ')" \
			eval '! grep -q "terminating forcefully" "$sr/error.log"'
	fi
	# Under mod_cgi/mod_cgid the service's processes are not children of
	# Apache's parent: a crash of theirs shows as "End of script output
	# before headers". An "exit signal" line there is one of Apache's own
	# processes (seen once: the event MPM's child at shutdown), noted only.
	if [[ $m != fcgid ]] && grep -q 'End of script output before headers' "$sr/error.log" 2>/dev/null; then
		check "$m: no service process crashed (error.log)" \
			"$(grep -m 3 'End of script output before headers' "$sr/error.log")" false
	fi
	if [[ $m != fcgid ]] && grep -qE 'AH[0-9]+:.*(segfault|exit signal)' "$sr/error.log" 2>/dev/null; then
		echo "# note: $m: an Apache process crashed: $(grep -m 1 -E 'segfault|exit signal' "$sr/error.log")"
	elif grep -qE 'AH[0-9]+:.*(segfault|exit signal)' "$sr/error.log" 2>/dev/null; then
		check "$m: no process crashed (error.log)" "$(grep -E 'segfault|exit signal' "$sr/error.log" | head -n 3)" false
	fi
}

for mode in ${APACHE_TEST_MODES:-fcgid cgi htaccess}; do
	case $mode in
	fcgid) run_mode fcgid 00000000-0000-4000-8000-00000000f001 ;;
	cgi) run_mode cgi 00000000-0000-4000-8000-00000000c001 ;;
	htaccess) run_mode htaccess 00000000-0000-4000-8000-00000000a001 ;;
	*) check "APACHE_TEST_MODES names known modes" "unknown mode '$mode'" false ;;
	esac
done

mkdir -p "$(dirname "$figures")"
{
	echo "# tests/deploy/apache_test.sh figures, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc 2>/dev/null || echo '?') CPUs, $("$APACHE" -v | sed -n 's/^Server version: //p')"
	echo "# GET ?action=state of one attempt, 8 connections; fcgid: FcgidMaxProcessesPerClass 4, 1 thread each"
	echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null) (other work on the machine skews these)"
	printf '%s\n' "${figure_lines[@]}"
} >"$figures"
echo "# figures written to $figures"

summary apache
((n_fail == 0)) || exit 1
exit 0
