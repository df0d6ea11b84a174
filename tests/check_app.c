/* check_app: the process state's housekeeping thread. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
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

void app_cases(Suite *s)
{
	TCase *tc = check_tcase(s, "housekeeping", NULL, NULL, test_app_housekeeping_sleeps, NULL);

	tcase_set_timeout(tc, 30);
}
