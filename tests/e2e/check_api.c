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

/* ------------------------------------------------------------ JCS (RFC 8785) */

/* Decodes the UTF-8 string s into UTF-16 code units; returns how many. */
static size_t utf16_units(const char *s, uint16_t *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p && n + 2 <= cap) {
		uint32_t cp;
		int extra;

		if (*p < 0x80) {
			cp = *p;
			extra = 0;
		} else if ((*p & 0xE0) == 0xC0) {
			cp = *p & 0x1F;
			extra = 1;
		} else if ((*p & 0xF0) == 0xE0) {
			cp = *p & 0x0F;
			extra = 2;
		} else {
			cp = *p & 0x07;
			extra = 3;
		}
		p++;
		for (int i = 0; i < extra && (*p & 0xC0) == 0x80; i++, p++)
			cp = (cp << 6) | (*p & 0x3F);
		if (cp >= 0x10000) {
			cp -= 0x10000;
			out[n++] = (uint16_t)(0xD800 | (cp >> 10));
			out[n++] = (uint16_t)(0xDC00 | (cp & 0x3FF));
		} else {
			out[n++] = (uint16_t)cp;
		}
	}
	return n;
}

/* Orders object members by their names' UTF-16 code units (RFC 8785 3.2.3). */
static int jcs_key_cmp(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	uint16_t ux[512], uy[512];
	size_t nx = utf16_units(x->string, ux, 512), ny = utf16_units(y->string, uy, 512);

	for (size_t i = 0; i < nx && i < ny; i++)
		if (ux[i] != uy[i])
			return ux[i] < uy[i] ? -1 : 1;
	return nx < ny ? -1 : nx > ny;
}

/* A JSON string as JCS writes it (ECMAScript JSON.stringify). */
static void jcs_string(buf *b, const char *s)
{
	buf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			buf_puts(b, "\\\"");
			break;
		case '\\':
			buf_puts(b, "\\\\");
			break;
		case '\b':
			buf_puts(b, "\\b");
			break;
		case '\f':
			buf_puts(b, "\\f");
			break;
		case '\n':
			buf_puts(b, "\\n");
			break;
		case '\r':
			buf_puts(b, "\\r");
			break;
		case '\t':
			buf_puts(b, "\\t");
			break;
		default:
			if (*p < 0x20)
				buf_printf(b, "\\u%04x", *p);
			else
				buf_putc(b, (char)*p);
		}
	}
	buf_putc(b, '"');
}

/* A double in ECMAScript Number::toString form (RFC 8785 3.2.2.3): the
 * shortest digits that round-trip, laid out by the ECMAScript rules. */
