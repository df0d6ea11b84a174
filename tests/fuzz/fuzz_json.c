/* fuzz_json: libFuzzer harness for the strict JSON front door (json_valid,
 * json_utf8_valid, json_parse) and the typed accessors (json_get_*) that
 * every request validator uses.
 *
 * Invariants checked beyond "no crash, no leak, no UB":
 *  - for input that is valid UTF-8 without NUL, json_valid(x) is exactly
 *    json_parse(x) != NULL (the checker and cJSON agree);
 *  - json_parse never accepts invalid UTF-8, nor an object with a member
 *    name repeated (compared decoded, as cJSON and PostgreSQL's jsonb see
 *    them: "a" and "\u0061" are the same name);
 *  - the compact print of a parsed tree parses again, and printing that
 *    tree gives the same text (print is a fixed point after one round);
 *  - a json_get_* that answers JSON_FIELD_OK hands out a value of the
 *    promised type and range;
 *  - json_top_members (the scan the cache uses on attempt texts) finds in
 *    a valid object exactly the members a full parse finds, with spans
 *    that parse to the same values; json_array_elements finds in a valid
 *    array exactly its elements, likewise;
 *  - attempt_view_describe + attempt_view_render keep a valid attempt text
 *    valid JSON, change nothing but time_remaining_s, and set that to a
 *    non-negative number. */
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempt_view.h"
#include "buf.h"
#include "clock.h"
#include "cache.h"
#include "json.h"
#include "uuid.h"
#include "fuzz_util.h"
#include "../api_member_names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_json: invariant broken: %s (input %zu bytes)\n", what, size);
	(void)data;
	abort();
}

/* Runs every typed accessor on member name of obj and checks its promise. */
static void probe_member(const cJSON *obj, const char *name)
{
	const cJSON *o = NULL;
	const char *s = NULL;
	long v = 0;

	if (json_get_object(obj, name, &o) == JSON_FIELD_OK && !cJSON_IsObject(o))
		abort();
	if (json_get_array(obj, name, &o) == JSON_FIELD_OK && !cJSON_IsArray(o))
		abort();
	if (json_get_string(obj, name, 1, 64, &s) == JSON_FIELD_OK &&
	    (strlen(s) < 1 || strlen(s) > 64))
		abort();
	if (json_get_long(obj, name, 0, 2147483647L, &v) == JSON_FIELD_OK &&
	    (v < 0 || v > 2147483647L))
		abort();
	if (json_get_long(obj, name, 1, 86400, &v) == JSON_FIELD_OK && (v < 1 || v > 86400))
		abort();
	if (json_get_long(obj, name, -2147483647L - 1, 2147483647L, &v) == JSON_FIELD_OK &&
	    (v < -2147483647L - 1 || v > 2147483647L))
		abort();
	if (json_get_uuid(obj, name, &s) == JSON_FIELD_OK && !uuid_valid(s))
		abort();
}

/* Walks the tree: accessors on every member, helpers on every leaf. */
static void walk(const cJSON *item, int depth)
{
	const cJSON *child;
	json_path path;
	int i = 0;

	if (depth > 300)
		abort(); /* json_valid caps nesting at 256 */
	if (cJSON_IsString(item)) {
		(void)clock_parse_utc_ms(item->valuestring);
		(void)uuid_valid(item->valuestring);
	} else if (cJSON_IsNumber(item)) {
		(void)json_number_is_long(item->valuedouble, 0, 2147483647L);
		(void)json_number_is_long(item->valuedouble, -9223372036854775807L - 1,
					  9223372036854775807L);
	}
	cJSON_ArrayForEach(child, item)
	{
		if (cJSON_IsObject(item) && child->string != NULL) {
			probe_member(item, child->string);
			json_path_index(&path, child->string, i, child->string);
		}
		walk(child, depth + 1);
		i++;
	}
	/* Names that the validators look up, present or not. */
	if (cJSON_IsObject(item)) {
		static const char *const names[] = {API_MEMBER_NAMES, ""};
		for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
			probe_member(item, names[k]);
	}
}

/* Same JSON value? Compared by their compact prints: cJSON_Compare calls
 * two infinities (1e999) different, as their difference is NaN. */
static int same_value(const cJSON *a, const cJSON *b)
{
	char *pa = json_print(a), *pb = json_print(b);
	int same = pa != NULL && pb != NULL && strcmp(pa, pb) == 0;

	cJSON_free(pa);
	cJSON_free(pb);
	return same;
}

