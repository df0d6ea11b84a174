/* check_app: the process state's housekeeping thread, write stamps across
 * workers, and held refusals. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "blocking.h"
#include "check_suites.h"

/* A configuration for apps with no database to reach. */
static void load_config(config *cfg)
{
	char *err = NULL;

	setenv("ATTEMPTS_JWT_SECRET", "0123456789abcdef0123456789abcdef", 1);
	setenv("ATTEMPTS_DB", "host=/nonexistent port=1 dbname=x connect_timeout=1", 1);
	setenv("ATTEMPTS_POOL_MIN", "0", 1);
	setenv("ATTEMPTS_SWEEP_INTERVAL_MS", "0", 1);
	ck_assert_int_eq(config_load_from(cfg, NULL, (const char *(*)(const char *))getenv, &err),
			 ATT_OK);
}

/* The housekeeping thread must sleep between rounds (100 ms), not spin: a
 * condition variable waited on with deadlines of another clock once made it
 * loop every ~2 ms, burning a core per worker. */
START_TEST(test_app_housekeeping_sleeps)
{
	config cfg;
	app *a = NULL;
	unsigned long before, after;
	struct timespec one_s = {1, 0};

	load_config(&cfg);
	ck_assert_int_eq(app_create(&cfg, APP_PERSISTENT, &a), ATT_OK);
	before = app_housekeeping_rounds(a);
	nanosleep(&one_s, NULL);
	after = app_housekeeping_rounds(a);
	app_free(a);
	config_free(&cfg);
	/* About 10 rounds a second; a spinning thread makes hundreds. */
	ck_assert_msg(after - before <= 40, "%lu housekeeping rounds in 1 s", after - before);
	ck_assert_msg(after - before >= 1, "no housekeeping round in 1 s");
}
END_TEST

/* Two persistent apps stand for two workers of one host. A cached state
 * filled in B before A acknowledged a write of that attempt must not be
 * answered by B afterwards, whether or not B has heard A's NOTIFY (here it
 * never does: there is no database). Entries of other attempts stay. */
START_TEST(test_app_write_in_one_worker_hides_cached_in_other)
{
	static const char id[] = "00000000-0000-4000-8000-0000000000c1";
	static const char other[] = "00000000-0000-4000-8000-0000000000c2";
	static const char body[] = "{\"version\": 3}";
	config cfg;
	char *text = NULL;
	app *a = NULL, *b = NULL;
	cache_meta meta;
	size_t len;

	load_config(&cfg);
	ck_assert_int_eq(app_create(&cfg, APP_PERSISTENT, &a), ATT_OK);
	ck_assert_int_eq(app_create(&cfg, APP_PERSISTENT, &b), ATT_OK);
	memset(&meta, 0, sizeof meta);
	meta.version = 3;
	/* B fills both entries (stamps read before its "database call"). */
	meta.write_stamp = app_write_stamp(b, id);
	app_cache_put_attempt(b, "state", id, body, strlen(body), &meta, 60000,
			      cache_epoch(app_cache(b)));
	meta.write_stamp = app_write_stamp(b, other);
	app_cache_put_attempt(b, "state", other, body, strlen(body), &meta, 60000,
			      cache_epoch(app_cache(b)));
	ck_assert_int_eq(app_cache_get_attempt(b, "state", id, &text, &len, &meta), 1);
	free(text);
	text = NULL;
	/* A acknowledges a write of id. */
	app_note_write(a, id);
	ck_assert_int_eq(app_cache_get_attempt(b, "state", id, &text, &len, &meta), 0);
	ck_assert_ptr_null(text);
	ck_assert_int_eq(app_cache_get_attempt(b, "state", other, &text, &len, &meta), 1);
	ck_assert_str_eq(text, body);
	free(text);
	app_free(a);
	app_free(b);
	config_free(&cfg);
}
END_TEST

/* app_hold_refusal parks its thread (blocking_begin ... blocking_end) while
 * it holds a refusal back, and holds at most 4 x threads at once: with
 * threads 1, of 6 refusals at once 4 are held and 2 answered at once. */
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

static void *hold_one(void *arg)
{
	static const blocking_hooks hooks = {count_begin, count_end, NULL};

	blocking_set_hooks(&hooks);
	app_hold_refusal(arg);
	blocking_set_hooks(NULL);
	return NULL;
}

START_TEST(test_app_hold_refusal_parks_and_is_bounded)
{
	config cfg;
	app *a = NULL;
	pthread_t t[6];

	setenv("ATTEMPTS_THREADS", "1", 1);
	load_config(&cfg);
	unsetenv("ATTEMPTS_THREADS");
	ck_assert_int_eq(app_create(&cfg, APP_ONESHOT, &a), ATT_OK);
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, hold_one, a), 0);
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_le(atomic_load(&begins), 4);
	ck_assert_int_ge(atomic_load(&begins), 1);
	ck_assert_int_le(atomic_load(&parked_most), 4);
	ck_assert_int_eq(atomic_load(&parked_now), 0);
	app_free(a);
	config_free(&cfg);
}
END_TEST

Suite *app_suite(void)
{
	Suite *s = suite_create("app");
	TCase *tc = tcase_create("housekeeping");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_app_housekeeping_sleeps);
	tcase_add_test(tc, test_app_write_in_one_worker_hides_cached_in_other);
	tcase_add_test(tc, test_app_hold_refusal_parks_and_is_bounded);
	suite_add_tcase(s, tc);
	return s;
}
