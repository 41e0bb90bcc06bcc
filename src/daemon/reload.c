/*
 * reload.c — rolling, readiness-gated replacement of a cluster app's
 * instances (the protocol is in reload.h).
 *
 * The reload is an op (op.h): its check function is the state machine and
 * runs whenever an instance or process changed. Each of up to `parallel`
 * slots goes:
 *
 *   (queue) ──spawn successor──▶ WAIT_READY ──ready──▶ promote ──▶ (done)
 *                                   │  exited / listen_timeout
 *                                   ▼
 *                                 FAILED: kill every successor, keep the old
 *                                 processes, reply an error
 *
 * After the last promotion the reply waits until the replaced processes are
 * gone (drained and stopped), so `corral reload` returning means the old
 * code no longer runs.
 *
 * One request may name several apps (`reload all`): each cluster app gets
 * its own state machine (struct reload, app->reload), fork-mode instances
 * and instances that were not online restart instead, and the one op of
 * the request replies when every part is over.
 */
#include "daemon/reload.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/log.h"
#include "common/signame.h"
#include "common/util.h"
#include "daemon/events.h"
#include "daemon/op.h"
#include "daemon/procinfo.h"
#include "daemon/server.h"
#include "daemon/supervise.h"
#include "daemon/table.h"

struct slot {
	uint64_t inst_uid;
	struct proc *succ;       /* compared, dereferenced only while listed */
	uint64_t serial;
	int pm_id;
};

/* A restarted instance the reply waits for: launched past serial. */
struct launch_wait {
	uint64_t inst_uid;
	uint64_t serial;
};

/* The whole request: the per-app reloads and the restarts. */
struct reload_req {
	struct reload **apps;
	size_t napps;
	struct launch_wait *launches;
	size_t nlaunches, cap_launches;
	size_t launched;         /* launches[0..launched) are over (they stay so) */
	uint64_t *listed;        /* every instance named, for the reply */
	size_t nlisted;
};

struct reload {
	struct reload_req *req;
	uint64_t app_id;
	uint64_t *queue;         /* instance uids still to replace */
	size_t nqueue, next;
	uint64_t *done;          /* instances already replaced */
	size_t ndone;
	size_t gone;             /* done[0..gone) have no replaced process left */
	struct slot *slots;
	int parallel;
	struct slot *aborted;    /* successors killed by a failure */
	size_t naborted;
	char *error;
	bool cancelled;
	bool over;               /* failed, or every old process is gone */
};

/* Is p still a live process we track? (p may point to freed memory: only
 * its serial is looked at.) */
static struct proc *
live_proc(struct proc *p, uint64_t serial)
{
	struct proc *q = proc_by_serial(serial);
	if (q != p)
		return NULL;
	return q->state == P_ABANDONED ? NULL : q;   /* unkillable: not waited for */
}

static void
reload_free(struct reload *r)
{
	struct app *a = app_by_id(r->app_id);
	if (a && a->reload == r)
		a->reload = NULL;
	free(r->queue);
	free(r->done);
	free(r->slots);
	free(r->aborted);
	free(r->error);
	free(r);
}

static void
req_free(void *p)
{
	struct reload_req *q = p;
	for (size_t i = 0; i < q->napps; i++)
		reload_free(q->apps[i]);
	free(q->apps);
	free(q->launches);
	free(q->listed);
	free(q);
}

static void
wait_launch(struct reload_req *q, struct inst *in, uint64_t serial)
{
	if (q->nlaunches == q->cap_launches) {
		q->cap_launches = q->cap_launches ? 2 * q->cap_launches : 8;
		q->launches = xrealloc(q->launches, q->cap_launches * sizeof(*q->launches));
	}
	q->launches[q->nlaunches++] = (struct launch_wait){in->uid, serial};
}

/* Restart in (PM2's reload of what cannot reload) and wait for it. */
static void
restart_inst(struct reload_req *q, struct inst *in, const char *reason)
{
	wait_launch(q, in, in->spawn_serial + 1);
	inst_restart(in, reason);
}

static void
fail(struct reload *r, const char *fmt, ...) PRINTFLIKE(2, 3);

