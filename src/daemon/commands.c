/*
 * commands.c — control requests: start, stop, restart, delete, list, ...
 *
 * Requests that change processes answer once the change has happened (see
 * op.h): `stop` when the process tree is gone, `start` and `restart` when
 * every instance has launched (online, or failed trying).
 */
#include "daemon/commands.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/signame.h"
#include "common/spec.h"
#include "daemon/logfile.h"
#include "daemon/op.h"
#include "daemon/procinfo.h"
#include "daemon/reload.h"
#include "daemon/server.h"
#include "daemon/state.h"
#include "daemon/supervise.h"
#include "daemon/table.h"
#include "daemon/triggers.h"

enum wait_kind {
	WAIT_LAUNCHED,   /* each instance's launch is over (online or failed) */
	WAIT_STOPPED,    /* each instance is stopped or errored, or started again */
	WAIT_GONE,       /* each instance is deleted */
};

struct wait_item {
	uint64_t uid;
	uint64_t serial;
};

struct wait {
	enum wait_kind kind;
	struct wait_item *items;
	size_t n;
	char *error;     /* reply this error instead of the list when done */
	bool exit_after; /* `kill`: leave the loop after replying */
};

static void
wait_free(void *p)
{
	struct wait *w = p;
	free(w->items);
	free(w->error);
	free(w);
}

static bool
item_done(enum wait_kind kind, const struct wait_item *it)
{
	struct inst *in = inst_by_uid(it->uid);
	/* Stopped or deleted means nothing of the instance runs any more: a
	 * process a reload replaced may still be draining, holding its port. */
	if (!in)
		return kind != WAIT_GONE || inst_procs_gone(it->uid);
	switch (kind) {
	case WAIT_LAUNCHED:
		return inst_launched(in, it->serial);
	case WAIT_STOPPED:
		/* A restart that came meanwhile took the instance over: it never
		 * shows stopped, and that is the answer too. Stopped also means
		 * the processes a reload replaced are gone. */
		if (in->spawn_serial > it->serial)
			return true;
		return (in->state == ST_STOPPED || in->state == ST_ERRORED) &&
		    inst_procs_gone(in->uid);
	case WAIT_GONE:
		return false;
	}
	return true;
}

static bool
wait_check(struct op *op)
{
	struct wait *w = op->data;
	for (size_t i = 0; i < w->n; i++)
		if (!item_done(w->kind, &w->items[i]))
			return false;
	/* `kill` exits: nothing may outlive it, not even the processes a
	 * reload replaced that are still draining. */
	if (w->exit_after && !supervise_procs_gone())
		return false;
	if (w->error) {
		op_fail(op, "failed", "%s", w->error);
	} else {
		json_t *procs = json_array();
		for (size_t i = 0; i < w->n; i++) {
			struct inst *in = inst_by_uid(w->items[i].uid);
			if (in)
				json_array_append_new(procs, procinfo_json(in, false));
		}
		op_reply(op, json_pack("{s:o}", "procs", procs));
	}
	if (w->exit_after)
		loop_stop(D->loop);
	return true;
}

static struct wait *
wait_new(enum wait_kind kind, size_t cap)
{
	struct wait *w = xcalloc(1, sizeof(*w));
	w->kind = kind;
	w->items = xcalloc(cap ? cap : 1, sizeof(*w->items));
	return w;
}

static void
wait_add(struct wait *w, struct inst *in, uint64_t serial)
{
	w->items[w->n].uid = in->uid;
	w->items[w->n].serial = serial;
	w->n++;
}

/* ---- listing ---- */

static void
cmd_list(struct client *c, json_t *id, json_t *req)
{
	bool with_env = json_is_true(json_object_get(req, "env"));
	bool brief = json_is_true(json_object_get(req, "brief"));
	bool raw = json_is_true(json_object_get(req, "raw")) && !brief && !with_env;
	json_t *targets = json_object_get(req, "targets");
	struct inst **ins = NULL;
	size_t n = 0;
	if (targets && !json_is_null(targets)) {
		char *err;
		if (table_resolve(targets, &ins, &n, &err) < 0) {
			client_error(c, id, "not_found", "%s", err);
			free(err);
			return;
		}
	} else {
		struct inst *in;
		TAILQ_FOREACH(in, &D->insts, link)
			n++;
		ins = xcalloc(n ? n : 1, sizeof(*ins));
		n = 0;
		TAILQ_FOREACH(in, &D->insts, link)
			ins[n++] = in;
	}
	if (raw) {
		/* `jlist` prints the array as it is: send it as the next line so
		 * the CLI does not parse and re-serialize it. */
		struct sbuf b = SBUF_INIT;
		sbuf_addc(&b, '[');
		for (size_t i = 0; i < n; i++) {
			if (i)
				sbuf_addc(&b, ',');
			procinfo_append_text(&b, ins[i]);
		}
		sbuf_addc(&b, ']');
		free(ins);
		client_reply(c, id, json_pack("{s:b}", "procs_follow", 1));
		client_send_line(c, b.s);
		sbuf_free(&b);
		return;
	}
	json_t *procs = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(procs, brief ? procinfo_brief(ins[i])
		    : procinfo_json(ins[i], with_env));
	free(ins);
	client_reply(c, id, json_pack("{s:o}", "procs", procs));
}

