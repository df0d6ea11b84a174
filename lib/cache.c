/* cache: chained hash table + doubly linked LRU list under one mutex. */
#include "cache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ENTRY_OVERHEAD 64 /* bookkeeping bytes charged per entry */

typedef struct cache_entry {
	struct cache_entry *next_in_bucket;
	struct cache_entry *lru_prev; /* towards most recently used */
	struct cache_entry *lru_next; /* towards least recently used */
	uint64_t hash;
	long long expires_at;
	cache_meta meta;
	size_t cost;
	size_t len;
	char *key;
	char *value;
} cache_entry;

struct cache {
	pthread_mutex_t lock;
	cache_entry **buckets;
	size_t nbuckets;       /* power of two */
	cache_entry *lru_head; /* most recently used */
	cache_entry *lru_tail; /* least recently used */
	size_t max_entries;
	size_t max_bytes;
	clock_ms_fn clock;
	void *clock_ctx;
	unsigned long long epoch;
	cache_stats stats;
};

static uint64_t hash_key(const char *key)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *key; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ULL;
	}
	return h;
}

att_err cache_create(size_t max_entries, size_t max_bytes, clock_ms_fn clock, void *clock_ctx,
		     cache **out)
{
	cache *c = calloc(1, sizeof *c);
	size_t n = 16;

	if (c == NULL)
		return ATT_ENOMEM;
	while (n < max_entries && n < ((size_t)1 << 24))
		n *= 2;
	c->buckets = calloc(n, sizeof *c->buckets);
	if (c->buckets == NULL) {
		free(c);
		return ATT_ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->nbuckets = n;
	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	c->clock = clock ? clock : clock_monotonic_ms;
	c->clock_ctx = clock_ctx;
	*out = c;
	return ATT_OK;
}

static void lru_unlink(cache *c, cache_entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		c->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		c->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(cache *c, cache_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = c->lru_head;
	if (c->lru_head)
		c->lru_head->lru_prev = e;
	c->lru_head = e;
	if (c->lru_tail == NULL)
		c->lru_tail = e;
}

static cache_entry **find_slot(cache *c, const char *key, uint64_t h)
{
	cache_entry **p = &c->buckets[h & (c->nbuckets - 1)];

	while (*p && ((*p)->hash != h || strcmp((*p)->key, key) != 0))
		p = &(*p)->next_in_bucket;
	return p;
}

/* Unlinks and frees the entry at *slot; lock held. */
static void drop(cache *c, cache_entry **slot)
{
	cache_entry *e = *slot;

	*slot = e->next_in_bucket;
	lru_unlink(c, e);
	c->stats.entries--;
	c->stats.bytes -= e->cost;
	free(e->key);
	free(e->value);
	free(e);
}

static void drop_entry(cache *c, cache_entry *e)
{
	drop(c, find_slot(c, e->key, e->hash));
}

void cache_free(cache *c)
{
	if (c == NULL)
		return;
	while (c->lru_head)
		drop_entry(c, c->lru_head);
	pthread_mutex_destroy(&c->lock);
	free(c->buckets);
	free(c);
}

int cache_get(cache *c, const char *key, char **value, size_t *len, cache_meta *meta)
{
	uint64_t h = hash_key(key);
	cache_entry **slot;
	char *copy;
	int hit = 0;

	pthread_mutex_lock(&c->lock);
	slot = find_slot(c, key, h);
	if (*slot != NULL && (*slot)->expires_at <= c->clock(c->clock_ctx)) {
		/* drop() moves the bucket's next entry into *slot: not ours. */
		drop(c, slot);
		c->stats.expirations++;
	} else if (*slot != NULL) {
		cache_entry *e = *slot;
		copy = malloc(e->len + 1);
		if (copy != NULL) {
			memcpy(copy, e->value, e->len + 1);
			*value = copy;
			*len = e->len;
			*meta = e->meta;
			lru_unlink(c, e);
			lru_push_front(c, e);
			hit = 1;
		}
	}
	if (hit)
		c->stats.hits++;
	else
		c->stats.misses++;
	pthread_mutex_unlock(&c->lock);
	return hit;
}

unsigned long long cache_epoch(cache *c)
{
	unsigned long long e;

	pthread_mutex_lock(&c->lock);
	e = c->epoch;
	pthread_mutex_unlock(&c->lock);
	return e;
}

static cache_entry *new_entry(const char *key, uint64_t h, const char *value, size_t len)
{
	cache_entry *e = calloc(1, sizeof *e);

	if (e == NULL)
		return NULL;
	e->key = strdup(key);
	e->value = malloc(len + 1);
	if (e->key == NULL || e->value == NULL) {
		free(e->key);
		free(e->value);
		free(e);
		return NULL;
	}
	memcpy(e->value, value, len);
	e->value[len] = '\0';
	e->len = len;
	e->hash = h;
	e->cost = strlen(key) + len + ENTRY_OVERHEAD;
	return e;
}

att_err cache_put(cache *c, const char *key, const char *value, size_t len, const cache_meta *meta,
		  long long ttl_ms, unsigned long long epoch)
{
	uint64_t h = hash_key(key);
	cache_entry *e, **slot;

	if (ttl_ms <= 0 || c->max_entries == 0 || strlen(key) + len + ENTRY_OVERHEAD > c->max_bytes)
		return ATT_OK;
	e = new_entry(key, h, value, len);
	if (e == NULL)
		return ATT_ENOMEM;
	e->meta = *meta;
	pthread_mutex_lock(&c->lock);
	if (epoch != c->epoch) {
		pthread_mutex_unlock(&c->lock);
		free(e->key);
		free(e->value);
		free(e);
		return ATT_OK;
	}
	e->expires_at = c->clock(c->clock_ctx) + ttl_ms;
	slot = find_slot(c, key, h);
	if (*slot != NULL)
		drop(c, slot);
	while (c->lru_tail != NULL &&
	       (c->stats.entries + 1 > c->max_entries || c->stats.bytes + e->cost > c->max_bytes)) {
		drop_entry(c, c->lru_tail);
		c->stats.evictions++;
	}
	slot = &c->buckets[h & (c->nbuckets - 1)];
	e->next_in_bucket = *slot;
	*slot = e;
	lru_push_front(c, e);
	c->stats.entries++;
	c->stats.bytes += e->cost;
	pthread_mutex_unlock(&c->lock);
	return ATT_OK;
}

int cache_remove(cache *c, const char *key)
{
	uint64_t h = hash_key(key);
	cache_entry **slot;
	int found = 0;

	pthread_mutex_lock(&c->lock);
	c->epoch++;
	slot = find_slot(c, key, h);
	if (*slot != NULL) {
		drop(c, slot);
		c->stats.invalidations++;
		found = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

size_t cache_clear(cache *c)
{
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	c->epoch++;
	while (c->lru_head) {
		drop_entry(c, c->lru_head);
		n++;
	}
	c->stats.invalidations += n;
	pthread_mutex_unlock(&c->lock);
	return n;
}

void cache_get_stats(cache *c, cache_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->lock);
}
