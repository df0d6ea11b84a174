/* events: the service's limits on an activity events array (API.md
 * section 6): how many events one request carries (max_events) and how
 * large one event's payload is (max_event_payload_bytes). They keep an
 * oversized request from the database. Every other rule of an event
 * (an array of objects, event_type, client_event_id, occurred_at) is
 * sql/attempt_writes.sql's events_error alone; an events value that is no
 * array is left to it. */
#ifndef ATT_EVENTS_H
#define ATT_EVENTS_H

#include <cJSON.h>

#include "config.h"
#include "reply.h"

/* Checks events against the limits; prefix is prepended to the field path
 * (e.g. "data[2]."). Returns 0, or -1 with *bad filled (413). */
int events_within_limits(const cJSON *events, const char *prefix, const config *cfg,
			 reply_bad_field *bad);

#endif
