#!/bin/sh
# tests/cli_test.sh — the command line of attempts.fcgi: --help (exit 0,
# every configuration key with its default and variable), --version, a bad
# command (usage on stderr, exit 2), and the man page (every command named,
# and well-formed for groff/mandoc when one is installed).
top=${abs_top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${abs_top_builddir:-$top}/cgi-bin/attempts.fcgi
[ -x "$bin" ] || { echo "cli_test: $bin not built" >&2; exit 99; }
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1${2:+: $2}"; }
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

if env -i "$bin" --help >"$tmp/help" 2>"$tmp/err"; then ok "--help exits 0 without any configuration"; else not_ok "--help exits 0" "$(cat "$tmp/err")"; fi
"$bin" config-table | tail -n +3 | while IFS='|' read -r _ key var def _; do
	key=$(echo "$key" | tr -d ' `'); var=$(echo "$var" | tr -d ' `'); def=$(echo "$def" | sed 's/^ *//; s/ *$//')
	grep -qF "  $key = $def  ($var)" "$tmp/help" || echo "$key"
done >"$tmp/missing"
if [ ! -s "$tmp/missing" ]; then ok "--help lists every key with its default and variable"; else not_ok "--help lists every key" "missing: $(tr '\n' ' ' <"$tmp/missing")"; fi
for cmd in token check-config config-table routes cors-map --version; do
	grep -q -- "attempts.fcgi $cmd" "$tmp/help" || grep -q -- "$cmd" "$tmp/help" || echo "$cmd"
done >"$tmp/missing"
if [ ! -s "$tmp/missing" ]; then ok "--help names every command"; else not_ok "--help names every command" "$(cat "$tmp/missing")"; fi
version=$(env -i "$bin" --version)
case $version in
"attempts.fcgi "[0-9]*.[0-9]*) ok "--version: $version" ;;
*) not_ok "--version prints attempts.fcgi and the version" "$version" ;;
esac
env -i ATTEMPTS_JWT_SECRET=0123456789abcdef0123456789abcdef "$bin" no-such-command >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "^usage: attempts.fcgi" "$tmp/err" && [ ! -s "$tmp/out" ]; then ok "a bad command: usage on stderr, exit 2"; else not_ok "a bad command: usage on stderr, exit 2" "exit $rc"; fi
man=$top/docs/attempts.fcgi.8
for word in token check-config config-table help version SIGHUP ATTEMPTS_CONFIG; do
	sed 's/\\//g' "$man" | grep -q -- "$word" || echo "$word"
done >"$tmp/missing"
if [ ! -s "$tmp/missing" ]; then ok "the man page names the commands, signals and ATTEMPTS_CONFIG"; else not_ok "the man page is complete" "missing: $(cat "$tmp/missing")"; fi
if command -v groff >/dev/null 2>&1; then
	if groff -man -Tutf8 -ww -z "$man" 2>"$tmp/groff" && [ ! -s "$tmp/groff" ]; then ok "groff renders the man page without warnings"; else not_ok "groff renders the man page without warnings" "$(head -n 5 "$tmp/groff")"; fi
elif command -v mandoc >/dev/null 2>&1; then
	if mandoc -T lint -W warning "$man" >"$tmp/lint" 2>&1; then ok "mandoc lint: no warnings"; else not_ok "mandoc lint" "$(head -n 5 "$tmp/lint")"; fi
else
	not_ok "a man page renderer (groff or mandoc) to check the page" "install groff-base"
fi
echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
