/* jwks: JSON Web Key Sets into OpenSSL EVP keys, and JWS signature checks. */
#include "jwks.h"

#include <cJSON.h>
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "json.h"

#define JWKS_RSA_MIN_BITS 2048
#define JWKS_RSA_MAX_BYTES 1024 /* 8192 bits */
#define JWKS_OCT_MIN_BYTES 32
#define JWKS_OCT_MAX_BYTES 1024
#define JWKS_P256_COORD 32

struct jwks_key {
	char *kid;
	jwks_alg alg;
	EVP_PKEY *pkey;	       /* RS256, ES256 */
	unsigned char *secret; /* HS256 */
	size_t secret_len;
};

struct jwks_set {
	jwks_key *keys;
	size_t n;
	size_t skipped;
};

static const char *const jwks_alg_names[] = {
	[JWKS_ALG_HS256] = "HS256",
	[JWKS_ALG_RS256] = "RS256",
	[JWKS_ALG_ES256] = "ES256",
};

const char *jwks_alg_name(jwks_alg alg)
{
	return alg > JWKS_ALG_NONE && alg <= JWKS_ALG_ES256 ? jwks_alg_names[alg] : NULL;
}

jwks_alg jwks_alg_parse(const char *name)
{
	for (int a = JWKS_ALG_HS256; a <= JWKS_ALG_ES256; a++)
		if (strcmp(name, jwks_alg_name((jwks_alg)a)) == 0)
			return (jwks_alg)a;
	return JWKS_ALG_NONE;
}

/* Decodes the base64url string member name of jwk into a new buffer of
 * 1..cap bytes (*len); NULL if absent, not a string, not canonical
 * base64url, empty or longer than cap. The caller frees it with free(). */
static unsigned char *member_bytes(const cJSON *jwk, const char *name, size_t cap, size_t *len)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(jwk, name);
	unsigned char *out;
	long n;

	if (!cJSON_IsString(item))
		return NULL;
	out = malloc(cap);
	if (out == NULL)
		return NULL;
	n = b64url_decode(item->valuestring, strlen(item->valuestring), out, cap);
	if (n <= 0) {
		free(out);
		return NULL;
	}
	*len = (size_t)n;
	return out;
}

/* An RSA public key from its modulus and exponent, or NULL. */
static EVP_PKEY *rsa_key(const unsigned char *n, size_t nlen, const unsigned char *e, size_t elen)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);

	if (bld == NULL || bn == NULL || be == NULL || BN_is_zero(be) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return pkey;
}

/* A P-256 public key from its affine coordinates, or NULL if the point is
 * not on the curve. */
static EVP_PKEY *p256_key(const unsigned char *x, const unsigned char *y)
{
	unsigned char point[1 + 2 * JWKS_P256_COORD];
	char group[] = "prime256v1";
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL), *check = NULL;
	EVP_PKEY *pkey = NULL;

	point[0] = 0x04; /* uncompressed */
	memcpy(point + 1, x, JWKS_P256_COORD);
	memcpy(point + 1 + JWKS_P256_COORD, y, JWKS_P256_COORD);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point);
	params[2] = OSSL_PARAM_construct_end();
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		pkey = NULL;
		goto out;
	}
	check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (check == NULL || EVP_PKEY_public_check(check) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* Frees secret bytes after overwriting them. */
static void wipe_free(unsigned char *p, size_t n)
{
	OPENSSL_cleanse(p, n);
	free(p);
}

typedef enum { KEY_USED, KEY_SKIPPED, KEY_BAD } key_verdict;

/* The optional string member name: 1 and *out if a string, 0 if absent,
 * -1 if present but not a string. */
static int opt_string(const cJSON *jwk, const char *name, const char **out)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(jwk, name);

	if (item == NULL)
		return 0;
	if (!cJSON_IsString(item))
		return -1;
	*out = item->valuestring;
	return 1;
}

