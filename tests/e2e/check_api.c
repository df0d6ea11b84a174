/* check_api: end-to-end tests of the attempt actions beyond the foundation
 * routes of check_e2e: activity, submit (with the JCS receipt), deadlines
 * and the sweep, extend, the six batch operations (and what they cost in
 * database round trips), stats, optimize, and their routing details.
 *
 * Environment: ATTEMPTS_TEST_URL (http://127.0.0.1:PORT), ATTEMPTS_JWT_SECRET
 * (the stack's secret) and ATTEMPTS_TEST_DB (libpq conninfo of the stack's
 * database: to set up rows, push deadlines into the past, count rows and
 * read pg_stat_statements). Exits 77 (automake SKIP) when one is missing.
 * Every test makes its own users and exams. The workers are expected to
 * run their deadline sweep often (the harness sets
 * ATTEMPTS_SWEEP_INTERVAL_MS=500). */
#include <check.h>
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

/* ------------------------------------------------------------ batch answers */

/* The results array of a batch answer, asserting it has n items. */
static const cJSON *batch_results(const resp *r, int n)
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

/* Asserts a batch error item {"attempt_id", "error": {...}} (plus
 * "success": false where with_success) with code; returns details. */
static const cJSON *expect_item_error(const cJSON *item, const char *attempt_id, const char *code,
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

static void jcs_value(buf *b, const cJSON *v)
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

/* The JCS text of a JSON text. The caller frees it. */
static char *jcs_of_text(const char *json)
{
	cJSON *v = cJSON_Parse(json);
	buf b = BUF_INIT;
	char *out;

	ck_assert_msg(v != NULL, "bad JSON in test: %s", json);
	jcs_value(&b, v);
	cJSON_Delete(v);
	out = buf_take(&b);
	ck_assert_ptr_nonnull(out);
	return out;
}

/* Lowercase hex SHA-256 of the JCS text of v into hex (65 bytes). */
static void receipt_of(const cJSON *v, char hex[65])
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

static void receipt_of_text(const char *json, char hex[65])
{
	cJSON *v = cJSON_Parse(json);

	ck_assert_msg(v != NULL, "bad JSON in test: %s", json);
	receipt_of(v, hex);
	cJSON_Delete(v);
}

/* ------------------------------------------------------------ database */

static long db_activity_count(const char *attempt_id)
{
	return db_long("SELECT count(*) FROM attempts.attempt_activity WHERE attempt_id = $1",
		       attempt_id);
}

/* Asserts a text column of the attempt's row (NULL: SQL NULL). */
static void db_expect_col(const char *attempt_id, const char *column, const char *want)
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

/* Moves the attempt's start 180 s and its deadline 120 s into the past. */
static void db_push_past(const char *attempt_id)
{
	db_exec("UPDATE attempts.attempts SET started_at = now() - interval '180 seconds',"
		" deadline_at = now() - interval '120 seconds' WHERE attempt_id = $1",
		attempt_id, NULL, 1);
}

/* ------------------------------------------------------------ fixtures */

#define TIMED_EXAM "{\"title\":\"timed\",\"time_limit_s\":3600}"
#define UNTIMED_EXAM "{\"title\":\"untimed\"}"

/* Reads the attempt's state and info a few times as u, so that the worker
 * that answers holds them in its cache (read-your-writes checks). */
static void warm(const user *u, const char *attempt_id)
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

/* Saves body as u, expecting 200. */
static void save_ok(const user *u, const char *attempt_id, const char *body)
{
	resp r;

	act(&r, "PATCH", u, attempt_id, "save", body);
	expect_ok(&r, 200);
	resp_free(&r);
}

/* Sends {"operation": op, "data": data_json} to the batch action as u. */
static void batch(resp *r, const user *u, const char *op, const char *data_json)
{
	size_t cap = strlen(data_json) + 128;
	char *body = malloc(cap);

	ck_assert_ptr_nonnull(body);
	snprintf(body, cap, "{\"operation\":\"%s\",\"data\":%s}", op, data_json);
	send_req(r, "POST", "/api/attempts/any-id?action=batch", u, body, NULL);
	free(body);
}

/* ============================================================ JCS self-check */

/* The serializer the receipts are checked with must itself be right:
 * vectors from RFC 8785 (sections 3.2.2, 3.2.3, appendix B). */
START_TEST(test_jcs_self_check)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{"{\"numbers\":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"
		 "\"string\":\"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\","
		 "\"literals\":[null,true,false]}",
		 "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,"
		 "1e-27],\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"},
		{"{\"\\u20ac\":1,\"\\r\":2,\"\\ufb33\":3,\"1\":4,\"\\ud83d\\ude00\":5,"
		 "\"\\u0080\":6,\"\\u00f6\":7}",
		 "{\"\\r\":2,\"1\":4,\"\xc2\x80\":6,\"\xc3\xb6\":7,\"\xe2\x82\xac\":1,"
		 "\"\xf0\x9f\x98\x80\":5,\"\xef\xac\xb3\":3}"},
		{"[0,-0,1,-1,10,1.5,0.1,100,1e21,1e20,1e-7,0.000001,-2.75,123e-20,"
		 "9007199254740993,1152921504606846976]",
		 "[0,0,1,-1,10,1.5,0.1,100,1e+21,100000000000000000000,1e-7,0.000001,-2.75,"
		 "1.23e-18,9007199254740992,1152921504606847000]"},
		{"{\"b\":{\"y\":[],\"x\":{}},\"a\":\"\\t\\b\\f\\u0001\\u001f\\u007f\"}",
		 "{\"a\":\"\\t\\b\\f\\u0001\\u001f\x7f\",\"b\":{\"x\":{},\"y\":[]}}"},
	};

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char *got = jcs_of_text(v[i].in);

		ck_assert_msg(strcmp(got, v[i].out) == 0, "JCS of %s\n is %s\nwant %s", v[i].in,
			      got, v[i].out);
		free(got);
	}
}
END_TEST

/* ============================================================ activity */

/* POSTs {"events": events_json} to the attempt's activity as u. */
static void activity(resp *r, const user *u, const char *attempt_id, const char *events_json)
{
	size_t cap = strlen(events_json) + 32;
	char *body = malloc(cap);

	ck_assert_ptr_nonnull(body);
	snprintf(body, cap, "{\"events\":%s}", events_json);
	act(r, "POST", u, attempt_id, "activity", body);
	free(body);
}

/* Logs events_json expecting 200 {"logged": logged, "duplicates": dups}. */
static void activity_ok(const user *u, const char *attempt_id, const char *events_json, int logged,
			int dups)
{
	resp r;
	const cJSON *o;

	activity(&r, u, attempt_id, events_json);
	o = expect_ok(&r, 200);
	expect_num(o, "logged", logged);
	expect_num(o, "duplicates", dups);
	ck_assert_msg(nkeys(o) == 2, "activity answer is exactly {logged, duplicates}: %s",
		      r.r.body);
	resp_free(&r);
}

START_TEST(test_activity_logged)
{
	world w;

	world_new(&w, TIMED_EXAM);
	activity_ok(&w.student, w.attempt_id,
		    "[{\"event_type\":\"answer_changed\",\"payload\":{\"q\":1},"
		    "\"client_event_id\":\"tab1-1\",\"occurred_at\":\"2024-05-01T10:00:00Z\"},"
		    "{\"event_type\":\"focus.lost\",\"client_event_id\":\"tab1-2\"},"
		    "{\"event_type\":\"a-b_c.9\",\"client_event_id\":\"tab1-3\",\"payload\":null}]",
		    3, 0);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 3);
	ck_assert_int_eq(db_long("SELECT count(*) FROM attempts.attempt_activity WHERE"
				 " attempt_id = $1 AND client_event_id = 'tab1-1' AND"
				 " event_type = 'answer_changed' AND payload = '{\"q\":1}' AND"
				 " occurred_at = '2024-05-01T10:00:00Z'",
				 w.attempt_id),
			 1);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_duplicate_in_request)
{
	world w;

	world_new(&w, TIMED_EXAM);
	activity_ok(&w.student, w.attempt_id,
		    "[{\"event_type\":\"x\",\"client_event_id\":\"e1\",\"payload\":{\"n\":1}},"
		    "{\"event_type\":\"x\",\"client_event_id\":\"e1\",\"payload\":{\"n\":2}},"
		    "{\"event_type\":\"x\",\"client_event_id\":\"e2\"}]",
		    2, 1);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 2);
	/* Of two events with one id in a request, the first is the one kept. */
	ck_assert_int_eq(db_long("SELECT (payload->>'n')::int FROM attempts.attempt_activity"
				 " WHERE attempt_id = $1 AND client_event_id = 'e1'",
				 w.attempt_id),
			 1);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_duplicate_across_requests)
{
	world w;

	world_new(&w, TIMED_EXAM);
	activity_ok(&w.student, w.attempt_id,
		    "[{\"event_type\":\"x\",\"client_event_id\":\"a\"},"
		    "{\"event_type\":\"x\",\"client_event_id\":\"b\"}]",
		    2, 0);
	activity_ok(&w.student, w.attempt_id,
		    "[{\"event_type\":\"x\",\"client_event_id\":\"b\"},"
		    "{\"event_type\":\"x\",\"client_event_id\":\"c\"}]",
		    1, 1);
	/* A retry of the whole request is all duplicates. */
	activity_ok(&w.student, w.attempt_id,
		    "[{\"event_type\":\"x\",\"client_event_id\":\"b\"},"
		    "{\"event_type\":\"x\",\"client_event_id\":\"c\"}]",
		    0, 2);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 3);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_same_id_other_attempt)
{
	world w;
	char other[ID_LEN], exam2[ID_LEN];

	/* Dedupe is per attempt: the same client_event_id on another attempt
	 * is a new event. */
	world_new(&w, TIMED_EXAM);
	exam_create(&w.proctor, TIMED_EXAM, exam2);
	attempt_start(&w.student, exam2, other);
	activity_ok(&w.student, w.attempt_id, "[{\"event_type\":\"x\",\"client_event_id\":\"k\"}]",
		    1, 0);
	activity_ok(&w.student, other, "[{\"event_type\":\"x\",\"client_event_id\":\"k\"}]", 1, 0);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_without_client_id)
{
	world w;
	const char *ev = "[{\"event_type\":\"tick\"},{\"event_type\":\"tick\"},"
			 "{\"event_type\":\"tick\",\"client_event_id\":null}]";

	world_new(&w, TIMED_EXAM);
	activity_ok(&w.student, w.attempt_id, ev, 3, 0);
	activity_ok(&w.student, w.attempt_id, ev, 3, 0);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 6);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_empty_list)
{
	world w;

	world_new(&w, TIMED_EXAM);
	activity_ok(&w.student, w.attempt_id, "[]", 0, 0);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 0);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_moves_last_activity_not_version)
{
	world w;
	resp r;

	world_new(&w, TIMED_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\"}}");
	db_exec("UPDATE attempts.attempts SET last_activity_at = now() - interval '1 hour'"
		" WHERE attempt_id = $1",
		w.attempt_id, NULL, 1);
	activity_ok(&w.student, w.attempt_id, "[{\"event_type\":\"blur\"}]", 1, 0);
	ck_assert_int_eq(db_long("SELECT (last_activity_at > now() - interval '1 minute')::int"
				 " FROM attempts.attempts WHERE attempt_id = $1",
				 w.attempt_id),
			 1);
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);
	act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
	expect_num(expect_ok(&r, 200), "activity_count", 1);
	expect_num(r.json, "version", 2);
	resp_free(&r);
	world_free(&w);
}
END_TEST

/* Read-your-writes (API.md section 7): logging changes no version, but
 * the info's activity_count must not be served stale from a cache right
 * after the write was acknowledged. Each round caches the info, logs one
 * event, reads again. 300 rounds, because a write that does not invalidate
 * its own worker's cache at once (API.md section 7) only shows when the
 * read beats the NOTIFY that invalidates asynchronously; save, which does
 * invalidate locally, never fails this loop. Logs through activity
 * (via_batch 0) or batch_log (1). */
static void activity_read_your_writes(int via_batch)
{
	world w;
	resp r;
	char ev[128], data[256];

	world_new(&w, TIMED_EXAM);
	for (int i = 1; i <= 300; i++) {
		for (int k = 0; k < 2; k++) {
			act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
			expect_num(expect_ok(&r, 200), "activity_count", i - 1);
			resp_free(&r);
		}
		snprintf(ev, sizeof ev, "[{\"event_type\":\"x\",\"client_event_id\":\"ryw%d\"}]",
			 i);
		if (via_batch) {
			snprintf(data, sizeof data, "[{\"attempt_id\":\"%s\",\"events\":%s}]",
				 w.attempt_id, ev);
			batch(&r, &w.student, "batch_log", data);
			expect_num(cJSON_GetArrayItem(batch_results(&r, 1), 0), "logged", 1);
			resp_free(&r);
		} else {
			activity_ok(&w.student, w.attempt_id, ev, 1, 0);
		}
		act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
		ck_assert_msg(
			jnum(expect_ok(&r, 200), "activity_count") == i,
			"info right after %s acknowledged event %d: activity_count %g (X-Cache %s)",
			via_batch ? "batch_log" : "activity", i, jnum(r.json, "activity_count"),
			http_client_header(&r.r, "X-Cache") ? http_client_header(&r.r, "X-Cache")
							    : "(none)");
		resp_free(&r);
	}
	world_free(&w);
}

START_TEST(test_activity_read_your_writes)
{
	activity_read_your_writes(0);
}
END_TEST

START_TEST(test_batch_log_read_your_writes)
{
	activity_read_your_writes(1);
}
END_TEST

START_TEST(test_activity_event_type_uppercase)
{
	world w;
	resp r;

	world_new(&w, TIMED_EXAM);
	activity(&r, &w.student, w.attempt_id, "[{\"event_type\":\"Answer\"}]");
	expect_field(&r, "events[0].event_type");
	resp_free(&r);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 0);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_event_type_length)
{
	world w;
	resp r;
	char ev[256], t[70];

	world_new(&w, TIMED_EXAM);
	memset(t, 'a', 65);
	t[65] = '\0';
	snprintf(ev, sizeof ev, "[{\"event_type\":\"%s\"}]", t);
	activity(&r, &w.student, w.attempt_id, ev);
	expect_field(&r, "events[0].event_type");
	resp_free(&r);
	activity(&r, &w.student, w.attempt_id, "[{\"event_type\":\"\"}]");
	expect_field(&r, "events[0].event_type");
	resp_free(&r);
	t[64] = '\0'; /* 64 characters are allowed */
	snprintf(ev, sizeof ev, "[{\"event_type\":\"%s\"}]", t);
	activity_ok(&w.student, w.attempt_id, ev, 1, 0);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_event_type_missing)
{
	world w;
	resp r;

	world_new(&w, TIMED_EXAM);
	activity(&r, &w.student, w.attempt_id, "[{\"payload\":{}}]");
	expect_field(&r, "events[0].event_type");
	resp_free(&r);
	/* The path names the offending element; nothing of the request is
	 * written, not even the valid events before it. */
	activity(&r, &w.student, w.attempt_id,
		 "[{\"event_type\":\"ok\",\"client_event_id\":\"z\"},{\"event_type\":7}]");
	expect_field(&r, "events[1].event_type");
	resp_free(&r);
	activity(&r, &w.student, w.attempt_id, "[\"click\"]");
	expect_field(&r, "events[0]");
	resp_free(&r);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 0);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_client_event_id_bad)
{
	world w;
	resp r;
	char ev[512], id[140];

	world_new(&w, TIMED_EXAM);
	memset(id, 'i', 129);
	id[129] = '\0';
	snprintf(ev, sizeof ev, "[{\"event_type\":\"x\",\"client_event_id\":\"%s\"}]", id);
	activity(&r, &w.student, w.attempt_id, ev);
	expect_field(&r, "events[0].client_event_id");
	resp_free(&r);
	activity(&r, &w.student, w.attempt_id, "[{\"event_type\":\"x\",\"client_event_id\":\"\"}]");
	expect_field(&r, "events[0].client_event_id");
	resp_free(&r);
	activity(&r, &w.student, w.attempt_id, "[{\"event_type\":\"x\",\"client_event_id\":5}]");
	expect_field(&r, "events[0].client_event_id");
	resp_free(&r);
	id[128] = '\0';
	snprintf(ev, sizeof ev, "[{\"event_type\":\"x\",\"client_event_id\":\"%s\"}]", id);
	activity_ok(&w.student, w.attempt_id, ev, 1, 0);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_occurred_at_bad)
{
	world w;
	resp r;

	world_new(&w, TIMED_EXAM);
	activity(&r, &w.student, w.attempt_id,
		 "[{\"event_type\":\"x\",\"occurred_at\":\"yesterday\"}]");
	expect_field(&r, "events[0].occurred_at");
	resp_free(&r);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 0);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_payload_too_large)
{
	world w;
	resp r;
	size_t n = 17 * 1024;
	char *ev = malloc(n + 128);

	ck_assert_ptr_nonnull(ev);
	world_new(&w, TIMED_EXAM);
	strcpy(ev, "[{\"event_type\":\"big\",\"payload\":{\"blob\":\"");
	memset(ev + strlen(ev), 'x', n);
	strcpy(ev + strlen("[{\"event_type\":\"big\",\"payload\":{\"blob\":\"") + n, "\"}}]");
	activity(&r, &w.student, w.attempt_id, ev);
	expect_error(&r, 413, "payload_too_large");
	resp_free(&r);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 0);
	/* 16 000 bytes of payload text are within the 16 KiB limit. */
	strcpy(ev, "[{\"event_type\":\"big\",\"payload\":{\"blob\":\"");
	memset(ev + strlen(ev), 'y', 16000);
	strcpy(ev + strlen("[{\"event_type\":\"big\",\"payload\":{\"blob\":\"") + 16000, "\"}}]");
	activity_ok(&w.student, w.attempt_id, ev, 1, 0);
	free(ev);
	world_free(&w);
}
END_TEST

/* [{"event_type":"e","client_event_id":"c<i>"} x n] as malloc'd text. */
static char *many_events(int n)
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