static void
cmd_ping(struct client *c, json_t *id, json_t *req)
{
	client_reply(c, id, json_pack("{s:b, s:i, s:s, s:I}", "pong", 1, "pid", (int)D->pid,
	    "version", CORRAL_VERSION, "started_at", (json_int_t)D->started_wall_ms));
}

/* ---- start ---- */

static struct app *
app_named(const char *name, const char *script)
{
	struct app *a;
	TAILQ_FOREACH(a, &D->apps, link)
		if (!a->deleted && strcmp(a->spec.name, name) == 0 &&
		    (!script || strcmp(a->spec.script, script) == 0))
			return a;
	return NULL;
}

static bool
name_in(json_t *names, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			return true;
	return false;
}

/* True when no instance of a runs or waits to run (PM2: stopped, stopping
 * or errored), so that starting it again means restarting it. */
static bool
app_idle(struct app *a)
{
	struct inst *in;
	TAILQ_FOREACH(in, &a->insts, app_link)
		if (in->state != ST_STOPPED && in->state != ST_ERRORED && in->state != ST_STOPPING)
			return false;
	return true;
}

/* Remove apps created by a start request that failed. */
static void
undo_start(struct app **apps, size_t napps, struct wait *w)
{
	for (size_t i = 0; i < napps; i++) {
		apps[i]->deleted = true;
		struct inst *in, *next;
		for (in = TAILQ_FIRST(&apps[i]->insts); in; in = next) {
			next = TAILQ_NEXT(in, app_link);
			wait_add(w, in, 0);
			inst_stop(in, AFTER_STOP_DELETE, NULL);
		}
	}
	w->kind = WAIT_GONE;
}

