/*
 * supervise.h — the instance life cycle: start, stop, restart, exits and the
 * restart policy. The state diagram is in table.h.
 */
#ifndef CORRAL_SUPERVISE_H
#define CORRAL_SUPERVISE_H

#include <stdbool.h>
#include <sys/types.h>

#include "cluster/cluster.h"
#include "daemon/events.h"
#include "daemon/table.h"

enum after_stop {
	AFTER_STOP_NOTHING,
	AFTER_STOP_RESTART,
	AFTER_STOP_DELETE,
};

/* Start a process for an instance that has none. 0, or -errno with *err
 * (e.g. the exec failed; the instance is then ERRORED). */
int inst_start(struct inst *in, char **err);
/* Stop gracefully (kill signal or 'shutdown' message, SIGKILL after
 * kill_timeout), then do `then`. Idempotent. */
void inst_stop(struct inst *in, enum after_stop then, const char *reason);
/* A manual restart: ↺ + 1, unstable counters reset, stop then start. */
void inst_restart(struct inst *in, const char *reason);
/* Send a signal to the instance's main process. 0 or -errno. */
int inst_signal(struct inst *in, int sig);

/* Spawn a process for in without attaching it as the serving one (a reload
 * successor). NULL with *err on failure. */
struct proc *proc_spawn(struct inst *in, char **err);
/* Stop a process that no longer serves (reload): graceful, then SIGKILL. */
void proc_retire(struct proc *p);
/* Kill a process now (failed successor): SIGKILL to its group. */
void proc_abort(struct proc *p);
/* The stop settings of an app's spec (kill_signal, kill_timeout...). */
struct stop_how stop_how_of(const struct spec *s);
/* The process is ready to get traffic (bound its port, or said READY=1,
 * or process.send('ready')). */
void proc_mark_ready(struct proc *p, const char *how);
/* The process bound a shared port: ready, unless it must say so itself
 * (wait_ready). */
void proc_bound(struct proc *p, const char *how);
/* Make a ready successor the instance's serving process. */
void inst_promote(struct inst *in);

/* Reap exited children (SIGCHLD), including orphans we adopted as
 * subreaper. */
void supervise_reap(void);
/* Record why an instance did something (describe shows it). */
void inst_set_reason(struct inst *in, const char *fmt, ...) PRINTFLIKE(2, 3);

void inst_set_state(struct inst *in, enum inst_state st);
/* Events handler (daemon.c subscribes it to EV_INST_NEW and
 * EV_INST_REMOVE): sets up a new instance, lets go of a removed one's
 * processes and sockets. */
void supervise_on_event(const struct event *ev, void *arg);

/* The process of this spawn serial while the daemon tracks it, or NULL. */
struct proc *proc_by_serial(uint64_t serial);
/* True when no process is left to wait for: none is tracked but those that
 * survived SIGKILL. Processes replaced by a reload and aborted successors
 * count, not only the instances' serving processes. */
bool supervise_procs_gone(void);
/* The same for the processes started for one instance (by uid: the
 * instance may be deleted already). */
bool inst_procs_gone(uint64_t inst_uid);
/* A start or restart that spawned past serial is over: the launch settled
 * (online, or failed), or a stop overtook it and the instance is down for
 * good. A deleted instance (NULL) is over too. */
bool inst_launched(const struct inst *in, uint64_t serial);
/* Drop a process from the table without waiting for it (daemon exit). */
void proc_forget(struct proc *p);

/* ---- taking over from a previous daemon (adopt.c) ---- */

enum adopt_role {
	ADOPT_SERVING,      /* its instance's serving process */
	ADOPT_SUCCESSOR,    /* a reload's successor (the reload is lost: killed) */
	ADOPT_REPLACED,     /* replaced by a reload, draining or stopping */
	ADOPT_DETACHED,     /* its instance was deleted; or no instance is known */
};

/* What a previous daemon recorded of a process (or what was found). */
struct proc_adoption {
	pid_t pid;
	uint64_t serial;                /* 0: a new one is given */
	uint64_t inst_uid;
	enum adopt_role role;
	int pidfd, broker_fd, broker_listen_fd, ipc_fd; /* taken over; -1 when none */
	enum proc_state state;
	bool exited, retiring, ready_timed_out;
	bool adopted;                   /* not our child (watched by its pidfd) */
	int64_t started_mono, ready_mono;
	struct stop_how stop;           /* used when detached */
	const char *orphan_name;        /* found running, no keeper to hand it over */
	int orphan_pm_id;
};

/* Take back a process a previous daemon started, for instance in (NULL
 * when detached): watched through its pidfd, channels and sockets as
 * before; a stop it was in goes on. NULL if it was abandoned already. */
struct proc *proc_adopt(struct inst *in, const struct proc_adoption *a);
/* Every process is back: resume what in was doing (its restart timer, a
 * launch, a stop); the successor of a reload that died with the previous
 * daemon is killed. */
void inst_adopted(struct inst *in, int64_t restart_at_mono);
/* Shutdown: stop the processes that came to us (or to our keeper) as
 * orphans of apps and that no tracked process accounts for — a daemonized
 * grandchild that wiped its environment — and the orphans a previous
 * daemon left (adopt.h). Returns how many. */
size_t supervise_stop_strays(void);
/* Shutdown, escalated (a second SIGTERM to `corral runtime`): SIGKILL now
 * to every tracked process not killed yet, and to its group or tree.
 * Returns how many. */
size_t supervise_kill_all(void);

/* What cluster mode asks of the supervisor (daemon.c hands it over). */
extern const struct cluster_ops supervise_cluster_ops;

/* The Node inspector port of a cluster instance asked to run with
 * --inspect (the option's port, or 9229, + its index); 0 if none. */
int inst_inspect_port(const struct inst *in);

/* Send a JSON message line to a Node app over its IPC channel. */
int proc_send_ipc(struct proc *p, const char *json_line);
/* Keep new connections away from p (a heap dump pauses it) or, once every
 * hold is let go, give them back as its state says. */
void proc_hold_traffic(struct proc *p, bool hold);

#endif
