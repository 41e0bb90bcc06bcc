/*
 * group.c — listener groups: the daemon-owned listening sockets of cluster
 * apps, handed to instances over the broker channel (libcorral-preload.so)
 * or as LISTEN_FDS, and the steering that spreads connections over them.
 *
 * A group is one address (family, address, port, v6only) of one app. Its
 * kind follows the app's `lb`:
 *
 *   shared     one socket; every instance gets a copy and accepts from the
 *              same queue. A dead instance costs nothing; the split is the
 *              kernel's wake-up order.
 *   even, sticky, least-busy
 *              one SO_REUSEPORT socket ("member") per instance, in the
 *              kernel's index order; a cBPF program (steer.c) picks the
 *              member for each new connection and is rebuilt on every change.
 *
 * Member life cycle:
 *
 *   created for a process ──▶ in use (weight 1 once its process is ready)
 *        │                        │ process exits (crash)
 *        │                        ▼
 *        │                    orphan (weight 0; queued connections wait)
 *        │                        │ the instance's next process binds
 *        │                        ▼
 *        │                    in use again — same socket, same queue
 *        │
 *        └─ closed when its instance stops for good, is deleted, or got a
 *           new member in a reload (the old one drained first, see
 *           cluster_proc_drained).
 *
 * The daemon keeps its own copy of every socket, so a member leaves the
 * kernel's group exactly when the daemon closes it, and the index model
 * (last member moves into the hole) stays true.
 */
#include "cluster/cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/relay.h"
#include "cluster/steer.h"
#include "common/brokerproto.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/state.h"
#include "daemon/supervise.h"
#include "daemon/table.h"

#define LISTEN_BACKLOG 511
/* least-busy samples the queues every LEAST_BUSY_FAST_MS, and slows down
 * to LEAST_BUSY_IDLE_MS once every queue was empty at LEAST_BUSY_CALM
 * samples in a row (nothing to balance then, and an idle daemon sleeps). */
#define LEAST_BUSY_FAST_MS 2
#define LEAST_BUSY_IDLE_MS 100
#define LEAST_BUSY_CALM 50
#define INSPECTOR_DEFAULT_PORT 9229
/* How long a ready process has to claim its instance's kept sockets. */
#define ORPHAN_GRACE_MS 1000

struct member {
	int fd;
	uint32_t weight;        /* weight in the attached program */
	uint64_t inst_uid;      /* the instance slot this socket belongs to */
	int pm_id;
	struct proc *proc;      /* the process using it; NULL = orphan */
	bool reserved;          /* passed as LISTEN_FDS to a process being spawned */
};

/* A process (or an instance waiting for its next one: proc NULL) that got
 * a shared group's socket. */
struct user {
	uint64_t inst_uid;
	struct proc *proc;
	bool reserved;          /* as for members */
};

struct group {
	LIST_ENTRY(group) link;
	uint64_t app_id;
	int family;             /* AF_INET or AF_INET6 */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool v6only;
	uint16_t port;
	char label[64];         /* "0.0.0.0:3000", "[::]:3000" */
	int lb;                 /* enum lb_kind */
	int shared_fd;          /* LB_SHARED */
	struct user *users;     /* LB_SHARED: who got shared_fd (kept and */
	size_t nusers, capusers; /* dropped as members are) */
	struct member *members; /* others, in kernel index order */
	size_t n, cap;
	struct timer lb_timer;  /* least-busy re-weighting */
	unsigned lb_calm;       /* samples in a row with every queue empty */
};

static bool
member_gets_traffic(const struct member *m)
{
	const struct proc *p = m->proc;
	return p && p->ready && !p->exited && !p->stopping && !p->retiring;
}

/* least-busy weights from the members' accept-queue depths now (see
 * steer_weights_from_depths); true when some queue is not empty. The
 * snapshot is at most LEAST_BUSY_FAST_MS old under load; slower or
 * smoothed samples left the queues unbalanced for longer and cost
 * throughput (docs/architecture.md, "The default strategy"). */
