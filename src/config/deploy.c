/*
 * deploy.c — deploy.<env> of an ecosystem file into a struct deploy_target
 * (deploy.h). Every error names the file, and the line and column when the
 * format has them, then the field: "ecosystem.json:7:15: deploy.production.
 * port: expected a number from 1 to 65535, got a string".
 */
#include "config/deploy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/spec.h"
#include "common/util.h"
#include "config/doc.h"

struct dctx {
	const struct config_doc *doc;
	const char *env;
	json_t *section;
	char **err;
};

static const char *
type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* "file:line:col" of object[key], or "file" when unknown (or key is NULL). */
static char *
where_of(const struct config_doc *doc, const json_t *object, const char *key)
{
	int line, col;
	if (key && config_doc_where_member(doc, object, key, &line, &col))
		return xasprintf("%s:%d:%d", config_doc_path(doc), line, col);
	return xstrdup(config_doc_path(doc));
}

/* "file:line:col: deploy.<env>.<key>: <what>" (position of the member when
 * known), as *err; returns -EINVAL. */
static int PRINTFLIKE(3, 4)
fail(struct dctx *c, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *what = xvasprintf(fmt, ap);
	va_end(ap);
	char *where = where_of(c->doc, c->section, key);
	*c->err = config_doc_one_line(xasprintf("%s: deploy.%s%s%s: %s", where, c->env,
	    key ? "." : "", key ? key : "", what));
	free(where);
	free(what);
	return -EINVAL;
}

/* A text field: a string without NUL bytes, or a number (PM2 takes both for
 * port-like values). Absent: *out stays NULL, or an error when required. */
static int
text(struct dctx *c, const char *key, bool required, char **out)
{
	json_t *v = json_object_get(c->section, key);
	if (!v || json_is_null(v)) {
		if (required)
			return fail(c, NULL, "missing '%s' (deploy.%s needs host, repo, path and ref)",
			    key, c->env);
		return 0;
	}
	if (json_is_integer(v)) {
		*out = xasprintf("%lld", (long long)json_integer_value(v));
		return 0;
	}
	if (!json_is_string(v))
		return fail(c, key, "expected a string, got %s", type_name(v));
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(c, key, "contains a NUL byte");
	if (required && json_string_length(v) == 0)
		return fail(c, key, "is empty");
	*out = xstrdup(json_string_value(v));
	return 0;
}

/* A string or an array of strings into a NULL-terminated vector. */
static int
text_list(struct dctx *c, const char *key, bool required, char ***out)
{
	json_t *v = json_object_get(c->section, key);
	if (!v || json_is_null(v)) {
		*out = xcalloc(1, sizeof(char *));
		return required ? fail(c, NULL, "missing '%s' (deploy.%s needs host, repo, path and "
		    "ref)", key, c->env) : 0;
	}
	size_t n = json_is_array(v) ? json_array_size(v) : 1;
	*out = xcalloc(n + 1, sizeof(char *));
	if (!json_is_array(v) && !json_is_string(v))
		return fail(c, key, "expected a string or an array of strings, got %s", type_name(v));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
		if (!json_is_string(e))
			return fail(c, key, "element %zu: expected a string, got %s", i, type_name(e));
		if (strlen(json_string_value(e)) != json_string_length(e) ||
		    json_string_length(e) == 0)
			return fail(c, key, "element %zu is empty or contains a NUL byte", i);
		(*out)[i] = xstrdup(json_string_value(e));
	}
	if (required && n == 0)
		return fail(c, key, "is an empty array");
	return 0;
}

static int
number(struct dctx *c, const char *key, long long lo, long long hi, int *out)
{
	json_t *v = json_object_get(c->section, key);
	if (!v || json_is_null(v))
		return 0;
	long long n;
	char *end = NULL;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v) && json_string_length(v) > 0) {
		errno = 0;
		n = strtoll(json_string_value(v), &end, 10);
		if (errno || *end)
			return fail(c, key, "expected a whole number, got \"%s\"", json_string_value(v));
	} else {
		return fail(c, key, "expected a whole number, got %s", type_name(v));
	}
	if (n < lo || n > hi)
		return fail(c, key, "%lld is out of range (%lld to %lld)", n, lo, hi);
	*out = (int)n;
	return 0;
}

