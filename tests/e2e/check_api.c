/* check_api: the runner and shared helpers of the end-to-end tests of the
 * attempt actions beyond the foundation routes of check_e2e: activity,
 * submit (with the JCS receipt), deadlines and the sweep, extend, the six
 * batch operations (and what they cost in database round trips), stats,
 * optimize, and their routing details. The tests themselves are in
 * check_api_<topic>.c, declared in check_api.h.
 *
 * Environment: ATTEMPTS_TEST_URL (http://127.0.0.1:PORT), ATTEMPTS_JWT_SECRET
 * (the stack's secret) and ATTEMPTS_TEST_DB (libpq conninfo of the stack's
 * database: to set up rows, push deadlines into the past, count rows and
 * read pg_stat_statements). Exits 77 (automake SKIP) when one is missing.
 * Every test makes its own users and exams. The workers are expected to
 * run their deadline sweep often (the harness sets
 * ATTEMPTS_SWEEP_INTERVAL_MS=500). */
#include <cJSON.h>
#include <libpq-fe.h>
#include <math.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "e2e_util.h"
#include "http_client.h"
#include "json.h"
#include "uuid.h"
#include "check_api.h"

/* ------------------------------------------------------------ batch answers */

const cJSON *batch_results(const resp *r, int n)
{
	const cJSON *o = expect_ok(r, 200);
	const cJSON *res = jget(o, "results");

	ck_assert_msg(nkeys(o) == 1, "%s: a batch answer is exactly {\"results\"}: %.300s", r->what,
		      r->r.body);
	ck_assert_msg(cJSON_IsArray(res), "%s: results is not an array", r->what);
	ck_assert_msg(cJSON_GetArraySize(res) == n, "%s: %d results, want %d: %.600s", r->what,
		      cJSON_GetArraySize(res), n, r->r.body);
	return res;
}

const cJSON *expect_item_error(const cJSON *item, const char *attempt_id, const char *code,
			       int with_success)
{
	char what[96];
	const cJSON *id = jget(item, "attempt_id");

	snprintf(what, sizeof what, "item %.40s", attempt_id ? attempt_id : "(null)");
	if (attempt_id != NULL)
		ck_assert_msg(cJSON_IsString(id) && strcmp(id->valuestring, attempt_id) == 0,
			      "%s: attempt_id %s", what,
			      cJSON_IsString(id) ? id->valuestring : "(not a string)");
	if (with_success) {
		expect_bool(item, "success", 0);
		ck_assert_msg(nkeys(item) == 3, "%s: want exactly attempt_id, success, error",
			      what);
	} else {
		ck_assert_msg(nkeys(item) == 2, "%s: want exactly attempt_id, error", what);
	}
	return expect_error_object(jget(item, "error"), code, what);
}

/* ------------------------------------------------------------ database */

long db_activity_count(const char *attempt_id)
{
	return db_long("SELECT count(*) FROM attempts.attempt_activity WHERE attempt_id = $1",
		       attempt_id);
}

void db_expect_col(const char *attempt_id, const char *column, const char *want)
{
	char sql[160];
	char *got;

	snprintf(sql, sizeof sql, "SELECT %s::text FROM attempts.attempts WHERE attempt_id = $1",
		 column);
	got = db_value(sql, attempt_id);
	ck_assert_msg((got == NULL && want == NULL) ||
			      (got != NULL && want != NULL && strcmp(got, want) == 0),
		      "attempt %s: %s is %s, want %s", attempt_id, column, got ? got : "NULL",
		      want ? want : "NULL");
	free(got);
}

void db_push_past(const char *attempt_id)
{
	db_exec("UPDATE attempts.attempts SET started_at = now() - interval '180 seconds',"
		" deadline_at = now() - interval '120 seconds' WHERE attempt_id = $1",
		attempt_id, NULL, 1);
}

PGconn *db_expire_held(const char *attempt_id)
{
	PGconn *lock = sweep_hold();

	db_push_past(attempt_id);
	return lock;
}

/* ------------------------------------------------------------ fixtures */

void warm(const user *u, const char *attempt_id)
{
	for (int i = 0; i < 3; i++) {
		resp r;

		act(&r, "GET", u, attempt_id, "state", NULL);
		expect_ok(&r, 200);
		resp_free(&r);
		act(&r, "GET", u, attempt_id, "info", NULL);
		expect_ok(&r, 200);
		resp_free(&r);
	}
}

