/* check_api_batch: the batch action's save, log and multiple-state
 * operations, repeats and the response budget. Part of check_api (see
 * check_api.c). */
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
#include "fill.h"

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
	resp r;
	const cJSON *res;

	fleet_new_other(&f, 3, TIMED_EXAM);
	save_ok(&f.student, f.att[1], "{\"answers\":{\"keep\":1,\"drop\":2}}");
	warm(&f.student, f.att[0]);
	res = batch_of(
		&r, &f.student, "batch_save", 5,
		"[{\"attempt_id\":\"%s\",\"answers\":{\"q\":\"a0\"},\"auto_save_data\":{\"p\":0}},"
		"{\"attempt_id\":\"%s\",\"answers\":{\"drop\":null,\"q\":\"a1\"},"
		"\"expected_version\":2},"
		"{\"attempt_id\":\"%s\",\"answers\":{\"x\":1}},"
		"{\"attempt_id\":\"not-a-uuid\",\"answers\":{\"x\":1}},"
		"{\"attempt_id\":\"%s\",\"auto_save_data\":{\"only\":true}}]",
		f.att[0], f.att[1], f.other.attempt_id, f.att[2]);
	expect_save_item(cJSON_GetArrayItem(res, 0), f.att[0], 2);
	expect_save_item(cJSON_GetArrayItem(res, 1), f.att[1], 3);
	/* Someone else's attempt fails alone, as a missing one would. */
	expect_item_error(cJSON_GetArrayItem(res, 2), f.other.attempt_id, "not_found", 1);
	expect_details_field(
		expect_item_error(cJSON_GetArrayItem(res, 3), "not-a-uuid", "validation_failed", 1),
		"data[3].attempt_id", "item 3");
	expect_save_item(cJSON_GetArrayItem(res, 4), f.att[2], 2);
	resp_free(&r);
	db_expect_answers(f.att[0], "{\"q\":\"a0\"}");
	db_expect_answers(f.att[1], "{\"keep\":1,\"q\":\"a1\"}");
	db_expect_answers(f.att[2], "{}");
	db_expect_col(f.att[2], "auto_save_data", "{\"only\": true}");
	db_expect_stored(f.other.attempt_id, 1, "{}");
	/* Read-your-writes: the state read before the batch is not served. */
	act(&r, "GET", &f.student, f.att[0], "state", NULL);
	expect_num(expect_ok(&r, 200), "version", 2);
	expect_json_eq(r.json, "answers", "{\"q\":\"a0\"}");
	resp_free(&r);
	fleet_free(&f);
}
END_TEST

/* What a batch_save result item must be: success with version (code
 * NULL), or the error code on the attempt (its index in the fleet, -1:
 * none) with details.field (NULL: not checked) and, for version_conflict,
 * current_version = version. */
typedef struct save_item {
	const char *code;
	int att;
	const char *field;
	long version;
} save_item;

/* A batch_save on a fleet of two whose items fail alone: the fleet's
 * attempts are made ready (save0 saved into att[0], att[1] submitted,
 * att[0] past its deadline with the sweep held), data ({0}, {1}: the
 * attempts' ids) is sent, each item is checked, then what att[0] stores
 * (version, answers, submit_reason: NULL not checked) and att[1]'s answers
 * (NULL: not checked). */
