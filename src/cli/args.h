/*
 * args.h — the command-line grammar: `corral <verb> [args] [options] [-- args]`.
 *
 * Options may come anywhere before `--`, as with PM2 (commander). An option
 * whose value is optional (--watch, --log) takes it only as --opt=value, so
 * `corral start --watch app.js` never mistakes the script for a path. Each verb
 * accepts a set of option groups; an option outside them, an unknown
 * option, or a missing value is a one-line error with a suggestion.
 * Parsing is pure (argv in, struct out) so it is unit-tested.
 */
#ifndef CORRAL_ARGS_H
#define CORRAL_ARGS_H

#include <jansson.h>
#include <stdbool.h>

/* Option groups a verb can accept. */
enum {
	OG_START = 1 << 0,    /* app options: --name, -i, --max-memory-restart... */
	OG_CONFIG = 1 << 1,   /* --env, --only */
	OG_ACTION = 1 << 2,   /* --watch (stop, restart, reload) */
	OG_LIST = 1 << 3,     /* --json */
	OG_LOGS = 1 << 4,     /* --lines, --raw, --err, --out, --nostream, --timestamp,
	                         --format, --highlight */
	OG_SAVE = 1 << 5,     /* --force */
	OG_STARTUP = 1 << 6,  /* -u/--user, --hp, --service-name, --print, --wait-ip */
	OG_UNSTARTUP = 1 << 7, /* -u/--user, --service-name */
	OG_RESTART = 1 << 8,  /* --update-env, --parallel, --force (restart, reload) */
	OG_SORT = 1 << 9,     /* --sort (list) */
	OG_ALL = 1 << 10,     /* -s/--silent: every verb */
	OG_ATTACH = 1 << 11,  /* --attach (start, restart, reload, stop) */
	OG_RUNTIME = 1 << 12, /* --json, --raw, --format, --formatted, --no-auto-exit
	                         (runtime: for its help; main.c runs it) */
	OG_DEPLOY = 1 << 13,  /* --serial, --no-stop-on-failure, --force (deploy) */
	OG_PROFILE = 1 << 14, /* --duration, --heap, --timeout (profile) */
	OG_HEAPDUMP = 1 << 15, /* --timeout (heapdump) */
	OG_WEB = 1 << 16,     /* --listen, --token-file (web start) */
};

struct opt_def {
	const char *lng;        /* "name" for --name */
	char shrt;              /* 'n' for -n, 0 if none */
	int arg;                /* 0 none, 1 required, 2 optional */
	unsigned groups;
	const char *field;      /* the ecosystem field it sets, or NULL */
	const char *flag_value; /* value for the field when given without an
	                           argument ("false" for --no-autorestart) */
	const char *help;
	/* PM2 options accepted for scripts' sake that do nothing in corral: the
	 * reason, said in a warning when one is given. */
	const char *no_effect;
};

struct args {
	const char *verb;         /* as typed */
	char **pos;               /* positional arguments, NULL-terminated */
	char **rest;              /* after `--`, NULL-terminated */
	json_t *opts;             /* long name → string value (or true) */
};

extern const struct opt_def args_options[];

/* Parse argv[1..] for a verb accepting `groups`. 0, or -EINVAL with *err
 * (one line, caller frees). */
int args_parse(int argc, char **argv, unsigned groups, struct args *out, char **err);
void args_free(struct args *a);

/* The value of an option, or NULL. */
const char *args_get(const struct args *a, const char *lng);
bool args_has(const struct args *a, const char *lng);

/* Ecosystem fields set by the start options in a, as a raw app object
 * (new reference). */
json_t *args_app_fields(const struct args *a);

/* Each option given that has no effect in corral: fn(option, reason). */
void args_each_no_effect(const struct args *a, void (*fn)(const char *opt, const char *why));

/* The closest option of a verb accepting `groups` to a mistyped one, when
 * it is a near miss (suggest.h), or NULL. */
const char *args_suggest_option(const char *typed, unsigned groups);

#endif
