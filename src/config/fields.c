/*
 * fields.c — the normalizer's field table and the first pass over an app.
 *
 * Every field users may write (the FIELD and INPUT rows of
 * common/fields.def), with its aliases and the command-line option that
 * sets it; the lookup that maps a key as written (camelCase,
 * alias) to its field, with a "did you mean" for unknown keys; where a
 * value was written, for messages; and the typed getters every step uses,
 * which turn PM2's lenient values ("true", "300M", "2s", 4 as "4") into one
 * type each, or fail with a message naming the field.
 */
#include "config/normalize_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/spec.h"
#include "common/units.h"
#include "config/doc.h"

/* The table, from common/fields.def; a spec tag there gives the range. */
#define CLI_VALUE(name) "--" name
#define CLI_OPTIONAL(name) "--" name
#define CLI_SET(name) "--" name
#define CLI_UNSET(name) "--" name
#define CLI_NOOPT(name) name
#define LIST(...) {__VA_ARGS__}
#define FIELD(key_, kind_, tag_, opt_, name_, letter_, aliases_, help_) \
	{.key = #key_, .kind = kind_, .cli = CLI_##opt_(name_), .aliases = LIST aliases_, \
	 .stored = true, tag_},
#define INPUT(key_, kind_, opt_, name_, letter_, aliases_, help_) \
	{.key = #key_, .kind = kind_, .cli = CLI_##opt_(name_), .aliases = LIST aliases_},
#define COMPUTED(...)
#define OPTION(...)
#define REQUIRED
#define STR(text)
#define STR_NULL
#define STRV
#define INT(n, lo, hi) .min = (lo), .max = (hi)
#define MS(n)
#define BOOL(b)
#define INTV(lo, hi) .min = (lo), .max = (hi)
#define ENV
#define ENUM(text, names)
#define HIDDEN(tag) tag

static const struct fdef fdefs[FIELD_COUNT] = {
#include "common/fields.def"
};

#undef CLI_VALUE
#undef CLI_OPTIONAL
#undef CLI_SET
#undef CLI_UNSET
#undef CLI_NOOPT
#undef LIST

/* PM2 fields corral accepts and does not act on. */
static const char *const ignored_fields[] = {
	"vizion", "pmx", "automation", "source_map_support", "disable_source_map_support",
	"trace", "disable_trace", "v8", "event_loop_inspector", "deep_monitoring", "io",
	"windowsHide", "windows_hide", "post_update", "install_url", "write", "name_prefix",
	"username", "execute_command", "watch_options", "kill_retry_time", "node_version",
	"wait_ready_timeout", "ext", "no_vizion", "pm2_home", "exec_path", "revision",
	"versioning", "min_uptime_ms", "restart_time", "unique_id", "pm_id", "status",
	"sticky", NULL,
};

/* "maxMemoryRestart" → "max_memory_restart". */
static char *
snake_case(const char *key)
{
	struct sbuf b = SBUF_INIT;
	for (const char *p = key; *p; p++) {
		if (isupper((unsigned char)*p) && p != key) {
			sbuf_addc(&b, '_');
			sbuf_addc(&b, (char)tolower((unsigned char)*p));
		} else {
			sbuf_addc(&b, *p);
		}
	}
	return sbuf_take(&b);
}

static const struct fdef *
lookup(const char *key, bool *is_alias)
{
	for (size_t i = 0; i < ARRAY_LEN(fdefs); i++) {
		if (strcmp(fdefs[i].key, key) == 0) {
			*is_alias = false;
			return &fdefs[i];
		}
		for (size_t k = 0; fdefs[i].aliases[k]; k++) {
			if (strcmp(fdefs[i].aliases[k], key) == 0) {
				*is_alias = true;
				return &fdefs[i];
			}
		}
	}
	return NULL;
}

const struct fdef *
fields_def(enum field_id id)
{
	return &fdefs[id];
}

static bool
is_ignored_field(const char *key)
{
	for (size_t i = 0; ignored_fields[i]; i++)
		if (strcmp(ignored_fields[i], key) == 0)
			return true;
	return false;
}

/* Words of at least 3 letters that a and b (snake_case) have in common. */
static int
shared_words(const char *a, const char *b)
{
	int n = 0;
	for (const char *w = a; *w;) {
		size_t len = strcspn(w, "_");
		for (const char *v = b; len >= 3 && *v;) {
			size_t vlen = strcspn(v, "_");
			if (vlen == len && strncmp(w, v, len) == 0) {
				n++;
				break;
			}
			v += vlen + (v[vlen] == '_');
		}
		w += len + (w[len] == '_');
	}
	return n;
}

/* The known field an unknown key most likely meant, or NULL: a close
 * spelling ("autorestrat"), else the most words in common
 * ("max_memory_limit" → max_memory_restart). */
static const char *
closest_field(const char *key)
{
	const char *best = NULL;
	int best_d = INT_MAX, best_words = 0, words_d = INT_MAX;
	const char *by_words = NULL;
	for (size_t i = 0; i < ARRAY_LEN(fdefs); i++) {
		const char *names[ARRAY_LEN(fdefs[i].aliases) + 1] = {fdefs[i].key};
		for (size_t k = 0; fdefs[i].aliases[k]; k++)
			names[k + 1] = fdefs[i].aliases[k];
		for (size_t k = 0; k < ARRAY_LEN(names) && names[k]; k++) {
			int d = str_distance(key, names[k]);
			int w = shared_words(key, names[k]);
			if (d < best_d) {
				best_d = d;
				best = fdefs[i].key;
			}
			if (w > best_words || (w == best_words && w > 0 && d < words_d)) {
				best_words = w;
				words_d = d;
				by_words = fdefs[i].key;
			}
		}
	}
	size_t len = strlen(key);
	if (best && best_d <= (len <= 4 ? 1 : len <= 6 ? 2 : (int)len / 4 + 2))
		return best;
	return by_words;
}

char *
fields_where(struct app_ctx *a, const struct found *f)
{
	struct norm_ctx *ctx = a->ctx;
	if (f && f->env)
		return xasprintf("environment variable %s: ", f->env);
	if (ctx->from_cli)
		return xasprintf("%s: ", f ? f->def->cli : "start");
	if (f && f->cli)
		return a->app_name ? xasprintf("app '%s': %s: ", a->app_name, f->def->cli)
		    : xasprintf("%s: ", f->def->cli);
	struct sbuf b = SBUF_INIT;
	int line, col;
	if (ctx->doc) {
		sbuf_adds(&b, config_doc_path(ctx->doc));
		if (f && config_doc_where_member(ctx->doc, a->raw, f->key, &line, &col))
			sbuf_addf(&b, ":%d:%d", line, col);
		else if (!f && config_doc_where(ctx->doc, a->raw, &line, &col))
			sbuf_addf(&b, ":%d:%d", line, col);
		sbuf_adds(&b, ": ");
	}
	if (a->app_name)
		sbuf_addf(&b, "app '%s': ", a->app_name);
	if (f)
		sbuf_addf(&b, "%s: ", f->key);
	return sbuf_take(&b);
}

/* Like fields_where(), for a key that is no field: its own position. */
static char *
where_key(struct app_ctx *a, const char *key)
{
	struct norm_ctx *ctx = a->ctx;
	if (ctx->from_cli || !ctx->doc)
		return fields_where(a, NULL);
	struct sbuf b = SBUF_INIT;
	int line, col;
	sbuf_adds(&b, config_doc_path(ctx->doc));
	if (config_doc_where_key(ctx->doc, a->raw, key, &line, &col) ||
	    config_doc_where(ctx->doc, a->raw, &line, &col))
		sbuf_addf(&b, ":%d:%d", line, col);
	sbuf_adds(&b, ": ");
	if (a->app_name)
		sbuf_addf(&b, "app '%s': ", a->app_name);
	return sbuf_take(&b);
}

int
fields_fail(struct app_ctx *a, const struct found *f, const char *fmt, ...)
{
	if (a->err)
		return -EINVAL;
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	char *w = fields_where(a, f);
	/* The value is the user's: a newline in it must not split the line. */
	a->err = config_doc_one_line(xasprintf("%s%s", w, msg));
	free(w);
	free(msg);
	return -EINVAL;
}

static void
add_warning(struct norm_ctx *ctx, char *msg)
{
	msg = config_doc_one_line(msg);
	/* Once per message: a field ignored in ten apps is one warning. */
	size_t i;
	json_t *w;
	json_array_foreach(ctx->warnings, i, w) {
		if (strcmp(json_string_value(w), msg) == 0) {
			free(msg);
			return;
		}
	}
	json_array_append_new(ctx->warnings, json_string(msg));
	free(msg);
}

void
fields_warn(struct norm_ctx *ctx, const char *fmt, ...)
{
	if (!ctx->warnings)
		return;
	va_list ap;
	va_start(ap, fmt);
	add_warning(ctx, xvasprintf(fmt, ap));
	va_end(ap);
}

void
fields_warn_at(struct app_ctx *a, const struct found *f, const char *fmt, ...)
{
	if (!a->ctx->warnings)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	char *w = fields_where(a, f);
	add_warning(a->ctx, xasprintf("%s%s", w, msg));
	free(w);
	free(msg);
}

char *
fields_scalar_text(const json_t *v)
{
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_integer(v))
		return xasprintf("%lld", (long long)json_integer_value(v));
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d == floor(d) && fabs(d) < 1e15)
			return xasprintf("%lld", (long long)d);
		return xasprintf("%g", d);
	}
	if (json_is_boolean(v))
		return xstrdup(json_is_true(v) ? "true" : "false");
	return NULL;
}

