/*
 * verbs_start.c — `corral start` (scripts, commands, ecosystem files, known
 * apps, or apps piped in as JSON), startOrRestart and startOrReload.
 *
 * Each step returns the processes it acted on, and the verb prints the
 * table once at the end, as PM2 does; what happened to each app is said
 * after the daemon did it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/envshare.h"
#include "cli/verbs.h"
#include "common/spec.h"
#include "config/normalize.h"

extern char **environ;

/* The processes a reply (consumed) lists: a new reference, or NULL when
 * there was no reply. */
static json_t *
reply_procs(json_t *reply)
{
	if (!reply)
		return NULL;
	json_t *procs = json_object_get(reply, "procs");
	procs = procs ? json_incref(procs) : json_array();
	json_decref(reply);
	return procs;
}

/* Append procs (consumed) to acted; false when a step failed (NULL). */
static bool
collect(json_t *acted, json_t *procs)
{
	if (!procs)
		return false;
	json_array_extend(acted, procs);
	json_decref(procs);
	return true;
}

/* One line for each app of a start request: started (how many instances,
 * in which mode), or registered without starting; the apps that failed
 * (names in failed) were named already. */
static void
say_started(struct ctx *x, json_t *apps, json_t *procs, json_t *stopped, json_t *failed)
{
	if (args_has(&x->a, "json"))
		return;
	size_t i, k;
	json_t *s, *p;
	/* Per name: [instances, running, mode], in one pass over the processes. */
	json_t *by_name = json_object();
	json_array_foreach(procs, k, p) {
		const char *name = json_string_value(json_object_get(p, "name"));
		json_t *e = json_object_get(by_name, name);
		if (!e) {
			e = json_pack("[i, i, s]", 0, 0, "");
			json_object_set_new(by_name, name, e);
		}
		bool running = strcmp(json_string_value(json_object_get(p, "status")), "stopped") != 0;
		json_array_set_new(e, 0, json_integer(json_integer_value(json_array_get(e, 0)) + 1));
		json_array_set_new(e, 1, json_integer(json_integer_value(json_array_get(e, 1)) + running));
		json_array_set(e, 2, json_object_get(p, "mode"));
	}
	json_t *saved_stopped_names = json_object();
	json_array_foreach(stopped, k, p)
		json_object_set(saved_stopped_names, json_string_value(p), json_true());
	json_array_foreach(apps, i, s) {
		const char *name = json_string_value(json_object_get(s, "name"));
		const char *script = json_string_value(json_object_get(s, "script"));
		if (json_object_get(failed, name))
			continue;
		json_t *e = json_object_get(by_name, name);
		int count = (int)json_integer_value(json_array_get(e, 0));
		int running = (int)json_integer_value(json_array_get(e, 1));
		const char *mode = e ? json_string_value(json_array_get(e, 2)) : "";
		bool saved_stopped = json_object_get(saved_stopped_names, name) != NULL;
		if (running)
			printf("corral: started %s (%s) in %s mode, %d instance%s\n", name, script, mode,
			    count, count == 1 ? "" : "s");
		else
			printf("corral: %s (%s) is registered, not started (%s)\n", name, script,
			    saved_stopped ? "it was saved stopped" : "autostart is off");
	}
	json_decref(by_name);
	json_decref(saved_stopped_names);
}

/* A request line stays far below the daemon's limit (PROTO_MAX_LINE,
 * 4 MiB): apps go in batches of at most this many bytes of specs. One app's
 * spec is bounded by what exec() takes (its environment), well below it.
 * Small batches keep the daemon small too: the parsed request is freed
 * between the apps it created, and a 1 MiB one left the heap of a daemon
 * with 1000 apps a third larger (10 MB resident instead of 7); 128 KiB
 * ones, 0.2 MB larger than these, for a start just as fast. */
#define START_BATCH_BYTES (32u << 10)

/* A start request for the apps of batch (as envshare_delta() made them),
 * with the names among them to keep stopped (keep, or NULL). */
