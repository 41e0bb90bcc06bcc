/*
 * table.h — apps, their instances and the OS processes behind them.
 *
 *   app    one `start` of a script: its spec, its instances, its listener
 *          groups (cluster mode), its cron and watch triggers.
 *   inst   one instance slot, what `list` shows as a row: a pm_id, a
 *          NODE_APP_INSTANCE index, a status, counters. Survives restarts.
 *   proc   one OS process started for an instance. During a reload an
 *          instance has two: the serving one and its successor.
 *
 * Instance states (PM2's names, since users script against them):
 *
 *                 start                 ready (or no readiness needed)
 *   STOPPED/ERRORED ───▶ LAUNCHING ───────────────────────▶ ONLINE
 *        ▲                   │  ▲                             │
 *        │     exit, no      │  │ restart timer               │ exit
 *        │     restart       ▼  │                             ▼
 *        ├───────────────── (policy) ──▶ WAITING ◀──── (restart policy)
 *        │                                                    │
 *        │ tree gone          stop                            │ too many
 *      STOPPING ◀──────────── any running state               ▼ unstable
 *                                                          ERRORED
 *
 * Every transition goes through inst_set_state(), which also wakes the
 * requests waiting on it (op.c).
 */
#ifndef CORRAL_TABLE_H
#define CORRAL_TABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/cron.h"
#include "common/linebuf.h"
#include "common/spec.h"
#include "daemon/state.h"

enum inst_state {
	ST_LAUNCHING,  /* process started, not ready yet */
	ST_ONLINE,     /* running and ready */
	ST_STOPPING,   /* stop signal sent, waiting for the process tree to go */
	ST_STOPPED,    /* not running: stopped by request, or exited for good */
	ST_WAITING,    /* exited, auto-restart timer armed ("waiting restart") */
	ST_ERRORED,    /* gave up: unstable restarts, exec failure, unkillable */
};

/* Stopped, errored or waiting to restart: no process of the instance's
 * runs, and it has no pid file (supervise.c removes it on the way in). */
static inline bool
inst_state_idle(enum inst_state st)
{
	return st == ST_STOPPED || st == ST_ERRORED || st == ST_WAITING;
}

/* An app's cron_restart, parsed, and its timer (triggers.c). */
struct app_cron {
	struct cron_expr expr;
	struct timer timer;
};

struct app {
	TAILQ_ENTRY(app) link;
	struct app *name_next;        /* next app whose name hashes the same */
	uint64_t id;
	struct spec spec;
	struct inst_list insts;       /* this app's instances (via app_link) */
	int target_count;             /* instances wanted (scale) */
	struct app_cron *cron;        /* cron_restart's schedule, NULL when none */
	struct watch *watch;          /* NULL when not watching */
	struct reload *reload;        /* reload in progress, or NULL */
	bool deleted;
	char *spec_text;              /* spec as compact JSON without env, cached for
	                               * listings; NULL after app_spec_changed() */
	bool keep_dirty;              /* its record is to be sent to the keeper */
	struct keep_env *keep_env;    /* the environment its keeper record names
	                               * (keep.c), NULL if its own is in it */
	/* Counters for `corral web`'s metrics (docs/web.md): bytes written
	 * to its logs per stream (0 out, 1 err), rolling reloads by outcome. */
	uint64_t log_bytes[2];
	uint64_t reloads_ok, reloads_failed;
};

struct inst {
	TAILQ_ENTRY(inst) link;       /* D->insts */
	TAILQ_ENTRY(inst) app_link;   /* app->insts */
	struct app *app;
	uint64_t uid;                 /* never reused, unlike pm_id */
	uint64_t resolve_mark;        /* table_resolve(): already in this answer */
	int pm_id;
	int index;                    /* NODE_APP_INSTANCE */
	uint64_t spawn_serial;        /* serial of the last spawn attempt */
	uint64_t settled_serial;      /* last spawn whose launch is over */
	int spawn_errno;              /* why the last spawn failed, 0 if it did not */
	enum inst_state state;
	struct proc *proc;            /* serving process, NULL when none */
	struct proc *successor;       /* reload: the replacement coming up */
	struct proc_list procs;       /* every process that still belongs to it
	                               * (via inst_link; supervise.c keeps it) */
	uint64_t successor_exit_serial; /* serial of the last successor that */
	int successor_wstatus;          /* exited before promotion, its status */
	uint64_t successor_abort_serial; /* the last successor a restart aborted */
	uint64_t reload_failed_serial;  /* serving process a reload failed to replace */

