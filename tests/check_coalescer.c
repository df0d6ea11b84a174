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

/* The fixture: the recorder rec, and the coalescer co a test makes on it
 * with new_coalescer(), freed after it. */
static recorder rec;
static coalescer *co;

static void setup(void)
{
	recorder_init(&rec);
	co = NULL;
}

static void teardown(void)
{
	coalescer_free(co);
	co = NULL;
}

/* Makes co, running its batches through record_exec into rec. */
static void new_coalescer(int max_items, long long wait_timeout_ms)
{
	ck_assert_int_eq(coalescer_create(max_items, wait_timeout_ms, record_exec, &rec, &co),
			 ATT_OK);
}

static void set_gate(recorder *r, int closed)
{
	pthread_mutex_lock(&r->mu);
	r->gate_closed = closed;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* An item run on co by a thread of its own. */
typedef struct runner {
	item it;
	pthread_t thread;
} runner;

static void *run_one(void *arg)
{
	runner *r = arg;

	ck_assert_int_eq(coalescer_run(co, &r->it), ATT_OK);
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
	item a = {1, 0}, b = {2, 0};
	coalescer_stats st;

	new_coalescer(8, 0);
	ck_assert_int_eq(coalescer_run(co, &a), ATT_OK);
	ck_assert_int_eq(coalescer_run(co, &b), ATT_OK);
	ck_assert(a.ran && b.ran);
	ck_assert_int_eq(rec.nbatches, 2);
	ck_assert_int_eq(rec.sizes[0], 1);
	ck_assert_int_eq(rec.sizes[1], 1);
	coalescer_get_stats(co, &st);
	ck_assert_uint_eq(st.batches, 2);
	ck_assert_uint_eq(st.items, 2);
	ck_assert_int_eq(st.items_p50, 1);
	ck_assert_int_eq(st.waiting, 0);
	coalescer_free(NULL);
}
END_TEST

/* While one batch runs, arrivals queue; the next batch takes them oldest
 * first, at most max_items at a time. */
START_TEST(test_arrivals_ride_next_batch_in_order)
{
	enum { N = 8, MAX = 3 };
	runner rs[N];
	coalescer_stats st;

	new_coalescer(MAX, 0);
	set_gate(&rec, 1);
	for (int i = 0; i < N; i++) {
		rs[i].it = (item){i, 0};
		ck_assert_int_eq(pthread_create(&rs[i].thread, NULL, run_one, &rs[i]), 0);
		if (i == 0)
			poll_until(batch_running, &rec, 0, "item 0 runs, alone, held at the gate");
		else
			poll_until(queue_holds, co, i, "the queue holds the items so far");
	}
	set_gate(&rec, 0);
	for (int i = 0; i < N; i++)
		pthread_join(rs[i].thread, NULL);
	/* 1 (the leader alone), then 3, 3, 1, in arrival order. */
	ck_assert_int_eq(rec.nbatches, 4);
	ck_assert_int_eq(rec.sizes[0], 1);
	ck_assert_int_eq(rec.sizes[1], 3);
	ck_assert_int_eq(rec.sizes[2], 3);
	ck_assert_int_eq(rec.sizes[3], 1);
	ck_assert_int_eq(rec.nseen, N);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(rec.seen[i], i);
		ck_assert(rs[i].it.ran);
	}
	ck_assert_int_eq(rec.overlapped, 0);
	coalescer_get_stats(co, &st);
	ck_assert_uint_eq(st.batches, 4);
	ck_assert_uint_eq(st.items, N);
	ck_assert_int_eq(st.items_p50, 1); /* sizes 1,1,3,3: the 2nd of 4 */
	ck_assert_int_eq(st.items_p99, 3);
	ck_assert_int_eq(st.largest, 3);
	ck_assert_int_eq(st.waiting, 0);
}
END_TEST

#define STRESS_THREADS 8
#define STRESS_ITEMS 500

/* Item i of a stress thread: it runs exactly once, before its thread goes
 * on; not_ran counts the items that did not. */
static void stress_item(check_thread *t, int i)
{
	item it = {t->index * STRESS_ITEMS + i, 0};

	if (coalescer_run(co, &it) != ATT_OK)
		atomic_fetch_add((atomic_int *)t->shared, 1);
	if (!it.ran)
		atomic_fetch_add((atomic_int *)t->shared, 1); /* returned before its batch ran */
}

/* Many threads: every item runs exactly once, before its thread goes on;
 * batches never overlap; some batches hold more than one item. */
START_TEST(test_every_item_once_under_contention)
{
	atomic_int not_ran;
	coalescer_stats st;

	atomic_init(&not_ran, 0);
	new_coalescer(4, 0);
	check_threads(STRESS_THREADS, STRESS_ITEMS, stress_item, &not_ran, 0);
	ck_assert_int_eq(atomic_load(&not_ran), 0);
	for (int i = 0; i < STRESS_THREADS * STRESS_ITEMS; i++)
		ck_assert_int_eq(atomic_load(&rec.runs[i]), 1);
	ck_assert_int_eq(rec.overlapped, 0);
	coalescer_get_stats(co, &st);
	ck_assert_uint_eq(st.items, STRESS_THREADS * STRESS_ITEMS);
	ck_assert_uint_le(st.batches, st.items);
	ck_assert_int_le(st.largest, 4);
	ck_assert_int_eq(st.waiting, 0);
}
END_TEST

/* While a batch is stuck, an item that waits on the queue longer than
 * wait_timeout_ms gives up (ATT_ETIMEOUT) and never runs; the stuck batch
 * and the items after it are unaffected. */
START_TEST(test_queued_item_gives_up_after_timeout)
{
	runner leader, late;
	item lone = {2, 0};
	coalescer_stats st;

	new_coalescer(4, 1000);
	set_gate(&rec, 1);
	leader.it = (item){0, 0};
	ck_assert_int_eq(pthread_create(&leader.thread, NULL, run_one, &leader), 0);
	poll_until(batch_running, &rec, 0, "item 0 runs, held at the gate");
	ck_assert_int_eq(coalescer_run(co, &lone), ATT_ETIMEOUT);
	ck_assert_int_eq(lone.ran, 0);
	coalescer_get_stats(co, &st);
	ck_assert_uint_eq(st.timeouts, 1);
	ck_assert_int_eq(st.waiting, 0);
	late.it = (item){1, 0};
	ck_assert_int_eq(pthread_create(&late.thread, NULL, run_one, &late), 0);
	poll_until(queue_holds, co, 1, "item 1 waits");
	set_gate(&rec, 0);
	pthread_join(leader.thread, NULL);
	pthread_join(late.thread, NULL);
	ck_assert(leader.it.ran && late.it.ran);
	ck_assert_int_eq(atomic_load(&rec.runs[2]), 0);
}
END_TEST

START_TEST(test_create_rejects_bad_arguments)
{
	coalescer *none = (coalescer *)1;

	ck_assert_int_eq(coalescer_create(0, 0, record_exec, &rec, &none), ATT_EINVAL);
	ck_assert_ptr_null(none);
	ck_assert_int_eq(coalescer_create(4, 0, NULL, &rec, &none), ATT_EINVAL);
}
END_TEST

void coalescer_cases(Suite *s)
{
	check_tcase(s, "coalescer", setup, teardown, test_lone_item_runs_alone_at_once,
		    test_arrivals_ride_next_batch_in_order, test_every_item_once_under_contention,
		    test_queued_item_gives_up_after_timeout, test_create_rejects_bad_arguments,
		    NULL);
}
