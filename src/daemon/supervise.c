/*
 * supervise.c — start, stop, exits, restart policy.
 *
 * A process's life ends in two steps: proc_exited() when the main process
 * is reaped, and proc_finished() once nothing of its process group is left
 * (leftover children get the kill signal, then SIGKILL after kill_timeout).
 * Only then is the instance stopped or restarted, so a replacement never
 * races a leftover child for the app's port.
 */
#include "daemon/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "common/inspect.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/signame.h"
#include "common/util.h"
#include "daemon/agent.h"
#include "daemon/fdreserve.h"
#include "daemon/logpipe.h"
#include "daemon/keep.h"
#include "daemon/notify.h"
#include "daemon/policy.h"
#include "daemon/pidfiles.h"
#include "daemon/proctree.h"
#include "daemon/reload.h"
#include "daemon/sampler.h"
#include "daemon/spawn.h"

#define GROUP_POLL_MS 20
#define DRAIN_POLL_MS 10
#define DRAIN_SETTLE_MS 20
#define SIGKILL_GRACE_MS 2000
/* proc_exited() of a process we did not start (adopted): the keeper or
 * init reaped it, and its status is not ours to know. */
#define WSTATUS_UNKNOWN (-1)
/* An instance that could not start for lack of file descriptors tries
 * again this often. */
#define FDS_RETRY_MS 1000

static uint64_t spawn_counter;

static void proc_finished(struct proc *p);
static void remove_pid_file(struct inst *in);
static void inst_cluster_idle(struct inst *in);
static void on_kill_timer(struct loop *l, struct timer *t, void *arg);
static void on_ready_timer(struct loop *l, struct timer *t, void *arg);
static void on_online_timer(struct loop *l, struct timer *t, void *arg);
static void on_restart_timer(struct loop *l, struct timer *t, void *arg);

void
inst_set_state(struct inst *in, enum inst_state st)
{
	if (in->state == st)
		return;
	in->state = st;
	if (inst_state_idle(st))
		remove_pid_file(in);
	if (st == ST_STOPPED || st == ST_ERRORED)
		inst_cluster_idle(in);
	events_inst(EV_INST_STATE, in, inst_state_name(st));
}

void
inst_set_reason(struct inst *in, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *r = xvasprintf(fmt, ap);
	va_end(ap);
	free(in->reason);
	in->reason = r;
}

static bool
group_alive(pid_t pgid)
{
	return kill(-pgid, 0) == 0 || errno == EPERM;
}

static bool
tree_has(const struct proc *p, const struct ptentry *e)
{
	for (size_t i = 0; i < p->ntree; i++)
		if (p->tree[i].pid == e->pid && p->tree[i].start == e->start)
			return true;
	return false;
}

/* The orphans the daemon and its keeper adopted, read once per batch of
 * the loop: a stop of every app looks at /proc once, not once per app.
 * Freed (and forgotten) after the batch. */
struct adopted_cache {
	struct ptorphan *v;
	size_t n;
};
static struct adopted_cache *adopted;

static void
adopted_free(void *p)
{
	struct adopted_cache *c = p;
	proctree_adopted_free(c->v, c->n);
	free(c);
	if (adopted == c)
		adopted = NULL;
}

static bool
pid_is_ours(pid_t pid, void *arg)
{
	(void)arg;
	/* The keeper's children are this daemon and what it adopted. */
	return pid == getpid() || proc_by_pid(pid) != NULL;
}

static const struct adopted_cache *
adopted_now(void)
{
	if (!adopted) {
		adopted = xcalloc(1, sizeof(*adopted));
		adopted->n = proctree_adopted(getpid(), pid_is_ours, NULL, &adopted->v);
		if (keep_pid() > 0) {
			struct ptorphan *more;
			size_t nmore = proctree_adopted(keep_pid(), pid_is_ours, NULL, &more);
			if (nmore > 0) {
				adopted->v = xrealloc(adopted->v, (adopted->n + nmore) * sizeof(*more));
				memcpy(adopted->v + adopted->n, more, nmore * sizeof(*more));
				adopted->n += nmore;
			}
			free(more);
		}
		loop_defer_free(D->loop, adopted, adopted_free);
	}
	return adopted;
}

/* Remember the processes of p that a signal to its group would miss:
 * descendants that called setsid() — of the main process while it runs,
 * and of those already remembered, since a daemonizing child forks again
 * after leaving the group — and (with orphans) those a subreaper adopted
 * (the daemon, or its keeper after a previous daemon died) that still carry
 * the instance's pm_id and name. Called when the stop begins and again at
 * every poll of the stop, so a process forked in between is not missed.
 * Entries are only added (a process found once is kept by pid and start
 * time); the new ones are at the end of p->tree. Returns how many. */
/* Was o (adopted by us or the keeper) a process of in's? */
static bool
orphan_of(const struct ptorphan *o, const struct inst *in)
{
	return o->pm_id == in->pm_id && o->name && strcmp(o->name, in->app->spec.name) == 0;
}

static size_t
snapshot_tree(struct proc *p, bool orphans)
{
	/* Most trees are a process or two: a small array first (a 64 KiB one
	 * per process stopped kept malloc busy consolidating), the largest
	 * only for a tree that fills it or has more roots to walk from. */
	size_t cap = 64;
	struct ptentry *all = xmalloc(cap * sizeof(*all));
	size_t n = p->exited ? 0 : proctree_walk(p->pid, all, cap);
	/* The instance's orphans, known before anything is allocated for
	 * them: most processes have none. */
	const struct adopted_cache *ad = p->inst && orphans ? adopted_now() : NULL;
	bool mine = false;
	for (size_t i = 0; ad && i < ad->n && !mine; i++) {
		state_step();
		mine = orphan_of(&ad->v[i], p->inst);
	}
	if (n == cap || p->ntree > 0 || mine) {
		cap = PROCTREE_MAX;
		all = xrealloc(all, cap * sizeof(*all));
		if (n == 64)
			n = proctree_walk(p->pid, all, cap);
	}
	for (size_t i = 0; i < p->ntree && n < cap; i++)
		if (proctree_alive(&p->tree[i]))
			n += proctree_walk(p->tree[i].pid, all + n, cap - n);
	for (size_t i = 0; mine && i < ad->n && n < cap; i++) {
		state_step();
		if (orphan_of(&ad->v[i], p->inst))
			n += proctree_walk_from(&ad->v[i].e, all + n, cap - n);
	}
	/* Keep only those outside the group: the group is signalled as one. */
	size_t added = 0;
	for (size_t i = 0; i < n && p->ntree < PROCTREE_MAX; i++) {
		if (all[i].pid == p->pid || getpgid(all[i].pid) == p->pid || tree_has(p, &all[i]))
			continue;
		p->tree = xrealloc(p->tree, (p->ntree + 1) * sizeof(*p->tree));
		p->tree[p->ntree++] = all[i];
		added++;
	}
	free(all);
	return added;
}

/* Look for processes of p's tree that appeared since the last look, and
 * give them the signal the rest got. Orphans by pm_id and name only for
 * the instance's serving process: during a reload, new ones may be its
 * successor's. */
static void
refresh_tree(struct proc *p, int sig)
{
	size_t old = p->ntree;
	bool orphans = !p->tree_no_orphans && p->inst && p->inst->proc == p;
	if (snapshot_tree(p, orphans) == 0)
		return;
	for (size_t i = old; i < p->ntree; i++) {
		if (p->inst)
			dlog("%s[%d]: pid %d (of pid %d's tree) appeared during the stop%s%s",
			    p->inst->app->spec.name, p->inst->pm_id, (int)p->tree[i].pid, (int)p->pid,
			    sig ? ": " : "", sig ? signame_name(sig) : "");
		if (sig && proctree_alive(&p->tree[i]))
			kill(p->tree[i].pid, sig);
	}
}

static bool
tree_alive(const struct proc *p)
{
	/* A process no reaper of ours waits for (found running when the
	 * keeper had died too) leaves its zombies to init. */
	bool unreaped = p->adopted && p->exited && (p->orphan_name || keep_pid() == 0);
	if (unreaped ? proctree_group_running(p->pid) : group_alive(p->pid))
		return true;
	for (size_t i = 0; i < p->ntree; i++)
		if (proctree_alive(&p->tree[i]))
			return true;
	return false;
}

static void
kill_tree(const struct proc *p, int sig)
{
	kill(-p->pid, sig);
	for (size_t i = 0; i < p->ntree; i++)
		if (proctree_alive(&p->tree[i]))
			kill(p->tree[i].pid, sig);
}

static int
pidfd_open_compat(pid_t pid)
{
#ifdef SYS_pidfd_open
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd >= 0)
		fd_set_cloexec(fd, true);
	return fd;
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

