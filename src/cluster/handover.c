/*
 * handover.c — the listening sockets as the daemon's keeper sees them
 * (cluster.h, "handing the sockets over"): every member socket is reported
 * when it comes, changes index or peer, and goes, so that the next daemon
 * can put each one back in its group in the kernel's order.
 *
 * The order matters: the steering program picks a member by its index in
 * the kernel's SO_REUSEPORT group, which follows listen() order, with the
 * last member moving into the hole of one that closes. The sockets live on
 * in the apps and the keeper while no daemon runs, so nothing changes that
 * order meanwhile; the indexes recorded here are the kernel's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cluster/group.h"
#include "common/log.h"
#include "common/util.h"

static void
member_info(const struct group *g, size_t i, struct cluster_member_info *m)
{
	const struct member *mb = &g->members[i];
	memset(m, 0, sizeof(*m));
	m->id = mb->id;
	m->fd = mb->fd;
	m->app_id = g->app_id;
	m->family = g->family;
	const void *addr = g->family == AF_INET
	    ? (const void *)&((const struct sockaddr_in *)&g->addr)->sin_addr
	    : (const void *)&((const struct sockaddr_in6 *)&g->addr)->sin6_addr;
	inet_ntop(g->family, addr, m->host, sizeof(m->host));
	m->port = g->port;
	m->v6only = g->v6only;
	m->lb = g->lb;
	m->index = (unsigned)i;
	m->slot_uid = mb->slot_uid;
	m->pm_id = mb->pm_id;
	m->owner = mb->peer ? mb->peer->owner : NULL;
	m->reserved = mb->reserved;
}

void
member_event(struct group *g, size_t i, enum cluster_member_event ev)
{
	struct cluster *c = g->c;
	if (!c->ops->member)
		return;
	struct cluster_member_info m;
	member_info(g, i, &m);
	c->ops->member(c->ops_arg, ev, &m);
}

void
cluster_foreach_member(struct cluster *c,
    void (*fn)(void *arg, const struct cluster_member_info *m), void *arg)
{
	struct group *g;
	LIST_FOREACH(g, &c->groups, link) {
		for (size_t i = 0; i < g->n; i++) {
			struct cluster_member_info m;
			member_info(g, i, &m);
			fn(arg, &m);
		}
	}
}

int
cluster_peer_broker_fd(const struct cluster_peer *peer)
{
	return peer->channels[0].fd;
}

int
cluster_peer_broker_listen_fd(const struct cluster_peer *peer)
{
	return peer->listen_fd;
}

int
cluster_adopt_member(struct cluster *c, const struct cluster_slot *slot,
    const struct cluster_member_info *m, int fd, struct cluster_peer *peer, char **err)
{
	struct group key;
	if (group_key_make(&key, m->family, m->host, m->port, m->v6only) < 0) {
		*err = xasprintf("bad address %s", m->host);
		close(fd);
		return -EINVAL;
	}
	struct group *g = group_find_or_create(c, slot, &key, err);
	if (!g) {
		close(fd);
		return -EADDRINUSE;
	}
	g->lb = m->lb;
	if (g->lb == LB_SHARED) {
		/* Every member held a copy of the one socket. */
		if (g->shared_fd < 0) {
			g->shared_fd = fd;
		} else {
			close(fd);
			fd = g->shared_fd;
		}
	} else if (m->index != g->n) {
		/* A member is missing in front of this one: the order we steer
		 * by would not be the kernel's. Say so; the group still works
		 * with weights off by one member until it changes. */
		dlog("%s: listener %u of the previous daemon comes back as %zu: steering may miss "
		    "until the group changes", g->label, m->index, g->n);
	}
	struct member *mb = member_add(g, fd, slot, peer);
	/* Keep its id: the keeper knows it by it. */
	mb->id = m->id;
	mb->reserved = peer == NULL && m->reserved;
	if (c->next_member_id < m->id)
		c->next_member_id = m->id;
	return 0;
}
