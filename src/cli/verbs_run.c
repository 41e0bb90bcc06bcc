/*
 * verbs_run.c — actions on running apps: stop, restart, reload, delete,
 * reset, sendSignal, scale.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/verbs.h"
#include "common/units.h"
#include "config/normalize.h"

extern char **environ;

/* Targets for an action: positional names, or the apps of a config file. */
static json_t *
action_targets(struct ctx *x, json_t **file_apps)
{
	*file_apps = NULL;
	if (!x->a.pos[0]) {
		cli_fail(x, "missing target (an id, a name, a namespace, all, or an ecosystem file)");
		return NULL;
	}
	if (!x->a.pos[1] && cli_is_config_arg(x->a.pos[0])) {
		json_t *apps = cli_load_config(x, x->a.pos[0]);
		if (!apps)
			return NULL;
		/* The file's apps that are here; the others are skipped, as PM2
		 * does for stop and delete. */
		json_t *procs = cli_list_brief(x, NULL);
		if (!procs) {
			json_decref(apps);
			return NULL;
		}
		json_t *names = cli_running_names(procs);
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
	return cli_process_targets(x->a.pos);
}

/* The app fields the start options given set, but --watch: on restart and
 * reload it toggles watching, as in PM2. */
static json_t *
restart_fields(struct ctx *x)
{
	json_t *raw = args_app_fields(&x->a);
	json_object_del(raw, "watch");
	return raw;
}

/* --update-env: the spec's env rebuilt from this shell, with the app's
 * own variables over it. */
static void
refresh_spec_env(json_t *spec, const char *name)
{
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
}

/* The spec fields the start options given set, normalized as for `corral
 * start` of this app (its script, cwd and interpreter): a new object, or
 * NULL after printing why. Empty when no such option was given. */
static json_t *
option_fields(struct ctx *x, json_t *spec)
{
	json_t *raw = restart_fields(x);
	json_t *changed = json_object();
	if (json_object_size(raw) == 0)
		goto out;
	json_t *base = json_pack("{s:O, s:O, s:O}", "name", json_object_get(spec, "name"),
	    "script", json_object_get(spec, "script"), "cwd", json_object_get(spec, "cwd"));
	json_t *interp = json_object_get(spec, "interpreter");
	json_object_set_new(base, "interpreter", json_is_string(interp) ? json_incref(interp)
	    : json_string("none"));
	json_object_update(base, raw);
	json_t *warnings = json_array(), *out = NULL;
	struct norm_ctx nctx = {.base_dir = json_string_value(json_object_get(spec, "cwd")),
	    .environ = environ, .from_cli = true, .warnings = warnings};
	char *err = NULL;
	int rc = normalize_app(&nctx, base, &out, &err);
	json_decref(base);
	cli_print_warnings(warnings);
	json_decref(warnings);
	if (rc < 0) {
		cli_fail(x, "%s", err);
		free(err);
		json_decref(changed);
		changed = NULL;
		goto out;
	}
	/* Each option's field, as the normalizer spelled it out (watch also
	 * brings its paths). */
	const char *key;
	json_t *v;
	json_object_foreach(raw, key, v) {
		json_object_set(changed, key, json_object_get(out, key));
		if (strcmp(key, "watch") == 0)
			json_object_set(changed, "watch_paths", json_object_get(out, "watch_paths"));
	}
	json_decref(out);
out:
	json_decref(raw);
	return changed;
}

/* The targets' specs to restart or reload them with: the start options
 * given applied (PM2 applies them on restart too), and with --update-env
 * the environment rebuilt from this shell. NULL after printing why. */
static json_t *
updated_specs(struct ctx *x, json_t *targets, bool refresh_env)
{
	json_t *procs = cli_list_procs(x, targets, true);
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
		json_t *fields = option_fields(x, spec);
		if (!fields) {
			json_decref(spec);
			json_decref(apps);
			apps = NULL;
			break;
		}
		const char *key;
		json_t *v;
		json_object_foreach(fields, key, v) {
			if (json_is_null(v) || !v)
				json_object_del(spec, key);
			else
				json_object_set(spec, key, v);
		}
		json_decref(fields);
		if (refresh_env)
			refresh_spec_env(spec, name);
		json_array_append_new(apps, spec);
	}
	json_decref(seen);
	json_decref(procs);
	return apps;
}

