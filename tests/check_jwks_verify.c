/* check_jwks_verify: token verification with a key set (auth_verifier in
 * lib/auth): RS256, ES256 and HS256 by kid, two keys at once, unknown kid,
 * the algorithm confusions (HS256 keyed with an RSA public key, alg none),
 * bad signatures, time claims, aud and iss, the 401 reasons. Keys, sets
 * and tokens: check_jwks.h. */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_jwks.h"
#include "check_util.h"
#include "jwks.h"

/* ------------------------------------------------------------ verifying */

/* A verifier of the default set (r1, e1, h1) and the secret, no aud or
 * iss. */
static auth_verifier *default_verifier(void)
{
	char *text = jw_default_jwks(0);
	auth_verifier *v = jw_verifier(text, NULL, NULL);

	free(text);
	return v;
}

/* The default set holds its three keys; a kid of 300 digits names none of
 * them. Each alg's tokens and the other unknown keys: rows of verdicts. */
START_TEST(test_jwks_default_set)
{
	auth_verifier *v = default_verifier();
	char longkid[600];

	ck_assert_uint_eq(auth_verifier_key_count(v), 3);
	snprintf(longkid, sizeof longkid, "{\"alg\":\"RS256\",\"kid\":\"%0300d\"}", 1);
	jw_expect(v, jw_token_with(longkid, jw_payload(""), jw_rsa1, NULL, 0),
		  AUTH_FAIL_UNKNOWN_KEY);
	auth_verifier_free(v);
	auth_verifier_free(NULL);
}
END_TEST

/* The RSA public key as a would-be HMAC secret: DER, and PEM text. */
static unsigned char *public_bytes(EVP_PKEY *k, int pem, size_t *len)
{
	unsigned char *out = NULL;

	if (pem) {
		BIO *bio = BIO_new(BIO_s_mem());
		char *data;
		long n;
		ck_assert_int_eq(PEM_write_bio_PUBKEY(bio, k), 1);
		n = BIO_get_mem_data(bio, &data);
		out = OPENSSL_malloc((size_t)n);
		ck_assert_ptr_nonnull(out);
		memcpy(out, data, (size_t)n);
		*len = (size_t)n;
		BIO_free(bio);
	} else {
		int n = i2d_PUBKEY(k, &out);
		ck_assert_int_gt(n, 0);
		*len = (size_t)n;
	}
	return out;
}

START_TEST(test_jwks_alg_confusion)
{
	char *text = jw_default_jwks(0);
	auth_verifier *v = jw_verifier(text, NULL, NULL);

	for (int pem = 0; pem <= 1; pem++) {
		size_t n;
		unsigned char *pub = public_bytes(jw_rsa1, pem, &n);
		/* HS256 naming the RSA key, HMAC keyed with its public key. */
		jw_expect(v, jw_token_with(HS("r1"), jw_payload(""), NULL, pub, n), AUTH_FAIL_ALG);
		/* Without a kid: the secret's, so the signature is wrong. */
		jw_expect(v, jw_token_with(HS_NOKID, jw_payload(""), NULL, pub, n),
			  AUTH_FAIL_SIGNATURE);
		if (pem) {
			/* the JWK text itself as the secret */
			jw_expect(v,
				  jw_token_with(HS("r1"), jw_payload(""), NULL, text, strlen(text)),
				  AUTH_FAIL_ALG);
		}
		OPENSSL_free(pub);
	}
	/* The other keys' algorithms. */
	auth_verifier_free(v);
	free(text);
}
END_TEST

