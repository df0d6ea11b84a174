/* check_http_cond: If-Match, If-None-Match and Cache-Control parsing. */
#include <stddef.h>

#include "check_suites.h"
#include "http_cond.h"

START_TEST(test_parse_if_match)
{
	static const struct {
		const char *value;
		int ret;
		long version;
	} cases[] = {
		{"\"3\"", 1, 3},
		{"W/\"7\"", 1, 7},
		{"3", 1, 3},
		{"  \"12\"  ", 1, 12},
		{"\"0\"", 1, 0},
		{"\"2147483647\"", 1, 2147483647L},
		{NULL, 0, -1},
		{"", 0, -1},
		{"   ", 0, -1},
		{"*", 0, -1},
		{"\"2147483648\"", -1, -1},
		{"\"99999999999999999999999\"", -1, -1},
		{"\"-1\"", -1, -1},
		{"-1", -1, -1},
		{"+3", -1, -1},
		{"\"abc\"", -1, -1},
		{"\"\"", -1, -1},
		{"\"3", -1, -1},
		{"3\"", -1, -1},
		{"\"3x\"", -1, -1},
		{"\"3 ", -1, -1},
		{"\"3\", \"4\"", -1, -1},
		{"W/", -1, -1},
		{"w/\"3\"", -1, -1},
		{"1.5", -1, -1},
		{"\"3\"x", -1, -1},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		long v = -1;
		int ret = http_cond_if_match(cases[i].value, &v);
		ck_assert_msg(ret == cases[i].ret, "If-Match [%s]: %d, expected %d",
			      cases[i].value ? cases[i].value : "(null)", ret, cases[i].ret);
		ck_assert_msg(v == cases[i].version, "If-Match [%s]: version %ld, expected %ld",
			      cases[i].value ? cases[i].value : "(null)", v, cases[i].version);
	}
}
END_TEST

START_TEST(test_etag_matches)
{
	ck_assert_int_eq(http_cond_etag_matches("\"3\"", 3), 1);
	ck_assert_int_eq(http_cond_etag_matches("W/\"3\"", 3), 1);
	ck_assert_int_eq(http_cond_etag_matches("\"1\", \"3\"", 3), 1);
	ck_assert_int_eq(http_cond_etag_matches("\"1\",\"3\"", 3), 1);
	ck_assert_int_eq(http_cond_etag_matches("*", 3), 1);
	ck_assert_int_eq(http_cond_etag_matches("\"30\"", 3), 0);
	ck_assert_int_eq(http_cond_etag_matches("\"3\"", 30), 0);
	ck_assert_int_eq(http_cond_etag_matches("\"4\"", 3), 0);
	ck_assert_int_eq(http_cond_etag_matches("3", 3), 0);
	ck_assert_int_eq(http_cond_etag_matches("", 3), 0);
	ck_assert_int_eq(http_cond_etag_matches(NULL, 3), 0);
}
END_TEST

START_TEST(test_http_cond_no_cache)
{
	ck_assert_int_eq(http_cond_no_cache("no-cache"), 1);
	ck_assert_int_eq(http_cond_no_cache("max-age=0, No-Cache"), 1);
	ck_assert_int_eq(http_cond_no_cache("no-store"), 1);
	ck_assert_int_eq(http_cond_no_cache("max-age=60"), 0);
	ck_assert_int_eq(http_cond_no_cache(NULL), 0);
}
END_TEST

Suite *http_cond_suite(void)
{
	Suite *s = suite_create("http_cond");
	TCase *tc = check_tcase(s, "headers", NULL, NULL);

	tcase_add_test(tc, test_parse_if_match);
	tcase_add_test(tc, test_etag_matches);
	tcase_add_test(tc, test_http_cond_no_cache);
	return s;
}
