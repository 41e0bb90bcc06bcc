/*
 * normalize.h — PM2's app fields, as users write them in ecosystem files or
 * as `corral start` options, turned into corral's canonical spec
 * (src/common/spec.h).
 *
 * Every field of PM2's reference (docs/config.md has the table) with its
 * aliases and camelCase form; strings converted to numbers where PM2 does;
 * units ("300M", "2h", "500ms"); the environment merged in PM2's order
 * (the shell's env, then `env`, then `env_<name>` for --env <name>); the
 * script, interpreter and paths resolved (against the file's directory,
 * else, with a warning, against the one corral runs in). Fields corral does not implement
 * are accepted with one warning; unknown fields get a warning naming the
 * closest known field. A wrong type or unit is an error naming the file,
 * line and column (when the format has them), the app and the field — or
 * the command-line option.
 *
 * Pure apart from reading the file system (script lookup, package.json) and
 * user/group databases; no daemon needed (`corral config` uses it alone).
 */
#ifndef CORRAL_NORMALIZE_H
#define CORRAL_NORMALIZE_H

#include <jansson.h>
#include <stdbool.h>

struct config_doc;

struct norm_ctx {
	const char *base_dir;           /* relative paths resolve here */
	const char *invoke_dir;         /* the directory corral runs in: a relative
	                                 * path not found from base_dir is tried
	                                 * here, as PM2 resolves it (NULL: never) */
	char **environ;                 /* the environment of the `corral` command */
	const char *env_name;           /* --env <name>, or NULL */
	const struct config_doc *doc;   /* where values came from, NULL for options */
	bool from_cli;                  /* errors name --options, not fields */
	json_t *deploy;                 /* the file's deploy section, or NULL */
	json_t *overrides;              /* fields set by command-line options over
	                                 * every app of a file (namespace only
	                                 * where the app has none), or NULL */
	json_t *warnings;               /* array of strings, appended to */
	/* normalize_doc()'s, for the apps of one file: the environment as
	 * inherited (no filter_env), made once and copied for each app. */
	bool share_inherited;
	json_t *inherited, *inherited_skipped;
};

/* One app: raw (borrowed) → canonical spec JSON in *out (new reference).
 * 0, or -EINVAL with *err (caller frees). */
int normalize_app(struct norm_ctx *ctx, json_t *raw, json_t **out, char **err);

/* Every app of a loaded ecosystem file ({apps: [...]}, {pm2: [...]}, a bare
 * array, or a single app), optionally only those named in `only` (names
 * separated by commas or spaces). All or nothing: the first error fails the
 * whole file. *apps is a new array. 0 or -EINVAL with *err. */
int normalize_doc(struct norm_ctx *ctx, const struct config_doc *doc, const char *only,
    json_t **apps, char **err);

/* The environment a process gets: the shell's (unless filtered) with
 * app_env over it. New reference. The protocol carries text: a variable
 * that is not UTF-8 cannot be passed on, and its name (or "?" for a name
 * that is not UTF-8 either) is appended to skipped when that is not NULL. */
json_t *normalize_env(char **environ, const json_t *app_env, bool filter_all,
    char *const *filter, json_t *skipped);

/* A log_date_format as PM2 users write it (dayjs tokens "YYYY-MM-DD HH:mm:ss
 * Z") or already strftime ("%Y-..."), as the strftime-style format the
 * daemon uses (%L = milliseconds, %:z = +hh:mm). Caller frees. */
char *normalize_date_format(const char *fmt);

/* PM2's rule for "is this argument an ecosystem file": the name contains
 * .json, .yml, .yaml, .config.js, .config.cjs or .config.mjs. */
bool normalize_is_config_file(const char *arg);

/* Split a command line the way a shell would for quotes and backslashes
 * (no expansion). NULL with *err on an unterminated quote. */
char **normalize_split_args(const char *s, char **err);

/* Look a program up on PATH (from environ); absolute path or NULL. */
char *normalize_which(const char *prog, char **environ);

#endif
