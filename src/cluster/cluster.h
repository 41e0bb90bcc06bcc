/*
 * cluster.h — cluster mode: the listening sockets the daemon owns for its
 * apps, handed to instances over the broker channel (libcorral-preload.so)
 * or as LISTEN_FDS, and the steering that spreads connections over them.
 *
 * This layer sits below the supervisor and knows nothing of its table: the
 * daemon describes an instance as a `struct cluster_slot`, each process it
 * starts as a `struct cluster_peer`, and pushes what changes ("this peer
 * takes traffic now", "it exited", "the instance is idle"). Cluster mode
 * calls back through `struct cluster_ops` for the two things only the
 * daemon knows. It runs on the loop it is given.
 *
 * Listener groups are created lazily: when a peer binds a TCP port over its
 * broker channel, or when cluster_listen_fds() reserves the sockets of an
 * app's `listen` addresses for a process about to be spawned. Every call is
 * cheap for apps that use neither.
 */
#ifndef CORRAL_CLUSTER_H
#define CORRAL_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/spec.h"
#include "ev/loop.h"

struct cluster;
struct cluster_peer;

/* An instance slot (what `list` shows as a row) as cluster mode sees it.
 * The spec is borrowed for the duration of a call; a peer
 * keeps the spec pointer until cluster_peer_unslot() or cluster_peer_free(),
 * so it must stay valid that long (the daemon's app owns it). */
struct cluster_slot {
	uint64_t app_id;            /* never reused */
	const struct spec *spec;    /* name, lb, share_ports, listen, inspector options */
	uint64_t uid;               /* the instance: never reused, unlike pm_id */
	int pm_id;
	int inspect_port;           /* its Node inspector's own port, 0 if none */
};

/* A listening socket of a group ("member"), as the daemon records it for
 * its keeper: enough for the next daemon to put it back in its group, in
 * the kernel's SO_REUSEPORT order, with the process using it. */
struct cluster_member_info {
	uint64_t id;                /* never reused by this cluster */
	int fd;                     /* borrowed */
	uint64_t app_id;
	int family;                 /* AF_INET or AF_INET6 */
	char host[48];              /* numeric address */
	uint16_t port;
	bool v6only;
	int lb;                     /* enum lb_kind */
	unsigned index;             /* in the kernel's order (reuseport groups) */
	uint64_t slot_uid;
	int pm_id;
	void *owner;                /* the owner of the peer using it, NULL if none */
	bool reserved;              /* LISTEN_FDS for a process being spawned */
};

enum cluster_member_event {
	CLUSTER_MEMBER_NEW,         /* a socket was opened */
	CLUSTER_MEMBER_CHANGED,     /* its index or its peer changed */
	CLUSTER_MEMBER_GONE,        /* it is being closed */
};

struct cluster_ops {
	/* The peer's process bound a shared port: how is "bound <address>". */
	void (*bound)(void *owner, const char *how);
	/* Is the slot's serving process ready (and not stopping), and since
	 * when (CLOCK_MONOTONIC ms)? Decides when a socket kept for the slot's
	 * next process is given up (cluster_sweep_orphans). */
	bool (*slot_serving_since)(void *arg, uint64_t slot_uid, int64_t *since_ms);
	/* A member socket came, changed or goes (for the keeper); may be NULL. */
	void (*member)(void *arg, enum cluster_member_event ev,
	    const struct cluster_member_info *m);
};

/* A cluster on loop l; ops and arg are kept (arg is passed to
 * slot_serving_since). Never fails. */
struct cluster *cluster_new(struct loop *l, const struct cluster_ops *ops, void *arg);
/* Each app may make the daemon hold at most per_app listening sockets
 * (0: no limit): its binds beyond get EMFILE, and the daemon's other
 * descriptors stay for everything else. */
void cluster_set_socket_share(struct cluster *c, size_t per_app);
/* Close every socket, relayed connection and broker channel (daemon exit).
 * Peers still alive are freed too; their owners must not use them after. */
void cluster_free(struct cluster *c);

/* Sockets for the slot's `listen` addresses, to pass at fds 3.. (borrowed,
 * stay owned by the group), reserved for the slot's next peer. Returns how
 * many, or -1 with *err. *names is set to the colon-separated
 * LISTEN_FDNAMES (caller frees) when > 0. */
