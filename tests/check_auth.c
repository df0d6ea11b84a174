/* check_auth: HS256 JWT verification - the happy path and every refusal,
 * with tokens crafted by hand (correctly signed, only the claim or header
 * wrong) - plus base64url and role names. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "buf.h"
#include "check_suites.h"

#define SECRET "0123456789abcdef0123456789abcdef"
#define SUB "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define NOW 1700000000LL
#define HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static void append_b64(buf *b, const void *data, size_t n)
{
	char *enc = malloc(4 * ((n + 2) / 3) + 1);

	ck_assert_ptr_nonnull(enc);
	auth_b64url_encode(data, n, enc);
	buf_puts(b, enc);
	free(enc);
}

/* header.payload (hlen and plen bytes, NUL bytes allowed) signed with secret by
 * OpenSSL directly. The caller frees the token with free(). */
static char *craftn(const char *header, size_t hlen, const char *payload, size_t plen,
		    const char *secret)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	buf b = BUF_INIT;
	char *tok;

	append_b64(&b, header, hlen);
	buf_putc(&b, '.');
	append_b64(&b, payload, plen);
	ck_assert_int_eq(b.failed, 0);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), secret, (int)strlen(secret),
				   (const unsigned char *)b.data, b.len, mac, &mac_len));
	ck_assert_uint_eq(mac_len, 32);
	buf_putc(&b, '.');
	append_b64(&b, mac, mac_len);
	tok = buf_take(&b);
	ck_assert_ptr_nonnull(tok);
	return tok;
}

/* header.payload signed with secret; the caller frees the token. */
static char *craft(const char *header, const char *payload, const char *secret)
{
	return craftn(header, strlen(header), payload, strlen(payload), secret);
}

static char *craftf(const char *header, const char *fmt, ...) ATT_PRINTF(2, 3);

/* craft() with a printf-formatted payload and the test secret. */
static char *craftf(const char *header, const char *fmt, ...)
{
	char payload[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(payload, sizeof payload, fmt, ap);
	va_end(ap);
	return craft(header, payload, SECRET);
}

/* A verifier of secret (no key set), made once per process: verifiers
 * are thread-safe, and its memo is what the memo tests watch. */
static auth_verifier *verifier_of(const char *secret)
{
	static auth_verifier *made[2];
	static const char *secrets[2];
	auth_options opt = {.secret = secret, .secret_len = strlen(secret)};
	int i = 0;

	while (i < 2 && secrets[i] != NULL && strcmp(secrets[i], secret) != 0)
		i++;
	ck_assert_int_lt(i, 2);
	if (made[i] == NULL) {
		ck_assert_int_eq(auth_verifier_create(&opt, &made[i], NULL), ATT_OK);
		secrets[i] = secret;
	}
	return made[i];
}

static att_err verify(const char *token, long long now, auth_claims *out)
{
	return auth_check(verifier_of(SECRET), token, (time_t)now, out, NULL);
}

static void memo_stats(unsigned long long *hits, unsigned long long *misses)
{
	auth_verifier_memo_stats(verifier_of(SECRET), hits, misses);
}

/* Asserts that token is refused at NOW, twice, that *out stays untouched
 * and that the memo of verified tokens never answered for it (a refused
 * token is not remembered); frees token. */
static void expect_refused(char *token, const char *why)
{
	auth_claims c, before;
	unsigned long long hits0, misses0, hits1, misses1;

	memset(&c, 0x5a, sizeof c);
	before = c;
	memo_stats(&hits0, &misses0);
	for (int round = 0; round < 2; round++) {
		ck_assert_msg(verify(token, NOW, &c) == ATT_EAUTH, "accepted: %s (round %d)", why,
			      round);
		ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "out written: %s", why);
	}
	memo_stats(&hits1, &misses1);
	ck_assert_msg(hits1 == hits0, "answered from the memo: %s", why);
	free(token);
}

static void expect_accepted(char *token, const char *why)
{
	auth_claims c;

	ck_assert_msg(verify(token, NOW, &c) == ATT_OK, "refused: %s", why);
	ck_assert_str_eq(c.sub, SUB);
	free(token);
}

/* ------------------------------------------------------------ sign/verify */

START_TEST(test_auth_round_trip)
{
	static const auth_role roles[] = {AUTH_ROLE_STUDENT, AUTH_ROLE_PROCTOR, AUTH_ROLE_ADMIN};

	for (int i = 0; i < 3; i++) {
		char *tok = auth_sign(SUB, roles[i], (time_t)NOW, (time_t)(NOW + 3600), SECRET,
				      strlen(SECRET));
		auth_claims c;
		char json[96];

		ck_assert_ptr_nonnull(tok);
		ck_assert_int_eq(verify(tok, NOW, &c), ATT_OK);
		ck_assert_str_eq(c.sub, SUB);
		ck_assert_int_eq(c.role, roles[i]);
		ck_assert_int_eq(c.exp, NOW + 3600);
		snprintf(json, sizeof json, "{\"sub\":\"%s\",\"role\":\"%s\"}", SUB,
			 auth_role_name(roles[i]));
		ck_assert_str_eq(c.json, json);
		free(tok);
	}
}
END_TEST

/* auth_sign_for's aud and iss pass a verifier that checks them (quotes
 * escaped), and only that one. */
