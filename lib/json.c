/* json: typed field access on cJSON trees for request validation. */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "uuid.h"

void json_path_set(json_path *p, const char *name)
{
	snprintf(p->text, sizeof p->text, "%s", name);
}

void json_path_index(json_path *p, const char *array, int index,
		     const char *member)
{
	if (member != NULL && *member != '\0')
		snprintf(p->text, sizeof p->text, "%s[%d].%s", array, index, member);
	else
		snprintf(p->text, sizeof p->text, "%s[%d]", array, index);
}

/* The named member, or NULL when absent or JSON null. */
static const cJSON *member(const cJSON *obj, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (item == NULL || cJSON_IsNull(item))
		return NULL;
	return item;
}

json_field json_get_object(const cJSON *obj, const char *name,
			   const cJSON **out)
{
	const cJSON *item = member(obj, name);

	if (item == NULL)
		return JSON_FIELD_ABSENT;
	if (!cJSON_IsObject(item))
		return JSON_FIELD_BAD;
	*out = item;
	return JSON_FIELD_OK;
}

json_field json_get_array(const cJSON *obj, const char *name,
			  const cJSON **out)
{
	const cJSON *item = member(obj, name);

	if (item == NULL)
		return JSON_FIELD_ABSENT;
	if (!cJSON_IsArray(item))
		return JSON_FIELD_BAD;
	*out = item;
	return JSON_FIELD_OK;
}

json_field json_get_string(const cJSON *obj, const char *name, size_t minlen,
			   size_t maxlen, const char **out)
{
	const cJSON *item = member(obj, name);
	size_t len;

	if (item == NULL)
		return JSON_FIELD_ABSENT;
	if (!cJSON_IsString(item))
		return JSON_FIELD_BAD;
	len = strlen(item->valuestring);
	if (len < minlen || len > maxlen)
		return JSON_FIELD_BAD;
	*out = item->valuestring;
	return JSON_FIELD_OK;
}

int json_number_is_long(double d, long min, long max)
{
	return isfinite(d) && d == floor(d) && d >= (double)min &&
	       d <= (double)max;
}

json_field json_get_long(const cJSON *obj, const char *name, long min,
			 long max, long *out)
{
	const cJSON *item = member(obj, name);

	if (item == NULL)
		return JSON_FIELD_ABSENT;
	if (!cJSON_IsNumber(item) || !json_number_is_long(item->valuedouble, min, max))
		return JSON_FIELD_BAD;
	*out = (long)item->valuedouble;
	return JSON_FIELD_OK;
}

json_field json_get_uuid(const cJSON *obj, const char *name, const char **out)
{
	const char *s;
	json_field f = json_get_string(obj, name, UUID_STR_LEN, UUID_STR_LEN, &s);

	if (f != JSON_FIELD_OK)
		return f;
	if (!uuid_valid(s))
		return JSON_FIELD_BAD;
	*out = s;
	return JSON_FIELD_OK;
}

static int digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int json_is_timestamp(const char *s)
{
	size_t i;

	/* YYYY-MM-DDTHH:MM:SS */
	if (strlen(s) < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
	    s[7] != '-' || !digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) ||
	    s[16] != ':' || !digits(s + 17, 2))
		return 0;
	i = 19;
	if (s[i] == '.') {
		size_t start = ++i;
		while (s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return 0;
	}
	if ((s[i] == 'Z' || s[i] == 'z') && s[i + 1] == '\0')
		return 1;
	if ((s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2) &&
	    s[i + 3] == ':' && digits(s + i + 4, 2) && s[i + 6] == '\0')
		return 1;
	return 0;
}

json_field json_get_timestamp(const cJSON *obj, const char *name,
			      const char **out)
{
	const char *s;
	json_field f = json_get_string(obj, name, 1, 64, &s);

	if (f != JSON_FIELD_OK)
		return f;
	if (!json_is_timestamp(s))
		return JSON_FIELD_BAD;
	*out = s;
	return JSON_FIELD_OK;
}

char *json_print(const cJSON *item)
{
	return cJSON_PrintUnformatted(item);
}

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

cJSON *json_parse(const char *text, size_t len)
{
	const char *end = NULL;
	cJSON *item;

	if (text == NULL || len == 0 || !json_utf8_valid(text, len))
		return NULL;
	item = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (item == NULL)
		return NULL;
	/* Only trailing whitespace may follow the value. */
	while (end < text + len &&
	       (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end != text + len) {
		cJSON_Delete(item);
		return NULL;
	}
	return item;
}