START_TEST(test_jwks_bad_signatures)
{
	auth_verifier *v = default_verifier();
	char *t;
	size_t n;

	/* A flipped character of an RS256 and an ES256 signature. */
	t = jw_token_with(RS("r1"), jw_payload(""), jw_rsa1, NULL, 0);
	n = strlen(t);
	t[n - 10] = t[n - 10] == 'A' ? 'B' : 'A';
	jw_expect(v, t, AUTH_FAIL_SIGNATURE);
	t = jw_token_with(ES("e1"), jw_payload(""), jw_ec1, NULL, 0);
	n = strlen(t);
	t[n - 10] = t[n - 10] == 'A' ? 'B' : 'A';
	jw_expect(v, t, AUTH_FAIL_SIGNATURE);
	/* A changed payload under a valid signature. */
	{
		char *good = jw_token_with(RS("r1"), jw_payload(""), jw_rsa1, NULL, 0);
		char *other = jw_token_with(RS("r1"), jw_payload(",\"x\":1"), jw_rsa1, NULL, 0);
		const char *sig = strrchr(good, '.');
		buf b = BUF_INIT;
		buf_append(&b, other, (size_t)(strrchr(other, '.') - other));
		buf_puts(&b, sig);
		jw_expect(v, buf_take(&b), AUTH_FAIL_SIGNATURE);
		free(good);
		free(other);
	}
	/* ES256 as DER (what EVP makes) is not a JWS signature. */
	{
		buf b = BUF_INIT;
		unsigned char der[128];
		size_t dl = sizeof der;
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		jw_put_b64(&b, (const unsigned char *)ES("e1"), strlen(ES("e1")));
		buf_putc(&b, '.');
		jw_put_b64(&b, (const unsigned char *)jw_payload(""), strlen(jw_payload("")));
		ck_assert_int_eq(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, jw_ec1), 1);
		ck_assert_int_eq(EVP_DigestSign(md, der, &dl, (unsigned char *)b.data, b.len), 1);
		EVP_MD_CTX_free(md);
		buf_putc(&b, '.');
		jw_put_b64(&b, der, dl);
		jw_expect(v, buf_take(&b), AUTH_FAIL_SIGNATURE);
	}
	/* A signature that is no base64url. */
	t = jw_token_with(RS("r1"), jw_payload(""), jw_rsa1, NULL, 0);
	t[strlen(t) - 1] = '*';
	jw_expect(v, t, AUTH_FAIL_MALFORMED);
	auth_verifier_free(v);
}
END_TEST