START_TEST(test_activity_too_many_events)
{
	world w;
	resp r;
	char *ev;

	world_new(&w, TIMED_EXAM);
	ev = many_events(501);
	activity(&r, &w.student, w.attempt_id, ev);
	expect_error(&r, 413, "batch_too_large");
	resp_free(&r);
	free(ev);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 0);
	ev = many_events(500);
	activity_ok(&w.student, w.attempt_id, ev, 500, 0);
	free(ev);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 500);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_events_not_array)
{
	world w;
	resp r;

	world_new(&w, TIMED_EXAM);
	activity(&r, &w.student, w.attempt_id, "{\"event_type\":\"x\"}");
	expect_field(&r, "events");
	resp_free(&r);
	activity(&r, &w.student, w.attempt_id, "\"x\"");
	expect_field(&r, "events");
	resp_free(&r);
	act(&r, "POST", &w.student, w.attempt_id, "activity", "{}");
	expect_field(&r, "events");
	resp_free(&r);
	act(&r, "POST", &w.student, w.attempt_id, "activity", "[]");
	expect_field(&r, "body");
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_on_submitted)
{
	world w;
	resp r;

	world_new(&w, TIMED_EXAM);
	act(&r, "POST", &w.student, w.attempt_id, "submit", NULL);
	expect_ok(&r, 200);
	resp_free(&r);
	activity_ok(&w.student, w.attempt_id,
		    "[{\"event_type\":\"late\",\"client_event_id\":\"l1\"}]", 1, 0);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 1);
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_access)
{
	world w;
	user other = user_new(AUTH_ROLE_STUDENT);
	char missing[ID_LEN];
	resp r;

	world_new(&w, TIMED_EXAM);
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	activity(&r, &other, w.attempt_id, "[{\"event_type\":\"x\"}]");
	expect_error(&r, 404, "not_found");
	resp_free(&r);
	activity(&r, &w.student, missing, "[{\"event_type\":\"x\"}]");
	expect_error(&r, 404, "not_found");
	resp_free(&r);
	/* Activity is an owner-only write (docs/SQL.md): staff is forbidden. */
	activity(&r, &w.proctor, w.attempt_id, "[{\"event_type\":\"x\"}]");
	expect_error(&r, 403, "forbidden");
	resp_free(&r);
	activity(&r, NULL, w.attempt_id, "[{\"event_type\":\"x\"}]");
	expect_error(&r, 401, "unauthorized");
	resp_free(&r);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 0);
	user_free(&other);
	world_free(&w);
}
END_TEST

START_TEST(test_activity_invalid_json)
{
	world w;
	resp r;

	world_new(&w, TIMED_EXAM);
	act(&r, "POST", &w.student, w.attempt_id, "activity", "{\"events\": [");
	expect_error(&r, 400, "invalid_json");
	resp_free(&r);
	act(&r, "POST", &w.student, "not-a-uuid", "activity", "{\"events\":[]}");
	expect_error(&r, 400, "invalid_uuid");
	resp_free(&r);
	world_free(&w);
}
END_TEST

/* ============================================================ submit */

static const char *const state_keys[] = {
	"attempt_id",	    "exam_id", "user_id",    "attempt_number", "status",       "answers",
	"auto_save_data",   "version", "started_at", "deadline_at",    "submitted_at", "updated_at",
	"time_remaining_s", NULL};

static const char *const info_keys[] = {
	"attempt_id",	    "exam_id",	  "user_id",	    "attempt_number", "status",
	"version",	    "started_at", "deadline_at",    "submitted_at",   "updated_at",
	"time_remaining_s", "exam_title", "activity_count", "upload_count",   "submit_reason",
	"receipt",	    NULL};

/* Submits with body (NULL: none) as u; the answer is left in *r. */
static void submit(resp *r, const user *u, const char *attempt_id, const char *body)
{
	act(r, "POST", u, attempt_id, "submit", body);
}

/* Asserts a successful submit answer: the final state, receipt of
 * want_answers (JSON text), already_submitted as given, version. */
static void expect_submitted(const resp *r, const char *want_answers, int already, long version)
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

START_TEST(test_submit_without_body)
{
	world w;
	resp r;

	world_new(&w, TIMED_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q1\":\"a\",\"q2\":[1,2]}}");
	submit(&r, &w.student, w.attempt_id, NULL);
	expect_submitted(&r, "{\"q1\":\"a\",\"q2\":[1,2]}", 0, 3);
	expect_str(r.json, "attempt_id", w.attempt_id);
	resp_free(&r);
	db_expect_col(w.attempt_id, "status", "submitted");
	db_expect_col(w.attempt_id, "submit_reason", "student");
	ck_assert_int_eq(db_version(w.attempt_id), 3);
	world_free(&w);
}
END_TEST

START_TEST(test_submit_empty_object_body)
{
	world w;
	resp r;

	world_new(&w, UNTIMED_EXAM);
	submit(&r, &w.student, w.attempt_id, "{}");
	expect_submitted(&r, "{}", 0, 2);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_submit_final_save_merged)
{
	world w;
	resp r;

	world_new(&w, TIMED_EXAM);
	save_ok(&w.student, w.attempt_id,
		"{\"answers\":{\"q1\":\"a\",\"q2\":\"b\",\"q3\":{\"x\":1}},"
		"\"auto_save_data\":{\"p\":1}}");
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	/* One last save and the submit in one request: the version goes up
	 * once, null removes a key, the rest is merged at the top level. */
	submit(&r, &w.student, w.attempt_id,
	       "{\"answers\":{\"q2\":null,\"q3\":{\"y\":2},\"q4\":true},\"expected_version\":2}");
	expect_submitted(&r, "{\"q1\":\"a\",\"q3\":{\"y\":2},\"q4\":true}", 0, 3);
	expect_json_eq(r.json, "auto_save_data", "{\"p\":1}");
	resp_free(&r);
	db_expect_answers(w.attempt_id, "{\"q1\":\"a\",\"q3\":{\"y\":2},\"q4\":true}");
	ck_assert_int_eq(db_version(w.attempt_id), 3);
	world_free(&w);
}
END_TEST

/* Saves answers_json then submits, asserting the receipt against our own
 * JCS of the stored answers (and of what the state answers). */
static void receipt_case(const char *answers_json)
{
	world w;
	resp r;
	char *body;
	size_t cap = strlen(answers_json) + 32;
	char hex[65];

	world_new(&w, UNTIMED_EXAM);
	body = malloc(cap);
	ck_assert_ptr_nonnull(body);
	snprintf(body, cap, "{\"answers\":%s}", answers_json);
	submit(&r, &w.student, w.attempt_id, body);
	expect_submitted(&r, answers_json, 0, 2);
	receipt_of(jget(r.json, "answers"), hex);
	ck_assert_str_eq(jstr(r.json, "receipt"), hex);
	resp_free(&r);
	db_expect_col(w.attempt_id, "receipt", hex);
	free(body);
	world_free(&w);
}

START_TEST(test_submit_receipt_nested)
{
	receipt_case("{\"zeta\":{\"b\":[{\"y\":1,\"x\":[true,false,null]},[],{}],\"a\":\"s\"},"
		     "\"alpha\":[3,2,1,{\"k2\":\"v\",\"k10\":\"w\",\"K\":0}],"
		     "\"mid\":{\"\":\"empty key\",\"nested\":{\"deeper\":{\"deepest\":[[[]]]}}},"
		     "\"B\":false,\"n\":{\"inner "
		     "null\":null},\"aa\":\"\",\"a_b\":\"u\",\"a-b\":\"h\",\"10\":1,\"2\":2}");
}
END_TEST

START_TEST(test_submit_receipt_numbers)
{
	receipt_case("{\"half\":1.5,\"ten\":10,\"tenth\":0.1,\"neg\":-2.75,\"zero\":0,"
		     "\"negzero\":-0,\"big\":1e21,\"tiny\":1e-7,\"micro\":0.000001,"
		     "\"hundred\":100.0,\"frac\":123.456,\"exp\":2.5E+3,\"max\":1e308,"
		     "\"beyond53\":1152921504606846976,\"list\":[1,1.25,-1,1e20,5e-324]}");
}
END_TEST

/* Numbers are stored as jsonb numeric, exactly as sent (API.md section
 * 3), so a client's own JCS of its answers verifies the receipt:
 * neighbours of a double one ulp apart and the largest double must
 * survive. */
START_TEST(test_submit_numbers_exact)
{
	static const char answers[] = "{\"a\":0.30000000000000004,\"b\":1.0000000000000002,"
				      "\"c\":1.7976931348623157e308,\"d\":0.1}";
	world w;
	resp r;
	char *got;

	world_new(&w, UNTIMED_EXAM);
	act(&r, "PATCH", &w.student, w.attempt_id, "save",
	    "{\"answers\":{\"a\":0.30000000000000004,"
	    "\"b\":1.0000000000000002,\"c\":1.7976931348623157e308,\"d\":0.1}}");
	expect_ok(&r, 200);
	resp_free(&r);
	got = db_value(
		"SELECT concat_ws(' ', (answers->>'a')::float8 = 0.30000000000000004::float8,"
		" (answers->>'b')::float8 = 1.0000000000000002::float8,"
		" (answers->>'c')::numeric <= 1.7976931348623157081e308"
		" AND (answers->>'c')::float8 = 1.7976931348623157e308::float8,"
		" (answers->>'d')::float8 = 0.1::float8, '|', answers::text)"
		" FROM attempts.attempts WHERE attempt_id = $1",
		w.attempt_id);
	ck_assert_msg(strncmp(got, "t t t t |", 9) == 0,
		      "stored numbers differ from the doubles sent %s: %.200s", answers, got);
	free(got);
	submit(&r, &w.student, w.attempt_id, NULL);
	expect_submitted(&r, answers, 0, 3);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_submit_receipt_unicode)
{
	/* Keys and strings outside ASCII, and the characters JCS escapes (or
	 * leaves raw). Keys avoid mixing characters above U+FFFF with ones in
	 * U+E000..U+FFFF, the one place docs/API.md section 11 says the
	 * service's order (code points) and RFC 8785's (UTF-16) differ. */
	receipt_case("{\"\\u00e9t\\u00e9\":\"caf\\u00e9\",\"e\":\"plain\",\"\\u65e5\\u672c\":"
		     "\"\\u65e5\\u672c\\u8a9e\",\"emoji\":\"\\ud83d\\ude00 \\ud83c\\udf89\","
		     "\"\\ud83d\\ude00\":\"key above U+FFFF\",\"\\u20ac\":\"euro\","
		     "\"esc\":\"quote\\\" backslash\\\\ slash/ tab\\t nl\\n cr\\r bs\\b ff\\f "
		     "ctl\\u0001\\u001f del\\u007f ls\\u2028 nbsp\\u00a0\","
		     "\"Z\":\"upper\",\"\\u00f6\":[\"\\u00d6\",\"o\\u0308\"]}");
}
END_TEST

START_TEST(test_submit_repeat_idempotent)
{
	world w;
	resp r;
	char receipt[65];

	world_new(&w, TIMED_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q\":\"final\"}}");
	submit(&r, &w.student, w.attempt_id, NULL);
	expect_submitted(&r, "{\"q\":\"final\"}", 0, 3);
	snprintf(receipt, sizeof receipt, "%s", jstr(r.json, "receipt"));
	resp_free(&r);
	submit(&r, &w.student, w.attempt_id, NULL);
	expect_submitted(&r, "{\"q\":\"final\"}", 1, 3);
	expect_str(r.json, "receipt", receipt);
	resp_free(&r);
	/* A repeat carrying answers changes nothing either. */
	submit(&r, &w.student, w.attempt_id, "{\"answers\":{\"q\":\"changed\",\"r\":1}}");
	expect_submitted(&r, "{\"q\":\"final\"}", 1, 3);
	expect_str(r.json, "receipt", receipt);
	resp_free(&r);
	ck_assert_int_eq(db_version(w.attempt_id), 3);
	db_expect_answers(w.attempt_id, "{\"q\":\"final\"}");
	world_free(&w);
}
END_TEST

START_TEST(test_submit_stale_version)
{
	world w;
	resp r;
	const cJSON *d;

	world_new(&w, TIMED_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q\":1},\"auto_save_data\":{\"s\":1}}");
	submit(&r, &w.student, w.attempt_id,
	       "{\"answers\":{\"q\":2,\"extra\":true},\"expected_version\":1}");
	d = expect_error(&r, 409, "version_conflict");
	expect_num(d, "current_version", 2);
	expect_json_eq(d, "answers", "{\"q\":1}");
	expect_json_eq(d, "auto_save_data", "{\"s\":1}");
	resp_free(&r);
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	db_expect_answers(w.attempt_id, "{\"q\":1}");
	db_expect_col(w.attempt_id, "status", "in_progress");
	db_expect_col(w.attempt_id, "receipt", NULL);
	world_free(&w);
}
END_TEST

START_TEST(test_submit_if_match)
{
	world w;
	resp r;
	char path[160];
	const char *stale[] = {"If-Match: \"5\"", NULL};
	const char *good[] = {"If-Match: \"1\"", NULL};

	world_new(&w, TIMED_EXAM);
	attempt_path(path, sizeof path, w.attempt_id, "submit");
	send_req(&r, "POST", path, &w.student, NULL, stale);
	expect_error(&r, 409, "version_conflict");
	resp_free(&r);
	db_expect_col(w.attempt_id, "status", "in_progress");
	send_req(&r, "POST", path, &w.student, NULL, good);
	expect_submitted(&r, "{}", 0, 2);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_submit_expected_version_ok)
{
	world w;
	resp r;

	world_new(&w, TIMED_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q\":1}}");
	submit(&r, &w.student, w.attempt_id, "{\"expected_version\":2}");
	expect_submitted(&r, "{\"q\":1}", 0, 3);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_save_after_submit)
{
	world w;
	resp r;

	world_new(&w, TIMED_EXAM);
	submit(&r, &w.student, w.attempt_id, "{\"answers\":{\"q\":1}}");
	expect_ok(&r, 200);
	resp_free(&r);
	act(&r, "PATCH", &w.student, w.attempt_id, "save", "{\"answers\":{\"q\":2}}");
	expect_error(&r, 409, "attempt_submitted");
	resp_free(&r);
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	db_expect_answers(w.attempt_id, "{\"q\":1}");
	world_free(&w);
}
END_TEST

START_TEST(test_submit_info)
{
	world w;
	resp r;
	char receipt[65];
	const cJSON *o;

	world_new(&w, TIMED_EXAM);
	warm(&w.student, w.attempt_id);
	warm(&w.proctor, w.attempt_id);
	submit(&r, &w.student, w.attempt_id, "{\"answers\":{\"q\":\"x\"}}");
	expect_ok(&r, 200);
	snprintf(receipt, sizeof receipt, "%s", jstr(r.json, "receipt"));
	resp_free(&r);
	act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
	o = expect_ok(&r, 200);
	expect_keys(o, "info", info_keys);
	expect_str(o, "status", "submitted");
	expect_str(o, "submit_reason", "student");
	expect_str(o, "receipt", receipt);
	expect_num(o, "version", 2);
	expect_null(o, "time_remaining_s");
	ck_assert(!has_key(o, "answers"));
	resp_free(&r);
	act(&r, "GET", &w.proctor, w.attempt_id, "state", NULL);
	o = expect_ok(&r, 200);
	expect_str(o, "status", "submitted");
	expect_json_eq(o, "answers", "{\"q\":\"x\"}");
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_submit_access)
{
	world w;
	user other = user_new(AUTH_ROLE_STUDENT);
	resp r;

	world_new(&w, TIMED_EXAM);
	submit(&r, &other, w.attempt_id, NULL);
	expect_error(&r, 404, "not_found");
	resp_free(&r);
	submit(&r, &w.proctor, w.attempt_id, NULL);
	expect_error(&r, 403, "forbidden");
	resp_free(&r);
	submit(&r, &w.admin, w.attempt_id, "{}");
	expect_error(&r, 403, "forbidden");
	resp_free(&r);
	submit(&r, NULL, w.attempt_id, NULL);
	expect_error(&r, 401, "unauthorized");
	resp_free(&r);
	db_expect_col(w.attempt_id, "status", "in_progress");
	ck_assert_int_eq(db_version(w.attempt_id), 1);
	user_free(&other);
	world_free(&w);
}
END_TEST

START_TEST(test_submit_bad_bodies)
{
	world w;
	resp r;

	world_new(&w, TIMED_EXAM);
	submit(&r, &w.student, w.attempt_id, "{\"answers\":");
	expect_error(&r, 400, "invalid_json");
	resp_free(&r);
	submit(&r, &w.student, w.attempt_id, "{\"answers\":[1]}");
	expect_field(&r, "answers");
	resp_free(&r);
	submit(&r, &w.student, w.attempt_id, "{\"answers\":\"a\"}");
	expect_field(&r, "answers");
	resp_free(&r);
	submit(&r, &w.student, w.attempt_id, "{\"expected_version\":\"1\"}");
	expect_field(&r, "expected_version");
	resp_free(&r);
	submit(&r, &w.student, w.attempt_id, "[]");
	expect_field(&r, "body");
	resp_free(&r);
	db_expect_col(w.attempt_id, "status", "in_progress");
	ck_assert_int_eq(db_version(w.attempt_id), 1);
	world_free(&w);
}
END_TEST

START_TEST(test_submit_if_match_malformed)
{
	world w;
	resp r;
	char path[160];
	const char *bad[] = {"If-Match: version-one", NULL};

	world_new(&w, TIMED_EXAM);
	attempt_path(path, sizeof path, w.attempt_id, "submit");
	send_req(&r, "POST", path, &w.student, NULL, bad);
	expect_field(&r, "If-Match");
	resp_free(&r);
	db_expect_col(w.attempt_id, "status", "in_progress");
	world_free(&w);
}
END_TEST

START_TEST(test_submit_too_large)
{
	world w;
	resp r;
	size_t n = 600 * 1024;
	char *body = malloc(n + 64);

	ck_assert_ptr_nonnull(body);
	world_new(&w, TIMED_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q\":1}}");
	strcpy(body, "{\"answers\":{\"essay\":\"");
	memset(body + strlen(body), 'w', n);
	strcpy(body + strlen("{\"answers\":{\"essay\":\"") + n, "\"}}");
	submit(&r, &w.student, w.attempt_id, body);
	expect_error(&r, 413, "payload_too_large");
	resp_free(&r);
	free(body);
	db_expect_col(w.attempt_id, "status", "in_progress");
	db_expect_answers(w.attempt_id, "{\"q\":1}");
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	world_free(&w);
}
END_TEST

/* ============================================================ deadlines */

