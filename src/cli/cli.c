/*
 * cli.c — `corral <verb>`: parse, talk to the daemon, print.
 *
 * Exit code 0 on success, 1 on failure with a one-line reason on stderr
 * ("corral <verb>: <what went wrong>"), 2 for usage errors.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/complain.h"
#include "cli/client.h"
#include "cli/dump.h"
#include "cli/logs.h"
#include "cli/render.h"
#include "cli/sample.h"
#include "cli/startup.h"
#include "common/paths.h"
#include "common/spec.h"
#include "common/units.h"
#include "common/util.h"
#include "config/doc.h"
#include "config/normalize.h"

extern char **environ;

/* Requests that wait for processes get a long timeout; queries a short one. */
#define QUICK_TIMEOUT_MS 30000
#define ACTION_TIMEOUT_MS (10 * 60 * 1000)

struct ctx {
	struct args a;
	struct paths paths;
	struct conn conn;
	bool connected;
	const char *verb;     /* canonical verb name */
};

typedef int (*verb_fn)(struct ctx *x);

struct verb {
	const char *name;
	const char *aliases[5];
	unsigned groups;
	verb_fn fn;
	const char *usage;
	const char *help;
};

static int
fail(struct ctx *x, const char *fmt, ...) PRINTFLIKE(2, 3);

static int
fail(struct ctx *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cli_vcomplain(x->verb, fmt, ap);
	va_end(ap);
	return 1;
}

static int
connect_daemon(struct ctx *x, bool autostart)
{
	if (x->connected)
		return 0;
	char *err = NULL;
	int rc = client_open(&x->paths, autostart, &x->conn, &err);
	if (rc == -ENOENT && !autostart)
		return rc;
	if (rc < 0) {
		fail(x, "%s", err);
		free(err);
		return rc;
	}
	x->connected = true;
	return 0;
}

/* Send a request (consumed); the reply or NULL after printing the error. */
static json_t *
call(struct ctx *x, json_t *req, int timeout_ms)
{
	if (connect_daemon(x, true) < 0) {
		json_decref(req);
		return NULL;
	}
	char *err = NULL;
	json_t *r = client_call(&x->conn, req, timeout_ms, &err);
	json_decref(req);
	if (!r) {
		fail(x, "%s", err);
		free(err);
	}
	return r;
}

static json_t *
targets_json(char **pos)
{
	json_t *t = json_array();
	for (size_t i = 0; pos && pos[i]; i++)
		json_array_append_new(t, json_string(pos[i]));
	return t;
}

/* Print the process table (or JSON) after an action. */
static void
print_procs(struct ctx *x, json_t *procs)
{
	if (args_has(&x->a, "json")) {
		render_json(stdout, procs, true);
		return;
	}
	json_t *req = json_pack("{s:s}", "cmd", "list");
	char *err = NULL;
	json_t *r = client_call(&x->conn, req, QUICK_TIMEOUT_MS, &err);
	json_decref(req);
	if (r) {
		render_list(stdout, json_object_get(r, "procs"));
		json_decref(r);
	} else {
		free(err);
		render_list(stdout, procs);
	}
}

static void
print_warnings(json_t *warnings)
{
	size_t i;
	json_t *w;
	json_array_foreach(warnings, i, w)
		fprintf(stderr, "corral: warning: %s\n", json_string_value(w));
}

static char *
current_dir(void)
{
	char buf[4096];
	if (!getcwd(buf, sizeof(buf)))
		return xstrdup("/");
	return xstrdup(buf);
}

/* The start options PM2 applies to the apps of an ecosystem file; the
 * others are dropped with a warning (PM2 drops them silently). New
 * reference, or NULL when there are none. */
static json_t *
config_overrides(struct ctx *x, json_t *warnings)
{
	static const char *const kept[] = {"namespace", "watch", "ignore_watch", "uid", "gid", "cwd"};
	if (strcmp(x->verb, "start") != 0)
		return NULL;
	json_t *fields = args_app_fields(&x->a);
	for (const struct opt_def *o = args_options; o->lng; o++) {
		if (!o->field || !args_has(&x->a, o->lng))
			continue;
		bool keep = false;
		for (size_t i = 0; i < ARRAY_LEN(kept); i++)
			keep |= strcmp(kept[i], o->field) == 0;
		if (!keep) {
			config_doc_warn(&warnings, "--%s is ignored with an ecosystem file, as in "
			    "PM2 (set \"%s\" in the file)", o->lng, o->field);
			json_object_del(fields, o->field);
		}
	}
	if (json_object_size(fields) == 0) {
		json_decref(fields);
		return NULL;
	}
	return fields;
}

