#!/usr/bin/env bash
# tests/sql_injection_test.sh — a static check that no SQL text is built from
# input anywhere in lib/ and cgi-bin/, and that no secret reaches a log
# (automake runs it from `make check`; it needs only bash and awk).
#
# The rules (STYLE.md "libpq": parameters out of line, never build SQL by
# pasting strings):
#   1. Every PQexec, PQexecParams, PQprepare, PQsendQuery,
#      PQsendQueryParams and PQsendPrepare gets its SQL text as
#        - a string literal, or
#        - an entry of a `static const` table of the same file
#          (db.c's db_statements[i].sql: a static initializer can only
#          hold constants, so its strings are literals), or
#        - a parameter of the enclosing function, when every call of that
#          function in the same file passes a string literal there
#          (db_pool.c's exec_ok), or
#        - a buffer filled in the same function only by builder calls
#          listed below as allowed exceptions, with the reason.
#      Anything else fails, in particular a buffer filled by snprintf,
#      sprintf, buf_printf, strcat & co. in the same function.
#   2. No printf-family format string (snprintf, buf_printf, log_*, ...)
#      contains an SQL keyword in upper case (SELECT, INSERT, UPDATE,
#      DELETE, LISTEN, NOTIFY, ...), except the allowed exceptions.
#   3. The allowed LISTEN exception is checked: every listener_create()
#      call passes a `static const char *const` array of string literals
#      that are plain identifiers, and listener.c stores nothing else as
#      its channels.
#   4. No log call (log_debug/info/warn/error/log_msg, syslog, perror,
#      fprintf/fputs to stderr) passes an expression naming
#      authorization, token or (jwt_)secret; string literals do not count
#      (a message may say "token: bad --role").
# Comments are ignored; calls may span lines.
#
# It proves it can fail on every run: a self-test scans a throw-away tree
# with one injected violation of each rule (an snprintf'd SELECT sent with
# PQexec, a wrapper called with a non-literal, a non-constant LISTEN
# channel list, a log_info of req->authorization) and fails unless each is
# reported.
#
# Usage: tests/sql_injection_test.sh [ROOT]   (default: the checkout)
# Prints one line per SQL call site and per exception, then
# `sql_injection: N passed, N failed`; exit 0 clean, 1 violations (or a
# self-test that did not see its injected violations), 77 without awk.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/lib/stack.sh"
root=${1:-${abs_top_srcdir:-${srcdir:-$here/..}}}
root=$(cd "$root" && pwd)

command -v awk >/dev/null 2>&1 || {
	echo "SKIP: awk not found"
	exit 77
}

# Allowed exceptions: file|function|builder or format call (whitespace
# collapsed)|reason.
ALLOW=(
	'lib/listener.c|connect_and_listen|buf_printf(&sql, "LISTEN %s;", l->channels[i])|LISTEN takes no bind parameters; the channel names are compile-time constants (rule 3 checks them)'
	'lib/admin_ops.c|analyze_database|recommend(recs, "pg_stat_statements is not installed: add it to " "shared_preload_libraries and CREATE EXTENSION pg_stat_statements " "to see what each statement costs.")|advice text for the operator in the analyze answer, never sent to the database; no argument'
)

# ------------------------------------------------------------------ scanner