static bool
shell_name(const char *k)
{
	if (!*k || (*k >= '0' && *k <= '9'))
		return false;
	for (const char *p = k; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

static int
env_vars(struct dctx *c, char ***out)
{
	json_t *v = json_object_get(c->section, "env");
	size_t n = json_is_object(v) ? json_object_size(v) : 0;
	*out = xcalloc(n + 1, sizeof(char *));
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return fail(c, "env", "expected an object of variables, got %s", type_name(v));
	size_t i = 0;
	const char *k;
	json_t *val;
	json_object_foreach(v, k, val) {
		if (!shell_name(k))
			return fail(c, "env", "\"%s\" is not a variable name a shell can export", k);
		char *t;
		if (json_is_string(val))
			t = xstrdup(json_string_value(val));
		else if (json_is_object(val) || json_is_array(val))
			t = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
		else if (json_is_integer(val))
			t = xasprintf("%lld", (long long)json_integer_value(val));
		else if (json_is_real(val))
			t = xasprintf("%.17g", json_real_value(val));
		else
			t = xstrdup(json_is_true(val) ? "true" : json_is_false(val) ? "false" : "null");
		if (!t || (json_is_string(val) && strlen(t) != json_string_length(val))) {
			free(t);
			return fail(c, "env", "%s contains a NUL byte", k);
		}
		(*out)[i++] = xasprintf("%s=%s", k, t);
		free(t);
	}
	return 0;
}

/* The names of the sections, for "no deploy.<env>". */
static char *
section_names(json_t *deploy)
{
	struct sbuf b = SBUF_INIT;
	const char *k;
	json_t *v;
	json_object_foreach(deploy, k, v) {
		if (b.len)
			sbuf_adds(&b, ", ");
		sbuf_adds(&b, k);
	}
	return sbuf_take(&b);
}

static int
parse(struct dctx *c, struct deploy_target *t)
{
	int rc;
	if ((rc = text_list(c, "host", true, &t->hosts)) < 0 ||
	    (rc = text(c, "repo", true, &t->repo)) < 0 ||
	    (rc = text(c, "path", true, &t->path)) < 0 ||
	    (rc = text(c, "ref", true, &t->ref)) < 0 ||
	    (rc = text(c, "user", false, &t->user)) < 0 ||
	    (rc = text(c, "key", false, &t->key)) < 0 ||
	    (rc = text_list(c, "ssh_options", false, &t->ssh_options)) < 0 ||
	    (rc = number(c, "port", 1, 65535, &t->port)) < 0 ||
	    (rc = number(c, "keep_releases", 1, 1000, &t->keep_releases)) < 0 ||
	    (rc = number(c, "max_parallel", 0, 10000, &t->max_parallel)) < 0 ||
	    (rc = env_vars(c, &t->env_vars)) < 0 ||
	    (rc = text(c, "pre-setup", false, &t->pre_setup)) < 0 ||
	    (rc = text(c, "post-setup", false, &t->post_setup)) < 0 ||
	    (rc = text(c, "pre-deploy-local", false, &t->pre_deploy_local)) < 0 ||
	    (rc = text(c, "pre-deploy", false, &t->pre_deploy)) < 0 ||
	    (rc = text(c, "post-deploy", false, &t->post_deploy)) < 0)
		return rc;
	for (size_t i = 0; t->hosts[i]; i++)
		if (t->hosts[i][0] == '-')
			return fail(c, "host", "\"%s\" is not a host name", t->hosts[i]);
	if (t->user && (t->user[0] == '-' || strpbrk(t->user, "@ \t\n")))
		return fail(c, "user", "\"%s\" is not a user name", t->user);
	if (t->path[0] != '/' && !str_starts(t->path, "~/"))
		return fail(c, "path", "\"%s\" is not absolute (or ~/...)", t->path);
	json_t *v = json_object_get(c->section, "fetch");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v))
			return fail(c, "fetch", "expected 'fast' or 'full', got %s", type_name(v));
		if (strcmp(json_string_value(v), "fast") == 0)
			t->fetch_fast = true;
		else if (strcmp(json_string_value(v), "full") != 0)
			return fail(c, "fetch", "expected 'fast' or 'full', got \"%s\"",
			    json_string_value(v));
	}
	v = json_object_get(c->section, "forward-agent");
	if (v && !json_is_null(v) && !json_is_boolean(v) && !json_is_string(v))
		return fail(c, "forward-agent", "expected true or false, got %s", type_name(v));
	t->forward_agent = json_is_true(v) || (json_is_string(v) &&
	    strcmp(json_string_value(v), "yes") == 0);
	if (!t->post_deploy) {
		const char *file = config_doc_path(c->doc);
		const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
		char *qf = shell_quote(base), *qe = shell_quote(c->env);
		t->post_deploy = xasprintf("corral startOrRestart %s --env %s", qf, qe);
		free(qf);
		free(qe);
	}
	return 0;
}

int
deploy_parse(const struct config_doc *doc, const char *env, struct deploy_target *out,
    char **err)
{
	memset(out, 0, sizeof(*out));
	out->keep_releases = DEPLOY_KEEP_DEFAULT;
	json_t *root = config_doc_root(doc);
	json_t *deploy = json_is_object(root) ? json_object_get(root, "deploy") : NULL;
	if (!deploy || !json_is_object(deploy)) {
		*err = config_doc_one_line(xasprintf("%s: no deploy section (PM2's deploy.<env>: "
		    "user, host, repo, ref, path...)", config_doc_path(doc)));
		return -EINVAL;
	}
	json_t *section = json_object_get(deploy, env);
	if (!section) {
		char *names = section_names(deploy);
		*err = config_doc_one_line(xasprintf("%s: no deploy.%s (the file has: %s)",
		    config_doc_path(doc), env, *names ? names : "none"));
		free(names);
		return -EINVAL;
	}
	if (!json_is_object(section)) {
		char *where = where_of(doc, deploy, env);
		*err = config_doc_one_line(xasprintf("%s: deploy.%s: expected an object, got %s",
		    where, env, type_name(section)));
		free(where);
		return -EINVAL;
	}
	struct dctx c = {.doc = doc, .env = env, .section = section, .err = err};
	out->env = xstrdup(env);
	int rc = parse(&c, out);
	if (rc < 0)
		deploy_target_free(out);
	return rc;
}

void
deploy_target_free(struct deploy_target *t)
{
	free(t->env);
	strv_free(t->hosts);
	free(t->user);
	free(t->key);
	strv_free(t->ssh_options);
	free(t->repo);
	free(t->ref);
	free(t->path);
	strv_free(t->env_vars);
	free(t->pre_setup);
	free(t->post_setup);
	free(t->pre_deploy_local);
	free(t->pre_deploy);
	free(t->post_deploy);
	memset(t, 0, sizeof(*t));
}
