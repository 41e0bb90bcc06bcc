/*
 * keeper.c — `corral keeper` (keeper.h): hold the apps' descriptors and the
 * daemon's records, hand them to the next daemon, start it when the last
 * one died.
 *
 * One process, one poll loop, nothing else: it reads only what daemons send
 * it, so it cannot be slowed down or confused by an app. It writes to a
 * daemon only during a handover (blocking, with a send timeout).
 */
#include "keeper/keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/idmap.h"
#include "common/keepproto.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/signame.h"
#include "common/util.h"

/* How long a daemon we started may take to say it serves before the start
 * lock is released anyway, and how long a handover send may block. */
#define START_LOCK_MS 30000
#define SEND_TIMEOUT_S 10
#define RESTART_WINDOW_MS 60000

/* One kept item: the daemon's record and the descriptors it goes with. */
struct item {
	char *blob;
	size_t len;
	int fds[KEEP_MAX_FDS];
	unsigned nfds;
};

/* A daemon's connection. */
struct conn {
	int fd;                   /* -1 when none */
	pid_t pid;
	int pidfd;                /* the daemon's, -1 if none */
	bool bye;                 /* it is exiting in order */
	struct keep_reader in;
};

struct keeper {
	struct paths paths;
	int sig_fd;
	int listen_fd;
	dev_t sock_dev;           /* the socket file we bound, to remove only ours */
	ino_t sock_ino;
	struct conn cur;          /* the current daemon */
	struct conn pending;      /* one that connected before cur's end was read */
	struct idmap items;       /* the committed generation */
	struct idmap next;        /* the generation being built (BEGIN..COMMIT) */
	bool building;
	int lock_fd;              /* daemon.lock while a daemon we started starts */
	int64_t lock_deadline;
	int64_t starts[KEEPER_RESTARTS]; /* when we started the last daemons */
	size_t nstarts;
	pid_t last_daemon;        /* to name its exit in the log */
	char daemon_exe[4096];    /* the binary of the daemon that said hello last,
	                           * "" if unknown: the next daemon runs it */
	int dying;                /* pidfd of a daemon whose connection ended */
	bool start_pending;       /* start the next daemon once it is gone */
	struct rlimit app_nofile; /* the limit we were started with, for daemons */
	mode_t app_umask;
	bool quit;
};

static void
item_free(struct item *it)
{
	for (unsigned i = 0; i < it->nfds; i++)
		close(it->fds[i]);
	free(it->blob);
	free(it);
}

static void
items_clear(struct idmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->v[i].value)
			item_free(m->v[i].value);
	idmap_free(m);
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->pidfd >= 0)
		close(c->pidfd);
	keep_reader_free(&c->in);
	*c = (struct conn){.fd = -1, .pidfd = -1};
}

static int
pidfd_of(pid_t pid)
{
	int fd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	if (fd >= 0)
		fd_set_cloexec(fd, true);
	return fd;
}

/* Whether the process of pidfd has exited (its descriptors, and the lock on
 * daemon.pid, are closed by then). */
static bool
exited(int pidfd)
{
	struct pollfd pfd = {pidfd, POLLIN, 0};
	return pidfd < 0 || poll(&pfd, 1, 0) == 1;
}

static void
release_start_lock(struct keeper *k)
{
	if (k->lock_fd < 0)
		return;
	close(k->lock_fd);
	k->lock_fd = -1;
}

