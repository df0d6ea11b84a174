/* breaker: closed / open / half-open under one mutex. */
#include "breaker.h"

#include <pthread.h>
#include <stdlib.h>

struct breaker {
	pthread_mutex_t lock;
	int threshold;
	long long timeout_ms;
	clock_ms_fn clock;
	void *clock_ctx;
	breaker_state state;
	int failures;
	long long opened_at;
	int probe_out;          /* a half-open probe is in flight */
	unsigned long long opened_count;
	unsigned long long rejected;
};

att_err breaker_create(int failure_threshold, long long timeout_ms,
		       clock_ms_fn clock, void *clock_ctx, breaker **out)
{
	breaker *b = calloc(1, sizeof *b);

	if (b == NULL)
		return ATT_ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	b->threshold = failure_threshold > 0 ? failure_threshold : 1;
	b->timeout_ms = timeout_ms;
	b->clock = clock ? clock : clock_monotonic_ms;
	b->clock_ctx = clock_ctx;
	b->state = BREAKER_CLOSED;
	*out = b;
	return ATT_OK;
}

void breaker_free(breaker *b)
{
	if (b == NULL)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* Opens (or reopens) the breaker; lock held. */
static void trip(breaker *b)
{
	b->state = BREAKER_OPEN;
	b->opened_at = b->clock(b->clock_ctx);
	b->opened_count++;
	b->probe_out = 0;
}

int breaker_allow(breaker *b, int *probe)
{
	int allowed = 1;

	*probe = 0;
	pthread_mutex_lock(&b->lock);
	if (b->state == BREAKER_OPEN &&
	    b->clock(b->clock_ctx) - b->opened_at >= b->timeout_ms)
		b->state = BREAKER_HALF_OPEN;
	if (b->state == BREAKER_HALF_OPEN) {
		if (b->probe_out) {
			allowed = 0;
		} else {
			b->probe_out = 1;
			*probe = 1;
		}
	} else if (b->state == BREAKER_OPEN) {
		allowed = 0;
	}
	if (!allowed)
		b->rejected++;
	pthread_mutex_unlock(&b->lock);
	return allowed;
}

/* Only the probe's verdict moves an open or half-open breaker; late
 * verdicts of calls let through before it opened are stale news. */
void breaker_success(breaker *b, int probe)
{
	pthread_mutex_lock(&b->lock);
	if (probe) {
		b->state = BREAKER_CLOSED;
		b->probe_out = 0;
		b->failures = 0;
	} else if (b->state == BREAKER_CLOSED) {
		b->failures = 0;
	}
	pthread_mutex_unlock(&b->lock);
}

void breaker_failure(breaker *b, int probe)
{
	pthread_mutex_lock(&b->lock);
	if (probe) {
		b->failures++;
		trip(b);
	} else if (b->state == BREAKER_CLOSED && ++b->failures >= b->threshold) {
		trip(b);
	}
	pthread_mutex_unlock(&b->lock);
}

void breaker_cancel(breaker *b, int probe)
{
	if (!probe)
		return;
	pthread_mutex_lock(&b->lock);
	b->probe_out = 0;
	pthread_mutex_unlock(&b->lock);
}

long long breaker_retry_after_ms(breaker *b)
{
	long long left = 0;

	pthread_mutex_lock(&b->lock);
	if (b->state == BREAKER_OPEN) {
		left = b->timeout_ms - (b->clock(b->clock_ctx) - b->opened_at);
		if (left < 0)
			left = 0;
	}
	pthread_mutex_unlock(&b->lock);
	return left;
}

breaker_state breaker_get_state(breaker *b)
{
	breaker_state s;

	pthread_mutex_lock(&b->lock);
	s = b->state;
	if (s == BREAKER_OPEN && b->clock(b->clock_ctx) - b->opened_at >= b->timeout_ms)
		s = BREAKER_HALF_OPEN;
	pthread_mutex_unlock(&b->lock);
	return s;
}

void breaker_get_stats(breaker *b, breaker_stats *out)
{
	out->state = breaker_get_state(b);
	pthread_mutex_lock(&b->lock);
	out->failures = b->failures;
	out->opened_count = b->opened_count;
	out->rejected = b->rejected;
	pthread_mutex_unlock(&b->lock);
}

const char *breaker_state_name(breaker_state state)
{
	switch (state) {
	case BREAKER_CLOSED: return "closed";
	case BREAKER_OPEN: return "open";
	case BREAKER_HALF_OPEN: return "half_open";
	}
	return "unknown";
}