static bool
least_busy_weights(struct group *g, size_t n, const bool *ready, uint32_t *weights)
{
	uint32_t depth[STEER_MAX_MEMBERS];
	bool queued = false;
	for (size_t i = 0; i < n; i++) {
		int d = steer_queue_depth(g->members[i].fd);
		depth[i] = d > 0 ? (uint32_t)d : 0;
		queued |= ready[i] && d > 0;
	}
	steer_weights_from_depths(depth, ready, (unsigned)n, weights);
	return queued;
}

/* Recompute and attach the steering program of a reuseport group. With
 * only_if_changed (the least-busy timer), keep the attached program unless
 * some weight moved by more than an eighth. True when least-busy found a
 * connection waiting in some queue. */
static bool
group_steer_weights(struct group *g, bool only_if_changed)
{
	bool queued = false;
	if (g->lb == LB_SHARED || g->n == 0)
		return false;
	struct steer_member sm[STEER_MAX_MEMBERS];
	uint32_t weights[STEER_MAX_MEMBERS];
	bool ready[STEER_MAX_MEMBERS];
	size_t n = g->n < STEER_MAX_MEMBERS ? g->n : STEER_MAX_MEMBERS;
	for (size_t i = 0; i < n; i++) {
		sm[i].id = (uint32_t)g->members[i].inst_uid;
		ready[i] = member_gets_traffic(&g->members[i]);
		weights[i] = ready[i] ? 1 : 0;
	}
	if (g->lb == LB_LEAST_BUSY)
		queued = least_busy_weights(g, n, ready, weights);
	bool changed = !only_if_changed;
	for (size_t i = 0; i < n; i++) {
		uint32_t old = g->members[i].weight, now = weights[i];
		uint32_t diff = old > now ? old - now : now - old;
		if ((old == 0) != (now == 0) || diff > old / 8)
			changed = true;
		sm[i].weight = now;
	}
	if (!changed)
		return queued;
	for (size_t i = 0; i < n; i++)
		g->members[i].weight = weights[i];
	struct steer_prog *prog = xmalloc(sizeof(*prog));   /* 32 KiB */
	int rc = steer_build(g->lb == LB_STICKY ? STEER_STICKY : STEER_RANDOM, sm,
	    (unsigned)n, prog);
	if (rc == 0)
		rc = steer_attach(g->members[0].fd, prog);
	free(prog);
	if (rc < 0) {
		dlog("%s: cannot attach the steering program: %s", g->label, strerror(-rc));
		/* Not attached: no weight is known to be in force, so the next
		 * least-busy sample (or change) tries again. */
		for (size_t i = 0; i < n; i++)
			g->members[i].weight = UINT32_MAX;
	}
	return queued;
}

static void
group_steer(struct group *g)
{
	group_steer_weights(g, false);
}

static void
on_lb_timer(struct loop *l, struct timer *t, void *arg)
{
	struct group *g = arg;
	if (group_steer_weights(g, true))
		g->lb_calm = 0;
	else if (g->lb_calm < LEAST_BUSY_CALM)
		g->lb_calm++;
	if (g->n > 0)
		timer_start(l, t, g->lb_calm < LEAST_BUSY_CALM ? LEAST_BUSY_FAST_MS
		    : LEAST_BUSY_IDLE_MS);
}

static void
group_free(struct group *g)
{
	timer_stop(D->loop, &g->lb_timer);
	if (g->shared_fd >= 0)
		close(g->shared_fd);
	for (size_t i = 0; i < g->n; i++)
		close(g->members[i].fd);
	LIST_REMOVE(g, link);
	free(g->members);
	free(g->users);
	free(g);
}

static bool
addr_is_any(const struct group *g)
{
	if (g->family == AF_INET)
		return ((const struct sockaddr_in *)&g->addr)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&g->addr)->sin6_addr);
}

