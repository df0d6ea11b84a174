/* check_token_memo: the memo of verified tokens (lib/token_memo). */
#include <check.h>
#include <string.h>

#include "check_suites.h"
#include "token_memo.h"

static const unsigned char tag_a[TOKEN_MEMO_TAG_LEN] = {1};
static const unsigned char tag_b[TOKEN_MEMO_TAG_LEN] = {2};

static token_memo *memo(size_t slots)
{
	token_memo *m = NULL;

	ck_assert_int_eq(token_memo_create(slots, sizeof(int), &m), ATT_OK);
	return m;
}

/* A token is found only byte for byte, under the tag it was stored with. */
START_TEST(test_token_memo_find_exact)
{
	token_memo *m = memo(64);
	int v = 42, got = 0;
	unsigned long long hits, misses;

	ck_assert_int_eq(token_memo_find(m, "abc.def.ghi", 11, tag_a, &got), 0);
	token_memo_store(m, "abc.def.ghi", 11, tag_a, &v);
	ck_assert_int_eq(token_memo_find(m, "abc.def.ghi", 11, tag_a, &got), 1);
	ck_assert_int_eq(got, 42);
	ck_assert_int_eq(token_memo_find(m, "abc.def.ghi", 11, tag_b, &got), 0);
	ck_assert_int_eq(token_memo_find(m, "abc.def.ghj", 11, tag_a, &got), 0);
	ck_assert_int_eq(token_memo_find(m, "abc.def.gh", 10, tag_a, &got), 0);
	token_memo_stats(m, &hits, &misses);
	ck_assert_uint_eq(hits, 1);
	ck_assert_uint_eq(misses, 4);
	token_memo_clear(m);
	ck_assert_int_eq(token_memo_find(m, "abc.def.ghi", 11, tag_a, &got), 0);
	token_memo_free(m);
}
END_TEST

/* In a memo of one set (two ways), a third token evicts the one used
 * less recently; a token longer than the limit is never stored. */
START_TEST(test_token_memo_evicts_least_recent)
{
	token_memo *m = memo(2);
	int one = 1, two = 2, three = 3, got = 0;
	char longest[TOKEN_MEMO_MAX_TOKEN + 1];

	token_memo_store(m, "one", 3, tag_a, &one);
	token_memo_store(m, "two", 3, tag_a, &two);
	ck_assert_int_eq(token_memo_find(m, "one", 3, tag_a, &got), 1); /* one is recent */
	token_memo_store(m, "three", 5, tag_a, &three);
	ck_assert_int_eq(token_memo_find(m, "two", 3, tag_a, &got), 0);
	ck_assert_int_eq(token_memo_find(m, "one", 3, tag_a, &got), 1);
	ck_assert_int_eq(got, 1);
	ck_assert_int_eq(token_memo_find(m, "three", 5, tag_a, &got), 1);
	ck_assert_int_eq(got, 3);
	memset(longest, 'x', sizeof longest);
	token_memo_store(m, longest, sizeof longest, tag_a, &one);
	ck_assert_int_eq(token_memo_find(m, longest, sizeof longest, tag_a, &got), 0);
	token_memo_free(m);
}
END_TEST

START_TEST(test_token_memo_limits)
{
	token_memo *m = NULL;
	int got;

	ck_assert_int_eq(token_memo_create(1, sizeof(int), &m), ATT_EINVAL);
	ck_assert_int_eq(token_memo_create(8, TOKEN_MEMO_MAX_VALUE + 1, &m), ATT_EINVAL);
	ck_assert_ptr_null(m);
	/* NULL memo: nothing remembered */
	ck_assert_int_eq(token_memo_find(NULL, "a", 1, tag_a, &got), 0);
	token_memo_store(NULL, "a", 1, tag_a, &got);
	token_memo_clear(NULL);
	token_memo_free(NULL);
}
END_TEST

void token_memo_cases(Suite *s)
{
	check_tcase(s, "memo", NULL, NULL, test_token_memo_find_exact,
		    test_token_memo_evicts_least_recent, test_token_memo_limits, NULL);
}
