/* json_text: JSON text held to strict rules before cJSON sees it - valid
 * UTF-8 without NUL, RFC 8259 exactly (cJSON is lenient), no \u0000, no
 * repeated member name, bounded nesting - its parsing into a cJSON tree,
 * and finding top-level members or elements without building a tree.
 * Typed access to a parsed tree is json's. */
#ifndef ATT_JSON_TEXT_H
#define ATT_JSON_TEXT_H

#include <cJSON.h>
#include <stddef.h>

#include "att_err.h"

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
