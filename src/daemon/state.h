/*
 * state.h — the supervisor's state, in one struct, reached through D.
 *
 * The daemon is one process whose state is all the loop's: an event loop
 * (src/ev) that watches the control socket and its clients (server.c), each
 * child's pidfd, stdout/stderr pipes (logpipe.c), preload broker and Node
 * IPC channels, signals (signalfd) and timers. Nothing in it blocks on
 * anything a client or an app controls. Its only other threads remove pid
 * files (pidfiles.c) and never see D.
 *
 * Only src/daemon sees D: the layers below it (ev, cluster, config, common)
 * get what they need passed in.
 */
#ifndef CORRAL_DAEMON_STATE_H
#define CORRAL_DAEMON_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "common/idmap.h"
#include "common/paths.h"
#include "common/util.h"
#include "daemon/fdreserve.h"
#include "ev/loop.h"

struct app;
struct inst;
struct proc;
struct client;
struct op;
struct logfile;
struct logpipe;
struct cluster;
struct keep;
struct runtime;
struct web;

TAILQ_HEAD(app_list, app);
TAILQ_HEAD(inst_list, inst);
TAILQ_HEAD(proc_list, proc);
TAILQ_HEAD(client_list, client);
TAILQ_HEAD(op_list, op);
LIST_HEAD(logfile_list, logfile);
LIST_HEAD(logpipe_list, logpipe);

struct daemon {
	struct loop *loop;
	struct paths paths;
	pid_t pid;
	int64_t started_wall_ms;
	char *exe_path;             /* this binary */
	char *preload_path;         /* libcorral-preload.so, NULL if missing */

	int ctl_fd;                 /* listening control socket */
	struct io ctl_io;
	struct timer accept_retry;  /* out of fds: accept again later */
	int fd_reserve[FDRESERVE_COUNT]; /* spare fds for spawns (fdreserve.c) */
	int fd_reserve_n;
	int accept_spare_fd;        /* a spare fd for accept() */
	struct timer fd_reserve_timer;
	size_t max_clients;         /* client slots (server.c) */
	int64_t client_idle_ms;     /* idle clients are closed after this */
	size_t clients_out_bytes;   /* output queued for every client together */
	int64_t clients_out_no_stall_before; /* no client can be stalled before */
	int sig_fd;                 /* signalfd */
	struct io sig_io;
	int pid_fd;                 /* daemon.pid, flock held for life */

	struct app_list apps;
	struct inst_list insts;     /* every instance, ordered by pm_id */
	struct proc_list procs;     /* every live OS process we started */
	/* Lookups in constant time (table.c keeps them; procs_by_pid:
	 * supervise.c), so no command costs a pass over the table per app. */
	struct idmap apps_by_id;
	struct idmap apps_by_name;  /* hash of the name → first app (app->name_next) */
	struct idmap namespaces;    /* hash of a namespace → how many apps have it */
	size_t limited_apps;        /* apps with max_memory_restart (sampled) */
	struct idmap env_pool;      /* environments apps share (table.c): hash →
	                             * base object, one reference each */
	json_t *env_last;           /* the base given last (borrowed), or NULL */
	struct idmap insts_by_uid;
	struct idmap insts_by_pm_id;
	struct idmap procs_by_pid;  /* pid → the process not yet reaped */
	struct idmap procs_by_serial; /* spawn serial → the process, while listed */
	/* Processes still waited for (tracked, not ABANDONED): in all, and per
	 * instance uid (waited_by_uid holds the count as a pointer-sized
	 * integer; the instance may be deleted already). */
	size_t waited;
	struct idmap waited_by_uid;
	struct client_list clients;
	struct op_list ops;         /* requests waiting for their outcome */
	bool ops_poked;             /* an instance changed: re-check ops */
	struct logfile_list logfiles;
	struct idmap logfiles_by_path; /* hash of the path → first file (path_next) */
	struct logfile_list logfiles_uncreated; /* created a batch at a time */
	struct timer logfile_create_timer;
	struct logpipe_list logpipes;
	size_t nlogpipes;
	size_t norphans;            /* processes a dead daemon left (adopt.h) */
	struct cluster *cluster;    /* listener groups of cluster apps (src/cluster) */
	struct keep *keep;          /* the link to our keeper (keep.c) */
	uint64_t next_app_id;
	int next_pm_id;             /* reset when the table empties */
	int cpus;
	mode_t app_umask;           /* the umask apps are started with */
	struct rlimit app_nofile;   /* the fd limit apps are started with */
	char *user_name;            /* our user's name, looked up once */

	struct timer sample_timer;  /* cpu/memory sampling, memory limits */
	struct timer trim_timer;    /* gives freed heap back once clients are quiet */
	size_t trim_bytes;          /* read and queued since the last trim */
	bool shutting_down;         /* `corral kill` or SIGTERM in progress */
	size_t stop_kills;          /* processes SIGKILLed while shutting down */
	struct runtime *runtime;    /* `corral runtime` (runtime.c), else NULL */
	uint64_t steps;             /* work done, see state_step() */
	uint64_t log_lines_dropped; /* app log lines lost (runtime's stdout full) */
	int64_t last_spawn_mono;    /* when a process was last started */
	struct web *web;            /* `corral web`'s HTTP server (web.c), or NULL */
	int exit_code;
};

extern struct daemon *D;

/* One step of work: an element visited by a pass over one of the daemon's
 * lists (every app, instance, process, log pipe or file, request waiting,
 * or an app's instances), or a file of /proc read. `ping` reports the sum
 * ("steps"), so a test can check that what a verb costs per app does not
 * grow with the number of apps, as an n² pass would. Housekeeping on
 * timers (the sampler, the heap trim) is not counted. */
static inline void
state_step(void)
{
	D->steps++;
}

/* Creating files (a new instance's log and pid files) waits while
 * processes are being started: ms to wait before the next batch, 0 to go
 * on. *since is the caller's: when its work was first held back (0: not
 * held). See state.c. */
int64_t state_files_defer_ms(int64_t *since);
/* A turn of the loop's file work begins now: when it is to end (give it
 * to state_files_turn_over() after each file made, which says when the
 * turn has made enough). */
int64_t state_files_turn_end(void);
bool state_files_turn_over(int64_t end);

/* Zero d, set every fd to -1 and every list empty, and make it D. */
void state_init(struct daemon *d);

#endif
