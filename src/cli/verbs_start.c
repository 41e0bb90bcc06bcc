/*
 * verbs_start.c — `corral start` (a script, a command, an ecosystem file or
 * a known app), startOrRestart and startOrReload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/verbs.h"
#include "common/spec.h"
#include "config/normalize.h"

extern char **environ;

int
start_send(struct ctx *x, json_t *apps, json_t *stopped)
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
	json_t *r = cli_call(x, req, ACTION_TIMEOUT_MS);
	if (!r)
		return 1;
	cli_print_procs(x, json_object_get(r, "procs"));
	json_decref(r);
	return 0;
}

static int
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
	json_t *spec = NULL;
	char *err = NULL;
	int rc = normalize_app(&nctx, raw, &spec, &err);
	cli_print_warnings(warnings);
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
	rc = start_send(x, apps, NULL);
	json_decref(apps);
	return rc;
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
int
start_or_update(struct ctx *x, const char *file, const char *action)
{
	json_t *apps = cli_load_config(x, file);
	if (!apps)
		return 1;
	json_t *procs = cli_list_procs(x, NULL, false);
	if (!procs) {
		json_decref(apps);
		return 1;
	}
	json_t *names = cli_running_names(procs);
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
		json_t *r = cli_call(x, req, ACTION_TIMEOUT_MS);
		if (!r)
			rc = 1;
		json_decref(r);
	}
	if (rc == 0 && json_array_size(to_start) > 0)
		rc = start_send(x, to_start, NULL);
	else if (rc == 0) {
		json_t *none = json_array();
		cli_print_procs(x, none);
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

/* PM2: `start <name|id>` of something already known restarts it. True when
 * arg names something known, with the outcome in *rc. */
static bool
restart_known(struct ctx *x, const char *arg, int *rc)
{
	if (cli_connect(x, true) < 0) {
		*rc = 1;
		return true;
	}
	json_t *t = json_pack("[s]", arg);
	json_t *req = json_pack("{s:s, s:O}", "cmd", "list", "targets", t);
	char *err = NULL;
	/* Not known is the daemon's "no such target": no error for us. */
	json_t *r = conn_call(&x->conn, req, QUICK_TIMEOUT_MS, &err);
	json_decref(req);
	free(err);
	bool known = r && json_array_size(json_object_get(r, "procs")) > 0;
	json_decref(r);
	if (known) {
		r = cli_call(x, json_pack("{s:s, s:O}", "cmd", "restart", "targets", t),
		    ACTION_TIMEOUT_MS);
		if (r)
			cli_print_procs(x, json_object_get(r, "procs"));
		*rc = r ? 0 : 1;
		json_decref(r);
	}
	json_decref(t);
	return known;
}

int
verb_start(struct ctx *x)
{
	const char *arg = x->a.pos[0];
	if (!arg) {
		if (access("ecosystem.config.js", F_OK) != 0)
			return cli_fail(x, "nothing to start: give a script, a command or an ecosystem "
			    "file (no ecosystem.config.js in this directory)");
		arg = "ecosystem.config.js";
	}
	if (x->a.pos[0] && x->a.pos[1])
		return cli_fail(x, "one script at a time (\"%s\" is extra; script arguments go after --)",
		    x->a.pos[1]);
	struct stat st;
	bool is_file = stat(arg, &st) == 0;
	if (cli_is_config_arg(arg) && (is_file || !strchr(arg, ' '))) {
		/* PM2: starting a file restarts its apps that are running, with
		 * the file's settings; -f starts copies instead. */
		if (!args_has(&x->a, "force"))
			return start_or_update(x, arg, "restart");
		json_t *apps = cli_load_config(x, arg);
		if (!apps)
			return 1;
		int rc = json_array_size(apps) ? start_send(x, apps, NULL) : 0;
		json_decref(apps);
		return rc;
	}
	if (args_has(&x->a, "env") || args_has(&x->a, "only"))
		return cli_fail(x, "--env and --only need an ecosystem file");
	int rc;
	if (!is_file && !strchr(arg, '/') && !strchr(arg, ' ') && restart_known(x, arg, &rc))
		return rc;
	return start_script(x, arg);
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
