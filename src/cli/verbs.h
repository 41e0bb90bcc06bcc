/*
 * verbs.h — what the verb files share (private to src/cli).
 *
 * cli.c parses the command line into a struct ctx and calls the verb from
 * its table; each verb is a `verb_<name>(struct ctx *)` in one of the
 * verbs_*.c files, grouped by theme:
 *
 *   verbs_start.c   start, startOrRestart, startOrReload
 *   verbs_run.c     stop, restart, reload, delete, reset, sendSignal, scale
 *   verbs_query.c   list, jlist, prettylist, describe, env, pid, id, ready
 *   verbs_logs.c    logs, flush, reloadLogs
 *   verbs_state.c   save, resurrect, cleardump, startup, unstartup, ping, kill, update
 *   verbs_config.c  config, ecosystem, and loading ecosystem files
 *   verbs_monit.c   monit (the ncurses dashboard)
 *   verbs_settings.c set, get, unset (the global settings)
 *   verbs_deploy.c  deploy (ssh and git; the host side is deploy-remote.sh)
 *   verbs_profile.c profile, profile:cpu, profile:mem, heapdump
 *   verbs_web.c     web start, stop, status (the daemon's HTTP server)
 *
 * A verb returns the exit code: 0, or 1 after one line on stderr
 * ("corral <verb>: what went wrong").
 */
#ifndef CORRAL_VERBS_H
#define CORRAL_VERBS_H

#include <jansson.h>
#include <stdbool.h>

#include "cli/args.h"
#include "cli/conn.h"
#include "common/paths.h"
#include "common/util.h"

/* Requests that wait for processes get a long timeout; queries a short one. */
#define QUICK_TIMEOUT_MS 30000
#define ACTION_TIMEOUT_MS (10 * 60 * 1000)

/* One command: its options, its home, its connection (opened on first use). */
struct ctx {
	struct args a;
	struct paths paths;
	struct conn conn;
	bool connected;
	const char *verb;     /* canonical verb name */
	const char *usage;    /* its usage line, from the verb table */
	bool some_failed;     /* a part failed and said so: exit 1 at the end */
};

/* ---- cli.c ---- */

/* Print "corral <verb>: <message>" on stderr; returns 1. */
int cli_fail(struct ctx *x, const char *fmt, ...) PRINTFLIKE(2, 3);
/* cli_fail() with the verb's usage line. */
int cli_usage_error(struct ctx *x);
/* Connect (once); with autostart, start the daemon when none runs. 0,
 * -ENOENT (none runs and !autostart), or -errno after printing why. */
int cli_connect(struct ctx *x, bool autostart);
/* Send a request (consumed); the reply (new reference), or NULL after
 * printing the error. */
json_t *cli_call(struct ctx *x, json_t *req, int timeout_ms);
/* The strings of a NULL-terminated vector as a JSON array (new). */
json_t *cli_targets(char **pos);
/* The same for targets of processes: a relative path to a script file is
 * made absolute (the daemon matches apps by their script). */
json_t *cli_process_targets(char **pos);
/* The daemon's processes (all, or those the targets name); with env, their
 * specs carry the environment. New reference, or NULL after printing why. */
json_t *cli_list_procs(struct ctx *x, json_t *targets, bool env);
/* Send a list request (req, consumed) asking for the processes as a stream
 * of chunks, and give the text of each chunk (a JSON array of processes)
 * to chunk() as it comes; an older daemon's whole list is one chunk. 0, or
 * -1 after saying why. */
int cli_list_stream(struct ctx *x, json_t *req, void (*chunk)(const char *text, size_t len,
    void *arg), void *arg);
/* Every process with only the fields of the list table (protocol.md's
 * "brief"): enough to know names and statuses. */
json_t *cli_list_brief(struct ctx *x, json_t *targets);
/* What `list` shows: the processes (brief unless full), and in *orphans
 * (a new reference, or NULL) the orphans the daemon reports. */
