#!/usr/bin/env bash
# tests/browser/browser_test.sh — the browser client and the exam page in a
# real browser (automake runs it from `make check`; run by hand it works
# from the build directory or the checkout).
#
# 1. Unit tests of web/attempts-client.js with Node's test runner
#    (tests/browser/client_unit.test.mjs: merge rule, backoff and its jitter
#    bounds, Retry-After, clock offset, JCS, the client against a fake
#    service).
# 2. Starts its own embedded stack (`./dev up`, temp run dir, free ports),
#    creates an exam, and runs tests/browser/browser_test.mjs: headless
#    Chromium (Debian's `chromium`) driven by puppeteer-core through /exam/:
#    saved; PostgreSQL stopped -> offline, reload, queue drained (measured);
#    two tabs merge; submit and receipt; 5. the proctors' live view
#    (/proctor/): a student starts an attempt -> the page shows it within
#    2 s (pushed by nginx's nchan module, measured), a save and a submit
#    move it on, a student may not watch, and the page says so when live
#    updates are off.
#
# Needs node (18+), npm, chromium and nginx's nchan module: as root it
# apt-get installs chromium (and nodejs, npm, libnginx-mod-nchan) when missing, and installs puppeteer-core with npm into
# tests/browser/node_modules (git-ignored; PUPPETEER_SKIP_DOWNLOAD=1:
# nothing downloads a browser). It never skips: anything missing that it
# cannot install is a hard error (exit 99) saying what is missing.
# Screenshots and figures go to tests/browser/artefacts/ under the build
# directory (git-ignored). Prints `ok - ...`/`FAIL - ...` lines and ends with
# `browser: N passed, N failed`. Exit 0 all passed, 1 a check failed, 99 it
# could not run.
set -uo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/../lib/stack.sh"
stack_locate
stack_not_ok_word=FAIL

# This test does not skip: what it lacks fails it, loudly.
# shellcheck disable=SC2317 # replaces stack.sh's skip
skip() {
	echo "ERROR: the browser tests cannot run: $*"
	exit 99
}

puppeteer_version=24 # the major version of puppeteer-core installed
artefacts=${abs_top_builddir:-$srcdir}/tests/browser/artefacts

stack_need_tools
stack_need_psql
stack_need_built "$fcgi_bin"

# apt_install PKG...: installs Debian packages (as root only).
apt_tried=0
apt_install() {
	((EUID == 0)) && command -v apt-get >/dev/null 2>&1 || return 1
	echo "# installing $*"
	if ((!apt_tried)); then
		apt_tried=1
		DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null 2>&1 && return 0
		apt-get update >/dev/null 2>&1 || true
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >/dev/null 2>&1
}

chromium=${CHROMIUM:-}
if [[ -z $chromium ]]; then
	chromium=$(command -v chromium 2>/dev/null) ||
		{ apt_install chromium && chromium=$(command -v chromium); } ||
		skip "Chromium not installed and not installable here (Debian: apt-get install chromium; or set CHROMIUM=/path/to/chromium)"
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	apt_install nodejs npm || skip "node and npm not installed (Debian: apt-get install nodejs npm)"
fi
# The live view's test (5) needs nchan in the stack's nginx: missing, it is
# a failure (CI installs it), never a skip.
nchan_so=${NCHAN_MODULE:-/usr/lib/nginx/modules/ngx_nchan_module.so}
if [[ ! -f $nchan_so ]]; then
	apt_install libnginx-mod-nchan && [[ -f $nchan_so ]] ||
		skip "nginx's nchan module $nchan_so is missing (Debian: apt-get install libnginx-mod-nchan)"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
((node_major >= 18)) || skip "node $node_major is too old (18 or later: node --test, fetch)"

# puppeteer-core next to the test (git-ignored), else in the build tree
# (a read-only source tree).
pp_dir=$srcdir/tests/browser
if [[ ! -d $pp_dir/node_modules/puppeteer-core ]]; then
	[[ -w $pp_dir ]] || pp_dir=${abs_top_builddir:-$PWD}/tests/browser
	if [[ ! -d $pp_dir/node_modules/puppeteer-core ]]; then
		mkdir -p "$pp_dir"
		echo "# npm install puppeteer-core@$puppeteer_version into $pp_dir/node_modules"
		PUPPETEER_SKIP_DOWNLOAD=1 PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1 \
			npm install --no-save --no-audit --no-fund --no-package-lock --prefix "$pp_dir" \
			"puppeteer-core@$puppeteer_version" >"${TMPDIR:-/tmp}/browser-npm.$$.log" 2>&1 || {
			tail -n 20 "${TMPDIR:-/tmp}/browser-npm.$$.log"
			rm -f "${TMPDIR:-/tmp}/browser-npm.$$.log"
			skip "npm install puppeteer-core failed (no network? install it by hand: PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-save --prefix $pp_dir puppeteer-core)"
		}
		rm -f "${TMPDIR:-/tmp}/browser-npm.$$.log"
	fi
fi
echo "# $("$chromium" --version 2>/dev/null | head -n 1); node $(node --version); puppeteer-core $(node -p "require('$pp_dir/node_modules/puppeteer-core/package.json').version")"

# ------------------------------------------------------------ 1. unit tests

