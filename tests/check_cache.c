/* check_cache: the TTL + LRU response cache on a fake clock - expiry at the
 * boundary, entry and byte bounds, counters, meta, invalidation epochs.
 * Concurrent use: check_cache_concurrency.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "check_suites.h"

#define BIG_BYTES ((size_t)1 << 30)
#define COST(key, len) (strlen(key) + (len) + 64) /* cache.h's entry cost */

/* The fixture: the fake clock now, 0 as each test starts, and the cache c
 * the test makes with new_cache(), freed after it. */
static long long now;
static cache *c;

static void setup(void)
{
	now = 0;
	c = NULL;
}

static void teardown(void)
{
	cache_free(c);
	c = NULL;
}

/* Makes c, on the fake clock, with room for max_entries and max_bytes. */
static void new_cache(size_t max_entries, size_t max_bytes)
{
	ck_assert_int_eq(cache_create(max_entries, max_bytes, check_fake_clock, &now, &c), ATT_OK);
	ck_assert_ptr_nonnull(c);
}

/* Puts a NUL-terminated value with an empty meta under epoch. */
static void put_in(unsigned long long epoch, const char *key, const char *value, long long ttl_ms)
{
	cache_meta meta = {.version = 1, .deadline_ms = -1, .hole_offset = -1};

	ck_assert_int_eq(cache_put(c, key, value, strlen(value), &meta, ttl_ms, epoch), ATT_OK);
}

/* The same under the current epoch. */
static void put(const char *key, const char *value, long long ttl_ms)
{
	put_in(cache_epoch(c), key, value, ttl_ms);
}

/* Returns 1 and checks the value if key is live, else 0. want may be NULL. */
static int get(const char *key, const char *want)
{
	char *value = NULL;
	size_t len = 0;
	cache_meta meta;
	int hit = cache_get(c, key, &value, &len, &meta);

	if (hit) {
		ck_assert_ptr_nonnull(value);
		ck_assert_uint_eq(len, strlen(value));
		if (want != NULL)
			ck_assert_str_eq(value, want);
		free(value);
	}
	return hit;
}

/* Asserts that c's counters named in names (space-separated: "entries",
 * "hits", ...) hold the values listed after them. */
#define EXPECT_COUNTERS(names, ...) expect_counters(names, CHECK_WANT(__VA_ARGS__))

static void expect_counters(const char *names, const long long *want, size_t n)
{
	cache_stats s;

	cache_get_stats(c, &s);
	const check_field have[] = {
		{"entries", (long long)s.entries},
		{"bytes", (long long)s.bytes},
		{"hits", (long long)s.hits},
		{"misses", (long long)s.misses},
		{"evictions", (long long)s.evictions},
		{"expirations", (long long)s.expirations},
		{"invalidations", (long long)s.invalidations},
	};

	check_fields(have, CHECK_ROWS(have), names, want, n);
}

/* Asserts for each key, value pair (up to a NULL key) that key reads as
 * value, or is a miss where value is NULL. */
static void expect_gets(const char *key, ...)
{
	va_list ap;
	const char *want;

	va_start(ap, key);
	for (; key != NULL; key = va_arg(ap, const char *)) {
		want = va_arg(ap, const char *);
		ck_assert_msg(get(key, want) == (want != NULL), "%s: %s", key,
			      want != NULL ? "a miss" : "a hit");
	}
	va_end(ap);
}

/* Puts each key, value pair (NULL-terminated) with ttl_ms. */
static void put_all(long long ttl_ms, ...)
{
	va_list ap;
	const char *key;

	va_start(ap, ttl_ms);
	while ((key = va_arg(ap, const char *)) != NULL)
		put(key, va_arg(ap, const char *), ttl_ms);
	va_end(ap);
}

/* A value of n copies of ch; the caller frees it. */
static char *filled(size_t n, char ch)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