/* Load and normalize an ecosystem file. NULL after printing the error. */
static json_t *
load_config(struct ctx *x, const char *file)
{
	struct config_doc *doc = NULL;
	json_t *warnings = json_array();
	char *err = NULL;
	char *here = current_dir();
	char *abs = file[0] == '/' ? xstrdup(file) : xasprintf("%s/%s", here, file);
	int rc = config_doc_load(file, &doc, &warnings, &err);
	if (rc < 0) {
		print_warnings(warnings);
		json_decref(warnings);
		fprintf(stderr, "corral %s: %s\n", x->verb, err);
		free(err);
		free(abs);
		free(here);
		return NULL;
	}
	char *dir = xstrdup(abs);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	struct norm_ctx nctx = {
		.base_dir = dir,
		.invoke_dir = here,
		.environ = environ,
		.env_name = args_get(&x->a, "env"),
		.warnings = warnings,
		.overrides = config_overrides(x, warnings),
	};
	json_t *apps = NULL;
	rc = normalize_doc(&nctx, doc, args_get(&x->a, "only"), &apps, &err);
	json_decref(nctx.overrides);
	print_warnings(warnings);
	json_decref(warnings);
	config_doc_free(doc);
	free(dir);
	free(abs);
	free(here);
	if (rc < 0) {
		fprintf(stderr, "corral %s: %s\n", x->verb, err);
		free(err);
		return NULL;
	}
	return apps;
}

static bool
is_config_arg(const char *arg)
{
	struct stat st;
	return normalize_is_config_file(arg) && (stat(arg, &st) == 0 || strchr(arg, '.'));
}

static json_t *
list_procs(struct ctx *x, json_t *targets, bool env)
{
	json_t *req = json_pack("{s:s, s:b}", "cmd", "list", "env", env);
	if (targets)
		json_object_set(req, "targets", targets);
	json_t *r = call(x, req, QUICK_TIMEOUT_MS);
	if (!r)
		return NULL;
	json_t *procs = json_incref(json_object_get(r, "procs"));
	json_decref(r);
	return procs;
}

/* ---- start ---- */

static int
send_start(struct ctx *x, json_t *apps, json_t *stopped)
{
	size_t i;
	json_t *s;
	bool force = args_has(&x->a, "force");
	json_array_foreach(apps, i, s) {
		if (json_is_true(json_object_get(s, "force")))
			force = true;
		if (!args_has(&x->a, "json")) {
			long long n = json_integer_value(json_object_get(s, "instances"));
			const char *mode = json_string_value(json_object_get(s, "exec_mode"));
			char count[48];
			if (n > 0)
				snprintf(count, sizeof(count), "%lld instance%s", n, n == 1 ? "" : "s");
			else
				snprintf(count, sizeof(count), "one instance per usable CPU%s",
				    n < 0 ? ", minus some" : "");
			printf("corral: starting %s (%s) in %s mode, %s\n",
			    json_string_value(json_object_get(s, "name")),
			    json_string_value(json_object_get(s, "script")), mode, count);
		}
	}
	json_t *req = json_pack("{s:s, s:O, s:b}", "cmd", "start", "apps", apps, "force", force);
	if (stopped)
		json_object_set(req, "stopped", stopped);
	json_t *r = call(x, req, ACTION_TIMEOUT_MS);
	if (!r)
		return 1;
	print_procs(x, json_object_get(r, "procs"));
	/* Each app starts on its own: name every one that did not. */
	size_t k;
	json_t *f;
	json_t *failed = json_object_get(r, "failed");
	json_array_foreach(failed, k, f)
		fail(x, "%s", json_string_value(json_object_get(f, "error")));
	int rc = json_array_size(failed) ? 1 : 0;
	json_decref(r);
	return rc;
}

static int
start_script(struct ctx *x, const char *script)
{
	json_t *raw = args_app_fields(&x->a);
	json_object_set_new(raw, "script", json_string(script));
	if (x->a.rest[0])
		json_object_set_new(raw, "args", targets_json(x->a.rest));
	char *cwd = current_dir();
	json_t *warnings = json_array();
	struct norm_ctx nctx = {.base_dir = cwd, .environ = environ, .from_cli = true,
	    .warnings = warnings, .env_name = NULL};
	json_t *spec = NULL;
	char *err = NULL;
	int rc = normalize_app(&nctx, raw, &spec, &err);
	print_warnings(warnings);
	json_decref(warnings);
	json_decref(raw);
	free(cwd);
	if (rc < 0) {
		fprintf(stderr, "corral start: %s\n", err);
		free(err);
		return 1;
	}
	json_t *apps = json_array();
	json_array_append_new(apps, spec);
	rc = send_start(x, apps, NULL);
	json_decref(apps);
	return rc;
}

