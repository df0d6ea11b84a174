/* events: the check of an activity events array (API.md section 6):
 * count, event_type, client_event_id, occurred_at, payload size. Owns
 * those limits' answers in C, so that a batch_log can refuse one item and
 * send the others (the SQL repeats the shape checks, events_error). */
#ifndef ATT_EVENTS_H
#define ATT_EVENTS_H

#include <cJSON.h>

#include "config.h"
#include "reply.h"

/* Checks events; prefix is prepended to the field path (e.g. "data[2].").
 * Returns 0, or -1 with *bad filled. */
int events_check(const cJSON *events, const char *prefix, const config *cfg, reply_bad_field *bad);

#endif