static void
cmd_start(struct client *c, json_t *id, json_t *req)
{
	json_t *apps = json_object_get(req, "apps");
	bool force = json_is_true(json_object_get(req, "force"));
	if (!json_is_array(apps) || json_array_size(apps) == 0) {
		client_error(c, id, "bad_request", "start needs \"apps\": a non-empty array of app specs");
		return;
	}
	size_t napps = json_array_size(apps);
	struct spec *specs = xcalloc(napps, sizeof(*specs));
	/* Apps already known but idle: PM2 starts them again (a restart). */
	struct app **revive = xcalloc(napps, sizeof(*revive));
	size_t parsed = 0;
	char *err = NULL;
	/* All or nothing: every spec is checked before anything starts. */
	for (; parsed < napps; parsed++) {
		if (spec_from_json(json_array_get(apps, parsed), &specs[parsed], &err) < 0) {
			client_error(c, id, "bad_spec", "app %zu: %s", parsed, err);
			goto out;
		}
		const struct spec *s = &specs[parsed];
		struct app *known = force ? NULL : app_named(s->name, s->script);
		if (known && app_idle(known)) {
			revive[parsed] = known;
		} else if (known) {
			err = xasprintf("%s is already running %s (use restart, or -f to start "
			    "another copy)", s->name, s->script);
			client_error(c, id, "exists", "%s", err);
			parsed++;
			goto out;
		}
	}
	struct app **created = xcalloc(napps, sizeof(*created));
	size_t total = 0;
	for (size_t i = 0; i < napps; i++) {
		struct inst *in;
		if (revive[i])
			TAILQ_FOREACH(in, &revive[i]->insts, app_link)
				total++;
		else
			total += (size_t)spec_resolve_instances(specs[i].instances, D->cpus);
	}
	struct wait *w = wait_new(WAIT_LAUNCHED, total);
	size_t ncreated = 0;
	for (size_t i = 0; i < napps && !w->error; i++) {
		if (revive[i])
			continue;
		int count = spec_resolve_instances(specs[i].instances, D->cpus);
		struct app *a = app_create(&specs[i]);
		created[ncreated++] = a;
		for (int k = 0; k < count && !w->error; k++) {
			struct inst *in = app_add_inst(a);
			if (inst_open_logs(in, &err) < 0) {
				w->error = xasprintf("%s: %s", a->spec.name, err);
				free(err);
				err = NULL;
				break;
			}
			if (!a->spec.autostart || name_in(json_object_get(req, "stopped"), a->spec.name)) {
				server_publish_event(in, "stopped");
				continue;
			}
			if (inst_start(in, &err) < 0) {
				w->error = xasprintf("%s: %s", a->spec.name, err);
				free(err);
				err = NULL;
				break;
			}
			wait_add(w, in, in->spawn_serial);
		}
		if (!w->error) {
			triggers_start(a);
			dlog("started app %s (%s, %d instance%s)", a->spec.name,
			    spec_mode_name(a->spec.exec_mode), count, count == 1 ? "" : "s");
		}
	}
	if (w->error) {
		w->n = 0;
		undo_start(created, ncreated, w);
	} else {
		/* Report instances registered as stopped (autostart false) too. */
		for (size_t i = 0; i < ncreated; i++) {
			struct inst *in;
			TAILQ_FOREACH(in, &created[i]->insts, app_link)
				if (in->state == ST_STOPPED)
					wait_add(w, in, 0);
		}
		for (size_t i = 0; i < napps; i++) {
			struct inst *in;
			if (!revive[i])
				continue;
			TAILQ_FOREACH(in, &revive[i]->insts, app_link) {
				wait_add(w, in, in->spawn_serial + 1);
				inst_restart(in, "started again");
			}
		}
	}
	free(created);
	op_new(c, id, wait_check, w, wait_free);
	/* Specs taken by app_create() are zeroed; the others are freed. */
	parsed = napps;
out:
	for (size_t i = 0; i < parsed; i++)
		spec_free(&specs[i]);
	free(specs);
	free(revive);
	free(err);
}

/* ---- commands on targets ---- */

static bool
resolve(struct client *c, json_t *id, json_t *req, struct inst ***ins, size_t *n)
{
	char *err = NULL;
	if (table_resolve(json_object_get(req, "targets"), ins, n, &err) < 0) {
		client_error(c, id, "not_found", "%s", err);
		free(err);
		return false;
	}
	return true;
}

/* Apply updated specs (restart/reload with a config, --update-env) to
 * the apps of the same name. 0 or -EINVAL after replying an error. */
static int
apply_specs(struct client *c, json_t *id, json_t *req)
{
	json_t *apps = json_object_get(req, "apps");
	if (!apps)
		return 0;
	if (!json_is_array(apps)) {
		client_error(c, id, "bad_request", "\"apps\" must be an array of app specs");
		return -EINVAL;
	}
	size_t n = json_array_size(apps);
	struct spec *specs = xcalloc(n ? n : 1, sizeof(*specs));
	char *err = NULL;
	size_t i;
	for (i = 0; i < n; i++) {
		if (spec_from_json(json_array_get(apps, i), &specs[i], &err) < 0 ||
		    !app_named(specs[i].name, NULL)) {
			if (!err)
				err = xasprintf("no app named %s", specs[i].name);
			else
				i--;
			client_error(c, id, "bad_spec", "app %zu: %s", i + 1, err);
			free(err);
			for (size_t k = 0; k <= i && k < n; k++)
				spec_free(&specs[k]);
			free(specs);
			return -EINVAL;
		}
	}
	for (i = 0; i < n; i++) {
		struct app *a = app_named(specs[i].name, NULL);
		/* The mode and the count stay: change them with scale/delete. */
		specs[i].exec_mode = a->spec.exec_mode;
		spec_free(&a->spec);
		a->spec = specs[i];
		app_spec_changed(a);
		struct inst *in;
		TAILQ_FOREACH(in, &a->insts, app_link) {
			if (inst_open_logs(in, &err) < 0) {
				dlog("%s: %s", a->spec.name, err);
				free(err);
				err = NULL;
			}
		}
		triggers_start(a);
	}
	free(specs);
	return 0;
}

/* "watch": true or false turns watching on or off for the targets' apps;
 * "toggle" flips it per app (PM2's `restart --watch`). */
/* restart: resolve the targets, then apply updated specs. Targets
 * first, so a request that fails changes nothing. */