/* Names in a list reply. */
static json_t *
running_names(json_t *procs)
{
	json_t *names = json_object();
	size_t i;
	json_t *p;
	json_array_foreach(procs, i, p)
		json_object_set_new(names, json_string_value(json_object_get(p, "name")), json_true());
	return names;
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

/* startOrRestart / startOrReload: start what is missing, restart or reload
 * the rest with the file's new settings. */
static int
start_or(struct ctx *x, const char *file, const char *action)
{
	json_t *apps = load_config(x, file);
	if (!apps)
		return 1;
	json_t *procs = list_procs(x, NULL, false);
	if (!procs) {
		json_decref(apps);
		return 1;
	}
	json_t *names = running_names(procs);
	json_t *to_start = json_array(), *to_update = json_array(), *targets = json_array();
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
	int rc = 0;
	if (json_array_size(to_update) > 0) {
		json_t *req = json_pack("{s:s, s:O, s:O}", "cmd", action, "apps", to_update,
		    "targets", targets);
		/* `start <file> --watch` has put watch in the specs already. */
		if (args_has(&x->a, "watch") && strcmp(x->verb, "start") != 0)
			json_object_set_new(req, "watch", json_string("toggle"));
		const char *par = args_get(&x->a, "parallel");
		if (par)
			json_object_set_new(req, "parallel", json_integer(atoi(par)));
		json_t *r = call(x, req, ACTION_TIMEOUT_MS);
		if (!r)
			rc = 1;
		json_decref(r);
	}
	if (rc == 0 && json_array_size(to_start) > 0)
		rc = send_start(x, to_start, NULL);
	else if (rc == 0) {
		json_t *none = json_array();
		print_procs(x, none);
		json_decref(none);
	}
	json_decref(names);
	json_decref(procs);
	json_decref(apps);
	json_decref(to_start);
	json_decref(to_update);
	json_decref(targets);
	return rc;
}

static int
verb_start(struct ctx *x)
{
	const char *arg = x->a.pos[0];
	if (!arg) {
		if (access("ecosystem.config.js", F_OK) != 0)
			return fail(x, "nothing to start: give a script, a command or an ecosystem "
			    "file (no ecosystem.config.js in this directory)");
		arg = "ecosystem.config.js";
	}
	if (x->a.pos[0] && x->a.pos[1])
		return fail(x, "one script at a time (\"%s\" is extra; script arguments go after --)",
		    x->a.pos[1]);
	struct stat st;
	bool is_file = stat(arg, &st) == 0;
	if (is_config_arg(arg) && (is_file || !strchr(arg, ' '))) {
		/* PM2: starting a file restarts its apps that are running, with
		 * the file's settings; -f starts copies instead. */
		if (!args_has(&x->a, "force"))
			return start_or(x, arg, "restart");
		json_t *apps = load_config(x, arg);
		if (!apps)
			return 1;
		int rc = json_array_size(apps) ? send_start(x, apps, NULL) : 0;
		json_decref(apps);
		return rc;
	}
	if (args_has(&x->a, "env") || args_has(&x->a, "only"))
		return fail(x, "--env and --only need an ecosystem file");
	/* PM2: `start <name|id>` of something already known restarts it. */
	if (!is_file && !strchr(arg, '/') && !strchr(arg, ' ')) {
		json_t *t = json_pack("[s]", arg);
		json_t *req = json_pack("{s:s, s:O}", "cmd", "list", "targets", t);
		if (connect_daemon(x, true) < 0) {
			json_decref(t);
			json_decref(req);
			return 1;
		}
		char *err = NULL;
		json_t *r = client_call(&x->conn, req, QUICK_TIMEOUT_MS, &err);
		json_decref(req);
		free(err);
		if (r && json_array_size(json_object_get(r, "procs")) > 0) {
			json_decref(r);
			json_t *rr = call(x, json_pack("{s:s, s:O}", "cmd", "restart", "targets", t),
			    ACTION_TIMEOUT_MS);
			json_decref(t);
			if (!rr)
				return 1;
			print_procs(x, json_object_get(rr, "procs"));
			json_decref(rr);
			return 0;
		}
		json_decref(r);
		json_decref(t);
	}
	return start_script(x, arg);
}

static int
verb_start_or_restart(struct ctx *x)
{
	if (!x->a.pos[0])
		return fail(x, "missing ecosystem file");
	return start_or(x, x->a.pos[0], "restart");
}

static int
verb_start_or_reload(struct ctx *x)
{
	if (!x->a.pos[0])
		return fail(x, "missing ecosystem file");
	return start_or(x, x->a.pos[0], "reload");
}

/* ---- actions on targets ---- */

/* Targets for an action: positional names, or the apps of a config file. */
static json_t *
action_targets(struct ctx *x, json_t **file_apps)
{
	*file_apps = NULL;
	if (!x->a.pos[0]) {
		fail(x, "missing target (an id, a name, a namespace, all, or an ecosystem file)");
		return NULL;
	}
	if (!x->a.pos[1] && is_config_arg(x->a.pos[0])) {
		json_t *apps = load_config(x, x->a.pos[0]);
		if (!apps)
			return NULL;
		/* The file's apps that are here; the others are skipped, as PM2
		 * does for stop and delete. */
		json_t *procs = list_procs(x, NULL, false);
		if (!procs) {
			json_decref(apps);
			return NULL;
		}
		json_t *names = running_names(procs);
		json_t *t = json_array();
		size_t i;
		json_t *s;
		json_array_foreach(apps, i, s)
			if (json_object_get(names, json_string_value(json_object_get(s, "name"))))
				json_array_append(t, json_object_get(s, "name"));
		json_decref(names);
		json_decref(procs);
		*file_apps = apps;
		return t;
	}
	if (args_has(&x->a, "only") || args_has(&x->a, "env"))
		fprintf(stderr, "corral %s: warning: --only and --env apply to ecosystem files only\n", x->verb);
	return targets_json(x->a.pos);
}

/* --update-env: the apps' specs with env rebuilt from this shell. */
static json_t *
refreshed_specs(struct ctx *x, json_t *targets)
{
	json_t *procs = list_procs(x, targets, true);
	if (!procs)
		return NULL;
	json_t *apps = json_array(), *seen = json_object();
	size_t i;
	json_t *p;
	json_array_foreach(procs, i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));
		if (json_object_get(seen, name))
			continue;
		json_object_set_new(seen, name, json_true());
		json_t *spec = json_deep_copy(json_object_get(p, "spec"));
		json_t *filter = json_object_get(spec, "filter_env");
		char **fv = xcalloc(json_array_size(filter) + 1, sizeof(char *));
		for (size_t k = 0; k < json_array_size(filter); k++)
			fv[k] = (char *)json_string_value(json_array_get(filter, k));
		json_t *skipped = json_array();
		json_object_set_new(spec, "env", normalize_env(environ, json_object_get(spec, "app_env"),
		    json_is_true(json_object_get(spec, "filter_env_all")), fv, skipped));
		free(fv);
		size_t k;
		json_t *var;
		json_array_foreach(skipped, k, var)
			fprintf(stderr, "corral: warning: environment variable %s is not UTF-8 "
			    "text: %s does not get it\n", json_string_value(var), name);
		json_decref(skipped);
		json_array_append_new(apps, spec);
	}
	json_decref(seen);
	json_decref(procs);
	return apps;
}

