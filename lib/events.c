/* events: the size limits of activity events arrays (events.h). */
#include "events.h"

#include <stdio.h>
#include <string.h>

#include "json.h"

/* The length of a payload's JSON text (0 for none or null), or -1 when it
 * cannot be printed. */
static long payload_length(const cJSON *ev)
{
	const cJSON *payload = cJSON_GetObjectItemCaseSensitive(ev, "payload");
	char *text;
	long len;

	if (payload == NULL || cJSON_IsNull(payload))
		return 0;
	text = json_print(payload);
	len = text != NULL ? (long)strlen(text) : -1;
	cJSON_free(text);
	return len;
}

int events_within_limits(const cJSON *events, const char *prefix, const config *cfg,
			 reply_bad_field *bad)
{
	const cJSON *ev;
	int i = 0;

	bad->status = 413;
	if (!cJSON_IsArray(events))
		return 0;
	if (cJSON_GetArraySize(events) > cfg->max_events) {
		bad->code = "batch_too_large";
		bad->message = "too many events in one request";
		snprintf(bad->field, sizeof bad->field, "%sevents", prefix);
		return -1;
	}
	cJSON_ArrayForEach(ev, events)
	{
		long len = cJSON_IsObject(ev) ? payload_length(ev) : 0;

		if (len < 0 || len > (long)cfg->max_event_payload_bytes) {
			json_path path;

			json_path_index(&path, "events", i, "payload");
			bad->code = "payload_too_large";
			bad->message = "event payload too large";
			snprintf(bad->field, sizeof bad->field, "%s%s", prefix, path.text);
			return -1;
		}
		i++;
	}
	return 0;
}
