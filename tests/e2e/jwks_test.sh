#!/usr/bin/env bash
# tests/e2e/jwks_test.sh — tokens from an identity provider, through the
# real stack (automake runs it from `make check`).
#
# Makes RSA and P-256 keys with the openssl command, writes their public
# halves as a JWKS file, starts the embedded stack (`./dev up`) with
# jwt_jwks_file, jwt_audience and jwt_issuer set, signs tokens with
# `openssl dgst` (nothing of lib/ signs here) and checks over HTTP: RS256
# and ES256 accepted; the 401s say why (unknown kid, alg confusion, aud,
# iss, expired) with WWW-Authenticate error="invalid_token", and no token
# gets `Bearer` alone; then the key rotation: the file changes, SIGHUP to
# each worker (and USR2 to multiwatch, which forwards it) makes them read
# it again without a restart, a removed key's tokens fail at once (the memo
# forgets them), and a broken file keeps the keys in use.
# Exit 77 (skip) when nginx, spawn-fcgi, multiwatch, PostgreSQL or openssl
# is missing, 99 when the stack cannot be started.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib/stack.sh
. "$here/../lib/stack.sh"
stack_need_tools
have_tool openssl || skip "openssl not installed"
have_tool xxd || skip "xxd not installed"
stack_prepare jwks 18480 56400 30

keys=$dir/keys
mkdir -p "$keys"
AUD=exam-api
ISS=https://idp.example

# ------------------------------------------------------------ JOSE in shell

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

# jwk_rsa FILE KID: the public JWK of an RSA key.
jwk_rsa() {
	local n
	n=$(openssl rsa -in "$1" -noout -modulus 2>/dev/null | cut -d= -f2 | xxd -r -p | b64url)
	printf '{"kty":"RSA","kid":"%s","use":"sig","alg":"RS256","e":"AQAB","n":"%s"}' "$2" "$n"
}

# jwk_ec FILE KID: the public JWK of a P-256 key (the last 64 bytes of its
# DER SubjectPublicKeyInfo are x and y).
jwk_ec() {
	local pt
	pt=$(openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | tail -c 64 | xxd -p | tr -d '\n')
	printf '{"kty":"EC","crv":"P-256","kid":"%s","x":"%s","y":"%s"}' "$2" \
		"$(printf %s "${pt:0:64}" | xxd -r -p | b64url)" "$(printf %s "${pt:64:64}" | xxd -r -p | b64url)"
}

