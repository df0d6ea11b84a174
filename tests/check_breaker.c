/* check_breaker: every transition of the circuit breaker on a fake clock,
 * and the one-probe rule under concurrent use. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "check_suites.h"
#include "log.h"

#define THRESHOLD 3
#define TIMEOUT_MS 1000

static long long fake_clock(void *ctx)
{
	return *(const long long *)ctx;
}

static breaker *new_breaker(long long *now)
{
	breaker *b = NULL;

	ck_assert_int_eq(breaker_create(THRESHOLD, TIMEOUT_MS, fake_clock, now, &b), ATT_OK);
	ck_assert_ptr_nonnull(b);
	return b;
}

static breaker_stats stats_of(breaker *b)
{
	breaker_stats s;

	breaker_get_stats(b, &s);
	return s;
}

/* Asserts that b's stats named in names (space-separated: "state",
 * "failures", "opened_count", "rejected") hold the values listed after. */
#define EXPECT_STATS(b, names, ...) expect_stats(b, names, CHECK_WANT(__VA_ARGS__))

static void expect_stats(breaker *b, const char *names, const long long *want, size_t n)
{
	breaker_stats s = stats_of(b);
	const check_field have[] = {
		{"state", s.state},
		{"failures", s.failures},
		{"opened_count", (long long)s.opened_count},
		{"rejected", (long long)s.rejected},
	};

	check_fields(have, CHECK_ROWS(have), names, want, n);
}

/* Asserts whether breaker_allow lets a call through and whether it is the
 * probe; returns the probe flag for breaker_success/failure/cancel. */
static int expect_allow(breaker *b, int allowed, int probe_want)
{
	int probe = -1;

	ck_assert_int_eq(breaker_allow(b, &probe), allowed);
	ck_assert_int_eq(probe, probe_want);
	return probe;
}

/* One allowed, non-probe call that fails (or succeeds). */
static void call(breaker *b, int ok)
{
	int probe = -1;

	ck_assert_int_eq(breaker_allow(b, &probe), 1);
	ck_assert_int_eq(probe, 0);
	if (ok)
		breaker_success(b, probe);
	else
		breaker_failure(b, probe, "test");
}

/* Fails THRESHOLD calls in a row from closed: the breaker opens. */
static void trip_it(breaker *b)
{
	for (int i = 0; i < THRESHOLD; i++)
		call(b, 0);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_OPEN);
}

START_TEST(test_breaker_starts_closed)
{
	long long now = 0;
	breaker *b = new_breaker(&now);

	EXPECT_STATS(b, "state failures opened_count rejected", BREAKER_CLOSED, 0, 0, 0);
	ck_assert_int_eq(breaker_retry_after_ms(b), 0);
	call(b, 1);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_CLOSED);
	breaker_free(b);
}
END_TEST

START_TEST(test_breaker_closed_below_threshold)
{
	long long now = 0;
	breaker *b = new_breaker(&now);

	for (int i = 0; i < THRESHOLD - 1; i++)
		call(b, 0);
	EXPECT_STATS(b, "state failures opened_count", BREAKER_CLOSED, THRESHOLD - 1, 0);
	ck_assert_int_eq(breaker_retry_after_ms(b), 0);
	call(b, 1); /* still lets calls through */
	breaker_free(b);
}
END_TEST

START_TEST(test_breaker_success_resets_count)
{
	long long now = 0;
	breaker *b = new_breaker(&now);

	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < THRESHOLD - 1; i++)
			call(b, 0);
		call(b, 1);
		ck_assert_int_eq(stats_of(b).failures, 0);
		ck_assert_int_eq(breaker_get_state(b), BREAKER_CLOSED);
	}
	ck_assert_uint_eq(stats_of(b).opened_count, 0);
	/* Only consecutive failures count: now THRESHOLD in a row open it. */
	trip_it(b);
	breaker_free(b);
}
END_TEST

