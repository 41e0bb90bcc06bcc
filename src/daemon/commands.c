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
#include "daemon/adopt.h"
#include "daemon/apps.h"
#include "daemon/logfile.h"
#include "daemon/logrotate.h"
#include "daemon/op.h"
#include "daemon/procinfo.h"
#include "daemon/profile.h"
#include "daemon/reload.h"
#include "daemon/sampler.h"
#include "daemon/server.h"
#include "daemon/state.h"
#include "daemon/supervise.h"
#include "daemon/table.h"
#include "daemon/triggers.h"
#include "daemon/update.h"
#include "daemon/wait.h"
#include "daemon/web.h"

/* ---- listing ---- */

/* Targets match the apps running a script unless the request says
 * "by_script": false (`corral start <name>` looks for a known app). */
static bool
by_script(json_t *req)
{
	return !json_is_false(json_object_get(req, "by_script"));
}

/* A listing sent as it is read ("stream": true): the instances are named
 * by uid when it starts, and each is sampled and serialized when its line
 * is made (one deleted meanwhile is left out). Lines are JSON arrays of up
 * to LIST_CHUNK_BYTES of instances; an empty array ends it. */
#define LIST_CHUNK_BYTES (16u << 10)

struct listing {
	uint64_t *uids;
	size_t n, next;
	enum procinfo_shape shape;
	bool ended;
};

static char *
listing_next(void *arg, size_t *len)
{
	struct listing *l = arg;
	if (l->ended)
		return NULL;
	struct sbuf b = SBUF_INIT;
	sbuf_addc(&b, '[');
	size_t count = 0;
	while (l->next < l->n && b.len < LIST_CHUNK_BYTES) {
		struct inst *in = inst_by_uid(l->uids[l->next++]);
		state_step();
		if (!in)
			continue;
		sampler_refresh(&in, 1);
		if (count++)
			sbuf_addc(&b, ',');
		procinfo_append(&b, in, l->shape);
	}
	/* The empty array after the last instance says it is over. */
	l->ended = count == 0;
	sbuf_adds(&b, "]\n");
	*len = b.len;
	return sbuf_take(&b);
}

static void
listing_free(void *arg)
{
	struct listing *l = arg;
	free(l->uids);
	free(l);
}

static void
cmd_list(struct client *c, json_t *id, json_t *req)
{
	bool with_env = json_is_true(json_object_get(req, "env"));
	bool brief = json_is_true(json_object_get(req, "brief"));
	bool raw = json_is_true(json_object_get(req, "raw")) && !brief && !with_env;
	bool stream = json_is_true(json_object_get(req, "stream"));
	json_t *targets = json_object_get(req, "targets");
	struct inst **ins = NULL;
	size_t n = 0;
	if (targets && !json_is_null(targets)) {
		char *err;
		if (table_resolve(targets, by_script(req), &ins, &n, &err) < 0) {
			client_error(c, id, "not_found", "%s", err);
			free(err);
			return;
		}
	} else {
		ins = table_all_insts(&n);
	}
	if (stream) {
		struct listing *l = xcalloc(1, sizeof(*l));
		l->uids = xcalloc(n ? n : 1, sizeof(*l->uids));
		for (size_t i = 0; i < n; i++)
			l->uids[i] = ins[i]->uid;
		l->n = n;
		l->shape = brief ? PROCINFO_BRIEF : with_env ? PROCINFO_ENV : PROCINFO_FULL;
		free(ins);
		json_t *head = json_pack("{s:s}", "procs_follow", "chunks");
		json_t *orphans = orphans_json();
		if (json_array_size(orphans))
			json_object_set(head, "orphans", orphans);
		json_decref(orphans);
		client_reply(c, id, head);
		client_stream(c, listing_next, l, listing_free);
		return;
	}
	sampler_refresh(ins, n);
	if (raw) {
		/* `jlist` prints the array as it is: send it as the next line so
		 * the CLI does not parse and re-serialize it. */
		struct sbuf b = SBUF_INIT;
		procinfo_append_all(&b, ins, n, PROCINFO_FULL);
		free(ins);
		client_reply(c, id, json_pack("{s:b}", "procs_follow", 1));
		client_send_line(c, b.s);
		sbuf_free(&b);
		return;
	}
	/* Written as text once: a tree of a 2 MB list (environments) cost
	 * a serialization, a parse and a serialization again. */
	struct sbuf b = SBUF_INIT;
	procinfo_append_all(&b, ins, n, brief ? PROCINFO_BRIEF
	    : with_env ? PROCINFO_ENV : PROCINFO_FULL);
	free(ins);
	json_t *reply = json_object();
	json_t *orphans = orphans_json();
	if (json_array_size(orphans))
		json_object_set(reply, "orphans", orphans);
	json_decref(orphans);
	client_reply_text(c, id, reply, "procs", b.s, b.len);
	sbuf_free(&b);
}

