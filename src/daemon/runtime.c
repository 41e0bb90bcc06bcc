/*
 * runtime.c — `corral runtime`: the daemon in the foreground (runtime.h).
 */
#include "daemon/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/units.h"
#include "common/util.h"
#include "daemon/events.h"
#include "daemon/state.h"
#include "daemon/supervise.h"
#include "daemon/table.h"

/* What stdout may hold queued: beyond, lines are dropped and counted. */
#define OUT_MAX_BYTES (1u << 20)

enum shape {
	SHAPE_PLAIN,    /* 0|api | text */
	SHAPE_RAW,      /* text */
	SHAPE_JSON,     /* {"time":…,"app":…,"instance":…,"pm_id":…,"stream":…,"message":…} */
	SHAPE_FORMAT,   /* timestamp=… app=api id=0 type=out message=text */
};

struct runtime {
	enum shape shape;
	bool auto_exit;
	char **start_argv;          /* corral start <arguments>, NULL-terminated */
	void (*shutdown)(void);

	pid_t starter;              /* `corral start`, 0 once reaped */
	bool started;               /* it exited 0 */
	bool start_failed;
	bool dirty;                 /* an instance changed: check again */
	bool auto_exited, auto_errored;
	size_t errored_at_stop;     /* instances errored when the stop began */
	bool stopping;
	uint64_t stop_cursor;       /* id of the app being stopped, 0 before */

	int out_fd;                 /* stdout */
	int out_flags;              /* its flags before us, restored at exit */
	bool out_pollable, out_armed, out_broken;
	struct io out_io;
	struct sbuf out;            /* queued for stdout */
	uint64_t dropped_lines, dropped_bytes;
};

/* A line of our own on stderr (the container's log), and in daemon.log. */
static void notice(const char *fmt, ...) PRINTFLIKE(1, 2);

static void
notice(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg)
		return;
	dlog("runtime: %s", msg);
	fprintf(stderr, "corral runtime: %s\n", msg);
	free(msg);
}

/* ---- stdout ---- */

static void on_out(struct loop *l, struct io *io, uint32_t events, void *arg);

static void
out_arm(struct runtime *rt, bool on)
{
	if (!rt->out_pollable || rt->out_armed == on)
		return;
	if (io_mod(D->loop, &rt->out_io, on ? EPOLLOUT : 0) == 0)
		rt->out_armed = on;
}

/* Write what is queued, as much as stdout takes now. */
static void
out_flush(struct runtime *rt)
{
	int rc = sbuf_write(&rt->out, rt->out_fd);
	if (rc < 0 && (rc != -EAGAIN || !rt->out_pollable)) {
		/* Nobody reads stdout any more (or it cannot be waited for):
		 * the apps' lines are in their log files anyway. */
		if (!rt->out_broken)
			dlog("runtime: stdout: %s; the apps' output goes to their log files only",
			    strerror(-rc));
		rt->out_broken = true;
		sbuf_reset(&rt->out);
	}
	out_arm(rt, rt->out.len > 0);
}

/* Queue the count of the lines dropped so far, when there is room for it
 * and then for `then` bytes more (or whatever is queued, when forced). */
static void
out_note_dropped(struct runtime *rt, size_t then, bool force)
{
	if (!rt->dropped_lines)
		return;
	char note[160];
	int k = snprintf(note, sizeof(note), "[corral] %llu log lines dropped (%llu bytes): "
	    "stdout did not keep up\n", (unsigned long long)rt->dropped_lines,
	    (unsigned long long)rt->dropped_bytes);
	if (!force && rt->out.len + (size_t)k + then > OUT_MAX_BYTES)
		return;
	sbuf_add(&rt->out, note, (size_t)k);
	rt->dropped_lines = rt->dropped_bytes = 0;
}

static void
on_out(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct runtime *rt = arg;
	out_flush(rt);
	/* Drained: the count of what was dropped need not wait for the next
	 * line, which may never come. */
	if (rt->dropped_lines && !rt->out_broken) {
		out_note_dropped(rt, 0, false);
		out_flush(rt);
	}
}

/* Queue one record (a line with its newline) for stdout; dropped and
 * counted when the queue is full. The count comes first once there is
 * room again. */
