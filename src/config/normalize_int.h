/*
 * normalize_int.h — what the pieces of the normalizer share; not for use
 * outside src/config (the interface is normalize.h).
 *
 * An app is normalized in two passes (normalize.c drives them):
 *
 *   1. fields_collect() maps every key of the raw object to its field
 *      (aliases, camelCase) into app_ctx.found[];
 *   2. the steps in normalize.c's list build the canonical spec in
 *      app_ctx.out, in dependency order: cwd → script → interpreter → name
 *      → args → mode → plain fields → restart and watch → logs → cluster →
 *      environment.
 *
 * Each step checks and converts the fields it owns and returns 0, or
 * -EINVAL after fields_fail() has put the one-line message in app_ctx.err.
 * What a step leaves for later ones (cwd, the resolved script...) is kept in
 * app_ctx and freed by the driver, so a step has no cleanup beyond its own
 * locals.
 *
 *   fields.c  the field table (made from common/fields.def), lookup and
 *             suggestions, the first pass, where/fail/warn, the typed getters
 *   exec.c    cwd, script, interpreter, shebangs, PATH lookup, name, args,
 *             version, user and group
 *   restart.c restart policy, stop signal, cron, watch
 *   logs.c    log files, log type, time prefix and its format
 *   env.c     the environment: env, deploy env, env_<name>, port, filter_env
 */
#ifndef CORRAL_NORMALIZE_INT_H
#define CORRAL_NORMALIZE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"
#include "config/normalize.h"

