#!/usr/bin/env bash
# tests/openapi_test.sh — docs/openapi.json, the document GET
# /api/openapi.json serves (automake runs it from `make check`; run by hand
# it works from the build directory or the checkout).
#
# 1. Lints it with Redocly's CLI (`@redocly/cli`, pinned below, installed
#    with npm into the git-ignored tests/openapi/node_modules; a single
#    package, nothing downloads a browser), rules tests/openapi/redocly.yaml:
#    the recommended set with every warning an error.
# 2. Compares it with the router's own table (`attempts.fcgi routes`) both
#    ways (tests/openapi/check_document.mjs): every (method, path, action)
#    the router serves is an operation (the action in the enum of the
#    operation's `action` parameter), with the same security (token or
#    public), and every operation is a route unless marked `x-not-built`,
#    which must then be true; and every error code lib/ and nginx/ can
#    answer is in ErrorCode. A new action cannot be missing from it.
# 3. Runs the worker as a plain CGI program (no database, no server): GET
#    /api/openapi.json answers 200 with exactly the file's bytes, its ETag,
#    and 304 to If-None-Match.
#
# Needs node (20.19+ or 22.12+, Redocly's own requirement) and npm, or an
# installed @redocly/cli. It never skips: what it lacks fails it (exit 99).
# Prints `ok - ...`/`not ok - ...` lines and ends with
# `openapi: N passed, N failed`. Exit 0 all passed, 1 a check failed, 99 it
# could not run.
set -uo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/lib/stack.sh"
top=$srcdir
bin=$fcgi_bin
doc=$top/docs/openapi.json
redocly_version=2.77.0
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1

cannot_run() {
	echo "ERROR: the OpenAPI tests cannot run: $*"
	exit 99
}

[[ -x $bin ]] || cannot_run "$bin not built"
[[ -f $doc ]] || cannot_run "$doc missing"
command -v node >/dev/null 2>&1 || cannot_run "node not installed (Debian: apt-get install nodejs npm)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit((a===20&&b>=19)||(a===22&&b>=12)||a>22?0:1)' ||
	cannot_run "node $(node --version) is too old for @redocly/cli (20.19+ or 22.12+)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/attempts-openapi.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

# ------------------------------------------------------------ 1. lint
# @redocly/cli next to the test (git-ignored), else in the build tree (a
# read-only source tree).
rd_dir=$top/tests/openapi
if [[ ! -x $rd_dir/node_modules/.bin/redocly ]]; then
	[[ -w $rd_dir ]] || rd_dir=${abs_top_builddir:-$PWD}/tests/openapi
	if [[ ! -x $rd_dir/node_modules/.bin/redocly ]]; then
		command -v npm >/dev/null 2>&1 || cannot_run "npm not installed (Debian: apt-get install npm)"
		mkdir -p "$rd_dir"
		echo "# npm install @redocly/cli@$redocly_version into $rd_dir/node_modules"
		npm install --no-save --no-audit --no-fund --prefix "$rd_dir" "@redocly/cli@$redocly_version" \
			>"$tmp/npm.log" 2>&1 || {
			cat "$tmp/npm.log"
			cannot_run "npm could not install @redocly/cli@$redocly_version"
		}
	fi
fi
redocly=$rd_dir/node_modules/.bin/redocly
got=$("$redocly" --version 2>/dev/null | tail -n 1)
[[ $got == "$redocly_version" ]] || echo "# note: @redocly/cli $got, the test pins $redocly_version"

if out=$("$redocly" lint --config "$top/tests/openapi/redocly.yaml" "$doc" 2>&1); then
	ok "redocly lint (recommended-strict): no errors, no warnings"
else
	echo "$out" | grep -v '[║╔╚]'
	not_ok "redocly lint (recommended-strict): no errors, no warnings"
fi

# ------------------------------------------------------------ 2. the router's table
if "$bin" routes >"$tmp/routes" && [[ -s $tmp/routes ]]; then
	ok "attempts.fcgi routes prints the route table"
else
	not_ok "attempts.fcgi routes prints the route table"
