/* coalesce_diff: one half of the write-coalescing differential test
 * (tests/e2e/coalesce_test.sh runs it against a stack with coalescing on,
 * then against one with it off, and compares the two transcripts).
 *
 * Against the stack of ATTEMPTS_TEST_URL / ATTEMPTS_JWT_SECRET /
 * ATTEMPTS_TEST_DB it creates one exam, starts one attempt for each of
 * STUDENTS students with fixed subs, moves a few deadlines into the past,
 * and then runs every student's seeded random sequence of saves (merges,
 * removals, stale and If-Match versions, auto_save_data), activity posts
 * (duplicate client_event_ids), submits, state and info reads (own,
 * another student's, the proctor's; cached and not), writes to other students'
 * attempts, a proctor's save, invalid bodies, oversized answers and a body
 * PostgreSQL cannot store, all students at once, one thread each, so that
 * concurrent writes of different students and roles share batches. Every
 * response (status, Content-Type, body with timestamps, remaining seconds
 * and ids normalized) and then every attempt's row and activity rows are
 * written to the output file in a fixed order. Each student's own
 * sequence is sequential, and students touch only their own attempts'
 * state, so the transcript does not depend on how requests interleave:
 * it must be the same byte for byte with coalescing on and off.
 *
 * Usage: coalesce_diff OUTPUT [SEED]. Exit 0, 1 (a request failed at the
 * transport level or set-up failed), 77 (environment missing). */
#include <cJSON.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "buf.h"
#include "http_client.h"

#define STUDENTS 48
#define STEPS 40
#define EXPIRED 3 /* students 0..2: deadline already past */
#define SWEEP_LOCK_KEY "7310594523462267185"

static const char *g_url, *g_secret, *g_db;

typedef struct student {
	int index;
	char sub[40];
	char *token;
	char attempt_id[40];
	long version; /* last version the student saw */
	unsigned long long rng;
	buf log; /* its transcript lines */
	int transport_errors;
} student;

static student g_students[STUDENTS];
static char *g_proctor_token;
static char g_exam_id[40];
static char g_proctor_sub[40];

/* ------------------------------------------------------------ helpers */

static unsigned next_rand(student *s, unsigned n)
{
	/* xorshift64*: the same sequence on every run for a given seed */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return (unsigned)((s->rng * 2685821657736338717ULL) >> 33) % n;
}

static char *sign(const char *sub, auth_role role)
{
	time_t now = time(NULL);

	return auth_sign(sub, role, now, now + 7200, g_secret, strlen(g_secret));
}

static int request(const char *token, const char *method, const char *path,
		   const char *extra_header, const char *body, http_client_response *out)
{
	char auth[2048];
	const char *headers[4] = {auth, "Content-Type: application/json", extra_header, NULL};

	snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
	return http_client_request(g_url, method, path, headers, body, body ? strlen(body) : 0,
				   out);
}

/* The label of a known id ("S07", "A07", "E", "P"), or NULL. */
static const char *id_label(const char *text, char *out, size_t n)
{
	if (strcmp(text, g_exam_id) == 0)
		return "E";
	if (strcmp(text, g_proctor_sub) == 0)
		return "P";
	for (int i = 0; i < STUDENTS; i++) {
		if (strcmp(text, g_students[i].sub) == 0) {
			snprintf(out, n, "S%02d", i);
			return out;
		}
		if (strcmp(text, g_students[i].attempt_id) == 0) {
			snprintf(out, n, "A%02d", i);
			return out;
		}
	}
	return NULL;
}

static int looks_like_timestamp(const char *s)
{
	return strlen(s) >= 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' &&
	       s[strlen(s) - 1] == 'Z';
}

/* Replaces what differs between two runs of the same sequence: ids (by
 * label), timestamps, and the seconds remaining. */