/* Remember that in's serving process could not be replaced. */
static void
mark_failed(struct inst *in)
{
	if (in && in->proc)
		in->reload_failed_serial = in->proc->serial;
}

static void
fail(struct reload *r, const char *fmt, ...)
{
	if (r->error)
		return;
	va_list ap;
	va_start(ap, fmt);
	r->error = xvasprintf(fmt, ap);
	va_end(ap);
	for (int i = 0; i < r->parallel; i++) {
		struct slot *s = &r->slots[i];
		mark_failed(inst_by_uid(s->inst_uid));
		struct proc *p = s->succ ? live_proc(s->succ, s->serial) : NULL;
		if (p) {
			proc_abort(p);
			r->aborted[r->naborted++] = *s;
		}
		s->inst_uid = 0;
		s->succ = NULL;
	}
}

static char *
exit_text(int wstatus)
{
	if (WIFSIGNALED(wstatus))
		return xasprintf("was killed by %s", signame_name(WTERMSIG(wstatus)));
	return xasprintf("exited with code %d", WEXITSTATUS(wstatus));
}

/* Advance one slot; true when the slot is free again. */
static bool
step_slot(struct reload *r, struct slot *s)
{
	struct inst *in = inst_by_uid(s->inst_uid);
	struct proc *p = s->succ ? live_proc(s->succ, s->serial) : NULL;
	if (!in) {
		if (p)
			proc_abort(p);
		return true;
	}
	const char *name = in->app->spec.name;
	if (!p && in->successor_exit_serial == s->serial) {
		/* It exited and its process group is already gone. */
		char *why = exit_text(in->successor_wstatus);
		fail(r, "%s (pm_id %d): the new process %s before it was ready; "
		    "the old processes keep serving", name, s->pm_id, why);
		free(why);
		return true;
	}
	if (in->successor_abort_serial == s->serial) {
		/* A stop cancels the reload; only a restart gets here. */
		fail(r, "%s (pm_id %d): restarted while it was being reloaded; the reload "
		    "stops here", name, s->pm_id);
		return true;
	}
	if (!p || in->successor != p) {
		fail(r, "%s (pm_id %d): the new process went away before it was ready; "
		    "the old processes keep serving", name, s->pm_id);
		return true;
	}
	if (p->exited) {
		char *why = exit_text(p->wstatus);
		fail(r, "%s (pm_id %d): the new process (pid %d) %s before it was ready; "
		    "the old processes keep serving", name, s->pm_id, (int)p->pid, why);
		free(why);
		return true;
	}
	if (proc_stopping(p) || p->retiring || in->state == ST_STOPPING) {
		fail(r, "%s (pm_id %d): stopped while it was being reloaded", name, s->pm_id);
		return true;
	}
	if (p->state == P_READY) {
		dlog("%s[%d]: reload promotes pid %d", name, in->pm_id, (int)p->pid);
		inst_promote(in);
		r->done[r->ndone++] = in->uid;
		return true;
	}
	if (p->ready_timed_out && in->proc && in->proc->ready_mono < 0) {
		/* The process it replaces never said it was ready either: this
		 * app does not signal readiness (a worker that binds no port),
		 * so, as PM2 does, listen_timeout is as good as it gets. */
		dlog("%s[%d]: reload promotes pid %d after listen_timeout (pid %d was never "
		    "ready either)", name, in->pm_id, (int)p->pid, (int)in->proc->pid);
		inst_promote(in);
		r->done[r->ndone++] = in->uid;
		return true;
	}
	if (p->ready_timed_out) {
		fail(r, "%s (pm_id %d): the new process (pid %d) was not ready within "
		    "listen_timeout (%lld ms); the old processes keep serving", name, s->pm_id,
		    (int)p->pid, (long long)in->app->spec.listen_timeout);
		return true;
	}
	return false;
}

