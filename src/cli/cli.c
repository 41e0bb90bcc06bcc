/*
 * cli.c — `corral <verb>`: find the verb in the table, parse its options,
 * run it; and the helpers every verb uses to talk to the daemon and to say
 * what went wrong (verbs.h).
 *
 * Exit code 0 on success, 1 on failure with a one-line reason on stderr
 * ("corral <verb>: <what went wrong>"), 2 for usage errors.
 */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/complain.h"
#include "cli/conn.h"
#include "cli/remote.h"
#include "cli/render.h"
#include "cli/suggest.h"
#include "cli/verbs.h"
#include "common/paths.h"
#include "common/util.h"

typedef int (*verb_fn)(struct ctx *x);

struct verb {
	const char *name;
	const char *aliases[5];
	unsigned groups;
	verb_fn fn;
	const char *usage;
	const char *help;
	bool destructive;     /* stops, deletes, overwrites or signals something */
};

int
cli_fail(struct ctx *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cli_vcomplain(x->verb, fmt, ap);
	va_end(ap);
	return 1;
}

int
cli_connect(struct ctx *x, bool autostart)
{
	if (x->connected)
		return 0;
	char *err = NULL;
	int rc = conn_open(&x->paths, autostart, &x->conn, &err);
	if (rc == -ENOENT && !autostart)
		return rc;
	if (rc < 0) {
		cli_fail(x, "%s", err);
		free(err);
		return rc;
	}
	x->connected = true;
	return 0;
}

/* Send a request (consumed); the reply or NULL after printing the error. */
json_t *
cli_call(struct ctx *x, json_t *req, int timeout_ms)
{
	if (cli_connect(x, true) < 0) {
		json_decref(req);
		return NULL;
	}
	char *err = NULL;
	json_t *r = conn_call(&x->conn, req, timeout_ms, &err);
	json_decref(req);
	if (!r) {
		cli_fail(x, "%s", err);
		free(err);
	}
	return r;
}

json_t *
cli_targets(char **pos)
{
	json_t *t = json_array();
	for (size_t i = 0; pos && pos[i]; i++)
		json_array_append_new(t, json_string(pos[i]));
	return t;
}

/* A target that is a relative path to a file (`dist/server.js`): the
 * daemon compares it with the apps' absolute scripts, so it goes absolute,
 * as PM2 resolves it. Anything else as given. */
static json_t *
target_json(const char *t)
{
	struct stat st;
	if (t[0] != '/' && strchr(t, '/') && stat(t, &st) == 0 && S_ISREG(st.st_mode)) {
		char *abs = realpath(t, NULL);
		if (abs) {
			json_t *j = json_string(abs);
			free(abs);
			if (j)
				return j;
		}
	}
	return json_string(t);
}

json_t *
cli_process_targets(char **pos)
{
	json_t *t = json_array();
	for (size_t i = 0; pos && pos[i]; i++)
		json_array_append_new(t, target_json(pos[i]));
	return t;
}

/* Print the process table (or JSON) after an action. */
void
cli_print_procs(struct ctx *x, json_t *procs)
{
	if (args_has(&x->a, "json")) {
		render_json(stdout, procs, true);
		return;
	}
	json_t *req = json_pack("{s:s, s:b}", "cmd", "list", "brief", 1);
	char *err = NULL;
	json_t *r = conn_call(&x->conn, req, QUICK_TIMEOUT_MS, &err);
	json_decref(req);
	if (r) {
		render_list(stdout, json_object_get(r, "procs"));
		json_decref(r);
	} else {
		free(err);
		render_list(stdout, procs);
	}
}

void
cli_print_warnings(json_t *warnings)
{
	size_t i;
	json_t *w;
	json_array_foreach(warnings, i, w)
		fprintf(stderr, "corral: warning: %s\n", json_string_value(w));
}

char *
cli_current_dir(void)
{
	char buf[4096];
	if (!getcwd(buf, sizeof(buf)))
		return xstrdup("/");
	return xstrdup(buf);
}

