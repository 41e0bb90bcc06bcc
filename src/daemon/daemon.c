/*
 * daemon.c — `corral daemon`: set up the home, take the pid lock, watch
 * signals and the control socket, run the loop, stop everything on exit.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "common/log.h"
#include "common/signame.h"
#include "common/spec.h"
#include "daemon/adopt.h"
#include "daemon/agent.h"
#include "daemon/events.h"
#include "daemon/fdreserve.h"
#include "daemon/keep.h"
#include "daemon/logfile.h"
#include "daemon/logpipe.h"
#include "daemon/logrotate.h"
#include "daemon/notify.h"
#include "daemon/op.h"
#include "daemon/pidfiles.h"
#include "daemon/profile.h"
#include "daemon/reload.h"
#include "daemon/runtime.h"
#include "daemon/sampler.h"
#include "daemon/server.h"
#include "daemon/spawn.h"
#include "daemon/state.h"
#include "daemon/supervise.h"
#include "daemon/table.h"
#include "daemon/triggers.h"
#include "daemon/update.h"
#include "daemon/web.h"

static void daemon_shutdown(void);

static void
on_signal(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;
	while (read_retry(D->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			supervise_reap();
			break;
		case SIGTERM:
		case SIGINT:
		case SIGQUIT:
			if (D->runtime && D->shutting_down) {
				/* Whoever sent the first one has no time left. */
				dlog("received %s again: killing every app now",
				    strsignal((int)si.ssi_signo));
				runtime_kill_now();
				break;
			}
			dlog("received %s: stopping every app, then exiting",
			    strsignal((int)si.ssi_signo));
			if (D->runtime)
				fprintf(stderr, "corral runtime: received %s: stopping every app, the "
				    "last started first\n", signame_name((int)si.ssi_signo));
			daemon_shutdown();
			break;
		case SIGUSR2: {
			int rc = log_reopen();
			logfile_reopen_all(NULL);
			if (rc < 0)
				dlog("SIGUSR2: cannot reopen %s: %s (still writing to the old file)",
				    D->paths.log, strerror(-rc));
			dlog("SIGUSR2: log files reopened");
			break;
		}
		case SIGHUP:
			break;
		}
	}
}

/* Stop every instance; leave the loop once all are stopped. */
static void
shutdown_check(struct loop *l, void *arg)
{
	if (!D->shutting_down)
		return;
	/* Processes replaced by a reload still drain or exit: wait for them
	 * too, or they would outlive the daemon. A counter: this runs once
	 * per turn of the loop while a thousand apps stop. */
	if (!supervise_procs_gone())
		return;
	struct inst *in;
	TAILQ_FOREACH(in, &D->insts, link) {
		state_step();
		if (in->proc || in->state == ST_STOPPING)
			return;
	}
	/* And their pid files gone, which `kill` waits for too. */
	if (!pidfiles_done(pidfiles_asked()))
		return;
	/* Everything is stopped: a `kill` request has replied by now (ops run
	 * first); whatever else waits will not be done. */
	op_fail_all("shutting_down", "the daemon is shutting down");
	loop_stop(D->loop);
}

/* Begin an orderly exit: stop every app, then leave the loop. */
static void
daemon_shutdown(void)
{
	if (D->shutting_down)
		return;
	D->shutting_down = true;
	if (D->runtime) {
		/* One app after the other (runtime.c). */
		runtime_begin_stop();
	} else {
		struct inst *in;
		TAILQ_FOREACH(in, &D->insts, link) {
			state_step();
			inst_stop(in, AFTER_STOP_NOTHING, "daemon shutting down");
		}
	}
	supervise_stop_strays();
	op_poke();
}

static int
setup_signals(char **err)
{
	sigset_t set;
	sigemptyset(&set);
	int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR2};
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
		sigaddset(&set, sigs[i]);
	/* Whoever started us may have left SIGCHLD ignored, which makes the
	 * kernel reap children by itself: we would never see an exit. */
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
		signal(sigs[i], SIG_DFL);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
		*err = xasprintf("sigprocmask: %s", strerror(errno));
		return -errno;
	}
	signal(SIGPIPE, SIG_IGN);
	D->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (D->sig_fd < 0) {
		*err = xasprintf("signalfd: %s", strerror(errno));
		return -errno;
	}
	return io_add(D->loop, &D->sig_io, D->sig_fd, EPOLLIN, on_signal, NULL);
}

