/* breaker: closed / open / half-open under one mutex, with the probe
 * schedule of an open breaker. */
#include "breaker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

struct breaker {
	pthread_mutex_t lock;
	int threshold;
	long long timeout_ms; /* longest wait between two probes */
	clock_ms_fn clock;
	void *clock_ctx;
	breaker_state state;
	int failures;
	long long opened_at; /* when it last went from closed to open */
	long long probe_at;  /* when an open breaker lets the next probe through */
	int probe_out;	     /* a half-open probe is in flight */
	unsigned long long opened_count;
	unsigned long long rejected;
	log_limit probe_log; /* open -> half_open -> open lines */
};

/* The probe cycle's lines (open -> half_open, half_open -> open) of a
 * flapping database come at most this often; opening and closing are
 * always logged. */
#define BREAKER_PROBE_LOG_MS 5000

/* A transition to log once the lock is released. */
typedef struct transition {
	char line[320];
	int probe_cycle; /* rate-limited: a line of the probe cycle */
} transition;

/* Logs t (if any) at level, the probe cycle's lines rate-limited. */
static void log_transition(breaker *b, log_level level, const transition *t)
{
	unsigned suppressed = 0;

	if (!t->line[0])
		return;
	if (t->probe_cycle && !log_limit_allow(&b->probe_log, b->clock(b->clock_ctx),
					       BREAKER_PROBE_LOG_MS, &suppressed))
		return;
	if (suppressed > 0)
		log_msg(level, "%s (%u probe lines held back)", t->line, suppressed);
	else
		log_msg(level, "%s", t->line);
}

att_err breaker_create(int failure_threshold, long long timeout_ms, clock_ms_fn clock,
		       void *clock_ctx, breaker **out)
{
	breaker *b = calloc(1, sizeof *b);

	if (b == NULL)
		return ATT_ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	b->threshold = failure_threshold > 0 ? failure_threshold : 1;
	b->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
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

long long breaker_probe_delay_ms(long long open_for_ms, long long timeout_ms)
{
	long long delay = open_for_ms / BREAKER_PROBE_FRACTION;

	if (delay < BREAKER_FIRST_PROBE_MS)
		delay = BREAKER_FIRST_PROBE_MS;
	return delay < timeout_ms ? delay : timeout_ms;
}

/* Schedules the next probe of an open breaker; lock held. */
static void schedule_probe(breaker *b, long long now)
{
	b->state = BREAKER_OPEN;
	b->probe_out = 0;
	b->probe_at = now + breaker_probe_delay_ms(now - b->opened_at, b->timeout_ms);
}

/* Is an open breaker's probe due at now? Lock held. */
static int probe_due(const breaker *b, long long now)
{
	return b->state == BREAKER_OPEN && now >= b->probe_at;
}

int breaker_allow(breaker *b, int *probe)
{
	int allowed = 1;
	long long now;
	transition t = {"", 0};

	*probe = 0;
	pthread_mutex_lock(&b->lock);
	now = b->clock(b->clock_ctx);
	if (probe_due(b, now)) {
		b->state = BREAKER_HALF_OPEN;
		t.probe_cycle = 1;
		snprintf(t.line, sizeof t.line,
			 "breaker: open -> half_open: probing the database (open for %lld ms)",
			 now - b->opened_at);
	}
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
	log_transition(b, LOG_LVL_INFO, &t);
	return allowed;
}

/* Only the probe's verdict moves an open or half-open breaker; late
 * verdicts of calls let through before it opened are stale news. */
void breaker_success(breaker *b, int probe)
{
	transition t = {"", 0};

	pthread_mutex_lock(&b->lock);
	if (probe) {
		snprintf(t.line, sizeof t.line,
			 "breaker: half_open -> closed: probe succeeded (open for %lld ms)",
			 b->clock(b->clock_ctx) - b->opened_at);
		b->state = BREAKER_CLOSED;
		b->probe_out = 0;
		b->failures = 0;
	} else if (b->state == BREAKER_CLOSED) {
		b->failures = 0;
	}
	pthread_mutex_unlock(&b->lock);
	log_transition(b, LOG_LVL_INFO, &t);
}

void breaker_failure(breaker *b, int probe, const char *reason)
{
	transition t = {"", 0};
	long long now;

	if (reason == NULL || *reason == '\0')
		reason = "unknown";
	pthread_mutex_lock(&b->lock);
	now = b->clock(b->clock_ctx);
	if (probe) {
		b->failures++;
		schedule_probe(b, now);
		t.probe_cycle = 1;
		snprintf(t.line, sizeof t.line,
			 "breaker: half_open -> open: probe failed (%s); next probe in %lld ms",
			 reason, b->probe_at - now);
	} else if (b->state == BREAKER_CLOSED && ++b->failures >= b->threshold) {
		b->opened_at = now;
		b->opened_count++;
		schedule_probe(b, now);
		snprintf(t.line, sizeof t.line,
			 "breaker: closed -> open after %d consecutive failures (last: %s); "
			 "first probe in %lld ms",
			 b->failures, reason, b->probe_at - now);
	}
	pthread_mutex_unlock(&b->lock);
	log_transition(b, LOG_LVL_WARN, &t);
}

void breaker_cancel(breaker *b, int probe)
{
	if (!probe)
		return;
	pthread_mutex_lock(&b->lock);
	b->probe_out = 0;
	pthread_mutex_unlock(&b->lock);
}

void breaker_probe_now(breaker *b)
{
	pthread_mutex_lock(&b->lock);
	if (b->state == BREAKER_OPEN)
		b->probe_at = b->clock(b->clock_ctx);
	pthread_mutex_unlock(&b->lock);
}

long long breaker_retry_after_ms(breaker *b)
{
	long long left = 0;

	pthread_mutex_lock(&b->lock);
	if (b->state == BREAKER_OPEN) {
		left = b->probe_at - b->clock(b->clock_ctx);
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
	s = probe_due(b, b->clock(b->clock_ctx)) ? BREAKER_HALF_OPEN : b->state;
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
	case BREAKER_CLOSED:
		return "closed";
	case BREAKER_OPEN:
		return "open";
	case BREAKER_HALF_OPEN:
		return "half_open";
	}
	return "unknown";
}
