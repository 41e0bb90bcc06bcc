/*
 * logs.c — where an app's output goes and how its lines are stamped: the
 * out, error, combined and pid files, the log type, and the time prefix
 * (time, log_date_format), with PM2's dayjs formats translated to the
 * strftime form the daemon uses.
 */
#include "config/normalize_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/units.h"

char *
normalize_date_format(const char *fmt)
{
	return units_date_format(fmt);
}

/* time, then log_date_format over it: a format, or false for none. */
static int
time_prefix(struct app_ctx *a)
{
	const struct found *f;
	bool time_on = false;
	if ((f = fields_find(a, FID_time)) && fields_bool(a, f, &time_on) < 0)
		return -EINVAL;
	if (time_on)
		json_object_set_new(a->out, "log_date_format", json_string("%Y-%m-%dT%H:%M:%S"));
	if (!(f = fields_find(a, FID_log_date_format)))
		return 0;
	if (json_is_false(f->value)) {
		json_object_del(a->out, "log_date_format");
		return 0;
	}
	if (json_is_true(f->value))
		return fields_fail(a, f, "expected a format or false, got true");
	char *t;
	if (fields_string(a, f, &t) < 0)
		return -EINVAL;
	if (*t) {
		char *conv = normalize_date_format(t);
		json_object_set_new(a->out, "log_date_format", json_string(conv));
		free(conv);
	}
	free(t);
	return 0;
}

static int
log_type(struct app_ctx *a, const struct found *f)
{
	char *t;
	if (fields_string(a, f, &t) < 0)
		return -EINVAL;
	if (strcmp(t, "json") != 0 && strcmp(t, "raw") != 0) {
		/* PM2 takes any string and only acts on "json". */
		fields_warn_at(a, f, "\"%s\" is not a log type (json or raw); raw is used, as in PM2",
		    t);
	}
	json_object_set_new(a->out, "log_type", json_string(strcmp(t, "json") == 0 ? "json" : "raw"));
	free(t);
	return 0;
}

static bool
is_null_path(const char *p)
{
	return strcmp(p, "NULL") == 0 || strcmp(p, "/dev/null") == 0;
}

/* out_file, error_file, pid_file: a path relative to cwd; "NULL" or
 * /dev/null discards the stream, and means the default for pid_file. */
static int
log_path(struct app_ctx *a, enum field_id id)
{
	const struct found *f = fields_find(a, id);
	char *t;
	if (!f)
		return 0;
	if (fields_string(a, f, &t) < 0)
		return -EINVAL;
	char *p = is_null_path(t) ? xstrdup("/dev/null")
	    : exec_resolve(a, f, a->cwd, t, exec_is_place);
	if (id == FID_pid_file && strcmp(p, "/dev/null") == 0) {
		free(p);
		p = NULL;
	}
	json_object_set_new(a->out, f->def->key, p ? json_string(p) : json_null());
	free(p);
	free(t);
	return 0;
}

/* log_file: true for the default path, false or "NULL" for none. */
static int
combined_log(struct app_ctx *a, const struct found *f)
{
	if (fields_is_switch(f->value)) {
		bool b;
		fields_bool(a, f, &b);
		json_object_set_new(a->out, "log_file", b ? json_string("") : json_null());
		return 0;
	}
	char *t;
	if (fields_string(a, f, &t) < 0)
		return -EINVAL;
	char *p = is_null_path(t) ? NULL : exec_resolve(a, f, a->cwd, t, exec_is_place);
	json_object_set_new(a->out, "log_file", p ? json_string(p) : json_null());
	free(p);
	free(t);
	return 0;
}

/* Rotation: the app's own settings over the global ones (`corral set`). */
static int
rotation(struct app_ctx *a)
{
	const struct found *f;
	int64_t n;
	if ((f = fields_find(a, FID_log_max_size))) {
		if (fields_size(a, f, &n) < 0)
			return -EINVAL;
		json_object_set_new(a->out, "log_max_size", json_integer(n));
	}
	if ((f = fields_find(a, FID_log_retain))) {
		char *t = json_is_string(f->value) ? fields_scalar_text(f->value) : NULL;
		bool all = t && strcmp(t, "all") == 0;
		free(t);
		if (all)
			n = 0;
		else if (fields_number(a, f, 0, f->def->max, &n) < 0)
			return -EINVAL;
		json_object_set_new(a->out, "log_retain", json_integer(n));
	}
	if ((f = fields_find(a, FID_log_compress))) {
		bool b;
		if (fields_bool(a, f, &b) < 0)
			return -EINVAL;
		json_object_set_new(a->out, "log_compress", json_integer(b));
	}
	if ((f = fields_find(a, FID_log_rotate_interval))) {
		char *t;
		if (fields_cron(a, f, &t) < 0)
			return -EINVAL;
		/* "": this app's logs never rotate by time. */
		json_object_set_new(a->out, "log_rotate_interval", json_string(t ? t : ""));
		free(t);
	}
	return 0;
}

int
logs_fields(struct app_ctx *a)
{
	const struct found *f;
	if (time_prefix(a) < 0)
		return -EINVAL;
	if ((f = fields_find(a, FID_log_type)) && log_type(a, f) < 0)
		return -EINVAL;
	const enum field_id paths[] = {FID_out_file, FID_error_file, FID_pid_file};
	for (size_t i = 0; i < ARRAY_LEN(paths); i++)
		if (log_path(a, paths[i]) < 0)
			return -EINVAL;
	if ((f = fields_find(a, FID_log_file)) && combined_log(a, f) < 0)
		return -EINVAL;
	return rotation(a);
}
