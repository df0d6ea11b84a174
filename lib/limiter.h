/* limiter: how many requests each caller has in flight in this process,
 * with a cap per caller - so that one caller cannot hold every thread of
 * a worker. Callers are keys (a token's sub); at most `slots` distinct
 * callers can be in flight at once (one per thread is enough). Owns the
 * counts and how long a refusal is held back; what is limited and what a
 * refusal answers is the caller's business. */
#ifndef ATT_LIMITER_H
#define ATT_LIMITER_H

#include "att_err.h"

typedef struct limiter limiter;

#define LIMITER_KEY_MAX 63

/* A limiter letting each key have at most per_key requests in flight, for
 * at most slots keys at once. The caller frees it with limiter_free(). */
att_err limiter_create(int per_key, int slots, limiter **out) ATT_MUSTCHECK;

/* Frees l. Accepts NULL. */
void limiter_free(limiter *l);

/* Counts one more request of key (at most LIMITER_KEY_MAX bytes are
 * compared) and returns 1, or returns 0 when key already has per_key in
 * flight or every slot is taken. Each 1 must be followed by
 * limiter_leave(l, key). Thread-safe. */
int limiter_enter(limiter *l, const char *key);

/* Ends one request of key. */
void limiter_leave(limiter *l, const char *key);

/* Holds a refusal of a caller over its limit back for 250 ms before it
 * is answered, parked (blocking.h: the thread's turn goes to other
 * requests), so that a client flooding from many connections waits instead
 * of spinning on cheap refusals; at most 4 x slots refusals are held at
 * once, the others return at once. */
void limiter_hold_refusal(limiter *l);

/* Requests in flight for key now (for tests and metrics). */
int limiter_in_flight(limiter *l, const char *key);

#endif
