/* openapi: serves the embedded OpenAPI document. */
#include "openapi.h"

#include <pthread.h>
#include <stdint.h>

#include "http_cond.h"

/* lib/openapi_json.c, generated from docs/openapi.json at build time. */
extern const unsigned char openapi_json_data[];
extern const size_t openapi_json_len;

static pthread_once_t etag_once = PTHREAD_ONCE_INIT;
static unsigned long etag_value;

/* FNV-1a, 32 bits: a cheap tag that changes with the document. */
static void compute_etag(void)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < openapi_json_len; i++) {
		h ^= openapi_json_data[i];
		h *= 16777619u;
	}
	etag_value = h;
}

const unsigned char *openapi_document(size_t *len)
{
	*len = openapi_json_len;
	return openapi_json_data;
}

unsigned long openapi_etag(void)
{
	pthread_once(&etag_once, compute_etag);
	return etag_value;
}

void openapi_serve(req_ctx *rc)
{
	unsigned long tag = openapi_etag();

	http_headerf(rc->resp, "ETag", "\"%lu\"", tag);
	http_header(rc->resp, "Cache-Control", "no-cache");
	if (rc->req->if_none_match != NULL &&
	    http_cond_etag_matches(rc->req->if_none_match, (long long)tag)) {
		rc->resp->status = 304;
		return;
	}
	http_json_text(rc->resp, 200, (const char *)openapi_json_data, openapi_json_len);
}