START_TEST(test_jwks_time_claims)
{
	auth_verifier *v = default_verifier();
	char p[256];

	snprintf(p, sizeof p, "{\"sub\":\"" SUB "\",\"role\":\"student\",\"exp\":%lld}", NOW - 61);
	jw_expect(v, jw_token_with(RS("r1"), p, jw_rsa1, NULL, 0), AUTH_FAIL_EXPIRED);
	snprintf(p, sizeof p, "{\"sub\":\"" SUB "\",\"role\":\"student\",\"exp\":%lld}", NOW - 60);
	jw_expect(v, jw_token_with(RS("r1"), p, jw_rsa1, NULL, 0), AUTH_FAIL_NONE);
	snprintf(p, sizeof p,
		 "{\"sub\":\"" SUB "\",\"role\":\"student\",\"exp\":%lld,\"nbf\":%lld}", NOW + 3600,
		 NOW + 61);
	jw_expect(v, jw_token_with(ES("e1"), p, jw_ec1, NULL, 0), AUTH_FAIL_NOT_YET_VALID);
	snprintf(p, sizeof p,
		 "{\"sub\":\"" SUB "\",\"role\":\"student\",\"exp\":%lld,\"iat\":%lld}", NOW + 3600,
		 NOW + 61);
	jw_expect(v, jw_token_with(ES("e1"), p, jw_ec1, NULL, 0), AUTH_FAIL_ISSUED_FUTURE);
	/* A remembered token expires like any other. */
	jw_expect_at(v, jw_token_with(RS("r1"), jw_payload(""), jw_rsa1, NULL, 0), NOW,
		     AUTH_FAIL_NONE);
	jw_expect_at(v, jw_token_with(RS("r1"), jw_payload(""), jw_rsa1, NULL, 0), NOW + 3661,
		     AUTH_FAIL_EXPIRED);
	jw_expect_at(v, jw_token_with(RS("r1"), jw_payload(""), jw_rsa1, NULL, 0), NOW - 71,
		     AUTH_FAIL_ISSUED_FUTURE);
	snprintf(p, sizeof p,
		 "{\"sub\":\"" SUB "\",\"role\":\"student\",\"exp\":%lld,\"nbf\":%lld}", NOW + 3600,
		 NOW);
	jw_expect_at(v, jw_token_with(RS("r1"), p, jw_rsa1, NULL, 0), NOW, AUTH_FAIL_NONE);
	jw_expect_at(v, jw_token_with(RS("r1"), p, jw_rsa1, NULL, 0), NOW - 61,
		     AUTH_FAIL_NOT_YET_VALID);
	/* Malformed dates and missing claims. */
	jw_expect(v,
		  jw_token_with(RS("r1"),
				"{\"sub\":\"" SUB "\",\"role\":\"student\",\"exp\":\"x\"}", jw_rsa1,
				NULL, 0),
		  AUTH_FAIL_MALFORMED);
	jw_expect(v,
		  jw_token_with(RS("r1"), "{\"sub\":\"" SUB "\",\"role\":\"student\"}", jw_rsa1,
				NULL, 0),
		  AUTH_FAIL_MALFORMED);
	snprintf(p, sizeof p, "{\"sub\":\"" SUB "\",\"role\":\"teacher\",\"exp\":%lld}", NOW + 60);
	jw_expect(v, jw_token_with(RS("r1"), p, jw_rsa1, NULL, 0), AUTH_FAIL_CLAIMS);
	snprintf(p, sizeof p, "{\"role\":\"student\",\"exp\":%lld}", NOW + 60);
	jw_expect(v, jw_token_with(RS("r1"), p, jw_rsa1, NULL, 0), AUTH_FAIL_CLAIMS);
	auth_verifier_free(v);
}
END_TEST

/* A token remembered by one verifier is not another's: the one without
 * aud or iss accepts it, the one with them still refuses it. */
START_TEST(test_jwks_memo_per_verifier)
{
	char *text = jw_default_jwks(0);
	auth_verifier *v = jw_verifier(text, AUD, ISS), *open = jw_verifier(text, NULL, NULL);

	jw_expect(open,
		  jw_token_with(RS("r1"), jw_payload(",\"aud\":\"x\",\"iss\":\"y\""), jw_rsa1, NULL,
				0),
		  AUTH_FAIL_NONE);
	jw_expect(v,
		  jw_token_with(RS("r1"), jw_payload(",\"aud\":\"x\",\"iss\":\"y\""), jw_rsa1, NULL,
				0),
		  AUTH_FAIL_ISSUER);
	auth_verifier_free(v);
	auth_verifier_free(open);
	free(text);
}
END_TEST

