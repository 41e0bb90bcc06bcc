/*
 * verbs_state.c — the saved process list and the daemon itself: save,
 * resurrect, cleardump, startup, unstartup, ping, kill.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/dump.h"
#include "cli/render.h"
#include "cli/startup.h"
#include "cli/envshare.h"
#include "cli/verbs.h"
#include "common/spec.h"

int
verb_save(struct ctx *x)
{
	json_t *procs = cli_list_procs(x, NULL, true);
	if (!procs)
		return 1;
	json_t *doc = dump_from_procs(procs);
	char *err = NULL;
	int rc = dump_write(&x->paths, doc, args_has(&x->a, "force"), &err);
	size_t n = json_array_size(json_object_get(doc, "apps"));
	json_decref(doc);
	json_decref(procs);
	if (rc < 0) {
		cli_fail(x, "%s", err);
		free(err);
		return 1;
	}
	printf("corral: saved %zu app%s to %s\n", n, n == 1 ? "" : "s", x->paths.dump);
	return 0;
}

/* The saved apps, one at a time (struct app_source): those already
 * running are left out, a damaged entry is named and skipped. */
struct dump_source {
	struct app_source src;
	struct ctx *x;
	json_t *entries;        /* the dump's "apps" */
	size_t i;
	json_t *base;           /* its env_base, or NULL */
	char *base_why;         /* why that base is damaged, or NULL */
	json_t *running;        /* names running now */
	size_t skipped;
};

static json_t *
dump_next(struct app_source *src, bool *stopped)
{
	struct dump_source *d = (struct dump_source *)src;
	json_t *e;
	while ((e = json_array_get(d->entries, d->i)) != NULL) {
		size_t i = d->i++;
		/* A damaged entry (a hand edit) costs that app, not the others:
		 * a resurrect at boot must bring back what it can. A damaged
		 * base costs the apps written over it. */
		struct spec parsed;
		char *why = NULL;
		json_t *delta = json_object_get(json_object_get(e, "spec"), "env_delta");
		if (delta)
			why = d->base_why ? xstrdup(d->base_why) : !d->base ?
			    xstrdup("env_delta: no env_base") : spec_env_check("env_delta", delta, true);
		json_t *saved = why ? NULL : envshare_whole(json_object_get(e, "spec"), d->base);
		if (why || spec_from_json(saved, &parsed, &why) < 0) {
			json_decref(saved);
			saved = json_object_get(e, "spec");
			const char *sname = json_string_value(json_object_get(saved, "name"));
			fprintf(stderr, "corral resurrect: %s: app %zu%s%s%s: %s; skipped\n",
			    d->x->paths.dump, i, sname ? " (" : "", sname ? sname : "", sname ? ")" : "",
			    why ? why : "not an app");
			free(why);
			d->skipped++;
			continue;
		}
		json_decref(saved);
		json_t *spec = spec_to_json(&parsed, true);
		spec_free(&parsed);
		if (json_object_get(d->running, json_string_value(json_object_get(spec, "name")))) {
			json_decref(spec);
			continue;
		}
		json_t *n = json_object_get(e, "instances");
		if (json_integer_value(n) > 0)
			json_object_set(spec, "instances", n);
		*stopped = strcmp(json_string_value(json_object_get(e, "status")) ?: "",
		    "stopped") == 0;
		return spec;
	}
	return NULL;
}

int
verb_resurrect(struct ctx *x)
{
	char *err = NULL;
	json_t *doc = dump_read(&x->paths, &err);
	if (!doc) {
		cli_fail(x, "%s", err);
		free(err);
		return 1;
	}
	json_t *procs = cli_list_brief(x, NULL);
	if (!procs) {
		json_decref(doc);
		return 1;
	}
	/* The environment the apps share, once (dump.h). */
	json_t *base = json_object_get(doc, "env_base");
	struct dump_source d = {.src = {dump_next}, .x = x,
	    .entries = json_object_get(doc, "apps"), .base = base,
	    .base_why = base ? spec_env_check("env_base", base, false) : NULL,
	    .running = cli_running_names(procs)};
	size_t n;
	int rc = start_send_from(x, &d.src, &n);
	if (n == 0 && !d.skipped && rc == 0)
		printf("corral: nothing to resurrect (every saved app is already here)\n");
	rc |= d.skipped > 0;
	free(d.base_why);
	json_decref(d.running);
	json_decref(procs);
	json_decref(doc);
	return rc;
}

int
verb_cleardump(struct ctx *x)
{
	json_t *doc = json_pack("{s:i, s:[]}", "version", 1, "apps");
	char *err = NULL;
	int rc = dump_write(&x->paths, doc, true, &err);
	json_decref(doc);
	if (rc < 0) {
		cli_fail(x, "%s", err);
		free(err);
		return 1;
	}
	printf("corral: %s emptied\n", x->paths.dump);
	return 0;
}

int
verb_startup(struct ctx *x)
{
	return startup_command(&x->a, &x->paths, true);
}

int
verb_unstartup(struct ctx *x)
{
	return startup_command(&x->a, &x->paths, false);
}