static int
proc_kill(struct proc *p, int sig, bool tree)
{
	if (tree && kill(-p->pid, sig) == 0)
		return 0;
	if (p->exited)
		return -ESRCH;
#ifdef SYS_pidfd_send_signal
	if (p->pidfd >= 0)
		return syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) < 0 ? -errno : 0;
#endif
	return kill(p->pid, sig) < 0 ? -errno : 0;
}

static void
proc_free(void *ptr)
{
	struct proc *p = ptr;
	free(p->tree);
	free(p->orphan_name);
	if (p->ipc) {
		linebuf_free(&p->ipc->in);
		sbuf_free(&p->ipc->out);
		free(p->ipc);
	}
	free(p);
}

/* Environment for a process of instance in: the app's env plus what
 * corral manages. extra holds "KEY=value" strings set last. */
static char **
build_env(struct inst *in, char **extra)
{
	const struct spec *s = &in->app->spec;
	static const char *const managed[] = {
		"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET",
		"NODE_CHANNEL_FD", "NODE_CHANNEL_SERIALIZATION_MODE", "NODE_UNIQUE_ID",
		"CORRAL_BROKER_FD", "CORRAL_BROKER_SOCKET", "CORRAL_AGENT_PARENT", "pm_id", "name",
		"namespace",
	};
	json_t *env = spec_env(s);
	for (size_t i = 0; i < ARRAY_LEN(managed); i++)
		json_object_del(env, managed[i]);
	json_object_del(env, s->instance_var);

	char buf[32];
	snprintf(buf, sizeof(buf), "%d", in->pm_id);
	json_object_set_new(env, "pm_id", json_string(buf));
	json_object_set_new(env, "name", json_string(s->name));
	json_object_set_new(env, "namespace", json_string(s->namespace));
	snprintf(buf, sizeof(buf), "%d", in->index);
	json_object_set_new(env, s->instance_var, json_string(buf));
	if (s->increment_var) {
		const char *base = spec_env_get(s, s->increment_var);
		long long v = base ? strtoll(base, NULL, 10) : 0;
		snprintf(buf, sizeof(buf), "%lld", v + in->index);
		json_object_set_new(env, s->increment_var, json_string(buf));
	}
	json_object_set_new(env, "NOTIFY_SOCKET", json_string(notify_socket_for(
	    s->uid >= 0 ? (uid_t)s->uid : geteuid())));

	size_t n = json_object_size(env) + strv_len(extra);
	char **envp = xcalloc(n + 1, sizeof(*envp));
	size_t k = 0;
	const char *key;
	json_t *val;
	json_object_foreach(env, key, val) {
		bool overridden = false;
		for (size_t i = 0; extra && extra[i]; i++) {
			size_t kl = strlen(key);
			if (strncmp(extra[i], key, kl) == 0 && extra[i][kl] == '=')
				overridden = true;
		}
		if (!overridden)
			envp[k++] = xasprintf("%s=%s", key, json_string_value(val));
	}
	for (size_t i = 0; extra && extra[i]; i++)
		envp[k++] = xstrdup(extra[i]);
	json_decref(env);
	return envp;
}

/* The Node inspector port of a cluster instance whose interpreter options
 * ask for the inspector (common/inspect.h); 0 when none. */
int
inst_inspect_port(const struct inst *in)
{
	const struct spec *s = &in->app->spec;
	if (s->exec_mode != MODE_CLUSTER)
		return 0;
	for (size_t i = 0; s->interpreter_args[i]; i++) {
		int port;
		const char *a = s->interpreter_args[i];
		if (inspect_option(a, strlen(a), &port))
			return port + in->index <= 65535 ? port + in->index : 0;
	}
	return 0;
}

/* The command line: interpreter and its options (then corral's agent for
 * Node), script, arguments. A cluster instance's inspector options get its
 * own port. */
static char **
build_argv(const struct inst *in, const char **path)
{
	const struct spec *s = &in->app->spec;
	size_t n = 1 + 2 + strv_len(s->interpreter_args) + 1 + strv_len(s->args);
	char **argv = xcalloc(n + 1, sizeof(*argv));
	size_t k = 0;
	if (s->interpreter) {
		argv[k++] = xstrdup(s->interpreter);
		for (size_t i = 0; s->interpreter_args[i]; i++) {
			const char *a = s->interpreter_args[i];
			char *own = s->exec_mode == MODE_CLUSTER ?
			    inspect_option_for_instance(a, in->index) : NULL;
			argv[k++] = own ? own : xstrdup(a);
		}
		/* corral's agent (agent.h), after the app's own options. */
		if (agent_for(s)) {
			argv[k++] = xstrdup("--require");
			argv[k++] = xstrdup(D->paths.agent);
		}
		*path = s->interpreter;
	} else {
		*path = s->script;
	}
	argv[k++] = xstrdup(s->script);
	for (size_t i = 0; s->args[i]; i++)
		argv[k++] = xstrdup(s->args[i]);
	return argv;
}

/* The pid file holds the pid of the instance's process while it runs, and
 * is removed when the instance stops running (inst_set_state) or goes. A
 * restart rewrites it in place: deleting and creating thousands of files
 * costs a file system like ext4 far more than rewriting them. */
