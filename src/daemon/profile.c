/*
 * profile.c — CPU and heap profiles and heap snapshots of Node instances,
 * through corral's agent (agent.h, docs/profiling.md).
 *
 * A request names instances; each gets one message on its Node IPC channel
 * and the request (an op) answers once every agent did, or after the
 * timeout, with one result per instance: the file written, or why not. A
 * heap snapshot pauses the process: a cluster instance is first taken out
 * of its listener groups' steering and its queue left to empty, and put
 * back once the agent answered (or gave up). A CPU profile of a program
 * without the agent is a `perf record` the daemon runs between start and
 * stop.
 */
#include "daemon/profile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "common/perf.h"
#include "common/util.h"
#include "daemon/agent.h"
#include "daemon/commands.h"
#include "daemon/events.h"
#include "daemon/op.h"
#include "daemon/proctree.h"
#include "daemon/server.h"
#include "daemon/spawn.h"
#include "daemon/state.h"
#include "daemon/supervise.h"
#include "daemon/table.h"

#define ANSWER_TIMEOUT_MS 15000
#define HEAPDUMP_TIMEOUT_MS 120000
#define DRAIN_MAX_MS 3000
#define MAX_TIMEOUT_MS (10 * 60 * 1000)

enum item_state {
	IT_FAILED,
	IT_DRAINING,
	IT_SENT,
	IT_PERF_STARTING,   /* perf runs, and has not said it records yet */
	IT_PERF_STOPPING,
	IT_DONE,
};

struct item {
	enum item_state state;
	int pm_id;
	int pid;
	char *name;
	char *path;         /* the file the agent writes, NULL for a start */
	bool own_path;      /* path is ours (profiles/), not one the user named */
	char *error;
	int64_t seq;
	int64_t bytes;
	bool held;          /* its traffic is held (a heap dump) */
	struct perfrun *perf; /* IT_PERF_STARTING or _STOPPING: its recording */
};

/* A perf recording of a program without the agent, between profile start
 * and stop: `perf record ... -- sleep 3600`, the daemon's child (reaped by
 * the SIGCHLD path: EV_REAPED), at most an hour.
 *
 * perf takes a while to set up before it samples: a quarter of a second
 * here, seconds on a loaded machine, and `profile --duration 1s` then
 * recorded nothing. So it starts with its events off (-D -1) and a control
 * pipe (--control): the daemon asks it to enable them, and `profile start`
 * answers once perf acknowledged, when it really records. */
struct perfrun {
	uint64_t inst_uid;
	pid_t pid;
	char *path;         /* <...>.perf.data */
	char *log;          /* its stderr, for the message when it fails */
	int ctl;            /* perf's control pipe (write end), or -1 */
	int ack;            /* its acknowledgements (read end), or -1 */
	struct io ack_io;
	bool recording;     /* perf acknowledged "enable" */
	bool exited;
	int wstatus;
	bool abandoned;     /* a stop gave up on it: freed when reaped */
	bool stopping;      /* a stop request waits for it (and frees it) */
	struct perfrun *next;
};

struct preq {
	struct item *items;
	size_t n;
	const char *op;     /* "profile_start", "profile_stop", "heapdump" */
	int64_t timeout_ms;
	int64_t deadline_mono;
	const char *kind;   /* "cpu", "heap" */
	int64_t drain_until;
	struct timer poll;  /* re-checks draining instances */
	struct preq *next;
};

static struct preq *active;     /* requests waiting for agents */
static struct perfrun *perfs;   /* recordings running or just ended */
extern char **environ;
static int64_t last_seq;

static void
item_fail(struct item *it, const char *fmt, ...) PRINTFLIKE(2, 3);

static void
item_fail(struct item *it, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(it->error);
	it->error = xvasprintf(fmt, ap);
	va_end(ap);
	it->state = IT_FAILED;
}

/* Remember a file written for in (the last PROFILES_KEPT). */
static void
remember(struct inst *in, const char *path, int64_t bytes)
{
	if (!in->profiles)
		in->profiles = json_array();
	if (json_array_size(in->profiles) >= PROFILES_KEPT)
		json_array_remove(in->profiles, 0);
	json_array_append_new(in->profiles, json_pack("{s:s, s:I, s:I}", "path", path, "bytes",
	    (json_int_t)bytes, "at", (json_int_t)wall_ms()));
}

