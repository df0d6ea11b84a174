/* hostile_gen: the generators of the traffic: identities (valid and bad
 * tokens), target attempts, random and plausible JSON bodies, and the
 * head and end of a raw request. */
#include <cJSON.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "uuid.h"
#include "hostile.h"
#include "../api_member_names.h"

/* ================================================================ generators */

/* A random identity: a valid token (any role), or sometimes none or a bad
 * one. *valid says whether the token is one the service accepts; *student
 * is the student index or -1. */
const char *pick_token(rng *r, int *valid, int *student)
{
	unsigned k = below(r, 100);

	*student = -1;
	*valid = 1;
	if (k < 55) {
		*student = (int)below(r, NSTUDENTS);
		return g_students[*student].token;
	}
	if (k < 70)
		return g_proctor.token;
	if (k < 82)
		return g_admin.token;
	*valid = 0;
	if (k < 90)
		return NULL;
	return g_bad_tokens[below(r, 3)];
}

/* An attempt id for a request by student (or -1 for staff). The foreign
 * attempt is aimed at only by students, never staff. */
void pick_attempt(rng *r, int student, char out[ID_LEN + 40])
{
	static const char *const odd[] = {"new",
					  "any-id",
					  "not-a-uuid",
					  "00000000-0000-0000-0000-00000000000",
					  "00000000-0000-4000-8000-00000000000G",
					  "AAAAAAAA-0000-4000-8000-000000000000",
					  "%2e%2e",
					  "-1",
					  "0"};
	unsigned k = below(r, 100);

	if (k < 40 && student >= 0)
		snprintf(out, ID_LEN + 40, "%s", g_students[student].attempt);
	else if (k < 65)
		snprintf(out, ID_LEN + 40, "%s", g_students[below(r, NSTUDENTS)].attempt);
	else if (k < 75 && g_foreign != NULL && student >= 0)
		snprintf(out, ID_LEN + 40, "%s", g_foreign);
	else if (k < 88)
		rand_uuid(r, out);
	else
		snprintf(out, ID_LEN + 40, "%s", PICK(r, odd));
}

/* A random JSON value (text), depth-bounded. */
void rand_json(rng *r, buf *b, int depth)
{
	static const char *const keys[] = {API_MEMBER_NAMES, "q1",    "q2",	 "",
					   "__proto__",	     "error", "\\u0000", "a\\\"b"};
	static const char *const strings[] = {"",
					      "x",
					      "focus",
					      "state",
					      "info",
					      "batch_save",
					      "query",
					      "clear_cache",
					      "preload",
					      "analyze",
					      "2030-01-01T00:00:00Z",
					      "not a date",
					      "\\ud800",
					      "\\u0000",
					      "' OR '1'='1",
					      "\\\"; DROP TABLE x; --",
					      "%00",
					      "\\n\\r",
					      "\\u00e9\\u4e2d"};
	static const char *const numbers[] = {"0",
					      "-1",
					      "1",
					      "3",
					      "600",
					      "86401",
					      "2147483648",
					      "1e309",
					      "-0",
					      "0.5",
					      "9007199254740993",
					      "1E2",
					      "123456789012345678901234567890"};
	unsigned k = below(r, depth > 3 ? 6 : 9);

	switch (k) {
	case 0:
		buf_puts(b, PICK(r, numbers));
		break;
	case 1:
		buf_printf(b, "\"%s\"", PICK(r, strings));
		break;
	case 2:
		buf_puts(b, chance(r, 50) ? "true" : "false");
		break;
	case 3:
		buf_puts(b, "null");
		break;
	case 4: /* an attempt id, never the foreign one (staff may send this) */
		buf_printf(b, "\"%s\"", g_students[below(r, NSTUDENTS)].attempt);
		break;
	case 5:
		buf_printf(b, "\"%s\"", g_exam);
		break;
	case 6:
	case 7: {
		unsigned n = below(r, 5);
		buf_puts(b, "{");
		for (unsigned i = 0; i < n; i++) {
			buf_printf(b, "%s\"%s\":", i ? "," : "", PICK(r, keys));
			rand_json(r, b, depth + 1);
		}
		buf_puts(b, "}");
		break;
	}
	default: {
		unsigned n = below(r, 4);
		buf_puts(b, "[");
		for (unsigned i = 0; i < n; i++) {
			if (i)
				buf_puts(b, ",");
			rand_json(r, b, depth + 1);
		}
		buf_puts(b, "]");
		break;
	}
	}
}