static void
write_pid_file_now(struct inst *in, pid_t pid)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	/* O_NONBLOCK and only a regular file: a FIFO or a device there would
	 * block the loop in open() or write(). */
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	int fd = open(in->pid_path, flags, 0640);
	if (fd < 0 && errno == ENOENT) {
		/* Missing directories are created, as for log files. */
		char *dir = xstrdup(in->pid_path);
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			mkdir_p(dir, 0700);
		}
		free(dir);
		fd = open(in->pid_path, flags, 0640);
	}
	struct stat st;
	if (fd < 0 ? errno == ENXIO : fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		dlog("%s: pid file %s is not a regular file; not writing it", in->app->spec.name,
		    in->pid_path);
		if (fd >= 0)
			close(fd);
		return;
	}
	/* Written over the old content, then cut to length: truncating to
	 * zero first would make ext4 flush the file when it is closed. */
	if (fd < 0 || pwrite(fd, buf, (size_t)n, 0) != n || ftruncate(fd, n) < 0)
		dlog("%s: cannot write pid file %s: %s", in->app->spec.name, in->pid_path,
		    strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* Pid files are written a few per turn of the loop (as long as
 * state_files_turn_over() allows), once no process has been started for a
 * moment (state_files_defer_ms()), after the request that started their
 * processes has its reply, as log files are created
 * (logfile.c): a new file costs an inode, and on ext4 without a journal up
 * to milliseconds each after many were deleted; a start of a thousand apps
 * returns once they run. Instances by uid: one deleted meanwhile is
 * skipped. The removals (pidfiles.c) asked before an instance's write are
 * done first: a stop's removal, or a deleted instance's of the same path,
 * must not delete the new file. */
static struct {
	uint64_t *uids;
	size_t n, cap, done;
	bool blocked;           /* waiting for removals */
	int64_t held_since;     /* by spawns (state_files_defer_ms) */
	struct timer timer;
} pid_files;

/* Removals are done (pidfiles.c): a batch that waited for them goes on. */
static void
pid_files_kick(void)
{
	if (pid_files.blocked) {
		pid_files.blocked = false;
		timer_start(D->loop, &pid_files.timer, 0);
	}
}

static void
pid_files_batch(struct loop *l, struct timer *t, void *arg)
{
	int64_t later = state_files_defer_ms(&pid_files.held_since);
	if (later > 0) {
		timer_start(l, t, later);
		return;
	}
	int64_t turn_end = state_files_turn_end();
	bool over = false;
	for (; pid_files.done < pid_files.n && !over; pid_files.done++) {
		struct inst *in = inst_by_uid(pid_files.uids[pid_files.done]);
		if (!in || !in->pid_pending)
			continue;
		if (!pidfiles_done(in->pid_after)) {
			/* The rest came later: they wait too, until the removals
			 * say they are done (pid_files_kick). */
			pid_files.blocked = true;
			return;
		}
		in->pid_pending = false;
		/* Still running: the pid of now (a restart may have replaced it). */
		if (in->proc && !in->proc->exited && !inst_state_idle(in->state)) {
			write_pid_file_now(in, in->proc->pid);
			over = state_files_turn_over(turn_end);
		}
	}
	if (pid_files.done < pid_files.n) {
		timer_start(l, t, 0);
		return;
	}
	pid_files.n = pid_files.done = 0;
}

/* Write in's pid file soon with the pid of its process (in->proc). */
static void
write_pid_file(struct inst *in)
{
	if (!in->pid_path)
		return;
	in->pid_after = pidfiles_asked();
	if (in->pid_pending)
		return;
	in->pid_pending = true;
	if (pid_files.n == pid_files.cap) {
		pid_files.cap = pid_files.cap ? pid_files.cap * 2 : 64;
		pid_files.uids = xrealloc(pid_files.uids, pid_files.cap * sizeof(*pid_files.uids));
	}
	pid_files.uids[pid_files.n++] = in->uid;
	/* Armed when the list was empty: until pid_files_batch() empties it. */
	if (pid_files.n == 1) {
		pidfiles_on_done(pid_files_kick);
		timer_init(&pid_files.timer, pid_files_batch, NULL);
		timer_start(D->loop, &pid_files.timer, 0);
	}
}

static void
remove_pid_file(struct inst *in)
{
	in->pid_pending = false;
	if (in->pid_path)
		pidfiles_remove(in->pid_path);
}

static void on_pidfd(struct loop *l, struct io *io, uint32_t events, void *arg);
static void on_ipc(struct loop *l, struct io *io, uint32_t events, void *arg);

/* Watch p's Node IPC channel (p->ipc_fd), with the buffers that come with
 * one. 0, or -errno (the buffers stay, for proc_free()). */
static int
ipc_watch(struct proc *p)
{
	fd_set_nonblock(p->ipc_fd, true);
	p->ipc = xcalloc(1, sizeof(*p->ipc));
	linebuf_init(&p->ipc->in, 1 << 20);
	return io_add(D->loop, &p->ipc->io, p->ipc_fd, EPOLLIN, on_ipc, p);
}

/* How a new process proves it can take traffic. */
static enum {
	READY_NOW,        /* fork mode: running is enough (PM2) */
	READY_SIGNAL,     /* wait_ready: process.send('ready') or READY=1 */
	READY_BIND,       /* cluster via preload: bound its port through us */
	READY_UPTIME,     /* cluster via LISTEN_FDS: alive for min_uptime */
} ready_mode(const struct spec *s)
{
	if (s->wait_ready)
		return READY_SIGNAL;
	if (s->exec_mode != MODE_CLUSTER)
		return READY_NOW;
	return strv_len(s->listen) > 0 ? READY_UPTIME : READY_BIND;
}

/* Count p as waited for (it was spawned), or not any more (it is gone, or
 * survived SIGKILL and is abandoned): supervise_procs_gone() and
 * inst_procs_gone() answer from the counts, without a pass over every
 * process. */
static void
proc_count_waited(struct proc *p, int delta)
{
	uintptr_t n = (uintptr_t)idmap_get(&D->waited_by_uid, p->inst_uid);
	n += (uintptr_t)(intptr_t)delta;
	if (n)
		idmap_put(&D->waited_by_uid, p->inst_uid, (void *)n);
	else
		idmap_del(&D->waited_by_uid, p->inst_uid);
	D->waited += (size_t)(ssize_t)delta;
}

/* p is reaped (or forgotten): its pid may be given to another process. */
static void
proc_unindex(struct proc *p)
{
	if (idmap_get(&D->procs_by_pid, (uint64_t)p->pid) == p)
		idmap_del(&D->procs_by_pid, (uint64_t)p->pid);
}

/* ---- cluster mode: what src/cluster is told about processes ---- */

static struct cluster_slot
slot_of(const struct inst *in)
{
	return (struct cluster_slot){.app_id = in->app->id, .spec = &in->app->spec,
	    .uid = in->uid, .pm_id = in->pm_id, .inspect_port = inst_inspect_port(in)};
}

/* Tell cluster mode whether p takes new connections. Called after every
 * change of state, exited or retiring. */
static void
proc_sync_traffic(struct proc *p)
{
	if (p->peer)
		cluster_peer_set_traffic(p->peer, p->state == P_READY && !p->exited &&
		    !p->retiring && p->traffic_holds == 0);
}

void
proc_hold_traffic(struct proc *p, bool hold)
{
	p->traffic_holds += hold ? 1 : -1;
	proc_sync_traffic(p);
}

/* The one place a process changes state (the diagram is in table.h). */
static void
proc_set_state(struct proc *p, enum proc_state st)
{
	if (st <= p->state)
		fatal("pid %d: state %d cannot follow %d", (int)p->pid, (int)st, (int)p->state);
	p->state = st;
	if (st == P_READY)
		p->ready_mono = mono_ms();
	proc_sync_traffic(p);
	keep_mark_proc(p);
}

/* p will never serve again. */
static void
proc_set_retiring(struct proc *p)
{
	p->retiring = true;
	proc_sync_traffic(p);
	keep_mark_proc(p);
}

static bool
proc_drained(const struct proc *p)
{
	return !p->peer || cluster_peer_drained(p->peer);
}

/* p no longer belongs to its instance (it may have none already). */
static void
proc_unlink_inst(struct proc *p)
{
	if (p->inst)
		TAILQ_REMOVE(&p->inst->procs, p, inst_link);
	p->inst = NULL;
}

static void
proc_detach_inst(struct proc *p)
{
	keep_mark_proc(p);
	proc_unlink_inst(p);
	if (p->peer)
		cluster_peer_unslot(p->peer);
}

static void
inst_cluster_idle(struct inst *in)
{
	bool others = false;
	struct inst *o;
	TAILQ_FOREACH(o, &in->app->insts, app_link) {
		state_step();
		if (o != in && (o->proc || o->state == ST_LAUNCHING ||
		    o->state == ST_WAITING || o->state == ST_ONLINE))
			others = true;
	}
	cluster_slot_idle(D->cluster, in->app->id, in->uid, others);
}

static void
on_peer_bound(void *owner, const char *how)
{
	proc_bound(owner, how);
}

static bool
slot_serving_since(void *arg, uint64_t slot_uid, int64_t *since_ms)
{
	struct inst *in = inst_by_uid(slot_uid);
	const struct proc *p = in ? in->proc : NULL;
	if (!p || p->state != P_READY || p->exited)
		return false;
	*since_ms = p->ready_mono;
	return true;
}

const struct cluster_ops supervise_cluster_ops = {
	.bound = on_peer_bound,
	.slot_serving_since = slot_serving_since,
	.member = keep_member,
};

/* What a spawn needs besides the spec: the descriptors the process gets
 * and the environment variables that name them. */
struct spawn_plan {
	int out_pipe[2], err_pipe[2];   /* stdout, stderr: [0] ours, [1] the app's */
	int broker[2];                  /* cluster via preload: [0] ours */
	int broker_listen;              /* and its address: ours, -1 if none */
	int ipc[2];                     /* Node IPC channel: [0] ours */
	int pass[64];                   /* fds for the app, from 3 on */
	size_t npass;
	int nlisten;                    /* LISTEN_FDS sockets at the start of pass */
	char *extra[16];                /* environment entries to add */
	size_t nextra;
};

/* The plan's pairs of descriptors, for init and cleanup. */
static int *
plan_pair(struct spawn_plan *pl, int i)
{
	int *pairs[] = {pl->out_pipe, pl->err_pipe, pl->broker, pl->ipc};
	return i < (int)ARRAY_LEN(pairs) ? pairs[i] : NULL;
}

static void
plan_init(struct spawn_plan *pl)
{
	memset(pl, 0, sizeof(*pl));
	for (int *pair, i = 0; (pair = plan_pair(pl, i)) != NULL; i++)
		pair[0] = pair[1] = -1;
	pl->broker_listen = -1;
}

/* Close what is still ours (the app's ends after the spawn, everything on
 * failure) and free the environment entries. */
static void
plan_free(struct spawn_plan *pl)
{
	for (int *pair, i = 0; (pair = plan_pair(pl, i)) != NULL; i++)
		for (int k = 0; k < 2; k++)
			if (pair[k] >= 0)
				close(pair[k]);
	if (pl->broker_listen >= 0)
		close(pl->broker_listen);
	for (size_t i = 0; i < pl->nextra; i++)
		free(pl->extra[i]);
}

/* Socket activation: the app's `listen` sockets at fds 3, 4, ... */
static int
plan_listen_fds(struct spawn_plan *pl, const struct cluster_slot *slot, char **err)
{
	char *names = NULL;
	int n = cluster_listen_fds(D->cluster, slot, pl->pass, 32, &names, err);
	if (n < 0)
		return -EINVAL;
	pl->nlisten = n;
	pl->npass = (size_t)n;
	if (n > 0) {
		pl->extra[pl->nextra++] = xasprintf("LISTEN_FDS=%d", n);
		pl->extra[pl->nextra++] = xstrdup("LISTEN_PID=");
		pl->extra[pl->nextra++] = xasprintf("LISTEN_FDNAMES=%s", names);
	}
	free(names);
	return 0;
}

/* Cluster mode through the preload library: LD_PRELOAD, the broker channel
 * it asks for sockets on, and the address where descendants that did not
 * inherit the channel (npm start) reach the broker. */
static int
plan_broker(struct spawn_plan *pl, const struct spec *s, char **err)
{
	char address[64], *why = NULL;
	if (!D->preload_path) {
		*err = xstrdup("cluster mode needs libcorral-preload.so, which was not "
		    "found next to the corral binary");
		return -ENOENT;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pl->broker) < 0) {
		*err = xasprintf("cannot create the broker channel: %s", strerror(errno));
		return -errno;
	}
	const char *old = spec_env_get(s, "LD_PRELOAD");
	if (old && *old && !strstr(old, "libcorral-preload"))
		pl->extra[pl->nextra++] = xasprintf("LD_PRELOAD=%s:%s", D->preload_path, old);
	else
		pl->extra[pl->nextra++] = xasprintf("LD_PRELOAD=%s", D->preload_path);
	pl->extra[pl->nextra++] = xasprintf("CORRAL_BROKER_FD=%zu", 3 + pl->npass);
	pl->pass[pl->npass++] = pl->broker[1];
	pl->broker_listen = cluster_broker_listen(address, sizeof(address), &why);
	if (pl->broker_listen >= 0) {
		pl->extra[pl->nextra++] = xasprintf("CORRAL_BROKER_SOCKET=%s", address);
	} else {
		dlog("%s: no broker address (%s): only processes that inherit the broker "
		    "channel share ports", s->name, why);
		free(why);
	}
	return 0;
}