static void jcs_number(buf *b, double x)
{
	char text[64], digits[32];
	int k = 0, n, exp10;
	const char *p;

	if (x == 0) {
		buf_putc(b, '0');
		return;
	}
	if (x < 0) {
		buf_putc(b, '-');
		x = -x;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(text, sizeof text, "%.*e", prec - 1, x);
		if (strtod(text, NULL) == x)
			break;
	}
	for (p = text; *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits[k++] = *p;
	exp10 = atoi(p + 1);
	while (k > 1 && digits[k - 1] == '0')
		k--;
	digits[k] = '\0';
	n = exp10 + 1; /* value = 0.digits * 10^n */
	if (k <= n && n <= 21) {
		buf_puts(b, digits);
		for (int i = 0; i < n - k; i++)
			buf_putc(b, '0');
	} else if (0 < n && n <= 21) {
		buf_append(b, digits, (size_t)n);
		buf_putc(b, '.');
		buf_puts(b, digits + n);
	} else if (-6 < n && n <= 0) {
		buf_puts(b, "0.");
		for (int i = 0; i < -n; i++)
			buf_putc(b, '0');
		buf_puts(b, digits);
	} else {
		buf_putc(b, digits[0]);
		if (k > 1) {
			buf_putc(b, '.');
			buf_puts(b, digits + 1);
		}
		buf_printf(b, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
	}
}

void jcs_value(buf *b, const cJSON *v)
{
	if (cJSON_IsObject(v)) {
		const cJSON *it;
		const cJSON **members;
		int n = nkeys(v), i = 0;

		members = calloc((size_t)(n > 0 ? n : 1), sizeof *members);
		ck_assert_ptr_nonnull(members);
		cJSON_ArrayForEach(it, v) members[i++] = it;
		qsort(members, (size_t)n, sizeof *members, jcs_key_cmp);
		buf_putc(b, '{');
		for (i = 0; i < n; i++) {
			if (i > 0)
				buf_putc(b, ',');
			jcs_string(b, members[i]->string);
			buf_putc(b, ':');
			jcs_value(b, members[i]);
		}
		buf_putc(b, '}');
		free(members);
	} else if (cJSON_IsArray(v)) {
		const cJSON *it;
		int first = 1;

		buf_putc(b, '[');
		cJSON_ArrayForEach(it, v)
		{
			if (!first)
				buf_putc(b, ',');
			jcs_value(b, it);
			first = 0;
		}
		buf_putc(b, ']');
	} else if (cJSON_IsString(v)) {
		jcs_string(b, v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		jcs_number(b, v->valuedouble);
	} else if (cJSON_IsTrue(v)) {
		buf_puts(b, "true");
	} else if (cJSON_IsFalse(v)) {
		buf_puts(b, "false");
	} else {
		buf_puts(b, "null");
	}
}

void receipt_of(const cJSON *v, char hex[65])
{
	buf b = BUF_INIT;
	unsigned char md[SHA256_DIGEST_LENGTH];

	jcs_value(&b, v);
	ck_assert(!b.failed);
	SHA256((const unsigned char *)(b.data ? b.data : ""), b.len, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	buf_free(&b);
}

void receipt_of_text(const char *json, char hex[65])
{
	cJSON *v = cJSON_Parse(json);

	ck_assert_msg(v != NULL, "bad JSON in test: %s", json);
	receipt_of(v, hex);
	cJSON_Delete(v);
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

void save_ok(const user *u, const char *attempt_id, const char *body)
{
	resp r;

	act(&r, "PATCH", u, attempt_id, "save", body);
	expect_ok(&r, 200);
	resp_free(&r);
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

/* batch, then asserts the error answer and frees the answer. */
void batch_refused(const user *u, const char *op, const char *data_json, int status,
		   const char *code)
{
	resp r;

	batch(&r, u, op, data_json);
	expect_error(&r, status, code);
	resp_free(&r);
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
	expect_field(&r, field);
	resp_free(&r);
}

/* activity, then asserts the error answer and frees the answer. */
void activity_refused(const user *u, const char *attempt_id, const char *events_json, int status,
		      const char *code)
{
	resp r;

	activity(&r, u, attempt_id, events_json);
	expect_error(&r, status, code);
	resp_free(&r);
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
void submit_field_refused(const user *u, const char *attempt_id, const char *body,
			  const char *field)
{
	resp r;

	submit(&r, u, attempt_id, body);
	expect_field(&r, field);
	resp_free(&r);
}

/* submit, then asserts the error answer and frees the answer. */
void submit_refused(const user *u, const char *attempt_id, const char *body, int status,
		    const char *code)
{
	resp r;

	submit(&r, u, attempt_id, body);
	expect_error(&r, status, code);
	resp_free(&r);
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
	f->proctor = user_new(AUTH_ROLE_PROCTOR);
	f->student = user_new(AUTH_ROLE_STUDENT);
	f->n = n;
	for (int i = 0; i < n; i++) {
		exam_create(&f->proctor, exam_body, f->exam[i]);
		attempt_start(&f->student, f->exam[i], f->att[i]);
	}
}

void fleet_free(fleet *f)
{
	user_free(&f->proctor);
	user_free(&f->student);
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
	expect_error(&r, status, code);
	resp_free(&r);
}

void stats_world_new(stats_world *w)
{
	resp r;

	w->proctor = user_new(AUTH_ROLE_PROCTOR);
	w->admin = user_new(AUTH_ROLE_ADMIN);
	exam_create(&w->proctor, "{\"title\":\"stats\",\"time_limit_s\":3600}", w->exam_id);
	for (int i = 0; i < 3; i++) {
		w->s[i] = user_new(AUTH_ROLE_STUDENT);
		attempt_start(&w->s[i], w->exam_id, w->att[i]);
	}
	submit(&r, &w->s[0], w->att[0], "{\"answers\":{\"x\":1}}");
	expect_ok(&r, 200);
	resp_free(&r);
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
	expect_field(&r, field);
	resp_free(&r);
}

/* optimize, then asserts the error answer and frees the answer. */
void optimize_refused(const user *u, const char *body, int status, const char *code)
{
	resp r;

	optimize(&r, u, body);
	expect_error(&r, status, code);
	resp_free(&r);
}

/* ============================================================ runner */

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");

	/* The test cases in the order they run. */
	tcase_named(s, "jcs", 10);
	tcase_named(s, "activity", 60);
	tcase_named(s, "submit", 60);
	tcase_named(s, "deadlines", 60);
	tcase_named(s, "batch", 60);
	tcase_named(s, "round_trips", 120);
	tcase_named(s, "stats", 60);
	tcase_named(s, "optimize", 60);
	tcase_named(s, "numbers", 60);
	tcase_named(s, "routing", 60);
	api_activity_tests(s);
	api_submit_tests(s);
	api_deadlines_tests(s);
	api_batch_tests(s);
	api_batch_ops_tests(s);
	api_stats_tests(s);
	api_reads_tests(s);
	return s;
}

int main(void)
{
	if (e2e_read_env("check_api", NULL) != 0)
		return 77;
	return e2e_run(api_suite(), CK_ENV);
}
