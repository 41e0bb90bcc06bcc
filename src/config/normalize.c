/*
 * normalize.c — ecosystem fields and start options → canonical spec.
 *
 * Two passes per app: first every key is mapped to its canonical field
 * (aliases, camelCase) and checked on its own (type, unit, range); then the
 * fields that depend on each other are resolved (cwd → script → interpreter
 * → mode → instances → logs → environment).
 */
#include "config/normalize.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cron.h"
#include "common/signame.h"
#include "common/spec.h"
#include "common/units.h"
#include "common/util.h"
#include "config/doc.h"

enum kind {
	K_STR,        /* string (numbers accepted and turned into strings) */
	K_ARGS,       /* string split like a shell, or array of strings */
	K_STRLIST,    /* string or array of strings */
	K_BOOL,       /* true/false, "true"/"false" */
	K_INT,        /* integer, or a string of one */
	K_MS,         /* duration: number of ms, or "500ms", "2s", "1m", "2h" */
	K_WATCH_DELAY,/* like K_MS, but a bare number on the command line is seconds */
	K_BYTES,      /* size: number of bytes, or "300M", "1G" */
	K_INSTANCES,  /* number, "max", or a string of a number */
	K_MODE,       /* fork, fork_mode, cluster, cluster_mode */
	K_ENV,        /* object; values become strings */
	K_FILTER_ENV, /* bool, string or array */
	K_CODES,      /* exit codes: number or array */
	K_WATCH,      /* bool, path, or array of paths */
	K_CRON,       /* cron expression, 0 disables */
	K_LOGPATH,    /* path, "/dev/null" or "NULL" */
	K_LOGFILE,    /* bool or path */
	K_USER,       /* user name or uid */
	K_GROUP,      /* group name or gid */
	K_PORT,       /* 1..65535 */
	K_PORTS,      /* port or array of ports */
	K_SIGNAL,
	K_LB,
	K_DATEFMT,
	K_LOGTYPE,
};

struct fdef {
	const char *key;
	enum kind kind;
	const char *cli;            /* the option that sets it, for messages */
	const char *aliases[6];
};

static const struct fdef fdefs[] = {
	{"name", K_STR, "--name", {0}},
	{"script", K_STR, "script", {"exec", "cmd", "command", 0}},
	{"args", K_ARGS, "arguments after --", {0}},
	{"interpreter", K_STR, "--interpreter", {"exec_interpreter", 0}},
	{"interpreter_args", K_ARGS, "--interpreter-args", {"node_args", 0}},
	{"cwd", K_STR, "--cwd", {0}},
	{"instances", K_INSTANCES, "--instances", {0}},
	{"exec_mode", K_MODE, "--exec-mode", {0}},
	{"env", K_ENV, "env", {0}},
	{"filter_env", K_FILTER_ENV, "--filter-env", {0}},
	{"append_env_to_name", K_BOOL, "--append-env-to-name", {0}},
	{"namespace", K_STR, "--namespace", {0}},
	{"autorestart", K_BOOL, "--no-autorestart", {0}},
	{"autostart", K_BOOL, "--no-autostart", {0}},
	{"max_restarts", K_INT, "--max-restarts", {0}},
	{"min_uptime", K_MS, "--min-uptime", {0}},
	{"restart_delay", K_MS, "--restart-delay", {0}},
	{"exp_backoff_restart_delay", K_MS, "--exp-backoff-restart-delay", {0}},
	{"stop_exit_codes", K_CODES, "--stop-exit-codes", {0}},
	{"kill_timeout", K_MS, "--kill-timeout", {0}},
	{"kill_signal", K_SIGNAL, "--kill-signal", {0}},
	{"listen_timeout", K_MS, "--listen-timeout", {0}},
	{"wait_ready", K_BOOL, "--wait-ready", {0}},
	{"shutdown_with_message", K_BOOL, "--shutdown-with-message", {0}},
	{"max_memory_restart", K_BYTES, "--max-memory-restart", {0}},
	{"cron_restart", K_CRON, "--cron-restart", {"cron", 0}},
	{"watch", K_WATCH, "--watch", {0}},
	{"ignore_watch", K_STRLIST, "--ignore-watch", {0}},
	{"watch_delay", K_WATCH_DELAY, "--watch-delay", {0}},
	{"time", K_BOOL, "--time", {0}},
	{"log_date_format", K_DATEFMT, "--log-date-format", {0}},
	{"log_type", K_LOGTYPE, "--log-type", {0}},
	{"merge_logs", K_BOOL, "--merge-logs", {"combine_logs", 0}},
	{"out_file", K_LOGPATH, "--output", {"out", "output", "out_log", 0}},
	{"error_file", K_LOGPATH, "--error", {"error", "err", "err_file", "err_log", 0}},
	{"log_file", K_LOGFILE, "--log", {"log", 0}},
	{"pid_file", K_LOGPATH, "--pid", {"pid", 0}},
	{"disable_logs", K_BOOL, "--disable-logs", {0}},
	{"uid", K_USER, "--uid", {"user", 0}},
	{"gid", K_GROUP, "--gid", {0}},
	{"increment_var", K_STR, "--increment-var", {0}},
	{"instance_var", K_STR, "--instance-var", {0}},
	{"port", K_PORT, "--port", {0}},
	{"treekill", K_BOOL, "--no-treekill", {0}},
	{"force", K_BOOL, "--force", {0}},
	{"lb", K_LB, "--lb", {0}},
	{"listen", K_STRLIST, "--listen", {0}},
	{"share_ports", K_PORTS, "--share-ports", {0}},
};

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

/* One field as found in the raw object. */
struct found {
	const struct fdef *def;
	const char *key;             /* the key as written */
	json_t *value;
	bool cli;                    /* from ctx->overrides: name the option */
};