const char *
fields_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: case JSON_REAL: return "a number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

char **
normalize_split_args(const char *s, char **err)
{
	size_t cap = 8, n = 0;
	char **out = xcalloc(cap, sizeof(*out));
	const char *p = s;
	for (;;) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		struct sbuf w = SBUF_INIT;
		sbuf_adds(&w, "");
		char quote = 0;
		for (; *p && (quote || !isspace((unsigned char)*p)); p++) {
			if (quote) {
				if (*p == quote)
					quote = 0;
				else if (*p == '\\' && quote == '"' && (p[1] == '"' || p[1] == '\\'))
					sbuf_addc(&w, *++p);
				else
					sbuf_addc(&w, *p);
			} else if (*p == '"' || *p == '\'') {
				quote = *p;
			} else if (*p == '\\' && p[1]) {
				sbuf_addc(&w, *++p);
			} else {
				sbuf_addc(&w, *p);
			}
		}
		if (quote) {
			sbuf_free(&w);
			strv_free(out);
			*err = xasprintf("unterminated %c quote", quote);
			return NULL;
		}
		if (n + 2 > cap) {
			cap *= 2;
			out = xrealloc(out, cap * sizeof(*out));
		}
		out[n++] = sbuf_take(&w);
		out[n] = NULL;
	}
	return out;
}