static int
do_action(struct ctx *x, const char *cmd)
{
	bool updates = strcmp(cmd, "restart") == 0 || strcmp(cmd, "reload") == 0;
	/* PM2: restart and reload of a file start what is not running. */
	if (updates && x->a.pos[0] && !x->a.pos[1] && is_config_arg(x->a.pos[0]))
		return start_or(x, x->a.pos[0], cmd);
	json_t *file_apps = NULL;
	json_t *targets = action_targets(x, &file_apps);
	if (!targets)
		return 1;
	if (file_apps && json_array_size(targets) == 0) {
		fprintf(stderr, "corral %s: none of the apps of %s is here\n", x->verb, x->a.pos[0]);
		json_decref(targets);
		json_decref(file_apps);
		return 0;
	}
	json_t *req = json_pack("{s:s, s:O}", "cmd", cmd, "targets", targets);
	if (updates && args_has(&x->a, "update-env")) {
		json_t *apps = refreshed_specs(x, targets);
		if (!apps) {
			json_decref(req);
			json_decref(targets);
			return 1;
		}
		json_object_set_new(req, "apps", apps);
	}
	const char *watch = args_get(&x->a, "watch");
	if (watch && (strcmp(cmd, "stop") == 0))
		json_object_set_new(req, "watch", json_false());
	else if (watch && updates)
		json_object_set_new(req, "watch", json_string("toggle"));
	const char *par = args_get(&x->a, "parallel");
	if (par) {
		int64_t n;
		if (units_parse_int(par, 1, 4096, &n) < 0) {
			json_decref(req);
			json_decref(targets);
			json_decref(file_apps);
			return fail(x, "--parallel: \"%s\" is not a number from 1 to 4096", par);
		}
		json_object_set_new(req, "parallel", json_integer(n));
	}
	json_decref(targets);
	json_decref(file_apps);
	json_t *r = call(x, req, ACTION_TIMEOUT_MS);
	if (!r)
		return 1;
	print_procs(x, json_object_get(r, "procs"));
	/* Each app starts on its own: name every one that did not. */
	size_t k;
	json_t *f;
	json_t *failed = json_object_get(r, "failed");
	json_array_foreach(failed, k, f)
		fail(x, "%s", json_string_value(json_object_get(f, "error")));
	int rc = json_array_size(failed) ? 1 : 0;
	json_decref(r);
	return rc;
}

static int verb_stop(struct ctx *x) { return do_action(x, "stop"); }
static int verb_restart(struct ctx *x) { return do_action(x, "restart"); }
static int verb_reload(struct ctx *x) { return do_action(x, "reload"); }
static int verb_delete(struct ctx *x) { return do_action(x, "delete"); }
static int verb_reset(struct ctx *x) { return do_action(x, "reset"); }

static int
verb_signal(struct ctx *x)
{
	if (!x->a.pos[0] || !x->a.pos[1])
		return fail(x, "usage: corral sendSignal <signal> <target>...");
	json_t *req = json_pack("{s:s, s:s, s:o}", "cmd", "signal", "signal", x->a.pos[0],
	    "targets", targets_json(x->a.pos + 1));
	json_t *r = call(x, req, QUICK_TIMEOUT_MS);
	if (!r)
		return 1;
	printf("corral: sent %s to %lld process%s\n", x->a.pos[0],
	    (long long)json_integer_value(json_object_get(r, "signalled")),
	    json_integer_value(json_object_get(r, "signalled")) == 1 ? "" : "es");
	json_decref(r);
	return 0;
}

