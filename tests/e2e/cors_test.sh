#!/usr/bin/env bash
# tests/e2e/cors_test.sh — CORS through the real stack (automake runs it
# from `make check`): starts `./dev up` in a temporary run directory on
# free ports with cors_origins set (ATTEMPTS_CORS_ORIGINS, which dev passes
# to the workers and writes into nginx's attempts-cors-origins.map), then
# speaks HTTP with curl, both ways: a listed origin gets its preflight
# answered 204 without a token and Access-Control-Allow-Origin on every
# answer — the workers' (401, 404, 400, the document) and nginx's own (413,
# /api's 404, an upload refused before its body, a download by
# X-Accel-Redirect, 502 with the workers stopped); any other origin gets no
# CORS header and its preflight 403. Then the same stack without
# cors_origins: no CORS header for anyone. GET /api/openapi.json through
# nginx is docs/openapi.json byte for byte.
# Exit 77 (skip) when nginx, spawn-fcgi, multiwatch or PostgreSQL is
# missing, 99 when the stack cannot be started. Ends with
# `cors: N passed, N failed`.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/../lib/stack.sh"
stack_need_tools
stack_prepare cors 18400 56400 30

allowed=https://exam.example.edu
allowed2=http://localhost:5173
other=https://evil.example
export ATTEMPTS_WORKERS=1 ATTEMPTS_THREADS=2
export ATTEMPTS_CORS_ORIGINS="$allowed, $allowed2"
attempt=/api/attempts/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
stack_up

# req [curl args...]: the answer's status line and headers in $dir/h, the
# body in $dir/b.
req() {
	curl -s -m 10 -D "$dir/h" -o "$dir/b" "$@" >/dev/null 2>&1 || : >"$dir/h"
	tr -d '\r' <"$dir/h" >"$dir/h.txt"
}
status() { head -n 1 "$dir/h.txt" | cut -d' ' -f2; }
hdr() { grep -i "^$1: " "$dir/h.txt" | head -n 1 | cut -d' ' -f2-; }
hcount() { grep -ci "^$1: " "$dir/h.txt"; }
code() { sed -n 's/^{"error":{"code":"\([a-z_]*\)".*/\1/p' "$dir/b"; }

# expect_cors DESC STATUS ORIGIN: the answer has STATUS and the CORS
# headers of a listed ORIGIN, each once.
expect_cors() {
	local s
	s=$(status)
	if [[ $s == "$2" && $(hdr Access-Control-Allow-Origin) == "$3" && $(hcount Access-Control-Allow-Origin) == 1 &&
		$(hdr Access-Control-Expose-Headers) == "ETag, Retry-After, X-Request-Id, X-Cache" &&
		$(hdr Vary) == Origin && -n $(hdr X-Request-Id) ]]; then
		ok "$1: $2 with Access-Control-Allow-Origin $3"
	else
		not_ok "$1" "status $s; $(grep -i -E '^(access-control|vary)' "$dir/h.txt" | paste -sd '|')"
	fi
}
# expect_no_cors DESC STATUS: STATUS, and no Access-Control-* header.
expect_no_cors() {
	local s
	s=$(status)
	if [[ $s == "$2" ]] && ! grep -qi '^access-control-' "$dir/h.txt"; then
		ok "$1: $2 without CORS headers"
	else
		not_ok "$1" "status $s; $(grep -i '^access-control' "$dir/h.txt" | paste -sd '|')"
	fi
}

# ------------------------------------------------------------ preflights
req -X OPTIONS -H "Origin: $allowed" -H "Access-Control-Request-Method: PATCH" \
	-H "Access-Control-Request-Headers: authorization, content-type, if-match" "$url$attempt?action=save"
expect_cors "preflight from a listed origin, no token" 204 "$allowed"
if [[ $(hdr Access-Control-Allow-Methods) == "GET, HEAD, POST, PATCH" &&
	$(hdr Access-Control-Allow-Headers) == "Authorization, Content-Type, If-Match, If-None-Match, Cache-Control, X-Request-Id" &&
	$(hdr Access-Control-Max-Age) == 600 && ! -s $dir/b ]]; then
	ok "the preflight allows the API's methods and headers, empty body"
else
	not_ok "the preflight allows the API's methods and headers" "$(paste -sd '|' "$dir/h.txt")"
fi
for p in "/api/exams" "/api/health" "/api/openapi.json" "/api/attempts/new/route.ts?action=start"; do
	req -X OPTIONS -H "Origin: $allowed2" -H "Access-Control-Request-Method: POST" "$url$p"
	expect_cors "preflight of $p" 204 "$allowed2"
done
req -X OPTIONS -H "Origin: $other" -H "Access-Control-Request-Method: PATCH" "$url$attempt?action=save"
expect_no_cors "preflight from another origin" 403
[[ $(code) == origin_not_allowed ]] && ok "... in the error shape: origin_not_allowed" ||
	not_ok "... in the error shape: origin_not_allowed" "$(head -c 200 "$dir/b")"