/* The most pm_ids a `sample` request may name (a screen's rows are far
 * fewer). */
#define SAMPLE_MAX_IDS 4096

static int
int_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/*
 * `sample`: every instance's light figures in one compact reply, and CPU,
 * memory and listener state for those named in "pm_ids" (all when it is
 * absent), each sampled at most once a second (sampler.h). What `corral
 * monit` asks for every second: the rows it shows are measured, the others
 * cost a few bytes each and no /proc read.
 */
static void
cmd_sample(struct client *c, json_t *id, json_t *req)
{
	json_t *ids = json_object_get(req, "pm_ids");
	if (ids && !json_is_null(ids) && !json_is_array(ids)) {
		client_error(c, id, "bad_request", "\"pm_ids\" must be an array of integers");
		return;
	}
	bool all = !ids || json_is_null(ids);
	size_t nids = all ? 0 : json_array_size(ids);
	if (nids > SAMPLE_MAX_IDS) {
		client_error(c, id, "bad_request", "\"pm_ids\" names %zu instances; at most %d",
		    nids, SAMPLE_MAX_IDS);
		return;
	}
	int *want = xcalloc(nids ? nids : 1, sizeof(*want));
	for (size_t i = 0; i < nids; i++) {
		json_t *v = json_array_get(ids, i);
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > INT32_MAX) {
			client_error(c, id, "bad_request", "\"pm_ids\"[%zu] is not a pm_id", i);
			free(want);
			return;
		}
		want[i] = (int)json_integer_value(v);
	}
	json_t *others = json_object_get(req, "others");
	if (others && !json_is_boolean(others)) {
		client_error(c, id, "bad_request", "\"others\" must be true or false");
		free(want);
		return;
	}
	qsort(want, nids, sizeof(*want), int_cmp);
	struct sbuf b = SBUF_INIT;
	sbuf_addc(&b, '[');
	struct inst *in;
	size_t n = 0;
	if (!all && json_is_false(others)) {
		/* Only the instances named: a lookup each, in pm_id order. */
		for (size_t i = 0; i < nids; i++) {
			state_step();
			if ((i > 0 && want[i] == want[i - 1]) || !(in = inst_by_pm_id(want[i])))
				continue;
			sampler_refresh(&in, 1);
			if (n++)
				sbuf_addc(&b, ',');
			procinfo_append_sample(&b, in, true);
		}
	} else {
		TAILQ_FOREACH(in, &D->insts, link) {
			state_step();
			bool measured = all || bsearch(&in->pm_id, want, nids, sizeof(*want),
			    int_cmp);
			if (measured)
				sampler_refresh(&in, 1);
			if (n++)
				sbuf_addc(&b, ',');
			procinfo_append_sample(&b, in, measured);
		}
	}
	sbuf_addc(&b, ']');
	free(want);
	client_reply_text(c, id, json_pack("{s:I}", "at", (json_int_t)wall_ms()), "procs", b.s,
	    b.len);
	sbuf_free(&b);
}

static void
cmd_ping(struct client *c, json_t *id, json_t *req)
{
	client_reply(c, id, json_pack("{s:b, s:i, s:s, s:I, s:I}", "pong", 1, "pid", (int)D->pid,
	    "version", CORRAL_VERSION, "started_at", (json_int_t)D->started_wall_ms,
	    "steps", (json_int_t)D->steps));
}

/* A wait for the request's outcome; its reply lists the instances briefly
 * when the request says "brief" (the CLI's table needs no more). */
