/* auth_claims: roles' names and refusals' messages (auth_claims.h). */
#include "auth_claims.h"

#include <string.h>

static const char *const auth_role_names[] = {
	[AUTH_ROLE_STUDENT] = "student",
	[AUTH_ROLE_PROCTOR] = "proctor",
	[AUTH_ROLE_ADMIN] = "admin",
};

const char *auth_role_name(auth_role role)
{
	return role > AUTH_ROLE_NONE && role <= AUTH_ROLE_ADMIN ? auth_role_names[role] : NULL;
}

auth_role auth_role_parse(const char *name)
{
	for (int r = AUTH_ROLE_STUDENT; r <= AUTH_ROLE_ADMIN; r++)
		if (strcmp(name, auth_role_name((auth_role)r)) == 0)
			return (auth_role)r;
	return AUTH_ROLE_NONE;
}

const char *auth_fail_message(auth_fail why)
{
	switch (why) {
	case AUTH_FAIL_NONE:
		break;
	case AUTH_FAIL_MISSING:
		return "a bearer token is required";
	case AUTH_FAIL_MALFORMED:
		return "the token is malformed";
	case AUTH_FAIL_ALG:
		return "the token's alg is not the algorithm of its key";
	case AUTH_FAIL_UNKNOWN_KEY:
		return "the token's kid names no known key";
	case AUTH_FAIL_SIGNATURE:
		return "the token's signature is invalid";
	case AUTH_FAIL_CLAIMS:
		return "the token has no valid sub or role";
	case AUTH_FAIL_EXPIRED:
		return "the token has expired";
	case AUTH_FAIL_NOT_YET_VALID:
		return "the token is not valid yet (nbf)";
	case AUTH_FAIL_ISSUED_FUTURE:
		return "the token is issued in the future (iat)";
	case AUTH_FAIL_AUDIENCE:
		return "the token is not for this audience (aud)";
	case AUTH_FAIL_ISSUER:
		return "the token's issuer is not accepted (iss)";
	}
	return "a valid bearer token is required";
}
