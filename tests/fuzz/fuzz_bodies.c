/* fuzz_bodies: libFuzzer harness for the request-body validators of every
 * action, driven end to end through app_serve: the router (path, action,
 * method, token, path id, body size, strict JSON, object check) and each
 * handler's own validation (start, save, submit, activity, extend, batch
 * with all six operations, optimize, exams, stats, uploads). It also calls
 * events_within_limits (the size limits) directly.
 *
 * The app is a one-shot app whose database is an unreachable socket
 * directory with pool_min 0, a 1 ms acquire timeout and one try: every
 * request that gets past validation answers 503 at once (the breaker
 * opens after a few), so the harness exercises exactly the C-side checks.
 *
 * Input: byte 0 picks the route (see route_table), byte 1 the flags
 * (role, Content-Length, If-Match, /route.ts alias, path id, chunked
 * reads); the rest is the body (for GET routes: more query parameters).
 * Route 16 is free-form: "METHOD\nPATH\nQUERY\nBODY".
 *
 * Invariants on every response: a "Status:" line, an X-Request-Id, a
 * Content-Length equal to the body; every 4xx/5xx body is exactly the
 * API.md section 3 error shape ({"error": {"code", "message",
 * "details"?}}, 422 with details.field); 401 carries WWW-Authenticate,
 * 405 carries Allow; no 500 (nothing here may fail internally).
 *
 * And one invariant between C and SQL: the handlers that hand the body to
 * SQL verbatim (exam create, save, submit, activity, batch_save,
 * batch_log) validate it with cJSON, which reads the FIRST of two members
 * with the same name, while PostgreSQL's jsonb keeps the LAST. A body
 * with a repeated name that reaches the database (503 here) has therefore
 * been validated as a different document than the one SQL acts on; the
 * harness aborts on it. FUZZ_ALLOW_DUPLICATE_KEYS=1 turns this check off
 * (to keep fuzzing the rest while the library still lets them through). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "events.h"
#include "auth.h"
#include "buf.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_JWT_SECRET "fuzz-jwt-secret-0123456789abcdef-0123456789"
#define FUZZ_SUB "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define FUZZ_UUID "5f2b8c1e-3d4a-4b6c-9e8f-0a1b2c3d4e5f"

static config cfg;
static app *the_app;
static char *tokens[3];	   /* "Bearer <jwt>" for student, proctor, admin */
static int debug;	   /* FUZZ_DEBUG set: print every response */
static int allow_dup_keys; /* FUZZ_ALLOW_DUPLICATE_KEYS set */

