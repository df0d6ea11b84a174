/* openapi: the OpenAPI 3.1 document of the API (docs/openapi.json,
 * compiled into the binary by lib/sh/embed.sh, so every way the worker
 * runs - nginx, Apache mod_fcgid, plain CGI - serves the same bytes) and
 * the handler of GET /api/openapi.json. Owns no state; the document's
 * content is docs/openapi.json's, checked by tests/openapi_test.sh. */
#ifndef ATT_OPENAPI_H
#define ATT_OPENAPI_H

#include <stddef.h>

#include "handler.h"

/* The document's bytes (not NUL-terminated: len says how many); static,
 * never freed. */
const unsigned char *openapi_document(size_t *len);

/* Its entity tag: the FNV-1a hash of the bytes, as ETag "<n>" carries it. */
unsigned long openapi_etag(void);

/* GET /api/openapi.json: the document, `Cache-Control: no-cache` and its
 * ETag; an If-None-Match that matches answers 304. No token needed. */
void openapi_serve(req_ctx *rc);

#endif