static void normalize(cJSON *node)
{
	for (cJSON *c = node->child; c != NULL; c = c->next) {
		char label[16];
		const char *l;

		if (c->string != NULL && strcmp(c->string, "time_remaining_s") == 0 &&
		    cJSON_IsNumber(c)) {
			cJSON_SetNumberValue(c, -1);
		} else if (cJSON_IsString(c) && looks_like_timestamp(c->valuestring)) {
			cJSON_SetValuestring(c, "<ts>");
		} else if (cJSON_IsString(c) &&
			   (l = id_label(c->valuestring, label, sizeof label)) != NULL) {
			cJSON_SetValuestring(c, l);
		} else {
			normalize(c);
		}
	}
}

/* Appends "<step> <what> <status> <content-type> <normalized body>". */
static void note(student *s, int step, const char *what, const http_client_response *r)
{
	cJSON *json = cJSON_Parse(r->body);
	const char *type = http_client_header(r, "Content-Type");
	char *text;

	if (json != NULL)
		normalize(json);
	text = json ? cJSON_PrintUnformatted(json) : NULL;
	buf_printf(&s->log, "S%02d %02d %-10s %d %s %s\n", s->index, step, what, r->status,
		   type ? type : "-", text ? text : r->body);
	if (json != NULL) {
		/* the version now stored: of a success, or of a conflict */
		const cJSON *v =
			r->status == 200
				? cJSON_GetObjectItemCaseSensitive(json, "version")
				: cJSON_GetObjectItemCaseSensitive(
					  cJSON_GetObjectItemCaseSensitive(
						  cJSON_GetObjectItemCaseSensitive(json, "error"),
						  "details"),
					  "current_version");

		if (cJSON_IsNumber(v))
			s->version = (long)v->valuedouble;
	}
	free(text);
	cJSON_Delete(json);
}

/* ------------------------------------------------------------ one step */

static void answers_patch(student *s, buf *b)
{
	static const char *const values[] = {
		"1",	"-7",	    "1.50",
		"1e2",	"\"text\"", "\"\\u00e9t\\u00e9 \\ud83d\\ude00\"",
		"true", "null",	    "{\"choice\":[1,2,3],\"note\":\"n\"}",
		"[]",	"{}",	    "0.1",
	};
	int n = 1 + (int)next_rand(s, 3);

	buf_putc(b, '{');
	for (int i = 0; i < n; i++)
		buf_printf(b, "%s\"q%u\":%s", i ? "," : "", next_rand(s, 8),
			   values[next_rand(s, sizeof values / sizeof values[0])]);
	buf_putc(b, '}');
}

static void attempt_path(char *out, size_t n, const char *attempt_id, const char *action)
{
	snprintf(out, n, "/api/attempts/%s?action=%s", attempt_id, action);
}

/* A save of the student's own attempt, with a version chosen at random:
 * the one last seen, a stale one, If-Match, or none. */
static void do_save(student *s, int step)
{
	buf body = BUF_INIT;
	char path[128], ifmatch[64] = "";
	unsigned how = next_rand(s, 20);
	http_client_response r;

	buf_puts(&body, "{");
	if (how < 17) {
		buf_puts(&body, "\"answers\":");
		answers_patch(s, &body);
	}
	if (how >= 14)
		buf_printf(&body, "%s\"auto_save_data\":{\"cursor\":%u}", how < 17 ? "," : "",
			   next_rand(s, 100));
	switch (next_rand(s, 6)) {
	case 0:
	case 1:
	case 2:
		buf_printf(&body, ",\"expected_version\":%ld", s->version);
		break;
	case 3:
		buf_printf(&body, ",\"expected_version\":%ld", s->version > 0 ? s->version - 1 : 5);
		break;
	case 4:
		snprintf(ifmatch, sizeof ifmatch, "If-Match: \"%ld\"", s->version);
		break;
	default:
		break;
	}
	buf_putc(&body, '}');
	attempt_path(path, sizeof path, s->attempt_id, "save");
	if (request(s->token, "PATCH", path, ifmatch[0] ? ifmatch : NULL, body.data, &r) != 0)
		s->transport_errors++;
	else
		note(s, step, "save", &r);
	http_client_response_free(&r);
	buf_free(&body);
}