static const char *fuzz_env(const char *name)
{
	static const struct {
		const char *name, *value;
	} env[] = {
		{"ATTEMPTS_DB", "host=/nonexistent-fuzz port=1 dbname=fuzz connect_timeout=1"},
		{"ATTEMPTS_JWT_SECRET", FUZZ_JWT_SECRET},
		{"ATTEMPTS_POOL_MIN", "0"},
		{"ATTEMPTS_POOL_MAX", "1"},
		{"ATTEMPTS_POOL_ACQUIRE_TIMEOUT_MS", "1"},
		{"ATTEMPTS_RETRY_ATTEMPTS", "1"},
		{"ATTEMPTS_RETRY_BASE_DELAY_MS", "1"},
		{"ATTEMPTS_RETRY_MAX_DELAY_MS", "1"},
		{"ATTEMPTS_UPLOAD_DIR", "/nonexistent-fuzz-uploads"},
		{"ATTEMPTS_SWEEP_INTERVAL_MS", "0"},
		/* Small limits so that the fuzzer reaches both sides of each. */
		{"ATTEMPTS_MAX_BODY_BYTES", "2048"},
		{"ATTEMPTS_MAX_EVENTS", "8"},
		{"ATTEMPTS_MAX_BATCH_ITEMS", "8"},
		{"ATTEMPTS_MAX_EVENT_PAYLOAD_BYTES", "64"},
		{"ATTEMPTS_MAX_ANSWERS_BYTES", "1024"},
	};

	for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
		if (strcmp(env[i].name, name) == 0)
			return env[i].value;
	return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *errmsg = NULL;
	time_t now = time(NULL);

	(void)argc;
	(void)argv;
	debug = getenv("FUZZ_DEBUG") != NULL;
	allow_dup_keys = getenv("FUZZ_ALLOW_DUPLICATE_KEYS") != NULL;
	log_set_level((log_level)(LOG_LVL_ERROR + 1));
	if (config_load_from(&cfg, NULL, fuzz_env, &errmsg) != ATT_OK) {
		fprintf(stderr, "fuzz_bodies: config: %s\n", errmsg ? errmsg : "?");
		abort();
	}
	if (app_create(&cfg, APP_ONESHOT, &the_app) != ATT_OK)
		abort();
	for (int r = 0; r < 3; r++) {
		char *jwt = auth_sign(FUZZ_SUB, (auth_role)(AUTH_ROLE_STUDENT + r), now - 60,
				      now + 10L * 365 * 86400, FUZZ_JWT_SECRET,
				      strlen(FUZZ_JWT_SECRET));
		buf b = BUF_INIT;
		if (jwt == NULL)
			abort();
		buf_printf(&b, "Bearer %s", jwt);
		tokens[r] = buf_take(&b);
		free(jwt);
		if (tokens[r] == NULL)
			abort();
	}
	return 0;
}

/* ------------------------------------------------------- fake server */

typedef struct fake_req {
	fuzz_cgi cgi; /* the CGI parameters */
	const char *body;
	size_t body_len, pos;
	int one_byte_reads;
} fake_req;

static const char *fake_param(void *ctx, const char *name)
{
	fake_req *r = ctx;

	return fuzz_cgi_param(&r->cgi, name);
}

static long fake_read(void *ctx, char *dst, size_t n)
{
	fake_req *r = ctx;
	size_t left = r->body_len - r->pos;

	if (n > left)
		n = left;
	if (r->one_byte_reads && n > 1)
		n = 1;
	memcpy(dst, r->body + r->pos, n);
	r->pos += n;
	return (long)n;
}

/* ------------------------------------------------------ response checks */

static const char *find_header(const char *head, size_t head_len, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = head; p && p < head + head_len;) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':')
			return p + n + 1;
		p = strstr(p, "\r\n");
		if (p)
			p += 2;
	}
	return NULL;
}

static void check_error_body(int status, const char *body, size_t len)
{
	cJSON *root = json_parse(body, len);
	const cJSON *err, *code, *msg, *details, *it;

	if (!cJSON_IsObject(root) || cJSON_GetArraySize(root) != 1)
		abort();
	err = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (!cJSON_IsObject(err))
		abort();
	code = cJSON_GetObjectItemCaseSensitive(err, "code");
	msg = cJSON_GetObjectItemCaseSensitive(err, "message");
	details = cJSON_GetObjectItemCaseSensitive(err, "details");
	if (!cJSON_IsString(code) || !cJSON_IsString(msg) || *code->valuestring == '\0')
		abort();
	if (details != NULL && !cJSON_IsObject(details))
		abort();
	cJSON_ArrayForEach(it, err) if (strcmp(it->string, "code") != 0 &&
					strcmp(it->string, "message") != 0 &&
					strcmp(it->string, "details") != 0) abort();
	if (status == 422) {
		const cJSON *field = cJSON_GetObjectItemCaseSensitive(details, "field");
		if (strcmp(code->valuestring, "validation_failed") != 0 || !cJSON_IsString(field) ||
		    *field->valuestring == '\0')
			abort();
	}
	cJSON_Delete(root);
}

