/* check_jwks: JWKS parsing (lib/jwks) and reload (also while other
 * threads verify); check_jwks_verify.c: token verification with a key
 * set (auth_verifier in lib/auth): RS256, ES256 and HS256 by kid, two keys
 * at once, unknown kid, the algorithm confusions (HS256 keyed with an RSA
 * public key, alg none), time claims, aud and iss, the 401 reasons, and
 * reload (also while other threads verify). The RSA and EC keys are made
 * by the openssl command at test time (by EVP if it is missing), once per
 * run, in an unchecked fixture; tokens are signed here with EVP. */
#include <openssl/core_names.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_jwks.h"
#include "check_suites.h"
#include "jwks.h"

/* ------------------------------------------------------------ parsing */

START_TEST(test_jwks_parse_keys)
{
	buf b = BUF_INIT;
	jwks_set *s = NULL;
	char *err = NULL;

	buf_puts(&b, "{\"keys\":[");
	jw_put_jwk(&b, jw_rsa1, "r1",
		   ",\"use\":\"sig\",\"alg\":\"RS256\",\"key_ops\":[\"verify\"]");
	buf_putc(&b, ',');
	jw_put_jwk(&b, jw_ec1, "e1", "");
	buf_putc(&b, ',');
	jw_put_oct(&b, OCT, "h1");
	/* Skipped: for encryption, another algorithm, another curve or kty,
	 * no kid. */
	buf_putc(&b, ',');
	jw_put_jwk(&b, jw_rsa2, "enc", ",\"use\":\"enc\"");
	buf_putc(&b, ',');
	jw_put_jwk(&b, jw_rsa2, "ps", ",\"alg\":\"PS256\"");
	buf_puts(&b,
		 ",{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"p384\",\"x\":\"AA\",\"y\":\"AA\"}");
	buf_puts(&b, ",{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\",\"x\":\"AA\"}");
	buf_puts(&b, ",{\"kty\":\"oct\",\"k\":\"AAAA\"}");
	buf_puts(&b, "],\"other\":1}");
	ck_assert_int_eq(jwks_parse(b.data, b.len, &s, &err), ATT_OK);
	ck_assert_uint_eq(jwks_count(s), 3);
	ck_assert_uint_eq(jwks_skipped(s), 5);
	ck_assert_int_eq(jwks_key_alg(jwks_find(s, "r1", 2)), JWKS_ALG_RS256);
	ck_assert_int_eq(jwks_key_alg(jwks_find(s, "e1", 2)), JWKS_ALG_ES256);
	ck_assert_int_eq(jwks_key_alg(jwks_find(s, "h1", 2)), JWKS_ALG_HS256);
	ck_assert_str_eq(jwks_key_kid(jwks_key_at(s, 1)), "e1");
	ck_assert_ptr_null(jwks_find(s, "r", 1));
	ck_assert_ptr_null(jwks_find(s, "r1x", 3));
	ck_assert_ptr_null(jwks_find(s, "enc", 3));
	ck_assert_ptr_null(jwks_find(NULL, "r1", 2));
	ck_assert_ptr_null(err);
	jwks_free(s);
	jwks_free(NULL);
	buf_free(&b);
	/* An empty set is a set. */
	ck_assert_int_eq(jwks_parse("{\"keys\":[]}", 11, &s, NULL), ATT_OK);
	ck_assert_uint_eq(jwks_count(s), 0);
	jwks_free(s);
}
END_TEST

/* Asserts text is refused with a message holding what. */
static void expect_refused_set(const char *text, att_err want, const char *what)
{
	jwks_set *s = (jwks_set *)0x1;
	char *err = NULL;

	ck_assert_int_eq(jwks_parse(text, strlen(text), &s, &err), want);
	ck_assert_ptr_eq(s, (jwks_set *)0x1); /* untouched */
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, what) != NULL, "message %s lacks %s", err, what);
	free(err);
}

