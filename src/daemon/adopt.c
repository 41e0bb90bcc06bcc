/*
 * adopt.c — taking over from a daemon that died (adopt.h). The records
 * read here are written by keep.c.
 */
#include "daemon/adopt.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "common/log.h"
#include "common/spec.h"
#include "daemon/keep.h"
#include "daemon/logpipe.h"
#include "daemon/notify.h"
#include "daemon/pidfiles.h"
#include "daemon/proctree.h"
#include "daemon/state.h"
#include "daemon/supervise.h"
#include "daemon/table.h"
#include "daemon/triggers.h"
#include "daemon/wait.h"

/* Orphans wait in requests under uids no instance ever has. */
#define ORPHAN_UID_BASE (1ull << 48)

static int64_t
jint(const json_t *o, const char *key, int64_t dflt)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static const char *
jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static char *
jstrdup(const json_t *o, const char *key)
{
	const char *s = jstr(o, key);
	return s ? xstrdup(s) : NULL;
}

/* The item's descriptor number i, now ours (-1 if there is none). */
static int
take_fd(struct keep_item *it, unsigned i)
{
	if (i >= it->nfds)
		return -1;
	int fd = it->fds[i];
	it->fds[i] = -1;
	return fd;
}

static void
adopt_app(const struct idmap *envs, struct keep_item *it)
{
	struct spec spec;
	char *err = NULL;
	json_t *whole = keep_app_spec(envs, it->rec, &err);
	if (!whole || spec_from_json(whole, &spec, &err) < 0) {
		dlog("adopt: app %llu: its spec cannot be read (%s); its processes are stopped",
		    (unsigned long long)KEEP_ID(it->key), err);
		free(err);
		json_decref(whole);
		return;
	}
	json_decref(whole);
	struct app *a = app_restore(&spec, (uint64_t)jint(it->rec, "id", 0));
	/* cron_restart and watch go on as before. */
	if (a)
		triggers_start(a);
}

static int
cmp_pm_id(const void *a, const void *b)
{
	int64_t x = jint((*(struct keep_item *const *)a)->rec, "pm_id", 0);
	int64_t y = jint((*(struct keep_item *const *)b)->rec, "pm_id", 0);
	return (x > y) - (x < y);
}

static void
adopt_inst(struct keep_item *it)
{
	const json_t *r = it->rec;
	struct app *a = app_by_id((uint64_t)jint(r, "app", 0));
	if (!a)
		return;
	struct inst *in = inst_restore(a, (uint64_t)jint(r, "uid", 0), (int)jint(r, "pm_id", 0),
	    (int)jint(r, "index", 0));
	in->state = (enum inst_state)jint(r, "state", ST_STOPPED);
	in->restarts = (int)jint(r, "restarts", 0);
	in->unstable_restarts = (int)jint(r, "unstable", 0);
	in->prev_restart_delay = jint(r, "prev_delay", 0);
	in->created_wall = jint(r, "created", in->created_wall);
	in->started_wall = jint(r, "started_wall", 0);
	in->started_mono = jint(r, "started_mono", 0);
	in->exit_code = (int)jint(r, "exit_code", -1);
	in->exit_signal = (int)jint(r, "exit_signal", 0);
	in->restart_after_stop = json_is_true(json_object_get(r, "restart_after_stop"));
	in->delete_after_stop = json_is_true(json_object_get(r, "delete_after_stop"));
	in->spawn_serial = (uint64_t)jint(r, "spawn_serial", 0);
	in->settled_serial = (uint64_t)jint(r, "settled_serial", 0);
	in->reason = jstrdup(r, "reason");
	in->error = jstrdup(r, "error");
	in->status_text = jstrdup(r, "status_text");
	char *err = NULL;
	if (inst_open_logs(in, &err) < 0) {
		dlog("adopt: %s[%d]: %s", a->spec.name, in->pm_id, err);
		free(err);
	}
	/* Not running: no pid file. The last daemon may have died with its
	 * removal still queued (pidfiles.c). */
	if (in->pid_path && inst_state_idle(in->state))
		pidfiles_remove(in->pid_path);
}