static int
verb_scale(struct ctx *x)
{
	if (!x->a.pos[0] || !x->a.pos[1])
		return fail(x, "usage: corral scale <app> <N|+N|-N>");
	const char *n = x->a.pos[1];
	int64_t v;
	if (units_parse_int(n, -4096, 4096, &v) < 0)
		return fail(x, "\"%s\" is not a number of instances (N, +N or -N)", n);
	json_t *req = json_pack("{s:s, s:s}", "cmd", "scale", "name", x->a.pos[0]);
	json_object_set_new(req, n[0] == '+' || n[0] == '-' ? "delta" : "count", json_integer(v));
	json_t *r = call(x, req, ACTION_TIMEOUT_MS);
	if (!r)
		return 1;
	print_procs(x, json_object_get(r, "procs"));
	/* Each app starts on its own: name every one that did not. */
	size_t k;
	json_t *f;
	json_t *failed = json_object_get(r, "failed");
	json_array_foreach(failed, k, f)
		fail(x, "%s", json_string_value(json_object_get(f, "error")));
	int rc = json_array_size(failed) ? 1 : 0;
	json_decref(r);
	return rc;
}

/* ---- listing ---- */

static int
verb_list(struct ctx *x)
{
	bool json = args_has(&x->a, "json");
	json_t *req = json_pack("{s:s, s:b}", "cmd", "list", "brief", !json);
	if (x->a.pos[0])
		json_object_set_new(req, "targets", targets_json(x->a.pos));
	/* The table needs the top-level fields only: ask for just those. */
	json_t *r = call(x, req, QUICK_TIMEOUT_MS);
	if (!r)
		return 1;
	json_t *procs = json_object_get(r, "procs");
	if (json)
		render_json(stdout, procs, true);
	else
		render_list(stdout, procs);
	json_decref(r);
	return 0;
}

static int
verb_jlist(struct ctx *x)
{
	/* The daemon sends the array on the line after its reply, ready to
	 * print; an older daemon ignores "raw" and puts it in the reply. */
	json_t *r = call(x, json_pack("{s:s, s:b}", "cmd", "list", "raw", 1), QUICK_TIMEOUT_MS);
	if (!r)
		return 1;
	if (!json_is_true(json_object_get(r, "procs_follow"))) {
		render_json(stdout, json_object_get(r, "procs"), false);
		json_decref(r);
		return 0;
	}
	json_decref(r);
	size_t len;
	char *line = client_next_line(&x->conn, QUICK_TIMEOUT_MS, &len);
	if (!line)
		return fail(x, "the daemon closed the connection");
	fwrite(line, 1, len, stdout);
	fputc('\n', stdout);
	return 0;
}

static int
verb_prettylist(struct ctx *x)
{
	json_t *procs = list_procs(x, NULL, false);
	if (!procs)
		return 1;
	render_json(stdout, procs, true);
	json_decref(procs);
	return 0;
}

/* The processes named by the arguments (all when none), or NULL after
 * printing why. */
static json_t *
procs_of_args(struct ctx *x, bool env)
{
	json_t *t = x->a.pos[0] ? targets_json(x->a.pos) : NULL;
	json_t *procs = list_procs(x, t, env);
	json_decref(t);
	return procs;
}

static int
verb_describe(struct ctx *x)
{
	if (!x->a.pos[0])
		return fail(x, "missing target (an id, a name, a namespace or all)");
	json_t *procs = procs_of_args(x, false);
	if (!procs)
		return 1;
	if (args_has(&x->a, "json")) {
		render_json(stdout, procs, true);
	} else {
		size_t i;
		json_t *p;
		json_array_foreach(procs, i, p)
			render_describe(stdout, p);
	}
	json_decref(procs);
	return 0;
}

static int
verb_env(struct ctx *x)
{
	if (!x->a.pos[0])
		return fail(x, "missing process id");
	json_t *procs = procs_of_args(x, true);
	if (!procs)
		return 1;
	json_t *p = json_array_get(procs, 0);
	int pid = (int)json_integer_value(json_object_get(p, "pid"));
	/* The environment the process really has, when we can read it. */
	char *path = xasprintf("/proc/%d/environ", pid);
	char *buf = NULL;
	size_t len = 0;
	json_t *out = json_object();
	if (pid > 0 && read_file(path, &buf, &len, 16u << 20) == 0) {
		for (size_t i = 0; i < len;) {
			const char *e = buf + i;
			const char *eq = strchr(e, '=');
			if (eq) {
				char *key = xstrndup(e, (size_t)(eq - e));
				json_object_set_new(out, key, json_string(eq + 1));
				free(key);
			}
			i += strlen(e) + 1;
		}
	} else {
		json_object_update(out, json_object_get(json_object_get(p, "spec"), "env"));
	}
	free(buf);
	free(path);
	if (args_has(&x->a, "json")) {
		render_json(stdout, out, true);
	} else {
		const char *k;
		json_t *v;
		json_object_foreach(out, k, v)
			printf("%s: %s\n", k, json_string_value(v));
	}
	json_decref(out);
	json_decref(procs);
	return 0;
}

/* Print one integer field of every process (pid: only running ones). */
static int
print_field(struct ctx *x, const char *field)
{
	json_t *procs = procs_of_args(x, false);
	if (!procs)
		return 1;
	size_t i;
	json_t *p;
	json_array_foreach(procs, i, p) {
		long long v = (long long)json_integer_value(json_object_get(p, field));
		if (v > 0 || strcmp(field, "pid") != 0)
			printf("%lld\n", v);
	}
	json_decref(procs);
	return 0;
}