/* cli_list_stream(), with the first reply in *head (when head is not
 * NULL: a new reference, or NULL). */
static int
list_stream(struct ctx *x, json_t *req, void (*chunk)(const char *text, size_t len,
    void *arg), void *arg, json_t **head)
{
	json_object_set_new(req, "stream", json_true());
	json_t *r = cli_call(x, req, QUICK_TIMEOUT_MS);
	if (head)
		*head = r ? json_incref(r) : NULL;
	if (!r)
		return -1;
	const char *follow = json_string_value(json_object_get(r, "procs_follow"));
	if (!follow || strcmp(follow, "chunks") != 0) {
		/* A daemon from before streams: the list is in the reply, or
		 * (raw) on the line after it. */
		char *text = NULL;
		size_t len = 0;
		if (json_is_true(json_object_get(r, "procs_follow"))) {
			char *line = conn_next_line(&x->conn, QUICK_TIMEOUT_MS, &len);
			text = line ? xstrndup(line, len) : NULL;
		} else {
			text = json_dumps(json_object_get(r, "procs"), JSON_COMPACT);
		}
		json_decref(r);
		if (!text) {
			cli_fail(x, "the daemon closed the connection");
			return -1;
		}
		chunk(text, strlen(text), arg);
		free(text);
		return 0;
	}
	json_decref(r);
	for (;;) {
		size_t len;
		char *line = conn_next_line(&x->conn, QUICK_TIMEOUT_MS, &len);
		if (!line) {
			cli_fail(x, "the daemon closed the connection");
			return -1;
		}
		if (len == 2 && line[0] == '[' && line[1] == ']')
			return 0;
		chunk(line, len, arg);
	}
}

int
cli_list_stream(struct ctx *x, json_t *req, void (*chunk)(const char *text, size_t len,
    void *arg), void *arg)
{
	return list_stream(x, req, chunk, arg, NULL);
}

/* Each chunk's processes appended to the array arg. */
static void
gather(const char *text, size_t len, void *arg)
{
	json_t *chunk = json_loadb(text, len, 0, NULL);
	json_array_extend(arg, chunk);
	json_decref(chunk);
}

static json_t *
list_procs(struct ctx *x, json_t *targets, bool env, bool brief, json_t **head)
{
	json_t *req = json_pack("{s:s, s:b, s:b}", "cmd", "list", "env", env, "brief", brief);
	if (targets)
		json_object_set(req, "targets", targets);
	json_t *procs = json_array();
	if (list_stream(x, req, gather, procs, head) < 0) {
		json_decref(procs);
		return NULL;
	}
	return procs;
}

json_t *
cli_list_procs(struct ctx *x, json_t *targets, bool env)
{
	return list_procs(x, targets, env, false, NULL);
}

json_t *
cli_list_brief(struct ctx *x, json_t *targets)
{
	return list_procs(x, targets, false, true, NULL);
}

json_t *
cli_list_table(struct ctx *x, json_t *targets, bool full, json_t **orphans)
{
	json_t *head = NULL;
	json_t *procs = list_procs(x, targets, false, !full, &head);
	*orphans = json_incref(json_object_get(head, "orphans"));
	json_decref(head);
	return procs;
}

/* Names in a list reply. */
json_t *
cli_running_names(json_t *procs)
{
	json_t *names = json_object();
	size_t i;
	json_t *p;
	json_array_foreach(procs, i, p)
		json_object_set_new(names, json_string_value(json_object_get(p, "name")), json_true());
	return names;
}


int
cli_usage_error(struct ctx *x)
{
	return cli_fail(x, "usage: corral %s", x->usage);
}

static int verb_help(struct ctx *x);

/* This binary's version, and the running daemon's (which `corral update`
 * changes) when one runs; never starts one. */