START_TEST(test_cache_ttl_boundary)
{
	now = 1000;
	new_cache(10, BIG_BYTES);

	put("k", "v", 100); /* expires_at = 1100 */
	now = 1099;
	ck_assert_int_eq(get("k", "v"), 1);
	now = 1100; /* expires_at <= now: expired */
	ck_assert_int_eq(get("k", NULL), 0);
	EXPECT_COUNTERS("hits misses expirations evictions entries bytes", 1, 1, 1, 0, 0, 0);
	/* A second miss on the same key is not a second expiration. */
	ck_assert_int_eq(get("k", NULL), 0);
	EXPECT_COUNTERS("expirations misses", 1, 2);
}
END_TEST

START_TEST(test_cache_ttl_per_entry)
{
	new_cache(10, BIG_BYTES);

	put("short", "s", 100);
	now = 50;
	put("long", "l", 300); /* expires_at = 350 */
	now = 99;
	ck_assert_int_eq(get("short", "s"), 1);
	now = 100;
	expect_gets("short", NULL, "long", "l", NULL);
	now = 349;
	ck_assert_int_eq(get("long", "l"), 1);
	now = 350;
	ck_assert_int_eq(get("long", NULL), 0);
	EXPECT_COUNTERS("expirations entries", 2, 0);
	/* A replaced entry takes the new TTL from the time of the put. */
	put("k", "old", 1000); /* until 1350 */
	now = 400;
	put("k", "new", 10); /* until 410 */
	now = 409;
	ck_assert_int_eq(get("k", "new"), 1);
	now = 410;
	ck_assert_int_eq(get("k", NULL), 0);
}
END_TEST

/* Many keys, so that expired entries share hash buckets with live ones:
 * an expired key must read as a miss, never as some other key's value. */
START_TEST(test_cache_expired_among_live)
{
	char key[32], want[32];
	int wrong = 0, hits = 0;

	new_cache(1000, BIG_BYTES);
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof key, "live-%d", i);
		put(key, key, 100000);
	}
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof key, "short-%d", i);
		put(key, key, 10);
	}
	now = 10;
	for (int i = 0; i < 500; i++) {
		char *value = NULL;
		size_t len = 0;
		cache_meta meta;

		snprintf(key, sizeof key, "short-%d", i);
		if (cache_get(c, key, &value, &len, &meta)) {
			if (wrong++ == 0)
				fprintf(stderr, "cache: expired \"%s\" read as \"%s\"\n", key,
					value);
			free(value);
		}
	}
	for (int i = 0; i < 500; i++) {
		snprintf(key, sizeof key, "live-%d", i);
		snprintf(want, sizeof want, "live-%d", i);
		hits += get(key, want);
	}
	ck_assert_msg(wrong == 0, "%d of 500 expired keys read as hits", wrong);
	ck_assert_int_eq(hits, 500);
	EXPECT_COUNTERS("expirations entries", 500, 500);
}
END_TEST

START_TEST(test_cache_ttl_not_positive_not_stored)
{
	new_cache(10, BIG_BYTES);

	put_all(0, "zero", "v", NULL);
	EXPECT_COUNTERS("entries bytes", 0, 0);
	expect_gets("zero", NULL, "negative", NULL, NULL);
	/* Nor does a ttl <= 0 put disturb an existing entry's neighbours. */
	put("live", "v", 10);
	put("other", "v", 0);
	ck_assert_int_eq(get("live", "v"), 1);
	EXPECT_COUNTERS("entries evictions", 1, 0);
}
END_TEST

START_TEST(test_cache_lru_entries)
{
	new_cache(3, BIG_BYTES);

	put_all(1000, "a", "A", "b", "B", "c", "C", NULL);
	ck_assert_int_eq(get("a", "A"), 1); /* a is now the most recent */
	put("d", "D", 1000);		    /* evicts b, the oldest untouched */
	EXPECT_COUNTERS("entries evictions", 3, 1);
	expect_gets("b", NULL, "a", "A", "c", "C", "d", "D", NULL);
	/* Recency is now a, c, d (oldest first): e evicts a. */
	put("e", "E", 1000);
	expect_gets("a", NULL, "c", "C", "d", "D", "e", "E", NULL);
	EXPECT_COUNTERS("entries evictions bytes", 3, 2, 3 * COST("x", 1));
}
END_TEST

