/* baseline_fcgi: the minimal libfcgi responder the benchmark
 * (tests/bench/bench.sh) compares the service with. Same accept-loop shape
 * as cgi-bin/attempts_fcgi.c: ATTEMPTS_THREADS threads, each
 * FCGX_Accept_r -> answer -> FCGX_Finish_r, under spawn-fcgi + multiwatch
 * behind the same nginx configuration. It has no router, no JWT check, no
 * cache, no pool, no metrics: what it costs is the floor under the service.
 *
 * BASELINE_MODE (environment):
 *   fixed        writes a fixed JSON body (BASELINE_BODY_FILE, else a
 *                built-in state-shaped body); no database
 *   state        SELECT attempts.get_attempt_state($1::uuid) with the claims
 *                set in the same pipeline: set_config + call + Sync, one
 *                round trip (what lib/db.c does)
 *   save         SELECT attempts.save_attempt(...) the same way; the request
 *                body is passed as one jsonb parameter and its "answers" and
 *                "auto_save_data" are taken out in the statement (this
 *                responder has no JSON library)
 *   naive_state  BEGIN; set_config; get_attempt_state; COMMIT as four
 *                round trips
 *   naive_save   the same four round trips around save_attempt
 *
 * The attempt id is the path's /api/attempts/{id}; the caller is the header
 * X-Bench-Sub (a UUID; role student). There is no token check: this is a
 * baseline for the database path, never a server to deploy.
 *
 * Each thread has one PostgreSQL connection (ATTEMPTS_DB, libpq
 * conninfo), opened at its first request, with the same session settings
 * and prepared statements as the service's pool. */
#include <errno.h>
#include <fcgiapp.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uuid.h"

#define MAX_BODY (1 << 20)

typedef enum mode { MODE_FIXED, MODE_STATE, MODE_SAVE, MODE_NAIVE_STATE, MODE_NAIVE_SAVE } mode;

static mode g_mode;
static const char *g_conninfo;
static char *g_fixed_body;
static size_t g_fixed_len;

static const char default_body[] =
	"{\"answers\": {\"q1\": \"a\", \"q2\": \"b\", \"q3\": \"c\"}, \"status\": "
	"\"in_progress\", \"user_id\": \"00000000-0000-4000-8000-000000000001\", "
	"\"version\": 1, \"exam_id\": \"00000000-0000-4000-9000-000000000001\", "
	"\"attempt_id\": \"00000000-0000-4001-a000-000000000001\", \"deadline_at\": "
	"\"2099-01-01T00:00:00.000000Z\", \"started_at\": \"2024-01-01T00:00:00.000000Z\", "
	"\"updated_at\": \"2024-01-01T00:00:00.000000Z\", \"submitted_at\": null, "
	"\"auto_save_data\": {\"progress\": 50}, \"attempt_number\": 1, "
	"\"time_remaining_s\": 600}";

/* The statements, as in lib/db.c (set_claims, attempt_state, save_attempt);
 * save takes the body whole (see above). */
static const char sql_claims[] = "SELECT pg_catalog.set_config('request.jwt.claims', $1, true)";
static const char sql_state[] = "SELECT attempts.get_attempt_state($1::uuid)";
static const char sql_save[] = "SELECT attempts.save_attempt($1::uuid, ($2::jsonb) -> 'answers', "
			       "($2::jsonb) -> 'auto_save_data', $3::int, $4::int)";

typedef struct worker {
	FCGX_Request req;
	PGconn *conn;
	char *body;
	size_t body_cap;
} worker;

static void reply(FCGX_Request *req, int status, const char *body, size_t len)
{
	const char *reason = status == 200   ? "OK"
			     : status == 400 ? "Bad Request"
			     : status == 404 ? "Not Found"
			     : status == 409 ? "Conflict"
					     : "Internal Server Error";

	char head[160];
	/* snprintf, not FCGX_FPrintF: libfcgi's own printf knows no %zu. */
	int n = snprintf(head, sizeof head,
			 "Status: %d %s\r\n"
			 "Content-Type: application/json; charset=utf-8\r\n"
			 "Content-Length: %zu\r\n\r\n",
			 status, reason, len);

	FCGX_PutStr(head, n, req->out);
	FCGX_PutStr(body, (int)len, req->out);
}

static void reply_error(FCGX_Request *req, int status, const char *code)
{
	char body[160];
	int n = snprintf(body, sizeof body,
			 "{\"error\":{\"code\":\"%s\",\"message\":\"baseline\"}}", code);

	reply(req, status, body, (size_t)n);
}

static int exec_ok(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);

	PQclear(res);
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