struct app_ctx {
	struct norm_ctx *ctx;
	json_t *raw;
	const char *app_name;        /* for messages, may be NULL */
	struct found found[ARRAY_LEN(fdefs)];
	json_t *out;                 /* canonical spec being built */
	char *err;
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

/* "file:12:20: app 'api': field: " or "--option: " for messages. */
static char *
where(struct app_ctx *a, const struct found *f)
{
	struct norm_ctx *ctx = a->ctx;
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

/* Like where(), for a key that is no field: its own position. */
static char *
where_key(struct app_ctx *a, const char *key)
{
	struct norm_ctx *ctx = a->ctx;
	if (ctx->from_cli || !ctx->doc)
		return where(a, NULL);
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

static int
fail(struct app_ctx *a, const struct found *f, const char *fmt, ...) PRINTFLIKE(3, 4);

static int
fail(struct app_ctx *a, const struct found *f, const char *fmt, ...)
{
	if (a->err)
		return -EINVAL;
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	char *w = where(a, f);
	/* The value is the user's: a newline in it must not split the line. */
	a->err = config_doc_one_line(xasprintf("%s%s", w, msg));
	free(w);
	free(msg);
	return -EINVAL;
}

static void
warn(struct norm_ctx *ctx, const char *fmt, ...) PRINTFLIKE(2, 3);

static void
warn(struct norm_ctx *ctx, const char *fmt, ...)
{
	if (!ctx->warnings)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = config_doc_one_line(xvasprintf(fmt, ap));
	va_end(ap);
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

/* The text of a scalar: strings as they are, numbers printed. */
static char *
scalar_text(const json_t *v)
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

static const char *
type_name(const json_t *v)
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

static json_t *
strv_json(char **v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* A string or an array of strings (numbers accepted) as a JSON array. */
static json_t *
string_list(struct app_ctx *a, const struct found *f, bool split)
{
	json_t *v = f->value;
	if (json_is_string(v) && split) {
		char *err = NULL;
		char **words = normalize_split_args(json_string_value(v), &err);
		if (!words) {
			fail(a, f, "%s", err);
			free(err);
			return NULL;
		}
		json_t *arr = strv_json(words);
		strv_free(words);
		return arr;
	}
	if (json_is_string(v) || json_is_number(v)) {
		char *t = scalar_text(v);
		json_t *arr = json_pack("[s]", t);
		free(t);
		return arr;
	}
	if (!json_is_array(v)) {
		fail(a, f, "expected a string or an array of strings, got %s", type_name(v));
		return NULL;
	}
	json_t *arr = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e) {
		char *t = json_is_string(e) || json_is_number(e) ? scalar_text(e) : NULL;
		if (!t) {
			json_decref(arr);
			fail(a, f, "element %zu: expected a string, got %s", i, type_name(e));
			return NULL;
		}
		json_array_append_new(arr, json_string(t));
		free(t);
	}
	return arr;
}

static int
get_bool(struct app_ctx *a, const struct found *f, bool *out)
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
	return fail(a, f, "expected true or false, got %s", type_name(v));
}

static int
get_number(struct app_ctx *a, const struct found *f, int64_t min, int64_t max, int64_t *out)
{
	json_t *v = f->value;
	char *t = json_is_number(v) || json_is_string(v) ? scalar_text(v) : NULL;
	if (!t)
		return fail(a, f, "expected a whole number, got %s", type_name(v));
	int rc = units_parse_int(t, min, max, out);
	if (rc == -ERANGE)
		fail(a, f, "%s is out of range %lld..%lld", t, (long long)min, (long long)max);
	else if (rc < 0)
		fail(a, f, "\"%s\" is not a whole number", t);
	free(t);
	return rc;
}

static int
get_duration(struct app_ctx *a, const struct found *f, int64_t bare_unit, int64_t *out)
{
	json_t *v = f->value;
	char *t = json_is_number(v) || json_is_string(v) ? scalar_text(v) : NULL;
	if (!t)
		return fail(a, f, "expected a duration (a number of ms, or like \"500ms\", "
		    "\"2s\", \"1m\", \"2h\"), got %s", type_name(v));
	int rc = units_parse_duration(t, bare_unit, out);
	if (rc < 0 || *out < 0)
		fail(a, f, "\"%s\" is not a duration (a number of ms, or like \"500ms\", \"2s\", "
		    "\"1m\", \"2h\")", t);
	else if (*out > 30LL * 86400 * 1000)
		rc = fail(a, f, "\"%s\" is longer than 30 days", t);
	free(t);
	return rc < 0 ? -EINVAL : 0;
}

static int
get_size(struct app_ctx *a, const struct found *f, int64_t *out)
{
	json_t *v = f->value;
	char *t = json_is_number(v) || json_is_string(v) ? scalar_text(v) : NULL;
	if (!t)
		return fail(a, f, "expected a size (bytes, or like \"300M\", \"1G\"), got %s",
		    type_name(v));
	int rc = units_parse_size(t, out);
	if (rc < 0)
		fail(a, f, "\"%s\" is not a size (bytes, or like \"300M\", \"1G\", \"512K\")", t);
	free(t);
	return rc;
}

static int
get_string(struct app_ctx *a, const struct found *f, char **out)
{
	json_t *v = f->value;
	if (!json_is_string(v) && !json_is_number(v))
		return fail(a, f, "expected a string, got %s", type_name(v));
	*out = scalar_text(v);
	if (json_is_string(v) && memchr(json_string_value(v), '\0', json_string_length(v))) {
		free(*out);
		return fail(a, f, "contains a NUL byte");
	}
	return 0;
}

/* An absolute path in its plain form: no "//", "." or ".." parts, as
 * node's path.resolve gives PM2 (symlinks are left alone). Taken. */
static char *
clean_path(char *path)
{
	char *out = path;
	size_t n = 0;
	/* Compacting in place is safe because each part written is preceded
	 * by at least one '/' read. */
	if (path[0] != '/')
		return path;
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		size_t len = strcspn(p, "/");
		if (len == 0)
			break;
		if (len == 1 && p[0] == '.') {
			/* nothing */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else {
			out[n++] = '/';
			memmove(out + n, p, len);
			n += len;
		}
		p += len;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return out;
}

static char *
abs_path(const char *base, const char *p)
{
	if (p[0] == '/')
		return clean_path(xstrdup(p));
	if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
		const char *home = getenv("HOME");
		if (home)
			return clean_path(xasprintf("%s%s", home, p + 1));
	}
	return clean_path(xasprintf("%s/%s", base, p));
}

char *
normalize_which(const char *prog, char **environ_)
{
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0 ? xstrdup(prog) : NULL;
	const char *path = NULL;
	for (size_t i = 0; environ_ && environ_[i]; i++)
		if (str_starts(environ_[i], "PATH="))
			path = environ_[i] + 5;
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	char *copy = xstrdup(path);
	char *save = NULL, *found = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char *cand = xasprintf("%s/%s", *dir ? dir : ".", prog);
		struct stat st;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
			found = cand;
		else
			free(cand);
	}
	free(copy);
	return found;
}

static const struct {
	const char *ext;
	const char *interpreter;
} by_extension[] = {
	{".js", "node"}, {".cjs", "node"}, {".mjs", "node"}, {".ts", "bun"}, {".tsx", "bun"},
	{".py", "python3"}, {".rb", "ruby"}, {".php", "php"}, {".pl", "perl"},
	{".sh", "bash"}, {".coffee", "coffee"}, {".ls", "lsc"},
};

/*
 * The program a script's "#!" line names when that is node or bun
 * ("#!/usr/bin/env node", "#!/usr/local/bin/node"), else NULL. PM2 runs
 * every text file without a known extension with node, so bin/www and
 * npm's own launcher get node's arguments and the IPC channel there.
 */
static char *
node_shebang(const char *path)
{
	char buf[256];
	FILE *fp = fopen(path, "re");
	if (!fp)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if (n < 2 || buf[0] != '#' || buf[1] != '!')
		return NULL;
	buf[strcspn(buf, "\r\n")] = '\0';
	char *save = NULL;
	char *prog = strtok_r(buf + 2, " \t", &save);
	const char *base = prog ? (strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog) : "";
	if (strcmp(base, "env") == 0) {
		/* env's options (-S, -i, -u NAME) come before the program. */
		while ((prog = strtok_r(NULL, " \t", &save)) && prog[0] == '-')
			if (strcmp(prog, "-u") == 0 || strcmp(prog, "--unset") == 0)
				strtok_r(NULL, " \t", &save);
		base = prog ? (strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog) : "";
	}
	if (strcmp(base, "node") != 0 && strcmp(base, "nodejs") != 0 && strcmp(base, "bun") != 0)
		return NULL;
	return xstrdup(base);
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

json_t *
normalize_env(char **environ_, const json_t *app_env, bool filter_all, char *const *filter,
    json_t *skipped)
{
	json_t *env = json_object();
	/* Never pass on what corral itself manages for the app. */
	static const char *const managed[] = {"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
	    "NOTIFY_SOCKET", "NODE_CHANNEL_FD", "NODE_CHANNEL_SERIALIZATION_MODE",
	    "NODE_UNIQUE_ID", "CORRAL_BROKER_FD", "CORRAL_DAEMON_READY_FD", NULL};
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
		return fail(a, f, "expected an object of variables, got %s", type_name(src));
	const char *k;
	json_t *v;
	json_object_foreach(src, k, v) {
		if (!*k || strchr(k, '='))
			return fail(a, f, "\"%s\" is not a valid variable name", k);
		char *t;
		if (json_is_object(v) || json_is_array(v))
			t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		else if (json_is_null(v))
			t = xstrdup("null");
		else
			t = scalar_text(v);
		if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v)) {
			free(t);
			return fail(a, f, "%s contains a NUL byte", k);
		}
		json_object_set_new(dst, k, json_string(t));
		free(t);
	}
	return 0;
}

char *
normalize_date_format(const char *fmt)
{
	if (strchr(fmt, '%'))
		return xstrdup(fmt);
	static const struct {
		const char *tok;
		const char *out;
	} toks[] = {
		{"YYYY", "%Y"}, {"YY", "%y"}, {"MMMM", "%B"}, {"MMM", "%b"}, {"MM", "%m"},
		{"M", "%-m"}, {"DD", "%d"}, {"D", "%-d"}, {"dddd", "%A"}, {"ddd", "%a"},
		{"HH", "%H"}, {"H", "%-H"}, {"hh", "%I"}, {"h", "%-I"}, {"mm", "%M"},
		{"m", "%-M"}, {"ss", "%S"}, {"s", "%-S"}, {"SSS", "%L"}, {"ZZ", "%z"},
		{"Z", "%:z"}, {"A", "%p"}, {"a", "%P"}, {"X", "%s"}, {"x", "%s%L"},
	};
	struct sbuf b = SBUF_INIT;
	sbuf_adds(&b, "");
	for (const char *p = fmt; *p;) {
		if (*p == '[') {
			const char *end = strchr(p, ']');
			if (end) {
				sbuf_add(&b, p + 1, (size_t)(end - p - 1));
				p = end + 1;
				continue;
			}
		}
		bool matched = false;
		for (size_t i = 0; i < ARRAY_LEN(toks) && !matched; i++) {
			size_t n = strlen(toks[i].tok);
			if (strncmp(p, toks[i].tok, n) == 0) {
				sbuf_adds(&b, toks[i].out);
				p += n;
				matched = true;
			}
		}
		if (!matched)
			sbuf_addc(&b, *p++);
	}
	return sbuf_take(&b);
}

/* First pass: find every field, check and convert it on its own. */
static int
collect(struct app_ctx *a)
{
	const char *key;
	json_t *v;
	json_object_foreach(a->raw, key, v) {
		if (str_starts(key, "env_"))
			continue;
		char *snake = snake_case(key);
		bool alias;
		const struct fdef *def = lookup(snake, &alias);
		if (!def) {
			if (!is_ignored_field(snake) && !is_ignored_field(key)) {
				const char *close = closest_field(snake);
				char *w = where_key(a, key);
				if (close)
					warn(a->ctx, "%sunknown field \"%s\" ignored (did you mean \"%s\"?)",
					    w, key, close);
				else
					warn(a->ctx, "%sunknown field \"%s\" ignored", w, key);
				free(w);
			} else {
				warn(a->ctx, "%s: field \"%s\" is accepted but has no effect in corral",
				    a->ctx->doc ? config_doc_path(a->ctx->doc) : "start", key);
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
		if (strcmp(def->key, "namespace") == 0 && f->def)
			continue;
		f->def = def;
		f->key = key;
		f->value = v;
		f->cli = true;
	}
	return 0;
}

static const struct found *
field(struct app_ctx *a, const char *key)
{
	for (size_t i = 0; i < ARRAY_LEN(fdefs); i++)
		if (strcmp(fdefs[i].key, key) == 0)
			return a->found[i].def && !json_is_null(a->found[i].value) ? &a->found[i] : NULL;
	fatal("normalize: no field %s", key);
}

static int
set_bool_field(struct app_ctx *a, const char *key, const char *out_key)
{
	const struct found *f = field(a, key);
	bool b;
	if (!f)
		return 0;
	if (get_bool(a, f, &b) < 0)
		return -EINVAL;
	json_object_set_new(a->out, out_key ? out_key : key, json_boolean(b));
	return 0;
}

static int
set_ms_field(struct app_ctx *a, const char *key)
{
	const struct found *f = field(a, key);
	int64_t ms;
	if (!f)
		return 0;
	int64_t bare = f->def->kind == K_WATCH_DELAY && a->ctx->from_cli ? 1000 : 1;
	if (get_duration(a, f, bare, &ms) < 0)
		return -EINVAL;
	json_object_set_new(a->out, key, json_integer(ms));
	return 0;
}

static int
resolve_user(struct app_ctx *a)
{
	const struct found *fu = field(a, "uid"), *fg = field(a, "gid");
	if (!fu && !fg)
		return 0;
	if (geteuid() != 0)
		return fail(a, fu ? fu : fg, "only root can run an app as another user or group");
	if (fu) {
		char *t = NULL;
		if (get_string(a, fu, &t) < 0)
			return -EINVAL;
		struct passwd *pw;
		int64_t n;
		if (units_parse_int(t, 0, UINT32_MAX - 1, &n) == 0)
			pw = getpwuid((uid_t)n);
		else
			pw = getpwnam(t);
		if (!pw) {
			fail(a, fu, "no user \"%s\"", t);
			free(t);
			return -EINVAL;
		}
		free(t);
		json_object_set_new(a->out, "uid", json_integer(pw->pw_uid));
		json_object_set_new(a->out, "user", json_string(pw->pw_name));
		if (!fg)
			json_object_set_new(a->out, "gid", json_integer(pw->pw_gid));
		/* PM2 sets HOME for the user it switches to. */
		json_object_set_new(json_object_get(a->out, "app_env"), "HOME", json_string(pw->pw_dir));
	}
	if (fg) {
		char *t = NULL;
		if (get_string(a, fg, &t) < 0)
			return -EINVAL;
		struct group *gr;
		int64_t n;
		if (units_parse_int(t, 0, UINT32_MAX - 1, &n) == 0)
			gr = getgrgid((gid_t)n);
		else
			gr = getgrnam(t);
		if (!gr) {
			fail(a, fg, "no group \"%s\"", t);
			free(t);
			return -EINVAL;
		}
		free(t);
		json_object_set_new(a->out, "gid", json_integer(gr->gr_gid));
	}
	return 0;
}

/* Version from the package.json next to the script or in cwd. */
static void
find_version(struct app_ctx *a, const char *script, const char *cwd)
{
	char *dir = xstrdup(script);
	char *slash = strrchr(dir, '/');
	const char *dirs[2] = {cwd, NULL};
	if (slash && slash != dir) {
		*slash = '\0';
		dirs[1] = dir;
	}
	for (int i = 1; i >= 0; i--) {
		if (!dirs[i])
			continue;
		char *path = xasprintf("%s/package.json", dirs[i]);
		json_t *pkg = json_load_file(path, 0, NULL);
		free(path);
		const char *v = json_string_value(json_object_get(pkg, "version"));
		if (v) {
			json_object_set_new(a->out, "version", json_string(v));
			json_decref(pkg);
			break;
		}
		json_decref(pkg);
	}
	free(dir);
}

/* Second pass: everything, in dependency order. */
static int
build(struct app_ctx *a)
{
	struct norm_ctx *ctx = a->ctx;
	const struct found *f;
	char *t = NULL;
	a->out = json_object();
	json_t *app_env = json_object();
	json_object_set_new(a->out, "app_env", app_env);

	/* cwd first: everything relative hangs on it. */
	char *cwd = xstrdup(ctx->base_dir);
	if ((f = field(a, "cwd"))) {
		if (get_string(a, f, &t) < 0)
			goto fail_cwd;
		free(cwd);
		cwd = abs_path(ctx->base_dir, t);
		free(t);
		t = NULL;
		struct stat st;
		if (stat(cwd, &st) < 0 || !S_ISDIR(st.st_mode)) {
			fail(a, f, "%s is not a directory", cwd);
			free(cwd);
			goto fail;
		}
	}
	json_object_set_new(a->out, "cwd", json_string(cwd));

	/* script, interpreter */
	f = field(a, "script");
	if (!f) {
		free(cwd);
		fail(a, NULL, "no script: every app needs \"script\" (the file or command to run)");
		goto fail;
	}
	char *script = NULL;
	if (get_string(a, f, &script) < 0 || !*script) {
		if (script)
			fail(a, f, "must not be empty");
		free(script);
		free(cwd);
		goto fail;
	}
	if (!ctx->from_cli && strcmp(script, "serve") == 0) {
		/* PM2 swaps in its own static file server for this name. */
		fail(a, f, "\"serve\" is PM2's built-in static file server (PM2_SERVE_PATH), "
		    "which corral does not have: run a static server of your own as the script");
		free(script);
		free(cwd);
		goto fail;
	}
	char *interp = NULL;
	bool shell = false;
	const struct found *fi = field(a, "interpreter");
	if (fi) {
		if (get_string(a, fi, &t) < 0) {
			free(script);
			free(cwd);
			goto fail;
		}
		if (strcmp(t, "none") != 0) {
			interp = normalize_which(t, ctx->environ);
			if (!interp && strchr(t, '/')) {
				char *abs = abs_path(cwd, t);
				if (access(abs, X_OK) == 0)
					interp = abs;
				else
					free(abs);
			}
			if (!interp) {
				fail(a, fi, "\"%s\" not found (not on PATH, or not executable)", t);
				free(script);
				free(cwd);
				goto fail;
			}
		}
		free(t);
		t = NULL;
	}
	char *resolved = abs_path(cwd, script);
	struct stat st;
	int st_rc = stat(resolved, &st);
	int st_errno = st_rc < 0 ? errno : 0;
	bool is_file = st_rc == 0 && S_ISREG(st.st_mode), on_path = false;
	if (is_file) {
		/* a file */
	} else if (!strchr(script, '/') && !strchr(script, ' ') &&
	    (free(resolved), resolved = normalize_which(script, ctx->environ)) != NULL) {
		on_path = true;
	} else if (strchr(script, ' ')) {
		/* A command line: run through the shell, as PM2 does. */
		free(resolved);
		resolved = xstrdup(script);
		shell = true;
	} else {
		if (st_rc == 0)
			fail(a, f, "%s: not a file that can be run", script);
		else if (st_errno != ENOENT && st_errno != ENOTDIR)
			fail(a, f, "%s: %s", script, strerror(st_errno));
		else
			fail(a, f, "%s: no such file (looked in %s%s)", script, cwd,
			    strchr(script, '/') ? "" : " and on PATH");
		free(resolved);
		free(script);
		free(cwd);
		free(interp);
		goto fail;
	}
	if (shell) {
		free(interp);
		interp = xstrdup("/bin/sh");
		json_object_set_new(a->out, "interpreter_args", json_pack("[s]", "-c"));
	} else if (!fi) {
		for (size_t i = 0; i < ARRAY_LEN(by_extension); i++) {
			if (!str_ends(resolved, by_extension[i].ext))
				continue;
			interp = normalize_which(by_extension[i].interpreter, ctx->environ);
			if (!interp && strcmp(by_extension[i].interpreter, "python3") == 0)
				interp = normalize_which("python", ctx->environ);
			if (!interp) {
				fail(a, f, "%s needs %s, which is not on PATH (set interpreter)",
				    script, by_extension[i].interpreter);
				free(resolved);
				free(script);
				free(cwd);
				goto fail;
			}
			break;
		}
		char *bang = interp || !(is_file || on_path) ? NULL : node_shebang(resolved);
		if (bang) {
			interp = normalize_which(bang, ctx->environ);
			if (!interp && strcmp(bang, "nodejs") == 0)
				interp = normalize_which("node", ctx->environ);
			if (!interp) {
				fail(a, f, "%s starts with #!...%s, which is not on PATH (set interpreter)",
				    script, bang);
				free(bang);
				free(resolved);
				free(script);
				free(cwd);
				goto fail;
			}
			free(bang);
		}
	}
	/* An interpreter would start and fail on every restart: say it now. */
	if (is_file && interp && !shell && access(resolved, R_OK) < 0) {
		fail(a, f, "%s: cannot read it: %s", resolved, strerror(errno));
		free(resolved);
		free(script);
		free(cwd);
		free(interp);
		goto fail;
	}
	json_object_set_new(a->out, "script", json_string(resolved));
	json_object_set_new(a->out, "interpreter", interp ? json_string(interp) : json_null());
	const char *ib = interp ? strrchr(interp, '/') + 1 : "";
	bool is_node = str_starts(ib, "node") || strcmp(ib, "bun") == 0;
	if (is_node)
		json_object_set_new(a->out, "node_ipc", json_true());
	if (str_starts(ib, "python"))
		json_object_set_new(app_env, "PYTHONUNBUFFERED", json_string("1"));

	/* name */
	char *name = NULL;
	if ((f = field(a, "name")) && get_string(a, f, &name) < 0) {
		free(resolved);
		free(script);
		free(cwd);
		free(interp);
		goto fail;
	}
	if (name && !*name) {
		/* "name": "" gets the default name, as in PM2. */
		free(name);
		name = NULL;
	}
	if (name) {
		/* given */
	} else if (shell) {
		name = xstrdup(script);
	} else {
		const char *base = strrchr(resolved, '/') ? strrchr(resolved, '/') + 1 : resolved;
		const char *dot = strrchr(base, '.');
		name = dot && dot != base ? xstrndup(base, (size_t)(dot - base)) : xstrdup(base);
	}
	free(script);
	if (ctx->env_name && (f = field(a, "append_env_to_name"))) {
		bool b;
		if (get_bool(a, f, &b) == 0 && b) {
			char *n2 = xasprintf("%s-%s", name, ctx->env_name);
			free(name);
			name = n2;
		}
	}
	json_object_set_new(a->out, "name", json_string(name));
	a->app_name = json_string_value(json_object_get(a->out, "name"));
	free(name);
	find_version(a, resolved, cwd);
	free(resolved);
	free(interp);

	/* args, interpreter_args */
	if ((f = field(a, "args"))) {
		json_t *arr = string_list(a, f, true);
		if (!arr)
			goto fail_cwd;
		if (shell) {
			/* PM2 runs a command line as written (bash -c) and drops args. */
			if (json_array_size(arr) > 0) {
				char *w = where(a, f);
				warn(ctx, "%signored: script is a command line, which runs as it is "
				    "written, as in PM2 (put the arguments in script)", w);
				free(w);
			}
			json_decref(arr);
		} else {
			json_object_set_new(a->out, "args", arr);
		}
	}
	if ((f = field(a, "interpreter_args"))) {
		json_t *arr = string_list(a, f, true);
		if (!arr)
			goto fail_cwd;
		if (shell || json_is_null(json_object_get(a->out, "interpreter"))) {
			/* PM2 drops them too; say so rather than lose them quietly. */
			if (json_array_size(arr) > 0) {
				char *w = where(a, f);
				warn(ctx, "%signored: the script runs without an interpreter", w);
				free(w);
			}
			json_decref(arr);
		} else {
			json_object_set_new(a->out, "interpreter_args", arr);
		}
	}

	/* mode and instances */
	int64_t instances = 1;
	bool instances_given = false;
	if ((f = field(a, "instances"))) {
		instances_given = true;
		json_t *v = f->value;
		char *txt = json_is_number(v) || json_is_string(v) ? scalar_text(v) : NULL;
		if (txt && strcmp(txt, "max") == 0)
			instances = 0;
		else if (!txt || units_parse_int(txt, -4096, 4096, &instances) < 0) {
			fail(a, f, "expected a number of instances, \"max\", 0 or a negative number, "
			    "got %s", txt ? txt : type_name(v));
			free(txt);
			goto fail_cwd;
		}
		free(txt);
	}
	json_object_set_new(a->out, "instances", json_integer(instances));
	const char *mode = instances_given ? "cluster" : "fork";
	if ((f = field(a, "exec_mode"))) {
		if (get_string(a, f, &t) < 0)
			goto fail_cwd;
		if (strcmp(t, "fork") == 0 || strcmp(t, "fork_mode") == 0)
			mode = "fork";
		else if (strcmp(t, "cluster") == 0 || strcmp(t, "cluster_mode") == 0)
			mode = "cluster";
		else {
			fail(a, f, "\"%s\" is not a mode (fork, fork_mode, cluster, cluster_mode)", t);
			goto fail_cwd;
		}
		free(t);
		t = NULL;
	}
	json_object_set_new(a->out, "exec_mode", json_string(mode));
	bool merge_default = strcmp(mode, "fork") == 0 && !instances_given;
	json_object_set_new(a->out, "merge_logs", json_boolean(merge_default));

	/* plain fields */
	if ((f = field(a, "namespace"))) {
		if (get_string(a, f, &t) < 0)
			goto fail_cwd;
		json_object_set_new(a->out, "namespace", json_string(*t ? t : "default"));
		free(t);
		t = NULL;
	}
	const char *bools[] = {"autorestart", "autostart", "wait_ready", "shutdown_with_message",
	    "treekill", "merge_logs", "disable_logs", "force"};
	for (size_t i = 0; i < ARRAY_LEN(bools); i++)
		if (set_bool_field(a, bools[i], NULL) < 0)
			goto fail_cwd;
	const char *durations[] = {"min_uptime", "restart_delay", "exp_backoff_restart_delay",
	    "kill_timeout", "listen_timeout", "watch_delay"};
	for (size_t i = 0; i < ARRAY_LEN(durations); i++)
		if (set_ms_field(a, durations[i]) < 0)
			goto fail_cwd;
	int64_t n;
	if ((f = field(a, "max_restarts"))) {
		if (get_number(a, f, 0, INT_MAX, &n) < 0)
			goto fail_cwd;
		json_object_set_new(a->out, "max_restarts", json_integer(n));
	}
	if ((f = field(a, "max_memory_restart"))) {
		if (get_size(a, f, &n) < 0)
			goto fail_cwd;
		char *txt = scalar_text(f->value);
		bool bare = txt && txt[strspn(txt, "0123456789")] == '\0';
		free(txt);
		if (bare && n > 0 && n < 1024 * 1024) {
			/* A bare number is bytes, as in PM2: 300 restarts at once. */
			char *w = where(a, f);
			warn(ctx, "%s%lld bytes is less than 1 MB: the app will restart at once "
			    "(did you mean \"%lldM\"?)", w, (long long)n, (long long)n);
			free(w);
		}
		json_object_set_new(a->out, "max_memory_restart", json_integer(n));
	}
	if ((f = field(a, "stop_exit_codes"))) {
		json_t *arr = json_array();
		json_t *v = f->value;
		size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
		for (size_t i = 0; i < cnt; i++) {
			json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
			char *txt = json_is_number(e) || json_is_string(e) ? scalar_text(e) : NULL;
			/* "0,1" from the command line */
			char *save = NULL;
			for (char *tok = txt ? strtok_r(txt, ", ", &save) : NULL; tok;
			    tok = strtok_r(NULL, ", ", &save)) {
				if (units_parse_int(tok, 0, 255, &n) < 0) {
					fail(a, f, "\"%s\" is not an exit code (0..255)", tok);
					free(txt);
					json_decref(arr);
					goto fail_cwd;
				}
				json_array_append_new(arr, json_integer(n));
			}
			if (!txt) {
				fail(a, f, "expected exit codes (a number or an array), got %s", type_name(e));
				json_decref(arr);
				goto fail_cwd;
			}
			free(txt);
		}
		json_object_set_new(a->out, "stop_exit_codes", arr);
	}
	if ((f = field(a, "kill_signal"))) {
		if (get_string(a, f, &t) < 0)
			goto fail_cwd;
		int sig = signame_parse(t);
		if (sig < 0) {
			fail(a, f, "\"%s\" is not a signal", t);
			goto fail_cwd;
		}
		json_object_set_new(a->out, "kill_signal", json_string(signame_name(sig)));
		free(t);
		t = NULL;
	}
	if ((f = field(a, "cron_restart"))) {
		if (get_string(a, f, &t) < 0)
			goto fail_cwd;
		if (strcmp(t, "0") != 0 && *t) {
			struct cron_expr ce;
			char *cerr = NULL;
			time_t next;
			if (cron_parse(t, &ce, &cerr) < 0) {
				fail(a, f, "%s", cerr);
				free(cerr);
				goto fail_cwd;
			}
			if (cron_next(&ce, time(NULL), &next) == -ENOENT) {
				fail(a, f, "cron \"%s\" never fires (no such date)", t);
				goto fail_cwd;
			}
			json_object_set_new(a->out, "cron_restart", json_string(t));
		}
		free(t);
		t = NULL;
	}
	if ((f = field(a, "watch"))) {
		json_t *v = f->value;
		if (json_is_boolean(v) || (json_is_string(v) && (strcmp(json_string_value(v), "true") == 0 ||
		    strcmp(json_string_value(v), "false") == 0))) {
			bool b;
			get_bool(a, f, &b);
			json_object_set_new(a->out, "watch", json_boolean(b));
		} else {
			json_t *arr = string_list(a, f, false);
			if (!arr)
				goto fail_cwd;
			json_t *paths = json_array();
			size_t i;
			json_t *e;
			json_array_foreach(arr, i, e) {
				char *p = abs_path(cwd, json_string_value(e));
				struct stat wst;
				if (stat(p, &wst) < 0) {
					char *w = where(a, f);
					warn(ctx, "%s%s does not exist (yet): nothing to watch there", w, p);
					free(w);
				}
				json_array_append_new(paths, json_string(p));
				free(p);
			}
			json_decref(arr);
			/* An empty list watches cwd, like true (PM2). */
			json_object_set_new(a->out, "watch", json_true());
			json_object_set_new(a->out, "watch_paths", paths);
		}
	}
	if ((f = field(a, "ignore_watch"))) {
		json_t *arr = string_list(a, f, false);
		if (!arr)
			goto fail_cwd;
		json_object_set_new(a->out, "ignore_watch", arr);
	}

	/* logs */
	bool time_on = false;
	if ((f = field(a, "time")) && get_bool(a, f, &time_on) < 0)
		goto fail_cwd;
	if (time_on)
		json_object_set_new(a->out, "log_date_format", json_string("%Y-%m-%dT%H:%M:%S"));
	if ((f = field(a, "log_date_format"))) {
		if (get_string(a, f, &t) < 0)
			goto fail_cwd;
		if (*t) {
			char *conv = normalize_date_format(t);
			json_object_set_new(a->out, "log_date_format", json_string(conv));
			free(conv);
		}
		free(t);
		t = NULL;
	}
	if ((f = field(a, "log_type"))) {
		if (get_string(a, f, &t) < 0)
			goto fail_cwd;
		if (strcmp(t, "json") != 0 && strcmp(t, "raw") != 0) {
			/* PM2 takes any string and only acts on "json". */
			char *w = where(a, f);
			warn(ctx, "%s\"%s\" is not a log type (json or raw); raw is used, as in PM2",
			    w, t);
			free(w);
		}
		json_object_set_new(a->out, "log_type",
		    json_string(strcmp(t, "json") == 0 ? "json" : "raw"));
		free(t);
		t = NULL;
	}
	const char *paths[] = {"out_file", "error_file", "pid_file"};
	for (size_t i = 0; i < ARRAY_LEN(paths); i++) {
		if (!(f = field(a, paths[i])))
			continue;
		if (get_string(a, f, &t) < 0)
			goto fail_cwd;
		char *p = strcmp(t, "NULL") == 0 || strcmp(t, "/dev/null") == 0
		    ? xstrdup("/dev/null") : abs_path(cwd, t);
		if (strcmp(paths[i], "pid_file") == 0 && strcmp(p, "/dev/null") == 0) {
			free(p);
			p = NULL;
		}
		json_object_set_new(a->out, paths[i], p ? json_string(p) : json_null());
		free(p);
		free(t);
		t = NULL;
	}
	if ((f = field(a, "log_file"))) {
		json_t *v = f->value;
		if (json_is_boolean(v) || (json_is_string(v) && (!strcmp(json_string_value(v), "true") ||
		    !strcmp(json_string_value(v), "false")))) {
			bool b;
			get_bool(a, f, &b);
			json_object_set_new(a->out, "log_file", b ? json_string("") : json_null());
		} else {
			if (get_string(a, f, &t) < 0)
				goto fail_cwd;
			char *p = strcmp(t, "NULL") == 0 || strcmp(t, "/dev/null") == 0
			    ? NULL : abs_path(cwd, t);
			json_object_set_new(a->out, "log_file", p ? json_string(p) : json_null());
			free(p);
			free(t);
			t = NULL;
		}
	}

	/* cluster */
	if ((f = field(a, "lb"))) {
		if (get_string(a, f, &t) < 0)
			goto fail_cwd;
		if (spec_lb_parse(t) < 0) {
			fail(a, f, "\"%s\" is not a balancing strategy (least-busy, even, sticky, shared)", t);
			goto fail_cwd;
		}
		json_object_set_new(a->out, "lb", json_string(t));
		free(t);
		t = NULL;
	}
	if ((f = field(a, "listen"))) {
		json_t *arr = string_list(a, f, false);
		if (!arr)
			goto fail_cwd;
		json_object_set_new(a->out, "listen", arr);
	}
	if ((f = field(a, "share_ports"))) {
		json_t *arr = string_list(a, f, false), *ports = json_array();
		size_t i;
		json_t *e;
		json_array_foreach(arr, i, e) {
			if (units_parse_int(json_string_value(e), 1, 65535, &n) < 0) {
				fail(a, f, "\"%s\" is not a port (1..65535)", json_string_value(e));
				json_decref(arr);
				json_decref(ports);
				goto fail_cwd;
			}
			json_array_append_new(ports, json_integer(n));
		}
		json_decref(arr);
		json_object_set_new(a->out, "share_ports", ports);
	}
	const char *vars[] = {"instance_var", "increment_var"};
	for (size_t i = 0; i < ARRAY_LEN(vars); i++) {
		if (!(f = field(a, vars[i])))
			continue;
		if (get_string(a, f, &t) < 0)
			goto fail_cwd;
		if (!*t || strchr(t, '=')) {
			fail(a, f, "\"%s\" is not a variable name", t);
			goto fail_cwd;
		}
		json_object_set_new(a->out, vars[i], json_string(t));
		free(t);
		t = NULL;
	}

	/* environment: the app's own part, then merged with the shell's */
	if ((f = field(a, "env")) && merge_env(a, f, f->value, app_env) < 0)
		goto fail_cwd;
	if (ctx->env_name) {
		char *key = xasprintf("env_%s", ctx->env_name);
		json_t *deploy_env = json_object_get(json_object_get(ctx->deploy, ctx->env_name), "env");
		if (deploy_env && json_is_object(deploy_env)) {
			json_t *merged = json_deep_copy(deploy_env);
			json_t *tmp = json_object();
			struct found df = {&fdefs[0], "deploy", deploy_env, false};
			if (merge_env(a, &df, merged, tmp) == 0) {
				json_object_update(tmp, app_env);
				json_object_clear(app_env);
				json_object_update(app_env, tmp);
			}
			json_decref(tmp);
			json_decref(merged);
		}
		json_t *named = json_object_get(a->raw, key);
		if (named) {
			struct found nf = {&fdefs[8], key, named, false};
			if (merge_env(a, &nf, named, app_env) < 0) {
				free(key);
				goto fail_cwd;
			}
		} else {
			warn(ctx, "%s: app '%s' has no %s (--env %s)",
			    ctx->doc ? config_doc_path(ctx->doc) : "start", a->app_name, key, ctx->env_name);
		}
		free(key);
	}
	if ((f = field(a, "port"))) {
		if (get_number(a, f, 1, 65535, &n) < 0)
			goto fail_cwd;
		json_object_set_new(app_env, "PORT", json_sprintf("%lld", (long long)n));
	}
	if (resolve_user(a) < 0)
		goto fail_cwd;
	bool filter_all = false;
	json_t *filter = json_array();
	json_object_set_new(a->out, "filter_env", filter);
	if ((f = field(a, "filter_env"))) {
		json_t *v = f->value;
		if (json_is_boolean(v)) {
			filter_all = json_is_true(v);
		} else if (json_is_string(v)) {
			json_array_append_new(filter, json_sprintf("=%s", json_string_value(v)));
		} else if (json_is_array(v)) {
			json_t *arr = string_list(a, f, false);
			if (!arr)
				goto fail_cwd;
			json_array_extend(filter, arr);
			json_decref(arr);
		} else {
			fail(a, f, "expected true, a variable name or an array of names, got %s",
			    type_name(v));
			goto fail_cwd;
		}
	}
	json_object_set_new(a->out, "filter_env_all", json_boolean(filter_all));
	char **fv = xcalloc(json_array_size(filter) + 1, sizeof(char *));
	for (size_t i = 0; i < json_array_size(filter); i++)
		fv[i] = (char *)json_string_value(json_array_get(filter, i));
	json_t *skipped = json_array();
	json_object_set_new(a->out, "env", normalize_env(ctx->environ, app_env, filter_all, fv,
	    skipped));
	free(fv);
	size_t k;
	json_t *var;
	json_array_foreach(skipped, k, var)
		warn(ctx, "environment variable %s is not UTF-8 text: the app does not get it",
		    json_string_value(var));
	json_decref(skipped);
	free(cwd);
	/* A field that failed without stopping the build (append_env_to_name). */
	if (a->err) {
		json_decref(a->out);
		a->out = NULL;
		return -EINVAL;
	}
	return 0;
fail_cwd:
	free(cwd);
fail:
	free(t);
	json_decref(a->out);
	a->out = NULL;
	if (!a->err)
		fail(a, NULL, "invalid app");
	return -EINVAL;
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
		fail(&a, NULL, "an app must be an object, got %s", type_name(raw));
		*err = a.err;
		return -EINVAL;
	}
	const char *nm = json_string_value(json_object_get(raw, "name"));
	a.app_name = nm && *nm ? nm : NULL;
	collect(&a);
	if (build(&a) < 0) {
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
		char *w = where(&a, NULL);
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

int
normalize_doc(struct norm_ctx *ctx, const struct config_doc *doc, const char *only,
    json_t **apps_out, char **err)
{
	json_t *root = config_doc_root(doc);
	json_t *list = NULL;
	const char *path = config_doc_path(doc);
	ctx->doc = doc;
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
			warn(ctx, "%s: \"static\" (PM2's `pm2 serve` apps) is not supported; "
			    "ignored", path);
	}
	if (!list) {
		*err = xasprintf("%s: no apps found (expected {\"apps\": [...]}, an array of apps, "
		    "or one app object)", path);
		return -EINVAL;
	}
	json_t *one = NULL;
	if (json_is_object(list)) {
		one = json_array();
		json_array_append(one, list);
		list = one;
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
	if (rc == 0 && json_array_size(apps) == 0 && !names) {
		*err = xasprintf("%s: the file declares no apps", path);
		rc = -EINVAL;
	}
	free(used);
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