int
verb_ping(struct ctx *x)
{
	json_t *r = cli_call(x, json_pack("{s:s}", "cmd", "ping"), QUICK_TIMEOUT_MS);
	if (!r)
		return 1;
	if (args_has(&x->a, "json"))
		render_json(stdout, r, true);
	else
		printf("pong (daemon pid %lld)\n", (long long)json_integer_value(json_object_get(r, "pid")));
	json_decref(r);
	return 0;
}

/* True while pid runs. A zombie counts as gone: the daemon's parent (its
 * keeper, or init) may reap it late; some container inits never do. */
static bool
process_running(int pid)
{
	if (kill(pid, 0) < 0)
		return false;
	char *path = xasprintf("/proc/%d/stat", pid);
	char *txt = NULL;
	bool running = true;
	if (read_file(path, &txt, NULL, 4096) == 0) {
		const char *rp = strrchr(txt, ')');
		if (rp && rp[1] == ' ' && rp[2] == 'Z')
			running = false;
	}
	free(txt);
	free(path);
	return running;
}

/* With no daemon, may something of this home still run? A keeper (the
 * daemon died, and it gave up starting one), or apps whose pid files a
 * daemon that died left behind: a daemon started now adopts them or finds
 * them as orphans, and stops them. */
static bool
maybe_left_running(const struct paths *p)
{
	if (access(p->keeper_pid, F_OK) == 0)
		return true;
	DIR *d = opendir(p->pids_dir);
	if (!d)
		return false;
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d)) != NULL)
		found = str_ends(e->d_name, ".pid");
	closedir(d);
	return found;
}

int
verb_kill(struct ctx *x)
{
	int rc = cli_connect(x, false);
	if (rc == -ENOENT && maybe_left_running(&x->paths))
		rc = cli_connect(x, true);
	if (rc == -ENOENT) {
		printf("corral: no daemon running for %s\n", x->paths.home);
		return 0;
	}
	if (rc < 0)
		return 1;
	int pid = x->conn.daemon_pid;
	json_t *r = cli_call(x, json_pack("{s:s, s:b}", "cmd", "kill", "brief", 1), ACTION_TIMEOUT_MS);
	if (!r)
		return 1;
	json_decref(r);
	conn_close(&x->conn);
	x->connected = false;
	/* Wait for the daemon process itself to be gone. */
	int64_t deadline = mono_ms() + 10000;
	while (pid > 0 && process_running(pid) && mono_ms() < deadline)
		usleep(10000);
	printf("corral: daemon stopped\n");
	return 0;
}

/* The version a daemon answers with (new), or NULL; its pid in *pid. */
static char *
daemon_version(const struct paths *p, int *pid)
{
	struct conn c;
	char *err = NULL;
	if (conn_open(p, false, &c, &err) < 0) {
		free(err);
		return NULL;
	}
	json_t *req = json_pack("{s:s}", "cmd", "ping");
	json_t *r = conn_call(&c, req, QUICK_TIMEOUT_MS, &err);
	json_decref(req);
	free(err);
	char *v = NULL;
	if (r && json_string_value(json_object_get(r, "version")))
		v = xstrdup(json_string_value(json_object_get(r, "version")));
	*pid = c.daemon_pid;
	json_decref(r);
	conn_close(&c);
	return v;
}

/* `corral update`: the daemon execs the corral binary now on disk (the
 * path it was started from), which takes every app over without
 * restarting any (src/daemon/update.h). The daemon checks the binary
 * first and refuses, saying why, if it cannot take over. */
int
verb_update(struct ctx *x)
{
	int rc = cli_connect(x, false);
	if (rc == -ENOENT) {
		printf("corral: no daemon running for %s; the next command starts the binary on "
		    "disk\n", x->paths.home);
		return 0;
	}
	if (rc < 0)
		return 1;
	int pid = x->conn.daemon_pid;
	int64_t began = mono_ms();
	json_t *r = cli_call(x, json_pack("{s:s}", "cmd", "update_daemon"), 60000);
	if (!r)
		return 1;
	char *from = xstrdup(json_string_value(json_object_get(r, "from")) ?: "?");
	char *to = xstrdup(json_string_value(json_object_get(r, "to")) ?: "?");
	json_decref(r);
	conn_close(&x->conn);
	x->connected = false;
	/* The same process answers again once the new binary has taken over:
	 * a connection made meanwhile waits in the control socket's backlog. */
	int64_t deadline = mono_ms() + 30000;
	char *now = NULL;
	int now_pid = 0;
	while (!(now = daemon_version(&x->paths, &now_pid)) && mono_ms() < deadline)
		usleep(20000);
	int64_t took = mono_ms() - began;
	if (!now) {
		rc = cli_fail(x, "no daemon answers since the handover to corral %s: see %s", to,
		    x->paths.log);
	} else if (strcmp(now, to) != 0 || now_pid != pid) {
		rc = cli_fail(x, "the daemon answering is corral %s (pid %d), not corral %s (pid "
		    "%d): the handover failed; see %s", now, now_pid, to, pid, x->paths.log);
	} else {
		printf("corral update: daemon corral %s -> %s (pid %d kept), answering again after "
		    "%lld ms; every app kept running\n", from, to, pid, (long long)took);
		rc = 0;
	}
	free(now);
	free(from);
	free(to);
	return rc;
}
