/* examday_student: the schedule and the student model: the timer heap
 * and the queue of students due, each student's intended send times
 * (saves, activity, state reads, the deadline storm's submit and late
 * save), what each request says and what each answer means to the
 * student (its version, its acknowledged saves). */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "examday.h"

int *ready, ready_head, ready_len, ready_cap;
hent *heap;
int heap_len, heap_cap;

/* ------------------------------------------------------------ timer heap */

void heap_push(double t, int sid)
{
	int i;

	if (heap_len == heap_cap) {
		heap_cap = heap_cap ? 2 * heap_cap : 4096;
		heap = realloc(heap, (size_t)heap_cap * sizeof *heap);
		if (heap == NULL)
			die("out of memory");
	}
	i = heap_len++;
	while (i > 0 && heap[(i - 1) / 2].t > t) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i].t = t;
	heap[i].sid = sid;
}

hent heap_pop(void)
{
	hent top = heap[0], last = heap[--heap_len];
	int i = 0;

	for (;;) {
		int c = 2 * i + 1;
		if (c >= heap_len)
			break;
		if (c + 1 < heap_len && heap[c + 1].t < heap[c].t)
			c++;
		if (heap[c].t >= last.t)
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (heap_len > 0)
		heap[i] = last;
	return top;
}

/* ------------------------------------------------------------ schedule */

/* The first time off + k * period (k >= 0) after t. */
double next_after(double off, double period, double t)
{
	double k = ceil((t - off) / period);

	if (k < 0)
		k = 0;
	if (off + k * period <= t)
		k++;
	return off + k * period;
}

double clip(const phase *ph, double t)
{
	return t < ph->end_ms ? t : INFINITY;
}

/* The save after one intended at t. */
static double next_save(const student *s, const phase *ph, double t)
{
	double dl, burst;

	if (!ph->deadline)
		return clip(ph, t + SAVE_MS);
	dl = s->deadline_ms - (double)g_grace_s * 1000.0; /* the deadline itself */
	burst = dl - 10000.0;
	if (t < burst)
		return t + SAVE_MS < burst ? t + SAVE_MS : burst;
	t += 2000.0;
	return t <= dl - 2000.0 + 1 ? t : INFINITY;
}

static void enqueue_ready(int sid)
{
	if (ready_len == ready_cap) {
		int *n = xmalloc((size_t)(ready_cap ? 2 * ready_cap : 4096) * sizeof *n);
		for (int k = 0; k < ready_len; k++)
			n[k] = ready[(ready_head + k) % ready_cap];
		free(ready);
		ready = n;
		ready_head = 0;
		ready_cap = ready_cap ? 2 * ready_cap : 4096;
	}
	ready[(ready_head + ready_len) % ready_cap] = sid;
	ready_len++;
}

/* An idle student: queue its earliest due request, or arm its timer. */
void student_schedule(int sid, double now)
{
	student *s = &S[sid];
	double t = INFINITY;
	int k, best = -1;

	if (s->busy || s->dead)
		return;
	for (k = 0; k < NK; k++) {
		if (s->due[k] < t) {
			t = s->due[k];
			best = k;
		}
	}
	if (best < 0)
		return;
	if (t > now) {
		heap_push(t, sid);
		return;
	}
	s->busy = 1;
	s->cur_kind = best;
	s->cur_intended = t;
	/* The next of this kind, fixed by the schedule, not by this one's answer. */
	switch (best) {
	case K_SAVE:
		s->due[K_SAVE] = next_save(s, &P[s->phase], t);
		break;
	case K_ACTIVITY:
		s->due[K_ACTIVITY] = clip(&P[s->phase], t + ACTIVITY_MS);
		break;
	case K_STATE:
		s->due[K_STATE] = clip(&P[s->phase], t + STATE_MS);
		break;
	default:
		s->due[best] = INFINITY;
	}
	enqueue_ready(sid);
}

/* The filler of save seq of student sid: n bytes of "s<sid>.<seq>." repeated. */
void filler(buf *b, int sid, int seq, int n)
{
	char unit[32];
	int u = snprintf(unit, sizeof unit, "s%d.%d.", sid, seq), i;

	for (i = 0; i < n; i++)
		buf_putc(b, unit[i % u]);
}

void build_request(conn *c, int sid)
{
	student *s = &S[sid];
	phase *ph = &P[s->phase];
	buf body = BUF_INIT;
	const char *method = "POST";
	char path[128];

	switch (s->cur_kind) {
	case K_START:
		snprintf(path, sizeof path, "/api/attempts/new?action=start");
		buf_printf(&body, "{\"exam_id\":\"%s\"}", ph->exam_id);
		break;
	case K_SAVE:
	case K_LATE:
		method = "PATCH";
		snprintf(path, sizeof path, "/api/attempts/%s?action=save", s->attempt_id);
		s->next_seq++;
		buf_printf(&body, "{\"answers\":{\"q%d\":\"", s->next_seq);
		filler(&body, sid, s->next_seq, (int)ph->value_bytes);
		buf_printf(&body,
			   "\",\"last\":\"%d\"},\"auto_save_data\":{\"seq\":%d},"
			   "\"expected_version\":%d}",
			   s->next_seq, s->next_seq, s->version);
		break;
	case K_ACTIVITY:
		snprintf(path, sizeof path, "/api/attempts/%s?action=activity", s->attempt_id);
		s->events++;
		buf_printf(&body,
			   "{\"events\":[{\"event_type\":\"heartbeat\",\"client_event_id\":\"ed-%d-"
			   "%d\","
			   "\"payload\":{\"n\":%d}}]}",
			   sid, s->events, s->events);
		break;
	case K_STATE:
		method = "GET";
		snprintf(path, sizeof path, "/api/attempts/%s?action=state", s->attempt_id);
		break;
	case K_SUBMIT:
		snprintf(path, sizeof path, "/api/attempts/%s?action=submit", s->attempt_id);
		buf_printf(&body, "{\"expected_version\":%d}", s->version);
		break;
	}
	buf_reset(&c->out);
	buf_printf(&c->out, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n",
		   method, path, s->token);
	if (body.len)
		buf_printf(&c->out, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
			   body.len);
	buf_puts(&c->out, "\r\n");
	if (body.len)
		buf_append(&c->out, body.data, body.len);
	buf_free(&body);
	if (c->out.failed)
		die("out of memory");
	c->out_off = 0;
}

/* ------------------------------------------------------------ answers */

static int json_int(const cJSON *o, const char *name, int dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? v->valueint : dflt;
}

static const char *error_code(const cJSON *j)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");

	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "code"));
}