/* Where the daemon itself connects to reach group g: its address, with a
 * wildcard replaced by loopback. */
static socklen_t
group_dial_addr(const struct group *g, struct sockaddr_storage *out)
{
	memcpy(out, &g->addr, g->addrlen);
	if (addr_is_any(g)) {
		if (g->family == AF_INET)
			((struct sockaddr_in *)out)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else
			((struct sockaddr_in6 *)out)->sin6_addr = in6addr_loopback;
	}
	return g->addrlen;
}

/* Close member i; the last member takes its index, as in the kernel.
 * Connections still queued on it would be reset: if another member takes
 * traffic, they are relayed there instead (relay.h). */
static void
member_close(struct group *g, size_t i)
{
	int queued = steer_queue_depth(g->members[i].fd);
	if (queued > 0) {
		bool others = false;
		for (size_t k = 0; k < g->n; k++)
			others |= k != i && member_gets_traffic(&g->members[k]);
		int relayed = 0;
		if (others) {
			struct sockaddr_storage dst;
			socklen_t len = group_dial_addr(g, &dst);
			relayed = relay_take_queue(g->members[i].fd, (struct sockaddr *)&dst, len);
		}
		dlog("%s: closing the listener of pm_id %d with %d queued connection%s, "
		    "%d relayed to the other instances", g->label, g->members[i].pm_id,
		    queued, queued == 1 ? "" : "s", relayed);
	}
	close(g->members[i].fd);
	g->members[i] = g->members[g->n - 1];
	g->n--;
	group_steer(g);
}

/* A socket for g's address, bound, and listening if listen_it; or -errno
 * with *err "cannot listen on <address>: <reason>". */
static int
bound_socket(const struct group *g, bool reuseport, bool listen_it, char **err)
{
	/* Blocking, as systemd hands sockets over: an app that gets it as
	 * LISTEN_FDS and calls a plain accept() must not see EAGAIN. The
	 * daemon never accepts on it; the preload library gives the app the
	 * O_NONBLOCK it asked for. */
	int fd = socket(g->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = xasprintf("socket: %s", strerror(errno));
		return -errno;
	}
	int one = 1, v6only = g->v6only;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    (g->family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0) ||
	    bind(fd, (const struct sockaddr *)&g->addr, g->addrlen) < 0 ||
	    (listen_it && listen(fd, LISTEN_BACKLOG) < 0)) {
		int e = errno;
		*err = xasprintf("cannot listen on %s: %s", g->label,
		    e == EADDRINUSE && !reuseport ? "another process already listens there "
		    "(an app left over by a corral daemon that was killed?)" : strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

static int
open_listener(const struct group *g, bool reuseport, char **err)
{
	return bound_socket(g, reuseport, true, err);
}

/*
 * Before the first socket of a SO_REUSEPORT group: is anybody else
 * listening there? The kernel would let our socket join a group of the same
 * user's sockets: those of apps left over by a daemon that was killed, of
 * another corral home, or of any server of this user that sets SO_REUSEPORT.
 * Their sockets would come first in the kernel's group, and our steering
 * program would send connections to processes we do not manage. A socket
 * without SO_REUSEPORT cannot bind where anyone listens, so one probe tells.
 */
static int
check_port_free(const struct group *g, char **err)
{
	int fd = bound_socket(g, false, false, err);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static void
format_label(struct group *g)
{
	char host[INET6_ADDRSTRLEN];
	if (g->family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&g->addr)->sin_addr, host, sizeof(host));
		snprintf(g->label, sizeof(g->label), "%s:%u", host, g->port);
	} else {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&g->addr)->sin6_addr, host, sizeof(host));
		snprintf(g->label, sizeof(g->label), "[%s]:%u", host, g->port);
	}
}