static void
out_record(struct runtime *rt, const char *s, size_t n)
{
	if (rt->out_broken)
		return;
	out_note_dropped(rt, n, false);
	if (rt->out.len + n > OUT_MAX_BYTES || rt->dropped_lines) {
		rt->dropped_lines++;
		D->log_lines_dropped++;
		rt->dropped_bytes += n;
		return;
	}
	sbuf_add(&rt->out, s, n);
	if (!rt->out_armed)
		out_flush(rt);
}

/* One line (or a segment of a line longer than the daemon's buffer) of an
 * app's output, in the shape asked for. */
static void
on_log(const struct event *ev, void *arg)
{
	struct runtime *rt = arg;
	if (rt->out_broken)
		return;
	bool err = strcmp(ev->stream, "err") == 0;
	struct sbuf b = SBUF_INIT;
	char stamp[64];
	switch (rt->shape) {
	case SHAPE_RAW:
		sbuf_add(&b, ev->data, ev->len);
		if (ev->eol)
			sbuf_addc(&b, '\n');
		break;
	case SHAPE_PLAIN:
		sbuf_addf(&b, "%d|%s | ", ev->pm_id, ev->name);
		sbuf_add(&b, ev->data, ev->len);
		sbuf_addc(&b, '\n');
		break;
	case SHAPE_FORMAT:
		units_format_time(UNITS_ISO_TIME, wall_ms(), stamp, sizeof(stamp));
		sbuf_addf(&b, "timestamp=%s app=%s id=%d type=%s message=", stamp, ev->name,
		    ev->pm_id, err ? "error" : "out");
		sbuf_add(&b, ev->data, ev->len);
		sbuf_addc(&b, '\n');
		break;
	case SHAPE_JSON: {
		units_format_time(UNITS_ISO_TIME, wall_ms(), stamp, sizeof(stamp));
		const struct inst *in = inst_by_uid(ev->inst_uid);
		size_t len = ev->len;
		char *text = utf8_valid(ev->data, ev->len) ? NULL
		    : utf8_replaced(ev->data, ev->len, &len);
		json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s%}", "time", stamp,
		    "app", ev->name, "instance", in ? in->index : 0, "pm_id", ev->pm_id,
		    "stream", ev->stream, "message", text ? text : ev->data, len);
		free(text);
		if (o && !ev->eol)
			json_object_set_new(o, "partial", json_true());
		char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (line) {
			sbuf_adds(&b, line);
			sbuf_addc(&b, '\n');
			free(line);
		}
		break;
	}
	}
	if (b.len)
		out_record(rt, b.s, b.len);
	sbuf_free(&b);
}

/* ---- starting the apps ---- */

/* `corral start <arguments>` as our child: the CLI parses the file and
 * talks to us over the control socket like any client. Its own output (the
 * table of what started, warnings) goes to stderr: stdout is the apps'. */
static int
spawn_starter(struct runtime *rt, char **err)
{
	if (!D->exe_path) {
		*err = xasprintf("cannot find this program (/proc/self/exe) to run `corral start`");
		return -ENOENT;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		*err = xasprintf("fork: %s", strerror(e));
		return -e;
	}
	if (pid == 0) {
		child_signals_reset();
		if (dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
			_exit(127);
		execv(D->exe_path, rt->start_argv);
		dprintf(STDERR_FILENO, "corral runtime: cannot run %s: %s\n", D->exe_path,
		    strerror(errno));
		_exit(127);
	}
	rt->starter = pid;
	return 0;
}

static void
on_reaped(const struct event *ev, void *arg)
{
	struct runtime *rt = arg;
	if (ev->pid != rt->starter || rt->starter == 0)
		return;
	rt->starter = 0;
	int st = ev->wstatus;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		rt->started = true;
		rt->dirty = true;
		dlog("runtime: the apps are started");
		return;
	}
	if (D->shutting_down)
		return;
	rt->start_failed = true;
	if (WIFEXITED(st))
		notice("the apps could not all start (corral start exited with code %d): stopping",
		    WEXITSTATUS(st));
	else
		notice("the apps could not all start (corral start was killed by %s): stopping",
		    strsignal(WTERMSIG(st)));
	rt->shutdown();
}

static void
on_change(const struct event *ev, void *arg)
{
	struct runtime *rt = arg;
	rt->dirty = true;
}

/* ---- stopping ---- */