static bool
names_all(json_t *targets)
{
	size_t i;
	json_t *t;
	bool all = false;
	json_array_foreach(targets, i, t)
		all |= strcmp(json_string_value(t), "all") == 0;
	return all;
}

/* PM2: `stop all` (restart, reload, delete) with no process at all is an
 * error. True when that is the case, or when asking failed (*rc is 1). */
static bool
all_of_nothing(struct ctx *x, json_t *targets, int *rc)
{
	if (!names_all(targets))
		return false;
	json_t *procs = cli_list_brief(x, NULL);
	bool none = procs && json_array_size(procs) == 0;
	if (none)
		cli_fail(x, "all: no process found (the process list is empty)");
	json_decref(procs);
	*rc = 1;
	return !procs || none;
}

/* Were start options given (restart/reload apply them)? */
static bool
has_app_options(struct ctx *x)
{
	json_t *raw = restart_fields(x);
	bool any = json_object_size(raw) > 0;
	json_decref(raw);
	return any;
}

/* The request line must stay below the daemon's limit (4 MiB): updated
 * specs that fit go with the restart or reload itself (a refused one then
 * changes nothing); more (fifty apps with a 100 KB environment) are sent
 * first with `update` requests of at most this many bytes each. */
#define UPDATE_BATCH_BYTES (1u << 20)

/* Attach apps (consumed) to req, or send them ahead in batches. 0, or -1
 * after printing why. */
static int
send_updates(struct ctx *x, json_t *req, json_t *apps)
{
	size_t n = json_array_size(apps), total = 0;
	size_t *len = xcalloc(n ? n : 1, sizeof(*len));
	for (size_t i = 0; i < n; i++) {
		char *text = json_dumps(json_array_get(apps, i), JSON_COMPACT);
		len[i] = text ? strlen(text) : 0;
		total += len[i];
		free(text);
	}
	int rc = 0;
	if (total <= UPDATE_BATCH_BYTES) {
		json_object_set(req, "apps", apps);
		goto out;
	}
	for (size_t from = 0; from < n && rc == 0;) {
		json_t *batch = json_array();
		size_t bytes = 0, i = from;
		for (; i < n && (i == from || bytes + len[i] <= UPDATE_BATCH_BYTES); i++) {
			json_array_append(batch, json_array_get(apps, i));
			bytes += len[i];
		}
		json_t *r = cli_call(x, json_pack("{s:s, s:o}", "cmd", "update", "apps", batch),
		    ACTION_TIMEOUT_MS);
		if (!r)
			rc = -1;
		json_decref(r);
		from = i;
	}
out:
	free(len);
	json_decref(apps);
	return rc;
}

