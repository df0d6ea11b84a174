/* check_attempt_view: the facts the cache keeps about a state text. */
#include <string.h>

#include "attempt_view.h"
#include "check_suites.h"
#include "json.h"
#include "uuid.h"

/* The cache's facts about a state come from the top level, not from an
 * answers object that happens to hold "version" or "user_id" keys. */
START_TEST(test_describe_attempt)
{
	static const char state[] =
		"{\"status\": \"in_progress\", \"answers\": {\"version\": 1, \"user_id\": "
		"\"00000000-0000-4000-8000-0000000000ff\"}, \"user_id\": "
		"\"00000000-0000-4000-8000-00000000d001\", \"version\": 12, \"deadline_at\": "
		"\"2030-01-01T00:00:00.000000Z\", \"time_remaining_s\": 3599}";
	static const char submitted[] =
		"{\"user_id\": \"00000000-0000-4000-8000-00000000d001\", \"version\": 3, "
		"\"deadline_at\": \"2030-01-01T00:00:00Z\", \"time_remaining_s\": null}";
	cache_meta m;

	ck_assert_int_eq(attempt_view_describe(state, strlen(state), &m, NULL), 1);
	ck_assert_int_eq(m.version, 12);
	ck_assert_str_eq(m.tag, "00000000-0000-4000-8000-00000000d001");
	ck_assert_int_eq(m.deadline_ms, 1893456000000LL);
	ck_assert_int_eq(strncmp(state + m.hole_offset, "3599", 4), 0);
	ck_assert_int_eq(m.hole_length, 4);
	ck_assert_int_eq(attempt_view_describe(submitted, strlen(submitted), &m, NULL), 1);
	ck_assert_int_eq(m.hole_offset, -1);
	ck_assert_int_eq(attempt_view_describe("{\"error\": {}}", 13, &m, NULL), 0);
}
END_TEST

/* A state item of a batch: a span of the SQL array, not NUL-terminated,
 * with its attempt id for the cache key; error items are not states. */
START_TEST(test_describe_attempt_span)
{
	static const char arr[] =
		"[{\"user_id\": \"00000000-0000-4000-8000-00000000d001\", \"version\": 4, "
		"\"answers\": {\"n\": 12345678901234567890123}, \"attempt_id\": "
		"\"00000000-0000-4000-8000-0000000000a1\"}, {\"error\": {}, \"attempt_id\": "
		"\"00000000-0000-4000-8000-0000000000a2\"}]";
	static const char no_id[] =
		"{\"user_id\": \"00000000-0000-4000-8000-00000000d001\", \"version\": 4}";
	json_span at[2];
	char id[UUID_STR_LEN + 1];
	cache_meta m;

	ck_assert_int_eq(json_array_elements(arr, strlen(arr), at, 2), 2);
	ck_assert_int_eq(attempt_view_describe(arr + at[0].offset, (size_t)at[0].length, &m, id),
			 1);
	ck_assert_str_eq(id, "00000000-0000-4000-8000-0000000000a1");
	ck_assert_str_eq(m.tag, "00000000-0000-4000-8000-00000000d001");
	ck_assert_int_eq(m.version, 4);
	ck_assert_int_eq(attempt_view_describe(arr + at[1].offset, (size_t)at[1].length, &m, id),
			 0);
	/* Without an attempt_id there is no key: not cacheable by id. */
	ck_assert_int_eq(attempt_view_describe(no_id, strlen(no_id), &m, id), 0);
	ck_assert_int_eq(attempt_view_describe(no_id, strlen(no_id), &m, NULL), 1);
}
END_TEST

void attempt_view_cases(Suite *s)
{
	check_tcase(s, "describe", NULL, NULL, test_describe_attempt, test_describe_attempt_span,
		    NULL);
}