START_TEST(test_cache_lru_replace_refreshes)
{
	new_cache(2, BIG_BYTES);

	put_all(1000, "a", "A", "b", "B", NULL);
	put("a", "A2", 1000); /* replacing a makes it the most recent */
	put("c", "C", 1000);  /* evicts b */
	expect_gets("b", NULL, "a", "A2", "c", "C", NULL);
	EXPECT_COUNTERS("evictions", 1);
}
END_TEST

START_TEST(test_cache_zero_entries_stores_nothing)
{
	new_cache(0, BIG_BYTES);

	put("a", "A", 1000);
	ck_assert_int_eq(get("a", NULL), 0);
	EXPECT_COUNTERS("entries", 0);
}
END_TEST

START_TEST(test_cache_byte_bound)
{
	size_t unit = COST("a", 10); /* 75 */
	char *ten = filled(10, 'x');
	char *too_big = filled(3 * unit - 64, 'y');   /* key "x": cost 3 * unit + 1 */
	char *exact = filled(3 * unit - 64 - 1, 'z'); /* key "z": cost 3 * unit */

	new_cache(100, 3 * unit);
	put_all(1000, "a", ten, "b", ten, "c", ten, NULL);
	EXPECT_COUNTERS("entries bytes evictions", 3, 3 * unit, 0);

	/* One more of the same size pushes out the least recently used. */
	put("d", ten, 1000);
	EXPECT_COUNTERS("entries bytes evictions", 3, 3 * unit, 1);
	ck_assert_int_eq(get("a", NULL), 0);

	/* An entry larger than the whole bound alone is not stored, and
	 * evicts nothing. */
	put("x", too_big, 1000);
	EXPECT_COUNTERS("entries bytes evictions", 3, 3 * unit, 1);
	ck_assert_int_eq(get("x", NULL), 0);

	/* One exactly the size of the bound is stored, evicting all others. */
	put("z", exact, 1000);
	EXPECT_COUNTERS("entries bytes evictions", 1, 3 * unit, 4);
	ck_assert_int_eq(get("z", exact), 1);
	free(ten);
	free(too_big);
	free(exact);
}
END_TEST

START_TEST(test_cache_byte_bound_evicts_several)
{
	size_t unit = COST("a", 10); /* 75 */
	char *ten = filled(10, 'x');
	char *big = filled(2 * unit - 64 - 3, 'b'); /* key "big": cost 2 * unit */

	new_cache(100, 4 * unit);
	put_all(1000, "a", ten, "b", ten, "c", ten, "d", ten, NULL);
	ck_assert_int_eq(get("a", ten), 1); /* order now b, c, d, a */
	put("big", big, 1000);		    /* needs 2 units: b and c go */
	EXPECT_COUNTERS("evictions entries bytes", 2, 3, 4 * unit);
	expect_gets("b", NULL, "c", NULL, "d", ten, "a", ten, "big", big, NULL);
	free(ten);
	free(big);
}
END_TEST

START_TEST(test_cache_replace_counts)
{
	new_cache(10, BIG_BYTES);

	put_all(1000, "key", "0123456789", "other", "o", "key", "01234567890123456789", NULL);
	EXPECT_COUNTERS("entries bytes evictions invalidations expirations", 2,
			COST("key", 20) + COST("other", 1), 0, 0, 0);
	ck_assert_int_eq(get("key", "01234567890123456789"), 1);
	put("key", "", 1000);
	EXPECT_COUNTERS("entries bytes", 2, COST("key", 0) + COST("other", 1));
	ck_assert_int_eq(get("key", ""), 1);
}
END_TEST

