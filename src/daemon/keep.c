/*
 * keep.c — the daemon's side of its keeper (keep.h).
 */
#include "daemon/keep.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/jsonw.h"
#include "common/log.h"
#include "common/spec.h"
#include "daemon/events.h"
#include "daemon/logpipe.h"
#include "daemon/notify.h"
#include "daemon/state.h"
#include "daemon/supervise.h"
#include "daemon/table.h"

#define HANDOVER_TIMEOUT_MS 10000
#define BYE_TIMEOUT_MS 3000
/* A keeper that keeps dying is started again at most this often. */
#define RESPAWN_MIN_MS 5000
/* What may wait for a keeper that does not read (stopped, wedged) before
 * it is given up: bytes (CORRAL_KEEP_QUEUE_MAX overrides it) and
 * descriptors, which are duplicates held in the daemon's own table. */
#define QUEUE_MAX_BYTES (16u << 20)
#define QUEUE_MAX_FDS 1024u
/* Batched frames go before they grow past this. */
#define BATCH_MAX_BYTES (256u << 10)

/* A frame the socket did not take yet. Its descriptors are our own
 * duplicates until they are sent (the caller may close its own at once). */
struct out {
	STAILQ_ENTRY(out) link;
	char *buf;                /* header + blob */
	size_t len, off;
	int fds[KEEP_MAX_FDS];
	unsigned nfds;            /* 0 once sent */
};

STAILQ_HEAD(out_list, out);

struct keep {
	int fd;                   /* -1 without a keeper */
	pid_t pid;
	bool live;                /* started: records and descriptors flow */
	struct io io;
	struct out_list queue;
	size_t queued_bytes;      /* in queue, not sent yet */
	unsigned queued_fds;
	size_t queue_max;
	bool dirty;               /* some record is marked */
	int last_next_pm_id;      /* what the keeper has */
	struct timer respawn;
	int64_t last_spawn_mono;
	int dump_fd;              /* keep_dump(): items go there, -1 otherwise */
	int dump_rc;
	struct sbuf batch;        /* frames without descriptors, sent once a turn */
};

static void keeper_lost(const char *why);
static void keeper_wedged(struct keep *k);
static void sync_all(void);
static void batch_send(struct keep *k);

/* ---- sending ---- */

static void
out_free(struct out *o)
{
	for (unsigned i = 0; i < o->nfds; i++)
		close(o->fds[i]);
	free(o->buf);
	free(o);
}

static void
queue_clear(struct keep *k)
{
	struct out *o;
	while ((o = STAILQ_FIRST(&k->queue)) != NULL) {
		STAILQ_REMOVE_HEAD(&k->queue, link);
		out_free(o);
	}
	k->queued_bytes = 0;
	k->queued_fds = 0;
	sbuf_free(&k->batch);
}

/* sendmsg() of buf[off..len), with fds when given. Bytes sent or -errno. */
static ssize_t
send_some(int sock, const char *buf, size_t len, size_t off, const int *fds, unsigned nfds)
{
	struct iovec iov = {(char *)buf + off, len - off};
	return keep_sendmsg(sock, &iov, 1, fds, nfds, MSG_DONTWAIT);
}

