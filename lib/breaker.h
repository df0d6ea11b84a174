/* breaker: a per-process circuit breaker over the database. Closed, it
 * lets calls through and counts consecutive failures; at the threshold it
 * opens and refuses calls. An open breaker lets exactly one probe through
 * when the next one is due (half-open): success closes it, failure
 * schedules the next. Probes back off from 250 ms: each is due a fifth of
 * the time the breaker has been open after the one before, never more than
 * the timeout apart, so recovery waits at most a fifth of the outage.
 * Every transition is logged once. Owns only that state machine; callers
 * decide what counts as a failure and who probes. */
#ifndef ATT_BREAKER_H
#define ATT_BREAKER_H

#include "att_err.h"
#include "clock.h"

typedef struct breaker breaker;

#define BREAKER_FIRST_PROBE_MS 250
#define BREAKER_PROBE_FRACTION 5

typedef enum breaker_state { BREAKER_CLOSED = 0, BREAKER_OPEN, BREAKER_HALF_OPEN } breaker_state;

typedef struct breaker_stats {
	breaker_state state;
	int failures;			 /* consecutive, current */
	unsigned long long opened_count; /* closed -> open transitions */
	unsigned long long rejected;	 /* calls refused while open */
} breaker_stats;

/* Creates a breaker; timeout_ms is the longest wait between two probes;
 * clock may be NULL for the monotonic clock. The caller
 * frees it with breaker_free(). */
att_err breaker_create(int failure_threshold, long long timeout_ms, clock_ms_fn clock,
		       void *clock_ctx, breaker **out) ATT_MUSTCHECK;

/* Frees b. Accepts NULL. */
void breaker_free(breaker *b);

/* May a call go to the database now? Returns 1 and, when the call is the
 * half-open probe, sets *probe to 1; returns 0 when refused. Every allowed
 * call must be followed by breaker_success() or breaker_failure() with the
 * same probe flag. */
int breaker_allow(breaker *b, int *probe);

void breaker_success(breaker *b, int probe);
/* reason (may be NULL) says what failed, for the transition's log line. */
void breaker_failure(breaker *b, int probe, const char *reason);
/* The allowed call never reached the database (e.g. no free connection):
 * no verdict; a probe slot is handed back. */
void breaker_cancel(breaker *b, int probe);

/* Makes an open breaker's next probe due now (the caller has seen the
 * database come back). No effect unless open. */
void breaker_probe_now(breaker *b);

/* Milliseconds until an open breaker lets the next probe through (0 if
 * not open, or if the probe is due or out). */
long long breaker_retry_after_ms(breaker *b);

/* The wait before the next probe of a breaker open for open_for_ms:
 * open_for_ms / BREAKER_PROBE_FRACTION, at least BREAKER_FIRST_PROBE_MS,
 * at most timeout_ms. */
long long breaker_probe_delay_ms(long long open_for_ms, long long timeout_ms);

/* BREAKER_HALF_OPEN also when a probe is due and not yet taken. */
breaker_state breaker_get_state(breaker *b);
void breaker_get_stats(breaker *b, breaker_stats *out);

/* "closed", "open" or "half_open". */
const char *breaker_state_name(breaker_state state);

#endif
