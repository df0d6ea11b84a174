/* check_att_err: the error codes' texts and the detail message a failing
 * call hands back. */
#include <stdlib.h>
#include <string.h>

#include "att_err.h"
#include "check_suites.h"

START_TEST(test_strerror_never_null)
{
	for (int e = ATT_OK; e <= ATT_ECONFIG + 1; e++)
		ck_assert_ptr_nonnull(att_strerror((att_err)e));
	ck_assert_str_eq(att_strerror(ATT_ENOMEM), "out of memory");
	ck_assert_str_eq(att_strerror((att_err)(ATT_ECONFIG + 1)), "unknown error");
}
END_TEST

START_TEST(test_errmsg_set_replaces)
{
	char *msg = NULL;

	att_errmsg_set(&msg, "key %s: %d", "threads", 7);
	ck_assert_str_eq(msg, "key threads: 7");
	att_errmsg_set(&msg, "second"); /* the first is freed (valgrind_unit) */
	ck_assert_str_eq(msg, "second");
	free(msg);
}
END_TEST

START_TEST(test_errmsg_set_null_and_long)
{
	char big[2000], *msg = NULL;

	att_errmsg_set(NULL, "nobody asked %d", 1); /* no message wanted: nothing happens */
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	att_errmsg_set(&msg, "%s", big);
	ck_assert_ptr_nonnull(msg);
	ck_assert_uint_eq(strlen(msg), 511); /* cut, never overrun */
	free(msg);
}
END_TEST

void att_err_cases(Suite *s)
{
	check_tcase(s, "messages", NULL, NULL, test_strerror_never_null, test_errmsg_set_replaces,
		    test_errmsg_set_null_and_long, NULL);
}