/* Take daemon.pid's lock for our whole life: one daemon per home (the pid
 * is written once we know it: keep_attach may fork). */
static int
lock_pidfile(char **err)
{
	int fd = open(D->paths.pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		*err = xasprintf("cannot open %s: %s", D->paths.pidfile, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		*err = e == EWOULDBLOCK
		    ? xasprintf("another corral daemon is already running for %s", D->paths.home)
		    : xasprintf("cannot lock %s: %s", D->paths.pidfile, strerror(e));
		close(fd);
		return -e;
	}
	D->pid_fd = fd;
	return 0;
}

static int
write_pidfile(char **err)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)D->pid);
	if (ftruncate(D->pid_fd, 0) < 0 || pwrite(D->pid_fd, buf, (size_t)n, 0) != n) {
		*err = xasprintf("cannot write %s: %s", D->paths.pidfile, strerror(errno));
		return -EIO;
	}
	return 0;
}

static void
find_self(void)
{
	char buf[4096];
	/* Our binary may have been replaced on disk since it started (an
	 * upgrade, before `corral update`): its path names the new one, which
	 * is what an update or a new keeper should run. */
	if (exe_path_of(0, buf, sizeof(buf)) <= 0)
		return;
	D->exe_path = xstrdup(buf);
	char *dir = dirname(buf);
	/* build/corral next to build/libcorral-preload.so, or an installed
	 * bin/corral with lib/corral/libcorral-preload.so. */
	const char *env = getenv("CORRAL_PRELOAD");
	if (env && access(env, R_OK) == 0) {
		D->preload_path = realpath(env, NULL);
		return;
	}
	for (int i = 0; i < 2; i++) {
		char *path = i == 0 ? xasprintf("%s/libcorral-preload.so", dir)
		    : xasprintf("%s/../lib/corral/libcorral-preload.so", dir);
		char *real = realpath(path, NULL);
		free(path);
		if (real && access(real, R_OK) == 0) {
			D->preload_path = real;
			return;
		}
		free(real);
	}
}

/* Who hears what the model and the life cycle emit (events.h). The life
 * cycle first: it lets go of a removed instance's processes before the
 * control plane hears of the removal. */
static void
subscribe_events(void)
{
	events_on(EV_INST_NEW, supervise_on_event, NULL);
	events_on(EV_INST_REMOVE, supervise_on_event, NULL);
	events_on(EV_APP_REMOVE, reload_on_event, NULL);
	events_on(EV_APP_REMOVE, triggers_on_event, NULL);
	const enum event_kind to_keeper[] = {EV_INST_NEW, EV_INST_STATE, EV_INST_EXIT,
	    EV_INST_REMOVE, EV_APP_CHANGED, EV_APP_REMOVE};
	for (size_t i = 0; i < ARRAY_LEN(to_keeper); i++)
		events_on(to_keeper[i], keep_on_event, NULL);
	const enum event_kind to_clients[] = {EV_INST_STATE, EV_INST_EXIT, EV_INST_REMOVE,
	    EV_INST_MSG, EV_LOG, EV_APP_REMOVE};
	for (size_t i = 0; i < ARRAY_LEN(to_clients); i++)
		events_on(to_clients[i], server_on_event, NULL);
	const enum event_kind to_web[] = {EV_INST_STATE, EV_INST_EXIT, EV_INST_REMOVE, EV_LOG};
	for (size_t i = 0; i < ARRAY_LEN(to_web); i++)
		events_on(to_web[i], web_on_event, NULL);
	const enum event_kind wake_ops[] = {EV_INST_STATE, EV_INST_REMOVE, EV_APP_REMOVE,
	    EV_CHANGED};
	for (size_t i = 0; i < ARRAY_LEN(wake_ops); i++)
		events_on(wake_ops[i], op_on_event, NULL);
	events_on(EV_AGENT_MSG, profile_on_event, NULL);
	events_on(EV_REAPED, profile_on_event, NULL);
	events_on(EV_INST_REMOVE, profile_on_event, NULL);
}

