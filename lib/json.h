/* json: small cJSON helpers - typed field access for request validation
 * and compact printing. Owns no trees: callers keep ownership of what
 * they pass in; printed text is freed with cJSON_free(). */
#ifndef ATT_JSON_H
#define ATT_JSON_H

#include <cJSON.h>

#include "att_err.h"

typedef enum json_field {
	JSON_FIELD_ABSENT = 0, /* missing, or JSON null */
	JSON_FIELD_OK,	       /* present and of the right type; *out set */
	JSON_FIELD_BAD	       /* present with the wrong type or range */
} json_field;

/* Field name as a path for details.field, e.g. "events[3].payload". */
typedef struct json_path {
	char text[160];
} json_path;

void json_path_index(json_path *p, const char *array, int index, const char *member);

json_field json_get_object(const cJSON *obj, const char *name, const cJSON **out);
json_field json_get_array(const cJSON *obj, const char *name, const cJSON **out);
/* A string of minlen..maxlen bytes. */
json_field json_get_string(const cJSON *obj, const char *name, size_t minlen, size_t maxlen,
			   const char **out);
/* An integral number within [min, max]. */
json_field json_get_long(const cJSON *obj, const char *name, long min, long max, long *out);
/* A canonical lowercase UUID string. */
json_field json_get_uuid(const cJSON *obj, const char *name, const char **out);
/* An RFC 3339 timestamp string (shape check only). */
json_field json_get_timestamp(const cJSON *obj, const char *name, const char **out);

/* Returns 1 if s looks like an RFC 3339 date-time. */
int json_is_timestamp(const char *s);

/* Returns 1 if d is an integer within [min, max]. */
int json_number_is_long(double d, long min, long max);

/* Compact text of item, or NULL; the caller frees it with cJSON_free(). */
char *json_print(const cJSON *item) ATT_MUSTCHECK;

/* Returns 1 if the len bytes at s are valid UTF-8 without NUL bytes. */
int json_utf8_valid(const char *s, size_t len);

/* Where a member's value sits in a JSON text. */
typedef struct json_span {
	int offset; /* -1 when the member is absent */
	int length;
} json_span;

/* Finds the values of the named top-level members of the JSON object in
 * text (keys compared as written, without unescaping), without building a
 * tree: nested objects are skipped. Fills spans[i] for names[i]; returns
 * how many were found, or -1 unless text is exactly one valid JSON object
 * (surrounding whitespace allowed). */
int json_top_members(const char *text, size_t len, const char *const *names, int n,
		     json_span *spans);

/* Finds the top-level elements of the JSON array in text without building
 * a tree (numbers stay text): fills spans[i] for the first max elements
 * and returns how many elements there are, or -1 unless text is exactly
 * one valid JSON array (surrounding whitespace allowed). */
int json_array_elements(const char *text, size_t len, json_span *spans, int max);

/* Returns 1 if the len bytes at s are exactly one JSON value by RFC 8259
 * (surrounding whitespace allowed), with no \u0000 escape, no member name
 * repeated within an object, and nesting of at most 256 levels. */
int json_valid(const char *s, size_t len);

/* Parses exactly len bytes; NULL unless they are valid UTF-8 holding one
 * complete JSON value (surrounding whitespace allowed). */
cJSON *json_parse(const char *text, size_t len) ATT_MUSTCHECK;

#endif