json_t *
profile_files(struct inst *in)
{
	json_t *out = json_array();
	size_t i;
	json_t *f;
	json_array_foreach(in->profiles, i, f)
		if (access(json_string_value(json_object_get(f, "path")), F_OK) == 0)
			json_array_append(out, f);
	return out;
}

static void
release(struct item *it)
{
	if (!it->held)
		return;
	it->held = false;
	struct proc *p = proc_by_pid(it->pid);
	if (p)
		proc_hold_traffic(p, false);
}

/* $CORRAL_HOME/profiles/<name>-<pm_id>-<pid>-<time>.<ext>, the name's
 * slashes made dashes. */
static char *
profile_path(const struct inst *in, int pid, const char *ext)
{
	int64_t now = wall_ms();
	time_t t = (time_t)(now / 1000);
	struct tm tm;
	char when[32];
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y%m%d-%H%M%S", &tm);
	char *name = xstrdup(in->app->spec.name);
	for (char *c = name; *c; c++)
		if (*c == '/')
			*c = '-';
	char *path = xasprintf("%s/%s-%d-%d-%s.%03d.%s", D->paths.profiles_dir, name, in->pm_id,
	    pid, when, (int)(now % 1000), ext);
	free(name);
	return path;
}

static int
send_item(struct preq *r, struct item *it)
{
	struct proc *p = proc_by_pid(it->pid);
	if (!p || p->exited) {
		item_fail(it, "it exited");
		return -1;
	}
	it->seq = ++last_seq;
	/* An agent that gets it after the deadline (its loop was blocked) drops
	 * it: the daemon has answered already, and no file appears later. */
	json_t *m = json_pack("{s:s, s:s, s:I, s:s, s:I}", "cmd", "NODE_CORRAL", "op", r->op,
	    "seq", (json_int_t)it->seq, "kind", r->kind, "deadline",
	    (json_int_t)(wall_ms() + r->deadline_mono - mono_ms()));
	if (it->path)
		json_object_set_new(m, "path", json_string(it->path));
	char *line = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	int rc = proc_send_ipc(p, line);
	free(line);
	if (rc < 0) {
		item_fail(it, "cannot write to its Node IPC channel: %s", strerror(-rc));
		return -1;
	}
	it->state = IT_SENT;
	return 0;
}

static struct perfrun *
perf_of(uint64_t inst_uid)
{
	for (struct perfrun *r = perfs; r; r = r->next)
		if (r->inst_uid == inst_uid && !r->abandoned)
			return r;
	return NULL;
}

static void
perf_free(struct perfrun *run)
{
	for (struct perfrun **pp = &perfs; *pp; pp = &(*pp)->next) {
		if (*pp == run) {
			*pp = run->next;
			break;
		}
	}
	if (run->ack >= 0) {
		io_del(D->loop, &run->ack_io);
		close(run->ack);
	}
	if (run->ctl >= 0)
		close(run->ctl);
	unlink(run->log);
	free(run->path);
	free(run->log);
	loop_defer_free(D->loop, run, free);
}

/* A recording nobody waits for any more: perf is killed and its data
 * removed; freed now if it has ended, else once reaped. */
static void
perf_give_up(struct perfrun *run)
{
	unlink(run->path);
	if (run->exited) {
		perf_free(run);
		return;
	}
	kill(-run->pid, SIGKILL);
	run->abandoned = true;
}

/* perf wrote on its acknowledgement pipe: "ack" once it enabled its events,
 * or end of file if it died first (EV_REAPED says so). */
static void
on_perf_ack(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct perfrun *run = arg;
	char buf[64];
	ssize_t n = read(run->ack, buf, sizeof(buf) - 1);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		buf[n] = '\0';
		if (!strstr(buf, "ack"))
			return;
		run->recording = true;
	}
	io_del(l, io);
	close(run->ack);
	run->ack = -1;
	op_poke();
}

/* The last line perf wrote on its stderr (caller frees). */
static char *
perf_said(const struct perfrun *run)
{
	char *text = NULL;
	if (read_file(run->log, &text, NULL, 1 << 16) < 0)
		return xstrdup("no reason given");
	size_t n = strlen(text);
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = '\0';
	char *nl = strrchr(text, '\n');
	char *line = xstrdup(nl ? nl + 1 : *text ? text : "no reason given");
	free(text);
	return line;
}

