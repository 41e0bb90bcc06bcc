/*
 * env.c — an app's environment, merged in PM2's order: the shell's (minus
 * what filter_env drops), deploy.<name>.env, env, env_<name>, then what
 * corral derives (PORT, PYTHONUNBUFFERED, the user's HOME).
 *
 * The app's own part (everything but the shell's) is kept apart in
 * "app_env", so that `restart --update-env` can rebuild the whole from a
 * new shell; "env" is the merged result.
 */
#include "config/normalize_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/doc.h"

json_t *
normalize_env(char **environ_, const json_t *app_env, bool filter_all, char *const *filter,
    json_t *skipped)
{
	json_t *env = json_object();
	/* Never pass on what corral itself manages for the app. */
	static const char *const managed[] = {"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
	    "NOTIFY_SOCKET", "NODE_CHANNEL_FD", "NODE_CHANNEL_SERIALIZATION_MODE",
	    "NODE_UNIQUE_ID", "CORRAL_BROKER_FD", "CORRAL_BROKER_SOCKET", "CORRAL_DAEMON_READY_FD",
	    "CORRAL_AGENT_PARENT", NULL};
	for (size_t i = 0; !filter_all && environ_ && environ_[i]; i++) {
		const char *eq = strchr(environ_[i], '=');
		if (!eq || eq == environ_[i])
			continue;
		char *key = xstrndup(environ_[i], (size_t)(eq - environ_[i]));
		bool drop = false;
		for (size_t k = 0; managed[k]; k++)
			drop |= strcmp(managed[k], key) == 0;
		for (size_t k = 0; filter && filter[k] && !drop; k++) {
			if (filter[k][0] == '=')
				drop = strcmp(filter[k] + 1, key) == 0;
			else
				drop = strstr(key, filter[k]) != NULL;
		}
		/* A corral inside a corral app must not hand its preload on. */
		if (!drop && strcmp(key, "LD_PRELOAD") == 0 && strstr(eq + 1, "libcorral-preload"))
			drop = true;
		if (!drop && utf8_valid(key, strlen(key)) && utf8_valid(eq + 1, strlen(eq + 1)))
			json_object_set_new(env, key, json_string(eq + 1));
		else if (!drop && skipped)
			json_array_append_new(skipped, json_string(utf8_valid(key, strlen(key)) ? key : "?"));
		free(key);
	}
	if (app_env)
		json_object_update(env, (json_t *)app_env);
	return env;
}

/* Merge one env object into dst with PM2's stringification. */
static int
merge_env(struct app_ctx *a, const struct found *f, json_t *src, json_t *dst)
{
	if (json_is_null(src))
		return 0;
	if (!json_is_object(src))
		return fields_fail(a, f, "expected an object of variables, got %s",
		    fields_type_name(src));
	const char *k;
	json_t *v;
	json_object_foreach(src, k, v) {
		if (!*k || strchr(k, '='))
			return fields_fail(a, f, "\"%s\" is not a valid variable name", k);
		char *t;
		if (json_is_object(v) || json_is_array(v))
			t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		else if (json_is_null(v))
			t = xstrdup("null");
		else
			t = fields_scalar_text(v);
		if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v)) {
			free(t);
			return fields_fail(a, f, "%s contains a NUL byte", k);
		}
		json_object_set_new(dst, k, json_string(t));
		free(t);
	}
	return 0;
}

/* With --env <name>: deploy.<name>.env under what the app has so far,
 * then env_<name> over it. */