	int restarts;                 /* ↺ */
	int unstable_restarts;
	int64_t prev_restart_delay;   /* exponential backoff memory */
	int64_t created_wall;         /* first start, or last manual restart */
	int64_t started_wall;         /* current process start (uptime) */
	int64_t started_mono;
	int exit_code;                /* last exit, -1 if none */
	int exit_signal;              /* last fatal signal, 0 if none */
	char *reason;                 /* why the last restart/stop happened */
	char *error;                  /* why ERRORED, for describe */
	char *status_text;            /* sd_notify STATUS= */
	json_t *metrics;              /* in-app metrics (common/metrics.h), NULL if none */
	json_t *profiles;             /* files profile.c wrote for it, NULL if none */
	bool restart_after_stop;      /* a manual restart is stopping first */
	bool delete_after_stop;
	struct timer restart_timer;

	char *out_path;               /* resolved log paths, NULL = none */
	char *err_path;
	char *log_path;
	char *pid_path;
	bool pid_pending;             /* its pid file is to be written (supervise.c) */
	uint64_t pid_after;           /* ... once the pid file removals up to this one are done */
	struct logfile *out_file;
	struct logfile *err_file;
	struct logfile *log_file;

	double cpu_pct;               /* sampler: whole process tree */
	int64_t mem_bytes;
	uint64_t sampled_serial;      /* the process these figures are of */
	uint64_t last_cpu_ticks;
	int64_t last_sample_mono;
	int64_t over_limit_since;     /* max_memory_restart bookkeeping */
	bool keep_dirty;              /* its record is to be sent to the keeper */
};

/*
 * Process states (one OS process started for an instance):
 *
 *   spawn ──▶ STARTING ──ready──▶ READY
 *                │                  │
 *                └──── stop ────────┤ (a cluster app's process)
 *                                   ├────────────▶ DRAINING
 *                                   │                 │ its queues are empty,
 *                                   │ (any other)     ▼ or kill_timeout
 *                                   └────────────▶ STOPPING ──kill_timeout──▶ KILLING
 *                                                                              │
 *                                                              still alive after the
 *                                                              SIGKILL grace ▼
 *                                                                          ABANDONED
 *
 * States only move forward, through proc_set_state() (supervise.c), which
 * also tells cluster mode whether the process takes traffic. The main
 * process may exit in any state (`exited`); with treekill the processes it
 * leaves are then stopped the same way (STOPPING, KILLING). A process leaves
 * the table once it and its tree are gone, or when ABANDONED.
 */
enum proc_state {
	P_STARTING,   /* running, not ready yet */
	P_READY,      /* running and ready: takes traffic unless retiring */
	P_DRAINING,   /* stop begun: no new connections; its accept queues empty out */
	P_STOPPING,   /* kill signal (or 'shutdown') sent; SIGKILL at stop_deadline */
	P_KILLING,    /* SIGKILL sent; given up at stop_deadline */
	P_ABANDONED,  /* survived SIGKILL: no longer waited for */
};

/* How a process is stopped: its app's settings, kept in the process when
 * its instance is deleted while it is still on its way out. */
struct stop_how {
	int sig;                      /* kill_signal */
	int64_t timeout_ms;           /* kill_timeout */
	bool tree;                    /* treekill */
	bool message;                 /* shutdown_with_message */
};

/* A Node IPC channel's watch and buffers (most processes have none). */
struct proc_ipc {
	struct io io;
	struct linebuf in;
	struct sbuf out;              /* lines the app has not taken yet */
};

struct proc {
	TAILQ_ENTRY(proc) link;       /* D->procs */
	TAILQ_ENTRY(proc) inst_link;  /* inst->procs, while inst is set */
	struct inst *inst;            /* NULL once detached from its instance */
	struct stop_how detached_stop; /* used once inst is NULL */
	uint64_t inst_uid;            /* the instance it was started for (kept) */
	uint64_t serial;
	pid_t pid;                    /* also the process group id */
	int pidfd;                    /* -1 when the kernel has no pidfd */
	struct io pidfd_io;
	int64_t started_mono;
	enum proc_state state;        /* only proc_set_state() changes it */
	bool exited;                  /* the main process was reaped: pid is not ours */
	int wstatus;
	int64_t ready_mono;           /* when it became READY; -1 if it never did */
	bool ready_timed_out;         /* listen_timeout passed while STARTING */
	bool retiring;                /* will never serve again: replaced by a
	                               * reload, aborted, or its instance deleted */
	int64_t stop_deadline;        /* mono ms of the next escalation */
	int64_t drain_settled_mono;   /* cluster stop: queue may count as empty */
	struct timer kill_timer;      /* escalation and group polling */
	struct timer ready_timer;     /* listen_timeout */
	struct timer online_timer;    /* cluster: online once alive for min_uptime */
	int64_t exit_mono;