#define MINUTE_EXAM "{\"title\":\"one minute\",\"time_limit_s\":60,\"grace_s\":0}"
#define GRACE_EXAM "{\"title\":\"grace\",\"time_limit_s\":60,\"grace_s\":600}"

START_TEST(test_deadline_save_closes)
{
	world w;
	resp r;
	PGconn *lock;
	const cJSON *o;
	char hex[65];

	world_new(&w, MINUTE_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q1\":\"in time\"}}");
	lock = sweep_hold();
	db_push_past(w.attempt_id);
	act(&r, "PATCH", &w.student, w.attempt_id, "save",
	    "{\"answers\":{\"q1\":\"late\",\"q2\":\"late\"}}");
	expect_error(&r, 409, "attempt_closed");
	resp_free(&r);
	sweep_release(lock);
	/* Submitted with reason deadline, keeping what was saved in time. */
	db_expect_col(w.attempt_id, "status", "submitted");
	db_expect_col(w.attempt_id, "submit_reason", "deadline");
	db_expect_answers(w.attempt_id, "{\"q1\":\"in time\"}");
	ck_assert_int_eq(db_version(w.attempt_id), 3);
	act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
	o = expect_ok(&r, 200);
	expect_str(o, "status", "submitted");
	expect_json_eq(o, "answers", "{\"q1\":\"in time\"}");
	expect_num(o, "version", 3);
	expect_null(o, "time_remaining_s");
	expect_ts(o, "submitted_at");
	resp_free(&r);
	act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
	o = expect_ok(&r, 200);
	expect_str(o, "submit_reason", "deadline");
	receipt_of_text("{\"q1\":\"in time\"}", hex);
	expect_str(o, "receipt", hex);
	resp_free(&r);
	/* Now it is simply submitted. */
	act(&r, "PATCH", &w.student, w.attempt_id, "save", "{\"answers\":{\"q1\":\"later\"}}");
	expect_error(&r, 409, "attempt_submitted");
	resp_free(&r);
	ck_assert_int_eq(db_version(w.attempt_id), 3);
	world_free(&w);
}
END_TEST

START_TEST(test_deadline_submit_closes)
{
	world w;
	resp r;
	PGconn *lock;
	char hex[65];

	world_new(&w, MINUTE_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q\":\"saved\"}}");
	lock = sweep_hold();
	db_push_past(w.attempt_id);
	/* Submit is a last save and the submit in one transaction, so past
	 * deadline + grace it answers as save does (API.md section 6). */
	submit(&r, &w.student, w.attempt_id, "{\"answers\":{\"q\":\"too late\"}}");
	expect_error(&r, 409, "attempt_closed");
	resp_free(&r);
	sweep_release(lock);
	db_expect_col(w.attempt_id, "submit_reason", "deadline");
	db_expect_answers(w.attempt_id, "{\"q\":\"saved\"}");
	ck_assert_int_eq(db_version(w.attempt_id), 3);
	/* Once closed, submit is idempotent: 200, same receipt. */
	submit(&r, &w.student, w.attempt_id, NULL);
	expect_submitted(&r, "{\"q\":\"saved\"}", 1, 3);
	receipt_of_text("{\"q\":\"saved\"}", hex);
	db_expect_col(w.attempt_id, "receipt", hex);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_deadline_within_grace)
{
	world w;
	resp r;
	PGconn *lock;
	const cJSON *o;

	world_new(&w, GRACE_EXAM);
	lock = sweep_hold();
	db_push_past(w.attempt_id);
	act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
	o = expect_ok(&r, 200);
	expect_str(o, "status", "in_progress");
	expect_num(o, "time_remaining_s", 0);
	resp_free(&r);
	act(&r, "GET", &w.proctor, w.attempt_id, "info", NULL);
	expect_num(expect_ok(&r, 200), "time_remaining_s", 0);
	resp_free(&r);
	/* Within the grace period a save still works (silent slack). */
	act(&r, "PATCH", &w.student, w.attempt_id, "save", "{\"answers\":{\"q\":\"grace\"}}");
	o = expect_ok(&r, 200);
	expect_num(o, "time_remaining_s", 0);
	expect_num(o, "version", 2);
	resp_free(&r);
	submit(&r, &w.student, w.attempt_id, NULL);
	expect_submitted(&r, "{\"q\":\"grace\"}", 0, 3);
	resp_free(&r);
	db_expect_col(w.attempt_id, "submit_reason", "student");
	sweep_release(lock);
	world_free(&w);
}
END_TEST

START_TEST(test_deadline_time_remaining_counts)
{
	world w;
	resp r;
	double left;

	world_new(&w, MINUTE_EXAM);
	act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
	left = jnum(expect_ok(&r, 200), "time_remaining_s");
	ck_assert_msg(left >= 50 && left <= 60, "time_remaining_s %g, want 50..60", left);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_deadline_sweep)
{
	world w;
	resp r;
	char *status = NULL;
	char hex[65];
	const cJSON *o;

	world_new(&w, MINUTE_EXAM);
	save_ok(&w.student, w.attempt_id, "{\"answers\":{\"q\":\"kept\"}}");
	db_push_past(w.attempt_id);
	warm(&w.student, w.attempt_id);
	/* Nobody writes to it: the workers' periodic sweep closes it. */
	for (int i = 0; i < 50; i++) {
		free(status);
		status = db_value("SELECT status FROM attempts.attempts WHERE attempt_id = $1",
				  w.attempt_id);
		if (strcmp(status, "submitted") == 0)
			break;
		usleep(200 * 1000);
	}
	ck_assert_msg(strcmp(status, "submitted") == 0,
		      "an expired attempt is still %s after 10 s: no deadline sweep?", status);
	free(status);
	db_expect_col(w.attempt_id, "submit_reason", "deadline");
	receipt_of_text("{\"q\":\"kept\"}", hex);
	db_expect_col(w.attempt_id, "receipt", hex);
	ck_assert_int_eq(db_version(w.attempt_id), 3);
	/* No client was answered for the sweep's write: the workers that
	 * cached the attempt hear of it by NOTIFY, with bounded staleness
	 * (API.md section 7), so wait for it rather than race it. */
	for (int i = 0; i < 100; i++) {
		act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
		o = expect_ok(&r, 200);
		if (strcmp(jstr(o, "status"), "submitted") == 0)
			break;
		resp_free(&r);
		usleep(100 * 1000);
	}
	expect_str(o, "status", "submitted");
	expect_str(o, "submit_reason", "deadline");
	expect_num(o, "version", 3);
	resp_free(&r);
	act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
	o = expect_ok(&r, 200);
	expect_str(o, "status", "submitted");
	expect_null(o, "time_remaining_s");
	resp_free(&r);
	world_free(&w);
}
END_TEST

/* The attempt's deadline as epoch seconds (microsecond precision). */
static double db_deadline_epoch(const char *attempt_id)
{
	char *v = db_value("SELECT extract(epoch FROM deadline_at) FROM attempts.attempts"
			   " WHERE attempt_id = $1",
			   attempt_id);
	double d;

	ck_assert_ptr_nonnull(v);
	d = strtod(v, NULL);
	free(v);
	return d;
}

START_TEST(test_extend_proctor)
{
	world w;
	resp r;
	const cJSON *o;
	double before, after, left;

	world_new(&w, MINUTE_EXAM);
	warm(&w.student, w.attempt_id);
	before = db_deadline_epoch(w.attempt_id);
	act(&r, "PATCH", &w.proctor, w.attempt_id, "extend", "{\"extra_s\":600}");
	o = expect_ok(&r, 200);
	expect_keys(o, "extend answer", state_keys);
	expect_num(o, "version", 2);
	expect_str(o, "status", "in_progress");
	left = jnum(o, "time_remaining_s");
	ck_assert_msg(left > 600 && left <= 660, "time_remaining_s %g after +600 s", left);
	resp_free(&r);
	after = db_deadline_epoch(w.attempt_id);
	ck_assert_msg(fabs(after - before - 600) < 1e-3, "deadline moved by %f s, want 600",
		      after - before);
	ck_assert_int_eq(db_version(w.attempt_id), 2);
	/* The new state is what everyone reads, cached before or not. */
	act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
	o = expect_ok(&r, 200);
	expect_num(o, "version", 2);
	ck_assert(jnum(o, "time_remaining_s") > 600);
	resp_free(&r);
	act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
	o = expect_ok(&r, 200);
	expect_num(o, "version", 2);
	ck_assert(jnum(o, "time_remaining_s") > 600);
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_extend_within_grace)
{
	world w;
	resp r;
	PGconn *lock;
	const cJSON *o;
	double left;

	/* A proctor gives time back to an attempt already in its grace period:
	 * the countdown restarts from the moved deadline. */
	world_new(&w, GRACE_EXAM);
	lock = sweep_hold();
	db_push_past(w.attempt_id);
	act(&r, "PATCH", &w.proctor, w.attempt_id, "extend", "{\"extra_s\":300}");
	o = expect_ok(&r, 200);
	left = jnum(o, "time_remaining_s");
	ck_assert_msg(left > 170 && left <= 180, "time_remaining_s %g, want about 180", left);
	expect_num(o, "version", 2);
	resp_free(&r);
	sweep_release(lock);
	world_free(&w);
}
END_TEST

START_TEST(test_extend_admin_and_bounds)
{
	world w;
	resp r;
	double before;

	world_new(&w, MINUTE_EXAM);
	before = db_deadline_epoch(w.attempt_id);
	act(&r, "PATCH", &w.admin, w.attempt_id, "extend", "{\"extra_s\":1}");
	expect_num(expect_ok(&r, 200), "version", 2);
	resp_free(&r);
	act(&r, "PATCH", &w.admin, w.attempt_id, "extend", "{\"extra_s\":86400}");
	expect_num(expect_ok(&r, 200), "version", 3);
	resp_free(&r);
	ck_assert(fabs(db_deadline_epoch(w.attempt_id) - before - 86401) < 1e-3);
	world_free(&w);
}
END_TEST

START_TEST(test_extend_student_forbidden)
{
	world w;
	resp r;

	world_new(&w, MINUTE_EXAM);
	act(&r, "PATCH", &w.student, w.attempt_id, "extend", "{\"extra_s\":600}");
	expect_error(&r, 403, "forbidden");
	resp_free(&r);
	ck_assert_int_eq(db_version(w.attempt_id), 1);
	world_free(&w);
}
END_TEST

START_TEST(test_extend_bad_extra_s)
{
	static const char *const bodies[] = {"{\"extra_s\":0}",
					     "{\"extra_s\":86401}",
					     "{\"extra_s\":\"x\"}",
					     "{\"extra_s\":-5}",
					     "{\"extra_s\":1.5}",
					     "{\"extra_s\":null}",
					     "{}",
					     "{\"extra_s\":\"600\"}"};
	world w;
	resp r;

	world_new(&w, MINUTE_EXAM);
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		act(&r, "PATCH", &w.proctor, w.attempt_id, "extend", bodies[i]);
		expect_field(&r, "extra_s");
		resp_free(&r);
	}
	act(&r, "PATCH", &w.proctor, w.attempt_id, "extend", "{\"extra_s\":");
	expect_error(&r, 400, "invalid_json");
	resp_free(&r);
	ck_assert_int_eq(db_version(w.attempt_id), 1);
	world_free(&w);
}
END_TEST

START_TEST(test_extend_not_extendable)
{
	world w, u;
	resp r;

	world_new(&w, UNTIMED_EXAM);
	act(&r, "PATCH", &w.proctor, w.attempt_id, "extend", "{\"extra_s\":60}");
	expect_error(&r, 409, "not_extendable");
	resp_free(&r);
	ck_assert_int_eq(db_version(w.attempt_id), 1);
	world_new(&u, MINUTE_EXAM);
	submit(&r, &u.student, u.attempt_id, NULL);
	expect_ok(&r, 200);
	resp_free(&r);
	act(&r, "PATCH", &u.proctor, u.attempt_id, "extend", "{\"extra_s\":60}");
	expect_error(&r, 409, "not_extendable");
	resp_free(&r);
	ck_assert_int_eq(db_version(u.attempt_id), 2);
	world_free(&w);
	world_free(&u);
}
END_TEST

START_TEST(test_extend_missing_attempt)
{
	user p = user_new(AUTH_ROLE_PROCTOR);
	char missing[ID_LEN];
	resp r;

	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	act(&r, "PATCH", &p, missing, "extend", "{\"extra_s\":60}");
	expect_error(&r, 404, "not_found");
	resp_free(&r);
	act(&r, "PATCH", &p, "bad-id", "extend", "{\"extra_s\":60}");
	expect_error(&r, 400, "invalid_uuid");
	resp_free(&r);
	act(&r, "PATCH", NULL, missing, "extend", "{\"extra_s\":60}");
	expect_error(&r, 401, "unauthorized");
	resp_free(&r);
	user_free(&p);
}
END_TEST

/* ============================================================ batch */

/* A student with n attempts in progress, one per exam (made by a proctor
 * over HTTP). */
typedef struct fleet {
	user proctor, student;
	int n;
	char exam[8][ID_LEN];
	char att[8][ID_LEN];
} fleet;

static void fleet_new(fleet *f, int n, const char *exam_body)
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

static void fleet_free(fleet *f)
{
	user_free(&f->proctor);
	user_free(&f->student);
}

/* Asserts a batch_save success item: exactly {attempt_id, success, version}. */
static void expect_save_item(const cJSON *item, const char *attempt_id, long version)
{
	expect_str(item, "attempt_id", attempt_id);
	expect_bool(item, "success", 1);
	expect_num(item, "version", (double)version);
	ck_assert_msg(nkeys(item) == 3, "batch_save success item has %d keys, want 3", nkeys(item));
}