static int
named_env(struct app_ctx *a)
{
	struct norm_ctx *ctx = a->ctx;
	json_t *deploy_env = json_object_get(json_object_get(ctx->deploy, ctx->env_name), "env");
	if (deploy_env && json_is_object(deploy_env)) {
		json_t *merged = json_deep_copy(deploy_env);
		json_t *tmp = json_object();
		struct found df = {.def = fields_def(FID_env), .key = "deploy", .value = deploy_env};
		if (merge_env(a, &df, merged, tmp) == 0) {
			json_object_update(tmp, a->app_env);
			json_object_clear(a->app_env);
			json_object_update(a->app_env, tmp);
		}
		json_decref(tmp);
		json_decref(merged);
	}
	char *key = xasprintf("env_%s", ctx->env_name);
	json_t *named = json_object_get(a->raw, key);
	int rc = 0;
	if (named) {
		struct found nf = {.def = fields_def(FID_env), .key = key, .value = named};
		rc = merge_env(a, &nf, named, a->app_env);
	} else {
		fields_warn(ctx, "%s: app '%s' has no %s (--env %s)",
		    ctx->doc ? config_doc_path(ctx->doc) : "start", a->app_name, key, ctx->env_name);
	}
	free(key);
	return rc;
}

int
env_merge(struct app_ctx *a)
{
	const struct found *f;
	if ((f = fields_find(a, FID_env)) && merge_env(a, f, f->value, a->app_env) < 0)
		return -EINVAL;
	if (a->ctx->env_name && named_env(a) < 0)
		return -EINVAL;
	if ((f = fields_find(a, FID_port))) {
		int64_t n;
		if (fields_number(a, f, 1, 65535, &n) < 0)
			return -EINVAL;
		json_object_set_new(a->app_env, "PORT", json_sprintf("%lld", (long long)n));
	}
	return 0;
}

/* filter_env into out: true drops the whole shell environment, "KEY"
 * exactly KEY (stored as "=KEY"), a list every name containing one. */
static int
filter_env(struct app_ctx *a, json_t *filter, bool *filter_all)
{
	const struct found *f = fields_find(a, FID_filter_env);
	if (!f)
		return 0;
	json_t *v = f->value;
	if (json_is_boolean(v)) {
		*filter_all = json_is_true(v);
	} else if (json_is_string(v)) {
		json_array_append_new(filter, json_sprintf("=%s", json_string_value(v)));
	} else if (json_is_array(v)) {
		json_t *arr = fields_list(a, f);
		if (!arr)
			return -EINVAL;
		json_array_extend(filter, arr);
		json_decref(arr);
	} else {
		return fields_fail(a, f, "expected true, a variable name or an array of names, got %s",
		    fields_type_name(v));
	}
	return 0;
}

int
env_finish(struct app_ctx *a)
{
	bool filter_all = false;
	json_t *filter = json_array();
	json_object_set_new(a->out, "filter_env", filter);
	if (filter_env(a, filter, &filter_all) < 0)
		return -EINVAL;
	json_object_set_new(a->out, "filter_env_all", json_boolean(filter_all));
	char **fv = xcalloc(json_array_size(filter) + 1, sizeof(char *));
	for (size_t i = 0; i < json_array_size(filter); i++)
		fv[i] = (char *)json_string_value(json_array_get(filter, i));
	json_t *skipped = json_array();
	struct norm_ctx *ctx = a->ctx;
	if (ctx->share_inherited && !filter_all && !fv[0]) {
		/* The apps of a file mostly inherit the same: parsed once, and
		 * their environments share its strings. */
		if (!ctx->inherited) {
			ctx->inherited_skipped = json_array();
			ctx->inherited = normalize_env(ctx->environ, NULL, false, NULL,
			    ctx->inherited_skipped);
		}
		json_t *env = json_copy(ctx->inherited);
		if (a->app_env)
			json_object_update(env, a->app_env);
		json_object_set_new(a->out, "env", env);
		json_array_extend(skipped, ctx->inherited_skipped);
	} else {
		json_object_set_new(a->out, "env", normalize_env(ctx->environ, a->app_env, filter_all,
		    fv, skipped));
	}
	free(fv);
	size_t k;
	json_t *var;
	json_array_foreach(skipped, k, var)
		fields_warn(a->ctx, "environment variable %s is not UTF-8 text: the app does not get "
		    "it", json_string_value(var));
	json_decref(skipped);
	return 0;
}