/* RFC 3339 UTC ("2026-12-01T10:00:00.123456Z") to a monotonic ms time. */
static double deadline_mono(const char *s)
{
	struct tm tm = {0};
	struct timespec rt;
	const char *rest;
	double frac = 0;

	if (s == NULL || (rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return INFINITY;
	if (*rest == '.')
		frac = strtod(rest, NULL);
	clock_gettime(CLOCK_REALTIME, &rt);
	return now_ms() +
	       ((double)timegm(&tm) + frac - ((double)rt.tv_sec + (double)rt.tv_nsec / 1e9)) *
		       1000.0;
}

/* The deadline storm: the student's deadline from its start's answer j
 * and, from it, the times of its submit or late save and of its saves.
 * Returns 0 when the answer has no deadline. */
static int arm_deadline(student *s, phase *ph, const cJSON *j, double now)
{
	double dl;

	s->deadline_ms = deadline_mono(cJSON_GetStringValue(
				 cJSON_GetObjectItemCaseSensitive(j, "deadline_at"))) +
			 (double)g_grace_s * 1000.0;
	if (isinf(s->deadline_ms))
		return 0;
	dl = s->deadline_ms - (double)g_grace_s * 1000.0;
	if (s->deadline_ms > ph->last_deadline_ms)
		ph->last_deadline_ms = s->deadline_ms;
	if (s->submitter)
		s->due[K_SUBMIT] = dl - 1000.0;
	else
		s->due[K_LATE] = s->deadline_ms + 1000.0;
	/* the first save at or after now, then next_save's rhythm */
	if (s->due[K_SAVE] > dl - 2000.0)
		s->due[K_SAVE] = dl - 10000.0 > now ? dl - 10000.0 : now;
	return 1;
}

/* A start's answer (j: its body when 2xx, else NULL): the attempt and
 * its version; a student whose start failed sends nothing more. Returns
 * whether it went as it should. */
static int start_answered(student *s, phase *ph, const cJSON *j, double now)
{
	int ok = j != NULL;

	if (j != NULL) {
		const char *id =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "attempt_id"));
		snprintf(s->attempt_id, sizeof s->attempt_id, "%s", id ? id : "");
		s->version = json_int(j, "version", 1);
		if (ph->deadline)
			ok = arm_deadline(s, ph, j, now);
	}
	if (!ok || !uuid_valid(s->attempt_id)) {
		s->dead = 1;
		return 0;
	}
	return 1;
}

/* A save's answer; late: the deadline storm's save after deadline +
 * grace, which must be refused (409 attempt_closed, or
 * attempt_submitted when the sweep came first). Returns whether it went
 * as it should. */
static int save_answered(student *s, phase *ph, int status, const cJSON *j, int late)
{
	const char *code = j ? error_code(j) : NULL;

	if (status >= 200 && status < 300) {
		s->acked_saves++;
		s->last_acked_seq = s->next_seq;
		s->version = json_int(j, "version", s->version + 1);
		return !late; /* a save after the deadline must not be accepted */
	}
	if (status == 0 || status >= 500) {
		s->unknown_saves++;
	} else if (status == 409 && code != NULL) {
		if (!late && strcmp(code, "version_conflict") == 0) {
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "details");
			s->version = json_int(d, "current_version", s->version);
		} else if (late && strcmp(code, "attempt_closed") == 0) {
			ph->late_closed++;
			return 1;
		} else if (late && strcmp(code, "attempt_submitted") == 0) {
			ph->late_submitted++;
			return 1;
		}
	}
	return 0;
}

/* Handles the answer (status 0: none) to the student's current request. */
void complete(int sid, int status, const char *body, double now)
{
	student *s = &S[sid];
	phase *ph = &P[s->phase];
	int k = s->cur_kind, ok = status >= 200 && status < 300;
	cJSON *j = body && *body ? cJSON_Parse(body) : NULL;

	hist_add(&ph->h[k], now - s->cur_intended);
	ph->answered++;
	if (status >= 0 && status < 600)
		ph->status[status]++;
	switch (k) {
	case K_START:
		ok = start_answered(s, ph, ok ? j : NULL, now);
		break;
	case K_SAVE:
	case K_LATE:
		ok = save_answered(s, ph, status, j, k == K_LATE);
		break;
	case K_SUBMIT:
		if (ok) {
			s->submitted = 1;
			s->version = json_int(j, "version", s->version + 1);
		}
		break;
	case K_STATE:
		if (ok && json_int(j, "version", -1) < s->version)
			ph->stale_reads++;
		break;
	default:
		break;
	}
	if (ok)
		ph->ok[k]++;
	else
		ph->err[k]++;
	cJSON_Delete(j);
	s->busy = 0;
	if (s->dead) {
		for (int q = 0; q < NK; q++)
			s->due[q] = INFINITY;
	}
	student_schedule(sid, now);
}