void batch(resp *r, const user *u, const char *op, const char *data_json)
{
	size_t cap = strlen(data_json) + 128;
	char *body = malloc(cap);

	ck_assert_ptr_nonnull(body);
	snprintf(body, cap, "{\"operation\":\"%s\",\"data\":%s}", op, data_json);
	send_req(r, "POST", "/api/attempts/any-id?action=batch", u, body, NULL);
	free(body);
}

const cJSON *batch_of(resp *r, const user *u, const char *op, int n, const char *fmt, ...)
{
	va_list ap;
	char *data;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(len, 0);
	data = malloc((size_t)len + 1);
	ck_assert_ptr_nonnull(data);
	va_start(ap, fmt);
	vsnprintf(data, (size_t)len + 1, fmt, ap);
	va_end(ap);
	batch(r, u, op, data);
	free(data);
	return batch_results(r, n);
}

/* batch, then asserts the error answer and frees the answer. */
void batch_refused(const user *u, const char *op, const char *data_json, int status,
		   const char *code)
{
	resp r;

	batch(&r, u, op, data_json);
	expect_error_free(&r, status, code);
}

void activity(resp *r, const user *u, const char *attempt_id, const char *events_json)
{
	size_t cap = strlen(events_json) + 32;
	char *body = malloc(cap);

	ck_assert_ptr_nonnull(body);
	snprintf(body, cap, "{\"events\":%s}", events_json);
	act(r, "POST", u, attempt_id, "activity", body);
	free(body);
}

/* activity, then asserts 422 validation_failed naming field and frees the answer. */
void activity_field_refused(const user *u, const char *attempt_id, const char *events_json,
			    const char *field)
{
	resp r;

	activity(&r, u, attempt_id, events_json);
	expect_field_free(&r, field);
}

/* activity, then asserts the error answer and frees the answer. */
void activity_refused(const user *u, const char *attempt_id, const char *events_json, int status,
		      const char *code)
{
	resp r;

	activity(&r, u, attempt_id, events_json);
	expect_error_free(&r, status, code);
}

char *many_events(int n)
{
	buf b = BUF_INIT;
	char *out;

	buf_putc(&b, '[');
	for (int i = 0; i < n; i++)
		buf_printf(&b, "%s{\"event_type\":\"e\",\"client_event_id\":\"c%d\"}", i ? "," : "",
			   i);
	buf_putc(&b, ']');
	out = buf_take(&b);
	ck_assert_ptr_nonnull(out);
	return out;
}

const char *const state_keys[] = {
	"attempt_id",	    "exam_id", "user_id",    "attempt_number", "status",       "answers",
	"auto_save_data",   "version", "started_at", "deadline_at",    "submitted_at", "updated_at",
	"time_remaining_s", NULL};

const char *const info_keys[] = {
	"attempt_id",	    "exam_id",	  "user_id",	    "attempt_number", "status",
	"version",	    "started_at", "deadline_at",    "submitted_at",   "updated_at",
	"time_remaining_s", "exam_title", "activity_count", "upload_count",   "submit_reason",
	"receipt",	    NULL};

void submit(resp *r, const user *u, const char *attempt_id, const char *body)
{
	act(r, "POST", u, attempt_id, "submit", body);
}

/* submit, then asserts 422 validation_failed naming field and frees the answer. */
void submit_ok(const user *u, const char *attempt_id, const char *body)
{
	resp r;

	submit(&r, u, attempt_id, body);
	expect_ok(&r, 200);
	resp_free(&r);
}

void submit_field_refused(const user *u, const char *attempt_id, const char *body,
			  const char *field)
{
	act_field_refused("POST", u, attempt_id, "submit", body, field);
}

/* submit, then asserts the error answer and frees the answer. */
void submit_refused(const user *u, const char *attempt_id, const char *body, int status,
		    const char *code)
{
	act_refused("POST", u, attempt_id, "submit", body, status, code);
}

void expect_submitted(const resp *r, const char *want_answers, int already, long version)
{
	const cJSON *o = expect_ok(r, 200);
	char hex[65];

	expect_keys(o, "submit answer", state_keys);
	expect_str(o, "status", "submitted");
	expect_ts(o, "submitted_at");
	expect_null(o, "time_remaining_s");
	expect_json_eq(o, "answers", want_answers);
	expect_bool(o, "already_submitted", already);
	expect_num(o, "version", (double)version);
	receipt_of_text(want_answers, hex);
	ck_assert_msg(strcmp(jstr(o, "receipt"), hex) == 0, "receipt %s, want %s = sha256(JCS(%s))",
		      jstr(o, "receipt"), hex, want_answers);
}