# ------------------------------------------------------------ the workers' answers
req -H "Origin: $allowed" "$url$attempt?action=state"
expect_cors "401 from a worker" 401 "$allowed"
req -H "Origin: $allowed" "$url/api/attempts/x/y"
expect_cors "404 from a worker" 404 "$allowed"
req -H "Origin: $allowed" "$url$attempt?action=nonsense"
expect_cors "400 unknown_action from a worker" 400 "$allowed"
req -H "Origin: $other" "$url$attempt?action=state"
expect_no_cors "401 to another origin" 401
req "$url$attempt?action=state"
expect_no_cors "401 without Origin" 401
req -H "Origin: $allowed" "$url/api/openapi.json"
expect_cors "GET /api/openapi.json" 200 "$allowed"
if cmp -s "$dir/b" "$srcdir/docs/openapi.json"; then
	ok "GET /api/openapi.json through nginx is docs/openapi.json byte for byte"
else
	not_ok "GET /api/openapi.json through nginx is docs/openapi.json byte for byte"
fi

# ------------------------------------------------------------ nginx's own answers
head -c 1100000 /dev/zero | tr '\0' x >"$dir/big"
req -X POST -H "Origin: $allowed" -H 'Content-Type: application/json' --data-binary "@$dir/big" "$url/api/exams"
expect_cors "nginx's own 413" 413 "$allowed"
req -X POST -H "Origin: $other" -H 'Content-Type: application/json' --data-binary "@$dir/big" "$url/api/exams"
expect_no_cors "nginx's own 413 to another origin" 413
req -H "Origin: $allowed2" "$url/api"
expect_cors "nginx's own 404 (/api)" 404 "$allowed2"
req -X POST -H "Origin: $allowed" -H 'Content-Type: text/plain' --data-binary hi "$url$attempt?action=upload&filename=a.txt"
expect_cors "an upload refused by nginx's pre-check (401)" 401 "$allowed"
req -X POST -H "Origin: $other" -H 'Content-Type: text/plain' --data-binary hi "$url$attempt?action=upload&filename=a.txt"
expect_no_cors "an upload refused by the pre-check, another origin" 401

# A download goes out by X-Accel-Redirect (nginx drops the worker's CORS
# headers there and adds its own).
student_sub=$(cat /proc/sys/kernel/random/uuid)
admin=$("$dev" token --role admin 2>/dev/null)
student=$("$dev" token --role student --sub "$student_sub" 2>/dev/null)
exam=$(stack_new_exam "$admin" '{"title":"cors"}')
att=$(curl -s -m 10 -X POST -H "Authorization: Bearer $student" -H 'Content-Type: application/json' \
	-d "{\"exam_id\":\"$exam\"}" "$url/api/attempts/new?action=start" | sed -n 's/.*"attempt_id": *"\([0-9a-f-]*\)".*/\1/p')
req -X POST -H "Origin: $allowed" -H "Authorization: Bearer $student" -H 'Content-Type: text/plain' \
	--data-binary 'hello cors' "$url/api/attempts/$att?action=upload&filename=a.txt"
expect_cors "an upload (201, through nginx's body file)" 201 "$allowed"
up=$(sed -n 's/.*"upload_id": *"\([0-9a-f-]*\)".*/\1/p' "$dir/b")
req -H "Origin: $allowed" -H "Authorization: Bearer $student" "$url/api/attempts/$att?action=upload&upload_id=$up"
expect_cors "a download (X-Accel-Redirect)" 200 "$allowed"
[[ $(cat "$dir/b") == "hello cors" ]] && ok "... with the file's bytes" || not_ok "... with the file's bytes" "$(head -c 100 "$dir/b")"

# No worker: nginx's 502, then the stack again without cors_origins.
mw=$(read_pid "$dir/fcgi.pid")
kill "$mw" 2>/dev/null
for ((i = 0; i < 50; i++)); do
	[[ -S $dir/fcgi.sock ]] || break
	alive "$mw" || break
	sleep 0.1
done
rm -f "$dir/fcgi.sock"
req -H "Origin: $allowed" "$url/api/health"
expect_cors "nginx's own 502 (no worker)" 502 "$allowed"
req -H "Origin: $other" "$url/api/health"
expect_no_cors "nginx's own 502 to another origin" 502

# ------------------------------------------------------------ the default: none
# An empty value drops the setting ./dev up remembered from the first start.
export ATTEMPTS_CORS_ORIGINS=
if "$dev" up --no-install --no-build --no-demo >"$dir/up2.log" 2>&1; then
	req -X OPTIONS -H "Origin: $allowed" -H "Access-Control-Request-Method: PATCH" "$url$attempt?action=save"
	expect_no_cors "cors_origins unset: a preflight" 403
	req -H "Origin: $allowed" "$url$attempt?action=state"
	expect_no_cors "cors_origins unset: a worker's 401" 401
	[[ -z $(hdr Vary) ]] && ok "... and no Vary" || not_ok "... and no Vary" "$(hdr Vary)"
	# `./dev up` reloads nginx, whose old worker keeps accepting for a
	# moment: the new map must hold within 5 s, for 10 answers in a row.
	good=0
	for ((i = 0; i < 100 && good < 10; i++)); do
		req -X POST -H "Origin: $allowed" -H 'Content-Type: application/json' --data-binary "@$dir/big" "$url/api/exams"
		if [[ $(status) == 413 ]] && ! grep -qi '^access-control-' "$dir/h.txt"; then
			good=$((good + 1))
		else
			good=0
			sleep 0.05
		fi
	done
	expect_no_cors "cors_origins unset: nginx's own 413 (once reloaded)" 413
else
	not_ok "./dev up again without cors_origins" "$(tail -n 5 "$dir/up2.log")"
fi

summary cors
((n_fail == 0))
