/* check_access: who may see a cached attempt. */
#include <string.h>

#include "access.h"
#include "check_suites.h"

#define UUID_A "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define SUB "11111111-2222-4333-8444-555555555555"

START_TEST(test_access_may_read_attempt)
{
	auth_claims c;

	memset(&c, 0, sizeof c);
	strcpy(c.sub, SUB);
	c.role = AUTH_ROLE_STUDENT;
	ck_assert_int_eq(access_may_read_attempt(&c, SUB), 1);
	ck_assert_int_eq(access_may_read_attempt(&c, UUID_A), 0);
	c.role = AUTH_ROLE_PROCTOR;
	ck_assert_int_eq(access_may_read_attempt(&c, UUID_A), 1);
	c.role = AUTH_ROLE_ADMIN;
	ck_assert_int_eq(access_may_read_attempt(&c, UUID_A), 1);
}
END_TEST

void access_cases(Suite *s)
{
	check_tcase(s, "cached_attempt", NULL, NULL, test_access_may_read_attempt, NULL);
}
