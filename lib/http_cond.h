/* http_cond: the request headers that make a request conditional or
 * bypass the cache - If-Match, If-None-Match (ETag "<version>"),
 * Cache-Control. Owns their parsing; pure functions, no state. */
#ifndef ATT_HTTP_COND_H
#define ATT_HTTP_COND_H

/* Parses an If-Match value ("3", W/"3" or 3). Returns 1 and sets *version,
 * 0 if absent or "*", -1 if malformed. */
int http_cond_if_match(const char *value, long *version);

/* Does an If-None-Match value match ETag "<version>"? (handles lists, W/
 * and "*"). */
int http_cond_etag_matches(const char *if_none_match, long long version);

/* Does a Cache-Control value ask to bypass the cache? */
int http_cond_no_cache(const char *cache_control);

#endif
