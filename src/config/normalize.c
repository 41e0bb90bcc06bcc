/*
 * normalize.c — ecosystem fields and start options → canonical spec.
 *
 * Two passes per app: first every key is mapped to its canonical field
 * (aliases, camelCase) and checked on its own (type, unit, range); then the
 * fields that depend on each other are resolved (cwd → script → interpreter
 * → mode → instances → logs → environment) by the steps listed in build().
 * The steps live with their concern (normalize_int.h lists the files); this
 * file holds the driver, the whole-file entry point and the small steps
 * that belong nowhere else (mode, plain fields, cluster).
 */
#include "config/normalize_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/spec.h"
#include "common/units.h"
#include "config/doc.h"

/* instances, exec_mode, and merge_logs's default, which depends on both. */
static int
step_mode(struct app_ctx *a)
{
	const struct found *f;
	int64_t instances = 1;
	bool instances_given = false;
	if ((f = fields_find(a, FID_instances))) {
		instances_given = true;
		json_t *v = f->value;
		char *txt = json_is_number(v) || json_is_string(v) ? fields_scalar_text(v) : NULL;
		if (txt && strcmp(txt, "max") == 0)
			instances = 0;
		else if (!txt || units_parse_int(txt, f->def->min, f->def->max, &instances) < 0) {
			fields_fail(a, f, "expected a number of instances, \"max\", 0 or a negative "
			    "number, got %s", txt ? txt : fields_type_name(v));
			free(txt);
			return -EINVAL;
		}
		free(txt);
	}
	json_object_set_new(a->out, "instances", json_integer(instances));
	const char *mode = instances_given ? "cluster" : "fork";
	if ((f = fields_find(a, FID_exec_mode))) {
		char *t;
		int rc = 0;
		if (fields_string(a, f, &t) < 0)
			return -EINVAL;
		if (strcmp(t, "fork") == 0 || strcmp(t, "fork_mode") == 0)
			mode = "fork";
		else if (strcmp(t, "cluster") == 0 || strcmp(t, "cluster_mode") == 0)
			mode = "cluster";
		else
			rc = fields_fail(a, f, "\"%s\" is not a mode (fork, fork_mode, cluster, "
			    "cluster_mode)", t);
		free(t);
		if (rc < 0)
			return rc;
	}
	json_object_set_new(a->out, "exec_mode", json_string(mode));
	bool merge_default = strcmp(mode, "fork") == 0 && !instances_given;
	json_object_set_new(a->out, "merge_logs", json_boolean(merge_default));
	return 0;
}

/* Fields that need nothing but their own value: namespace, the switches
 * and the durations. */
static int
step_plain(struct app_ctx *a)
{
	const struct found *f;
	if ((f = fields_find(a, FID_namespace))) {
		char *t;
		if (fields_string(a, f, &t) < 0)
			return -EINVAL;
		json_object_set_new(a->out, "namespace", json_string(*t ? t : "default"));
		free(t);
	}
	return fields_set_plain(a);
}

static int
share_ports(struct app_ctx *a, const struct found *f)
{
	json_t *arr = fields_list(a, f), *ports = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e) {
		int64_t n;
		if (fields_in_range(a, f, json_string_value(e), "a port", &n) < 0) {
			json_decref(arr);
			json_decref(ports);
			return -EINVAL;
		}
		json_array_append_new(ports, json_integer(n));
	}
	json_decref(arr);
	json_object_set_new(a->out, "share_ports", ports);
	return 0;
}

