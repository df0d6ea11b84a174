/* cache: a per-process, thread-safe TTL cache of response bodies, bounded
 * by entry count and bytes with LRU eviction, with an injectable clock.
 * Owns copies of what is put in; knows nothing of what the keys mean or
 * how other processes learn of changes (see app/listener). */
#ifndef ATT_CACHE_H
#define ATT_CACHE_H

#include <stddef.h>

#include "att_err.h"
#include "clock.h"

typedef struct cache cache;

/* Fixed-size facts stored beside a value, opaque to the cache. */
typedef struct cache_meta {
	long long version;     /* for ETag */
	long long deadline_ms; /* epoch ms of deadline_at, or -1 */
	int hole_offset;       /* where a time-dependent number sits in the value, or -1 */
	int hole_length;
	char tag[40];	      /* e.g. the owner's id, for access checks */
	unsigned write_stamp; /* e.g. write_stamps_read() before the fill */
} cache_meta;

typedef struct cache_stats {
	size_t entries;
	size_t bytes;
	unsigned long long hits;
	unsigned long long misses;
	unsigned long long evictions;	  /* pushed out by the bounds */
	unsigned long long expirations;	  /* found past their TTL */
	unsigned long long invalidations; /* removed or cleared on purpose */
} cache_stats;

/* Creates a cache holding at most max_entries entries and max_bytes bytes
 * (keys, values and bookkeeping); clock NULL = monotonic. The caller frees
 * it with cache_free(). */
att_err cache_create(size_t max_entries, size_t max_bytes, clock_ms_fn clock, void *clock_ctx,
		     cache **out) ATT_MUSTCHECK;

/* Frees c and every entry. Accepts NULL. */
void cache_free(cache *c);

/* On a live entry for key: copies its value (NUL-terminated) into *value,
 * which the caller frees with free(), sets *len and *meta, marks it most
 * recently used and returns 1. Otherwise returns 0 (a miss). */
int cache_get(cache *c, const char *key, char **value, size_t *len, cache_meta *meta);

/* The invalidation epoch: read it before fetching what you will put, and
 * pass it to cache_put, so a fill that raced with an invalidation is
 * dropped instead of caching stale data. */
unsigned long long cache_epoch(cache *c);

/* Stores value under key for ttl_ms (replacing any entry), unless ttl_ms
 * <= 0, the entry alone exceeds the byte bound, or an invalidation
 * happened since epoch. Evicts least recently used entries to fit. */
att_err cache_put(cache *c, const char *key, const char *value, size_t len, const cache_meta *meta,
		  long long ttl_ms, unsigned long long epoch) ATT_MUSTCHECK;

/* Removes key; returns 1 if it was there. Bumps the epoch either way. */
int cache_remove(cache *c, const char *key);

/* Removes every entry; returns how many. Bumps the epoch. */
size_t cache_clear(cache *c);

void cache_get_stats(cache *c, cache_stats *out);

#endif
