/* fuzz_jwt: libFuzzer harness for bearer-token verification
 * (auth_verify_header, auth_verify) and base64url (auth_b64url_decode,
 * auth_b64url_encode), with a fixed secret and a fixed clock.
 *
 * Input: byte 0 picks the mode (low 2 bits) and flags; the rest is:
 *   mode 0  an Authorization header value, verified as is;
 *   mode 1  a bare compact JWT, verified as is;
 *   mode 2  base64url text to decode (byte 1 = output capacity), and
 *           bytes to encode and decode back;
 *   mode 3  structure-aware: "<header JSON>\0<payload JSON>" (no NUL:
 *           the whole rest is the payload under the standard header),
 *           encoded and signed with the right secret here, so that the
 *           claim checks (sub, role, exp, nbf, iat, alg, typ, crit) run.
 *           Flag 0x04 signs with a wrong secret, 0x08 flips a signature
 *           character: both must then be refused. Bits 4..6 pick a second
 *           clock for a repeat verification (served from a verifier's memo
 *           of verified tokens), whose answer must follow the time rules too.
 *
 * Invariants: whatever is accepted has a header and a payload that pass
 * the body checker (json_parse: no NUL, no repeated name, nothing after
 * the value), alg exactly HS256, a canonical UUID sub and a known role
 * that are the payload's own, and claims JSON that parses back to the
 * same sub and role; in mode 3, acceptance matches a reference check of
 * the claims (strict JSON, whole-second dates) exactly;
 * base64url decoding is canonical (encode(decode(x)) == x) and
 * decode(encode(b)) == b. Tokens in the seed corpus are signed with
 * FUZZ_JWT_SECRET (`ATTEMPTS_JWT_SECRET=... cgi-bin/attempts.fcgi token
 * --ttl 315360000`), and FUZZ_NOW lies within their lifetime. */
#include <cJSON.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "json.h"
#include "uuid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_JWT_SECRET "fuzz-jwt-secret-0123456789abcdef-0123456789"
#define FUZZ_NOW ((time_t)1893456000) /* 2030-01-01T00:00:00Z */

static const char secret[] = FUZZ_JWT_SECRET;
#define SECRET_LEN (sizeof secret - 1)

/* A verifier of s (made once; verifiers remember the tokens they verified). */
static auth_verifier *verifier(const char *s, auth_verifier **slot)
{
	if (*slot == NULL) {
		auth_options opt = {.secret = s, .secret_len = strlen(s)};
		if (auth_verifier_create(&opt, slot, NULL) != ATT_OK)
			abort();
	}
	return *slot;
}

/* The JSON text of the base64url segment of n bytes at seg, parsed by the
 * body checker (json_parse), or NULL. */
static cJSON *strict_segment(const char *seg, size_t n)
{
	char raw[AUTH_MAX_TOKEN_LEN];
	long len = auth_b64url_decode(seg, n, (unsigned char *)raw, sizeof raw);

	return len > 0 ? json_parse(raw, (size_t)len) : NULL;
}

/* What a successful verification must have produced. */
static void check_claims(const auth_claims *c, const char *token, time_t now)
{
	cJSON *j, *header, *payload;
	const cJSON *sub, *role, *alg;
	const char *dot1, *dot2;

	if (!uuid_valid(c->sub) || auth_role_name(c->role) == NULL)
		abort();
	if ((long long)now > c->exp + AUTH_LEEWAY_S)
		abort();
	j = json_parse(c->json, strlen(c->json));
	if (j == NULL)
		abort();
	sub = cJSON_GetObjectItemCaseSensitive(j, "sub");
	role = cJSON_GetObjectItemCaseSensitive(j, "role");
	if (!cJSON_IsString(sub) || strcmp(sub->valuestring, c->sub) != 0 ||
	    !cJSON_IsString(role) || strcmp(role->valuestring, auth_role_name(c->role)) != 0)
		abort();
	cJSON_Delete(j);
	/* Header and payload follow the rules of bodies (API.md section 4):
	 * both pass the body checker, which leaves no NUL in any string, so
	 * the comparisons below are in full. alg must have been HS256: never
	 * "none", never anything else, never "HS256\u0000...". */
	while (*token == ' ')
		token++;
	dot1 = strchr(token, '.');
	dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
	if (dot2 == NULL)
		abort();
	header = strict_segment(token, (size_t)(dot1 - token));
	payload = strict_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	if (!cJSON_IsObject(header) || !cJSON_IsObject(payload))
		abort();
	alg = cJSON_GetObjectItemCaseSensitive(header, "alg");
	if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "HS256") != 0)
		abort();
	/* The claims are the payload's own, whole. */
	sub = cJSON_GetObjectItemCaseSensitive(payload, "sub");
	role = cJSON_GetObjectItemCaseSensitive(payload, "role");
	if (!cJSON_IsString(sub) || strcmp(sub->valuestring, c->sub) != 0 ||
	    !cJSON_IsString(role) || strcmp(role->valuestring, auth_role_name(c->role)) != 0)
		abort();
	cJSON_Delete(header);
	cJSON_Delete(payload);
}

