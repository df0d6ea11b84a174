/* fuzz_util: what several libFuzzer harnesses share: a table of the CGI
 * parameters a harness hands to http_request_init or app_serve, a
 * response sink into a buf, and the repeated-member-name walk of a cJSON
 * tree. Each harness keeps its own input format and invariants. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <cJSON.h>
#include <stddef.h>

/* The CGI parameters a harness can set, by index into fuzz_cgi.value. */
enum {
	FUZZ_CGI_METHOD,	   /* REQUEST_METHOD */
	FUZZ_CGI_QUERY,		   /* QUERY_STRING */
	FUZZ_CGI_DOCUMENT_URI,	   /* DOCUMENT_URI */
	FUZZ_CGI_REQUEST_URI,	   /* REQUEST_URI */
	FUZZ_CGI_ATTEMPTS_PATH,	   /* ATTEMPTS_PATH */
	FUZZ_CGI_SCRIPT_NAME,	   /* SCRIPT_NAME */
	FUZZ_CGI_PATH_INFO,	   /* PATH_INFO */
	FUZZ_CGI_REQUEST_ID,	   /* HTTP_X_REQUEST_ID */
	FUZZ_CGI_AUTHORIZATION,	   /* HTTP_AUTHORIZATION */
	FUZZ_CGI_IF_MATCH,	   /* HTTP_IF_MATCH */
	FUZZ_CGI_IF_NONE_MATCH,	   /* HTTP_IF_NONE_MATCH */
	FUZZ_CGI_CONTENT_LENGTH,   /* CONTENT_LENGTH */
	FUZZ_CGI_CONTENT_TYPE,	   /* CONTENT_TYPE */
	FUZZ_CGI_UPLOADS_VIA_FILE, /* ATTEMPTS_UPLOADS_VIA_FILE */
	FUZZ_CGI_COUNT
};

/* A request's CGI parameters; a NULL value is an absent parameter. */
typedef struct fuzz_cgi {
	const char *value[FUZZ_CGI_COUNT];
} fuzz_cgi;

/* The parameter callback of http_request_init and app_serve over the
 * fuzz_cgi ctx: the value of name, NULL when absent or not in the table. */
const char *fuzz_cgi_param(void *ctx, const char *name);

/* The response writer of http_response_write and app_serve: appends to
 * the buf ctx and never fails (a failed append shows in buf.failed). */
int fuzz_sink_write(void *ctx, const char *data, size_t n);

/* Does any object in the tree hold two members of the same (decoded)
 * name? */
int fuzz_has_duplicate_keys(const cJSON *item);

#endif
