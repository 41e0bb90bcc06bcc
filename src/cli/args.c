/*
 * args.c — option table and parser.
 */
#include "cli/args.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli/suggest.h"
#include "common/util.h"

#define S OG_START
#define A OG_ACTION

const struct opt_def args_options[] = {
	{"name", 'n', 1, S, "name", NULL, "name of the app"},
	{"instances", 'i', 1, S, "instances", NULL, "number of instances (max, 0, -1: per CPU) — cluster mode"},
	{"exec-mode", 0, 1, S, "exec_mode", NULL, "fork or cluster"},
	{"execute-command", 'x', 0, S, "exec_mode", "fork", "force fork mode"},
	{"interpreter", 0, 1, S, "interpreter", NULL, "program that runs the script (none: run it directly)"},
	{"interpreter-args", 0, 1, S, "interpreter_args", NULL, "arguments for the interpreter"},
	{"node-args", 0, 1, S, "interpreter_args", NULL, "alias of --interpreter-args"},
	{"cwd", 0, 1, S, "cwd", NULL, "working directory of the app"},
	{"namespace", 0, 1, S, "namespace", NULL, "namespace of the app"},
	{"kill-timeout", 'k', 1, S, "kill_timeout", NULL, "ms between the stop signal and SIGKILL (default 1600)"},
	{"kill-signal", 0, 1, S, "kill_signal", NULL, "stop signal (default SIGINT)"},
	{"no-autorestart", 0, 0, S, "autorestart", "false", "never restart on exit"},
	{"no-autostart", 0, 0, S, "autostart", "false", "register the app without starting it"},
	{"max-restarts", 0, 1, S, "max_restarts", NULL, "unstable restarts in a row before errored (16)"},
	{"min-uptime", 0, 1, S, "min_uptime", NULL, "a shorter run is unstable (default 1000 ms)"},
	{"restart-delay", 0, 1, S, "restart_delay", NULL, "delay before an automatic restart"},
	{"exp-backoff-restart-delay", 0, 1, S, "exp_backoff_restart_delay", NULL, "first delay of the exponential backoff"},
	{"stop-exit-codes", 0, 1, S, "stop_exit_codes", NULL, "exit codes that do not restart (0,143)"},
	{"output", 'o', 1, S, "out_file", NULL, "stdout log file"},
	{"error", 'e', 1, S, "error_file", NULL, "stderr log file"},
	{"log", 'l', 2, S, "log_file", "true", "combined log file (--log=path; default path without)"},
	{"pid", 'p', 1, S, "pid_file", NULL, "pid file"},
	{"time", 0, 0, S, "time", "true", "prefix log lines with the time"},
	{"log-date-format", 0, 1, S, "log_date_format", NULL, "time prefix format (YYYY-MM-DD HH:mm:ss or strftime)"},
	{"log-type", 0, 1, S, "log_type", NULL, "json: one JSON object per log line"},
	{"merge-logs", 0, 0, S, "merge_logs", "true", "one log file for all instances"},
	{"disable-logs", 0, 0, S, "disable_logs", "true", "drop the app's output"},
	{"max-memory-restart", 0, 1, S, "max_memory_restart", NULL, "restart above this memory (300M, 1G)"},
	{"cron-restart", 'c', 1, S, "cron_restart", NULL, "restart on a cron schedule"},
	{"cron", 0, 1, S, "cron_restart", NULL, "alias of --cron-restart"},
	{"ignore-watch", 0, 1, S, "ignore_watch", NULL, "paths not to watch"},
	{"watch-delay", 0, 1, S, "watch_delay", NULL, "debounce before a watch restart (seconds, or 500ms)"},
	{"wait-ready", 0, 0, S, "wait_ready", "true", "online only after process.send('ready') or READY=1"},
	{"listen-timeout", 0, 1, S, "listen_timeout", NULL, "how long to wait for readiness (default 3000 ms)"},
	{"shutdown-with-message", 0, 0, S, "shutdown_with_message", "true", "stop Node apps with the 'shutdown' message"},
	{"no-treekill", 0, 0, S, "treekill", "false", "signal only the main process, not its children"},
	{"uid", 'u', 1, S, "uid", NULL, "run as this user (root only)"},
	{"gid", 'g', 1, S, "gid", NULL, "run as this group (root only)"},
	{"port", 0, 1, S, "port", NULL, "sets PORT in the app's environment"},
	{"instance-var", 0, 1, S, "instance_var", NULL, "variable holding the instance index (NODE_APP_INSTANCE)"},
	{"increment-var", 0, 1, S, "increment_var", NULL, "variable incremented per instance"},
	{"filter-env", 0, 1, S, "filter_env", NULL, "do not pass on shell variables containing this"},
	{"lb", 0, 1, S, "lb", NULL, "cluster balancing: least-busy (default), even, sticky, shared"},
	{"listen", 0, 1, S, "listen", NULL, "pass this address as LISTEN_FDS (systemd socket activation)"},
	{"share-ports", 0, 1, S, "share_ports", NULL, "share only these ports in cluster mode (3000,3001)"},
	{"watch", 'w', 2, S | A, "watch", "true", "restart on file changes (--watch=dir1,dir2 for paths); restart --watch toggles, stop --watch ends it"},
	{"force", 'f', 0, S | OG_RESTART | OG_SAVE, NULL, NULL, "start another copy / overwrite"},
	{"env", 0, 1, S | OG_CONFIG | A, NULL, NULL, "use env_<name> of the ecosystem file"},
	{"only", 0, 1, S | OG_CONFIG | A, NULL, NULL, "only these apps of the ecosystem file (a,b)"},
	{"update-env", 'a', 0, OG_RESTART, NULL, NULL, "give the app the current shell environment"},
	{"parallel", 0, 1, OG_RESTART, NULL, NULL, "reload this many instances at a time"},
	{"json", 0, 0, S | A | OG_LIST | OG_CONFIG | OG_LOGS, NULL, NULL, "print JSON"},
	{"sort", 0, 1, OG_SORT, NULL, NULL, "order by name, namespace, id, pid, cpu, mem, uptime, restarts or status; field:desc reverses"},
	{"lines", 0, 1, OG_LOGS, NULL, NULL, "how many lines of each log to print first (15)"},
	{"raw", 0, 0, OG_LOGS, NULL, NULL, "no id|name| prefix"},
	{"err", 0, 0, OG_LOGS, NULL, NULL, "only the error stream"},
	{"out", 0, 0, OG_LOGS, NULL, NULL, "only the output stream"},
	{"nostream", 0, 0, OG_LOGS, NULL, NULL, "print and exit, do not follow"},
	{"timestamp", 0, 2, OG_LOGS, NULL, NULL, "put the time before each live line (--timestamp=HH:mm:ss; default YYYY-MM-DD-HH:mm:ss)"},
	{"format", 0, 0, OG_LOGS, NULL, NULL, "key=value lines: timestamp= app= id= type= message="},
	{"highlight", 0, 2, OG_LOGS, NULL, NULL, "mark this word on a terminal (--highlight=word)"},
	{"user", 'u', 1, OG_STARTUP | OG_UNSTARTUP, NULL, NULL, "the user the service runs as (default: you)"},
	{"hp", 0, 1, OG_STARTUP, NULL, NULL, "that user's home (CORRAL_HOME is <home>/.corral unless set)"},
	{"service-name", 0, 1, OG_STARTUP | OG_UNSTARTUP, NULL, NULL, "name of the systemd unit (default corral-<user>)"},
	{"print", 0, 0, OG_STARTUP, NULL, NULL, "print the unit and how to install it; install nothing"},
	{"wait-ip", 0, 0, OG_STARTUP, NULL, NULL, "start once the network is online (network-online.target)"},
	{NULL, 0, 0, 0, NULL, NULL, NULL},
};

