/* jwks: a JSON Web Key Set (RFC 7517) read into an immutable set of
 * verification keys - RSA (RS256), EC on P-256 (ES256) and oct (HS256) -
 * each found by its kid, and the check of one signature with one key.
 * Knows nothing of tokens or claims (auth), nor of reloading (auth owns
 * the current set and swaps it). */
#ifndef ATT_JWKS_H
#define ATT_JWKS_H

#include <stddef.h>

#include "att_err.h"

/* The only algorithms a key may have; a key has exactly one. */
typedef enum jwks_alg {
	JWKS_ALG_NONE = 0,
	JWKS_ALG_HS256,
	JWKS_ALG_RS256,
	JWKS_ALG_ES256
} jwks_alg;

#define JWKS_MAX_BYTES (1024 * 1024) /* largest JWKS text */
#define JWKS_MAX_KEYS 64	     /* most entries in "keys" */
#define JWKS_MAX_KID 256	     /* longest kid, in bytes */
#define JWKS_MAX_SIG 1024	     /* longest signature (RSA 8192 bits) */

typedef struct jwks_set jwks_set;
typedef struct jwks_key jwks_key;

/* Parses len bytes of JWKS JSON ({"keys": [...]}, the strict rules of
 * request bodies, json_parse). Keys the service cannot use are skipped and
 * counted (jwks_skipped): a "use" other than "sig", a kty other than RSA,
 * EC and oct, a curve other than P-256, an alg other than the kty's one
 * (RS256, ES256, HS256), no kid. A key it could use but whose material is
 * wrong (bad base64url, an RSA modulus under 2048 or over 8192 bits, an EC
 * point not on P-256, an oct key under 32 bytes), a kid used twice, a kid
 * longer than JWKS_MAX_KID, or a file that is no such set refuses the
 * whole set: ATT_ECONFIG (ATT_ETOOBIG over JWKS_MAX_BYTES or
 * JWKS_MAX_KEYS, ATT_ENOMEM) and, if errmsg is not NULL, a message naming
 * the key by its index that the caller frees with free(). On success the
 * caller frees *out with jwks_free(). */
att_err jwks_parse(const char *text, size_t len, jwks_set **out, char **errmsg) ATT_MUSTCHECK;

/* jwks_parse on the contents of the file at path (ATT_EIO if it cannot be
 * read, with a message). */
att_err jwks_load_file(const char *path, jwks_set **out, char **errmsg) ATT_MUSTCHECK;

/* Frees the set and its keys. Accepts NULL. */
void jwks_free(jwks_set *s);

/* Keys in the set; entries of "keys" skipped as unusable. */
size_t jwks_count(const jwks_set *s);
size_t jwks_skipped(const jwks_set *s);

/* The key whose kid is exactly kid (len bytes), or NULL. s may be NULL.
 * Valid as long as the set is. */
const jwks_key *jwks_find(const jwks_set *s, const char *kid, size_t len);

/* The i-th key, i < jwks_count(s). */
const jwks_key *jwks_key_at(const jwks_set *s, size_t i);

const char *jwks_key_kid(const jwks_key *k);
jwks_alg jwks_key_alg(const jwks_key *k);

/* 1 if sig (sig_len bytes, as in a JWS: RSASSA-PKCS1-v1_5 for RS256, the
 * raw 64-byte r||s for ES256, the HMAC for HS256) signs the len bytes at
 * data under k, else 0. Thread-safe: a key is never changed once parsed. */
int jwks_verify(const jwks_key *k, const unsigned char *data, size_t len, const unsigned char *sig,
		size_t sig_len);

/* "HS256", "RS256", "ES256"; NULL for JWKS_ALG_NONE. */
const char *jwks_alg_name(jwks_alg alg);

/* The algorithm named exactly name; JWKS_ALG_NONE for any other. */
jwks_alg jwks_alg_parse(const char *name);

#endif
