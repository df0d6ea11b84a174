/* log: leveled, thread-safe, one-line log records on stderr.
 * Owns formatting only; never pass secrets or tokens to it. */
#ifndef ATT_LOG_H
#define ATT_LOG_H

#include "att_err.h"

typedef enum log_level {
	LOG_LVL_DEBUG = 0,
	LOG_LVL_INFO,
	LOG_LVL_WARN,
	LOG_LVL_ERROR
} log_level;

/* Sets the lowest level written (default LOG_LVL_INFO). */
void log_set_level(log_level level);

/* Parses "debug", "info", "warn" or "error"; returns -1 if unknown. */
int log_level_parse(const char *name);

/* Writes one record "<time> <level> [pid] message\n" to stderr. */
void log_msg(log_level level, const char *fmt, ...) ATT_PRINTF(2, 3);

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

#endif
