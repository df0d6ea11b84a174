/* check_prom: the Prometheus text writer - family header, label escaping,
 * histogram shape (cumulative buckets, +Inf, _sum, _count). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_suites.h"
#include "prom.h"

/* b's text; the test frees it. */
static char *text_of(buf *b)
{
	char *t = buf_take(b);

	ck_assert_ptr_nonnull(t);
	return t;
}

START_TEST(test_prom_family_and_samples)
{
	buf b = BUF_INIT;
	char *t;

	prom_family(&b, "x_total", "counter", "help with \\ and\nnewline");
	prom_sample_u64(&b, "x_total", NULL, 18446744073709551615ull);
	prom_sample_u64(&b, "x_total", (const char *const[]){"a", "1", "b", "two", NULL}, 7);
	prom_sample(&b, "x_total", (const char *const[]){"a", "f", NULL}, 0.25);
	t = text_of(&b);
	ck_assert_str_eq(t, "# HELP x_total help with \\\\ and\\nnewline\n"
			    "# TYPE x_total counter\n"
			    "x_total 18446744073709551615\n"
			    "x_total{a=\"1\",b=\"two\"} 7\n"
			    "x_total{a=\"f\"} 0.25\n");
	free(t);
}
END_TEST

START_TEST(test_prom_label_escaping)
{
	buf b = BUF_INIT;
	char *t;

	prom_sample_u64(&b, "m", (const char *const[]){"l", "a\"b\\c\nd", NULL}, 1);
	t = text_of(&b);
	ck_assert_str_eq(t, "m{l=\"a\\\"b\\\\c\\nd\"} 1\n");
	free(t);
}
END_TEST

START_TEST(test_prom_special_values)
{
	buf b = BUF_INIT;
	char *t;

	prom_sample(&b, "g", NULL, NAN);
	prom_sample(&b, "g", NULL, INFINITY);
	prom_sample(&b, "g", NULL, -INFINITY);
	prom_sample(&b, "g", NULL, 0.0005);
	prom_sample(&b, "g", NULL, 12);
	t = text_of(&b);
	ck_assert_str_eq(t, "g NaN\ng +Inf\ng -Inf\ng 0.0005\ng 12\n");
	free(t);
}
END_TEST

/* Buckets add up (le is "at most"), +Inf is last and equals _count. */
START_TEST(test_prom_histogram)
{
	static const double bounds[] = {0.001, 0.01, 0.1};
	static const unsigned long long counts[] = {2, 0, 3, 1};
	buf b = BUF_INIT;
	char *t;

	prom_family(&b, "d_seconds", "histogram", "durations");
	prom_histogram(&b, "d_seconds", (const char *const[]){"action", "state", NULL}, bounds, 3,
		       counts, 1.5);
	t = text_of(&b);
	ck_assert_str_eq(t, "# HELP d_seconds durations\n"
			    "# TYPE d_seconds histogram\n"
			    "d_seconds_bucket{action=\"state\",le=\"0.001\"} 2\n"
			    "d_seconds_bucket{action=\"state\",le=\"0.01\"} 2\n"
			    "d_seconds_bucket{action=\"state\",le=\"0.1\"} 5\n"
			    "d_seconds_bucket{action=\"state\",le=\"+Inf\"} 6\n"
			    "d_seconds_sum{action=\"state\"} 1.5\n"
			    "d_seconds_count{action=\"state\"} 6\n");
	free(t);
}
END_TEST

START_TEST(test_prom_histogram_no_labels)
{
	static const double bounds[] = {1, 2};
	static const unsigned long long counts[] = {0, 0, 0};
	buf b = BUF_INIT;
	char *t;

	prom_histogram(&b, "h", NULL, bounds, 2, counts, 0);
	t = text_of(&b);
	ck_assert_str_eq(t, "h_bucket{le=\"1\"} 0\nh_bucket{le=\"2\"} 0\nh_bucket{le=\"+Inf\"} 0\n"
			    "h_sum 0\nh_count 0\n");
	free(t);
}
END_TEST

void prom_cases(Suite *s)
{
	check_tcase(s, "text", NULL, NULL, test_prom_family_and_samples, test_prom_label_escaping,
		    test_prom_special_values, test_prom_histogram, test_prom_histogram_no_labels,
		    NULL);
}