/* Send every committed item, then END: the daemon rebuilds from them. */
static int
hand_over(struct keeper *k)
{
	/* A daemon that stops reading must not stall us for good. */
	struct timeval tv = {SEND_TIMEOUT_S, 0};
	setsockopt(k->cur.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	size_t n = 0;
	for (size_t i = 0; i < k->items.cap; i++) {
		struct item *it = k->items.v[i].value;
		if (!it)
			continue;
		int rc = keep_send(k->cur.fd, KEEP_ITEM, k->items.v[i].key, it->blob, it->len,
		    it->fds, it->nfds);
		if (rc < 0)
			return rc;
		n++;
	}
	if (n)
		dlog("keeper: handed %zu items over to the daemon (pid %d)", n, (int)k->cur.pid);
	return keep_send(k->cur.fd, KEEP_END, KEEP_VERSION, NULL, 0, NULL, 0);
}

/* Store a PUT or a TAG in the generation being written. */
static void
store(struct keeper *k, struct keep_frame *f)
{
	struct idmap *m = k->building ? &k->next : &k->items;
	struct item *old = idmap_get(m, f->key);
	if (f->op == KEEP_TAG && old) {
		free(old->blob);
		old->blob = f->blob;
		old->len = f->len;
		f->blob = NULL;
		return;
	}
	struct item *it = xcalloc(1, sizeof(*it));
	it->blob = f->blob;
	it->len = f->len;
	f->blob = NULL;
	for (unsigned i = 0; i < f->nfds; i++) {
		it->fds[i] = f->fds[i];
		f->fds[i] = -1;
	}
	it->nfds = f->nfds;
	/* A TAG without an item keeps the record with no descriptors. */
	if (old)
		item_free(old);
	idmap_put(m, f->key, it);
}

/* Remember the binary of the daemon saying hello: after `corral update`
 * it is not ours (we run the binary we were started from), and a daemon we
 * start after its death must be of its version, not ours. */
static void
note_daemon_exe(struct keeper *k)
{
	char buf[sizeof(k->daemon_exe)];
	/* Replaced on disk since: the path names the binary installed now. */
	if (k->cur.pid > 0 && exe_path_of(k->cur.pid, buf, sizeof(buf)) > 0)
		memcpy(k->daemon_exe, buf, strlen(buf) + 1);
}

/* Apply one frame from the current daemon; -EPROTO ends the connection. */
static int
apply(struct keeper *k, struct keep_frame *f)
{
	switch (f->op) {
	case KEEP_HELLO:
		note_daemon_exe(k);
		if (f->key != KEEP_VERSION) {
			dlog("keeper: a daemon of protocol %llu said hello; this keeper speaks %d",
			    (unsigned long long)f->key, KEEP_VERSION);
			/* END with our version: the daemon sees it cannot adopt. */
			return keep_send(k->cur.fd, KEEP_END, KEEP_VERSION, NULL, 0, NULL, 0);
		}
		return hand_over(k);
	case KEEP_BEGIN:
		items_clear(&k->next);
		k->building = true;
		return 0;
	case KEEP_COMMIT:
		if (k->building) {
			items_clear(&k->items);
			k->items = k->next;
			k->next = (struct idmap)IDMAP_INIT;
			k->building = false;
		}
		return 0;
	case KEEP_PUT:
	case KEEP_TAG:
		store(k, f);
		return 0;
	case KEEP_DEL: {
		struct item *it = idmap_del(k->building ? &k->next : &k->items, f->key);
		if (it)
			item_free(it);
		return 0;
	}
	case KEEP_READY:
		release_start_lock(k);
		return 0;
	case KEEP_BYE:
		/* The daemon waits for our end to close before it exits, so that
		 * nothing of corral is left once `corral kill` returns. */
		k->cur.bye = true;
		k->quit = true;
		return 0;
	default:
		return -EPROTO;
	}
}

static void start_daemon(struct keeper *k);

/* The current daemon's connection ended: after its bye we exit; otherwise
 * it died, and the next one gets everything we hold. */
static void
daemon_gone(struct keeper *k, const char *why)
{
	bool bye = k->cur.bye;
	pid_t pid = k->cur.pid;
	/* Its socket may close before its lock on daemon.pid does: the next
	 * daemon starts once it has exited. */
	if (k->dying >= 0)
		close(k->dying);
	k->dying = k->cur.pidfd;
	k->cur.pidfd = -1;
	conn_close(&k->cur);
	if (k->building) {
		/* It died while sending a new generation: keep the last whole one. */
		items_clear(&k->next);
		k->building = false;
	}
	release_start_lock(k);
	if (bye) {
		k->quit = true;
		return;
	}
	dlog("keeper: the daemon (pid %d) is gone without saying bye (%s); the apps keep "
	    "running, their output waits in their pipes", (int)pid, why);
	if (k->pending.fd >= 0) {
		k->cur = k->pending;
		k->pending = (struct conn){.fd = -1, .pidfd = -1};
		dlog("keeper: handing over to the daemon (pid %d) that is waiting", (int)k->cur.pid);
		return;
	}
	if (!exited(k->dying)) {
		k->start_pending = true;
		return;
	}
	start_daemon(k);
}

/* The daemon whose connection ended has exited: start the next one if we
 * were waiting for that. */
static void
on_dying(struct keeper *k)
{
	close(k->dying);
	k->dying = -1;
	if (k->start_pending && k->cur.fd < 0) {
		k->start_pending = false;
		start_daemon(k);
	}
}

static void
on_daemon(struct keeper *k)
{
	ssize_t n = keep_reader_fill(&k->cur.in, k->cur.fd);
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		daemon_gone(k, n == 0 ? "connection closed" : strerror((int)-n));
		return;
	}
	struct keep_frame f;
	int rc = 0;
	while (!k->quit && (rc = keep_reader_next(&k->cur.in, &f)) == 1) {
		rc = apply(k, &f);
		keep_frame_free(&f);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		dlog("keeper: dropping the daemon's connection: %s", strerror(-rc));
		daemon_gone(k, "protocol error");
	}
}