START_TEST(test_auth_sign_for_aud_iss)
{
	auth_options opt = {.secret = SECRET,
			    .secret_len = strlen(SECRET),
			    .audience = "exams \"api\"",
			    .issuer = "https://idp.example"};
	auth_verifier *v = NULL;
	auth_claims c;
	auth_fail why;
	char *tok = auth_sign_for(SUB, AUTH_ROLE_PROCTOR, (time_t)NOW, (time_t)(NOW + 60),
				  opt.audience, opt.issuer, SECRET, strlen(SECRET));
	char *no_iss = auth_sign_for(SUB, AUTH_ROLE_PROCTOR, (time_t)NOW, (time_t)(NOW + 60),
				     opt.audience, NULL, SECRET, strlen(SECRET));
	char *no_aud = auth_sign_for(SUB, AUTH_ROLE_PROCTOR, (time_t)NOW, (time_t)(NOW + 60), NULL,
				     opt.issuer, SECRET, strlen(SECRET));

	ck_assert_ptr_nonnull(tok);
	ck_assert_int_eq(auth_verifier_create(&opt, &v, NULL), ATT_OK);
	ck_assert_int_eq(auth_check(v, tok, (time_t)NOW, &c, NULL), ATT_OK);
	ck_assert_int_eq(c.role, AUTH_ROLE_PROCTOR);
	ck_assert_int_eq(auth_check(v, no_iss, (time_t)NOW, &c, &why), ATT_EAUTH);
	ck_assert_int_eq(why, AUTH_FAIL_ISSUER);
	ck_assert_int_eq(auth_check(v, no_aud, (time_t)NOW, &c, &why), ATT_EAUTH);
	ck_assert_int_eq(why, AUTH_FAIL_AUDIENCE);
	auth_verifier_free(v);
	free(tok);
	free(no_iss);
	free(no_aud);
}
END_TEST

/* A token verified once is remembered: the memo must still
 * apply exp and nbf at every use, and never accept a token that differs in
 * one byte, or the same token under another secret. */
START_TEST(test_auth_memo_rechecks)
{
	char *tok = auth_sign(SUB, AUTH_ROLE_STUDENT, (time_t)NOW, (time_t)(NOW + 100), SECRET,
			      strlen(SECRET));
	static const char other[] = "fedcba9876543210fedcba9876543210";
	auth_claims c;
	char *bad;

	ck_assert_ptr_nonnull(tok);
	ck_assert_int_eq(verify(tok, NOW, &c), ATT_OK);
	ck_assert_int_eq(verify(tok, NOW + 1, &c), ATT_OK); /* from the memo */
	ck_assert_str_eq(c.sub, SUB);
	/* Past exp + leeway: refused although remembered. */
	ck_assert_int_eq(verify(tok, NOW + 100 + AUTH_LEEWAY_S + 1, &c), ATT_EAUTH);
	ck_assert_int_eq(auth_check(verifier_of(other), tok, (time_t)NOW, &c, NULL), ATT_EAUTH);
	ck_assert_int_eq(auth_verify(tok, SECRET, strlen(SECRET), (time_t)NOW, &c), ATT_OK);
	bad = strdup(tok);
	bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(verify(bad, NOW, &c), ATT_EAUTH);
	free(bad);
	free(tok);
}
END_TEST

/* The memo is the verifier's (one per process, owned by app), not a
 * thread's: a worker's threads take any student's requests, so a token
 * verified by one thread is found by the others without a second
 * verification. */
#define SHARED_TOKENS 8

static void *verify_all(void *arg)
{
	char **toks = arg;
	auth_claims c;

	for (int i = 0; i < SHARED_TOKENS; i++)
		if (verify(toks[i], NOW, &c) != ATT_OK)
			return toks[i];
	return NULL;
}

START_TEST(test_auth_memo_shared_by_threads)
{
	char *toks[SHARED_TOKENS];
	unsigned long long hits0, misses0, hits1, misses1;
	pthread_t t;
	void *failed;

	for (int i = 0; i < SHARED_TOKENS; i++) {
		char sub[UUID_STR_LEN + 1];

		snprintf(sub, sizeof sub, "0a1b2c3d-4e5f-4a6b-8c7d-%012d", 777000 + i);
		toks[i] = auth_sign(sub, AUTH_ROLE_STUDENT, (time_t)NOW, (time_t)(NOW + 60), SECRET,
				    strlen(SECRET));
		ck_assert_ptr_nonnull(toks[i]);
	}
	ck_assert_int_eq(pthread_create(&t, NULL, verify_all, toks), 0);
	ck_assert_int_eq(pthread_join(t, &failed), 0);
	ck_assert_ptr_null(failed);
	memo_stats(&hits0, &misses0);
	ck_assert_ptr_null(verify_all(toks));
	memo_stats(&hits1, &misses1);
	ck_assert_uint_eq(hits1 - hits0, SHARED_TOKENS);
	ck_assert_uint_eq(misses1 - misses0, 0);
	for (int i = 0; i < SHARED_TOKENS; i++)
		free(toks[i]);
}
END_TEST

START_TEST(test_auth_crafted_valid)
{
	/* the hand-made tokens below differ from this one in one thing only */
	expect_accepted(
		craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld}", SUB, NOW + 10),
		"plain");
	expect_accepted(craftf("{\"alg\":\"HS256\"}",
			       "{\"sub\":\"%s\",\"role\":\"admin\",\"exp\":%lld}", SUB, NOW + 10),
			"no typ");
	expect_accepted(craftf(HDR,
			       "{\"sub\":\"%s\",\"role\":\"proctor\",\"exp\":%lld,"
			       "\"nbf\":%lld,\"iat\":%lld,\"extra\":[1,{}]}",
			       SUB, NOW + 10, NOW - 5, NOW - 5),
			"all claims");
}
END_TEST

START_TEST(test_auth_sign_refuses)
{
	ck_assert_ptr_null(
		auth_sign(SUB, AUTH_ROLE_NONE, (time_t)NOW, (time_t)NOW, SECRET, strlen(SECRET)));
	ck_assert_ptr_null(
		auth_sign(NULL, AUTH_ROLE_ADMIN, (time_t)NOW, (time_t)NOW, SECRET, strlen(SECRET)));
}
END_TEST

START_TEST(test_auth_wrong_secret)
{
	char *tok = auth_sign(SUB, AUTH_ROLE_STUDENT, (time_t)NOW, (time_t)(NOW + 60), SECRET,
			      strlen(SECRET));
	auth_claims c;

	ck_assert_ptr_nonnull(tok);
	ck_assert_int_eq(auth_verify(tok, SECRET "x", strlen(SECRET) + 1, (time_t)NOW, &c),
			 ATT_EAUTH);
	ck_assert_int_eq(auth_verify(tok, SECRET, strlen(SECRET) - 1, (time_t)NOW, &c), ATT_EAUTH);
	free(tok);
	expect_refused(craft(HDR, "{\"sub\":\"" SUB "\",\"role\":\"student\",\"exp\":9999999999}",
			     "another-secret-another-secret-xx"),
		       "other secret");
}
END_TEST

