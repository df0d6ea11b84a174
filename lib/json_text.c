/* json_text: strict JSON text (see json_text.h). */
#include "json_text.h"

#include <stdlib.h>
#include <string.h>

int json_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned c = p[i];
		unsigned need, min;
		unsigned long cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			need = 1, min = 0x80, cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2, min = 0x800, cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3, min = 0x10000, cp = c & 0x07;
		} else {
			return 0;
		}
		if (len - i <= need)
			return 0;
		for (unsigned k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

/* A strict RFC 8259 checker, run before cJSON (which is lenient: it takes
 * control bytes as whitespace, leading zeros, "1." and raw newlines in
 * strings, and cuts strings at an escaped NUL). */
typedef struct json_scan {
	const char *p;
	const char *end;
	int depth;
} json_scan;

#define JSON_MAX_DEPTH 256

static int scan_value(json_scan *s);

static void skip_ws(json_scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int scan_digits(json_scan *s)
{
	const char *start = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > start;
}

static int scan_number(json_scan *s)
{
	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (!scan_digits(s))
		return 0;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!scan_digits(s))
			return 0;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!scan_digits(s))
			return 0;
	}
	return 1;
}

/* Reads 4 hex digits into *cp. */
static int scan_hex4(json_scan *s, unsigned *cp)
{
	unsigned v = 0;

	if (s->end - s->p < 4)
		return 0;
	for (int i = 0; i < 4; i++) {
		char h = *s->p++;
		v <<= 4;
		if (h >= '0' && h <= '9')
			v |= (unsigned)(h - '0');
		else if (h >= 'a' && h <= 'f')
			v |= (unsigned)(h - 'a' + 10);
		else if (h >= 'A' && h <= 'F')
			v |= (unsigned)(h - 'A' + 10);
		else
			return 0;
	}
	*cp = v;
	return 1;
}

static int scan_string(json_scan *s)
{
	s->p++; /* opening quote */
	while (s->p < s->end) {
		unsigned char c = (unsigned char)*s->p++;
		if (c == '"')
			return 1;
		if (c < 0x20)
			return 0;
		if (c != '\\')
			continue;
		if (s->p >= s->end)
			return 0;
		c = (unsigned char)*s->p++;
		if (c == 'u') {
			unsigned cp;
			if (!scan_hex4(s, &cp) || cp == 0) /* \u0000: jsonb refuses it */
				return 0;
			if (cp >= 0xdc00 && cp <= 0xdfff) /* lone low surrogate */
				return 0;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				unsigned lo;
				if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
					return 0;
				s->p += 2;
				if (!scan_hex4(s, &lo) || lo < 0xdc00 || lo > 0xdfff)
					return 0;
			}
		} else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
			return 0;
		}
	}
	return 0;
}

static int scan_literal(json_scan *s, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return 0;
	s->p += n;
	return 1;
}

/* One member name: the text between its quotes, or, when it holds
 * escapes, its decoded bytes in a buffer of its own (owned). */
typedef struct key_span {
	const char *p;
	size_t n;
	int owned;
} key_span;

/* Appends the UTF-8 form of code point cp to out. */
static size_t put_utf8(unsigned long cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static unsigned long hex4(const char *p)
{
	unsigned long v = 0;

	for (int i = 0; i < 4; i++) {
		char h = p[i];
		v = (v << 4) | (unsigned long)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
	}
	return v;
}

/* Decodes the escapes of an already validated JSON string body of n
 * bytes; returns a malloc'd buffer (its length in *len) or NULL. */
static char *unescape_key(const char *p, size_t n, size_t *len)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\\') {
			out[o++] = p[i];
			continue;
		}
		i++;
		switch (p[i]) {
		case 'b':
			out[o++] = '\b';
			break;
		case 'f':
			out[o++] = '\f';
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case 'r':
			out[o++] = '\r';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'u': {
			unsigned long cp = hex4(p + i + 1);
			i += 4;
			if (cp >= 0xd800 && cp <= 0xdbff) { /* a pair: scan_string checked it */
				cp = 0x10000 + ((cp - 0xd800) << 10) + (hex4(p + i + 3) - 0xdc00);
				i += 6;
			}
			o += put_utf8(cp, out + o);
			break;
		}
		default:
			out[o++] = p[i];
			break; /* \" \\ \/ */
		}
	}
	*len = o;
	return out;
}

static int key_cmp(const void *a, const void *b)
{
	const key_span *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);

	return c != 0 ? c : (x->n > y->n) - (x->n < y->n);
}

/* Keys of one object; a few on the stack, more on the heap. */
typedef struct key_set {
	key_span local[16];
	key_span *all;
	size_t n, cap;
} key_set;

static int key_set_add(key_set *k, const char *p, size_t n)
{
	int owned = 0;

	/* Compare names as the database will: "a" and "\u0061" are one. */
	if (memchr(p, '\\', n) != NULL) {
		p = unescape_key(p, n, &n);
		if (p == NULL)
			return 0;
		owned = 1;
	}
	if (k->n == k->cap) {
		size_t cap = k->cap * 2;
		key_span *bigger = k->all == k->local ? malloc(cap * sizeof *bigger)
						      : realloc(k->all, cap * sizeof *bigger);
		if (bigger == NULL) {
			if (owned)
				free((char *)p);
			return 0;
		}
		if (k->all == k->local)
			memcpy(bigger, k->local, sizeof k->local);
		k->all = bigger;
		k->cap = cap;
	}
	k->all[k->n].p = p;
	k->all[k->n].n = n;
	k->all[k->n].owned = owned;
	k->n++;
	return 1;
}

/* 1 if no name repeats. Names are compared as written: C code reads the
 * first of two equal names, jsonb keeps the last, so a body with both
 * would be checked in C and stored differently in SQL. */