START_TEST(test_breaker_opens_at_threshold)
{
	long long now = 5000;
	breaker *b = new_breaker(&now);
	int probe = -1;

	trip_it(b);
	EXPECT_STATS(b, "state opened_count rejected", BREAKER_OPEN, 1, 0);
	/* The first probe is due BREAKER_FIRST_PROBE_MS after opening. */
	ck_assert_int_eq(breaker_retry_after_ms(b), BREAKER_FIRST_PROBE_MS);
	/* Open: refuses, counts each refusal, and says when to come back. */
	expect_allow(b, 0, 0);
	ck_assert_int_eq(breaker_allow(b, &probe), 0);
	ck_assert_uint_eq(stats_of(b).rejected, 2);
	now += 100;
	ck_assert_int_eq(breaker_retry_after_ms(b), BREAKER_FIRST_PROBE_MS - 100);
	ck_assert_int_eq(breaker_allow(b, &probe), 0);
	now += BREAKER_FIRST_PROBE_MS - 100 - 1;
	ck_assert_int_eq(breaker_retry_after_ms(b), 1);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_OPEN);
	ck_assert_int_eq(breaker_allow(b, &probe), 0);
	EXPECT_STATS(b, "rejected opened_count", 4, 1);
	breaker_free(b);
}
END_TEST

/* The schedule: a fifth of the time open, at least 250 ms, at most the
 * timeout. */
START_TEST(test_breaker_probe_delay)
{
	ck_assert_int_eq(breaker_probe_delay_ms(0, 60000), BREAKER_FIRST_PROBE_MS);
	ck_assert_int_eq(breaker_probe_delay_ms(1000, 60000), BREAKER_FIRST_PROBE_MS);
	ck_assert_int_eq(breaker_probe_delay_ms(5000, 60000), 1000);
	ck_assert_int_eq(breaker_probe_delay_ms(10000, 60000), 2000);
	ck_assert_int_eq(breaker_probe_delay_ms(600000, 60000), 60000);
	ck_assert_int_eq(breaker_probe_delay_ms(0, 100), 100);
}
END_TEST

/* Failed probes back off: while the database stays down, the probes come
 * at 250 ms, then every fifth of the time open, and never further apart
 * than the timeout; so after an outage of T the breaker closes within
 * about T/5 of the database's return (at most the timeout). */
START_TEST(test_breaker_probes_back_off)
{
	long long now = 0, last_probe = 0;
	breaker *b = NULL;
	int probes = 0;

	ck_assert_int_eq(breaker_create(THRESHOLD, 60000, fake_clock, &now, &b), ATT_OK);
	trip_it(b);
	while (now < 10 * 60000) {
		int probe = 0;
		long long wait = breaker_retry_after_ms(b);

		now += wait;
		ck_assert_int_eq(breaker_get_state(b), BREAKER_HALF_OPEN);
		probe = expect_allow(b, 1, 1);
		if (probes > 0) {
			ck_assert_int_ge(now - last_probe, BREAKER_FIRST_PROBE_MS);
			ck_assert_int_le(now - last_probe, 60000);
			ck_assert_int_le(now - last_probe,
					 now / BREAKER_PROBE_FRACTION > BREAKER_FIRST_PROBE_MS
						 ? now / BREAKER_PROBE_FRACTION
						 : BREAKER_FIRST_PROBE_MS);
		}
		last_probe = now;
		probes++;
		breaker_failure(b, probe, "connection refused");
		ck_assert_int_eq(breaker_get_state(b), BREAKER_OPEN);
	}
	/* About 20 probes in the first minute, then one a minute. */
	ck_assert_int_ge(probes, 20);
	ck_assert_int_le(probes, 45);
	ck_assert_uint_eq(stats_of(b).opened_count, 1);
	breaker_free(b);
}
END_TEST

START_TEST(test_breaker_half_open_one_probe)
{
	long long now = 0;
	breaker *b = new_breaker(&now);
	int probe = -1;

	trip_it(b);
	now = TIMEOUT_MS; /* exactly at the timeout */
	ck_assert_int_eq(breaker_get_state(b), BREAKER_HALF_OPEN);
	ck_assert_int_eq(breaker_retry_after_ms(b), 0);
	ck_assert_str_eq(breaker_state_name(stats_of(b).state), "half_open");
	probe = expect_allow(b, 1, 1);
	/* While the probe is out every other call is refused. */
	for (int i = 0; i < 3; i++) {
		expect_allow(b, 0, 0);
	}
	now += 10 * TIMEOUT_MS; /* however long the probe takes */
	ck_assert_int_eq(breaker_allow(b, &(int){0}), 0);
	ck_assert_uint_eq(stats_of(b).rejected, 4);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_HALF_OPEN);
	breaker_success(b, probe);
	breaker_free(b);
}
END_TEST