# der_to_raw: an ECDSA-Sig-Value (DER, stdin) as the JWS r||s (stdout).
der_to_raw() {
	local v
	openssl asn1parse -inform DER 2>/dev/null | sed -n 's/.*INTEGER *:\([0-9A-Fa-f]*\).*/\1/p' |
		while read -r v; do
			v=${v#"${v%%[!0]*}"} # no leading zeros ...
			((${#v} % 2)) && v=0$v
			printf '%064s' "$v" | tr ' ' 0 # ... then 32 bytes
		done | xxd -r -p
}

# token HEADER PAYLOAD HOW [KEY]: a compact JWS; HOW is rsa, ec (KEY a PEM
# private key), hmac (KEY a file whose bytes are the secret) or none.
token() {
	local input
	input="$(printf %s "$1" | b64url).$(printf %s "$2" | b64url)"
	case $3 in
	rsa) sig=$(printf %s "$input" | openssl dgst -sha256 -sign "$4" | b64url) ;;
	ec) sig=$(printf %s "$input" | openssl dgst -sha256 -sign "$4" | der_to_raw | b64url) ;;
	hmac) sig=$(printf %s "$input" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(xxd -p "$4" | tr -d '\n')" -binary | b64url) ;;
	*) sig= ;;
	esac
	printf '%s.%s' "$input" "$sig"
}

now=$(date +%s)
sub=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
claims() { # [extra members]
	printf '{"sub":"%s","role":"student","iat":%d,"exp":%d,"iss":"%s","aud":"%s"%s}' \
		"$sub" "$now" $((now + 3600)) "$ISS" "$AUD" "${1:-}"
}

for k in r1 r2; do
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$keys/$k.pem" 2>/dev/null ||
		skip "openssl genpkey cannot make RSA keys"
done
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$keys/e1.pem" 2>/dev/null ||
	skip "openssl genpkey cannot make P-256 keys"
openssl pkey -in "$keys/r1.pem" -pubout -out "$keys/r1.pub.pem" 2>/dev/null
jwks=$dir/jwks.json
printf '{"keys":[%s,%s]}\n' "$(jwk_rsa "$keys/r1.pem" r1)" "$(jwk_ec "$keys/e1.pem" e1)" >"$jwks"

# ------------------------------------------------------------ the stack

export ATTEMPTS_WORKERS=2 ATTEMPTS_THREADS=2
export ATTEMPTS_JWT_JWKS_FILE=$jwks ATTEMPTS_JWT_AUDIENCE=$AUD ATTEMPTS_JWT_ISSUER=$ISS
stack_up
state_url=$url/api/attempts/$sub?action=state
mw_pid=$(read_pid "$dir/fcgi.pid")
mapfile -t workers < <(children_of "$mw_pid")
log=$dir/logs/workers.log

# ask TOKEN: one GET state; sets status, www (the WWW-Authenticate value)
# and message (the error message). An accepted token meets no attempt: 404.
ask() {
	local out
	if [[ -n $1 ]]; then
		out=$(curl -s -m 10 -D - -H "Authorization: Bearer $1" "$state_url" | tr -d '\r')
	else
		out=$(curl -s -m 10 -D - "$state_url" | tr -d '\r')
	fi
	status=$(sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p' <<<"$out")
	www=$(sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: //p' <<<"$out")
	message=$(tail -n 1 <<<"$out" | sed -n 's/.*"message": *"\([^"]*\)".*/\1/p')
	code=$(tail -n 1 <<<"$out" | sed -n 's/.*"code": *"\([^"]*\)".*/\1/p')
}

# on_every_worker DESC TOKEN TEST...: asks with TOKEN 4 times (so every
# worker answers); ok DESC when the command TEST held after each answer,
# else not_ok with the last answer that failed it.
on_every_worker() {
	local desc=$1 tok=$2 i bad=
	shift 2
	for ((i = 0; i < 4; i++)); do
		ask "$tok"
		"$@" || bad="$status $code '$message' / $www"
	done
	if [[ -z $bad ]]; then ok "$desc"; else not_ok "$desc" "$bad"; fi
}

# accepted DESC TOKEN: the token passes on every worker. (The tests are
# single-quoted: on_every_worker evaluates them after each answer.)
# shellcheck disable=SC2016
accepted() {
	on_every_worker "$1" "$2" eval '[[ $status == 404 ]]'
}

# refused DESC TOKEN MESSAGE: 401 unauthorized saying MESSAGE, in the body
# and in the challenge, on every worker.
# shellcheck disable=SC2016,SC2034
refused() {
	local msg=$3 want="Bearer error=\"invalid_token\", error_description=\"$3\""
	on_every_worker "$1" "$2" eval '[[ $status == 401 && $code == unauthorized && $message == "$msg" && $www == "$want" ]]'
}

# reloads_seen: how many times a worker has logged a reload.
reloads_seen() { grep -c 'reload: ' "$log" 2>/dev/null || true; }

# wait_reloads N: until the log holds N reload lines (5 s at most).
wait_reloads() {
	local i
	for ((i = 0; i < 50; i++)); do
		(($(reloads_seen) >= $1)) && return 0
		sleep 0.1
	done
	return 1
}

# reload_by SIG PID...: sends SIG to each PID; true once every worker has
# logged one more reload (5 s at most).
reload_by() {
	local before
	before=$(reloads_seen)
	kill "-$1" "${@:2}"
	wait_reloads $((before + ${#workers[@]}))
}

# ------------------------------------------------------------ checks

rs1=$(token '{"alg":"RS256","typ":"JWT","kid":"r1"}' "$(claims)" rsa "$keys/r1.pem")
rs2=$(token '{"alg":"RS256","typ":"JWT","kid":"r2"}' "$(claims)" rsa "$keys/r2.pem")
es1=$(token '{"alg":"ES256","typ":"JWT","kid":"e1"}' "$(claims)" ec "$keys/e1.pem")

# An example for the reader of the log: one RS256 request and its answer.
echo "# curl -i -H 'Authorization: Bearer $rs1' '$state_url'"
curl -s -m 10 -i -H "Authorization: Bearer $rs1" "$state_url" | tr -d '\r' | sed 's/^/#   /'
echo
accepted "an RS256 token of key r1 is accepted" "$rs1"
accepted "an ES256 token of key e1 is accepted" "$es1"
accepted "aud may be a list holding jwt_audience" \
	"$(token '{"alg":"RS256","kid":"r1"}' "$(claims | sed 's/"aud":"[^"]*"/"aud":["other","exam-api"]/')" rsa "$keys/r1.pem")"
refused "a kid the file does not have" "$rs2" "the token's kid names no known key"
refused "an RS256 token without a kid" \
	"$(token '{"alg":"RS256"}' "$(claims)" rsa "$keys/r1.pem")" "the token's kid names no known key"
refused "HS256 keyed with r1's public key, naming r1" \
	"$(token '{"alg":"HS256","kid":"r1"}' "$(claims)" hmac "$keys/r1.pub.pem")" \
	"the token's alg is not the algorithm of its key"
refused "HS256 keyed with r1's public key, no kid (the secret's)" \
	"$(token '{"alg":"HS256"}' "$(claims)" hmac "$keys/r1.pub.pem")" "the token's signature is invalid"
refused "alg none" "$(token '{"alg":"none","kid":"r1"}' "$(claims)" none)" \
	"the token's alg is not the algorithm of its key"
refused "r1's token signed by r2" \
	"$(token '{"alg":"RS256","kid":"r1"}' "$(claims)" rsa "$keys/r2.pem")" "the token's signature is invalid"
refused "another audience" \
	"$(token '{"alg":"RS256","kid":"r1"}' "$(claims | sed 's/"aud":"[^"]*"/"aud":"other"/')" rsa "$keys/r1.pem")" \
	"the token is not for this audience (aud)"
refused "another issuer" \
	"$(token '{"alg":"ES256","kid":"e1"}' "$(claims | sed 's|"iss":"[^"]*"|"iss":"https://evil.example"|')" ec "$keys/e1.pem")" \
	"the token's issuer is not accepted (iss)"
refused "an expired token" \
	"$(token '{"alg":"RS256","kid":"r1"}' "$(claims | sed "s/\"exp\":[0-9]*/\"exp\":$((now - 120))/")" rsa "$keys/r1.pem")" \
	"the token has expired"
refused "a token that is no JWS" "not.a.token" "the token is malformed"
ask ""
if [[ $status == 401 && $code == unauthorized && $www == Bearer ]]; then
	ok "no token: 401 with WWW-Authenticate: Bearer alone"
else
	not_ok "no token: 401 with WWW-Authenticate: Bearer alone" "$status $code / $www"
fi

# Rotation: r2 comes, r1 goes; each worker is told with SIGHUP.
printf '{"keys":[%s,%s]}\n' "$(jwk_rsa "$keys/r2.pem" r2)" "$(jwk_ec "$keys/e1.pem" e1)" >"$jwks"
accepted "until the reload the old keys serve" "$rs1"
if reload_by HUP "${workers[@]}"; then
	ok "SIGHUP: each of ${#workers[@]} workers re-read the JWKS file"
else
	not_ok "SIGHUP: each of ${#workers[@]} workers re-read the JWKS file" "$(grep 'reload' "$log" | tail -n 4)"
fi
refused "after SIGHUP r1 (remembered by the workers) names no key" "$rs1" \
	"the token's kid names no known key"
accepted "after SIGHUP an RS256 token of r2 is accepted" "$rs2"
accepted "after SIGHUP e1, in both files, still is" "$es1"

# A broken file: the keys in use stay.
printf '{"keys":[' >"$jwks"
reload_by HUP "${workers[@]}" || true
if grep -q 'keys loaded before stay' "$log"; then
	ok "a broken JWKS file is logged and not used"
else
	not_ok "a broken JWKS file is logged and not used" "$(tail -n 4 "$log")"
fi
accepted "after a failed reload r2 still serves" "$rs2"

# USR2 to multiwatch reaches every worker (HUP would shut it down).
printf '{"keys":[%s]}\n' "$(jwk_rsa "$keys/r1.pem" r1)" >"$jwks"
if reload_by USR2 "$mw_pid"; then
	ok "USR2 to multiwatch: every worker re-read the file"
else
	not_ok "USR2 to multiwatch: every worker re-read the file" "$(grep 'reload' "$log" | tail -n 4)"
fi
accepted "after USR2 r1 is back" "$rs1"
refused "after USR2 r2 is gone" "$rs2" "the token's kid names no known key"

mapfile -t after < <(children_of "$mw_pid")
if [[ "${after[*]}" == "${workers[*]}" ]]; then
	ok "the workers were never restarted (pids ${workers[*]})"
else
	not_ok "the workers were never restarted" "before ${workers[*]}, after ${after[*]}"
fi

summary jwks_test
((n_fail == 0))
