/* check_breaker: every transition of the circuit breaker on a fake clock,
 * and the one-probe rule under concurrent use. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "check_suites.h"
#include "log.h"

#define THRESHOLD 3
#define TIMEOUT_MS 1000

/* The fixture: b, on the fake clock now; each test starts at 0 with a
 * breaker of THRESHOLD and TIMEOUT_MS. */
static long long now;
static breaker *b;

/* Replaces b with a breaker of threshold and timeout_ms on now. */
static void make_breaker(int threshold, long long timeout_ms)
{
	breaker_free(b);
	b = NULL;
	ck_assert_int_eq(breaker_create(threshold, timeout_ms, check_fake_clock, &now, &b), ATT_OK);
	ck_assert_ptr_nonnull(b);
}

static void setup(void)
{
	now = 0;
	make_breaker(THRESHOLD, TIMEOUT_MS);
}

static void teardown(void)
{
	breaker_free(b);
	b = NULL;
}

/* Asserts that b's stats named in names (space-separated: "state",
 * "failures", "opened_count", "rejected") hold the values listed after. */
#define EXPECT_STATS(names, ...) expect_stats(names, CHECK_WANT(__VA_ARGS__))

static void expect_stats(const char *names, const long long *want, size_t n)
{
	breaker_stats s;

	breaker_get_stats(b, &s);
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
static int expect_allow(int allowed, int probe_want)
{
	int probe = -1;

	ck_assert_int_eq(breaker_allow(b, &probe), allowed);
	ck_assert_int_eq(probe, probe_want);
	return probe;
}

/* One allowed, non-probe call that fails (or succeeds). */
static void call(int ok)
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
static void trip_it(void)
{
	for (int i = 0; i < THRESHOLD; i++)
		call(0);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_OPEN);
}

START_TEST(test_breaker_starts_closed)
{

	EXPECT_STATS("state failures opened_count rejected", BREAKER_CLOSED, 0, 0, 0);
	ck_assert_int_eq(breaker_retry_after_ms(b), 0);
	call(1);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_CLOSED);
}
END_TEST

START_TEST(test_breaker_closed_below_threshold)
{

	for (int i = 0; i < THRESHOLD - 1; i++)
		call(0);
	EXPECT_STATS("state failures opened_count", BREAKER_CLOSED, THRESHOLD - 1, 0);
	ck_assert_int_eq(breaker_retry_after_ms(b), 0);
	call(1); /* still lets calls through */
}
END_TEST

START_TEST(test_breaker_success_resets_count)
{

	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < THRESHOLD - 1; i++)
			call(0);
		call(1);
		EXPECT_STATS("failures", 0);
		ck_assert_int_eq(breaker_get_state(b), BREAKER_CLOSED);
	}
	EXPECT_STATS("opened_count", 0);
	/* Only consecutive failures count: now THRESHOLD in a row open it. */
	trip_it();
}
END_TEST

START_TEST(test_breaker_opens_at_threshold)
{
	int probe = -1;

	now = 5000;
	trip_it();
	EXPECT_STATS("state opened_count rejected", BREAKER_OPEN, 1, 0);
	/* The first probe is due BREAKER_FIRST_PROBE_MS after opening. */
	ck_assert_int_eq(breaker_retry_after_ms(b), BREAKER_FIRST_PROBE_MS);
	/* Open: refuses, counts each refusal, and says when to come back. */
	expect_allow(0, 0);
	ck_assert_int_eq(breaker_allow(b, &probe), 0);
	EXPECT_STATS("rejected", 2);
	now += 100;
	ck_assert_int_eq(breaker_retry_after_ms(b), BREAKER_FIRST_PROBE_MS - 100);
	ck_assert_int_eq(breaker_allow(b, &probe), 0);
	now += BREAKER_FIRST_PROBE_MS - 100 - 1;
	ck_assert_int_eq(breaker_retry_after_ms(b), 1);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_OPEN);
	ck_assert_int_eq(breaker_allow(b, &probe), 0);
	EXPECT_STATS("rejected opened_count", 4, 1);
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
	long long last_probe = 0;
	int probes = 0;

	make_breaker(THRESHOLD, 60000);
	trip_it();
	while (now < 10 * 60000) {
		int probe = 0;
		long long wait = breaker_retry_after_ms(b);

		now += wait;
		ck_assert_int_eq(breaker_get_state(b), BREAKER_HALF_OPEN);
		probe = expect_allow(1, 1);
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
	EXPECT_STATS("opened_count", 1);
}
END_TEST

