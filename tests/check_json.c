/* check_json: typed field access (ABSENT / OK / BAD), numbers and
 * paths. Strict parsing of request bodies:
 * check_json_parse.c. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check_suites.h"
#include "json.h"

#define UUID_A "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

static cJSON *doc;

static void json_setup(void)
{
	static const char text[] =
		"{\"obj\":{\"k\":1},\"arr\":[1,2],\"str\":\"hello\",\"empty\":\"\","
		"\"n\":42,\"neg\":-7,\"frac\":1.5,\"big\":1e300,\"nul\":null,"
		"\"numstr\":\"42\",\"t\":true,\"uuid\":\"" UUID_A "\","
		"\"UUID\":\"0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D\","
		"\"short_uuid\":\"0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4\","
		"\"zero\":0,\"exp\":1e2}";

	doc = json_parse(text, sizeof text - 1);
	ck_assert_ptr_nonnull(doc);
}

static void json_teardown(void)
{
	cJSON_Delete(doc);
	doc = NULL;
}

/* The function a row of refusals calls. */
typedef enum field_kind {
	FIELD_OBJECT,
	FIELD_ARRAY,
	FIELD_STRING,
	FIELD_LONG,
	FIELD_UUID,
} field_kind;

/* A member of doc that a json_get_* refuses (BAD) or finds absent, with the
 * bounds the string and long getters take (lo, hi). */
static const struct refusal_row {
	field_kind kind;
	const char *name;
	long lo, hi;
	json_field want;
} refusals[] = {
	/* get object */
	{FIELD_OBJECT, "missing", 0, 0, JSON_FIELD_ABSENT},
	{FIELD_OBJECT, "nul", 0, 0, JSON_FIELD_ABSENT},
	{FIELD_OBJECT, "arr", 0, 0, JSON_FIELD_BAD},
	{FIELD_OBJECT, "str", 0, 0, JSON_FIELD_BAD},
	{FIELD_OBJECT, "OBJ", 0, 0, JSON_FIELD_ABSENT},
	/* get array */
	{FIELD_ARRAY, "missing", 0, 0, JSON_FIELD_ABSENT},
	{FIELD_ARRAY, "nul", 0, 0, JSON_FIELD_ABSENT},
	{FIELD_ARRAY, "obj", 0, 0, JSON_FIELD_BAD},
	{FIELD_ARRAY, "n", 0, 0, JSON_FIELD_BAD},
	/* get string */
	{FIELD_STRING, "str", 6, 64, JSON_FIELD_BAD},
	{FIELD_STRING, "str", 1, 4, JSON_FIELD_BAD},
	{FIELD_STRING, "empty", 1, 4, JSON_FIELD_BAD},
	{FIELD_STRING, "n", 0, 64, JSON_FIELD_BAD},
	{FIELD_STRING, "t", 0, 64, JSON_FIELD_BAD},
	{FIELD_STRING, "nul", 0, 64, JSON_FIELD_ABSENT},
	{FIELD_STRING, "missing", 0, 64, JSON_FIELD_ABSENT},
	/* get long */
	{FIELD_LONG, "n", 43, 100, JSON_FIELD_BAD},
	{FIELD_LONG, "n", 0, 41, JSON_FIELD_BAD},
	{FIELD_LONG, "neg", 0, 100, JSON_FIELD_BAD},
	{FIELD_LONG, "frac", 0, 100, JSON_FIELD_BAD},
	{FIELD_LONG, "big", LONG_MIN, LONG_MAX, JSON_FIELD_BAD},
	{FIELD_LONG, "numstr", 0, 100, JSON_FIELD_BAD},
	{FIELD_LONG, "t", 0, 100, JSON_FIELD_BAD},
	{FIELD_LONG, "nul", 0, 100, JSON_FIELD_ABSENT},
	{FIELD_LONG, "missing", 0, 100, JSON_FIELD_ABSENT},
	/* get uuid */
	{FIELD_UUID, "UUID", 0, 0, JSON_FIELD_BAD},
	{FIELD_UUID, "short_uuid", 0, 0, JSON_FIELD_BAD},
	{FIELD_UUID, "str", 0, 0, JSON_FIELD_BAD},
	{FIELD_UUID, "n", 0, 0, JSON_FIELD_BAD},
	{FIELD_UUID, "nul", 0, 0, JSON_FIELD_ABSENT},
	{FIELD_UUID, "missing", 0, 0, JSON_FIELD_ABSENT},
};