/* profile start of an instance without the agent: perf records its tree. */
static void
perf_start(struct item *it, struct inst *in)
{
	char *err = NULL;
	char *perf = perf_find(&err);
	struct perfrun *old = perf_of(in->uid);
	if (old && old->exited && !old->stopping) {
		/* It ended by itself (its program exited) and nobody stopped it:
		 * its perf.data is kept and listed (perf report reads it), not
		 * removed without a word. */
		struct stat st;
		if (stat(old->path, &st) == 0)
			remember(in, old->path, st.st_size);
		perf_free(old);
	} else if (old && !err) {
		err = xasprintf("%s (pm_id %d): a cpu profile is already running", it->name,
		    it->pm_id);
	}
	if (!err)
		err = perf_forbidden();
	if (!err)
		paths_profiles_dir(&D->paths, &err);
	if (err) {
		item_fail(it, "%s", err);
		free(err);
		free(perf);
		return;
	}
	struct ptentry tree[256];
	size_t n = proctree_walk(it->pid, tree, ARRAY_LEN(tree));
	struct sbuf pids = SBUF_INIT;
	sbuf_addf(&pids, "%d", it->pid);
	for (size_t i = 0; i < n; i++)
		if (tree[i].pid != it->pid)
			sbuf_addf(&pids, ",%d", (int)tree[i].pid);
	struct perfrun *run = xcalloc(1, sizeof(*run));
	run->inst_uid = in->uid;
	run->path = profile_path(in, it->pid, "perf.data");
	run->log = xasprintf("%s.log", run->path);
	run->ctl = run->ack = -1;
	run->next = perfs;
	perfs = run;
	int log = open(run->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ctl[2] = {-1, -1}, ack[2] = {-1, -1};
	char *why = NULL;
	if (log < 0 || pipe2(ctl, O_CLOEXEC) < 0 || pipe2(ack, O_CLOEXEC | O_NONBLOCK) < 0)
		why = xstrdup(strerror(errno));
	/* The pipe ends perf gets become its fds 3 and 4 (spawn_opts). */
	char *argv[] = {perf, "record", "-F", "99", "-g", "-q", "-D", "-1", "--control",
	    "fd:3,4", "-o", run->path, "-p", pids.s, "--", "sleep", "3600", NULL};
	int pass[] = {ctl[0], ack[1]};
	struct spawn_opts o = {.path = perf, .argv = argv, .envp = environ, .cwd = "/",
	    .stdout_fd = -1, .stderr_fd = log, .pass_fds = pass, .npass = 2, .umask = 077};
	if (!why)
		spawn_run(&o, &run->pid, &why);   /* why says what failed */
	if (why) {
		item_fail(it, "cannot run %s: %s", perf, why);
		free(why);
	} else {
		run->ctl = ctl[1];
		run->ack = ack[0];
		ctl[1] = ack[0] = -1;
		/* perf reads it once set up, then answers on the other pipe. */
		ssize_t w = write(run->ctl, "enable\n", 7);
		int rc = w == 7 ? io_add(D->loop, &run->ack_io, run->ack, EPOLLIN, on_perf_ack, run) :
		    w < 0 ? -errno : -EIO;
		if (rc == 0) {
			it->perf = run;
			it->state = IT_PERF_STARTING;
		} else {
			item_fail(it, "cannot run %s: its control pipe: %s", perf, strerror(-rc));
			perf_give_up(run);
		}
	}
	for (int i = 0; i < 2; i++) {
		if (ctl[i] >= 0)
			close(ctl[i]);
		if (ack[i] >= 0)
			close(ack[i]);
	}
	if (it->state == IT_FAILED && !run->abandoned)
		perf_free(run);
	if (log >= 0)
		close(log);
	sbuf_free(&pids);
	free(perf);
}

/* profile stop of an instance without the agent: perf is told to end. */
static void
perf_stop(struct item *it, struct inst *in)
{
	struct perfrun *run = perf_of(in->uid);
	if (!run || run->stopping) {
		item_fail(it, "%s (pm_id %d): %s", it->name, it->pm_id,
		    run ? "another request is stopping its profile" : "no cpu profile is running");
		return;
	}
	if (!run->exited)
		kill(run->pid, SIGINT);
	run->stopping = true;
	it->perf = run;
	it->state = IT_PERF_STOPPING;
}

/* A recording that ended: its file, or why not. */
static void
perf_ended(struct item *it)
{
	struct perfrun *run = it->perf;
	/* Stopped by SIGINT, perf ends its workload (sleep) with SIGTERM and
	 * takes its status: the data file says whether it recorded. */
	struct stat st;
	bool ok = stat(run->path, &st) == 0 && st.st_size > 0;
	if (ok) {
		it->path = xstrdup(run->path);
		it->bytes = st.st_size;
		it->state = IT_DONE;
	} else {
		char *why = perf_said(run);
		item_fail(it, "%s (pm_id %d): perf record failed (exit status %d): %s", it->name,
		    it->pm_id, run->wstatus, why);
		free(why);
		unlink(run->path);
	}
	it->perf = NULL;
	perf_free(run);
}

/* A recording being set up: started once perf acknowledged, failed if perf
 * ended first or took longer than the request's timeout. */
static void
perf_started(struct preq *r, struct item *it, bool expired)
{
	struct perfrun *run = it->perf;
	if (run->recording) {
		it->perf = NULL;
		it->state = IT_DONE;
		return;
	}
	/* A perf that closed the pipe is ending: its reaping says why. */
	if (!run->exited && !expired)
		return;
	char *why = run->exited ? perf_said(run) :
	    xasprintf("it did not start recording within %lld ms", (long long)r->timeout_ms);
	item_fail(it, "%s (pm_id %d): perf record failed: %s", it->name, it->pm_id, why);
	free(why);
	it->perf = NULL;
	perf_give_up(run);
}

/* Check an instance and set its item up; the path comes later for a dump. */
static void
item_init(struct preq *r, struct item *it, struct inst *in, json_t *file)
{
	it->pm_id = in->pm_id;
	it->name = xstrdup(in->app->spec.name);
	struct proc *p = in->proc;
	it->pid = p && !p->exited ? (int)p->pid : 0;
	bool native_cpu = !agent_for(&in->app->spec) && strcmp(r->kind, "cpu") == 0 &&
	    !in->app->spec.disable_agent;
	/* perf ends with the program it records: what it has is still there. */
	if (native_cpu && strcmp(r->op, "profile_stop") == 0 && perf_of(in->uid)) {
		perf_stop(it, in);
		return;
	}
	if (!it->pid || in->state != ST_ONLINE) {
		item_fail(it, "%s (pm_id %d) is not running", it->name, it->pm_id);
		return;
	}
	if (native_cpu && strcmp(r->op, "profile_start") == 0) {
		perf_start(it, in);
		return;
	}
	if (native_cpu && strcmp(r->op, "profile_stop") == 0) {
		perf_stop(it, in);
		return;
	}
	if (!agent_for(&in->app->spec)) {
		item_fail(it, "%s (pm_id %d) is not a Node app with corral's agent (%s)", it->name,
		    it->pm_id, in->app->spec.disable_agent ? "disable_agent is set" :
		    "heap profiles and dumps need one; CPU profiles of other programs are "
		    "recorded with perf");
		return;
	}
	if (p->ipc_fd < 0) {
		item_fail(it, "%s (pm_id %d) closed its Node IPC channel", it->name, it->pm_id);
		return;
	}
	bool dump = strcmp(r->op, "heapdump") == 0;
	if (dump || strcmp(r->op, "profile_stop") == 0) {
		if (json_is_string(file)) {
			it->path = xstrdup(json_string_value(file));
		} else {
			char *err = NULL;
			if (paths_profiles_dir(&D->paths, &err) < 0) {
				item_fail(it, "%s", err);
				free(err);
				return;
			}
			it->path = profile_path(in, it->pid, dump ? "heapsnapshot" :
			    strcmp(r->kind, "heap") == 0 ? "heapprofile" : "cpuprofile");
			it->own_path = true;
		}
	}
	if (dump && p->peer) {
		proc_hold_traffic(p, true);
		it->held = true;
		it->state = IT_DRAINING;
		return;
	}
	send_item(r, it);
}

static void
on_poll(struct loop *l, struct timer *t, void *arg)
{
	op_poke();
}

static bool
check(struct op *op)
{
	struct preq *r = op->data;
	bool waiting = false, draining = false, expired = op_expired(op);
	bool drain_over = mono_ms() >= r->drain_until;
	for (size_t i = 0; i < r->n; i++) {
		struct item *it = &r->items[i];
		if (it->state == IT_DRAINING) {
			struct proc *p = proc_by_pid(it->pid);
			if (!p || p->exited)
				item_fail(it, "%s (pm_id %d) exited", it->name, it->pm_id);
			else if (drain_over || !p->peer || cluster_peer_drained(p->peer))
				send_item(r, it);
			else
				draining = true;
		}
		if (it->state == IT_PERF_STARTING)
			perf_started(r, it, expired);
		if (it->state == IT_PERF_STOPPING && it->perf->exited) {
			perf_ended(it);
		} else if (it->state == IT_PERF_STOPPING && expired) {
			perf_give_up(it->perf);
			it->perf = NULL;
			item_fail(it, "%s (pm_id %d): perf did not end within %lld ms", it->name,
			    it->pm_id, (long long)r->timeout_ms);
		}
		if (it->state == IT_SENT) {
			/* An app that dies or drops its channel will not answer:
			 * say so now rather than at the timeout. */
			struct proc *p = proc_by_pid(it->pid);
			if (!p || p->exited || p->ipc_fd < 0)
				item_fail(it, "%s (pm_id %d) exited or closed its channel before "
				    "answering", it->name, it->pm_id);
			else if (expired)
				item_fail(it, "%s (pm_id %d) did not answer within %lld ms (its event "
				    "loop may be blocked); it is left running", it->name, it->pm_id,
				    (long long)r->timeout_ms);
			/* A partial file of ours goes; a file the user named is not ours
			 * to remove (the agent refuses to write over one). */
			if (it->state == IT_FAILED && it->path && it->own_path)
				unlink(it->path);
		}
		if (it->state == IT_FAILED || it->state == IT_DONE)
			release(it);
		else
			waiting = true;
	}
	if (waiting) {
		if (draining)
			timer_start(D->loop, &r->poll, 20);
		return false;
	}
	json_t *results = json_array();
	for (size_t i = 0; i < r->n; i++) {
		struct item *it = &r->items[i];
		json_t *o = json_pack("{s:i, s:s, s:i}", "pm_id", it->pm_id, "name", it->name,
		    "pid", it->pid);
		if (it->error)
			json_object_set_new(o, "error", json_string(it->error));
		else if (it->path)
			json_object_set_new(o, "path", json_string(it->path));
		if (!it->error && it->path)
			json_object_set_new(o, "bytes", json_integer(it->bytes));
		json_array_append_new(results, o);
	}
	op_reply(op, json_pack("{s:o}", "results", results));
	return true;
}

static void
preq_free(void *arg)
{
	struct preq *r = arg;
	timer_stop(D->loop, &r->poll);
	for (struct preq **pp = &active; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	for (size_t i = 0; i < r->n; i++) {
		struct perfrun *run = r->items[i].perf;
		if (run && run->exited) {
			perf_free(run);
		} else if (run) {
			run->stopping = false;
			run->abandoned = true;
		}
		release(&r->items[i]);
		free(r->items[i].name);
		free(r->items[i].path);
		free(r->items[i].error);
	}
	free(r->items);
	free(r);
}

/* The CLI wrote these files (perf) for one instance. */
static void
note(struct client *c, json_t *id, json_t *req)
{
	struct inst **ins;
	size_t n;
	if (!command_targets(c, id, req, &ins, &n))
		return;
	json_t *paths = json_object_get(req, "paths");
	size_t i;
	json_t *p;
	json_array_foreach(paths, i, p) {
		struct stat st;
		const char *path = json_string_value(p);
		if (n == 1 && path && path[0] == '/' && stat(path, &st) == 0)
			remember(ins[0], path, st.st_size);
	}
	free(ins);
	client_reply(c, id, json_object());
}

void
profile_request(struct client *c, json_t *id, json_t *req)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	const char *kind = json_string_value(json_object_get(req, "kind"));
	json_t *file = json_object_get(req, "file");
	if (op && strcmp(op, "note") == 0) {
		note(c, id, req);
		return;
	}
	static const char *const ops[] = {"profile_start", "profile_stop", "heapdump"};
	size_t k = 0;
	while (k < ARRAY_LEN(ops) && (!op || strcmp(ops[k], op) != 0))
		k++;
	if (k == ARRAY_LEN(ops)) {
		client_error(c, id, "bad_request", "profile: op must be profile_start, "
		    "profile_stop or heapdump");
		return;
	}
	if (!kind)
		kind = "cpu";
	if (strcmp(kind, "cpu") != 0 && strcmp(kind, "heap") != 0) {
		client_error(c, id, "bad_request", "profile: kind must be cpu or heap");
		return;
	}
	json_t *timeout = json_object_get(req, "timeout_ms");
	if (timeout && (!json_is_integer(timeout) || json_integer_value(timeout) < 1 ||
	    json_integer_value(timeout) > MAX_TIMEOUT_MS)) {
		client_error(c, id, "bad_request", "profile: timeout_ms must be 1 to %d",
		    MAX_TIMEOUT_MS);
		return;
	}
	if (file && (!json_is_string(file) || json_string_value(file)[0] != '/')) {
		client_error(c, id, "bad_request", "profile: file must be an absolute path");
		return;
	}
	struct inst **ins;
	size_t n;
	if (!command_targets(c, id, req, &ins, &n))
		return;
	if (file && n != 1) {
		client_error(c, id, "bad_request", "a file name needs exactly one instance (%zu "
		    "match)", n);
		free(ins);
		return;
	}
	struct preq *r = xcalloc(1, sizeof(*r));
	r->op = ops[k];
	r->kind = strcmp(kind, "heap") == 0 ? "heap" : "cpu";
	r->n = n;
	r->items = xcalloc(n ? n : 1, sizeof(*r->items));
	r->drain_until = mono_ms() + DRAIN_MAX_MS;
	r->timeout_ms = timeout ? json_integer_value(timeout) :
	    k == 2 ? HEAPDUMP_TIMEOUT_MS : ANSWER_TIMEOUT_MS;
	r->deadline_mono = mono_ms() + r->timeout_ms;
	timer_init(&r->poll, on_poll, r);
	for (size_t i = 0; i < n; i++)
		item_init(r, &r->items[i], ins[i], file);
	free(ins);
	r->next = active;
	active = r;
	struct op *o = op_new(c, id, check, r, preq_free);
	op_set_deadline(o, r->timeout_ms);
}

void
profile_perf_kill_all(void)
{
	while (perfs) {
		if (!perfs->exited)
			kill(-perfs->pid, SIGKILL);
		perf_free(perfs);
	}
}

/* EV_REAPED: a perf recording ended. */
static void
perf_reaped(const struct event *ev)
{
	for (struct perfrun *run = perfs; run; run = run->next) {
		if (run->pid != ev->pid || run->exited)
			continue;
		run->exited = true;
		run->wstatus = ev->wstatus;
		if (run->abandoned)
			perf_free(run);
		op_poke();
		return;
	}
}

/* EV_INST_REMOVE: nobody can stop its recording any more; what perf
 * wrote stays in profiles/ (profile list shows it). */
static void
perf_forget(uint64_t inst_uid)
{
	struct perfrun *run = perf_of(inst_uid);
	if (!run || run->stopping)
		return;
	if (run->exited) {
		perf_free(run);
	} else {
		kill(run->pid, SIGINT);
		run->abandoned = true;
	}
}

void
profile_on_event(const struct event *ev, void *arg)
{
	if (ev->kind == EV_REAPED) {
		perf_reaped(ev);
		return;
	}
	if (ev->kind == EV_INST_REMOVE) {
		perf_forget(ev->in->uid);
		return;
	}
	json_t *m = ev->msg;
	const char *op = json_string_value(json_object_get(m, "op"));
	json_t *seq = json_object_get(m, "seq");
	if (ev->kind != EV_AGENT_MSG || !op || strcmp(op, "reply") != 0 || !json_is_integer(seq))
		return;
	for (struct preq *r = active; r; r = r->next) {
		for (size_t i = 0; i < r->n; i++) {
			struct item *it = &r->items[i];
			if (it->state != IT_SENT || it->seq != json_integer_value(seq) ||
			    it->pid != ev->pid)
				continue;
			if (json_is_true(json_object_get(m, "ok"))) {
				it->state = IT_DONE;
				json_t *b = json_object_get(m, "bytes");
				it->bytes = json_is_integer(b) ? json_integer_value(b) : 0;
				if (it->path)
					remember(ev->in, it->path, it->bytes);
			} else {
				const char *e = json_string_value(json_object_get(m, "error"));
				item_fail(it, "%s (pm_id %d): %.200s", it->name, it->pm_id,
				    e ? e : "the agent failed");
			}
			release(it);
			op_poke();
			return;
		}
	}
}