static void check_response(int status, const buf *out, int health)
{
	const char *sep, *cl, *body;
	size_t head_len, body_len;
	int line_status;

	if (out->failed || out->len == 0)
		abort();
	if (sscanf(out->data, "Status: %d ", &line_status) != 1 || line_status != status)
		abort();
	sep = strstr(out->data, "\r\n\r\n");
	if (sep == NULL)
		abort();
	head_len = (size_t)(sep - out->data) + 2;
	body = sep + 4;
	body_len = out->len - (size_t)(body - out->data);
	if (find_header(out->data, head_len, "X-Request-Id") == NULL)
		abort();
	if (status == 500)
		abort(); /* an internal error while only validating */
	cl = find_header(out->data, head_len, "Content-Length");
	if (status != 304 && status != 204 && (cl == NULL || strtoull(cl, NULL, 10) != body_len))
		abort();
	if (status == 401 && find_header(out->data, head_len, "WWW-Authenticate") == NULL)
		abort();
	if (status == 405 && find_header(out->data, head_len, "Allow") == NULL)
		abort();
	if (health && status == 503) {
		/* health answers 503 with its own body: {"status": "degraded", ...} */
		cJSON *root = json_parse(body, body_len);
		if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "status")))
			abort();
		cJSON_Delete(root);
	} else if (status >= 400) {
		check_error_body(status, body, body_len);
	}
}

/* --------------------------------------------------------------- routes */

/* The routes byte 0 picks, as "METHOD PATH[?QUERY]"; "%s" in PATH is
 * the path id. */
static const char *const route_table[] = {"POST /api/exams",
					  "POST /api/attempts/new?action=start",
					  "PATCH /api/attempts/%s?action=save",
					  "POST /api/attempts/%s?action=submit",
					  "POST /api/attempts/%s?action=activity",
					  "PATCH /api/attempts/%s?action=extend",
					  "POST /api/attempts/any-id?action=batch",
					  "PATCH /api/attempts/%s?action=optimize",
					  "GET /api/attempts/%s?action=state",
					  "GET /api/attempts/%s?action=info",
					  "GET /api/attempts/%s?action=stats",
					  "GET /api/attempts/%s?action=upload",
					  "GET /api/attempts/%s?action=uploads",
					  "POST /api/attempts/%s?action=upload",
					  "GET /api/health",
					  "GET /api/exams/%s"};

#define NROUTE_CASES (sizeof route_table / sizeof route_table[0])
#define ROUTE_FREE_FORM NROUTE_CASES
#define ROUTE_EVENTS (NROUTE_CASES + 1)
#define ROUTE_LINE_MAX 64

enum {
	FL_ROLE = 0x03,	    /* 0 student, 1 proctor, 2 admin, 3 bad token */
	FL_CLEN = 0x04,	    /* send Content-Length */
	FL_IFMATCH = 0x08,  /* first body line is the If-Match value */
	FL_ROUTETS = 0x10,  /* the /route.ts alias */
	FL_CLEN_BAD = 0x20, /* with FL_CLEN: one more than the body; without:
			     * ATTEMPTS_UPLOADS_VIA_FILE is set (nginx's upload marker) */
	FL_BAD_ID = 0x40,   /* a path id that is not a canonical UUID */
	FL_BYTEWISE = 0x80  /* the body arrives one byte per read */
};

/* The text one input's request is made of; req_text_free frees it. */
typedef struct req_text {
	char *if_match, *method, *path, *query; /* lines of a free-form input */
	char route[ROUTE_LINE_MAX];		/* the route row, split in place */
	buf doc, q;				/* a route's path and query */
} req_text;

static void req_text_free(req_text *t)
{
	free(t->if_match);
	free(t->method);
	free(t->path);
	free(t->query);
	buf_free(&t->doc);
	buf_free(&t->q);
}

/* Splits off the text up to the first '\n' (NUL-terminated copy in *line). */
static const char *take_line(const char *p, const char *end, char **line)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *stop = nl ? nl : end;

	*line = strndup(p, (size_t)(stop - p));
	return nl ? nl + 1 : end;
}

