/* check_util: helpers every unit-test file shares (check_util.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check_util.h"

TCase *check_tcase(Suite *s, const char *name, SFun setup, SFun teardown, ...)
{
	TCase *tc = tcase_create(name);
	const TTest *test;
	va_list ap;

	tcase_set_timeout(tc, CHECK_TIMEOUT_S);
	if (setup != NULL || teardown != NULL)
		tcase_add_checked_fixture(tc, setup, teardown);
	va_start(ap, teardown);
	while ((test = va_arg(ap, const TTest *)) != NULL)
		tcase_add_test(tc, test);
	va_end(ap);
	suite_add_tcase(s, tc);
	return tc;
}

void check_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* The field of have called name; fails the test when there is none. */
static long long field_value(const check_field *have, size_t nhave, const char *name)
{
	for (size_t i = 0; i < nhave; i++)
		if (strcmp(have[i].name, name) == 0)
			return have[i].value;
	ck_abort_msg("no field %s", name);
	return 0;
}

void check_fields(const check_field *have, size_t nhave, const char *names, const long long *want,
		  size_t nwant)
{
	char name[64];
	size_t i = 0;

	for (const char *p = names + strspn(names, " "); *p != '\0'; p += strspn(p, " ")) {
		size_t len = strcspn(p, " ");
		long long got;

		ck_assert_uint_lt(i, nwant);
		snprintf(name, sizeof name, "%.*s", (int)len, p);
		got = field_value(have, nhave, name);
		ck_assert_msg(got == want[i], "%s: %lld, expected %lld", name, got, want[i]);
		i++;
		p += len;
	}
	ck_assert_uint_eq(i, nwant);
}
