/*
 * verbs_query.c — what the daemon knows, printed: list, jlist, prettylist,
 * describe, env, pid, id.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/nodefmt.h"
#include "cli/render.h"
#include "cli/verbs.h"

/* `--sort field[:asc|desc]`: what a process is ordered by. */
struct sort_key {
	const char *field;      /* in the list reply */
	bool number;
	bool descending;
};

/* --sort's value as a key: 0, or 1 after saying what is wrong with it. PM2's
 * names are accepted (memory, and id for pm_id). */
static int
sort_key_parse(struct ctx *x, const char *value, struct sort_key *key)
{
	static const struct {
		const char *name, *field;
		bool number;
	} fields[] = {
		{"name", "name", false}, {"namespace", "namespace", false}, {"id", "pm_id", true},
		{"pid", "pid", true}, {"cpu", "cpu", true}, {"mem", "memory", true},
		{"memory", "memory", true}, {"uptime", "uptime_ms", true},
		{"restarts", "restarts", true}, {"status", "status", false},
	};
	const char *colon = strchr(value, ':');
	size_t len = colon ? (size_t)(colon - value) : strlen(value);
	const char *order = colon ? colon + 1 : "asc";
	if (strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0)
		return cli_fail(x, "--sort %s: the order is asc or desc, not \"%s\"", value, order);
	for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
		if (strlen(fields[i].name) == len && strncmp(fields[i].name, value, len) == 0) {
			*key = (struct sort_key){fields[i].field, fields[i].number, order[0] == 'd'};
			return 0;
		}
	}
	return cli_fail(x, "--sort %s: no field \"%.*s\" (name, namespace, id, pid, cpu, mem, "
	    "uptime, restarts, status)", value, (int)len, value);
}

struct sort_item {
	json_t *proc;
	size_t order;           /* ties keep the daemon's order (by pm_id) */
	const struct sort_key *key;
};

static int
sort_item_cmp(const void *a, const void *b)
{
	const struct sort_item *x = a, *y = b;
	json_t *vx = json_object_get(x->proc, x->key->field);
	json_t *vy = json_object_get(y->proc, x->key->field);
	int c;
	if (x->key->number) {
		double dx = json_number_value(vx), dy = json_number_value(vy);
		c = dx < dy ? -1 : dx > dy;
	} else {
		c = strcmp(json_string_value(vx) ?: "", json_string_value(vy) ?: "");
	}
	if (x->key->descending)
		c = -c;
	return c ? c : x->order < y->order ? -1 : 1;
}

/* The processes of a list reply in the order of key (a new array). */
static json_t *
sorted(json_t *procs, const struct sort_key *key)
{
	size_t n = json_array_size(procs);
	struct sort_item *items = xcalloc(n ? n : 1, sizeof(*items));
	for (size_t i = 0; i < n; i++)
		items[i] = (struct sort_item){json_array_get(procs, i), i, key};
	qsort(items, n, sizeof(*items), sort_item_cmp);
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append(out, items[i].proc);
	free(items);
	return out;
}

/* Processes a daemon that died with its keeper left running: the daemon
 * cannot manage them, but the user must know they are there. */
static void
print_orphans(json_t *orphans)
{
	size_t i;
	json_t *o;
	if (json_array_size(orphans) == 0)
		return;
	printf("Orphans: processes a daemon that died with its keeper left running (not "
	    "managed; `corral delete <name>` or `corral kill` stops them):\n");
	json_array_foreach(orphans, i, o)
		printf("  %s[%lld] pid %lld\n", json_string_value(json_object_get(o, "name")),
		    (long long)json_integer_value(json_object_get(o, "pm_id")),
		    (long long)json_integer_value(json_object_get(o, "pid")));
}

int
verb_list(struct ctx *x)
{
	bool json = args_has(&x->a, "json");
	struct sort_key key = {"pm_id", true, false};
	const char *sort = args_get(&x->a, "sort");
	if (sort && sort_key_parse(x, sort, &key) != 0)
		return 1;
	json_t *targets = x->a.pos[0] ? cli_process_targets(x->a.pos) : NULL;
	/* The table needs the top-level fields only: ask for just those. */
	json_t *orphans;
	json_t *all = cli_list_table(x, targets, json, &orphans);
	json_decref(targets);
	if (!all)
		return 1;
	json_t *procs = sorted(all, &key);
	if (json) {
		render_json(stdout, procs, true);
	} else {
		render_list(stdout, procs);
		print_orphans(orphans);
	}
	json_decref(orphans);
	json_decref(procs);
	json_decref(all);
	return 0;
}

