/*
 * apps.h — what the control requests do to the table, as plain functions:
 * commands.c decodes a request, calls one of these, and replies once the
 * wait they filled is done (wait.h). Nothing here reads JSON.
 */
#ifndef CORRAL_APPS_H
#define CORRAL_APPS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/spec.h"

struct app;
struct inst;
struct wait;

struct start_opts {
	bool force;                 /* start another copy of a running app */
	const bool *force_each;     /* the same per spec (the app's own "force"),
	                             * or NULL */
	/* Register these apps stopped (resurrect of apps saved as stopped). */
	bool (*keep_stopped)(const char *name, void *arg);
	void *arg;
};

/*
 * Start an app for each spec (taken over: zeroed or freed). Each app stands
 * on its own: one that cannot start (already running, a file missing, the
 * program not executable, its logs not writable) is removed again and
 * reported with wait_app_failed(); the others start. An app known but idle
 * is started again (a restart), as PM2 does. The wait gets every instance.
 */
void apps_start(struct spec *specs, size_t n, const struct start_opts *o, struct wait *w);

/* Stop, restart or delete these instances; the wait gets each. */
void insts_stop(struct inst **ins, size_t n, struct wait *w);
void insts_restart(struct inst **ins, size_t n, struct wait *w);
void insts_delete(struct inst **ins, size_t n, struct wait *w);

/* Change the app's number of instances to want (1..4096): new ones start,
 * the highest indexes are drained and deleted. 0, or -errno with *err
 * (instances started before the failure stay). */
int app_scale(struct app *a, int want, struct wait *w, char **err);
/* How many instances a has for scale: those on their way out do not count. */
int app_scale_count(const struct app *a);

/* `corral kill`: stop everything; the wait replies, then the daemon exits. */
void apps_kill(struct wait *w);

/* Replace the specs of the apps of the same names (restart or reload with
 * updated specs, --update-env); the mode and the instance count stay. The
 * specs are taken over. 0, or -ENOENT with *err naming an app that does
 * not exist (then nothing changed and the specs are freed). */
int apps_update(struct spec *specs, size_t n, char **err);

#endif
