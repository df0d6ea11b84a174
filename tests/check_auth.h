/* check_auth: what the auth test files share (check_auth_util.c): tokens
 * crafted by hand (correctly signed, only the claim or header wrong) and
 * checks that a verifier of the test secret refuses or accepts them. */
#ifndef ATT_CHECK_AUTH_H
#define ATT_CHECK_AUTH_H

#include <stddef.h>

#include "att_err.h"
#include "auth.h"
#include "buf.h"

#define SECRET "0123456789abcdef0123456789abcdef"
#define SUB "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define NOW 1700000000LL
#define HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* Appends data (n bytes) to b in base64url. */
void tok_append_b64(buf *b, const void *data, size_t n);
/* header.payload (hlen and plen bytes, NUL bytes allowed) signed with secret by
 * OpenSSL directly. The caller frees the token with free(). */
char *tok_craftn(const char *header, size_t hlen, const char *payload, size_t plen,
		 const char *secret);
/* header.payload signed with secret; the caller frees the token. */
char *tok_craft(const char *header, const char *payload, const char *secret);
/* tok_craft() with a printf-formatted payload and the test secret. */
char *tok_craftf(const char *header, const char *fmt, ...) ATT_PRINTF(2, 3);
/* A verifier of secret (no key set), made once per process. */
auth_verifier *tok_verifier_of(const char *secret);
/* auth_check of token at now by the verifier of SECRET. */
att_err tok_verify(const char *token, long long now, auth_claims *out);
/* The memo counters of the verifier of SECRET. */
void tok_memo_stats(unsigned long long *hits, unsigned long long *misses);
/* Asserts that token is refused at NOW, twice, that *out stays untouched
 * and that the memo of verified tokens never answered for it; frees token. */
void tok_expect_refused(char *token, const char *why);
/* Asserts that token is accepted at NOW with sub SUB; frees token. */
void tok_expect_accepted(char *token, const char *why);

#endif
