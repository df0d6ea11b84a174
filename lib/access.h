/* access: who may see what C answers without the database - a cached
 * attempt (its owner, a proctor, an admin), cached exam or attempt
 * statistics (a proctor, an admin). Owns those rules only: every other
 * decision of who may do what is the SQL functions' (their access_error
 * and staff_exam_error say the same for the uncached answers). */
#ifndef ATT_ACCESS_H
#define ATT_ACCESS_H

#include "auth.h"

/* May the caller read an attempt owned by owner? */
int access_may_read_attempt(const auth_claims *claims, const char *owner);

/* May the caller read statistics (stats, active, live)? */
int access_may_read_stats(const auth_claims *claims);

#endif
