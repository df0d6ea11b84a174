/* log: one-line records on stderr; a single write(2) per record keeps
 * lines from different threads and processes whole. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int log_min_level = LOG_LVL_INFO;
static volatile int log_fmt = LOG_FORMAT_TEXT;
static __thread char log_rid[LOG_REQUEST_ID_MAX + 1];

void log_set_level(log_level level)
{
	log_min_level = (int)level;
}

int log_enabled(log_level level)
{
	return (int)level >= log_min_level;
}

int log_level_parse(const char *name)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

void log_set_format(log_format format)
{
	log_fmt = (int)format;
}

int log_format_parse(const char *name)
{
	if (strcmp(name, "text") == 0)
		return LOG_FORMAT_TEXT;
	if (strcmp(name, "json") == 0)
		return LOG_FORMAT_JSON;
	return -1;
}

void log_set_request_id(const char *request_id)
{
	size_t n = request_id != NULL ? strnlen(request_id, LOG_REQUEST_ID_MAX) : 0;

	/* Twice per request: no snprintf. */
	memcpy(log_rid, request_id != NULL ? request_id : "", n);
	log_rid[n] = '\0';
}

const char *log_request_id(void)
{
	return log_rid;
}

/* An output cursor that never overruns: the last byte of cap is kept for
 * the newline. */
typedef struct out_cur {
	char *p;
	size_t n, cap;
} out_cur;

static size_t room(const out_cur *o)
{
	return o->n + 1 < o->cap ? o->cap - 1 - o->n : 0;
}

static void put(out_cur *o, const char *s, size_t len)
{
	size_t left = room(o);

	if (len > left)
		len = left;
	memcpy(o->p + o->n, s, len);
	o->n += len;
}

static void puts_(out_cur *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Appends msg on one line: a run of CR/LF and the blanks after it becomes
 * one space (libpq's "ERROR: ...\nDETAIL: ..."), a trailing one nothing;
 * other control bytes become '?' (text) or JSON escapes (json, which
 * also escapes '"' and '\'). Nothing is cut inside an escape. */
static void put_message(out_cur *o, const char *msg, int json)
{
	const unsigned char *s = (const unsigned char *)msg;

	while (*s) {
		if (*s == '\n' || *s == '\r') {
			while (*s == '\n' || *s == '\r' || *s == ' ' || *s == '\t')
				s++;
			if (*s)
				put(o, " ", 1);
			continue;
		}
		if (json && (*s == '"' || *s == '\\')) {
			char esc[2] = {'\\', (char)*s};
			if (room(o) < 2)
				return;
			put(o, esc, 2);
		} else if (*s < 0x20 || *s == 0x7f) {
			if (json) {
				char esc[8];
				if (room(o) < 6)
					return;
				snprintf(esc, sizeof esc, "\\u%04x", *s);
				put(o, esc, 6);
			} else {
				put(o, *s == '\t' ? " " : "?", 1);
			}
		} else {
			put(o, (const char *)s, 1);
		}
		s++;
	}
}

size_t log_render(char *out, size_t cap, log_format format, log_level level, long long epoch_ms,
		  long pid, const char *request_id, const char *msg)
{
	static const char *const tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
	static const char *const names[] = {"debug", "info", "warn", "error"};
	out_cur o = {out, 0, cap};
	char stamp[64], num[32];
	time_t secs = (time_t)(epoch_ms / 1000);
	struct tm tm;
	int has_rid = request_id != NULL && request_id[0] != '\0';

	gmtime_r(&secs, &tm);
	if (format == LOG_FORMAT_JSON) {
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
		puts_(&o, "{\"ts\":\"");
		puts_(&o, stamp);
		snprintf(num, sizeof num, ".%03dZ", (int)(epoch_ms % 1000));
		puts_(&o, num);
		puts_(&o, "\",\"level\":\"");
		puts_(&o, names[level]);
		snprintf(num, sizeof num, "\",\"pid\":%ld", pid);
		puts_(&o, num);
		puts_(&o, ",\"request_id\":");
		if (has_rid) {
			puts_(&o, "\"");
			put_message(&o, request_id, 1);
			puts_(&o, "\"");
		} else {
			puts_(&o, "null");
		}
		puts_(&o, ",\"msg\":\"");
		/* Room for the closing "} whatever the message. */
		o.cap -= 2;
		put_message(&o, msg, 1);
		o.cap += 2;
		puts_(&o, "\"}");
	} else {
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
		puts_(&o, stamp);
		snprintf(num, sizeof num, " %s [%ld] ", tags[level], pid);
		puts_(&o, num);
		if (has_rid) {
			puts_(&o, "request_id=");
			put_message(&o, request_id, 0);
			puts_(&o, " ");
		}
		put_message(&o, msg, 0);
	}
	out[o.n++] = '\n';
	return o.n;
}

void log_msg(log_level level, const char *fmt, ...)
{
	char msg[1024], line[2048];
	struct timespec ts;
	va_list ap;
	size_t n;

	if ((int)level < log_min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	n = log_render(line, sizeof line, (log_format)log_fmt, level,
		       (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, (long)getpid(), log_rid,
		       msg);
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

int log_limit_allow(log_limit *l, long long now_ms, long interval_ms, unsigned *suppressed)
{
	long long next = atomic_load_explicit(&l->next_ms, memory_order_relaxed);

	if (now_ms < next ||
	    !atomic_compare_exchange_strong(&l->next_ms, &next, now_ms + interval_ms)) {
		atomic_fetch_add(&l->suppressed, 1);
		return 0;
	}
	if (suppressed != NULL)
		*suppressed = atomic_exchange(&l->suppressed, 0);
	else
		atomic_store(&l->suppressed, 0);
	return 1;
}
