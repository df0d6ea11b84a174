/* attempt_cache: this process's cached attempt reads (state, info) kept
 * behind every acknowledged write - the host's write stamps (write_stamps)
 * and the change listener (LISTEN/NOTIFY for writes made elsewhere). Owns
 * the stamps table and the listener, and the rule of when the cache may
 * answer; the cache itself is the caller's (it holds other entries too). */
#ifndef ATT_ATTEMPT_CACHE_H
#define ATT_ATTEMPT_CACHE_H

#include <stddef.h>

#include "att_err.h"
#include "breaker.h"
#include "cache.h"
#include "listener.h"

typedef struct attempt_cache attempt_cache;

/* Attempt reads cached in c (which must outlive it). With conninfo, also
 * the host's shared write stamps and a listener on conninfo (a persistent
 * worker); with NULL neither, and the cache is never used (one-shot CGI).
 * b (may be NULL) tells whether the database is down. The caller frees it
 * with attempt_cache_free(). */
att_err attempt_cache_create(cache *c, breaker *b, const char *conninfo,
			     attempt_cache **out) ATT_MUSTCHECK;

/* Frees ac with its listener and stamps. Accepts NULL. */
void attempt_cache_free(attempt_cache *ac);

/* The change listener, NULL without one (for housekeeping and statistics). */
listener *attempt_cache_listener(const attempt_cache *ac);

/* Delivers pending change notifications to the cache, then says whether
 * the cache may answer now: while the listener is connected, or while it
 * is not but the breaker is open or half-open (the database is down, so
 * nothing can change what is cached). */
int attempt_cache_catch_up(attempt_cache *ac);

/* A write of attempt_id has committed (or may have) and its answer is
 * about to leave: bumps the attempt's write stamp, shared by every worker
 * of this host (write_stamps.h), so none answers an older cached entry of
 * it from now on, and drops this process's entries. */
void attempt_cache_note_write(attempt_cache *ac, const char *attempt_id);

/* The write stamp of attempt_id: read it before the database call whose
 * answer will be cached, and keep it in the entry's meta.write_stamp. */
unsigned attempt_cache_stamp(attempt_cache *ac, const char *attempt_id);

/* Writes noted on this host so far: for a fill whose ids are only known
 * after the call; unchanged across the call means no stamp moved. */
unsigned long long attempt_cache_writes_total(attempt_cache *ac);

/* The cached kind ("state" or "info") of attempt_id, as cache_get, but
 * only if no write was noted for it since the entry's fill. */
int attempt_cache_get(attempt_cache *ac, const char *kind, const char *attempt_id, char **text,
		      size_t *len, cache_meta *meta);

/* Caches the kind of attempt_id (meta.write_stamp read before the fill's
 * call, epoch as cache_put). Logs a failure. */
void attempt_cache_put(attempt_cache *ac, const char *kind, const char *attempt_id,
		       const char *text, size_t len, const cache_meta *meta, long long ttl_ms,
		       unsigned long long epoch);

/* Caches one attempt state, len bytes of SQL's text, as it is (the same
 * bytes a single read caches); stamp is its write stamp from before the
 * call. Error items are skipped. */
void attempt_cache_put_state(attempt_cache *ac, const char *text, size_t len, long long ttl_ms,
			     unsigned long long epoch, unsigned stamp);

#endif