START_TEST(test_auth_tampered_payload)
{
	char *good =
		craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld}", SUB, NOW + 100);
	char *evil =
		craftf(HDR, "{\"sub\":\"%s\",\"role\":\"admin\",\"exp\":%lld}", SUB, NOW + 100);
	const char *gsig = strrchr(good, '.');
	char *edot = strrchr(evil, '.');
	buf b = BUF_INIT;

	/* evil header.payload with good's signature */
	buf_append(&b, evil, (size_t)(edot - evil));
	buf_puts(&b, gsig);
	expect_refused(buf_take(&b), "payload swapped");
	/* one character of the payload changed */
	{
		char *t = strdup(good);
		char *p = strchr(t, '.') + 5;
		*p = *p == 'A' ? 'B' : 'A';
		expect_refused(t, "payload byte flipped");
	}
	free(good);
	free(evil);
}
END_TEST

START_TEST(test_auth_tampered_signature)
{
	char *good =
		craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld}", SUB, NOW + 100);
	size_t n = strlen(good);
	char *t;
	buf b = BUF_INIT;

	t = strdup(good);
	t[n - 3] = t[n - 3] == 'A' ? 'B' : 'A';
	expect_refused(t, "signature byte flipped");
	/* last char carries 2 unused bits: a different char with the same
	 * decoded bytes would be a second encoding */
	t = strdup(good);
	t[n - 1] = t[n - 1] == 'A' ? 'B' : 'A';
	expect_refused(t, "last signature char changed");
	t = strdup(good);
	t[n - 1] = '\0';
	expect_refused(t, "signature truncated");
	buf_puts(&b, good);
	buf_puts(&b, "AAAA");
	expect_refused(buf_take(&b), "signature extended");
	t = strdup(good);
	*(strrchr(t, '.') + 1) = '\0';
	expect_refused(t, "signature empty");
	t = strdup(good);
	t[n - 5] = '+';
	expect_refused(t, "signature with non-url alphabet");
	free(good);
}
END_TEST

START_TEST(test_auth_bad_alg)
{
	static const char *const headers[] = {"{\"alg\":\"none\",\"typ\":\"JWT\"}",
					      "{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
					      "{\"alg\":\"HS384\"}",
					      "{\"alg\":\"RS256\"}",
					      "{\"alg\":\"hs256\"}",
					      "{\"typ\":\"JWT\"}",
					      "{\"alg\":null}",
					      "{\"alg\":256}",
					      "{\"alg\":\"HS256\",\"typ\":\"JWS\"}",
					      "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
					      "[\"HS256\"]",
					      "\"HS256\"",
					      "not json",
					      "",
					      NULL};

	for (int i = 0; headers[i] != NULL; i++)
		expect_refused(craftf(headers[i],
				      "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld}", SUB,
				      NOW + 100),
			       headers[i]);
}
END_TEST

START_TEST(test_auth_alg_none_unsigned)
{
	buf b = BUF_INIT;
	static const char hdr[] = "{\"alg\":\"none\"}";
	char payload[256];

	snprintf(payload, sizeof payload, "{\"sub\":\"%s\",\"role\":\"admin\",\"exp\":%lld}", SUB,
		 NOW + 100);
	append_b64(&b, hdr, strlen(hdr));
	buf_putc(&b, '.');
	append_b64(&b, payload, strlen(payload));
	buf_putc(&b, '.');
	expect_refused(buf_take(&b), "alg none, empty signature");
}
END_TEST

/* ------------------------------------------------------------ time claims */

START_TEST(test_auth_exp)
{
	static const char fmt[] = "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld}";

	expect_refused(craftf(HDR, fmt, SUB, NOW - AUTH_LEEWAY_S - 1), "exp beyond leeway");
	expect_refused(craftf(HDR, fmt, SUB, NOW - 3600), "exp an hour ago");
	expect_accepted(craftf(HDR, fmt, SUB, NOW - AUTH_LEEWAY_S), "exp at leeway edge");
	expect_accepted(craftf(HDR, fmt, SUB, NOW - 1), "exp within leeway");
	expect_accepted(craftf(HDR, fmt, SUB, NOW), "exp now");
}
END_TEST

START_TEST(test_auth_exp_malformed)
{
	expect_refused(craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\"}", SUB), "exp missing");
	expect_refused(craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":\"%lld\"}", SUB,
			      NOW + 100),
		       "exp a string");
	expect_refused(craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":null}", SUB),
		       "exp null");
	expect_refused(craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":true}", SUB),
		       "exp true");
	expect_refused(craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":-5}", SUB),
		       "exp negative");
	expect_refused(craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":1e300}", SUB),
		       "exp huge");
}
END_TEST

START_TEST(test_auth_nbf)
{
	static const char fmt[] = "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld,\"nbf\":%lld}";

	expect_refused(craftf(HDR, fmt, SUB, NOW + 3600, NOW + AUTH_LEEWAY_S + 1),
		       "nbf beyond leeway");
	expect_accepted(craftf(HDR, fmt, SUB, NOW + 3600, NOW + AUTH_LEEWAY_S),
			"nbf at leeway edge");
	expect_accepted(craftf(HDR, fmt, SUB, NOW + 3600, NOW - 100), "nbf past");
	expect_refused(craftf(HDR,
			      "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld,"
			      "\"nbf\":\"soon\"}",
			      SUB, NOW + 3600),
		       "nbf a string");
}
END_TEST

