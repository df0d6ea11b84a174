/* log: leveled, thread-safe log records on stderr, one line each (text or
 * JSON), each naming the process and the request its thread is serving.
 * Owns formatting, the thread's current request id and rate limiting of
 * repeated lines; never pass secrets or tokens to it. */
#ifndef ATT_LOG_H
#define ATT_LOG_H

#include <stdatomic.h>
#include <stddef.h>

#include "att_err.h"

typedef enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR } log_level;

typedef enum log_format {
	LOG_FORMAT_TEXT = 0, /* "<time> <LEVEL> [pid] request_id=<id> message" */
	LOG_FORMAT_JSON	     /* {"ts","level","pid","request_id","msg"} */
} log_format;

/* The longest request id kept (longer ones are cut). */
#define LOG_REQUEST_ID_MAX 128

/* Sets the lowest level written (default LOG_LVL_INFO). */
void log_set_level(log_level level);

/* Is level written? (For lines that cost something to prepare.) */
int log_enabled(log_level level);

/* Parses "debug", "info", "warn" or "error"; returns -1 if unknown. */
int log_level_parse(const char *name);

/* Sets the record format (default LOG_FORMAT_TEXT). */
void log_set_format(log_format format);

/* Parses "text" or "json"; returns -1 if unknown. */
int log_format_parse(const char *name);

/* Sets the request the calling thread serves (copied; NULL or "" for
 * none): every record the thread writes names it until it is cleared. */
void log_set_request_id(const char *request_id);

/* The calling thread's current request id, "" if none. */
const char *log_request_id(void);

/* Writes one record to stderr in a single write(2): the message (printf
 * format) with line breaks folded into spaces and other control
 * characters replaced, so that a record is always one line. */
void log_msg(log_level level, const char *fmt, ...) ATT_PRINTF(2, 3);

/* Renders one record into out (size cap >= 64), newline-terminated, and
 * returns its length. epoch_ms is the wall-clock time; request_id may be
 * NULL or "". Pure: for log_msg and the tests. */
size_t log_render(char *out, size_t cap, log_format format, log_level level, long long epoch_ms,
		  long pid, const char *request_id, const char *msg);

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

/* A rate limit for a line that may repeat (a failing connect, a flapping
 * state): at most one line per interval. Zero-initialised (LOG_LIMIT_INIT),
 * usually static at the call site. */
typedef struct log_limit {
	atomic_llong next_ms;	/* monotonic: the next line allowed from then */
	atomic_uint suppressed; /* lines refused since the last one allowed */
} log_limit;

#define LOG_LIMIT_INIT                                                                             \
	{                                                                                          \
		0, 0                                                                               \
	}

/* May the line be written now (1), at most once per interval_ms? On 1,
 * *suppressed (may be NULL) gets how many were refused since the last
 * line allowed, for the line to say so. now_ms: monotonic clock. */
int log_limit_allow(log_limit *l, long long now_ms, long interval_ms, unsigned *suppressed);

#endif