static int
verb_version(struct ctx *x)
{
	printf("corral %s\n", CORRAL_VERSION);
	if (cli_connect(x, false) < 0)
		return 0;
	char *err = NULL;
	json_t *req = json_pack("{s:s}", "cmd", "ping");
	json_t *r = conn_call(&x->conn, req, QUICK_TIMEOUT_MS, &err);
	json_decref(req);
	if (r)
		printf("daemon: corral %s (pid %d)\n",
		    json_string_value(json_object_get(r, "version")) ?: "?", x->conn.daemon_pid);
	json_decref(r);
	free(err);
	return 0;
}

/* What stop, restart, reload and delete accept: targets or a file. */
#define G_TARGETS (OG_CONFIG | OG_LIST)
/* For suggestions: the verb stops, deletes, overwrites or signals (or
 * it does not). */
#define DESTRUCTIVE true
#define SAFE false

static const struct verb verbs[] = {
	{"start", {0}, OG_START | OG_CONFIG | OG_LIST | OG_ATTACH, verb_start,
	    "start [script|command|ecosystem file|name|-]... [options] [-- args]",
	    "start apps (every app of an ecosystem file; - reads them as JSON from stdin)", SAFE},
	{"stop", {0}, G_TARGETS | OG_ACTION | OG_ATTACH, verb_stop, "stop <id|name|namespace|all|file>...",
	    "stop gracefully", DESTRUCTIVE},
	{"restart", {0}, G_TARGETS | OG_ACTION | OG_RESTART | OG_START | OG_ATTACH, verb_restart,
	    "restart <target>... [--update-env] [app options]", "stop then start again", DESTRUCTIVE},
	{"reload", {0}, G_TARGETS | OG_ACTION | OG_RESTART | OG_START | OG_ATTACH, verb_reload,
	    "reload <target>... [--parallel N] [app options]",
	    "zero-downtime replacement (cluster mode; fork mode restarts)", DESTRUCTIVE},
	{"delete", {"del", 0}, G_TARGETS, verb_delete, "delete <target>...", "stop and forget",
	    DESTRUCTIVE},
	{"reset", {0}, OG_LIST, verb_reset, "reset <target>...", "zero the restart counters",
	    DESTRUCTIVE},
	{"sendSignal", {"send-signal", 0}, 0, verb_signal, "sendSignal <signal> <target>...",
	    "send a signal to the main process", DESTRUCTIVE},
	{"scale", {0}, OG_LIST, verb_scale, "scale <app> <N|+N|-N>",
	    "change the number of instances live", DESTRUCTIVE},
	{"startOrRestart", {0}, G_TARGETS | OG_ACTION | OG_RESTART, verb_start_or_restart,
	    "startOrRestart <ecosystem file>", "start what is not running, restart the rest",
	    DESTRUCTIVE},
	{"startOrReload", {"startOrGracefulReload", 0}, G_TARGETS | OG_ACTION | OG_RESTART,
	    verb_start_or_reload, "startOrReload <ecosystem file>",
	    "start what is not running, reload the rest", DESTRUCTIVE},
	{"list", {"ls", "l", "ps", "status"}, OG_LIST | OG_SORT, verb_list,
	    "list [target] [--sort field[:asc|desc]]", "the process table", SAFE},
	{"jlist", {0}, 0, verb_jlist, "jlist", "the process list as JSON", SAFE},
	{"prettylist", {0}, 0, verb_prettylist, "prettylist",
	    "the process list as PM2 prints it (Node's object notation)", SAFE},
	{"describe", {"desc", "info", "show", 0}, OG_LIST, verb_describe, "describe <target>",
	    "everything about a process", SAFE},
	{"env", {0}, OG_LIST, verb_env, "env <id>", "the environment of a process", SAFE},
	{"monit", {"dash", "dashboard", 0}, 0, verb_monit, "monit",
	    "a live dashboard: processes, CPU and memory, logs, details", SAFE},
	{"pid", {0}, 0, verb_pid, "pid [name]", "pids of the running processes", SAFE},
	{"id", {0}, 0, verb_id, "id <name>", "pm_ids of an app, as PM2 prints them: [ 0, 1 ]", SAFE},
	{"logs", {"log", 0}, OG_LOGS, verb_logs,
	    "logs [target] [--lines N] [--err|--out] [--nostream] [--raw|--json|--format] "
	    "[--timestamp[=format]] [--highlight=word]", "print the last lines, then follow", SAFE},
	{"flush", {0}, 0, verb_flush, "flush [target]", "empty log files", DESTRUCTIVE},
	{"reloadLogs", {"reload-logs", 0}, 0, verb_reload_logs, "reloadLogs",
	    "reopen log files (after logrotate)", SAFE},
	{"set", {0}, 0, verb_set, "set <key> <value>",
	    "change a global setting (logrotate:max_size...; corral get lists them)", SAFE},
	{"get", {0}, 0, verb_get, "get [key]", "the global settings, or one of them", SAFE},
	{"unset", {0}, 0, verb_unset, "unset <key>", "put a global setting back to its default",
	    SAFE},
	{"save", {"dump", 0}, OG_SAVE, verb_save, "save [--force]", "save the process list",
	    DESTRUCTIVE},
	{"resurrect", {0}, OG_LIST, verb_resurrect, "resurrect", "start the saved process list", SAFE},
	{"cleardump", {0}, 0, verb_cleardump, "cleardump", "empty the saved process list",
	    DESTRUCTIVE},
	{"startup", {0}, OG_STARTUP, verb_startup,
	    "startup [systemd] [-u user] [--hp home] [--service-name name] [--print] [--wait-ip]",
	    "install a systemd unit that runs resurrect at boot (as root)", DESTRUCTIVE},
	{"unstartup", {0}, OG_UNSTARTUP, verb_unstartup,
	    "unstartup [systemd] [-u user] [--service-name name]",
	    "disable and remove that unit (as root)", DESTRUCTIVE},
	{"ping", {0}, OG_LIST, verb_ping, "ping", "check the daemon (starts it if needed)", SAFE},
	{"kill", {0}, 0, verb_kill, "kill", "stop every app, then the daemon", DESTRUCTIVE},
	{"update", {0}, 0, verb_update, "update",
	    "replace the daemon with the corral binary on disk; every app keeps running",
	    SAFE},
	{"config", {0}, OG_CONFIG, verb_config, "config [file] [--env name] [--only a,b] [--json]",
	    "show an ecosystem file as corral will run it", SAFE},
	{"ecosystem", {"init", 0}, OG_SAVE, verb_ecosystem, "ecosystem",
	    "write a sample ecosystem.config.js", SAFE},
	{"deploy", {0}, OG_DEPLOY, verb_deploy,
	    "deploy [ecosystem file] <env> [setup|update|revert [n]|curr|prev|list|exec <cmd>|<ref>]",
	    "ship a release of the file's deploy.<env> to its hosts over ssh and git", SAFE},
	{"runtime", {0}, OG_START | OG_CONFIG | OG_RUNTIME, NULL,
	    "runtime <ecosystem file|script> [start options] [--json|--raw|--format|--formatted] "
	    "[--no-auto-exit]",
	    "run the apps in the foreground, as a container's entry point (also corral-runtime)",
	    SAFE},
	{"profile", {0}, OG_PROFILE, verb_profile,
	    "profile start|stop <app|id|all> [--heap] | profile <app|id|all> [--duration 10s] "
	    "[--heap] | profile list|clean",
	    "CPU or heap profiles of running instances, in $CORRAL_HOME/profiles", SAFE},
	{"profile:cpu", {0}, OG_PROFILE, verb_profile_cpu, "profile:cpu <app|id> [duration]",
	    "PM2's spelling of corral profile <app> --duration", SAFE},
	{"profile:mem", {0}, OG_PROFILE, verb_profile_cpu, "profile:mem <app|id> [duration]",
	    "PM2's spelling of corral profile <app> --duration --heap", SAFE},
	{"heapdump", {0}, OG_HEAPDUMP, verb_heapdump, "heapdump <app|id> [file]",
	    "a V8 heap snapshot of a Node instance (steered out of its listeners meanwhile)",
	    SAFE},
	{"web", {0}, OG_WEB | OG_LIST, verb_web,
	    "web start [--listen 127.0.0.1:9615] [--token-file FILE] | web stop | web status",
	    "serve Prometheus metrics, a JSON API, health checks and a dashboard over HTTP",
	    SAFE},
	{"ready", {0}, 0, verb_ready, "ready [app]...",
	    "exit 0 when every instance that should run is online and ready (probes)", SAFE},
	{"daemon", {0}, 0, NULL, "daemon", "run the daemon (started on demand)", SAFE},
	{"version", {0}, 0, verb_version, "version",
	    "print the version (and the running daemon's)", SAFE},
	{"help", {0}, 0, verb_help, "help [verb]", "this help", SAFE},
};

