/*
 * restart.c — when an app restarts and how it stops: restart limits, the
 * memory limit, exit codes that end it, the stop signal, the cron schedule
 * and file watching. (Booleans and durations are plain fields, done by the
 * driver.)
 */
#include "config/normalize_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/cron.h"
#include "common/signame.h"

static int
memory_limit(struct app_ctx *a, const struct found *f)
{
	int64_t n;
	if (fields_size(a, f, &n) < 0)
		return -EINVAL;
	char *txt = fields_scalar_text(f->value);
	bool bare = txt && txt[strspn(txt, "0123456789")] == '\0';
	free(txt);
	if (bare && n > 0 && n < 1024 * 1024) {
		/* A bare number is bytes, as in PM2: 300 restarts at once. */
		fields_warn_at(a, f, "%lld bytes is less than 1 MB: the app will restart at once "
		    "(did you mean \"%lldM\"?)", (long long)n, (long long)n);
	}
	json_object_set_new(a->out, "max_memory_restart", json_integer(n));
	return 0;
}

static int
stop_exit_codes(struct app_ctx *a, const struct found *f)
{
	json_t *arr = json_array();
	json_t *v = f->value;
	size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
	for (size_t i = 0; i < cnt; i++) {
		json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
		char *txt = json_is_number(e) || json_is_string(e) ? fields_scalar_text(e) : NULL;
		if (!txt) {
			json_decref(arr);
			return fields_fail(a, f, "expected exit codes (a number or an array), got %s",
			    fields_type_name(e));
		}
		/* "0,1" from the command line */
		char *save = NULL;
		for (char *tok = strtok_r(txt, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			int64_t n;
			if (fields_in_range(a, f, tok, "an exit code", &n) < 0) {
				free(txt);
				json_decref(arr);
				return -EINVAL;
			}
			json_array_append_new(arr, json_integer(n));
		}
		free(txt);
	}
	json_object_set_new(a->out, "stop_exit_codes", arr);
	return 0;
}

static int
kill_signal(struct app_ctx *a, const struct found *f)
{
	char *t;
	if (fields_string(a, f, &t) < 0)
		return -EINVAL;
	int sig = signame_parse(t);
	if (sig < 0)
		fields_fail(a, f, "\"%s\" is not a signal", t);
	else
		json_object_set_new(a->out, "kill_signal", json_string(signame_name(sig)));
	free(t);
	return sig < 0 ? -EINVAL : 0;
}

int
fields_cron(struct app_ctx *a, const struct found *f, char **out)
{
	*out = NULL;
	if (json_is_false(f->value))
		return 0;
	char *t;
	if (fields_string(a, f, &t) < 0)
		return -EINVAL;
	int rc = 0;
	if (strcmp(t, "0") != 0 && *t) {
		struct cron_expr ce;
		char *cerr = NULL;
		time_t next;
		if (cron_parse(t, &ce, &cerr) < 0) {
			rc = fields_fail(a, f, "%s", cerr);
			free(cerr);
		} else if (cron_next(&ce, time(NULL), &next) == -ENOENT) {
			rc = fields_fail(a, f, "cron \"%s\" never fires (no such date)", t);
		} else {
			*out = t;
			return 0;
		}
	}
	free(t);
	return rc;
}

/* "0" or "" disables it, as in PM2. */
static int
cron_restart(struct app_ctx *a, const struct found *f)
{
	char *t;
	if (fields_cron(a, f, &t) < 0)
		return -EINVAL;
	if (t)
		json_object_set_new(a->out, "cron_restart", json_string(t));
	free(t);
	return 0;
}

int
restart_policy(struct app_ctx *a)
{
	const struct found *f;
	int64_t n;
	if ((f = fields_find(a, FID_max_restarts))) {
		if (fields_number(a, f, f->def->min, f->def->max, &n) < 0)
			return -EINVAL;
		json_object_set_new(a->out, "max_restarts", json_integer(n));
	}
	if ((f = fields_find(a, FID_max_memory_restart)) && memory_limit(a, f) < 0)
		return -EINVAL;
	if ((f = fields_find(a, FID_stop_exit_codes)) && stop_exit_codes(a, f) < 0)
		return -EINVAL;
	if ((f = fields_find(a, FID_kill_signal)) && kill_signal(a, f) < 0)
		return -EINVAL;
	if ((f = fields_find(a, FID_cron_restart)) && cron_restart(a, f) < 0)
		return -EINVAL;
	return 0;
}

/* watch: true/false, or the paths to watch (relative to cwd). */
static int
watch_paths(struct app_ctx *a, const struct found *f)
{
	if (fields_is_switch(f->value)) {
		bool b;
		fields_bool(a, f, &b);
		json_object_set_new(a->out, "watch", json_boolean(b));
		return 0;
	}
	json_t *arr = fields_list(a, f);
	if (!arr)
		return -EINVAL;
	json_t *paths = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e) {
		char *p = exec_abs_path(a->cwd, json_string_value(e));
		struct stat st;
		if (stat(p, &st) < 0)
			fields_warn_at(a, f, "%s does not exist (yet): nothing to watch there", p);
		json_array_append_new(paths, json_string(p));
		free(p);
	}
	json_decref(arr);
	/* An empty list watches cwd, like true (PM2). */
	json_object_set_new(a->out, "watch", json_true());
	json_object_set_new(a->out, "watch_paths", paths);
	return 0;
}

int
restart_watch(struct app_ctx *a)
{
	const struct found *f;
	if ((f = fields_find(a, FID_watch)) && watch_paths(a, f) < 0)
		return -EINVAL;
	if ((f = fields_find(a, FID_ignore_watch))) {
		json_t *arr = fields_list(a, f);
		if (!arr)
			return -EINVAL;
		json_object_set_new(a->out, "ignore_watch", arr);
	}
	return 0;
}