START_TEST(test_breaker_probe_success_closes)
{
	long long now = 0;
	breaker *b = new_breaker(&now);
	int probe = 0;

	trip_it(b);
	now = TIMEOUT_MS;
	probe = expect_allow(b, 1, 1);
	breaker_success(b, probe);
	EXPECT_STATS(b, "state failures opened_count", BREAKER_CLOSED, 0, 1);
	ck_assert_int_eq(breaker_retry_after_ms(b), 0);
	/* Closed again: ordinary calls, and a full threshold to reopen. */
	for (int i = 0; i < 10; i++)
		call(b, 1);
	for (int i = 0; i < THRESHOLD - 1; i++)
		call(b, 0);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_CLOSED);
	call(b, 0);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_OPEN);
	ck_assert_uint_eq(stats_of(b).opened_count, 2);
	breaker_free(b);
}
END_TEST

START_TEST(test_breaker_probe_failure_reopens)
{
	long long now = 0;
	breaker *b = new_breaker(&now);
	breaker_stats s;
	int probe = 0;
	long long wait;

	trip_it(b);
	now = 3 * TIMEOUT_MS; /* long after the first probe was due */
	probe = expect_allow(b, 1, 1);
	now += 123; /* the probe took a while */
	breaker_failure(b, probe, "test");
	s = stats_of(b);
	ck_assert_int_eq(s.state, BREAKER_OPEN);
	/* A failed probe is not a new opening. */
	ck_assert_uint_eq(s.opened_count, 1);
	/* The next probe, counted from the failure. */
	wait = breaker_probe_delay_ms(now, TIMEOUT_MS);
	ck_assert_int_eq(breaker_retry_after_ms(b), wait);
	expect_allow(b, 0, 0);
	now += wait - 1;
	ck_assert_int_eq(breaker_retry_after_ms(b), 1);
	ck_assert_int_eq(breaker_allow(b, &probe), 0);
	now += 1;
	probe = expect_allow(b, 1, 1);
	breaker_success(b, probe);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_CLOSED);
	ck_assert_uint_eq(stats_of(b).opened_count, 1);
	breaker_free(b);
}
END_TEST

START_TEST(test_breaker_cancel_returns_probe)
{
	long long now = 0;
	breaker *b = new_breaker(&now);
	breaker_stats before, after;
	int probe = 0, p2 = 0;

	trip_it(b);
	now = TIMEOUT_MS;
	probe = expect_allow(b, 1, 1);
	ck_assert_int_eq(breaker_allow(b, &p2), 0);
	before = stats_of(b);
	breaker_cancel(b, probe);
	after = stats_of(b);
	ck_assert_int_eq(after.state, BREAKER_HALF_OPEN);
	ck_assert_int_eq(after.failures, before.failures);
	ck_assert_uint_eq(after.opened_count, before.opened_count);
	ck_assert_uint_eq(after.rejected, before.rejected);
	/* The slot is free again: exactly one new probe. */
	p2 = expect_allow(b, 1, 1);
	ck_assert_int_eq(breaker_allow(b, &probe), 0);
	breaker_cancel(b, p2);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_HALF_OPEN);
	breaker_free(b);
}
END_TEST

START_TEST(test_breaker_cancel_non_probe)
{
	long long now = 0;
	breaker *b = new_breaker(&now);
	int probe = -1;

	/* Closed: a cancelled call is no verdict either way. */
	for (int i = 0; i < THRESHOLD - 1; i++)
		call(b, 0);
	ck_assert_int_eq(breaker_allow(b, &probe), 1);
	breaker_cancel(b, probe);
	EXPECT_STATS(b, "state failures", BREAKER_CLOSED, THRESHOLD - 1);
	/* Half-open with the probe out: cancelling some other call does not
	 * hand out a second probe. */
	call(b, 0);
	now = TIMEOUT_MS;
	probe = expect_allow(b, 1, 1);
	breaker_cancel(b, 0);
	ck_assert_int_eq(breaker_allow(b, &(int){0}), 0);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_HALF_OPEN);
	breaker_failure(b, probe, "test");
	ck_assert_int_eq(breaker_get_state(b), BREAKER_OPEN);
	breaker_free(b);
}
END_TEST

