/* check_db_pool_main: runs the db_pool_live and db_failover suites against
 * the PostgreSQL named by ATTEMPTS_TEST_DB (tests/db_pool_test.sh starts one and sets it).
 * Exits 77 (automake SKIP) when the variable is not set, saying so. */
#include <stdio.h>
#include <stdlib.h>

#include "check_db_pool.h"

static const check_suite_def suites[] = {
	{"db_pool_live", db_pool_live_cases},
	{"db_failover", db_failover_cases},
};

int main(void)
{
	const char *conninfo = getenv("ATTEMPTS_TEST_DB");
	SRunner *sr;
	int failed;

	if (conninfo == NULL || *conninfo == '\0') {
		fprintf(stderr, "check_db_pool: SKIP: ATTEMPTS_TEST_DB is not set"
				" (tests/db_pool_test.sh starts a PostgreSQL and sets it)\n");
		return 77;
	}
	sr = srunner_create(NULL);
	check_add_suites(sr, suites, CHECK_ROWS(suites));
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