static int
plan_node_ipc(struct spawn_plan *pl, const struct spec *s, char **err)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pl->ipc) < 0) {
		*err = xasprintf("cannot create the Node IPC channel: %s", strerror(errno));
		return -errno;
	}
	pl->extra[pl->nextra++] = xasprintf("NODE_CHANNEL_FD=%zu", 3 + pl->npass);
	pl->extra[pl->nextra++] = xstrdup("NODE_CHANNEL_SERIALIZATION_MODE=json");
	/* The agent runs only in the process corral starts, not in the Node
	 * processes it forks (they inherit --require but talk to their parent). */
	if (agent_for(s))
		pl->extra[pl->nextra++] = xasprintf("CORRAL_AGENT_PARENT=%d", (int)D->pid);
	pl->pass[pl->npass++] = pl->ipc[1];
	return 0;
}

/* Every descriptor and variable the instance's process needs. 0 or -errno
 * with *err. */
static int
plan_make(struct spawn_plan *pl, struct inst *in, const struct cluster_slot *slot,
    char **err)
{
	const struct spec *s = &in->app->spec;
	if (pipe2(pl->out_pipe, O_CLOEXEC) < 0 || pipe2(pl->err_pipe, O_CLOEXEC) < 0) {
		*err = xasprintf("cannot create output pipes: %s", strerror(errno));
		return -errno;
	}
	logpipe_grow(pl->out_pipe[0]);
	logpipe_grow(pl->err_pipe[0]);
	int rc = plan_listen_fds(pl, slot, err);
	if (rc == 0 && s->exec_mode == MODE_CLUSTER && strv_len(s->listen) == 0)
		rc = plan_broker(pl, s, err);
	if (rc == 0 && s->node_ipc)
		rc = plan_node_ipc(pl, s, err);
	return rc;
}

/* Run the plan: fork/exec the instance's program. 0 or -errno with *err. */
static int
plan_spawn(struct spawn_plan *pl, struct inst *in, pid_t *pid, char **err)
{
	const struct spec *s = &in->app->spec;
	/* The interpreter would start and die at once on a script that is
	 * gone (a release removed since `save`): say so instead of a crash
	 * loop. */
	if (s->interpreter && s->script[0] == '/' && access(s->script, F_OK) < 0) {
		int e = errno;
		*err = xasprintf("cannot find the script %s: %s", s->script, strerror(e));
		return -e;
	}
	char **envp = build_env(in, pl->extra);
	const char *path;
	char **argv = build_argv(in, &path);
	struct spawn_opts so = {
		.path = path, .argv = argv, .envp = envp, .cwd = s->cwd,
		.stdout_fd = pl->out_pipe[1], .stderr_fd = pl->err_pipe[1],
		.pass_fds = pl->pass, .npass = pl->npass,
		.change_ids = s->uid >= 0 || s->gid >= 0,
		.uid = s->uid >= 0 ? (uid_t)s->uid : getuid(),
		.gid = s->gid >= 0 ? (gid_t)s->gid : getgid(),
		.user = s->user,
		.umask = D->app_umask,
		.nofile = D->app_nofile.rlim_max ? &D->app_nofile : NULL,
	};
	int rc = spawn_run(&so, pid, err);
	strv_free(envp);
	strv_free(argv);
	return rc;
}

/* The table entry of a process just spawned for in, watched by the loop:
 * its exit (pidfd), its channels, its output. Takes our ends of the plan's
 * descriptors. */
static struct proc *
proc_new(struct inst *in, pid_t pid, struct spawn_plan *pl, const struct cluster_slot *slot)
{
	const struct spec *s = &in->app->spec;
	struct proc *p = xcalloc(1, sizeof(*p));
	p->inst = in;
	TAILQ_INSERT_TAIL(&in->procs, p, inst_link);
	p->detached_stop = stop_how_of(s);
	p->inst_uid = in->uid;
	p->serial = in->spawn_serial;
	p->pid = pid;
	p->started_mono = mono_ms();
	D->last_spawn_mono = p->started_mono;
	p->state = P_STARTING;
	p->ready_mono = -1;
	p->ipc_fd = pl->ipc[0];
	pl->ipc[0] = -1;
	timer_init(&p->kill_timer, on_kill_timer, p);
	timer_init(&p->ready_timer, on_ready_timer, p);
	timer_init(&p->online_timer, on_online_timer, p);
	TAILQ_INSERT_TAIL(&D->procs, p, link);
	idmap_put(&D->procs_by_pid, (uint64_t)pid, p);
	idmap_put(&D->procs_by_serial, p->serial, p);
	proc_count_waited(p, +1);
	if (pl->broker[0] >= 0 || pl->nlisten > 0)
		p->peer = cluster_peer_new(D->cluster, slot, pid, pl->broker[0],
		    pl->broker_listen, p);
	pl->broker[0] = pl->broker_listen = -1;

	p->pidfd = pidfd_open_compat(pid);
	if (p->pidfd >= 0 && io_add(D->loop, &p->pidfd_io, p->pidfd, EPOLLIN, on_pidfd, p) < 0) {
		close(p->pidfd);
		p->pidfd = -1;
	}
	int rc = p->ipc_fd >= 0 ? ipc_watch(p) : 0;
	if (rc < 0)
		dlog("%s[%d]: cannot watch the Node IPC channel of pid %d: %s", s->name,
		    in->pm_id, (int)pid, strerror(-rc));
	keep_proc_started(p);
	logpipe_start(pl->out_pipe[0], in, STREAM_OUT);
	logpipe_start(pl->err_pipe[0], in, STREAM_ERR);
	pl->out_pipe[0] = pl->err_pipe[0] = -1;
	return p;
}

struct proc *
proc_spawn(struct inst *in, char **err)
{
	const struct spec *s = &in->app->spec;
	struct cluster_slot slot = slot_of(in);
	struct spawn_plan pl;
	struct proc *p = NULL;
	pid_t pid;

	in->spawn_serial = ++spawn_counter;
	/* Out of descriptors: once more with the daemon's reserve. */
	for (int attempt = 0;; attempt++) {
		plan_init(&pl);
		int rc = plan_make(&pl, in, &slot, err);
		if (rc == 0)
			rc = plan_spawn(&pl, in, &pid, err);
		in->spawn_errno = -rc;
		if (rc == 0 || attempt > 0 || !fdreserve_release(rc))
			break;
		plan_free(&pl);
		free(*err);
		*err = NULL;
	}
	if (in->spawn_errno)
		goto out;
	p = proc_new(in, pid, &pl, &slot);

	switch (ready_mode(s)) {
	case READY_NOW:
		proc_set_state(p, P_READY);
		break;
	case READY_UPTIME:
		timer_start(D->loop, &p->ready_timer, s->min_uptime);
		break;
	case READY_BIND:
		/* Online as in PM2 once it runs (for min_uptime), even if it
		 * never binds a port (a worker); it takes connections only once
		 * it has bound. */
		timer_start(D->loop, &p->online_timer, s->min_uptime);
		timer_start(D->loop, &p->ready_timer, s->listen_timeout);
		break;
	case READY_SIGNAL:
		timer_start(D->loop, &p->ready_timer, s->listen_timeout);
		break;
	}
	dlog("%s[%d]: started pid %d", s->name, in->pm_id, (int)pid);
out:
	plan_free(&pl);
	if (!p)
		in->settled_serial = in->spawn_serial;
	return p;
}

