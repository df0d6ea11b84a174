/* check_api_jcs: the JCS (RFC 8785) canonical text of a JSON value and the
 * receipt (its SHA-256) a submit answers, as check_api recomputes them.
 * Part of check_api (see check_api.c). */
#include <cJSON.h>
#include <libpq-fe.h>
#include <math.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "e2e_util.h"
#include "http_client.h"
#include "json.h"
#include "uuid.h"
#include "check_api.h"

/* ------------------------------------------------------------ JCS (RFC 8785) */

/* Decodes the UTF-8 string s into UTF-16 code units; returns how many. */
static size_t utf16_units(const char *s, uint16_t *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p && n + 2 <= cap) {
		uint32_t cp;
		int extra;

		if (*p < 0x80) {
			cp = *p;
			extra = 0;
		} else if ((*p & 0xE0) == 0xC0) {
			cp = *p & 0x1F;
			extra = 1;
		} else if ((*p & 0xF0) == 0xE0) {
			cp = *p & 0x0F;
			extra = 2;
		} else {
			cp = *p & 0x07;
			extra = 3;
		}
		p++;
		for (int i = 0; i < extra && (*p & 0xC0) == 0x80; i++, p++)
			cp = (cp << 6) | (*p & 0x3F);
		if (cp >= 0x10000) {
			cp -= 0x10000;
			out[n++] = (uint16_t)(0xD800 | (cp >> 10));
			out[n++] = (uint16_t)(0xDC00 | (cp & 0x3FF));
		} else {
			out[n++] = (uint16_t)cp;
		}
	}
	return n;
}

/* Orders object members by their names' UTF-16 code units (RFC 8785 3.2.3). */
static int jcs_key_cmp(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	uint16_t ux[512], uy[512];
	size_t nx = utf16_units(x->string, ux, 512), ny = utf16_units(y->string, uy, 512);

	for (size_t i = 0; i < nx && i < ny; i++)
		if (ux[i] != uy[i])
			return ux[i] < uy[i] ? -1 : 1;
	return nx < ny ? -1 : nx > ny;
}

/* A JSON string as JCS writes it (ECMAScript JSON.stringify): a character
 * of from as a backslash and the character at its place in to, the other
 * controls as a backslash, u and four hex digits. */
static void jcs_string(buf *b, const char *s)
{
	static const char from[] = "\"\\\b\f\n\r\t", to[] = "\"\\bfnrt";

	buf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		const char *e = strchr(from, *p);

		if (e != NULL)
			buf_printf(b, "\\%c", to[e - from]);
		else if (*p < 0x20)
			buf_printf(b, "\\u%04x", *p);
		else
			buf_putc(b, (char)*p);
	}
	buf_putc(b, '"');
}

/* A double in ECMAScript Number::toString form (RFC 8785 3.2.2.3): the
 * shortest digits that round-trip, laid out by the ECMAScript rules. */
static void jcs_number(buf *b, double x)
{
	char text[64], digits[32];
	int k = 0, n, exp10;
	const char *p;

	if (x == 0) {
		buf_putc(b, '0');
		return;
	}
	if (x < 0) {
		buf_putc(b, '-');
		x = -x;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(text, sizeof text, "%.*e", prec - 1, x);
		if (strtod(text, NULL) == x)
			break;
	}
	for (p = text; *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits[k++] = *p;
	exp10 = atoi(p + 1);
	while (k > 1 && digits[k - 1] == '0')
		k--;
	digits[k] = '\0';
	n = exp10 + 1; /* value = 0.digits * 10^n */
	if (k <= n && n <= 21) {
		buf_puts(b, digits);
		for (int i = 0; i < n - k; i++)
			buf_putc(b, '0');
	} else if (0 < n && n <= 21) {
		buf_append(b, digits, (size_t)n);
		buf_putc(b, '.');
		buf_puts(b, digits + n);
	} else if (-6 < n && n <= 0) {
		buf_puts(b, "0.");
		for (int i = 0; i < -n; i++)
			buf_putc(b, '0');
		buf_puts(b, digits);
	} else {
		buf_putc(b, digits[0]);
		if (k > 1) {
			buf_putc(b, '.');
			buf_puts(b, digits + 1);
		}
		buf_printf(b, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
	}
}

void jcs_value(buf *b, const cJSON *v)
{
	if (cJSON_IsObject(v)) {
		const cJSON *it;
		const cJSON **members;
		int n = nkeys(v), i = 0;

		members = calloc((size_t)(n > 0 ? n : 1), sizeof *members);
		ck_assert_ptr_nonnull(members);
		cJSON_ArrayForEach(it, v) members[i++] = it;
		qsort(members, (size_t)n, sizeof *members, jcs_key_cmp);
		buf_putc(b, '{');
		for (i = 0; i < n; i++) {
			if (i > 0)
				buf_putc(b, ',');
			jcs_string(b, members[i]->string);
			buf_putc(b, ':');
			jcs_value(b, members[i]);
		}
		buf_putc(b, '}');
		free(members);
	} else if (cJSON_IsArray(v)) {
		const cJSON *it;
		int first = 1;

		buf_putc(b, '[');
		cJSON_ArrayForEach(it, v)
		{
			if (!first)
				buf_putc(b, ',');
			jcs_value(b, it);
			first = 0;
		}
		buf_putc(b, ']');
	} else if (cJSON_IsString(v)) {
		jcs_string(b, v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		jcs_number(b, v->valuedouble);
	} else if (cJSON_IsTrue(v)) {
		buf_puts(b, "true");
	} else if (cJSON_IsFalse(v)) {
		buf_puts(b, "false");
	} else {
		buf_puts(b, "null");
	}
}

void receipt_of(const cJSON *v, char hex[65])
{
	buf b = BUF_INIT;
	unsigned char md[SHA256_DIGEST_LENGTH];

	jcs_value(&b, v);
	ck_assert(!b.failed);
	SHA256((const unsigned char *)(b.data ? b.data : ""), b.len, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	buf_free(&b);
}

void receipt_of_text(const char *json, char hex[65])
{
	cJSON *v = cJSON_Parse(json);

	ck_assert_msg(v != NULL, "bad JSON in test: %s", json);
	receipt_of(v, hex);
	cJSON_Delete(v);
}