/* stop, restart, reload, delete, reset: `cmd` on the targets. */
static int
do_action(struct ctx *x, const char *cmd)
{
	bool updates = strcmp(cmd, "restart") == 0 || strcmp(cmd, "reload") == 0;
	/* What a restart cannot change: say what does. */
	static const struct {
		const char *opt, *instead;
	} fixed[] = {
		{"name", "delete the app and start it under the new name"},
		{"instances", "use corral scale"},
		{"exec-mode", "delete the app and start it in the other mode"},
		{"execute-command", "delete the app and start it in the other mode"},
		{"no-daemon", "corral always runs apps under its daemon"},
	};
	for (size_t i = 0; i < ARRAY_LEN(fixed); i++)
		if (args_has(&x->a, fixed[i].opt))
			return cli_fail(x, "--%s does not apply to %s: %s", fixed[i].opt, x->verb,
			    fixed[i].instead);
	/* PM2: restart and reload of a file start what is not running. */
	if (updates && x->a.pos[0] && !x->a.pos[1] && cli_is_config_arg(x->a.pos[0]))
		return start_or_update(x, x->a.pos[0], cmd);
	int rc = 1;
	json_t *file_apps = NULL, *req = NULL, *r = NULL;
	json_t *targets = action_targets(x, &file_apps);
	if (!targets)
		goto out;
	if (file_apps && json_array_size(targets) == 0) {
		fprintf(stderr, "corral %s: none of the apps of %s is here\n", x->verb, x->a.pos[0]);
		rc = 0;
		goto out;
	}
	bool with_specs = updates && (args_has(&x->a, "update-env") || has_app_options(x));
	/* PM2 fails `stop all` with no process: the daemon says so, unless
	 * specs for the targets are to be made first. */
	bool check_all = !file_apps && strcmp(cmd, "reset") != 0;
	if (check_all && with_specs && all_of_nothing(x, targets, &rc))
		goto out;
	req = json_pack("{s:s, s:O}", "cmd", cmd, "targets", targets);
	if (check_all && names_all(targets))
		json_object_set_new(req, "all_needs_some", json_true());
	/* The table printed after needs only the list's fields. */
	if (!args_has(&x->a, "json"))
		json_object_set_new(req, "brief", json_true());
	if (with_specs) {
		json_t *apps = updated_specs(x, targets, args_has(&x->a, "update-env"));
		if (!apps || send_updates(x, req, apps) < 0)
			goto out;
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
			cli_fail(x, "--parallel: \"%s\" is not a number from 1 to 4096", par);
			goto out;
		}
		json_object_set_new(req, "parallel", json_integer(n));
	}
	r = cli_call(x, req, ACTION_TIMEOUT_MS);
	req = NULL;             /* cli_call() took it */
	if (!r)
		goto out;
	cli_print_procs(x, json_object_get(r, "procs"));
	rc = 0;
	if (args_has(&x->a, "attach"))
		rc = logs_attach(x, json_object_get(r, "procs"));
out:
	json_decref(r);
	json_decref(req);
	json_decref(targets);
	json_decref(file_apps);
	return rc;
}

int verb_stop(struct ctx *x) { return do_action(x, "stop"); }
int verb_restart(struct ctx *x) { return do_action(x, "restart"); }
int verb_reload(struct ctx *x) { return do_action(x, "reload"); }
int verb_delete(struct ctx *x) { return do_action(x, "delete"); }
int verb_reset(struct ctx *x) { return do_action(x, "reset"); }

int
verb_signal(struct ctx *x)
{
	if (!x->a.pos[0] || !x->a.pos[1])
		return cli_usage_error(x);
	json_t *req = json_pack("{s:s, s:s, s:o}", "cmd", "signal", "signal", x->a.pos[0],
	    "targets", cli_process_targets(x->a.pos + 1));
	json_t *r = cli_call(x, req, QUICK_TIMEOUT_MS);
	if (!r)
		return 1;
	printf("corral: sent %s to %lld process%s\n", x->a.pos[0],
	    (long long)json_integer_value(json_object_get(r, "signalled")),
	    json_integer_value(json_object_get(r, "signalled")) == 1 ? "" : "es");
	json_decref(r);
	return 0;
}

int
verb_scale(struct ctx *x)
{
	if (!x->a.pos[0] || !x->a.pos[1])
		return cli_usage_error(x);
	const char *n = x->a.pos[1];
	int64_t v;
	if (units_parse_int(n, -4096, 4096, &v) < 0)
		return cli_fail(x, "\"%s\" is not a number of instances (N, +N or -N)", n);
	json_t *req = json_pack("{s:s, s:s}", "cmd", "scale", "name", x->a.pos[0]);
	json_object_set_new(req, n[0] == '+' || n[0] == '-' ? "delta" : "count", json_integer(v));
	json_t *r = cli_call(x, req, ACTION_TIMEOUT_MS);
	if (!r)
		return 1;
	cli_print_procs(x, json_object_get(r, "procs"));
	json_decref(r);
	return 0;
}
