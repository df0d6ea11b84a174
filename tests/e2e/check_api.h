/* check_api: what the files of the check_api suite share: the fixtures
 * and helpers of check_api.c beyond e2e_util, and one function per file
 * that adds its tests to the suite. */
#ifndef E2E_CHECK_API_H
#define E2E_CHECK_API_H

#include <check.h>
#include <cJSON.h>

#include "buf.h"
#include "e2e_util.h"

#define TIMED_EXAM "{\"title\":\"timed\",\"time_limit_s\":3600}"

#define UNTIMED_EXAM "{\"title\":\"untimed\"}"

#define MINUTE_EXAM "{\"title\":\"one minute\",\"time_limit_s\":60,\"grace_s\":0}"

/* A student with n attempts in progress, one per exam (made by a proctor
 * over HTTP), and with fleet_new_other someone else's world next to it. */
typedef struct fleet {
	user proctor, student;
	int n;
	char exam[8][ID_LEN];
	char att[8][ID_LEN];
	world other; /* a TIMED_EXAM world: only after fleet_new_other */
} fleet;

/* Statement calls recorded by pg_stat_statements since the last reset,
 * top-level statements only (track=all also counts the statements run
 * inside the SQL functions), our own inspection queries left out. */
typedef struct stmt_calls {
	long total;   /* every top-level statement call */
	long target;  /* calls of the statements whose text has the target */
	long target2; /* the same for the second target, if any */
	long sweep;   /* sweep_expired_attempts() calls of the deadline sweep */
	long setup;   /* a pool's new connection (its two-set_config setup) */
	long pings;   /* the pool's health check of a connection idle 30 s */
} stmt_calls;

/* An exam with three students' attempts: [0] submitted with one answer,
 * [1] in progress with two, [2] in progress with none. */
typedef struct stats_world {
	user proctor, admin, s[3];
	char exam_id[ID_LEN];
	char att[3][ID_LEN];
} stats_world;

/* What PostgreSQL itself prints for an attempt's row. */
typedef struct stored {
	char *answers;
	char *auto_save;
	char *version;
} stored;

/* The results array of a batch answer, asserting it has n items. */
const cJSON *batch_results(const resp *r, int n);

/* Asserts a batch error item {"attempt_id", "error": {...}} (plus
 * "success": false where with_success) with code; returns details. */
const cJSON *expect_item_error(const cJSON *item, const char *attempt_id, const char *code,
			       int with_success);

void jcs_value(buf *b, const cJSON *v);

/* Lowercase hex SHA-256 of the JCS text of v into hex (65 bytes). */
void receipt_of(const cJSON *v, char hex[65]);

void receipt_of_text(const char *json, char hex[65]);

long db_activity_count(const char *attempt_id);

/* Asserts a text column of the attempt's row (NULL: SQL NULL). */
void db_expect_col(const char *attempt_id, const char *column, const char *want);

/* Moves the attempt's start 180 s and its deadline 120 s into the past. */
void db_push_past(const char *attempt_id);
/* sweep_hold, then db_push_past: the attempt stays expired but open until
 * the caller's sweep_release of the returned connection. */
PGconn *db_expire_held(const char *attempt_id);

/* Reads the attempt's state and info a few times as u, so that the worker
 * that answers holds them in its cache (read-your-writes checks). */
void warm(const user *u, const char *attempt_id);

/* Sends {"operation": op, "data": data_json} to the batch action as u. */
void batch(resp *r, const user *u, const char *op, const char *data_json);

/* batch with the data made from fmt (printf), then batch_results(r, n). */
const cJSON *batch_of(resp *r, const user *u, const char *op, int n, const char *fmt, ...)
	ATT_PRINTF(5, 6);

/* POSTs {"events": events_json} to the attempt's activity as u. */
void activity(resp *r, const user *u, const char *attempt_id, const char *events_json);

/* [{"event_type":"e","client_event_id":"c<i>"} x n] as malloc'd text. */
char *many_events(int n);

extern const char *const state_keys[];

extern const char *const info_keys[];

/* Submits with body (NULL: none) as u; the answer is left in *r. */
void submit(resp *r, const user *u, const char *attempt_id, const char *body);
/* submit, expecting 200, and frees the answer. */
void submit_ok(const user *u, const char *attempt_id, const char *body);

/* Asserts a successful submit answer: the final state, receipt of
 * want_answers (JSON text), already_submitted as given, version. */
void expect_submitted(const resp *r, const char *want_answers, int already, long version);

void fleet_new(fleet *f, int n, const char *exam_body);
/* fleet_new, and other's world (another proctor, exam and student). */
void fleet_new_other(fleet *f, int n, const char *exam_body);

void fleet_free(fleet *f);

/* The statement calls the request itself made: the sweep costs two (its
 * claims and its call), a new pooled connection two (its setup queries),
 * and a connection idle for 30 s one health-check ping before its use (a
 * slow run, under sanitizers, leaves some idle that long). */
long request_calls(const stmt_calls *s);

void report(const char *what, const stmt_calls *s, const char *fn, long fn_calls);

void stats(resp *r, const user *u, const char *attempt_id, const char *query);

void stats_world_new(stats_world *w);

void stats_world_free(stats_world *w);

/* GET ?action=stats&type=optimization as u. */
void optimization(resp *r, const user *u);

void optimize(resp *r, const user *u, const char *body);

/* batch, then asserts the error answer and frees the answer. */
void batch_refused(const user *u, const char *op, const char *data_json, int status,
		   const char *code);

/* submit, then asserts the error answer and frees the answer. */
void submit_refused(const user *u, const char *attempt_id, const char *body, int status,
		    const char *code);

/* optimize, then asserts the error answer and frees the answer. */
void optimize_refused(const user *u, const char *body, int status, const char *code);

/* activity, then asserts the error answer and frees the answer. */
void activity_refused(const user *u, const char *attempt_id, const char *events_json, int status,
		      const char *code);

/* stats, then asserts the error answer and frees the answer. */
void stats_refused(const user *u, const char *attempt_id, const char *query, int status,
		   const char *code);

/* submit, then asserts 422 validation_failed naming field and frees the answer. */
void submit_field_refused(const user *u, const char *attempt_id, const char *body,
			  const char *field);

/* optimize, then asserts 422 validation_failed naming field and frees the answer. */
void optimize_field_refused(const user *u, const char *body, const char *field);

/* activity, then asserts 422 validation_failed naming field and frees the answer. */
void activity_field_refused(const user *u, const char *attempt_id, const char *events_json,
			    const char *field);

/* Each file of the suite adds its tests to s. */
void api_activity_tests(Suite *s);
void api_submit_tests(Suite *s);
void api_deadlines_tests(Suite *s);
void api_batch_tests(Suite *s);
void api_batch_ops_tests(Suite *s);
void api_stats_tests(Suite *s);
void api_optimize_tests(Suite *s);
void api_reads_tests(Suite *s);

#endif
