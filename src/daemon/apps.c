/*
 * apps.c — the work of the control requests on the table (apps.h).
 */
#include "daemon/apps.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/adopt.h"
#include "daemon/events.h"
#include "daemon/state.h"
#include "daemon/supervise.h"
#include "daemon/table.h"
#include "daemon/triggers.h"
#include "daemon/wait.h"

/* True when no instance of a runs or waits to run (PM2: stopped, stopping
 * or errored), so that starting it again means restarting it. */
static bool
app_idle(struct app *a)
{
	struct inst *in;
	TAILQ_FOREACH(in, &a->insts, app_link) {
		state_step();
		if (in->state != ST_STOPPED && in->state != ST_ERRORED && in->state != ST_STOPPING)
			return false;
	}
	return true;
}

/* Take back an app whose start failed: stop what started, delete it all.
 * The request replies once it is gone. */
static void
undo_app(struct app *a, struct wait *w)
{
	a->deleted = true;
	struct inst *in, *next;
	for (in = TAILQ_FIRST(&a->insts); in; in = next) {
		next = TAILQ_NEXT(in, app_link);
		state_step();
		wait_add(w, in, WAIT_GONE, 0);
		inst_stop(in, AFTER_STOP_DELETE, NULL);
	}
}

/* Create the app of spec s (taken over) and start its instances; 0, or -1
 * with *err after undoing it. */
static int
start_new_app(struct spec *s, const struct start_opts *o, struct wait *w, char **err)
{
	int count = spec_resolve_instances(s->instances, D->cpus);
	struct app *a = app_create(s);
	bool stopped = !a->spec.autostart || (o->keep_stopped && o->keep_stopped(a->spec.name,
	    o->arg));
	for (int k = 0; k < count; k++) {
		struct inst *in = app_add_inst(a);
		char *why = NULL;
		if (inst_open_logs(in, &why) < 0 || (!stopped && inst_start(in, &why) < 0)) {
			*err = xasprintf("%s: %s", a->spec.name, why);
			free(why);
			undo_app(a, w);
			return -1;
		}
		if (stopped) {
			events_inst(EV_INST_STATE, in, "stopped");
			wait_add(w, in, WAIT_LAUNCHED, 0);
		} else {
			wait_add(w, in, WAIT_LAUNCHED, in->spawn_serial);
		}
	}
	triggers_start(a);
	dlog("started app %s (%s, %d instance%s%s)", a->spec.name,
	    spec_mode_name(a->spec.exec_mode), count, count == 1 ? "" : "s",
	    stopped ? ", left stopped" : "");
	return 0;
}

void
apps_start(struct spec *specs, size_t n, const struct start_opts *o, struct wait *w)
{
	for (size_t i = 0; i < n; i++) {
		struct spec *s = &specs[i];
		bool force = o->force || (o->force_each && o->force_each[i]);
		struct app *known = force ? NULL : app_named(s->name, s->script);
		if (known && app_idle(known)) {
			struct inst *in;
			TAILQ_FOREACH(in, &known->insts, app_link) {
				state_step();
				wait_add(w, in, WAIT_LAUNCHED, in->spawn_serial + 1);
				inst_restart(in, "started again");
			}
			spec_free(s);
			continue;
		}
		char *name = xstrdup(s->name);
		char *err = NULL;
		const char *code = "failed";
		if (known) {
			err = xasprintf("%s is already running %s (use restart, or -f to start "
			    "another copy)", s->name, s->script);
			code = "exists";
			spec_free(s);
		} else if ((err = orphans_blocking(s->name)) != NULL) {
			/* Never a second copy next to processes that hold its port. */
			spec_free(s);
		} else if (start_new_app(s, o, w, &err) == 0) {
			free(name);
			continue;
		}
		dlog("start: %s", err);
		wait_app_failed(w, name, code, err);
		free(err);
		free(name);
	}
}

void
insts_stop(struct inst **ins, size_t n, struct wait *w)
{
	for (size_t i = 0; i < n; i++) {
		wait_add(w, ins[i], WAIT_STOPPED, ins[i]->spawn_serial);
		if (ins[i]->state != ST_STOPPED && ins[i]->state != ST_ERRORED)
			inst_stop(ins[i], AFTER_STOP_NOTHING, "stopped by request");
		else
			inst_set_state(ins[i], ST_STOPPED);
	}
}

void
insts_restart(struct inst **ins, size_t n, struct wait *w)
{
	for (size_t i = 0; i < n; i++) {
		wait_add(w, ins[i], WAIT_LAUNCHED, ins[i]->spawn_serial + 1);
		inst_restart(ins[i], "restarted by request");
	}
}

