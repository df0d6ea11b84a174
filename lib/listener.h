/* listener: this process's one LISTEN connection, through which it learns
 * of changes other processes made (NOTIFY from the attempts trigger and
 * clear_cache broadcasts). Owns the connection and reconnecting it; what
 * a notification means is the callbacks' business. */
#ifndef ATT_LISTENER_H
#define ATT_LISTENER_H

#include "att_err.h"

typedef struct listener listener;

typedef struct listener_callbacks {
	/* One notification: channel name and payload. */
	void (*on_notify)(void *arg, const char *channel, const char *payload);
	/* Notifications may have been missed (the connection is back after a
	 * loss): forget everything that depended on them. */
	void (*on_reset)(void *arg);
	void *arg;
} listener_callbacks;

/* Creates the listener for conninfo on the NULL-terminated channel list
 * (names are SQL identifiers we own, not input) and tries to connect once.
 * The caller frees it with listener_free(). */
att_err listener_create(const char *conninfo, const char *const *channels,
			const listener_callbacks *cb, listener **out) ATT_MUSTCHECK;

/* Closes the connection. Accepts NULL. */
void listener_free(listener *l);

/* Delivers every notification that has arrived, without blocking. Returns
 * 1 if the listener is connected (so what it reports is complete), 0 if
 * not (the caller must not trust anything that depends on it). */
int listener_drain(listener *l);

/* If disconnected, tries to connect and LISTEN again (this blocks for the
 * connect); calls on_reset after a loss and after a reconnect. Returns 1
 * if connected afterwards. For the housekeeping thread. */
int listener_maintain(listener *l);

/* Counters: notifications delivered, resets. */
void listener_get_stats(listener *l, unsigned long long *notifications, unsigned long long *resets,
			int *connected);

#endif