START_TEST(test_batch_save)
{
	fleet f;
	world other;
	resp r;
	char data[2048];
	const cJSON *res;

	fleet_new(&f, 3, TIMED_EXAM);
	world_new(&other, TIMED_EXAM);
	save_ok(&f.student, f.att[1], "{\"answers\":{\"keep\":1,\"drop\":2}}");
	warm(&f.student, f.att[0]);
	snprintf(data, sizeof data,
		 "[{\"attempt_id\":\"%s\",\"answers\":{\"q\":\"a0\"},\"auto_save_data\":{\"p\":0}},"
		 "{\"attempt_id\":\"%s\",\"answers\":{\"drop\":null,\"q\":\"a1\"},"
		 "\"expected_version\":2},"
		 "{\"attempt_id\":\"%s\",\"answers\":{\"x\":1}},"
		 "{\"attempt_id\":\"not-a-uuid\",\"answers\":{\"x\":1}},"
		 "{\"attempt_id\":\"%s\",\"auto_save_data\":{\"only\":true}}]",
		 f.att[0], f.att[1], other.attempt_id, f.att[2]);
	batch(&r, &f.student, "batch_save", data);
	res = batch_results(&r, 5);
	expect_save_item(cJSON_GetArrayItem(res, 0), f.att[0], 2);
	expect_save_item(cJSON_GetArrayItem(res, 1), f.att[1], 3);
	/* Someone else's attempt fails alone, as a missing one would. */
	expect_item_error(cJSON_GetArrayItem(res, 2), other.attempt_id, "not_found", 1);
	expect_details_field(
		expect_item_error(cJSON_GetArrayItem(res, 3), "not-a-uuid", "validation_failed", 1),
		"data[3].attempt_id", "item 3");
	expect_save_item(cJSON_GetArrayItem(res, 4), f.att[2], 2);
	resp_free(&r);
	db_expect_answers(f.att[0], "{\"q\":\"a0\"}");
	db_expect_answers(f.att[1], "{\"keep\":1,\"q\":\"a1\"}");
	db_expect_answers(f.att[2], "{}");
	db_expect_col(f.att[2], "auto_save_data", "{\"only\": true}");
	db_expect_answers(other.attempt_id, "{}");
	ck_assert_int_eq(db_version(other.attempt_id), 1);
	/* Read-your-writes: the state read before the batch is not served. */
	act(&r, "GET", &f.student, f.att[0], "state", NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	expect_json_eq(r.json, "answers", "{\"q\":\"a0\"}");
	resp_free(&r);
	fleet_free(&f);
	world_free(&other);
}
END_TEST

START_TEST(test_batch_save_conflict)
{
	fleet f;
	resp r;
	char data[1024];
	const cJSON *res, *d;

	fleet_new(&f, 2, TIMED_EXAM);
	save_ok(&f.student, f.att[0], "{\"answers\":{\"v\":1}}");
	snprintf(data, sizeof data,
		 "[{\"attempt_id\":\"%s\",\"answers\":{\"v\":2},\"expected_version\":1},"
		 "{\"attempt_id\":\"%s\",\"answers\":{\"w\":1},\"expected_version\":1}]",
		 f.att[0], f.att[1]);
	batch(&r, &f.student, "batch_save", data);
	res = batch_results(&r, 2);
	d = expect_item_error(cJSON_GetArrayItem(res, 0), f.att[0], "version_conflict", 1);
	expect_num(d, "current_version", 2);
	expect_save_item(cJSON_GetArrayItem(res, 1), f.att[1], 2);
	resp_free(&r);
	db_expect_answers(f.att[0], "{\"v\":1}");
	ck_assert_int_eq(db_version(f.att[0]), 2);
	db_expect_answers(f.att[1], "{\"w\":1}");
	fleet_free(&f);
}
END_TEST

START_TEST(test_batch_save_item_errors)
{
	fleet f;
	resp r;
	char data[1024];
	const cJSON *res;

	fleet_new(&f, 2, TIMED_EXAM);
	submit(&r, &f.student, f.att[1], NULL);
	expect_ok(&r, 200);
	resp_free(&r);
	snprintf(data, sizeof data,
		 "[{\"attempt_id\":\"%s\",\"answers\":[1]},"
		 "{\"attempt_id\":\"%s\",\"answers\":{\"a\":1}},"
		 "\"%s\"]",
		 f.att[0], f.att[1], f.att[0]);
	batch(&r, &f.student, "batch_save", data);
	res = batch_results(&r, 3);
	expect_details_field(
		expect_item_error(cJSON_GetArrayItem(res, 0), f.att[0], "validation_failed", 1),
		"data[0].answers", "item 0");
	expect_item_error(cJSON_GetArrayItem(res, 1), f.att[1], "attempt_submitted", 1);
	expect_details_field(
		expect_item_error(cJSON_GetArrayItem(res, 2), NULL, "validation_failed", 1),
		"data[2]", "item 2");
	resp_free(&r);
	ck_assert_int_eq(db_version(f.att[0]), 1);
	fleet_free(&f);
}
END_TEST

START_TEST(test_batch_save_past_deadline)
{
	fleet f;
	resp r;
	char data[512];
	const cJSON *res;
	PGconn *lock;

	fleet_new(&f, 2, MINUTE_EXAM);
	save_ok(&f.student, f.att[0], "{\"answers\":{\"q\":\"in time\"}}");
	lock = sweep_hold();
	db_push_past(f.att[0]);
	snprintf(data, sizeof data,
		 "[{\"attempt_id\":\"%s\",\"answers\":{\"q\":\"late\"}},"
		 "{\"attempt_id\":\"%s\",\"answers\":{\"q\":\"fine\"}}]",
		 f.att[0], f.att[1]);
	batch(&r, &f.student, "batch_save", data);
	res = batch_results(&r, 2);
	sweep_release(lock);
	/* The expired item is closed as the single save would close it. */
	expect_item_error(cJSON_GetArrayItem(res, 0), f.att[0], "attempt_closed", 1);
	expect_save_item(cJSON_GetArrayItem(res, 1), f.att[1], 2);
	resp_free(&r);
	db_expect_col(f.att[0], "submit_reason", "deadline");
	db_expect_answers(f.att[0], "{\"q\":\"in time\"}");
	ck_assert_int_eq(db_version(f.att[0]), 3);
	fleet_free(&f);
}
END_TEST

START_TEST(test_batch_log_item_limits)
{
	fleet f;
	resp r;
	char *events, *data;
	size_t cap;
	const cJSON *res;

	fleet_new(&f, 2, TIMED_EXAM);
	events = many_events(501);
	cap = strlen(events) + 256;
	data = malloc(cap);
	ck_assert_ptr_nonnull(data);
	snprintf(data, cap,
		 "[{\"attempt_id\":\"%s\",\"events\":%s},"
		 "{\"attempt_id\":\"%s\",\"events\":[{\"event_type\":\"ok\"}]},"
		 "{\"attempt_id\":\"%s\"}]",
		 f.att[0], events, f.att[1], f.att[1]);
	batch(&r, &f.student, "batch_log", data);
	res = batch_results(&r, 3);
	expect_item_error(cJSON_GetArrayItem(res, 0), f.att[0], "batch_too_large", 0);
	expect_num(cJSON_GetArrayItem(res, 1), "logged", 1);
	expect_details_field(
		expect_item_error(cJSON_GetArrayItem(res, 2), f.att[1], "validation_failed", 0),
		"data[2].events", "item 2");
	resp_free(&r);
	ck_assert_int_eq(db_activity_count(f.att[0]), 0);
	ck_assert_int_eq(db_activity_count(f.att[1]), 1);
	free(data);
	free(events);
	fleet_free(&f);
}
END_TEST

START_TEST(test_batch_multiple_states)
{
	fleet f;
	world other;
	resp r;
	char data[1024], missing[ID_LEN];
	const cJSON *res, *s;

	fleet_new(&f, 2, TIMED_EXAM);
	world_new(&other, TIMED_EXAM);
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	save_ok(&f.student, f.att[1], "{\"answers\":{\"q\":1}}");
	snprintf(data, sizeof data, "[\"%s\",\"%s\",\"%s\",\"%s\",42,\"%s\"]", f.att[1], f.att[0],
		 other.attempt_id, missing, f.att[1]);
	batch(&r, &f.student, "multiple_states", data);
	res = batch_results(&r, 6);
	s = cJSON_GetArrayItem(res, 0);
	expect_keys(s, "multiple_states item", state_keys);
	expect_str(s, "attempt_id", f.att[1]);
	expect_num(s, "version", 2);
	expect_json_eq(s, "answers", "{\"q\":1}");
	expect_str(cJSON_GetArrayItem(res, 1), "attempt_id", f.att[0]);
	expect_num(cJSON_GetArrayItem(res, 1), "version", 1);
	expect_item_error(cJSON_GetArrayItem(res, 2), other.attempt_id, "not_found", 0);
	expect_item_error(cJSON_GetArrayItem(res, 3), missing, "not_found", 0);
	expect_details_field(
		expect_item_error(cJSON_GetArrayItem(res, 4), NULL, "validation_failed", 0),
		"data[4]", "item 4");
	/* A repeated id is answered once: the repeat names the first. */
	expect_details_field(
		expect_item_error(cJSON_GetArrayItem(res, 5), f.att[1], "duplicate_item", 0),
		"data[5]", "item 5");
	resp_free(&r);
	/* Staff may read anyone's. */
	snprintf(data, sizeof data, "[\"%s\",\"%s\"]", other.attempt_id, f.att[0]);
	batch(&r, &other.proctor, "multiple_states", data);
	res = batch_results(&r, 2);
	expect_str(cJSON_GetArrayItem(res, 0), "status", "in_progress");
	expect_str(cJSON_GetArrayItem(res, 1), "user_id", f.student.sub);
	resp_free(&r);
	fleet_free(&f);
	world_free(&other);
}
END_TEST

/* Repeated ids in the read operations cost nothing: the first occurrence
 * is answered, each repeat is a duplicate_item error naming it, whatever
 * the answer's size (one student's 3.9 KB request once made a 45 MB body
 * of 100 copies of one maximal attempt). Repeats in query are per type. */
START_TEST(test_batch_repeats_answered_once)
{
	world w;
	resp r;
	char data[1024], missing[ID_LEN];
	const cJSON *res;

	world_new(&w, TIMED_EXAM);
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	snprintf(data, sizeof data, "[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\"]", w.attempt_id,
		 w.attempt_id, missing, missing, w.attempt_id);
	batch(&r, &w.student, "multiple_states", data);
	res = batch_results(&r, 5);
	expect_str(cJSON_GetArrayItem(res, 0), "status", "in_progress");
	expect_details_field(
		expect_item_error(cJSON_GetArrayItem(res, 1), w.attempt_id, "duplicate_item", 0),
		"data[1]", "item 1");
	expect_item_error(cJSON_GetArrayItem(res, 2), missing, "not_found", 0);
	expect_item_error(cJSON_GetArrayItem(res, 3), missing, "duplicate_item", 0);
	expect_item_error(cJSON_GetArrayItem(res, 4), w.attempt_id, "duplicate_item", 0);
	ck_assert_msg(strstr(r.r.body, "data[0]") != NULL, "the repeats name data[0]: %s", r.r.body);
	resp_free(&r);

	batch(&r, &w.student, "validate_multiple", data);
	res = batch_results(&r, 5);
	expect_bool(cJSON_GetArrayItem(res, 0), "valid", 1);
	expect_item_error(cJSON_GetArrayItem(res, 1), w.attempt_id, "duplicate_item", 0);
	expect_item_error(cJSON_GetArrayItem(res, 4), w.attempt_id, "duplicate_item", 0);
	resp_free(&r);

	snprintf(data, sizeof data,
		 "[{\"type\":\"state\",\"attempt_id\":\"%s\"},{\"type\":\"info\",\"attempt_id\":\"%s\"},"
		 "{\"type\":\"state\",\"attempt_id\":\"%s\"},{\"type\":\"info\",\"attempt_id\":\"%s\"}]",
		 w.attempt_id, w.attempt_id, w.attempt_id, w.attempt_id);
	batch(&r, &w.student, "query", data);
	res = batch_results(&r, 4);
	expect_str(cJSON_GetArrayItem(res, 0), "status", "in_progress");
	expect_str(cJSON_GetArrayItem(res, 1), "exam_title", "timed");
	expect_details_field(
		expect_item_error(cJSON_GetArrayItem(res, 2), w.attempt_id, "duplicate_item", 0),
		"data[2]", "item 2");
	expect_item_error(cJSON_GetArrayItem(res, 3), w.attempt_id, "duplicate_item", 0);
	resp_free(&r);
	world_free(&w);
}
END_TEST

/* Fills attempt_id with ~1 MB: 500,000 bytes of answers (under the
 * 512 KiB limit) and as many of auto-save data. */
static void save_maximal(const user *u, const char *attempt_id)
{
	enum { PART = 500000 };
	char *body = malloc(2 * PART + 128);
	int n;

	ck_assert_ptr_nonnull(body);
	n = sprintf(body, "{\"answers\":{\"essay\":\"");
	memset(body + n, 'a', PART);
	n += PART;
	n += sprintf(body + n, "\"},\"auto_save_data\":{\"draft\":\"");
	memset(body + n, 'b', PART);
	n += PART;
	sprintf(body + n, "\"}}");
	save_ok(u, attempt_id, body);
	free(body);
}

/* A batch read whose answer would exceed max_response_bytes (4 MiB by
 * default) answers 413 payload_too_large naming the limit, before the
 * work: five ~1 MB attempts. Four fit. Items served from the cache count
 * as well. Attempts the caller may not read do not count (a student
 * learns nothing of other people's attempts from the budget). */
START_TEST(test_batch_response_budget)
{
	fleet f;
	user other = user_new(AUTH_ROLE_STUDENT);
	resp r;
	char data[1024], four[1100], query[2048];
	const cJSON *details, *res;
	size_t n = 0, q = 0;

	fleet_new(&f, 5, TIMED_EXAM);
	for (int i = 0; i < 5; i++)
		save_maximal(&f.student, f.att[i]);
	for (int i = 0; i < 5; i++) {
		n += (size_t)snprintf(data + n, sizeof data - n, "%s\"%s\"", i ? "," : "[", f.att[i]);
		q += (size_t)snprintf(query + q, sizeof query - q,
				      "%s{\"type\":\"state\",\"attempt_id\":\"%s\"}", i ? "," : "[",
				      f.att[i]);
		if (i == 3)
			snprintf(four, sizeof four, "%s]", data);
	}
	snprintf(data + n, sizeof data - n, "]");
	snprintf(query + q, sizeof query - q, "]");

	batch(&r, &f.student, "multiple_states", data);
	details = expect_error(&r, 413, "payload_too_large");
	ck_assert_ptr_nonnull(details);
	expect_str(details, "limit", "max_response_bytes");
	expect_num(details, "max_bytes", 4194304);
	ck_assert_msg(strstr(jstr(jget(r.json, "error"), "message"), "max_response_bytes") != NULL,
		      "the message names max_response_bytes: %s", r.r.body);
	resp_free(&r);
	batch(&r, &f.student, "multiple_states", four);
	res = batch_results(&r, 4);
	expect_num(cJSON_GetArrayItem(res, 3), "version", 2);
	ck_assert_uint_gt(r.r.body_len, 4000000);
	resp_free(&r);
	batch(&r, &f.proctor, "multiple_states", data);
	expect_error(&r, 413, "payload_too_large");
	resp_free(&r);

	/* query, from the database and then with the states cached. */
	batch(&r, &f.student, "query", query);
	expect_error(&r, 413, "payload_too_large");
	resp_free(&r);
	for (int i = 0; i < 5; i++)
		for (int k = 0; k < 4; k++) {
			act(&r, "GET", &f.student, f.att[i], "state", NULL);
			expect_ok(&r, 200);
			resp_free(&r);
		}
	batch(&r, &f.student, "query", query);
	expect_error(&r, 413, "payload_too_large");
	resp_free(&r);

	/* Someone else's attempts are not_found items and count for nothing. */
	batch(&r, &other, "multiple_states", data);
	res = batch_results(&r, 5);
	for (int i = 0; i < 5; i++)
		expect_item_error(cJSON_GetArrayItem(res, i), f.att[i], "not_found", 0);
	resp_free(&r);
	batch(&r, &other, "query", query);
	batch_results(&r, 5);
	resp_free(&r);
	user_free(&other);
	fleet_free(&f);
}
END_TEST

/* One caller may have batch_concurrency_per_caller (1) batch request in
 * flight per worker; more answer 429 too_many_requests with Retry-After at
 * once, and another caller is not held back. Five batch_saves of one
 * student wait on a row lock held from psql: with the e2e stack's 2
 * workers, at least one worker gets two of them, and its second is
 * refused at once. */
START_TEST(test_batch_per_caller_limit)
{
	enum { N = 5 };
	world w, bystander;
	PGconn *lock = db_connect();
	const char *params[1];
	char auth[AUTH_MAX_TOKEN_LEN + 32], body[256];
	int fds[N][2], n429 = 0, n200 = 0;
	pid_t kids[N];
	resp r;

	world_new(&w, TIMED_EXAM);
	world_new(&bystander, TIMED_EXAM);
	params[0] = w.attempt_id;
	PQclear(db_run(lock, "BEGIN", 0, NULL));
	PQclear(db_run(lock, "SELECT 1 FROM attempts.attempts WHERE attempt_id = $1 FOR UPDATE", 1,
		       params));
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", w.student.token);
	snprintf(body, sizeof body,
		 "{\"operation\":\"batch_save\",\"data\":[{\"attempt_id\":\"%s\",\"auto_save_data\":{}}]}",
		 w.attempt_id);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(pipe(fds[i]), 0);
		kids[i] = fork();
		ck_assert(kids[i] >= 0);
		if (kids[i] == 0) {
			const char *headers[] = {auth, "Content-Type: application/json", NULL};
			http_client_response hr;
			char line[64];
			int len;
			const char *ra;

			if (http_client_request(g_url, "POST", "/api/attempts/any-id?action=batch",
						headers, body, strlen(body), &hr) != 0)
				_exit(1);
			ra = http_client_header(&hr, "Retry-After");
			len = snprintf(line, sizeof line, "%d %s %d", hr.status, ra ? ra : "-",
				       strstr(hr.body, "too_many_requests") != NULL);
			if (write(fds[i][1], line, (size_t)len) != len)
				_exit(1);
			_exit(0);
		}
		close(fds[i][1]);
	}
	/* The refusals come at once, while the lock is still held (and well
	 * before the statement timeout, 5 s, cancels the waiting saves). */
	for (int k = 0; k < 40 && n429 == 0; k++) {
		struct timespec t = {0, 50 * 1000 * 1000};

		for (int i = 0; i < N; i++) {
			struct pollfd pfd = {fds[i][0], POLLIN, 0};
			char line[64] = "";

			if (fds[i][0] < 0 || poll(&pfd, 1, 0) != 1)
				continue;
			if (read(fds[i][0], line, sizeof line - 1) > 0 &&
			    strncmp(line, "429 1 1", 7) == 0)
				n429++;
			close(fds[i][0]);
			fds[i][0] = -1;
		}
		nanosleep(&t, NULL);
	}
	/* Meanwhile another student's batch goes through. */
	batch(&r, &bystander.student, "multiple_states", "[]");
	batch_results(&r, 0);
	resp_free(&r);
	PQclear(db_run(lock, "COMMIT", 0, NULL));
	PQfinish(lock);
	for (int i = 0; i < N; i++) {
		char line[64] = "";
		int status = 0;

		waitpid(kids[i], &status, 0);
		if (fds[i][0] < 0)
			continue;
		if (read(fds[i][0], line, sizeof line - 1) > 0) {
			n200 += strncmp(line, "200", 3) == 0;
			n429 += strncmp(line, "429 1 1", 7) == 0;
		}
		close(fds[i][0]);
	}
	ck_assert_msg(n429 >= 1, "no batch of the 5 in flight was refused with 429 + Retry-After");
	ck_assert_msg(n429 + n200 == N, "%d answered 429 and %d 200 of %d", n429, n200, N);
	world_free(&w);
	world_free(&bystander);
}
END_TEST

START_TEST(test_batch_log)
{
	fleet f;
	world other;
	resp r;
	char data[2048];
	const cJSON *res, *it;

	fleet_new(&f, 2, TIMED_EXAM);
	world_new(&other, TIMED_EXAM);
	snprintf(data, sizeof data,
		 "[{\"attempt_id\":\"%s\",\"events\":[{\"event_type\":\"a\",\"client_event_id\":"
		 "\"1\"},"
		 "{\"event_type\":\"a\",\"client_event_id\":\"1\"},{\"event_type\":\"b\"}]},"
		 "{\"attempt_id\":\"%s\",\"events\":[{\"event_type\":\"BAD\"}]},"
		 "{\"attempt_id\":\"%s\",\"events\":[{\"event_type\":\"c\",\"client_event_id\":"
		 "\"9\"}]},"
		 "{\"attempt_id\":\"%s\",\"events\":[{\"event_type\":\"x\"}]},"
		 "{\"attempt_id\":\"nope\",\"events\":[]}]",
		 f.att[0], f.att[1], f.att[1], other.attempt_id);
	batch(&r, &f.student, "batch_log", data);
	res = batch_results(&r, 5);
	it = cJSON_GetArrayItem(res, 0);
	expect_str(it, "attempt_id", f.att[0]);
	expect_num(it, "logged", 2);
	expect_num(it, "duplicates", 1);
	ck_assert_int_eq(nkeys(it), 3);
	expect_details_field(
		expect_item_error(cJSON_GetArrayItem(res, 1), f.att[1], "validation_failed", 0),
		"data[1].events[0].event_type", "item 1");
	it = cJSON_GetArrayItem(res, 2);
	expect_str(it, "attempt_id", f.att[1]);
	expect_num(it, "logged", 1);
	expect_num(it, "duplicates", 0);
	expect_item_error(cJSON_GetArrayItem(res, 3), other.attempt_id, "not_found", 0);
	expect_item_error(cJSON_GetArrayItem(res, 4), NULL, "validation_failed", 0);
	resp_free(&r);
	ck_assert_int_eq(db_activity_count(f.att[0]), 2);
	ck_assert_int_eq(db_activity_count(f.att[1]), 1);
	ck_assert_int_eq(db_activity_count(other.attempt_id), 0);
	ck_assert_int_eq(db_version(f.att[0]), 1);
	/* Across requests too. */
	snprintf(data, sizeof data,
		 "[{\"attempt_id\":\"%s\",\"events\":[{\"event_type\":\"c\",\"client_event_id\":"
		 "\"9\"}]}]",
		 f.att[1]);
	batch(&r, &f.student, "batch_log", data);
	it = cJSON_GetArrayItem(batch_results(&r, 1), 0);
	expect_num(it, "logged", 0);
	expect_num(it, "duplicates", 1);
	resp_free(&r);
	fleet_free(&f);
	world_free(&other);
}
END_TEST