static enum adopt_role
role_of(const char *s)
{
	if (s && strcmp(s, "serving") == 0)
		return ADOPT_SERVING;
	if (s && strcmp(s, "successor") == 0)
		return ADOPT_SUCCESSOR;
	if (s && strcmp(s, "replaced") == 0)
		return ADOPT_REPLACED;
	return ADOPT_DETACHED;
}

/* The descriptor named name in the item of a process, or -1. */
static int
proc_fd(struct keep_item *it, const char *name)
{
	json_t *names = json_object_get(it->rec, "fds");
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			return take_fd(it, (unsigned)i);
	return -1;
}

static struct proc *
adopt_proc(struct keep_item *it)
{
	const json_t *r = it->rec;
	const json_t *stop = json_object_get(r, "stop");
	struct proc_adoption a = {
		.pid = (pid_t)jint(r, "pid", 0),
		.serial = (uint64_t)jint(r, "serial", 0),
		.inst_uid = (uint64_t)jint(r, "inst", 0),
		.role = role_of(jstr(r, "role")),
		.pidfd = proc_fd(it, "pidfd"),
		.broker_fd = proc_fd(it, "broker"),
		.broker_listen_fd = proc_fd(it, "broker_listen"),
		.ipc_fd = proc_fd(it, "ipc"),
		.state = (enum proc_state)jint(r, "state", P_STARTING),
		.exited = json_is_true(json_object_get(r, "exited")),
		.retiring = json_is_true(json_object_get(r, "retiring")),
		.ready_timed_out = json_is_true(json_object_get(r, "ready_timed_out")),
		/* Not our child (its parent is the keeper, since the daemon that
		 * started it died): it exits with a status nobody can tell us.
		 * After `corral update` it is our child still (update.h): we
		 * reap it and know. */
		.adopted = proctree_parent((pid_t)jint(r, "pid", 0)) != getpid(),
		.started_mono = jint(r, "started_mono", mono_ms()),
		.ready_mono = jint(r, "ready_mono", -1),
		.stop = {.sig = (int)jint(stop, "sig", 2), .timeout_ms = jint(stop, "timeout", 1600),
		    .tree = !json_is_false(json_object_get(stop, "tree")),
		    .message = json_is_true(json_object_get(stop, "message"))},
		.orphan_name = jstr(r, "orphan"),
		.orphan_pm_id = (int)jint(r, "orphan_pm_id", 0),
	};
	if (a.pid <= 0) {
		int fds[] = {a.pidfd, a.broker_fd, a.broker_listen_fd, a.ipc_fd};
		for (size_t i = 0; i < ARRAY_LEN(fds); i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return NULL;
	}
	struct inst *in = inst_by_uid(a.inst_uid);
	if (!in)
		a.role = ADOPT_DETACHED;
	struct proc *p = proc_adopt(in, &a);
	/* Nothing knows what it was for (its app's record was unreadable):
	 * stop it rather than leave it unmanaged. An orphan stays one. */
	if (p && !p->inst && !p->orphan_name && !proc_stopping(p))
		proc_retire(p);
	return p;
}

static void
adopt_pipe(struct keep_item *it)
{
	int fd = take_fd(it, 0);
	struct inst *in = inst_by_uid((uint64_t)jint(it->rec, "inst", 0));
	int stream = (int)jint(it->rec, "stream", STREAM_OUT);
	if (fd < 0)
		return;
	if (!in) {
		/* Its instance was deleted while a leftover still wrote. */
		close(fd);
		return;
	}
	logpipe_start(fd, in, stream == STREAM_ERR ? STREAM_ERR : STREAM_OUT);
}

/* Member sockets in the order they go back: by group, then by index. */
static int
cmp_member(const void *a, const void *b)
{
	const json_t *x = (*(struct keep_item *const *)a)->rec;
	const json_t *y = (*(struct keep_item *const *)b)->rec;
	const char *keys[] = {"app", "family", "port", "v6only"};
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		int64_t u = jint(x, keys[i], 0), v = jint(y, keys[i], 0);
		if (u != v)
			return (u > v) - (u < v);
	}
	int c = strcmp(jstr(x, "host") ? jstr(x, "host") : "", jstr(y, "host") ? jstr(y, "host") : "");
	if (c)
		return c;
	int64_t u = jint(x, "index", 0), v = jint(y, "index", 0);
	return (u > v) - (u < v);
}

