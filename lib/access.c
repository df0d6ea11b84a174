/* access: the rule for answers C gives from its own state. */
#include "access.h"

#include <string.h>

int access_may_read_attempt(const auth_claims *claims, const char *owner)
{
	return claims->role != AUTH_ROLE_STUDENT || strcmp(claims->sub, owner) == 0;
}

int access_may_read_stats(const auth_claims *claims)
{
	return claims->role != AUTH_ROLE_STUDENT;
}
