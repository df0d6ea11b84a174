/* check_auth: HS256 JWT signing and verification - the happy path, the
 * memo of verified tokens, signatures and algorithms - plus base64url and
 * role names. Claims: check_auth_claims.c; strict JSON in tokens:
 * check_auth_json.c; hand-crafted tokens: check_auth_util.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_auth.h"
#include "check_suites.h"

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
		ck_assert_int_eq(tok_verify(tok, NOW, &c), ATT_OK);
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
	ck_assert_int_eq(tok_verify(tok, NOW, &c), ATT_OK);
	ck_assert_int_eq(tok_verify(tok, NOW + 1, &c), ATT_OK); /* from the memo */
	ck_assert_str_eq(c.sub, SUB);
	/* Past exp + leeway: refused although remembered. */
	ck_assert_int_eq(tok_verify(tok, NOW + 100 + AUTH_LEEWAY_S + 1, &c), ATT_EAUTH);
	ck_assert_int_eq(auth_check(tok_verifier_of(other), tok, (time_t)NOW, &c, NULL), ATT_EAUTH);
	ck_assert_int_eq(auth_verify(tok, SECRET, strlen(SECRET), (time_t)NOW, &c), ATT_OK);
	bad = strdup(tok);
	bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(tok_verify(bad, NOW, &c), ATT_EAUTH);
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
		if (tok_verify(toks[i], NOW, &c) != ATT_OK)
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
	tok_memo_stats(&hits0, &misses0);
	ck_assert_ptr_null(verify_all(toks));
	tok_memo_stats(&hits1, &misses1);
	ck_assert_uint_eq(hits1 - hits0, SHARED_TOKENS);
	ck_assert_uint_eq(misses1 - misses0, 0);
	for (int i = 0; i < SHARED_TOKENS; i++)
		free(toks[i]);
}
END_TEST

START_TEST(test_auth_crafted_valid)
{
	/* the hand-made tokens below differ from this one in one thing only */
	tok_expect_accepted(tok_craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld}",
				       SUB, NOW + 10),
			    "plain");
	tok_expect_accepted(tok_craftf("{\"alg\":\"HS256\"}",
				       "{\"sub\":\"%s\",\"role\":\"admin\",\"exp\":%lld}", SUB,
				       NOW + 10),
			    "no typ");
	tok_expect_accepted(tok_craftf(HDR,
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
	tok_expect_refused(
		tok_craft(HDR, "{\"sub\":\"" SUB "\",\"role\":\"student\",\"exp\":9999999999}",
			  "another-secret-another-secret-xx"),
		"other secret");
}
END_TEST

START_TEST(test_auth_tampered_payload)
{
	char *good = tok_craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld}", SUB,
				NOW + 100);
	char *evil =
		tok_craftf(HDR, "{\"sub\":\"%s\",\"role\":\"admin\",\"exp\":%lld}", SUB, NOW + 100);
	const char *gsig = strrchr(good, '.');
	char *edot = strrchr(evil, '.');
	buf b = BUF_INIT;

	/* evil header.payload with good's signature */
	buf_append(&b, evil, (size_t)(edot - evil));
	buf_puts(&b, gsig);
	tok_expect_refused(buf_take(&b), "payload swapped");
	/* one character of the payload changed */
	{
		char *t = strdup(good);
		char *p = strchr(t, '.') + 5;
		*p = *p == 'A' ? 'B' : 'A';
		tok_expect_refused(t, "payload byte flipped");
	}
	free(good);
	free(evil);
}
END_TEST

START_TEST(test_auth_tampered_signature)
{
	char *good = tok_craftf(HDR, "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld}", SUB,
				NOW + 100);
	size_t n = strlen(good);
	char *t;
	buf b = BUF_INIT;

	t = strdup(good);
	t[n - 3] = t[n - 3] == 'A' ? 'B' : 'A';
	tok_expect_refused(t, "signature byte flipped");
	/* last char carries 2 unused bits: a different char with the same
	 * decoded bytes would be a second encoding */
	t = strdup(good);
	t[n - 1] = t[n - 1] == 'A' ? 'B' : 'A';
	tok_expect_refused(t, "last signature char changed");
	t = strdup(good);
	t[n - 1] = '\0';
	tok_expect_refused(t, "signature truncated");
	buf_puts(&b, good);
	buf_puts(&b, "AAAA");
	tok_expect_refused(buf_take(&b), "signature extended");
	t = strdup(good);
	*(strrchr(t, '.') + 1) = '\0';
	tok_expect_refused(t, "signature empty");
	t = strdup(good);
	t[n - 5] = '+';
	tok_expect_refused(t, "signature with non-url alphabet");
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
		tok_expect_refused(tok_craftf(headers[i],
					      "{\"sub\":\"%s\",\"role\":\"student\",\"exp\":%lld}",
					      SUB, NOW + 100),
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
	tok_append_b64(&b, hdr, strlen(hdr));
	buf_putc(&b, '.');
	tok_append_b64(&b, payload, strlen(payload));
	buf_putc(&b, '.');
	tok_expect_refused(buf_take(&b), "alg none, empty signature");
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

/* Each role and its name (AUTH_ROLE_NONE has none), which auth_role_parse
 * reads back; then names that are no role. */
static const struct role_row {
	auth_role role;
	const char *name;
} role_rows[] = {
	{AUTH_ROLE_STUDENT, "student"}, {AUTH_ROLE_PROCTOR, "proctor"}, {AUTH_ROLE_ADMIN, "admin"},
	{AUTH_ROLE_NONE, NULL},		{AUTH_ROLE_NONE, "Admin"},	{AUTH_ROLE_NONE, ""},
	{AUTH_ROLE_NONE, "teacher"},
};

START_TEST(test_auth_roles)
{
	for (int i = 0; i < CHECK_ROWS(role_rows); i++) {
		const struct role_row *r = &role_rows[i];

		if (r->name != NULL)
			ck_assert_msg(auth_role_parse(r->name) == r->role,
				      "auth_role_parse(\"%s\")", r->name);
		if (r->role != AUTH_ROLE_NONE || r->name == NULL)
			ck_assert_pstr_eq(auth_role_name(r->role), r->name);
	}
}
END_TEST

void auth_cases(Suite *s)
{
	check_tcase(s, "sign_verify", NULL, NULL, test_auth_round_trip, test_auth_sign_for_aud_iss,
		    test_auth_memo_rechecks, test_auth_memo_shared_by_threads,
		    test_auth_crafted_valid, test_auth_sign_refuses, NULL);

	check_tcase(s, "signature", NULL, NULL, test_auth_wrong_secret, test_auth_tampered_payload,
		    test_auth_tampered_signature, NULL);

	check_tcase(s, "alg", NULL, NULL, test_auth_bad_alg, test_auth_alg_none_unsigned, NULL);

	check_tcase(s, "base64url", NULL, NULL, test_auth_b64url_vectors,
		    test_auth_b64url_round_trip, test_auth_b64url_invalid, NULL);

	check_tcase(s, "roles", NULL, NULL, test_auth_roles, NULL);
}
