/* e2e_json: the JSON accessors and value assertions of e2e_util.h. */
#include "e2e_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ JSON values */

const cJSON *jget(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	ck_assert_msg(v != NULL, "key %s missing", key);
	return v;
}

const char *jstr(const cJSON *obj, const char *key)
{
	const cJSON *v = jget(obj, key);

	ck_assert_msg(cJSON_IsString(v), "%s is not a string", key);
	return v->valuestring;
}

double jnum(const cJSON *obj, const char *key)
{
	const cJSON *v = jget(obj, key);

	ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", key);
	return v->valuedouble;
}

int has_key(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key) != NULL;
}

int nkeys(const cJSON *obj)
{
	const cJSON *it;
	int n = 0;

	cJSON_ArrayForEach(it, obj) n++;
	return n;
}

void expect_null(const cJSON *obj, const char *key)
{
	ck_assert_msg(cJSON_IsNull(jget(obj, key)), "%s is not null", key);
}

void expect_str(const cJSON *obj, const char *key, const char *want)
{
	const char *got = jstr(obj, key);

	ck_assert_msg(strcmp(got, want) == 0, "%s is \"%s\", want \"%s\"", key, got, want);
}

void expect_num(const cJSON *obj, const char *key, double want)
{
	double got = jnum(obj, key);

	ck_assert_msg(got == want, "%s is %g, want %g", key, got, want);
}

void expect_bool(const cJSON *obj, const char *key, int want)
{
	const cJSON *v = jget(obj, key);

	ck_assert_msg(cJSON_IsBool(v), "%s is not a boolean", key);
	ck_assert_msg(cJSON_IsTrue(v) == want, "%s is %s, want %s", key,
		      cJSON_IsTrue(v) ? "true" : "false", want ? "true" : "false");
}

void expect_json_eq(const cJSON *obj, const char *key, const char *want)
{
	cJSON *w = cJSON_Parse(want);
	const cJSON *got = jget(obj, key);
	char *got_text = cJSON_PrintUnformatted(got);
	int same;

	ck_assert_ptr_nonnull(w);
	same = cJSON_Compare(got, w, 1);
	ck_assert_msg(same, "%s is %s, want %s", key, got_text, want);
	cJSON_free(got_text);
	cJSON_Delete(w);
}

void expect_ts(const cJSON *obj, const char *key)
{
	const char *s = jstr(obj, key), *p = s;
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	int ok = 1;

	for (size_t i = 0; i < sizeof shape - 1 && ok; i++, p++)
		ok = shape[i] == 'd' ? (*p >= '0' && *p <= '9') : *p == shape[i];
	if (ok && *p == '.') {
		p++;
		ok = *p >= '0' && *p <= '9';
		while (*p >= '0' && *p <= '9')
			p++;
	}
	ok = ok && p[0] == 'Z' && p[1] == '\0';
	ck_assert_msg(ok, "%s is \"%s\", not an RFC 3339 UTC timestamp", key, s);
}

void expect_uuid(const cJSON *obj, const char *key)
{
	const char *s = jstr(obj, key);

	ck_assert_msg(uuid_valid(s), "%s is \"%s\", not a canonical UUID", key, s);
}

void expect_keys(const cJSON *obj, const char *what, const char *const *keys)
{
	for (size_t i = 0; keys[i] != NULL; i++)
		ck_assert_msg(has_key(obj, keys[i]), "%s lacks key %s", what, keys[i]);
}
