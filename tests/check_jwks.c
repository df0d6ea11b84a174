/* check_jwks: JWKS parsing (lib/jwks) and token verification with a key
 * set (auth_verifier in lib/auth): RS256, ES256 and HS256 by kid, two keys
 * at once, unknown kid, the algorithm confusions (HS256 keyed with an RSA
 * public key, alg none), time claims, aud and iss, the 401 reasons, and
 * reload (also while other threads verify). The RSA and EC keys are made
 * by the openssl command at test time (by EVP if it is missing), once per
 * run, in an unchecked fixture; tokens are signed here with EVP. */
#include <cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "b64url.h"
#include "buf.h"
#include "check_suites.h"
#include "jwks.h"

#define SECRET "0123456789abcdef0123456789abcdef"
#define SUB "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define NOW 1700000000LL
#define AUD "exam-api"
#define ISS "https://idp.example"

static EVP_PKEY *rsa1, *rsa2, *rsa_small, *ec1, *ec2;
static char tmpdir[256];

/* ------------------------------------------------------------ keys */

/* A key made by `openssl genpkey ARGS` (PEM in tmpdir), else by EVP. */
static EVP_PKEY *make_key(const char *name, const char *args, const char *type, size_t bits)
{
	char path[512], cmd[1024];
	EVP_PKEY *k = NULL;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s.pem", tmpdir, name);
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

static void keys_setup(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof tmpdir, "%s/check_jwks.XXXXXX", t != NULL ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		abort();
	rsa1 = make_key("rsa1", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048", "RSA", 2048);
	rsa2 = make_key("rsa2", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048", "RSA", 2048);
	rsa_small =
		make_key("rsa_small", "-algorithm RSA -pkeyopt rsa_keygen_bits:1024", "RSA", 1024);
	ec1 = make_key("ec1", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256", "EC", 0);
	ec2 = make_key("ec2", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256", "EC", 0);
}

static void keys_teardown(void)
{
	char cmd[512];

	EVP_PKEY_free(rsa1);
	EVP_PKEY_free(rsa2);
	EVP_PKEY_free(rsa_small);
	EVP_PKEY_free(ec1);
	EVP_PKEY_free(ec2);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "check_jwks: could not remove %s\n", tmpdir);
}

static void put_b64(buf *b, const unsigned char *p, size_t n)
{
	char *enc = malloc(4 * ((n + 2) / 3) + 1);

	ck_assert_ptr_nonnull(enc);
	b64url_encode(p, n, enc);
	buf_puts(b, enc);
	free(enc);
}

/* The base64url of a big-endian number of pad bytes (0: its own length). */
static void put_bn_param(buf *b, const EVP_PKEY *k, const char *name, int pad)
{
	BIGNUM *bn = NULL;
	unsigned char bytes[1024];
	int n;

	ck_assert_int_eq(EVP_PKEY_get_bn_param(k, name, &bn), 1);
	n = pad ? BN_bn2binpad(bn, bytes, pad) : BN_bn2bin(bn, bytes);
	ck_assert_int_gt(n, 0);
	put_b64(b, bytes, (size_t)n);
	BN_free(bn);
}

/* Appends the public JWK of k (RSA or P-256) with kid, and extra members
 * (text after the last one, may be ""). */
static void put_jwk(buf *b, const EVP_PKEY *k, const char *kid, const char *extra)
{
	if (EVP_PKEY_is_a(k, "RSA")) {
		buf_printf(b, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"", kid);
		put_bn_param(b, k, OSSL_PKEY_PARAM_RSA_N, 0);
		buf_puts(b, "\",\"e\":\"");
		put_bn_param(b, k, OSSL_PKEY_PARAM_RSA_E, 0);
	} else {
		buf_printf(b, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\",\"x\":\"", kid);
		put_bn_param(b, k, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		buf_puts(b, "\",\"y\":\"");
		put_bn_param(b, k, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
	}
	buf_printf(b, "\"%s}", extra);
}

/* An oct JWK of the bytes of secret. */
static void put_oct(buf *b, const char *secret, const char *kid)
{
	buf_printf(b, "{\"kty\":\"oct\",\"kid\":\"%s\",\"k\":\"", kid);
	put_b64(b, (const unsigned char *)secret, strlen(secret));
	buf_puts(b, "\"}");
}

/* The default set: RSA r1, EC e1, oct h1 (the bytes "another-secret-...")
 * and the key r2 when two_rsa. The caller frees the text with free(). */
static char *default_jwks(int two_rsa)
{
	buf b = BUF_INIT;

	buf_puts(&b, "{\"keys\":[");
	put_jwk(&b, rsa1, "r1", ",\"use\":\"sig\",\"alg\":\"RS256\"");
	buf_putc(&b, ',');
	put_jwk(&b, ec1, "e1", ",\"alg\":\"ES256\"");
	buf_putc(&b, ',');
	put_oct(&b, "another-secret-another-secret-0123", "h1");
	if (two_rsa) {
		buf_putc(&b, ',');
		put_jwk(&b, rsa2, "r2", "");
	}
	buf_puts(&b, "]}");
	ck_assert_int_eq(b.failed, 0);
	return buf_take(&b);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	ck_assert_int_eq(fclose(f), 0);
}

/* ------------------------------------------------------------ tokens */

/* Raw JWS signature of data under k for alg (ES256 as r||s). */
static size_t sign_raw(EVP_PKEY *k, jwks_alg alg, const char *data, size_t len, unsigned char *sig)
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
static char *token_with(const char *header, const char *payload, EVP_PKEY *k, const void *hmac_key,
			size_t hmac_len)
{
	unsigned char sig[1024];
	unsigned int mac_len = 0;
	size_t n = 0;
	buf b = BUF_INIT;

	put_b64(&b, (const unsigned char *)header, strlen(header));
	buf_putc(&b, '.');
	put_b64(&b, (const unsigned char *)payload, strlen(payload));
	ck_assert_int_eq(b.failed, 0);
	if (k != NULL) {
		n = sign_raw(k, EVP_PKEY_is_a(k, "RSA") ? JWKS_ALG_RS256 : JWKS_ALG_ES256, b.data,
			     b.len, sig);
	} else if (hmac_key != NULL) {
		ck_assert_ptr_nonnull(HMAC(EVP_sha256(), hmac_key, (int)hmac_len,
					   (const unsigned char *)b.data, b.len, sig, &mac_len));
		n = mac_len;
	}
	buf_putc(&b, '.');
	put_b64(&b, sig, n);
	return buf_take(&b);
}

static char payload_text[1024];

/* The usual student payload, valid at NOW, with extra members (may be ""). */
static const char *payload(const char *extra)
{
	snprintf(payload_text, sizeof payload_text,
		 "{\"sub\":\"" SUB "\",\"role\":\"student\",\"iat\":%lld,\"exp\":%lld%s}", NOW - 10,
		 NOW + 3600, extra);
	return payload_text;
}

/* ------------------------------------------------------------ verifiers */

static char jwks_path[512];

/* A verifier with the secret, the JWKS text (NULL: no file), aud and iss. */
static auth_verifier *verifier(const char *jwks_text, const char *aud, const char *iss)
{
	auth_options o = {
		.secret = SECRET, .secret_len = strlen(SECRET), .audience = aud, .issuer = iss};
	auth_verifier *v = NULL;
	char *why = NULL;

	if (jwks_text != NULL) {
		snprintf(jwks_path, sizeof jwks_path, "%s/jwks-%d.json", tmpdir, (int)getpid());
		write_file(jwks_path, jwks_text);
		o.jwks_file = jwks_path;
	}
	ck_assert_msg(auth_verifier_create(&o, &v, &why) == ATT_OK, "verifier: %s",
		      why != NULL ? why : "?");
	return v;
}

/* Asserts the verdict on token (freed here) at now: AUTH_FAIL_NONE means
 * accepted with the student's claims. */
static void expect_at(auth_verifier *v, char *token, long long now, auth_fail want)
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

static void expect(auth_verifier *v, char *token, auth_fail want)
{
	expect_at(v, token, NOW, want);
}

#define RS(kid) "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"" kid "\"}"
#define ES(kid) "{\"alg\":\"ES256\",\"kid\":\"" kid "\"}"
#define HS(kid) "{\"alg\":\"HS256\",\"kid\":\"" kid "\"}"
#define HS_NOKID "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define OCT "another-secret-another-secret-0123"

/* ------------------------------------------------------------ parsing */

START_TEST(test_jwks_parse_keys)
{
	buf b = BUF_INIT;
	jwks_set *s = NULL;
	char *err = NULL;

	buf_puts(&b, "{\"keys\":[");
	put_jwk(&b, rsa1, "r1", ",\"use\":\"sig\",\"alg\":\"RS256\",\"key_ops\":[\"verify\"]");
	buf_putc(&b, ',');
	put_jwk(&b, ec1, "e1", "");
	buf_putc(&b, ',');
	put_oct(&b, OCT, "h1");
	/* Skipped: for encryption, another algorithm, another curve or kty,
	 * no kid. */
	buf_putc(&b, ',');
	put_jwk(&b, rsa2, "enc", ",\"use\":\"enc\"");
	buf_putc(&b, ',');
	put_jwk(&b, rsa2, "ps", ",\"alg\":\"PS256\"");
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
	put_jwk(&b, rsa_small, "small", "");
	buf_puts(&b, "]}");
	expect_refused_set(b.data, ATT_ECONFIG, "2048 bits");
	buf_reset(&b);
	/* A point off the curve: x of one key, y of another. */
	{
		buf x = BUF_INIT, y = BUF_INIT;
		put_bn_param(&x, ec1, OSSL_PKEY_PARAM_EC_PUB_X, 32);
		put_bn_param(&y, ec2, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
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
	put_jwk(&b, rsa1, "same", "");
	buf_putc(&b, ',');
	put_jwk(&b, ec1, "same", "");
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
	good = default_jwks(0);
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

/* ------------------------------------------------------------ verifying */

START_TEST(test_jwks_accepts_each_alg)
{
	char *text = default_jwks(0);
	auth_verifier *v = verifier(text, NULL, NULL);

	ck_assert_uint_eq(auth_verifier_key_count(v), 3);
	expect(v, token_with(RS("r1"), payload(""), rsa1, NULL, 0), AUTH_FAIL_NONE);
	expect(v, token_with(ES("e1"), payload(""), ec1, NULL, 0), AUTH_FAIL_NONE);
	expect(v, token_with(HS("h1"), payload(""), NULL, OCT, strlen(OCT)), AUTH_FAIL_NONE);
	/* HS256 without a kid (or a kid naming no key) is the secret's. */
	expect(v, token_with(HS_NOKID, payload(""), NULL, SECRET, strlen(SECRET)), AUTH_FAIL_NONE);
	expect(v, token_with(HS("other"), payload(""), NULL, SECRET, strlen(SECRET)),
	       AUTH_FAIL_NONE);
	/* The oct key's token is not the secret's, and the other way round. */
	expect(v, token_with(HS("h1"), payload(""), NULL, SECRET, strlen(SECRET)),
	       AUTH_FAIL_SIGNATURE);
	expect(v, token_with(HS_NOKID, payload(""), NULL, OCT, strlen(OCT)), AUTH_FAIL_SIGNATURE);
	auth_verifier_free(v);
	auth_verifier_free(NULL);
	free(text);
}
END_TEST

START_TEST(test_jwks_two_keys_at_once)
{
	char *text = default_jwks(1);
	auth_verifier *v = verifier(text, NULL, NULL);

	expect(v, token_with(RS("r1"), payload(""), rsa1, NULL, 0), AUTH_FAIL_NONE);
	expect(v, token_with(RS("r2"), payload(""), rsa2, NULL, 0), AUTH_FAIL_NONE);
	/* each key its own tokens */
	expect(v, token_with(RS("r1"), payload(""), rsa2, NULL, 0), AUTH_FAIL_SIGNATURE);
	expect(v, token_with(RS("r2"), payload(""), rsa1, NULL, 0), AUTH_FAIL_SIGNATURE);
	expect(v, token_with(ES("e1"), payload(""), ec2, NULL, 0), AUTH_FAIL_SIGNATURE);
	auth_verifier_free(v);
	free(text);
}
END_TEST

START_TEST(test_jwks_unknown_key)
{
	char *text = default_jwks(0);
	auth_verifier *v = verifier(text, NULL, NULL), *plain = verifier(NULL, NULL, NULL);
	char longkid[600];

	expect(v, token_with(RS("r9"), payload(""), rsa1, NULL, 0), AUTH_FAIL_UNKNOWN_KEY);
	expect(v, token_with("{\"alg\":\"RS256\"}", payload(""), rsa1, NULL, 0),
	       AUTH_FAIL_UNKNOWN_KEY);
	expect(v, token_with(ES("E1"), payload(""), ec1, NULL, 0), AUTH_FAIL_UNKNOWN_KEY);
	memset(longkid, 'r', sizeof longkid);
	snprintf(longkid, sizeof longkid, "{\"alg\":\"RS256\",\"kid\":\"%0300d\"}", 1);
	expect(v, token_with(longkid, payload(""), rsa1, NULL, 0), AUTH_FAIL_UNKNOWN_KEY);
	/* Without a key set every RS256/ES256 token names an unknown key. */
	expect(plain, token_with(RS("r1"), payload(""), rsa1, NULL, 0), AUTH_FAIL_UNKNOWN_KEY);
	expect(plain, token_with(ES("e1"), payload(""), ec1, NULL, 0), AUTH_FAIL_UNKNOWN_KEY);
	expect(plain, token_with(HS_NOKID, payload(""), NULL, SECRET, strlen(SECRET)),
	       AUTH_FAIL_NONE);
	auth_verifier_free(v);
	auth_verifier_free(plain);
	free(text);
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
	char *text = default_jwks(0);
	auth_verifier *v = verifier(text, NULL, NULL);

	for (int pem = 0; pem <= 1; pem++) {
		size_t n;
		unsigned char *pub = public_bytes(rsa1, pem, &n);
		/* HS256 naming the RSA key, HMAC keyed with its public key. */
		expect(v, token_with(HS("r1"), payload(""), NULL, pub, n), AUTH_FAIL_ALG);
		/* Without a kid: the secret's, so the signature is wrong. */
		expect(v, token_with(HS_NOKID, payload(""), NULL, pub, n), AUTH_FAIL_SIGNATURE);
		if (pem) {
			/* the JWK text itself as the secret */
			expect(v, token_with(HS("r1"), payload(""), NULL, text, strlen(text)),
			       AUTH_FAIL_ALG);
		}
		OPENSSL_free(pub);
	}
	/* The other keys' algorithms. */
	expect(v, token_with(ES("r1"), payload(""), ec1, NULL, 0), AUTH_FAIL_ALG);
	expect(v, token_with(RS("e1"), payload(""), rsa1, NULL, 0), AUTH_FAIL_ALG);
	expect(v, token_with(RS("h1"), payload(""), rsa1, NULL, 0), AUTH_FAIL_ALG);
	auth_verifier_free(v);
	free(text);
}
END_TEST

START_TEST(test_jwks_alg_none_and_others)
{
	char *text = default_jwks(0);
	auth_verifier *v = verifier(text, NULL, NULL);

	expect(v, token_with("{\"alg\":\"none\",\"kid\":\"r1\"}", payload(""), NULL, NULL, 0),
	       AUTH_FAIL_ALG);
	expect(v, token_with("{\"alg\":\"none\"}", payload(""), NULL, NULL, 0), AUTH_FAIL_ALG);
	expect(v, token_with("{\"alg\":\"None\"}", payload(""), NULL, NULL, 0), AUTH_FAIL_ALG);
	expect(v, token_with("{\"alg\":\"HS512\"}", payload(""), NULL, SECRET, strlen(SECRET)),
	       AUTH_FAIL_ALG);
	expect(v, token_with("{\"alg\":\"RS512\",\"kid\":\"r1\"}", payload(""), rsa1, NULL, 0),
	       AUTH_FAIL_ALG);
	expect(v, token_with("{\"alg\":\"rs256\",\"kid\":\"r1\"}", payload(""), rsa1, NULL, 0),
	       AUTH_FAIL_ALG);
	/* An RS256 token with no signature at all. */
	expect(v, token_with(RS("r1"), payload(""), NULL, NULL, 0), AUTH_FAIL_SIGNATURE);
	expect(v, token_with(ES("e1"), payload(""), NULL, NULL, 0), AUTH_FAIL_SIGNATURE);
	auth_verifier_free(v);
	free(text);
}
END_TEST

START_TEST(test_jwks_bad_signatures)
{
	char *text = default_jwks(0);
	auth_verifier *v = verifier(text, NULL, NULL);
	char *t;
	size_t n;

	/* A flipped character of an RS256 and an ES256 signature. */
	t = token_with(RS("r1"), payload(""), rsa1, NULL, 0);
	n = strlen(t);
	t[n - 10] = t[n - 10] == 'A' ? 'B' : 'A';
	expect(v, t, AUTH_FAIL_SIGNATURE);
	t = token_with(ES("e1"), payload(""), ec1, NULL, 0);
	n = strlen(t);
	t[n - 10] = t[n - 10] == 'A' ? 'B' : 'A';
	expect(v, t, AUTH_FAIL_SIGNATURE);
	/* A changed payload under a valid signature. */
	{
		char *good = token_with(RS("r1"), payload(""), rsa1, NULL, 0);
		char *other = token_with(RS("r1"), payload(",\"x\":1"), rsa1, NULL, 0);
		const char *sig = strrchr(good, '.');
		buf b = BUF_INIT;
		buf_append(&b, other, (size_t)(strrchr(other, '.') - other));
		buf_puts(&b, sig);
		expect(v, buf_take(&b), AUTH_FAIL_SIGNATURE);
		free(good);
		free(other);
	}
	/* ES256 as DER (what EVP makes) is not a JWS signature. */
	{
		buf b = BUF_INIT;
		unsigned char der[128];
		size_t dl = sizeof der;
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		put_b64(&b, (const unsigned char *)ES("e1"), strlen(ES("e1")));
		buf_putc(&b, '.');
		put_b64(&b, (const unsigned char *)payload(""), strlen(payload("")));
		ck_assert_int_eq(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, ec1), 1);
		ck_assert_int_eq(EVP_DigestSign(md, der, &dl, (unsigned char *)b.data, b.len), 1);
		EVP_MD_CTX_free(md);
		buf_putc(&b, '.');
		put_b64(&b, der, dl);
		expect(v, buf_take(&b), AUTH_FAIL_SIGNATURE);
	}
	/* A signature that is no base64url. */
	t = token_with(RS("r1"), payload(""), rsa1, NULL, 0);
	t[strlen(t) - 1] = '*';
	expect(v, t, AUTH_FAIL_MALFORMED);
	auth_verifier_free(v);
	free(text);
}
END_TEST

START_TEST(test_jwks_time_claims)
{
	char *text = default_jwks(0);
	auth_verifier *v = verifier(text, NULL, NULL);
	char p[256];

	snprintf(p, sizeof p, "{\"sub\":\"" SUB "\",\"role\":\"student\",\"exp\":%lld}", NOW - 61);
	expect(v, token_with(RS("r1"), p, rsa1, NULL, 0), AUTH_FAIL_EXPIRED);
	snprintf(p, sizeof p, "{\"sub\":\"" SUB "\",\"role\":\"student\",\"exp\":%lld}", NOW - 60);
	expect(v, token_with(RS("r1"), p, rsa1, NULL, 0), AUTH_FAIL_NONE);
	snprintf(p, sizeof p,
		 "{\"sub\":\"" SUB "\",\"role\":\"student\",\"exp\":%lld,\"nbf\":%lld}", NOW + 3600,
		 NOW + 61);
	expect(v, token_with(ES("e1"), p, ec1, NULL, 0), AUTH_FAIL_NOT_YET_VALID);
	snprintf(p, sizeof p,
		 "{\"sub\":\"" SUB "\",\"role\":\"student\",\"exp\":%lld,\"iat\":%lld}", NOW + 3600,
		 NOW + 61);
	expect(v, token_with(ES("e1"), p, ec1, NULL, 0), AUTH_FAIL_ISSUED_FUTURE);
	/* A remembered token expires like any other. */
	expect_at(v, token_with(RS("r1"), payload(""), rsa1, NULL, 0), NOW, AUTH_FAIL_NONE);
	expect_at(v, token_with(RS("r1"), payload(""), rsa1, NULL, 0), NOW + 3661,
		  AUTH_FAIL_EXPIRED);
	expect_at(v, token_with(RS("r1"), payload(""), rsa1, NULL, 0), NOW - 71,
		  AUTH_FAIL_ISSUED_FUTURE);
	snprintf(p, sizeof p,
		 "{\"sub\":\"" SUB "\",\"role\":\"student\",\"exp\":%lld,\"nbf\":%lld}", NOW + 3600,
		 NOW);
	expect_at(v, token_with(RS("r1"), p, rsa1, NULL, 0), NOW, AUTH_FAIL_NONE);
	expect_at(v, token_with(RS("r1"), p, rsa1, NULL, 0), NOW - 61, AUTH_FAIL_NOT_YET_VALID);
	/* Malformed dates and missing claims. */
	expect(v,
	       token_with(RS("r1"), "{\"sub\":\"" SUB "\",\"role\":\"student\",\"exp\":\"x\"}",
			  rsa1, NULL, 0),
	       AUTH_FAIL_MALFORMED);
	expect(v, token_with(RS("r1"), "{\"sub\":\"" SUB "\",\"role\":\"student\"}", rsa1, NULL, 0),
	       AUTH_FAIL_MALFORMED);
	snprintf(p, sizeof p, "{\"sub\":\"" SUB "\",\"role\":\"teacher\",\"exp\":%lld}", NOW + 60);
	expect(v, token_with(RS("r1"), p, rsa1, NULL, 0), AUTH_FAIL_CLAIMS);
	snprintf(p, sizeof p, "{\"role\":\"student\",\"exp\":%lld}", NOW + 60);
	expect(v, token_with(RS("r1"), p, rsa1, NULL, 0), AUTH_FAIL_CLAIMS);
	auth_verifier_free(v);
	free(text);
}
END_TEST

START_TEST(test_jwks_audience_issuer)
{
	char *text = default_jwks(0);
	auth_verifier *v = verifier(text, AUD, ISS), *open = verifier(text, NULL, NULL);
	const char *iss = ",\"iss\":\"" ISS "\"";
	char extra[256];

	snprintf(extra, sizeof extra, "%s,\"aud\":\"" AUD "\"", iss);
	expect(v, token_with(RS("r1"), payload(extra), rsa1, NULL, 0), AUTH_FAIL_NONE);
	snprintf(extra, sizeof extra, "%s,\"aud\":[\"other\",\"" AUD "\"]", iss);
	expect(v, token_with(ES("e1"), payload(extra), ec1, NULL, 0), AUTH_FAIL_NONE);
	snprintf(extra, sizeof extra, "%s,\"aud\":[\"other\",\"exam-api2\"]", iss);
	expect(v, token_with(RS("r1"), payload(extra), rsa1, NULL, 0), AUTH_FAIL_AUDIENCE);
	snprintf(extra, sizeof extra, "%s,\"aud\":\"exam-ap\"", iss);
	expect(v, token_with(RS("r1"), payload(extra), rsa1, NULL, 0), AUTH_FAIL_AUDIENCE);
	snprintf(extra, sizeof extra, "%s,\"aud\":[]", iss);
	expect(v, token_with(RS("r1"), payload(extra), rsa1, NULL, 0), AUTH_FAIL_AUDIENCE);
	expect(v, token_with(RS("r1"), payload(iss), rsa1, NULL, 0), AUTH_FAIL_AUDIENCE);
	snprintf(extra, sizeof extra, "%s,\"aud\":[\"" AUD "\",7]", iss);
	expect(v, token_with(RS("r1"), payload(extra), rsa1, NULL, 0), AUTH_FAIL_MALFORMED);
	snprintf(extra, sizeof extra, "%s,\"aud\":{\"a\":\"" AUD "\"}", iss);
	expect(v, token_with(RS("r1"), payload(extra), rsa1, NULL, 0), AUTH_FAIL_MALFORMED);
	/* iss: exactly, required. */
	expect(v,
	       token_with(RS("r1"),
			  payload(",\"aud\":\"" AUD "\",\"iss\":\"https://idp.example/\""), rsa1,
			  NULL, 0),
	       AUTH_FAIL_ISSUER);
	expect(v, token_with(RS("r1"), payload(",\"aud\":\"" AUD "\""), rsa1, NULL, 0),
	       AUTH_FAIL_ISSUER);
	expect(v, token_with(RS("r1"), payload(",\"aud\":\"" AUD "\",\"iss\":1"), rsa1, NULL, 0),
	       AUTH_FAIL_MALFORMED);
	/* The HS256 secret's tokens follow the same rules. */
	expect(v, token_with(HS_NOKID, payload(""), NULL, SECRET, strlen(SECRET)),
	       AUTH_FAIL_ISSUER);
	snprintf(extra, sizeof extra, "%s,\"aud\":\"" AUD "\"", iss);
	expect(v, token_with(HS_NOKID, payload(extra), NULL, SECRET, strlen(SECRET)),
	       AUTH_FAIL_NONE);
	/* Not configured: not checked. */
	expect(open, token_with(RS("r1"), payload(",\"aud\":\"x\",\"iss\":\"y\""), rsa1, NULL, 0),
	       AUTH_FAIL_NONE);
	/* A token remembered by one verifier is not another's. */
	expect(v, token_with(RS("r1"), payload(",\"aud\":\"x\",\"iss\":\"y\""), rsa1, NULL, 0),
	       AUTH_FAIL_ISSUER);
	auth_verifier_free(v);
	auth_verifier_free(open);
	free(text);
}
END_TEST

START_TEST(test_jwks_messages)
{
	auth_verifier *v = verifier(NULL, NULL, NULL);
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
	expect(v,
	       token_with("{\"alg\":\"HS256\",\"kid\":7}", payload(""), NULL, SECRET,
			  strlen(SECRET)),
	       AUTH_FAIL_MALFORMED);
	expect(v,
	       token_with("{\"alg\":\"HS256\",\"crit\":[\"b64\"]}", payload(""), NULL, SECRET,
			  strlen(SECRET)),
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
	snprintf(path, sizeof path, "%s/bad.json", tmpdir);
	write_file(path, "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"a\"}]}");
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

/* ------------------------------------------------------------ reload */

START_TEST(test_jwks_reload_replaces_keys)
{
	char *both = default_jwks(1);
	auth_verifier *v = verifier(both, NULL, NULL);
	char *t1 = token_with(RS("r1"), payload(""), rsa1, NULL, 0);
	char *t2 = token_with(RS("r2"), payload(""), rsa2, NULL, 0);
	buf b = BUF_INIT;
	char *why = NULL;

	expect(v, strdup(t1), AUTH_FAIL_NONE); /* now remembered */
	expect(v, strdup(t2), AUTH_FAIL_NONE);
	/* r1 leaves the file; until the reload nothing changes. */
	buf_puts(&b, "{\"keys\":[");
	put_jwk(&b, rsa2, "r2", "");
	buf_puts(&b, "]}");
	write_file(jwks_path, b.data);
	expect(v, strdup(t1), AUTH_FAIL_NONE);
	ck_assert_int_eq(auth_verifier_reload(v, &why), ATT_OK);
	ck_assert_uint_eq(auth_verifier_key_count(v), 1);
	/* The remembered token is not: r1 names no key now. */
	expect(v, strdup(t1), AUTH_FAIL_UNKNOWN_KEY);
	expect(v, strdup(t2), AUTH_FAIL_NONE);
	/* A broken file keeps the keys in use. */
	write_file(jwks_path, "{\"keys\":[");
	ck_assert_int_eq(auth_verifier_reload(v, &why), ATT_ECONFIG);
	ck_assert_ptr_nonnull(why);
	free(why);
	ck_assert_uint_eq(auth_verifier_key_count(v), 1);
	expect(v, strdup(t2), AUTH_FAIL_NONE);
	/* r1 back under another kid. */
	buf_reset(&b);
	buf_puts(&b, "{\"keys\":[");
	put_jwk(&b, rsa1, "r1-2024", "");
	buf_puts(&b, "]}");
	write_file(jwks_path, b.data);
	ck_assert_int_eq(auth_verifier_reload(v, NULL), ATT_OK);
	expect(v, strdup(t2), AUTH_FAIL_UNKNOWN_KEY);
	expect(v, token_with(RS("r1-2024"), payload(""), rsa1, NULL, 0), AUTH_FAIL_NONE);
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
	char *a = default_jwks(0), *b = default_jwks(1);
	reload_race r = {.v = verifier(a, NULL, NULL)};
	char *tok = token_with(ES("e1"), payload(""), ec1, NULL, 0);
	pthread_t th[4];

	r.token = tok;
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, race_verify, &r), 0);
	for (int i = 0; i < 40; i++) {
		write_file(jwks_path, i % 2 ? a : b);
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

Suite *jwks_suite(void)
{
	Suite *s = suite_create("jwks");
	TCase *tc = check_tcase(s, "jwks", NULL, NULL);

	tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
	tcase_add_test(tc, test_jwks_parse_keys);
	tcase_add_test(tc, test_jwks_parse_refused);
	tcase_add_test(tc, test_jwks_accepts_each_alg);
	tcase_add_test(tc, test_jwks_two_keys_at_once);
	tcase_add_test(tc, test_jwks_unknown_key);
	tcase_add_test(tc, test_jwks_alg_confusion);
	tcase_add_test(tc, test_jwks_alg_none_and_others);
	tcase_add_test(tc, test_jwks_bad_signatures);
	tcase_add_test(tc, test_jwks_time_claims);
	tcase_add_test(tc, test_jwks_audience_issuer);
	tcase_add_test(tc, test_jwks_messages);
	tcase_add_test(tc, test_jwks_verifier_refused);
	tcase_add_test(tc, test_jwks_reload_replaces_keys);
	tcase_add_test(tc, test_jwks_reload_while_verifying);
	return s;
}