/* Does route sel hand the body to SQL as it came (see the file comment)? */
static int body_goes_to_sql(unsigned sel, const cJSON *body)
{
	const cJSON *op;

	switch (sel) {
	case 0: /* exams */
	case 2: /* save */
	case 3: /* submit */
	case 4: /* activity */
		return 1;
	case 6: /* batch: C dispatches on the first "operation" */
		op = cJSON_GetObjectItemCaseSensitive(body, "operation");
		return cJSON_IsString(op) && (strcmp(op->valuestring, "batch_save") == 0 ||
					      strcmp(op->valuestring, "batch_log") == 0);
	default:
		return 0;
	}
}

static void check_sql_view(unsigned sel, const fake_req *r, int status)
{
	cJSON *body;

	if (allow_dup_keys || status != 503 || sel >= NROUTE_CASES)
		return;
	body = json_parse(r->body, r->body_len);
	if (body != NULL && body_goes_to_sql(sel, body) && fuzz_has_duplicate_keys(body)) {
		fprintf(stderr,
			"fuzz_bodies: %s %s?%s: a body with a repeated member name was "
			"validated by C (first wins) and handed to SQL (jsonb: last wins)\n",
			r->cgi.value[FUZZ_CGI_METHOD], r->cgi.value[FUZZ_CGI_DOCUMENT_URI],
			r->cgi.value[FUZZ_CGI_QUERY]);
		abort();
	}
	cJSON_Delete(body);
}

static void serve(unsigned sel, fake_req *r)
{
	buf out = BUF_INIT;
	int status;

	status = app_serve(the_app, fake_param, fake_read, r, fuzz_sink_write, &out);
	if (status < 0)
		abort(); /* the sink never fails */
	if (debug)
		fprintf(stderr, "%s %s?%s -> %.*s\n", r->cgi.value[FUZZ_CGI_METHOD],
			r->cgi.value[FUZZ_CGI_DOCUMENT_URI], r->cgi.value[FUZZ_CGI_QUERY],
			(int)out.len, out.data);
	check_response(status, &out,
		       strcmp(r->cgi.value[FUZZ_CGI_DOCUMENT_URI], "/api/health") == 0);
	buf_free(&out);
	check_sql_view(sel, r, status);
}

static void direct_events(const char *body, size_t len, unsigned flags)
{
	cJSON *root = json_parse(body, len);
	const cJSON *events = root;
	reply_bad_field bad;

	if (root == NULL)
		return;
	if (cJSON_IsObject(root))
		events = cJSON_GetObjectItemCaseSensitive(root, "events");
	memset(&bad, 0, sizeof bad);
	if (events_within_limits(events, (flags & 1) ? "data[7]." : "", &cfg, &bad) != 0) {
		if (bad.status != 413 || bad.code == NULL || bad.message == NULL ||
		    strnlen(bad.field, sizeof bad.field) == sizeof bad.field ||
		    bad.field[0] == '\0')
			abort();
	} else if (cJSON_IsArray(events) && cJSON_GetArraySize(events) > cfg.max_events) {
		abort();
	}
	cJSON_Delete(root);
}

/* Sets r's method, path and query for route row sel (the path id and
 * the alias as the flags say) and returns where the body starts in
 * p..end. GET routes and the upload POST (whose body nginx stores as a
 * file) read no JSON body: the rest of the input, up to a NUL, extends
 * their query instead. */