/* A body shaped like what action expects, with random parts. */
void plausible_body(rng *r, const char *action, int student, buf *b)
{
	char id[ID_LEN + 40];

	if (action == NULL) { /* POST /api/exams */
		buf_puts(b, "{\"title\":");
		rand_json(r, b, 2);
		buf_puts(b, ",\"time_limit_s\":");
		buf_puts(b, chance(r, 50) ? "3600" : "null");
		buf_puts(b, "}");
	} else if (strcmp(action, "save") == 0) {
		buf_puts(b, "{\"answers\":{\"q1\":");
		rand_json(r, b, 1);
		buf_puts(b, "},\"auto_save_data\":");
		rand_json(r, b, 1);
		if (chance(r, 30))
			buf_printf(b, ",\"expected_version\":%u", below(r, 5));
		buf_puts(b, "}");
	} else if (strcmp(action, "submit") == 0) {
		if (chance(r, 50))
			buf_puts(b, "{}");
		else
			buf_puts(b, "{\"answers\":{\"final\":true}}");
	} else if (strcmp(action, "activity") == 0) {
		buf_puts(b, "{\"events\":[{\"event_type\":\"focus\",\"payload\":");
		rand_json(r, b, 1);
		if (chance(r, 50))
			buf_printf(b, ",\"client_event_id\":\"h%u\"", below(r, 50));
		buf_puts(b, "}]}");
	} else if (strcmp(action, "batch") == 0) {
		static const char *const ops[] = {
			"batch_save",	"multiple_states", "batch_log", "validate_multiple",
			"batch_submit", "query",	   "nope"};
		const char *op = PICK(r, ops);
		unsigned n = below(r, 4);
		buf_printf(b, "{\"operation\":\"%s\",\"data\":[", op);
		for (unsigned i = 0; i < n; i++) {
			pick_attempt(r, student, id);
			if (i)
				buf_puts(b, ",");
			if (strcmp(op, "batch_save") == 0)
				buf_printf(b, "{\"attempt_id\":\"%s\",\"answers\":{\"b\":%u}}", id,
					   below(r, 9));
			else if (strcmp(op, "batch_log") == 0)
				buf_printf(
					b,
					"{\"attempt_id\":\"%s\",\"events\":[{\"event_type\":\"b\"}"
					"]}",
					id);
			else if (strcmp(op, "query") == 0)
				buf_printf(b, "{\"type\":\"%s\",\"attempt_id\":\"%s\"}",
					   chance(r, 50) ? "state" : "info", id);
			else
				buf_printf(b, "\"%s\"", id);
		}
		buf_puts(b, "]}");
	} else if (strcmp(action, "start") == 0) {
		buf_printf(b, "{\"exam_id\":\"%s\"}", g_exam);
	} else if (strcmp(action, "optimize") == 0) {
		static const char *const ops[] = {"clear_cache", "preload", "analyze", "vacuum"};
		buf_printf(b, "{\"operation\":\"%s\",\"exam_ids\":[\"%s\"]}", PICK(r, ops), g_exam);
	} else if (strcmp(action, "extend") == 0) {
		buf_puts(b, "{\"extra_s\":");
		buf_puts(b, chance(r, 50) ? "60" : "0");
		buf_puts(b, "}");
	} else {
		rand_json(r, b, 0);
	}
}

/* The start of a request: request line, Host, Connection: close and
 * optionally a bearer token. */
void head(buf *raw, const char *method, const char *target, const char *token)
{
	buf_printf(raw, "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n", method, target,
		   g_host, g_port);
	if (token != NULL)
		buf_printf(raw, "Authorization: Bearer %s\r\n", token);
}

/* Ends the head and appends a body with its Content-Length. */
void finish(buf *raw, const char *ctype, const char *body, size_t len)
{
	if (body != NULL) {
		buf_printf(raw, "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
			   ctype ? ctype : "application/json", len);
		buf_append(raw, body, len);
	} else {
		buf_puts(raw, "\r\n");
	}
}
