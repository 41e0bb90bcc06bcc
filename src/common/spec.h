/*
 * spec.h — the canonical description of an app: what the CLI sends to the
 * daemon, what the daemon runs, what dump.json stores.
 *
 * Users write PM2's fields with aliases and units ("300M", "2s"); the
 * normalizer (src/config/normalize.c) turns those into this form, where
 * every value has one type and one unit: durations are integer milliseconds,
 * sizes integer bytes, paths absolute, the environment fully merged. The
 * daemon trusts nothing: spec_from_json() checks every field's type and
 * range, because the socket is an API any program may speak.
 *
 * One table lists every field (JSON key, C member, type, default, range):
 * common/fields.def, which also describes how users write each field and
 * the option that sets it. Both directions of the conversion are driven by
 * it.
 */
#ifndef CORRAL_SPEC_H
#define CORRAL_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum exec_mode {
	MODE_FORK,
	MODE_CLUSTER,
};

/* How a cluster app's connections are spread (the `lb` field). */
enum lb_kind {
	LB_SHARED,      /* one socket, one accept queue shared by all instances */
	LB_EVEN,        /* a socket per instance, weighted random steering */
	LB_STICKY,      /* a socket per instance, steered by client address */
	LB_LEAST_BUSY,  /* a socket per instance, weights from queue depths */
};

enum log_type {
	LOGTYPE_RAW,
	LOGTYPE_JSON,
};

struct intv {
	int64_t *v;
	size_t n;
};

struct spec {
	char *name;
	char *namespace;
	char *script;            /* absolute path, or a shell command */
	char **args;             /* NULL-terminated */
	char *interpreter;       /* absolute path, NULL = run script itself */
	char **interpreter_args;
	char *cwd;               /* absolute */
	char *version;           /* from package.json, may be NULL */
	int exec_mode;           /* enum exec_mode */
	int64_t instances;       /* N > 0, 0 = all CPUs, -N = all but N */
	json_t *env;             /* object of strings: the whole environment, or
	                          * NULL when it is kept as env_base + env_delta
	                          * (or is empty: no base either) */
	json_t *env_base;        /* shared by many apps (the daemon's env pool) */
	json_t *env_delta;       /* over env_base: a string sets, null removes;
	                          * NULL when there is no difference */
	json_t *app_env;         /* what the app itself sets (env, env_<name>,
	                          * port...), to rebuild env on --update-env;
	                          * NULL when nothing (an empty object costs
	                          * 200 bytes an app) */
	bool filter_env_all;     /* filter_env: true — inherit nothing */
	char **filter_env;       /* drop inherited keys containing one of these;
	                          * "=KEY" drops exactly KEY */
	bool autorestart;
	bool autostart;
	int64_t max_restarts;
	int64_t min_uptime;      /* ms */
	int64_t restart_delay;   /* ms */
	int64_t exp_backoff_restart_delay; /* ms, 0 = off */
	struct intv stop_exit_codes;
	int64_t kill_timeout;    /* ms */
	char *kill_signal;       /* "SIGINT" */
	int64_t listen_timeout;  /* ms */
	bool wait_ready;
	bool shutdown_with_message;
	bool disable_agent;
	bool treekill;
	int64_t max_memory_restart; /* bytes, 0 = off */
	char *cron_restart;      /* NULL = off */
	bool watch;
	char **watch_paths;      /* absolute; empty = cwd */
	char **ignore_watch;     /* glob patterns */
	int64_t watch_delay;     /* ms */
	char *log_date_format;   /* strftime format, NULL = no prefix */
	int log_type;            /* enum log_type */
	bool merge_logs;
	char *out_file;          /* NULL = default path; "/dev/null" = none */
	char *error_file;
	char *log_file;          /* combined log, NULL = none */
	char *pid_file;          /* NULL = default path */
	bool disable_logs;
	int64_t log_max_size;    /* bytes, 0 = never by size, -1 = the global setting */
	int64_t log_retain;      /* rotated files kept, 0 = all, -1 = global */
	int64_t log_compress;    /* 1/0, -1 = global */
	char *log_rotate_interval; /* cron, "" = never by time, NULL = global */
	int64_t uid;             /* -1 = the daemon's */
	int64_t gid;
	char *user;              /* name for display */
	char *instance_var;      /* "NODE_APP_INSTANCE" */
	char *increment_var;     /* NULL = none */
	int lb;                  /* enum lb_kind */
	char **listen;           /* socket-activation addresses ("0.0.0.0:8080") */
	struct intv share_ports; /* empty = share every TCP port the app binds */
	bool node_ipc;           /* give the app a Node IPC channel */
};