static const char *route_request(unsigned sel, unsigned flags, const char *p, const char *end,
				 req_text *t, fake_req *r)
{
	const char *id = (flags & FL_BAD_ID) ? "5F2B8C1E-3D4A-4B6C-9E8F-0A1B2C3D4E5F" : FUZZ_UUID;
	char *path, *query, *slot;
	int get;

	snprintf(t->route, sizeof t->route, "%s", route_table[sel]);
	path = strchr(t->route, ' ');
	*path++ = '\0';
	query = strchr(path, '?');
	if (query != NULL)
		*query++ = '\0';
	get = strcmp(t->route, "GET") == 0 ||
	      (query != NULL && strcmp(query, "action=upload") == 0);
	slot = strstr(path, "%s");
	if (slot != NULL) {
		buf_append(&t->doc, path, (size_t)(slot - path));
		buf_puts(&t->doc, id);
		buf_puts(&t->doc, slot + 2);
	} else {
		buf_puts(&t->doc, path);
	}
	if ((flags & FL_ROUTETS) && strncmp(path, "/api/attempts/", 14) == 0)
		buf_puts(&t->doc, "/route.ts");
	if (query != NULL)
		buf_puts(&t->q, query);
	if (get) {
		if (t->q.len > 0 && *p)
			buf_putc(&t->q, '&');
		buf_puts(&t->q, p);
		p = end;
	}
	buf_putc(&t->q, '\0');
	r->cgi.value[FUZZ_CGI_METHOD] = t->route;
	r->cgi.value[FUZZ_CGI_DOCUMENT_URI] = t->doc.data;
	r->cgi.value[FUZZ_CGI_QUERY] = t->q.data;
	return p;
}

/* Sets r's method, path and query from the first three lines of p..end
 * and returns where the body starts. */
static const char *free_form_request(const char *p, const char *end, req_text *t, fake_req *r)
{
	p = take_line(p, end, &t->method);
	p = take_line(p, end, &t->path);
	p = take_line(p, end, &t->query);
	r->cgi.value[FUZZ_CGI_METHOD] = t->method;
	r->cgi.value[FUZZ_CGI_DOCUMENT_URI] = t->path;
	r->cgi.value[FUZZ_CGI_QUERY] = t->query;
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p, *end;
	char *text, clen[32];
	unsigned sel, flags;
	fake_req r;
	req_text t = {.doc = BUF_INIT, .q = BUF_INIT};

	if (size < 2)
		return 0;
	sel = data[0] % (NROUTE_CASES + 2);
	flags = data[1];
	/* A NUL-terminated copy (the body itself keeps its NULs for the read). */
	text = malloc(size - 1);
	if (text == NULL)
		return 0;
	memcpy(text, data + 2, size - 2);
	text[size - 2] = '\0';
	p = text;
	end = text + size - 2;

	if (sel == ROUTE_EVENTS) {
		direct_events(p, (size_t)(end - p), flags);
		free(text);
		return 0;
	}
	memset(&r, 0, sizeof r);
	r.cgi.value[FUZZ_CGI_AUTHORIZATION] =
		(flags & FL_ROLE) == 3 ? ((flags & FL_BAD_ID) ? NULL : "Bearer x.y.z")
				       : tokens[flags & FL_ROLE];
	r.cgi.value[FUZZ_CGI_CONTENT_TYPE] = "application/json";
	if (flags & FL_IFMATCH)
		p = take_line(p, end, &t.if_match);
	r.cgi.value[FUZZ_CGI_IF_MATCH] = t.if_match;
	if (sel == ROUTE_FREE_FORM)
		p = free_form_request(p, end, &t, &r);
	else
		p = route_request(sel, flags, p, end, &t, &r);
	r.body = p;
	r.body_len = (size_t)(end - p);
	r.one_byte_reads = (flags & FL_BYTEWISE) != 0;
	if ((flags & (FL_CLEN | FL_CLEN_BAD)) == FL_CLEN_BAD)
		r.cgi.value[FUZZ_CGI_UPLOADS_VIA_FILE] = "1";
	if (flags & FL_CLEN) {
		snprintf(clen, sizeof clen, "%zu", r.body_len + ((flags & FL_CLEN_BAD) ? 1 : 0));
		r.cgi.value[FUZZ_CGI_CONTENT_LENGTH] = clen;
	}
	if (r.cgi.value[FUZZ_CGI_METHOD] != NULL && r.cgi.value[FUZZ_CGI_DOCUMENT_URI] != NULL &&
	    !t.q.failed && !t.doc.failed)
		serve(sel, &r);
	req_text_free(&t);
	free(text);
	return 0;
}