/* More for `corral help <verb>` than its usage line: the verbs whose use is
 * not said by their options (monit's keys). */
static const struct {
	const char *verb;
	const char *text;
} verb_details[] = {
	{"web",
	    "The daemon serves HTTP (off until started): GET /metrics (Prometheus), /healthz,\n"
	    "/readyz, /api/v1/processes[/<id|name>], /api/v1/logs/<id|name>?lines=N,\n"
	    "/api/v1/events (Server-Sent Events), / (a dashboard); POST\n"
	    "/api/v1/processes/<id|name>/{restart,reload,stop,start} and\n"
	    "/api/v1/apps/<name>/scale?count=N with Authorization: Bearer <token>. The\n"
	    "address and token file are kept in settings.json (web:listen, web:token_file),\n"
	    "so the server comes back with the daemon; CORRAL_WEB_LISTEN and\n"
	    "CORRAL_WEB_TOKEN_FILE set them for corral runtime. docs/web.md has the details."},
	{"monit",
	    "A full-screen view of every process that stays light with hundreds of them: the\n"
	    "process pane (status, pid, uptime, restarts, CPU and memory with gauges, and for\n"
	    "cluster apps the load-balancing state and accept-queue depth), the logs of the\n"
	    "selected instance or app as they come, and its details (with the in-app metrics\n"
	    "of Node apps and of apps that send them) and a CPU and memory history. It\n"
	    "reconnects by itself when the daemon goes away and comes back.\n"
	    "\nkeys:\n"
	    "  Up/Down, k/j     select a process (scroll the focused pane)\n"
	    "  PgUp/PgDn        a page up/down in the focused pane\n"
	    "  Home/End         the first/last line\n"
	    "  Tab              the next pane: processes, logs, detail\n"
	    "  /                filter rows by name or namespace (Enter keeps it, Esc clears it)\n"
	    "  l                the logs of the selected instance / of its whole app\n"
	    "  r, R, s, S       restart, reload, stop, start the selection (asks y/n first;\n"
	    "                   the whole app when l shows the app's logs)\n"
	    "  ?                the keys\n"
	    "  q, Esc, Ctrl-C   quit\n"
	    "Without colours (a terminal without them, or NO_COLOR set) it stays readable."},
	{"deploy",
	    "The file's deploy.<env> section is PM2's (user, host, port, key, ssh_options,\n"
	    "forward-agent, repo, ref, path, fetch, env, pre-setup, post-setup,\n"
	    "pre-deploy-local, pre-deploy, post-deploy) plus keep_releases (5) and\n"
	    "max_parallel. Without a file, ecosystem.config.js (or PM2's other names) here.\n"
	    "\ncommands:\n"
	    "  setup            clone the repo into path/source on every host\n"
	    "  update           (the default) fetch, check out path/releases/<time>, run\n"
	    "                   post-deploy there, then switch path/current to it\n"
	    "  <ref>            the same with that ref\n"
	    "  revert [n]       post-deploy in the release n back, then switch to it\n"
	    "  curr, prev       the current / previous release and commit\n"
	    "  list             every switch: release, commit, date, who\n"
	    "  exec \"<cmd>\"     run a command in path/current on every host\n"
	    "A failed step leaves current on the old release. With several hosts,\n"
	    "they are prepared in parallel, then switched one by one, stopping at the\n"
	    "first failure. docs/deploy.md has the details.\n"
	    "\ncorral --host ssh://user@host[:port] <command> (or CORRAL_HOST) runs any\n"
	    "other command by the corral of that host, through ssh."},
	{"profile",
	    "Node apps are profiled by corral's agent inside them (node --require\n"
	    "$CORRAL_HOME/agent.js; disable_agent turns it off): .cpuprofile files (Chrome\n"
	    "DevTools, speedscope) or, with --heap, .heapprofile. Other programs are recorded\n"
	    "with perf: <file>.perf.data and <file>.folded (collapsed stacks for flame-graph\n"
	    "tools and speedscope). Files: $CORRAL_HOME/profiles/\n"
	    "<name>-<pm_id>-<pid>-<time>.<ext>, mode 0600; the command prints their paths.\n"
	    "profile list shows them with their sizes, profile clean removes them.\n"
	    "docs/profiling.md says how to open each."},
	{"heapdump",
	    "Writes a .heapsnapshot (Chrome DevTools, Memory tab) to $CORRAL_HOME/profiles or\n"
	    "to the file given. A cluster instance takes no new connections while the\n"
	    "snapshot pauses it, and gets them back after."},
};

