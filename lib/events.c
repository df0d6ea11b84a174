/* events: validation of activity events arrays. */
#include "events.h"

#include <stdio.h>
#include <string.h>

#include "json.h"

int events_check(const cJSON *events, const char *prefix, const config *cfg, reply_bad_field *bad)
{
	const cJSON *ev;
	int i = 0;

	bad->status = 422;
	bad->code = "validation_failed";
	bad->message = "events must be an array of event objects";
	snprintf(bad->field, sizeof bad->field, "%s%s", prefix, "events");
	if (!cJSON_IsArray(events))
		return -1;
	if (cJSON_GetArraySize(events) > cfg->max_events) {
		bad->status = 413;
		bad->code = "batch_too_large";
		bad->message = "too many events in one request";
		return -1;
	}
	cJSON_ArrayForEach(ev, events)
	{
		const char *s = NULL;
		const cJSON *payload = cJSON_GetObjectItemCaseSensitive(ev, "payload");
		json_path path;

		json_path_index(&path, "events", i, NULL);
		snprintf(bad->field, sizeof bad->field, "%s%s", prefix, path.text);
		if (!cJSON_IsObject(ev)) {
			bad->message = "an event must be an object";
			return -1;
		}
		json_path_index(&path, "events", i, "event_type");
		snprintf(bad->field, sizeof bad->field, "%s%s", prefix, path.text);
		if (json_get_string(ev, "event_type", 1, 64, &s) != JSON_FIELD_OK ||
		    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != strlen(s)) {
			bad->message = "event_type must be 1..64 characters of [a-z0-9_.-]";
			return -1;
		}
		json_path_index(&path, "events", i, "client_event_id");
		snprintf(bad->field, sizeof bad->field, "%s%s", prefix, path.text);
		if (json_get_string(ev, "client_event_id", 1, 128, &s) == JSON_FIELD_BAD) {
			bad->message = "client_event_id must be a string of 1..128 characters";
			return -1;
		}
		json_path_index(&path, "events", i, "occurred_at");
		snprintf(bad->field, sizeof bad->field, "%s%s", prefix, path.text);
		if (json_get_timestamp(ev, "occurred_at", &s) == JSON_FIELD_BAD) {
			bad->message = "occurred_at must be an RFC 3339 timestamp";
			return -1;
		}
		json_path_index(&path, "events", i, "payload");
		snprintf(bad->field, sizeof bad->field, "%s%s", prefix, path.text);
		if (payload != NULL && !cJSON_IsNull(payload)) {
			char *text = json_print(payload);
			size_t len = text ? strlen(text) : 0;
			cJSON_free(text);
			if (text == NULL || len > (size_t)cfg->max_event_payload_bytes) {
				bad->status = 413;
				bad->code = "payload_too_large";
				bad->message = "event payload too large";
				return -1;
			}
		}
		i++;
	}
	return 0;
}