/* Replacing a key when the cache is full: the old copy's room is used,
 * nothing else is evicted. */
START_TEST(test_cache_replace_when_full)
{
	new_cache(2, BIG_BYTES);

	put_all(1000, "a", "A", "b", "B", "a", "AA", NULL);
	EXPECT_COUNTERS("entries evictions", 2, 0);
	expect_gets("b", "B", "a", "AA", NULL);
}
END_TEST

START_TEST(test_cache_counters_exact)
{
	new_cache(2, BIG_BYTES);

	ck_assert_int_eq(get("nothing", NULL), 0); /* miss 1 */
	put("a", "A", 100);
	put("b", "BB", 1000);
	ck_assert_int_eq(get("a", "A"), 1);  /* hit 1 */
	ck_assert_int_eq(get("a", "A"), 1);  /* hit 2 */
	put("c", "CCC", 1000);		     /* evicts b */
	ck_assert_int_eq(get("b", NULL), 0); /* miss 2 */
	now = 100;
	ck_assert_int_eq(get("a", NULL), 0);	   /* miss 3, expiration 1 */
	ck_assert_int_eq(cache_remove(c, "c"), 1); /* invalidation 1 */
	ck_assert_int_eq(cache_remove(c, "c"), 0);
	put_all(1000, "d", "D", "e", "E", NULL);
	ck_assert_uint_eq(cache_clear(c), 2); /* invalidations 3 */
	EXPECT_COUNTERS("hits misses evictions expirations invalidations entries bytes", 2, 3, 1, 1,
			3, 0, 0);
}
END_TEST

START_TEST(test_cache_meta_round_trip)
{
	static const char value[] = "{\"t\":\0 1234}"; /* an embedded NUL */
	size_t vlen = sizeof value - 1;
	cache_meta in, out;
	char *got = NULL;
	size_t len = 0;

	new_cache(10, BIG_BYTES);
	memset(&in, 0, sizeof in);
	in.version = 9876543210LL;
	in.deadline_ms = 1700000000123LL;
	in.hole_offset = 7;
	in.hole_length = 4;
	snprintf(in.tag, sizeof in.tag, "%s", "0b7c1d2e-3f40-4152-8a63-748596a7b8c9");
	ck_assert_int_eq(cache_put(c, "k", value, vlen, &in, 100, cache_epoch(c)), ATT_OK);
	memset(&in, 0x5a, sizeof in); /* the cache keeps its own copy */
	memset(&out, 0, sizeof out);
	ck_assert_int_eq(cache_get(c, "k", &got, &len, &out), 1);
	ck_assert_uint_eq(len, vlen);
	ck_assert_mem_eq(got, value, vlen);
	ck_assert_int_eq(got[len], '\0');
	ck_assert_int_eq(out.version, 9876543210LL);
	ck_assert_int_eq(out.deadline_ms, 1700000000123LL);
	ck_assert_int_eq(out.hole_offset, 7);
	ck_assert_int_eq(out.hole_length, 4);
	ck_assert_str_eq(out.tag, "0b7c1d2e-3f40-4152-8a63-748596a7b8c9");
	/* The copy handed out is the caller's: changing it changes nothing. */
	got[0] = '#';
	free(got);
	got = NULL;
	ck_assert_int_eq(cache_get(c, "k", &got, &len, &out), 1);
	ck_assert_mem_eq(got, value, vlen);
	free(got);
}
END_TEST

START_TEST(test_cache_miss_leaves_outputs)
{
	char *value = (char *)"untouched";
	size_t len = 42;
	cache_meta meta = {.version = 5};

	new_cache(10, BIG_BYTES);
	ck_assert_int_eq(cache_get(c, "absent", &value, &len, &meta), 0);
	ck_assert_str_eq(value, "untouched");
	ck_assert_uint_eq(len, 42);
	ck_assert_int_eq(meta.version, 5);
}
END_TEST

