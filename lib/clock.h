/* clock: the time sources the service reads, injectable so tests of the
 * cache and the breaker can run on a fake clock. Owns no state. */
#ifndef ATT_CLOCK_H
#define ATT_CLOCK_H

/* Returns milliseconds on some clock; ctx is the clock's own state. */
typedef long long (*clock_ms_fn)(void *ctx);

/* Monotonic milliseconds (CLOCK_MONOTONIC); ctx is ignored. */
long long clock_monotonic_ms(void *ctx);

#endif