static void do_activity(student *s, int step)
{
	static const char *const types[] = {"focus", "blur", "answer_changed", "paste"};
	buf body = BUF_INIT;
	char path[128];
	int n = 1 + (int)next_rand(s, 3);
	http_client_response r;

	buf_puts(&body, "{\"events\":[");
	for (int i = 0; i < n; i++) {
		buf_printf(&body, "%s{\"event_type\":\"%s\"", i ? "," : "", types[next_rand(s, 4)]);
		if (next_rand(s, 3) != 0) /* small id space: duplicates happen */
			buf_printf(&body, ",\"client_event_id\":\"e%u\"", next_rand(s, 12));
		if (next_rand(s, 2))
			buf_printf(&body, ",\"payload\":{\"n\":%u,\"x\":1.0}", next_rand(s, 50));
		buf_putc(&body, '}');
	}
	buf_puts(&body, "]}");
	attempt_path(path, sizeof path, s->attempt_id, "activity");
	if (request(s->token, "POST", path, NULL, body.data, &r) != 0)
		s->transport_errors++;
	else
		note(s, step, "activity", &r);
	http_client_response_free(&r);
	buf_free(&body);
}

static void do_submit(student *s, int step)
{
	char path[128], body[160];
	http_client_response r;

	snprintf(body, sizeof body, "{\"answers\":{\"final\":%d},\"expected_version\":%ld}", step,
		 s->version);
	attempt_path(path, sizeof path, s->attempt_id, "submit");
	if (request(s->token, "POST", path, NULL, next_rand(s, 3) ? body : NULL, &r) != 0)
		s->transport_errors++;
	else
		note(s, step, "submit", &r);
	http_client_response_free(&r);
}

/* Writes the student has no right to make: another student's attempt
 * (not_found), or its own attempt with the proctor's token (forbidden). */
static void do_foreign(student *s, int step)
{
	const student *other = &g_students[(s->index + 1 + next_rand(s, STUDENTS - 1)) % STUDENTS];
	int proctor = next_rand(s, 2);
	char path[128];
	const char *action = next_rand(s, 2) ? "save" : "activity";
	const char *body = action[0] == 's' ? "{\"answers\":{\"stolen\":1}}"
					    : "{\"events\":[{\"event_type\":\"focus\"}]}";
	http_client_response r;

	attempt_path(path, sizeof path, proctor ? s->attempt_id : other->attempt_id, action);
	if (request(proctor ? g_proctor_token : s->token, action[0] == 's' ? "PATCH" : "POST", path,
		    NULL, body, &r) != 0)
		s->transport_errors++;
	else
		note(s, step, proctor ? "proctor" : "foreign", &r);
	http_client_response_free(&r);
}

/* Bodies the service refuses before or in SQL: a non-object answers, and
 * a number PostgreSQL cannot store (valid JSON: the whole coalesced
 * statement fails, and every other write of its batch must still get its
 * own answer). */
static void do_odd(student *s, int step)
{
	char path[128];
	const char *body =
		next_rand(s, 2) ? "{\"answers\":[1]}" : "{\"answers\":{\"huge\":1e999999}}";
	http_client_response r;

	attempt_path(path, sizeof path, s->attempt_id, "save");
	if (request(s->token, "PATCH", path, NULL, body, &r) != 0)
		s->transport_errors++;
	else
		note(s, step, "odd", &r);
	http_client_response_free(&r);
}

/* Answers of ~300 KB: the second one takes the stored answers over the
 * 512 KiB limit (payload_too_large). */
static void do_big(student *s, int step)
{
	size_t n = 300 * 1024;
	char *body = malloc(n + 64), path[128];
	http_client_response r;
	int len = snprintf(body, 64, "{\"answers\":{\"essay%d\":\"", step);

	memset(body + len, 'x', n);
	strcpy(body + len + n, "\"}}");
	attempt_path(path, sizeof path, s->attempt_id, "save");
	if (request(s->token, "PATCH", path, NULL, body, &r) != 0)
		s->transport_errors++;
	else
		note(s, step, "big", &r);
	http_client_response_free(&r);
	free(body);
}

/* A state or info read: its own attempt, another student's (not_found), or
 * its own through the proctor (allowed); half of them with Cache-Control:
 * no-cache, so that concurrent reads reach the database together. */
