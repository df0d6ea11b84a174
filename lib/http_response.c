/* http_response: building and writing the answer (see http_response.h). */
#include "http_response.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"

void http_response_init(http_response *resp)
{
	resp->status = 200;
	resp->body_fd = -1;
	resp->body_fd_size = 0;
	buf_init(&resp->headers);
	buf_init(&resp->body);
	resp->has_content_type = 0;
	resp->head_only = 0;
}

void http_response_free(http_response *resp)
{
	if (resp == NULL)
		return;
	buf_free(&resp->headers);
	buf_free(&resp->body);
	if (resp->body_fd >= 0)
		close(resp->body_fd);
	resp->body_fd = -1;
}

void http_response_reset(http_response *resp)
{
	int head_only = resp->head_only;

	http_response_free(resp);
	http_response_init(resp);
	resp->head_only = head_only;
}

void http_header(http_response *resp, const char *name, const char *value)
{
	buf_puts(&resp->headers, name);
	buf_puts(&resp->headers, ": ");
	for (const char *p = value; *p; p++)
		if (*p != '\r' && *p != '\n')
			buf_putc(&resp->headers, *p);
	buf_puts(&resp->headers, "\r\n");
	if (strcasecmp(name, "Content-Type") == 0)
		resp->has_content_type = 1;
}

void http_headerf(http_response *resp, const char *name, const char *fmt, ...)
{
	char value[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof value, fmt, ap);
	va_end(ap);
	http_header(resp, name, value);
}

void http_json_text(http_response *resp, int status, const char *text, size_t len)
{
	resp->status = status;
	buf_reset(&resp->body);
	buf_append(&resp->body, text, len);
	if (!resp->has_content_type)
		http_header(resp, "Content-Type", "application/json; charset=utf-8");
}

void http_file(http_response *resp, int status, int fd, long long size)
{
	resp->status = status;
	buf_reset(&resp->body);
	if (resp->body_fd >= 0)
		close(resp->body_fd);
	resp->body_fd = fd;
	resp->body_fd_size = size;
}

/* Streams the response's file body through write_fn. */
static att_err write_file_body(const http_response *resp, http_write_fn write_fn, void *ctx)
{
	char chunk[65536];
	long long left = resp->body_fd_size;

	while (left > 0) {
		ssize_t n = read(resp->body_fd, chunk,
				 left < (long long)sizeof chunk ? (size_t)left : sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ATT_EIO;
		if (write_fn(ctx, chunk, (size_t)n) != 0)
			return ATT_EIO;
		left -= n;
	}
	return ATT_OK;
}

void http_json(http_response *resp, int status, const cJSON *item)
{
	char *text = json_print(item);

	if (text == NULL) {
		resp->body.failed = 1;
		return;
	}
	http_json_text(resp, status, text, strlen(text));
	cJSON_free(text);
}

void http_error(http_response *resp, int status, const char *code, const char *message,
		const cJSON *details)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *err = cJSON_AddObjectToObject(root, "error");

	if (err == NULL || cJSON_AddStringToObject(err, "code", code) == NULL ||
	    cJSON_AddStringToObject(err, "message", message) == NULL) {
		resp->body.failed = 1;
		goto out;
	}
	if (details != NULL) {
		cJSON *copy = cJSON_Duplicate(details, 1);
		if (copy == NULL) {
			resp->body.failed = 1;
			goto out;
		}
		cJSON_AddItemToObject(err, "details", copy);
	}
	http_json(resp, status, root);
out:
	cJSON_Delete(root);
}

void http_error_field(http_response *resp, const char *field, const char *message)
{
	cJSON *details = cJSON_CreateObject();

	if (details == NULL || cJSON_AddStringToObject(details, "field", field) == NULL) {
		resp->body.failed = 1;
	} else {
		http_error(resp, 422, "validation_failed", message, details);
	}
	cJSON_Delete(details);
}

void http_response_precheck(http_response *resp)
{
	buf headers = BUF_INIT;
	const char *line, *end;

	if (resp->status >= 200 && resp->status < 300) {
		resp->status = 204;
		buf_reset(&resp->body);
		return;
	}
	/* Every header line "Name: value\r\n" again as "X-Attempts-Name: ...". */
	line = resp->headers.len > 0 ? resp->headers.data : "";
	for (; *line != '\0'; line = end + 2) {
		end = strstr(line, "\r\n");
		if (end == NULL)
			break;
		buf_puts(&headers, "X-Attempts-");
		buf_append(&headers, line, (size_t)(end - line) + 2);
	}
	buf_printf(&headers, "X-Attempts-Status: %d\r\n", resp->status);
	buf_puts(&headers, "X-Attempts-Error: ");
	/* The body is JSON: cJSON escapes control characters in strings and
	 * prints no raw line breaks, so it fits one header line. */
	for (size_t i = 0; i < resp->body.len; i++)
		if (resp->body.data[i] != '\r' && resp->body.data[i] != '\n')
			buf_putc(&headers, resp->body.data[i]);
	buf_puts(&headers, "\r\n");
	if (resp->headers.failed || resp->body.failed)
		headers.failed = 1;
	buf_free(&resp->headers);
	resp->headers = headers;
	resp->has_content_type = 0;
	buf_reset(&resp->body);
	resp->status = 403;
}

const char *http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Entity";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

att_err http_response_write(const http_response *resp, http_write_fn write_fn, void *ctx)
{
	static const char fallback[] =
		"Status: 500 Internal Server Error\r\n"
		"Content-Type: application/json; charset=utf-8\r\n\r\n"
		"{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}";
	char status[64];
	int n;

	if (resp->headers.failed || resp->body.failed)
		return write_fn(ctx, fallback, sizeof fallback - 1) == 0 ? ATT_ENOMEM : ATT_EIO;
	n = snprintf(status, sizeof status, "Status: %d %s\r\n", resp->status,
		     http_reason(resp->status));
	if (write_fn(ctx, status, (size_t)n) != 0)
		return ATT_EIO;
	if (resp->headers.len > 0 && write_fn(ctx, resp->headers.data, resp->headers.len) != 0)
		return ATT_EIO;
	if (resp->body_fd >= 0) {
		n = snprintf(status, sizeof status, "Content-Length: %lld\r\n\r\n",
			     resp->body_fd_size);
		if (write_fn(ctx, status, (size_t)n) != 0)
			return ATT_EIO;
		return resp->head_only ? ATT_OK : write_file_body(resp, write_fn, ctx);
	}
	if (resp->status != 304 && resp->status != 204) {
		n = snprintf(status, sizeof status, "Content-Length: %zu\r\n\r\n", resp->body.len);
		if (write_fn(ctx, status, (size_t)n) != 0)
			return ATT_EIO;
		if (resp->body.len > 0 && !resp->head_only &&
		    write_fn(ctx, resp->body.data, resp->body.len) != 0)
			return ATT_EIO;
	} else if (write_fn(ctx, "\r\n", 2) != 0) {
		return ATT_EIO;
	}
	return ATT_OK;
}