/* Each row's verdict; the out-parameter is written only on success. */
START_TEST(test_json_field_refusals)
{
	const struct refusal_row *r = &refusals[_i];
	const cJSON *item = NULL;
	const char *text = NULL;
	long v = -99;
	json_field got = JSON_FIELD_OK;

	switch (r->kind) {
	case FIELD_OBJECT:
		got = json_get_object(doc, r->name, &item);
		break;
	case FIELD_ARRAY:
		got = json_get_array(doc, r->name, &item);
		break;
	case FIELD_STRING:
		got = json_get_string(doc, r->name, (size_t)r->lo, (size_t)r->hi, &text);
		break;
	case FIELD_LONG:
		got = json_get_long(doc, r->name, r->lo, r->hi, &v);
		break;
	case FIELD_UUID:
		got = json_get_uuid(doc, r->name, &text);
		break;
	}
	ck_assert_msg(got == r->want, "row %d (%s): %d, expected %d", _i, r->name, got, r->want);
	ck_assert_ptr_null(item);
	ck_assert_ptr_null(text);
	ck_assert_int_eq(v, -99);
}
END_TEST

START_TEST(test_json_get_object)
{
	const cJSON *out = NULL;

	ck_assert_int_eq(json_get_object(doc, "obj", &out), JSON_FIELD_OK);
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(out, "k"));
}
END_TEST

START_TEST(test_json_get_array)
{
	const cJSON *out = NULL;

	ck_assert_int_eq(json_get_array(doc, "arr", &out), JSON_FIELD_OK);
	ck_assert_int_eq(cJSON_GetArraySize(out), 2);
}
END_TEST

START_TEST(test_json_get_string)
{
	const char *out = NULL;

	ck_assert_int_eq(json_get_string(doc, "str", 1, 64, &out), JSON_FIELD_OK);
	ck_assert_str_eq(out, "hello");
	out = NULL;
	ck_assert_int_eq(json_get_string(doc, "str", 5, 5, &out), JSON_FIELD_OK);
	out = NULL;
	ck_assert_int_eq(json_get_string(doc, "empty", 0, 4, &out), JSON_FIELD_OK);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_json_get_long)
{
	long v = -99;

	ck_assert_int_eq(json_get_long(doc, "n", 0, 100, &v), JSON_FIELD_OK);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(json_get_long(doc, "neg", -10, 0, &v), JSON_FIELD_OK);
	ck_assert_int_eq(v, -7);
	ck_assert_int_eq(json_get_long(doc, "exp", 0, 100, &v), JSON_FIELD_OK);
	ck_assert_int_eq(v, 100);
	ck_assert_int_eq(json_get_long(doc, "zero", 0, 0, &v), JSON_FIELD_OK);
	ck_assert_int_eq(v, 0);
}
END_TEST

START_TEST(test_json_fields_of_null)
{
	const cJSON *o = NULL;
	const char *str = NULL;
	long v = 5;

	ck_assert_int_eq(json_get_object(NULL, "a", &o), JSON_FIELD_ABSENT);
	ck_assert_int_eq(json_get_array(NULL, "a", &o), JSON_FIELD_ABSENT);
	ck_assert_int_eq(json_get_string(NULL, "a", 0, 9, &str), JSON_FIELD_ABSENT);
	ck_assert_int_eq(json_get_long(NULL, "a", 0, 9, &v), JSON_FIELD_ABSENT);
	ck_assert_int_eq(json_get_uuid(NULL, "a", &str), JSON_FIELD_ABSENT);
	ck_assert_ptr_null(o);
	ck_assert_ptr_null(str);
	ck_assert_int_eq(v, 5);
}
END_TEST