static void verify_text(const char *text, int as_header)
{
	auth_claims c;
	att_err err;

	memset(&c, 0xa5, sizeof c);
	if (as_header)
		err = auth_verify_header(text, secret, SECRET_LEN, FUZZ_NOW, &c);
	else
		err = auth_verify(text, secret, SECRET_LEN, FUZZ_NOW, &c);
	if (err == ATT_OK) {
		const char *tok = text;
		if (as_header)
			tok = text + 7; /* "Bearer " checked by the library */
		check_claims(&c, tok, FUZZ_NOW);
	} else if (err != ATT_EAUTH) {
		abort();
	}
}

static void mode_b64(const uint8_t *data, size_t size)
{
	size_t cap;
	unsigned char *out;
	char *enc;
	long n;

	if (size < 1)
		return;
	cap = data[0];
	data++;
	size--;
	/* Decode into an exact-size buffer: writing past cap is a finding. */
	out = malloc(cap ? cap : 1);
	if (out == NULL)
		return;
	n = auth_b64url_decode((const char *)data, size, out, cap);
	if (n > (long)cap || n < -1)
		abort();
	if (n >= 0) {
		enc = malloc(4 * (((size_t)n + 2) / 3) + 1);
		if (enc == NULL)
			abort();
		auth_b64url_encode(out, (size_t)n, enc);
		if (strlen(enc) != size || memcmp(enc, data, size) != 0)
			abort(); /* one encoding per byte string */
		free(enc);
	}
	free(out);
	/* And the other way round, for arbitrary bytes. */
	enc = malloc(4 * ((size + 2) / 3) + 1);
	out = malloc(size ? size : 1);
	if (enc == NULL || out == NULL)
		abort();
	auth_b64url_encode(data, size, enc);
	n = auth_b64url_decode(enc, strlen(enc), out, size);
	if (n != (long)size || memcmp(out, data, size) != 0)
		abort();
	free(enc);
	free(out);
}

/* Appends the base64url of n bytes at s to dst (room checked by the caller). */
static size_t put_b64(char *dst, const void *s, size_t n)
{
	auth_b64url_encode(s, n, dst);
	return strlen(dst);
}

/* The claims rules of API.md section 4 on a payload JSON, independently of
 * auth.c; its JSON rules are those of bodies, json_parse. */
static int reference_payload_ok(const char *json, size_t len, time_t now)
{
	cJSON *p = json_parse(json, len);
	const cJSON *sub, *role, *num;
	const char *names[3] = {"exp", "nbf", "iat"};
	int ok = 0;

	if (!cJSON_IsObject(p))
		goto out;
	sub = cJSON_GetObjectItemCaseSensitive(p, "sub");
	role = cJSON_GetObjectItemCaseSensitive(p, "role");
	if (!cJSON_IsString(sub) || !uuid_valid(sub->valuestring))
		goto out;
	if (!cJSON_IsString(role) ||
	    (strcmp(role->valuestring, "student") != 0 &&
	     strcmp(role->valuestring, "proctor") != 0 && strcmp(role->valuestring, "admin") != 0))
		goto out;
	for (int i = 0; i < 3; i++) {
		double d;
		long long v;
		num = cJSON_GetObjectItemCaseSensitive(p, names[i]);
		if (num == NULL) {
			if (i == 0)
				goto out; /* exp is required */
			continue;
		}
		if (!cJSON_IsNumber(num))
			goto out;
		d = num->valuedouble;
		if (!isfinite(d) || d < 0 || d > 1e15 || d != floor(d))
			goto out; /* whole seconds only */
		v = (long long)d;
		if (i == 0 && (long long)now > v + AUTH_LEEWAY_S)
			goto out;
		if (i > 0 && v > (long long)now + AUTH_LEEWAY_S)
			goto out;
	}
	ok = 1;
out:
	cJSON_Delete(p);
	return ok;
}