static void do_read(student *s, int step)
{
	int proctor = next_rand(s, 4) == 0;
	/* Another student's attempt only as this student (not_found): what
	 * it holds depends on that student's progress, not on this sequence. */
	const student *who =
		!proctor && next_rand(s, 4) == 0
			? &g_students[(s->index + 1 + next_rand(s, STUDENTS - 1)) % STUDENTS]
			: s;
	const char *action = next_rand(s, 2) ? "state" : "info";
	char path[128];
	http_client_response r;

	attempt_path(path, sizeof path, who->attempt_id, action);
	if (request(proctor ? g_proctor_token : s->token, "GET", path,
		    next_rand(s, 2) ? "Cache-Control: no-cache" : NULL, NULL, &r) != 0)
		s->transport_errors++;
	else
		note(s, step, proctor ? "read-p" : who == s ? "read" : "read-other", &r);
	http_client_response_free(&r);
}

static void *run_student(void *arg)
{
	student *s = arg;

	for (int step = 0; step < STEPS; step++) {
		unsigned pick = next_rand(s, 100);

		if (s->index % 4 == 1 && step == STEPS - 6)
			do_submit(s, step); /* saves after it: attempt_submitted */
		else if (s->index == 5 && (step == 10 || step == 11))
			do_big(s, step);
		else if (pick < 35)
			do_save(s, step);
		else if (pick < 55)
			do_activity(s, step);
		else if (pick < 75)
			do_read(s, step);
		else if (pick < 85)
			do_foreign(s, step);
		else if (pick < 92)
			do_odd(s, step);
		else
			do_submit(s, step);
	}
	return NULL;
}

/* ------------------------------------------------------------ set-up */

static int setup_exam(void)
{
	http_client_response r;
	cJSON *json;
	const char *body = "{\"title\":\"coalescing\",\"time_limit_s\":7200,\"max_attempts\":1}";
	int ok;

	snprintf(g_proctor_sub, sizeof g_proctor_sub, "c0a1e5ce-0000-4000-8000-%012d", 999);
	g_proctor_token = sign(g_proctor_sub, AUTH_ROLE_PROCTOR);
	if (request(g_proctor_token, "POST", "/api/exams", NULL, body, &r) != 0 ||
	    r.status != 201) {
		fprintf(stderr, "coalesce_diff: creating the exam: %d %s %s\n", r.status, r.error,
			r.body ? r.body : "");
		http_client_response_free(&r);
		return -1;
	}
	json = cJSON_Parse(r.body);
	ok = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(json, "exam_id"));
	if (ok)
		snprintf(g_exam_id, sizeof g_exam_id, "%s",
			 cJSON_GetObjectItemCaseSensitive(json, "exam_id")->valuestring);
	cJSON_Delete(json);
	http_client_response_free(&r);
	return ok ? 0 : -1;
}

static int start_attempt(student *s)
{
	char body[96];
	http_client_response r;
	cJSON *json;
	const cJSON *id;
	int ok;

	snprintf(body, sizeof body, "{\"exam_id\":\"%s\"}", g_exam_id);
	if (request(s->token, "POST", "/api/attempts/new?action=start", NULL, body, &r) != 0 ||
	    r.status != 201) {
		fprintf(stderr, "coalesce_diff: start: %d %s\n", r.status, r.error);
		http_client_response_free(&r);
		return -1;
	}
	json = cJSON_Parse(r.body);
	id = cJSON_GetObjectItemCaseSensitive(json, "attempt_id");
	ok = cJSON_IsString(id);
	if (ok)
		snprintf(s->attempt_id, sizeof s->attempt_id, "%s", id->valuestring);
	cJSON_Delete(json);
	http_client_response_free(&r);
	return ok ? 0 : -1;
}

static PGresult *db_exec(PGconn *c, const char *sql, int n, const char *const *params)
{
	PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
		fprintf(stderr, "coalesce_diff: %s: %s", sql, PQerrorMessage(c));
	return res;
}

