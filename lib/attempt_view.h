/* attempt_view: an attempt's state/info JSON text as the cache keeps it -
 * the facts about it a cached answer needs (version, owner, deadline,
 * where time_remaining_s sits) and its rendering for now. Owns no state;
 * the text is scanned, never parsed into numbers. */
#ifndef ATT_ATTEMPT_VIEW_H
#define ATT_ATTEMPT_VIEW_H

#include <stddef.h>

#include "buf.h"
#include "cache.h"

/* Facts about a state/info JSON text of len bytes for the cache: version,
 * owner (tag), deadline, and where its time_remaining_s number sits; and,
 * unless attempt_id is NULL, the attempt's id into attempt_id (UUID_STR_LEN
 * + 1 bytes). Returns 1 if text is an attempt object (0 for an error item);
 * numbers are not converted, so the text can be cached as it is. */
int attempt_view_describe(const char *text, size_t len, cache_meta *meta, char *attempt_id);

/* Appends text with time_remaining_s recomputed for now. */
void attempt_view_render(const char *text, size_t len, const cache_meta *meta, buf *out);

#endif