static bool
resolve_and_update(struct client *c, json_t *id, json_t *req, struct inst ***ins, size_t *n)
{
	if (!resolve(c, id, req, ins, n))
		return false;
	if (apply_specs(c, id, req) < 0) {
		free(*ins);
		return false;
	}
	return true;
}

static void
set_watch(json_t *req, struct inst **ins, size_t n)
{
	json_t *watch = json_object_get(req, "watch");
	bool toggle = json_is_string(watch) && strcmp(json_string_value(watch), "toggle") == 0;
	if (!json_is_boolean(watch) && !toggle)
		return;
	struct app **done = xcalloc(n ? n : 1, sizeof(*done));
	size_t ndone = 0;
	for (size_t i = 0; i < n; i++) {
		struct app *a = ins[i]->app;
		bool seen = false;
		for (size_t k = 0; k < ndone; k++)
			seen |= done[k] == a;
		if (seen)
			continue;
		done[ndone++] = a;
		triggers_set_watch(a, toggle ? a->watch == NULL : json_is_true(watch));
	}
	free(done);
}

static void
cmd_stop(struct client *c, json_t *id, json_t *req)
{
	struct inst **ins;
	size_t n;
	if (!resolve(c, id, req, &ins, &n))
		return;
	set_watch(req, ins, n);
	struct wait *w = wait_new(WAIT_STOPPED, n);
	for (size_t i = 0; i < n; i++) {
		wait_add(w, ins[i], ins[i]->spawn_serial);
		if (ins[i]->state != ST_STOPPED && ins[i]->state != ST_ERRORED)
			inst_stop(ins[i], AFTER_STOP_NOTHING, "stopped by request");
		else
			inst_set_state(ins[i], ST_STOPPED);
	}
	free(ins);
	op_new(c, id, wait_check, w, wait_free);
}

static void
cmd_restart(struct client *c, json_t *id, json_t *req)
{
	struct inst **ins;
	size_t n;
	if (!resolve_and_update(c, id, req, &ins, &n))
		return;
	set_watch(req, ins, n);
	struct wait *w = wait_new(WAIT_LAUNCHED, n);
	for (size_t i = 0; i < n; i++) {
		wait_add(w, ins[i], ins[i]->spawn_serial + 1);
		inst_restart(ins[i], "restarted by request");
	}
	free(ins);
	op_new(c, id, wait_check, w, wait_free);
}

static void
cmd_reload(struct client *c, json_t *id, json_t *req)
{
	struct inst **ins;
	size_t n;
	if (!resolve(c, id, req, &ins, &n))
		return;
	/* Refused before the new specs apply: a refused reload changes
	 * nothing (the running one would spawn its next successors, and
	 * every later restart, with the specs of the refused request). */
	struct app *busy = reload_busy(ins, n);
	if (busy) {
		client_error(c, id, "busy", "a reload of %s is already in progress",
		    busy->spec.name);
		free(ins);
		return;
	}
	if (apply_specs(c, id, req) < 0) {
		free(ins);
		return;
	}
	json_int_t parallel = json_integer_value(json_object_get(req, "parallel"));
	if (parallel < 1)
		parallel = 1;
	/* Cluster apps that are online reload without downtime; anything else
	 * restarts, as in PM2. One reply when all of it is over. */
	reload_start(c, id, ins, n, (int)parallel);
	free(ins);
}

static void
cmd_delete(struct client *c, json_t *id, json_t *req)
{
	struct inst **ins;
	size_t n;
	if (!resolve(c, id, req, &ins, &n))
		return;
	struct wait *w = wait_new(WAIT_GONE, n);
	for (size_t i = 0; i < n; i++) {
		struct app *a = ins[i]->app;
		wait_add(w, ins[i], 0);
		/* The app goes away with its last instance. */
		bool all = true;
		struct inst *o;
		TAILQ_FOREACH(o, &a->insts, app_link) {
			bool listed = false;
			for (size_t k = 0; k < n; k++)
				listed |= ins[k] == o;
			all &= listed;
		}
		if (all)
			a->deleted = true;
	}
	for (size_t i = 0; i < n; i++)
		inst_stop(ins[i], AFTER_STOP_DELETE, "deleted by request");
	free(ins);
	op_new(c, id, wait_check, w, wait_free);
}

