/* fuzz_util: the CGI parameter table, the response sink and the
 * repeated-member-name walk the harnesses share (fuzz_util.h). */
#include <string.h>

#include "buf.h"
#include "fuzz_util.h"

static const char *const cgi_names[FUZZ_CGI_COUNT] = {
	[FUZZ_CGI_METHOD] = "REQUEST_METHOD",
	[FUZZ_CGI_QUERY] = "QUERY_STRING",
	[FUZZ_CGI_DOCUMENT_URI] = "DOCUMENT_URI",
	[FUZZ_CGI_REQUEST_URI] = "REQUEST_URI",
	[FUZZ_CGI_ATTEMPTS_PATH] = "ATTEMPTS_PATH",
	[FUZZ_CGI_SCRIPT_NAME] = "SCRIPT_NAME",
	[FUZZ_CGI_PATH_INFO] = "PATH_INFO",
	[FUZZ_CGI_REQUEST_ID] = "HTTP_X_REQUEST_ID",
	[FUZZ_CGI_AUTHORIZATION] = "HTTP_AUTHORIZATION",
	[FUZZ_CGI_IF_MATCH] = "HTTP_IF_MATCH",
	[FUZZ_CGI_IF_NONE_MATCH] = "HTTP_IF_NONE_MATCH",
	[FUZZ_CGI_CONTENT_LENGTH] = "CONTENT_LENGTH",
	[FUZZ_CGI_CONTENT_TYPE] = "CONTENT_TYPE",
	[FUZZ_CGI_UPLOADS_VIA_FILE] = "ATTEMPTS_UPLOADS_VIA_FILE",
};

const char *fuzz_cgi_param(void *ctx, const char *name)
{
	const fuzz_cgi *cgi = ctx;

	for (int i = 0; i < FUZZ_CGI_COUNT; i++)
		if (strcmp(cgi_names[i], name) == 0)
			return cgi->value[i];
	return NULL;
}

int fuzz_sink_write(void *ctx, const char *data, size_t n)
{
	buf_append(ctx, data, n);
	return 0;
}

int fuzz_has_duplicate_keys(const cJSON *item)
{
	const cJSON *a, *b;

	cJSON_ArrayForEach(a, item)
	{
		if (cJSON_IsObject(item) && a->string != NULL)
			for (b = a->next; b != NULL; b = b->next)
				if (b->string != NULL && strcmp(a->string, b->string) == 0)
					return 1;
		if (fuzz_has_duplicate_keys(a))
			return 1;
	}
	return 0;
}
