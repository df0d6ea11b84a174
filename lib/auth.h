/* auth: JSON Web Tokens - verification of bearer tokens (HS256 with the
 * configured secret; RS256, ES256 and HS256 with the keys of a JWKS file,
 * chosen by kid) and HS256 signing (for the token command and tests). Owns
 * claims checking (alg, exp, nbf, iat, sub, role, aud, iss), the current
 * key set and its reload, and each verifier's memo (token_memo); parsing key
 * sets is jwks's; who may do what is decided by the router and the SQL. */
#ifndef ATT_AUTH_H
#define ATT_AUTH_H

#include <stddef.h>
#include <time.h>

#include "att_err.h"
#include "auth_claims.h"

/* Verifies an "Authorization" header value ("Bearer <jwt>") against the
 * secret alone (HS256, no key set, no aud or iss) at time now. On success fills *out and returns
 * ATT_OK; otherwise returns ATT_EAUTH and leaves *out untouched. */
att_err auth_verify_header(const char *authorization, const char *secret, size_t secret_len,
			   time_t now, auth_claims *out) ATT_MUSTCHECK;

/* Verifies a bare compact JWT; as auth_verify_header. Header and payload
 * must pass json_parse (the strict JSON rules of request bodies); claims
 * are compared in full; exp, nbf and iat are whole seconds. Remembers
 * nothing (a verifier remembers the tokens it verified). Thread-safe. */
att_err auth_verify(const char *token, const char *secret, size_t secret_len, time_t now,
		    auth_claims *out) ATT_MUSTCHECK;

/* What a verifier accepts. Strings are copied. */
typedef struct auth_options {
	const char *secret; /* HS256 secret for tokens whose kid names no key */
	size_t secret_len;
	const char *jwks_file; /* NULL or "": no key set (HS256 with the secret only) */
	const char *audience;  /* NULL or "": aud not checked */
	const char *issuer;    /* NULL or "": iss not checked */
} auth_options;

/* A token verifier: the options and the current key set, which
 * auth_verifier_reload replaces while other threads verify (each
 * verification holds a reference to the set it started with, so no set is
 * freed under it). Thread-safe. */
typedef struct auth_verifier auth_verifier;

/* Creates a verifier; reads opt->jwks_file if set. On failure returns the
 * error of jwks_load_file (or ATT_ENOMEM) and, if errmsg is not NULL, a
 * message the caller frees with free(). The caller frees *out with
 * auth_verifier_free(). */
att_err auth_verifier_create(const auth_options *opt, auth_verifier **out,
			     char **errmsg) ATT_MUSTCHECK;

/* Reads the JWKS file again and, if it parses, makes it the current set
 * and forgets every token it remembered; otherwise keeps the
 * set it had and returns the error (with a message, as above). Without a
 * JWKS file it does nothing and returns ATT_OK. */
att_err auth_verifier_reload(auth_verifier *v, char **errmsg) ATT_MUSTCHECK;

/* Keys in the current set (0 without a JWKS file). */
size_t auth_verifier_key_count(auth_verifier *v);

/* Frees the verifier. Accepts NULL. No verification may be running. */
void auth_verifier_free(auth_verifier *v);

/* Verifies a bare compact JWT with v at time now: the rules of auth_verify
 * below, and the key chosen by the header's kid: a kid naming a key of the
 * set means that key, whose algorithm alg must be; otherwise HS256 means
 * the secret, and RS256/ES256 an unknown key. aud and iss are checked when
 * the options name them. On success fills *out and returns ATT_OK;
 * otherwise returns ATT_EAUTH, sets *why (if not NULL) and leaves *out
 * untouched. */
att_err auth_check(auth_verifier *v, const char *token, time_t now, auth_claims *out,
		   auth_fail *why) ATT_MUSTCHECK;

/* auth_check on an Authorization header value ("Bearer <jwt>"); *why is
 * AUTH_FAIL_MISSING when it is NULL, another scheme, or holds no token. */
att_err auth_check_header(auth_verifier *v, const char *authorization, time_t now, auth_claims *out,
			  auth_fail *why) ATT_MUSTCHECK;

/* Signs {"sub","role","iat","exp"} with HS256. Returns the token, which the
 * caller frees with free(), or NULL on failure. */
char *auth_sign(const char *sub, auth_role role, time_t iat, time_t exp, const char *secret,
		size_t secret_len) ATT_MUSTCHECK;

/* auth_sign with "aud" and "iss" too, each when not NULL or "" (the token
 * command signs for a service that checks jwt_audience and jwt_issuer). */
char *auth_sign_for(const char *sub, auth_role role, time_t iat, time_t exp, const char *audience,
		    const char *issuer, const char *secret, size_t secret_len) ATT_MUSTCHECK;

/* Base64url without padding. Returns bytes written to out, or -1 on bad
 * input or if out (of size cap) is too small. */
long auth_b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap);
/* Encodes n bytes; out needs 4 * ((n + 2) / 3) + 1 bytes. */
void auth_b64url_encode(const unsigned char *in, size_t n, char *out);

/* How many of v's verifications found their token remembered (its time
 * claims still checked), and how many did not, since v was made. */
void auth_verifier_memo_stats(const auth_verifier *v, unsigned long long *hits,
			      unsigned long long *misses);

#endif