fi
# Every error code the code can answer: the service's own (http_error,
# reply.c's SQL code table, batch item errors) and nginx's JSON pages.
{
	grep -ohE 'http_error\([^,]*, *[0-9]{3}, *"[a-z_]+"' "$top"/lib/*.c | grep -oE '"[a-z_]+"$'
	grep -ohE '\{"[a-z_]+", [0-9]{3}\}' "$top/lib/reply.c" | grep -oE '"[a-z_]+"'
	grep -ohE 'batch_error\([^"]*"[a-z_]+"' "$top"/lib/*.c | grep -oE '"[a-z_]+"$'
	grep -ohE '"code":"[a-z_]+"' "$top"/nginx/*.conf "$top"/nginx/*.in | grep -oE '"[a-z_]+"$'
} | tr -d '"' | sort -u >"$tmp/codes"
if node "$top/tests/openapi/check_document.mjs" "$tmp/routes" "$doc" "$tmp/codes" >"$tmp/check.out" 2>&1; then
	rc=0
else
	rc=1
fi
grep -E '^(ok|not ok) - ' "$tmp/check.out" | grep -v '^ok - ' || true
p=$(grep -c '^ok - ' "$tmp/check.out")
f=$(grep -c '^not ok - ' "$tmp/check.out")
if ((rc == 0 && f == 0 && p > 0)); then
	ok "the document and the router's table agree ($p checks)"
else
	not_ok "the document and the router's table agree" "$f of $((p + f)) checks failed"
	grep -v '^\(ok\|not ok\) - ' "$tmp/check.out" | grep -v 'passed, ' || true
fi

# The checker itself: a route the document lacks, and an operation the
# router lacks, must each fail it.
{ cat "$tmp/routes"; printf 'POST\t/api/attempts/{id}\tnew_action\ttoken\n'; } >"$tmp/routes.more"
if ! node "$top/tests/openapi/check_document.mjs" "$tmp/routes.more" "$doc" "$tmp/codes" >"$tmp/more.out" 2>&1 &&
	grep -q '^not ok - route POST /api/attempts/{id} new_action is in the document' "$tmp/more.out"; then
	ok "a new action missing from the document fails the check"
else
	not_ok "a new action missing from the document fails the check"
fi
grep -v $'^PATCH\t/api/attempts/{id}\textend\t' "$tmp/routes" >"$tmp/routes.less"
if ! node "$top/tests/openapi/check_document.mjs" "$tmp/routes.less" "$doc" "$tmp/codes" >"$tmp/less.out" 2>&1 &&
	grep -q '^not ok - operation PATCH /api/attempts/{id} extend is a route' "$tmp/less.out"; then
	ok "an operation the router lacks fails the check"
else
	not_ok "an operation the router lacks fails the check"
fi

# ------------------------------------------------------------ 3. served as plain CGI
# cgi REQUEST_METHOD REQUEST_URI [NAME=VALUE...]: the worker's whole CGI
# answer (headers, blank line, body) in $tmp/cgi.out.
cgi() {
	env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD="$1" REQUEST_URI="$2" \
		ATTEMPTS_JWT_SECRET=openapi-test-secret-0123456789abcdef \
		ATTEMPTS_DB='host=/nonexistent port=1 dbname=x connect_timeout=1' ATTEMPTS_POOL_MIN=0 \
		ATTEMPTS_LOG_LEVEL=error "${@:3}" "$bin" </dev/null >"$tmp/cgi.out" 2>"$tmp/cgi.err"
}
cgi_status() { head -n 1 "$tmp/cgi.out" | tr -d '\r'; }
cgi_header() { sed -n '1,/^\r\{0,1\}$/p' "$tmp/cgi.out" | tr -d '\r' | grep -i "^$1: " | head -n 1 | cut -d' ' -f2-; }

cgi GET /api/openapi.json
sed '1,/^\r$/d' "$tmp/cgi.out" >"$tmp/body"
if [[ $(cgi_status) == "Status: 200 OK" ]] && cmp -s "$tmp/body" "$doc"; then
	ok "plain CGI: GET /api/openapi.json answers 200 with docs/openapi.json byte for byte"
else
	not_ok "plain CGI: GET /api/openapi.json answers 200 with docs/openapi.json byte for byte" \
		"$(cgi_status); $(wc -c <"$tmp/body") bytes; $(head -c 300 "$tmp/cgi.err")"
fi
ctype=$(cgi_header Content-Type)
etag=$(cgi_header ETag)
if [[ $ctype == "application/json; charset=utf-8" && $etag =~ ^\"[0-9]+\"$ ]]; then
	ok "plain CGI: JSON content type and an ETag ($etag)"
else
	not_ok "plain CGI: JSON content type and an ETag" "Content-Type '$ctype', ETag '$etag'"
fi
cgi GET /api/openapi.json HTTP_IF_NONE_MATCH="$etag"
if [[ $(cgi_status) == "Status: 304 Not Modified" ]]; then
	ok "plain CGI: If-None-Match with the ETag answers 304"
else
	not_ok "plain CGI: If-None-Match with the ETag answers 304" "$(cgi_status)"
fi
if python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$doc" 2>/dev/null ||
	node -e 'JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"))' "$doc"; then
	ok "docs/openapi.json is valid JSON"
else
	not_ok "docs/openapi.json is valid JSON"
fi

summary openapi
((n_fail == 0))
