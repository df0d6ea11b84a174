/* auth: HS256 JSON Web Tokens - verification of bearer tokens and signing
 * (for the token command and tests). Owns claims checking (alg, exp, nbf,
 * iat, sub, role); who may do what is decided by the router and the SQL. */
#ifndef ATT_AUTH_H
#define ATT_AUTH_H

#include <stddef.h>
#include <time.h>

#include "att_err.h"
#include "uuid.h"

typedef enum auth_role {
	AUTH_ROLE_NONE = 0,
	AUTH_ROLE_STUDENT,
	AUTH_ROLE_PROCTOR,
	AUTH_ROLE_ADMIN
} auth_role;

#define AUTH_LEEWAY_S 60
#define AUTH_MAX_TOKEN_LEN 4096

typedef struct auth_claims {
	char sub[UUID_STR_LEN + 1];
	auth_role role;
	long long exp;
	/* Claims as JSON for request.jwt.claims: {"sub":"…","role":"…"}. */
	char json[96];
} auth_claims;

/* Verifies an "Authorization" header value ("Bearer <jwt>") against the
 * secret at time now. On success fills *out and returns ATT_OK; otherwise
 * returns ATT_EAUTH and leaves *out untouched. */
att_err auth_verify_header(const char *authorization, const char *secret,
			   size_t secret_len, time_t now,
			   auth_claims *out) ATT_MUSTCHECK;

/* Verifies a bare compact JWT; as auth_verify_header. Header and payload
 * must pass json_parse (the strict JSON rules of request bodies); claims
 * are compared in full; exp, nbf and iat are whole seconds. Tokens
 * verified once are remembered process-wide (their time claims are
 * checked again at every use); refused ones never are. Thread-safe. */
att_err auth_verify(const char *token, const char *secret, size_t secret_len,
		    time_t now, auth_claims *out) ATT_MUSTCHECK;

/* Signs {"sub","role","iat","exp"} with HS256. Returns the token, which the
 * caller frees with free(), or NULL on failure. */
char *auth_sign(const char *sub, auth_role role, time_t iat, time_t exp,
		const char *secret, size_t secret_len) ATT_MUSTCHECK;

/* "student", "proctor", "admin"; NULL for AUTH_ROLE_NONE. */
const char *auth_role_name(auth_role role);

/* Parses a role name; AUTH_ROLE_NONE if unknown. */
auth_role auth_role_parse(const char *name);

/* Base64url without padding. Returns bytes written to out, or -1 on bad
 * input or if out (of size cap) is too small. */
long auth_b64url_decode(const char *in, size_t len, unsigned char *out,
			size_t cap);
/* Encodes n bytes; out needs 4 * ((n + 2) / 3) + 1 bytes. */
void auth_b64url_encode(const unsigned char *in, size_t n, char *out);

/* How many auth_verify calls found their token remembered, and how many
 * did not (since the process started). */
void auth_memo_stats(unsigned long long *hits, unsigned long long *misses);

#endif
