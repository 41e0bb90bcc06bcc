/*
 * group.h — inside cluster mode: listener groups, their members, and the
 * peers that use them. Shared by cluster.c (groups and peers), broker.c (the
 * bind requests of the preload library) and listen.c (LISTEN_FDS); nothing
 * outside src/cluster includes it.
 *
 * A group is one address (family, address, port, v6only) of one app. Its
 * kind follows the app's `lb`:
 *
 *   shared     one socket; every member holds a copy of it and accepts from
 *              the same queue. A dead instance costs nothing; the split is
 *              the kernel's wake-up order.
 *   even, sticky, least-busy
 *              one SO_REUSEPORT socket per member, in the kernel's index
 *              order; a cBPF program (steer.c) picks the member for each new
 *              connection and is rebuilt on every change.
 *
 * Member life cycle (both kinds):
 *
 *   created for a peer ──────▶ in use (weight 1 while its peer takes traffic)
 *   or reserved for a slot's        │ peer freed, keep_for_slot (a crash)
 *   next peer (LISTEN_FDS)          ▼
 *        │                      orphan (weight 0; queued connections wait)
 *        │                          │ the slot's next peer binds it
 *        │                          ▼
 *        │                      in use again — same socket, same queue
 *        │
 *        └─ closed when its slot goes idle, its peer is freed without
 *           keep_for_slot (a reload replaced it; drained first, see
 *           cluster_peer_drained), or the orphan sweep gives it up.
 *
 * The daemon keeps its own copy of every socket, so a member leaves the
 * kernel's group exactly when the daemon closes it, and the index model
 * (last member moves into the hole) stays true.
 */
#ifndef CORRAL_CLUSTER_GROUP_H
#define CORRAL_CLUSTER_GROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "cluster/cluster.h"
#include "cluster/relay.h"
#include "common/idmap.h"
#include "ev/loop.h"

struct member {
	uint64_t id;            /* never reused by its cluster (the keeper's key) */
	int fd;                 /* its own socket; a copy of shared_fd in shared groups */
	uint32_t weight;        /* weight in the attached program */
	uint64_t slot_uid;      /* the instance slot this socket belongs to */
	int pm_id;
	struct cluster_peer *peer; /* the process using it; NULL = orphan */
	bool reserved;          /* passed as LISTEN_FDS to a peer being spawned */
};

struct group {
	LIST_ENTRY(group) link;
	struct group *app_next;  /* the app's next group (cluster.by_app) */
	struct group *port_next; /* the next group on this port (cluster.by_port) */
	struct cluster *c;
	uint64_t app_id;
	char *app_name;         /* for "already used by app X" */
	int family;             /* AF_INET or AF_INET6 */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool v6only;
	uint16_t port;
	char label[64];         /* "0.0.0.0:3000", "[::]:3000" */
	int lb;                 /* enum lb_kind */
	int shared_fd;          /* LB_SHARED: the one socket, -1 until opened */
	struct member *members; /* reuseport: in kernel index order */
	size_t n, cap;
	struct timer lb_timer;  /* least-busy re-weighting */
	unsigned lb_calm;       /* samples in a row with every queue empty */
};

LIST_HEAD(group_list, group);
LIST_HEAD(peer_list, cluster_peer);

struct cluster {
	struct loop *loop;
	const struct cluster_ops *ops;
	void *ops_arg;
	struct group_list groups;
	struct idmap by_app;    /* app id → its first group (app_next): what a
	                         * peer's changes look at, not every group */
	struct idmap by_port;   /* port → first group there (port_next) */
	struct peer_list peers;
	struct relays *relays;  /* connections handed on from closed listeners */
	uint64_t next_member_id;
	size_t socket_share;    /* listening sockets one app may hold, 0 = any */
};

/* A peer's broker channels (broker.c): [0] the inherited socketpair, the
 * others connections accepted on its broker address, each one bind at a
 * time. At most BROKER_CHANNELS at once; more wait in the listen backlog. */
#define BROKER_CHANNELS 8

struct broker_channel {
	struct cluster_peer *peer;
	int fd;                 /* -1 when free */
	struct io io;
};

struct cluster_peer {
	LIST_ENTRY(cluster_peer) link;
	struct cluster *c;
	void *owner;
	pid_t pid;
	bool has_slot;          /* false after cluster_peer_unslot() */
	uint64_t app_id;
	const struct spec *spec; /* borrowed while has_slot */
	uint64_t slot_uid;
	int pm_id;
	int inspect_port;       /* never shared (broker.c) */
	bool exited;
	bool traffic;
	uid_t uid;              /* its processes': they (and root) may connect */
	struct broker_channel channels[BROKER_CHANNELS];
	int listen_fd;          /* its broker address, -1 when none */
	struct io listen_io;
	struct timer listen_retry; /* accepting again after a pause */
	bool has_broker;        /* it was given a channel or an address */
	bool asked;             /* a request came on some channel */
};

/* A group key (no sockets) from numeric address text; 0 or -EINVAL. */
int group_key_make(struct group *key, int family, const char *host, uint16_t port, bool v6only);
/* The app's group for key's address, created if needed; NULL with *err when
 * another app uses the address or one that overlaps it. */
struct group *group_find_or_create(struct cluster *c, const struct cluster_slot *slot,
    const struct group *key, char **err);
/* The socket that peer (of the slot) should use in g; peer is NULL for a
 * socket reserved for the slot's next peer (LISTEN_FDS). The fd stays the
 * group's; or -errno with *err. */
int group_socket_for(struct group *g, const struct cluster_slot *slot,
    struct cluster_peer *peer, char **err);

/* Append a member for slot (its peer, or NULL for a socket reserved for
 * the slot's next peer) and tell the daemon (handover.c). */
struct member *member_add(struct group *g, int fd, const struct cluster_slot *slot,
    struct cluster_peer *peer);
/* Tell the daemon (ops->member) that member i of g came, changed (its index
 * or its peer) or is about to go (handover.c). */
void member_event(struct group *g, size_t i, enum cluster_member_event ev);
/* Take a listening socket out of its SO_REUSEPORT group (and its port)
 * now, whoever else holds a copy of it (the keeper does), then close it. */
void listener_close(int fd);

/* Watch peer's broker: the inherited channel (our end) and the listening
 * socket of its address, both taken over; either may be -1 (broker.c). */
void broker_watch(struct cluster_peer *peer, int channel_fd, int listen_fd);
/* Stop watching them and close every channel and the listening socket. */
void broker_close(struct cluster_peer *peer);

#endif