/* Would a socket for a and one for b conflict on the same port? */
static bool
overlaps(const struct group *a, const struct group *b)
{
	if (a->port != b->port)
		return false;
	if (a->family == b->family) {
		if (addr_is_any(a) || addr_is_any(b))
			return true;
		return a->addrlen == b->addrlen && memcmp(&a->addr, &b->addr, a->addrlen) == 0;
	}
	/* A dual-stack IPv6 wildcard covers IPv4 too. */
	const struct group *v6 = a->family == AF_INET6 ? a : b;
	return !v6->v6only && addr_is_any(v6);
}

static struct group *
group_find_or_create(struct app *app, const struct group *key, char **err)
{
	struct group *g;
	LIST_FOREACH(g, &D->groups, link) {
		if (g->family == key->family && g->port == key->port && g->v6only == key->v6only &&
		    g->addrlen == key->addrlen && memcmp(&g->addr, &key->addr, key->addrlen) == 0) {
			if (g->app_id == app->id)
				return g;
			struct app *owner = app_by_id(g->app_id);
			*err = xasprintf("%s is already used by app %s", g->label,
			    owner ? owner->spec.name : "?");
			return NULL;
		}
	}
	LIST_FOREACH(g, &D->groups, link) {
		if (g->app_id != app->id && overlaps(g, key)) {
			struct app *owner = app_by_id(g->app_id);
			*err = xasprintf("%s overlaps %s, used by app %s", key->label, g->label,
			    owner ? owner->spec.name : "?");
			return NULL;
		}
	}
	g = xcalloc(1, sizeof(*g));
	*g = *key;
	g->app_id = app->id;
	g->lb = app->spec.lb;
	g->shared_fd = -1;
	g->members = NULL;
	g->n = g->cap = 0;
	g->users = NULL;
	g->nusers = g->capusers = 0;
	timer_init(&g->lb_timer, on_lb_timer, g);
	LIST_INSERT_HEAD(&D->groups, g, link);
	return g;
}

/* Record that process p of instance in (p NULL: its next process) uses
 * the shared socket of g. */
static void
shared_use(struct group *g, struct inst *in, struct proc *p)
{
	for (size_t i = 0; i < g->nusers; i++) {
		struct user *u = &g->users[i];
		if (u->inst_uid == in->uid && (u->proc == p || u->proc == NULL)) {
			u->proc = p;
			u->reserved = p == NULL;
			return;
		}
	}
	if (g->nusers == g->capusers) {
		g->capusers = g->capusers ? g->capusers * 2 : 8;
		g->users = xrealloc(g->users, g->capusers * sizeof(*g->users));
	}
	g->users[g->nusers++] = (struct user){.inst_uid = in->uid, .proc = p,
	    .reserved = p == NULL};
}

static void
shared_drop(struct group *g, size_t i)
{
	g->users[i] = g->users[g->nusers - 1];
	g->nusers--;
}

/* The socket that process p (of instance in) should use in group g; p is
 * NULL for a socket passed as LISTEN_FDS to a process about to be spawned
 * (reserved for it, claimed in cluster_proc_attach). */
static int
group_socket_for(struct group *g, struct inst *in, struct proc *p, char **err)
{
	if (g->lb == LB_SHARED) {
		if (g->shared_fd < 0) {
			int fd = open_listener(g, false, err);
			if (fd < 0)
				return fd;
			g->shared_fd = fd;
		}
		shared_use(g, in, p);
		return g->shared_fd;
	}
	/* The instance's orphaned socket, or the one p already has. */
	for (size_t i = 0; i < g->n; i++) {
		struct member *m = &g->members[i];
		if (m->inst_uid == in->uid && (m->proc == p || m->proc == NULL)) {
			m->proc = p;
			m->reserved = p == NULL;
			group_steer(g);
			return m->fd;
		}
	}
	if (g->n >= STEER_MAX_MEMBERS) {
		*err = xasprintf("%s: more than %d instances cannot share one port",
		    g->label, STEER_MAX_MEMBERS);
		return -EMFILE;
	}
	if (g->n == 0 && g->port != 0) {
		int rc = check_port_free(g, err);
		if (rc < 0)
			return rc;
	}
	int fd = open_listener(g, true, err);
	if (fd < 0)
		return fd;
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 8;
		g->members = xrealloc(g->members, g->cap * sizeof(*g->members));
	}
	g->members[g->n++] = (struct member){.fd = fd, .inst_uid = in->uid, .pm_id = in->pm_id,
	    .proc = p, .reserved = p == NULL};
	group_steer(g);
	if (g->lb == LB_LEAST_BUSY && !timer_armed(&g->lb_timer))
		timer_start(D->loop, &g->lb_timer, LEAST_BUSY_FAST_MS);
	return fd;
}

