/* fill: large texts from a template (see fill.h). */
#include "fill.h"

#include <stdlib.h>
#include <string.h>

char *fill_at(const char *tmpl, char c, size_t n)
{
	const char *at = strchr(tmpl, '@');
	size_t len = strlen(tmpl), head;
	char *out;

	if (at == NULL)
		return strdup(tmpl);
	head = (size_t)(at - tmpl);
	out = malloc(len + n);
	if (out == NULL)
		return NULL;
	memcpy(out, tmpl, head);
	memset(out + head, c, n);
	memcpy(out + head + n, at + 1, len - head);
	return out;
}

char *fill_big_save(size_t part)
{
	char *half = fill_at("{\"answers\":{\"essay\":\"@\"},\"auto_save_data\":{\"draft\":\"@\"}}",
			     'a', part);
	char *whole = half ? fill_at(half, 'b', part) : NULL;

	free(half);
	return whole;
}
