/* hostile_stats: the statistics of a run: the kinds of traffic and of
 * failures, and the classification of each exchange. */
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

/* ================================================================ statistics */

const char *const kind_names[K_NKINDS] = {"garbage body",
					  "huge headers",
					  "deep JSON",
					  "invalid UTF-8",
					  "NUL bytes",
					  "slow body",
					  "random method/action",
					  "random path",
					  "2 MiB body",
					  "bad length/TE",
					  "valid token, random body"};

const char *const fail_names[F_NFAILS] = {
	"no answer within 10 s (hang)",
	"connection closed without an answer",
	"2xx to a request that cannot be valid",
	"an answer shows the foreign attempt's content",
	"error answered with nginx's own page, not the API.md 3 JSON shape",
	"error in JSON but not exactly the API.md 3 shape",
	"5xx not explained",
	"unexpected status (1xx/3xx/other)"};

stats g_stats;
pthread_mutex_t g_stats_lock = PTHREAD_MUTEX_INITIALIZER;

void printable(char *out, size_t cap, const char *p, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else if (c == '\n')
			o += (size_t)snprintf(out + o, cap - o, "\\n");
		else if (c != '\r')
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

static void fail(stats *s, int f, long index, const request *q, const answer *a, const char *why)
{
	char body[200];

	s->fails[f]++;
	if (s->fail_sample[f][0] != '\0')
		return;
	printable(body, sizeof body, a->body.data ? a->body.data : "",
		  a->body.len < 150 ? a->body.len : 150);
	snprintf(s->fail_sample[f], sizeof s->fail_sample[f],
		 "request #%ld (%s) %s -> status %d%s%s%s; %sbody: %s", index, kind_names[q->kind],
		 q->line, a->status, a->error[0] ? " (" : "", a->error, a->error[0] ? ")" : "",
		 why ? why : "", body);
}

/* Classifies one exchange into s. */
void account(stats *s, long index, const request *q, const answer *a)
{
	int st = a->status;
	int nonjson = st != 0 && !q->head && a->body.len > 0 && !is_json(&a->body);
	char why[128] = "";

	s->kind_count[q->kind]++;
	if (g_log != NULL)
		fprintf(g_log, "%ld %d %s [%s] %s%s%s\n", index, st,
			nonjson ? (by_nginx(a) ? "non-JSON(nginx)" : "non-JSON") : "-",
			kind_names[q->kind], q->line, a->error[0] ? " | " : "", a->error);
	if (q->slow_give_up) {
		s->slow_abandoned++;
		s->kind_status[q->kind][0]++;
		return;
	}
	s->kind_status[q->kind][st >= 100 && st < 600 ? st / 100 : 0]++;
	if (st == 0) {
		if (a->timed_out)
			fail(s, F_HANG, index, q, a, NULL);
		else if (!q->answer_optional)
			fail(s, F_NO_ANSWER, index, q, a, NULL);
		else
			s->closed_allowed++;
		return;
	}
	if (st < 100 || st >= 600) {
		fail(s, F_OTHER_STATUS, index, q, a, NULL);
		return;
	}
	s->per_status[st]++;
	if (!a->has_request_id)
		s->no_request_id[st]++;
	if (nonjson) {
		s->nonjson[st]++;
		if (by_nginx(a))
			s->nonjson_nginx[st]++;
		if (s->nonjson_sample[st][0] == '\0') {
			char body[120];
			printable(body, sizeof body, a->body.data,
				  a->body.len < 100 ? a->body.len : 100);
			snprintf(s->nonjson_sample[st], sizeof s->nonjson_sample[st],
				 "#%ld %s %.80s -> %s", index, kind_names[q->kind], q->line, body);
		}
	}
	if (g_marker != NULL && a->body.data != NULL && strstr(a->body.data, g_marker) != NULL)
		fail(s, F_LEAK, index, q, a, NULL);
	if (st >= 200 && st < 300) {
		if (!q->may_succeed)
			fail(s, F_BAD_2XX, index, q, a, NULL);
		else
			s->valid_2xx++;
	} else if (st >= 400) {
		/* Every error, nginx's own included (API.md 3), has the shape. */
		if (!q->head && !error_shape_ok(&a->body, why, sizeof why)) {
			strncat(why, "; ", sizeof why - strlen(why) - 1);
			fail(s, nonjson && by_nginx(a) ? F_NGINX_PAGE : F_BAD_SHAPE, index, q, a,
			     why);
		}
		if (st >= 500) {
			if (q->explained_5xx && (st == 501 || st == 505))
				s->explained_5xx++;
			else
				fail(s, F_5XX, index, q, a, NULL);
		}
	} else {
		fail(s, F_OTHER_STATUS, index, q, a, NULL);
	}
}