/* Start the next instance's successor in slot s; false when none left. */
static bool
fill_slot(struct reload *r, struct slot *s)
{
	while (r->next < r->nqueue) {
		struct inst *in = inst_by_uid(r->queue[r->next++]);
		if (!in)
			continue;
		if (!in->proc || in->state != ST_ONLINE) {
			/* Not serving: nothing to keep up, restart as PM2 does. */
			restart_inst(r->req, in, "reload of an instance that was not online");
			continue;
		}
		char *err = NULL;
		struct proc *p = proc_spawn(in, &err);
		if (!p) {
			mark_failed(in);
			fail(r, "%s (pm_id %d): %s; the old processes keep serving",
			    in->app->spec.name, in->pm_id, err);
			free(err);
			return false;
		}
		in->successor = p;
		s->inst_uid = in->uid;
		s->succ = p;
		s->serial = p->serial;
		s->pm_id = in->pm_id;
		return true;
	}
	return false;
}

/* Are the processes the reload replaced gone? Each instance's own
 * processes are looked at, from the first not known to be done: once gone,
 * they stay gone. */
static bool
instance_retired(uint64_t uid)
{
	struct inst *in = inst_by_uid(uid);
	struct proc *p;
	if (in)
		TAILQ_FOREACH(p, &in->procs, inst_link) {
			state_step();
			if (p->retiring && p->state != P_ABANDONED)
				return false;
		}
	return true;
}

static bool
old_processes_gone(struct reload *r)
{
	while (r->gone < r->ndone && instance_retired(r->done[r->gone]))
		r->gone++;
	return r->gone == r->ndone;
}

/* Advance one app's reload; true once it is over (r->error says how). */
static bool
reload_step(struct reload *r)
{
	struct app *a = app_by_id(r->app_id);
	if (!a || r->cancelled)
		fail(r, "the reload was cancelled (the app was stopped or deleted)");
	if (!r->error) {
		bool busy = false;
		for (int i = 0; i < r->parallel && !r->error; i++) {
			struct slot *s = &r->slots[i];
			if (s->inst_uid && step_slot(r, s)) {
				/* Free, and forget the process: once promoted it
				 * serves, and a later failure must not abort it. */
				s->inst_uid = 0;
				s->succ = NULL;
			}
			if (!s->inst_uid && !r->error)
				fill_slot(r, s);
			busy |= s->inst_uid != 0;
		}
		if (!r->error && busy)
			return false;
	}
	if (r->error) {
		/* Reply once the killed successors are reaped: the failed
		 * release must not outlive the answer that says it failed. */
		for (size_t i = 0; i < r->naborted; i++)
			if (live_proc(r->aborted[i].succ, r->aborted[i].serial))
				return false;
		dlog("reload failed: %s", r->error);
		return true;
	}
	if (!old_processes_gone(r))
		return false;
	if (a)
		dlog("%s: reload done (%zu instance%s replaced)", a->spec.name, r->ndone,
		    r->ndone == 1 ? "" : "s");
	return true;
}

static bool
launched(const struct launch_wait *w)
{
	return inst_launched(inst_by_uid(w->inst_uid), w->serial);
}

static bool
reload_check(struct op *op)
{
	struct reload_req *q = op->data;
	bool over = true;
	for (size_t i = 0; i < q->napps; i++) {
		struct reload *r = q->apps[i];
		if (!r->over && reload_step(r)) {
			r->over = true;
			/* The app may reload again while the others finish. */
			struct app *a = app_by_id(r->app_id);
			if (a && a->reload == r)
				a->reload = NULL;
			/* `corral web`'s corral_app_reloads_total. */
			if (a && r->error)
				a->reloads_failed++;
			else if (a)
				a->reloads_ok++;
		}
		over &= r->over;
	}
	while (over && q->launched < q->nlaunches && launched(&q->launches[q->launched]))
		q->launched++;
	if (!over || q->launched < q->nlaunches)
		return false;
	struct sbuf errors = SBUF_INIT;
	for (size_t i = 0; i < q->napps; i++)
		if (q->apps[i]->error)
			sbuf_addf(&errors, "%s%s", errors.len ? "; " : "", q->apps[i]->error);
	if (errors.len) {
		op_fail(op, "reload_failed", "%s", errors.s);
		sbuf_free(&errors);
		return true;
	}
	sbuf_free(&errors);
	struct inst **ins = xmalloc((q->nlisted ? q->nlisted : 1) * sizeof(*ins));
	for (size_t i = 0; i < q->nlisted; i++)
		ins[i] = inst_by_uid(q->listed[i]);
	op_reply_procs(op, json_object(), ins, q->nlisted, PROCINFO_FULL);
	return true;
}