/* json_top_members against the parsed tree (text: len bytes, valid JSON). */
static void check_top_members(const char *text, size_t len, const cJSON *tree)
{
	static const char *const names[] = {"version",		"user_id", "deadline_at",
					    "time_remaining_s", "answers", ""};
	enum { N = sizeof names / sizeof names[0] };
	json_span at[N];
	int found = json_top_members(text, len, names, N, at);
	int count = 0;

	if (!cJSON_IsObject(tree)) {
		if (found != -1)
			abort();
		return;
	}
	if (found < 0 || found > N)
		abort();
	for (int i = 0; i < N; i++) {
		const cJSON *want = cJSON_GetObjectItemCaseSensitive(tree, names[i]);
		cJSON *got;
		if (at[i].offset < 0)
			continue;
		count++;
		if (at[i].offset > (int)len || at[i].length <= 0 ||
		    (size_t)at[i].offset + (size_t)at[i].length > len)
			abort();
		got = json_parse(text + at[i].offset, (size_t)at[i].length);
		if (got == NULL || want == NULL)
			abort(); /* a span that is not the value, or a member the tree lacks */
		/* Keys are compared as written by the scan, decoded by cJSON: only
		 * when no name repeats do both necessarily pick the same member. */
		if (!fuzz_has_duplicate_keys(tree) && !same_value(got, want))
			abort();
		cJSON_Delete(got);
	}
	if (count != found)
		abort();
}

/* json_array_elements against the parsed tree (text: len bytes, valid JSON). */
static void check_array_elements(const char *text, size_t len, const cJSON *tree)
{
	json_span at[16];
	int n = json_array_elements(text, len, at, 16);
	const cJSON *item;
	int i = 0;

	if (!cJSON_IsArray(tree)) {
		if (n != -1)
			abort();
		return;
	}
	if (n != cJSON_GetArraySize(tree))
		abort();
	cJSON_ArrayForEach(item, tree)
	{
		cJSON *got;
		if (i >= 16)
			break;
		if (at[i].offset <= 0 || at[i].length <= 0 ||
		    (size_t)at[i].offset + (size_t)at[i].length > len)
			abort();
		got = json_parse(text + at[i].offset, (size_t)at[i].length);
		if (got == NULL || !same_value(got, item))
			abort(); /* a span that is not the element */
		cJSON_Delete(got);
		i++;
	}
}

/* The cache's view of an attempt text and its re-rendering. */
static void check_describe(const char *text, size_t len, const cJSON *tree)
{
	char *copy = malloc(len + 1);
	cache_meta meta;
	buf out = BUF_INIT;

	if (copy == NULL)
		return;
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (attempt_view_describe(copy, len, &meta, NULL)) {
		if (strlen(meta.tag) != 36)
			abort();
		attempt_view_render(copy, len, &meta, &out);
		if (out.failed)
			abort();
		if (meta.hole_offset >= 0 && meta.deadline_ms >= 0 &&
		    !fuzz_has_duplicate_keys(tree)) {
			cJSON *r = json_parse(out.data, out.len);
			const cJSON *a, *t;
			if (r == NULL)
				abort(); /* rendering broke a valid attempt text */
			t = cJSON_GetObjectItemCaseSensitive(r, "time_remaining_s");
			if (!cJSON_IsNumber(t) || t->valuedouble < 0)
				abort();
			cJSON_ArrayForEach(a, tree)
			{
				const cJSON *b = cJSON_GetObjectItemCaseSensitive(r, a->string);
				if (strcmp(a->string, "time_remaining_s") != 0 &&
				    (b == NULL || !same_value(a, b)))
					abort(); /* rendering changed another member */
			}
			if (cJSON_GetArraySize(r) != cJSON_GetArraySize(tree))
				abort();
			cJSON_Delete(r);
		} else if (meta.hole_offset < 0 || meta.deadline_ms < 0) {
			if (out.len != len || memcmp(out.data, copy, len) != 0)
				abort(); /* nothing to fill in: the text is served as is */
		}
	}
	buf_free(&out);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, not NUL-terminated: a read past len is a finding. */
	char *text = malloc(size ? size : 1);
	int utf8, valid;
	cJSON *tree;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	utf8 = json_utf8_valid(text, size);
	valid = json_valid(text, size);
	tree = json_parse(text, size);
	if (tree != NULL && !utf8)
		fail("json_parse accepted invalid UTF-8 or a NUL byte", data, size);
	if (tree != NULL && !valid)
		fail("json_parse accepted what json_valid refuses", data, size);
	if (utf8 && size > 0 && valid != (tree != NULL))
		fail("json_valid and json_parse disagree on valid UTF-8", data, size);
	if (tree != NULL && fuzz_has_duplicate_keys(tree))
		fail("json_parse accepted an object with a repeated member name", data, size);
	if (tree != NULL) {
		char *once = json_print(tree);
		walk(tree, 0);
		check_top_members(text, size, tree);
		check_array_elements(text, size, tree);
		check_describe(text, size, tree);
		if (once != NULL) {
			cJSON *again = json_parse(once, strlen(once));
			char *twice;
			if (again == NULL)
				fail("the printed tree does not parse again", data, size);
			twice = json_print(again);
			if (twice != NULL && strcmp(once, twice) != 0)
				fail("print(parse(print(x))) != print(x)", data, size);
			cJSON_free(twice);
			cJSON_Delete(again);
		}
		cJSON_free(once);
		cJSON_Delete(tree);
	}
	free(text);
	return 0;
}