static void
became_ready(struct inst *in, struct proc *p)
{
	if (in->proc == p && in->state == ST_LAUNCHING) {
		in->settled_serial = p->serial;
		inst_set_state(in, ST_ONLINE);
	}
}

/* Did the instance's last spawn fail for lack of file descriptors? */
static bool
waiting_for_fds(const struct inst *in)
{
	return in->spawn_errno == EMFILE || in->spawn_errno == ENFILE;
}

int
inst_start(struct inst *in, char **err)
{
	timer_stop(D->loop, &in->restart_timer);
	if (in->proc)
		return 0;
	free(in->error);
	in->error = NULL;
	bool was_waiting = waiting_for_fds(in);
	struct proc *p = proc_spawn(in, err);
	if (!p) {
		/* Out of descriptors is not the app's fault: it waits for them. */
		bool no_fds = waiting_for_fds(in);
		in->error = no_fds ? xasprintf("%s; trying again every %d ms until file "
		    "descriptors are free", *err, FDS_RETRY_MS) : xstrdup(*err);
		if (!no_fds || !was_waiting)
			dlog("%s[%d]: %s", in->app->spec.name, in->pm_id, in->error);
		inst_set_state(in, no_fds ? ST_WAITING : ST_ERRORED);
		if (no_fds)
			timer_start(D->loop, &in->restart_timer, FDS_RETRY_MS);
		return -EIO;
	}
	in->proc = p;
	write_pid_file(in);
	in->started_wall = wall_ms();
	in->started_mono = p->started_mono;
	/* The last run's in-app metrics are not this one's. */
	json_decref(in->metrics);
	in->metrics = NULL;
	in->state = ST_STOPPED; /* force the LAUNCHING event */
	inst_set_state(in, ST_LAUNCHING);
	if (p->state == P_READY)
		became_ready(in, p);
	return 0;
}

void
proc_mark_ready(struct proc *p, const char *how)
{
	if (p->state != P_STARTING || p->exited)
		return;
	proc_set_state(p, P_READY);
	timer_stop(D->loop, &p->ready_timer);
	timer_stop(D->loop, &p->online_timer);
	struct inst *in = p->inst;
	if (in)
		dlog("%s[%d]: pid %d ready (%s)", in->app->spec.name, in->pm_id, (int)p->pid, how);
	if (in)
		became_ready(in, p);
	events_changed();
}

void
proc_bound(struct proc *p, const char *how)
{
	if (p->inst && ready_mode(&p->inst->app->spec) == READY_BIND)
		proc_mark_ready(p, how);
}

static void
on_online_timer(struct loop *l, struct timer *t, void *arg)
{
	struct proc *p = arg;
	struct inst *in = p->inst;
	if (!in || in->proc != p || in->state != ST_LAUNCHING || p->exited)
		return;
	in->settled_serial = p->serial;
	inst_set_state(in, ST_ONLINE);
}

static void
on_ready_timer(struct loop *l, struct timer *t, void *arg)
{
	struct proc *p = arg;
	struct inst *in = p->inst;
	if (in && ready_mode(&in->app->spec) == READY_UPTIME) {
		proc_mark_ready(p, "alive for min_uptime");
		return;
	}
	p->ready_timed_out = true;
	bool asked = true;
	if (in && p->peer && cluster_peer_broker(p->peer, &asked) && !asked)
		dlog("%s[%d]: neither pid %d nor a descendant asked the broker for a port in "
		    "%lld ms: if it listens, its port is not shared (broker: not reached)",
		    in->app->spec.name, in->pm_id, (int)p->pid,
		    (long long)in->app->spec.listen_timeout);
	if (in && in->proc == p && in->state == ST_LAUNCHING) {
		/* PM2 considers the app online after listen_timeout; so do we
		 * for `start`, but describe says it never became ready, and a
		 * reload never promotes such a process. */
		inst_set_reason(in, "not ready after listen_timeout (%lld ms)",
		    (long long)in->app->spec.listen_timeout);
		dlog("%s[%d]: pid %d not ready after %lld ms", in->app->spec.name, in->pm_id,
		    (int)p->pid, (long long)in->app->spec.listen_timeout);
		in->settled_serial = p->serial;
		inst_set_state(in, ST_ONLINE);
	}
	events_changed();
}

struct stop_how
stop_how_of(const struct spec *s)
{
	return (struct stop_how){.sig = signame_parse(s->kill_signal),
	    .timeout_ms = s->kill_timeout, .tree = s->treekill,
	    .message = s->shutdown_with_message};
}

/* The app's current settings while p belongs to an instance (a reload may
 * have changed them), the ones kept at deletion afterwards. */
static struct stop_how
proc_stop_how(const struct proc *p)
{
	return p->inst ? stop_how_of(&p->inst->app->spec) : p->detached_stop;
}

/* Send the graceful stop: the 'shutdown' message or the kill signal. */
static void
send_stop(struct proc *p)
{
	struct stop_how how = proc_stop_how(p);
	/* No new connection may come once the signal is on its way. */
	proc_set_state(p, P_STOPPING);
	if (how.tree)
		snapshot_tree(p, !p->tree_no_orphans);
	if (how.message && p->ipc_fd >= 0 && proc_send_ipc(p, "\"shutdown\"") == 0) {
		/* PM2 sends no signal at all in this mode. */
	} else if (how.tree) {
		kill_tree(p, how.sig);
		/* Once: a second SIGINT can run the app's handler twice. Only
		 * a process that left its group needs its own. */
		if (!p->exited && getpgid(p->pid) != p->pid)
			proc_kill(p, how.sig, false);
	} else {
		proc_kill(p, how.sig, false);
	}
	p->stop_deadline = mono_ms() + how.timeout_ms;
	/* The first look for what escaped the group comes after a poll's
	 * wait: a process that exits at once is looked at by proc_exited(),
	 * and the tree was just read. */
	timer_start(D->loop, &p->kill_timer,
	    how.timeout_ms < GROUP_POLL_MS ? how.timeout_ms : GROUP_POLL_MS);
}

/* Begin stopping p: drain its listeners first (cluster), then signal. */
static void
proc_begin_stop(struct proc *p)
{
	/* A process that exited is stopping already (proc_exited). */
	if (proc_stopping(p))
		return;
	const struct spec *s = p->inst ? &p->inst->app->spec : NULL;
	if (!s || s->exec_mode != MODE_CLUSTER) {
		send_stop(p);
		return;
	}
	/* A SYN steered here just before the program changed may still
	 * complete its handshake into this queue: an empty queue counts only
	 * after DRAIN_SETTLE_MS (many loopback round trips). */
	proc_set_state(p, P_DRAINING);
	p->drain_settled_mono = mono_ms() + DRAIN_SETTLE_MS;
	p->stop_deadline = mono_ms() + s->kill_timeout;
	timer_start(D->loop, &p->kill_timer, DRAIN_SETTLE_MS);
}

static void
on_kill_timer(struct loop *l, struct timer *t, void *arg)
{
	struct proc *p = arg;
	int64_t now = mono_ms();
	bool tree = proc_stop_how(p).tree;

	if (p->state == P_DRAINING) {
		if (!p->exited && (now < p->drain_settled_mono || !proc_drained(p)) &&
		    now < p->stop_deadline) {
			timer_start(l, t, DRAIN_POLL_MS);
			return;
		}
		if (!p->exited)
			send_stop(p);
		else
			proc_set_state(p, P_STOPPING);
		return;
	}
	if (tree) {
		/* A child that daemonized since the last look (forked again
		 * after leaving the group) gets what the others got. */
		struct stop_how how = proc_stop_how(p);
		refresh_tree(p, p->state >= P_KILLING ? SIGKILL : how.message ? 0 : how.sig);
	}
	if (p->exited && (!tree || !tree_alive(p))) {
		proc_finished(p);
		return;
	}
	if (now >= p->stop_deadline) {
		if (p->state < P_KILLING) {
			if (p->inst)
				dlog("%s[%d]: pid %d still running after %lld ms, sending SIGKILL",
				    p->inst->app->spec.name, p->inst->pm_id, (int)p->pid,
				    (long long)p->inst->app->spec.kill_timeout);
			if (tree)
				kill_tree(p, SIGKILL);
			proc_set_state(p, P_KILLING);
			proc_kill(p, SIGKILL, false);
			p->stop_deadline = now + SIGKILL_GRACE_MS;
			if (D->shutting_down)
				D->stop_kills++;
		} else if (p->exited) {
			/* Only unkillable leftovers (D state) remain: stop caring. */
			dlog("pid %d: leftover processes of its group survive SIGKILL", (int)p->pid);
			proc_finished(p);
			return;
		} else {
			struct inst *in = p->inst;
			proc_set_state(p, P_ABANDONED);
			proc_count_waited(p, -1);
			if (in && in->proc == p) {
				free(in->error);
				in->error = xasprintf("process %d could not be killed", (int)p->pid);
				dlog("%s[%d]: %s", in->app->spec.name, in->pm_id, in->error);
				in->proc = NULL;
				proc_detach_inst(p);
				/* A restart waiting for this stop would wait forever. */
				in->restart_after_stop = false;
				if (in->delete_after_stop)
					inst_remove(in);
				else
					inst_set_state(in, ST_ERRORED);
			}
			return;
		}
	}
	int64_t wait = p->stop_deadline - now;
	timer_start(l, t, wait < GROUP_POLL_MS ? wait : GROUP_POLL_MS);
}