/* A reload of insts[0..n) (all of app) as part of request q. */
static struct reload *
reload_new(struct reload_req *q, struct app *app, struct inst **insts, size_t n,
    int parallel)
{
	struct reload *r = xcalloc(1, sizeof(*r));
	r->req = q;
	r->app_id = app->id;
	r->queue = xcalloc(n, sizeof(*r->queue));
	r->done = xcalloc(n, sizeof(*r->done));
	for (size_t i = 0; i < n; i++)
		r->queue[i] = insts[i]->uid;
	r->nqueue = n;
	r->parallel = parallel < 1 ? 1 : parallel > (int)n ? (int)n : parallel;
	r->slots = xcalloc((size_t)r->parallel, sizeof(*r->slots));
	r->aborted = xcalloc((size_t)r->parallel, sizeof(*r->aborted));
	app->reload = r;
	dlog("%s: reload of %zu instance%s, %d at a time", app->spec.name, n,
	    n == 1 ? "" : "s", r->parallel);
	return r;
}

struct app *
reload_busy(struct inst **insts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (insts[i]->app->reload)
			return insts[i]->app;
	return NULL;
}

void
reload_start(struct client *c, json_t *req_id, struct inst **insts, size_t n, int parallel)
{
	/* All or nothing: no app of the request may be reloading already. */
	struct app *busy = reload_busy(insts, n);
	if (busy) {
		if (c)
			client_error(c, req_id, "busy", "a reload of %s is already in progress",
			    busy->spec.name);
		return;
	}
	struct reload_req *q = xcalloc(1, sizeof(*q));
	q->listed = xcalloc(n ? n : 1, sizeof(*q->listed));
	q->apps = xcalloc(n ? n : 1, sizeof(*q->apps));
	/* The cluster instances grouped by app, in the order listed, without a
	 * pass over the list per app: by_app numbers the apps (from 1) in the
	 * order of their first instance, count[] sizes their runs in mine[]. */
	struct inst **mine = xcalloc(n ? n : 1, sizeof(*mine));
	size_t *count = xcalloc(n ? n : 1, sizeof(*count));
	struct idmap by_app = IDMAP_INIT;
	size_t nruns = 0;
	for (size_t i = 0; i < n; i++) {
		struct app *a = insts[i]->app;
		if (a->spec.exec_mode != MODE_CLUSTER)
			continue;
		uintptr_t run = (uintptr_t)idmap_get(&by_app, a->id);
		if (!run)
			idmap_put(&by_app, a->id, (void *)(run = ++nruns));
		count[run - 1]++;
	}
	size_t *at = xcalloc(nruns ? nruns : 1, sizeof(*at));
	for (size_t r = 1; r < nruns; r++)
		at[r] = at[r - 1] + count[r - 1];
	for (size_t i = 0; i < n; i++) {
		struct app *a = insts[i]->app;
		q->listed[q->nlisted++] = insts[i]->uid;
		if (a->spec.exec_mode != MODE_CLUSTER) {
			restart_inst(q, insts[i], "reloaded (fork mode restarts)");
			continue;
		}
		size_t run = (uintptr_t)idmap_get(&by_app, a->id) - 1;
		mine[at[run]++] = insts[i];
	}
	/* at[r] now ends run r; each app's reload gets its run. */
	for (size_t r = 0, from = 0; r < nruns; from = at[r], r++)
		q->apps[q->napps++] = reload_new(q, mine[from]->app, mine + from, at[r] - from,
		    parallel);
	idmap_free(&by_app);
	free(at);
	free(count);
	free(mine);
	op_new(c, req_id, reload_check, q, req_free);
}

void
reload_cancel(struct app *app)
{
	if (app->reload) {
		((struct reload *)app->reload)->cancelled = true;
		op_poke();
	}
}

void
reload_on_event(const struct event *ev, void *arg)
{
	if (ev->kind == EV_APP_REMOVE)
		reload_cancel(ev->app);
}
