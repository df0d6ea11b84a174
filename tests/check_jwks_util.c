/* check_jwks_util: keys, JWK sets, signed tokens and verifiers for the
 * JWKS tests (check_jwks.h). The RSA and EC keys are made by the openssl
 * command (by EVP if it is missing); tokens are signed here with EVP. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "b64url.h"
#include "check_jwks.h"
#include "jwks.h"

EVP_PKEY *jw_rsa1, *jw_rsa2, *jw_rsa_small, *jw_ec1, *jw_ec2;
char jw_tmpdir[256];

/* ------------------------------------------------------------ keys */

/* A key made by `openssl genpkey ARGS` (PEM in jw_tmpdir), else by EVP. */
static EVP_PKEY *jw_make_key(const char *name, const char *args, const char *type, size_t bits)
{
	char path[512], cmd[1024];
	EVP_PKEY *k = NULL;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s.pem", jw_tmpdir, name);
	snprintf(cmd, sizeof cmd, "openssl genpkey %s -out '%s' 2>/dev/null", args, path);
	if (system(cmd) == 0 && (f = fopen(path, "r")) != NULL) {
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (k == NULL)
		k = strcmp(type, "RSA") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits)
					     : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (k == NULL)
		abort();
	return k;
}

void jwks_keys_setup(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(jw_tmpdir, sizeof jw_tmpdir, "%s/check_jwks.XXXXXX", t != NULL ? t : "/tmp");
	if (mkdtemp(jw_tmpdir) == NULL)
		abort();
	jw_rsa1 = jw_make_key("rsa1", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048", "RSA", 2048);
	jw_rsa2 = jw_make_key("rsa2", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048", "RSA", 2048);
	jw_rsa_small = jw_make_key("rsa_small", "-algorithm RSA -pkeyopt rsa_keygen_bits:1024",
				   "RSA", 1024);
	jw_ec1 = jw_make_key("ec1", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256", "EC", 0);
	jw_ec2 = jw_make_key("ec2", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256", "EC", 0);
}

void jwks_keys_teardown(void)
{
	char cmd[512];

	EVP_PKEY_free(jw_rsa1);
	EVP_PKEY_free(jw_rsa2);
	EVP_PKEY_free(jw_rsa_small);
	EVP_PKEY_free(jw_ec1);
	EVP_PKEY_free(jw_ec2);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", jw_tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "check_jwks: could not remove %s\n", jw_tmpdir);
}

void jw_put_b64(buf *b, const unsigned char *p, size_t n)
{
	char *enc = malloc(4 * ((n + 2) / 3) + 1);

	ck_assert_ptr_nonnull(enc);
	b64url_encode(p, n, enc);
	buf_puts(b, enc);
	free(enc);
}

/* The base64url of a big-endian number of pad bytes (0: its own length). */
void jw_put_bn_param(buf *b, const EVP_PKEY *k, const char *name, int pad)
{
	BIGNUM *bn = NULL;
	unsigned char bytes[1024];
	int n;

	ck_assert_int_eq(EVP_PKEY_get_bn_param(k, name, &bn), 1);
	n = pad ? BN_bn2binpad(bn, bytes, pad) : BN_bn2bin(bn, bytes);
	ck_assert_int_gt(n, 0);
	jw_put_b64(b, bytes, (size_t)n);
	BN_free(bn);
}

/* Appends the public JWK of k (RSA or P-256) with kid, and extra members
 * (text after the last one, may be ""). */
void jw_put_jwk(buf *b, const EVP_PKEY *k, const char *kid, const char *extra)
{
	if (EVP_PKEY_is_a(k, "RSA")) {
		buf_printf(b, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"", kid);
		jw_put_bn_param(b, k, OSSL_PKEY_PARAM_RSA_N, 0);
		buf_puts(b, "\",\"e\":\"");
		jw_put_bn_param(b, k, OSSL_PKEY_PARAM_RSA_E, 0);
	} else {
		buf_printf(b, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\",\"x\":\"", kid);
		jw_put_bn_param(b, k, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		buf_puts(b, "\",\"y\":\"");
		jw_put_bn_param(b, k, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
	}
	buf_printf(b, "\"%s}", extra);
}

/* An oct JWK of the bytes of secret. */
void jw_put_oct(buf *b, const char *secret, const char *kid)
{
	buf_printf(b, "{\"kty\":\"oct\",\"kid\":\"%s\",\"k\":\"", kid);
	jw_put_b64(b, (const unsigned char *)secret, strlen(secret));
	buf_puts(b, "\"}");
}

/* The default set: RSA r1, EC e1, oct h1 (the bytes "another-secret-...")
 * and the key r2 when two_rsa. The caller frees the text with free(). */
char *jw_default_jwks(int two_rsa)
{
	buf b = BUF_INIT;

	buf_puts(&b, "{\"keys\":[");
	jw_put_jwk(&b, jw_rsa1, "r1", ",\"use\":\"sig\",\"alg\":\"RS256\"");
	buf_putc(&b, ',');
	jw_put_jwk(&b, jw_ec1, "e1", ",\"alg\":\"ES256\"");
	buf_putc(&b, ',');
	jw_put_oct(&b, "another-secret-another-secret-0123", "h1");
	if (two_rsa) {
		buf_putc(&b, ',');
		jw_put_jwk(&b, jw_rsa2, "r2", "");
	}
	buf_puts(&b, "]}");
	ck_assert_int_eq(b.failed, 0);
	return buf_take(&b);
}

void jw_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	ck_assert_int_eq(fclose(f), 0);
}

/* ------------------------------------------------------------ tokens */

/* Raw JWS signature of data under k for alg (ES256 as r||s). */
static size_t jw_sign_raw(EVP_PKEY *k, jwks_alg alg, const char *data, size_t len,
			  unsigned char *sig)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[256];
	size_t n = 1024;

	ck_assert_ptr_nonnull(md);
	ck_assert_int_eq(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k), 1);
	if (alg == JWKS_ALG_ES256) {
		const unsigned char *p = der;
		ECDSA_SIG *es;
		n = sizeof der;
		ck_assert_int_eq(EVP_DigestSign(md, der, &n, (const unsigned char *)data, len), 1);
		es = d2i_ECDSA_SIG(NULL, &p, (long)n);
		ck_assert_ptr_nonnull(es);
		ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32), 32);
		ck_assert_int_eq(BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32), 32);
		ECDSA_SIG_free(es);
		n = 64;
	} else {
		ck_assert_int_eq(EVP_DigestSign(md, sig, &n, (const unsigned char *)data, len), 1);
	}
	EVP_MD_CTX_free(md);
	return n;
}