START_TEST(test_breaker_half_open_one_probe)
{
	int probe = -1;

	trip_it();
	now = TIMEOUT_MS; /* exactly at the timeout */
	ck_assert_int_eq(breaker_get_state(b), BREAKER_HALF_OPEN);
	ck_assert_int_eq(breaker_retry_after_ms(b), 0);
	ck_assert_str_eq(breaker_state_name(breaker_get_state(b)), "half_open");
	probe = expect_allow(1, 1);
	/* While the probe is out every other call is refused. */
	for (int i = 0; i < 3; i++) {
		expect_allow(0, 0);
	}
	now += 10 * TIMEOUT_MS; /* however long the probe takes */
	ck_assert_int_eq(breaker_allow(b, &(int){0}), 0);
	EXPECT_STATS("rejected", 4);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_HALF_OPEN);
	breaker_success(b, probe);
}
END_TEST

START_TEST(test_breaker_probe_success_closes)
{
	int probe = 0;

	trip_it();
	now = TIMEOUT_MS;
	probe = expect_allow(1, 1);
	breaker_success(b, probe);
	EXPECT_STATS("state failures opened_count", BREAKER_CLOSED, 0, 1);
	ck_assert_int_eq(breaker_retry_after_ms(b), 0);
	/* Closed again: ordinary calls, and a full threshold to reopen. */
	for (int i = 0; i < 10; i++)
		call(1);
	for (int i = 0; i < THRESHOLD - 1; i++)
		call(0);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_CLOSED);
	call(0);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_OPEN);
	EXPECT_STATS("opened_count", 2);
}
END_TEST

START_TEST(test_breaker_probe_failure_reopens)
{
	int probe = 0;
	long long wait;

	trip_it();
	now = 3 * TIMEOUT_MS; /* long after the first probe was due */
	probe = expect_allow(1, 1);
	now += 123; /* the probe took a while */
	breaker_failure(b, probe, "test");
	/* A failed probe is not a new opening. */
	EXPECT_STATS("state opened_count", BREAKER_OPEN, 1);
	/* The next probe, counted from the failure. */
	wait = breaker_probe_delay_ms(now, TIMEOUT_MS);
	ck_assert_int_eq(breaker_retry_after_ms(b), wait);
	expect_allow(0, 0);
	now += wait - 1;
	ck_assert_int_eq(breaker_retry_after_ms(b), 1);
	ck_assert_int_eq(breaker_allow(b, &probe), 0);
	now += 1;
	probe = expect_allow(1, 1);
	breaker_success(b, probe);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_CLOSED);
	EXPECT_STATS("opened_count", 1);
}
END_TEST

START_TEST(test_breaker_cancel_returns_probe)
{
	breaker_stats before, after;
	int probe = 0, p2 = 0;

	trip_it();
	now = TIMEOUT_MS;
	probe = expect_allow(1, 1);
	ck_assert_int_eq(breaker_allow(b, &p2), 0);
	breaker_get_stats(b, &before);
	breaker_cancel(b, probe);
	breaker_get_stats(b, &after);
	ck_assert_int_eq(after.state, BREAKER_HALF_OPEN);
	ck_assert_int_eq(after.failures, before.failures);
	ck_assert_uint_eq(after.opened_count, before.opened_count);
	ck_assert_uint_eq(after.rejected, before.rejected);
	/* The slot is free again: exactly one new probe. */
	p2 = expect_allow(1, 1);
	ck_assert_int_eq(breaker_allow(b, &probe), 0);
	breaker_cancel(b, p2);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_HALF_OPEN);
}
END_TEST