/* Start a daemon that connects back on a socketpair, holding daemon.lock
 * until it serves so `corral` commands wait for it rather than start
 * another. At most KEEPER_RESTARTS a minute. */
static void
start_daemon(struct keeper *k)
{
	int64_t now = mono_ms();
	size_t kept = 0;
	for (size_t i = 0; i < k->nstarts; i++)
		if (now - k->starts[i] < RESTART_WINDOW_MS)
			k->starts[kept++] = k->starts[i];
	k->nstarts = kept;
	if (k->nstarts >= KEEPER_RESTARTS) {
		dlog("keeper: the daemon died %d times within a minute: not starting it again; "
		    "the next corral command starts one, which adopts the apps", KEEPER_RESTARTS);
		return;
	}
	int lock = open(k->paths.lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) < 0) {
		/* A `corral` command is starting one: it will find us. */
		dlog("keeper: a corral command is starting a daemon; waiting for it");
		close(lock);
		return;
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		dlog("keeper: cannot start a daemon: socketpair: %s", strerror(errno));
		if (lock >= 0)
			close(lock);
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		dlog("keeper: cannot start a daemon: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		if (lock >= 0)
			close(lock);
		return;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setsid();
		setrlimit(RLIMIT_NOFILE, &k->app_nofile);
		umask(k->app_umask);
		fd_set_cloexec(sv[1], false);
		char buf[16];
		snprintf(buf, sizeof(buf), "%d", sv[1]);
		setenv("CORRAL_KEEPER_FD", buf, 1);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		if (chdir("/") < 0)
			_exit(1);
		char *args[] = {"corral", "daemon", NULL};
		if (k->daemon_exe[0] && access(k->daemon_exe, X_OK) == 0)
			execv(k->daemon_exe, args);
		execv("/proc/self/exe", args);
		_exit(127);
	}
	close(sv[1]);
	k->cur = (struct conn){.fd = sv[0], .pid = pid, .pidfd = pidfd_of(pid)};
	keep_reader_init(&k->cur.in);
	k->last_daemon = pid;
	k->starts[k->nstarts++] = now;
	k->lock_fd = lock;
	k->lock_deadline = now + START_LOCK_MS;
	dlog("keeper: started a new daemon (pid %d)", (int)pid);
}