START_TEST(test_auth_iat)
{
	static const char fmt[] = "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld,\"iat\":%lld}";

	expect_refused(craftf(HDR, fmt, SUB, NOW + 3600, NOW + AUTH_LEEWAY_S + 1),
		       "iat beyond leeway");
	expect_refused(craftf(HDR, fmt, SUB, NOW + 3600, NOW + 86400), "iat tomorrow");
	expect_accepted(craftf(HDR, fmt, SUB, NOW + 3600, NOW + AUTH_LEEWAY_S),
			"iat at leeway edge");
	expect_refused(craftf(HDR,
			      "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld,"
			      "\"iat\":[1]}",
			      SUB, NOW + 3600),
		       "iat an array");
}
END_TEST

/* ------------------------------------------------------------ identity */

START_TEST(test_auth_sub)
{
	static const char fmt[] = "{%s\"role\":\"student\",\"exp\":%lld}";

	expect_refused(craftf(HDR, fmt, "", NOW + 100), "sub missing");
	expect_refused(craftf(HDR, fmt, "\"sub\":\"user-1\",", NOW + 100), "sub not a uuid");
	expect_refused(
		craftf(HDR, fmt, "\"sub\":\"0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D\",", NOW + 100),
		"sub uppercase");
	expect_refused(craftf(HDR, fmt, "\"sub\":\"{" SUB "}\",", NOW + 100), "sub braced");
	expect_refused(craftf(HDR, fmt, "\"sub\":42,", NOW + 100), "sub a number");
	expect_refused(craftf(HDR, fmt, "\"sub\":null,", NOW + 100), "sub null");
}
END_TEST

START_TEST(test_auth_role)
{
	static const char fmt[] = "{\"sub\":\"%s\",%s\"exp\":%lld}";

	expect_refused(craftf(HDR, fmt, SUB, "", NOW + 100), "role missing");
	expect_refused(craftf(HDR, fmt, SUB, "\"role\":\"superuser\",", NOW + 100), "role unknown");
	expect_refused(craftf(HDR, fmt, SUB, "\"role\":\"Admin\",", NOW + 100), "role wrong case");
	expect_refused(craftf(HDR, fmt, SUB, "\"role\":\"\",", NOW + 100), "role empty");
	expect_refused(craftf(HDR, fmt, SUB, "\"role\":3,", NOW + 100), "role a number");
	expect_refused(craftf(HDR, fmt, SUB, "\"role\":[\"admin\"],", NOW + 100), "role an array");
}
END_TEST

START_TEST(test_auth_payload_not_object)
{
	expect_refused(craft(HDR, "[]", SECRET), "payload array");
	expect_refused(craft(HDR, "null", SECRET), "payload null");
	expect_refused(craft(HDR, "{", SECRET), "payload broken");
	expect_refused(craft(HDR, "", SECRET), "payload empty");
}
END_TEST

/* ------------------------------------------------------------ strict JSON */

/* The token's header and payload follow the rules of request bodies
 * (lib/json.c's json_parse: UTF-8, no NUL however written, no repeated
 * member name compared after decoding escapes, nothing after the value,
 * at most 256 levels), and claims are compared in full. */

#define P_SUB "\"sub\":\"" SUB "\""
#define P_EXP "\"exp\":1700000100"

/* A token with the standard header and the payload {body}. */
static char *payload(const char *body)
{
	return craft(HDR, body, SECRET);
}

/* Asserts that token is accepted at NOW with role and sub SUB; frees it. */
static void expect_role(char *token, auth_role role, const char *why)
{
	auth_claims c;

	ck_assert_msg(verify(token, NOW, &c) == ATT_OK, "refused: %s", why);
	ck_assert_str_eq(c.sub, SUB);
	ck_assert_int_eq(c.role, role);
	free(token);
}

START_TEST(test_auth_claim_nul)
{
	static const char role_nul[] = "{" P_SUB ",\"role\":\"admin\0\"," P_EXP "}";
	static const char sub_nul[] = "{\"sub\":\"" SUB "\0junk\",\"role\":\"admin\"," P_EXP "}";
	static const char key_nul[] = "{" P_SUB ",\"role\0\":\"admin\"," P_EXP "}";

	expect_refused(payload("{" P_SUB ",\"role\":\"admin\\u0000\"," P_EXP "}"),
		       "role admin\\u0000");
	expect_refused(payload("{" P_SUB ",\"role\":\"admin\\u0000student\"," P_EXP "}"),
		       "role admin\\u0000student");
	expect_refused(payload("{\"sub\":\"" SUB "\\u0000junk\",\"role\":\"student\"," P_EXP "}"),
		       "sub uuid\\u0000junk");
	expect_refused(payload("{\"sub\":\"" SUB "\\u0000\",\"role\":\"student\"," P_EXP "}"),
		       "sub uuid\\u0000");
	/* a name holding NUL is not the claim's name either */
	expect_refused(
		payload("{\"role\\u0000x\":\"admin\"," P_SUB ",\"role\":\"student\"," P_EXP "}"),
		"name role\\u0000x before role");
	expect_refused(payload("{" P_SUB ",\"role\\u0000\":\"admin\"," P_EXP "}"),
		       "name role\\u0000 alone");
	/* and NUL bytes written raw */
	expect_refused(craftn(HDR, strlen(HDR), role_nul, sizeof role_nul - 1, SECRET),
		       "role admin + raw NUL");
	expect_refused(craftn(HDR, strlen(HDR), sub_nul, sizeof sub_nul - 1, SECRET),
		       "sub uuid + raw NUL + junk");
	expect_refused(craftn(HDR, strlen(HDR), key_nul, sizeof key_nul - 1, SECRET),
		       "name role + raw NUL");
}
END_TEST

