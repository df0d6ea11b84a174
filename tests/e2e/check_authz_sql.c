/* check_authz_sql: the SQL level of check_authz: every single-attempt and
 * batch function called through libpq with another user's claims, a
 * role's it does not allow, and missing or unusable claims, each with the
 * database compared before and after. */
#include <check.h>
#include <cJSON.h>
#include <dirent.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "e2e_util.h"
#include "http_client.h"
#include "uuid.h"
#include "check_authz.h"

/* ================================================================ SQL level */

typedef enum caller { C_OWNER, C_OTHER, C_PROCTOR, C_ADMIN } caller;

static const char *const caller_names[] = {"owner", "other student", "proctor", "admin"};

static const user *caller_user(caller c)
{
	switch (c) {
	case C_OTHER:
		return &W.other;
	case C_PROCTOR:
		return &W.proctor;
	case C_ADMIN:
		return &W.admin;
	case C_OWNER:
		break;
	}
	return &W.owner;
}

/* A call of an SQL function over p.a (the owner's attempt), p.e (its exam)
 * and p.u (its upload). */
typedef struct sql_call {
	const char *name;
	const char *expr;
} sql_call;

#define JEVENT "'[{\"event_type\":\"sql_probe\"}]'::jsonb"

static const sql_call sql_calls[] = {
	{"get_attempt_state", "attempts.get_attempt_state(p.a)"},
	{"get_attempt_info", "attempts.get_attempt_info(p.a)"},
	{"save_attempt",
	 "attempts.save_attempt(p.a, '{\"sql_probe\":1}'::jsonb, '{\"p\":9}'::jsonb, NULL)"},
	{"submit_attempt", "attempts.submit_attempt(p.a, '{\"sql_probe\":1}'::jsonb)"},
	{"log_attempt_activity", "attempts.log_attempt_activity(p.a, " JEVENT ")"},
	{"extend_attempt", "attempts.extend_attempt(p.a, 600)"},
	{"record_attempt_upload",
	 "attempts.record_attempt_upload(p.a, gen_random_uuid(), 'probe.txt', 'text/plain', 5,"
	 " repeat('0', 64))"},
	{"get_attempt_upload", "attempts.get_attempt_upload(p.a, p.u)"},
	{"list_attempt_uploads", "attempts.list_attempt_uploads(p.a)"},
	{"validate_attempt_upload", "attempts.validate_attempt_upload(p.a, 'text/plain', 5)"},
	{"batch_save_attempts",
	 "attempts.batch_save_attempts(jsonb_build_array(jsonb_build_object('attempt_id', p.a,"
	 " 'answers', '{\"sql_probe\":1}'::jsonb)))"},
	{"get_multiple_attempt_states", "attempts.get_multiple_attempt_states(ARRAY[p.a])"},
	{"get_multiple_attempt_infos", "attempts.get_multiple_attempt_infos(ARRAY[p.a])"},
	{"batch_log_attempt_activity",
	 "attempts.batch_log_attempt_activity(jsonb_build_array(jsonb_build_object("
	 "'attempt_id', p.a, 'events', " JEVENT ")))"},
	{"validate_multiple_attempts", "attempts.validate_multiple_attempts(ARRAY[p.a])"},
	{"batch_submit_attempts", "attempts.batch_submit_attempts(ARRAY[p.a])"},
	{"get_attempt_statistics", "attempts.get_attempt_statistics(p.e)"},
	{"get_active_attempts", "attempts.get_active_attempts(p.e)"},
	{"preload_attempt_states", "attempts.preload_attempt_states(ARRAY[p.e])"},
	{"broadcast_clear_cache", "attempts.broadcast_clear_cache()"},
	{"analyze_observations", "attempts.analyze_observations()"},
	{"close_expired_attempts", "attempts.close_expired_attempts()"},
	{"create_exam", "attempts.create_exam('{\"title\":\"sql probe\"}'::jsonb)"},
	{"start_attempt", "attempts.start_attempt(p.e)"},
	{"get_exam", "attempts.get_exam(p.e)"},
};

#define NSQLCALLS ((int)(sizeof sql_calls / sizeof sql_calls[0]))

/* One SQL case: a call, a caller, and the code every answer must carry
 * (items: the result is an array whose every element has that code). */
typedef struct sql_case {
	const char *call;
	caller who;
	const char *code;
	int items;
} sql_case;