/* lb, listen, share_ports and the instance variables. */
static int
step_cluster(struct app_ctx *a)
{
	const struct found *f;
	char *t;
	int rc = 0;
	if ((f = fields_find(a, FID_lb))) {
		if (fields_string(a, f, &t) < 0)
			return -EINVAL;
		if (spec_lb_parse(t) < 0)
			rc = fields_fail(a, f, "\"%s\" is not a balancing strategy (least-busy, even, "
			    "sticky, shared)", t);
		else
			json_object_set_new(a->out, "lb", json_string(t));
		free(t);
		if (rc < 0)
			return rc;
	}
	if ((f = fields_find(a, FID_listen))) {
		json_t *arr = fields_list(a, f);
		if (!arr)
			return -EINVAL;
		json_object_set_new(a->out, "listen", arr);
	}
	if ((f = fields_find(a, FID_share_ports)) && share_ports(a, f) < 0)
		return -EINVAL;
	const enum field_id vars[] = {FID_instance_var, FID_increment_var};
	for (size_t i = 0; i < ARRAY_LEN(vars); i++) {
		if (!(f = fields_find(a, vars[i])))
			continue;
		if (fields_string(a, f, &t) < 0)
			return -EINVAL;
		if (!*t || strchr(t, '='))
			rc = fields_fail(a, f, "\"%s\" is not a variable name", t);
		else
			json_object_set_new(a->out, f->def->key, json_string(t));
		free(t);
		if (rc < 0)
			return rc;
	}
	return 0;
}

bool
normalize_is_config_file(const char *arg)
{
	const char *marks[] = {".json", ".yml", ".yaml", ".config.js", ".config.cjs", ".config.mjs"};
	for (size_t i = 0; i < ARRAY_LEN(marks); i++)
		if (strstr(arg, marks[i]))
			return true;
	return false;
}

/* The second pass, in dependency order. */
static int (*const steps[])(struct app_ctx *) = {
	exec_cwd,       /* first: everything relative hangs on it */
	exec_script,    /* script, interpreter */
	exec_name,      /* from the script unless given; version */
	exec_args,      /* args, interpreter_args */
	step_mode,      /* instances, exec_mode */
	step_plain,
	restart_policy,
	restart_watch,
	logs_fields,
	step_cluster,
	env_merge,      /* env, deploy env, env_<name>, port */
	exec_user,      /* sets HOME for the user */
	env_finish,     /* filter_env, then the whole environment */
};

static int
build(struct app_ctx *a)
{
	a->out = json_object();
	a->app_env = json_object();
	json_object_set_new(a->out, "app_env", a->app_env);
	for (size_t i = 0; i < ARRAY_LEN(steps); i++)
		if (steps[i](a) < 0)
			goto fail;
	/* A field that failed without stopping the build (append_env_to_name). */
	if (a->err)
		goto fail;
	return 0;
fail:
	json_decref(a->out);
	a->out = NULL;
	if (!a->err)
		fields_fail(a, NULL, "invalid app");
	return -EINVAL;
}

/* What the steps left in a; a->out and a->err belong to the caller. */
static void
app_ctx_release(struct app_ctx *a)
{
	free(a->cwd);
	free(a->script);
	free(a->resolved);
	free(a->interp);
	json_decref(a->env_defaults);
	json_decref(a->derived);
}

int
normalize_app(struct norm_ctx *ctx, json_t *raw, json_t **out, char **err)
{
	struct app_ctx a;
	memset(&a, 0, sizeof(a));
	a.ctx = ctx;
	a.raw = raw;
	*out = NULL;
	if (!json_is_object(raw)) {
		fields_fail(&a, NULL, "an app must be an object, got %s", fields_type_name(raw));
		*err = a.err;
		return -EINVAL;
	}
	const char *nm = json_string_value(json_object_get(raw, "name"));
	a.app_name = nm && *nm ? nm : NULL;
	fields_collect(&a);
	int rc = build(&a);
	app_ctx_release(&a);
	if (rc < 0) {
		*err = a.err;
		return -EINVAL;
	}
	/* Last line of defence: the daemon will check the same way. The
	 * answer is the spec as the daemon will hold it, defaults included,
	 * so `corral config` shows every value the app will run with. */
	struct spec s;
	char *serr = NULL;
	if (spec_from_json(a.out, &s, &serr) < 0) {
		a.app_name = json_string_value(json_object_get(a.out, "name"));
		char *w = fields_where(&a, NULL);
		*err = config_doc_one_line(xasprintf("%s%s", w, serr));
		free(w);
		free(serr);
		json_decref(a.out);
		return -EINVAL;
	}
	json_decref(a.out);
	*out = spec_to_json(&s, true);
	spec_free(&s);
	return 0;
}