# The scanner reads one C file and prints tab-separated records:
#   FUNC   line func params          (params: names, space-separated)
#   CALL   line func callee sqlarg   (a libpq call and its SQL argument)
#   BUILD  line func dest calltext   (a builder writing into dest)
#   FMT    line func calltext        (a printf-family call whose string
#                                     literals hold an upper-case SQL keyword)
#   LOG    line func args            (a log call; literals blanked)
#   SITE   line func callee argN     (with -v wrappers="f:N ...": a call of f
#                                     and its Nth argument)
#   TOTAL  n                         (libpq calls anywhere in the file)
# shellcheck disable=SC2016 # awk program
SCANNER='
function lineof(pos,    s, n) {
	s = substr(code, 1, pos); n = gsub(/\n/, "", s); return n + 1
}
function squash(s) {
	gsub(/[ \t\r\n]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s
}
# Offset of the bracket matching the one at pos (in plain), or 0.
function match_fwd(pos, op, cl,    d, i, c) {
	d = 0
	for (i = pos; i <= n; i++) {
		c = substr(plain, i, 1)
		if (c == op) d++
		else if (c == cl) { d--; if (d == 0) return i }
	}
	return 0
}
function match_back(pos, op, cl,    d, i, c) {
	d = 0
	for (i = pos; i >= 1; i--) {
		c = substr(plain, i, 1)
		if (c == cl) d++
		else if (c == op) { d--; if (d == 0) return i }
	}
	return 0
}
# Splits the arguments of the call whose "(" is at pos into A[1..] (code
# text) and B[1..] (literals blanked); returns their count and sets CEND.
function split_args(pos,    d, i, c, na, start) {
	d = 0; na = 0; start = pos + 1
	for (i = pos; i <= n; i++) {
		c = substr(plain, i, 1)
		if (c == "(" || c == "[" || c == "{") d++
		else if (c == ")" || c == "]" || c == "}") {
			d--
			if (d == 0) {
				na++; A[na] = squash(substr(code, start, i - start))
				B[na] = squash(substr(plain, start, i - start))
				CEND = i
				if (na == 1 && A[1] == "") na = 0
				return na
			}
		} else if (c == "," && d == 1) {
			na++; A[na] = squash(substr(code, start, i - start))
			B[na] = squash(substr(plain, start, i - start)); start = i + 1
		}
	}
	CEND = n
	return na
}
function param_names(p,    parts, k, m, out, x) {
	m = split(p, parts, ",")
	out = ""
	for (k = 1; k <= m; k++) {
		x = parts[k]
		gsub(/\[[^]]*\]/, "", x)
		if (match(x, /[A-Za-z_][A-Za-z0-9_]*[ \t\n]*$/)) {
			x = squash(substr(x, RSTART, RLENGTH))
			if (x != "void") out = out (out == "" ? "" : " ") x
		}
	}
	return out
}
function literals(s,    out, t) {
	out = ""
	while (match(s, /"([^"\\]|\\.)*"/)) {
		out = out substr(s, RSTART + 1, RLENGTH - 2)
		s = substr(s, RSTART + RLENGTH)
	}
	return out
}
{ src = src $0 "\n" }
END {
	n = length(src)
	code = ""; plain = ""
	# Pass over characters: blank comments in code and plain, blank
	# literal contents in plain.
	st = 0   # 0 code, 1 string, 2 char, 3 line comment, 4 block comment
	for (i = 1; i <= n; i++) {
		c = substr(src, i, 1); c2 = substr(src, i, 2)
		if (st == 0) {
			if (c2 == "//") { st = 3; cc = " "; pc = " " }
			else if (c2 == "/*") { st = 4; cc = " "; pc = " " }
			else if (c == "\"") { st = 1; cc = c; pc = c }
			else if (c == "\047") { st = 2; cc = c; pc = c }
			else { cc = c; pc = c }
		} else if (st == 1 || st == 2) {
			q = (st == 1) ? "\"" : "\047"
			if (c == "\\") {
				cn = substr(src, i + 1, 1)
				code = code c (cn == "\n" ? " " : cn); plain = plain "  "; i++; continue
			}
			cc = (c == "\n") ? " " : c
			pc = (c == q) ? c : " "
			if (c == q) st = 0
		} else if (st == 3) {
			if (c == "\n") { st = 0; cc = c; pc = c } else { cc = " "; pc = " " }
		} else {
			if (c2 == "*/") { st = 0; code = code "  "; plain = plain "  "; i++; continue }
			cc = (c == "\n") ? c : " "; pc = cc
		}
		code = code cc; plain = plain pc
	}
	# Preprocessor lines are not code.
	nf = 0; depth = 0
	for (i = 1; i <= n; i++) {
		c = substr(plain, i, 1)
		if (c == "{") {
			if (depth == 0) {
				j = i - 1
				while (j > 0 && substr(plain, j, 1) ~ /[ \t\n]/) j--
				if (substr(plain, j, 1) == ")") {
					o = match_back(j, "(", ")")
					k = o - 1
					while (k > 0 && substr(plain, k, 1) ~ /[ \t\n]/) k--
					e = k
					while (k > 0 && substr(plain, k, 1) ~ /[A-Za-z0-9_]/) k--
					name = substr(plain, k + 1, e - k)
					if (name != "" && name !~ /^(if|for|while|switch)$/) {
						nf++; FN[nf] = name; FS_[nf] = i
						FP[nf] = param_names(substr(code, o + 1, j - o - 1))
						FE[nf] = match_fwd(i, "{", "}")
						printf "FUNC\t%d\t%s\t%s\n", lineof(i), name, FP[nf]
					}
				}
			}
			depth++
		} else if (c == "}") depth--
	}
	# Every libpq call of the file, in or out of a function found above:
	# the caller compares this with the CALL records (a function this
	# scanner did not recognise must not hide a call).
	t = plain; total = 0
	while (match(t, /PQ(exec|execParams|prepare|sendQuery|sendQueryParams|sendPrepare)[ \t\n]*\(/)) {
		if (RSTART == 1 || substr(t, RSTART - 1, 1) !~ /[A-Za-z0-9_]/) total++
		t = substr(t, RSTART + RLENGTH)
	}
	printf "TOTAL\t%d\n", total
	nw = split(wrappers, W, " ")
	for (f = 1; f <= nf; f++) {
		body = substr(plain, FS_[f], FE[f] - FS_[f] + 1)
		off = FS_[f] - 1
		while (match(body, /[A-Za-z_][A-Za-z0-9_]*[ \t\n]*\(/)) {
			callee = substr(body, RSTART, RLENGTH)
			sub(/[ \t\n]*\($/, "", callee)
			p = off + RSTART + RLENGTH - 1    # the "(" in plain
			adv = RSTART + RLENGTH - 1
			body = substr(body, adv + 1); off += adv
			if (callee ~ /^(if|for|while|switch|return|sizeof|_Static_assert|defined)$/) continue
			na = split_args(p)
			ln = lineof(p)
			ctext = callee "(" ""
			for (k = 1; k <= na; k++) ctext = ctext (k > 1 ? ", " : "") A[k]
			ctext = ctext ")"
			if (callee ~ /^PQ(exec|execParams|sendQuery|sendQueryParams)$/ && na >= 2)
				printf "CALL\t%d\t%s\t%s\t%s\n", ln, FN[f], callee, A[2]
			else if (callee ~ /^PQ(prepare|sendPrepare)$/ && na >= 3)
				printf "CALL\t%d\t%s\t%s\t%s\n", ln, FN[f], callee, A[3]
			if (callee ~ /^(v?s?n?printf|v?asprintf|str(n)?cat|str(n)?cpy|stpcpy|mem(cpy|move)|buf_(printf|puts|append|putc))$/ && na >= 1 && callee !~ /^v?printf$/) {
				d = A[1]; sub(/^&[ ]*/, "", d)
				if (match(d, /^[A-Za-z_][A-Za-z0-9_]*/)) d = substr(d, RSTART, RLENGTH)
				printf "BUILD\t%d\t%s\t%s\t%s\n", ln, FN[f], d, ctext
			}
			if (callee ~ /printf$/ || callee ~ /^log_(debug|info|warn|error|msg)$/ || callee ~ /^(set_errmsg|recommend|http_headerf)$/) {
				lit = ""
				for (k = 1; k <= na; k++) lit = lit " " literals(A[k])
				if (lit ~ /(^|[^A-Za-z_])(SELECT|INSERT|UPDATE|DELETE|MERGE|LISTEN|UNLISTEN|NOTIFY|CREATE|DROP|ALTER|TRUNCATE|COPY|GRANT|REVOKE|EXECUTE|PREPARE|VACUUM|WHERE|FROM)([^A-Za-z_]|$)/)
					printf "FMT\t%d\t%s\t%s\n", ln, FN[f], ctext
			}
			islog = callee ~ /^(log_(debug|info|warn|error|msg)|v?syslog|perror)$/
			if (callee ~ /^(v?fprintf|fputs|fputc|fwrite)$/) {
				for (k = 1; k <= na; k++) if (A[k] == "stderr") islog = 1
			}
			if (callee == "dprintf" && (A[1] == "2" || A[1] == "STDERR_FILENO")) islog = 1
			if (islog) {
				args = ""
				for (k = 1; k <= na; k++) args = args (k > 1 ? ", " : "") B[k]
				printf "LOG\t%d\t%s\t%s(%s)\n", ln, FN[f], callee, args
			}
			for (k = 1; k <= nw; k++) {
				split(W[k], WP, ":")
				if (callee == WP[1] && FN[f] != WP[1])
					printf "SITE\t%d\t%s\t%s\t%s\n", ln, FN[f], callee, (WP[2] <= na ? A[WP[2]] : "")
			}
		}
	}
}
'

# allowed_reason FILE FUNC TEXT: the reason ALLOW gives for TEXT in
# function FUNC of FILE (relative to the tree); nothing if it is not allowed.
allowed_reason() {
	local a af afn atext areason reason=
	for a in "${ALLOW[@]}"; do
		IFS='|' read -r af afn atext areason <<<"$a"
		if [[ $af == "$1" && $afn == "$2" && $atext == "$3" ]]; then
			reason=$areason
		fi
	done
	[[ -z $reason ]] || printf '%s\n' "$reason"
}

# scan_tree ROOT: checks every .c file of ROOT/lib and ROOT/cgi-bin; prints
# one line per finding; sets n_pass and n_fail.
scan_tree() {
	local tree=$1 f rel recs kind line func callee arg rest base params idx allowed a reason
	local -a files=()
	n_pass=0
	n_fail=0
	while IFS= read -r f; do files+=("$f"); done < <(find "$tree/lib" "$tree/cgi-bin" -name '*.c' 2>/dev/null | sort)
	if ((${#files[@]} == 0)); then
		not_ok "no C files under $tree/lib and $tree/cgi-bin"
		return
	fi
	for f in "${files[@]}"; do
		rel=${f#"$tree"/}
		recs=$(awk -v wrappers="" "$SCANNER" "$f") || {
			not_ok "$rel: the scanner failed"
			continue
		}
		local wrappers=""
		local ncalls total
		ncalls=$(grep -c '^CALL' <<<"$recs")
		total=$(awk -F'\t' '$1 == "TOTAL" { print $2 }' <<<"$recs")
		if [[ $ncalls != "$total" ]]; then
			not_ok "$rel: $total libpq calls in the code but $ncalls inside functions the scanner understood"
		fi
		# Rule 1: the SQL argument of every libpq call.
		while IFS=$'\t' read -r kind line func callee arg; do
			[[ $kind == CALL ]] || continue
			if [[ $arg == \"* ]]; then
				ok "$rel:$line $func: $callee with a string literal"
				continue
			fi
			if [[ $arg =~ ^([A-Za-z_][A-Za-z0-9_]*)\[[^]]*\]\.[A-Za-z_][A-Za-z0-9_]*$ ]]; then
				base=${BASH_REMATCH[1]}
				if grep -Eq "^static const [A-Za-z_ ]+[ *]$base\[" "$f"; then
					ok "$rel:$line $func: $callee with an entry of the static const table $base"
				else
					not_ok "$rel:$line $func: $callee with $arg, but $base is not a static const table"
				fi
				continue
			fi
			base=$(sed -E 's/^\(?[ ]*([A-Za-z_][A-Za-z0-9_]*).*/\1/' <<<"$arg")
			params=$(awk -F'\t' -v fn="$func" '$1 == "FUNC" && $3 == fn { print $4 }' <<<"$recs")
			idx=0
			local i=0 p
			for p in $params; do
				i=$((i + 1))
				[[ $p == "$base" ]] && idx=$i
			done
			if ((idx > 0)); then
				ok "$rel:$line $func: $callee with its parameter '$base' (call sites checked below)"
				wrappers+="$func:$idx "
				continue
			fi
			local builds
			builds=$(awk -F'\t' -v fn="$func" -v d="$base" '$1 == "BUILD" && $3 == fn && $4 == d { print $2 "\t" $5 }' <<<"$recs")
			if [[ -z $builds ]]; then
				not_ok "$rel:$line $func: $callee with '$arg', neither a literal, a table entry nor a checked parameter"
				continue
			fi
			allowed=1
			while IFS=$'\t' read -r bl rest; do
				reason=$(allowed_reason "$rel" "$func" "$rest")
				if [[ -n $reason ]]; then
					echo "ok - $rel:$bl $func: allowed exception: $rest -- $reason"
				else
					echo "not ok - $rel:$bl $func: SQL text built from a string: $rest (sent by $callee at line $line)"
					allowed=0
				fi
			done <<<"$builds"
			if ((allowed)); then
				n_pass=$((n_pass + 1))
			else
				n_fail=$((n_fail + 1))
			fi
		done <<<"$recs"
		# Rule 1, wrappers: every call site passes a literal.
		if [[ -n $wrappers ]]; then
			while IFS=$'\t' read -r kind line func callee arg; do
				[[ $kind == SITE ]] || continue
				if [[ $arg == \"* ]]; then
					ok "$rel:$line $func: calls $callee with a string literal"
				else
					not_ok "$rel:$line $func: calls $callee (which sends its argument as SQL) with '$arg'"
				fi
			done < <(awk -v wrappers="$wrappers" "$SCANNER" "$f")
		fi
		# Rule 2: SQL keywords in format strings.
		while IFS=$'\t' read -r kind line func rest; do
			[[ $kind == FMT ]] || continue
			reason=$(allowed_reason "$rel" "$func" "$rest")
			if [[ -n $reason ]]; then
				ok "$rel:$line $func: allowed SQL format: $rest -- $reason"
			else
				not_ok "$rel:$line $func: a format string holds SQL: $rest"
			fi
		done <<<"$recs"
		# Rule 4: secrets in log calls.
		while IFS=$'\t' read -r kind line func rest; do
			[[ $kind == LOG ]] || continue
			if grep -Eiq '[A-Za-z0-9_]*(authorization|token|secret)[A-Za-z0-9_]*' <<<"$rest"; then
				not_ok "$rel:$line $func: a log call passes a secret: $rest"
			fi
		done <<<"$recs"
	done
	check_channels "$tree"
}

# Rule 3: listener channels are constants.
check_channels() {
	local tree=$1 f line name decl lits rest
	local found=0
	while IFS=: read -r f line rest; do
		[[ -n $f ]] || continue
		found=1
		name=$(sed -E 's/.*listener_create\([^,]*,[ ]*([A-Za-z_][A-Za-z0-9_]*)[ ]*,.*/\1/' <<<"$rest")
		if [[ ! $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
			not_ok "${f#"$tree"/}:$line: listener_create's channels are not a named array: $rest"
			continue
		fi
		decl=$(awk -v n="$name" '
			index($0, "static const char *const " n "[]") == 1 { on = 1 }
			on { printf "%s ", $0 }
			on && /;/ { exit }' "$f")
		lits=${decl#*=}
		lits=$(sed -E 's/[[:space:]]+/ /g; s/^ *\{//; s/\} *; *$//' <<<"$lits")
		if [[ -z $decl ]] ||
			! grep -Eq '^ *("[a-z_][a-z0-9_]*" *, *)+NULL *$' <<<"$lits"; then
			not_ok "${f#"$tree"/}:$line: channels '$name' are not a static const char *const array of identifier literals ending in NULL: ${decl:-no declaration found}"
		else
			ok "${f#"$tree"/}:$line: LISTEN channels $name are constants: $lits"
		fi
	done < <(grep -rn --include='*.c' 'listener_create(' "$tree/lib" "$tree/cgi-bin" 2>/dev/null |
		grep -v 'att_err listener_create(' | grep -v '^[^:]*:[0-9]*:[ 	]*/\?\*')
	if [[ -f $tree/lib/listener.c ]]; then
		rest=$(grep -n -- '->channels[ ]*=' "$tree/lib/listener.c" | grep -v 'l->channels = channels;')
		if [[ -n $rest ]]; then
			not_ok "lib/listener.c: channels set from something else than listener_create's argument: $rest"
		fi
		((found)) || {
			not_ok "lib/listener.c exists but no listener_create() call was found to check"
		}
	fi
}

# ------------------------------------------------------------------ the tree

echo "# sql_injection: scanning $root/lib and $root/cgi-bin"
scan_tree "$root"
real_ok=$n_pass
real_bad=$n_fail

# ------------------------------------------------------------------ self-test

# A throw-away tree with one injected violation per rule; each must be
# reported, else this test cannot fail and says so.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sqli-selftest.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lib" "$tmp/cgi-bin"
cat >"$tmp/lib/injected.c" <<'EOF'
/* Injected violations for the self-test of tests/sql_injection_test.sh. */
static void state_by_id(PGconn *conn, const char *id)
{
	char q[256];

	/* rule 1 and 2: SQL pasted from input */
	snprintf(q, sizeof q, "SELECT attempts.get_attempt_state('%s')", id);
	PQclear(PQexec(conn,
		       q));
}

static int run_sql(PGconn *c, const char *sql)
{
	PGresult *r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 0);
	return r != NULL;
}

static void via_wrapper(PGconn *c, const char *input)
{
	run_sql(c, "SELECT 1");
	run_sql(c, input); /* rule 1: a wrapper fed with input */
}

static void log_header(const http_request *req)
{
	/* rule 4 */
	log_info("request from %s with %s", req->remote,
		 req->authorization);
}

static void make_listener(const char *const *from_input)
{
	listener *l;
	(void)listener_create("db", from_input, &cb, &l); /* rule 3 */
}
EOF
cat >"$tmp/lib/listener.c" <<'EOF'
static void set(listener *l, const char *const *channels) { l->channels = channels; }
EOF
saved_ok=$n_pass
scan_out=$(scan_tree "$tmp")
expect=(
	"SQL text built from a string: snprintf(q"
	"a format string holds SQL: snprintf(q"
	"calls run_sql (which sends its argument as SQL) with 'input'"
	"a log call passes a secret: log_info("
	"channels 'from_input' are not a static const"
)
self_bad=0
for e in "${expect[@]}"; do
	if grep -qF -- "$e" <<<"$scan_out"; then
		echo "ok - self-test: the injected violation is reported: $e"
	else
		echo "not ok - self-test: the injected violation was not reported: $e"
		self_bad=$((self_bad + 1))
	fi
done
if grep -qF 'calls run_sql (which sends its argument as SQL) with '\''"SELECT 1"'\''' <<<"$scan_out"; then
	echo "not ok - self-test: a literal passed to a wrapper was reported"
	self_bad=$((self_bad + 1))
fi
n_pass=$saved_ok

echo "sql_injection: $((real_ok + ${#expect[@]} - self_bad)) passed, $((real_bad + self_bad)) failed"
((real_bad == 0 && self_bad == 0)) || exit 1
exit 0
