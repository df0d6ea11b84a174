/* http_cond: conditional and cache-control request headers. */
#include "http_cond.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int http_cond_if_match(const char *value, long *version)
{
	const char *p = value;
	char *end;
	long v;
	int quoted = 0;

	if (p == NULL)
		return 0;
	while (*p == ' ')
		p++;
	if (strcmp(p, "*") == 0 || *p == '\0')
		return 0;
	if (strncmp(p, "W/", 2) == 0)
		p += 2;
	if (*p == '"') {
		quoted = 1;
		p++;
	}
	if (*p < '0' || *p > '9')
		return -1;
	v = strtol(p, &end, 10);
	if (quoted && *end++ != '"')
		return -1;
	while (*end == ' ')
		end++;
	if (*end != '\0' || v < 0 || v > 2147483647L)
		return -1;
	*version = v;
	return 1;
}

int http_cond_etag_matches(const char *if_none_match, long long version)
{
	char want[32];
	const char *p = if_none_match;
	size_t wlen;

	if (p == NULL)
		return 0;
	snprintf(want, sizeof want, "\"%lld\"", version);
	wlen = strlen(want);
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (strncmp(p, want, wlen) == 0 &&
		    (p[wlen] == '\0' || p[wlen] == ',' || p[wlen] == ' '))
			return 1;
		while (*p && *p != ',')
			p++;
	}
	return 0;
}

int http_cond_no_cache(const char *cache_control)
{
	return cache_control != NULL && (strcasestr(cache_control, "no-cache") != NULL ||
					 strcasestr(cache_control, "no-store") != NULL);
}
