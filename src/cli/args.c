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

/* The start options of the app fields in common/fields.def; a field's
 * help ends with its default, from the field's spec tag. */
#define ARGS_VALUE(field_, name_, letter_, help_) \
	{.lng = name_, .shrt = letter_, .arg = 1, .groups = OG_START, .field = field_, .help = help_},
#define ARGS_OPTIONAL(field_, name_, letter_, help_) \
	{.lng = name_, .shrt = letter_, .arg = 2, .groups = OG_START, .field = field_, \
	 .flag_value = "true", .help = help_},
#define ARGS_SET(field_, name_, letter_, help_) \
	{.lng = name_, .shrt = letter_, .groups = OG_START, .field = field_, \
	 .flag_value = "true", .help = help_},
#define ARGS_UNSET(field_, name_, letter_, help_) \
	{.lng = name_, .shrt = letter_, .groups = OG_START, .field = field_, \
	 .flag_value = "false", .help = help_},
#define ARGS_NOOPT(field_, name_, letter_, help_)
#define FIELD(key, kind, tag, opt, name, letter, aliases, help) \
	ARGS_##opt(#key, name, letter, help tag)
#define INPUT(key, kind, opt, name, letter, aliases, help) \
	ARGS_##opt(#key, name, letter, help)
#define COMPUTED(key, tag)
#define OPTION(key, name_, letter_, arg_, groups_, value_, help_) \
	{.lng = name_, .shrt = letter_, .arg = arg_, .groups = groups_, .field = #key, \
	 .flag_value = value_, .help = help_},
#define REQUIRED ""
#define STR(text) " (default: " #text ")"
#define STR_NULL ""
#define STRV ""
#define INT(n, lo, hi) " (default: " #n ")"
#define MS(n) " (default: " #n " ms)"
#define BOOL(b) ""
#define INTV(lo, hi) ""
#define ENV ""
#define ENUM(text, names) " (default: " #text ")"
#define HIDDEN(tag) ""

#define S OG_START
#define A OG_ACTION