/* Fill a group key from numeric address text; 0 or -EINVAL. */
static int
make_key(struct group *key, int family, const char *host, uint16_t port, bool v6only)
{
	memset(key, 0, sizeof(*key));
	key->family = family;
	key->port = port;
	key->v6only = family == AF_INET6 && v6only;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&key->addr;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -EINVAL;
		key->addrlen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&key->addr;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		key->addrlen = sizeof(*sin6);
	}
	format_label(key);
	return 0;
}

/* Does one Node option (--inspect[-brk|-port]=[host:]port) name port? */
static bool
inspect_arg_names(const char *a, size_t len, uint16_t port)
{
	if (len < 9 || strncmp(a, "--inspect", 9) != 0)
		return false;
	const char *eq = memchr(a, '=', len);
	if (!eq)
		return false;
	const char *num = eq + 1;
	for (const char *c = num; c < a + len; c++)
		if (*c == ':')
			num = c + 1;
	return atoi(num) == port;
}

/* Ports the Node inspector may use: never shared. Node takes them from
 * its arguments and from NODE_OPTIONS. */
static bool
is_inspector_port(const struct spec *s, uint16_t port)
{
	if (port == INSPECTOR_DEFAULT_PORT)
		return true;
	for (size_t i = 0; s->interpreter_args[i]; i++)
		if (inspect_arg_names(s->interpreter_args[i], strlen(s->interpreter_args[i]), port))
			return true;
	const char *opts = json_string_value(json_object_get(s->env, "NODE_OPTIONS"));
	while (opts && *opts) {
		size_t len = strcspn(opts, " \t");
		if (inspect_arg_names(opts, len, port))
			return true;
		opts += len;
		opts += strspn(opts, " \t");
	}
	return false;
}

static bool
port_is_shared(const struct spec *s, uint16_t port)
{
	if (is_inspector_port(s, port))
		return false;
	if (s->share_ports.n == 0)
		return true;
	for (size_t i = 0; i < s->share_ports.n; i++)
		if (s->share_ports.v[i] == port)
			return true;
	return false;
}