/* What users may write for a field (the kind column of common/fields.def). */
enum kind {
	K_STR,        /* string (numbers accepted and turned into strings) */
	K_ARGS,       /* string split like a shell, or array of strings */
	K_STRLIST,    /* string or array of strings */
	K_BOOL,       /* true/false, "true"/"false" */
	K_SWITCH,     /* the same, kept as 1/0 (-1: not set, a global setting applies) */
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

/* The fields users may write, from common/fields.def: FID_name... */
enum field_id {
#define FIELD(key, ...) FID_##key,
#define INPUT(key, ...) FID_##key,
#define COMPUTED(...)
#define OPTION(...)
#include "common/fields.def"
	FIELD_COUNT
};

struct fdef {
	const char *key;
	enum kind kind;
	const char *cli;            /* how messages name it when it comes from the
	                             * command line: "--kill-timeout", "script" */
	const char *aliases[6];
	int64_t min, max;           /* the range of a number, or of each number */
	bool stored;                /* the spec keeps it under its key (a FIELD row) */
};

/* One field as found in the raw object. */
struct found {
	const struct fdef *def;
	const char *key;             /* the key as written */
	json_t *value;
	bool cli;                    /* from ctx->overrides: name the option */
	const char *env;             /* from this environment variable (a default) */
};

struct app_ctx {
	struct norm_ctx *ctx;
	json_t *raw;
	const char *app_name;        /* for messages, may be NULL */
	struct found found[FIELD_COUNT];
	json_t *out;                 /* canonical spec being built */
	json_t *app_env;             /* out's "app_env" (borrowed) */
	char *err;
	/* Left by the early steps for the later ones; the driver frees them. */
	char *cwd;                   /* absolute: relative paths hang on it */
	char *script;                /* as written */
	char *resolved;              /* the script as it runs: a path or a command line */
	char *interp;                /* absolute, or NULL: the script runs itself */
	bool shell;                  /* script is a command line for /bin/sh -c */
	json_t *env_defaults;        /* values taken from the environment (owned) */
	json_t *derived;             /* values made from PM2's inverted keys (owned) */
};

/* fields.c */

/* The first pass: every key of a->raw (and of ctx->overrides) to its field
 * in a->found; unknown and ignored keys are warned about. */
void fields_collect(struct app_ctx *a);
/* The field when the app sets it to something other than null. */
const struct found *fields_find(struct app_ctx *a, enum field_id id);
const struct fdef *fields_def(enum field_id id);

/* "file:12:20: app 'api': field: " or "--option: " for messages; caller
 * frees. f NULL: the app itself. */
char *fields_where(struct app_ctx *a, const struct found *f);
/* Record the first error of the app as one line, prefixed by where it is.
 * Always -EINVAL. */
int fields_fail(struct app_ctx *a, const struct found *f, const char *fmt, ...) PRINTFLIKE(3, 4);
/* Append a warning (once per message) to ctx->warnings. */
void fields_warn(struct norm_ctx *ctx, const char *fmt, ...) PRINTFLIKE(2, 3);
/* fields_warn() with fields_where(a, f) in front. */
void fields_warn_at(struct app_ctx *a, const struct found *f, const char *fmt, ...)
    PRINTFLIKE(3, 4);

/* The text of a scalar: strings as they are, numbers printed, NULL for
 * anything else. Caller frees. */
char *fields_scalar_text(const json_t *v);
/* "a string", "an array"... for messages. */
const char *fields_type_name(const json_t *v);

/* Typed getters: 0, or -EINVAL after fields_fail(). */
int fields_bool(struct app_ctx *a, const struct found *f, bool *out);
/* true or false, as a boolean or as text: watch and log_file take either
 * a switch or a path. */
bool fields_is_switch(const json_t *v);
int fields_number(struct app_ctx *a, const struct found *f, int64_t min, int64_t max,
    int64_t *out);
/* text as a whole number in the field's range; else the message says it
 * is not `what` ("an exit code"). */
int fields_in_range(struct app_ctx *a, const struct found *f, const char *text, const char *what,
    int64_t *out);
int fields_duration(struct app_ctx *a, const struct found *f, int64_t bare_unit, int64_t *out);
int fields_size(struct app_ctx *a, const struct found *f, int64_t *out);
/* *out is a new string (caller frees), NULL on error. */
int fields_string(struct app_ctx *a, const struct found *f, char **out);
/* A cron expression (checked): *out the text, or NULL for "0", "" and
 * false (off). 0 or -EINVAL. (restart.c) */
int fields_cron(struct app_ctx *a, const struct found *f, char **out);
/* A string or an array of strings (numbers accepted) as a new JSON array.
 * A string is split like a shell would for K_ARGS, on white space and
 * commas for K_STRLIST and K_PORTS, and kept whole otherwise (a watch path,
 * a filter_env name). NULL after fields_fail(). */
json_t *fields_list(struct app_ctx *a, const struct found *f);
/* Every switch and duration the spec keeps, as true/false and integer
 * milliseconds in out (missing: nothing). */
int fields_set_plain(struct app_ctx *a);

/* exec.c — the steps that decide what runs, where and as whom */

/* base + p as a clean absolute path ("~/" is $HOME). Caller frees. */
char *exec_abs_path(const char *base, const char *p);
/* A path of field f resolved against base. When base is the file's
 * directory and nothing there passes found(), but the same path from the
 * directory corral runs in does, that one, with a warning: a file written
 * for PM2 means paths relative to where pm2 runs. Caller frees. */
char *exec_resolve(struct app_ctx *a, const struct found *f, const char *base, const char *p,
    bool (*found)(const char *path));
/* found() tests for exec_resolve(). */
bool exec_is_file(const char *path);
bool exec_is_dir(const char *path);
/* The file, or at least its directory (a log file yet to be created). */
bool exec_is_place(const char *path);
int exec_cwd(struct app_ctx *a);
int exec_script(struct app_ctx *a);
int exec_name(struct app_ctx *a);
int exec_args(struct app_ctx *a);
int exec_user(struct app_ctx *a);

/* restart.c */
int restart_policy(struct app_ctx *a);
int restart_watch(struct app_ctx *a);

/* logs.c */
int logs_fields(struct app_ctx *a);

/* env.c */
int env_merge(struct app_ctx *a);
int env_finish(struct app_ctx *a);

#endif
