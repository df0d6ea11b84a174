/* clock: the time sources the service reads, injectable so tests of the
 * cache and the breaker can run on a fake clock, and the one timestamp
 * form it reads (RFC 3339 UTC, as attempts.ts() writes). Owns no state. */
#ifndef ATT_CLOCK_H
#define ATT_CLOCK_H

/* Returns milliseconds on some clock; ctx is the clock's own state. */
typedef long long (*clock_ms_fn)(void *ctx);

/* Monotonic milliseconds (CLOCK_MONOTONIC); ctx is ignored. */
long long clock_monotonic_ms(void *ctx);

/* Wall-clock milliseconds since the epoch (CLOCK_REALTIME). */
long long clock_wall_ms(void);

/* Parses an RFC 3339 UTC timestamp ("...Z") into epoch milliseconds;
 * -1 if it is not one. */
long long clock_parse_utc_ms(const char *text);

#endif