static void
broker_send(int reply_fd, const struct broker_reply *rep, int fd)
{
	char buf[BROKER_MSG_MAX];
	int len = broker_reply_encode(rep, buf, sizeof(buf));
	if (len < 0)
		return;
	struct iovec iov = {buf, (size_t)len};
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = &ctl;
		mh.msg_controllen = sizeof(ctl);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	/* The reply channel is fresh and empty: this never blocks. */
	sendmsg(reply_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Answer one bind request from process p. */
static void
broker_answer(struct proc *p, const struct broker_req *req, int reply_fd)
{
	struct broker_reply rep = {.kind = BROKER_PASS};
	struct inst *in = p->inst;
	char *err = NULL;
	if (!in || p->exited) {
		broker_send(reply_fd, &rep, -1);
		return;
	}
	struct app *app = in->app;
	if (!port_is_shared(&app->spec, req->port)) {
		broker_send(reply_fd, &rep, -1);
		return;
	}
	struct group key;
	if (make_key(&key, req->family == 4 ? AF_INET : AF_INET6, req->addr, req->port,
	    req->v6only) < 0) {
		rep.kind = BROKER_ERR;
		rep.err = EINVAL;
		snprintf(rep.msg, sizeof(rep.msg), "bad address %s", req->addr);
		broker_send(reply_fd, &rep, -1);
		return;
	}
	struct group *g = group_find_or_create(app, &key, &err);
	int fd = g ? group_socket_for(g, in, p, &err) : -EADDRINUSE;
	if (fd < 0) {
		rep.kind = BROKER_ERR;
		rep.err = -fd;
		snprintf(rep.msg, sizeof(rep.msg), "%s", err ? err : strerror(-fd));
		dlog("%s[%d]: bind %s refused: %s", app->spec.name, in->pm_id, key.label,
		    err ? err : strerror(-fd));
		free(err);
		broker_send(reply_fd, &rep, -1);
		return;
	}
	rep.kind = BROKER_OK;
	broker_send(reply_fd, &rep, fd);
	char how[96];
	snprintf(how, sizeof(how), "bound %s", g->label);
	proc_bound(p, how);
}

static void
on_broker(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct proc *p = arg;
	for (int i = 0; i < 16; i++) {
		char buf[BROKER_MSG_MAX];
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(int) * 4)];
		} ctl;
		struct iovec iov = {buf, sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
		    .msg_control = &ctl, .msg_controllen = sizeof(ctl)};
		ssize_t n = recvmsg(p->broker_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			/* Every copy of the app's end is closed. */
			io_del(l, io);
			close(p->broker_fd);
			p->broker_fd = -1;
			return;
		}
		int reply_fd = -1;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			int nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int k = 0; k < nfds; k++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
				if (reply_fd < 0)
					reply_fd = fd;
				else
					close(fd);
			}
		}
		struct broker_req req;
		bool truncated = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
		if (reply_fd >= 0 && !truncated && broker_req_decode(buf, (size_t)n, &req) == 0) {
			broker_answer(p, &req, reply_fd);
		} else if (reply_fd >= 0) {
			struct broker_reply rep = {.kind = BROKER_ERR, .err = EPROTO};
			snprintf(rep.msg, sizeof(rep.msg), "malformed broker request");
			broker_send(reply_fd, &rep, -1);
		}
		if (reply_fd >= 0)
			close(reply_fd);
	}
}

void
cluster_proc_attach(struct proc *p)
{
	/* Sockets reserved for this instance at spawn (LISTEN_FDS). Only
	 * those: a socket kept after a crash goes to the next process when it
	 * binds it, or it would get connections for a port it never took. */
	struct group *g;
	LIST_FOREACH(g, &D->groups, link) {
		for (size_t i = 0; i < g->n; i++) {
			struct member *m = &g->members[i];
			if (p->inst && m->inst_uid == p->inst->uid && m->proc == NULL && m->reserved) {
				m->proc = p;
				m->reserved = false;
			}
		}
		for (size_t i = 0; i < g->nusers; i++) {
			struct user *u = &g->users[i];
			if (p->inst && u->inst_uid == p->inst->uid && u->proc == NULL && u->reserved) {
				u->proc = p;
				u->reserved = false;
			}
		}
	}
	if (p->broker_fd < 0)
		return;
	fd_set_nonblock(p->broker_fd, true);
	if (io_add(D->loop, &p->broker_io, p->broker_fd, EPOLLIN, on_broker, p) < 0)
		dlog("cannot watch the broker channel of pid %d: %s", (int)p->pid, strerror(errno));
}

void
cluster_proc_changed(struct proc *p)
{
	struct group *g;
	LIST_FOREACH(g, &D->groups, link)
		for (size_t i = 0; i < g->n; i++)
			if (g->members[i].proc == p) {
				group_steer(g);
				break;
			}
}

bool
cluster_proc_drained(const struct proc *p)
{
	struct group *g;
	LIST_FOREACH(g, &D->groups, link)
		for (size_t i = 0; i < g->n; i++)
			if (g->members[i].proc == p && steer_queue_depth(g->members[i].fd) > 0)
				return false;
	return true;
}

