/* attempt_view: facts about an attempt's JSON text for the cache, and its
 * rendering with time_remaining_s recomputed. */
#include "attempt_view.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "json.h"
#include "uuid.h"

/* Is the member at span a string of UUID length? */
static int is_uuid_span(const char *text, json_span span)
{
	return span.offset >= 0 && span.length == UUID_STR_LEN + 2 && text[span.offset] == '"';
}

/* Copies the UUID string at span (without quotes) into out. */
static void copy_uuid_span(char *out, const char *text, json_span span)
{
	memcpy(out, text + span.offset + 1, UUID_STR_LEN);
	out[UUID_STR_LEN] = '\0';
}

int attempt_view_describe(const char *text, size_t len, cache_meta *meta, char *attempt_id)
{
	static const char *const names[] = {"version", "user_id", "deadline_at", "time_remaining_s",
					    "attempt_id"};
	json_span at[5];
	char deadline[64];

	memset(meta, 0, sizeof *meta);
	meta->hole_offset = -1;
	meta->deadline_ms = -1;
	/* A scan, not a parse: answers may be large and are skipped. */
	if (json_top_members(text, len, names, 5, at) < 2 || at[0].offset < 0 ||
	    !is_uuid_span(text, at[1]) || (attempt_id != NULL && !is_uuid_span(text, at[4])))
		return 0;
	meta->version = strtoll(text + at[0].offset, NULL, 10);
	copy_uuid_span(meta->tag, text, at[1]);
	if (attempt_id != NULL)
		copy_uuid_span(attempt_id, text, at[4]);
	if (at[2].offset >= 0 && at[3].offset >= 0 && text[at[3].offset] != 'n' &&
	    text[at[2].offset] == '"' && at[2].length - 2 < (int)sizeof deadline) {
		memcpy(deadline, text + at[2].offset + 1, (size_t)at[2].length - 2);
		deadline[at[2].length - 2] = '\0';
		meta->deadline_ms = clock_parse_utc_ms(deadline);
		meta->hole_offset = at[3].offset;
		meta->hole_length = at[3].length;
	}
	return 1;
}

void attempt_view_render(const char *text, size_t len, const cache_meta *meta, buf *out)
{
	long long left;

	if (meta->hole_offset < 0 || meta->deadline_ms < 0) {
		buf_append(out, text, len);
		return;
	}
	left = (meta->deadline_ms - clock_wall_ms()) / 1000;
	buf_append(out, text, (size_t)meta->hole_offset);
	buf_printf(out, "%lld", left > 0 ? left : 0);
	buf_append(out, text + meta->hole_offset + meta->hole_length,
		   len - (size_t)meta->hole_offset - (size_t)meta->hole_length);
}