START_TEST(test_batch_validate_multiple)
{
	fleet f;
	world other;
	resp r;
	char data[1024];
	const cJSON *res, *it;
	PGconn *lock;

	fleet_new(&f, 4, MINUTE_EXAM);
	world_new(&other, TIMED_EXAM);
	submit(&r, &f.student, f.att[1], NULL);
	expect_ok(&r, 200);
	resp_free(&r);
	lock = sweep_hold();
	db_push_past(f.att[2]);
	/* A submitted attempt past its deadline is "submitted" alone. */
	db_push_past(f.att[3]);
	db_submit(f.att[3]);
	snprintf(data, sizeof data, "[\"%s\",\"%s\",\"%s\",\"%s\",\"%s\",\"x\"]", f.att[0],
		 f.att[1], f.att[2], f.att[3], other.attempt_id);
	batch(&r, &f.student, "validate_multiple", data);
	res = batch_results(&r, 6);
	/* Validation writes nothing: the expired attempt is still open. */
	db_expect_col(f.att[2], "status", "in_progress");
	sweep_release(lock);
	it = cJSON_GetArrayItem(res, 0);
	expect_str(it, "attempt_id", f.att[0]);
	expect_bool(it, "valid", 1);
	expect_json_eq(it, "problems", "[]");
	ck_assert_int_eq(nkeys(it), 3);
	it = cJSON_GetArrayItem(res, 1);
	expect_str(it, "attempt_id", f.att[1]);
	expect_bool(it, "valid", 0);
	expect_json_eq(it, "problems", "[\"submitted\"]");
	it = cJSON_GetArrayItem(res, 2);
	expect_str(it, "attempt_id", f.att[2]);
	expect_bool(it, "valid", 0);
	expect_json_eq(it, "problems", "[\"deadline_passed\"]");
	it = cJSON_GetArrayItem(res, 3);
	expect_json_eq(it, "problems", "[\"submitted\"]");
	expect_item_error(cJSON_GetArrayItem(res, 4), other.attempt_id, "not_found", 0);
	expect_item_error(cJSON_GetArrayItem(res, 5), NULL, "validation_failed", 0);
	resp_free(&r);
	fleet_free(&f);
	world_free(&other);
}
END_TEST

START_TEST(test_batch_submit_proctor)
{
	fleet f;
	resp r;
	char data[1024], missing[ID_LEN], hex[65], receipt1[65];
	const cJSON *res, *it;

	fleet_new(&f, 3, TIMED_EXAM);
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	save_ok(&f.student, f.att[0], "{\"answers\":{\"q\":[1,{\"b\":2,\"a\":1.5}]}}");
	submit(&r, &f.student, f.att[1], "{\"answers\":{\"done\":true}}");
	expect_ok(&r, 200);
	snprintf(receipt1, sizeof receipt1, "%s", jstr(r.json, "receipt"));
	resp_free(&r);
	warm(&f.student, f.att[0]);
	snprintf(data, sizeof data, "[\"%s\",\"%s\",\"%s\",\"%s\",\"bad\"]", f.att[0], f.att[1],
		 missing, f.att[2]);
	batch(&r, &f.proctor, "batch_submit", data);
	res = batch_results(&r, 5);
	it = cJSON_GetArrayItem(res, 0);
	expect_str(it, "attempt_id", f.att[0]);
	expect_bool(it, "submitted", 1);
	expect_bool(it, "already_submitted", 0);
	receipt_of_text("{\"q\":[1,{\"b\":2,\"a\":1.5}]}", hex);
	expect_str(it, "receipt", hex);
	ck_assert_int_eq(nkeys(it), 4);
	it = cJSON_GetArrayItem(res, 1);
	expect_bool(it, "submitted", 1);
	expect_bool(it, "already_submitted", 1);
	expect_str(it, "receipt", receipt1);
	expect_item_error(cJSON_GetArrayItem(res, 2), missing, "not_found", 0);
	it = cJSON_GetArrayItem(res, 3);
	expect_bool(it, "already_submitted", 0);
	receipt_of_text("{}", hex);
	expect_str(it, "receipt", hex);
	expect_item_error(cJSON_GetArrayItem(res, 4), NULL, "validation_failed", 0);
	resp_free(&r);
	db_expect_col(f.att[0], "submit_reason", "cleanup");
	db_expect_col(f.att[1], "submit_reason", "student");
	db_expect_col(f.att[2], "submit_reason", "cleanup");
	ck_assert_int_eq(db_version(f.att[0]), 3);
	ck_assert_int_eq(db_version(f.att[1]), 2);
	ck_assert_int_eq(db_version(f.att[2]), 2);
	act(&r, "GET", &f.student, f.att[0], "info", NULL);
	it = expect_ok(&r, 200);
	expect_str(it, "status", "submitted");
	expect_str(it, "submit_reason", "cleanup");
	receipt_of_text("{\"q\":[1,{\"b\":2,\"a\":1.5}]}", hex);
	expect_str(it, "receipt", hex);
	resp_free(&r);
	/* A student's own submit afterwards is the idempotent repeat. */
	submit(&r, &f.student, f.att[2], NULL);
	expect_submitted(&r, "{}", 1, 2);
	resp_free(&r);
	fleet_free(&f);
}
END_TEST

START_TEST(test_batch_submit_admin)
{
	fleet f;
	user admin = user_new(AUTH_ROLE_ADMIN);
	resp r;
	char data[128];

	fleet_new(&f, 1, TIMED_EXAM);
	snprintf(data, sizeof data, "[\"%s\"]", f.att[0]);
	batch(&r, &admin, "batch_submit", data);
	expect_bool(cJSON_GetArrayItem(batch_results(&r, 1), 0), "submitted", 1);
	resp_free(&r);
	db_expect_col(f.att[0], "submit_reason", "cleanup");
	user_free(&admin);
	fleet_free(&f);
}
END_TEST

START_TEST(test_batch_submit_student_forbidden)
{
	fleet f;
	resp r;
	char data[256];

	fleet_new(&f, 2, TIMED_EXAM);
	snprintf(data, sizeof data, "[\"%s\",\"%s\"]", f.att[0], f.att[1]);
	batch(&r, &f.student, "batch_submit", data);
	expect_error(&r, 403, "forbidden");
	resp_free(&r);
	db_expect_col(f.att[0], "status", "in_progress");
	db_expect_col(f.att[1], "status", "in_progress");
	fleet_free(&f);
}
END_TEST

START_TEST(test_batch_query)
{
	fleet f;
	world other;
	resp r;
	char data[2048];
	const cJSON *res, *it;

	fleet_new(&f, 2, TIMED_EXAM);
	world_new(&other, TIMED_EXAM);
	save_ok(&f.student, f.att[0], "{\"answers\":{\"q\":\"s\"}}");
	snprintf(data, sizeof data,
		 "[{\"type\":\"state\",\"attempt_id\":\"%s\"},{\"type\":\"info\",\"attempt_id\":\"%"
		 "s\"},"
		 "{\"type\":\"info\",\"attempt_id\":\"%s\"},{\"type\":\"state\",\"attempt_id\":\"%"
		 "s\"},"
		 "{\"type\":\"stats\",\"attempt_id\":\"%s\"},{\"type\":\"state\",\"attempt_id\":"
		 "\"x\"},"
		 "{\"type\":\"info\",\"attempt_id\":\"%s\"}]",
		 f.att[0], f.att[0], f.att[1], other.attempt_id, f.att[0], other.attempt_id);
	batch(&r, &f.student, "query", data);
	res = batch_results(&r, 7);
	it = cJSON_GetArrayItem(res, 0);
	expect_keys(it, "query state", state_keys);
	expect_json_eq(it, "answers", "{\"q\":\"s\"}");
	expect_num(it, "version", 2);
	it = cJSON_GetArrayItem(res, 1);
	expect_keys(it, "query info", info_keys);
	ck_assert(!has_key(it, "answers"));
	expect_str(it, "attempt_id", f.att[0]);
	expect_str(it, "exam_title", "timed");
	expect_num(it, "version", 2);
	it = cJSON_GetArrayItem(res, 2);
	expect_str(it, "attempt_id", f.att[1]);
	expect_null(it, "submit_reason");
	expect_item_error(cJSON_GetArrayItem(res, 3), other.attempt_id, "not_found", 0);
	expect_details_field(
		expect_item_error(cJSON_GetArrayItem(res, 4), NULL, "validation_failed", 0),
		"data[4].type", "item 4");
	expect_details_field(
		expect_item_error(cJSON_GetArrayItem(res, 5), NULL, "validation_failed", 0),
		"data[5].attempt_id", "item 5");
	expect_item_error(cJSON_GetArrayItem(res, 6), other.attempt_id, "not_found", 0);
	resp_free(&r);
	fleet_free(&f);
	world_free(&other);
}
END_TEST

/* A state another student's read put in a worker's cache is still
 * not_found for everyone else, through query and GET alike. */
START_TEST(test_batch_query_cache_no_leak)
{
	world w;
	user other = user_new(AUTH_ROLE_STUDENT);
	resp r;
	char data[256];

	world_new(&w, TIMED_EXAM);
	for (int i = 0; i < 4; i++) {
		act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
		expect_ok(&r, 200);
		resp_free(&r);
		act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
		expect_ok(&r, 200);
		resp_free(&r);
	}
	snprintf(data, sizeof data,
		 "[{\"type\":\"state\",\"attempt_id\":\"%s\"},{\"type\":\"info\",\"attempt_id\":\"%"
		 "s\"}]",
		 w.attempt_id, w.attempt_id);
	batch(&r, &other, "query", data);
	expect_item_error(cJSON_GetArrayItem(batch_results(&r, 2), 0), w.attempt_id, "not_found",
			  0);
	expect_item_error(cJSON_GetArrayItem(jget(r.json, "results"), 1), w.attempt_id, "not_found",
			  0);
	resp_free(&r);
	act(&r, "GET", &other, w.attempt_id, "state", NULL);
	expect_error(&r, 404, "not_found");
	resp_free(&r);
	/* ...while the owner and staff get it. */
	batch(&r, &w.proctor, "query", data);
	expect_str(cJSON_GetArrayItem(batch_results(&r, 2), 0), "user_id", w.student.sub);
	resp_free(&r);
	user_free(&other);
	world_free(&w);
}
END_TEST

/* data: [id, id, ...] of n copies of id. */
static char *repeat_ids(const char *id, int n)
{
	buf b = BUF_INIT;
	char *out;

	buf_putc(&b, '[');
	for (int i = 0; i < n; i++)
		buf_printf(&b, "%s\"%s\"", i ? "," : "", id);
	buf_putc(&b, ']');
	out = buf_take(&b);
	ck_assert_ptr_nonnull(out);
	return out;
}

START_TEST(test_batch_too_large)
{
	world w;
	resp r;
	char *data;
	const cJSON *res;

	world_new(&w, TIMED_EXAM);
	data = repeat_ids(w.attempt_id, 101);
	batch(&r, &w.student, "multiple_states", data);
	expect_error(&r, 413, "batch_too_large");
	resp_free(&r);
	free(data);
	data = repeat_ids(w.attempt_id, 100);
	batch(&r, &w.student, "multiple_states", data);
	res = batch_results(&r, 100);
	expect_str(cJSON_GetArrayItem(res, 99), "attempt_id", w.attempt_id);
	resp_free(&r);
	free(data);
	world_free(&w);
}
END_TEST

START_TEST(test_batch_save_too_large_writes_nothing)
{
	world w;
	resp r;
	buf b = BUF_INIT;
	char *data;

	world_new(&w, TIMED_EXAM);
	buf_putc(&b, '[');
	for (int i = 0; i < 101; i++)
		buf_printf(&b, "%s{\"attempt_id\":\"%s\",\"answers\":{\"k%d\":%d}}", i ? "," : "",
			   w.attempt_id, i, i);
	buf_putc(&b, ']');
	data = buf_take(&b);
	ck_assert_ptr_nonnull(data);
	batch(&r, &w.student, "batch_save", data);
	expect_error(&r, 413, "batch_too_large");
	resp_free(&r);
	free(data);
	ck_assert_int_eq(db_version(w.attempt_id), 1);
	world_free(&w);
}
END_TEST

START_TEST(test_batch_request_errors)
{
	user s = user_new(AUTH_ROLE_STUDENT);
	resp r;

	batch(&r, &s, "reticulate", "[]");
	expect_field(&r, "operation");
	resp_free(&r);
	send_req(&r, "POST", "/api/attempts/any-id?action=batch", &s,
		 "{\"operation\":\"multiple_states\"}", NULL);
	expect_field(&r, "data");
	resp_free(&r);
	send_req(&r, "POST", "/api/attempts/any-id?action=batch", &s,
		 "{\"operation\":\"multiple_states\",\"data\":{\"a\":1}}", NULL);
	expect_field(&r, "data");
	resp_free(&r);
	send_req(&r, "POST", "/api/attempts/any-id?action=batch", &s, "{\"data\":[]}", NULL);
	expect_field(&r, "operation");
	resp_free(&r);
	send_req(&r, "POST", "/api/attempts/any-id?action=batch", &s,
		 "{\"operation\":7,\"data\":[]}", NULL);
	expect_field(&r, "operation");
	resp_free(&r);
	send_req(&r, "POST", "/api/attempts/any-id?action=batch", &s, "{\"operation\":", NULL);
	expect_error(&r, 400, "invalid_json");
	resp_free(&r);
	send_req(&r, "POST", "/api/attempts/any-id?action=batch", NULL,
		 "{\"operation\":\"query\",\"data\":[]}", NULL);
	expect_error(&r, 401, "unauthorized");
	resp_free(&r);
	user_free(&s);
}
END_TEST

START_TEST(test_batch_empty_and_path_ignored)
{
	static const char *const ops[] = {"batch_save", "multiple_states", "batch_log",
					  "validate_multiple", "query"};
	user s = user_new(AUTH_ROLE_STUDENT);
	resp r;

	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		batch(&r, &s, ops[i], "[]");
		batch_results(&r, 0);
		resp_free(&r);
	}
	/* The path id is ignored for batch: "new", any text, a UUID. */
	send_req(&r, "POST", "/api/attempts/new?action=batch", &s,
		 "{\"operation\":\"query\",\"data\":[]}", NULL);
	batch_results(&r, 0);
	resp_free(&r);
	user_free(&s);
}
END_TEST

/* ============================================================ round trips */

/* Statement calls recorded by pg_stat_statements since the last reset,
 * top-level statements only (track=all also counts the statements run
 * inside the SQL functions), our own inspection queries left out. */
typedef struct stmt_calls {
	long total;   /* every top-level statement call */
	long target;  /* calls of the statements whose text has the target */
	long target2; /* the same for the second target, if any */
	long sweep;   /* close_expired_attempts() calls of the deadline sweep */
	long setup;   /* a pool's new connection (its two-set_config setup) */
	long pings;   /* the pool's health check of a connection idle 30 s */
} stmt_calls;

static void stat_reset(PGconn *c)
{
	PQclear(db_run(c, "SELECT pg_stat_statements_reset()", 0, NULL));
}

static void stat_read(PGconn *c, const char *target, const char *target2, stmt_calls *out)
{
	PGresult *res = db_run(c,
			       "SELECT query, calls FROM pg_stat_statements"
			       " WHERE toplevel AND query NOT LIKE '%pg_stat_statements%'"
			       " AND dbid = (SELECT oid FROM pg_database"
			       " WHERE datname = current_database())",
			       0, NULL);

	memset(out, 0, sizeof *out);
	for (int i = 0; i < PQntuples(res); i++) {
		const char *q = PQgetvalue(res, i, 0);
		const char *first = strstr(q, "set_config");
		long calls = strtol(PQgetvalue(res, i, 1), NULL, 10);

		out->total += calls;
		if (strstr(q, "close_expired_attempts") != NULL)
			out->sweep += calls;
		if (strcmp(q, "SELECT $1") == 0 || strcmp(q, "SELECT 1") == 0)
			out->pings += calls;
		if (first != NULL && strstr(first + 1, "set_config") != NULL)
			out->setup += calls;
		if (strstr(q, target) != NULL)
			out->target += calls;
		if (target2 != NULL && strstr(q, target2) != NULL)
			out->target2 += calls;
	}
	PQclear(res);
}

/* The statement calls the request itself made: the sweep costs two (its
 * claims and its call), a new pooled connection two (its setup queries),
 * and a connection idle for 30 s one health-check ping before its use (a
 * slow run, under sanitizers, leaves some idle that long). */
static long request_calls(const stmt_calls *s)
{
	return s->total - 2 * s->sweep - 2 * s->setup - s->pings;
}

/* Makes n exams and, for student sub, one attempt in progress of each,
 * directly in the database; fills ids (n x ID_LEN). */
static void db_make_attempts(const char *sub, int n, char (*ids)[ID_LEN])
{
	char count[16];
	const char *params[2] = {count, sub};
	PGresult *res;

	snprintf(count, sizeof count, "%d", n);
	res = db_query("WITH e AS (INSERT INTO attempts.exams (title)"
		       " SELECT 'round trips ' || g FROM generate_series(1, $1::int) g"
		       " RETURNING exam_id)"
		       " INSERT INTO attempts.attempts (exam_id, user_id, attempt_number,"
		       " last_activity_at) SELECT exam_id, $2::uuid, 1, now() FROM e"
		       " RETURNING attempt_id",
		       2, params);
	ck_assert_int_eq(PQntuples(res), n);
	for (int i = 0; i < n; i++)
		snprintf(ids[i], ID_LEN, "%s", PQgetvalue(res, i, 0));
	PQclear(res);
}

/* Runs send() between a reset and a read of pg_stat_statements, again (up
 * to 3 times) only when the deadline sweep or a new pooled connection
 * happened inside the window and the count is off. */
typedef void (*rt_request)(void *arg);

static void measure(rt_request send_fn, void *arg, const char *target, const char *target2,
		    long want_request_calls, stmt_calls *out)
{
	PGconn *c = db_connect();
	/* The deadline sweep, held off: it then only tries its lock (two
	 * quick statements), where a whole sweep may outlast the window and
	 * leave its claims statement counted without its call. */
	PGconn *sweep = sweep_hold();

	/* Background statements (a sweep, a new or idle connection) that
	 * straddle the window are not the request's: a window that does not
	 * add up is measured again, up to three times. */
	for (int attempt = 0; attempt < 3; attempt++) {
		stat_reset(c);
		send_fn(arg);
		stat_read(c, target, target2, out);
		if (request_calls(out) == want_request_calls)
			break;
	}
	sweep_release(sweep);
	PQfinish(c);
}

