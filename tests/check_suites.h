/* check_suites: one Suite per unit-test file, chained by check_main.c.
 * Each tests/check_<module>.c defines exactly one of these. */
#ifndef ATT_CHECK_SUITES_H
#define ATT_CHECK_SUITES_H

#include <check.h>

#include "check_util.h"

Suite *buf_suite(void);
Suite *att_err_suite(void);
Suite *config_suite(void);
Suite *json_suite(void);
Suite *json_parse_suite(void);
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
Suite *cache_suite(void);
Suite *cache_concurrency_suite(void);
Suite *write_stamps_suite(void);
Suite *limiter_suite(void);
Suite *coalescer_suite(void);
Suite *fcgi_suite(void);
Suite *fcgi_server_suite(void);
Suite *breaker_suite(void);
Suite *retry_suite(void);
Suite *metrics_suite(void);
Suite *prom_suite(void);
Suite *host_metrics_suite(void);
Suite *log_suite(void);
Suite *attempt_cache_suite(void);
Suite *app_suite(void);
Suite *uploads_suite(void);
Suite *http_cond_suite(void);
Suite *clock_suite(void);
Suite *token_memo_suite(void);
Suite *reply_suite(void);
Suite *access_suite(void);
Suite *attempt_view_suite(void);
Suite *live_feed_suite(void);
Suite *db_pool_suite(void); /* needs no server (live tests: tests/db_pool_test.sh) */

#endif
