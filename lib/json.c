/* json: typed field access on cJSON trees for request validation. */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uuid.h"

void json_path_index(json_path *p, const char *array, int index, const char *member)
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

json_field json_get_object(const cJSON *obj, const char *name, const cJSON **out)
{
	const cJSON *item = member(obj, name);

	if (item == NULL)
		return JSON_FIELD_ABSENT;
	if (!cJSON_IsObject(item))
		return JSON_FIELD_BAD;
	*out = item;
	return JSON_FIELD_OK;
}

json_field json_get_array(const cJSON *obj, const char *name, const cJSON **out)
{
	const cJSON *item = member(obj, name);

	if (item == NULL)
		return JSON_FIELD_ABSENT;
	if (!cJSON_IsArray(item))
		return JSON_FIELD_BAD;
	*out = item;
	return JSON_FIELD_OK;
}

json_field json_get_string(const cJSON *obj, const char *name, size_t minlen, size_t maxlen,
			   const char **out)
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
	long v;

	/* Only integers a double holds exactly (|d| < 2^53) are taken, so the
	 * conversion below is always defined. */
	if (!isfinite(d) || d != floor(d) || d <= -9007199254740992.0 || d >= 9007199254740992.0)
		return 0;
	v = (long)d;
	return v >= min && v <= max;
}

json_field json_get_long(const cJSON *obj, const char *name, long min, long max, long *out)
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

char *json_print(const cJSON *item)
{
	return cJSON_PrintUnformatted(item);
}