START_TEST(test_breaker_cancel_non_probe)
{
	int probe = -1;

	/* Closed: a cancelled call is no verdict either way. */
	for (int i = 0; i < THRESHOLD - 1; i++)
		call(0);
	ck_assert_int_eq(breaker_allow(b, &probe), 1);
	breaker_cancel(b, probe);
	EXPECT_STATS("state failures", BREAKER_CLOSED, THRESHOLD - 1);
	/* Half-open with the probe out: cancelling some other call does not
	 * hand out a second probe. */
	call(0);
	now = TIMEOUT_MS;
	probe = expect_allow(1, 1);
	breaker_cancel(b, 0);
	ck_assert_int_eq(breaker_allow(b, &(int){0}), 0);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_HALF_OPEN);
	breaker_failure(b, probe, "test");
	ck_assert_int_eq(breaker_get_state(b), BREAKER_OPEN);
}
END_TEST

/* A call let through while closed may report after the breaker opened and
 * went half-open. Whatever that late verdict does, no second probe may be
 * let through while the first is still out. */
START_TEST(test_breaker_late_verdict_keeps_single_probe)
{
	int late = -1, probe = 0, second_probe_at = -1;
	breaker_state state;

	ck_assert_int_eq(breaker_allow(b, &late), 1); /* a slow call */
	ck_assert_int_eq(late, 0);
	trip_it();
	now = TIMEOUT_MS;
	probe = expect_allow(1, 1);
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
	ck_assert_msg(second_probe_at < 0,
		      "a second probe was let through while the first was out "
		      "(call %d after the late verdict)",
		      second_probe_at);
	ck_assert_int_eq(state, BREAKER_OPEN);
}
END_TEST

START_TEST(test_breaker_threshold_one_and_bad)
{
	/* A threshold below 1 behaves as 1. */
	make_breaker(0, TIMEOUT_MS);
	call(0);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_OPEN);
	breaker_free(b);
	b = NULL;
	ck_assert_int_eq(breaker_create(1, TIMEOUT_MS, NULL, NULL, &b), ATT_OK);
	call(1);
	call(0);
	ck_assert_int_eq(breaker_get_state(b), BREAKER_OPEN);
	ck_assert_int_gt(breaker_retry_after_ms(b), 0);
	ck_assert_int_le(breaker_retry_after_ms(b), TIMEOUT_MS);
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

/* One call of a hammer thread: allowed or refused, then held, then a
 * random verdict. */
static void hammer_call(check_thread *t, int i)
{
	hammer_shared *sh = t->shared;
	int probe = 0;
	int r = rand_r(&t->seed);

	(void)i;
	atomic_fetch_add(&sh->now, 1);
	if (!breaker_allow(sh->b, &probe)) {
		atomic_fetch_add(&sh->refused, 1);
		return;
	}
	atomic_fetch_add(&sh->allowed, 1);
	if (probe) {
		atomic_fetch_add(&sh->probes, 1);
		check_note_max(&sh->max_probes_out, atomic_fetch_add(&sh->probes_out, 1) + 1);
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

/* Races are found by chance: a few rounds, each with a fresh breaker. */
#define HAMMER_ROUNDS 3

START_TEST(test_breaker_concurrent_single_probe)
{
	log_set_level(LOG_LVL_ERROR); /* thousands of transitions */
	for (int round = 0; round < HAMMER_ROUNDS; round++) {
		hammer_shared sh = {0};
		breaker_stats s;
		int max_out;

		ck_assert_int_eq(breaker_create(3, 20, check_atomic_clock, &sh.now, &sh.b), ATT_OK);
		check_threads(HAMMER_THREADS, HAMMER_ITERS, hammer_call, &sh,
			      777u + (unsigned)round * 104729u);
		breaker_get_stats(sh.b, &s);
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

void breaker_cases(Suite *s)
{
	TCase *tc;

	check_tcase(s, "transitions", setup, teardown, test_breaker_starts_closed,
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
}