void
cluster_proc_detach(struct proc *p)
{
	if (p->broker_fd >= 0) {
		io_del(D->loop, &p->broker_io);
		close(p->broker_fd);
		p->broker_fd = -1;
	}
	struct group *g, *next;
	for (g = LIST_FIRST(&D->groups); g; g = next) {
		next = LIST_NEXT(g, link);
		bool closed = false;
		for (size_t i = 0; i < g->n; i++) {
			struct member *m = &g->members[i];
			if (m->proc != p)
				continue;
			m->proc = NULL;
			/* Keep it for the instance's next process, unless the
			 * instance already has another socket here (reload) or
			 * is gone, or p was not the instance's serving process:
			 * a process a reload replaced, or a successor that was
			 * never promoted. The process serving now did its binds,
			 * and a release that moved to another port would leave
			 * the old one listening with nobody to accept. */
			bool other = false;
			for (size_t k = 0; k < g->n; k++)
				other |= k != i && g->members[k].inst_uid == m->inst_uid;
			if (other || !p->inst || p->inst->proc != p) {
				member_close(g, i);
				closed = true;
				i--;
			}
		}
		/* The same for the users of a shared socket, which has no
		 * queue of its own per process. */
		for (size_t i = 0; i < g->nusers; i++) {
			struct user *u = &g->users[i];
			if (u->proc != p)
				continue;
			u->proc = NULL;
			bool other = false;
			for (size_t k = 0; k < g->nusers; k++)
				other |= k != i && g->users[k].inst_uid == u->inst_uid;
			if (other || !p->inst || p->inst->proc != p) {
				shared_drop(g, i);
				closed = true;
				i--;
			}
		}
		/* A group whose last member or user went is over. */
		if (closed && (g->lb == LB_SHARED ? g->nusers == 0 : g->n == 0))
			group_free(g);
	}
}

/* Has the instance of an orphaned socket moved on without it? */
static bool
orphan_unclaimed(uint64_t inst_uid, int64_t now)
{
	struct inst *in = inst_by_uid(inst_uid);
	const struct proc *p = in ? in->proc : NULL;
	return p && p->ready && !p->exited && !p->stopping &&
	    now - p->ready_mono >= ORPHAN_GRACE_MS;
}

void
cluster_sweep_orphans(void)
{
	int64_t now = mono_ms();
	struct group *g, *next;
	for (g = LIST_FIRST(&D->groups); g; g = next) {
		next = LIST_NEXT(g, link);
		bool closed = false;
		for (size_t i = 0; i < g->n; i++) {
			if (g->members[i].proc == NULL &&
			    orphan_unclaimed(g->members[i].inst_uid, now)) {
				dlog("%s: closing the listener kept for pm_id %d: its new process "
				    "did not bind it", g->label, g->members[i].pm_id);
				member_close(g, i);
				closed = true;
				i--;
			}
		}
		for (size_t i = 0; i < g->nusers; i++) {
			if (g->users[i].proc == NULL && orphan_unclaimed(g->users[i].inst_uid, now)) {
				shared_drop(g, i);
				closed = true;
				i--;
			}
		}
		if (closed && (g->lb == LB_SHARED ? g->nusers == 0 : g->n == 0)) {
			dlog("%s: no process uses it any more, closed", g->label);
			group_free(g);
		}
	}
}

void
cluster_inst_idle(struct inst *in)
{
	struct group *g, *next;
	for (g = LIST_FIRST(&D->groups); g; g = next) {
		next = LIST_NEXT(g, link);
		if (g->app_id != in->app->id)
			continue;
		for (size_t i = 0; i < g->n; i++) {
			if (g->members[i].inst_uid == in->uid && g->members[i].proc == NULL) {
				member_close(g, i);
				i--;
			}
		}
		for (size_t i = 0; i < g->nusers; i++) {
			if (g->users[i].inst_uid == in->uid && g->users[i].proc == NULL) {
				shared_drop(g, i);
				i--;
			}
		}
		/* The port is free again once no instance of the app runs. */
		bool any_running = false;
		struct inst *o;
		TAILQ_FOREACH(o, &in->app->insts, app_link)
			if (o != in && (o->proc || o->state == ST_LAUNCHING ||
			    o->state == ST_WAITING || o->state == ST_ONLINE))
				any_running = true;
		if (!any_running && (g->lb == LB_SHARED ? true : g->n == 0))
			group_free(g);
	}
}