static const sql_case sql_cases[] = {
	/* Another student: the owner's attempt does not exist for it. */
	{"get_attempt_state", C_OTHER, "not_found", 0},
	{"get_attempt_info", C_OTHER, "not_found", 0},
	{"save_attempt", C_OTHER, "not_found", 0},
	{"submit_attempt", C_OTHER, "not_found", 0},
	{"log_attempt_activity", C_OTHER, "not_found", 0},
	{"record_attempt_upload", C_OTHER, "not_found", 0},
	{"get_attempt_upload", C_OTHER, "not_found", 0},
	{"list_attempt_uploads", C_OTHER, "not_found", 0},
	{"validate_attempt_upload", C_OTHER, "not_found", 0},
	{"batch_save_attempts", C_OTHER, "not_found", 1},
	{"get_multiple_attempt_states", C_OTHER, "not_found", 1},
	{"get_multiple_attempt_infos", C_OTHER, "not_found", 1},
	{"batch_log_attempt_activity", C_OTHER, "not_found", 1},
	{"validate_multiple_attempts", C_OTHER, "not_found", 1},
	/* A student on proctor/admin functions (its own attempt, or any:
	 * extend answers any student forbidden, as the HTTP route does). */
	{"extend_attempt", C_OWNER, "forbidden", 0},
	{"extend_attempt", C_OTHER, "forbidden", 0},
	{"batch_submit_attempts", C_OWNER, "forbidden", 0},
	{"batch_submit_attempts", C_OTHER, "forbidden", 0},
	{"get_attempt_statistics", C_OWNER, "forbidden", 0},
	{"get_active_attempts", C_OWNER, "forbidden", 0},
	{"preload_attempt_states", C_OWNER, "forbidden", 0},
	{"broadcast_clear_cache", C_OWNER, "forbidden", 0},
	{"analyze_observations", C_OWNER, "forbidden", 0},
	{"close_expired_attempts", C_OWNER, "forbidden", 0},
	{"create_exam", C_OWNER, "forbidden", 0},
	/* A proctor on admin functions. */
	{"preload_attempt_states", C_PROCTOR, "forbidden", 0},
	{"broadcast_clear_cache", C_PROCTOR, "forbidden", 0},
	{"analyze_observations", C_PROCTOR, "forbidden", 0},
	{"close_expired_attempts", C_PROCTOR, "forbidden", 0},
	/* Staff on owner-only writes (docs/SQL.md: forbidden). */
	{"save_attempt", C_PROCTOR, "forbidden", 0},
	{"submit_attempt", C_PROCTOR, "forbidden", 0},
	{"log_attempt_activity", C_PROCTOR, "forbidden", 0},
	{"record_attempt_upload", C_PROCTOR, "forbidden", 0},
	{"validate_attempt_upload", C_PROCTOR, "forbidden", 0},
	{"batch_save_attempts", C_PROCTOR, "forbidden", 1},
	{"batch_log_attempt_activity", C_PROCTOR, "forbidden", 1},
	{"save_attempt", C_ADMIN, "forbidden", 0},
	{"submit_attempt", C_ADMIN, "forbidden", 0},
	{"log_attempt_activity", C_ADMIN, "forbidden", 0},
	{"record_attempt_upload", C_ADMIN, "forbidden", 0},
	{"batch_save_attempts", C_ADMIN, "forbidden", 1},
	{"batch_log_attempt_activity", C_ADMIN, "forbidden", 1},
};

#define NSQLCASES ((int)(sizeof sql_cases / sizeof sql_cases[0]))

static const char *sql_expr(const char *name)
{
	for (int i = 0; i < NSQLCALLS; i++)
		if (strcmp(sql_calls[i].name, name) == 0)
			return sql_calls[i].expr;
	ck_abort_msg("no SQL call %s", name);
	return NULL;
}

/* Sets request.jwt.claims (session level, as a psql user would) to claims
 * ("" to clear it) and runs the call; returns the jsonb result parsed. */
static cJSON *sql_run(PGconn *c, const char *claims, const char *expr)
{
	char sql[1024];
	const char *set[1] = {claims};
	const char *ids[3] = {W.attempt_id, W.exam, W.upload_id};
	PGresult *res;
	cJSON *out;

	res = PQexecParams(c, "SELECT pg_catalog.set_config('request.jwt.claims', $1, false)", 1,
			   NULL, set, NULL, NULL, 0);
	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "set_config: %s", PQerrorMessage(c));
	PQclear(res);
	/* The expression comes from the table above, never from input. */
	snprintf(sql, sizeof sql,
		 "SELECT (%s)::text FROM (SELECT $1::uuid AS a, $2::uuid AS e, $3::uuid AS u) AS p",
		 expr);
	res = PQexecParams(c, sql, 3, NULL, ids, NULL, NULL, 0);
	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1, "%s: %s", expr,
		      PQerrorMessage(c));
	out = cJSON_Parse(PQgetvalue(res, 0, 0));
	ck_assert_msg(out != NULL, "%s: not JSON: %.300s", expr, PQgetvalue(res, 0, 0));
	PQclear(res);
	return out;
}