static void
watch_output(struct keep *k, bool on)
{
	io_mod(D->loop, &k->io, on ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

/* Send what the socket takes of the first queued frame: 1 when it is all
 * gone, 0 when the socket is full, or -errno. */
static int
send_head(struct keep *k)
{
	struct out *o = STAILQ_FIRST(&k->queue);
	ssize_t n = send_some(k->fd, o->buf, o->len, o->off, o->fds, o->nfds);
	if (n == -EAGAIN)
		return 0;
	if (n < 0)
		return (int)n;
	/* The descriptors went with the first byte. */
	for (unsigned i = 0; i < o->nfds; i++)
		close(o->fds[i]);
	k->queued_fds -= o->nfds;
	o->nfds = 0;
	o->off += (size_t)n;
	k->queued_bytes -= (size_t)n;
	if (o->off < o->len)
		return 0;
	STAILQ_REMOVE_HEAD(&k->queue, link);
	out_free(o);
	return 1;
}

/* Send what waits; false when the keeper is gone. */
static bool
flush_queue(struct keep *k)
{
	int rc = 1;
	while (!STAILQ_EMPTY(&k->queue) && (rc = send_head(k)) == 1)
		;
	if (rc < 0) {
		keeper_lost(strerror(-rc));
		return false;
	}
	if (STAILQ_EMPTY(&k->queue))
		watch_output(k, false);
	return true;
}

static void send_buf(struct keep *k, char *buf, size_t total, const int *fds, unsigned nfds);

/* Send the frames batched so far. */
static void
batch_send(struct keep *k)
{
	if (!k->batch.len)
		return;
	size_t len = k->batch.len;
	char *buf = sbuf_take(&k->batch);
	send_buf(k, buf, len, NULL, 0);
}

/* Send one frame (batched, or now with its descriptors), or queue what
 * the socket does not take. */
static void
send_frame(enum keep_op op, uint64_t key, const char *blob, size_t len, const int *fds,
    unsigned nfds)
{
	struct keep *k = D->keep;
	if (k && k->dump_fd >= 0) {
		/* A copy of every item's record for a binary that checks it can
		 * read them (update.c): PUTs only, without descriptors. */
		if (op == KEEP_PUT && k->dump_rc == 0)
			k->dump_rc = keep_send(k->dump_fd, KEEP_ITEM, key, blob, len, NULL, 0);
		return;
	}
	if (!k || !k->live)
		return;
	struct keep_hdr hdr;
	if (keep_hdr_make(&hdr, op, key, len, nfds) < 0) {
		dlog("keeper: item %llx (%zu bytes) cannot be kept", (unsigned long long)key, len);
		return;
	}
	/* Frames without descriptors wait for the end of the loop's turn
	 * (keep_flush()) and go in one send: stopping a thousand apps was
	 * two thousand sendmsg() calls here and as many reads in the keeper.
	 * One with descriptors sends them first, so the order stays. */
	if (nfds == 0) {
		sbuf_add(&k->batch, (const char *)&hdr, sizeof(hdr));
		if (len)
			sbuf_add(&k->batch, blob, len);
		if (k->batch.len >= BATCH_MAX_BYTES)
			batch_send(k);
		return;
	}
	batch_send(k);
	if (!k->live)
		return;
	size_t total = sizeof(hdr) + len;
	char *buf = xmalloc(total);
	memcpy(buf, &hdr, sizeof(hdr));
	if (len)
		memcpy(buf + sizeof(hdr), blob, len);
	send_buf(k, buf, total, fds, nfds);
}

/* Send buf (ours to free) now with its descriptors, or queue what the
 * socket does not take. */
static void
send_buf(struct keep *k, char *buf, size_t total, const int *fds, unsigned nfds)
{
	size_t off = 0;
	bool fds_sent = false;
	if (STAILQ_EMPTY(&k->queue)) {
		ssize_t n = send_some(k->fd, buf, total, 0, fds, nfds);
		if (n < 0 && n != -EAGAIN) {
			free(buf);
			keeper_lost(strerror((int)-n));
			return;
		}
		if (n == (ssize_t)total) {
			free(buf);
			return;
		}
		if (n > 0) {
			off = (size_t)n;
			fds_sent = true;
		}
	}
	struct out *o = xcalloc(1, sizeof(*o));
	o->buf = buf;
	o->len = total;
	o->off = off;
	for (unsigned i = 0; !fds_sent && i < nfds; i++) {
		int dup = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		if (dup < 0) {
			/* Out of descriptors: send it without this one rather than
			 * break the frame. */
			dlog("keeper: cannot queue a descriptor: %s", strerror(errno));
			continue;
		}
		o->fds[o->nfds++] = dup;
	}
	if (!fds_sent && o->nfds != nfds) {
		/* The header says how many follow: fix it to what we have. */
		struct keep_hdr *h = (struct keep_hdr *)o->buf;
		h->nfds = (uint16_t)o->nfds;
	}
	bool was_empty = STAILQ_EMPTY(&k->queue);
	STAILQ_INSERT_TAIL(&k->queue, o, link);
	k->queued_bytes += o->len - o->off;
	k->queued_fds += o->nfds;
	if (was_empty)
		watch_output(k, true);
	if (k->queued_bytes > k->queue_max || k->queued_fds > QUEUE_MAX_FDS)
		keeper_wedged(k);
}

static void
send_json(enum keep_op op, uint64_t key, json_t *rec, const int *fds, unsigned nfds)
{
	char *txt = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	send_frame(op, key, txt, txt ? strlen(txt) : 0, fds, nfds);
	free(txt);
	json_decref(rec);
}

/* Whether a record would go anywhere: to a live keeper, or to a dump. */
static bool
wanted(void)
{
	return D->keep && (D->keep->live || D->keep->dump_fd >= 0);
}

void
keep_put(enum keep_kind kind, uint64_t id, json_t *rec, const int *fds, unsigned nfds)
{
	if (!wanted()) {
		json_decref(rec);
		return;
	}
	send_json(KEEP_PUT, KEEP_KEY(kind, id), rec, fds, nfds);
}

/* The record being written, as text: the records that change with every
 * state (instances, processes) skip a jansson tree and its dump, most of
 * what stopping a thousand apps cost this file. put_text() sends it and
 * empties it. */
static struct sbuf record = SBUF_INIT;

static void
put_text(enum keep_op op, uint64_t key, const int *fds, unsigned nfds)
{
	send_frame(op, key, record.s, record.len, fds, nfds);
	sbuf_reset(&record);
}

void
keep_del(enum keep_kind kind, uint64_t id)
{
	send_frame(KEEP_DEL, KEEP_KEY(kind, id), NULL, 0, NULL, 0);
}

/* ---- records ---- */

/* An environment base the keeper holds once for every app record that
 * names it: with a thousand apps started from one shell, their records
 * held a thousand copies of the same variables (2.5 MB in the keeper,
 * built and sent by the daemon for each app). By base (the pool's object,
 * referenced here so that its address stays its own) and by id. */
struct keep_env {
	json_t *base;
	uint64_t id;
	size_t users;             /* app records that name it */
};

static struct idmap envs_by_base;
static uint64_t last_env_id;

static uint64_t
base_key(const json_t *base)
{
	return (uint64_t)(uintptr_t)base;
}

/* The keeper's item for base, sent when it is new. */
static struct keep_env *
env_hold(json_t *base)
{
	struct keep_env *e = idmap_get(&envs_by_base, base_key(base));
	if (!e) {
		e = xcalloc(1, sizeof(*e));
		e->base = json_incref(base);
		e->id = ++last_env_id;
		idmap_put(&envs_by_base, base_key(base), e);
		keep_put(KK_ENV, e->id, json_pack("{s:O}", "env", base), NULL, 0);
	}
	e->users++;
	return e;
}

static void
env_forget(struct keep_env *e)
{
	idmap_del(&envs_by_base, base_key(e->base));
	json_decref(e->base);
	free(e);
}

/* An app record no longer names e: the item goes with its last user. */
static void
env_release(struct keep_env *e)
{
	if (!e || --e->users > 0)
		return;
	keep_del(KK_ENV, e->id);
	env_forget(e);
}

/* A new generation of items (a new keeper): every base is sent again. */
static void
env_forget_all(void)
{
	struct app *a;
	TAILQ_FOREACH(a, &D->apps, link)
		a->keep_env = NULL;
	for (size_t i = 0; i < envs_by_base.cap; i++)
		if (envs_by_base.v[i].value) {
			struct keep_env *e = envs_by_base.v[i].value;
			json_decref(e->base);
			free(e);
		}
	idmap_free(&envs_by_base);
}

/* The app's record: its spec, with either its whole environment or, when
 * it is kept as a shared base and a delta (table.c), the base's id ("env")
 * and the delta and the app's own variables in the spec. */
static json_t *
app_record(struct app *a)
{
	const struct spec *s = &a->spec;
	/* Whole, unless the base it names is the spec's own (a dump while no
	 * keeper takes records may meet a spec changed since). */
	if (!a->keep_env || s->env || a->keep_env->base != s->env_base)
		return json_pack("{s:I, s:o}", "id", (json_int_t)a->id, "spec", spec_to_json(s, true));
	json_t *spec = spec_to_json(s, false);
	if (s->env_delta)
		json_object_set(spec, "env_delta", s->env_delta);
	if (s->app_env)
		json_object_set(spec, "app_env", s->app_env);
	return json_pack("{s:I, s:o, s:I}", "id", (json_int_t)a->id, "spec", spec, "env",
	    (json_int_t)a->keep_env->id);
}

/* Send the app's record, holding the base it names first and letting go
 * of the one its last record named. */
static void
put_app(struct app *a)
{
	struct keep_env *was = a->keep_env;
	a->keep_env = !a->spec.env && a->spec.env_base ? env_hold(a->spec.env_base) : NULL;
	env_release(was);
	keep_put(KK_APP, a->id, app_record(a), NULL, 0);
}

void
keep_env_index(const struct keep_items *items, struct idmap *envs)
{
	for (size_t i = 0; i < items->n; i++) {
		const struct keep_item *it = &items->v[i];
		json_t *env = json_object_get(it->rec, "env");
		if (KEEP_KIND(it->key) == KK_ENV && json_is_object(env))
			idmap_put(envs, KEEP_ID(it->key), env);
	}
}

json_t *
keep_app_spec(const struct idmap *envs, const json_t *rec, char **err)
{
	json_t *spec = json_object_get(rec, "spec");
	json_t *ref = json_object_get(rec, "env");
	if (!json_is_object(spec)) {
		*err = xstrdup("no spec in its record");
		return NULL;
	}
	if (!ref)
		return json_incref(spec);
	json_t *base = json_is_integer(ref) ? idmap_get(envs, (uint64_t)json_integer_value(ref)) :
	    NULL;
	if (!base) {
		*err = xasprintf("the environment it names (%s) is not among the items",
		    json_is_integer(ref) ? "its id is unknown" : "not an id");
		return NULL;
	}
	json_t *whole = json_copy(spec);
	json_t *delta = json_object_get(spec, "env_delta");
	json_object_set_new(whole, "env", spec_env_apply(base, json_is_object(delta) ? delta :
	    NULL));
	json_object_del(whole, "env_delta");
	return whole;
}

/* The instance's record, appended to b. */
static void
inst_record(struct sbuf *b, struct inst *in)
{
	struct jsonw w;
	jw_begin(&w, b);
	jw_int(&w, "uid", (int64_t)in->uid);
	jw_int(&w, "app", (int64_t)in->app->id);
	jw_int(&w, "pm_id", in->pm_id);
	jw_int(&w, "index", in->index);
	jw_int(&w, "state", (int)in->state);
	jw_int(&w, "restarts", in->restarts);
	jw_int(&w, "unstable", in->unstable_restarts);
	jw_int(&w, "prev_delay", in->prev_restart_delay);
	jw_int(&w, "created", in->created_wall);
	jw_int(&w, "started_wall", in->started_wall);
	jw_int(&w, "started_mono", in->started_mono);
	jw_int(&w, "exit_code", in->exit_code);
	jw_int(&w, "exit_signal", in->exit_signal);
	jw_bool(&w, "restart_after_stop", in->restart_after_stop);
	jw_bool(&w, "delete_after_stop", in->delete_after_stop);
	jw_int(&w, "spawn_serial", (int64_t)in->spawn_serial);
	jw_int(&w, "settled_serial", (int64_t)in->settled_serial);
	const char *texts[][2] = {{"reason", in->reason}, {"error", in->error},
	    {"status_text", in->status_text}};
	for (size_t i = 0; i < ARRAY_LEN(texts); i++)
		if (texts[i][1])
			jw_str(&w, texts[i][0], texts[i][1]);
	if (timer_armed(&in->restart_timer))
		jw_int(&w, "restart_at", in->restart_timer.when_ms);
	jw_end(&w);
}

static void
put_inst(struct inst *in)
{
	if (!wanted())
		return;
	inst_record(&record, in);
	put_text(KEEP_PUT, KEEP_KEY(KK_INST, in->uid), NULL, 0);
}

static const char *
proc_role(const struct proc *p)
{
	if (!p->inst)
		return "detached";
	if (p->inst->proc == p)
		return "serving";
	if (p->inst->successor == p)
		return "successor";
	return "replaced";
}

/* The descriptors of a process the keeper holds, in this order; the
 * record names them ("fds") so the next daemon knows which is which. */
static const char *const proc_fd_names[] = {"pidfd", "broker", "ipc", "broker_listen"};

/* The process's record, appended to b. */
static void
proc_record(struct sbuf *b, const struct proc *p)
{
	struct jsonw w;
	jw_begin(&w, b);
	jw_int(&w, "serial", (int64_t)p->serial);
	jw_int(&w, "pid", p->pid);
	jw_int(&w, "inst", (int64_t)p->inst_uid);
	jw_str(&w, "role", proc_role(p));
	jw_int(&w, "state", (int)p->state);
	jw_bool(&w, "exited", p->exited);
	jw_bool(&w, "retiring", p->retiring);
	jw_bool(&w, "ready_timed_out", p->ready_timed_out);
	jw_int(&w, "started_mono", p->started_mono);
	jw_int(&w, "ready_mono", p->ready_mono);
	jw_object(&w, "stop");
	jw_int(&w, "sig", p->detached_stop.sig);
	jw_int(&w, "timeout", p->detached_stop.timeout_ms);
	jw_bool(&w, "tree", p->detached_stop.tree);
	jw_bool(&w, "message", p->detached_stop.message);
	jw_end(&w);
	const char *names[ARRAY_LEN(proc_fd_names) + 1];
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_LEN(proc_fd_names); i++)
		if (p->keep_fds & (1u << i))
			names[n++] = proc_fd_names[i];
	names[n] = NULL;
	jw_strv(&w, "fds", (char *const *)names);
	if (p->orphan_name) {
		jw_str(&w, "orphan", p->orphan_name);
		jw_int(&w, "orphan_pm_id", p->orphan_pm_id);
	}
	jw_end(&w);
}

/* PUT the process with its descriptors as they are now. */
static void
put_proc(struct proc *p)
{
	int broker = p->peer ? cluster_peer_broker_fd(p->peer) : -1;
	int broker_listen = p->peer ? cluster_peer_broker_listen_fd(p->peer) : -1;
	int all[] = {p->pidfd, broker, p->ipc_fd, broker_listen}, fds[KEEP_MAX_FDS];
	unsigned n = 0;
	p->keep_fds = 0;
	for (size_t i = 0; i < ARRAY_LEN(all); i++) {
		if (all[i] < 0)
			continue;
		fds[n++] = all[i];
		p->keep_fds |= 1u << i;
	}
	if (!wanted())
		return;
	proc_record(&record, p);
	put_text(KEEP_PUT, KEEP_KEY(KK_PROC, p->serial), fds, n);
}

/* The process's record anew, its descriptors kept as the keeper has them. */
static void
tag_proc(const struct proc *p)
{
	proc_record(&record, p);
	put_text(KEEP_TAG, KEEP_KEY(KK_PROC, p->serial), NULL, 0);
}

void
keep_proc_started(struct proc *p)
{
	put_proc(p);
	/* Its role is known once the caller has attached it. */
	keep_mark_proc(p);
}

static void
put_meta(struct keep *k)
{
	k->last_next_pm_id = D->next_pm_id;
	keep_put(KK_META, 0, json_pack("{s:i}", "next_pm_id", D->next_pm_id), NULL, 0);
}

static json_t *
member_record(const struct cluster_member_info *m)
{
	const struct proc *p = m->owner;
	return json_pack("{s:I, s:i, s:s, s:i, s:b, s:i, s:i, s:I, s:i, s:I, s:b}",
	    "app", (json_int_t)m->app_id, "family", m->family, "host", m->host, "port", m->port,
	    "v6only", m->v6only, "lb", m->lb, "index", (int)m->index,
	    "slot", (json_int_t)m->slot_uid, "pm_id", m->pm_id,
	    "peer", (json_int_t)(p ? p->serial : 0), "reserved", m->reserved);
}

void
keep_member(void *arg, enum cluster_member_event ev, const struct cluster_member_info *m)
{
	if (!D->keep || !D->keep->live)
		return;
	switch (ev) {
	case CLUSTER_MEMBER_NEW:
		keep_put(KK_SOCK, m->id, member_record(m), &m->fd, 1);
		break;
	case CLUSTER_MEMBER_CHANGED:
		send_json(KEEP_TAG, KEEP_KEY(KK_SOCK, m->id), member_record(m), NULL, 0);
		break;
	case CLUSTER_MEMBER_GONE:
		keep_del(KK_SOCK, m->id);
		break;
	}
}

static void
put_member(void *arg, const struct cluster_member_info *m)
{
	keep_put(KK_SOCK, m->id, member_record(m), &m->fd, 1);
}

/* ---- what changed ---- */

/* The records marked since the last flush, by id, so that a flush visits
 * what changed and not every app, instance and process. An id goes in when
 * its mark is set (once); the mark says whether it is still to send.
 * Without a keeper nothing is listed: a new one gets everything. */
struct dirty_ids {
	uint64_t *v;
	size_t n, cap;
};
static struct dirty_ids dirty_apps, dirty_insts, dirty_procs;

static void
dirty_add(bool *mark, struct dirty_ids *ids, uint64_t id)
{
	if (*mark)
		return;
	*mark = true;
	if (!D->keep)
		return;
	D->keep->dirty = true;
	if (ids->n == ids->cap) {
		ids->cap = ids->cap ? 2 * ids->cap : 64;
		ids->v = xrealloc(ids->v, ids->cap * sizeof(*ids->v));
	}
	ids->v[ids->n++] = id;
}

static void
dirty_clear(void)
{
	dirty_apps.n = dirty_insts.n = dirty_procs.n = 0;
}

void
keep_mark_proc(struct proc *p)
{
	dirty_add(&p->keep_dirty, &dirty_procs, p->serial);
}

void
keep_mark_inst(struct inst *in)
{
	dirty_add(&in->keep_dirty, &dirty_insts, in->uid);
	if (in->proc)
		keep_mark_proc(in->proc);
	if (in->successor)
		keep_mark_proc(in->successor);
}

void
keep_on_event(const struct event *ev, void *arg)
{
	switch (ev->kind) {
	case EV_INST_NEW:
	case EV_INST_STATE:
	case EV_INST_EXIT:
		keep_mark_inst(ev->in);
		break;
	case EV_INST_REMOVE:
		ev->in->keep_dirty = false;
		keep_del(KK_INST, ev->in->uid);
		break;
	case EV_APP_CHANGED:
		dirty_add(&ev->app->keep_dirty, &dirty_apps, ev->app->id);
		break;
	case EV_APP_REMOVE:
		ev->app->keep_dirty = false;
		keep_del(KK_APP, ev->app->id);
		env_release(ev->app->keep_env);
		ev->app->keep_env = NULL;
		break;
	default:
		break;
	}
}

void
keep_flush(struct loop *l, void *arg)
{
	struct keep *k = D->keep;
	if (!k)
		return;
	if (!k->dirty || !k->live) {
		k->dirty = false;
		if (k->live)
			batch_send(k);
		return;
	}
	k->dirty = false;
	/* Apps first: the next daemon finds each instance's app. */
	for (size_t i = 0; i < dirty_apps.n; i++) {
		struct app *a = app_by_id(dirty_apps.v[i]);
		state_step();
		if (a && a->keep_dirty) {
			a->keep_dirty = false;
			put_app(a);
		}
	}
	if (k->last_next_pm_id != D->next_pm_id)
		put_meta(k);
	for (size_t i = 0; i < dirty_insts.n; i++) {
		struct inst *in = inst_by_uid(dirty_insts.v[i]);
		state_step();
		if (in && in->keep_dirty) {
			in->keep_dirty = false;
			put_inst(in);
		}
	}
	for (size_t i = 0; i < dirty_procs.n; i++) {
		struct proc *p = proc_by_serial(dirty_procs.v[i]);
		state_step();
		if (p && p->keep_dirty) {
			p->keep_dirty = false;
			tag_proc(p);
		}
	}
	dirty_clear();
	if (k->live)
		batch_send(k);
}

/* PUT every item. For the keeper, what it now has is no longer dirty;
 * for a dump (keep_dump) nothing changes. */
static void
put_all(bool for_keeper)
{
	struct keep *k = D->keep;
	struct app *a;
	if (for_keeper) {
		put_meta(k);
		dirty_clear();
		env_forget_all();
		TAILQ_FOREACH(a, &D->apps, link) {
			a->keep_dirty = false;
			put_app(a);
		}
	} else {
		/* A copy of what the keeper holds: the bases its app records
		 * name, then those records as they are. */
		keep_put(KK_META, 0, json_pack("{s:i}", "next_pm_id", D->next_pm_id), NULL, 0);
		for (size_t i = 0; i < envs_by_base.cap; i++) {
			struct keep_env *e = envs_by_base.v[i].value;
			if (e)
				keep_put(KK_ENV, e->id, json_pack("{s:O}", "env", e->base), NULL, 0);
		}
		TAILQ_FOREACH(a, &D->apps, link)
			keep_put(KK_APP, a->id, app_record(a), NULL, 0);
	}
	struct inst *in;
	TAILQ_FOREACH(in, &D->insts, link) {
		if (for_keeper)
			in->keep_dirty = false;
		put_inst(in);
	}
	struct proc *p;
	TAILQ_FOREACH(p, &D->procs, link) {
		if (for_keeper)
			p->keep_dirty = false;
		put_proc(p);
	}
	logpipe_keep_all();
	cluster_foreach_member(D->cluster, put_member, NULL);
	notify_keep_all();
}

/* Everything, as a new generation: at start, and for a new keeper. */
static void
sync_all(void)
{
	send_frame(KEEP_BEGIN, 0, NULL, 0, NULL, 0);
	put_all(true);
	send_frame(KEEP_COMMIT, 0, NULL, 0, NULL, 0);
}

int
keep_dump(int fd)
{
	struct keep *k = D->keep;
	if (!k)
		return -ENOTCONN;
	/* What is marked goes to the keeper first: the app records then name
	 * the bases their specs have now. */
	keep_flush(D->loop, NULL);
	k->dump_fd = fd;
	k->dump_rc = 0;
	put_all(false);
	k->dump_fd = -1;
	if (k->dump_rc < 0)
		return k->dump_rc;
	return keep_send(fd, KEEP_END, KEEP_VERSION, NULL, 0, NULL, 0);
}

int
keep_sync_now(int timeout_ms)
{
	struct keep *k = D->keep;
	if (!k || !k->live || k->fd < 0)
		return -ENOTCONN;
	keep_flush(D->loop, NULL);
	int64_t deadline = mono_ms() + timeout_ms;
	while (k->fd >= 0 && !STAILQ_EMPTY(&k->queue)) {
		if (mono_ms() >= deadline)
			return -ETIMEDOUT;
		struct pollfd pfd = {k->fd, POLLOUT, 0};
		poll(&pfd, 1, 100);
		int rc = send_head(k);
		if (rc < 0) {
			keeper_lost(strerror(-rc));
			return rc;
		}
	}
	return k->fd >= 0 ? 0 : -ENOTCONN;
}

int
keep_fd(void)
{
	return D->keep && D->keep->live ? D->keep->fd : -1;
}

/* ---- the connection ---- */

static void
on_keeper(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct keep *k = arg;
	if (events & EPOLLOUT) {
		if (!flush_queue(k))
			return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		/* The keeper says nothing after the handover: any byte or the
		 * end of the stream means it is gone (or broken). */
		char c;
		ssize_t n = recv(k->fd, &c, 1, MSG_DONTWAIT);
		if (n >= 0)
			keeper_lost(n == 0 ? "it closed the connection" : "unexpected data");
		else if (errno != EAGAIN && errno != EINTR)
			keeper_lost(strerror(errno));
	}
}

static void
go_live(struct keep *k, int fd)
{
	k->fd = fd;
	fd_set_nonblock(fd, true);
	/* Room for bursts (a snapshot of many descriptors) before we queue;
	 * no more than what may wait in our own queue. */
	int sz = k->queue_max < (4u << 20) ? (int)k->queue_max : 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (io_add(D->loop, &k->io, fd, EPOLLIN, on_keeper, k) < 0) {
		dlog("keeper: cannot watch its connection: %s", strerror(errno));
		close(fd);
		k->fd = -1;
		return;
	}
	k->live = true;
	sync_all();
}

/* Become `corral keeper` (exe, or this binary), with fd its end of the
 * daemon's connection and daemon the daemon's pid. */
static void NORETURN
exec_keeper(const char *exe, int fd, pid_t daemon)
{
	fd_set_cloexec(fd, false);
	char buf[32];
	snprintf(buf, sizeof(buf), "%d", fd);
	setenv("CORRAL_KEEPER_FD", buf, 1);
	snprintf(buf, sizeof(buf), "%d", (int)daemon);
	setenv("CORRAL_KEEPER_DAEMON", buf, 1);
	char *args[] = {"corral", "keeper", NULL};
	execv(exe ? exe : "/proc/self/exe", args);
	_exit(127);
}

/* Start a keeper of our own (the last one died while we run). It is our
 * child this time; it has everything again at once. */
static void
spawn_keeper(struct keep *k)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		dlog("keeper: cannot start one: socketpair: %s", strerror(errno));
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		dlog("keeper: cannot start one: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		setrlimit(RLIMIT_NOFILE, &D->app_nofile);
		umask(D->app_umask);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		exec_keeper(D->exe_path, sv[1], D->pid);
	}
	close(sv[1]);
	k->pid = pid;
	k->last_spawn_mono = mono_ms();
	dlog("keeper: started a new keeper (pid %d)", (int)pid);
	go_live(k, sv[0]);
}