#undef S
#undef A

static const struct opt_def *
find_long(const char *name)
{
	for (const struct opt_def *o = args_options; o->lng; o++)
		if (strcmp(o->lng, name) == 0)
			return o;
	return NULL;
}

/* The option -c means for a verb accepting `groups`: a letter may serve
 * verbs that never meet (-u is --uid for start, --user for startup, as
 * in PM2). Outside them, the first option with that letter. */
static const struct opt_def *
find_short(char c, unsigned groups)
{
	const struct opt_def *first = NULL;
	for (const struct opt_def *o = args_options; o->lng; o++) {
		if (o->shrt != c)
			continue;
		if (o->groups & groups)
			return o;
		if (!first)
			first = o;
	}
	return first;
}

const char *
args_suggest_option(const char *typed, unsigned groups)
{
	const char *best = NULL;
	int best_d = INT_MAX;
	for (const struct opt_def *o = args_options; o->lng; o++) {
		int d = str_distance(typed, o->lng);
		if (d < best_d && (o->groups & groups) && suggest_near_miss(typed, o->lng, false)) {
			best_d = d;
			best = o->lng;
		}
	}
	return best;
}

static void
push(char ***v, size_t *n, const char *s)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(**v));
	(*v)[(*n)++] = xstrdup(s);
	(*v)[*n] = NULL;
}

static int
unknown(const char *verb, const char *shown, const char *name, unsigned groups, char **err)
{
	const char *sugg = args_suggest_option(name, groups);
	if (sugg)
		*err = xasprintf("corral %s: unknown option %s (did you mean --%s?)", verb, shown, sugg);
	else
		*err = xasprintf("corral %s: unknown option %s (see corral %s --help)", verb, shown, verb);
	return -EINVAL;
}