/* Parse "host:port", "[v6]:port", ":port" or "port" into a key. */
static int
parse_listen(const char *text, struct group *key)
{
	char host[INET6_ADDRSTRLEN + 2] = "";
	const char *port_s;
	int family = AF_INET;
	if (text[0] == '[') {
		const char *close_b = strchr(text, ']');
		if (!close_b || close_b[1] != ':' || (size_t)(close_b - text - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, text + 1, (size_t)(close_b - text - 1));
		host[close_b - text - 1] = '\0';
		port_s = close_b + 2;
		family = AF_INET6;
	} else {
		const char *colon = strrchr(text, ':');
		if (colon) {
			if ((size_t)(colon - text) >= sizeof(host))
				return -EINVAL;
			memcpy(host, text, (size_t)(colon - text));
			host[colon - text] = '\0';
			port_s = colon + 1;
		} else {
			port_s = text;
		}
		if (!*host)
			strcpy(host, "0.0.0.0");
	}
	char *end;
	long port = strtol(port_s, &end, 10);
	if (*port_s == '\0' || *end || port < 1 || port > 65535)
		return -EINVAL;
	return make_key(key, family, host, (uint16_t)port, family == AF_INET6);
}

int
cluster_listen_fds(struct inst *in, int *fds, size_t max, char **names, char **err)
{
	const struct spec *s = &in->app->spec;
	size_t n = strv_len(s->listen);
	*names = NULL;
	if (n == 0)
		return 0;
	if (n > max) {
		*err = xasprintf("at most %zu listen addresses", max);
		return -1;
	}
	struct sbuf nb = SBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		struct group key;
		if (parse_listen(s->listen[i], &key) < 0) {
			*err = xasprintf("listen: \"%s\" is not an address (host:port, [v6]:port or port)",
			    s->listen[i]);
			sbuf_free(&nb);
			return -1;
		}
		struct group *g = group_find_or_create(in->app, &key, err);
		/* The process does not exist yet: the socket is reserved as an
		 * orphan of the instance and claimed in cluster_proc_attach. */
		int fd = g ? group_socket_for(g, in, NULL, err) : -1;
		if (fd < 0) {
			sbuf_free(&nb);
			return -1;
		}
		fds[i] = fd;
		sbuf_addf(&nb, "%s%s", i ? ":" : "", g->label);
	}
	*names = sbuf_take(&nb);
	return (int)n;
}

json_t *
cluster_describe(const struct app *a)
{
	json_t *arr = json_array();
	struct group *g;
	LIST_FOREACH(g, &D->groups, link) {
		if (g->app_id != a->id)
			continue;
		json_t *members = json_array();
		for (size_t i = 0; i < g->n; i++) {
			const struct member *m = &g->members[i];
			int depth = steer_queue_depth(m->fd);
			json_array_append_new(members, json_pack("{s:i, s:i, s:i, s:b, s:i}",
			    "index", (int)i, "pm_id", m->pm_id,
			    "pid", m->proc && !m->proc->exited ? (int)m->proc->pid : 0,
			    "gets_traffic", member_gets_traffic(m), "queued", depth > 0 ? depth : 0));
		}
		int shared_depth = g->shared_fd >= 0 ? steer_queue_depth(g->shared_fd) : 0;
		json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:i}", "address", g->label,
		    "lb", spec_lb_name(g->lb), "members", members,
		    "queued", g->lb == LB_SHARED && shared_depth > 0 ? shared_depth : 0));
	}
	return arr;
}