START_TEST(test_auth_claim_duplicates)
{
	expect_refused(payload("{" P_SUB ",\"role\":\"admin\",\"role\":\"student\"," P_EXP "}"),
		       "role admin, role student");
	expect_refused(payload("{" P_SUB ",\"role\":\"student\",\"role\":\"admin\"," P_EXP "}"),
		       "role student, role admin");
	expect_refused(
		payload("{" P_SUB ",\"role\":\"student\",\"r\\u006fle\":\"admin\"," P_EXP "}"),
		"role, then r\\u006fle");
	expect_refused(
		payload("{" P_SUB ",\"r\\u006fle\":\"admin\",\"role\":\"student\"," P_EXP "}"),
		"r\\u006fle, then role");
	expect_refused(payload("{" P_SUB "," P_SUB ",\"role\":\"student\"," P_EXP "}"),
		       "sub twice, same value");
	expect_refused(payload("{" P_SUB ",\"\\u0073ub\":\"0a1b2c3d-4e5f-4a6b-8c7d-000000000000\","
			       "\"role\":\"student\"," P_EXP "}"),
		       "sub and \\u0073ub");
	expect_refused(payload("{" P_SUB ",\"role\":\"student\"," P_EXP ",\"exp\":1600000000}"),
		       "exp twice");
	expect_refused(payload("{" P_SUB ",\"role\":\"student\"," P_EXP ",\"nbf\":1,"
			       "\"nbf\":1800000000}"),
		       "nbf twice");
	/* everywhere in the document, as in bodies */
	expect_refused(payload("{" P_SUB ",\"role\":\"student\"," P_EXP ",\"ext\":{\"a\":1,"
			       "\"a\":2}}"),
		       "name repeated in a nested object");
}
END_TEST

START_TEST(test_auth_trailing)
{
	static const char nul_after[] = "{" P_SUB ",\"role\":\"admin\"," P_EXP "}\0";
	static const char hdr_nul[] = HDR "\0";
	static const char *const after[] = {" x",   "x", "{}",	 "{\"role\":\"admin\"}",
					    "]",    "}", ",",	 "null",
					    "\"\"", "0", "\x1b", NULL};
	char text[256];

	for (int i = 0; after[i] != NULL; i++) {
		snprintf(text, sizeof text, "{" P_SUB ",\"role\":\"student\"," P_EXP "}%s",
			 after[i]);
		expect_refused(payload(text), text);
		snprintf(text, sizeof text, "%s%s", HDR, after[i]);
		expect_refused(craft(text, "{" P_SUB ",\"role\":\"student\"," P_EXP "}", SECRET),
			       text);
	}
	expect_refused(craftn(HDR, strlen(HDR), nul_after, sizeof nul_after - 1, SECRET),
		       "payload, then a NUL byte");
	expect_refused(craftn(hdr_nul, sizeof hdr_nul - 1,
			      "{" P_SUB ",\"role\":\"student\"," P_EXP "}",
			      strlen("{" P_SUB ",\"role\":\"student\"," P_EXP "}"), SECRET),
		       "header, then a NUL byte");
	expect_refused(payload("\xef\xbb\xbf{" P_SUB ",\"role\":\"student\"," P_EXP "}"),
		       "byte order mark before the payload");
	/* JSON whitespace around the value is fine, as in bodies */
	expect_role(craft(" " HDR "\r\n", " \t{ " P_SUB " , \"role\" : \"proctor\" , " P_EXP " }\n",
			  SECRET),
		    AUTH_ROLE_PROCTOR, "whitespace around");
}
END_TEST

START_TEST(test_auth_header_strict)
{
	static const char *const headers[] = {"{\"alg\":\"HS256\\u0000x\"}",
					      "{\"alg\":\"HS256\\u0000\"}",
					      "{\"alg\":\"HS256\",\"typ\":\"JWT\\u0000x\"}",
					      "{\"alg\":\"HS256\",\"typ\":\"JWT\\u0000\"}",
					      "{\"alg\\u0000\":\"HS256\"}",
					      "{\"alg\":\"HS256\",\"alg\":\"none\"}",
					      "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
					      "{\"alg\":\"HS256\",\"\\u0061lg\":\"HS512\"}",
					      "{\"\\u0061lg\":\"none\",\"alg\":\"HS256\"}",
					      "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"typ\":\"JWS\"}",
					      "{\"alg\":\"HS256\",\"kid\":\"\xff\"}",
					      "{\"alg\":\"HS256\",\"kid\":\"\xc0\xaf\"}",
					      "{\"alg\":\"HS256\",\"x\":{\"a\":1,\"a\":1}}",
					      "{\"alg\":\"HS256\",\"x\":\"\x01\"}",
					      "{\"alg\":\"HS256\",}",
					      "42",
					      "true",
					      "null",
					      NULL};

	for (int i = 0; headers[i] != NULL; i++)
		expect_refused(craftf(headers[i], "{" P_SUB ",\"role\":\"student\"," P_EXP "}"),
			       headers[i]);
	/* escapes are spelling: a name or value that decodes right is right */
	expect_role(craftf("{\"\\u0061lg\":\"HS\\u0032\\u0035\\u0036\",\"typ\":\"\\u004aWT\"}",
			   "{" P_SUB ",\"role\":\"student\"," P_EXP "}"),
		    AUTH_ROLE_STUDENT, "escaped header");
}
END_TEST

START_TEST(test_auth_claim_utf8)
{
	static const char *const bad[] = {"\xff",
					  "\xc3\x28",
					  "\xc0\xaf",
					  "\xe0\x80\xaf",
					  "\xed\xa0\x80",
					  "\xf4\x90\x80\x80",
					  "\xe2\x82",
					  "\xf8\x88\x80\x80\x80",
					  NULL};
	char text[256];

	for (int i = 0; bad[i] != NULL; i++) {
		snprintf(text, sizeof text,
			 "{" P_SUB ",\"role\":\"admin\"," P_EXP ",\"name\":\"a%sb\"}", bad[i]);
		expect_refused(payload(text), "invalid UTF-8 in a claim string");
		snprintf(text, sizeof text, "{" P_SUB ",\"role\":\"admin\"," P_EXP ",\"n%s\":1}",
			 bad[i]);
		expect_refused(payload(text), "invalid UTF-8 in a claim name");
		snprintf(text, sizeof text, "{" P_SUB ",\"role\":\"admin%s\"," P_EXP "}", bad[i]);
		expect_refused(payload(text), "invalid UTF-8 after the role");
	}
	expect_refused(payload("{" P_SUB ",\"role\":\"admin\"," P_EXP ",\"name\":\"\\ud800\"}"),
		       "lone surrogate escape");
	expect_refused(payload("{" P_SUB ",\"role\":\"admin\"," P_EXP ",\"name\":\"a\tb\"}"),
		       "raw control character");
	expect_role(payload("{" P_SUB ",\"role\":\"admin\"," P_EXP
			    ",\"name\":\"Zo\xc3\xab \xf0\x9f\x98\x80 \\ud83d\\ude00\"}"),
		    AUTH_ROLE_ADMIN, "valid UTF-8 and a surrogate pair");
}
END_TEST