static void
cmd_reset(struct client *c, json_t *id, json_t *req)
{
	struct inst **ins;
	size_t n;
	if (!resolve(c, id, req, &ins, &n))
		return;
	json_t *procs = json_array();
	for (size_t i = 0; i < n; i++) {
		ins[i]->restarts = 0;
		ins[i]->unstable_restarts = 0;
		ins[i]->prev_restart_delay = 0;
		ins[i]->created_wall = wall_ms();
		json_array_append_new(procs, procinfo_json(ins[i], false));
	}
	free(ins);
	client_reply(c, id, json_pack("{s:o}", "procs", procs));
}

static void
cmd_signal(struct client *c, json_t *id, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "signal"));
	int sig = name ? signame_parse(name) : -EINVAL;
	if (sig < 0) {
		client_error(c, id, "bad_request", "unknown signal %s", name ? name : "(none)");
		return;
	}
	struct inst **ins;
	size_t n;
	if (!resolve(c, id, req, &ins, &n))
		return;
	json_t *procs = json_array();
	size_t sent = 0;
	for (size_t i = 0; i < n; i++) {
		if (inst_signal(ins[i], sig) == 0)
			sent++;
		json_array_append_new(procs, procinfo_json(ins[i], false));
	}
	free(ins);
	if (sent == 0) {
		json_decref(procs);
		client_error(c, id, "not_running", "no running process to send %s to",
		    signame_name(sig));
		return;
	}
	client_reply(c, id, json_pack("{s:o, s:i}", "procs", procs, "signalled", (int)sent));
}

static void
cmd_scale(struct client *c, json_t *id, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	json_t *count = json_object_get(req, "count");
	json_t *delta = json_object_get(req, "delta");
	struct app *a = name ? app_named(name, NULL) : NULL;
	if (!a) {
		client_error(c, id, "not_found", "no app named %s", name ? name : "(none)");
		return;
	}
	/* Instances already on their way out do not count. */
	int current = 0;
	struct inst *in;
	TAILQ_FOREACH(in, &a->insts, app_link)
		if (!in->delete_after_stop)
			current++;
	json_int_t want;
	if (json_is_integer(count))
		want = json_integer_value(count);
	else if (json_is_integer(delta) && llabs(json_integer_value(delta)) <= 4096)
		want = current + json_integer_value(delta);
	else if (json_is_integer(delta))
		want = -1;
	else {
		client_error(c, id, "bad_request", "scale needs \"count\" or \"delta\"");
		return;
	}
	if (want < 1 || want > 4096) {
		client_error(c, id, "bad_request", "cannot scale %s to %lld instances (1..4096; "
		    "use stop or delete for 0)", name, (long long)want);
		return;
	}
	struct wait *w = wait_new(want > current ? WAIT_LAUNCHED : WAIT_GONE,
	    (size_t)(want > current ? want - current : current - want));
	char *err = NULL;
	for (json_int_t k = current; k < want; k++) {
		in = app_add_inst(a);
		if (inst_open_logs(in, &err) < 0 || inst_start(in, &err) < 0) {
			/* Undo this instance; the ones already started stay and are
			 * reported by the error. */
			if (!in->proc)
				inst_remove(in);
			client_error(c, id, "failed", "%s: %s (%lld of %lld new instances started)",
			    a->spec.name, err, (long long)(k - current), (long long)(want - current));
			free(err);
			wait_free(w);
			return;
		}
		wait_add(w, in, in->spawn_serial);
	}
	/* Scale down from the highest instance index: instance 0 often does
	 * the singleton jobs. Draining happens in inst_stop. */
	for (json_int_t k = current; k > want; k--) {
		struct inst *victim = NULL;
		TAILQ_FOREACH(in, &a->insts, app_link)
			if (!in->delete_after_stop && (!victim || in->index > victim->index))
				victim = in;
		if (!victim)
			break;
		wait_add(w, victim, 0);
		inst_stop(victim, AFTER_STOP_DELETE, "scaled down");
	}
	dlog("scaling %s from %d to %lld instances", a->spec.name, current, (long long)want);
	op_new(c, id, wait_check, w, wait_free);
}