/* Reads the i-th entry of "keys" into *k, or says why not. */
static key_verdict read_key(const cJSON *jwk, size_t i, jwks_key *k, char **errmsg)
{
	const char *kty = NULL, *use = NULL, *kid = NULL, *alg_name = NULL, *crv = NULL;
	unsigned char *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	jwks_alg alg;
	key_verdict v = KEY_BAD;

	memset(k, 0, sizeof *k);
	if (!cJSON_IsObject(jwk)) {
		att_errmsg_set(errmsg, "keys[%zu]: not an object", i);
		return KEY_BAD;
	}
	if (opt_string(jwk, "kty", &kty) != 1 || opt_string(jwk, "use", &use) < 0 ||
	    opt_string(jwk, "kid", &kid) < 0 || opt_string(jwk, "alg", &alg_name) < 0 ||
	    opt_string(jwk, "crv", &crv) < 0) {
		att_errmsg_set(errmsg,
			       "keys[%zu]: kty must be a string; use, kid, alg and crv"
			       " strings when present",
			       i);
		return KEY_BAD;
	}
	if (kid != NULL && (kid[0] == '\0' || strlen(kid) > JWKS_MAX_KID)) {
		att_errmsg_set(errmsg, "keys[%zu]: kid must have 1..%d bytes", i, JWKS_MAX_KID);
		return KEY_BAD;
	}
	if (strcmp(kty, "RSA") == 0)
		alg = JWKS_ALG_RS256;
	else if (strcmp(kty, "EC") == 0)
		alg = (crv != NULL && strcmp(crv, "P-256") == 0) ? JWKS_ALG_ES256 : JWKS_ALG_NONE;
	else if (strcmp(kty, "oct") == 0)
		alg = JWKS_ALG_HS256;
	else
		alg = JWKS_ALG_NONE;
	/* Keys for encryption, other algorithms or curves, and keys no token
	 * could name, are someone else's: real providers publish them too. */
	if (alg == JWKS_ALG_NONE || (use != NULL && strcmp(use, "sig") != 0) || kid == NULL ||
	    (alg_name != NULL && jwks_alg_parse(alg_name) != alg))
		return KEY_SKIPPED;
	k->alg = alg;
	switch (alg) {
	case JWKS_ALG_RS256:
		a = member_bytes(jwk, "n", JWKS_RSA_MAX_BYTES, &alen);
		b = member_bytes(jwk, "e", 8, &blen);
		if (a == NULL || b == NULL) {
			att_errmsg_set(errmsg,
				       "keys[%zu]: RSA n and e must be base64url, n of at"
				       " most 8192 bits, e of at most 8 bytes",
				       i);
			goto out;
		}
		k->pkey = rsa_key(a, alen, b, blen);
		if (k->pkey == NULL || EVP_PKEY_get_bits(k->pkey) < JWKS_RSA_MIN_BITS) {
			att_errmsg_set(errmsg,
				       "keys[%zu]: not an RSA public key of %d bits or more", i,
				       JWKS_RSA_MIN_BITS);
			goto out;
		}
		break;
	case JWKS_ALG_ES256:
		a = member_bytes(jwk, "x", JWKS_P256_COORD, &alen);
		b = member_bytes(jwk, "y", JWKS_P256_COORD, &blen);
		if (a == NULL || b == NULL || alen != JWKS_P256_COORD || blen != JWKS_P256_COORD) {
			att_errmsg_set(errmsg,
				       "keys[%zu]: EC x and y must be base64url of 32 bytes", i);
			goto out;
		}
		k->pkey = p256_key(a, b);
		if (k->pkey == NULL) {
			att_errmsg_set(errmsg, "keys[%zu]: x, y is no point of P-256", i);
			goto out;
		}
		break;
	default: /* HS256 */
		a = member_bytes(jwk, "k", JWKS_OCT_MAX_BYTES, &alen);
		if (a == NULL || alen < JWKS_OCT_MIN_BYTES) {
			att_errmsg_set(errmsg, "keys[%zu]: oct k must be base64url of %d..%d bytes",
				       i, JWKS_OCT_MIN_BYTES, JWKS_OCT_MAX_BYTES);
			goto out;
		}
		k->secret = a;
		k->secret_len = alen;
		a = NULL;
		break;
	}
	k->kid = strdup(kid);
	if (k->kid == NULL) {
		att_errmsg_set(errmsg, "out of memory");
		goto out;
	}
	v = KEY_USED;
out:
	if (v != KEY_USED) {
		EVP_PKEY_free(k->pkey);
		if (k->secret != NULL)
			wipe_free(k->secret, k->secret_len);
		memset(k, 0, sizeof *k);
	}
	if (a != NULL)
		wipe_free(a, alen);
	free(b);
	return v;
}

static void key_clear(jwks_key *k)
{
	free(k->kid);
	EVP_PKEY_free(k->pkey);
	if (k->secret != NULL)
		wipe_free(k->secret, k->secret_len);
}

void jwks_free(jwks_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		key_clear(&s->keys[i]);
	free(s->keys);
	free(s);
}

