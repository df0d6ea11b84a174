/* breaker: a per-process circuit breaker over the database. Closed, it
 * lets calls through and counts consecutive failures; at the threshold it
 * opens and refuses calls for the timeout; then it goes half-open and lets
 * exactly one probe through: success closes it, failure reopens it.
 * Owns only that state machine; callers decide what counts as a failure. */
#ifndef ATT_BREAKER_H
#define ATT_BREAKER_H

#include "att_err.h"
#include "clock.h"

typedef struct breaker breaker;

typedef enum breaker_state {
	BREAKER_CLOSED = 0,
	BREAKER_OPEN,
	BREAKER_HALF_OPEN
} breaker_state;

typedef struct breaker_stats {
	breaker_state state;
	int failures;                   /* consecutive, current */
	unsigned long long opened_count;
	unsigned long long rejected;    /* calls refused while open */
} breaker_stats;

/* Creates a breaker; clock may be NULL for the monotonic clock. The caller
 * frees it with breaker_free(). */
att_err breaker_create(int failure_threshold, long long timeout_ms,
		       clock_ms_fn clock, void *clock_ctx,
		       breaker **out) ATT_MUSTCHECK;

/* Frees b. Accepts NULL. */
void breaker_free(breaker *b);

/* May a call go to the database now? Returns 1 and, when the call is the
 * half-open probe, sets *probe to 1; returns 0 when refused. Every allowed
 * call must be followed by breaker_success() or breaker_failure() with the
 * same probe flag. */
int breaker_allow(breaker *b, int *probe);

void breaker_success(breaker *b, int probe);
void breaker_failure(breaker *b, int probe);
/* The allowed call never reached the database (e.g. no free connection):
 * no verdict; a probe slot is handed back. */
void breaker_cancel(breaker *b, int probe);

/* Milliseconds until an open breaker lets a probe through (0 if not open). */
long long breaker_retry_after_ms(breaker *b);

breaker_state breaker_get_state(breaker *b);
void breaker_get_stats(breaker *b, breaker_stats *out);

/* "closed", "open" or "half_open". */
const char *breaker_state_name(breaker_state state);

#endif