/* Asserts result is {"error": {"code": code, ...}} (items: an array whose
 * every element carries that error). */
static void expect_sql_error(const cJSON *result, const char *code, int items, const char *where)
{
	char *text = cJSON_PrintUnformatted(result);
	const cJSON *item;

	if (items) {
		ck_assert_msg(cJSON_IsArray(result) && cJSON_GetArraySize(result) == items,
			      "%s: want an array of %d item(s): %.300s", where, items, text);
		cJSON_ArrayForEach(item, result)
		{
			const char *got = item_error_code(item);
			ck_assert_msg(got != NULL && strcmp(got, code) == 0,
				      "%s: item error %s, want %s: %.300s", where,
				      got ? got : "(none)", code, text);
		}
	} else {
		const char *got = item_error_code(result);
		ck_assert_msg(got != NULL && strcmp(got, code) == 0,
			      "%s: error %s, want %s: %.300s", where, got ? got : "(none)", code,
			      text);
	}
	cJSON_free(text);
}

START_TEST(test_sql_case)
{
	const sql_case *sc = &sql_cases[_i];
	const user *u = caller_user(sc->who);
	char claims[160], where[160];
	PGconn *c = db_connect();
	char *before, *after;
	cJSON *result;

	snprintf(where, sizeof where, "[SQL %s as %s]", sc->call, caller_names[sc->who]);
	snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"role\":\"%s\"}", u->sub,
		 auth_role_name(u->role));
	before = db_snapshot(c, W.attempt_id);
	result = sql_run(c, claims, sql_expr(sc->call));
	expect_sql_error(result, sc->code, sc->items, where);
	after = db_snapshot(c, W.attempt_id);
	ck_assert_msg(strcmp(before, after) == 0,
		      "%s changed the database:\n  before %s\n  after  %s", where, before, after);
	cJSON_Delete(result);
	free(before);
	free(after);
	PQfinish(c);
}
END_TEST

/* Claims that name nobody: every function answers unauthorized (a single
 * error object, batch functions included) and writes nothing. */
static const char *const bad_claims[] = {
	"",
	"not json",
	"[]",
	"{}",
	"{\"role\":\"admin\"}",
	"{\"sub\":\"alice\",\"role\":\"admin\"}",
	"{\"sub\":\"@OWNER\",\"role\":\"superadmin\"}",
	"{\"sub\":\"@OWNER\"}",
	"{\"sub\":\"@OWNER\",\"role\":[\"admin\"]}",
};

#define NBADCLAIMS ((int)(sizeof bad_claims / sizeof bad_claims[0]))

START_TEST(test_sql_unauthorized)
{
	char claims[256], where[300];
	const char *tmpl = bad_claims[_i];
	const char *at = strstr(tmpl, "@OWNER");
	PGconn *c = db_connect();

	if (at != NULL)
		snprintf(claims, sizeof claims, "%.*s%s%s", (int)(at - tmpl), tmpl, W.owner.sub,
			 at + 6);
	else
		snprintf(claims, sizeof claims, "%s", tmpl);
	for (int i = 0; i < NSQLCALLS; i++) {
		char *before = db_snapshot(c, W.attempt_id), *after;
		cJSON *result = sql_run(c, claims, sql_calls[i].expr);

		snprintf(where, sizeof where, "[SQL %s with claims '%s']", sql_calls[i].name,
			 claims);
		expect_sql_error(result, "unauthorized", 0, where);
		after = db_snapshot(c, W.attempt_id);
		ck_assert_msg(strcmp(before, after) == 0,
			      "%s changed the database:\n  before %s\n  after  %s", where, before,
			      after);
		cJSON_Delete(result);
		free(before);
		free(after);
	}
	PQfinish(c);
}
END_TEST

int authz_sql_cases(void)
{
	return NSQLCASES;
}

int authz_bad_claims(void)
{
	return NBADCLAIMS;
}

int authz_sql_calls(void)
{
	return NSQLCALLS;
}

void authz_sql_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "sql", 60, E2E_ROWS(test_sql_case, 0, NSQLCASES),
		      E2E_ROWS(test_sql_unauthorized, 0, NBADCLAIMS));
}
