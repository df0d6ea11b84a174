/* http: CGI-style request parsing and response serialisation. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "uuid.h"

static const struct {
	const char *name;
	http_method method;
} http_methods[] = {
	{"GET", HTTP_GET},	   {"HEAD", HTTP_HEAD},	  {"POST", HTTP_POST},
	{"PUT", HTTP_PUT},	   {"PATCH", HTTP_PATCH}, {"DELETE", HTTP_DELETE},
	{"OPTIONS", HTTP_OPTIONS},
};

#define HTTP_NMETHODS (sizeof http_methods / sizeof http_methods[0])

http_method http_method_parse(const char *name)
{
	if (name == NULL)
		return HTTP_OTHER;
	for (size_t i = 0; i < HTTP_NMETHODS; i++)
		if (strcmp(name, http_methods[i].name) == 0)
			return http_methods[i].method;
	return HTTP_OTHER;
}

void http_methods_text(unsigned mask, char *out, size_t n)
{
	size_t used = 0;

	if (n == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < HTTP_NMETHODS; i++) {
		if (!(mask & (unsigned)http_methods[i].method))
			continue;
		int w = snprintf(out + used, n - used, "%s%s", used ? ", " : "",
				 http_methods[i].name);
		if (w < 0 || (size_t)w >= n - used)
			return;
		used += (size_t)w;
	}
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int http_percent_decode_n(char *s, int plus_is_space, size_t *len)
{
	char *start = s, *out = s;

	for (; *s; s++) {
		if (*s == '%') {
			int hi = hex_value(s[1]);
			int lo = hi < 0 ? -1 : hex_value(s[2]);
			if (lo < 0)
				return -1;
			*out++ = (char)(hi * 16 + lo);
			s += 2;
		} else if (*s == '+' && plus_is_space) {
			*out++ = ' ';
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
	*len = (size_t)(out - start);
	return 0;
}

int http_percent_decode(char *s, int plus_is_space)
{
	size_t len;

	if (http_percent_decode_n(s, plus_is_space, &len) != 0)
		return -1;
	return strlen(s) == len ? 0 : -1;
}

int http_query_is_text(const char *value, size_t len)
{
	return value != NULL && memchr(value, '\0', len) == NULL;
}

const char *http_query_text(const http_request *req, const char *name)
{
	size_t len = 0;
	const char *v = http_query(req, name, &len);

	if (v == NULL)
		return NULL;
	return http_query_is_text(v, len) ? v : "";
}

/* Splits the query string into decoded name/value pairs. A malformed
 * escape anywhere refuses the whole query: no parameter's value can be
 * trusted to be what the client meant. */
static att_err parse_query(http_request *req)
{
	const char *p = req->query;

	while (*p) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		char *pair, *eq;
		http_query_param *qp;

		if (len == 0) {
			p += 1;
			continue;
		}
		if (req->nparams == HTTP_MAX_QUERY_PARAMS)
			return ATT_EINVAL;
		pair = strndup(p, len);
		if (pair == NULL)
			return ATT_ENOMEM;
		qp = &req->params[req->nparams++];
		eq = strchr(pair, '=');
		qp->name = pair;
		qp->value = eq ? eq + 1 : pair + len;
		if (eq)
			*eq = '\0';
		if (http_percent_decode_n(qp->name, 1, &qp->name_len) != 0 ||
		    http_percent_decode_n(qp->value, 1, &qp->value_len) != 0)
			return ATT_EINVAL;
		p += len + (amp ? 1 : 0);
	}
	return ATT_OK;
}

/* The path without the query: DOCUMENT_URI (nginx, already decoded), else
 * SCRIPT_NAME + PATH_INFO (Apache, CGI), else REQUEST_URI decoded. */
static att_err parse_path(http_request *req)
{
	/* nginx's upload location rewrites the URI and passes the original. */
	const char *doc = req->param(req->io_ctx, "ATTEMPTS_PATH");

	if (doc == NULL || *doc == '\0')
		doc = req->param(req->io_ctx, "DOCUMENT_URI");
	const char *uri;
	size_t len;

	if (doc != NULL && *doc) {
		req->path = strdup(doc);
		return req->path ? ATT_OK : ATT_ENOMEM;
	}
	uri = req->param(req->io_ctx, "REQUEST_URI");
	if (uri != NULL && *uri) {
		len = strcspn(uri, "?");
		req->path = strndup(uri, len);
		if (req->path == NULL)
			return ATT_ENOMEM;
		if (http_percent_decode(req->path, 0) != 0) {
			/* Undecodable (a malformed escape or an encoded NUL): kept
			 * as sent. A '%' is in no route and no UUID, so the path's
			 * own rules answer (404 not_found, 400 invalid_uuid). */
			free(req->path);
			req->path = strndup(uri, len);
			if (req->path == NULL)
				return ATT_ENOMEM;
		}
		return ATT_OK;
	}
	{
		const char *script = req->param(req->io_ctx, "SCRIPT_NAME");
		const char *info = req->param(req->io_ctx, "PATH_INFO");
		buf b = BUF_INIT;
		buf_puts(&b, script ? script : "");
		buf_puts(&b, info ? info : "");
		req->path = buf_take(&b);
		return req->path ? ATT_OK : ATT_ENOMEM;
	}
}

