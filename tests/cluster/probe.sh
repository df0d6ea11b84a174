#!/usr/bin/env bash
# tests/cluster/probe.sh — one student of `./dev cluster test` who saves in
# a loop until killed (TERM), to time what a browser sees during a fault.
#
#   probe.sh SAVE_URL TOKEN EXAM_ID OUT [READ_URL]
#
# It starts (or resumes) an attempt at EXAM_ID through SAVE_URL, then saves
# through SAVE_URL with the version of its last answer (a 409 gives the
# current one); with READ_URL it reads the attempt's state through
# READ_URL right after each acknowledged save (read-your-writes across
# hosts). One line per request to OUT: "START END KIND HTTP_CODE VERSION"
# (times in seconds since the epoch; a read whose VERSION is below the
# save's just acknowledged one is stale).
set -u
save_url=$1 token=$2 exam=$3 out=$4 read_url=${5:-}
auth="Authorization: Bearer $token"

# request METHOD URL [BODY]: sets CODE and BODY.
request() {
	local r
	r=$(curl -sS -m 10 -X "$1" -H "$auth" -H 'Content-Type: application/json' \
		${3:+-d "$3"} -w '\n%{http_code}' "$2" 2>/dev/null) || true
	CODE=${r##*$'\n'}
	BODY=${r%$'\n'*}
	[[ $CODE =~ ^[0-9]{3}$ ]] || CODE=000
}

# field NAME: the first integer field NAME of BODY (-1 when absent).
field() {
	local m
	m=$(grep -o "\"$1\": *[0-9]*" <<<"$BODY" | head -n 1)
	m=${m#*:}
	m=${m# }
	printf '%s\n' "${m:--1}"
}

attempt=''
while [[ -z $attempt ]]; do
	request POST "$save_url/api/attempts/new?action=start" "{\"exam_id\":\"$exam\"}"
	if [[ $CODE == 20[01] ]]; then
		attempt=$(grep -o '"attempt_id": *"[^"]*"' <<<"$BODY" | head -n 1 | cut -d'"' -f4)
		version=$(field version)
	else
		sleep 0.2
	fi
done
seq=0
trap 'exit 0' TERM
while :; do
	seq=$((seq + 1))
	t0=$EPOCHREALTIME
	request PATCH "$save_url/api/attempts/$attempt?action=save" \
		"{\"answers\":{\"probe\":\"$seq\"},\"expected_version\":$version}"
	case $CODE in
	200) version=$(field version) ;;
	409) version=$(field current_version) ;;
	esac
	echo "$t0 $EPOCHREALTIME save $CODE $version" >>"$out"
	if [[ -n $read_url && $CODE == 200 ]]; then
		t0=$EPOCHREALTIME
		request GET "$read_url/api/attempts/$attempt?action=state"
		echo "$t0 $EPOCHREALTIME read $CODE $(field version) $version" >>"$out"
	fi
	sleep 0.05
done