/* Put a listening socket back into its group. Returns its slot's uid when
 * the slot is gone (its orphaned sockets are closed after), else 0. */
static uint64_t
adopt_member(struct keep_item *it)
{
	const json_t *r = it->rec;
	int fd = take_fd(it, 0);
	if (fd < 0)
		return 0;
	struct app *a = app_by_id((uint64_t)jint(r, "app", 0));
	if (!a) {
		/* Out of its group now, whoever still holds a copy. */
		shutdown(fd, SHUT_RDWR);
		close(fd);
		return 0;
	}
	struct cluster_member_info m = {
		.app_id = a->id, .family = (int)jint(r, "family", 0),
		.port = (uint16_t)jint(r, "port", 0),
		.v6only = json_is_true(json_object_get(r, "v6only")),
		.lb = (int)jint(r, "lb", a->spec.lb), .index = (unsigned)jint(r, "index", 0),
		.slot_uid = (uint64_t)jint(r, "slot", 0), .pm_id = (int)jint(r, "pm_id", 0),
		.reserved = json_is_true(json_object_get(r, "reserved")),
		.id = KEEP_ID(it->key),
	};
	snprintf(m.host, sizeof(m.host), "%s", jstr(r, "host") ? jstr(r, "host") : "");
	struct inst *in = inst_by_uid(m.slot_uid);
	struct cluster_slot slot = {.app_id = a->id, .spec = &a->spec, .uid = m.slot_uid,
	    .pm_id = in ? in->pm_id : m.pm_id, .inspect_port = in ? inst_inspect_port(in) : 0};
	uint64_t serial = (uint64_t)jint(r, "peer", 0);
	struct proc *p = serial ? proc_by_serial(serial) : NULL;
	char *err = NULL;
	if (cluster_adopt_member(D->cluster, &slot, &m, fd, p && p->inst ? p->peer : NULL,
	    &err) < 0) {
		dlog("adopt: %s: a listening socket cannot go back in its group: %s",
		    a->spec.name, err);
		free(err);
	}
	return in ? 0 : m.slot_uid;
}