static void
cmd_flush(struct client *c, json_t *id, json_t *req)
{
	struct inst **ins = NULL;
	size_t n = 0;
	json_t *targets = json_object_get(req, "targets");
	if (targets && !json_is_null(targets)) {
		if (!resolve(c, id, req, &ins, &n))
			return;
	} else {
		struct inst *in;
		TAILQ_FOREACH(in, &D->insts, link)
			n++;
		ins = xcalloc(n ? n : 1, sizeof(*ins));
		n = 0;
		TAILQ_FOREACH(in, &D->insts, link)
			ins[n++] = in;
	}
	json_t *files = json_array();
	/* Instances of one app may share their files (merge_logs): once each. */
	struct logfile **done = xcalloc(3 * n + 1, sizeof(*done));
	size_t ndone = 0;
	for (size_t i = 0; i < n; i++) {
		struct logfile *lfs[] = {ins[i]->out_file, ins[i]->err_file, ins[i]->log_file};
		for (size_t k = 0; k < ARRAY_LEN(lfs); k++) {
			bool seen = false;
			for (size_t d = 0; d < ndone && !seen; d++)
				seen = done[d] == lfs[k];
			if (!lfs[k] || seen)
				continue;
			done[ndone++] = lfs[k];
			if (logfile_truncate(lfs[k]) == 0)
				json_array_append_new(files, json_string(lfs[k]->path));
		}
	}
	free(done);
	free(ins);
	client_reply(c, id, json_pack("{s:o}", "files", files));
}

static void
cmd_reload_logs(struct client *c, json_t *id, json_t *req)
{
	char *first = NULL;
	int daemon_log_rc = log_reopen();
	size_t failed = logfile_reopen_all(&first);
	if (daemon_log_rc < 0 && failed++ == 0)
		first = xasprintf("%s: %s", D->paths.log, strerror(-daemon_log_rc));
	if (failed) {
		char more[48] = "";
		if (failed > 1)
			snprintf(more, sizeof(more), " (and %zu more)", failed - 1);
		client_error(c, id, "reopen_failed", "cannot reopen %s%s; output still goes to "
		    "the old file", first, more);
		free(first);
		return;
	}
	dlog("log files reopened");
	client_reply(c, id, NULL);
}

static void
cmd_logs(struct client *c, json_t *id, json_t *req)
{
	json_t *targets = json_object_get(req, "targets");
	json_t *pm_ids = NULL;
	if (targets && !json_is_null(targets)) {
		struct inst **ins;
		size_t n;
		if (!resolve(c, id, req, &ins, &n))
			return;
		pm_ids = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(pm_ids, json_integer(ins[i]->pm_id));
		free(ins);
	}
	json_t *out = json_object_get(req, "out"), *err = json_object_get(req, "err");
	client_subscribe_logs(c, pm_ids, out ? json_is_true(out) : true, err ? json_is_true(err) : true);
	json_decref(pm_ids);
	client_reply(c, id, json_pack("{s:b}", "subscribed", 1));
}

static void
cmd_events(struct client *c, json_t *id, json_t *req)
{
	client_subscribe_events(c);
	client_reply(c, id, json_pack("{s:b}", "subscribed", 1));
}

static void
cmd_kill(struct client *c, json_t *id, json_t *req)
{
	D->shutting_down = true;
	size_t n = 0;
	struct inst *in;
	TAILQ_FOREACH(in, &D->insts, link)
		n++;
	struct wait *w = wait_new(WAIT_STOPPED, n);
	w->exit_after = true;
	TAILQ_FOREACH(in, &D->insts, link) {
		wait_add(w, in, in->spawn_serial);
		inst_stop(in, AFTER_STOP_NOTHING, "corral kill");
	}
	dlog("kill requested: stopping %zu process%s, then exiting", n, n == 1 ? "" : "es");
	op_new(c, id, wait_check, w, wait_free);
}

static const struct {
	const char *name;
	void (*fn)(struct client *c, json_t *id, json_t *req);
} commands[] = {
	{"ping", cmd_ping},
	{"list", cmd_list},
	{"start", cmd_start},
	{"stop", cmd_stop},
	{"restart", cmd_restart},
	{"reload", cmd_reload},
	{"delete", cmd_delete},
	{"reset", cmd_reset},
	{"signal", cmd_signal},
	{"scale", cmd_scale},
	{"flush", cmd_flush},
	{"reload_logs", cmd_reload_logs},
	{"logs", cmd_logs},
	{"events", cmd_events},
	{"kill", cmd_kill},
};

void
command_dispatch(struct client *c, json_t *id, const char *cmd, json_t *req)
{
	for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
		if (strcmp(commands[i].name, cmd) == 0) {
			if (D->shutting_down && strcmp(cmd, "ping") != 0 && strcmp(cmd, "list") != 0 &&
			    strcmp(cmd, "kill") != 0) {
				client_error(c, id, "shutting_down", "the daemon is shutting down");
				return;
			}
			commands[i].fn(c, id, req);
			return;
		}
	}
	client_error(c, id, "unknown_command", "unknown command \"%s\"", cmd);
}
