/* limiter: a small table of (key, count) under one mutex; a linear search
 * is enough for a thread count of slots. */
#include "limiter.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blocking.h"

/* limiter_hold_refusal: how long, and how many at once per slot. */
#define LIMITER_REFUSAL_HOLD_MS 250
#define LIMITER_REFUSALS_HELD_PER_SLOT 4

typedef struct limiter_slot {
	char key[LIMITER_KEY_MAX + 1];
	int count; /* 0 = free slot */
} limiter_slot;

struct limiter {
	pthread_mutex_t lock;
	int per_key;
	int nslots;
	limiter_slot *slots;
	atomic_int held_refusals; /* limiter_hold_refusal() sleepers now */
};

att_err limiter_create(int per_key, int slots, limiter **out)
{
	limiter *l = calloc(1, sizeof *l);

	if (l == NULL)
		return ATT_ENOMEM;
	l->per_key = per_key > 0 ? per_key : 1;
	l->nslots = slots > 0 ? slots : 1;
	l->slots = calloc((size_t)l->nslots, sizeof *l->slots);
	if (l->slots == NULL) {
		free(l);
		return ATT_ENOMEM;
	}
	pthread_mutex_init(&l->lock, NULL);
	*out = l;
	return ATT_OK;
}

void limiter_free(limiter *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l->slots);
	free(l);
}

/* The slot counting key, or NULL; lock held. */
static limiter_slot *find(limiter *l, const char *key)
{
	for (int i = 0; i < l->nslots; i++)
		if (l->slots[i].count > 0 && strncmp(l->slots[i].key, key, LIMITER_KEY_MAX) == 0)
			return &l->slots[i];
	return NULL;
}

/* A free slot, or NULL; lock held. */
static limiter_slot *find_free(limiter *l)
{
	for (int i = 0; i < l->nslots; i++)
		if (l->slots[i].count == 0)
			return &l->slots[i];
	return NULL;
}

int limiter_enter(limiter *l, const char *key)
{
	limiter_slot *s;
	int ok = 0;

	pthread_mutex_lock(&l->lock);
	s = find(l, key);
	if (s == NULL && (s = find_free(l)) != NULL) {
		strncpy(s->key, key, LIMITER_KEY_MAX);
		s->key[LIMITER_KEY_MAX] = '\0';
	}
	if (s != NULL && s->count < l->per_key) {
		s->count++;
		ok = 1;
	}
	pthread_mutex_unlock(&l->lock);
	return ok;
}

void limiter_leave(limiter *l, const char *key)
{
	limiter_slot *s;

	pthread_mutex_lock(&l->lock);
	s = find(l, key);
	if (s != NULL)
		s->count--;
	pthread_mutex_unlock(&l->lock);
}

int limiter_in_flight(limiter *l, const char *key)
{
	limiter_slot *s;
	int n;

	pthread_mutex_lock(&l->lock);
	s = find(l, key);
	n = s ? s->count : 0;
	pthread_mutex_unlock(&l->lock);
	return n;
}

void limiter_hold_refusal(limiter *l)
{
	struct timespec hold = {0, LIMITER_REFUSAL_HOLD_MS * 1000000L};
	int held = atomic_fetch_add(&l->held_refusals, 1);

	if (held < LIMITER_REFUSALS_HELD_PER_SLOT * l->nslots) {
		blocking_begin();
		while (nanosleep(&hold, &hold) != 0)
			;
		blocking_end();
	}
	atomic_fetch_sub(&l->held_refusals, 1);
}