int cluster_listen_fds(struct cluster *c, const struct cluster_slot *slot, int *fds,
    size_t max, char **names, char **err);

/*
 * A listening socket for one process's broker address, to pass to
 * cluster_peer_new: its address ("@corral-broker-<daemon pid>-<random>",
 * for $CORRAL_BROKER_SOCKET) is written to address. The fd, or -errno with
 * *err (address is then ""): the process still has its inherited channel.
 */
int cluster_broker_listen(char *address, size_t cap, char **err);
/*
 * A process started for a slot. broker_fd is the daemon's end of its broker
 * channel and broker_listen_fd the socket of its broker address (both taken
 * over; -1 when it has none); owner is passed back in ops->bound. The peer
 * claims the sockets reserved for its slot by cluster_listen_fds(). It
 * starts without traffic.
 */
struct cluster_peer *cluster_peer_new(struct cluster *c, const struct cluster_slot *slot,
    pid_t pid, int broker_fd, int broker_listen_fd, void *owner);
/* Whether the process was given a broker at all and (*asked) whether any
 * process of it has sent a request on it yet. A cluster server that never
 * asks within listen_timeout could not reach it (the preload library says
 * why on its stderr) and binds its ports alone. */
bool cluster_peer_broker(const struct cluster_peer *peer, bool *asked);
/* Whether new connections may go to the peer's sockets: ready, not exited,
 * not stopping, not replaced. Re-steers the peer's groups when it changes. */
void cluster_peer_set_traffic(struct cluster_peer *peer, bool on);
/* The process exited: no traffic, binds are refused, describe shows pid 0. */
void cluster_peer_exited(struct cluster_peer *peer);
/* The process no longer belongs to its slot (the instance was deleted or
 * gave up on it): its later binds are passed through, not shared. */
void cluster_peer_unslot(struct cluster_peer *peer);
/* True when no socket used only by the peer holds queued connections. */
bool cluster_peer_drained(const struct cluster_peer *peer);
/* The process is gone for good: close its channel and release its sockets
 * (the peer itself is freed after the loop's current batch).
 * With keep_for_slot (it was its slot's serving process), they are kept
 * for the slot's next process (after a crash or a restart) with their
 * queues; otherwise they are closed, their queued connections relayed to
 * the rest of the group. */
void cluster_peer_free(struct cluster_peer *peer, bool keep_for_slot);

/* Close the sockets kept for a slot's next process that its serving
 * process, ready for a while, did not take: it binds other ports now (a new
 * release), and nobody would accept there. Called periodically. */
void cluster_sweep_orphans(struct cluster *c);
/* The slot stopped or errored: close its kept sockets, and the app's groups
 * once no other instance of the app runs (app_still_running false). */
void cluster_slot_idle(struct cluster *c, uint64_t app_id, uint64_t slot_uid,
    bool app_still_running);
/* ---- handing the sockets over to the next daemon (handover.c) ---- */

/* Call fn for every member socket (to send them all to a new keeper). */
void cluster_foreach_member(struct cluster *c,
    void (*fn)(void *arg, const struct cluster_member_info *m), void *arg);
/* The daemon's end of the peer's inherited broker channel, -1 if closed. */
int cluster_peer_broker_fd(const struct cluster_peer *peer);
/* The listening socket of the peer's broker address, -1 if none. */
int cluster_peer_broker_listen_fd(const struct cluster_peer *peer);
/* Put back a member socket the previous daemon had (fd taken over), used
 * by peer (NULL: kept for the slot's next process). The members of a group
 * must come in their index order. 0, or -errno with *err (fd closed). */
int cluster_adopt_member(struct cluster *c, const struct cluster_slot *slot,
    const struct cluster_member_info *m, int fd, struct cluster_peer *peer, char **err);
/* Every member is back: steer every group, sample the least-busy ones. */
void cluster_adopt_done(struct cluster *c);

/* The listener groups of an app (a new reference): address, lb, size (its
 * members), in_rotation (those taking connections), queued (shared), and
 * every member. */
json_t *cluster_describe(struct cluster *c, uint64_t app_id);
/* The same with only the members of one slot: what jlist and describe show
 * of each instance, so that listing n instances costs n, not n². */
json_t *cluster_describe_slot(struct cluster *c, uint64_t app_id, uint64_t slot_uid);

#endif