static int
verb_pid(struct ctx *x)
{
	return print_field(x, "pid");
}

static int
verb_id(struct ctx *x)
{
	if (!x->a.pos[0])
		return fail(x, "missing app name");
	return print_field(x, "pm_id");
}

/* ---- logs ---- */

static int
verb_logs(struct ctx *x)
{
	if (connect_daemon(x, true) < 0)
		return 1;
	return logs_run(&x->conn, &x->a);
}

static int
verb_flush(struct ctx *x)
{
	json_t *req = json_pack("{s:s}", "cmd", "flush");
	if (x->a.pos[0])
		json_object_set_new(req, "targets", targets_json(x->a.pos));
	json_t *r = call(x, req, QUICK_TIMEOUT_MS);
	if (!r)
		return 1;
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(r, "files"), i, f)
		printf("corral: flushed %s\n", json_string_value(f));
	json_decref(r);
	return 0;
}

static int
verb_reload_logs(struct ctx *x)
{
	json_t *r = call(x, json_pack("{s:s}", "cmd", "reload_logs"), QUICK_TIMEOUT_MS);
	if (!r)
		return 1;
	printf("corral: log files reopened\n");
	json_decref(r);
	return 0;
}

/* ---- persistence ---- */

static int
verb_save(struct ctx *x)
{
	json_t *procs = list_procs(x, NULL, true);
	if (!procs)
		return 1;
	json_t *doc = dump_from_procs(procs);
	char *err = NULL;
	int rc = dump_write(&x->paths, doc, args_has(&x->a, "force"), &err);
	size_t n = json_array_size(json_object_get(doc, "apps"));
	json_decref(doc);
	json_decref(procs);
	if (rc < 0) {
		fail(x, "%s", err);
		free(err);
		return 1;
	}
	printf("corral: saved %zu app%s to %s\n", n, n == 1 ? "" : "s", x->paths.dump);
	return 0;
}

static int
verb_resurrect(struct ctx *x)
{
	char *err = NULL;
	json_t *doc = dump_read(&x->paths, &err);
	if (!doc) {
		fail(x, "%s", err);
		free(err);
		return 1;
	}
	json_t *procs = list_procs(x, NULL, false);
	if (!procs) {
		json_decref(doc);
		return 1;
	}
	json_t *names = running_names(procs);
	json_t *apps = json_array(), *stopped = json_array();
	size_t i, skipped = 0;
	json_t *e;
	json_array_foreach(json_object_get(doc, "apps"), i, e) {
		/* A damaged entry (a hand edit) costs that app, not the others:
		 * a resurrect at boot must bring back what it can. */
		struct spec parsed;
		char *why = NULL;
		json_t *saved = json_object_get(e, "spec");
		if (spec_from_json(saved, &parsed, &why) < 0) {
			const char *sname = json_string_value(json_object_get(saved, "name"));
			fprintf(stderr, "corral resurrect: %s: app %zu%s%s%s: %s; skipped\n",
			    x->paths.dump, i, sname ? " (" : "", sname ? sname : "", sname ? ")" : "",
			    why ? why : "not an app");
			free(why);
			skipped++;
			continue;
		}
		json_t *spec = spec_to_json(&parsed, true);
		spec_free(&parsed);
		const char *name = json_string_value(json_object_get(spec, "name"));
		if (json_object_get(names, name)) {
			json_decref(spec);
			continue;
		}
		json_t *n = json_object_get(e, "instances");
		if (json_integer_value(n) > 0)
			json_object_set(spec, "instances", n);
		if (strcmp(json_string_value(json_object_get(e, "status")) ?: "", "stopped") == 0)
			json_array_append_new(stopped, json_string(name));
		json_array_append_new(apps, spec);
	}
	int rc = skipped > 0;
	if (json_array_size(apps) > 0)
		rc |= send_start(x, apps, stopped);
	else if (!skipped)
		printf("corral: nothing to resurrect (every saved app is already here)\n");
	json_decref(names);
	json_decref(procs);
	json_decref(apps);
	json_decref(stopped);
	json_decref(doc);
	return rc;
}

static int
verb_cleardump(struct ctx *x)
{
	json_t *doc = json_pack("{s:i, s:[]}", "version", 1, "apps");
	char *err = NULL;
	int rc = dump_write(&x->paths, doc, true, &err);
	json_decref(doc);
	if (rc < 0) {
		fail(x, "%s", err);
		free(err);
		return 1;
	}
	printf("corral: %s emptied\n", x->paths.dump);
	return 0;
}

static int
verb_startup(struct ctx *x)
{
	return startup_command(&x->a, &x->paths, true);
}

static int
verb_unstartup(struct ctx *x)
{
	return startup_command(&x->a, &x->paths, false);
}

/* ---- daemon ---- */

static int
verb_ping(struct ctx *x)
{
	json_t *r = call(x, json_pack("{s:s}", "cmd", "ping"), QUICK_TIMEOUT_MS);
	if (!r)
		return 1;
	if (args_has(&x->a, "json"))
		render_json(stdout, r, true);
	else
		printf("pong (daemon pid %lld)\n", (long long)json_integer_value(json_object_get(r, "pid")));
	json_decref(r);
	return 0;
}

