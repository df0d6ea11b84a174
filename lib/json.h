/* json: small cJSON helpers - typed field access for request validation,
 * field paths and compact printing. Owns no trees: callers keep ownership
 * of what they pass in; printed text is freed with cJSON_free(). Checking
 * and parsing JSON text is json_text's (included here: every caller of
 * these helpers parsed its tree with json_parse first). */
#ifndef ATT_JSON_H
#define ATT_JSON_H

#include <cJSON.h>

#include "att_err.h"
#include "json_text.h"

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
/* Returns 1 if d is an integer within [min, max]. */
int json_number_is_long(double d, long min, long max);

/* Compact text of item, or NULL; the caller frees it with cJSON_free(). */
char *json_print(const cJSON *item) ATT_MUSTCHECK;

#endif
