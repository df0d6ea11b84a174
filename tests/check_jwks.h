/* check_jwks: what the JWKS test files share (check_jwks_util.c): RSA and
 * EC keys made once per test case in an unchecked fixture, JWK sets and
 * tokens signed with them, verifiers reading a set from a file, and the
 * check of a verdict. */
#ifndef ATT_CHECK_JWKS_H
#define ATT_CHECK_JWKS_H

#include <check.h>
#include <openssl/evp.h>
#include <stddef.h>

#include "auth.h"
#include "buf.h"

#define SECRET "0123456789abcdef0123456789abcdef"
#define SUB "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define NOW 1700000000LL
#define AUD "exam-api"
#define ISS "https://idp.example"
#define RS(kid) "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"" kid "\"}"
#define ES(kid) "{\"alg\":\"ES256\",\"kid\":\"" kid "\"}"
#define HS(kid) "{\"alg\":\"HS256\",\"kid\":\"" kid "\"}"
#define HS_NOKID "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define OCT "another-secret-another-secret-0123"

extern EVP_PKEY *jw_rsa1, *jw_rsa2, *jw_rsa_small, *jw_ec1, *jw_ec2;
extern char jw_tmpdir[256];    /* the keys' folder, removed by the teardown */
extern char jw_jwks_path[512]; /* the file the last jw_verifier() read */

/* Adds the verification tests (check_jwks_verify.c) to tc, whose
 * unchecked fixture is jwks_keys_setup/teardown. */
void jwks_verify_tests(TCase *tc);

/* The unchecked fixture: makes the keys and jw_tmpdir; frees them. */
void jwks_keys_setup(void);
void jwks_keys_teardown(void);

/* Appends the base64url of p (n bytes) to b. */
void jw_put_b64(buf *b, const unsigned char *p, size_t n);
/* Appends the base64url of the big-endian number name of k in pad bytes
 * (0: its own length). */
void jw_put_bn_param(buf *b, const EVP_PKEY *k, const char *name, int pad);
/* Appends the public JWK of k (RSA or P-256) with kid, and extra members
 * (text after the last one, may be ""). */
void jw_put_jwk(buf *b, const EVP_PKEY *k, const char *kid, const char *extra);
/* Appends an oct JWK of the bytes of secret. */
void jw_put_oct(buf *b, const char *secret, const char *kid);
/* The default set: RSA r1, EC e1, oct h1 (the bytes of OCT) and the key r2
 * when two_rsa. The caller frees the text with free(). */
char *jw_default_jwks(int two_rsa);
void jw_write_file(const char *path, const char *text);
/* header.payload, then '.' and the signature: by k (RS256/ES256, k not
 * NULL), by HMAC with hmac_key (hmac_len bytes), or none at all. The caller
 * frees the token with free(). */
char *jw_token_with(const char *header, const char *payload, EVP_PKEY *k, const void *hmac_key,
		    size_t hmac_len);
/* The usual student payload, valid at NOW, with extra members (may be "");
 * a static buffer, good until the next call. */
const char *jw_payload(const char *extra);
/* A verifier with the secret, the JWKS text (NULL: no file), aud and iss. */
auth_verifier *jw_verifier(const char *jwks_text, const char *aud, const char *iss);
/* Asserts the verdict on token (freed here) at now (jw_expect: at NOW):
 * AUTH_FAIL_NONE means accepted with the student's claims. */
void jw_expect_at(auth_verifier *v, char *token, long long now, auth_fail want);
void jw_expect(auth_verifier *v, char *token, auth_fail want);

#endif