/* NumericDate claims (exp, nbf, iat): a JSON number whose value is a whole
 * number of seconds in 0..1e15; the spelling does not matter (1.7e9 and
 * 1700000000.0 are 1700000000), a fraction, a sign below zero or any
 * other type does. */
START_TEST(test_auth_numeric_dates)
{
	static const char *const bad[] = {"\"exp\":1700000100.5",
					  "\"exp\":1700000100.000001",
					  "\"exp\":17000001005e-1",
					  "\"exp\":-1",
					  "\"exp\":-1700000100",
					  "\"exp\":1e300",
					  "\"exp\":1e16",
					  "\"exp\":1000000000000001",
					  "\"exp\":\"1700000100\"",
					  "\"exp\":true",
					  "\"exp\":null",
					  "\"exp\":{}",
					  "\"exp\":[1700000100]",
					  P_EXP ",\"nbf\":1.5",
					  P_EXP ",\"nbf\":-1",
					  P_EXP ",\"nbf\":true",
					  P_EXP ",\"nbf\":null",
					  P_EXP ",\"nbf\":\"0\"",
					  P_EXP ",\"iat\":1699999999.9",
					  P_EXP ",\"iat\":-1",
					  P_EXP ",\"iat\":false",
					  P_EXP ",\"iat\":1e400",
					  NULL};
	static const char *const good[] = {
		"\"exp\":1.7000001e9",	      "\"exp\":17000001E2",
		"\"exp\":1700000100.0",	      "\"exp\":1700000100e0",
		"\"exp\":1000000000000000",   "\"exp\":1e15",
		P_EXP ",\"nbf\":0,\"iat\":0", P_EXP ",\"nbf\":1e3,\"iat\":1.6e9",
		P_EXP ",\"nbf\":-0",	      NULL};
	char text[256];
	auth_claims c;
	char *tok;

	for (int i = 0; bad[i] != NULL; i++) {
		snprintf(text, sizeof text, "{" P_SUB ",\"role\":\"student\",%s}", bad[i]);
		expect_refused(payload(text), text);
	}
	for (int i = 0; good[i] != NULL; i++) {
		snprintf(text, sizeof text, "{" P_SUB ",\"role\":\"student\",%s}", good[i]);
		expect_role(payload(text), AUTH_ROLE_STUDENT, text);
	}
	tok = payload("{" P_SUB ",\"role\":\"student\",\"exp\":1.7000001e9}");
	ck_assert_int_eq(verify(tok, NOW, &c), ATT_OK);
	ck_assert_int_eq(c.exp, NOW + 100);
	free(tok);
}
END_TEST

START_TEST(test_auth_not_object)
{
	static const char *const values[] = {"\"x\"", "42",   "true",	"false", "null",
					     "[]",    "[{}]", "\"{}\"", NULL};

	for (int i = 0; values[i] != NULL; i++) {
		expect_refused(payload(values[i]), values[i]);
		expect_refused(
			craft(values[i], "{" P_SUB ",\"role\":\"student\"," P_EXP "}", SECRET),
			values[i]);
	}
}
END_TEST

START_TEST(test_auth_depth)
{
	char deep[1024], text[1200];
	int n;

	/* 256 levels in all are fine (the payload object is the first) */
	n = 255;
	memset(deep, '[', (size_t)n);
	memset(deep + n, ']', (size_t)n);
	deep[2 * n] = '\0';
	snprintf(text, sizeof text, "{" P_SUB ",\"role\":\"student\"," P_EXP ",\"x\":%s}", deep);
	expect_role(payload(text), AUTH_ROLE_STUDENT, "256 levels");
	n = 256;
	memset(deep, '[', (size_t)n);
	memset(deep + n, ']', (size_t)n);
	deep[2 * n] = '\0';
	snprintf(text, sizeof text, "{" P_SUB ",\"role\":\"student\"," P_EXP ",\"x\":%s}", deep);
	expect_refused(payload(text), "257 levels");
}
END_TEST

/* A sub is the canonical UUID text once JSON escapes are decoded: escapes
 * are the JSON text's spelling, as they are in bodies (where names and
 * values are compared decoded too); what the escapes decode to must be
 * lowercase 8-4-4-4-12, exactly 36 bytes. */
START_TEST(test_auth_escaped_claims)
{
	expect_role(payload("{\"sub\":\"\\u0030a1b2c3d\\u002d4e5f-4a6b-8c7d-9e0f1a2b3c4d\","
			    "\"role\":\"\\u0061dmin\"," P_EXP "}"),
		    AUTH_ROLE_ADMIN, "escaped sub and role");
	expect_role(payload("{\"\\u0073ub\":\"" SUB "\",\"r\\u006fle\":\"proctor\","
			    "\"\\u0065xp\":1700000100}"),
		    AUTH_ROLE_PROCTOR, "escaped names");
	expect_refused(payload("{\"sub\":\"0\\u0041"
			       "1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\","
			       "\"role\":\"student\"," P_EXP "}"),
		       "sub escape decodes to upper case");
	expect_refused(payload("{\"sub\":\"" SUB "\\n\",\"role\":\"student\"," P_EXP "}"),
		       "sub with an escaped newline after");
	expect_refused(payload("{\"sub\":\"" SUB " \",\"role\":\"student\"," P_EXP "}"),
		       "sub with a space after");
	expect_refused(payload("{" P_SUB ",\"role\":\"admin \"," P_EXP "}"),
		       "role with a space after");
	expect_refused(payload("{" P_SUB ",\"role\":\"\\u0041dmin\"," P_EXP "}"),
		       "role escape decodes to Admin");
}
END_TEST