static json_t *
batch_request(struct ctx *x, json_t *batch, json_t *base, json_t *keep, bool force)
{
	json_t *req = json_pack("{s:s, s:O, s:b, s:b}", "cmd", "start", "apps", batch, "force",
	    force, "brief", !args_has(&x->a, "json"));
	if (base)
		json_object_set(req, "env_base", base);
	if (keep && json_array_size(keep))
		json_object_set(req, "stopped", keep);
	return req;
}

/* The reply to a start request: append what started to procs and the
 * apps that could not to failed (name → error). False when there was no
 * reply (printed). */
static bool
batch_reply(struct ctx *x, int id, json_t *procs, json_t *failed)
{
	char *err = NULL;
	json_t *reply = conn_wait(&x->conn, id, ACTION_TIMEOUT_MS, &err);
	if (!reply) {
		cli_fail(x, "%s", err);
		free(err);
		return false;
	}
	json_array_extend(procs, json_object_get(reply, "procs"));
	size_t k;
	json_t *f;
	json_array_foreach(json_object_get(reply, "failed"), k, f) {
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *error = json_string_value(json_object_get(f, "error"));
		cli_fail(x, "%s", error ? error : "failed");
		json_object_set_new(failed, name ? name : "?", json_string(error ? error : ""));
	}
	json_decref(reply);
	return true;
}

/* The requests of one start being sent: the current batch, and the ids of
 * those sent. */
struct sending {
	json_t *batch, *keep;   /* apps, and the names among them kept stopped */
	size_t bytes;
	int *ids;
	size_t nsent, cap;
	bool gone;              /* the daemon went away: nothing more is sent */
};

static void
send_batch(struct ctx *x, struct sending *sd, json_t *base)
{
	if (json_array_size(sd->batch) == 0 || sd->gone)
		return;
	json_t *req = batch_request(x, sd->batch, base, sd->keep, args_has(&x->a, "force"));
	if (sd->nsent == sd->cap) {
		sd->cap = sd->cap ? sd->cap * 2 : 16;
		sd->ids = xrealloc(sd->ids, sd->cap * sizeof(*sd->ids));
	}
	sd->ids[sd->nsent] = conn_send(&x->conn, req);
	json_decref(req);
	/* The daemon is gone: the first reply wait says so, once. */
	sd->gone = sd->ids[sd->nsent++] < 0;
	json_array_clear(sd->batch);
	json_array_clear(sd->keep);
	sd->bytes = 0;
}

/* Ask the daemon to start the apps src gives. Each app starts or fails on
 * its own: those that fail are named (and x->some_failed set), the others
 * are in the processes returned; NULL when no request got through
 * (printed). *n: how many apps src gave.
 *
 * A request goes as soon as its batch is full, and the replies are read
 * once all are sent: the daemon starts the apps of one while we make the
 * next, and the source makes its later apps meanwhile. */
static json_t *
start_apps_from(struct ctx *x, struct app_source *src, size_t *n)
{
	*n = 0;
	if (cli_connect(x, true) < 0)
		return NULL;
	json_t *apps = json_array(), *stopped = json_array();
	json_t *procs = json_array(), *failed = json_object();
	struct sending sd = {.batch = json_array(), .keep = json_array()};
	/* The environment the apps share goes once per request, not once per
	 * app: with 1000 apps that was 2.5 MB to write and for the daemon to
	 * parse. The first app's is the base. */
	json_t *base = NULL, *spec;
	bool stop;
	while ((spec = src->next(src, &stop)) != NULL) {
		if ((*n)++ == 0 && x->conn.env_base)
			base = envshare_base(spec);
		json_t *delta = envshare_delta(spec, base);
		char *text = json_dumps(delta, JSON_COMPACT);
		size_t len = text ? strlen(text) : 0;
		free(text);
		if (sd.bytes + len > START_BATCH_BYTES)
			send_batch(x, &sd, base);
		json_t *name = json_object_get(spec, "name");
		if (stop && json_is_string(name)) {
			json_array_append(stopped, name);
			json_array_append(sd.keep, name);
		}
		json_array_append_new(sd.batch, delta);
		sd.bytes += len;
		json_array_append_new(apps, spec);
	}
	send_batch(x, &sd, base);
	/* A batch that fails (a single app that cannot start is an error
	 * reply) does not keep the next ones from starting. */
	bool ok = true;
	for (size_t b = 0; b < sd.nsent; b++)
		ok &= batch_reply(x, sd.ids[b], procs, failed);
	free(sd.ids);
	json_decref(sd.batch);
	json_decref(sd.keep);
	json_decref(base);
	if (!ok && json_array_size(procs) == 0) {
		json_decref(procs);
		procs = NULL;
	} else {
		say_started(x, apps, procs, json_array_size(stopped) ? stopped : NULL, failed);
		if (json_object_size(failed) || !ok)
			x->some_failed = true;
	}
	json_decref(failed);
	json_decref(apps);
	json_decref(stopped);
	return procs;
}