/* jlist: each chunk's processes printed as they come, as one array. */
struct jlist_out {
	bool any;
};

static void
print_chunk(const char *text, size_t len, void *arg)
{
	struct jlist_out *o = arg;
	/* A chunk is "[...]": its inside joins the array being printed. */
	if (len <= 2 || text[0] != '[' || text[len - 1] != ']')
		return;
	fputc(o->any ? ',' : '[', stdout);
	fwrite(text + 1, 1, len - 2, stdout);
	o->any = true;
}

int
verb_jlist(struct ctx *x)
{
	/* The daemon sends the processes in chunks ready to print, as it
	 * makes them: the first is out before the last is made. */
	struct jlist_out o = {false};
	int rc = cli_list_stream(x, json_pack("{s:s, s:b}", "cmd", "list", "raw", 1), print_chunk,
	    &o);
	if (rc == 0 || o.any)
		fputs(o.any ? "]\n" : "[]\n", stdout);
	return rc < 0;
}

/* value as Node's console.log() prints it (what PM2 prints). */
static void
print_like_node(const json_t *value)
{
	char *text = nodefmt_json(value);
	printf("%s\n", text);
	free(text);
}

/* PM2's `prettylist`: each process as PM2's list has it ({pid, name,
 * pm2_env, pm_id, monit}, each field once), laid out by util.inspect. */
int
verb_prettylist(struct ctx *x)
{
	json_t *procs = cli_list_procs(x, NULL, false);
	if (!procs)
		return 1;
	json_t *shown = json_array();
	size_t i;
	json_t *p;
	json_array_foreach(procs, i, p)
		json_array_append_new(shown, json_pack("{s:O, s:O, s:O, s:O, s:O}",
		    "pid", json_object_get(p, "pid"), "name", json_object_get(p, "name"),
		    "pm2_env", json_object_get(p, "pm2_env"), "pm_id", json_object_get(p, "pm_id"),
		    "monit", json_object_get(p, "monit")));
	print_like_node(shown);
	json_decref(shown);
	json_decref(procs);
	return 0;
}

/* The processes named by the arguments (all when none; when `missing` is
 * set, there must be some and it says what), or NULL after printing why. */
static json_t *
procs_of_args(struct ctx *x, bool env, const char *missing)
{
	if (missing && !x->a.pos[0]) {
		cli_fail(x, "missing %s", missing);
		return NULL;
	}
	json_t *t = x->a.pos[0] ? cli_process_targets(x->a.pos) : NULL;
	json_t *procs = cli_list_procs(x, t, env);
	json_decref(t);
	return procs;
}

int
verb_describe(struct ctx *x)
{
	json_t *procs = procs_of_args(x, false, "target (an id, a name, a namespace or all)");
	if (!procs)
		return 1;
	if (args_has(&x->a, "json")) {
		render_json(stdout, procs, true);
	} else {
		size_t i;
		json_t *p;
		json_array_foreach(procs, i, p)
			render_describe(stdout, p);
	}
	json_decref(procs);
	return 0;
}

/* How long `env` waits for a process's environment to become readable. */
#define ENVIRON_WAIT_MS 1000

/* The environment process pid really has, NUL-separated, in *buf: 0, or -1
 * when it cannot be read. Just after the exec it reads empty until the
 * kernel has copied the new environment onto the new stack, which can be a
 * while after the daemon's vfork returned when the machine is busy. A
 * process corral started has at least the variables corral sets, so empty
 * means "not yet": read again, for at most ENVIRON_WAIT_MS. */