/* ------------------------------------------------------------ shape */

START_TEST(test_auth_token_shape)
{
	char *good =
		craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld}", SUB, NOW + 100);
	auth_claims c;
	buf b = BUF_INIT;

	ck_assert_int_eq(verify(good, NOW, &c), ATT_OK);
	ck_assert_int_eq(verify("", NOW, &c), ATT_EAUTH);
	ck_assert_int_eq(verify("abc", NOW, &c), ATT_EAUTH);
	ck_assert_int_eq(verify("a.b", NOW, &c), ATT_EAUTH);
	ck_assert_int_eq(verify("..", NOW, &c), ATT_EAUTH);
	ck_assert_int_eq(verify("...", NOW, &c), ATT_EAUTH);
	ck_assert_int_eq(verify(NULL, NOW, &c), ATT_EAUTH);
	ck_assert_int_eq(auth_verify(good, NULL, 0, (time_t)NOW, &c), ATT_EAUTH);
	buf_puts(&b, good);
	buf_puts(&b, ".x");
	expect_refused(buf_take(&b), "extra segment");
	buf_puts(&b, good);
	buf_puts(&b, ".");
	expect_refused(buf_take(&b), "trailing dot");
	buf_puts(&b, " ");
	buf_puts(&b, good);
	expect_refused(buf_take(&b), "leading space");
	/* two dots missing: header and payload only */
	*strrchr(good, '.') = '\0';
	ck_assert_int_eq(verify(good, NOW, &c), ATT_EAUTH);
	free(good);
}
END_TEST

START_TEST(test_auth_token_length)
{
	char pad[4000];
	char *tok;
	auth_claims c;

	/* just under the limit: accepted */
	memset(pad, 'p', 2900);
	pad[2900] = '\0';
	tok = craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld,\"pad\":\"%s\"}", SUB,
		     NOW + 100, pad);
	ck_assert_uint_le(strlen(tok), AUTH_MAX_TOKEN_LEN);
	ck_assert_int_eq(verify(tok, NOW, &c), ATT_OK);
	free(tok);
	/* over the limit, correctly signed: refused */
	memset(pad, 'p', 3100);
	pad[3100] = '\0';
	tok = craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld,\"pad\":\"%s\"}", SUB,
		     NOW + 100, pad);
	ck_assert_uint_gt(strlen(tok), AUTH_MAX_TOKEN_LEN);
	expect_refused(tok, "token over 4096 chars");
}
END_TEST

/* ------------------------------------------------------------ header */

START_TEST(test_auth_bearer_prefix)
{
	char *tok = auth_sign(SUB, AUTH_ROLE_PROCTOR, (time_t)NOW, (time_t)(NOW + 600), SECRET,
			      strlen(SECRET));
	static const char *const ok_prefix[] = {"Bearer ", "bearer ",	"BEARER ",
						"bEaReR ", "Bearer   ", NULL};
	static const char *const bad_prefix[] = {"",	     "Bearer",	 "Basic ",
						 "Token ",   "Bearer:",	 " Bearer ",
						 "Bearer\t", "Bearerx ", NULL};
	char header[1024];
	auth_claims c;

	ck_assert_ptr_nonnull(tok);
	for (int i = 0; ok_prefix[i] != NULL; i++) {
		snprintf(header, sizeof header, "%s%s", ok_prefix[i], tok);
		memset(&c, 0, sizeof c);
		ck_assert_msg(auth_verify_header(header, SECRET, strlen(SECRET), (time_t)NOW, &c) ==
				      ATT_OK,
			      "prefix \"%s\" refused", ok_prefix[i]);
		ck_assert_int_eq(c.role, AUTH_ROLE_PROCTOR);
	}
	for (int i = 0; bad_prefix[i] != NULL; i++) {
		snprintf(header, sizeof header, "%s%s", bad_prefix[i], tok);
		ck_assert_msg(auth_verify_header(header, SECRET, strlen(SECRET), (time_t)NOW, &c) ==
				      ATT_EAUTH,
			      "prefix \"%s\" accepted", bad_prefix[i]);
	}
	ck_assert_int_eq(auth_verify_header(NULL, SECRET, strlen(SECRET), (time_t)NOW, &c),
			 ATT_EAUTH);
	ck_assert_int_eq(auth_verify_header("Bearer ", SECRET, strlen(SECRET), (time_t)NOW, &c),
			 ATT_EAUTH);
	free(tok);
}
END_TEST

/* ------------------------------------------------------------ base64url */

START_TEST(test_auth_b64url_vectors)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
	static const unsigned char urlsafe[] = {0xfb, 0xff, 0xbf};
	char out[16];
	unsigned char raw[16];

	for (int i = 0; i < 7; i++) {
		auth_b64url_encode((const unsigned char *)plain[i], strlen(plain[i]), out);
		ck_assert_str_eq(out, enc[i]);
		ck_assert_int_eq(auth_b64url_decode(enc[i], strlen(enc[i]), raw, sizeof raw),
				 (long)strlen(plain[i]));
		ck_assert_mem_eq(raw, plain[i], strlen(plain[i]));
	}
	auth_b64url_encode(urlsafe, 3, out);
	ck_assert_str_eq(out, "-_-_");
	auth_b64url_encode(urlsafe, 2, out);
	ck_assert_str_eq(out, "-_8");
	ck_assert_int_eq(auth_b64url_decode("-_8", 3, raw, sizeof raw), 2);
	ck_assert_int_eq(raw[0], 0xfb);
	ck_assert_int_eq(raw[1], 0xff);
}
END_TEST