/* header.payload, then '.' and the signature: by k (RS256/ES256, k not
 * NULL), by HMAC with hmac_key (hmac_len bytes), or none at all. The caller
 * frees the token with free(). */
char *jw_token_with(const char *header, const char *payload, EVP_PKEY *k, const void *hmac_key,
		    size_t hmac_len)
{
	unsigned char sig[1024];
	unsigned int mac_len = 0;
	size_t n = 0;
	buf b = BUF_INIT;

	jw_put_b64(&b, (const unsigned char *)header, strlen(header));
	buf_putc(&b, '.');
	jw_put_b64(&b, (const unsigned char *)payload, strlen(payload));
	ck_assert_int_eq(b.failed, 0);
	if (k != NULL) {
		n = jw_sign_raw(k, EVP_PKEY_is_a(k, "RSA") ? JWKS_ALG_RS256 : JWKS_ALG_ES256,
				b.data, b.len, sig);
	} else if (hmac_key != NULL) {
		ck_assert_ptr_nonnull(HMAC(EVP_sha256(), hmac_key, (int)hmac_len,
					   (const unsigned char *)b.data, b.len, sig, &mac_len));
		n = mac_len;
	}
	buf_putc(&b, '.');
	jw_put_b64(&b, sig, n);
	return buf_take(&b);
}

static char jw_payload_text[1024];

/* The usual student payload, valid at NOW, with extra members (may be ""). */
const char *jw_payload(const char *extra)
{
	snprintf(jw_payload_text, sizeof jw_payload_text,
		 "{\"sub\":\"" SUB "\",\"role\":\"student\",\"iat\":%lld,\"exp\":%lld%s}", NOW - 10,
		 NOW + 3600, extra);
	return jw_payload_text;
}

/* ------------------------------------------------------------ verifiers */

char jw_jwks_path[512];

/* A verifier with the secret, the JWKS text (NULL: no file), aud and iss. */
auth_verifier *jw_verifier(const char *jwks_text, const char *aud, const char *iss)
{
	auth_options o = {
		.secret = SECRET, .secret_len = strlen(SECRET), .audience = aud, .issuer = iss};
	auth_verifier *v = NULL;
	char *why = NULL;

	if (jwks_text != NULL) {
		snprintf(jw_jwks_path, sizeof jw_jwks_path, "%s/jwks-%d.json", jw_tmpdir,
			 (int)getpid());
		jw_write_file(jw_jwks_path, jwks_text);
		o.jwks_file = jw_jwks_path;
	}
	ck_assert_msg(auth_verifier_create(&o, &v, &why) == ATT_OK, "verifier: %s",
		      why != NULL ? why : "?");
	return v;
}

/* Asserts the verdict on token (freed here) at now: AUTH_FAIL_NONE means
 * accepted with the student's claims. */
void jw_expect_at(auth_verifier *v, char *token, long long now, auth_fail want)
{
	auth_claims c;
	auth_fail why = (auth_fail)-1;
	att_err err;

	memset(&c, 0x5a, sizeof c);
	err = auth_check(v, token, (time_t)now, &c, &why);
	ck_assert_msg(why == want, "token %.80s...: %s, want %s", token,
		      why == AUTH_FAIL_NONE ? "accepted" : auth_fail_message(why),
		      want == AUTH_FAIL_NONE ? "accepted" : auth_fail_message(want));
	if (want == AUTH_FAIL_NONE) {
		ck_assert_int_eq(err, ATT_OK);
		ck_assert_str_eq(c.sub, SUB);
		ck_assert_int_eq(c.role, AUTH_ROLE_STUDENT);
		/* again: from the memo, same answer */
		ck_assert_int_eq(auth_check(v, token, (time_t)now, &c, &why), ATT_OK);
	} else {
		ck_assert_int_eq(err, ATT_EAUTH);
		ck_assert_int_eq(c.role, 0x5a5a5a5a); /* untouched */
	}
	free(token);
}

void jw_expect(auth_verifier *v, char *token, auth_fail want)
{
	jw_expect_at(v, token, NOW, want);
}