static struct wait *
wait_for_request(json_t *req)
{
	struct wait *w = wait_new();
	if (json_is_true(json_object_get(req, "brief")))
		wait_brief(w);
	return w;
}

/* ---- start ---- */

/* One app of a request: its spec, with the environment it has in full
 * ("env") or as a delta over the request's "env_base" (NULL when the
 * request has none). 0, or -EINVAL with *err. */
static int
decode_spec(const json_t *app, json_t *base, struct spec *s, char **err)
{
	const json_t *delta = json_object_get(app, "env_delta");
	if (delta && (!base || json_object_get(app, "env"))) {
		*err = xstrdup(base ? "env_delta: not with env" : "env_delta: the request has no env_base");
		return -EINVAL;
	}
	if (spec_from_json(app, s, err) < 0)
		return -EINVAL;
	if (delta && spec_env_over(s, base, delta, err) < 0) {
		spec_free(s);
		return -EINVAL;
	}
	return 0;
}

/* Decode "apps": an array of specs, and "env_base", the environment they
 * share when the client sends it once (each app's "env_delta" says how its
 * own differs: a string sets a variable, null removes one). The specs
 * array (caller frees with specs_free) or NULL after replying an error. */
static struct spec *
decode_specs(struct client *c, json_t *id, json_t *req, size_t *n)
{
	json_t *apps = json_object_get(req, "apps");
	json_t *base = json_object_get(req, "env_base");
	if (base) {
		char *err = spec_env_check("env_base", base, false);
		if (err) {
			client_error(c, id, "bad_spec", "%s", err);
			free(err);
			return NULL;
		}
		base = table_env_shared(base);
	}
	*n = json_array_size(apps);
	struct spec *specs = xcalloc(*n ? *n : 1, sizeof(*specs));
	for (size_t i = 0; i < *n; i++) {
		char *err = NULL;
		if (decode_spec(json_array_get(apps, i), base, &specs[i], &err) < 0) {
			client_error(c, id, "bad_spec", "app %zu: %s", i + 1, err);
			free(err);
			for (size_t k = 0; k < i; k++)
				spec_free(&specs[k]);
			free(specs);
			return NULL;
		}
	}
	return specs;
}

/* Is name in the set (a JSON object by name) of apps to keep stopped? */
static bool
name_listed(const char *name, void *arg)
{
	return json_object_get(arg, name) != NULL;
}

static void
cmd_start(struct client *c, json_t *id, json_t *req)
{
	json_t *apps = json_object_get(req, "apps");
	if (!json_is_array(apps) || json_array_size(apps) == 0) {
		client_error(c, id, "bad_request", "start needs \"apps\": a non-empty array of app specs");
		return;
	}
	/* Every spec is checked before anything starts; then each app starts
	 * or fails on its own. */
	size_t n;
	struct spec *specs = decode_specs(c, id, req, &n);
	if (!specs)
		return;
	/* The names to keep stopped as a set: a resurrect of 1000 apps saved
	 * stopped looked each one up in a list of 1000. */
	json_t *stopped = json_object_get(req, "stopped"), *keep = NULL;
	if (json_is_array(stopped)) {
		keep = json_object();
		size_t i;
		json_t *v;
		json_array_foreach(stopped, i, v)
			if (json_is_string(v))
				json_object_set(keep, json_string_value(v), json_true());
	}
	/* An app of a file may say force of its own (docs/config.md). */
	bool *force_each = xcalloc(n, sizeof(*force_each));
	for (size_t i = 0; i < n; i++)
		force_each[i] = json_is_true(json_object_get(json_array_get(apps, i), "force"));
	struct start_opts o = {.force = json_is_true(json_object_get(req, "force")),
	    .force_each = force_each, .keep_stopped = keep ? name_listed : NULL, .arg = keep};
	struct wait *w = wait_for_request(req);
	apps_start(specs, n, &o, w);
	json_decref(keep);
	free(force_each);
	free(specs);
	if (n == 1)
		wait_fail_as_first_failed(w);
	wait_reply_when_done(w, c, id);
}

/* ---- commands on targets ---- */

/* "all" on an empty table when the request wants some process (PM2's
 * "No process found"): replies the error. */