void
insts_delete(struct inst **ins, size_t n, struct wait *w)
{
	/* The app goes away with its last instance: count the instances
	 * listed per app (targets list each instance once). */
	struct idmap listed = IDMAP_INIT;
	for (size_t i = 0; i < n; i++) {
		wait_add(w, ins[i], WAIT_GONE, 0);
		uintptr_t k = (uintptr_t)idmap_get(&listed, ins[i]->app->id);
		idmap_put(&listed, ins[i]->app->id, (void *)(k + 1));
	}
	for (size_t i = 0; i < n; i++) {
		struct app *a = ins[i]->app;
		uintptr_t k = (uintptr_t)idmap_del(&listed, a->id);
		if (!k)
			continue;       /* this app was looked at already */
		size_t total = 0;
		struct inst *o;
		TAILQ_FOREACH(o, &a->insts, app_link) {
			state_step();
			total++;
		}
		if (total == k)
			a->deleted = true;
	}
	idmap_free(&listed);
	for (size_t i = 0; i < n; i++)
		inst_stop(ins[i], AFTER_STOP_DELETE, "deleted by request");
}

static int
by_index_desc(const void *x, const void *y)
{
	const struct inst *a = *(struct inst *const *)x, *b = *(struct inst *const *)y;
	return (a->index < b->index) - (a->index > b->index);
}

int
app_scale_count(const struct app *a)
{
	int n = 0;
	struct inst *in;
	TAILQ_FOREACH(in, &a->insts, app_link) {
		state_step();
		if (!in->delete_after_stop)
			n++;
	}
	return n;
}

int
app_scale(struct app *a, int want, struct wait *w, char **err)
{
	int current = app_scale_count(a);
	struct inst *in;
	for (int k = current; k < want; k++) {
		in = app_add_inst(a);
		char *why = NULL;
		if (inst_open_logs(in, &why) < 0 || inst_start(in, &why) < 0) {
			/* Undo this instance; the ones already started stay and are
			 * counted in the error. */
			if (!in->proc)
				inst_remove(in);
			*err = xasprintf("%s: %s (%d of %d new instances started)", a->spec.name, why,
			    k - current, want - current);
			free(why);
			return -EIO;
		}
		wait_add(w, in, WAIT_LAUNCHED, in->spawn_serial);
	}
	/* Scale down from the highest instance index: instance 0 often does
	 * the singleton jobs. Draining happens in inst_stop. */
	if (current > want) {
		struct inst **live = xcalloc((size_t)current, sizeof(*live));
		size_t n = 0;
		TAILQ_FOREACH(in, &a->insts, app_link) {
			state_step();
			if (!in->delete_after_stop && n < (size_t)current)
				live[n++] = in;
		}
		qsort(live, n, sizeof(*live), by_index_desc);
		for (size_t k = 0; k < n && k < (size_t)(current - want); k++) {
			wait_add(w, live[k], WAIT_GONE, 0);
			inst_stop(live[k], AFTER_STOP_DELETE, "scaled down");
		}
		free(live);
	}
	dlog("scaling %s from %d to %d instances", a->spec.name, current, want);
	return 0;
}

void
apps_kill(struct wait *w)
{
	D->shutting_down = true;
	size_t n = 0;
	struct inst *in;
	TAILQ_FOREACH(in, &D->insts, link) {
		state_step();
		wait_add(w, in, WAIT_STOPPED, in->spawn_serial);
		inst_stop(in, AFTER_STOP_NOTHING, "corral kill");
		n++;
	}
	n += supervise_stop_strays();
	wait_exit_after(w);
	dlog("kill requested: stopping %zu process%s, then exiting", n, n == 1 ? "" : "es");
}

int
apps_update(struct spec *specs, size_t n, char **err)
{
	for (size_t i = 0; i < n; i++) {
		if (!app_named(specs[i].name, NULL)) {
			*err = xasprintf("app %zu: no app named %s", i + 1, specs[i].name);
			for (size_t k = 0; k < n; k++)
				spec_free(&specs[k]);
			return -ENOENT;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct app *a = app_named(specs[i].name, NULL);
		/* The mode and the count stay: change them with scale/delete. */
		specs[i].exec_mode = a->spec.exec_mode;
		app_replace_spec(a, &specs[i]);
		struct inst *in;
		TAILQ_FOREACH(in, &a->insts, app_link) {
			state_step();
			char *why = NULL;
			if (inst_open_logs(in, &why) < 0) {
				dlog("%s: %s", a->spec.name, why);
				free(why);
			}
		}
		triggers_start(a);
	}
	return 0;
}
