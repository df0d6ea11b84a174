/* check_limiter: per-caller counts of requests in flight, and refusals held
 * back. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>

#include "blocking.h"
#include "check_suites.h"
#include "limiter.h"

/* A step of a scenario: a limiter_enter (want: 1 let in, 0 refused), a
 * limiter_leave, or a limiter_in_flight (want: the count). */
typedef enum { ENTER, LEAVE, IN_FLIGHT } step_op;

typedef struct step {
	step_op op;
	const char *key;
	int want;
} step;

/* A limiter of per_key and slots, and its steps in order, up to a NULL key. */
typedef struct scenario {
	const char *name;
	int per_key, slots;
	step steps[16];
} scenario;

#define UUID1 "00000000-0000-4000-8000-000000000001"

static const scenario scenarios[] = {
	/* The third of one caller is refused, another caller is not. */
	{"per_key_cap",
	 2,
	 4,
	 {{ENTER, "alice", 1},
	  {ENTER, "alice", 1},
	  {ENTER, "alice", 0},
	  {ENTER, "bob", 1},
	  {IN_FLIGHT, "alice", 2},
	  {IN_FLIGHT, "bob", 1},
	  {LEAVE, "alice", 0},
	  {ENTER, "alice", 1},
	  {LEAVE, "alice", 0},
	  {LEAVE, "alice", 0},
	  {LEAVE, "bob", 0},
	  {IN_FLIGHT, "alice", 0},
	  {IN_FLIGHT, "bob", 0}}},
	/* Keys are compared in full (up to LIMITER_KEY_MAX bytes): a prefix is
	 * another caller. Both slots taken, a third caller waits for one; a
	 * slot frees up when a caller's count drops to 0. Leaving a key that
	 * is not in flight changes nothing. */
	{"keys_and_slots",
	 1,
	 2,
	 {{ENTER, UUID1, 1},
	  {ENTER, "00000000-0000-4000-8000-00000000000", 1},
	  {ENTER, "carol", 0},
	  {LEAVE, UUID1, 0},
	  {ENTER, "carol", 1},
	  {LEAVE, "nobody", 0},
	  {IN_FLIGHT, "carol", 1}}},
};

START_TEST(test_limiter_scenario)
{
	const scenario *sc = &scenarios[_i];
	limiter *l = NULL;

	ck_assert_int_eq(limiter_create(sc->per_key, sc->slots, &l), ATT_OK);
	for (const step *st = sc->steps; st->key != NULL; st++) {
		int got = st->want;

		if (st->op == ENTER)
			got = limiter_enter(l, st->key);
		else if (st->op == IN_FLIGHT)
			got = limiter_in_flight(l, st->key);
		else
			limiter_leave(l, st->key);
		ck_assert_msg(got == st->want, "%s, step %d (%s): %d, expected %d", sc->name,
			      (int)(st - sc->steps), st->key, got, st->want);
	}
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

/* One call of a hammer thread: in, counted, out. */
static void hammer_call(check_thread *t, int i)
{
	shared *sh = t->shared;

	(void)i;
	if (!limiter_enter(sh->l, "same"))
		return;
	check_note_max(&sh->max_seen, atomic_fetch_add(&sh->in_flight, 1) + 1);
	atomic_fetch_sub(&sh->in_flight, 1);
	limiter_leave(sh->l, "same");
}

/* Under contention one caller never has more than its cap in flight. */
START_TEST(test_limiter_concurrent_cap)
{
	shared sh = {NULL, 0, 0};

	ck_assert_int_eq(limiter_create(3, THREADS, &sh.l), ATT_OK);
	check_threads(THREADS, ITERS, hammer_call, &sh, 0);
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
	(void)arg;
	atomic_fetch_add(&begins, 1);
	check_note_max(&parked_most, atomic_fetch_add(&parked_now, 1) + 1);
}

static void count_end(void *arg)
{
	(void)arg;
	atomic_fetch_sub(&parked_now, 1);
}

/* The 6 refusals start together, so that they are at once even on a
 * loaded machine or under valgrind, which runs one thread at a time. */
static pthread_barrier_t start_together;

static void hold_one(check_thread *t, int i)
{
	static const blocking_hooks hooks = {count_begin, count_end, NULL};

	(void)i;
	blocking_set_hooks(&hooks);
	pthread_barrier_wait(&start_together);
	limiter_hold_refusal(t->shared);
	blocking_set_hooks(NULL);
}

START_TEST(test_limiter_hold_refusal_parks_and_is_bounded)
{
	limiter *a = NULL;

	ck_assert_int_eq(limiter_create(1, 1, &a), ATT_OK);
	ck_assert_int_eq(pthread_barrier_init(&start_together, NULL, 6), 0);
	check_threads(6, 1, hold_one, a, 0);
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
	TCase *tc = check_tcase(s, "counts", NULL, NULL, test_limiter_concurrent_cap,
				test_limiter_hold_refusal_parks_and_is_bounded, NULL);

	tcase_add_loop_test(tc, test_limiter_scenario, 0, CHECK_ROWS(scenarios));
}