static int key_set_unique(key_set *k)
{
	qsort(k->all, k->n, sizeof *k->all, key_cmp);
	for (size_t i = 1; i < k->n; i++)
		if (key_cmp(&k->all[i - 1], &k->all[i]) == 0)
			return 0;
	return 1;
}

/* Told of each member (key: its name as written, without the quotes) or
 * element (key NULL) of the container a scan reports on, with the span
 * of its value. */
typedef struct json_visit {
	void (*fn)(void *ctx, const char *key, size_t klen, const char *value, const char *end);
	void *ctx;
} json_visit;

/* Objects and arrays: open, members separated by commas, close; each
 * member or element is reported to visit (NULL: to no one). */
static int scan_container(json_scan *s, char close, int is_object, const json_visit *visit)
{
	key_set keys;
	int ok = 0;

	keys.all = keys.local;
	keys.n = 0;
	keys.cap = sizeof keys.local / sizeof keys.local[0];
	if (++s->depth > JSON_MAX_DEPTH)
		return 0;
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return 1;
	}
	for (;;) {
		const char *key = NULL, *value;
		size_t klen = 0;

		skip_ws(s);
		if (is_object) {
			key = s->p + 1;
			if (s->p >= s->end || *s->p != '"' || !scan_string(s))
				goto out;
			klen = (size_t)(s->p - 1 - key);
			if (!key_set_add(&keys, key, klen))
				goto out;
			skip_ws(s);
			if (s->p >= s->end || *s->p++ != ':')
				goto out;
		}
		skip_ws(s);
		value = s->p;
		if (!scan_value(s))
			goto out;
		if (visit != NULL)
			visit->fn(visit->ctx, key, klen, value, s->p);
		skip_ws(s);
		if (s->p >= s->end)
			goto out;
		if (*s->p == ',') {
			s->p++;
			continue;
		}
		if (*s->p++ != close)
			goto out;
		s->depth--;
		ok = !is_object || key_set_unique(&keys);
		goto out;
	}
out:
	for (size_t i = 0; i < keys.n; i++)
		if (keys.all[i].owned)
			free((char *)keys.all[i].p);
	if (keys.all != keys.local)
		free(keys.all);
	return ok;
}

static int scan_value(json_scan *s)
{
	skip_ws(s);
	if (s->p >= s->end)
		return 0;
	switch (*s->p) {
	case '{':
		return scan_container(s, '}', 1, NULL);
	case '[':
		return scan_container(s, ']', 0, NULL);
	case '"':
		return scan_string(s);
	case 't':
		return scan_literal(s, "true");
	case 'f':
		return scan_literal(s, "false");
	case 'n':
		return scan_literal(s, "null");
	default:
		return scan_number(s);
	}
}

/* Scans text as exactly one container opening with open (surrounding
 * whitespace allowed), reporting its members or elements to visit. The
 * container itself does not count towards the depth limit: an array of
 * attempt states holds answers as deep as one state does. */
static int scan_top(const char *text, size_t len, char open, const json_visit *visit)
{
	json_scan s = {text, text + len, -1};

	skip_ws(&s);
	if (s.p >= s.end || *s.p != open ||
	    !scan_container(&s, open == '{' ? '}' : ']', open == '{', visit))
		return 0;
	skip_ws(&s);
	return s.p == s.end;
}

typedef struct members_ctx {
	const char *text;
	const char *const *names;
	int n;
	json_span *spans;
	int found;
} members_ctx;

static void span_set(json_span *span, const char *text, const char *value, const char *end)
{
	span->offset = (int)(value - text);
	span->length = (int)(end - value);
}

static void visit_member(void *arg, const char *key, size_t klen, const char *value,
			 const char *end)
{
	members_ctx *m = arg;

	for (int i = 0; i < m->n; i++) {
		if (m->spans[i].offset < 0 && strlen(m->names[i]) == klen &&
		    memcmp(m->names[i], key, klen) == 0) {
			span_set(&m->spans[i], m->text, value, end);
			m->found++;
		}
	}
}

int json_top_members(const char *text, size_t len, const char *const *names, int n,
		     json_span *spans)
{
	members_ctx m = {text, names, n, spans, 0};
	json_visit visit = {visit_member, &m};

	for (int i = 0; i < n; i++)
		spans[i].offset = -1;
	return scan_top(text, len, '{', &visit) ? m.found : -1;
}

typedef struct elements_ctx {
	const char *text;
	json_span *spans;
	int max;
	int count;
} elements_ctx;

static void visit_element(void *arg, const char *key, size_t klen, const char *value,
			  const char *end)
{
	elements_ctx *e = arg;

	(void)key;
	(void)klen;
	if (e->count < e->max)
		span_set(&e->spans[e->count], e->text, value, end);
	e->count++;
}

int json_array_elements(const char *text, size_t len, json_span *spans, int max)
{
	elements_ctx e = {text, spans, max, 0};
	json_visit visit = {visit_element, &e};

	return scan_top(text, len, '[', &visit) ? e.count : -1;
}

int json_valid(const char *text, size_t len)
{
	json_scan s = {text, text + len, 0};

	if (!scan_value(&s))
		return 0;
	skip_ws(&s);
	return s.p == s.end;
}

cJSON *json_parse(const char *text, size_t len)
{
	const char *end = NULL;
	cJSON *item;

	if (text == NULL || len == 0 || !json_utf8_valid(text, len) || !json_valid(text, len))
		return NULL;
	item = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (item == NULL)
		return NULL;
	/* Only trailing whitespace may follow the value. */
	while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end != text + len) {
		cJSON_Delete(item);
		return NULL;
	}
	return item;
}