att_err jwks_parse(const char *text, size_t len, jwks_set **out, char **errmsg)
{
	cJSON *doc = NULL;
	const cJSON *keys, *jwk;
	jwks_set *s = NULL;
	size_t i = 0;
	att_err err = ATT_ECONFIG;

	if (len > JWKS_MAX_BYTES) {
		att_errmsg_set(errmsg, "larger than %d bytes", JWKS_MAX_BYTES);
		err = ATT_ETOOBIG;
		goto out;
	}
	doc = json_parse(text, len);
	keys = cJSON_GetObjectItemCaseSensitive(doc, "keys");
	if (!cJSON_IsObject(doc) || !cJSON_IsArray(keys)) {
		att_errmsg_set(errmsg, "not a JSON Web Key Set: an object with a \"keys\" array"
				       " (strict JSON, no repeated member name)");
		goto out;
	}
	if (cJSON_GetArraySize(keys) > JWKS_MAX_KEYS) {
		att_errmsg_set(errmsg, "more than %d keys", JWKS_MAX_KEYS);
		err = ATT_ETOOBIG;
		goto out;
	}
	s = calloc(1, sizeof *s);
	if (s == NULL ||
	    (s->keys = calloc((size_t)cJSON_GetArraySize(keys) + 1, sizeof *s->keys)) == NULL) {
		att_errmsg_set(errmsg, "out of memory");
		err = ATT_ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(jwk, keys)
	{
		jwks_key *k = &s->keys[s->n];

		switch (read_key(jwk, i, k, errmsg)) {
		case KEY_BAD:
			goto out; /* err is ATT_ECONFIG */
		case KEY_SKIPPED:
			s->skipped++;
			break;
		case KEY_USED:
			s->n++; /* owned by s from here on */
			if (jwks_find(s, k->kid, strlen(k->kid)) != k) {
				att_errmsg_set(errmsg, "keys[%zu]: kid used by an earlier key", i);
				goto out;
			}
			break;
		}
		i++;
	}
	*out = s;
	s = NULL;
	err = ATT_OK;
out:
	jwks_free(s);
	cJSON_Delete(doc);
	return err;
}

att_err jwks_load_file(const char *path, jwks_set **out, char **errmsg)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	size_t len;
	att_err err = ATT_EIO;

	if (f == NULL) {
		att_errmsg_set(errmsg, "cannot open %s: %s", path, strerror(errno));
		return ATT_EIO;
	}
	text = malloc(JWKS_MAX_BYTES + 1);
	if (text == NULL) {
		att_errmsg_set(errmsg, "out of memory");
		err = ATT_ENOMEM;
		goto out;
	}
	len = fread(text, 1, JWKS_MAX_BYTES + 1, f);
	if (ferror(f)) {
		att_errmsg_set(errmsg, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	err = jwks_parse(text, len, out, errmsg);
out:
	free(text);
	fclose(f);
	return err;
}

size_t jwks_count(const jwks_set *s)
{
	return s != NULL ? s->n : 0;
}

size_t jwks_skipped(const jwks_set *s)
{
	return s != NULL ? s->skipped : 0;
}

const jwks_key *jwks_find(const jwks_set *s, const char *kid, size_t len)
{
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->keys[i].kid) == len && memcmp(s->keys[i].kid, kid, len) == 0)
			return &s->keys[i];
	return NULL;
}

const jwks_key *jwks_key_at(const jwks_set *s, size_t i)
{
	return &s->keys[i];
}

const char *jwks_key_kid(const jwks_key *k)
{
	return k->kid;
}

jwks_alg jwks_key_alg(const jwks_key *k)
{
	return k->alg;
}

/* EVP_DigestVerify with SHA-256 of a DER or PKCS#1 signature. */
static int evp_verify(EVP_PKEY *pkey, const unsigned char *data, size_t len,
		      const unsigned char *sig, size_t sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
		 EVP_DigestVerify(md, sig, sig_len, data, len) == 1;

	EVP_MD_CTX_free(md);
	return ok;
}

/* ES256: a JWS carries r||s, 32 bytes each (RFC 7518 3.4); EVP wants the
 * DER ECDSA-Sig-Value. */
static int es256_verify(EVP_PKEY *pkey, const unsigned char *data, size_t len,
			const unsigned char *sig, size_t sig_len)
{
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;
	int der_len, ok = 0;

	if (sig_len != 2 * JWKS_P256_COORD)
		return 0;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(sig, JWKS_P256_COORD, NULL);
	s = BN_bin2bn(sig + JWKS_P256_COORD, JWKS_P256_COORD, NULL);
	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1)
		goto out;
	r = s = NULL; /* es owns them */
	der_len = i2d_ECDSA_SIG(es, &der);
	if (der_len > 0)
		ok = evp_verify(pkey, data, len, der, (size_t)der_len);
out:
	OPENSSL_free(der);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return ok;
}

int jwks_verify(const jwks_key *k, const unsigned char *data, size_t len, const unsigned char *sig,
		size_t sig_len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	switch (k->alg) {
	case JWKS_ALG_HS256:
		if (sig_len != 32 ||
		    HMAC(EVP_sha256(), k->secret, (int)k->secret_len, data, len, mac, &mac_len) ==
			    NULL ||
		    mac_len != 32)
			return 0;
		return CRYPTO_memcmp(mac, sig, 32) == 0;
	case JWKS_ALG_RS256:
		if (sig_len != (size_t)EVP_PKEY_get_size(k->pkey))
			return 0;
		return evp_verify(k->pkey, data, len, sig, sig_len);
	case JWKS_ALG_ES256:
		return es256_verify(k->pkey, data, len, sig, sig_len);
	case JWKS_ALG_NONE:
		break;
	}
	return 0;
}
