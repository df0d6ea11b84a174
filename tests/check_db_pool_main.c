/* check_db_pool_main: runs db_pool_live_suite against the PostgreSQL named
 * by ATTEMPTS_TEST_DB (tests/db_pool_test.sh starts one and sets it).
 * Exits 77 (automake SKIP) when the variable is not set, saying so. */
#include <stdio.h>
#include <stdlib.h>

#include "check_db_pool.h"

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
	sr = srunner_create(db_pool_live_suite());
	srunner_add_suite(sr, db_failover_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
