/* check_cache_concurrency: the response cache's invariants under
 * concurrent use: threads getting, putting, removing and clearing on a
 * shared clock; the books balance afterwards. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "check_suites.h"

/* ---------------------------------------------------------- concurrency */

#define CONC_THREADS 8
#define CONC_OPS 20000
#define CONC_KEYS 200
#define CONC_MAX_ENTRIES 50
#define CONC_MAX_BYTES 6000

typedef struct conc_shared {
	cache *c;
	atomic_llong now; /* the fake clock, advanced by the threads */
	atomic_ullong gets;
	atomic_int bad_values; /* a get returned something never put for its key */
} conc_shared;

/* One operation of a thread, at random: a get, a put, a remove, rarely a
 * clear. Values are "<key>=<digits>", so a get can check it got its own
 * key's. */
static void conc_op(check_thread *t, int i)
{
	conc_shared *sh = t->shared;
	char key[16], value[160];
	int r = rand_r(&t->seed);
	int k = r % CONC_KEYS;
	int op = (r / CONC_KEYS) % 10;

	snprintf(key, sizeof key, "k%d", k);
	atomic_fetch_add(&sh->now, 1);
	if (op < 5) {
		char *got = NULL;
		size_t len = 0;
		cache_meta meta;
		size_t klen = strlen(key);

		atomic_fetch_add(&sh->gets, 1);
		if (cache_get(sh->c, key, &got, &len, &meta)) {
			if (len != strlen(got) || strncmp(got, key, klen) != 0 ||
			    got[klen] != '=' || meta.hole_offset != k)
				atomic_fetch_add(&sh->bad_values, 1);
			free(got);
		}
	} else if (op < 9) {
		unsigned long long epoch = cache_epoch(sh->c);
		cache_meta meta = {.version = i, .deadline_ms = -1, .hole_offset = k};
		int n = snprintf(value, sizeof value, "%s=", key);
		int pad = rand_r(&t->seed) % 120;

		for (int j = 0; j < pad; j++)
			value[n++] = (char)('0' + j % 10);
		value[n] = '\0';
		if (cache_put(sh->c, key, value, (size_t)n, &meta, 1 + rand_r(&t->seed) % 3000,
			      epoch) != ATT_OK)
			atomic_fetch_add(&sh->bad_values, 1);
	} else if (r % 97 == 0) {
		(void)cache_clear(sh->c);
	} else {
		(void)cache_remove(sh->c, key);
	}
}

START_TEST(test_cache_concurrent_invariants)
{
	conc_shared sh = {0};
	cache_stats s, after;
	size_t cleared;
	int bad;

	ck_assert_int_eq(
		cache_create(CONC_MAX_ENTRIES, CONC_MAX_BYTES, check_atomic_clock, &sh.now, &sh.c),
		ATT_OK);
	check_threads(CONC_THREADS, CONC_OPS, conc_op, &sh, 12345u);

	cache_get_stats(sh.c, &s);
	/* The books balance: clearing removes exactly the entries counted, and
	 * leaves no bytes behind. */
	cleared = cache_clear(sh.c);
	cache_get_stats(sh.c, &after);
	cache_free(sh.c); /* before asserting: no leak under CK_FORK=no */
	bad = atomic_load(&sh.bad_values);
	ck_assert_msg(bad == 0, "%d gets returned a value put under another key", bad);
	ck_assert_uint_le(s.entries, CONC_MAX_ENTRIES);
	ck_assert_uint_le(s.bytes, CONC_MAX_BYTES);
	ck_assert_uint_eq(s.hits + s.misses, atomic_load(&sh.gets));
	/* The run exercised every path. */
	ck_assert_uint_gt(s.hits, 0);
	ck_assert_uint_gt(s.evictions, 0);
	ck_assert_uint_gt(s.expirations, 0);
	ck_assert_uint_gt(s.invalidations, 0);
	ck_assert_uint_eq(cleared, s.entries);
	ck_assert_uint_eq(after.entries, 0);
	ck_assert_uint_eq(after.bytes, 0);
}
END_TEST

void cache_concurrency_cases(Suite *s)
{
	TCase *tc =
		check_tcase(s, "concurrency", NULL, NULL, test_cache_concurrent_invariants, NULL);

	/* Under valgrind (CK_FORK=no) no timeout applies; forked, this is ample. */
	tcase_set_timeout(tc, 6 * CHECK_TIMEOUT_S);
}
