/*
 * verbs_profile.c — profile, profile:cpu, profile:mem, heapdump
 * (docs/profiling.md).
 *
 * Node instances are profiled by corral's agent inside them, any other
 * program with `perf record`, both through the daemon (daemon/profile.c);
 * perf's samples are folded here into collapsed stacks (perffold.h).
 * Files go to $CORRAL_HOME/profiles (0700 directory, 0600 files) unless
 * heapdump is given one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/perffold.h"
#include "cli/render.h"
#include "cli/verbs.h"
#include "common/perf.h"
#include "common/spec.h"
#include "common/units.h"

/* The daemon gives up on an agent first (--timeout, at most 10 min). */
#define PROFILE_TIMEOUT_MS (10 * 60 * 1000 + 10000)
#define DEFAULT_DURATION_MS 10000

static int perf_fold(struct ctx *x, const char *perf, const char *data, const char *name,
    long long pm_id);

/* Send one profile request for these targets and print its results: the
 * paths written (or, for a start unless quiet, what runs), errors on
 * stderr. The pm_ids that did it are appended to done when given. 0 when
 * every instance did it. */
static int
agent_call(struct ctx *x, json_t *targets, const char *op, const char *kind, const char *file,
    bool quiet, json_t *done)
{
	json_t *req = json_pack("{s:s, s:O, s:s, s:s}", "cmd", "profile", "targets", targets,
	    "op", op, "kind", kind);
	if (file)
		json_object_set_new(req, "file", json_string(file));
	int64_t timeout = 0;
	const char *t = args_get(&x->a, "timeout");
	if (t) {
		if (units_parse_duration(t, 1000, &timeout) < 0 || timeout < 1 ||
		    timeout > PROFILE_TIMEOUT_MS - 10000) {
			json_decref(req);
			return cli_fail(x, "--timeout %s: give a time from 1ms to 10m, like 30s", t);
		}
		json_object_set_new(req, "timeout_ms", json_integer(timeout));
	}
	json_t *res = cli_call(x, req, PROFILE_TIMEOUT_MS);
	if (!res)
		return 1;
	int rc = 0;
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(res, "results"), i, r) {
		const char *err = json_string_value(json_object_get(r, "error"));
		const char *path = json_string_value(json_object_get(r, "path"));
		if (!err && done)
			json_array_append_new(done, json_sprintf("%lld",
			    (long long)json_integer_value(json_object_get(r, "pm_id"))));
		if (err) {
			cli_fail(x, "%s", err);
			rc = 1;
		} else if (path && str_ends(path, ".perf.data")) {
			/* perf recorded a program without the agent (profile stop). */
			char *why = NULL, *perf = perf_find(&why);
			rc |= perf ? perf_fold(x, perf, path,
			    json_string_value(json_object_get(r, "name")),
			    (long long)json_integer_value(json_object_get(r, "pm_id"))) :
			    cli_fail(x, "%s", why);
			free(perf);
			free(why);
		} else if (path) {
			printf("%s\n", path);
		} else if (!quiet) {
			printf("%s (pm_id %lld, pid %lld): %s profile started\n",
			    json_string_value(json_object_get(r, "name")),
			    (long long)json_integer_value(json_object_get(r, "pm_id")),
			    (long long)json_integer_value(json_object_get(r, "pid")), kind);
		}
	}
	json_decref(res);
	return rc;
}

/* ---- folding perf's samples ---- */

/* Run argv with stdout to out_fd (-1: /dev/null) and stderr to err_path;
 * its exit status, or -errno when it could not run. */