static const struct save_case {
	const char *name, *exam, *save0;
	int submit1, expire0;
	const char *data;
	int nitems;
	save_item items[3];
	struct {
		long version;
		const char *answers, *reason;
	} att0;
	const char *answers1;
} save_cases[] = {
	{.name = "conflict",
	 .exam = TIMED_EXAM,
	 .save0 = "{\"answers\":{\"v\":1}}",
	 .data = "[{\"attempt_id\":\"{0}\",\"answers\":{\"v\":2},\"expected_version\":1},"
		 "{\"attempt_id\":\"{1}\",\"answers\":{\"w\":1},\"expected_version\":1}]",
	 .nitems = 2,
	 .items = {{"version_conflict", 0, NULL, 2}, {NULL, 1, NULL, 2}},
	 .att0 = {2, "{\"v\":1}", NULL},
	 .answers1 = "{\"w\":1}"},
	{.name = "item errors",
	 .exam = TIMED_EXAM,
	 .submit1 = 1,
	 .data = "[{\"attempt_id\":\"{0}\",\"answers\":[1]},"
		 "{\"attempt_id\":\"{1}\",\"answers\":{\"a\":1}},\"{0}\"]",
	 .nitems = 3,
	 .items = {{"validation_failed", 0, "data[0].answers", 0},
		   {"attempt_submitted", 1, NULL, 0},
		   {"validation_failed", -1, "data[2]", 0}},
	 .att0 = {1, "{}", NULL}},
	/* The expired item is closed as the single save would close it. */
	{.name = "past deadline",
	 .exam = MINUTE_EXAM,
	 .save0 = "{\"answers\":{\"q\":\"in time\"}}",
	 .expire0 = 1,
	 .data = "[{\"attempt_id\":\"{0}\",\"answers\":{\"q\":\"late\"}},"
		 "{\"attempt_id\":\"{1}\",\"answers\":{\"q\":\"fine\"}}]",
	 .nitems = 2,
	 .items = {{"attempt_closed", 0, NULL, 0}, {NULL, 1, NULL, 2}},
	 .att0 = {3, "{\"q\":\"in time\"}", "deadline"}},
};

/* tmpl with {0} and {1} replaced by the fleet's first two attempt ids. */
static char *with_ids(const char *tmpl, const fleet *f)
{
	buf b = BUF_INIT;
	char *out;

	for (const char *p = tmpl; *p; p++) {
		if (p[0] == '{' && (p[1] == '0' || p[1] == '1') && p[2] == '}') {
			buf_printf(&b, "%s", f->att[p[1] - '0']);
			p += 2;
		} else {
			buf_putc(&b, *p);
		}
	}
	out = buf_take(&b);
	ck_assert_ptr_nonnull(out);
	return out;
}

static void expect_save_items(const cJSON *res, const struct save_case *c, const fleet *f)
{
	const save_item *want = c->items;
	int n = c->nitems;

	for (int i = 0; i < n; i++) {
		const save_item *w = &want[i];
		const cJSON *item = cJSON_GetArrayItem(res, i), *d;
		char what[64];

		if (w->code == NULL) {
			expect_save_item(item, f->att[w->att], w->version);
			continue;
		}
		d = expect_item_error(item, w->att >= 0 ? f->att[w->att] : NULL, w->code, 1);
		snprintf(what, sizeof what, "%s: item %d", c->name, i);
		if (w->field != NULL)
			expect_details_field(d, w->field, what);
		if (strcmp(w->code, "version_conflict") == 0)
			expect_num(d, "current_version", (double)w->version);
	}
}