/* True while pid runs. A zombie counts as gone: the daemon's parent is
 * init, and some container inits reap late or never. */
static bool
process_running(int pid)
{
	if (kill(pid, 0) < 0)
		return false;
	char *path = xasprintf("/proc/%d/stat", pid);
	char *txt = NULL;
	bool running = true;
	if (read_file(path, &txt, NULL, 4096) == 0) {
		const char *rp = strrchr(txt, ')');
		if (rp && rp[1] == ' ' && rp[2] == 'Z')
			running = false;
	}
	free(txt);
	free(path);
	return running;
}

static int
verb_kill(struct ctx *x)
{
	int rc = connect_daemon(x, false);
	if (rc == -ENOENT) {
		printf("corral: no daemon running for %s\n", x->paths.home);
		return 0;
	}
	if (rc < 0)
		return 1;
	int pid = x->conn.daemon_pid;
	json_t *r = call(x, json_pack("{s:s}", "cmd", "kill"), ACTION_TIMEOUT_MS);
	if (!r)
		return 1;
	json_decref(r);
	client_close(&x->conn);
	x->connected = false;
	/* Wait for the daemon process itself to be gone. */
	int64_t deadline = mono_ms() + 10000;
	while (pid > 0 && process_running(pid) && mono_ms() < deadline)
		usleep(10000);
	printf("corral: daemon stopped\n");
	return 0;
}

/* ---- config ---- */

static int
verb_config(struct ctx *x)
{
	const char *file = x->a.pos[0] ? x->a.pos[0] : "ecosystem.config.js";
	json_t *apps = load_config(x, file);
	if (!apps)
		return 1;
	if (args_has(&x->a, "json"))
		render_json(stdout, apps, true);
	else
		render_config(stdout, apps);
	json_decref(apps);
	return 0;
}

static int
verb_ecosystem(struct ctx *x)
{
	const char *file = "ecosystem.config.js";
	if (access(file, F_OK) == 0 && !args_has(&x->a, "force"))
		return fail(x, "%s already exists (use --force to overwrite it)", file);
	char *sample = sample_ecosystem();
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, sample, strlen(sample)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		free(sample);
		return fail(x, "cannot write %s: %s", file, strerror(e));
	}
	close(fd);
	free(sample);
	printf("corral: wrote %s\n", file);
	return 0;
}

static int verb_help(struct ctx *x);

static int
verb_version(struct ctx *x)
{
	printf("corral %s\n", CORRAL_VERSION);
	return 0;
}

#define G_ACT (OG_ACTION | OG_CONFIG | OG_LIST)

static const struct verb verbs[] = {
	{"start", {0}, OG_START | OG_CONFIG | OG_LIST, verb_start,
	    "start [script|command|ecosystem file|name] [options] [-- args]",
	    "start an app (or every app of an ecosystem file)"},
	{"stop", {0}, G_ACT, verb_stop, "stop <id|name|namespace|all|file>...", "stop gracefully"},
	{"restart", {0}, G_ACT, verb_restart, "restart <target>... [--update-env]",
	    "stop then start again"},
	{"reload", {0}, G_ACT, verb_reload, "reload <target>... [--parallel N]",
	    "zero-downtime replacement (cluster mode; fork mode restarts)"},
	{"delete", {"del", 0}, G_ACT, verb_delete, "delete <target>...", "stop and forget"},
	{"reset", {0}, OG_LIST, verb_reset, "reset <target>...", "zero the restart counters"},
	{"sendSignal", {"send-signal", 0}, 0, verb_signal, "sendSignal <signal> <target>...",
	    "send a signal to the main process"},
	{"scale", {0}, OG_LIST, verb_scale, "scale <app> <N|+N|-N>", "change the number of instances live"},
	{"startOrRestart", {0}, OG_CONFIG | OG_ACTION | OG_LIST, verb_start_or_restart,
	    "startOrRestart <ecosystem file>", "start what is not running, restart the rest"},
	{"startOrReload", {"startOrGracefulReload", 0}, OG_CONFIG | OG_ACTION | OG_LIST,
	    verb_start_or_reload, "startOrReload <ecosystem file>",
	    "start what is not running, reload the rest"},
	{"list", {"ls", "l", "ps", "status"}, OG_LIST, verb_list, "list [target]", "the process table"},
	{"jlist", {0}, 0, verb_jlist, "jlist", "the process list as JSON"},
	{"prettylist", {0}, 0, verb_prettylist, "prettylist", "the process list as indented JSON"},
	{"describe", {"desc", "info", "show", 0}, OG_LIST, verb_describe, "describe <target>",
	    "everything about a process"},
	{"env", {0}, OG_LIST, verb_env, "env <id>", "the environment of a process"},
	{"pid", {0}, 0, verb_pid, "pid [name]", "pids of the running processes"},
	{"id", {0}, 0, verb_id, "id <name>", "pm_ids of an app"},
	{"logs", {"log", 0}, OG_LOGS, verb_logs,
	    "logs [target] [--lines N] [--raw] [--err|--out] [--nostream] [--json]",
	    "print the last lines, then follow"},
	{"flush", {0}, 0, verb_flush, "flush [target]", "empty log files"},
	{"reloadLogs", {"reload-logs", 0}, 0, verb_reload_logs, "reloadLogs",
	    "reopen log files (after logrotate)"},
	{"save", {"dump", 0}, OG_SAVE, verb_save, "save [--force]", "save the process list"},
	{"resurrect", {0}, OG_LIST, verb_resurrect, "resurrect", "start the saved process list"},
	{"cleardump", {0}, 0, verb_cleardump, "cleardump", "empty the saved process list"},
	{"startup", {0}, OG_STARTUP, verb_startup,
	    "startup [systemd] [-u user] [--hp home] [--service-name name] [--print] [--wait-ip]",
	    "install a systemd unit that runs resurrect at boot (as root)"},
	{"unstartup", {0}, OG_UNSTARTUP, verb_unstartup,
	    "unstartup [systemd] [-u user] [--service-name name]",
	    "disable and remove that unit (as root)"},
	{"ping", {0}, OG_LIST, verb_ping, "ping", "check the daemon (starts it if needed)"},
	{"kill", {0}, 0, verb_kill, "kill", "stop every app, then the daemon"},
	{"config", {0}, OG_CONFIG, verb_config, "config [file] [--env name] [--only a,b] [--json]",
	    "show an ecosystem file as corral will run it"},
	{"ecosystem", {"init", 0}, OG_SAVE, verb_ecosystem, "ecosystem", "write a sample ecosystem.config.js"},
	{"daemon", {0}, 0, NULL, "daemon", "run the daemon (started on demand)"},
	{"version", {0}, 0, verb_version, "version", "print the version"},
	{"help", {0}, 0, verb_help, "help [verb]", "this help"},
};