/*
 * A string given for a list: "node_modules logs" and "a,b" are two words,
 * as PM2 splits a string given for an array on white space (and corral's
 * command line always split on commas). '...' or "..." keeps spaces and
 * commas in a word; a quote that is never closed is an ordinary character.
 * A string without a space or a comma is one word, as written.
 */
static json_t *
split_words(const char *s)
{
	if (!s[strcspn(s, " \t\n\r\f\v,")])
		return json_pack("[s]", s);
	json_t *words = json_array();
	struct sbuf w = SBUF_INIT;
	for (const char *p = s;; p++) {
		const char *close = *p == '\'' || *p == '"' ? strchr(p + 1, *p) : NULL;
		if (close) {
			sbuf_add(&w, p + 1, (size_t)(close - p - 1));
			p = close;
		} else if (*p && !isspace((unsigned char)*p) && *p != ',') {
			sbuf_addc(&w, *p);
		} else {
			if (w.len > 0)
				json_array_append_new(words, json_string(w.s));
			sbuf_reset(&w);
			if (!*p)
				break;
		}
	}
	sbuf_free(&w);
	return words;
}

json_t *
fields_list(struct app_ctx *a, const struct found *f)
{
	json_t *v = f->value;
	if (json_is_string(v) && f->def->kind == K_ARGS) {
		char *err = NULL;
		char **words = normalize_split_args(json_string_value(v), &err);
		if (!words) {
			fields_fail(a, f, "%s", err);
			free(err);
			return NULL;
		}
		json_t *arr = strv_to_json(words);
		strv_free(words);
		return arr;
	}
	if (json_is_string(v) && (f->def->kind == K_STRLIST || f->def->kind == K_PORTS))
		return split_words(json_string_value(v));
	if (json_is_string(v) || json_is_number(v)) {
		char *t = fields_scalar_text(v);
		json_t *arr = json_pack("[s]", t);
		free(t);
		return arr;
	}
	if (!json_is_array(v)) {
		fields_fail(a, f, "expected a string or an array of strings, got %s",
		    fields_type_name(v));
		return NULL;
	}
	json_t *arr = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e) {
		char *t = json_is_string(e) || json_is_number(e) ? fields_scalar_text(e) : NULL;
		if (!t) {
			json_decref(arr);
			fields_fail(a, f, "element %zu: expected a string, got %s", i,
			    fields_type_name(e));
			return NULL;
		}
		json_array_append_new(arr, json_string(t));
		free(t);
	}
	return arr;
}

