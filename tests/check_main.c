/* check_main: the unit-test runner; chains every module's suite (libevdev's
 * test-main style). CK_FORK=no runs in-process, e.g. under valgrind. */
#include <stdlib.h>

#include "check_suites.h"

/* The suites made here, each from its file's x_cases(). */
static const check_suite_def suites[] = {
	{"buf", buf_cases},
	{"att_err", att_err_cases},
	{"json", json_cases},
	{"json_parse", json_parse_cases},
	{"token_memo", token_memo_cases},
	{"clock", clock_cases},
	{"attempt_view", attempt_view_cases},
	{"access", access_cases},
	{"uploads", uploads_cases},
	{"cache", cache_cases},
	{"cache_concurrency", cache_concurrency_cases},
	{"write_stamps", write_stamps_cases},
	{"limiter", limiter_cases},
	{"coalescer", coalescer_cases},
	{"fcgi_server", fcgi_server_cases},
	{"breaker", breaker_cases},
	{"retry", retry_cases},
	{"metrics", metrics_cases},
	{"prom", prom_cases},
	{"host_metrics", host_metrics_cases},
	{"log", log_cases},
	{"db_pool", db_pool_cases},
	{"attempt_cache", attempt_cache_cases},
	{"app", app_cases},
	{"live_feed", live_feed_cases},
	{"config", config_cases},
	{"http", http_cases},
	{"http_query", http_query_cases},
	{"http_body", http_body_cases},
	{"http_response", http_response_cases},
	{"auth", auth_cases},
	{"auth_claims", auth_claims_cases},
	{"auth_json", auth_json_cases},
	{"jwks", jwks_cases},
	{"http_cond", http_cond_cases},
	{"reply", reply_cases},
	{"router", router_cases},
	{"router_routing", router_routing_cases},
	{"router_requests", router_requests_cases},
	{"router_actions", router_actions_cases},
	{"router_errors", router_errors_cases},
	{"cors", cors_cases},
	{"fcgi", fcgi_cases},
};

int main(void)
{
	SRunner *sr = srunner_create(NULL);
	int failed;

	check_add_suites(sr, suites, CHECK_ROWS(suites));
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
