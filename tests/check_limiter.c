/* check_limiter: per-caller counts of requests in flight, and refusals held
 * back. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>

#include "blocking.h"
#include "check_suites.h"
#include "limiter.h"

START_TEST(test_limiter_per_key_cap)
{
	limiter *l = NULL;

	ck_assert_int_eq(limiter_create(2, 4, &l), ATT_OK);
	ck_assert_int_eq(limiter_enter(l, "alice"), 1);
	ck_assert_int_eq(limiter_enter(l, "alice"), 1);
	/* The third of one caller is refused, another caller is not. */
	ck_assert_int_eq(limiter_enter(l, "alice"), 0);
	ck_assert_int_eq(limiter_enter(l, "bob"), 1);
	ck_assert_int_eq(limiter_in_flight(l, "alice"), 2);
	ck_assert_int_eq(limiter_in_flight(l, "bob"), 1);
	limiter_leave(l, "alice");
	ck_assert_int_eq(limiter_enter(l, "alice"), 1);
	limiter_leave(l, "alice");
	limiter_leave(l, "alice");
	limiter_leave(l, "bob");
	ck_assert_int_eq(limiter_in_flight(l, "alice"), 0);
	ck_assert_int_eq(limiter_in_flight(l, "bob"), 0);
	limiter_free(l);
}
END_TEST

/* Keys are compared in full (up to LIMITER_KEY_MAX bytes): a prefix is
 * another caller. Slots free up when a caller's count drops to 0. */
START_TEST(test_limiter_keys_and_slots)
{
	limiter *l = NULL;

	ck_assert_int_eq(limiter_create(1, 2, &l), ATT_OK);
	ck_assert_int_eq(limiter_enter(l, "00000000-0000-4000-8000-000000000001"), 1);
	ck_assert_int_eq(limiter_enter(l, "00000000-0000-4000-8000-00000000000"), 1);
	/* Both slots taken: a third caller waits for one. */
	ck_assert_int_eq(limiter_enter(l, "carol"), 0);
	limiter_leave(l, "00000000-0000-4000-8000-000000000001");
	ck_assert_int_eq(limiter_enter(l, "carol"), 1);
	/* Leaving a key that is not in flight changes nothing. */
	limiter_leave(l, "nobody");
	ck_assert_int_eq(limiter_in_flight(l, "carol"), 1);
	limiter_free(l);
	limiter_free(NULL);
}
END_TEST

#define THREADS 8
#define ITERS 20000

typedef struct shared {
	limiter *l;
	atomic_int in_flight;
	atomic_int max_seen;
} shared;

static void *hammer(void *p)
{
	shared *sh = p;

	for (int i = 0; i < ITERS; i++) {
		if (!limiter_enter(sh->l, "same"))
			continue;
		int now = atomic_fetch_add(&sh->in_flight, 1) + 1;
		int max = atomic_load(&sh->max_seen);

		while (now > max && !atomic_compare_exchange_weak(&sh->max_seen, &max, now))
			;
		atomic_fetch_sub(&sh->in_flight, 1);
		limiter_leave(sh->l, "same");
	}
	return NULL;
}

/* Under contention one caller never has more than its cap in flight. */
START_TEST(test_limiter_concurrent_cap)
{
	shared sh = {NULL, 0, 0};
	pthread_t th[THREADS];

	ck_assert_int_eq(limiter_create(3, THREADS, &sh.l), ATT_OK);
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, &sh), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_le(atomic_load(&sh.max_seen), 3);
	ck_assert_int_ge(atomic_load(&sh.max_seen), 1);
	ck_assert_int_eq(limiter_in_flight(sh.l, "same"), 0);
	limiter_free(sh.l);
}
END_TEST

/* limiter_hold_refusal parks its thread (blocking_begin ... blocking_end) while
 * it holds a refusal back, and holds at most 4 x slots at once: with
 * one slot, of 6 refusals at once 4 are held and 2 answered at once. */
static atomic_int parked_now, parked_most, begins;

static void count_begin(void *arg)
{
	int now = atomic_fetch_add(&parked_now, 1) + 1;

	(void)arg;
	atomic_fetch_add(&begins, 1);
	for (int most = atomic_load(&parked_most);
	     now > most && !atomic_compare_exchange_weak(&parked_most, &most, now);)
		;
}

static void count_end(void *arg)
{
	(void)arg;
	atomic_fetch_sub(&parked_now, 1);
}

/* The 6 refusals start together, so that they are at once even on a
 * loaded machine or under valgrind, which runs one thread at a time. */
static pthread_barrier_t start_together;

static void *hold_one(void *arg)
{
	static const blocking_hooks hooks = {count_begin, count_end, NULL};

	blocking_set_hooks(&hooks);
	pthread_barrier_wait(&start_together);
	limiter_hold_refusal(arg);
	blocking_set_hooks(NULL);
	return NULL;
}

START_TEST(test_limiter_hold_refusal_parks_and_is_bounded)
{
	limiter *a = NULL;
	pthread_t t[6];

	ck_assert_int_eq(limiter_create(1, 1, &a), ATT_OK);
	ck_assert_int_eq(pthread_barrier_init(&start_together, NULL, 6), 0);
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, hold_one, a), 0);
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start_together);
	ck_assert_int_le(atomic_load(&begins), 4);
	ck_assert_int_ge(atomic_load(&begins), 1);
	ck_assert_int_le(atomic_load(&parked_most), 4);
	ck_assert_int_eq(atomic_load(&parked_now), 0);
	limiter_free(a);
}
END_TEST

void limiter_cases(Suite *s)
{
	check_tcase(s, "counts", NULL, NULL, test_limiter_per_key_cap, test_limiter_keys_and_slots,
		    test_limiter_concurrent_cap, test_limiter_hold_refusal_parks_and_is_bounded,
		    NULL);
}