int
fields_bool(struct app_ctx *a, const struct found *f, bool *out)
{
	json_t *v = f->value;
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (strcmp(s, "true") == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, "false") == 0) {
			*out = false;
			return 0;
		}
	}
	if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
		*out = json_integer_value(v) == 1;
		return 0;
	}
	return fields_fail(a, f, "expected true or false, got %s", fields_type_name(v));
}

bool
fields_is_switch(const json_t *v)
{
	return json_is_boolean(v) || (json_is_string(v) &&
	    (strcmp(json_string_value(v), "true") == 0 || strcmp(json_string_value(v), "false") == 0));
}

int
fields_number(struct app_ctx *a, const struct found *f, int64_t min, int64_t max, int64_t *out)
{
	json_t *v = f->value;
	char *t = json_is_number(v) || json_is_string(v) ? fields_scalar_text(v) : NULL;
	if (!t)
		return fields_fail(a, f, "expected a whole number, got %s", fields_type_name(v));
	int rc = units_parse_int(t, min, max, out);
	if (rc == -ERANGE)
		fields_fail(a, f, "%s is out of range %lld..%lld", t, (long long)min, (long long)max);
	else if (rc < 0)
		fields_fail(a, f, "\"%s\" is not a whole number", t);
	free(t);
	return rc;
}

int
fields_in_range(struct app_ctx *a, const struct found *f, const char *text, const char *what,
    int64_t *out)
{
	if (units_parse_int(text, f->def->min, f->def->max, out) == 0)
		return 0;
	return fields_fail(a, f, "\"%s\" is not %s (%lld..%lld)", text, what,
	    (long long)f->def->min, (long long)f->def->max);
}

int
fields_duration(struct app_ctx *a, const struct found *f, int64_t bare_unit, int64_t *out)
{
	json_t *v = f->value;
	char *t = json_is_number(v) || json_is_string(v) ? fields_scalar_text(v) : NULL;
	if (!t)
		return fields_fail(a, f, "expected a duration (a number of ms, or like \"500ms\", "
		    "\"2s\", \"1m\", \"2h\"), got %s", fields_type_name(v));
	int rc = units_parse_duration(t, bare_unit, out);
	if (rc < 0 || *out < 0)
		fields_fail(a, f, "\"%s\" is not a duration (a number of ms, or like \"500ms\", "
		    "\"2s\", \"1m\", \"2h\")", t);
	else if (*out > 30LL * 86400 * 1000)
		rc = fields_fail(a, f, "\"%s\" is longer than 30 days", t);
	free(t);
	return rc < 0 ? -EINVAL : 0;
}

