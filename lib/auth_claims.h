/* auth_claims: what a verified token says - its subject and role, as
 * auth_claims with their JSON for request.jwt.claims - and why a token is
 * refused (auth_fail, with the 401's message); the roles' names; the
 * limits every check of a token shares. Data only: verifying is
 * auth_token's and auth's. */
#ifndef ATT_AUTH_CLAIMS_H
#define ATT_AUTH_CLAIMS_H

#include "uuid.h"

typedef enum auth_role {
	AUTH_ROLE_NONE = 0,
	AUTH_ROLE_STUDENT,
	AUTH_ROLE_PROCTOR,
	AUTH_ROLE_ADMIN
} auth_role;

#define AUTH_LEEWAY_S 60
#define AUTH_MAX_TOKEN_LEN 4096

/* Why a token was refused; the router says it in the 401 (auth_fail_message). */
typedef enum auth_fail {
	AUTH_FAIL_NONE = 0,
	AUTH_FAIL_MISSING,	 /* no Authorization: Bearer <token> at all */
	AUTH_FAIL_MALFORMED,	 /* not a compact JWS of strict JSON objects */
	AUTH_FAIL_ALG,		 /* alg not the key's (none, HS512, HS256 on an RSA key) */
	AUTH_FAIL_UNKNOWN_KEY,	 /* RS256/ES256 without a kid, or a kid naming no key */
	AUTH_FAIL_SIGNATURE,	 /* the signature does not verify */
	AUTH_FAIL_CLAIMS,	 /* sub or role missing or invalid */
	AUTH_FAIL_EXPIRED,	 /* exp + leeway passed */
	AUTH_FAIL_NOT_YET_VALID, /* nbf - leeway not reached */
	AUTH_FAIL_ISSUED_FUTURE, /* iat - leeway not reached */
	AUTH_FAIL_AUDIENCE,	 /* jwt_audience set, aud does not hold it */
	AUTH_FAIL_ISSUER	 /* jwt_issuer set, iss is not it */
} auth_fail;

typedef struct auth_claims {
	char sub[UUID_STR_LEN + 1];
	auth_role role;
	long long exp;
	/* Claims as JSON for request.jwt.claims: {"sub":"…","role":"…"}. */
	char json[96];
} auth_claims;

/* The 401 message for why: static text of printable ASCII without '"' or
 * '\\', so that it may stand in a quoted-string (error_description). */
const char *auth_fail_message(auth_fail why);

/* "student", "proctor", "admin"; NULL for AUTH_ROLE_NONE. */
const char *auth_role_name(auth_role role);

/* Parses a role name; AUTH_ROLE_NONE if unknown. */
auth_role auth_role_parse(const char *name);

#endif
