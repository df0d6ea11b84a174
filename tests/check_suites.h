/* check_suites: one Suite per unit-test file, chained by check_main.c.
 * Each tests/check_<module>.c exports x_cases(Suite *), which adds its
 * test cases to the Suite check_main.c's table makes for it. */
#ifndef ATT_CHECK_SUITES_H
#define ATT_CHECK_SUITES_H

#include <check.h>

#include "check_util.h"

/* Each adds its file's test cases to s (check_main.c's suites[]). */
void access_cases(Suite *s);
void app_cases(Suite *s);
void att_err_cases(Suite *s);
void attempt_cache_cases(Suite *s);
void attempt_view_cases(Suite *s);
void auth_cases(Suite *s);
void auth_claims_cases(Suite *s);
void auth_json_cases(Suite *s);
void breaker_cases(Suite *s);
void buf_cases(Suite *s);
void cache_cases(Suite *s);
void cache_concurrency_cases(Suite *s);
void clock_cases(Suite *s);
void coalescer_cases(Suite *s);
void config_cases(Suite *s);
void cors_cases(Suite *s);
void db_pool_cases(Suite *s); /* needs no server (live tests: tests/db_pool_test.sh) */
void fcgi_cases(Suite *s);
void fcgi_server_cases(Suite *s);
void host_metrics_cases(Suite *s);
void http_body_cases(Suite *s);
void http_cases(Suite *s);
void http_cond_cases(Suite *s);
void http_query_cases(Suite *s);
void http_response_cases(Suite *s);
void json_cases(Suite *s);
void json_parse_cases(Suite *s);
void jwks_cases(Suite *s);
void limiter_cases(Suite *s);
void live_feed_cases(Suite *s);
void log_cases(Suite *s);
void metrics_cases(Suite *s);
void prom_cases(Suite *s);
void reply_cases(Suite *s);
void retry_cases(Suite *s);
void router_actions_cases(Suite *s);
void router_cases(Suite *s);
void router_errors_cases(Suite *s);
void router_requests_cases(Suite *s);
void router_routing_cases(Suite *s);
void token_memo_cases(Suite *s);
void uploads_cases(Suite *s);
void write_stamps_cases(Suite *s);

#endif