START_TEST(test_jwks_messages)
{
	auth_verifier *v = jw_verifier(NULL, NULL, NULL);
	auth_claims c;
	auth_fail why = AUTH_FAIL_NONE;

	/* Every reason has its own message, fit for a quoted-string. */
	for (int i = AUTH_FAIL_MISSING; i <= AUTH_FAIL_ISSUER; i++) {
		const char *m = auth_fail_message((auth_fail)i);
		ck_assert_ptr_nonnull(m);
		ck_assert_ptr_null(strpbrk(m, "\"\\\r\n"));
		for (int j = AUTH_FAIL_MISSING; j < i; j++)
			ck_assert_str_ne(m, auth_fail_message((auth_fail)j));
	}
	ck_assert_int_eq(auth_check_header(v, NULL, NOW, &c, &why), ATT_EAUTH);
	ck_assert_int_eq(why, AUTH_FAIL_MISSING);
	ck_assert_int_eq(auth_check_header(v, "Basic abc", NOW, &c, &why), ATT_EAUTH);
	ck_assert_int_eq(why, AUTH_FAIL_MISSING);
	ck_assert_int_eq(auth_check_header(v, "Bearer   ", NOW, &c, &why), ATT_EAUTH);
	ck_assert_int_eq(why, AUTH_FAIL_MISSING);
	ck_assert_int_eq(auth_check_header(v, "Bearer a.b", NOW, &c, &why), ATT_EAUTH);
	ck_assert_int_eq(why, AUTH_FAIL_MALFORMED);
	ck_assert_int_eq(auth_check_header(v, "Bearer a.b.c", NOW, &c, &why), ATT_EAUTH);
	ck_assert_int_eq(why, AUTH_FAIL_MALFORMED);
	ck_assert_int_eq(auth_check(v, "", NOW, &c, NULL), ATT_EAUTH);
	jw_expect(v,
		  jw_token_with("{\"alg\":\"HS256\",\"kid\":7}", jw_payload(""), NULL, SECRET,
				strlen(SECRET)),
		  AUTH_FAIL_MALFORMED);
	jw_expect(v,
		  jw_token_with("{\"alg\":\"HS256\",\"crit\":[\"b64\"]}", jw_payload(""), NULL,
				SECRET, strlen(SECRET)),
		  AUTH_FAIL_MALFORMED);
	auth_verifier_free(v);
}
END_TEST

START_TEST(test_jwks_verifier_refused)
{
	auth_options o = {.secret = SECRET,
			  .secret_len = strlen(SECRET),
			  .jwks_file = "/nonexistent/jwks.json"};
	auth_verifier *v = (auth_verifier *)0x1;
	char *why = NULL, path[512];

	ck_assert_int_eq(auth_verifier_create(&o, &v, &why), ATT_EIO);
	ck_assert_ptr_eq(v, (auth_verifier *)0x1);
	ck_assert_ptr_nonnull(why);
	free(why);
	why = NULL;
	snprintf(path, sizeof path, "%s/bad.json", jw_tmpdir);
	jw_write_file(path, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\"}]}");
	o.jwks_file = path;
	ck_assert_int_eq(auth_verifier_create(&o, &v, &why), ATT_ECONFIG);
	ck_assert_ptr_nonnull(strstr(why, "keys[0]"));
	free(why);
	/* "" means no file. */
	o.jwks_file = "";
	ck_assert_int_eq(auth_verifier_create(&o, &v, NULL), ATT_OK);
	ck_assert_uint_eq(auth_verifier_key_count(v), 0);
	ck_assert_int_eq(auth_verifier_reload(v, NULL), ATT_OK);
	auth_verifier_free(v);
}
END_TEST

/* A token's signing key, for the rows of verdicts. */
typedef enum jw_signer {
	JW_UNSIGNED,
	JW_RSA1,
	JW_RSA2,
	JW_EC1,
	JW_EC2,
	JW_OCT,	   /* HMAC with the bytes of OCT (the set's h1) */
	JW_SECRET, /* HMAC with the verifier's secret */
} jw_signer;

/* The verifier of a row of verdicts: of the secret and the default set
 * (with r2 too, or no set at all), without aud or iss or with AUD and ISS. */
typedef enum jw_set { JW_DEFAULT, JW_TWO_RSA, JW_NO_SET, JW_AUD_ISS } jw_set;

#define P_ISS ",\"iss\":\"" ISS "\""

/* A token (header, the student payload with extra members, its signer)
 * and the verdict of a verifier. */