static void
proc_exited(struct proc *p, int wstatus)
{
	if (p->exited)
		return;
	p->exited = true;
	proc_unindex(p);
	sampler_forget(p);
	p->wstatus = wstatus;
	p->exit_mono = mono_ms();
	if (p->pidfd >= 0) {
		io_del(D->loop, &p->pidfd_io);
		close(p->pidfd);
		p->pidfd = -1;
	}
	timer_stop(D->loop, &p->ready_timer);
	timer_stop(D->loop, &p->online_timer);
	struct inst *in = p->inst;
	keep_mark_proc(p);
	if (in && in->proc == p && wstatus == WSTATUS_UNKNOWN) {
		/* The restart policy takes it for a crash. */
		in->exit_code = -1;
		in->exit_signal = 0;
		inst_set_reason(in, "exit status unknown (adopted)");
		dlog("%s[%d]: pid %d exited; exit status unknown (adopted from a previous daemon, "
		    "not our child)", in->app->spec.name, in->pm_id, (int)p->pid);
		events_inst(EV_INST_EXIT, in, "exit");
	} else if (in && in->proc == p) {
		in->exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
		in->exit_signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
		if (in->exit_signal)
			dlog("%s[%d]: pid %d killed by %s", in->app->spec.name, in->pm_id,
			    (int)p->pid, signame_name(in->exit_signal));
		else
			dlog("%s[%d]: pid %d exited with code %d", in->app->spec.name,
			    in->pm_id, (int)p->pid, in->exit_code);
		events_inst(EV_INST_EXIT, in, "exit");
	}
	/* New connections must stop going to a dead process at once. */
	if (p->peer)
		cluster_peer_exited(p->peer);
	bool tree = proc_stop_how(p).tree;
	if (!proc_stopping(p) && tree) {
		snapshot_tree(p, !p->tree_no_orphans);
		if (tree_alive(p)) {
			/* The main process died but its children live on: give
			 * them the kill signal and the usual grace before SIGKILL. */
			send_stop(p);
			return;
		}
	}
	if (p->state < P_STOPPING)
		proc_set_state(p, P_STOPPING);
	on_kill_timer(D->loop, &p->kill_timer, p);
}

static void
on_pidfd(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct proc *p = arg;
	if (p->adopted) {
		/* Not our child: readable means it exited, and only its parent
		 * (the keeper, or init) can reap it. */
		proc_exited(p, WSTATUS_UNKNOWN);
		return;
	}
	siginfo_t info;
	memset(&info, 0, sizeof(info));
	if (waitid(P_PIDFD, (id_t)p->pidfd, &info, WEXITED | WNOHANG) < 0 || info.si_pid == 0) {
		/* Already reaped by the SIGCHLD path, or spurious. */
		if (errno == ECHILD)
			io_del(l, io);
		return;
	}
	int status = info.si_code == CLD_EXITED ? W_EXITCODE(info.si_status, 0)
	    : (info.si_status & 0x7f);
	proc_exited(p, status);
}

void
supervise_reap(void)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			break;
		struct proc *p = proc_by_pid(pid);
		if (p && !p->exited)
			proc_exited(p, status);
		else if (!p)
			events_emit(&(struct event){.kind = EV_REAPED, .pid = pid, .wstatus = status});
	}
}

static void
restart_now(struct inst *in)
{
	char *err = NULL;
	in->restarts++;
	if (inst_start(in, &err) < 0)
		free(err);
}

static void
on_restart_timer(struct loop *l, struct timer *t, void *arg)
{
	struct inst *in = arg;
	char *err = NULL;
	/* Nothing starts again while everything stops (corral runtime stops
	 * its apps one after the other: a later one may still be waiting). */
	if (D->shutting_down)
		return;
	if (in->state == ST_WAITING && waiting_for_fds(in))
		inst_start(in, &err);
	else if (in->state == ST_WAITING)
		restart_now(in);
	free(err);
}

/* The instance is being removed: processes still on their way out (a
 * replaced process draining, an aborted successor, an unkillable one)
 * outlive it and must not point at it any more. */
static void
inst_removed(struct inst *in)
{
	timer_stop(D->loop, &in->restart_timer);
	/* Stopped, errored or waiting, its file was removed then: asking
	 * again could remove the file of a new instance with the same path
	 * (a daemon started while this one tears down). */
	if (inst_state_idle(in->state))
		in->pid_pending = false;
	else
		remove_pid_file(in);
	struct proc *p;
	while ((p = TAILQ_FIRST(&in->procs)) != NULL) {
		state_step();
		p->detached_stop = stop_how_of(&in->app->spec);
		proc_detach_inst(p);
		proc_set_retiring(p);
	}
	in->proc = NULL;
	in->successor = NULL;
	inst_cluster_idle(in);
}

void
supervise_on_event(const struct event *ev, void *arg)
{
	switch (ev->kind) {
	case EV_INST_NEW:
		timer_init(&ev->in->restart_timer, on_restart_timer, ev->in);
		TAILQ_INIT(&ev->in->procs);
		break;
	case EV_INST_REMOVE:
		inst_removed(ev->in);
		break;
	default:
		break;
	}
}

/* The instance has no process any more after a requested stop: delete it,
 * start it again, or leave it stopped, as the stop asked. */
static void
after_stop(struct inst *in)
{
	if (in->delete_after_stop) {
		inst_remove(in);
		return;
	}
	bool restart = in->restart_after_stop && !D->shutting_down;
	in->restart_after_stop = false;
	if (restart) {
		char *err = NULL;
		if (inst_start(in, &err) < 0)
			free(err);
		return;
	}
	inst_set_state(in, ST_STOPPED);
}

/* The serving process of in is gone for good; decide what comes next. */
static void
inst_process_ended(struct inst *in, struct proc *p)
{
	if (in->settled_serial < p->serial)
		in->settled_serial = p->serial;
	if (in->state == ST_STOPPING) {
		after_stop(in);
		return;
	}
	if (D->shutting_down) {
		inst_set_state(in, ST_STOPPED);
		return;
	}
	const struct spec *s = &in->app->spec;
	struct exit_outcome out;
	int64_t run_ms = p->exit_mono - p->started_mono;
	policy_on_exit(s, run_ms, in->exit_signal ? -1 : in->exit_code,
	    &in->unstable_restarts, &in->prev_restart_delay, &out);
	switch (out.action) {
	case EXIT_STOP:
		inst_set_state(in, ST_STOPPED);
		break;
	case EXIT_ERRORED:
		free(in->error);
		in->error = xasprintf("%d unstable restarts in a row (each run shorter than "
		    "min_uptime %lld ms); not restarting", in->unstable_restarts,
		    (long long)s->min_uptime);
		dlog("%s[%d]: %s", s->name, in->pm_id, in->error);
		in->unstable_restarts = 0;
		inst_set_state(in, ST_ERRORED);
		break;
	case EXIT_RESTART:
		if (out.delay_ms > 0) {
			inst_set_state(in, ST_WAITING);
			timer_start(D->loop, &in->restart_timer, out.delay_ms);
		} else {
			restart_now(in);
		}
		break;
	}
}

static void
proc_finished(struct proc *p)
{
	keep_del(KK_PROC, p->serial);
	timer_stop(D->loop, &p->kill_timer);
	timer_stop(D->loop, &p->ready_timer);
	timer_stop(D->loop, &p->online_timer);
	TAILQ_REMOVE(&D->procs, p, link);
	if (p->orphan_name)
		D->norphans--;
	proc_unindex(p);
	sampler_forget(p);
	idmap_del(&D->procs_by_serial, p->serial);
	if (TAILQ_EMPTY(&D->procs))
		idmap_free(&D->procs_by_serial);
	if (p->state != P_ABANDONED)
		proc_count_waited(p, -1);
	if (p->peer) {
		/* The serving process's sockets wait for the instance's next. */
		cluster_peer_free(p->peer, p->inst && p->inst->proc == p);
		p->peer = NULL;
	}
	if (p->ipc_fd >= 0) {
		io_del(D->loop, &p->ipc->io);
		close(p->ipc_fd);
		p->ipc_fd = -1;
	}
	struct inst *in = p->inst;
	proc_unlink_inst(p);
	loop_defer_free(D->loop, p, proc_free);
	/* Requests may wait for detached processes too (stop, delete, kill). */
	events_changed();
	if (!in)
		return;
	if (in->proc == p) {
		in->proc = NULL;
		inst_process_ended(in, p);
	} else if (in->successor == p) {
		in->successor = NULL;
		/* The reload names the reason once the process is gone. */
		in->successor_exit_serial = p->serial;
		in->successor_wstatus = p->wstatus;
	}
}

