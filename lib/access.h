/* access: who may see what C answers without the database - a cached
 * attempt (its owner, a proctor, an admin). Owns that rule only: every
 * other decision of who may do what is the SQL functions'. */
#ifndef ATT_ACCESS_H
#define ATT_ACCESS_H

#include "auth.h"

/* May the caller read an attempt owned by owner? */
int access_may_read_attempt(const auth_claims *claims, const char *owner);

#endif