/* A call let through while closed may report after the breaker opened and
 * went half-open. Whatever that late verdict does, no second probe may be
 * let through while the first is still out. */
START_TEST(test_breaker_late_verdict_keeps_single_probe)
{
	long long now = 0;
	breaker *b = new_breaker(&now);
	int late = -1, probe = 0, second_probe_at = -1;
	breaker_state state;

	ck_assert_int_eq(breaker_allow(b, &late), 1); /* a slow call */
	ck_assert_int_eq(late, 0);
	trip_it(b);
	now = TIMEOUT_MS;
	probe = expect_allow(b, 1, 1);
	breaker_success(b, late); /* the slow call reports now */
	for (int i = 0; i < 3 * THRESHOLD + 3 && second_probe_at < 0; i++) {
		int p = 0;

		if (breaker_allow(b, &p)) {
			if (p)
				second_probe_at = i;
			breaker_failure(b, p, "test");
		}
		now += TIMEOUT_MS;
	}
	breaker_failure(b, probe, "test");
	state = breaker_get_state(b);
	breaker_free(b); /* before asserting: no leak under CK_FORK=no */
	ck_assert_msg(second_probe_at < 0,
		      "a second probe was let through while the first was out "
		      "(call %d after the late verdict)",
		      second_probe_at);
	ck_assert_int_eq(state, BREAKER_OPEN);
}
END_TEST

START_TEST(test_breaker_threshold_one_and_bad)
{
	long long now = 0;
	breaker *b = NULL;

	/* A threshold below 1 behaves as 1. */
	ck_assert_int_eq(breaker_create(0, TIMEOUT_MS, fake_clock, &now, &b), ATT_OK);
	call(b, 0);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_OPEN);
	breaker_free(b);
	b = NULL;
	ck_assert_int_eq(breaker_create(1, TIMEOUT_MS, NULL, NULL, &b), ATT_OK);
	call(b, 1);
	call(b, 0);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_OPEN);
	ck_assert_int_gt(breaker_retry_after_ms(b), 0);
	ck_assert_int_le(breaker_retry_after_ms(b), TIMEOUT_MS);
	breaker_free(b);
}
END_TEST

START_TEST(test_breaker_state_name)
{
	ck_assert_str_eq(breaker_state_name(BREAKER_CLOSED), "closed");
	ck_assert_str_eq(breaker_state_name(BREAKER_OPEN), "open");
	ck_assert_str_eq(breaker_state_name(BREAKER_HALF_OPEN), "half_open");
	ck_assert_ptr_nonnull(breaker_state_name((breaker_state)42));
}
END_TEST

START_TEST(test_breaker_free_null)
{
	breaker_free(NULL);
}
END_TEST

/* ---------------------------------------------------------- concurrency */

#define HAMMER_THREADS 8
#define HAMMER_ITERS 20000

typedef struct hammer_shared {
	breaker *b;
	atomic_llong now;      /* fake clock, one tick per call */
	atomic_int probes_out; /* probes between allow and verdict */
	atomic_int max_probes_out;
	atomic_ullong probes;
	atomic_ullong allowed;
	atomic_ullong refused;
} hammer_shared;

typedef struct hammer_arg {
	hammer_shared *sh;
	unsigned seed;
} hammer_arg;

static long long hammer_clock(void *ctx)
{
	return atomic_load(&((hammer_shared *)ctx)->now);
}

static void note_max(atomic_int *max, int v)
{
	int cur = atomic_load(max);

	while (v > cur && !atomic_compare_exchange_weak(max, &cur, v))
		;
}

/* Keeps the call "in flight" for a while so that the other threads'
 * calls and verdicts overlap it: calls to the database take time and
 * verdicts arrive in any order. A spin, not sched_yield(): on a loaded
 * machine each yield hands the core to another process for a whole time
 * slice, and 480,000 calls of them outlasted the test's timeout in CI. */
static void hold(int n)
{
	for (volatile int spin = 0; spin < n * 64; spin++)
		;
}