static const struct verb *
find_verb(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(verbs); i++) {
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
		for (size_t k = 0; verbs[i].aliases[k]; k++)
			if (strcmp(verbs[i].aliases[k], name) == 0)
				return &verbs[i];
	}
	return NULL;
}

static void
usage(FILE *f)
{
	fprintf(f, "corral %s — a process manager for apps in any language\n\n"
	    "usage: corral <command> [arguments] [options]\n\ncommands:\n", CORRAL_VERSION);
	for (size_t i = 0; i < ARRAY_LEN(verbs); i++)
		fprintf(f, "  %-16s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\nstate lives in $CORRAL_HOME (default ~/.corral). "
	    "corral help <command> shows its options.\n");
}

static void
verb_usage(FILE *f, const struct verb *v)
{
	fprintf(f, "usage: corral %s\n%s\n", v->usage, v->help);
	bool header = false;
	for (const struct opt_def *o = args_options; o->lng; o++) {
		if (!(o->groups & v->groups))
			continue;
		if (!header)
			fprintf(f, "\noptions:\n");
		header = true;
		char left[64];
		if (o->shrt)
			snprintf(left, sizeof(left), "-%c, --%s%s", o->shrt, o->lng,
			    o->arg == 1 ? " <value>" : o->arg == 2 ? "[=value]" : "");
		else
			snprintf(left, sizeof(left), "    --%s%s", o->lng,
			    o->arg == 1 ? " <value>" : o->arg == 2 ? "[=value]" : "");
		fprintf(f, "  %-36s %s\n", left, o->help);
	}
}

static int
verb_help(struct ctx *x)
{
	const struct verb *v = x->a.pos[0] ? find_verb(x->a.pos[0]) : NULL;
	if (v)
		verb_usage(stdout, v);
	else
		usage(stdout);
	return 0;
}

int
cli_main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "-v") == 0 || strcmp(name, "-V") == 0) {
		printf("corral %s\n", CORRAL_VERSION);
		return 0;
	}
	const struct verb *v = find_verb(name);
	if (!v) {
		const char *best = NULL;
		int best_d = 4;
		for (size_t i = 0; i < ARRAY_LEN(verbs); i++) {
			int d = str_distance(name, verbs[i].name);
			if (d < best_d) {
				best_d = d;
				best = verbs[i].name;
			}
		}
		if (best)
			fprintf(stderr, "corral: unknown command \"%s\" (did you mean \"%s\"?)\n", name, best);
		else
			fprintf(stderr, "corral: unknown command \"%s\" (corral help lists them)\n", name);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			verb_usage(stdout, v);
			return 0;
		}
	}
	if (!v->fn) {           /* `corral daemon`: main() runs it, not the client */
		verb_usage(stderr, v);
		return 2;
	}

	struct ctx x;
	memset(&x, 0, sizeof(x));
	x.verb = v->name;
	char *err = NULL;
	if (args_parse(argc - 1, argv + 1, v->groups, &x.a, &err) < 0) {
		fprintf(stderr, "%s\n", err);
		free(err);
		return 2;
	}
	x.a.verb = v->name;
	if (paths_init(&x.paths, &err) < 0) {
		fprintf(stderr, "corral %s: %s\n", v->name, err);
		free(err);
		args_free(&x.a);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	int rc = v->fn(&x);
	if (x.connected)
		client_close(&x.conn);
	args_free(&x.a);
	paths_free(&x.paths);
	fflush(stdout);
	return rc;
}
