/* auth_token: the checks of one compact JWT - its header (alg, typ, crit,
 * kid), its signature with the key the kid names or the HS256 secret, its
 * claims (exp, nbf, iat, sub, role, aud, iss) - and the memo entry of a
 * token that passed them all. Owns no keys and no memo: the caller (auth's
 * verifier, or auth_verify without either) hands them in. */
#ifndef ATT_AUTH_TOKEN_H
#define ATT_AUTH_TOKEN_H

#include <stddef.h>
#include <time.h>

#include "auth_claims.h"
#include "jwks.h"
#include "token_memo.h"

/* What a verification is made with: the secret, the key set (NULL:
 * none), the claims required, and the memo tag that names all of them. */
typedef struct auth_token_ctx {
	const char *secret;
	size_t secret_len;
	const jwks_set *set;
	const char *audience; /* NULL: not checked */
	const char *issuer;   /* NULL: not checked */
	const unsigned char *tag;
	token_memo *memo; /* NULL: none */
} auth_token_ctx;

/* Verifies token under vc at now: AUTH_FAIL_NONE and *out, or why not
 * (*out untouched). A token whose memo entry (vc->memo, vc->tag) exists
 * has only its time claims checked again; one that passes every check is
 * stored there. Thread-safe. */
auth_fail auth_token_verify(const auth_token_ctx *vc, const char *token, time_t now,
			    auth_claims *out);

/* The size of a memo value, for token_memo_create. */
size_t auth_token_memo_value_size(void);

#endif
