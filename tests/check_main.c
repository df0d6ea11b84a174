/* check_main: the unit-test runner; chains every module's suite (libevdev's
 * test-main style). CK_FORK=no runs in-process, e.g. under valgrind. */
#include <stdlib.h>

#include "check_suites.h"

int main(void)
{
	SRunner *sr = srunner_create(buf_suite());
	int failed;

	srunner_add_suite(sr, att_err_suite());
	srunner_add_suite(sr, config_suite());
	srunner_add_suite(sr, json_suite());
	srunner_add_suite(sr, json_parse_suite());
	srunner_add_suite(sr, http_suite());
	srunner_add_suite(sr, http_query_suite());
	srunner_add_suite(sr, http_body_suite());
	srunner_add_suite(sr, http_response_suite());
	srunner_add_suite(sr, auth_suite());
	srunner_add_suite(sr, auth_claims_suite());
	srunner_add_suite(sr, auth_json_suite());
	srunner_add_suite(sr, jwks_suite());
	srunner_add_suite(sr, token_memo_suite());
	srunner_add_suite(sr, http_cond_suite());
	srunner_add_suite(sr, clock_suite());
	srunner_add_suite(sr, attempt_view_suite());
	srunner_add_suite(sr, access_suite());
	srunner_add_suite(sr, reply_suite());
	srunner_add_suite(sr, router_suite());
	srunner_add_suite(sr, router_routing_suite());
	srunner_add_suite(sr, router_requests_suite());
	srunner_add_suite(sr, router_actions_suite());
	srunner_add_suite(sr, router_errors_suite());
	srunner_add_suite(sr, cors_suite());
	srunner_add_suite(sr, uploads_suite());
	srunner_add_suite(sr, cache_suite());
	srunner_add_suite(sr, cache_concurrency_suite());
	srunner_add_suite(sr, write_stamps_suite());
	srunner_add_suite(sr, limiter_suite());
	srunner_add_suite(sr, coalescer_suite());
	srunner_add_suite(sr, fcgi_suite());
	srunner_add_suite(sr, fcgi_server_suite());
	srunner_add_suite(sr, breaker_suite());
	srunner_add_suite(sr, retry_suite());
	srunner_add_suite(sr, metrics_suite());
	srunner_add_suite(sr, prom_suite());
	srunner_add_suite(sr, host_metrics_suite());
	srunner_add_suite(sr, log_suite());
	srunner_add_suite(sr, db_pool_suite());
	srunner_add_suite(sr, attempt_cache_suite());
	srunner_add_suite(sr, app_suite());
	srunner_add_suite(sr, live_feed_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