static void
on_respawn(struct loop *l, struct timer *t, void *arg)
{
	struct keep *k = arg;
	if (k->fd < 0 && !D->shutting_down)
		spawn_keeper(k);
}

/* The keeper stopped reading while records and descriptors piled up for
 * it: it cannot be trusted with a handover any more. Stop it for good (a
 * keeper that wakes up later would see our end closed and start a daemon
 * of its own), and start a fresh one, which gets everything anew. */
static void
keeper_wedged(struct keep *k)
{
	char why[96];
	snprintf(why, sizeof(why), "it stopped reading: %zu bytes and %u descriptors waited",
	    k->queued_bytes, k->queued_fds);
	if (k->pid > 0)
		kill(k->pid, SIGKILL);
	keeper_lost(why);
}

static void
keeper_lost(const char *why)
{
	struct keep *k = D->keep;
	if (k->fd < 0)
		return;
	io_del(D->loop, &k->io);
	close(k->fd);
	k->fd = -1;
	k->live = false;
	queue_clear(k);
	if (D->shutting_down)
		return;
	dlog("keeper: the keeper (pid %d) is gone (%s): the apps' descriptors have only "
	    "this daemon now; starting a new keeper", (int)k->pid, why);
	k->pid = 0;
	int64_t wait = k->last_spawn_mono + RESPAWN_MIN_MS - mono_ms();
	timer_start(D->loop, &k->respawn, wait > 0 ? wait : 0);
}