int
args_parse(int argc, char **argv, unsigned groups, struct args *out, char **err)
{
	memset(out, 0, sizeof(*out));
	out->verb = argv[0];
	out->opts = json_object();
	size_t npos = 0, nrest = 0;
	out->pos = xcalloc(1, sizeof(char *));
	out->rest = xcalloc(1, sizeof(char *));
	/* Everything goes to the daemon as JSON text: a string that is not
	 * UTF-8 would be dropped on the way, silently. */
	for (int i = 1; i < argc; i++) {
		if (!utf8_valid(argv[i], strlen(argv[i]))) {
			*err = xasprintf("corral %s: argument %d is not valid UTF-8 (names, paths "
			    "and arguments must be text)", argv[0], i);
			args_free(out);
			return -EINVAL;
		}
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			for (i++; i < argc; i++)
				push(&out->rest, &nrest, argv[i]);
			break;
		}
		if (a[0] != '-' || a[1] == '\0' || (a[1] >= '0' && a[1] <= '9')) {
			/* "-" and negative numbers ("scale api -1") are arguments. */
			push(&out->pos, &npos, a);
			continue;
		}
		const struct opt_def *o;
		char name[64];
		const char *inline_val = NULL;
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
			if (len >= sizeof(name))
				len = sizeof(name) - 1;
			memcpy(name, a + 2, len);
			name[len] = '\0';
			inline_val = eq ? eq + 1 : NULL;
			o = find_long(name);
			if (!o) {
				args_free(out);
				return unknown(argv[0], a, name, groups, err);
			}
		} else {
			if (a[2] != '\0') {
				/* -i4 is -i 4; -fn is not supported (ambiguous). */
				inline_val = a + 2;
			}
			o = find_short(a[1], groups);
			if (!o) {
				char shown[3] = {'-', a[1], 0};
				args_free(out);
				return unknown(argv[0], shown, shown + 1, groups, err);
			}
			snprintf(name, sizeof(name), "%s", o->lng);
		}
		if (!(o->groups & groups)) {
			*err = xasprintf("corral %s: option --%s does not apply to %s", argv[0], o->lng, argv[0]);
			args_free(out);
			return -EINVAL;
		}
		const char *val = inline_val;
		if (!val && o->arg == 1) {
			if (i + 1 >= argc || strcmp(argv[i + 1], "--") == 0) {
				*err = xasprintf("corral %s: option --%s needs a value", argv[0], o->lng);
				args_free(out);
				return -EINVAL;
			}
			val = argv[++i];
		} else if (val && o->arg == 0) {
			*err = xasprintf("corral %s: option --%s takes no value", argv[0], o->lng);
			args_free(out);
			return -EINVAL;
		}
		json_object_set_new(out->opts, o->lng, val ? json_string(val) : json_true());
	}
	return 0;
}

void
args_free(struct args *a)
{
	for (size_t i = 0; a->pos && a->pos[i]; i++)
		free(a->pos[i]);
	free(a->pos);
	for (size_t i = 0; a->rest && a->rest[i]; i++)
		free(a->rest[i]);
	free(a->rest);
	json_decref(a->opts);
	memset(a, 0, sizeof(*a));
}

const char *
args_get(const struct args *a, const char *lng)
{
	json_t *v = json_object_get(a->opts, lng);
	return json_is_string(v) ? json_string_value(v) : (v ? "true" : NULL);
}

bool
args_has(const struct args *a, const char *lng)
{
	return json_object_get(a->opts, lng) != NULL;
}

json_t *
args_app_fields(const struct args *a)
{
	json_t *app = json_object();
	const char *key;
	json_t *v;
	json_object_foreach(a->opts, key, v) {
		const struct opt_def *o = find_long(key);
		if (!o || !o->field)
			continue;
		const char *val = json_is_string(v) ? json_string_value(v) : o->flag_value;
		if (!val)
			continue;
		/* watch with paths: "a,b" → ["a","b"] */
		if (strcmp(o->field, "watch") == 0 && json_is_string(v)) {
			json_t *arr = json_array();
			char *copy = xstrdup(val), *save = NULL;
			for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
				json_array_append_new(arr, json_string(t));
			free(copy);
			json_object_set_new(app, "watch", arr);
			continue;
		}
		if ((strcmp(o->field, "ignore_watch") == 0 || strcmp(o->field, "listen") == 0 ||
		    strcmp(o->field, "share_ports") == 0) && strchr(val, ',')) {
			json_t *arr = json_array();
			char *copy = xstrdup(val), *save = NULL;
			for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
				json_array_append_new(arr, json_string(t));
			free(copy);
			json_object_set_new(app, o->field, arr);
			continue;
		}
		json_object_set_new(app, o->field, json_string(val));
	}
	return app;
}