void
adopt_from_keeper(struct keep_items *items)
{
	size_t n = items->n, napps = 0, nprocs = 0;
	struct keep_item **sorted = xcalloc(n ? n : 1, sizeof(*sorted));
	struct keep_item *file_notify = NULL, *abstract_notify = NULL;
	struct idmap envs = IDMAP_INIT;
	keep_env_index(items, &envs);
	for (size_t i = 0; i < n; i++) {
		if (KEEP_KIND(items->v[i].key) == KK_APP) {
			adopt_app(&envs, &items->v[i]);
			napps++;
		}
	}
	idmap_free(&envs);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (KEEP_KIND(items->v[i].key) == KK_INST)
			sorted[k++] = &items->v[i];
	qsort(sorted, k, sizeof(*sorted), cmp_pm_id);
	for (size_t i = 0; i < k; i++)
		adopt_inst(sorted[i]);
	/* Every instance of an app on its way out: the app goes with them. */
	struct app *a;
	TAILQ_FOREACH(a, &D->apps, link) {
		struct inst *in;
		bool all = !TAILQ_EMPTY(&a->insts);
		TAILQ_FOREACH(in, &a->insts, app_link)
			all &= in->delete_after_stop;
		a->deleted = all;
	}
	for (size_t i = 0; i < n; i++) {
		struct keep_item *it = &items->v[i];
		switch (KEEP_KIND(it->key)) {
		case KK_META:
			D->next_pm_id = (int)jint(it->rec, "next_pm_id", D->next_pm_id);
			break;
		case KK_PROC:
			if (adopt_proc(it))
				nprocs++;
			break;
		case KK_NOTIFY:
			if (KEEP_ID(it->key) == 0)
				file_notify = it;
			else
				abstract_notify = it;
			break;
		default:
			break;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (KEEP_KIND(items->v[i].key) == KK_PIPE)
			adopt_pipe(&items->v[i]);
	k = 0;
	for (size_t i = 0; i < n; i++)
		if (KEEP_KIND(items->v[i].key) == KK_SOCK)
			sorted[k++] = &items->v[i];
	qsort(sorted, k, sizeof(*sorted), cmp_member);
	uint64_t *gone_slots = xcalloc(k ? k : 1, sizeof(*gone_slots));
	uint64_t *gone_apps = xcalloc(k ? k : 1, sizeof(*gone_apps));
	size_t ngone = 0;
	for (size_t i = 0; i < k; i++) {
		uint64_t slot = adopt_member(sorted[i]);
		if (slot) {
			gone_apps[ngone] = (uint64_t)jint(sorted[i]->rec, "app", 0);
			gone_slots[ngone++] = slot;
		}
	}
	notify_adopt(file_notify ? take_fd(file_notify, 0) : -1,
	    abstract_notify ? take_fd(abstract_notify, 0) : -1,
	    abstract_notify ? jstr(abstract_notify->rec, "name") : NULL);
	cluster_adopt_done(D->cluster);
	/* Sockets kept for instances deleted meanwhile. */
	for (size_t i = 0; i < ngone; i++)
		cluster_slot_idle(D->cluster, gone_apps[i], gone_slots[i], true);
	for (size_t i = 0; i < n; i++) {
		if (KEEP_KIND(items->v[i].key) != KK_INST)
			continue;
		struct inst *in = inst_by_uid((uint64_t)jint(items->v[i].rec, "uid", 0));
		if (in)
			inst_adopted(in, jint(items->v[i].rec, "restart_at", 0));
	}
	free(gone_slots);
	free(gone_apps);
	free(sorted);
	struct sbuf pids = SBUF_INIT;
	struct proc *p;
	TAILQ_FOREACH(p, &D->procs, link)
		if (!p->exited && pids.len < 400)
			sbuf_addf(&pids, "%s%d", pids.len ? " " : "", (int)p->pid);
	dlog("adopted %zu app%s and %zu process%s from the keeper%s%s", napps,
	    napps == 1 ? "" : "s", nprocs, nprocs == 1 ? "" : "es", pids.len ? ": pids " : "",
	    pids.len ? pids.s : "");
	sbuf_free(&pids);
}

/* ---- without a keeper: orphans ---- */

/* The value of key in a NUL-separated environment, or NULL. */
static const char *
env_get(const char *env, size_t len, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < len;) {
		const char *e = env + i;
		size_t el = strnlen(e, len - i);
		if (el > kl && memcmp(e, key, kl) == 0 && e[kl] == '=')
			return e + kl + 1;
		i += el + 1;
	}
	return NULL;
}

struct found {
	pid_t pid, ppid;
	uint64_t start;
	int pm_id;
	char *name;
};

static void
adopt_orphan(const struct found *f)
{
	int pidfd = (int)syscall(SYS_pidfd_open, f->pid, 0);
	struct ptentry e = {.pid = f->pid, .start = f->start};
	if (pidfd < 0 || !proctree_alive(&e)) {
		if (pidfd >= 0)
			close(pidfd);
		return;
	}
	fd_set_cloexec(pidfd, true);
	/* No serial: a new one is given. */
	struct proc_adoption a = {.pid = f->pid, .inst_uid = ORPHAN_UID_BASE + (uint64_t)f->pid,
	    .role = ADOPT_DETACHED, .pidfd = pidfd,
	    .broker_fd = -1, .broker_listen_fd = -1, .ipc_fd = -1, .state = P_READY, .adopted = true,
	    .started_mono = mono_ms(), .ready_mono = -1,
	    .stop = {.sig = 2, .timeout_ms = 1600, .tree = true},
	    .orphan_name = f->name, .orphan_pm_id = f->pm_id};
	proc_adopt(NULL, &a);
}

void
adopt_orphans(void)
{
	DIR *d = opendir("/proc");
	if (!d)
		return;
	struct found *all = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid <= 0 || pid == getpid() || pid == keep_pid())
			continue;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
		char *env = NULL;
		size_t len = 0;
		if (read_file(path, &env, &len, 1 << 20) < 0)
			continue;
		const char *sock = env_get(env, len, "NOTIFY_SOCKET");
		const char *name = env_get(env, len, "name");
		const char *pm_id = env_get(env, len, "pm_id");
		struct ptentry pe = {.pid = pid};
		if (sock && name && pm_id && strcmp(sock, D->paths.notify) == 0 &&
		    proctree_stat(pid, NULL, NULL, &pe.start, NULL) == 0 && proctree_alive(&pe)) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				all = xrealloc(all, cap * sizeof(*all));
			}
			all[n++] = (struct found){pid, proctree_parent(pid), pe.start, atoi(pm_id),
			    xstrdup(name)};
		}
		free(env);
	}
	closedir(d);
	/* One orphan per tree: those whose parent is not one of them (the
	 * stop reaches the rest through the group and the tree). */
	struct sbuf list = SBUF_INIT;
	size_t roots = 0;
	for (size_t i = 0; i < n; i++) {
		bool child = false;
		for (size_t k = 0; k < n && !child; k++)
			child = all[k].pid == all[i].ppid;
		if (child)
			continue;
		adopt_orphan(&all[i]);
		roots++;
		if (list.len < 400)
			sbuf_addf(&list, "%s%s[%d] pid %d", list.len ? ", " : "", all[i].name,
			    all[i].pm_id, (int)all[i].pid);
	}
	if (roots)
		dlog("found %zu process%s left running by a daemon that died with its keeper: %s. "
		    "Their output and sockets died with it, so they cannot be managed: `corral "
		    "delete <name>` or `corral kill` stops them, and their apps cannot start while "
		    "they run", roots, roots == 1 ? "" : "es", list.s);
	sbuf_free(&list);
	for (size_t i = 0; i < n; i++)
		free(all[i].name);
	free(all);
}