/* Connect to keeper.sock; the socket, or -errno. */
static int
connect_keeper(pid_t *pid)
{
	int fd = unix_connect(D->paths.keeper_sock);
	if (fd < 0)
		return fd;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != geteuid()) {
		close(fd);
		return -EPERM;
	}
	*pid = cred.pid;
	return fd;
}

static void
items_add(struct keep_items *got, struct keep_frame *f)
{
	json_error_t jerr;
	json_t *rec = f->len ? json_loadb(f->blob, f->len, 0, &jerr) : json_object();
	if (!rec) {
		dlog("keeper: item %llx has a bad record: %s", (unsigned long long)f->key, jerr.text);
		return;
	}
	got->v = xrealloc(got->v, (got->n + 1) * sizeof(*got->v));
	struct keep_item *it = &got->v[got->n++];
	it->key = f->key;
	it->rec = rec;
	it->nfds = f->nfds;
	for (unsigned i = 0; i < KEEP_MAX_FDS; i++) {
		it->fds[i] = i < f->nfds ? f->fds[i] : -1;
		f->fds[i] = -1;
	}
}

/* Say hello and take what the keeper holds. 0, -EPROTONOSUPPORT (another
 * protocol version), or -errno. */
static int
take_over(int fd, struct keep_items *got)
{
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d", (int)D->pid);
	int rc = keep_send(fd, KEEP_HELLO, KEEP_VERSION, pid, (size_t)n, NULL, 0);
	if (rc < 0)
		return rc;
	struct keep_reader r;
	keep_reader_init(&r);
	int64_t deadline = mono_ms() + HANDOVER_TIMEOUT_MS;
	rc = -ETIMEDOUT;
	for (bool done = false; !done;) {
		int64_t left = deadline - mono_ms();
		struct pollfd pfd = {fd, POLLIN, 0};
		if (left <= 0)
			break;
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (pr <= 0)
			continue;
		ssize_t got_n = keep_reader_fill(&r, fd);
		if (got_n == 0) {
			rc = -EPIPE;
			break;
		}
		if (got_n < 0) {
			rc = (int)got_n;
			break;
		}
		struct keep_frame f;
		int nr;
		while ((nr = keep_reader_next(&r, &f)) == 1) {
			if (f.op == KEEP_ITEM) {
				items_add(got, &f);
			} else if (f.op == KEEP_END) {
				rc = f.key == KEEP_VERSION ? 0 : -EPROTONOSUPPORT;
				done = true;
			}
			keep_frame_free(&f);
			if (done)
				break;
		}
		if (nr < 0) {
			rc = nr;
			break;
		}
	}
	keep_reader_free(&r);
	return rc;
}