/* Auto-exit: every instance is stopped or errored, none has a process. */
static void
check_all_stopped(struct runtime *rt)
{
	if (!rt->auto_exit || !rt->started || D->shutting_down)
		return;
	bool errored = false;
	size_t n = 0;
	struct inst *in;
	TAILQ_FOREACH(in, &D->insts, link) {
		state_step();
		if (in->proc || (in->state != ST_STOPPED && in->state != ST_ERRORED))
			return;
		errored |= in->state == ST_ERRORED;
		n++;
	}
	rt->auto_exited = true;
	rt->auto_errored = errored;
	notice("every app has stopped for good (%zu instance%s%s): exiting", n,
	    n == 1 ? "" : "s", errored ? ", errored ones among them" : "");
	rt->shutdown();
}

/* Does app a still have an instance on its way down? Those that run get
 * their stop now. */
static bool
app_stop(struct app *a)
{
	bool busy = false;
	struct inst *in, *next;
	for (in = TAILQ_FIRST(&a->insts); in; in = next) {
		state_step();
		next = TAILQ_NEXT(in, app_link);
		if (in->state != ST_STOPPING && (in->proc ||
		    (in->state != ST_STOPPED && in->state != ST_ERRORED)))
			inst_stop(in, AFTER_STOP_NOTHING, "corral runtime stopping");
		if (in->state == ST_STOPPING)
			busy = true;
	}
	return busy;
}

/* One app at a time, the last started first: an app that depends on an
 * earlier one (a worker on its queue's proxy) stops while that still
 * runs. The instances of one app stop together. */
static void
stop_step(struct runtime *rt)
{
	struct app *a = rt->stop_cursor ? app_by_id(rt->stop_cursor) : NULL;
	if (!a)                     /* not begun, or its app was deleted meanwhile */
		a = TAILQ_LAST(&D->apps, app_list);
	for (; a; a = TAILQ_PREV(a, app_list, link)) {
		state_step();
		if (app_stop(a)) {
			rt->stop_cursor = a->id;
			return;
		}
	}
}

static void
runtime_step(struct loop *l, void *arg)
{
	struct runtime *rt = arg;
	if (!rt->dirty)
		return;
	rt->dirty = false;
	if (rt->stopping)
		stop_step(rt);
	else
		check_all_stopped(rt);
}

void
runtime_begin_stop(void)
{
	struct runtime *rt = D->runtime;
	if (rt->stopping)
		return;
	rt->stopping = true;
	struct inst *in;
	TAILQ_FOREACH(in, &D->insts, link) {
		state_step();
		if (in->state == ST_ERRORED)
			rt->errored_at_stop++;
	}
	if (rt->errored_at_stop && !rt->auto_exited)
		notice("%zu instance%s had failed (errored) before the stop", rt->errored_at_stop,
		    rt->errored_at_stop == 1 ? "" : "s");
	stop_step(rt);
}

void
runtime_kill_now(void)
{
	struct inst *in, *next;
	for (in = TAILQ_FIRST(&D->insts); in; in = next) {
		state_step();
		next = TAILQ_NEXT(in, link);
		if (in->proc && in->state != ST_STOPPING)
			inst_stop(in, AFTER_STOP_NOTHING, "corral runtime: killed (second signal)");
	}
	size_t n = supervise_kill_all();
	D->stop_kills += n;
	notice("second signal: SIGKILL to the %zu process%s left", n, n == 1 ? "" : "es");
}

int
runtime_exit_code(void)
{
	struct runtime *rt = D->runtime;
	int code;
	const char *why;
	if (rt->start_failed) {
		code = RUNTIME_EXIT_START;
		why = "the apps could not start";
	} else if (D->stop_kills) {
		code = RUNTIME_EXIT_KILLED;
		why = "processes had to be killed (SIGKILL)";
	} else if (rt->auto_exited) {
		code = rt->auto_errored ? RUNTIME_EXIT_FAILED : RUNTIME_EXIT_ALL_STOPPED;
		why = rt->auto_errored ? "every app stopped for good, some errored"
		    : "every app stopped for good";
	} else if (rt->errored_at_stop) {
		code = RUNTIME_EXIT_FAILED;
		why = "an app had failed before the stop";
	} else {
		code = RUNTIME_EXIT_OK;
		why = "every app stopped in time";
	}
	if (code == RUNTIME_EXIT_KILLED)
		notice("exiting with code %d: %zu process%s had to be killed (SIGKILL)", code,
		    D->stop_kills, D->stop_kills == 1 ? "" : "es");
	else
		notice("exiting with code %d: %s", code, why);
	return code;
}