START_TEST(test_cache_remove_clear)
{
	new_cache(10, BIG_BYTES);

	ck_assert_int_eq(cache_remove(c, "absent"), 0);
	ck_assert_uint_eq(cache_clear(c), 0);
	put_all(1000, "a", "A", "b", "B", "c", "C", NULL);
	ck_assert_int_eq(cache_remove(c, "b"), 1);
	expect_gets("b", NULL, "a", "A", NULL);
	EXPECT_COUNTERS("entries bytes invalidations", 2, 2 * COST("a", 1), 1);
	ck_assert_uint_eq(cache_clear(c), 2);
	expect_gets("a", NULL, "c", NULL, NULL);
	EXPECT_COUNTERS("entries bytes invalidations", 0, 0, 3);
	ck_assert_uint_eq(cache_clear(c), 0);
	/* The cache is usable after a clear. */
	put("a", "A2", 1000);
	ck_assert_int_eq(get("a", "A2"), 1);
}
END_TEST

START_TEST(test_cache_epoch_rule)
{
	unsigned long long e0, e1, e2;

	new_cache(10, BIG_BYTES);
	e0 = cache_epoch(c);
	ck_assert_uint_eq(cache_epoch(c), e0); /* reading it changes nothing */
	/* A put or a get does not bump it. */
	put("a", "A", 1000);
	ck_assert_int_eq(get("a", "A"), 1);
	ck_assert_uint_eq(cache_epoch(c), e0);

	/* cache_remove bumps it even when the key was absent. */
	ck_assert_int_eq(cache_remove(c, "absent"), 0);
	e1 = cache_epoch(c);
	ck_assert_uint_ne(e1, e0);
	put_in(e0, "k", "stale", 1000);
	put_in(e0, "a", "stale", 1000); /* does not disturb what is cached */
	expect_gets("k", NULL, "a", "A", NULL);
	put_in(e1, "k", "fresh", 1000);
	ck_assert_int_eq(get("k", "fresh"), 1);

	/* cache_clear bumps it, on an empty cache too. */
	ck_assert_uint_eq(cache_clear(c), 2);
	ck_assert_uint_eq(cache_clear(c), 0);
	e2 = cache_epoch(c);
	ck_assert_uint_ne(e2, e1);
	put_in(e1, "k", "stale", 1000);
	ck_assert_int_eq(get("k", NULL), 0);
	put_in(e2, "k", "fresh", 1000);
	ck_assert_int_eq(get("k", "fresh"), 1);
	EXPECT_COUNTERS("entries", 1);
}
END_TEST

START_TEST(test_cache_free_null)
{
	cache_free(NULL);
}
END_TEST

START_TEST(test_cache_real_clock)
{
	ck_assert_int_eq(cache_create(4, 4096, NULL, NULL, &c), ATT_OK);
	put("a", "A", 60000);
	ck_assert_int_eq(get("a", "A"), 1);
}
END_TEST

void cache_cases(Suite *s)
{
	check_tcase(s, "ttl", setup, teardown, test_cache_ttl_boundary, test_cache_ttl_per_entry,
		    test_cache_expired_among_live, test_cache_ttl_not_positive_not_stored,
		    test_cache_real_clock, NULL);

	check_tcase(s, "bounds", setup, teardown, test_cache_lru_entries,
		    test_cache_lru_replace_refreshes, test_cache_zero_entries_stores_nothing,
		    test_cache_byte_bound, test_cache_byte_bound_evicts_several,
		    test_cache_replace_counts, test_cache_replace_when_full, NULL);

	check_tcase(s, "api", setup, teardown, test_cache_counters_exact,
		    test_cache_meta_round_trip, test_cache_miss_leaves_outputs,
		    test_cache_remove_clear, test_cache_epoch_rule, test_cache_free_null, NULL);
}