static const struct verb *
find_verb(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(verbs); i++) {
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
		for (size_t k = 0; verbs[i].aliases[k]; k++)
			if (strcmp(verbs[i].aliases[k], name) == 0)
				return &verbs[i];
	}
	return NULL;
}

static void
usage(FILE *f)
{
	fprintf(f, "corral %s — a process manager for apps in any language\n\n"
	    "usage: corral <command> [arguments] [options]\n\ncommands:\n", CORRAL_VERSION);
	for (size_t i = 0; i < ARRAY_LEN(verbs); i++)
		fprintf(f, "  %-16s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\nstate lives in $CORRAL_HOME (default ~/.corral). "
	    "corral help <command> shows its options.\n");
	fprintf(f, "corral --host ssh://user@host[:port] <command> runs it on that host "
	    "(also CORRAL_HOST).\n");
}

static void
verb_usage(FILE *f, const struct verb *v)
{
	fprintf(f, "usage: corral %s\n%s\n", v->usage, v->help);
	for (size_t i = 0; i < ARRAY_LEN(verb_details); i++)
		if (strcmp(verb_details[i].verb, v->name) == 0)
			fprintf(f, "\n%s\n", verb_details[i].text);
	bool header = false;
	for (const struct opt_def *o = args_options; o->lng; o++) {
		if (!(o->groups & v->groups))
			continue;
		if (!header)
			fprintf(f, "\noptions:\n");
		header = true;
		char left[64];
		if (o->shrt)
			snprintf(left, sizeof(left), "-%c, --%s%s", o->shrt, o->lng,
			    o->arg == 1 ? " <value>" : o->arg == 2 ? "[=value]" : "");
		else
			snprintf(left, sizeof(left), "    --%s%s", o->lng,
			    o->arg == 1 ? " <value>" : o->arg == 2 ? "[=value]" : "");
		fprintf(f, "  %-36s %s\n", left, o->help);
	}
}

