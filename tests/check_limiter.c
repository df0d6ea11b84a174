/* check_limiter: per-caller counts of requests in flight. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>

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

Suite *limiter_suite(void)
{
	Suite *s = suite_create("limiter");
	TCase *tc = tcase_create("counts");

	tcase_set_timeout(tc, CHECK_TIMEOUT_S);
	tcase_add_test(tc, test_limiter_per_key_cap);
	tcase_add_test(tc, test_limiter_keys_and_slots);
	tcase_add_test(tc, test_limiter_concurrent_cap);
	suite_add_tcase(s, tc);
	return s;
}