static int
read_environ(int pid, char **buf, size_t *len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/environ", pid);
	int64_t deadline = mono_ms() + ENVIRON_WAIT_MS;
	for (;;) {
		if (read_file(path, buf, len, 16u << 20) < 0)
			return -1;
		if (*len > 0)
			return 0;
		free(*buf);
		*buf = NULL;
		if (mono_ms() >= deadline)
			return -1;
		struct timespec ts = {0, 2 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* The environment of one process: what /proc shows, else its spec's env
 * (the process has gone, or is not ours to read). */
int
verb_env(struct ctx *x)
{
	json_t *procs = procs_of_args(x, true, "process id");
	if (!procs)
		return 1;
	json_t *p = json_array_get(procs, 0);
	int pid = (int)json_integer_value(json_object_get(p, "pid"));
	char *buf = NULL;
	size_t len = 0;
	json_t *out = json_object();
	if (pid > 0 && read_environ(pid, &buf, &len) == 0) {
		for (size_t i = 0; i < len;) {
			const char *e = buf + i;
			const char *eq = strchr(e, '=');
			if (eq) {
				char *key = xstrndup(e, (size_t)(eq - e));
				json_object_set_new(out, key, json_string(eq + 1));
				free(key);
			}
			i += strlen(e) + 1;
		}
	} else {
		json_object_update(out, json_object_get(json_object_get(p, "spec"), "env"));
	}
	free(buf);
	if (args_has(&x->a, "json")) {
		render_json(stdout, out, true);
	} else {
		const char *k;
		json_t *v;
		json_object_foreach(out, k, v)
			printf("%s: %s\n", k, json_string_value(v));
	}
	json_decref(out);
	json_decref(procs);
	return 0;
}

/* The pids of the running processes (all, or those the arguments name). */
int
verb_pid(struct ctx *x)
{
	json_t *procs = procs_of_args(x, false, NULL);
	if (!procs)
		return 1;
	size_t i;
	json_t *p;
	json_array_foreach(procs, i, p) {
		long long pid = (long long)json_integer_value(json_object_get(p, "pid"));
		if (pid > 0)
			printf("%lld\n", pid);
	}
	json_decref(procs);
	return 0;
}

/* PM2's `id <name>`: the pm_ids of the processes of that name (or running
 * that script), as Node prints an array: "[ 4, 5 ]", "[]" when none. */
int
verb_id(struct ctx *x)
{
	const char *name = x->a.pos[0];
	if (!name)
		return cli_usage_error(x);
	json_t *procs = cli_list_procs(x, NULL, false);
	if (!procs)
		return 1;
	char *here = cli_current_dir();
	char *joined = xasprintf("%s/%s", here, name);
	char *real = realpath(name, NULL);
	json_t *ids = json_array();
	size_t i;
	json_t *p;
	json_array_foreach(procs, i, p) {
		const char *script = json_string_value(json_object_get(json_object_get(p, "spec"),
		    "script"));
		if (strcmp(json_string_value(json_object_get(p, "name")), name) == 0 || (script &&
		    (strcmp(script, name) == 0 || strcmp(script, joined) == 0 ||
		    (real && strcmp(script, real) == 0))))
			json_array_append(ids, json_object_get(p, "pm_id"));
	}
	print_like_node(ids);
	json_decref(ids);
	free(real);
	free(joined);
	free(here);
	json_decref(procs);
	return 0;
}

/* `ready [app]...`, for a container's probes: 0 when every instance that
 * should run (every one not stopped) is online and ready — bound its port
 * in cluster mode, said so with wait_ready — and at least one is; else 1
 * with the first that is not. Never starts a daemon: a probe must not. */
int
verb_ready(struct ctx *x)
{
	int rc = cli_connect(x, false);
	if (rc == -ENOENT)
		return cli_fail(x, "no corral daemon runs for %s", x->paths.home);
	if (rc < 0)
		return 1;
	json_t *targets = x->a.pos[0] ? cli_targets(x->a.pos) : NULL;
	json_t *procs = cli_list_procs(x, targets, false);
	json_decref(targets);
	if (!procs)
		return 1;
	size_t ready = 0, not_ready = 0;
	json_t *first = NULL;
	size_t i;
	json_t *p;
	json_array_foreach(procs, i, p) {
		const char *status = json_string_value(json_object_get(p, "status"));
		if (!status || strcmp(status, "stopped") == 0)
			continue;
		if (strcmp(status, "online") == 0 && json_is_true(json_object_get(p, "ready"))) {
			ready++;
			continue;
		}
		if (!first)
			first = p;
		not_ready++;
	}
	rc = 0;
	if (first) {
		const char *status = json_string_value(json_object_get(first, "status"));
		bool online = strcmp(status, "online") == 0;
		rc = cli_fail(x, "%zu of %zu instances not ready: %s[%lld] is %s",
		    not_ready, not_ready + ready, json_string_value(json_object_get(first, "name")),
		    (long long)json_integer_value(json_object_get(first, "pm_id")),
		    online ? "online but not ready (no port bound yet, or no ready signal)" : status);
	} else if (ready == 0) {
		rc = cli_fail(x, "%s", json_array_size(procs) ? "every instance is stopped"
		    : "no app runs");
	} else {
		printf("ready: %zu instance%s online and ready\n", ready, ready == 1 ? "" : "s");
	}
	json_decref(procs);
	return rc;
}
