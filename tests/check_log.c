/* check_log: one line per record in both formats - folding of multi-line
 * messages, JSON escaping, the thread's request id - and the rate limit. */
#include <check.h>
#include <cJSON.h>
#include <string.h>

#include "check_suites.h"
#include "log.h"

/* 2024-01-02T03:04:05.678Z */
#define T_MS 1704164645678LL

START_TEST(test_log_text_line)
{
	char line[512];
	size_t n = log_render(line, sizeof line, LOG_FORMAT_TEXT, LOG_LVL_WARN, T_MS, 42, "req-1",
			      "db error: ERROR:  boom\nDETAIL:  more\n\tHINT: x\n");

	line[n] = '\0';
	ck_assert_str_eq(line, "2024-01-02T03:04:05Z WARN [42] request_id=req-1 "
			       "db error: ERROR:  boom DETAIL:  more HINT: x\n");
	n = log_render(line, sizeof line, LOG_FORMAT_TEXT, LOG_LVL_INFO, T_MS, 42, NULL,
		       "a\x01"
		       "b\tc\r\n");
	line[n] = '\0';
	ck_assert_str_eq(line, "2024-01-02T03:04:05Z INFO [42] a?b c\n");
}
END_TEST

START_TEST(test_log_json_line)
{
	char line[512];
	size_t n = log_render(line, sizeof line, LOG_FORMAT_JSON, LOG_LVL_ERROR, T_MS, 7, "abc.1",
			      "say \"hi\" \\ then\nDETAIL: \x02");
	cJSON *j;

	line[n] = '\0';
	ck_assert_int_eq(line[n - 1], '\n');
	ck_assert_ptr_null(memchr(line, '\n', n - 1));
	j = cJSON_Parse(line);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(cJSON_GetObjectItem(j, "ts")->valuestring, "2024-01-02T03:04:05.678Z");
	ck_assert_str_eq(cJSON_GetObjectItem(j, "level")->valuestring, "error");
	ck_assert_int_eq(cJSON_GetObjectItem(j, "pid")->valueint, 7);
	ck_assert_str_eq(cJSON_GetObjectItem(j, "request_id")->valuestring, "abc.1");
	ck_assert_str_eq(cJSON_GetObjectItem(j, "msg")->valuestring,
			 "say \"hi\" \\ then DETAIL: \x02");
	cJSON_Delete(j);
	n = log_render(line, sizeof line, LOG_FORMAT_JSON, LOG_LVL_DEBUG, T_MS, 7, "", "x");
	line[n] = '\0';
	j = cJSON_Parse(line);
	ck_assert_ptr_nonnull(j);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "request_id")));
	cJSON_Delete(j);
}
END_TEST

/* A message longer than the line is cut, and the JSON line still closes. */
START_TEST(test_log_json_truncated)
{
	char line[128], msg[400];
	size_t n;
	cJSON *j;

	memset(msg, '"', sizeof msg - 1);
	msg[sizeof msg - 1] = '\0';
	n = log_render(line, sizeof line, LOG_FORMAT_JSON, LOG_LVL_INFO, T_MS, 1, "r", msg);
	ck_assert_uint_le(n, sizeof line);
	ck_assert_int_eq(line[n - 1], '\n');
	line[n - 1] = '\0';
	j = cJSON_Parse(line);
	ck_assert_ptr_nonnull(j);
	cJSON_Delete(j);
}
END_TEST

START_TEST(test_log_request_id_per_thread)
{
	ck_assert_str_eq(log_request_id(), "");
	log_set_request_id("abc");
	ck_assert_str_eq(log_request_id(), "abc");
	log_set_request_id(NULL);
	ck_assert_str_eq(log_request_id(), "");
}
END_TEST

START_TEST(test_log_parse)
{
	ck_assert_int_eq(log_format_parse("text"), LOG_FORMAT_TEXT);
	ck_assert_int_eq(log_format_parse("json"), LOG_FORMAT_JSON);
	ck_assert_int_eq(log_format_parse("JSON"), -1);
	ck_assert_int_eq(log_level_parse("warn"), LOG_LVL_WARN);
}
END_TEST

START_TEST(test_log_limit)
{
	log_limit l = LOG_LIMIT_INIT;
	unsigned held = 99;

	ck_assert_int_eq(log_limit_allow(&l, 1000, 5000, &held), 1);
	ck_assert_uint_eq(held, 0);
	ck_assert_int_eq(log_limit_allow(&l, 2000, 5000, &held), 0);
	ck_assert_int_eq(log_limit_allow(&l, 5999, 5000, &held), 0);
	ck_assert_int_eq(log_limit_allow(&l, 6000, 5000, &held), 1);
	ck_assert_uint_eq(held, 2);
	ck_assert_int_eq(log_limit_allow(&l, 20000, 5000, &held), 1);
	ck_assert_uint_eq(held, 0);
}
END_TEST

void log_cases(Suite *s)
{
	check_tcase(s, "records", NULL, NULL, test_log_text_line, test_log_json_line,
		    test_log_json_truncated, test_log_request_id_per_thread, test_log_parse,
		    test_log_limit, NULL);
}
