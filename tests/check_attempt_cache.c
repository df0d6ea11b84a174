/* check_attempt_cache: write stamps across workers keep cached attempt
 * reads behind acknowledged writes. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "attempt_cache.h"
#include "check_suites.h"

/* A database no listener can reach. */
#define NOWHERE "host=/nonexistent port=1 dbname=x connect_timeout=1"

/* Two attempt caches with listeners stand for two workers of one host. A cached state
 * filled in B before A acknowledged a write of that attempt must not be
 * answered by B afterwards, whether or not B has heard A's NOTIFY (here it
 * never does: there is no database). Entries of other attempts stay. */
START_TEST(test_attempt_cache_write_in_one_worker_hides_cached_in_other)
{
	static const char id[] = "00000000-0000-4000-8000-0000000000c1";
	static const char other[] = "00000000-0000-4000-8000-0000000000c2";
	static const char body[] = "{\"version\": 3}";
	char *text = NULL;
	cache *ca = NULL, *cb = NULL;
	attempt_cache *a = NULL, *b = NULL;
	cache_meta meta;
	size_t len;

	ck_assert_int_eq(cache_create(100, 1 << 20, NULL, NULL, &ca), ATT_OK);
	ck_assert_int_eq(cache_create(100, 1 << 20, NULL, NULL, &cb), ATT_OK);
	ck_assert_int_eq(attempt_cache_create(ca, NULL, NOWHERE, &a), ATT_OK);
	ck_assert_int_eq(attempt_cache_create(cb, NULL, NOWHERE, &b), ATT_OK);
	memset(&meta, 0, sizeof meta);
	meta.version = 3;
	/* B fills both entries (stamps read before its "database call"). */
	meta.write_stamp = attempt_cache_stamp(b, id);
	attempt_cache_put(b, "state", id, body, strlen(body), &meta, 60000, cache_epoch(cb));
	meta.write_stamp = attempt_cache_stamp(b, other);
	attempt_cache_put(b, "state", other, body, strlen(body), &meta, 60000, cache_epoch(cb));
	ck_assert_int_eq(attempt_cache_get(b, "state", id, &text, &len, &meta), 1);
	free(text);
	text = NULL;
	/* A acknowledges a write of id. */
	attempt_cache_note_write(a, id);
	ck_assert_int_eq(attempt_cache_get(b, "state", id, &text, &len, &meta), 0);
	ck_assert_ptr_null(text);
	ck_assert_int_eq(attempt_cache_get(b, "state", other, &text, &len, &meta), 1);
	ck_assert_str_eq(text, body);
	free(text);
	attempt_cache_free(a);
	attempt_cache_free(b);
	cache_free(ca);
	cache_free(cb);
}
END_TEST

/* Without a listener (one-shot CGI) the cache is never used; a NULL is
 * freed as nothing. */
START_TEST(test_attempt_cache_oneshot_never_used)
{
	cache *c = NULL;
	attempt_cache *ac = NULL;

	ck_assert_int_eq(cache_create(10, 1 << 16, NULL, NULL, &c), ATT_OK);
	ck_assert_int_eq(attempt_cache_create(c, NULL, NULL, &ac), ATT_OK);
	ck_assert_ptr_null(attempt_cache_listener(ac));
	ck_assert_int_eq(attempt_cache_catch_up(ac), 0);
	attempt_cache_free(ac);
	attempt_cache_free(NULL);
	cache_free(c);
}
END_TEST

void attempt_cache_cases(Suite *s)
{
	check_tcase(s, "stamps", NULL, NULL,
		    test_attempt_cache_write_in_one_worker_hides_cached_in_other,
		    test_attempt_cache_oneshot_never_used, NULL);
}