int
fields_size(struct app_ctx *a, const struct found *f, int64_t *out)
{
	json_t *v = f->value;
	char *t = json_is_number(v) || json_is_string(v) ? fields_scalar_text(v) : NULL;
	if (!t)
		return fields_fail(a, f, "expected a size (bytes, or like \"300M\", \"1G\"), got %s",
		    fields_type_name(v));
	int rc = units_parse_size(t, out);
	if (rc < 0)
		fields_fail(a, f, "\"%s\" is not a size (bytes, or like \"300M\", \"1G\", \"512K\")",
		    t);
	free(t);
	return rc;
}

int
fields_string(struct app_ctx *a, const struct found *f, char **out)
{
	json_t *v = f->value;
	*out = NULL;
	if (!json_is_string(v) && !json_is_number(v))
		return fields_fail(a, f, "expected a string, got %s", fields_type_name(v));
	if (json_is_string(v) && memchr(json_string_value(v), '\0', json_string_length(v)))
		return fields_fail(a, f, "contains a NUL byte");
	*out = fields_scalar_text(v);
	return 0;
}

/* The value of name in the `corral` command's environment, or NULL. */
static const char *
env_value(char **environ_, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; environ_ && environ_[i]; i++)
		if (strncmp(environ_[i], name, len) == 0 && environ_[i][len] == '=')
			return environ_[i] + len + 1;
	return NULL;
}

/* Defaults a user sets for every app in the environment, under PM2's names
 * or corral's (corral's win): used where neither the file nor an option
 * gives the field. */
static const struct {
	enum field_id id;
	const char *vars[2];
} env_default_vars[] = {
	{FID_kill_timeout, {"CORRAL_KILL_TIMEOUT", "PM2_KILL_TIMEOUT"}},
	{FID_kill_signal, {"CORRAL_KILL_SIGNAL", "PM2_KILL_SIGNAL"}},
	{FID_shutdown_with_message, {"CORRAL_KILL_USE_MESSAGE", "PM2_KILL_USE_MESSAGE"}},
	{FID_listen_timeout, {"CORRAL_LISTEN_TIMEOUT", "PM2_GRACEFUL_LISTEN_TIMEOUT"}},
};

static void
env_defaults(struct app_ctx *a)
{
	for (size_t i = 0; i < ARRAY_LEN(env_default_vars); i++) {
		struct found *f = &a->found[env_default_vars[i].id];
		if (f->def)
			continue;
		for (size_t k = 0; k < ARRAY_LEN(env_default_vars[i].vars); k++) {
			const char *var = env_default_vars[i].vars[k];
			const char *val = env_value(a->ctx->environ, var);
			if (!val || !*val)
				continue;
			if (!a->env_defaults)
				a->env_defaults = json_array();
			json_t *v = json_string(val);
			if (!v)                 /* not UTF-8: no such value */
				break;
			json_array_append_new(a->env_defaults, v);
			f->def = &fdefs[env_default_vars[i].id];
			f->key = f->def->key;
			f->value = v;
			f->env = var;
			break;
		}
	}
}

/* PM2's switches of its agent, pmx and automation: false is corral's
 * disable_agent (which wins when both are given). Another value is
 * accepted without effect, as before. */
static bool
pm2_agent_switch(struct app_ctx *a, const char *snake, const char *key, json_t *v)
{
	if ((strcmp(snake, "pmx") != 0 && strcmp(snake, "automation") != 0) ||
	    !json_is_boolean(v))
		return false;
	struct found *f = &a->found[FID_disable_agent];
	if (!f->def) {
		if (!a->derived)
			a->derived = json_array();
		json_t *b = json_boolean(json_is_false(v));
		json_array_append_new(a->derived, b);
		f->def = &fdefs[FID_disable_agent];
		f->key = key;
		f->value = b;
	}
	return true;
}

