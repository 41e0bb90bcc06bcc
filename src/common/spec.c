/*
 * spec.c — canonical app spec <-> JSON, driven by one field table.
 */
#include "common/spec.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/signame.h"
#include "common/util.h"

enum ftype {
	F_STR,      /* char *, NULL allowed when the default is NULL */
	F_STRV,     /* char ** */
	F_INT,      /* int64_t within [min, max] */
	F_BOOL,     /* bool */
	F_INTV,     /* struct intv */
	F_ENV,      /* json_t * object of strings */
	F_ENUM,     /* int, one of names[] */
};

static const char *const mode_names[] = {"fork", "cluster", NULL};
static const char *const lb_names[] = {"shared", "even", "sticky", "least-busy", NULL};
static const char *const logtype_names[] = {"raw", "json", NULL};

struct field {
	const char *key;
	enum ftype type;
	size_t off;
	const char *def_str;     /* F_STR, F_ENUM: the default's text */
	int64_t def_int;         /* F_INT, F_BOOL */
	int64_t min, max;
	const char *const *names;
	bool required;
};

#define DAY_MS (86400LL * 1000)

/* The spec's fields, from common/fields.def: each spec tag there becomes
 * the type, default and range of a row. */
#define SPEC_ROW(key_, ...) {.key = #key_, .off = offsetof(struct spec, key_), __VA_ARGS__},
#define FIELD(key, kind, tag, opt, name, letter, aliases, help) SPEC_ROW(key, tag)
#define COMPUTED(key, tag) SPEC_ROW(key, tag)
#define INPUT(...)
#define OPTION(...)
#define REQUIRED .type = F_STR, .required = true
#define STR(text) .type = F_STR, .def_str = #text
#define STR_NULL .type = F_STR
#define STRV .type = F_STRV
#define INT(n, lo, hi) .type = F_INT, .def_int = (n), .min = (lo), .max = (hi)
#define MS(n) INT(n, 0, 30 * DAY_MS)
#define BOOL(b) .type = F_BOOL, .def_int = (b)
#define INTV(lo, hi) .type = F_INTV, .min = (lo), .max = (hi)
#define ENV .type = F_ENV
#define ENUM(text, names_) .type = F_ENUM, .def_str = #text, .names = names_
#define HIDDEN(tag) tag

static const struct field fields[] = {
#include "common/fields.def"
};

#undef SPEC_ROW

#define AT(s, f, T) ((T *)((char *)(s) + (f)->off))

size_t
strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

char **
strv_dup(char *const *v)
{
	size_t n = strv_len(v);
	char **out = xcalloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

json_t *
strv_to_json(char *const *v)
{
	json_t *a = json_array();
	for (size_t k = 0; v && v[k]; k++)
		json_array_append_new(a, json_string(v[k]));
	return a;
}

void
strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* The index of an F_ENUM field's default among its names. */
static int
enum_default(const struct field *f)
{
	for (int i = 0; f->names[i]; i++)
		if (strcmp(f->names[i], f->def_str) == 0)
			return i;
	fatal("spec: %s: default \"%s\" is none of its names", f->key, f->def_str);
}

static void
set_default(struct spec *s, const struct field *f)
{
	switch (f->type) {
	case F_STR:
		*AT(s, f, char *) = f->def_str ? xstrdup(f->def_str) : NULL;
		break;
	case F_STRV:
		*AT(s, f, char **) = xcalloc(1, sizeof(char *));
		break;
	case F_INT:
		*AT(s, f, int64_t) = f->def_int;
		break;
	case F_BOOL:
		*AT(s, f, bool) = f->def_int != 0;
		break;
	case F_INTV:
		AT(s, f, struct intv)->v = NULL;
		AT(s, f, struct intv)->n = 0;
		break;
	case F_ENV:
		*AT(s, f, json_t *) = NULL;     /* empty: most apps' app_env */
		break;
	case F_ENUM:
		*AT(s, f, int) = enum_default(f);
		break;
	}
}

static bool
json_is_whole(const json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d == floor(d) && fabs(d) < 9e15) {
			*out = (int64_t)d;
			return true;
		}
	}
	return false;
}

char *
spec_env_check(const char *what, const json_t *v, bool removals)
{
	if (!json_is_object(v))
		return xasprintf("%s: expected an object", what);
	const char *k;
	json_t *e;
	json_object_foreach((json_t *)v, k, e) {
		if (removals && json_is_null(e))
			continue;
		if (!json_is_string(e))
			return xasprintf("%s.%s: expected a string%s", what, k, removals ? " or null" : "");
		if (!*k || strchr(k, '=') || memchr(json_string_value(e), '\0', json_string_length(e)))
			return xasprintf("%s.%s: not a valid environment variable", what, k);
	}
	return NULL;
}

