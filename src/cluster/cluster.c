/*
 * cluster.c — listener groups and the peers that use them: creating the
 * sockets, steering new connections over a group's members, keeping a
 * crashed instance's sockets for its next process, and closing them without
 * dropping what is queued. The data model and the member life cycle are
 * drawn in group.h; the API is in cluster.h.
 */
#include "cluster/cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/group.h"
#include "cluster/relay.h"
#include "cluster/steer.h"
#include "common/log.h"
#include "common/util.h"

#define LISTEN_BACKLOG 511
/* least-busy samples the queues every LEAST_BUSY_FAST_MS, and slows down
 * to LEAST_BUSY_IDLE_MS once every queue was empty at LEAST_BUSY_CALM
 * samples in a row (nothing to balance then, and an idle daemon sleeps). */
#define LEAST_BUSY_FAST_MS 2
#define LEAST_BUSY_IDLE_MS 100
#define LEAST_BUSY_CALM 50
/* How long a ready process has to claim its instance's kept sockets. */
#define ORPHAN_GRACE_MS 1000

struct cluster *
cluster_new(struct loop *l, const struct cluster_ops *ops, void *arg)
{
	struct cluster *c = xcalloc(1, sizeof(*c));
	c->loop = l;
	c->ops = ops;
	c->ops_arg = arg;
	LIST_INIT(&c->groups);
	LIST_INIT(&c->peers);
	c->relays = relays_new(l);
	return c;
}