/* The apps of an array, those named in a set of names kept stopped. */
struct array_source {
	struct app_source src;
	json_t *apps, *stopped;
	size_t i;
};

static json_t *
array_next(struct app_source *src, bool *stopped)
{
	struct array_source *a = (struct array_source *)src;
	json_t *spec = json_array_get(a->apps, a->i++);
	if (!spec)
		return NULL;
	const char *name = json_string_value(json_object_get(spec, "name"));
	*stopped = a->stopped && name && json_object_get(a->stopped, name);
	return json_incref(spec);
}

/* Ask the daemon to start these app specs (stopped: names to register
 * without starting, or NULL): start_apps_from() of the array. */
static json_t *
start_apps(struct ctx *x, json_t *apps, json_t *stopped)
{
	struct array_source a = {.src = {array_next}, .apps = apps};
	if (stopped) {
		a.stopped = json_object();
		size_t i;
		json_t *s;
		json_array_foreach(stopped, i, s)
			if (json_is_string(s))
				json_object_set(a.stopped, json_string_value(s), json_true());
	}
	size_t n;
	json_t *procs = start_apps_from(x, &a.src, &n);
	json_decref(a.stopped);
	return procs;
}

int
start_send(struct ctx *x, json_t *apps, json_t *stopped)
{
	json_t *procs = start_apps(x, apps, stopped);
	if (!procs)
		return 1;
	cli_print_procs(x, procs);
	json_decref(procs);
	return 0;
}

int
start_send_from(struct ctx *x, struct app_source *src, size_t *n)
{
	json_t *procs = start_apps_from(x, src, n);
	if (!procs)
		return 1;
	if (*n > 0)
		cli_print_procs(x, procs);
	json_decref(procs);
	return 0;
}

/* A script or a command line, with the start options. */
static json_t *
start_script(struct ctx *x, const char *script)
{
	json_t *raw = args_app_fields(&x->a);
	json_object_set_new(raw, "script", json_string(script));
	if (x->a.rest[0])
		json_object_set_new(raw, "args", cli_targets(x->a.rest));
	char *cwd = cli_current_dir();
	json_t *warnings = json_array();
	struct norm_ctx nctx = {.base_dir = cwd, .environ = environ, .from_cli = true,
	    .warnings = warnings, .env_name = NULL};
	json_t *spec = NULL, *procs = NULL;
	char *err = NULL;
	int rc = normalize_app(&nctx, raw, &spec, &err);
	cli_print_warnings(warnings);
	if (rc < 0) {
		cli_fail(x, "%s", err);
	} else {
		json_t *apps = json_pack("[o]", spec);
		procs = start_apps(x, apps, NULL);
		json_decref(apps);
	}
	free(err);
	json_decref(warnings);
	json_decref(raw);
	free(cwd);
	return procs;
}

/* A running app keeps its mode and its number of instances across a
 * restart or reload with new settings: say so when the file asks for
 * others. */