const struct opt_def args_options[] = {
#include "common/fields.def"
	{.lng = "force", .shrt = 'f', .arg = 0, .groups = S | OG_RESTART | OG_SAVE | OG_DEPLOY, .help = "start another copy / overwrite (deploy: from a tree with changes)"},
	{.lng = "env", .shrt = 0, .arg = 1, .groups = S | OG_CONFIG | A, .help = "use env_<name> of the ecosystem file"},
	{.lng = "only", .shrt = 0, .arg = 1, .groups = S | OG_CONFIG | A, .help = "only these apps of the ecosystem file (a,b)"},
	{.lng = "update-env", .shrt = 'a', .arg = 0, .groups = OG_RESTART, .help = "give the app the current shell environment"},
	{.lng = "parallel", .shrt = 0, .arg = 1, .groups = OG_RESTART, .help = "reload this many instances at a time"},
	{.lng = "json", .shrt = 0, .arg = 0, .groups = S | A | OG_LIST | OG_CONFIG | OG_LOGS | OG_RUNTIME, .help = "print JSON (runtime: one object per log line)"},
	{.lng = "sort", .shrt = 0, .arg = 1, .groups = OG_SORT, .help = "order by name, namespace, id, pid, cpu, mem, uptime, restarts or status; field:desc reverses"},
	{.lng = "lines", .shrt = 0, .arg = 1, .groups = OG_LOGS, .help = "how many lines of each log to print first (15)"},
	{.lng = "raw", .shrt = 0, .arg = 0, .groups = OG_LOGS | OG_RUNTIME, .help = "no id|name| prefix"},
	{.lng = "err", .shrt = 0, .arg = 0, .groups = OG_LOGS, .help = "only the error stream"},
	{.lng = "out", .shrt = 0, .arg = 0, .groups = OG_LOGS, .help = "only the output stream"},
	{.lng = "nostream", .shrt = 0, .arg = 0, .groups = OG_LOGS, .help = "print and exit, do not follow"},
	{.lng = "timestamp", .shrt = 0, .arg = 2, .groups = OG_LOGS, .help = "put the time before each live line (--timestamp=HH:mm:ss; default YYYY-MM-DD-HH:mm:ss)"},
	{.lng = "format", .shrt = 0, .arg = 0, .groups = OG_LOGS | OG_RUNTIME, .help = "key=value lines: timestamp= app= id= type= message="},
	{.lng = "formatted", .shrt = 0, .arg = 0, .groups = OG_RUNTIME, .help = "id|name | prefix (the default)"},
	{.lng = "no-auto-exit", .shrt = 0, .arg = 0, .groups = OG_RUNTIME, .help = "keep running when every app has stopped for good"},
	{.lng = "highlight", .shrt = 0, .arg = 2, .groups = OG_LOGS, .help = "mark this word on a terminal (--highlight=word)"},
	{.lng = "user", .shrt = 'u', .arg = 1, .groups = OG_STARTUP | OG_UNSTARTUP, .help = "the user the service runs as (default: you)"},
	{.lng = "hp", .shrt = 0, .arg = 1, .groups = OG_STARTUP, .help = "that user's home (CORRAL_HOME is <home>/.corral unless set)"},
	{.lng = "service-name", .shrt = 0, .arg = 1, .groups = OG_STARTUP | OG_UNSTARTUP, .help = "name of the systemd unit (default corral-<user>)"},
	{.lng = "print", .shrt = 0, .arg = 0, .groups = OG_STARTUP, .help = "print the unit and how to install it; install nothing"},
	{.lng = "wait-ip", .shrt = 0, .arg = 0, .groups = OG_STARTUP, .help = "start once the network is online (network-online.target)"},
	{.lng = "silent", .shrt = 's', .arg = 0, .groups = OG_ALL, .help = "print nothing but errors"},
	{.lng = "attach", .shrt = 0, .arg = 0, .groups = OG_ATTACH, .help = "then follow the apps' logs (Ctrl-C leaves them running)"},
	{.lng = "duration", .shrt = 0, .arg = 1, .groups = OG_PROFILE, .help = "profile for this long, like 10s or 500ms (default 10s)"},
	{.lng = "timeout", .shrt = 0, .arg = 1, .groups = OG_PROFILE | OG_HEAPDUMP, .help = "how long to wait for a Node app's answer (default 15s; heapdump 2m)"},
	{.lng = "heap", .shrt = 0, .arg = 0, .groups = OG_PROFILE, .help = "a sampling heap profile (.heapprofile) instead of a CPU one"},
	{.lng = "no-daemon", .shrt = 0, .arg = 0, .groups = S, .help = "(PM2's foreground mode: use corral runtime)"},
	/* PM2's start options that change nothing in corral. */
	{.lng = "no-vizion", .shrt = 0, .arg = 0, .groups = S, .help = "(no effect)", .no_effect = "corral does not read git metadata"},
	{.lng = "source-map-support", .shrt = 0, .arg = 0, .groups = S, .help = "(no effect)", .no_effect = "use node's --enable-source-maps in node_args"},
	{.lng = "disable-source-map-support", .shrt = 0, .arg = 0, .groups = S, .help = "(no effect)", .no_effect = "corral adds no source map support"},
	{.lng = "deep-monitoring", .shrt = 0, .arg = 0, .groups = S, .help = "(no effect)", .no_effect = "corral's agent has no tracing or extra probes"},
	{.lng = "trace", .shrt = 0, .arg = 0, .groups = S, .help = "(no effect)", .no_effect = "corral's agent has no tracing or extra probes"},
	{.lng = "disable-trace", .shrt = 0, .arg = 0, .groups = S, .help = "(no effect)", .no_effect = "corral's agent has no tracing or extra probes"},
	{.lng = "v8", .shrt = 0, .arg = 0, .groups = S, .help = "(no effect)", .no_effect = "corral's agent has no tracing or extra probes"},
	{.lng = "event-loop-inspector", .shrt = 0, .arg = 0, .groups = S, .help = "(no effect)", .no_effect = "corral's agent has no tracing or extra probes"},
	{.lng = "ext", .shrt = 0, .arg = 1, .groups = S, .help = "(no effect)", .no_effect = "--watch restarts on a change to any file not ignored (--ignore-watch)"},
	{.lng = "serial", .shrt = 0, .arg = 0, .groups = OG_DEPLOY, .help = "one host at a time (default: max_parallel, all)"},
	{.lng = "stop-on-failure", .shrt = 0, .arg = 0, .groups = OG_DEPLOY, .help = "switch hosts one by one, stop at the first failure (default with many hosts)"},
	{.lng = "no-stop-on-failure", .shrt = 0, .arg = 0, .groups = OG_DEPLOY, .help = "switch every host even when one fails"},
	{.lng = "listen", .shrt = 0, .arg = 1, .groups = OG_WEB, .help = "web start: the address to serve on (default 127.0.0.1:9615)"},
	{.lng = "token-file", .shrt = 0, .arg = 1, .groups = OG_WEB, .help = "web start: a file (mode 0600) holding the token actions need; without, read-only"},
	{.lng = "no-color", .shrt = 0, .arg = 0, .groups = OG_ALL, .help = "no colours (as NO_COLOR=1)"},
	{.lng = NULL},
};

#undef S
#undef A
#undef ARGS_VALUE
#undef ARGS_OPTIONAL
#undef ARGS_SET
#undef ARGS_UNSET
#undef ARGS_NOOPT

static const struct opt_def *
find_long(const char *name, unsigned groups)
{
	/* A name may serve verbs that never meet (--listen: start's LISTEN_FDS,
	 * web start's address): the one of this verb first. */
	const struct opt_def *first = NULL;
	for (const struct opt_def *o = args_options; o->lng; o++) {
		if (strcmp(o->lng, name) != 0)
			continue;
		if (o->groups & (groups | OG_ALL))
			return o;
		if (!first)
			first = o;
	}
	return first;
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

void
args_each_no_effect(const struct args *a, void (*fn)(const char *opt, const char *why))
{
	for (const struct opt_def *o = args_options; o->lng; o++)
		if (o->no_effect && json_object_get(a->opts, o->lng))
			fn(o->lng, o->no_effect);
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
			o = find_long(name, groups);
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
		if (!(o->groups & (groups | OG_ALL))) {
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
		const struct opt_def *o = find_long(key, OG_START);
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
		/* Lists given as one string ("a,b", "a b") are split by the
		 * normalizer, the same for options and files. */
		json_object_set_new(app, o->field, json_string(val));
	}
	return app;
}