static bool
member_gets_traffic(const struct member *m)
{
	return m->peer && m->peer->traffic;
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
		sm[i].id = (uint32_t)g->members[i].slot_uid;
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

void
listener_close(int fd)
{
	/* A listener leaves its group and stops listening when the last copy
	 * of it closes: the keeper's copy would keep it there, connections
	 * would queue where nobody accepts, and the kernel's member order would
	 * no longer be ours. shutdown() takes it out at once. */
	shutdown(fd, SHUT_RDWR);
	close(fd);
}

static void
group_free(struct group *g)
{
	timer_stop(g->c->loop, &g->lb_timer);
	for (size_t i = g->n; i-- > 0;)
		member_event(g, i, CLUSTER_MEMBER_GONE);
	if (g->shared_fd >= 0)
		listener_close(g->shared_fd);
	if (g->lb != LB_SHARED)
		for (size_t i = 0; i < g->n; i++)
			listener_close(g->members[i].fd);
	LIST_REMOVE(g, link);
	struct cluster *c = g->c;
	idmap_chain_del(&c->by_app, g->app_id, g, offsetof(struct group, app_next));
	idmap_chain_del(&c->by_port, g->port, g, offsetof(struct group, port_next));
	free(g->members);
	free(g->app_name);
	free(g);
}

/* The first of an app's groups (then app_next). */
static struct group *
app_groups(struct cluster *c, uint64_t app_id)
{
	return idmap_get(&c->by_app, app_id);
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

/* Drop member i; the last member takes its index, as in the kernel. A
 * reuseport member's socket is closed, and connections still queued on it
 * (which the close would reset) are relayed to the members that take
 * traffic, if any (relay.h). A shared group's member only held a copy of
 * the one socket, which stays. */
static void
member_drop(struct group *g, size_t i)
{
	if (g->lb != LB_SHARED) {
		int queued = steer_queue_depth(g->members[i].fd);
		if (queued > 0) {
			bool others = false;
			for (size_t k = 0; k < g->n; k++)
				others |= k != i && member_gets_traffic(&g->members[k]);
			int relayed = 0;
			if (others) {
				struct sockaddr_storage dst;
				socklen_t len = group_dial_addr(g, &dst);
				relayed = relays_take_queue(g->c->relays, g->members[i].fd,
				    (struct sockaddr *)&dst, len);
			}
			dlog("%s: closing the listener of pm_id %d with %d queued connection%s, "
			    "%d relayed to the other instances", g->label, g->members[i].pm_id,
			    queued, queued == 1 ? "" : "s", relayed);
		}
	}
	member_event(g, i, CLUSTER_MEMBER_GONE);
	if (g->lb != LB_SHARED)
		listener_close(g->members[i].fd);
	g->members[i] = g->members[g->n - 1];
	g->n--;
	if (i < g->n)
		member_event(g, i, CLUSTER_MEMBER_CHANGED);
	group_steer(g);
}

/* Drop the members for which drop(m, arg) says so; with free_empty, free
 * the group when its last member went (the port is free again). True when
 * g was freed. */
static bool
group_drop_members(struct group *g, bool (*drop)(struct group *, struct member *, void *),
    void *arg, bool free_empty)
{
	bool dropped = false;
	for (size_t i = 0; i < g->n; i++) {
		if (drop(g, &g->members[i], arg)) {
			member_drop(g, i);
			dropped = true;
			i--;
		}
	}
	if (free_empty && dropped && g->n == 0) {
		group_free(g);
		return true;
	}
	return false;
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

int
group_key_make(struct group *key, int family, const char *host, uint16_t port, bool v6only)
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

struct group *
group_find_or_create(struct cluster *c, const struct cluster_slot *slot,
    const struct group *key, char **err)
{
	struct group *g;
	struct group *on_port = idmap_get(&c->by_port, key->port);
	for (g = on_port; g; g = g->port_next) {
		if (g->family == key->family && g->port == key->port && g->v6only == key->v6only &&
		    g->addrlen == key->addrlen && memcmp(&g->addr, &key->addr, key->addrlen) == 0) {
			if (g->app_id == slot->app_id)
				return g;
			*err = xasprintf("%s is already used by app %s", g->label, g->app_name);
			return NULL;
		}
	}
	for (g = on_port; g; g = g->port_next) {
		if (g->app_id != slot->app_id && overlaps(g, key)) {
			*err = xasprintf("%s overlaps %s, used by app %s", key->label, g->label,
			    g->app_name);
			return NULL;
		}
	}
	g = xcalloc(1, sizeof(*g));
	*g = *key;
	g->c = c;
	g->app_id = slot->app_id;
	g->app_name = xstrdup(slot->spec->name);
	g->lb = slot->spec->lb;
	g->shared_fd = -1;
	g->members = NULL;
	g->n = g->cap = 0;
	timer_init(&g->lb_timer, on_lb_timer, g);
	LIST_INSERT_HEAD(&c->groups, g, link);
	idmap_chain_add(&c->by_app, g->app_id, g, offsetof(struct group, app_next));
	idmap_chain_add(&c->by_port, g->port, g, offsetof(struct group, port_next));
	return g;
}

struct member *
member_add(struct group *g, int fd, const struct cluster_slot *slot, struct cluster_peer *peer)
{
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 8;
		g->members = xrealloc(g->members, g->cap * sizeof(*g->members));
	}
	g->members[g->n++] = (struct member){.id = ++g->c->next_member_id, .fd = fd,
	    .slot_uid = slot->uid, .pm_id = slot->pm_id, .peer = peer, .reserved = peer == NULL};
	member_event(g, g->n - 1, CLUSTER_MEMBER_NEW);
	return &g->members[g->n - 1];
}

void
cluster_set_socket_share(struct cluster *c, size_t per_app)
{
	c->socket_share = per_app;
}

/* Room for one more socket of g's app within its share; -EMFILE with *err
 * naming the app when there is none. */
static int
check_share(const struct group *g, char **err)
{
	if (!g->c->socket_share)
		return 0;
	size_t n = 0;
	const struct group *o;
	LIST_FOREACH(o, &g->c->groups, link)
		if (o->app_id == g->app_id)
			n += o->lb == LB_SHARED ? o->shared_fd >= 0 : o->n;
	if (n < g->c->socket_share)
		return 0;
	*err = xasprintf("cannot listen on %s: app %s holds %zu listening sockets already, its "
	    "share of the corral daemon's file descriptors", g->label, g->app_name, n);
	return -EMFILE;
}

int
group_socket_for(struct group *g, const struct cluster_slot *slot, struct cluster_peer *peer,
    char **err)
{
	/* The slot's orphaned socket, or the one peer already has. */
	for (size_t i = 0; i < g->n; i++) {
		struct member *m = &g->members[i];
		if (m->slot_uid == slot->uid && (m->peer == peer || m->peer == NULL)) {
			bool changed = m->peer != peer || m->reserved != (peer == NULL);
			m->peer = peer;
			m->reserved = peer == NULL;
			if (changed)
				member_event(g, i, CLUSTER_MEMBER_CHANGED);
			group_steer(g);
			return m->fd;
		}
	}
	/* A new socket from here on. */
	int rc = g->lb == LB_SHARED && g->shared_fd >= 0 ? 0 : check_share(g, err);
	if (rc < 0)
		return rc;
	if (g->lb == LB_SHARED) {
		if (g->shared_fd < 0) {
			int fd = bound_socket(g, false, true, err);
			if (fd < 0)
				return fd;
			g->shared_fd = fd;
		}
		member_add(g, g->shared_fd, slot, peer);
		return g->shared_fd;
	}
	if (g->n >= STEER_MAX_MEMBERS) {
		*err = xasprintf("%s: more than %d instances cannot share one port",
		    g->label, STEER_MAX_MEMBERS);
		return -EMFILE;
	}
	if (g->n == 0 && g->port != 0) {
		rc = check_port_free(g, err);
		if (rc < 0)
			return rc;
	}
	int fd = bound_socket(g, true, true, err);
	if (fd < 0)
		return fd;
	member_add(g, fd, slot, peer);
	group_steer(g);
	if (g->lb == LB_LEAST_BUSY && !timer_armed(&g->lb_timer))
		timer_start(g->c->loop, &g->lb_timer, LEAST_BUSY_FAST_MS);
	return fd;
}

/* ---- peers ---- */

struct cluster_peer *
cluster_peer_new(struct cluster *c, const struct cluster_slot *slot, pid_t pid, int broker_fd,
    int broker_listen_fd, void *owner)
{
	struct cluster_peer *peer = xcalloc(1, sizeof(*peer));
	peer->c = c;
	peer->owner = owner;
	peer->pid = pid;
	peer->has_slot = true;
	peer->app_id = slot->app_id;
	peer->spec = slot->spec;
	peer->slot_uid = slot->uid;
	peer->pm_id = slot->pm_id;
	peer->inspect_port = slot->inspect_port;
	peer->uid = slot->spec->uid >= 0 ? (uid_t)slot->spec->uid : geteuid();
	LIST_INSERT_HEAD(&c->peers, peer, link);
	/* Sockets reserved for this slot at spawn (LISTEN_FDS). Only those: a
	 * socket kept after a crash goes to the next process when it binds
	 * it, or it would get connections for a port it never took. */
	for (struct group *g = app_groups(c, slot->app_id); g; g = g->app_next) {
		for (size_t i = 0; i < g->n; i++) {
			struct member *m = &g->members[i];
			if (m->slot_uid == slot->uid && m->peer == NULL && m->reserved) {
				m->peer = peer;
				m->reserved = false;
				member_event(g, i, CLUSTER_MEMBER_CHANGED);
			}
		}
	}
	broker_watch(peer, broker_fd, broker_listen_fd);
	return peer;
}

void
cluster_peer_set_traffic(struct cluster_peer *peer, bool on)
{
	if (peer->traffic == on)
		return;
	peer->traffic = on;
	for (struct group *g = app_groups(peer->c, peer->app_id); g; g = g->app_next)
		for (size_t i = 0; i < g->n; i++)
			if (g->members[i].peer == peer) {
				group_steer(g);
				break;
			}
}

void
cluster_peer_exited(struct cluster_peer *peer)
{
	peer->exited = true;
	cluster_peer_set_traffic(peer, false);
}

void
cluster_peer_unslot(struct cluster_peer *peer)
{
	peer->has_slot = false;
	peer->spec = NULL;
}

bool
cluster_peer_broker(const struct cluster_peer *peer, bool *asked)
{
	*asked = peer->asked;
	return peer->has_broker;
}

bool
cluster_peer_drained(const struct cluster_peer *peer)
{
	for (struct group *g = app_groups(peer->c, peer->app_id); g; g = g->app_next) {
		if (g->lb == LB_SHARED)
			continue;
		for (size_t i = 0; i < g->n; i++)
			if (g->members[i].peer == peer && steer_queue_depth(g->members[i].fd) > 0)
				return false;
	}
	return true;
}

struct peer_gone {
	struct cluster_peer *peer;
	bool keep;
};

/* A member of the peer that is freed: orphaned, or dropped when it is not
 * kept for the slot's next process. */
static bool
drop_peer_member(struct group *g, struct member *m, void *arg)
{
	struct peer_gone *pg = arg;
	if (m->peer != pg->peer)
		return false;
	m->peer = NULL;
	/* Keep it for the slot's next process, unless the slot already has
	 * another socket here (reload) or the peer was not the slot's serving
	 * process: one a reload replaced, or a successor that was never
	 * promoted. The process serving now did its binds, and a release that
	 * moved to another port would leave the old one listening with
	 * nobody to accept. */
	if (!pg->keep)
		return true;
	for (size_t k = 0; k < g->n; k++)
		if (&g->members[k] != m && g->members[k].slot_uid == m->slot_uid)
			return true;
	member_event(g, (size_t)(m - g->members), CLUSTER_MEMBER_CHANGED);
	return false;
}

void
cluster_peer_free(struct cluster_peer *peer, bool keep_for_slot)
{
	struct cluster *c = peer->c;
	broker_close(peer);
	peer->traffic = false;
	struct peer_gone pg = {peer, keep_for_slot && peer->has_slot};
	struct group *g, *next;
	for (g = app_groups(c, peer->app_id); g; g = next) {
		next = g->app_next;
		if (!group_drop_members(g, drop_peer_member, &pg, true)) {
			/* Orphaned members count as no traffic at once. */
			for (size_t i = 0; i < g->n; i++)
				if (g->members[i].peer == NULL && g->members[i].weight) {
					group_steer(g);
					break;
				}
		}
	}
	LIST_REMOVE(peer, link);
	/* Its broker io may still have an event in the loop's current batch. */
	loop_defer_free(c->loop, peer, free);
}

/* ---- slots ---- */

/* Has the slot of an orphaned socket moved on without it? */
static bool
drop_unclaimed(struct group *g, struct member *m, void *arg)
{
	const int64_t *now = arg;
	struct cluster *c = g->c;
	int64_t since;
	if (m->peer || !c->ops->slot_serving_since ||
	    !c->ops->slot_serving_since(c->ops_arg, m->slot_uid, &since) ||
	    *now - since < ORPHAN_GRACE_MS)
		return false;
	if (g->lb != LB_SHARED)
		dlog("%s: closing the listener kept for pm_id %d: its new process "
		    "did not bind it", g->label, m->pm_id);
	return true;
}

void
cluster_sweep_orphans(struct cluster *c)
{
	int64_t now = mono_ms();
	struct group *g, *next;
	for (g = LIST_FIRST(&c->groups); g; g = next) {
		next = LIST_NEXT(g, link);
		char label[sizeof(g->label)];
		memcpy(label, g->label, sizeof(label));
		if (group_drop_members(g, drop_unclaimed, &now, true))
			dlog("%s: no process uses it any more, closed", label);
	}
}

static bool
drop_slot_orphan(struct group *g, struct member *m, void *arg)
{
	const uint64_t *slot_uid = arg;
	return m->slot_uid == *slot_uid && m->peer == NULL;
}

void
cluster_slot_idle(struct cluster *c, uint64_t app_id, uint64_t slot_uid, bool app_still_running)
{
	struct group *g, *next;
	for (g = app_groups(c, app_id); g; g = next) {
		next = g->app_next;
		group_drop_members(g, drop_slot_orphan, &slot_uid, false);
		/* The port is free again once no instance of the app runs. A
		 * shared socket goes then even if some member still holds a
		 * copy: those are processes on their way out. */
		if (!app_still_running && (g->lb == LB_SHARED || g->n == 0))
			group_free(g);
	}
}

void
cluster_adopt_done(struct cluster *c)
{
	struct group *g;
	LIST_FOREACH(g, &c->groups, link) {
		/* The weights we know nothing of: attach ours. */
		for (size_t i = 0; i < g->n; i++)
			g->members[i].weight = UINT32_MAX;
		group_steer(g);
		if (g->lb == LB_LEAST_BUSY && g->n > 0 && !timer_armed(&g->lb_timer))
			timer_start(c->loop, &g->lb_timer, LEAST_BUSY_FAST_MS);
	}
}

json_t *
cluster_describe_slot(struct cluster *c, uint64_t app_id, uint64_t slot_uid)
{
	json_t *arr = json_array();
	for (struct group *g = app_groups(c, app_id); g; g = g->app_next) {
		json_t *members = json_array();
		int in_rotation = 0;
		for (size_t i = 0; i < g->n; i++) {
			const struct member *m = &g->members[i];
			in_rotation += member_gets_traffic(m);
			if (g->lb == LB_SHARED || (slot_uid && m->slot_uid != slot_uid))
				continue;
			int depth = steer_queue_depth(m->fd);
			json_array_append_new(members, json_pack("{s:i, s:i, s:i, s:b, s:i}",
			    "index", (int)i, "pm_id", m->pm_id,
			    "pid", m->peer && !m->peer->exited ? (int)m->peer->pid : 0,
			    "gets_traffic", member_gets_traffic(m), "queued", depth > 0 ? depth : 0));
		}
		int shared_depth = g->shared_fd >= 0 ? steer_queue_depth(g->shared_fd) : 0;
		json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:i, s:i, s:i}",
		    "address", g->label, "lb", spec_lb_name(g->lb), "members", members,
		    "size", (int)g->n, "in_rotation", in_rotation,
		    "queued", g->lb == LB_SHARED && shared_depth > 0 ? shared_depth : 0));
	}
	return arr;
}

json_t *
cluster_describe(struct cluster *c, uint64_t app_id)
{
	return cluster_describe_slot(c, app_id, 0);
}

void
cluster_free(struct cluster *c)
{
	if (!c)
		return;
	struct cluster_peer *peer;
	while ((peer = LIST_FIRST(&c->peers)) != NULL) {
		broker_close(peer);
		LIST_REMOVE(peer, link);
		free(peer);
	}
	struct group *g;
	while ((g = LIST_FIRST(&c->groups)) != NULL)
		group_free(g);
	idmap_free(&c->by_app);
	idmap_free(&c->by_port);
	relays_free(c->relays);
	free(c);
}