static void
warn_kept_shape(struct ctx *x, json_t *spec, json_t *procs)
{
	const char *name = json_string_value(json_object_get(spec, "name"));
	const char *mode = json_string_value(json_object_get(spec, "exec_mode"));
	int want = spec_resolve_instances(json_integer_value(json_object_get(spec, "instances")),
	    spec_usable_cpus());
	int have = 0;
	const char *have_mode = NULL;
	size_t i;
	json_t *p;
	json_array_foreach(procs, i, p) {
		if (strcmp(json_string_value(json_object_get(p, "name")), name) != 0)
			continue;
		have++;
		have_mode = json_string_value(json_object_get(p, "mode"));
	}
	if (have_mode && mode && strcmp(have_mode, mode) != 0)
		fprintf(stderr, "corral %s: warning: app '%s' runs in %s mode and keeps it (the file "
		    "says %s; delete and start it to change)\n", x->verb, name, have_mode, mode);
	if (have > 0 && want != have)
		fprintf(stderr, "corral %s: warning: app '%s' keeps its %d instance%s (the file says "
		    "%d; corral scale %s %d changes it)\n", x->verb, name, have, have == 1 ? "" : "s",
		    want, name, want);
}

/* Start the apps (specs) that are not running, `action` ("restart" or
 * "reload") the others with their new settings; the processes acted on, or
 * NULL after printing why. */
static json_t *
update_or_start(struct ctx *x, json_t *apps, const char *action)
{
	json_t *procs = cli_list_procs(x, NULL, false);
	if (!procs)
		return NULL;
	json_t *names = cli_running_names(procs);
	json_t *to_start = json_array(), *to_update = json_array(), *targets = json_array();
	json_t *acted = json_array();
	size_t i;
	json_t *s;
	json_array_foreach(apps, i, s) {
		const char *name = json_string_value(json_object_get(s, "name"));
		if (json_object_get(names, name)) {
			warn_kept_shape(x, s, procs);
			json_array_append(to_update, s);
			json_array_append_new(targets, json_string(name));
		} else {
			json_array_append(to_start, s);
		}
	}
	bool ok = true;
	if (json_array_size(to_update) > 0) {
		json_t *req = json_pack("{s:s, s:O, s:O}", "cmd", action, "apps", to_update,
		    "targets", targets);
		/* `start <file> --watch` has put watch in the specs already. */
		if (args_has(&x->a, "watch") && strcmp(x->verb, "start") != 0)
			json_object_set_new(req, "watch", json_string("toggle"));
		const char *par = args_get(&x->a, "parallel");
		if (par)
			json_object_set_new(req, "parallel", json_integer(atoi(par)));
		ok = collect(acted, reply_procs(cli_call(x, req, ACTION_TIMEOUT_MS)));
	}
	if (ok && json_array_size(to_start) > 0)
		ok = collect(acted, start_apps(x, to_start, NULL));
	json_decref(names);
	json_decref(procs);
	json_decref(to_start);
	json_decref(to_update);
	json_decref(targets);
	if (!ok) {
		json_decref(acted);
		return NULL;
	}
	return acted;
}

int
start_or_update(struct ctx *x, const char *file, const char *action)
{
	json_t *apps = cli_load_config(x, file);
	json_t *acted = apps ? update_or_start(x, apps, action) : NULL;
	if (acted)
		cli_print_procs(x, acted);
	json_decref(acted);
	json_decref(apps);
	return acted ? 0 : 1;
}

/* The apps of an ecosystem file ("-": standard input). PM2: starting a
 * file restarts its apps that are running, with the file's settings; -f
 * starts copies instead. */
static json_t *
start_file(struct ctx *x, const char *file)
{
	json_t *apps = cli_load_config(x, file);
	if (!apps)
		return NULL;
	json_t *procs = !args_has(&x->a, "force") ? update_or_start(x, apps, "restart")
	    : json_array_size(apps) ? start_apps(x, apps, NULL) : json_array();
	json_decref(apps);
	return procs;
}