static void
on_accept(struct keeper *k)
{
	int fd = accept4(k->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != geteuid()) {
		close(fd);
		return;
	}
	struct conn c = {.fd = fd, .pid = cred.pid, .pidfd = pidfd_of(cred.pid)};
	keep_reader_init(&c.in);
	if (k->cur.fd < 0) {
		k->cur = c;
		k->last_daemon = c.pid;
	} else if (k->pending.fd < 0) {
		/* It holds the daemon lock, so the current one is dead and its
		 * end is on its way: serve this one after it. */
		k->pending = c;
	} else {
		conn_close(&c);
	}
	/* A daemon came: nothing to start any more. */
	k->start_pending = false;
}

static void
reap(struct keeper *k)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		if (pid != k->last_daemon)
			continue;   /* an app adopted from a dead daemon */
		if (WIFSIGNALED(status))
			dlog("keeper: the daemon (pid %d) was killed by %s", (int)pid,
			    signame_name(WTERMSIG(status)));
		else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			dlog("keeper: the daemon (pid %d) exited with code %d", (int)pid,
			    WEXITSTATUS(status));
	}
}

static void
on_signal(struct keeper *k)
{
	struct signalfd_siginfo si;
	while (read_retry(k->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(k);
			break;
		case SIGTERM:
		case SIGINT:
		case SIGQUIT:
			/* An orderly stop of everything goes through the daemon,
			 * which says bye when the apps are stopped. */
			if (k->cur.fd >= 0 && k->cur.pid > 0 && kill(k->cur.pid, SIGTERM) == 0) {
				dlog("keeper: %s: asking the daemon (pid %d) to stop everything",
				    strsignal((int)si.ssi_signo), (int)k->cur.pid);
			} else {
				dlog("keeper: %s with no daemon: exiting", strsignal((int)si.ssi_signo));
				k->quit = true;
			}
			break;
		default:
			break;
		}
	}
}

static int
setup_signals(struct keeper *k)
{
	sigset_t set;
	sigemptyset(&set);
	int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP};
	for (size_t i = 0; i < ARRAY_LEN(sigs); i++) {
		signal(sigs[i], SIG_DFL);
		sigaddset(&set, sigs[i]);
	}
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	k->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return k->sig_fd < 0 ? -errno : 0;
}

/* keeper.sock, where daemons started by `corral` commands find us. */
static void
listen_home(struct keeper *k)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", k->paths.keeper_sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct stat st;
	unlink(k->paths.keeper_sock);
	mode_t old = umask(077);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 8) < 0 ||
	    stat(k->paths.keeper_sock, &st) < 0) {
		dlog("keeper: cannot listen on %s: %s; a daemon started by a corral command "
		    "will not find this keeper", k->paths.keeper_sock, strerror(errno));
		if (fd >= 0)
			close(fd);
		umask(old);
		return;
	}
	umask(old);
	k->listen_fd = fd;
	k->sock_dev = st.st_dev;
	k->sock_ino = st.st_ino;
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	int pf = open(k->paths.keeper_pid, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (pf >= 0) {
		if (write_all(pf, buf, (size_t)n) < 0)
			dlog("keeper: cannot write %s: %s", k->paths.keeper_pid, strerror(errno));
		close(pf);
	}
}

/* Remove keeper.sock and keeper.pid if they are still ours. */
static void
unlisten_home(struct keeper *k)
{
	struct stat st;
	if (k->listen_fd < 0)
		return;
	close(k->listen_fd);
	k->listen_fd = -1;
	if (stat(k->paths.keeper_sock, &st) == 0 && st.st_dev == k->sock_dev &&
	    st.st_ino == k->sock_ino)
		unlink(k->paths.keeper_sock);
	char *txt = NULL;
	if (read_file(k->paths.keeper_pid, &txt, NULL, 64) == 0 && atoi(txt) == (int)getpid())
		unlink(k->paths.keeper_pid);
	free(txt);
}