/* Free every object at exit, so leak checkers see only real leaks. */
static void
daemon_teardown(void)
{
	struct proc *p;
	profile_perf_kill_all();
	while ((p = TAILQ_FIRST(&D->procs)) != NULL)
		proc_forget(p);
	struct app *a;
	while ((a = TAILQ_FIRST(&D->apps)) != NULL)
		app_remove(a);
	/* The pid files those removals asked to delete, before the exit. */
	pidfiles_shutdown();
	keep_close();
	cluster_free(D->cluster);
	logpipe_close_all();
	/* After the last lines were written (they may rotate a file). */
	logrotate_shutdown();
	op_free_all();
	runtime_free();
	loop_flush(D->loop);
	timer_stop(D->loop, &D->sample_timer);
	fdreserve_free();
	if (D->sig_fd >= 0)
		close(D->sig_fd);
	log_close();
	loop_free(D->loop);
	events_reset();
	idmap_free(&D->apps_by_id);
	idmap_free(&D->apps_by_name);
	idmap_free(&D->namespaces);
	idmap_free(&D->insts_by_uid);
	idmap_free(&D->insts_by_pm_id);
	idmap_free(&D->procs_by_pid);
	idmap_free(&D->waited_by_uid);
	paths_free(&D->paths);
	free(D->exe_path);
	free(D->preload_path);
	free(D->user_name);
	D = NULL;
}

/* Tell the client that spawned us that the socket is up (or why not). */
static void
report_ready(int fd, const char *err)
{
	if (fd < 0)
		return;
	const char *msg = err ? err : "ok";
	write_all(fd, msg, strlen(msg));
	close(fd);
}

/* The daemon, in the background (`corral daemon`, ready_fd the pipe to
 * the client that started it, or -1) or in the foreground (D->runtime). */
