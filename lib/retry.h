/* retry: which database failures may be repeated, and how long to wait
 * before each try (exponential backoff with full jitter). Owns the policy
 * only; db runs the loop. */
#ifndef ATT_RETRY_H
#define ATT_RETRY_H

typedef struct retry_policy {
	int attempts;	    /* tries in all, >= 1 */
	long base_delay_ms; /* cap of the first delay */
	long max_delay_ms;  /* cap of every delay */
} retry_policy;

/* What is known about a failed try. */
typedef enum retry_kind {
	RETRY_NOT_SENT = 0,    /* no connection, or it failed before sending */
	RETRY_LOST_AFTER_SEND, /* connection lost after sending: outcome unknown */
	RETRY_SQL_ERROR	       /* the server answered with an SQLSTATE */
} retry_kind;

/* Is repeating safe? NOT_SENT always; LOST_AFTER_SEND only for idempotent
 * (read-only) statements; SQL errors only for 40001 (serialization) and
 * 40P01 (deadlock), whose transaction was rolled back. */
int retry_is_safe(retry_kind kind, const char *sqlstate, int idempotent);

/* The delay before try number `attempt` (2 = first retry): uniform in
 * [0, min(max, base * 2^(attempt-2))]. seed is the caller's rand_r state. */
long retry_delay_ms(const retry_policy *p, int attempt, unsigned *seed);

/* The cap retry_delay_ms draws under for that attempt. */
long retry_delay_cap_ms(const retry_policy *p, int attempt);

#endif