typedef struct rt_ctx {
	const user *u;
	const char *op;
	char *data;
	int n;
} rt_ctx;

static void rt_batch(void *arg)
{
	rt_ctx *x = arg;
	resp r;

	batch(&r, x->u, x->op, x->data);
	batch_results(&r, x->n);
	for (int i = 0; i < x->n; i++) {
		const cJSON *it = cJSON_GetArrayItem(jget(r.json, "results"), i);
		ck_assert_msg(!has_key(it, "error"), "%s item %d failed: %.300s", x->op, i,
			      r.r.body);
	}
	resp_free(&r);
}

static void report(const char *what, const stmt_calls *s, const char *fn, long fn_calls)
{
	printf("# round trips: %s: %ld call(s) of %s, %ld statement call(s) in all"
	       " (deadline sweeps excluded: %ld, new connections: %ld, health-check pings: %ld)\n",
	       what, fn_calls, fn, request_calls(s), s->sweep, s->setup, s->pings);
	fflush(stdout);
}

START_TEST(test_round_trips)
{
	user s = user_new(AUTH_ROLE_STUDENT), p = user_new(AUTH_ROLE_PROCTOR);
	static char ids[100][ID_LEN];
	stmt_calls sc;
	rt_ctx x;
	buf b = BUF_INIT;

	db_make_attempts(s.sub, 100, ids);

	/* batch_save of 100 items: one database round trip, i.e. the claims
	 * set_config and the one call, nothing else. */
	buf_putc(&b, '[');
	for (int i = 0; i < 100; i++)
		buf_printf(&b,
			   "%s{\"attempt_id\":\"%s\",\"answers\":{\"q%d\":%d},"
			   "\"auto_save_data\":{\"at\":%d}}",
			   i ? "," : "", ids[i], i, i, i);
	buf_putc(&b, ']');
	x = (rt_ctx){&s, "batch_save", buf_take(&b), 100};
	ck_assert_ptr_nonnull(x.data);
	measure(rt_batch, &x, "batch_save_attempts", NULL, 2, &sc);
	report("batch_save x100", &sc, "batch_save_attempts", sc.target);
	ck_assert_msg(sc.target == 1, "batch_save of 100 called batch_save_attempts %ld times",
		      sc.target);
	ck_assert_msg(request_calls(&sc) == 2,
		      "batch_save of 100 cost %ld statement calls, want 2 (claims + call)",
		      request_calls(&sc));
	free(x.data);
	db_expect_answers(ids[99], "{\"q99\":99}");

	/* multiple_states of 50 ids: one call. */
	buf_putc(&b, '[');
	for (int i = 50; i < 100; i++)
		buf_printf(&b, "%s\"%s\"", i > 50 ? "," : "", ids[i]);
	buf_putc(&b, ']');
	x = (rt_ctx){&s, "multiple_states", buf_take(&b), 50};
	ck_assert_ptr_nonnull(x.data);
	measure(rt_batch, &x, "get_multiple_attempt_states", NULL, 2, &sc);
	report("multiple_states x50", &sc, "get_multiple_attempt_states", sc.target);
	ck_assert_int_eq(sc.target, 1);
	ck_assert_int_eq(request_calls(&sc), 2);
	free(x.data);

	/* query of 30 states and 20 infos, none cached: one call per type. */
	buf_putc(&b, '[');
	for (int i = 0; i < 50; i++)
		buf_printf(&b, "%s{\"type\":\"%s\",\"attempt_id\":\"%s\"}", i ? "," : "",
			   i < 30 ? "state" : "info", ids[i]);
	buf_putc(&b, ']');
	x = (rt_ctx){&s, "query", buf_take(&b), 50};
	ck_assert_ptr_nonnull(x.data);
	measure(rt_batch, &x, "get_multiple_attempt_states", "get_multiple_attempt_infos", 4, &sc);
	report("query 30 state + 20 info (uncached)", &sc, "states/infos", sc.target + sc.target2);
	ck_assert_int_eq(sc.target, 1);
	ck_assert_int_eq(sc.target2, 1);
	ck_assert_int_eq(request_calls(&sc), 4);

	/* The same items once read (cached by whichever worker served the
	 * reads): at most one call per type, never more. */
	for (int round = 0; round < 6; round++) {
		for (int i = 0; i < 50; i++) {
			resp r;
			act(&r, "GET", &s, ids[i], i < 30 ? "state" : "info", NULL);
			expect_ok(&r, 200);
			resp_free(&r);
		}
	}
	measure(rt_batch, &x, "get_multiple_attempt_states", "get_multiple_attempt_infos", 0, &sc);
	printf("# round trips: query 30 state + 20 info after reading each 6 times:"
	       " %ld state call(s), %ld info call(s)\n",
	       sc.target, sc.target2);
	fflush(stdout);
	ck_assert_msg(sc.target <= 1 && sc.target2 <= 1,
		      "a query costs at most one call per type: %ld state, %ld info calls",
		      sc.target, sc.target2);
	ck_assert_int_eq(request_calls(&sc), 2 * (sc.target + sc.target2));
	free(x.data);

	/* batch_log, validate_multiple and batch_submit of 100: one call each. */
	buf_putc(&b, '[');
	for (int i = 0; i < 100; i++)
		buf_printf(&b, "%s{\"attempt_id\":\"%s\",\"events\":[{\"event_type\":\"rt\"}]}",
			   i ? "," : "", ids[i]);
	buf_putc(&b, ']');
	x = (rt_ctx){&s, "batch_log", buf_take(&b), 100};
	ck_assert_ptr_nonnull(x.data);
	measure(rt_batch, &x, "batch_log_attempt_activity", NULL, 2, &sc);
	report("batch_log x100", &sc, "batch_log_attempt_activity", sc.target);
	ck_assert_int_eq(sc.target, 1);
	ck_assert_int_eq(request_calls(&sc), 2);
	free(x.data);

	buf_putc(&b, '[');
	for (int i = 0; i < 100; i++)
		buf_printf(&b, "%s\"%s\"", i ? "," : "", ids[i]);
	buf_putc(&b, ']');
	x = (rt_ctx){&s, "validate_multiple", buf_take(&b), 100};
	ck_assert_ptr_nonnull(x.data);
	measure(rt_batch, &x, "validate_multiple_attempts", NULL, 2, &sc);
	report("validate_multiple x100", &sc, "validate_multiple_attempts", sc.target);
	ck_assert_int_eq(sc.target, 1);
	ck_assert_int_eq(request_calls(&sc), 2);

	x.u = &p;
	x.op = "batch_submit";
	measure(rt_batch, &x, "batch_submit_attempts", NULL, 2, &sc);
	report("batch_submit x100", &sc, "batch_submit_attempts", sc.target);
	ck_assert_int_eq(sc.target, 1);
	ck_assert_int_eq(request_calls(&sc), 2);
	free(x.data);
	ck_assert_int_eq(db_long("SELECT count(*) FROM attempts.attempts WHERE user_id = $1"
				 " AND submit_reason = 'cleanup'",
				 s.sub),
			 100);
	user_free(&s);
	user_free(&p);
}
END_TEST

/* ============================================================ stats */

static void stats(resp *r, const user *u, const char *attempt_id, const char *query)
{
	char path[256];

	snprintf(path, sizeof path, "/api/attempts/%s?action=stats&%s", attempt_id, query);
	send_req(r, "GET", path, u, NULL, NULL);
}

/* An exam with three students' attempts: [0] submitted with one answer,
 * [1] in progress with two, [2] in progress with none. */
typedef struct stats_world {
	user proctor, admin, s[3];
	char exam_id[ID_LEN];
	char att[3][ID_LEN];
} stats_world;

static void stats_world_new(stats_world *w)
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

static void stats_world_free(stats_world *w)
{
	user_free(&w->proctor);
	user_free(&w->admin);
	for (int i = 0; i < 3; i++)
		user_free(&w->s[i]);
}

static void expect_no_store(const resp *r)
{
	const char *cc = http_client_header(&r->r, "Cache-Control");

	ck_assert_msg(cc != NULL && strstr(cc, "no-store") != NULL,
		      "%s: Cache-Control %s, want no-store (API.md section 11)", r->what,
		      cc ? cc : "(none)");
}

static void expect_stats_body(const resp *r, const stats_world *w)
{
	static const char *const keys[] = {"exam_id",
					   "total",
					   "in_progress",
					   "submitted",
					   "avg_duration_s",
					   "median_duration_s",
					   "avg_answered",
					   "last_activity_at",
					   NULL};
	const cJSON *o = expect_ok(r, 200);

	expect_keys(o, "stats", keys);
	expect_str(o, "exam_id", w->exam_id);
	expect_num(o, "total", 3);
	expect_num(o, "in_progress", 2);
	expect_num(o, "submitted", 1);
	ck_assert(jnum(o, "avg_duration_s") >= 0);
	ck_assert(jnum(o, "median_duration_s") >= 0);
	ck_assert_msg(fabs(jnum(o, "avg_answered") - 1.0) < 0.001, "avg_answered %g, want 1",
		      jnum(o, "avg_answered"));
	expect_ts(o, "last_activity_at");
}

START_TEST(test_stats_stats)
{
	stats_world w;
	resp r;

	stats_world_new(&w);
	stats(&r, &w.proctor, w.att[1], "type=stats");
	expect_stats_body(&r, &w);
	resp_free(&r);
	stats(&r, &w.admin, w.att[0], "type=stats");
	expect_stats_body(&r, &w);
	resp_free(&r);
	stats_world_free(&w);
}
END_TEST

START_TEST(test_stats_cache_control)
{
	stats_world w;
	resp r;

	stats_world_new(&w);
	stats(&r, &w.proctor, w.att[1], "type=stats");
	expect_ok(&r, 200);
	expect_no_store(&r);
	resp_free(&r);
	stats(&r, &w.proctor, w.att[1], "type=active");
	expect_ok(&r, 200);
	expect_no_store(&r);
	resp_free(&r);
	stats_world_free(&w);
}
END_TEST

START_TEST(test_stats_active)
{
	static const char *const keys[] = {
		"attempt_id",	    "user_id", "started_at",	 "last_activity_at",
		"time_remaining_s", "version", "answered_count", NULL};
	stats_world w;
	const user *who[2];
	resp r;

	stats_world_new(&w);
	who[0] = &w.proctor;
	who[1] = &w.admin;
	for (int k = 0; k < 2; k++) {
		const cJSON *o, *list, *it;
		int seen1 = 0, seen2 = 0;

		stats(&r, who[k], w.att[2], "type=active");
		o = expect_ok(&r, 200);
		expect_str(o, "exam_id", w.exam_id);
		list = jget(o, "attempts");
		ck_assert_msg(cJSON_GetArraySize(list) == 2, "active: %d attempts, want 2: %s",
			      cJSON_GetArraySize(list), r.r.body);
		cJSON_ArrayForEach(it, list)
		{
			const char *id = jstr(it, "attempt_id");
			double left = jnum(it, "time_remaining_s");

			expect_keys(it, "active attempt", keys);
			ck_assert_msg(strcmp(id, w.att[0]) != 0, "a submitted attempt is listed");
			ck_assert(left > 3500 && left <= 3600);
			if (strcmp(id, w.att[1]) == 0) {
				seen1 = 1;
				expect_num(it, "answered_count", 2);
				expect_num(it, "version", 2);
				expect_str(it, "user_id", w.s[1].sub);
			} else if (strcmp(id, w.att[2]) == 0) {
				seen2 = 1;
				expect_num(it, "answered_count", 0);
				expect_num(it, "version", 1);
			}
		}
		ck_assert(seen1 && seen2);
		resp_free(&r);
	}
	stats_world_free(&w);
}
END_TEST

START_TEST(test_stats_student_forbidden)
{
	stats_world w;
	resp r;

	stats_world_new(&w);
	stats(&r, &w.s[1], w.att[1], "type=stats");
	expect_error(&r, 403, "forbidden");
	resp_free(&r);
	stats(&r, &w.s[1], w.att[1], "type=active");
	expect_error(&r, 403, "forbidden");
	resp_free(&r);
	stats(&r, &w.s[1], w.att[1], "type=optimization");
	expect_error(&r, 403, "forbidden");
	resp_free(&r);
	stats(&r, NULL, w.att[1], "type=stats");
	expect_error(&r, 401, "unauthorized");
	resp_free(&r);
	stats_world_free(&w);
}
END_TEST

START_TEST(test_stats_other_exam)
{
	stats_world w;
	world other;
	resp r;
	char q[128];
	const cJSON *o;

	stats_world_new(&w);
	world_new(&other, TIMED_EXAM);
	snprintf(q, sizeof q, "type=stats&exam_id=%s", other.exam_id);
	stats(&r, &w.proctor, w.att[0], q);
	o = expect_ok(&r, 200);
	expect_str(o, "exam_id", other.exam_id);
	expect_num(o, "total", 1);
	expect_num(o, "in_progress", 1);
	expect_num(o, "submitted", 0);
	expect_null(o, "avg_duration_s");
	resp_free(&r);
	snprintf(q, sizeof q, "type=active&exam_id=%s", other.exam_id);
	stats(&r, &w.admin, w.att[0], q);
	o = expect_ok(&r, 200);
	expect_str(o, "exam_id", other.exam_id);
	ck_assert_int_eq(cJSON_GetArraySize(jget(o, "attempts")), 1);
	expect_str(cJSON_GetArrayItem(jget(o, "attempts"), 0), "attempt_id", other.attempt_id);
	resp_free(&r);
	stats_world_free(&w);
	world_free(&other);
}
END_TEST

START_TEST(test_stats_bad_params)
{
	stats_world w;
	resp r;
	char q[128], missing[ID_LEN];

	stats_world_new(&w);
	stats(&r, &w.proctor, w.att[0], "type=stats&exam_id=bad");
	expect_error(&r, 400, "invalid_uuid");
	resp_free(&r);
	stats(&r, &w.proctor, w.att[0], "type=active&exam_id=ABCDEF00-0000-4000-8000-000000000000");
	expect_error(&r, 400, "invalid_uuid");
	resp_free(&r);
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	snprintf(q, sizeof q, "type=stats&exam_id=%s", missing);
	stats(&r, &w.proctor, w.att[0], q);
	expect_error(&r, 404, "not_found");
	resp_free(&r);
	stats(&r, &w.proctor, missing, "type=stats");
	expect_error(&r, 404, "not_found");
	resp_free(&r);
	stats(&r, &w.proctor, w.att[0], "type=bogus");
	expect_error(&r, 400, "invalid_query");
	resp_free(&r);
	stats(&r, &w.proctor, "nope", "type=stats");
	expect_error(&r, 400, "invalid_uuid");
	resp_free(&r);
	stats_world_free(&w);
}
END_TEST

/* GET ?action=stats&type=optimization as u. */
static void optimization(resp *r, const user *u)
{
	char id[ID_LEN];

	ck_assert_int_eq(uuid_generate(id), ATT_OK);
	stats(r, u, id, "type=optimization");
}

START_TEST(test_stats_optimization)
{
	static const char *const cache_keys[] = {"size",	"hits",		 "misses",
						 "hit_rate",	"evictions",	 "bytes",
						 "expirations", "invalidations", NULL};
	static const char *const pool_keys[] = {
		"size",		 "active_connections", "idle", "query_count", "reconnects",
		"acquire_waits", "acquire_timeouts",   NULL};
	static const char *const breaker_keys[] = {"state", "failures", "opened_count", "rejected",
						   NULL};
	static const char *const process_keys[] = {"pid", "uptime_s", "requests", "db_calls", NULL};
	static const char *const op_keys[] = {"calls",	"db_calls", "cache_hits", "p50_ms",
					      "p95_ms", "p99_ms",   "errors",	  NULL};
	static const char *const listener_keys[] = {"connected", "notifications", "resets", NULL};
	user admin = user_new(AUTH_ROLE_ADMIN);
	resp r;
	const cJSON *o, *qo, *op;
	double rate;

	optimization(&r, &admin);
	o = expect_ok(&r, 200);
	expect_no_store(&r);
	expect_keys(jget(o, "cache"), "cache", cache_keys);
	expect_keys(jget(o, "connection_pool"), "connection_pool", pool_keys);
	expect_keys(jget(o, "circuit_breaker"), "circuit_breaker", breaker_keys);
	expect_keys(jget(o, "process"), "process", process_keys);
	expect_keys(jget(o, "listener"), "listener", listener_keys);
	qo = jget(o, "query_optimization");
	ck_assert(cJSON_IsObject(qo));
	ck_assert_msg(nkeys(qo) > 0, "query_optimization lists no operation");
	cJSON_ArrayForEach(op, qo) expect_keys(op, op->string, op_keys);
	expect_str(jget(o, "circuit_breaker"), "state", "closed");
	expect_bool(jget(o, "listener"), "connected", 1);
	ck_assert(jnum(jget(o, "process"), "pid") > 0);
	ck_assert(jnum(jget(o, "process"), "requests") >= 1);
	ck_assert(jnum(jget(o, "connection_pool"), "size") >= 1);
	rate = jnum(jget(o, "cache"), "hit_rate");
	ck_assert(rate >= 0 && rate <= 1);
	resp_free(&r);
	user_free(&admin);
}
END_TEST

/* Worker pids and their listeners' notification counts, as the stats of
 * the workers that answered (each request reaches one of them). */
#define MAX_WORKERS 16
typedef struct listener_counts {
	int n;
	double pid[MAX_WORKERS], notifications[MAX_WORKERS];
} listener_counts;

static void sample_listeners(const user *admin, listener_counts *c, int requests)
{
	for (int i = 0; i < requests; i++) {
		resp r;
		const cJSON *o;
		double pid, count;
		int k;

		optimization(&r, admin);
		o = expect_ok(&r, 200);
		pid = jnum(jget(o, "process"), "pid");
		count = jnum(jget(o, "listener"), "notifications");
		for (k = 0; k < c->n && c->pid[k] != pid; k++)
			;
		if (k == c->n && c->n < MAX_WORKERS)
			c->pid[c->n++] = pid;
		if (k < c->n && count > c->notifications[k])
			c->notifications[k] = count;
		resp_free(&r);
	}
}

