/* check_retry: which failures may be repeated, and the exponential backoff
 * caps with full jitter under them. */
#include <stdlib.h>

#include "check_suites.h"
#include "retry.h"

START_TEST(test_retry_not_sent_always_safe)
{
	static const char *const states[] = {NULL, "", "40001", "23505", "08006"};

	for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
		ck_assert_int_ne(retry_is_safe(RETRY_NOT_SENT, states[i], 0), 0);
		ck_assert_int_ne(retry_is_safe(RETRY_NOT_SENT, states[i], 1), 0);
	}
}
END_TEST

START_TEST(test_retry_lost_after_send_only_idempotent)
{
	ck_assert_int_eq(retry_is_safe(RETRY_LOST_AFTER_SEND, NULL, 0), 0);
	ck_assert_int_ne(retry_is_safe(RETRY_LOST_AFTER_SEND, NULL, 1), 0);
	/* The sqlstate does not matter: the outcome is unknown either way. */
	ck_assert_int_eq(retry_is_safe(RETRY_LOST_AFTER_SEND, "40001", 0), 0);
	ck_assert_int_eq(retry_is_safe(RETRY_LOST_AFTER_SEND, "08006", 0), 0);
	ck_assert_int_ne(retry_is_safe(RETRY_LOST_AFTER_SEND, "08006", 1), 0);
}
END_TEST

START_TEST(test_retry_sql_errors)
{
	static const char *const safe[] = {"40001", "40P01"};
	static const char *const unsafe[] = {
		"23505",	   /* unique violation */
		"57014",	   /* query canceled (statement timeout) */
		"08006",	   /* connection failure, as an SQL error */
		"40002",	   /* integrity constraint violation at commit */
		"40003",	   /* statement completion unknown */
		"4000",		   /* a prefix of 40001 */
		"40001x", "40p01", /* SQLSTATEs are upper case */
		"P0001",	   /* raise_exception */
		"",
	};

	for (int idem = 0; idem <= 1; idem++) {
		for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
			ck_assert_msg(retry_is_safe(RETRY_SQL_ERROR, safe[i], idem) != 0,
				      "%s (idempotent %d) should be safe", safe[i], idem);
		for (size_t i = 0; i < sizeof unsafe / sizeof unsafe[0]; i++)
			ck_assert_msg(retry_is_safe(RETRY_SQL_ERROR, unsafe[i], idem) == 0,
				      "%s (idempotent %d) should not be safe", unsafe[i], idem);
		ck_assert_int_eq(retry_is_safe(RETRY_SQL_ERROR, NULL, idem), 0);
	}
}
END_TEST

START_TEST(test_retry_unknown_kind_unsafe)
{
	ck_assert_int_eq(retry_is_safe((retry_kind)99, "40001", 1), 0);
}
END_TEST

START_TEST(test_retry_cap_doubles_to_max)
{
	static const long want[] = {50, 100, 200, 400, 800, 1600, 2000, 2000, 2000};
	retry_policy p = {.attempts = 10, .base_delay_ms = 50, .max_delay_ms = 2000};

	for (int attempt = 2; attempt <= 10; attempt++)
		ck_assert_msg(retry_delay_cap_ms(&p, attempt) == want[attempt - 2],
			      "attempt %d: cap %ld, want %ld", attempt,
			      retry_delay_cap_ms(&p, attempt), want[attempt - 2]);
	/* Far out it stays at the max (no overflow). */
	ck_assert_int_eq(retry_delay_cap_ms(&p, 100), 2000);
	ck_assert_int_eq(retry_delay_cap_ms(&p, 1000000), 2000);
}
END_TEST

START_TEST(test_retry_cap_base_above_max)
{
	retry_policy p = {.attempts = 3, .base_delay_ms = 5000, .max_delay_ms = 2000};

	ck_assert_int_eq(retry_delay_cap_ms(&p, 2), 2000);
	ck_assert_int_eq(retry_delay_cap_ms(&p, 5), 2000);
}
END_TEST

START_TEST(test_retry_delay_zero_cap)
{
	retry_policy p = {.attempts = 3, .base_delay_ms = 0, .max_delay_ms = 0};
	unsigned seed = 1;

	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(retry_delay_ms(&p, 2 + i % 5, &seed), 0);
}
END_TEST

START_TEST(test_retry_delay_full_jitter)
{
	retry_policy p = {.attempts = 10, .base_delay_ms = 50, .max_delay_ms = 2000};
	unsigned seed = 20240601u;

	for (int attempt = 2; attempt <= 10; attempt++) {
		long cap = retry_delay_cap_ms(&p, attempt);
		int low = 0, high = 0;
		long min = cap, max = 0;

		for (int i = 0; i < 10000; i++) {
			long d = retry_delay_ms(&p, attempt, &seed);

			ck_assert_msg(d >= 0 && d <= cap, "attempt %d: delay %ld outside [0, %ld]",
				      attempt, d, cap);
			if (4 * d < cap)
				low = 1;
			if (4 * d > 3 * cap)
				high = 1;
			if (d < min)
				min = d;
			if (d > max)
				max = d;
		}
		ck_assert_msg(low && high, "attempt %d: delays span only [%ld, %ld] of [0, %ld]",
			      attempt, min, max, cap);
	}
}
END_TEST

/* The seed is the caller's: the same seed gives the same delays. */
START_TEST(test_retry_delay_seeded)
{
	retry_policy p = {.attempts = 5, .base_delay_ms = 50, .max_delay_ms = 2000};
	unsigned s1 = 42, s2 = 42;
	long first = retry_delay_ms(&p, 6, &s1);
	int differ = 0;

	ck_assert_int_eq(retry_delay_ms(&p, 6, &s2), first);
	for (int i = 0; i < 100; i++) {
		long d = retry_delay_ms(&p, 6, &s1);

		ck_assert_int_eq(retry_delay_ms(&p, 6, &s2), d);
		differ |= d != first;
	}
	ck_assert_int_ne(differ, 0);
}
END_TEST

void retry_cases(Suite *s)
{
	check_tcase(s, "is_safe", NULL, NULL, test_retry_not_sent_always_safe,
		    test_retry_lost_after_send_only_idempotent, test_retry_sql_errors,
		    test_retry_unknown_kind_unsafe, NULL);

	check_tcase(s, "backoff", NULL, NULL, test_retry_cap_doubles_to_max,
		    test_retry_cap_base_above_max, test_retry_delay_zero_cap,
		    test_retry_delay_full_jitter, test_retry_delay_seeded, NULL);
}
