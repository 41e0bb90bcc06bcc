/*
 * adopt.h — a daemon takes over from one that died (docs/architecture.md,
 * "Surviving the daemon's death").
 *
 * With a keeper: from the items it handed over (keep.h), the apps,
 * instances, processes, output pipes, listener groups and sd_notify
 * sockets are rebuilt before the control socket listens, so no client ever
 * sees an empty table. The processes are not our children: their pidfds
 * tell when they exit, with an unknown status.
 *
 * Without one (the keeper was killed too): the processes the dead daemon
 * left running are found by the marks every app carries in its environment
 * (NOTIFY_SOCKET of this home, pm_id, name). Their pipes and sockets are
 * gone with the dead daemon, so they cannot be managed; they are
 * "orphans": `list` shows them, `start`/`resurrect` of their app is refused
 * while they run, `delete <name>`, `stop <name>` and `kill` stop them.
 */
#ifndef CORRAL_ADOPT_H
#define CORRAL_ADOPT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct keep_items;
struct wait;

/* Rebuild the table from a keeper's items (the descriptors are taken;
 * the caller frees the rest). */
void adopt_from_keeper(struct keep_items *items);
/* No keeper: find the processes of this home's apps that still run. */
void adopt_orphans(void);

/* [{"name", "pm_id", "pid"}] of the orphans still running (a new
 * reference), for `list`. */
json_t *orphans_json(void);
/* A message naming the orphans of the app called name that still run, or
 * NULL when there are none (caller frees). */
char *orphans_blocking(const char *name);
/* Stop the orphans the targets name ("all", or an app's name), adding
 * each to w (it replies once they are gone). Returns how many. */
size_t orphans_stop(json_t *targets, struct wait *w);

#endif
