/* check_api_reads: routing details, and numbers and cached bodies on every
 * read path. Part of check_api (see check_api.c). */
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
		expect_405(&r, cases[i].allow, 1);
		resp_free(&r);
	}
	/* Routing comes before authentication. */
	attempt_path(path, sizeof path, id, "submit");
	send_req(&r, "GET", path, NULL, NULL, NULL);
	expect_405(&r, "POST", 1);
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
	expect_405(&r, "PATCH", 1);
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
	expect_405(&r, "PATCH", 1);
	ck_assert_str_eq(http_client_header(&r.r, "X-Request-Id"), "api.check-7_A");
	resp_free(&r);
	world_free(&w);
}
END_TEST

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

void api_reads_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "numbers", 60, test_numbers_every_read_path);
	E2E_ADD_TESTS(s, "routing", 60, test_route_wrong_methods, test_route_ts_alias,
		      test_route_request_id_echoed);
}
