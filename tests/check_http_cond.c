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

/* An If-None-Match value, a version, and whether they match. */
static const struct etag_rows_row {
	const char *header;
	long long version;
	int matches;
} etag_rows[] = {
	{"\"3\"", 3, 1}, {"W/\"3\"", 3, 1}, {"\"1\", \"3\"", 3, 1}, {"\"1\",\"3\"", 3, 1},
	{"*", 3, 1},	 {"\"30\"", 3, 0},  {"\"3\"", 30, 0},	    {"\"4\"", 3, 0},
	{"3", 3, 0},	 {"", 3, 0},	    {NULL, 3, 0},
};

START_TEST(test_etag_matches)
{
	const struct etag_rows_row *r = &etag_rows[_i];

	ck_assert_msg(http_cond_etag_matches(r->header, r->version) == r->matches,
		      "[%s] version %lld: not %d", r->header ? r->header : "(null)", r->version,
		      r->matches);
}
END_TEST

/* A Cache-Control value, and whether it asks for no cache. */
static const check_text_row no_cache_rows[] = {
	{"no-cache", 1}, {"max-age=0, No-Cache", 1}, {"no-store", 1}, {"max-age=60", 0}, {NULL, 0},
};

START_TEST(test_http_cond_no_cache)
{
	const check_text_row *r = &no_cache_rows[_i];

	ck_assert_msg(http_cond_no_cache(r->text) == r->want, "[%s]: not %d",
		      r->text ? r->text : "(null)", r->want);
}
END_TEST

void http_cond_cases(Suite *s)
{
	TCase *tc = check_tcase(s, "headers", NULL, NULL, test_parse_if_match, NULL);
	tcase_add_loop_test(tc, test_etag_matches, 0, CHECK_ROWS(etag_rows));
	tcase_add_loop_test(tc, test_http_cond_no_cache, 0, CHECK_ROWS(no_cache_rows));
}