static int
run(char *const argv[], int out_fd, const char *err_path)
{
	int err_fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (err_fd < 0)
		return -errno;
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		close(err_fd);
		return -errno;
	}
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(out_fd >= 0 ? out_fd : null, 1);
		dup2(err_fd, 2);
		execvp(argv[0], argv);
		int e = errno;
		if (write(pipefd[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pipefd[1]);
	close(err_fd);
	if (pid < 0) {
		close(pipefd[0]);
		return -errno;
	}
	int e = 0;
	ssize_t got = read(pipefd[0], &e, sizeof(e));
	close(pipefd[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (got == (ssize_t)sizeof(e))
		return -e;
	return st;
}

/* The last non-empty line of a file, for a message (caller frees). */
static char *
last_line(const char *path)
{
	char *text = NULL;
	if (read_file(path, &text, NULL, 1 << 20) < 0)
		return xstrdup("");
	size_t n = strlen(text);
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = '\0';
	char *nl = strrchr(text, '\n');
	char *line = xstrdup(nl ? nl + 1 : text);
	free(text);
	return line;
}

/* perf script <...>.perf.data folded into <...>.folded (perffold.h); print
 * both paths and tell the daemon they are name's (describe lists them).
 * 0, or 1 after saying why (no .folded left). */
static int
perf_fold(struct ctx *x, const char *perf, const char *data, const char *name, long long pm_id)
{
	size_t stem = strlen(data) - (str_ends(data, ".perf.data") ? strlen(".perf.data") : 0);
	char *folded = xasprintf("%.*s.folded", (int)stem, data);
	char *script_out = xasprintf("%.*s.script", (int)stem, data);
	char *errlog = xasprintf("%.*s.script.log", (int)stem, data);
	int rc = 1;
	int fd = open(folded, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		cli_fail(x, "cannot create %s: %s", folded, strerror(errno));
		goto out;
	}
	int sfd = open(script_out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	char *scr[] = {(char *)perf, "script", "-i", (char *)data, NULL};
	int st = sfd < 0 ? -errno : run(scr, sfd, errlog);
	int werr = 0;
	if (st == 0) {
		FILE *in = fdopen(dup(sfd), "r");
		if (in) {
			rewind(in);
			werr = perffold_file(in, fd);
			fclose(in);
		} else {
			werr = -errno;
		}
	}
	if (sfd >= 0)
		close(sfd);
	if (close(fd) < 0 && werr == 0)
		werr = -errno;
	if (st != 0 || werr < 0) {
		char *line = st > 0 ? last_line(errlog) : xstrdup(strerror(st < 0 ? -st : -werr));
		cli_fail(x, "cannot fold the samples of %s (pm_id %lld) into %s: %s", name, pm_id,
		    folded, line);
		free(line);
		unlink(folded);
		goto out;
	}
	chmod(data, 0600);
	printf("%s\n%s\n", data, folded);
	/* describe and jlist list them with the instance's other profiles. */
	json_decref(cli_call(x, json_pack("{s:s, s:s, s:[o], s:[s, s]}", "cmd", "profile", "op",
	    "note", "targets", json_sprintf("%lld", pm_id), "paths", data, folded),
	    QUICK_TIMEOUT_MS));
	rc = 0;
out:
	unlink(script_out);
	unlink(errlog);
	free(script_out);
	free(errlog);
	free(folded);
	return rc;
}

/* ---- the verbs ---- */

/* The processes the targets name (all for "all"), with their specs. */
static json_t *
procs_of(struct ctx *x, char **targets)
{
	json_t *t = cli_targets(targets);
	json_t *procs = cli_list_procs(x, t, false);
	json_decref(t);
	if (procs && json_array_size(procs) == 0) {
		cli_fail(x, "no process matches %s", targets[0]);
		json_decref(procs);
		return NULL;
	}
	return procs;
}

enum with_agent { WITHOUT, WITH, ANY };

/* The pm_ids of the processes with (or without) the agent, or all. */
static json_t *
ids_where(json_t *procs, enum with_agent which)
{
	json_t *ids = json_array();
	size_t i;
	json_t *p;
	json_array_foreach(procs, i, p)
		if (which == ANY || proc_has_agent(p) == (which == WITH))
			json_array_append_new(ids, json_sprintf("%lld",
			    (long long)json_integer_value(json_object_get(p, "pm_id"))));
	return ids;
}

static volatile sig_atomic_t stop_early;

static void
interrupted(int sig)
{
	stop_early = 1;
}

/* profile <target> for duration_ms: started and stopped through the
 * daemon as `profile start` and `profile stop` do (the agent records Node
 * instances, perf the others), every instance at once. */
static int
profile_for(struct ctx *x, char **targets, int64_t duration_ms, const char *kind)
{
	json_t *procs = procs_of(x, targets);
	if (!procs)
		return 1;
	int rc = 0;
	bool heap = strcmp(kind, "heap") == 0;
	size_t i;
	json_t *p;
	json_array_foreach(procs, i, p) {
		if (heap && !proc_has_agent(p))
			rc |= cli_fail(x, "%s (pm_id %lld) is not a Node app with corral's agent: "
			    "heap profiles need one", json_string_value(json_object_get(p, "name")),
			    (long long)json_integer_value(json_object_get(p, "pm_id")));
	}
	json_t *ids = ids_where(procs, heap ? WITH : ANY);
	if (json_array_size(ids) > 0) {
		/* Stop only what this command started: an instance already
		 * being profiled (profile start) keeps its own session. */
		json_t *started = json_array();
		rc |= agent_call(x, ids, "profile_start", kind, NULL, true, started);
		if (json_array_size(started) > 0) {
			/* Ctrl-C ends the wait early, not the command: the profiles
			 * it started are stopped and written all the same (they
			 * would run on in the apps for an hour). */
			struct sigaction on_int = {.sa_handler = interrupted}, was_int, was_term;
			sigemptyset(&on_int.sa_mask);
			sigaction(SIGINT, &on_int, &was_int);
			sigaction(SIGTERM, &on_int, &was_term);
			struct timespec ts = {duration_ms / 1000, (duration_ms % 1000) * 1000000};
			while (!stop_early && nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
			sigaction(SIGINT, &was_int, NULL);
			sigaction(SIGTERM, &was_term, NULL);
			rc |= agent_call(x, started, "profile_stop", kind, NULL, true, NULL);
		}
		json_decref(started);
	}
	json_decref(ids);
	json_decref(procs);
	return rc;
}

/* start/stop: the agent records Node instances, perf the others. */
static int
profile_start_stop(struct ctx *x, const char *op, char **targets, const char *kind)
{
	if (!targets[0])
		return cli_usage_error(x);
	json_t *procs = procs_of(x, targets);
	if (!procs)
		return 1;
	/* The daemon records those without the agent with perf. */
	json_t *ids = ids_where(procs, ANY);
	int rc = agent_call(x, ids, op, kind, NULL, false, NULL);
	json_decref(ids);
	json_decref(procs);
	return rc;
}

/* The files in the profiles directory, with their sizes. */
static int
profile_list(struct ctx *x, bool clean)
{
	DIR *d = opendir(x->paths.profiles_dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return cli_fail(x, "cannot read %s: %s", x->paths.profiles_dir, strerror(errno));
	}
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char *path = xasprintf("%s/%s", x->paths.profiles_dir, e->d_name);
		struct stat st;
		if (clean) {
			if (unlink(path) < 0)
				rc = cli_fail(x, "cannot remove %s: %s", path, strerror(errno));
			else
				printf("removed %s\n", path);
		} else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			char size[32];
			units_format_bytes(st.st_size, size, sizeof(size));
			printf("%10s  %s\n", size, path);
		}
		free(path);
	}
	closedir(d);
	return rc;
}

static int
duration_of(struct ctx *x, const char *text, int64_t *ms)
{
	if (!text) {
		*ms = DEFAULT_DURATION_MS;
		return 0;
	}
	if (units_parse_duration(text, 1000, ms) < 0 || *ms <= 0 || *ms > 3600 * 1000)
		return cli_fail(x, "--duration %s: give a time from 1ms to 1h, like 10s or 500ms",
		    text);
	return 0;
}

int
verb_profile(struct ctx *x)
{
	char **pos = x->a.pos;
	const char *kind = args_has(&x->a, "heap") ? "heap" : "cpu";
	if (!pos[0])
		return cli_usage_error(x);
	if (strcmp(pos[0], "list") == 0 || strcmp(pos[0], "clean") == 0) {
		if (pos[1])
			return cli_usage_error(x);
		return profile_list(x, strcmp(pos[0], "clean") == 0);
	}
	if (strcmp(pos[0], "start") == 0)
		return profile_start_stop(x, "profile_start", pos + 1, kind);
	if (strcmp(pos[0], "stop") == 0)
		return profile_start_stop(x, "profile_stop", pos + 1, kind);
	int64_t ms;
	if (duration_of(x, args_get(&x->a, "duration"), &ms))
		return 1;
	return profile_for(x, pos, ms, kind);
}

/* PM2's profile:cpu / profile:mem [duration], for an app here. */
int
verb_profile_cpu(struct ctx *x)
{
	int64_t ms;
	if (!x->a.pos[0] || (x->a.pos[1] && x->a.pos[2]))
		return cli_usage_error(x);
	if (duration_of(x, x->a.pos[1] ? x->a.pos[1] : args_get(&x->a, "duration"), &ms))
		return 1;
	char *t[] = {x->a.pos[0], NULL};
	return profile_for(x, t, ms, strcmp(x->verb, "profile:mem") == 0 ? "heap" : "cpu");
}

int
verb_heapdump(struct ctx *x)
{
	if (!x->a.pos[0] || (x->a.pos[1] && x->a.pos[2]))
		return cli_usage_error(x);
	char *file = NULL;
	if (x->a.pos[1]) {
		char *here = cli_current_dir();
		file = x->a.pos[1][0] == '/' ? xstrdup(x->a.pos[1]) :
		    xasprintf("%s/%s", here, x->a.pos[1]);
		free(here);
	}
	json_t *targets = cli_targets(x->a.pos + 0);
	json_array_remove(targets, 1);
	int rc = agent_call(x, targets, "heapdump", "cpu", file, false, NULL);
	json_decref(targets);
	free(file);
	return rc;
}
