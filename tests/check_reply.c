/* check_reply: the SQL functions' error codes -> HTTP statuses. */
#include <stddef.h>

#include "check_suites.h"
#include "reply.h"

START_TEST(test_status_for_code)
{
	static const struct {
		const char *code;
		int status;
	} cases[] = {
		{"unauthorized", 401},	    {"forbidden", 403},
		{"not_found", 404},	    {"version_conflict", 409},
		{"attempt_submitted", 409}, {"attempt_closed", 409},
		{"exam_closed", 409},	    {"max_attempts_reached", 409},
		{"not_extendable", 409},    {"payload_too_large", 413},
		{"batch_too_large", 413},   {"unsupported_media_type", 415},
		{"invalid_filename", 400},  {"validation_failed", 422},
		{"no_such_code", 500},	    {"", 500},
		{"NOT_FOUND", 500},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(reply_status_for_code(cases[i].code) == cases[i].status,
			      "%s -> %d, expected %d", cases[i].code,
			      reply_status_for_code(cases[i].code), cases[i].status);
}
END_TEST

Suite *reply_suite(void)
{
	Suite *s = suite_create("reply");
	check_tcase(s, "status", NULL, NULL, test_status_for_code, NULL);
	return s;
}