static void *hammer(void *p)
{
	hammer_arg *a = p;
	hammer_shared *sh = a->sh;

	for (int i = 0; i < HAMMER_ITERS; i++) {
		int probe = 0;
		int r = rand_r(&a->seed);

		atomic_fetch_add(&sh->now, 1);
		if (!breaker_allow(sh->b, &probe)) {
			atomic_fetch_add(&sh->refused, 1);
			continue;
		}
		atomic_fetch_add(&sh->allowed, 1);
		if (probe) {
			atomic_fetch_add(&sh->probes, 1);
			note_max(&sh->max_probes_out, atomic_fetch_add(&sh->probes_out, 1) + 1);
		}
		hold(r % 64);
		/* Out of the count before the verdict hands the slot back. */
		if (probe)
			atomic_fetch_sub(&sh->probes_out, 1);
		switch (r % 8) {
		case 0:
			breaker_cancel(sh->b, probe);
			break;
		case 1:
		case 2:
		case 3:
			breaker_success(sh->b, probe);
			break;
		default:
			breaker_failure(sh->b, probe, NULL);
			break;
		}
	}
	return NULL;
}

/* Races are found by chance: a few rounds, each with a fresh breaker. */
#define HAMMER_ROUNDS 3

START_TEST(test_breaker_concurrent_single_probe)
{
	log_set_level(LOG_LVL_ERROR); /* thousands of transitions */
	for (int round = 0; round < HAMMER_ROUNDS; round++) {
		hammer_shared sh;
		hammer_arg args[HAMMER_THREADS];
		pthread_t th[HAMMER_THREADS];
		breaker_stats s;
		int max_out;

		memset(&sh, 0, sizeof sh);
		atomic_init(&sh.now, 0);
		atomic_init(&sh.probes_out, 0);
		atomic_init(&sh.max_probes_out, 0);
		atomic_init(&sh.probes, 0);
		atomic_init(&sh.allowed, 0);
		atomic_init(&sh.refused, 0);
		ck_assert_int_eq(breaker_create(3, 20, hammer_clock, &sh, &sh.b), ATT_OK);
		for (int i = 0; i < HAMMER_THREADS; i++) {
			args[i].sh = &sh;
			args[i].seed = 777u + (unsigned)round * 31u + (unsigned)i * 104729u;
			ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
		}
		for (int i = 0; i < HAMMER_THREADS; i++)
			ck_assert_int_eq(pthread_join(th[i], NULL), 0);
		s = stats_of(sh.b);
		breaker_free(sh.b); /* before asserting: no leak under CK_FORK=no */
		max_out = atomic_load(&sh.max_probes_out);
		ck_assert_msg(max_out == 1, "round %d: %d probes were in flight at once", round,
			      max_out);
		ck_assert_uint_gt(atomic_load(&sh.probes), 0);
		ck_assert_uint_gt(s.opened_count, 1);
		ck_assert_uint_eq(s.rejected, atomic_load(&sh.refused));
		ck_assert_uint_eq(atomic_load(&sh.allowed) + atomic_load(&sh.refused),
				  (unsigned long long)HAMMER_THREADS * HAMMER_ITERS);
	}
	log_set_level(LOG_LVL_INFO);
}
END_TEST

Suite *breaker_suite(void);
Suite *breaker_suite(void)
{
	Suite *s = suite_create("breaker");
	TCase *tc;

	tc = check_tcase(s, "transitions", NULL, NULL, test_breaker_starts_closed,
			 test_breaker_closed_below_threshold, test_breaker_success_resets_count,
			 test_breaker_opens_at_threshold, test_breaker_probe_delay,
			 test_breaker_probes_back_off, test_breaker_half_open_one_probe,
			 test_breaker_probe_success_closes, test_breaker_probe_failure_reopens,
			 test_breaker_cancel_returns_probe, test_breaker_cancel_non_probe,
			 test_breaker_late_verdict_keeps_single_probe,
			 test_breaker_threshold_one_and_bad, test_breaker_state_name,
			 test_breaker_free_null, NULL);

	tc = check_tcase(s, "concurrency", NULL, NULL, test_breaker_concurrent_single_probe, NULL);
	tcase_set_timeout(tc, 6 * CHECK_TIMEOUT_S);
	return s;
}