/* Parse one field into s; NULL on success, else a message. */
static char *
parse_field(struct spec *s, const struct field *f, const json_t *v)
{
	switch (f->type) {
	case F_STR:
		if (json_is_null(v) && !f->required) {
			/* null means "the default", never a NULL where one is needed. */
			free(*AT(s, f, char *));
			*AT(s, f, char *) = f->def_str ? xstrdup(f->def_str) : NULL;
			return NULL;
		}
		if (!json_is_string(v))
			return xasprintf("%s: expected a string", f->key);
		if (memchr(json_string_value(v), '\0', json_string_length(v)))
			return xasprintf("%s: contains a NUL byte", f->key);
		free(*AT(s, f, char *));
		*AT(s, f, char *) = xstrdup(json_string_value(v));
		return NULL;
	case F_STRV: {
		if (!json_is_array(v))
			return xasprintf("%s: expected an array of strings", f->key);
		size_t n = json_array_size(v);
		char **out = xcalloc(n + 1, sizeof(*out));
		for (size_t i = 0; i < n; i++) {
			const json_t *e = json_array_get(v, i);
			if (!json_is_string(e) ||
			    memchr(json_string_value(e), '\0', json_string_length(e))) {
				strv_free(out);
				return xasprintf("%s[%zu]: expected a string", f->key, i);
			}
			out[i] = xstrdup(json_string_value(e));
		}
		strv_free(*AT(s, f, char **));
		*AT(s, f, char **) = out;
		return NULL;
	}
	case F_INT: {
		int64_t n;
		if (!json_is_whole(v, &n))
			return xasprintf("%s: expected an integer", f->key);
		if (n < f->min || n > f->max)
			return xasprintf("%s: %lld is out of range %lld..%lld", f->key,
			    (long long)n, (long long)f->min, (long long)f->max);
		*AT(s, f, int64_t) = n;
		return NULL;
	}
	case F_BOOL:
		if (!json_is_boolean(v))
			return xasprintf("%s: expected true or false", f->key);
		*AT(s, f, bool) = json_is_true(v);
		return NULL;
	case F_INTV: {
		if (!json_is_array(v))
			return xasprintf("%s: expected an array of integers", f->key);
		struct intv *iv = AT(s, f, struct intv);
		size_t n = json_array_size(v);
		int64_t *out = xcalloc(n + 1, sizeof(*out));
		for (size_t i = 0; i < n; i++) {
			int64_t x;
			if (!json_is_whole(json_array_get(v, i), &x) || x < f->min || x > f->max) {
				free(out);
				return xasprintf("%s[%zu]: expected an integer in %lld..%lld",
				    f->key, i, (long long)f->min, (long long)f->max);
			}
			out[i] = x;
		}
		free(iv->v);
		iv->v = out;
		iv->n = n;
		return NULL;
	}
	case F_ENV: {
		char *msg = spec_env_check(f->key, v, false);
		if (msg)
			return msg;
		json_decref(*AT(s, f, json_t *));
		/* A copy of the object sharing its strings, which nothing
		 * changes: the apps of one request share them. */
		*AT(s, f, json_t *) = json_object_size(v) ? json_copy((json_t *)v) : NULL;
		return NULL;
	}
	case F_ENUM:
		if (json_is_string(v)) {
			for (int i = 0; f->names[i]; i++) {
				if (strcmp(f->names[i], json_string_value(v)) == 0) {
					*AT(s, f, int) = i;
					return NULL;
				}
			}
		}
		{
			struct sbuf b = SBUF_INIT;
			for (int i = 0; f->names[i]; i++)
				sbuf_addf(&b, "%s\"%s\"", i ? ", " : "", f->names[i]);
			char *m = xasprintf("%s: expected one of %s", f->key, b.s);
			sbuf_free(&b);
			return m;
		}
	}
	return xasprintf("%s: unsupported field type", f->key);
}