START_TEST(test_auth_b64url_round_trip)
{
	unsigned char in[70], back[70];
	char enc[4 * 24 + 1];

	for (size_t i = 0; i < sizeof in; i++)
		in[i] = (unsigned char)(i * 37 + 11);
	for (size_t n = 0; n < sizeof in; n++) {
		auth_b64url_encode(in, n, enc);
		ck_assert_uint_eq(strlen(enc), (4 * n + 2) / 3);
		ck_assert_ptr_null(strpbrk(enc, "+/="));
		ck_assert_int_eq(auth_b64url_decode(enc, strlen(enc), back, sizeof back), (long)n);
		ck_assert_mem_eq(back, in, n);
	}
}
END_TEST

START_TEST(test_auth_b64url_invalid)
{
	unsigned char raw[16];

	ck_assert_int_eq(auth_b64url_decode("Zg==", 4, raw, sizeof raw), -1); /* padding */
	ck_assert_int_eq(auth_b64url_decode("Zm8=", 4, raw, sizeof raw), -1);
	ck_assert_int_eq(auth_b64url_decode("Z", 1, raw, sizeof raw), -1); /* 6 bits */
	ck_assert_int_eq(auth_b64url_decode("Zm9vY", 5, raw, sizeof raw), -1);
	ck_assert_int_eq(auth_b64url_decode("Zh", 2, raw, sizeof raw), -1); /* stray bits */
	ck_assert_int_eq(auth_b64url_decode("Zm9", 3, raw, sizeof raw), -1);
	ck_assert_int_eq(auth_b64url_decode("Zm+v", 4, raw, sizeof raw), -1); /* std alphabet */
	ck_assert_int_eq(auth_b64url_decode("Zm/v", 4, raw, sizeof raw), -1);
	ck_assert_int_eq(auth_b64url_decode("Zm 9v", 5, raw, sizeof raw), -1);
	ck_assert_int_eq(auth_b64url_decode("Zm.v", 4, raw, sizeof raw), -1);
	ck_assert_int_eq(auth_b64url_decode("Zm9v", 4, raw, 2), -1); /* no room */
	ck_assert_int_eq(auth_b64url_decode("Zm9v", 4, raw, 3), 3);
	ck_assert_int_eq(auth_b64url_decode("", 0, raw, 0), 0);
}
END_TEST

START_TEST(test_auth_roles)
{
	ck_assert_str_eq(auth_role_name(AUTH_ROLE_STUDENT), "student");
	ck_assert_str_eq(auth_role_name(AUTH_ROLE_PROCTOR), "proctor");
	ck_assert_str_eq(auth_role_name(AUTH_ROLE_ADMIN), "admin");
	ck_assert_ptr_null(auth_role_name(AUTH_ROLE_NONE));
	ck_assert_int_eq(auth_role_parse("student"), AUTH_ROLE_STUDENT);
	ck_assert_int_eq(auth_role_parse("proctor"), AUTH_ROLE_PROCTOR);
	ck_assert_int_eq(auth_role_parse("admin"), AUTH_ROLE_ADMIN);
	ck_assert_int_eq(auth_role_parse("Admin"), AUTH_ROLE_NONE);
	ck_assert_int_eq(auth_role_parse(""), AUTH_ROLE_NONE);
	ck_assert_int_eq(auth_role_parse("teacher"), AUTH_ROLE_NONE);
}
END_TEST

Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc;

	tc = check_tcase(s, "sign_verify", NULL, NULL);
	tcase_add_test(tc, test_auth_round_trip);
	tcase_add_test(tc, test_auth_sign_for_aud_iss);
	tcase_add_test(tc, test_auth_memo_rechecks);
	tcase_add_test(tc, test_auth_memo_shared_by_threads);
	tcase_add_test(tc, test_auth_crafted_valid);
	tcase_add_test(tc, test_auth_sign_refuses);

	tc = check_tcase(s, "signature", NULL, NULL);
	tcase_add_test(tc, test_auth_wrong_secret);
	tcase_add_test(tc, test_auth_tampered_payload);
	tcase_add_test(tc, test_auth_tampered_signature);

	tc = check_tcase(s, "alg", NULL, NULL);
	tcase_add_test(tc, test_auth_bad_alg);
	tcase_add_test(tc, test_auth_alg_none_unsigned);

	tc = check_tcase(s, "time_claims", NULL, NULL);
	tcase_add_test(tc, test_auth_exp);
	tcase_add_test(tc, test_auth_exp_malformed);
	tcase_add_test(tc, test_auth_nbf);
	tcase_add_test(tc, test_auth_iat);

	tc = check_tcase(s, "identity_claims", NULL, NULL);
	tcase_add_test(tc, test_auth_sub);
	tcase_add_test(tc, test_auth_role);
	tcase_add_test(tc, test_auth_payload_not_object);

	tc = check_tcase(s, "strict_json", NULL, NULL);
	tcase_add_test(tc, test_auth_claim_nul);
	tcase_add_test(tc, test_auth_claim_duplicates);
	tcase_add_test(tc, test_auth_trailing);
	tcase_add_test(tc, test_auth_header_strict);
	tcase_add_test(tc, test_auth_claim_utf8);
	tcase_add_test(tc, test_auth_numeric_dates);
	tcase_add_test(tc, test_auth_not_object);
	tcase_add_test(tc, test_auth_depth);
	tcase_add_test(tc, test_auth_escaped_claims);

	tc = check_tcase(s, "token_shape", NULL, NULL);
	tcase_add_test(tc, test_auth_token_shape);
	tcase_add_test(tc, test_auth_token_length);
	tcase_add_test(tc, test_auth_bearer_prefix);

	tc = check_tcase(s, "base64url", NULL, NULL);
	tcase_add_test(tc, test_auth_b64url_vectors);
	tcase_add_test(tc, test_auth_b64url_round_trip);
	tcase_add_test(tc, test_auth_b64url_invalid);

	tc = check_tcase(s, "roles", NULL, NULL);
	tcase_add_test(tc, test_auth_roles);
	return s;
}