/* This process becomes the keeper (exec), a child of it goes on as the
 * daemon: the keeper is then the daemon's parent and subreaper, so the
 * apps come to it if the daemon dies. Returns the daemon's end of the
 * connection (in the child), or -errno. */
static int
become_keepers_child(struct keep *k)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (pid > 0) {
		/* The parent: everything else is close-on-exec. If the exec
		 * fails, the daemon sees its keeper go and starts one. */
		exec_keeper(NULL, sv[0], pid);
	}
	close(sv[0]);
	setsid();
	D->pid = getpid();
	k->pid = getppid();
	return sv[1];
}

void
keep_attach(struct keep_items *got, bool *found)
{
	struct keep *k = xcalloc(1, sizeof(*k));
	D->keep = k;
	k->fd = -1;
	k->dump_fd = -1;
	k->queue_max = (size_t)env_number("CORRAL_KEEP_QUEUE_MAX", 1, 1LL << 30, QUEUE_MAX_BYTES);
	STAILQ_INIT(&k->queue);
	timer_init(&k->respawn, on_respawn, k);
	memset(got, 0, sizeof(*got));
	*found = false;
	int fd = -1;
	const char *env = getenv("CORRAL_KEEPER_FD");
	if (env) {
		fd = atoi(env);
		fd_set_cloexec(fd, true);
		k->pid = getppid();
	} else {
		fd = connect_keeper(&k->pid);
	}
	unsetenv("CORRAL_KEEPER_FD");
	if (fd >= 0) {
		int rc = take_over(fd, got);
		if (rc == 0) {
			*found = true;
			k->fd = fd;
			return;
		}
		keep_items_free(got);
		if (rc == -EPROTONOSUPPORT) {
			/* An older or newer corral's keeper: its records are not ours
			 * to read. Let it go; its apps are found as orphans. */
			dlog("keeper: the keeper (pid %d) speaks another protocol version: asking it "
			    "to exit; its apps are taken as orphans", (int)k->pid);
			keep_send(fd, KEEP_BYE, 0, NULL, 0, NULL, 0);
		} else {
			dlog("keeper: no handover from the keeper (pid %d): %s", (int)k->pid,
			    strerror(-rc));
		}
		close(fd);
		k->pid = 0;
	}
	fd = become_keepers_child(k);
	if (fd < 0) {
		dlog("keeper: cannot start one: %s; apps will not survive this daemon's death",
		    strerror(-fd));
		return;
	}
	/* A new keeper holds nothing: the handover is a formality. */
	if (take_over(fd, got) < 0) {
		dlog("keeper: the new keeper (pid %d) does not answer", (int)k->pid);
		keep_items_free(got);
		close(fd);
		k->pid = 0;
		return;
	}
	k->fd = fd;
}

