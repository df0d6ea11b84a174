/* events: the check of an activity events array (API.md section 6):
 * count, event_type, client_event_id, occurred_at, payload size. The
 * limits (max_events, max_event_payload_bytes) are C's alone: they keep
 * an oversized request from the database. The shape rules are also
 * sql/attempt_writes.sql's events_error (the same messages but one, "events
 * must be an array"), which C still answers first: log_core checks access
 * before events, and batch_log's SQL numbers the items it is sent, not
 * the request's, so dropping them here would change answers. */
#ifndef ATT_EVENTS_H
#define ATT_EVENTS_H

#include <cJSON.h>

#include "config.h"
#include "reply.h"

/* Checks events; prefix is prepended to the field path (e.g. "data[2].").
 * Returns 0, or -1 with *bad filled. */
int events_check(const cJSON *events, const char *prefix, const config *cfg, reply_bad_field *bad);

#endif
