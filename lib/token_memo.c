/* token_memo: a set-associative memo of verified tokens. */
#include "token_memo.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 2
#define LOCKS 64

typedef struct entry {
	char token[TOKEN_MEMO_MAX_TOKEN];
	size_t len; /* 0: empty */
	unsigned char tag[TOKEN_MEMO_TAG_LEN];
	unsigned char value[TOKEN_MEMO_MAX_VALUE];
} entry;

struct token_memo {
	size_t sets;
	size_t value_size;
	entry *entries;	    /* sets * WAYS */
	unsigned char *mru; /* per set: the way used last */
	pthread_mutex_t locks[LOCKS];
	atomic_ullong hits, misses;
};

static unsigned long long fnv1a(const char *p, size_t n)
{
	unsigned long long h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

att_err token_memo_create(size_t slots, size_t value_size, token_memo **out)
{
	token_memo *m;

	*out = NULL;
	if (slots < WAYS || value_size > TOKEN_MEMO_MAX_VALUE)
		return ATT_EINVAL;
	m = calloc(1, sizeof *m);
	if (m == NULL)
		return ATT_ENOMEM;
	m->sets = (slots + WAYS - 1) / WAYS;
	m->value_size = value_size;
	m->entries = calloc(m->sets * WAYS, sizeof *m->entries);
	m->mru = calloc(m->sets, 1);
	if (m->entries == NULL || m->mru == NULL) {
		token_memo_free(m);
		return ATT_ENOMEM;
	}
	for (int i = 0; i < LOCKS; i++)
		pthread_mutex_init(&m->locks[i], NULL);
	*out = m;
	return ATT_OK;
}

void token_memo_free(token_memo *m)
{
	if (m == NULL)
		return;
	if (m->entries != NULL && m->mru != NULL)
		for (int i = 0; i < LOCKS; i++)
			pthread_mutex_destroy(&m->locks[i]);
	free(m->entries);
	free(m->mru);
	free(m);
}

int token_memo_find(token_memo *m, const char *token, size_t len, const unsigned char *tag,
		    void *value)
{
	size_t set;
	int found = 0;

	if (m == NULL)
		return 0;
	set = fnv1a(token, len) % m->sets;
	pthread_mutex_lock(&m->locks[set % LOCKS]);
	for (int way = 0; way < WAYS && !found; way++) {
		const entry *e = &m->entries[set * WAYS + (size_t)way];

		if (e->len == len && memcmp(e->tag, tag, TOKEN_MEMO_TAG_LEN) == 0 &&
		    memcmp(e->token, token, len) == 0) {
			memcpy(value, e->value, m->value_size);
			m->mru[set] = (unsigned char)way;
			found = 1;
		}
	}
	pthread_mutex_unlock(&m->locks[set % LOCKS]);
	atomic_fetch_add(found ? &m->hits : &m->misses, 1);
	return found;
}

void token_memo_store(token_memo *m, const char *token, size_t len, const unsigned char *tag,
		      const void *value)
{
	size_t set;
	entry *e;

	if (m == NULL || len == 0 || len > TOKEN_MEMO_MAX_TOKEN)
		return;
	set = fnv1a(token, len) % m->sets;
	pthread_mutex_lock(&m->locks[set % LOCKS]);
	m->mru[set] = m->mru[set] == 0 ? 1 : 0; /* the less recently used */
	e = &m->entries[set * WAYS + m->mru[set]];
	memcpy(e->token, token, len);
	e->len = len;
	memcpy(e->tag, tag, TOKEN_MEMO_TAG_LEN);
	memcpy(e->value, value, m->value_size);
	pthread_mutex_unlock(&m->locks[set % LOCKS]);
}

void token_memo_clear(token_memo *m)
{
	if (m == NULL)
		return;
	for (size_t set = 0; set < m->sets; set++) {
		pthread_mutex_lock(&m->locks[set % LOCKS]);
		for (int way = 0; way < WAYS; way++)
			m->entries[set * WAYS + (size_t)way].len = 0;
		pthread_mutex_unlock(&m->locks[set % LOCKS]);
	}
}

void token_memo_stats(const token_memo *m, unsigned long long *hits, unsigned long long *misses)
{
	*hits = m != NULL ? atomic_load(&m->hits) : 0;
	*misses = m != NULL ? atomic_load(&m->misses) : 0;
}