/* ---- set-up ---- */

int
runtime_init(int argc, char **argv, char **err)
{
	struct runtime *rt = xcalloc(1, sizeof(*rt));
	rt->auto_exit = true;
	rt->out_fd = STDOUT_FILENO;
	rt->out_flags = -1;
	rt->start_argv = xcalloc((size_t)argc + 2, sizeof(char *));
	size_t n = 0;
	rt->start_argv[n++] = xstrdup("corral");
	rt->start_argv[n++] = xstrdup("start");
	const char *shape_opt = NULL;
	bool script_args = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		static const struct {
			const char *opt;
			enum shape shape;
		} shapes[] = {{"--json", SHAPE_JSON}, {"--raw", SHAPE_RAW},
		    {"--format", SHAPE_FORMAT}, {"--formatted", SHAPE_PLAIN}};
		bool taken = false;
		for (size_t k = 0; !script_args && k < ARRAY_LEN(shapes); k++) {
			if (strcmp(a, shapes[k].opt) != 0)
				continue;
			if (shape_opt && strcmp(shape_opt, a) != 0) {
				*err = xasprintf("%s and %s cannot go together: one shape of log lines",
				    shape_opt, a);
				goto fail;
			}
			shape_opt = shapes[k].opt;
			rt->shape = shapes[k].shape;
			taken = true;
		}
		if (taken)
			continue;
		if (!script_args && strcmp(a, "--no-auto-exit") == 0) {
			rt->auto_exit = false;
			continue;
		}
		if (!script_args && (strcmp(a, "--attach") == 0 || strcmp(a, "--no-daemon") == 0)) {
			*err = xasprintf("%s: the runtime runs in the foreground and prints the apps' "
			    "output itself", a);
			goto fail;
		}
		if (strcmp(a, "--") == 0)
			script_args = true;
		rt->start_argv[n++] = xstrdup(a);
	}
	D->runtime = rt;
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		free(rt->start_argv[i]);
	free(rt->start_argv);
	free(rt);
	return -EINVAL;
}

int
runtime_start(void (*shutdown)(void), char **err)
{
	struct runtime *rt = D->runtime;
	rt->shutdown = shutdown;
	/* A stdout nobody reads must not stop the loop: non-blocking, with a
	 * queue. A regular file cannot be polled (nor does it block). */
	rt->out_flags = fcntl(rt->out_fd, F_GETFL);
	if (rt->out_flags >= 0 && io_add(D->loop, &rt->out_io, rt->out_fd, 0, on_out, rt) == 0) {
		rt->out_pollable = true;
		fcntl(rt->out_fd, F_SETFL, rt->out_flags | O_NONBLOCK);
	}
	events_on(EV_LOG, on_log, rt);
	events_on(EV_REAPED, on_reaped, rt);
	const enum event_kind changes[] = {EV_INST_STATE, EV_INST_REMOVE, EV_APP_REMOVE};
	for (size_t i = 0; i < ARRAY_LEN(changes); i++)
		events_on(changes[i], on_change, rt);
	loop_add_hook(D->loop, runtime_step, rt);
	return spawn_starter(rt, err);
}

void
runtime_free(void)
{
	struct runtime *rt = D->runtime;
	if (!rt)
		return;
	if (rt->out_pollable) {
		/* What is queued still: give stdout a last chance, blocking (the
		 * loop is over). */
		io_del(D->loop, &rt->out_io);
		fcntl(rt->out_fd, F_SETFL, rt->out_flags);
		rt->out_pollable = false;
		if (!rt->out_broken) {
			out_note_dropped(rt, 0, true);
			if (rt->out.len)
				out_flush(rt);
		}
	}
	for (size_t i = 0; rt->start_argv[i]; i++)
		free(rt->start_argv[i]);
	free(rt->start_argv);
	sbuf_free(&rt->out);
	free(rt);
	D->runtime = NULL;
}

bool
runtime_apps_started(void)
{
	return !D->runtime || D->runtime->started;
}
