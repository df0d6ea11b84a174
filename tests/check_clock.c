/* check_clock: RFC 3339 UTC timestamps against timegm. */
#include <stdio.h>
#include <time.h>

#include "check_suites.h"
#include "clock.h"

START_TEST(test_parse_utc_ms)
{
	ck_assert_int_eq(clock_parse_utc_ms("1970-01-01T00:00:00Z"), 0);
	ck_assert_int_eq(clock_parse_utc_ms("2024-01-01T00:00:00Z"), 1704067200000LL);
	ck_assert_int_eq(clock_parse_utc_ms("2024-01-01T00:00:00.5Z"), 1704067200500LL);
	ck_assert_int_eq(clock_parse_utc_ms("2024-01-01T00:00:00.123456Z"), 1704067200123LL);
	ck_assert_int_eq(clock_parse_utc_ms("2024-01-01T00:00:00+01:00"), -1);
	ck_assert_int_eq(clock_parse_utc_ms("2024-01-01T00:00:00"), -1);
	ck_assert_int_eq(clock_parse_utc_ms("2024-01-01"), -1);
	ck_assert_int_eq(clock_parse_utc_ms(NULL), -1);
	ck_assert_int_eq(clock_parse_utc_ms("2024-1-01T00:00:00Z"), -1);
	ck_assert_int_eq(clock_parse_utc_ms(" 2024-01-01T00:00:00Z"), -1);
	ck_assert_int_eq(clock_parse_utc_ms("2024-13-01T00:00:00Z"), -1);
	ck_assert_int_eq(clock_parse_utc_ms("2024-01-01T24:00:00Z"), -1);
	ck_assert_int_eq(clock_parse_utc_ms("2024-01-01T00:00:00.Z"), 1704067200000LL);
	/* Every day from 1999 to 2101 (leap years, 2000, 2100) agrees with timegm. */
	for (long long day = 0; day < 103 * 366; day++) {
		time_t t = (time_t)(946684800LL - 365 * 86400LL + day * 86400LL + 86399);
		struct tm tm;
		char text[40];

		gmtime_r(&t, &tm);
		strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S.999Z", &tm);
		ck_assert_msg(clock_parse_utc_ms(text) == (long long)t * 1000 + 999, "%s: %lld",
			      text, clock_parse_utc_ms(text));
	}
}
END_TEST

void clock_cases(Suite *s)
{
	check_tcase(s, "utc", NULL, NULL, test_parse_utc_ms, NULL);
}
