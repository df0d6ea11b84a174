/* check_suites: one Suite per unit-test file, chained by check_main.c.
 * A tests/check_<module>.c either exports x_cases(Suite *), which adds its
 * test cases to the Suite check_main.c's table makes for it, or (the files
 * not moved to that scheme yet) exports x_suite(), which makes its own. */
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
void breaker_cases(Suite *s);
void buf_cases(Suite *s);
void cache_cases(Suite *s);
void cache_concurrency_cases(Suite *s);
void clock_cases(Suite *s);
void coalescer_cases(Suite *s);
void db_pool_cases(Suite *s); /* needs no server (live tests: tests/db_pool_test.sh) */
void fcgi_server_cases(Suite *s);
void host_metrics_cases(Suite *s);
void json_cases(Suite *s);
void json_parse_cases(Suite *s);
void limiter_cases(Suite *s);
void live_feed_cases(Suite *s);
void log_cases(Suite *s);
void metrics_cases(Suite *s);
void prom_cases(Suite *s);
void retry_cases(Suite *s);
void token_memo_cases(Suite *s);
void uploads_cases(Suite *s);
void write_stamps_cases(Suite *s);

/* Each makes its file's Suite. */
Suite *config_suite(void);
Suite *http_suite(void);
Suite *http_query_suite(void);
Suite *http_body_suite(void);
Suite *http_response_suite(void);
Suite *auth_suite(void);
Suite *auth_claims_suite(void);
Suite *auth_json_suite(void);
Suite *jwks_suite(void);
Suite *router_suite(void);
Suite *router_routing_suite(void);
Suite *router_requests_suite(void);
Suite *router_actions_suite(void);
Suite *router_errors_suite(void);
Suite *cors_suite(void);
Suite *fcgi_suite(void);
Suite *http_cond_suite(void);
Suite *reply_suite(void);

#endif