/* A burst of changes is delivered in full promptly: every worker's
 * listener reads until its socket is empty. A listener that read one
 * libpq buffer per round (~250 notifications every 100 ms) left its
 * backend blocked on sending the rest, inside a transaction whose
 * snapshot held back vacuum for the whole cluster (tables bloated under
 * write load), and cached answers stale for as long as the backlog took.
 * 40,000 changed rows are ~2.5 MB of notifications: ~16 s at the old pace,
 * well under a second now; the bound is 5 s. */
START_TEST(test_listener_keeps_up_with_bursts)
{
	enum { ROWS = 40000 };
	user admin = user_new(AUTH_ROLE_ADMIN);
	char *exam = db_value2("INSERT INTO attempts.exams (title) VALUES ('notify burst')"
			       " RETURNING exam_id",
			       NULL, NULL);
	listener_counts before = {0}, now;
	int waited_ms = 0, behind;
	char *xid, *stuck = NULL;

	sample_listeners(&admin, &before, 40); /* every worker, almost surely */
	db_exec("INSERT INTO attempts.attempts (exam_id, user_id, attempt_number)"
		" SELECT $1, gen_random_uuid(), 1 FROM generate_series(1, 40000)",
		exam, NULL, ROWS);
	/* One statement, one transaction: 40,000 distinct notifications. */
	xid = db_value2("WITH u AS (UPDATE attempts.attempts SET version = version + 1"
			" WHERE exam_id = $1 RETURNING 1)"
			" SELECT txid_current()::text FROM u LIMIT 1",
			exam, NULL);
	for (;;) {
		/* The workers nginx reaches have counted the burst, and no
		 * listener backend (those of the workers it does not reach
		 * too) still holds a snapshot from before the burst's commit,
		 * as one blocked on sending it would. */
		now = before;
		sample_listeners(&admin, &now, 10);
		behind = 0;
		for (int k = 0; k < before.n; k++)
			behind += now.notifications[k] < before.notifications[k] + ROWS;
		free(stuck);
		stuck = db_value2("SELECT count(*)::text FROM pg_stat_activity"
				  " WHERE application_name = 'attempts.fcgi listener'"
				  " AND backend_xmin::text::bigint <= $1::bigint",
				  xid, NULL);
		behind += atoi(stuck);
		if (behind == 0 || waited_ms >= 5000)
			break;
		usleep(100 * 1000);
		waited_ms += 100;
	}
	fprintf(stderr, "# listener: %d notifications delivered within %d ms\n", ROWS,
		waited_ms + 100);
	ck_assert_msg(before.n >= 1, "no worker answered the stats");
	ck_assert_msg(behind == 0,
		      "listeners still behind 5 s after %d changes (%s backends blocked)", ROWS,
		      stuck);
	db_exec("DELETE FROM attempts.attempts WHERE exam_id = $1", exam, NULL, ROWS);
	db_exec("DELETE FROM attempts.exams WHERE exam_id = $1", exam, NULL, 1);
	free(stuck);
	free(xid);
	free(exam);
	user_free(&admin);
}
END_TEST

START_TEST(test_stats_optimization_admin_only)
{
	user p = user_new(AUTH_ROLE_PROCTOR);
	resp r;

	optimization(&r, &p);
	expect_error(&r, 403, "forbidden");
	resp_free(&r);
	user_free(&p);
}
END_TEST

/* ============================================================ optimize */

static void optimize(resp *r, const user *u, const char *body)
{
	char id[ID_LEN], path[128];

	ck_assert_int_eq(uuid_generate(id), ATT_OK);
	attempt_path(path, sizeof path, id, "optimize");
	send_req(r, "PATCH", path, u, body, NULL);
}

/* Records worker pid with its cache size (the largest seen) in
 * pids/sizes (*npids entries, at most 16). */
static void note_sample(long pid, double size, long *pids, double *sizes, int *npids)
{
	int k;

	for (k = 0; k < *npids && pids[k] != pid; k++)
		;
	if (k == *npids && k < 16) {
		pids[k] = pid;
		sizes[k] = size;
		(*npids)++;
	} else if (k < *npids && size > sizes[k]) {
		sizes[k] = size;
	}
}

/* Reaches several workers: n children at once each read state_path (when
 * not NULL: fills that worker's cache) and then the optimization stats,
 * and report "pid size". nginx's kept-alive connections may all lead to
 * one worker; concurrent requests make it open new ones, which a worker
 * with a free thread accepts. Records what was seen as sample_workers. */
static void sample_in_parallel(const user *reader, const char *state_path, const user *admin,
			       int n, long *pids, double *sizes, int *npids)
{
	char rauth[AUTH_MAX_TOKEN_LEN + 32], aauth[AUTH_MAX_TOKEN_LEN + 32];
	int fds[16][2];
	pid_t kids[16];

	ck_assert(n <= 16);
	snprintf(rauth, sizeof rauth, "Authorization: Bearer %s", reader->token);
	snprintf(aauth, sizeof aauth, "Authorization: Bearer %s", admin->token);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(pipe(fds[i]), 0);
		kids[i] = fork();
		ck_assert(kids[i] >= 0);
		if (kids[i] == 0) {
			const char *rh[] = {rauth, NULL}, *ah[] = {aauth, NULL};
			http_client_response hr;
			char line[64];
			cJSON *o;
			int len;

			if (state_path != NULL) {
				if (http_client_request(g_url, "GET", state_path, rh, NULL, 0, &hr) != 0)
					_exit(1);
				http_client_response_free(&hr);
			}
			if (http_client_request(g_url, "GET",
						"/api/attempts/00000000-0000-4000-8000-000000000000"
						"?action=stats&type=optimization",
						ah, NULL, 0, &hr) != 0 || hr.status != 200)
				_exit(1);
			o = cJSON_Parse(hr.body);
			len = snprintf(line, sizeof line, "%ld %g",
				       (long)cJSON_GetNumberValue(
					       cJSON_GetObjectItem(cJSON_GetObjectItem(o, "process"), "pid")),
				       cJSON_GetNumberValue(
					       cJSON_GetObjectItem(cJSON_GetObjectItem(o, "cache"), "size")));
			_exit(write(fds[i][1], line, (size_t)len) == len ? 0 : 1);
		}
		close(fds[i][1]);
	}
	for (int i = 0; i < n; i++) {
		char line[64] = "";
		long pid = 0;
		double size = 0;
		int status = 0;

		waitpid(kids[i], &status, 0);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a sampling request failed");
		ck_assert_int_gt(read(fds[i][0], line, sizeof line - 1), 0);
		close(fds[i][0]);
		ck_assert_int_eq(sscanf(line, "%ld %lg", &pid, &size), 2);
		note_sample(pid, size, pids, sizes, npids);
	}
}

/* Asks for the optimization stats n times; records each worker's pid and
 * its cache size (the largest seen) in pids/sizes (*npids entries). */
static void sample_workers(const user *admin, int n, long *pids, double *sizes, int *npids)
{
	for (int i = 0; i < n; i++) {
		resp r;
		const cJSON *o;
		long pid;
		double size;

		optimization(&r, admin);
		o = expect_ok(&r, 200);
		pid = (long)jnum(jget(o, "process"), "pid");
		size = jnum(jget(o, "cache"), "size");
		note_sample(pid, size, pids, sizes, npids);
		resp_free(&r);
	}
}

START_TEST(test_optimize_clear_cache)
{
	world w;
	char state[160];
	resp r;
	const cJSON *o;
	long pids[16];
	double sizes[16];
	int npids = 0, hits = 0;
	const char *xc;

	world_new(&w, TIMED_EXAM);
	attempt_path(state, sizeof state, w.attempt_id, "state");
	/* Fill the caches: the usual worker, then others, reached by
	 * concurrent reads. */
	for (int i = 0; i < 4; i++) {
		act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
		expect_ok(&r, 200);
		xc = http_client_header(&r.r, "X-Cache");
		hits += xc != NULL && strcmp(xc, "HIT") == 0;
		resp_free(&r);
	}
	sample_workers(&w.admin, 1, pids, sizes, &npids);
	for (int round = 0; round < 5 && npids < 2; round++)
		sample_in_parallel(&w.student, state, &w.admin, 12, pids, sizes, &npids);
	printf("# clear_cache: before, %d worker(s) seen, %d state HIT(s) in 4 reads;", npids,
	       hits);
	for (int k = 0; k < npids; k++)
		printf(" pid %ld holds %g", pids[k], sizes[k]);
	printf("\n");

	optimize(&r, &w.admin, "{\"operation\":\"clear_cache\"}");
	o = expect_ok(&r, 200);
	ck_assert_msg(nkeys(o) == 1 && jnum(o, "cleared") >= 1,
		      "clear_cache answered %s, want {\"cleared\": n >= 1}", r.r.body);
	resp_free(&r);

	/* Every worker we can reach holds nothing now, or soon: the others
	 * hear the broadcast by NOTIFY (within 100 ms on a quiet machine;
	 * waited for here, up to 10 s, so that a loaded one is no failure). */
	for (int wait = 0; wait < 20; wait++) {
		int nonempty = 0;

		usleep(wait == 0 ? 100 * 1000 : 500 * 1000);
		npids = 0;
		sample_workers(&w.admin, 3, pids, sizes, &npids);
		for (int round = 0; round < 5 && npids < 2; round++)
			sample_in_parallel(&w.admin, NULL, &w.admin, 12, pids, sizes, &npids);
		for (int k = 0; k < npids; k++)
			nonempty += sizes[k] != 0;
		if (nonempty == 0)
			break;
	}
	printf("# clear_cache: after, %d worker(s) seen:", npids);
	for (int k = 0; k < npids; k++)
		printf(" pid %ld holds %g", pids[k], sizes[k]);
	printf("\n");
	fflush(stdout);
	for (int k = 0; k < npids; k++)
		ck_assert_msg(sizes[k] == 0,
			      "worker %ld still holds %g cache entries after clear_cache", pids[k],
			      sizes[k]);

	act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
	expect_ok(&r, 200);
	xc = http_client_header(&r.r, "X-Cache");
	ck_assert_msg(xc != NULL && strcmp(xc, "MISS") == 0,
		      "first state read after clear_cache: X-Cache %s, want MISS",
		      xc ? xc : "(none)");
	resp_free(&r);
	world_free(&w);
}
END_TEST

START_TEST(test_optimize_preload)
{
	stats_world a;
	world b;
	resp r;
	char body[256], empty[ID_LEN];

	stats_world_new(&a);	     /* 2 in progress, 1 submitted */
	world_new(&b, UNTIMED_EXAM); /* 1 in progress */
	snprintf(body, sizeof body, "{\"operation\":\"preload\",\"exam_ids\":[\"%s\",\"%s\"]}",
		 a.exam_id, b.exam_id);
	optimize(&r, &a.admin, body);
	expect_num(expect_ok(&r, 200), "preloaded", 3);
	ck_assert_int_eq(nkeys(r.json), 1);
	resp_free(&r);
	exam_create(&b.proctor, UNTIMED_EXAM, empty);
	snprintf(body, sizeof body, "{\"operation\":\"preload\",\"exam_ids\":[\"%s\"]}", empty);
	optimize(&r, &a.admin, body);
	expect_num(expect_ok(&r, 200), "preloaded", 0);
	resp_free(&r);
	stats_world_free(&a);
	world_free(&b);
}
END_TEST

START_TEST(test_optimize_preload_bad)
{
	user admin = user_new(AUTH_ROLE_ADMIN);
	char id[ID_LEN], body[256];
	resp r;

	ck_assert_int_eq(uuid_generate(id), ATT_OK);
	snprintf(body, sizeof body, "{\"operation\":\"preload\",\"exam_ids\":[\"%s\",\"bad\"]}",
		 id);
	optimize(&r, &admin, body);
	expect_field(&r, "exam_ids[1]");
	resp_free(&r);
	optimize(&r, &admin, "{\"operation\":\"preload\"}");
	expect_field(&r, "exam_ids");
	resp_free(&r);
	optimize(&r, &admin, "{\"operation\":\"preload\",\"exam_ids\":\"x\"}");
	expect_field(&r, "exam_ids");
	resp_free(&r);
	user_free(&admin);
}
END_TEST

START_TEST(test_optimize_analyze)
{
	user admin = user_new(AUTH_ROLE_ADMIN);
	resp r;
	const cJSON *o, *it;

	optimize(&r, &admin, "{\"operation\":\"analyze\"}");
	o = expect_ok(&r, 200);
	ck_assert(cJSON_IsArray(jget(o, "recommendations")));
	cJSON_ArrayForEach(it, jget(o, "recommendations")) ck_assert(cJSON_IsString(it));
	ck_assert(cJSON_IsObject(jget(o, "observations")));
	resp_free(&r);
	user_free(&admin);
}
END_TEST

START_TEST(test_optimize_errors)
{
	user admin = user_new(AUTH_ROLE_ADMIN), p = user_new(AUTH_ROLE_PROCTOR),
	     s = user_new(AUTH_ROLE_STUDENT);
	resp r;

	optimize(&r, &admin, "{\"operation\":\"defragment\"}");
	expect_field(&r, "operation");
	resp_free(&r);
	optimize(&r, &admin, "{}");
	expect_field(&r, "operation");
	resp_free(&r);
	optimize(&r, &admin, "{\"operation\":");
	expect_error(&r, 400, "invalid_json");
	resp_free(&r);
	optimize(&r, &p, "{\"operation\":\"clear_cache\"}");
	expect_error(&r, 403, "forbidden");
	resp_free(&r);
	optimize(&r, &s, "{\"operation\":\"analyze\"}");
	expect_error(&r, 403, "forbidden");
	resp_free(&r);
	optimize(&r, NULL, "{\"operation\":\"analyze\"}");
	expect_error(&r, 401, "unauthorized");
	resp_free(&r);
	user_free(&admin);
	user_free(&p);
	user_free(&s);
}
END_TEST

/* ============================================================ routing */

/* Asserts 405 method_not_allowed with exactly the given Allow header. */
static void expect_405(const resp *r, const char *allow)
{
	const char *got = http_client_header(&r->r, "Allow");

	expect_error(r, 405, "method_not_allowed");
	ck_assert_msg(got != NULL && strcmp(got, allow) == 0, "%s: Allow %s, want %s", r->what,
		      got ? got : "(none)", allow);
}

START_TEST(test_route_wrong_methods)
{
	static const struct {
		const char *method, *action, *allow;
	} cases[] = {
		{"GET", "submit", "POST"},     {"PATCH", "submit", "POST"},
		{"POST", "extend", "PATCH"},   {"GET", "extend", "PATCH"},
		{"GET", "activity", "POST"},   {"PATCH", "activity", "POST"},
		{"GET", "batch", "POST"},      {"GET", "optimize", "PATCH"},
		{"POST", "optimize", "PATCH"}, {"POST", "stats", "GET"},
		{"DELETE", "submit", "POST"},
	};
	user s = user_new(AUTH_ROLE_STUDENT);
	char id[ID_LEN], path[160];
	resp r;

	ck_assert_int_eq(uuid_generate(id), ATT_OK);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		attempt_path(path, sizeof path, id, cases[i].action);
		send_req(&r, cases[i].method, path, &s,
			 strcmp(cases[i].method, "GET") == 0 ? NULL : "{}", NULL);
		expect_405(&r, cases[i].allow);
		resp_free(&r);
	}
	/* Routing comes before authentication. */
	attempt_path(path, sizeof path, id, "submit");
	send_req(&r, "GET", path, NULL, NULL, NULL);
	expect_405(&r, "POST");
	resp_free(&r);
	user_free(&s);
}
END_TEST

START_TEST(test_route_ts_alias)
{
	world w;
	resp r;
	char path[192], body[256];

	world_new(&w, TIMED_EXAM);
	snprintf(path, sizeof path, "/api/attempts/%s/route.ts?action=activity", w.attempt_id);
	send_req(&r, "POST", path, &w.student,
		 "{\"events\":[{\"event_type\":\"alias\",\"client_event_id\":\"r1\"}]}", NULL);
	expect_num(expect_ok(&r, 200), "logged", 1);
	resp_free(&r);
	snprintf(body, sizeof body, "{\"operation\":\"multiple_states\",\"data\":[\"%s\"]}",
		 w.attempt_id);
	send_req(&r, "POST", "/api/attempts/any-id/route.ts?action=batch", &w.student, body, NULL);
	expect_str(cJSON_GetArrayItem(batch_results(&r, 1), 0), "attempt_id", w.attempt_id);
	resp_free(&r);
	snprintf(path, sizeof path, "/api/attempts/%s/route.ts?action=submit", w.attempt_id);
	send_req(&r, "POST", path, &w.student, NULL, NULL);
	expect_submitted(&r, "{}", 0, 2);
	resp_free(&r);
	snprintf(path, sizeof path, "/api/attempts/%s/route.ts?action=extend", w.attempt_id);
	send_req(&r, "GET", path, &w.proctor, NULL, NULL);
	expect_405(&r, "PATCH");
	resp_free(&r);
	ck_assert_int_eq(db_activity_count(w.attempt_id), 1);
	world_free(&w);
}
END_TEST

START_TEST(test_route_request_id_echoed)
{
	const char *h[] = {"X-Request-Id: api.check-7_A", NULL};
	world w;
	resp r;
	char path[160];

	world_new(&w, TIMED_EXAM);
	attempt_path(path, sizeof path, w.attempt_id, "activity");
	send_req(&r, "POST", path, &w.student, "{\"events\":[]}", h);
	expect_ok(&r, 200);
	ck_assert_str_eq(http_client_header(&r.r, "X-Request-Id"), "api.check-7_A");
	resp_free(&r);
	send_req(&r, "POST", path, &w.student, "{\"events\":[{}]}", h);
	expect_field(&r, "events[0].event_type");
	ck_assert_str_eq(http_client_header(&r.r, "X-Request-Id"), "api.check-7_A");
	resp_free(&r);
	send_req(&r, "POST", "/api/attempts/x?action=batch", &w.student,
		 "{\"operation\":\"query\",\"data\":[]}", h);
	expect_ok(&r, 200);
	ck_assert_str_eq(http_client_header(&r.r, "X-Request-Id"), "api.check-7_A");
	resp_free(&r);
	attempt_path(path, sizeof path, w.attempt_id, "extend");
	send_req(&r, "POST", path, &w.proctor, "{}", h);
	expect_405(&r, "PATCH");
	ck_assert_str_eq(http_client_header(&r.r, "X-Request-Id"), "api.check-7_A");
	resp_free(&r);
	world_free(&w);
}
END_TEST

