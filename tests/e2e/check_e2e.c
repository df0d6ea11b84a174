/* check_e2e: the runner and shared helpers of the end-to-end tests of the
 * routes of issue #2 (health, exams, start, state, info, save; routing and
 * authentication) against a running stack: real nginx, real workers, real
 * PostgreSQL, spoken to over HTTP.
 *
 * Environment: ATTEMPTS_TEST_URL (http://127.0.0.1:PORT), ATTEMPTS_JWT_SECRET
 * (the stack's secret) and ATTEMPTS_TEST_DB (libpq conninfo of the stack's
 * database, to set up and inspect rows directly). Exits 77 (automake SKIP)
 * when one is missing. Every test makes its own users and exams. The tests
 * are in check_e2e_<topic>.c, declared in check_e2e.h. */
#include <cJSON.h>
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "e2e_util.h"
#include "http_client.h"
#include "uuid.h"
#include "check_e2e.h"

/* ------------------------------------------------------------ fixtures */

void start_body(char *out, size_t cap, const char *exam_id)
{
	snprintf(out, cap, "{\"exam_id\":\"%s\"}", exam_id);
}

/* get_action, then asserts the error answer and frees the answer. */
void get_action_refused(const user *u, const char *attempt_id, const char *action, int status,
			const char *code)
{
	resp r;

	get_action(&r, u, attempt_id, action);
	expect_error_free(&r, status, code);
}

/* save, then asserts 422 validation_failed naming field and frees the answer. */
void save_field_refused(const user *u, const char *attempt_id, const char *body,
			const char *const *extra, const char *field)
{
	resp r;

	save(&r, u, attempt_id, body, extra);
	expect_field_free(&r, field);
}

/* save, then asserts the error answer and frees the answer. */
void save_refused(const user *u, const char *attempt_id, const char *body, const char *const *extra,
		  int status, const char *code)
{
	resp r;

	save(&r, u, attempt_id, body, extra);
	expect_error_free(&r, status, code);
}

void db_expect_untouched(const char *attempt_id)
{
	db_expect_stored(attempt_id, 1, "{}");
}

void exam_create_expect_field(const char *body, const char *field)
{
	user p = user_new(AUTH_ROLE_PROCTOR);
	resp r;

	send_req(&r, "POST", "/api/exams", &p, body, NULL);
	expect_field_free(&r, field);
	ck_assert_int_eq(
		db_long("SELECT count(*) FROM attempts.exams WHERE created_by = $1", p.sub), 0);
	user_free(&p);
}

/* ============================================================ runner */

/* The test cases in the order they run. */
static const e2e_case e2e_cases[] = {
	{"http_client", 60}, {"health", 60}, {"exams", 60},   {"start", 60}, {"state", 60},
	{"info", 60},	     {"save", 60},   {"routing", 60}, {"auth", 60},
};

static const e2e_adder e2e_adders[] = {
	e2e_exams_tests, e2e_attempts_tests, e2e_save_tests, e2e_routing_tests, e2e_more_tests,
};

int main(void)
{
	return e2e_main("check_e2e", "e2e", e2e_cases, sizeof e2e_cases / sizeof e2e_cases[0],
			e2e_adders, sizeof e2e_adders / sizeof e2e_adders[0], CK_NORMAL);
}