static int
verb_help(struct ctx *x)
{
	const struct verb *v = x->a.pos[0] ? find_verb(x->a.pos[0]) : NULL;
	if (v)
		verb_usage(stdout, v);
	else
		usage(stdout);
	return 0;
}

/* A command corral does not know: what to use instead of a PM2 command it
 * lacks, or the verb a typo was meant to be (suggest.h has the rule). */
static int
unknown_verb(const char *name)
{
	const char *instead = suggest_pm2_alternative(name);
	if (instead) {
		fprintf(stderr, "corral %s: not in corral; %s\n", name, instead);
		return 2;
	}
	const char *best = NULL;
	int best_d = INT_MAX;
	for (size_t i = 0; i < ARRAY_LEN(verbs); i++) {
		const char *names[ARRAY_LEN(verbs[i].aliases) + 1] = {verbs[i].name};
		memcpy(names + 1, verbs[i].aliases, sizeof(verbs[i].aliases));
		for (size_t k = 0; k < ARRAY_LEN(names) && names[k]; k++) {
			int d = str_distance(name, names[k]);
			if (d < best_d && verbs[i].fn && suggest_near_miss(name, names[k],
			    verbs[i].destructive)) {
				best_d = d;
				best = names[k];
			}
		}
	}
	if (best)
		fprintf(stderr, "corral: unknown command \"%s\" (did you mean \"%s\"?)\n", name, best);
	else
		fprintf(stderr, "corral: unknown command \"%s\" (corral help lists them)\n", name);
	return 2;
}