void
keep_start(void)
{
	struct keep *k = D->keep;
	if (!k)
		return;
	if (k->fd < 0) {
		timer_start(D->loop, &k->respawn, 0);
		return;
	}
	int fd = k->fd;
	k->fd = -1;
	go_live(k, fd);
}

void
keep_ready(void)
{
	send_frame(KEEP_READY, 0, NULL, 0, NULL, 0);
	if (D->keep && D->keep->live)
		batch_send(D->keep);
}

void
keep_bye(void)
{
	struct keep *k = D->keep;
	if (!k || k->fd < 0 || !k->live)
		return;
	send_frame(KEEP_BYE, 0, NULL, 0, NULL, 0);
	batch_send(k);
	if (k->fd < 0)
		return;
	io_del(D->loop, &k->io);
	/* Write what waits, then wait for the keeper to close its end: when
	 * `corral kill` returns, nothing of ours is left. */
	int64_t deadline = mono_ms() + BYE_TIMEOUT_MS;
	while (!STAILQ_EMPTY(&k->queue) && mono_ms() < deadline) {
		struct pollfd pfd = {k->fd, POLLOUT, 0};
		poll(&pfd, 1, 100);
		if (send_head(k) < 0)
			break;
	}
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			dlog("keeper: the keeper (pid %d) did not exit within %d ms", (int)k->pid,
			    BYE_TIMEOUT_MS);
			break;
		}
		struct pollfd pfd = {k->fd, POLLIN, 0};
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno != EINTR)
			break;
		if (pr <= 0)
			continue;
		char c;
		ssize_t n = recv(k->fd, &c, 1, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break;
	}
	close(k->fd);
	k->fd = -1;
	k->live = false;
}

void
keep_close(void)
{
	struct keep *k = D->keep;
	if (!k)
		return;
	if (k->fd >= 0) {
		if (k->io.active)
			io_del(D->loop, &k->io);
		close(k->fd);
	}
	timer_stop(D->loop, &k->respawn);
	queue_clear(k);
	free(k);
	D->keep = NULL;
	env_forget_all();
}

pid_t
keep_pid(void)
{
	return D->keep ? D->keep->pid : 0;
}

void
keep_items_free(struct keep_items *items)
{
	for (size_t i = 0; i < items->n; i++) {
		for (unsigned k = 0; k < items->v[i].nfds; k++)
			if (items->v[i].fds[k] >= 0)
				close(items->v[i].fds[k]);
		json_decref(items->v[i].rec);
	}
	free(items->v);
	items->v = NULL;
	items->n = 0;
}