/* ============================================================ numbers */

/* Numbers jsonb keeps its own way (API.md section 3): beyond 2^64,
 * trailing zeros, 30 decimals, negatives and negative zero, and exponent
 * forms, which jsonb writes out as plain decimals. */
#define NUMBERS_ANSWERS                                                                            \
	"{\"big\":123456789012345678901234567890,\"f\":1.10,\"g\":2.500,"                          \
	"\"dec30\":0.123456789012345678901234567890,\"neg\":-17.25,\"negzero\":-0,"                \
	"\"e3\":1e3,\"tiny\":1.5E-7,\"plus\":2e+2,\"list\":[1.10,-0.0,1E3],"                       \
	"\"nested\":{\"x\":100.000,\"s\":\"1.10 \\\"]}\"}}"
#define NUMBERS_AUTOSAVE                                                                           \
	"{\"progress\":50.50,\"debt\":-98765432109876543210987654321.000,\"at\":3E2}"

/* What PostgreSQL itself prints for an attempt's row. */
typedef struct stored {
	char *answers;
	char *auto_save;
	char *version;
} stored;

static void stored_read(stored *s, const char *attempt_id)
{
	s->answers = db_value("SELECT answers::text FROM attempts.attempts WHERE attempt_id = $1",
			      attempt_id);
	s->auto_save =
		db_value("SELECT auto_save_data::text FROM attempts.attempts WHERE attempt_id = $1",
			 attempt_id);
	s->version = db_value("SELECT version::text FROM attempts.attempts WHERE attempt_id = $1",
			      attempt_id);
	ck_assert(s->answers != NULL && s->auto_save != NULL && s->version != NULL);
}

static void stored_free(stored *s)
{
	free(s->answers);
	free(s->auto_save);
	free(s->version);
}

/* The span of the top-level member name of the JSON object text (len
 * bytes), found by a scan that leaves numbers as text. */
static json_span member_span(const char *what, const char *text, size_t len, const char *name)
{
	const char *const names[1] = {name};
	json_span at;

	ck_assert_msg(json_top_members(text, len, names, 1, &at) == 1, "%s: no member %s in %.*s",
		      what, name, (int)(len < 400 ? len : 400), text);
	return at;
}

/* Asserts that member name of the object text is, byte for byte, want. */
static void expect_member_text(const char *what, const char *text, size_t len, const char *name,
			       const char *want)
{
	json_span at = member_span(what, text, len, name);

	ck_assert_msg((size_t)at.length == strlen(want) &&
			      memcmp(text + at.offset, want, strlen(want)) == 0,
		      "%s: %s is\n  %.*s\nPostgreSQL stores\n  %s", what, name, at.length,
		      text + at.offset, want);
}

/* Asserts an attempt object holds the row's version and, unless info,
 * its answers and auto_save_data exactly as PostgreSQL prints them. */
static void expect_stored(const char *what, const char *text, size_t len, const stored *s, int info)
{
	expect_member_text(what, text, len, "version", s->version);
	if (info) {
		const char *const names[2] = {"answers", "auto_save_data"};
		json_span at[2];
		ck_assert_msg(json_top_members(text, len, names, 2, at) == 0,
			      "%s: info holds answers or auto_save_data", what);
		return;
	}
	expect_member_text(what, text, len, "answers", s->answers);
	expect_member_text(what, text, len, "auto_save_data", s->auto_save);
}

/* A GET state/info answer: 200, ETag "<version>", the row's numbers;
 * returns 1 if it came from the cache. */
static int expect_read(const resp *r, const stored *s, int info)
{
	const char *etag = http_client_header(&r->r, "ETag");
	const char *xc = http_client_header(&r->r, "X-Cache");
	char want[64];

	expect_ok(r, 200);
	snprintf(want, sizeof want, "\"%s\"", s->version);
	ck_assert_msg(etag != NULL && strcmp(etag, want) == 0, "%s: ETag %s, want %s", r->what,
		      etag ? etag : "(none)", want);
	expect_stored(r->what, r->r.body, r->r.body_len, s, info);
	return xc != NULL && strcmp(xc, "HIT") == 0;
}

/* The span of results[i] in a batch answer. */
static json_span batch_item(const resp *r, int i)
{
	json_span res = member_span(r->what, r->r.body, r->r.body_len, "results");
	json_span items[8];
	int n;

	expect_ok(r, 200);
	n = json_array_elements(r->r.body + res.offset, (size_t)res.length, items, 8);
	ck_assert_msg(n > i, "%s: %d results: %.300s", r->what, n, r->r.body);
	items[i].offset += res.offset;
	return items[i];
}

/* The object text with the value of time_remaining_s (computed at
 * response time) taken out; the caller frees it. */
static char *without_time_remaining(const char *text, size_t len)
{
	json_span at = member_span("state", text, len, "time_remaining_s");
	char *out = malloc(len + 1);

	ck_assert_ptr_nonnull(out);
	memcpy(out, text, (size_t)at.offset);
	memcpy(out + at.offset, text + at.offset + at.length,
	       len - (size_t)at.offset - (size_t)at.length);
	out[len - (size_t)at.length] = '\0';
	return out;
}

/* Asserts that a state text is the single GET body single, byte for byte
 * but for time_remaining_s. */
static void expect_same_body(const char *what, const char *text, size_t len, const char *single)
{
	char *a = without_time_remaining(text, len);
	char *b = without_time_remaining(single, strlen(single));

	ck_assert_msg(strcmp(a, b) == 0, "%s differs from the single GET body:\n  %s\n  %s", what,
		      a, b);
	free(a);
	free(b);
}

/* Sends a batch query of one {"type", "attempt_id"} item as u, with or
 * without Cache-Control: no-cache. */
static void query_one(resp *r, const user *u, const char *type, const char *attempt_id,
		      int no_cache)
{
	static const char *const bypass[] = {"Cache-Control: no-cache", NULL};
	char body[256];

	snprintf(body, sizeof body,
		 "{\"operation\":\"query\",\"data\":[{\"type\":\"%s\",\"attempt_id\":\"%s\"}]}",
		 type, attempt_id);
	send_req(r, "POST", "/api/attempts/any-id?action=batch", u, body, no_cache ? bypass : NULL);
}

/* Fills a worker's cache with the attempt's state by fill (a batch read),
 * then reads it with a plain GET until one answers from the cache, and
 * checks that answer against the row. Each round first saves the same
 * numbers again, so no earlier GET's entry is left to answer instead. */
static void expect_hit_after_fill(world *w, const char *save_body,
				  void (*fill)(world *w, const stored *s))
{
	int hit = 0;

	for (int round = 0; round < 6 && !hit; round++) {
		stored s;
		resp r;

		save_ok(&w->student, w->attempt_id, save_body);
		stored_read(&s, w->attempt_id);
		for (int i = 0; i < 3; i++)
			fill(w, &s);
		act(&r, "GET", &w->student, w->attempt_id, "state", NULL);
		hit = expect_read(&r, &s, 0);
		resp_free(&r);
		stored_free(&s);
	}
	ck_assert_msg(hit, "no GET state answered from a cache a batch read filled");
}

static void fill_by_multiple_states(world *w, const stored *s)
{
	char data[64];
	resp r;
	json_span it;

	snprintf(data, sizeof data, "[\"%s\"]", w->attempt_id);
	batch(&r, &w->student, "multiple_states", data);
	it = batch_item(&r, 0);
	expect_stored("multiple_states fill", r.r.body + it.offset, (size_t)it.length, s, 0);
	resp_free(&r);
}

static void fill_by_preload(world *w, const stored *s)
{
	char body[128];
	resp r;

	(void)s;
	snprintf(body, sizeof body, "{\"operation\":\"preload\",\"exam_ids\":[\"%s\"]}",
		 w->exam_id);
	optimize(&r, &w->admin, body);
	expect_num(expect_ok(&r, 200), "preloaded", 1);
	resp_free(&r);
}

/* One version, one body (API.md section 3): every read path returns the
 * answers and auto_save_data PostgreSQL stores, byte for byte, and a batch
 * state item (or a repeated start's answer) is the single GET body but
 * for time_remaining_s. */
START_TEST(test_numbers_every_read_path)
{
	static const char *const bypass[] = {"Cache-Control: no-cache", NULL};
	static const char save_body[] =
		"{\"answers\":" NUMBERS_ANSWERS ",\"auto_save_data\":" NUMBERS_AUTOSAVE "}";
	char path[192], data[64];
	char *single;
	world w;
	stored s;
	resp r;
	json_span it;
	int hits = 0;

	world_new(&w, TIMED_EXAM);
	save_ok(&w.student, w.attempt_id, save_body);
	stored_read(&s, w.attempt_id);
	/* What jsonb made of them: precision kept, exponents written out. */
	ck_assert_msg(strstr(s.answers, "123456789012345678901234567890") &&
			      strstr(s.answers, "\"f\": 1.10") && strstr(s.answers, "2.500") &&
			      strstr(s.answers, "0.123456789012345678901234567890") &&
			      strstr(s.answers, "\"e3\": 1000") &&
			      strstr(s.answers, "\"tiny\": 0.00000015") &&
			      strstr(s.answers, "\"plus\": 200") && strstr(s.answers, "100.000"),
		      "stored answers: %s", s.answers);

	/* GET state, bypassing the cache: the reference body. */
	attempt_path(path, sizeof path, w.attempt_id, "state");
	send_req(&r, "GET", path, &w.student, NULL, bypass);
	ck_assert(!expect_read(&r, &s, 0));
	single = strdup(r.r.body);
	resp_free(&r);

	/* GET state until one answers from the cache. */
	for (int i = 0; i < 8 && hits == 0; i++) {
		act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
		hits += expect_read(&r, &s, 0);
		expect_same_body(r.what, r.r.body, r.r.body_len, single);
		resp_free(&r);
	}
	ck_assert_msg(hits > 0, "GET state never answered from the cache");

	/* GET info (no answers): the same version. */
	for (int i = 0; i < 2; i++) {
		act(&r, "GET", &w.student, w.attempt_id, "info", NULL);
		expect_read(&r, &s, 1);
		resp_free(&r);
	}

	/* start again: the attempt in progress, as stored. */
	snprintf(path, sizeof path, "{\"exam_id\":\"%s\"}", w.exam_id);
	send_req(&r, "POST", "/api/attempts/new?action=start", &w.student, path, NULL);
	expect_ok(&r, 200);
	expect_stored(r.what, r.r.body, r.r.body_len, &s, 0);
	expect_same_body(r.what, r.r.body, r.r.body_len, single);
	resp_free(&r);

	/* batch multiple_states: from the database, filling the cache. */
	snprintf(data, sizeof data, "[\"%s\"]", w.attempt_id);
	batch(&r, &w.student, "multiple_states", data);
	it = batch_item(&r, 0);
	expect_stored("multiple_states", r.r.body + it.offset, (size_t)it.length, &s, 0);
	expect_same_body("multiple_states", r.r.body + it.offset, (size_t)it.length, single);
	resp_free(&r);

	/* batch query state: from the database, then from the cache. */
	for (int no_cache = 1; no_cache >= 0; no_cache--) {
		for (int i = 0; i < 3; i++) {
			query_one(&r, &w.student, "state", w.attempt_id, no_cache);
			it = batch_item(&r, 0);
			expect_stored("query state", r.r.body + it.offset, (size_t)it.length, &s,
				      0);
			expect_same_body("query state", r.r.body + it.offset, (size_t)it.length,
					 single);
			resp_free(&r);
			query_one(&r, &w.student, "info", w.attempt_id, no_cache);
			it = batch_item(&r, 0);
			expect_stored("query info", r.r.body + it.offset, (size_t)it.length, &s, 1);
			resp_free(&r);
		}
	}

	/* GET state after the batch reads (cached or not). */
	for (int i = 0; i < 3; i++) {
		act(&r, "GET", &w.student, w.attempt_id, "state", NULL);
		expect_read(&r, &s, 0);
		expect_same_body(r.what, r.r.body, r.r.body_len, single);
		resp_free(&r);
	}
	free(single);
	stored_free(&s);

	/* A cache entry a batch read or a preload made answers GET exactly. */
	expect_hit_after_fill(&w, save_body, fill_by_multiple_states);
	expect_hit_after_fill(&w, save_body, fill_by_preload);
	world_free(&w);
}
END_TEST

/* ============================================================ runner */

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc;

	tc = tcase(s, "jcs", 10);
	tcase_add_test(tc, test_jcs_self_check);

	tc = tcase(s, "activity", 60);
	tcase_add_test(tc, test_activity_logged);
	tcase_add_test(tc, test_activity_duplicate_in_request);
	tcase_add_test(tc, test_activity_duplicate_across_requests);
	tcase_add_test(tc, test_activity_same_id_other_attempt);
	tcase_add_test(tc, test_activity_without_client_id);
	tcase_add_test(tc, test_activity_empty_list);
	tcase_add_test(tc, test_activity_moves_last_activity_not_version);
	tcase_add_test(tc, test_activity_read_your_writes);
	tcase_add_test(tc, test_activity_event_type_uppercase);
	tcase_add_test(tc, test_activity_event_type_length);
	tcase_add_test(tc, test_activity_event_type_missing);
	tcase_add_test(tc, test_activity_client_event_id_bad);
	tcase_add_test(tc, test_activity_occurred_at_bad);
	tcase_add_test(tc, test_activity_payload_too_large);
	tcase_add_test(tc, test_activity_too_many_events);
	tcase_add_test(tc, test_activity_events_not_array);
	tcase_add_test(tc, test_activity_on_submitted);
	tcase_add_test(tc, test_activity_access);
	tcase_add_test(tc, test_activity_invalid_json);

	tc = tcase(s, "submit", 60);
	tcase_add_test(tc, test_submit_without_body);
	tcase_add_test(tc, test_submit_empty_object_body);
	tcase_add_test(tc, test_submit_final_save_merged);
	tcase_add_test(tc, test_submit_receipt_nested);
	tcase_add_test(tc, test_submit_receipt_numbers);
	tcase_add_test(tc, test_submit_receipt_unicode);
	tcase_add_test(tc, test_submit_numbers_exact);
	tcase_add_test(tc, test_submit_repeat_idempotent);
	tcase_add_test(tc, test_submit_stale_version);
	tcase_add_test(tc, test_submit_if_match);
	tcase_add_test(tc, test_submit_expected_version_ok);
	tcase_add_test(tc, test_save_after_submit);
	tcase_add_test(tc, test_submit_info);
	tcase_add_test(tc, test_submit_access);
	tcase_add_test(tc, test_submit_bad_bodies);
	tcase_add_test(tc, test_submit_if_match_malformed);
	tcase_add_test(tc, test_submit_too_large);

	tc = tcase(s, "deadlines", 60);
	tcase_add_test(tc, test_deadline_save_closes);
	tcase_add_test(tc, test_deadline_submit_closes);
	tcase_add_test(tc, test_deadline_within_grace);
	tcase_add_test(tc, test_deadline_time_remaining_counts);
	tcase_add_test(tc, test_deadline_sweep);
	tcase_add_test(tc, test_extend_proctor);
	tcase_add_test(tc, test_extend_within_grace);
	tcase_add_test(tc, test_extend_admin_and_bounds);
	tcase_add_test(tc, test_extend_student_forbidden);
	tcase_add_test(tc, test_extend_bad_extra_s);
	tcase_add_test(tc, test_extend_not_extendable);
	tcase_add_test(tc, test_extend_missing_attempt);

	tc = tcase(s, "batch", 60);
	tcase_add_test(tc, test_batch_save);
	tcase_add_test(tc, test_batch_save_conflict);
	tcase_add_test(tc, test_batch_save_item_errors);
	tcase_add_test(tc, test_batch_save_past_deadline);
	tcase_add_test(tc, test_batch_log_item_limits);
	tcase_add_test(tc, test_batch_log_read_your_writes);
	tcase_add_test(tc, test_batch_multiple_states);
	tcase_add_test(tc, test_batch_repeats_answered_once);
	tcase_add_test(tc, test_batch_response_budget);
	tcase_add_test(tc, test_batch_per_caller_limit);
	tcase_add_test(tc, test_batch_log);
	tcase_add_test(tc, test_batch_validate_multiple);
	tcase_add_test(tc, test_batch_submit_proctor);
	tcase_add_test(tc, test_batch_submit_admin);
	tcase_add_test(tc, test_batch_submit_student_forbidden);
	tcase_add_test(tc, test_batch_query);
	tcase_add_test(tc, test_batch_query_cache_no_leak);
	tcase_add_test(tc, test_batch_too_large);
	tcase_add_test(tc, test_batch_save_too_large_writes_nothing);
	tcase_add_test(tc, test_batch_request_errors);
	tcase_add_test(tc, test_batch_empty_and_path_ignored);

	tc = tcase(s, "round_trips", 120);
	tcase_add_test(tc, test_round_trips);

	tc = tcase(s, "stats", 60);
	tcase_add_test(tc, test_stats_stats);
	tcase_add_test(tc, test_stats_cache_control);
	tcase_add_test(tc, test_stats_active);
	tcase_add_test(tc, test_stats_student_forbidden);
	tcase_add_test(tc, test_stats_other_exam);
	tcase_add_test(tc, test_stats_bad_params);
	tcase_add_test(tc, test_stats_optimization);
	tcase_add_test(tc, test_stats_optimization_admin_only);
	tcase_add_test(tc, test_listener_keeps_up_with_bursts);

	tc = tcase(s, "optimize", 60);
	tcase_add_test(tc, test_optimize_clear_cache);
	tcase_add_test(tc, test_optimize_preload);
	tcase_add_test(tc, test_optimize_preload_bad);
	tcase_add_test(tc, test_optimize_analyze);
	tcase_add_test(tc, test_optimize_errors);

	tc = tcase(s, "numbers", 60);
	tcase_add_test(tc, test_numbers_every_read_path);

	tc = tcase(s, "routing", 60);
	tcase_add_test(tc, test_route_wrong_methods);
	tcase_add_test(tc, test_route_ts_alias);
	tcase_add_test(tc, test_route_request_id_echoed);
	return s;
}

int main(void)
{
	if (e2e_read_env("check_api", NULL) != 0)
		return 77;
	return e2e_run(api_suite(), CK_ENV);
}