static void
run(struct keeper *k)
{
	while (!k->quit) {
		struct pollfd pfd[4];
		int n = 0;
		pfd[n++] = (struct pollfd){k->sig_fd, POLLIN, 0};
		int li = -1, ci = -1, di = -1;
		if (k->dying >= 0) {
			di = n;
			pfd[n++] = (struct pollfd){k->dying, POLLIN, 0};
		}
		if (k->listen_fd >= 0) {
			li = n;
			pfd[n++] = (struct pollfd){k->listen_fd, POLLIN, 0};
		}
		if (k->cur.fd >= 0) {
			ci = n;
			pfd[n++] = (struct pollfd){k->cur.fd, POLLIN, 0};
		}
		int timeout = -1;
		if (k->lock_fd >= 0) {
			int64_t left = k->lock_deadline - mono_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		int r = poll(pfd, (nfds_t)n, timeout);
		if (r < 0 && errno != EINTR) {
			dlog("keeper: poll: %s", strerror(errno));
			return;
		}
		if (k->lock_fd >= 0 && mono_ms() >= k->lock_deadline) {
			dlog("keeper: the daemon (pid %d) did not say it serves within %d s",
			    (int)k->cur.pid, START_LOCK_MS / 1000);
			release_start_lock(k);
		}
		if (r <= 0)
			continue;
		if (pfd[0].revents)
			on_signal(k);
		if (di >= 0 && pfd[di].revents && k->dying == pfd[di].fd)
			on_dying(k);
		if (ci >= 0 && pfd[ci].revents && k->cur.fd == pfd[ci].fd)
			on_daemon(k);
		if (li >= 0 && pfd[li].revents)
			on_accept(k);
	}
}

int
keeper_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	static struct keeper k;
	memset(&k, 0, sizeof(k));
	k.sig_fd = k.listen_fd = k.lock_fd = k.dying = -1;
	k.cur = k.pending = (struct conn){.fd = -1, .pidfd = -1};
	char *err = NULL;
	if (paths_init(&k.paths, &err) < 0) {
		fprintf(stderr, "corral keeper: %s\n", err);
		free(err);
		return 1;
	}
	const char *fd_env = getenv("CORRAL_KEEPER_FD");
	const char *pid_env = getenv("CORRAL_KEEPER_DAEMON");
	if (!fd_env) {
		fprintf(stderr, "corral keeper: only a corral daemon starts its keeper\n");
		paths_free(&k.paths);
		return 2;
	}
	log_open(k.paths.log);
	k.cur.fd = atoi(fd_env);
	k.cur.pid = pid_env ? atoi(pid_env) : 0;
	k.cur.pidfd = pidfd_of(k.cur.pid);
	k.last_daemon = k.cur.pid;
	fd_set_cloexec(k.cur.fd, true);
	unsetenv("CORRAL_KEEPER_FD");
	unsetenv("CORRAL_KEEPER_DAEMON");
	/* Apps whose daemon died become our children: reap them, so nothing
	 * is left a zombie that a kill(-pgid, 0) would still count. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		dlog("keeper: PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	/* We hold a few descriptors per process of every app: raise the soft
	 * limit, and give daemons the one we were started with. */
	k.app_umask = umask(077);
	umask(k.app_umask);
	if (getrlimit(RLIMIT_NOFILE, &k.app_nofile) == 0 &&
	    k.app_nofile.rlim_cur < k.app_nofile.rlim_max) {
		struct rlimit raised = {k.app_nofile.rlim_max, k.app_nofile.rlim_max};
		setrlimit(RLIMIT_NOFILE, &raised);
	}
	if (setup_signals(&k) < 0) {
		dlog("keeper: cannot set up signals: %s", strerror(errno));
		return 1;
	}
	listen_home(&k);
	run(&k);
	unlisten_home(&k);
	conn_close(&k.cur);
	conn_close(&k.pending);
	items_clear(&k.items);
	items_clear(&k.next);
	release_start_lock(&k);
	if (k.dying >= 0)
		close(k.dying);
	close(k.sig_fd);
	log_close();
	paths_free(&k.paths);
	return 0;
}