static int
daemon_run(int ready_fd)
{
	const char *who = D->runtime ? "corral runtime" : "corral daemon";
	D->cpus = spec_usable_cpus();
	/* Large buffers (a request line of specs, a reply of a thousand
	 * processes) are mapped on their own and given back when freed: glibc
	 * would otherwise raise this threshold after the first one is freed
	 * and take the next ones from the heap, between the apps' own
	 * long-lived allocations, where freed they stay as holes. */
	mallopt(M_MMAP_THRESHOLD, 128 << 10);

	char *err = NULL;
	int rc = paths_init(&D->paths, &err);
	if (rc == 0)
		rc = paths_prepare(&D->paths, &err);
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", who, err);
		report_ready(ready_fd, err);
		free(err);
		return 1;
	}
	/* O_NONBLOCK: whatever daemon.log is, opening it never hangs start-up. */
	log_open(D->paths.log);
	/* The runtime holds the start lock until its socket listens: a `corral`
	 * command run in the container meanwhile (a probe, docker exec) waits
	 * for it and connects, instead of starting a daemon of its own, which
	 * would take the home and make the runtime refuse to run. */
	int start_lock = -1;
	if (D->runtime) {
		start_lock = open(D->paths.lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		while (start_lock >= 0 && flock(start_lock, LOCK_EX) < 0 && errno == EINTR)
			;
	}
	if (lock_pidfile(&err) < 0)
		goto cannot_start;
	/* Before anything else: this process may become the keeper (with the
	 * umask and limits we were started with) and go on in a child. The
	 * runtime has none: it is the container's main process, and when it
	 * dies the container ends with its apps (docs/runtime.md). */
	struct keep_items adopted = {0};
	bool keeper_found = false;
	if (!D->runtime)
		keep_attach(&adopted, &keeper_found);
	if (write_pidfile(&err) < 0)
		goto cannot_start;
	const char *from = getenv("CORRAL_UPDATED_FROM");
	if (from) {
		/* `corral update` exec'd us in the previous daemon's process. */
		dlog("corral update: corral %s replaces corral %s in the same process (pid %d)%s",
		    CORRAL_VERSION, from, (int)D->pid, keeper_found ? ""
		    : "; but the keeper did not hand anything over");
		unsetenv("CORRAL_UPDATED_FROM");
	}
	/* While low descriptor numbers are still free (spawn.c). */
	spawn_init();
	/* Our files are private; the apps get the umask we were started with. */
	D->app_umask = umask(077);
	/* Relays, kept sockets and many apps' pipes need descriptors; a soft
	 * limit of 1024 would make spawns fail for every app. Apps get the
	 * limit we were started with. */
	if (getrlimit(RLIMIT_NOFILE, &D->app_nofile) == 0 &&
	    D->app_nofile.rlim_cur < D->app_nofile.rlim_max) {
		struct rlimit raised = {D->app_nofile.rlim_max, D->app_nofile.rlim_max};
		setrlimit(RLIMIT_NOFILE, &raised);
	}
	D->loop = loop_new();
	if (!D->loop) {
		report_ready(ready_fd, "epoll_create1 failed");
		return 1;
	}
	fdreserve_init();
	D->cluster = cluster_new(D->loop, &supervise_cluster_ops, NULL);
	/* One app's listening sockets may take a quarter of our descriptors:
	 * a greedy app cannot leave the others none to start with. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
		cluster_set_socket_share(D->cluster, nofile.rlim_cur / 4);
	subscribe_events();
	find_self();
	/* The settings apply to the logs adopted below too. */
	logrotate_init();
	/* Orphaned grandchildren (double-forking apps, npm wrappers) come to
	 * us, so they are reaped and their process groups stay visible. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		dlog("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	if (setup_signals(&err) < 0)
		goto cannot_start;
	agent_install();
	/* Pid files whose removal a daemon that died did not finish. */
	pidfiles_sweep(D->paths.pids_dir);
	/* The table is whole before anyone can ask for it. */
	if (keeper_found)
		adopt_from_keeper(&adopted);
	else
		adopt_orphans();
	keep_items_free(&adopted);
	if (notify_listen(&err) < 0)
		goto cannot_start;
	keep_start();
	if (server_listen(&err) < 0)
		goto cannot_start;
	if (D->runtime) {
		/* Commands connect now. */
		if (start_lock >= 0)
			close(start_lock);
		fprintf(stderr, "corral runtime: corral %s, pid %d, home %s: starting the apps\n",
		    CORRAL_VERSION, (int)D->pid, D->paths.home);
		if (runtime_start(daemon_shutdown, &err) < 0)
			goto cannot_start;
	}
	sampler_start();
	/* After the apps are adopted or started: /readyz tells the truth. */
	web_init();
	loop_add_hook(D->loop, op_run, NULL);
	loop_add_hook(D->loop, shutdown_check, NULL);
	loop_add_hook(D->loop, keep_flush, NULL);
	dlog("corral %s daemon started, pid %d, home %s, %d usable CPU%s%s", CORRAL_VERSION,
	    (int)D->pid, D->paths.home, D->cpus, D->cpus == 1 ? "" : "s",
	    D->preload_path ? "" : " (no preload library: cluster mode unavailable)");
	report_ready(ready_fd, NULL);
	keep_ready();

	rc = loop_run(D->loop);
	if (rc < 0)
		dlog("event loop failed: %s", strerror(-rc));

	web_stop();
	server_close_all();
	/* Every app is stopped: the keeper may go too. After a failure of the
	 * loop itself, it keeps everything for the next daemon. */
	if (D->shutting_down && rc == 0)
		keep_bye();
	notify_close();
	dlog("daemon exiting");
	unlink(D->paths.pidfile);
	close(D->pid_fd);
	int code = rc < 0 ? 1 : D->runtime ? runtime_exit_code() : D->exit_code;
	daemon_teardown();
	return code;

cannot_start:
	dlog("cannot start: %s", err);
	fprintf(stderr, "%s: %s\n", who, err);
	report_ready(ready_fd, err);
	free(err);
	return 1;
}

int
daemon_main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--check-handover") == 0)
		return update_check_main();
	int ready_fd = -1;
	const char *rfd = getenv("CORRAL_DAEMON_READY_FD");
	if (rfd) {
		ready_fd = atoi(rfd);
		fd_set_cloexec(ready_fd, true);
		unsetenv("CORRAL_DAEMON_READY_FD");
	}
	/* Static: the state must outlive this frame for anything that runs at
	 * exit (daemon_teardown frees what it points to). */
	static struct daemon d;
	state_init(&d);
	return daemon_run(ready_fd);
}

int
daemon_runtime_main(int argc, char **argv)
{
	static struct daemon d;
	state_init(&d);
	char *err = NULL;
	if (runtime_init(argc, argv, &err) < 0) {
		fprintf(stderr, "corral runtime: %s\n", err);
		free(err);
		return RUNTIME_EXIT_START;
	}
	/* Whoever started us (a container engine) is not a corral client. */
	unsetenv("CORRAL_DAEMON_READY_FD");
	return daemon_run(-1);
}