START_TEST(test_json_string_length_in_bytes)
{
	static const char text[] = "{\"s\":\"\xc3\xa9\xc3\xa9\"}"; /* 2 chars, 4 bytes */
	cJSON *j = json_parse(text, sizeof text - 1);
	const char *out = NULL;

	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(json_get_string(j, "s", 4, 4, &out), JSON_FIELD_OK);
	ck_assert_int_eq(json_get_string(j, "s", 1, 2, &out), JSON_FIELD_BAD);
	cJSON_Delete(j);
}
END_TEST

START_TEST(test_json_number_is_long)
{
	ck_assert_int_eq(json_number_is_long(3.0, 0, 10), 1);
	ck_assert_int_eq(json_number_is_long(0.0, 0, 0), 1);
	ck_assert_int_eq(json_number_is_long(-0.0, 0, 10), 1);
	ck_assert_int_eq(json_number_is_long(10.0, 0, 10), 1);
	ck_assert_int_eq(json_number_is_long(10.5, 0, 20), 0);
	ck_assert_int_eq(json_number_is_long(11.0, 0, 10), 0);
	ck_assert_int_eq(json_number_is_long(-1.0, 0, 10), 0);
	ck_assert_int_eq(json_number_is_long(NAN, 0, 10), 0);
	ck_assert_int_eq(json_number_is_long(INFINITY, LONG_MIN, LONG_MAX), 0);
	ck_assert_int_eq(json_number_is_long(-INFINITY, LONG_MIN, LONG_MAX), 0);
	ck_assert_int_eq(json_number_is_long(2147483647.0, 0, 2147483647L), 1);
	ck_assert_int_eq(json_number_is_long(2147483648.0, 0, 2147483647L), 0);
}
END_TEST

/* 2^63 does not fit a long, yet (double)LONG_MAX rounds up to exactly 2^63,
 * so a [.., LONG_MAX] range check on doubles lets it through and the cast
 * to long that follows is undefined. */
START_TEST(test_json_number_is_long_2pow63)
{
	ck_assert_int_eq(json_number_is_long(9223372036854775808.0, LONG_MIN, LONG_MAX), 0);
}
END_TEST

START_TEST(test_json_get_uuid)
{
	const char *out = NULL;

	ck_assert_int_eq(json_get_uuid(doc, "uuid", &out), JSON_FIELD_OK);
	ck_assert_str_eq(out, UUID_A);
}
END_TEST

START_TEST(test_json_path)
{
	json_path p;

	json_path_index(&p, "events", 3, "payload");
	ck_assert_str_eq(p.text, "events[3].payload");
	json_path_index(&p, "data", 0, NULL);
	ck_assert_str_eq(p.text, "data[0]");
	json_path_index(&p, "data", 12, "");
	ck_assert_str_eq(p.text, "data[12]");
}
END_TEST

START_TEST(test_json_path_truncates)
{
	json_path p;
	char longname[400];

	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	json_path_index(&p, longname, 1, "x");
	ck_assert_uint_eq(strlen(p.text), sizeof p.text - 1);
}
END_TEST

START_TEST(test_json_print)
{
	static const char in[] = " { \"a\" : [ 1 , \"x\" ] } ";
	cJSON *j = json_parse(in, sizeof in - 1);
	char *text;

	ck_assert_ptr_nonnull(j);
	text = json_print(j);
	ck_assert_ptr_nonnull(text);
	ck_assert_str_eq(text, "{\"a\":[1,\"x\"]}");
	cJSON_free(text);
	cJSON_Delete(j);
}
END_TEST

void json_cases(Suite *s)
{
	TCase *tc;

	tc = check_tcase(s, "fields", json_setup, json_teardown, test_json_get_object,
			 test_json_get_array, test_json_get_string, test_json_get_long,
			 test_json_get_uuid, NULL);
	tcase_add_loop_test(tc, test_json_field_refusals, 0, CHECK_ROWS(refusals));

	check_tcase(s, "fields_edge", NULL, NULL, test_json_fields_of_null,
		    test_json_string_length_in_bytes, NULL);

	check_tcase(s, "numbers", NULL, NULL, test_json_number_is_long,
		    test_json_number_is_long_2pow63, NULL);

	check_tcase(s, "paths", NULL, NULL, test_json_path, test_json_path_truncates,
		    test_json_print, NULL);
}