static void
no_effect_warning(const char *opt, const char *why)
{
	fprintf(stderr, "corral: warning: --%s is accepted but has no effect in corral (%s)\n",
	    opt, why);
}

int
cli_main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	/* --host ssh://user@host[:port] (or CORRAL_HOST): the host's corral runs
	 * the command; deploy, help and version stay here. */
	const char *host = NULL;
	if (strcmp(argv[1], "--host") == 0 || str_starts(argv[1], "--host=")) {
		int skip = argv[1][6] == '=' ? 1 : 2;
		host = skip == 1 ? argv[1] + 7 : argv[2];
		if (!host || argc <= skip + 1) {
			fprintf(stderr, "corral: usage: corral --host ssh://[user@]host[:port] "
			    "<command> [arguments]\n");
			return 2;
		}
		argc -= skip;
		argv += skip;
	} else if (getenv("CORRAL_HOST") && *getenv("CORRAL_HOST")) {
		host = getenv("CORRAL_HOST");
	}
	if (host && strcmp(argv[1], "deploy") != 0 && strcmp(argv[1], "help") != 0 &&
	    strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0 &&
	    strcmp(argv[1], "version") != 0 && strcmp(argv[1], "--version") != 0)
		return remote_run(host, argc - 1, argv + 1);
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "-v") == 0 || strcmp(name, "-V") == 0) {
		printf("corral %s\n", CORRAL_VERSION);
		return 0;
	}
	const struct verb *v = find_verb(name);
	if (!v)
		return unknown_verb(name);
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			verb_usage(stdout, v);
			return 0;
		}
	}
	if (!v->fn) {           /* `corral daemon`, `runtime`: main() runs them */
		verb_usage(stderr, v);
		return 2;
	}

	struct ctx x;
	memset(&x, 0, sizeof(x));
	x.verb = v->name;
	x.usage = v->usage;
	char *err = NULL;
	if (args_parse(argc - 1, argv + 1, v->groups, &x.a, &err) < 0) {
		fprintf(stderr, "%s\n", err);
		free(err);
		return 2;
	}
	x.a.verb = v->name;
	if (paths_init(&x.paths, &err) < 0) {
		fprintf(stderr, "corral %s: %s\n", v->name, err);
		free(err);
		args_free(&x.a);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	args_each_no_effect(&x.a, no_effect_warning);
	if (args_has(&x.a, "no-color"))
		setenv("NO_COLOR", "1", 1);
	/* --silent: only errors are printed (stderr); stdout goes nowhere. */
	if (args_has(&x.a, "silent") && !freopen("/dev/null", "w", stdout))
		fprintf(stderr, "corral %s: --silent: cannot silence the output: %s\n", v->name,
		    strerror(errno));
	int rc = v->fn(&x);
	if (x.some_failed)
		rc = rc ? rc : 1;
	if (x.connected)
		conn_close(&x.conn);
	args_free(&x.a);
	paths_free(&x.paths);
	fflush(stdout);
	return rc;
}