static int prepare(PGconn *conn, const char *name, const char *sql, int nparams)
{
	PGresult *res = PQprepare(conn, name, sql, nparams, NULL);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "baseline_fcgi: prepare %s: %s", name, PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

/* The thread's connection, opened and prepared at first use. */
static PGconn *connection(worker *w)
{
	static const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *values[] = {"3", "attempts.bench.baseline", g_conninfo, NULL};

	if (w->conn != NULL && PQstatus(w->conn) == CONNECTION_OK)
		return w->conn;
	PQfinish(w->conn);
	w->conn = PQconnectdbParams(keys, values, 1);
	if (PQstatus(w->conn) != CONNECTION_OK ||
	    !exec_ok(w->conn,
		     "SELECT pg_catalog.set_config('search_path', 'pg_catalog, attempts', false), "
		     "pg_catalog.set_config('TimeZone', 'UTC', false), "
		     "pg_catalog.set_config('statement_timeout', '10000', false)") ||
	    !prepare(w->conn, "set_claims", sql_claims, 1) ||
	    !prepare(w->conn, "attempt_state", sql_state, 1) ||
	    !prepare(w->conn, "save_attempt", sql_save, 4)) {
		fprintf(stderr, "baseline_fcgi: connect: %s", PQerrorMessage(w->conn));
		PQfinish(w->conn);
		w->conn = NULL;
	}
	return w->conn;
}

/* Reads the results of one pipelined query up to its terminating NULL;
 * keeps the first. */
static PGresult *query_results(PGconn *conn)
{
	PGresult *first = NULL, *res;

	while ((res = PQgetResult(conn)) != NULL) {
		if (first == NULL)
			first = res;
		else
			PQclear(res);
	}
	return first;
}

/* claims + call + Sync in one round trip; returns the call's result
 * (caller clears) or NULL. */
static PGresult *call_pipelined(PGconn *conn, const char *claims, const char *stmt, int nparams,
				const char *const *params)
{
	PGresult *claims_res, *res, *sync;
	int ok;

	if (PQenterPipelineMode(conn) != 1)
		return NULL;
	if (PQsendQueryPrepared(conn, "set_claims", 1, &claims, NULL, NULL, 0) != 1 ||
	    PQsendQueryPrepared(conn, stmt, nparams, params, NULL, NULL, 0) != 1 ||
	    PQpipelineSync(conn) != 1) {
		PQexitPipelineMode(conn);
		return NULL;
	}
	claims_res = query_results(conn);
	res = query_results(conn);
	sync = PQgetResult(conn);
	ok = PQresultStatus(sync) == PGRES_PIPELINE_SYNC &&
	     PQresultStatus(claims_res) == PGRES_TUPLES_OK;
	PQclear(claims_res);
	PQclear(sync);
	if (PQexitPipelineMode(conn) != 1)
		ok = 0;
	if (!ok) {
		PQclear(res);
		return NULL;
	}
	return res;
}

/* BEGIN; set_config; call; COMMIT: four round trips. */
static PGresult *call_naive(PGconn *conn, const char *claims, const char *stmt, int nparams,
			    const char *const *params)
{
	PGresult *res;
	int ok;

	if (!exec_ok(conn, "BEGIN"))
		return NULL;
	res = PQexecPrepared(conn, "set_claims", 1, &claims, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	res = ok ? PQexecPrepared(conn, stmt, nparams, params, NULL, NULL, 0) : NULL;
	if (!exec_ok(conn, ok ? "COMMIT" : "ROLLBACK")) {
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Reads the request body into w->body (NUL-terminated); -1 on error. */
static int read_body(worker *w)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", w->req.envp);
	long len = cl ? strtol(cl, NULL, 10) : 0;
	int got;

	if (len < 0 || len > MAX_BODY)
		return -1;
	if ((size_t)len + 1 > w->body_cap) {
		char *p = realloc(w->body, (size_t)len + 1);
		if (p == NULL)
			return -1;
		w->body = p;
		w->body_cap = (size_t)len + 1;
	}
	got = len > 0 ? FCGX_GetStr(w->body, (int)len, w->req.in) : 0;
	if (got != len)
		return -1;
	w->body[len] = '\0';
	return 0;
}

static void serve(worker *w)
{
	FCGX_Request *req = &w->req;
	const char *path = FCGX_GetParam("DOCUMENT_URI", req->envp);
	const char *sub = FCGX_GetParam("HTTP_X_BENCH_SUB", req->envp);
	char id[UUID_STR_LEN + 1], claims[128];
	const char *params[4];
	const char *stmt;
	int nparams, save = g_mode == MODE_SAVE || g_mode == MODE_NAIVE_SAVE;
	PGconn *conn;
	PGresult *res;

	if (g_mode == MODE_FIXED) {
		reply(req, 200, g_fixed_body, g_fixed_len);
		return;
	}
	if (path == NULL || strncmp(path, "/api/attempts/", 14) != 0 || !uuid_valid(path + 14) ||
	    sub == NULL || !uuid_valid(sub)) {
		reply_error(req, 400, "bad_request");
		return;
	}
	memcpy(id, path + 14, UUID_STR_LEN + 1);
	snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"role\":\"student\"}", sub);
	params[0] = id;
	if (save) {
		if (read_body(w) != 0) {
			reply_error(req, 400, "invalid_body");
			return;
		}
		stmt = "save_attempt";
		params[1] = w->body;
		params[2] = NULL; /* no expected_version: saves never conflict */
		params[3] = "524288";
		nparams = 4;
	} else {
		stmt = "attempt_state";
		nparams = 1;
	}
	conn = connection(w);
	if (conn == NULL) {
		reply_error(req, 503, "service_unavailable");
		return;
	}
	if (g_mode == MODE_NAIVE_STATE || g_mode == MODE_NAIVE_SAVE)
		res = call_naive(conn, claims, stmt, nparams, params);
	else
		res = call_pipelined(conn, claims, stmt, nparams, params);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    PQgetisnull(res, 0, 0)) {
		if (res == NULL && PQstatus(conn) != CONNECTION_OK) {
			PQfinish(conn);
			w->conn = NULL;
		}
		fprintf(stderr, "baseline_fcgi: %s failed: %s", stmt,
			res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
		PQclear(res);
		reply_error(req, 500, "internal_error");
		return;
	}
	{
		const char *text = PQgetvalue(res, 0, 0);
		size_t len = (size_t)PQgetlength(res, 0, 0);
		int status = strncmp(text, "{\"error\": ", 10) == 0 ? (save ? 409 : 404) : 200;

		reply(req, status, text, len);
	}
	PQclear(res);
}

static void *accept_loop(void *arg)
{
	worker *w = arg;

	if (FCGX_InitRequest(&w->req, 0, 0) != 0) {
		fprintf(stderr, "baseline_fcgi: FCGX_InitRequest failed\n");
		return NULL;
	}
	while (FCGX_Accept_r(&w->req) >= 0) {
		serve(w);
		FCGX_Finish_r(&w->req);
	}
	PQfinish(w->conn);
	free(w->body);
	return NULL;
}

static int load_fixed_body(void)
{
	const char *file = getenv("BASELINE_BODY_FILE");
	FILE *f;
	long n;

	if (file == NULL || *file == '\0') {
		g_fixed_body = (char *)default_body;
		g_fixed_len = sizeof default_body - 1;
		return 0;
	}
	f = fopen(file, "rb");
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > MAX_BODY ||
	    fseek(f, 0, SEEK_SET) != 0 || (g_fixed_body = malloc((size_t)n + 1)) == NULL ||
	    fread(g_fixed_body, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "baseline_fcgi: cannot read BASELINE_BODY_FILE %s: %s\n", file,
			strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	g_fixed_len = (size_t)n;
	return 0;
}

static int parse_mode(const char *s, mode *out)
{
	static const struct {
		const char *name;
		mode m;
	} modes[] = {{"fixed", MODE_FIXED},
		     {"state", MODE_STATE},
		     {"save", MODE_SAVE},
		     {"naive_state", MODE_NAIVE_STATE},
		     {"naive_save", MODE_NAIVE_SAVE}};

	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
		if (strcmp(s, modes[i].name) == 0) {
			*out = modes[i].m;
			return 0;
		}
	return -1;
}

int main(void)
{
	const char *mode_name = getenv("BASELINE_MODE");
	const char *threads_text = getenv("ATTEMPTS_THREADS");
	long nthreads = threads_text ? strtol(threads_text, NULL, 10) : 4;
	pthread_t *threads;
	worker *workers;
	long started = 0;

	if (mode_name == NULL)
		mode_name = "fixed";
	if (parse_mode(mode_name, &g_mode) != 0) {
		fprintf(stderr,
			"baseline_fcgi: BASELINE_MODE must be fixed, state, save, "
			"naive_state or naive_save, not '%s'\n",
			mode_name);
		return 2;
	}
	if (nthreads < 1 || nthreads > 1024) {
		fprintf(stderr, "baseline_fcgi: ATTEMPTS_THREADS must be 1..1024\n");
		return 2;
	}
	g_conninfo = getenv("ATTEMPTS_DB");
	if (g_conninfo == NULL)
		g_conninfo = "dbname=attempts";
	if (load_fixed_body() != 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0 || FCGX_IsCGI()) {
		fprintf(stderr, "baseline_fcgi: run it under a FastCGI server (spawn-fcgi)\n");
		return 1;
	}
	/* libfcgi may catch TERM only to flag a shutdown that threads blocked
	 * in accept() never see: nothing here needs a graceful end. */
	signal(SIGTERM, SIG_DFL);
	threads = calloc((size_t)nthreads, sizeof *threads);
	workers = calloc((size_t)nthreads, sizeof *workers);
	if (threads == NULL || workers == NULL)
		return 1;
	for (; started < nthreads; started++)
		if (pthread_create(&threads[started], NULL, accept_loop, &workers[started]) != 0)
			break;
	fprintf(stderr, "baseline_fcgi: mode %s, %ld accepting threads\n", mode_name, started);
	for (long i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	free(workers);
	return started == nthreads ? 0 : 1;
}