/* Checks that involve more than one field or the meaning of a value. */
static char *
check_spec(const struct spec *s)
{
	if (!*s->name)
		return xstrdup("name: must not be empty");
	if (strlen(s->name) > 200)
		return xstrdup("name: longer than 200 characters");
	for (const char *p = s->name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return xstrdup("name: contains a control character");
	if (s->log_date_format && strlen(s->log_date_format) > 128)
		return xstrdup("log_date_format: longer than 128 characters");
	if (!*s->script)
		return xstrdup("script: must not be empty");
	if (s->cwd[0] != '/')
		return xasprintf("cwd: \"%s\" is not an absolute path", s->cwd);
	if (s->interpreter && s->interpreter[0] != '/')
		return xasprintf("interpreter: \"%s\" is not an absolute path", s->interpreter);
	if (signame_parse(s->kill_signal) < 0)
		return xasprintf("kill_signal: \"%s\" is not a signal", s->kill_signal);
	if (!*s->instance_var || strchr(s->instance_var, '='))
		return xstrdup("instance_var: not a valid variable name");
	if (s->increment_var && (!*s->increment_var || strchr(s->increment_var, '=')))
		return xstrdup("increment_var: not a valid variable name");
	return NULL;
}

int
spec_from_json(const json_t *j, struct spec *s, char **err)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < ARRAY_LEN(fields); i++)
		set_default(s, &fields[i]);
	char *msg = NULL;
	if (!json_is_object(j)) {
		msg = xstrdup("app: expected an object");
		goto fail;
	}
	for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
		const struct field *f = &fields[i];
		const json_t *v = json_object_get(j, f->key);
		if (!v) {
			if (f->required) {
				msg = xasprintf("%s: missing", f->key);
				goto fail;
			}
			continue;
		}
		msg = parse_field(s, f, v);
		if (msg)
			goto fail;
	}
	msg = check_spec(s);
	if (msg)
		goto fail;
	return 0;
fail:
	spec_free(s);
	if (err)
		*err = msg;
	else
		free(msg);
	return -EINVAL;
}

json_t *
spec_to_json(const struct spec *s, bool with_env)
{
	json_t *j = json_object();
	for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
		const struct field *f = &fields[i];
		json_t *v = NULL;
		switch (f->type) {
		case F_STR: {
			const char *str = *AT(s, f, char *);
			v = str ? json_string(str) : json_null();
			break;
		}
		case F_STRV:
			v = strv_to_json(*AT(s, f, char **));
			break;
		case F_INT:
			v = json_integer(*AT(s, f, int64_t));
			break;
		case F_BOOL:
			v = json_boolean(*AT(s, f, bool));
			break;
		case F_INTV: {
			const struct intv *iv = AT(s, f, struct intv);
			v = json_array();
			for (size_t k = 0; k < iv->n; k++)
				json_array_append_new(v, json_integer(iv->v[k]));
			break;
		}
		case F_ENV: {
			if (!with_env)
				continue;
			json_t *e = *AT(s, f, json_t *);
			if (f->off == offsetof(struct spec, env))
				v = spec_env(s);
			else
				v = e ? json_deep_copy(e) : json_object();
			break;
		}
		case F_ENUM:
			v = json_string(f->names[*AT(s, f, int)]);
			break;
		}
		json_object_set_new(j, f->key, v);
	}
	return j;
}

json_t *
spec_defaults(void)
{
	struct spec s;
	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < ARRAY_LEN(fields); i++)
		set_default(&s, &fields[i]);
	json_t *j = spec_to_json(&s, false);
	spec_free(&s);
	return j;
}

void
spec_free(struct spec *s)
{
	for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
		const struct field *f = &fields[i];
		switch (f->type) {
		case F_STR:
			free(*AT(s, f, char *));
			*AT(s, f, char *) = NULL;
			break;
		case F_STRV:
			strv_free(*AT(s, f, char **));
			*AT(s, f, char **) = NULL;
			break;
		case F_INTV:
			free(AT(s, f, struct intv)->v);
			AT(s, f, struct intv)->v = NULL;
			AT(s, f, struct intv)->n = 0;
			break;
		case F_ENV:
			json_decref(*AT(s, f, json_t *));
			*AT(s, f, json_t *) = NULL;
			break;
		default:
			break;
		}
	}
	json_decref(s->env_base);
	json_decref(s->env_delta);
	s->env_base = s->env_delta = NULL;
}

const char *
spec_env_get(const struct spec *s, const char *key)
{
	if (s->env)
		return json_string_value(json_object_get(s->env, key));
	json_t *d = s->env_delta ? json_object_get(s->env_delta, key) : NULL;
	if (d)
		return json_string_value(d);   /* NULL for a removed one */
	return s->env_base ? json_string_value(json_object_get(s->env_base, key)) : NULL;
}

json_t *
spec_env_apply(const json_t *base, const json_t *delta)
{
	json_t *e = base ? json_copy((json_t *)base) : json_object();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)delta, k, v) {
		if (json_is_null(v))
			json_object_del(e, k);
		else
			json_object_set(e, k, v);
	}
	return e;
}

