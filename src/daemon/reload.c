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
 */
#include "daemon/reload.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/signame.h"
#include "common/util.h"
#include "daemon/commands.h"
#include "daemon/op.h"
#include "daemon/server.h"
#include "daemon/supervise.h"
#include "daemon/table.h"

struct slot {
	uint64_t inst_uid;
	struct proc *succ;       /* compared, dereferenced only while listed */
	uint64_t serial;
	int pm_id;
};

struct reload {
	uint64_t app_id;
	uint64_t *queue;         /* instance uids still to replace */
	size_t nqueue, next;
	uint64_t *done;          /* instances already replaced */
	size_t ndone;
	struct slot *slots;
	int parallel;
	char *error;
	bool finishing;          /* all promoted; waiting for old processes */
	bool cancelled;
};

static struct app *
find_app(uint64_t id)
{
	struct app *a;
	TAILQ_FOREACH(a, &D->apps, link)
		if (a->id == id)
			return a;
	return NULL;
}

static struct inst *
find_inst(uint64_t uid)
{
	struct inst *in;
	TAILQ_FOREACH(in, &D->insts, link)
		if (in->uid == uid)
			return in;
	return NULL;
}

/* Is p still a live process we track? (p may point to freed memory.) */
static struct proc *
live_proc(struct proc *p, uint64_t serial)
{
	struct proc *q;
	TAILQ_FOREACH(q, &D->procs, link)
		if (q == p && q->serial == serial)
			return q;
	return NULL;
}

static void
reload_free(void *p)
{
	struct reload *r = p;
	struct app *a = find_app(r->app_id);
	if (a && a->reload == r)
		a->reload = NULL;
	free(r->queue);
	free(r->done);
	free(r->slots);
	free(r->error);
	free(r);
}

static void
fail(struct reload *r, const char *fmt, ...) PRINTFLIKE(2, 3);

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
		struct proc *p = s->succ ? live_proc(s->succ, s->serial) : NULL;
		if (p)
			proc_abort(p);
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
	struct inst *in = find_inst(s->inst_uid);
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
	if (p->ready) {
		dlog("%s[%d]: reload promotes pid %d", name, in->pm_id, (int)p->pid);
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
		struct inst *in = find_inst(r->queue[r->next++]);
		if (!in)
			continue;
		if (!in->proc || in->state != ST_ONLINE) {
			/* Not serving: nothing to keep up, restart as PM2 does. */
			inst_restart(in, "reload of an instance that was not online");
			continue;
		}
		char *err = NULL;
		struct proc *p = proc_spawn(in, &err);
		if (!p) {
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

static bool
old_processes_gone(struct reload *r)
{
	struct proc *p;
	TAILQ_FOREACH(p, &D->procs, link) {
		if (!p->retiring || !p->inst)
			continue;
		for (size_t i = 0; i < r->ndone; i++)
			if (p->inst->uid == r->done[i])
				return false;
	}
	return true;
}

static bool
reload_check(struct op *op)
{
	struct reload *r = op->data;
	struct app *a = find_app(r->app_id);
	if (!a || r->cancelled)
		fail(r, "the reload was cancelled (the app was stopped or deleted)");
	if (!r->error) {
		bool busy = false;
		for (int i = 0; i < r->parallel && !r->error; i++) {
			struct slot *s = &r->slots[i];
			if (s->inst_uid && step_slot(r, s))
				s->inst_uid = 0;
			if (!s->inst_uid && !r->error)
				fill_slot(r, s);
			busy |= s->inst_uid != 0;
		}
		if (!r->error && busy)
			return false;
	}
	if (r->error) {
		dlog("reload failed: %s", r->error);
		op_fail(op, "reload_failed", "%s", r->error);
		return true;
	}
	if (!old_processes_gone(r))
		return false;
	json_t *procs = json_array();
	if (a) {
		struct inst *in;
		TAILQ_FOREACH(in, &a->insts, app_link)
			json_array_append_new(procs, command_procinfo(in, false));
		dlog("%s: reload done (%zu instance%s replaced)", a->spec.name, r->ndone,
		    r->ndone == 1 ? "" : "s");
	}
	op_reply(op, json_pack("{s:o}", "procs", procs));
	return true;
}

void
reload_start(struct client *c, json_t *req_id, struct app *app, struct inst **insts,
    size_t n, int parallel)
{
	if (app->reload) {
		client_error(c, req_id, "busy", "a reload of %s is already in progress",
		    app->spec.name);
		return;
	}
	struct reload *r = xcalloc(1, sizeof(*r));
	r->app_id = app->id;
	r->queue = xcalloc(n, sizeof(*r->queue));
	r->done = xcalloc(n, sizeof(*r->done));
	for (size_t i = 0; i < n; i++)
		r->queue[i] = insts[i]->uid;
	r->nqueue = n;
	r->parallel = parallel < 1 ? 1 : parallel > (int)n ? (int)n : parallel;
	r->slots = xcalloc((size_t)r->parallel, sizeof(*r->slots));
	app->reload = r;
	dlog("%s: reload of %zu instance%s, %d at a time", app->spec.name, n,
	    n == 1 ? "" : "s", r->parallel);
	op_new(c, req_id, reload_check, r, reload_free);
}

void
reload_cancel(struct app *app)
{
	if (app->reload) {
		((struct reload *)app->reload)->cancelled = true;
		op_poke();
	}
}
