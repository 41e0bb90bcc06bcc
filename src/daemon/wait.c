/*
 * wait.c — requests that reply once instances reached a state (wait.h).
 */
#include "daemon/wait.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "daemon/op.h"
#include "daemon/pidfiles.h"
#include "daemon/procinfo.h"
#include "daemon/state.h"
#include "daemon/supervise.h"
#include "daemon/table.h"

struct wait_item {
	uint64_t uid;
	uint64_t serial;
	enum wait_kind kind;
};

struct wait {
	struct wait_item *items;
	size_t n, cap;
	size_t done;            /* items[0..done) reached their state: a check
	                         * re-reads only the others */
	json_t *failed;         /* [{"name", "error"}], NULL when none */
	char *error;            /* reply this error instead of the list */
	const char *error_code; /* static */
	bool exit_after;
	bool brief;
	bool files;             /* the pid files removed by the stops must be
	                         * gone too (pidfiles.h) */
	uint64_t files_seq;     /* ... up to this operation */
};

struct wait *
wait_new(void)
{
	return xcalloc(1, sizeof(struct wait));
}

void
wait_free(struct wait *w)
{
	if (!w)
		return;
	free(w->items);
	json_decref(w->failed);
	free(w->error);
	free(w);
}

static void
wait_free_op(void *p)
{
	wait_free(p);
}

static void
add_item(struct wait *w, struct wait_item it)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 8;
		w->items = xrealloc(w->items, w->cap * sizeof(*w->items));
	}
	w->items[w->n++] = it;
	/* A stop or a deletion removes pid files; a launch writes them later. */
	w->files |= it.kind != WAIT_LAUNCHED;
}

void
wait_add_gone(struct wait *w, uint64_t uid)
{
	add_item(w, (struct wait_item){.uid = uid, .kind = WAIT_GONE});
}

void
wait_add(struct wait *w, struct inst *in, enum wait_kind kind, uint64_t serial)
{
	add_item(w, (struct wait_item){.uid = in->uid, .kind = kind, .serial = serial});
}

void
wait_fail(struct wait *w, const char *fmt, ...)
{
	if (w->error)
		return;
	va_list ap;
	va_start(ap, fmt);
	w->error = xvasprintf(fmt, ap);
	va_end(ap);
	w->error_code = "failed";
}

void
wait_fail_as_first_failed(struct wait *w)
{
	json_t *f = json_array_get(w->failed, 0);
	if (!f || w->error)
		return;
	w->error = xstrdup(json_string_value(json_object_get(f, "error")));
	/* The codes come from apps.c's string literals. */
	const char *code = json_string_value(json_object_get(f, "code"));
	w->error_code = strcmp(code, "exists") == 0 ? "exists" : "failed";
}

void
wait_app_failed(struct wait *w, const char *name, const char *code, const char *error)
{
	if (!w->failed)
		w->failed = json_array();
	json_array_append_new(w->failed, json_pack("{s:s, s:s, s:s}", "name", name, "code", code,
	    "error", error));
}

size_t
wait_nfailed(const struct wait *w)
{
	return json_array_size(w->failed);
}

void
wait_brief(struct wait *w)
{
	w->brief = true;
}

void
wait_exit_after(struct wait *w)
{
	w->exit_after = true;
}

static bool
item_done(const struct wait_item *it)
{
	state_step();
	struct inst *in = inst_by_uid(it->uid);
	/* Stopped or deleted means nothing of the instance runs any more: a
	 * process a reload replaced may still be draining, holding its port. */
	if (!in)
		return it->kind != WAIT_GONE || inst_procs_gone(it->uid);
	switch (it->kind) {
	case WAIT_LAUNCHED:
		return inst_launched(in, it->serial);
	case WAIT_STOPPED:
		/* A restart that came meanwhile took the instance over: it never
		 * shows stopped, and that is the answer too. Stopped also means
		 * the processes a reload replaced are gone. */
		if (in->spawn_serial > it->serial)
			return true;
		return (in->state == ST_STOPPED || in->state == ST_ERRORED) &&
		    inst_procs_gone(in->uid);
	case WAIT_GONE:
		return false;
	}
	return true;
}

/* A launch the request waited for that ended without a process because the
 * spawn failed (the program is gone, no descriptors left): the request
 * failed, whatever the instance does next (an instance out of descriptors
 * tries again by itself). The first such failure is the error, with a count
 * of the others. */
static void
spawn_failures(struct wait *w)
{
	size_t failed = 0;
	const struct inst *first = NULL;
	for (size_t i = 0; i < w->n; i++) {
		const struct wait_item *it = &w->items[i];
		const struct inst *in = it->kind == WAIT_LAUNCHED && it->serial ?
		    inst_by_uid(it->uid) : NULL;
		if (!in || in->proc || !in->spawn_errno || in->spawn_serial < it->serial)
			continue;
		if (!first)
			first = in;
		failed++;
	}
	if (!first)
		return;
	if (failed == 1)
		wait_fail(w, "%s (pm_id %d): %s", first->app->spec.name, first->pm_id,
		    first->error ? first->error : strerror(first->spawn_errno));
	else
		wait_fail(w, "%s (pm_id %d): %s (and %zu more instances could not start)",
		    first->app->spec.name, first->pm_id,
		    first->error ? first->error : strerror(first->spawn_errno), failed - 1);
}

static bool
wait_check(struct op *op)
{
	struct wait *w = op->data;
	/* Every kind of state waited for, once reached, counts as reached (a
	 * launch that was over is not undone by a later stop): the items done
	 * so far need no second look, and a check stops at the first that is
	 * not done, so it costs what changed, not the whole request. */
	while (w->done < w->n && item_done(&w->items[w->done]))
		w->done++;
	if (w->done < w->n)
		return false;
	/* `kill` exits: nothing may outlive it, not even the processes a
	 * reload replaced that are still draining. */
	if (w->exit_after && !supervise_procs_gone())
		return false;
	/* What the stops asked of the pid files was asked by now (the
	 * instances stopped or went): done once the helper got that far. */
	if (w->files || w->exit_after) {
		if (!w->files_seq)
			w->files_seq = pidfiles_asked();
		if (!pidfiles_done(w->files_seq))
			return false;
	}
	if (!w->error)
		spawn_failures(w);
	if (w->error) {
		op_fail(op, w->error_code, "%s", w->error);
	} else {
		struct inst **ins = xmalloc((w->n ? w->n : 1) * sizeof(*ins));
		for (size_t i = 0; i < w->n; i++)
			ins[i] = inst_by_uid(w->items[i].uid);
		json_t *result = json_object();
		if (w->failed)
			json_object_set(result, "failed", w->failed);
		op_reply_procs(op, result, ins, w->n, w->brief ? PROCINFO_BRIEF : PROCINFO_FULL);
	}
	if (w->exit_after)
		loop_stop(D->loop);
	return true;
}

void
wait_reply_when_done(struct wait *w, struct client *c, json_t *id)
{
	op_new(c, id, wait_check, w, wait_free_op);
}
