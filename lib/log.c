/* log: one-line records on stderr; a single write(2) per record keeps
 * lines from different threads and processes whole. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int log_min_level = LOG_LVL_INFO;

void log_set_level(log_level level)
{
	log_min_level = (int)level;
}

int log_level_parse(const char *name)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

void log_msg(log_level level, const char *fmt, ...)
{
	static const char *const tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
	char line[1024];
	struct timespec ts;
	struct tm tm;
	size_t n;
	va_list ap;
	int w;

	if ((int)level < log_min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ", &tm);
	w = snprintf(line + n, sizeof line - n, " %s [%ld] ", tags[level],
		     (long)getpid());
	if (w > 0)
		n += (size_t)w < sizeof line - n ? (size_t)w : sizeof line - n - 1;
	va_start(ap, fmt);
	w = vsnprintf(line + n, sizeof line - n, fmt, ap);
	va_end(ap);
	if (w > 0)
		n += (size_t)w < sizeof line - n ? (size_t)w : sizeof line - n - 1;
	if (n >= sizeof line - 1)
		n = sizeof line - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