void fleet_new(fleet *f, int n, const char *exam_body)
{
	ck_assert(n <= 8);
	memset(f, 0, sizeof *f);
	f->proctor = user_new(AUTH_ROLE_PROCTOR);
	f->student = user_new(AUTH_ROLE_STUDENT);
	f->n = n;
	for (int i = 0; i < n; i++) {
		exam_create(&f->proctor, exam_body, f->exam[i]);
		attempt_start(&f->student, f->exam[i], f->att[i]);
	}
}

void fleet_new_other(fleet *f, int n, const char *exam_body)
{
	fleet_new(f, n, exam_body);
	world_new(&f->other, TIMED_EXAM);
}

void fleet_free(fleet *f)
{
	user_free(&f->proctor);
	user_free(&f->student);
	world_free(&f->other);
}

long request_calls(const stmt_calls *s)
{
	return s->total - s->sweep - 2 * s->setup - s->pings; /* a sweep sets no claims */
}

void report(const char *what, const stmt_calls *s, const char *fn, long fn_calls)
{
	printf("# round trips: %s: %ld call(s) of %s, %ld statement call(s) in all"
	       " (deadline sweeps excluded: %ld, new connections: %ld, health-check pings: %ld)\n",
	       what, fn_calls, fn, request_calls(s), s->sweep, s->setup, s->pings);
	fflush(stdout);
}

void stats(resp *r, const user *u, const char *attempt_id, const char *query)
{
	char path[256];

	snprintf(path, sizeof path, "/api/attempts/%s?action=stats&%s", attempt_id, query);
	send_req(r, "GET", path, u, NULL, NULL);
}

/* stats, then asserts the error answer and frees the answer. */
void stats_refused(const user *u, const char *attempt_id, const char *query, int status,
		   const char *code)
{
	resp r;

	stats(&r, u, attempt_id, query);
	expect_error_free(&r, status, code);
}

void stats_world_new(stats_world *w)
{
	w->proctor = user_new(AUTH_ROLE_PROCTOR);
	w->admin = user_new(AUTH_ROLE_ADMIN);
	exam_create(&w->proctor, "{\"title\":\"stats\",\"time_limit_s\":3600}", w->exam_id);
	for (int i = 0; i < 3; i++) {
		w->s[i] = user_new(AUTH_ROLE_STUDENT);
		attempt_start(&w->s[i], w->exam_id, w->att[i]);
	}
	submit_ok(&w->s[0], w->att[0], "{\"answers\":{\"x\":1}}");
	save_ok(&w->s[1], w->att[1], "{\"answers\":{\"a\":1,\"b\":2}}");
}

void stats_world_free(stats_world *w)
{
	user_free(&w->proctor);
	user_free(&w->admin);
	for (int i = 0; i < 3; i++)
		user_free(&w->s[i]);
}

void optimization(resp *r, const user *u)
{
	char id[ID_LEN];

	ck_assert_int_eq(uuid_generate(id), ATT_OK);
	stats(r, u, id, "type=optimization");
}

void optimize(resp *r, const user *u, const char *body)
{
	char id[ID_LEN], path[128];

	ck_assert_int_eq(uuid_generate(id), ATT_OK);
	attempt_path(path, sizeof path, id, "optimize");
	send_req(r, "PATCH", path, u, body, NULL);
}

/* optimize, then asserts 422 validation_failed naming field and frees the answer. */
void optimize_field_refused(const user *u, const char *body, const char *field)
{
	resp r;

	optimize(&r, u, body);
	expect_field_free(&r, field);
}

/* optimize, then asserts the error answer and frees the answer. */
void optimize_refused(const user *u, const char *body, int status, const char *code)
{
	resp r;

	optimize(&r, u, body);
	expect_error_free(&r, status, code);
}

/* ============================================================ runner */

/* The test cases in the order they run. */
static const e2e_case api_cases[] = {
	{"jcs", 10},	 {"activity", 60},     {"submit", 60}, {"deadlines", 60},
	{"batch", 60},	 {"round_trips", 120}, {"stats", 60},  {"optimize", 60},
	{"numbers", 60}, {"routing", 60},
};

static const e2e_adder api_adders[] = {
	api_activity_tests,  api_submit_tests, api_deadlines_tests, api_batch_tests,
	api_batch_ops_tests, api_stats_tests,  api_optimize_tests,  api_reads_tests,
};

int main(void)
{
	return e2e_main("check_api", "api", api_cases, sizeof api_cases / sizeof api_cases[0],
			api_adders, sizeof api_adders / sizeof api_adders[0], CK_ENV);
}
