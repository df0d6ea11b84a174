/* check_api_stats: what a request costs in database round trips, and
 * the stats action. Part of check_api (see check_api.c). */
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
		if (strstr(q, "sweep_expired_attempts") != NULL)
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

/* The batch x costs one call of fn and nothing else but the claims. */
static void expect_one_call(rt_ctx *x, const char *fn, const char *label)
{
	stmt_calls sc;

	measure(rt_batch, x, fn, NULL, 2, &sc);
	report(label, &sc, fn, sc.target);
	ck_assert_int_eq(sc.target, 1);
	ck_assert_int_eq(request_calls(&sc), 2);
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
	expect_one_call(&x, "get_multiple_attempt_states", "multiple_states x50");
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
	expect_one_call(&x, "batch_log_attempt_activity", "batch_log x100");
	free(x.data);

	buf_putc(&b, '[');
	for (int i = 0; i < 100; i++)
		buf_printf(&b, "%s\"%s\"", i ? "," : "", ids[i]);
	buf_putc(&b, ']');
	x = (rt_ctx){&s, "validate_multiple", buf_take(&b), 100};
	ck_assert_ptr_nonnull(x.data);
	expect_one_call(&x, "validate_multiple_attempts", "validate_multiple x100");

	x.u = &p;
	x.op = "batch_submit";
	expect_one_call(&x, "batch_submit_attempts", "batch_submit x100");
	free(x.data);
	ck_assert_int_eq(db_long("SELECT count(*) FROM attempts.attempts WHERE user_id = $1"
				 " AND submit_reason = 'cleanup'",
				 s.sub),
			 100);
	user_free(&s);
	user_free(&p);
}
END_TEST

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

	stats_world_new(&w);
	stats_refused(&w.s[1], w.att[1], "type=stats", 403, "forbidden");
	stats_refused(&w.s[1], w.att[1], "type=active", 403, "forbidden");
	stats_refused(&w.s[1], w.att[1], "type=optimization", 403, "forbidden");
	stats_refused(NULL, w.att[1], "type=stats", 401, "unauthorized");
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
	char q[128], missing[ID_LEN];

	stats_world_new(&w);
	stats_refused(&w.proctor, w.att[0], "type=stats&exam_id=bad", 400, "invalid_uuid");
	stats_refused(&w.proctor, w.att[0],
		      "type=active&exam_id=ABCDEF00-0000-4000-8000-000000000000", 400,
		      "invalid_uuid");
	ck_assert_int_eq(uuid_generate(missing), ATT_OK);
	snprintf(q, sizeof q, "type=stats&exam_id=%s", missing);
	stats_refused(&w.proctor, w.att[0], q, 404, "not_found");
	stats_refused(&w.proctor, missing, "type=stats", 404, "not_found");
	stats_refused(&w.proctor, w.att[0], "type=bogus", 400, "invalid_query");
	stats_refused(&w.proctor, "nope", "type=stats", 400, "invalid_uuid");
	stats_world_free(&w);
}
END_TEST

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
	expect_error_free(&r, 403, "forbidden");
	user_free(&p);
}
END_TEST

/* ============================================================ runner */

void api_stats_tests(Suite *s)
{
	E2E_ADD_TESTS(s, "round_trips", 120, test_round_trips);
	E2E_ADD_TESTS(s, "stats", 60, test_stats_stats, test_stats_cache_control, test_stats_active,
		      test_stats_student_forbidden, test_stats_other_exam, test_stats_bad_params,
		      test_stats_optimization, test_stats_optimization_admin_only,
		      test_listener_keeps_up_with_bursts);
}