struct proc *
proc_by_serial(uint64_t serial)
{
	return idmap_get(&D->procs_by_serial, serial);
}

bool
supervise_procs_gone(void)
{
	return D->waited == 0;
}

bool
inst_launched(const struct inst *in, uint64_t serial)
{
	if (!in)
		return true;
	if (!in->proc && !in->restart_after_stop &&
	    (in->state == ST_STOPPED || in->state == ST_ERRORED))
		return true;
	return in->settled_serial >= serial && in->state != ST_STOPPING;
}

bool
inst_procs_gone(uint64_t inst_uid)
{
	return idmap_get(&D->waited_by_uid, inst_uid) == NULL;
}

void
proc_forget(struct proc *p)
{
	if (p->pidfd >= 0) {
		io_del(D->loop, &p->pidfd_io);
		close(p->pidfd);
		p->pidfd = -1;
	}
	if (p->inst) {
		if (p->inst->proc == p)
			p->inst->proc = NULL;
		if (p->inst->successor == p)
			p->inst->successor = NULL;
		proc_detach_inst(p);
	}
	proc_finished(p);
}

void
inst_stop(struct inst *in, enum after_stop then, const char *reason)
{
	timer_stop(D->loop, &in->restart_timer);
	if (then == AFTER_STOP_DELETE)
		in->delete_after_stop = true;
	in->restart_after_stop = then == AFTER_STOP_RESTART;
	if (reason)
		inst_set_reason(in, "%s", reason);
	if (in->successor) {
		/* A reload in progress must not promote what is being stopped. */
		in->successor_abort_serial = in->successor->serial;
		proc_abort(in->successor);
		in->successor = NULL;
	}
	if (then != AFTER_STOP_RESTART)
		reload_cancel(in->app);
	if (!in->proc) {
		after_stop(in);
		return;
	}
	inst_set_state(in, ST_STOPPING);
	proc_begin_stop(in->proc);
}

void
inst_restart(struct inst *in, const char *reason)
{
	/* cron_restart, watch and max_memory_restart may fire while the
	 * daemon stops everything: nothing may start again then. */
	if (D->shutting_down)
		return;
	if (in->proc && (in->state == ST_ONLINE || in->state == ST_LAUNCHING))
		in->restarts++;
	in->unstable_restarts = 0;
	in->prev_restart_delay = 0;
	in->created_wall = wall_ms();
	inst_stop(in, AFTER_STOP_RESTART, reason);
}

int
inst_signal(struct inst *in, int sig)
{
	if (!in->proc || in->proc->exited)
		return -ESRCH;
	return proc_kill(in->proc, sig, false);
}

void
proc_retire(struct proc *p)
{
	proc_set_retiring(p);
	proc_begin_stop(p);
}

void
proc_abort(struct proc *p)
{
	p->retiring = true;
	p->tree_no_orphans = true;
	if (p->state < P_KILLING)
		proc_set_state(p, P_KILLING);
	/* Its descendants too, even those that left its group; not orphans
	 * by pm_id: those may be the serving process's, which stays. */
	if (proc_stop_how(p).tree) {
		snapshot_tree(p, false);
		kill_tree(p, SIGKILL);
	} else {
		proc_kill(p, SIGKILL, true);
	}
	proc_kill(p, SIGKILL, false);
	p->stop_deadline = mono_ms() + SIGKILL_GRACE_MS;
	timer_start(D->loop, &p->kill_timer, 0);
}

void
inst_promote(struct inst *in)
{
	struct proc *old = in->proc;
	struct proc *next = in->successor;
	in->successor = NULL;
	in->proc = next;
	in->restarts++;
	in->unstable_restarts = 0;
	in->prev_restart_delay = 0;
	in->started_wall = wall_ms();
	in->started_mono = next->started_mono;
	in->settled_serial = next->serial;
	if (old)
		proc_retire(old);
	proc_sync_traffic(next);
	write_pid_file(in);
	in->state = ST_LAUNCHING;
	inst_set_state(in, ST_ONLINE);
}

/* Lines for an app that does not read its channel (a blocked event loop)
 * wait here, up to this much; past it a message is refused. */
#define IPC_OUT_MAX (256u << 10)

/* Write what the app will take of its queue (p->ipc->out); watch for room
 * when some is left. A write error drops the queue (the read side sees the
 * end). */