json_t *
spec_env_diff(const json_t *env, const json_t *base)
{
	json_t *delta = json_object();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)env, k, v)
		if (!json_equal(v, json_object_get(base, k)))
			json_object_set(delta, k, v);
	json_object_foreach((json_t *)base, k, v)
		if (!json_object_get(env, k))
			json_object_set_new(delta, k, json_null());
	return delta;
}

json_t *
spec_env(const struct spec *s)
{
	if (s->env)
		return json_copy(s->env);
	return spec_env_apply(s->env_base, s->env_delta);
}

size_t
spec_env_distance(const json_t *a, const json_t *b)
{
	size_t n = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)a, k, v)
		n += !json_equal(v, json_object_get(b, k));
	json_object_foreach((json_t *)b, k, v)
		n += !json_object_get(a, k);
	return n;
}

void
spec_env_rebase(struct spec *s, json_t *base)
{
	json_t *whole = s->env ? json_incref(s->env) : spec_env(s);
	json_t *delta = spec_env_diff(whole, base);
	json_decref(whole);
	json_decref(s->env);
	json_decref(s->env_base);
	json_decref(s->env_delta);
	s->env = NULL;
	s->env_base = json_incref(base);
	if (json_object_size(delta) == 0) {
		json_decref(delta);
		delta = NULL;
	}
	s->env_delta = delta;
}

int
spec_env_over(struct spec *s, json_t *base, const json_t *delta, char **err)
{
	char *msg = spec_env_check("env_delta", delta, true);
	if (msg) {
		*err = msg;
		return -EINVAL;
	}
	json_decref(s->env);
	json_decref(s->env_base);
	json_decref(s->env_delta);
	s->env = NULL;
	s->env_base = json_incref(base);
	s->env_delta = json_object_size(delta) ? json_copy((json_t *)delta) : NULL;
	return 0;
}

void
spec_copy(struct spec *dst, const struct spec *src)
{
	json_t *j = spec_to_json(src, true);
	char *err = NULL;
	if (spec_from_json(j, dst, &err) < 0)
		fatal("spec_copy: a valid spec did not round-trip: %s", err);
	json_decref(j);
}

const char *
spec_mode_name(int mode)
{
	return mode == MODE_CLUSTER ? "cluster" : "fork";
}

const char *
spec_lb_name(int lb)
{
	return lb >= 0 && lb < (int)ARRAY_LEN(lb_names) - 1 ? lb_names[lb] : "?";
}

int
spec_lb_parse(const char *str)
{
	for (int i = 0; lb_names[i]; i++)
		if (strcmp(lb_names[i], str) == 0)
			return i;
	return -EINVAL;
}

int
spec_resolve_instances(int64_t instances, int cpus)
{
	int64_t n = instances > 0 ? instances : cpus + instances;
	if (n < 1)
		n = 1;
	return (int)n;
}

/* cgroup v2 quota of our own cgroup: ceil(quota / period), or 0 if none. */
static int
cgroup_cpu_limit(void)
{
	char *cg = NULL;
	if (read_file("/proc/self/cgroup", &cg, NULL, 1 << 16) < 0)
		return 0;
	/* The v2 line is "0::/path". */
	char *line = strstr(cg, "0::");
	int limit = 0;
	if (line) {
		char *path = line + 3;
		path[strcspn(path, "\n")] = '\0';
		/* Walk up: any ancestor's quota limits us too. */
		char *dir = xstrdup(path);
		for (;;) {
			char *file = xasprintf("/sys/fs/cgroup%s/cpu.max", strcmp(dir, "/") ? dir : "");
			char *txt = NULL;
			if (read_file(file, &txt, NULL, 256) == 0) {
				long long quota, period;
				if (sscanf(txt, "%lld %lld", &quota, &period) == 2 && period > 0) {
					int n = (int)((quota + period - 1) / period);
					if (n > 0 && (limit == 0 || n < limit))
						limit = n;
				}
				free(txt);
			}
			free(file);
			char *slash = strrchr(dir, '/');
			if (!slash || slash == dir)
				break;
			*slash = '\0';
		}
		free(dir);
	}
	free(cg);
	return limit;
}

int
spec_usable_cpus(void)
{
	cpu_set_t set;
	int n = 1;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	int limit = cgroup_cpu_limit();
	if (limit > 0 && limit < n)
		n = limit;
	return n < 1 ? 1 : n;
}

bool
spec_node_agent(const char *interpreter, bool node_ipc, bool disable_agent)
{
	if (!interpreter || !node_ipc || disable_agent)
		return false;
	const char *slash = strrchr(interpreter, '/');
	return str_starts(slash ? slash + 1 : interpreter, "node");
}