/* Each attempt's row and activity, normalized, in student order. */
static void dump_rows(PGconn *c, FILE *out)
{
	for (int i = 0; i < STUDENTS; i++) {
		const char *p[1] = {g_students[i].attempt_id};
		PGresult *res = db_exec(
			c,
			"SELECT status, version, answers::text, auto_save_data::text, "
			"coalesce(submit_reason, '-'), coalesce(receipt, '-'), "
			"(SELECT coalesce(string_agg(event_type || '/' || "
			"coalesce(client_event_id, '-') "
			"|| '/' || coalesce(payload::text, '-'), ' ' ORDER BY activity_id), '-') "
			"FROM attempts.attempt_activity v WHERE v.attempt_id = a.attempt_id) "
			"FROM attempts.attempts a WHERE attempt_id = $1",
			1, p);

		if (PQntuples(res) == 1)
			fprintf(out,
				"ROW A%02d %s v%s answers=%s autosave=%s reason=%s receipt=%s "
				"activity=%s\n",
				i, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
				PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4),
				PQgetvalue(res, 0, 5), PQgetvalue(res, 0, 6));
		else
			fprintf(out, "ROW A%02d missing\n", i);
		PQclear(res);
	}
}

int main(int argc, char **argv)
{
	unsigned long long seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 20261207ULL;
	pthread_t threads[STUDENTS];
	PGconn *sweep = NULL, *c;
	FILE *out;
	int transport = 0;

	g_url = getenv("ATTEMPTS_TEST_URL");
	g_secret = getenv("ATTEMPTS_JWT_SECRET");
	g_db = getenv("ATTEMPTS_TEST_DB");
	if (argc < 2 || !g_url || !*g_url || !g_secret || !*g_secret || !g_db || !*g_db) {
		fprintf(stderr, "usage: ATTEMPTS_TEST_URL=... ATTEMPTS_JWT_SECRET=... "
				"ATTEMPTS_TEST_DB=... coalesce_diff OUTPUT [SEED]\n");
		return 77;
	}
	c = PQconnectdb(g_db);
	if (PQstatus(c) != CONNECTION_OK || setup_exam() != 0) {
		fprintf(stderr, "coalesce_diff: set-up failed: %s", PQerrorMessage(c));
		return 1;
	}
	for (int i = 0; i < STUDENTS; i++) {
		student *s = &g_students[i];

		s->index = i;
		snprintf(s->sub, sizeof s->sub, "c0a1e5ce-0000-4000-8000-%012d", i);
		s->token = sign(s->sub, AUTH_ROLE_STUDENT);
		s->rng = seed * 1000003ULL + (unsigned long long)i * 7919ULL + 1;
		buf_init(&s->log);
		if (start_attempt(s) != 0)
			return 1;
		s->version = 1;
	}
	/* Deadlines already past for the first EXPIRED students; the sweep's
	 * lock is held so that their first write, not the sweep, closes them. */
	sweep = PQconnectdb(g_db);
	PQclear(db_exec(sweep, "SELECT pg_advisory_lock(" SWEEP_LOCK_KEY ")", 0, NULL));
	for (int i = 0; i < EXPIRED; i++) {
		const char *p[1] = {g_students[i].attempt_id};

		PQclear(db_exec(
			c,
			"UPDATE attempts.attempts SET deadline_at = now() - interval '1 hour' "
			"WHERE attempt_id = $1",
			1, p));
	}
	for (int i = 0; i < STUDENTS; i++)
		pthread_create(&threads[i], NULL, run_student, &g_students[i]);
	for (int i = 0; i < STUDENTS; i++)
		pthread_join(threads[i], NULL);
	PQfinish(sweep);
	out = fopen(argv[1], "w");
	if (out == NULL) {
		perror(argv[1]);
		return 1;
	}
	for (int i = 0; i < STUDENTS; i++) {
		fputs(g_students[i].log.data ? g_students[i].log.data : "", out);
		transport += g_students[i].transport_errors;
	}
	dump_rows(c, out);
	fclose(out);
	PQfinish(c);
	if (transport > 0) {
		fprintf(stderr, "coalesce_diff: %d requests failed at the transport level\n",
			transport);
		return 1;
	}
	return 0;
}