static void
ipc_flush(struct proc *p)
{
	struct proc_ipc *c = p->ipc;
	int rc = sbuf_write(&c->out, p->ipc_fd);
	if (rc < 0 && rc != -EAGAIN)
		sbuf_reset(&c->out);
	io_mod(D->loop, &c->io, c->out.len ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

int
proc_send_ipc(struct proc *p, const char *json_line)
{
	if (p->ipc_fd < 0)
		return -ENOTCONN;
	/* The channel is non-blocking: whole lines are queued, and written as
	 * the app takes them (a partial line would corrupt its channel). */
	size_t len = strlen(json_line);
	struct sbuf *out = &p->ipc->out;
	if (out->len + len + 1 > IPC_OUT_MAX)
		return -EAGAIN;
	bool idle = out->len == 0;
	sbuf_add(out, json_line, len);
	sbuf_addc(out, '\n');
	if (idle)
		ipc_flush(p);
	return 0;
}

/* One message from a Node app: 'ready', a metric (its own or corral's
 * agent's), an answer of the agent, or one for whoever listens (the bus). */
static void
ipc_message(struct proc *p, json_t *msg)
{
	if (json_is_string(msg) && strcmp(json_string_value(msg), "ready") == 0) {
		proc_mark_ready(p, "process.send('ready')");
		return;
	}
	if (!p->inst || metrics_from_message(&p->inst->metrics, msg, wall_ms()) != -ENOENT)
		return;
	const char *cmd = json_string_value(json_object_get(msg, "cmd"));
	if (cmd && strcmp(cmd, "NODE_CORRAL") == 0)
		events_emit(&(struct event){.kind = EV_AGENT_MSG, .in = p->inst, .msg = msg,
		    .pid = (int)p->pid});
	else
		events_emit(&(struct event){.kind = EV_INST_MSG, .in = p->inst, .msg = msg});
}

/* Messages from a Node app: process.send(x) arrives as one JSON line. */
static void
on_ipc(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct proc *p = arg;
	if ((events & EPOLLOUT) && p->ipc->out.len > 0)
		ipc_flush(p);
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	ssize_t n = linebuf_read(&p->ipc->in, p->ipc_fd);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		/* The app closed its channel (or sent an absurd line). */
		io_del(l, io);
		close(p->ipc_fd);
		p->ipc_fd = -1;
		return;
	}
	char *line;
	size_t len;
	while ((line = linebuf_next(&p->ipc->in, &len)) != NULL) {
		json_t *msg = json_loadb(line, len, JSON_DECODE_ANY, NULL);
		if (!msg)
			continue;
		ipc_message(p, msg);
		json_decref(msg);
	}
}

/* ---- taking over from a previous daemon (adopt.c) ---- */

/* Go on with the stop a previous daemon had begun: drain, wait or kill,
 * with fresh deadlines. */
static void
resume_stop(struct proc *p)
{
	struct stop_how how = proc_stop_how(p);
	int64_t now = mono_ms();
	if (how.tree)
		snapshot_tree(p, !p->tree_no_orphans);
	switch (p->state) {
	case P_DRAINING:
		p->drain_settled_mono = now;
		p->stop_deadline = now + how.timeout_ms;
		break;
	case P_STOPPING:
		p->stop_deadline = now + how.timeout_ms;
		break;
	default:
		if (how.tree)
			kill_tree(p, SIGKILL);
		proc_kill(p, SIGKILL, false);
		p->stop_deadline = now + SIGKILL_GRACE_MS;
		break;
	}
	timer_start(D->loop, &p->kill_timer, 0);
}

struct proc *
proc_adopt(struct inst *in, const struct proc_adoption *a)
{
	if (a->state == P_ABANDONED) {
		/* It survived SIGKILL: nobody waits for it any more. */
		int fds[] = {a->pidfd, a->broker_fd, a->broker_listen_fd, a->ipc_fd};
		for (size_t i = 0; i < ARRAY_LEN(fds); i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return NULL;
	}
	struct proc *p = xcalloc(1, sizeof(*p));
	p->inst = a->role == ADOPT_DETACHED ? NULL : in;
	if (p->inst)
		TAILQ_INSERT_TAIL(&p->inst->procs, p, inst_link);
	p->detached_stop = in ? stop_how_of(&in->app->spec) : a->stop;
	p->inst_uid = a->inst_uid;
	p->serial = a->serial ? a->serial : ++spawn_counter;
	if (spawn_counter < p->serial)
		spawn_counter = p->serial;
	p->pid = a->pid;
	p->started_mono = a->started_mono;
	p->ready_mono = a->ready_mono;
	p->ready_timed_out = a->ready_timed_out;
	p->retiring = a->retiring;
	p->adopted = a->adopted;
	p->exited = a->exited;
	p->state = a->state;    /* as it was; from here on only forward */
	p->pidfd = a->pidfd;
	p->ipc_fd = a->ipc_fd;
	p->orphan_name = a->orphan_name ? xstrdup(a->orphan_name) : NULL;
	if (p->orphan_name)
		D->norphans++;
	p->orphan_pm_id = a->orphan_pm_id;
	timer_init(&p->kill_timer, on_kill_timer, p);
	timer_init(&p->ready_timer, on_ready_timer, p);
	timer_init(&p->online_timer, on_online_timer, p);
	TAILQ_INSERT_TAIL(&D->procs, p, link);
	if (!p->exited)
		idmap_put(&D->procs_by_pid, (uint64_t)p->pid, p);
	idmap_put(&D->procs_by_serial, p->serial, p);
	proc_count_waited(p, +1);
	int broker_fd = a->broker_fd, broker_listen_fd = a->broker_listen_fd;
	if (p->inst) {
		const struct spec *s = &in->app->spec;
		struct cluster_slot slot = slot_of(in);
		if (broker_fd >= 0 || broker_listen_fd >= 0 ||
		    (s->exec_mode == MODE_CLUSTER && strv_len(s->listen) > 0)) {
			p->peer = cluster_peer_new(D->cluster, &slot, p->pid, broker_fd,
			    broker_listen_fd, p);
			broker_fd = broker_listen_fd = -1;
		}
		if (a->role == ADOPT_SERVING) {
			in->proc = p;
			/* One the last daemon had still to write (it died or
			 * was replaced right after the start). */
			write_pid_file(in);
		} else if (a->role == ADOPT_SUCCESSOR)
			in->successor = p;
	}
	if (broker_fd >= 0)
		close(broker_fd);
	if (broker_listen_fd >= 0)
		close(broker_listen_fd);
	if (p->exited && p->pidfd >= 0) {
		close(p->pidfd);
		p->pidfd = -1;
	}
	if (p->pidfd >= 0 && io_add(D->loop, &p->pidfd_io, p->pidfd, EPOLLIN, on_pidfd, p) < 0) {
		close(p->pidfd);
		p->pidfd = -1;
	}
	if (p->ipc_fd >= 0 && ipc_watch(p) < 0) {
		close(p->ipc_fd);
		p->ipc_fd = -1;
	}
	if (p->exited) {
		if (p->peer)
			cluster_peer_exited(p->peer);
		if (p->state < P_STOPPING)
			p->state = P_STOPPING;
		p->stop_deadline = mono_ms() + proc_stop_how(p).timeout_ms;
		timer_start(D->loop, &p->kill_timer, 0);
	} else if (proc_stopping(p)) {
		resume_stop(p);
	}
	proc_sync_traffic(p);
	/* A process found while the keeper is live (a stray at shutdown) goes
	 * to it with its pidfd; adopted ones go with everything after. */
	keep_proc_started(p);
	return p;
}

/* A launch a previous daemon began: its timers, counted from the start. */
static void
rearm_ready_timers(struct inst *in, struct proc *p)
{
	const struct spec *s = &in->app->spec;
	int64_t age = mono_ms() - p->started_mono;
	switch (ready_mode(s)) {
	case READY_NOW:
		break;
	case READY_UPTIME:
		timer_start(D->loop, &p->ready_timer, s->min_uptime - age);
		break;
	case READY_BIND:
		if (in->state == ST_LAUNCHING)
			timer_start(D->loop, &p->online_timer, s->min_uptime - age);
		if (!p->ready_timed_out)
			timer_start(D->loop, &p->ready_timer, s->listen_timeout - age);
		break;
	case READY_SIGNAL:
		if (!p->ready_timed_out)
			timer_start(D->loop, &p->ready_timer, s->listen_timeout - age);
		break;
	}
}

void
inst_adopted(struct inst *in, int64_t restart_at_mono)
{
	if (in->successor) {
		/* The reload that started it died with the previous daemon. */
		in->successor_abort_serial = in->successor->serial;
		proc_abort(in->successor);
		in->successor = NULL;
	}
	struct proc *p = in->proc;
	switch (in->state) {
	case ST_LAUNCHING:
	case ST_ONLINE:
		if (!p) {
			/* Its process ended while no daemon ran. */
			in->exit_code = -1;
			in->exit_signal = 0;
			inst_set_reason(in, "exit status unknown (adopted)");
			inst_set_state(in, ST_WAITING);
			timer_start(D->loop, &in->restart_timer, 0);
		} else if (p->state == P_STARTING && !p->exited) {
			rearm_ready_timers(in, p);
		}
		break;
	case ST_STOPPING:
		if (!p)
			after_stop(in);
		break;
	case ST_WAITING: {
		int64_t left = restart_at_mono - mono_ms();
		timer_start(D->loop, &in->restart_timer, left > 0 ? left : 0);
		break;
	}
	case ST_STOPPED:
	case ST_ERRORED:
		inst_cluster_idle(in);
		break;
	}
	keep_mark_inst(in);
}

/* Children of reaper (us, or our keeper) that no tracked process accounts
 * for: processes of apps that went to a subreaper as orphans. */
static size_t
stop_strays_of(pid_t reaper, const struct stop_how *how)
{
	struct ptentry *kids = xmalloc(PROCTREE_MAX * sizeof(*kids));
	size_t n = proctree_children(reaper, kids, PROCTREE_MAX), found = 0;
	for (size_t i = 0; i < n; i++) {
		pid_t pid = kids[i].pid;
		if (pid == getpid() || pid == keep_pid() || proc_by_pid(pid) ||
		    !proctree_alive(&kids[i]))
			continue;
		int pidfd = pidfd_open_compat(pid);
		/* The pidfd must be of the process we saw, not of a pid reused
		 * since. */
		if (pidfd < 0 || !proctree_alive(&kids[i])) {
			if (pidfd >= 0)
				close(pidfd);
			continue;
		}
		struct proc_adoption a = {.pid = pid,
		    .role = ADOPT_DETACHED, .pidfd = pidfd, .broker_fd = -1, .broker_listen_fd = -1, .ipc_fd = -1,
		    .state = P_READY, .started_mono = mono_ms(), .ready_mono = -1,
		    .stop = *how, .adopted = reaper != getpid()};
		struct proc *p = proc_adopt(NULL, &a);
		dlog("pid %d, left by an app (its parent died), stopped with the rest", (int)pid);
		proc_retire(p);
		found++;
	}
	free(kids);
	return found;
}

size_t
supervise_kill_all(void)
{
	size_t n = 0;
	int64_t now = mono_ms();
	struct proc *p;
	TAILQ_FOREACH(p, &D->procs, link) {
		state_step();
		if (p->state >= P_KILLING)
			continue;
		/* Tracked processes only: a process that left its instance (a
		 * reload's old one) is as much ours as the serving one. */
		bool tree = proc_stop_how(p).tree;
		if (tree) {
			snapshot_tree(p, !p->tree_no_orphans);
			kill_tree(p, SIGKILL);
		} else {
			proc_kill(p, SIGKILL, true);
		}
		proc_set_state(p, P_KILLING);
		if (!p->exited)
			proc_kill(p, SIGKILL, false);
		p->stop_deadline = now + SIGKILL_GRACE_MS;
		timer_start(D->loop, &p->kill_timer, 0);
		n++;
	}
	return n;
}

size_t
supervise_stop_strays(void)
{
	struct stop_how how = {.sig = SIGINT, .timeout_ms = 1600, .tree = true};
	size_t n = 0;
	struct proc *p;
	/* Those a previous daemon left and nothing could manage (adopt.h). */
	TAILQ_FOREACH(p, &D->procs, link) {
		if (p->orphan_name && !proc_stopping(p)) {
			proc_retire(p);
			n++;
		}
	}
	n += stop_strays_of(getpid(), &how);
	if (keep_pid() > 0)
		n += stop_strays_of(keep_pid(), &how);
	return n;
}