static int request_id_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
		if (n >= HTTP_REQUEST_ID_MAX)
			return 0;
	}
	return n > 0;
}

/* The client's X-Request-Id if acceptable, else nginx's $request_id, else
 * 32 random hex digits. */
static void choose_request_id(http_request *req)
{
	const char *ids[2];
	unsigned char rnd[16];

	ids[0] = req->param(req->io_ctx, "HTTP_X_REQUEST_ID");
	ids[1] = req->param(req->io_ctx, "REQUEST_ID");
	for (int i = 0; i < 2; i++) {
		if (ids[i] != NULL && request_id_valid(ids[i])) {
			snprintf(req->request_id, sizeof req->request_id, "%s", ids[i]);
			return;
		}
	}
	if (uuid_random_bytes(rnd, sizeof rnd) != ATT_OK)
		memset(rnd, 0, sizeof rnd);
	for (int i = 0; i < 16; i++)
		snprintf(req->request_id + 2 * i, 3, "%02x", rnd[i]);
}

att_err http_request_init(http_request *req, http_param_fn param, http_read_fn read, void *io_ctx)
{
	const char *cl;
	att_err err;

	memset(req, 0, sizeof *req);
	req->param = param;
	req->read = read;
	req->io_ctx = io_ctx;
	req->content_length = -1;
	req->method_name = param(io_ctx, "REQUEST_METHOD");
	req->method = http_method_parse(req->method_name);
	req->query = param(io_ctx, "ATTEMPTS_QUERY");
	if (req->query == NULL)
		req->query = param(io_ctx, "QUERY_STRING");
	if (req->query == NULL)
		req->query = "";
	req->authorization = param(io_ctx, "HTTP_AUTHORIZATION");
	req->if_match = param(io_ctx, "HTTP_IF_MATCH");
	req->if_none_match = param(io_ctx, "HTTP_IF_NONE_MATCH");
	req->cache_control = param(io_ctx, "HTTP_CACHE_CONTROL");
	req->content_type = param(io_ctx, "CONTENT_TYPE");
	req->origin = param(io_ctx, "HTTP_ORIGIN");
	req->cors_request_method = param(io_ctx, "HTTP_ACCESS_CONTROL_REQUEST_METHOD");
	req->body_file = param(io_ctx, "REQUEST_BODY_FILE");
	if (req->body_file != NULL && *req->body_file == '\0')
		req->body_file = NULL;
	req->accel_prefix = param(io_ctx, "ATTEMPTS_ACCEL_PREFIX");
	if (req->accel_prefix != NULL && *req->accel_prefix == '\0')
		req->accel_prefix = NULL;
	req->precheck = param(io_ctx, "ATTEMPTS_PRECHECK") != NULL;
	cl = param(io_ctx, "CONTENT_LENGTH");
	if (cl != NULL && *cl) {
		char *end;
		long long v = strtoll(cl, &end, 10);
		if (*end == '\0' && v >= 0)
			req->content_length = v;
	}
	choose_request_id(req);
	err = parse_path(req);
	if (err != ATT_OK)
		return err;
	return parse_query(req);
}

att_err http_request_read_body(http_request *req, size_t max)
{
	size_t cap, len = 0;
	char *data;

	if (req->body != NULL)
		return ATT_OK;
	if (req->content_length > (long long)max)
		return ATT_ETOOBIG;
	cap = req->content_length >= 0 ? (size_t)req->content_length + 1 : 4096;
	data = malloc(cap);
	if (data == NULL)
		return ATT_ENOMEM;
	for (;;) {
		long n;
		if (len + 1 >= cap) {
			char *p;
			if (len >= max + 1)
				break;
			cap = cap * 2 > max + 2 ? max + 2 : cap * 2;
			p = realloc(data, cap);
			if (p == NULL) {
				free(data);
				return ATT_ENOMEM;
			}
			data = p;
		}
		n = req->read ? req->read(req->io_ctx, data + len, cap - 1 - len) : 0;
		if (n < 0) {
			free(data);
			return ATT_EIO;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		free(data);
		return ATT_ETOOBIG;
	}
	if (req->content_length >= 0 && (long long)len != req->content_length) {
		free(data);
		return ATT_EIO;
	}
	data[len] = '\0';
	req->body = data;
	req->body_len = len;
	return ATT_OK;
}

void http_request_free(http_request *req)
{
	if (req == NULL)
		return;
	for (int i = 0; i < req->nparams; i++)
		free(req->params[i].name);
	req->nparams = 0;
	free(req->path);
	req->path = NULL;
	free(req->body);
	req->body = NULL;
}

const char *http_query(const http_request *req, const char *name, size_t *len)
{
	size_t n = strlen(name);

	for (int i = 0; i < req->nparams; i++) {
		const http_query_param *qp = &req->params[i];
		if (qp->name_len == n && memcmp(qp->name, name, n) == 0) {
			if (len != NULL)
				*len = qp->value_len;
			return qp->value;
		}
	}
	return NULL;
}