	struct cluster_peer *peer;    /* its sockets in cluster mode, NULL if none */
	int ipc_fd;                   /* Node IPC channel, -1 if none */
	int traffic_holds;            /* heap dumps under way: no new connections */
	struct proc_ipc *ipc;         /* with ipc_fd: its watch and buffers */
	struct ptentry *tree;         /* descendants outside the process group, */
	size_t ntree;                 /* snapshotted when the stop begins */
	bool tree_no_orphans;         /* an aborted successor: the instance's orphans
	                               * are the serving process's, not its own */
	bool adopted;                 /* started by a previous daemon: not our child,
	                               * its exit status cannot be known */
	char *orphan_name;            /* found running with no keeper to hand it */
	int orphan_pm_id;             /* over: its app's name and pm_id (adopt.c) */
	bool keep_dirty;              /* its record is to be sent to the keeper */
	unsigned keep_fds;            /* which descriptors the keeper holds (keep.c) */
};

/* Create an app from a spec (taken over) with its instances, all STOPPED. */
struct app *app_create(struct spec *spec);
/* An app a previous daemon had (adopt.c): app_create with its old id. */
struct app *app_restore(struct spec *spec, uint64_t id);
/* An instance a previous daemon had, with its ids; the caller adds them in
 * pm_id order. STOPPED, no process. */
struct inst *inst_restore(struct app *a, uint64_t uid, int pm_id, int index);
/* Add one instance to app with the lowest free index. */
struct inst *app_add_inst(struct app *app);
/* Give the app a new spec (taken over; restart with a config). */
void app_replace_spec(struct app *a, struct spec *spec);
/* The app's spec was edited: drop what was derived from it. */
void app_spec_changed(struct app *a);
/* The environment in the pool equal to env (borrowed), else env: what a
 * start request's apps take as their base when the request sends the
 * environment they share once ("env_base"), so that requests after the
 * first add nothing to the pool. */
json_t *table_env_shared(json_t *env);
/* The spec as compact JSON without the environment (borrowed, cached). */
const char *app_spec_text(struct app *a);
/* Free what is cached for listings (every app's spec text): the clients
 * are quiet, and an idle daemon keeps only what it needs. */
void table_drop_caches(void);
/* Resolve and open the instance's log files and pid file path. 0 or -EIO
 * with *err. */
int inst_open_logs(struct inst *in, char **err);
/* Remove and free an instance (must not be running). */
void inst_remove(struct inst *in);
/* Remove an app with no running instance. */
void app_remove(struct app *app);

/* Every instance, in pm_id order: a new array (the caller frees it) of *n. */
struct inst **table_all_insts(size_t *n);

struct inst *inst_by_pm_id(int pm_id);
/* By the ids that are never reused (NULL when gone). */
struct inst *inst_by_uid(uint64_t uid);
struct app *app_by_id(uint64_t id);
/* The app named name (and running script, unless script is NULL) that is
 * not being deleted; NULL if none. */
struct app *app_named(const char *name, const char *script);
struct proc *proc_by_pid(pid_t pid);

/*
 * Resolve targets as PM2 does: "all"; a /regex/ on names; otherwise a
 * name, then a namespace, then (for numbers) a pm_id, then (by_script)
 * the apps that run that script (absolute path, or base name). Appends matching
 * instances to *out (no duplicates, pm_id order). 0, or -ENOENT with
 * *err naming the first target that matched nothing.
 */
int table_resolve(json_t *targets, bool by_script, struct inst ***out, size_t *n, char **err);

const char *inst_state_name(enum inst_state st);

/* A stop of p has begun (DRAINING or later). */
static inline bool
proc_stopping(const struct proc *p)
{
	return p->state >= P_DRAINING;
}

#endif