/* The apps of a file: {apps: [...]}, {pm2: [...]}, a bare array, or one
 * app object. Borrowed from root, or NULL when none are found; *one holds
 * a single app as an array (caller decrefs). */
static json_t *
app_list(struct norm_ctx *ctx, json_t *root, const char *path, json_t **one)
{
	json_t *list = NULL;
	*one = NULL;
	if (json_is_array(root)) {
		list = root;
	} else if (json_is_object(root)) {
		list = json_object_get(root, "apps");
		if (!list)
			list = json_object_get(root, "pm2");
		if (!list && (json_object_get(root, "script") || json_object_get(root, "exec") ||
		    json_object_get(root, "cmd") || json_object_get(root, "command")))
			list = root;
		ctx->deploy = json_object_get(root, "deploy");
		if (list != root && json_object_get(root, "static"))
			fields_warn(ctx, "%s: \"static\" (PM2's `pm2 serve` apps) is not supported; "
			    "ignored", path);
	}
	if (json_is_object(list)) {
		*one = json_array();
		json_array_append(*one, list);
		list = *one;
	}
	return list;
}

/* Normalize the apps of list named in names (all when names is NULL) into
 * apps; every name must match an app. */
static int
normalize_list(struct norm_ctx *ctx, json_t *list, char **names, const char *path,
    json_t *apps, char **err)
{
	size_t i;
	json_t *raw;
	int rc = 0;
	bool *used = names ? xcalloc(strv_len(names) + 1, sizeof(bool)) : NULL;
	json_array_foreach(list, i, raw) {
		if (names) {
			const char *nm = json_string_value(json_object_get(raw, "name"));
			bool want = false;
			for (size_t k = 0; names[k]; k++)
				if (nm && strcmp(names[k], nm) == 0)
					want = used[k] = true;
			if (!want)
				continue;
		}
		json_t *spec;
		rc = normalize_app(ctx, raw, &spec, err);
		if (rc < 0)
			break;
		json_array_append_new(apps, spec);
	}
	for (size_t k = 0; rc == 0 && names && names[k]; k++) {
		if (!used[k]) {
			*err = xasprintf("%s: --only %s: no app of that name in the file", path, names[k]);
			rc = -EINVAL;
		}
	}
	free(used);
	return rc;
}

int
normalize_doc(struct norm_ctx *ctx, const struct config_doc *doc, const char *only,
    json_t **apps_out, char **err)
{
	const char *path = config_doc_path(doc);
	ctx->doc = doc;
	json_t *one;
	json_t *list = app_list(ctx, config_doc_root(doc), path, &one);
	if (!list) {
		*err = xasprintf("%s: no apps found (expected {\"apps\": [...]}, an array of apps, "
		    "or one app object)", path);
		return -EINVAL;
	}
	if (!json_is_array(list)) {
		*err = xasprintf("%s: \"apps\" must be an array", path);
		return -EINVAL;
	}
	char **names = NULL;
	if (only) {
		char *copy = xstrdup(only);
		for (char *p = copy; *p; p++)
			if (*p == ',')
				*p = ' ';
		names = normalize_split_args(copy, err);
		free(copy);
		if (!names) {
			json_decref(one);
			return -EINVAL;
		}
	}
	json_t *apps = json_array();
	ctx->share_inherited = true;
	int rc = normalize_list(ctx, list, names, path, apps, err);
	ctx->share_inherited = false;
	json_decref(ctx->inherited);
	json_decref(ctx->inherited_skipped);
	ctx->inherited = ctx->inherited_skipped = NULL;
	if (rc == 0 && json_array_size(apps) == 0 && !names) {
		*err = xasprintf("%s: the file declares no apps", path);
		rc = -EINVAL;
	}
	strv_free(names);
	json_decref(one);
	if (rc < 0) {
		json_decref(apps);
		*err = config_doc_one_line(*err);
		return rc;
	}
	*apps_out = apps;
	return 0;
}