START_TEST(test_jwks_parse_refused)
{
	buf b = BUF_INIT;
	char *good;

	expect_refused_set("", ATT_ECONFIG, "not a JSON Web Key Set");
	expect_refused_set("[]", ATT_ECONFIG, "not a JSON Web Key Set");
	expect_refused_set("{\"keys\":{}}", ATT_ECONFIG, "not a JSON Web Key Set");
	expect_refused_set("{\"keys\":[]} x", ATT_ECONFIG, "not a JSON Web Key Set");
	expect_refused_set("{\"keys\":[],\"keys\":[]}", ATT_ECONFIG, "not a JSON Web Key Set");
	expect_refused_set("{\"keys\":[1]}", ATT_ECONFIG, "keys[0]: not an object");
	expect_refused_set("{\"keys\":[{\"kid\":\"a\"}]}", ATT_ECONFIG, "keys[0]: kty");
	expect_refused_set("{\"keys\":[{\"kty\":\"RSA\",\"kid\":5}]}", ATT_ECONFIG, "keys[0]");
	expect_refused_set("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"\"}]}", ATT_ECONFIG, "kid must");
	expect_refused_set("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"AQAB\"}]}",
			   ATT_ECONFIG, "RSA n and e");
	expect_refused_set(
		"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"A=\",\"e\":\"AQAB\"}]}",
		ATT_ECONFIG, "RSA n and e");
	expect_refused_set(
		"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"a\",\"x\":\"AQAB\","
		"\"y\":\"AQAB\"}]}",
		ATT_ECONFIG, "32 bytes");
	expect_refused_set("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a\",\"k\":\"c2hvcnQ\"}]}",
			   ATT_ECONFIG, "oct k");
	/* An RSA key under 2048 bits. */
	buf_puts(&b, "{\"keys\":[");
	jw_put_jwk(&b, jw_rsa_small, "small", "");
	buf_puts(&b, "]}");
	expect_refused_set(b.data, ATT_ECONFIG, "2048 bits");
	buf_reset(&b);
	/* A point off the curve: x of one key, y of another. */
	{
		buf x = BUF_INIT, y = BUF_INIT;
		jw_put_bn_param(&x, jw_ec1, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		jw_put_bn_param(&y, jw_ec2, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
		buf_printf(
			&b,
			"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"x\",\"x\":\"%s\","
			"\"y\":\"%s\"}]}",
			x.data, y.data);
		expect_refused_set(b.data, ATT_ECONFIG, "no point of P-256");
		buf_free(&x);
		buf_free(&y);
		buf_reset(&b);
	}
	/* A kid twice. */
	buf_puts(&b, "{\"keys\":[");
	jw_put_jwk(&b, jw_rsa1, "same", "");
	buf_putc(&b, ',');
	jw_put_jwk(&b, jw_ec1, "same", "");
	buf_puts(&b, "]}");
	expect_refused_set(b.data, ATT_ECONFIG, "keys[1]: kid used by an earlier key");
	buf_reset(&b);
	/* Too many keys, too many bytes. */
	buf_puts(&b, "{\"keys\":[");
	for (int i = 0; i <= JWKS_MAX_KEYS; i++)
		buf_puts(&b, i ? ",{}" : "{}");
	buf_puts(&b, "]}");
	expect_refused_set(b.data, ATT_ETOOBIG, "more than");
	buf_free(&b);
	good = jw_default_jwks(0);
	{
		jwks_set *s = (jwks_set *)0x1;
		char *err = NULL;
		ck_assert_int_eq(jwks_parse(good, JWKS_MAX_BYTES + 1, &s, &err), ATT_ETOOBIG);
		free(err);
	}
	free(good);
	/* A missing file. */
	{
		jwks_set *s = NULL;
		char *err = NULL;
		ck_assert_int_eq(jwks_load_file("/nonexistent/jwks.json", &s, &err), ATT_EIO);
		ck_assert_ptr_nonnull(strstr(err, "/nonexistent/jwks.json"));
		free(err);
	}
}
END_TEST

/* ------------------------------------------------------------ reload */

START_TEST(test_jwks_reload_replaces_keys)
{
	char *both = jw_default_jwks(1);
	auth_verifier *v = jw_verifier(both, NULL, NULL);
	char *t1 = jw_token_with(RS("r1"), jw_payload(""), jw_rsa1, NULL, 0);
	char *t2 = jw_token_with(RS("r2"), jw_payload(""), jw_rsa2, NULL, 0);
	buf b = BUF_INIT;
	char *why = NULL;

	jw_expect(v, strdup(t1), AUTH_FAIL_NONE); /* now remembered */
	jw_expect(v, strdup(t2), AUTH_FAIL_NONE);
	/* r1 leaves the file; until the reload nothing changes. */
	buf_puts(&b, "{\"keys\":[");
	jw_put_jwk(&b, jw_rsa2, "r2", "");
	buf_puts(&b, "]}");
	jw_write_file(jw_jwks_path, b.data);
	jw_expect(v, strdup(t1), AUTH_FAIL_NONE);
	ck_assert_int_eq(auth_verifier_reload(v, &why), ATT_OK);
	ck_assert_uint_eq(auth_verifier_key_count(v), 1);
	/* The remembered token is not: r1 names no key now. */
	jw_expect(v, strdup(t1), AUTH_FAIL_UNKNOWN_KEY);
	jw_expect(v, strdup(t2), AUTH_FAIL_NONE);
	/* A broken file keeps the keys in use. */
	jw_write_file(jw_jwks_path, "{\"keys\":[");
	ck_assert_int_eq(auth_verifier_reload(v, &why), ATT_ECONFIG);
	ck_assert_ptr_nonnull(why);
	free(why);
	ck_assert_uint_eq(auth_verifier_key_count(v), 1);
	jw_expect(v, strdup(t2), AUTH_FAIL_NONE);
	/* r1 back under another kid. */
	buf_reset(&b);
	buf_puts(&b, "{\"keys\":[");
	jw_put_jwk(&b, jw_rsa1, "r1-2024", "");
	buf_puts(&b, "]}");
	jw_write_file(jw_jwks_path, b.data);
	ck_assert_int_eq(auth_verifier_reload(v, NULL), ATT_OK);
	jw_expect(v, strdup(t2), AUTH_FAIL_UNKNOWN_KEY);
	jw_expect(v, jw_token_with(RS("r1-2024"), jw_payload(""), jw_rsa1, NULL, 0),
		  AUTH_FAIL_NONE);
	buf_free(&b);
	auth_verifier_free(v);
	free(both);
	free(t1);
	free(t2);
}
END_TEST

typedef struct reload_race {
	auth_verifier *v;
	const char *token; /* valid under every set the main thread installs */
	atomic_int stop;
	atomic_int failures;
	atomic_long checks;
} reload_race;

static void *race_verify(void *arg)
{
	reload_race *r = arg;
	auth_claims c;

	while (!atomic_load(&r->stop)) {
		if (auth_check(r->v, r->token, (time_t)NOW, &c, NULL) != ATT_OK)
			atomic_fetch_add(&r->failures, 1);
		atomic_fetch_add(&r->checks, 1);
	}
	return NULL;
}

START_TEST(test_jwks_reload_while_verifying)
{
	char *a = jw_default_jwks(0), *b = jw_default_jwks(1);
	reload_race r = {.v = jw_verifier(a, NULL, NULL)};
	char *tok = jw_token_with(ES("e1"), jw_payload(""), jw_ec1, NULL, 0);
	pthread_t th[4];

	r.token = tok;
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, race_verify, &r), 0);
	for (int i = 0; i < 40; i++) {
		jw_write_file(jw_jwks_path, i % 2 ? a : b);
		ck_assert_int_eq(auth_verifier_reload(r.v, NULL), ATT_OK);
		usleep(1000);
	}
	atomic_store(&r.stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(atomic_load(&r.failures), 0);
	ck_assert_int_gt(atomic_load(&r.checks), 40);
	auth_verifier_free(r.v);
	free(tok);
	free(a);
	free(b);
}
END_TEST

void jwks_cases(Suite *s)
{
	TCase *tc =
		check_tcase(s, "jwks", NULL, NULL, test_jwks_parse_keys, test_jwks_parse_refused,
			    test_jwks_reload_replaces_keys, test_jwks_reload_while_verifying, NULL);

	tcase_add_unchecked_fixture(tc, jwks_keys_setup, jwks_keys_teardown);
	jwks_verify_tests(tc);
}
