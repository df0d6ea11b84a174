/* check_access: who may see a cached attempt, cached statistics. */
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

START_TEST(test_access_may_read_stats)
{
	static const struct {
		auth_role role;
		int may;
	} rows[] = {{AUTH_ROLE_STUDENT, 0}, {AUTH_ROLE_PROCTOR, 1}, {AUTH_ROLE_ADMIN, 1}};
	auth_claims c;

	memset(&c, 0, sizeof c);
	strcpy(c.sub, SUB);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		c.role = rows[i].role;
		ck_assert_int_eq(access_may_read_stats(&c), rows[i].may);
	}
}
END_TEST

void access_cases(Suite *s)
{
	check_tcase(s, "cached_attempt", NULL, NULL, test_access_may_read_attempt,
		    test_access_may_read_stats, NULL);
}