json_t *cli_list_table(struct ctx *x, json_t *targets, bool full, json_t **orphans);
/* The app names of a process list, as the keys of a new object. */
json_t *cli_running_names(json_t *procs);
/* After an action: the process table (or, with --json, the processes the
 * action touched). */
void cli_print_procs(struct ctx *x, json_t *procs);
/* Print each warning (an array of strings) on stderr. */
void cli_print_warnings(json_t *warnings);
/* The current directory (caller frees); "/" when it cannot be known. */
char *cli_current_dir(void);

/* ---- verbs_config.c ---- */

/* Does this argument name an ecosystem file (PM2's rule, and it exists or
 * has an extension)? */
bool cli_is_config_arg(const char *arg);
/* Load and normalize an ecosystem file: the array of app specs (new
 * reference), or NULL after printing the error. */
json_t *cli_load_config(struct ctx *x, const char *file);

/* ---- verbs_start.c ---- */

/* Start these app specs (`stopped`: names to register without starting, or
 * NULL) and print what happened. 0 or 1. */
int start_send(struct ctx *x, json_t *apps, json_t *stopped);

/* Where a start takes its apps from, one at a time, so that the first
 * request goes while the later apps are still being made (resurrect reads
 * a thousand from the dump): the next spec (a new reference; *stopped set
 * to register it without starting it), or NULL after the last. */
struct app_source {
	json_t *(*next)(struct app_source *src, bool *stopped);
};

/* start_send() of the apps src gives; *n gets how many it gave. */
int start_send_from(struct ctx *x, struct app_source *src, size_t *n);

/* verbs_logs.c: --attach: follow the logs of the apps of these processes
 * until interrupted. */
int logs_attach(struct ctx *x, json_t *procs);
/* startOrRestart / startOrReload of a file: start what is missing, `action`
 * ("restart" or "reload") the rest with the file's settings. 0 or 1. */
int start_or_update(struct ctx *x, const char *file, const char *action);

/* ---- the verbs ---- */

int verb_start(struct ctx *x);
int verb_start_or_restart(struct ctx *x);
int verb_start_or_reload(struct ctx *x);
int verb_stop(struct ctx *x);
int verb_restart(struct ctx *x);
int verb_reload(struct ctx *x);
int verb_delete(struct ctx *x);
int verb_reset(struct ctx *x);
int verb_signal(struct ctx *x);
int verb_scale(struct ctx *x);
int verb_list(struct ctx *x);
int verb_set(struct ctx *x);
int verb_web(struct ctx *x);
/* Change settings (keys[i] to values[i], NULL: remove) in settings.json,
 * under its lock, without telling the daemon. 0 or 1 after saying why. */
int settings_change(struct ctx *x, const char *const *keys, const char *const *values,
    size_t n);
int verb_get(struct ctx *x);
int verb_unset(struct ctx *x);
int verb_jlist(struct ctx *x);
int verb_prettylist(struct ctx *x);
int verb_describe(struct ctx *x);
int verb_env(struct ctx *x);
int verb_pid(struct ctx *x);
int verb_id(struct ctx *x);
int verb_ready(struct ctx *x);
int verb_logs(struct ctx *x);
int verb_flush(struct ctx *x);
int verb_reload_logs(struct ctx *x);
int verb_save(struct ctx *x);
int verb_resurrect(struct ctx *x);
int verb_cleardump(struct ctx *x);
int verb_startup(struct ctx *x);
int verb_unstartup(struct ctx *x);
int verb_ping(struct ctx *x);
int verb_kill(struct ctx *x);
int verb_update(struct ctx *x);
int verb_config(struct ctx *x);
int verb_ecosystem(struct ctx *x);
int verb_monit(struct ctx *x);
int verb_deploy(struct ctx *x);
int verb_profile(struct ctx *x);
int verb_profile_cpu(struct ctx *x);
int verb_heapdump(struct ctx *x);

#endif
