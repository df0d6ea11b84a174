/* check_coalescer: group commit by leader/follower - a lone item runs at
 * once and alone, items that arrive during a batch ride the next one in
 * arrival order, max_items bounds a batch, one batch runs at a time, every
 * item runs exactly once. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "check_suites.h"
#include "coalescer.h"

#define MAX_BATCHES 64
#define MAX_SEEN 64

/* An exec that records its batches and may be held at a gate. */
typedef struct recorder {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int gate_closed; /* exec waits while set */
	int in_exec;	 /* batches running now */
	int overlapped;	 /* two ran at once */
	int nbatches;
	int sizes[MAX_BATCHES];
	int seen[MAX_SEEN]; /* item ids in the order run */
	int nseen;
	atomic_int runs[4096]; /* per item id: times run */
} recorder;

typedef struct item {
	int id;
	int ran;
} item;

static void record_exec(void *arg, void *const *items, int n)
{
	recorder *r = arg;

	pthread_mutex_lock(&r->mu);
	if (r->in_exec++ > 0)
		r->overlapped = 1;
	while (r->gate_closed)
		pthread_cond_wait(&r->cv, &r->mu);
	if (r->nbatches < MAX_BATCHES)
		r->sizes[r->nbatches] = n;
	r->nbatches++;
	for (int i = 0; i < n; i++) {
		item *it = items[i];

		it->ran = 1;
		atomic_fetch_add(&r->runs[it->id], 1);
		if (r->nseen < MAX_SEEN)
			r->seen[r->nseen++] = it->id;
	}
	r->in_exec--;
	pthread_mutex_unlock(&r->mu);
}

static void recorder_init(recorder *r)
{
	memset(r, 0, sizeof *r);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
}

static void set_gate(recorder *r, int closed)
{
	pthread_mutex_lock(&r->mu);
	r->gate_closed = closed;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

typedef struct runner {
	coalescer *c;
	item it;
	pthread_t thread;
} runner;

static void *run_one(void *arg)
{
	runner *r = arg;

	ck_assert_int_eq(coalescer_run(r->c, &r->it), ATT_OK);
	return NULL;
}

/* Polls done(arg) every millisecond for up to 5 s; fails the test with
 * what if it never holds. */
static void poll_until(int (*done)(void *, int), void *arg, int n, const char *what)
{
	for (int i = 0; i < 5000; i++) {
		if (done(arg, n))
			return;
		check_sleep_ms(1);
	}
	ck_abort_msg("timed out waiting until %s (%d)", what, n);
}

static int queue_holds(void *arg, int n)
{
	coalescer_stats st;

	coalescer_get_stats(arg, &st);
	return st.waiting == n;
}

static int batch_running(void *arg, int n)
{
	recorder *r = arg;
	int in;

	(void)n;
	pthread_mutex_lock(&r->mu);
	in = r->in_exec;
	pthread_mutex_unlock(&r->mu);
	return in > 0;
}

START_TEST(test_lone_item_runs_alone_at_once)
{
	recorder r;
	coalescer *c = NULL;
	item a = {1, 0}, b = {2, 0};
	coalescer_stats st;

	recorder_init(&r);
	ck_assert_int_eq(coalescer_create(8, 0, record_exec, &r, &c), ATT_OK);
	ck_assert_int_eq(coalescer_run(c, &a), ATT_OK);
	ck_assert_int_eq(coalescer_run(c, &b), ATT_OK);
	ck_assert(a.ran && b.ran);
	ck_assert_int_eq(r.nbatches, 2);
	ck_assert_int_eq(r.sizes[0], 1);
	ck_assert_int_eq(r.sizes[1], 1);
	coalescer_get_stats(c, &st);
	ck_assert_uint_eq(st.batches, 2);
	ck_assert_uint_eq(st.items, 2);
	ck_assert_int_eq(st.items_p50, 1);
	ck_assert_int_eq(st.waiting, 0);
	coalescer_free(c);
	coalescer_free(NULL);
}
END_TEST

/* While one batch runs, arrivals queue; the next batch takes them oldest
 * first, at most max_items at a time. */
START_TEST(test_arrivals_ride_next_batch_in_order)
{
	enum { N = 8, MAX = 3 };
	recorder r;
	coalescer *c = NULL;
	runner rs[N];
	coalescer_stats st;

	recorder_init(&r);
	ck_assert_int_eq(coalescer_create(MAX, 0, record_exec, &r, &c), ATT_OK);
	set_gate(&r, 1);
	for (int i = 0; i < N; i++) {
		rs[i].c = c;
		rs[i].it = (item){i, 0};
		ck_assert_int_eq(pthread_create(&rs[i].thread, NULL, run_one, &rs[i]), 0);
		if (i == 0)
			poll_until(batch_running, &r, 0, "item 0 runs, alone, held at the gate");
		else
			poll_until(queue_holds, c, i, "the queue holds the items so far");
	}
	set_gate(&r, 0);
	for (int i = 0; i < N; i++)
		pthread_join(rs[i].thread, NULL);
	/* 1 (the leader alone), then 3, 3, 1, in arrival order. */
	ck_assert_int_eq(r.nbatches, 4);
	ck_assert_int_eq(r.sizes[0], 1);
	ck_assert_int_eq(r.sizes[1], 3);
	ck_assert_int_eq(r.sizes[2], 3);
	ck_assert_int_eq(r.sizes[3], 1);
	ck_assert_int_eq(r.nseen, N);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(r.seen[i], i);
		ck_assert(rs[i].it.ran);
	}
	ck_assert_int_eq(r.overlapped, 0);
	coalescer_get_stats(c, &st);
	ck_assert_uint_eq(st.batches, 4);
	ck_assert_uint_eq(st.items, N);
	ck_assert_int_eq(st.items_p50, 1); /* sizes 1,1,3,3: the 2nd of 4 */
	ck_assert_int_eq(st.items_p99, 3);
	ck_assert_int_eq(st.largest, 3);
	ck_assert_int_eq(st.waiting, 0);
	coalescer_free(c);
}
END_TEST

