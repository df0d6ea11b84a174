#!/usr/bin/env bash
# tests/cluster/probe.sh — one student of `./dev cluster test` who saves in
# a loop until killed (TERM), to time what a browser sees during a fault.
#
#   probe.sh SAVE_URL TOKEN EXAM_ID OUT [READ_URL]
#
# It starts (or resumes) an attempt at EXAM_ID through SAVE_URL, then saves
# through SAVE_URL with the version of its last answer (a 409 gives the
# current one), one curl per save; one line per save to OUT: "START END
# save HTTP_CODE VERSION" (times in seconds since the epoch).
# With READ_URL (read-your-writes across hosts) it saves through SAVE_URL
# and at once reads the attempt's state through READ_URL, 20 such pairs
# per curl (one process, the requests one after the other on kept-alive
# connections: no process start between a save and its read); one line
# per read after an acknowledged save: "START END read HTTP_CODE VERSION
# SAVED_VERSION" (the round's times; stale when VERSION < SAVED_VERSION).
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
trap 'exit 0' TERM

# One round of read-your-writes pairs (the saves carry no expected_version:
# each acknowledged one moves the version on by one).
ryw_round() {
	local args=() i t0 line body='' code kind=save saved=-1 BODY
	for ((i = 0; i < 20; i++)); do
		args+=(-X PATCH -H "$auth" -H 'Content-Type: application/json'
			-d "{\"answers\":{\"probe\":\"$i\"}}" -w '\n@@ %{http_code}\n'
			"$save_url/api/attempts/$attempt?action=save" --next
			-H "$auth" -w '\n@@ %{http_code}\n' "$read_url/api/attempts/$attempt?action=state" --next)
	done
	unset 'args[${#args[@]}-1]'
	t0=$EPOCHREALTIME
	while IFS= read -r line; do
		if [[ $line != '@@ '* ]]; then
			body+=$line
			continue
		fi
		code=${line#@@ }
		BODY=$body
		body=''
		if [[ $kind == save ]]; then
			saved=-1
			[[ $code != 200 ]] || saved=$(field version)
			kind='read'
		else
			if ((saved >= 0)); then
				echo "$t0 $EPOCHREALTIME read $code $(field version) $saved" >>"$out"
			fi
			kind='save'
		fi
	done < <(curl -sS -m 60 "${args[@]}" 2>/dev/null)
}

if [[ -n $read_url ]]; then
	while :; do ryw_round; done
fi
seq=0
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
	sleep 0.05
done