/* PM2: `start <name|id>` of something already known restarts it. The
 * processes restarted (NULL after printing why), with *known set; nothing
 * when arg names nothing known. */
static json_t *
restart_known(struct ctx *x, const char *arg, bool *known)
{
	*known = true;
	if (cli_connect(x, true) < 0)
		return NULL;
	json_t *t = json_pack("[s]", arg);
	/* A name, a namespace or an id: a script's name starts a new app. */
	json_t *req = json_pack("{s:s, s:O, s:b}", "cmd", "list", "targets", t, "by_script", 0);
	char *err = NULL;
	/* Not known is the daemon's "no such target": no error for us. */
	json_t *r = conn_call(&x->conn, req, QUICK_TIMEOUT_MS, &err);
	json_decref(req);
	free(err);
	*known = r && json_array_size(json_object_get(r, "procs")) > 0;
	json_decref(r);
	json_t *procs = NULL;
	if (*known)
		procs = reply_procs(cli_call(x, json_pack("{s:s, s:O, s:b}", "cmd", "restart",
		    "targets", t, "by_script", 0), ACTION_TIMEOUT_MS));
	json_decref(t);
	return procs;
}

/* One argument of `corral start`: an ecosystem file, a known app, or a
 * script or command. */
static json_t *
start_one(struct ctx *x, const char *arg)
{
	struct stat st;
	bool is_file = stat(arg, &st) == 0;
	if (cli_is_config_arg(arg) && (is_file || !strchr(arg, ' ')))
		return start_file(x, arg);
	if (args_has(&x->a, "env") || args_has(&x->a, "only")) {
		cli_fail(x, "--env and --only need an ecosystem file (\"%s\" is not one)", arg);
		return NULL;
	}
	if (!is_file && !strchr(arg, '/') && !strchr(arg, ' ')) {
		bool known;
		json_t *procs = restart_known(x, arg, &known);
		if (known)
			return procs;
	}
	return start_script(x, arg);
}

int
verb_start(struct ctx *x)
{
	static char *default_file[] = {"ecosystem.config.js", NULL};
	char **args = x->a.pos;
	if (!args[0]) {
		if (access(default_file[0], F_OK) != 0)
			return cli_fail(x, "nothing to start: give a script, a command or an ecosystem "
			    "file (no ecosystem.config.js in this directory)");
		args = default_file;
	}
	if (args_has(&x->a, "no-daemon"))
		return cli_fail(x, "--no-daemon: corral start runs apps under its daemon; corral "
		    "runtime runs them in the foreground (containers), --attach starts them and "
		    "follows their logs");
	if (strcmp(args[0], "-") == 0 && args[1])
		return cli_fail(x, "- reads the apps from standard input: give it alone (\"%s\" is "
		    "extra)", args[1]);
	if (args[1] && args_has(&x->a, "name"))
		return cli_fail(x, "--name names one app: start \"%s\" and \"%s\" one at a time",
		    args[0], args[1]);
	/* One after the other, as PM2 does; the first failure stops. */
	json_t *acted = json_array();
	bool ok = true;
	for (size_t i = 0; ok && args[i]; i++)
		ok = collect(acted, strcmp(args[i], "-") == 0 ? start_file(x, "-")
		    : start_one(x, args[i]));
	if (ok)
		cli_print_procs(x, acted);
	int rc = ok ? 0 : 1;
	if (ok && args_has(&x->a, "attach"))
		rc = logs_attach(x, acted);
	json_decref(acted);
	return rc;
}

int
verb_start_or_restart(struct ctx *x)
{
	if (!x->a.pos[0])
		return cli_fail(x, "missing ecosystem file");
	return start_or_update(x, x->a.pos[0], "restart");
}

int
verb_start_or_reload(struct ctx *x)
{
	if (!x->a.pos[0])
		return cli_fail(x, "missing ecosystem file");
	return start_or_update(x, x->a.pos[0], "reload");
}