START_TEST(test_batch_save_item_fails_alone)
{
	const struct save_case *c = &save_cases[_i];
	fleet f;
	resp r;
	PGconn *lock = NULL;
	char *data;

	fleet_new(&f, 2, c->exam);
	if (c->save0 != NULL)
		save_ok(&f.student, f.att[0], c->save0);
	if (c->submit1)
		submit_ok(&f.student, f.att[1], NULL);
	if (c->expire0)
		lock = db_expire_held(f.att[0]);
	data = with_ids(c->data, &f);
	batch(&r, &f.student, "batch_save", data);
	free(data);
	if (lock != NULL)
		sweep_release(lock);
	expect_save_items(batch_results(&r, c->nitems), c, &f);
	resp_free(&r);
	db_expect_stored(f.att[0], c->att0.version, c->att0.answers);
	if (c->att0.reason != NULL)
		db_expect_col(f.att[0], "submit_reason", c->att0.reason);
	if (c->answers1 != NULL)
		db_expect_answers(f.att[1], c->answers1);
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
	resp r;
	char missing[ID_LEN];
	const cJSON *res, *s;

	fleet_new_other(&f, 2, TIMED_EXAM);
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	save_ok(&f.student, f.att[1], "{\"answers\":{\"q\":1}}");
	res = batch_of(&r, &f.student, "multiple_states", 6,
		       "[\"%s\",\"%s\",\"%s\",\"%s\",42,\"%s\"]", f.att[1], f.att[0],
		       f.other.attempt_id, missing, f.att[1]);
	s = cJSON_GetArrayItem(res, 0);
	expect_keys(s, "multiple_states item", state_keys);
	expect_str(s, "attempt_id", f.att[1]);
	expect_num(s, "version", 2);
	expect_json_eq(s, "answers", "{\"q\":1}");
	expect_str(cJSON_GetArrayItem(res, 1), "attempt_id", f.att[0]);
	expect_num(cJSON_GetArrayItem(res, 1), "version", 1);
	expect_item_error(cJSON_GetArrayItem(res, 2), f.other.attempt_id, "not_found", 0);
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
	res = batch_of(&r, &f.other.proctor, "multiple_states", 2, "[\"%s\",\"%s\"]",
		       f.other.attempt_id, f.att[0]);
	expect_str(cJSON_GetArrayItem(res, 0), "status", "in_progress");
	expect_str(cJSON_GetArrayItem(res, 1), "user_id", f.student.sub);
	resp_free(&r);
	fleet_free(&f);
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
	ck_assert_msg(strstr(r.r.body, "data[0]") != NULL, "the repeats name data[0]: %s",
		      r.r.body);
	resp_free(&r);

	batch(&r, &w.student, "validate_multiple", data);
	res = batch_results(&r, 5);
	expect_bool(cJSON_GetArrayItem(res, 0), "valid", 1);
	expect_item_error(cJSON_GetArrayItem(res, 1), w.attempt_id, "duplicate_item", 0);
	expect_item_error(cJSON_GetArrayItem(res, 4), w.attempt_id, "duplicate_item", 0);
	resp_free(&r);

	res = batch_of(
		&r, &w.student, "query", 4,
		"[{\"type\":\"state\",\"attempt_id\":\"%s\"},{\"type\":\"info\",\"attempt_id\":\"%"
		"s\"},"
		"{\"type\":\"state\",\"attempt_id\":\"%s\"},{\"type\":\"info\",\"attempt_id\":\"%"
		"s\"}]",
		w.attempt_id, w.attempt_id, w.attempt_id, w.attempt_id);
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
	char *body = fill_big_save(500000);

	ck_assert_ptr_nonnull(body);
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
		n += (size_t)snprintf(data + n, sizeof data - n, "%s\"%s\"", i ? "," : "[",
				      f.att[i]);
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
	batch_refused(&f.proctor, "multiple_states", data, 413, "payload_too_large");

	/* query, from the database and then with the states cached. */
	batch_refused(&f.student, "query", query, 413, "payload_too_large");
	for (int i = 0; i < 5; i++)
		for (int k = 0; k < 4; k++) {
			act(&r, "GET", &f.student, f.att[i], "state", NULL);
			expect_ok(&r, 200);
			resp_free(&r);
		}
	batch_refused(&f.student, "query", query, 413, "payload_too_large");

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
		 "{\"operation\":\"batch_save\",\"data\":[{\"attempt_id\":\"%s\",\"auto_save_"
		 "data\":{}}]}",
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

/* ============================================================ runner */

void api_batch_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "batch", 60, test_batch_save,
		      E2E_LOOP(test_batch_save_item_fails_alone, save_cases),
		      test_batch_log_item_limits, test_batch_multiple_states,
		      test_batch_repeats_answered_once, test_batch_response_budget,
		      test_batch_per_caller_limit);
}