#define STRESS_THREADS 8
#define STRESS_ITEMS 500

typedef struct stress_arg {
	coalescer *c;
	int base;
	int not_ran;
} stress_arg;

static void *stress_thread(void *arg)
{
	stress_arg *s = arg;

	for (int i = 0; i < STRESS_ITEMS; i++) {
		item it = {s->base + i, 0};

		if (coalescer_run(s->c, &it) != ATT_OK)
			s->not_ran++;
		if (!it.ran)
			s->not_ran++; /* returned before its batch ran */
	}
	return NULL;
}

/* Many threads: every item runs exactly once, before its thread goes on;
 * batches never overlap; some batches hold more than one item. */
START_TEST(test_every_item_once_under_contention)
{
	static recorder r;
	coalescer *c = NULL;
	pthread_t th[STRESS_THREADS];
	stress_arg args[STRESS_THREADS];
	coalescer_stats st;

	recorder_init(&r);
	ck_assert_int_eq(coalescer_create(4, 0, record_exec, &r, &c), ATT_OK);
	for (int t = 0; t < STRESS_THREADS; t++) {
		args[t] = (stress_arg){c, t * STRESS_ITEMS, 0};
		ck_assert_int_eq(pthread_create(&th[t], NULL, stress_thread, &args[t]), 0);
	}
	for (int t = 0; t < STRESS_THREADS; t++) {
		pthread_join(th[t], NULL);
		ck_assert_int_eq(args[t].not_ran, 0);
	}
	for (int i = 0; i < STRESS_THREADS * STRESS_ITEMS; i++)
		ck_assert_int_eq(atomic_load(&r.runs[i]), 1);
	ck_assert_int_eq(r.overlapped, 0);
	coalescer_get_stats(c, &st);
	ck_assert_uint_eq(st.items, STRESS_THREADS * STRESS_ITEMS);
	ck_assert_uint_le(st.batches, st.items);
	ck_assert_int_le(st.largest, 4);
	ck_assert_int_eq(st.waiting, 0);
	coalescer_free(c);
}
END_TEST

/* While a batch is stuck, an item that waits on the queue longer than
 * wait_timeout_ms gives up (ATT_ETIMEOUT) and never runs; the stuck batch
 * and the items after it are unaffected. */
START_TEST(test_queued_item_gives_up_after_timeout)
{
	recorder r;
	coalescer *c = NULL;
	runner leader, late;
	item lone = {2, 0};
	coalescer_stats st;

	recorder_init(&r);
	ck_assert_int_eq(coalescer_create(4, 1000, record_exec, &r, &c), ATT_OK);
	set_gate(&r, 1);
	leader.c = c;
	leader.it = (item){0, 0};
	ck_assert_int_eq(pthread_create(&leader.thread, NULL, run_one, &leader), 0);
	poll_until(batch_running, &r, 0, "item 0 runs, held at the gate");
	ck_assert_int_eq(coalescer_run(c, &lone), ATT_ETIMEOUT);
	ck_assert_int_eq(lone.ran, 0);
	coalescer_get_stats(c, &st);
	ck_assert_uint_eq(st.timeouts, 1);
	ck_assert_int_eq(st.waiting, 0);
	late.c = c;
	late.it = (item){1, 0};
	ck_assert_int_eq(pthread_create(&late.thread, NULL, run_one, &late), 0);
	poll_until(queue_holds, c, 1, "item 1 waits");
	set_gate(&r, 0);
	pthread_join(leader.thread, NULL);
	pthread_join(late.thread, NULL);
	ck_assert(leader.it.ran && late.it.ran);
	ck_assert_int_eq(atomic_load(&r.runs[2]), 0);
	coalescer_free(c);
}
END_TEST

START_TEST(test_create_rejects_bad_arguments)
{
	coalescer *c = (coalescer *)1;
	recorder r;

	ck_assert_int_eq(coalescer_create(0, 0, record_exec, &r, &c), ATT_EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_int_eq(coalescer_create(4, 0, NULL, &r, &c), ATT_EINVAL);
}
END_TEST

void coalescer_cases(Suite *s)
{
	check_tcase(s, "coalescer", NULL, NULL, test_lone_item_runs_alone_at_once,
		    test_arrivals_ride_next_batch_in_order, test_every_item_once_under_contention,
		    test_queued_item_gives_up_after_timeout, test_create_rejects_bad_arguments,
		    NULL);
}
