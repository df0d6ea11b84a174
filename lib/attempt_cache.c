/* attempt_cache: cached attempt reads, write stamps and the change listener. */
#include "attempt_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempt_view.h"
#include "log.h"
#include "uuid.h"
#include "write_stamps.h"

static const char *const attempt_cache_channels[] = {"attempts_changed", "attempts_clear_cache",
						     NULL};

struct attempt_cache {
	cache *cache;
	breaker *breaker;
	write_stamps *stamps; /* NULL in one-shot mode */
	listener *listener;   /* NULL in one-shot mode: the cache is never used */
};

/* Builds a cache key "<kind>:<id>" into out (size n). */
static void cache_key(char *out, size_t n, const char *kind, const char *id)
{
	snprintf(out, n, "%s:%s", kind, id);
}

/* Drops this process's cached entries of one attempt. */
static void invalidate_attempt(attempt_cache *ac, const char *attempt_id)
{
	char key[96];

	cache_key(key, sizeof key, "state", attempt_id);
	cache_remove(ac->cache, key);
	cache_key(key, sizeof key, "info", attempt_id);
	cache_remove(ac->cache, key);
}

/* Drops this process's cached entries of the attempts of a change
 * notification: one id, or several comma-separated (a statement that
 * changed many, sql/003_changes_per_statement.sql). */
static void invalidate_attempts(attempt_cache *ac, const char *payload)
{
	char id[40];

	while (*payload != '\0') {
		size_t n = strcspn(payload, ",");

		if (n < sizeof id) {
			memcpy(id, payload, n);
			id[n] = '\0';
			invalidate_attempt(ac, id);
		}
		payload += n;
		if (*payload == ',')
			payload++;
	}
}

static void on_notify(void *arg, const char *channel, const char *payload)
{
	attempt_cache *ac = arg;

	if (strcmp(channel, "attempts_changed") == 0)
		invalidate_attempts(ac, payload);
	else if (strcmp(channel, "attempts_clear_cache") == 0)
		cache_clear(ac->cache);
}

static void on_reset(void *arg)
{
	cache_clear(((attempt_cache *)arg)->cache);
}

/* This host's shared write stamps; a private table (read-your-writes
 * across workers then rests on LISTEN/NOTIFY alone) if it cannot be had. */
static att_err open_write_stamps(attempt_cache *ac)
{
	char name[64];

	write_stamps_default_name(name, sizeof name);
	if (write_stamps_open(name, &ac->stamps) == ATT_OK)
		return ATT_OK;
	log_warn("write stamps: cannot map shared memory %s; other workers' writes "
		 "reach this cache through the listener only",
		 name);
	return write_stamps_open(NULL, &ac->stamps);
}

att_err attempt_cache_create(cache *c, breaker *b, const char *conninfo, attempt_cache **out)
{
	attempt_cache *ac = calloc(1, sizeof *ac);
	listener_callbacks cb = {on_notify, on_reset, ac};
	att_err err = ATT_OK;

	if (ac == NULL)
		return ATT_ENOMEM;
	ac->cache = c;
	ac->breaker = b;
	if (conninfo != NULL)
		err = open_write_stamps(ac);
	if (err == ATT_OK && conninfo != NULL)
		err = listener_create(conninfo, attempt_cache_channels, &cb, &ac->listener);
	if (err != ATT_OK) {
		attempt_cache_free(ac);
		return err;
	}
	*out = ac;
	return ATT_OK;
}

void attempt_cache_free(attempt_cache *ac)
{
	if (ac == NULL)
		return;
	listener_free(ac->listener);
	write_stamps_close(ac->stamps);
	free(ac);
}

listener *attempt_cache_listener(const attempt_cache *ac)
{
	return ac->listener;
}

int attempt_cache_catch_up(attempt_cache *ac)
{
	if (ac->listener == NULL)
		return 0;
	if (listener_drain(ac->listener))
		return 1;
	/* The listener is down. While the breaker is open the database is
	 * unreachable for every worker, so nothing can change what is cached:
	 * cached reads keep answering (API.md section 8). Otherwise another
	 * worker may be writing unseen: bypass the cache. The reconnect
	 * empties it. */
	return ac->breaker != NULL && breaker_get_state(ac->breaker) != BREAKER_CLOSED;
}

void attempt_cache_note_write(attempt_cache *ac, const char *attempt_id)
{
	write_stamps_bump(ac->stamps, attempt_id);
	invalidate_attempt(ac, attempt_id);
}

unsigned attempt_cache_stamp(attempt_cache *ac, const char *attempt_id)
{
	return write_stamps_read(ac->stamps, attempt_id);
}

unsigned long long attempt_cache_writes_total(attempt_cache *ac)
{
	return write_stamps_total(ac->stamps);
}

int attempt_cache_get(attempt_cache *ac, const char *kind, const char *attempt_id, char **text,
		      size_t *len, cache_meta *meta)
{
	char key[96];

	cache_key(key, sizeof key, kind, attempt_id);
	if (!cache_get(ac->cache, key, text, len, meta))
		return 0;
	if (meta->write_stamp == write_stamps_read(ac->stamps, attempt_id))
		return 1;
	free(*text);
	*text = NULL;
	return 0;
}

void attempt_cache_put(attempt_cache *ac, const char *kind, const char *attempt_id,
		       const char *text, size_t len, const cache_meta *meta, long long ttl_ms,
		       unsigned long long epoch)
{
	char key[96];

	cache_key(key, sizeof key, kind, attempt_id);
	if (cache_put(ac->cache, key, text, len, meta, ttl_ms, epoch) != ATT_OK)
		log_warn("cache: cannot store %s", key);
}

void attempt_cache_put_state(attempt_cache *ac, const char *text, size_t len, long long ttl_ms,
			     unsigned long long epoch, unsigned stamp)
{
	char id[UUID_STR_LEN + 1];
	cache_meta meta;

	if (!attempt_view_describe(text, len, &meta, id))
		return;
	meta.write_stamp = stamp;
	attempt_cache_put(ac, "state", id, text, len, &meta, ttl_ms, epoch);
}