static const struct verdict_row {
	jw_set set;
	const char *header, *extra;
	jw_signer signer;
	auth_fail want;
} verdicts[] = {
	/* accepts each alg */
	{JW_DEFAULT, RS("r1"), "", JW_RSA1, AUTH_FAIL_NONE},
	{JW_DEFAULT, ES("e1"), "", JW_EC1, AUTH_FAIL_NONE},
	{JW_DEFAULT, HS("h1"), "", JW_OCT, AUTH_FAIL_NONE},
	{JW_DEFAULT, HS_NOKID, "", JW_SECRET, AUTH_FAIL_NONE},
	{JW_DEFAULT, HS("other"), "", JW_SECRET, AUTH_FAIL_NONE},
	{JW_DEFAULT, HS("h1"), "", JW_SECRET, AUTH_FAIL_SIGNATURE},
	{JW_DEFAULT, HS_NOKID, "", JW_OCT, AUTH_FAIL_SIGNATURE},
	/* two keys at once */
	{JW_TWO_RSA, RS("r1"), "", JW_RSA1, AUTH_FAIL_NONE},
	{JW_TWO_RSA, RS("r2"), "", JW_RSA2, AUTH_FAIL_NONE},
	{JW_TWO_RSA, RS("r1"), "", JW_RSA2, AUTH_FAIL_SIGNATURE},
	{JW_TWO_RSA, RS("r2"), "", JW_RSA1, AUTH_FAIL_SIGNATURE},
	{JW_TWO_RSA, ES("e1"), "", JW_EC2, AUTH_FAIL_SIGNATURE},
	/* alg confusion */
	{JW_DEFAULT, ES("r1"), "", JW_EC1, AUTH_FAIL_ALG},
	{JW_DEFAULT, RS("e1"), "", JW_RSA1, AUTH_FAIL_ALG},
	{JW_DEFAULT, RS("h1"), "", JW_RSA1, AUTH_FAIL_ALG},
	/* alg none and others */
	{JW_DEFAULT, "{\"alg\":\"none\"}", "", JW_UNSIGNED, AUTH_FAIL_ALG},
	{JW_DEFAULT, "{\"alg\":\"None\"}", "", JW_UNSIGNED, AUTH_FAIL_ALG},
	{JW_DEFAULT, RS("r1"), "", JW_UNSIGNED, AUTH_FAIL_SIGNATURE},
	{JW_DEFAULT, ES("e1"), "", JW_UNSIGNED, AUTH_FAIL_SIGNATURE},
	{JW_DEFAULT, "{\"alg\":\"none\",\"kid\":\"r1\"}", "", JW_UNSIGNED, AUTH_FAIL_ALG},
	{JW_DEFAULT, "{\"alg\":\"HS512\"}", "", JW_SECRET, AUTH_FAIL_ALG},
	{JW_DEFAULT, "{\"alg\":\"RS512\",\"kid\":\"r1\"}", "", JW_RSA1, AUTH_FAIL_ALG},
	{JW_DEFAULT, "{\"alg\":\"rs256\",\"kid\":\"r1\"}", "", JW_RSA1, AUTH_FAIL_ALG},
	/* unknown key; without a set every RS256/ES256 token names one */
	{JW_DEFAULT, RS("r9"), "", JW_RSA1, AUTH_FAIL_UNKNOWN_KEY},
	{JW_DEFAULT, "{\"alg\":\"RS256\"}", "", JW_RSA1, AUTH_FAIL_UNKNOWN_KEY},
	{JW_DEFAULT, ES("E1"), "", JW_EC1, AUTH_FAIL_UNKNOWN_KEY},
	{JW_NO_SET, RS("r1"), "", JW_RSA1, AUTH_FAIL_UNKNOWN_KEY},
	{JW_NO_SET, ES("e1"), "", JW_EC1, AUTH_FAIL_UNKNOWN_KEY},
	{JW_NO_SET, HS_NOKID, "", JW_SECRET, AUTH_FAIL_NONE},
	/* aud: one of the audiences, exactly */
	{JW_AUD_ISS, RS("r1"), P_ISS ",\"aud\":\"" AUD "\"", JW_RSA1, AUTH_FAIL_NONE},
	{JW_AUD_ISS, ES("e1"), P_ISS ",\"aud\":[\"other\",\"" AUD "\"]", JW_EC1, AUTH_FAIL_NONE},
	{JW_AUD_ISS, RS("r1"), P_ISS ",\"aud\":[\"other\",\"exam-api2\"]", JW_RSA1,
	 AUTH_FAIL_AUDIENCE},
	{JW_AUD_ISS, RS("r1"), P_ISS ",\"aud\":\"exam-ap\"", JW_RSA1, AUTH_FAIL_AUDIENCE},
	{JW_AUD_ISS, RS("r1"), P_ISS ",\"aud\":[]", JW_RSA1, AUTH_FAIL_AUDIENCE},
	{JW_AUD_ISS, RS("r1"), P_ISS, JW_RSA1, AUTH_FAIL_AUDIENCE},
	{JW_AUD_ISS, RS("r1"), P_ISS ",\"aud\":[\"" AUD "\",7]", JW_RSA1, AUTH_FAIL_MALFORMED},
	{JW_AUD_ISS, RS("r1"), P_ISS ",\"aud\":{\"a\":\"" AUD "\"}", JW_RSA1, AUTH_FAIL_MALFORMED},
	/* iss: exactly, required */
	{JW_AUD_ISS, RS("r1"), ",\"aud\":\"" AUD "\",\"iss\":\"https://idp.example/\"", JW_RSA1,
	 AUTH_FAIL_ISSUER},
	{JW_AUD_ISS, RS("r1"), ",\"aud\":\"" AUD "\"", JW_RSA1, AUTH_FAIL_ISSUER},
	{JW_AUD_ISS, RS("r1"), ",\"aud\":\"" AUD "\",\"iss\":1", JW_RSA1, AUTH_FAIL_MALFORMED},
	/* the HS256 secret's tokens follow the same rules */
	{JW_AUD_ISS, HS_NOKID, "", JW_SECRET, AUTH_FAIL_ISSUER},
	{JW_AUD_ISS, HS_NOKID, P_ISS ",\"aud\":\"" AUD "\"", JW_SECRET, AUTH_FAIL_NONE},
	/* not configured: not checked */
	{JW_DEFAULT, RS("r1"), ",\"aud\":\"x\",\"iss\":\"y\"", JW_RSA1, AUTH_FAIL_NONE},
};