json_t *
orphans_json(void)
{
	json_t *arr = json_array();
	if (D->norphans == 0)
		return arr;
	struct proc *p;
	TAILQ_FOREACH(p, &D->procs, link) {
		state_step();
		if (p->orphan_name && !p->exited)
			json_array_append_new(arr, json_pack("{s:s, s:i, s:i}", "name", p->orphan_name,
			    "pm_id", p->orphan_pm_id, "pid", (int)p->pid));
	}
	return arr;
}

char *
orphans_blocking(const char *name)
{
	if (D->norphans == 0)
		return NULL;
	struct sbuf pids = SBUF_INIT;
	struct proc *p;
	TAILQ_FOREACH(p, &D->procs, link) {
		state_step();
		if (p->orphan_name && !p->exited && strcmp(p->orphan_name, name) == 0)
			sbuf_addf(&pids, "%s%d", pids.len ? ", " : "", (int)p->pid);
	}
	if (!pids.len)
		return NULL;
	char *msg = xasprintf("%s: a daemon that died left its processes running (pid %s), "
	    "which nothing can manage now; `corral delete %s` stops them, then start it again",
	    name, pids.s, name);
	sbuf_free(&pids);
	return msg;
}

static bool
targets_name(json_t *targets, const char *name)
{
	size_t i;
	json_t *t;
	json_array_foreach(targets, i, t) {
		const char *s = json_string_value(t);
		if (s && (strcmp(s, "all") == 0 || strcmp(s, name) == 0))
			return true;
	}
	return false;
}

size_t
orphans_stop(json_t *targets, struct wait *w)
{
	size_t n = 0;
	if (D->norphans == 0)
		return 0;
	struct proc *p;
	TAILQ_FOREACH(p, &D->procs, link) {
		state_step();
		if (!p->orphan_name || p->exited || !targets_name(targets, p->orphan_name))
			continue;
		wait_add_gone(w, p->inst_uid);
		if (!proc_stopping(p)) {
			dlog("%s[%d]: stopping pid %d, left running by a daemon that died",
			    p->orphan_name, p->orphan_pm_id, (int)p->pid);
			proc_retire(p);
		}
		n++;
	}
	return n;
}