unit_out=$(node --test "$srcdir/tests/browser/client_unit.test.mjs" 2>&1)
unit_rc=$?
unit_pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' <<<"$unit_out")
unit_fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' <<<"$unit_out")
grep -E '^(not )?ok [0-9]+ - ' <<<"$unit_out" | sed 's/^/unit: /'
if ((unit_rc != 0)) || [[ -z $unit_pass ]]; then
	echo "$unit_out" | grep -v '^ *\(duration_ms\|\.\.\.\|---\)' | tail -n 60
fi
n_pass=$((n_pass + ${unit_pass:-0}))
n_fail=$((n_fail + ${unit_fail:-0}))
if ((unit_rc != 0)) && [[ ${unit_fail:-0} == 0 ]]; then
	not_ok "node --test tests/browser/client_unit.test.mjs" "exit $unit_rc"
fi

# ------------------------------------------------------------ 2. the stack

stack_prepare web 18700 56700 30 --copy-bin
stack_up

student=$(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)
admin_token=$("$dev" token --role admin --sub 00000000-0000-4000-8000-00000000a001 --ttl 3600) || exit 99
student_token=$("$dev" token --role student --sub "$student" --ttl 3600) || exit 99
student2_token=$("$dev" token --role student --sub "$(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)" --ttl 3600) || exit 99
proctor_token=$("$dev" token --role proctor --sub 00000000-0000-4000-8000-00000000b001 --ttl 3600) || exit 99
exam_id=$(stack_new_exam "$admin_token" '{"title": "Browser test exam", "time_limit_s": 1800, "grace_s": 30}') || exit 99

# The page is served from the checkout by the embedded nginx.
code=$(curl -sS -m 5 -o /dev/null -w '%{http_code} %{content_type}' "$url/exam/attempts-client.js")
if [[ $code == "200 text/javascript"* ]]; then ok "nginx serves the client module at /exam/ as JavaScript"; else not_ok "nginx serves the client module at /exam/ as JavaScript" "$code"; fi
code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "$url/exam/")
if [[ $code == 200 ]]; then ok "nginx serves the exam page at /exam/"; else not_ok "nginx serves the exam page at /exam/" "$code"; fi

code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "$url/proctor/")
if [[ $code == 200 ]]; then ok "nginx serves the proctor page at /proctor/"; else not_ok "nginx serves the proctor page at /proctor/" "$code"; fi
if grep -q '^load_module .*ngx_nchan_module' "$dir/nginx/nginx.conf"; then
	ok "the stack's nginx loads nchan"
else
	not_ok "the stack's nginx loads nchan" "no load_module line in $dir/nginx/nginx.conf"
fi
# Without nchan the same stack must still start: its configuration with
# the module left out and attempts-live-off.conf instead passes nginx -t.
sed -e 's|^load_module .*ngx_nchan_module.*|# no nchan|' -e 's|nginx/attempts-live\.conf|nginx/attempts-live-off.conf|' \
	"$dir/nginx/nginx.conf" >"$dir/nginx/nginx-nolive.conf"
if out=$("$(command -v nginx || echo /usr/sbin/nginx)" -t -q -p "$dir/nginx/" -c "$dir/nginx/nginx-nolive.conf" -e "$dir/logs/nginx-nolive.log" 2>&1); then
	ok "without nchan the stack's nginx configuration (attempts-live-off.conf) is valid"
else
	not_ok "without nchan the stack's nginx configuration (attempts-live-off.conf) is valid" "$out"
fi
code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' -H 'Accept: text/event-stream' -H "Authorization: Bearer $student_token" "$url/api/exams/$exam_id/live")
if [[ $code == 403 ]]; then ok "a student may not subscribe to the live feed (403)"; else not_ok "a student may not subscribe to the live feed (403)" "$code"; fi

rm -rf "$artefacts"
mkdir -p "$artefacts"
pg_lib=$srcdir/lib/sh/pg.sh
BT_URL=$url BT_EXAM=$exam_id BT_TOKEN=$student_token BT_CHROMIUM=$chromium \
	BT_TOKEN2=$student2_token BT_PROCTOR_TOKEN=$proctor_token \
	BT_PUPPETEER=$pp_dir BT_PSQL=$PSQL BT_CONNINFO=$conninfo BT_ARTEFACTS=$artefacts \
	BT_PG_STOP=". '$pg_lib' && pg_cluster_stop '$dir/pg'" \
	BT_PG_START=". '$pg_lib' && pg_cluster_start '$dir/pg' '$pgport' >/dev/null" \
	node "$srcdir/tests/browser/browser_test.mjs" | tee "$dir/browser.out"
node_rc=${PIPESTATUS[0]}
b_pass=$(sed -n 's/^browser_test.mjs: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$dir/browser.out")
b_fail=$(sed -n 's/^browser_test.mjs: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$dir/browser.out")
n_pass=$((n_pass + ${b_pass:-0}))
n_fail=$((n_fail + ${b_fail:-0}))
if [[ -z $b_pass ]]; then
	not_ok "tests/browser/browser_test.mjs ran to its summary" "exit $node_rc"
	((node_rc == 99)) && exit 99
fi

echo "# screenshots and figures: $artefacts"
summary browser
((n_fail == 0))