START_TEST(test_jwks_verdicts)
{
	const struct verdict_row *r = &verdicts[_i];
	char *text = r->set == JW_NO_SET ? NULL : jw_default_jwks(r->set == JW_TWO_RSA);
	auth_verifier *v =
		r->set == JW_AUD_ISS ? jw_verifier(text, AUD, ISS) : jw_verifier(text, NULL, NULL);
	EVP_PKEY *const keys[] = {NULL, jw_rsa1, jw_rsa2, jw_ec1, jw_ec2, NULL, NULL};
	const char *hmac = r->signer == JW_OCT ? OCT : r->signer == JW_SECRET ? SECRET : NULL;

	jw_expect(v,
		  jw_token_with(r->header, jw_payload(r->extra), keys[r->signer], hmac,
				hmac != NULL ? strlen(hmac) : 0),
		  r->want);
	auth_verifier_free(v);
	free(text);
}
END_TEST

void jwks_verify_tests(TCase *tc)
{
	tcase_add_loop_test(tc, test_jwks_verdicts, 0, CHECK_ROWS(verdicts));
	tcase_add_test(tc, test_jwks_default_set);
	tcase_add_test(tc, test_jwks_alg_confusion);
	tcase_add_test(tc, test_jwks_bad_signatures);
	tcase_add_test(tc, test_jwks_time_claims);
	tcase_add_test(tc, test_jwks_memo_per_verifier);
	tcase_add_test(tc, test_jwks_messages);
	tcase_add_test(tc, test_jwks_verifier_refused);
}