static bool
all_of_nothing(struct client *c, json_t *id, json_t *req, size_t n)
{
	if (n > 0 || !json_is_true(json_object_get(req, "all_needs_some")))
		return false;
	client_error(c, id, "not_found", "all: no process found (the process list is empty)");
	return true;
}

bool
command_targets(struct client *c, json_t *id, json_t *req, struct inst ***ins, size_t *n)
{
	char *err = NULL;
	if (table_resolve(json_object_get(req, "targets"), by_script(req), ins, n, &err) < 0) {
		client_error(c, id, "not_found", "%s", err);
		free(err);
		return false;
	}
	if (all_of_nothing(c, id, req, *n)) {
		free(*ins);
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
	size_t n;
	struct spec *specs = decode_specs(c, id, req, &n);
	if (!specs)
		return -EINVAL;
	char *err = NULL;
	int rc = apps_update(specs, n, &err);
	free(specs);
	if (rc < 0) {
		client_error(c, id, "bad_spec", "%s", err);
		free(err);
		return -EINVAL;
	}
	return 0;
}

/* Replace the specs of running apps without restarting them: a restart or
 * reload whose specs would not fit in one request line sends them first in
 * pieces, then itself without them. */
static void
cmd_update(struct client *c, json_t *id, json_t *req)
{
	if (!json_object_get(req, "apps")) {
		client_error(c, id, "bad_request", "update needs \"apps\": an array of app specs");
		return;
	}
	if (apply_specs(c, id, req) == 0)
		client_reply(c, id, NULL);
}

/* "watch": true or false turns watching on or off for the targets' apps;
 * "toggle" flips it per app (PM2's `restart --watch`). */
/* restart: resolve the targets, then apply updated specs. Targets
 * first, so a request that fails changes nothing. */
static bool
resolve_and_update(struct client *c, json_t *id, json_t *req, struct inst ***ins, size_t *n)
{
	if (!command_targets(c, id, req, ins, n))
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
	struct idmap done = IDMAP_INIT;
	for (size_t i = 0; i < n; i++) {
		struct app *a = ins[i]->app;
		if (idmap_get(&done, a->id))
			continue;
		idmap_put(&done, a->id, a);
		triggers_set_watch(a, toggle ? a->watch == NULL : json_is_true(watch));
	}
	idmap_free(&done);
}

/* stop and delete also stop the orphans a dead daemon left (adopt.h):
 * a target that names only those is not an error. False after replying
 * an error. */
static bool
resolve_or_orphans(struct client *c, json_t *id, json_t *req, struct inst ***ins, size_t *n,
    struct wait **w)
{
	*w = wait_for_request(req);
	size_t orphans = orphans_stop(json_object_get(req, "targets"), *w);
	char *err = NULL;
	if (table_resolve(json_object_get(req, "targets"), by_script(req), ins, n, &err) == 0) {
		if (orphans || !all_of_nothing(c, id, req, *n))
			return true;
		free(*ins);
		wait_free(*w);
		return false;
	}
	if (orphans) {
		free(err);
		return true;
	}
	client_error(c, id, "not_found", "%s", err);
	free(err);
	wait_free(*w);
	return false;
}

static void
cmd_stop(struct client *c, json_t *id, json_t *req)
{
	struct inst **ins;
	size_t n;
	struct wait *w;
	if (!resolve_or_orphans(c, id, req, &ins, &n, &w))
		return;
	set_watch(req, ins, n);
	insts_stop(ins, n, w);
	free(ins);
	wait_reply_when_done(w, c, id);
}

static void
cmd_restart(struct client *c, json_t *id, json_t *req)
{
	struct inst **ins;
	size_t n;
	if (!resolve_and_update(c, id, req, &ins, &n))
		return;
	set_watch(req, ins, n);
	struct wait *w = wait_for_request(req);
	insts_restart(ins, n, w);
	free(ins);
	wait_reply_when_done(w, c, id);
}

static void
cmd_reload(struct client *c, json_t *id, json_t *req)
{
	struct inst **ins;
	size_t n;
	if (!command_targets(c, id, req, &ins, &n))
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
	struct wait *w;
	if (!resolve_or_orphans(c, id, req, &ins, &n, &w))
		return;
	insts_delete(ins, n, w);
	free(ins);
	wait_reply_when_done(w, c, id);
}

/* Reply result with the instances ins[0..n) (freed here) as "procs". */
static void
reply_procs(struct client *c, json_t *id, json_t *result, struct inst **ins, size_t n)
{
	struct sbuf b = SBUF_INIT;
	procinfo_append_all(&b, ins, n, PROCINFO_FULL);
	free(ins);
	client_reply_text(c, id, result, "procs", b.s, b.len);
	sbuf_free(&b);
}

static void
cmd_reset(struct client *c, json_t *id, json_t *req)
{
	struct inst **ins;
	size_t n;
	if (!command_targets(c, id, req, &ins, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		ins[i]->restarts = 0;
		ins[i]->unstable_restarts = 0;
		ins[i]->prev_restart_delay = 0;
		ins[i]->created_wall = wall_ms();
	}
	reply_procs(c, id, json_object(), ins, n);
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
	if (!command_targets(c, id, req, &ins, &n))
		return;
	size_t sent = 0;
	for (size_t i = 0; i < n; i++)
		if (inst_signal(ins[i], sig) == 0)
			sent++;
	if (sent == 0) {
		free(ins);
		client_error(c, id, "not_running", "no running process to send %s to",
		    signame_name(sig));
		return;
	}
	reply_procs(c, id, json_pack("{s:i}", "signalled", (int)sent), ins, n);
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
	int current = app_scale_count(a);
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
	struct wait *w = wait_new();
	char *err = NULL;
	if (app_scale(a, (int)want, w, &err) < 0) {
		client_error(c, id, "failed", "%s", err);
		free(err);
		wait_free(w);
		return;
	}
	wait_reply_when_done(w, c, id);
}

static void
cmd_flush(struct client *c, json_t *id, json_t *req)
{
	struct inst **ins = NULL;
	size_t n = 0;
	json_t *targets = json_object_get(req, "targets");
	if (targets && !json_is_null(targets)) {
		if (!command_targets(c, id, req, &ins, &n))
			return;
	} else {
		ins = table_all_insts(&n);
	}
	json_t *files = json_array();
	/* Instances of one app may share their files (merge_logs): once each. */
	struct idmap done = IDMAP_INIT;
	for (size_t i = 0; i < n; i++) {
		struct logfile *lfs[] = {ins[i]->out_file, ins[i]->err_file, ins[i]->log_file};
		for (size_t k = 0; k < ARRAY_LEN(lfs); k++) {
			if (!lfs[k] || idmap_get(&done, (uintptr_t)lfs[k]))
				continue;
			idmap_put(&done, (uintptr_t)lfs[k], lfs[k]);
			if (logfile_truncate(lfs[k]) == 0)
				json_array_append_new(files, json_string(lfs[k]->path));
		}
	}
	idmap_free(&done);
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

/* `corral set` wrote settings.json: read it again. */
static void
cmd_reload_settings(struct client *c, json_t *id, json_t *req)
{
	char *err = NULL;
	if (logrotate_reload(&err) < 0) {
		client_error(c, id, "bad_settings", "%s; the settings in force stay", err);
		free(err);
		return;
	}
	if (web_reload_settings(&err) < 0) {
		client_error(c, id, "web_failed", "web: %s", err);
		free(err);
		return;
	}
	client_reply(c, id, json_pack("{s:o}", "settings", logrotate_settings_json()));
}

/* `corral web start|stop|status`: "action", and for start "listen" and
 * "token_file" (the CLI stores them in settings.json once this worked). */
static void
cmd_web(struct client *c, json_t *id, json_t *req)
{
	const char *action = json_string_value(json_object_get(req, "action"));
	action = action ? action : "";
	if (strcmp(action, "start") == 0) {
		const char *listen = json_string_value(json_object_get(req, "listen"));
		const char *token_file = json_string_value(json_object_get(req, "token_file"));
		char *err = NULL;
		if (!listen) {
			client_error(c, id, "bad_request", "web start needs \"listen\"");
			return;
		}
		if (web_start(listen, token_file, &err) < 0) {
			client_error(c, id, "web_failed", "%s", err);
			free(err);
			return;
		}
	} else if (strcmp(action, "stop") == 0) {
		web_stop();
	} else if (strcmp(action, "status") != 0) {
		client_error(c, id, "bad_request", "web: unknown action \"%s\" (start, stop, "
		    "status)", action);
		return;
	}
	client_reply(c, id, json_pack("{s:o}", "web", web_status_json()));
}

static void
cmd_logs(struct client *c, json_t *id, json_t *req)
{
	json_t *targets = json_object_get(req, "targets");
	json_t *apps = NULL, *insts = NULL;
	if (targets && !json_is_null(targets)) {
		struct inst **ins;
		size_t n;
		if (!command_targets(c, id, req, &ins, &n))
			return;
		/* An app named whole is followed as the app (its instances to
		 * come too); otherwise the instances named. */
		apps = json_object();
		insts = json_object();
		for (size_t i = 0; i < n; i++) {
			struct app *a = ins[i]->app;
			size_t named = 0, all = 0;
			struct inst *o;
			TAILQ_FOREACH(o, &a->insts, app_link) {
				all++;
				named += o->resolve_mark == ins[i]->resolve_mark;
			}
			char key[24];
			snprintf(key, sizeof(key), "%llu", (unsigned long long)(named == all ? a->id
			    : ins[i]->uid));
			json_object_set_new(named == all ? apps : insts, key, named == all ?
			    json_string(a->spec.name) : json_sprintf("%s (pm_id %d)", a->spec.name,
			    ins[i]->pm_id));
		}
		free(ins);
	}
	json_t *out = json_object_get(req, "out"), *err = json_object_get(req, "err");
	client_subscribe_logs(c, apps, insts, out ? json_is_true(out) : true,
	    err ? json_is_true(err) : true);
	json_decref(apps);
	json_decref(insts);
	client_reply(c, id, json_pack("{s:b}", "subscribed", 1));
}

static void
cmd_events(struct client *c, json_t *id, json_t *req)
{
	client_subscribe_events(c);
	client_reply(c, id, json_pack("{s:b}", "subscribed", 1));
}

static void
cmd_update_daemon(struct client *c, json_t *id, json_t *req)
{
	update_daemon(c, id);
}

static void
cmd_kill(struct client *c, json_t *id, json_t *req)
{
	struct wait *w = wait_for_request(req);
	apps_kill(w);
	wait_reply_when_done(w, c, id);
}

/* Commands that still make sense while the daemon shuts down. */
#define CMD_WHILE_SHUTTING_DOWN 0x1

static const struct {
	const char *name;
	void (*fn)(struct client *c, json_t *id, json_t *req);
	unsigned flags;
} commands[] = {
	{"ping", cmd_ping, CMD_WHILE_SHUTTING_DOWN},
	{"list", cmd_list, CMD_WHILE_SHUTTING_DOWN},
	{"sample", cmd_sample, CMD_WHILE_SHUTTING_DOWN},
	{"start", cmd_start, 0},
	{"stop", cmd_stop, 0},
	{"restart", cmd_restart, 0},
	{"reload", cmd_reload, 0},
	{"update", cmd_update, 0},
	{"delete", cmd_delete, 0},
	{"reset", cmd_reset, 0},
	{"signal", cmd_signal, 0},
	{"scale", cmd_scale, 0},
	{"flush", cmd_flush, 0},
	{"reload_logs", cmd_reload_logs, 0},
	{"reload_settings", cmd_reload_settings, 0},
	{"web", cmd_web, CMD_WHILE_SHUTTING_DOWN},
	{"logs", cmd_logs, 0},
	{"events", cmd_events, 0},
	{"kill", cmd_kill, CMD_WHILE_SHUTTING_DOWN},
	{"update_daemon", cmd_update_daemon, 0},
	{"profile", profile_request, 0},
};

void
command_dispatch(struct client *c, json_t *id, const char *cmd, json_t *req)
{
	for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
		if (strcmp(commands[i].name, cmd) != 0)
			continue;
		if (D->shutting_down && !(commands[i].flags & CMD_WHILE_SHUTTING_DOWN)) {
			client_error(c, id, "shutting_down", "the daemon is shutting down");
			return;
		}
		commands[i].fn(c, id, req);
		return;
	}
	client_error(c, id, "unknown_command", "unknown command \"%s\"", cmd);
}