/* Fill *s from canonical JSON, defaults for missing fields. 0 or -EINVAL
 * with *err = "field: problem" (caller frees). */
int spec_from_json(const json_t *j, struct spec *s, char **err);
/* Canonical JSON for s (new reference). Without with_env, "env" and
 * "app_env" are left out: they hold the whole environment (secrets, and most
 * of the bytes). */
json_t *spec_to_json(const struct spec *s, bool with_env);
/* Every field at its default, as canonical JSON without the environment
 * (new reference): what an app gets for a field the daemon receives
 * without it. name and script, which have none, are null. */
json_t *spec_defaults(void);
void spec_free(struct spec *s);
/* Deep copy. */
void spec_copy(struct spec *dst, const struct spec *src);

/* The value of environment variable key, or NULL (either form of env). */
const char *spec_env_get(const struct spec *s, const char *key);
/* The whole environment as a new object the caller owns and may change
 * (its string values may be shared: replace them, never edit them). */
json_t *spec_env(const struct spec *s);
/* base with delta over it (a string sets, null removes), as a new object
 * sharing their strings; base may be NULL. */
json_t *spec_env_apply(const json_t *base, const json_t *delta);
/* What env differs from base by, as such a delta (new object). */
json_t *spec_env_diff(const json_t *env, const json_t *base);
/* Keep s's environment as base (a reference is taken) plus what differs
 * from it, instead of a whole object of its own. */
void spec_env_rebase(struct spec *s, json_t *base);
/* Why v is not an environment (an object of strings, each a valid
 * variable), as "what.KEY: problem", or NULL. With removals, a null value
 * (a variable taken away, as in env_delta) is allowed too. */
char *spec_env_check(const char *what, const json_t *v, bool removals);
/* Give s the environment base (a reference is taken; it must have passed
 * spec_env_check()) with delta over it, as a start request sends the
 * environment its apps share once. 0, or -EINVAL with *err. */
int spec_env_over(struct spec *s, json_t *base, const json_t *delta, char **err);
/* How many variables two environments (objects of strings) differ by. */
size_t spec_env_distance(const json_t *a, const json_t *b);

const char *spec_mode_name(int mode);
/* Does an app get corral's Node agent (daemon/agent.h): a Node interpreter
 * with the Node IPC channel, and no disable_agent. The daemon and the CLI
 * (which profiles the others with perf) share the rule. */
bool spec_node_agent(const char *interpreter, bool node_ipc, bool disable_agent);
const char *spec_lb_name(int lb);
/* Parse "shared", "even", "sticky", "least-busy"; -EINVAL. */
int spec_lb_parse(const char *s);

/* Number of instances `instances` means on this machine (cpus = usable
 * CPUs): N, all for 0, all-but-N for negative, never below 1. */
int spec_resolve_instances(int64_t instances, int cpus);

/* CPUs this process may use: the affinity mask, capped by the cgroup v2
 * cpu.max quota of our cgroup. At least 1. */
int spec_usable_cpus(void);

/* Length of a NULL-terminated string vector. */
size_t strv_len(char *const *v);
char **strv_dup(char *const *v);
void strv_free(char **v);
/* A new JSON array of v's strings (empty for NULL). */
json_t *strv_to_json(char *const *v);

#endif