static void mode_signed(unsigned flags, const uint8_t *data, size_t size)
{
	static const char std_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	const uint8_t *nul = memchr(data, 0, size);
	const char *hdr = std_header, *pl = (const char *)data;
	size_t hlen = sizeof std_header - 1, plen = size, used;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char *tok;
	auth_claims c;
	att_err err;
	int tampered = (flags & 0x0c) != 0;

	if (nul != NULL) {
		hdr = (const char *)data;
		hlen = (size_t)(nul - data);
		pl = (const char *)nul + 1;
		plen = size - hlen - 1;
	}
	tok = malloc(4 * ((hlen + 2) / 3) + 4 * ((plen + 2) / 3) + 64);
	if (tok == NULL)
		return;
	used = put_b64(tok, hdr, hlen);
	tok[used++] = '.';
	used += put_b64(tok + used, pl, plen);
	if (flags & 0x04)
		HMAC(EVP_sha256(), "not-the-secret-not-the-secret-!!", 32,
		     (const unsigned char *)tok, used, mac, &mac_len);
	else
		HMAC(EVP_sha256(), secret, (int)SECRET_LEN, (const unsigned char *)tok, used, mac,
		     &mac_len);
	tok[used++] = '.';
	used += put_b64(tok + used, mac, mac_len);
	if (flags & 0x08) {
		char *last = &tok[used - 2];
		*last = *last == 'A' ? 'B' : 'A';
	}
	/* A verifier remembers the tokens it verified (its memo): the second
	 * verification below is answered from it, so the time rules must be
	 * applied again there, and a token verified under one secret must not
	 * pass under another. */
	for (int round = 0; round < 2; round++) {
		static const long long deltas[8] = {
			0, -61, 59, 61, 3600, -3600, 86400LL * 365 * 10, -86400LL * 365 * 40};
		time_t now = round == 0 ? FUZZ_NOW : FUZZ_NOW + (time_t)deltas[(flags >> 4) & 7];
		int ref = !tampered && nul == NULL && used <= AUTH_MAX_TOKEN_LEN &&
			  reference_payload_ok(pl, plen, now);

		static auth_verifier *right, *other;

		err = auth_check(verifier(secret, &right), tok, now, &c, NULL);
		if (err == ATT_OK) {
			if (tampered)
				abort(); /* a bad signature got through */
			check_claims(&c, tok, now);
			if (!reference_payload_ok(pl, plen, now))
				abort(); /* accepted claims the contract refuses */
			if (auth_check(verifier("another-secret-another-secret-!!", &other), tok,
				       now, &c, NULL) == ATT_OK)
				abort(); /* accepted under the wrong secret */
		} else if (ref) {
			abort(); /* refused a correctly signed token with valid claims */
		}
	}
	free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned flags;
	char *text;

	if (size < 1 || size > 3 * AUTH_MAX_TOKEN_LEN)
		return 0;
	flags = data[0];
	data++;
	size--;
	switch (flags & 3) {
	case 0:
	case 1:
		text = malloc(size + 1);
		if (text == NULL)
			return 0;
		memcpy(text, data, size);
		text[size] = '\0';
		verify_text(text, (flags & 3) == 0);
		free(text);
		break;
	case 2:
		mode_b64(data, size);
		break;
	default:
		mode_signed(flags, data, size);
		break;
	}
	return 0;
}