void
fields_collect(struct app_ctx *a)
{
	const char *key;
	json_t *v;
	json_object_foreach(a->raw, key, v) {
		if (str_starts(key, "env_"))
			continue;
		char *snake = snake_case(key);
		if (pm2_agent_switch(a, snake, key, v)) {
			free(snake);
			continue;
		}
		bool alias;
		const struct fdef *def = lookup(snake, &alias);
		if (!def) {
			if (!is_ignored_field(snake) && !is_ignored_field(key)) {
				const char *close = closest_field(snake);
				char *w = where_key(a, key);
				if (close)
					fields_warn(a->ctx, "%sunknown field \"%s\" ignored (did you "
					    "mean \"%s\"?)", w, key, close);
				else
					fields_warn(a->ctx, "%sunknown field \"%s\" ignored", w, key);
				free(w);
			} else {
				fields_warn(a->ctx, "%s: field \"%s\" is accepted but has no effect "
				    "in corral", a->ctx->doc ? config_doc_path(a->ctx->doc) : "start",
				    key);
			}
			free(snake);
			continue;
		}
		free(snake);
		struct found *f = &a->found[def - fdefs];
		/* The canonical name wins over an alias. */
		if (f->def && !alias && f->key && strcmp(f->key, def->key) == 0)
			continue;
		if (f->def && alias)
			continue;
		f->def = def;
		f->key = key;
		f->value = v;
	}
	/* Options of `corral start <file>` that PM2 applies to every app. */
	json_object_foreach(a->ctx->overrides, key, v) {
		bool alias;
		const struct fdef *def = lookup(key, &alias);
		if (!def)
			continue;
		struct found *f = &a->found[def - fdefs];
		/* --namespace only for apps that have none, as PM2. */
		if (def == &fdefs[FID_namespace] && f->def)
			continue;
		f->def = def;
		f->key = key;
		f->value = v;
		f->cli = true;
	}
	env_defaults(a);
}

const struct found *
fields_find(struct app_ctx *a, enum field_id id)
{
	const struct found *f = &a->found[id];
	return f->def && !json_is_null(f->value) ? f : NULL;
}

static int
set_bool(struct app_ctx *a, enum field_id id)
{
	const struct found *f = fields_find(a, id);
	bool b;
	if (!f)
		return 0;
	if (fields_bool(a, f, &b) < 0)
		return -EINVAL;
	json_object_set_new(a->out, f->def->key, json_boolean(b));
	return 0;
}

static int
set_ms(struct app_ctx *a, enum field_id id)
{
	const struct found *f = fields_find(a, id);
	int64_t ms;
	if (!f)
		return 0;
	/* PM2 reads --watch-delay 2 as seconds, and watch_delay: 2 as ms. */
	int64_t bare = f->def->kind == K_WATCH_DELAY && a->ctx->from_cli ? 1000 : 1;
	if (fields_duration(a, f, bare, &ms) < 0)
		return -EINVAL;
	json_object_set_new(a->out, f->def->key, json_integer(ms));
	return 0;
}

int
fields_set_plain(struct app_ctx *a)
{
	for (enum field_id id = 0; id < FIELD_COUNT; id++)
		if (fdefs[id].stored && fdefs[id].kind == K_BOOL && set_bool(a, id) < 0)
			return -EINVAL;
	/* force is the CLI's business (--force), but a file's is checked too. */
	if (set_bool(a, FID_force) < 0)
		return -EINVAL;
	for (enum field_id id = 0; id < FIELD_COUNT; id++)
		if ((fdefs[id].kind == K_MS || fdefs[id].kind == K_WATCH_DELAY) && set_ms(a, id) < 0)
			return -EINVAL;
	return 0;
}
