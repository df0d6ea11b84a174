/* retry: safe-to-repeat classification and full-jitter backoff. */
#include "retry.h"

#include <stdlib.h>
#include <string.h>

int retry_is_safe(retry_kind kind, const char *sqlstate, int idempotent)
{
	switch (kind) {
	case RETRY_NOT_SENT:
		return 1;
	case RETRY_LOST_AFTER_SEND:
		return idempotent;
	case RETRY_SQL_ERROR:
		return sqlstate != NULL &&
		       (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0);
	}
	return 0;
}

long retry_delay_cap_ms(const retry_policy *p, int attempt)
{
	long cap = p->base_delay_ms;

	for (int i = 2; i < attempt && cap < p->max_delay_ms; i++)
		cap *= 2;
	return cap < p->max_delay_ms ? cap : p->max_delay_ms;
}

long retry_delay_ms(const retry_policy *p, int attempt, unsigned *seed)
{
	long cap = retry_delay_cap_ms(p, attempt);

	if (cap <= 0)
		return 0;
	return (long)(((unsigned long)rand_r(seed) << 16 ^ (unsigned long)rand_r(seed)) %
		      (unsigned long)(cap + 1));
}
