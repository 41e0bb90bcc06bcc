/*
 * keep.h — the daemon's side of its keeper (src/keeper/keeper.h, the wire
 * format in common/keepproto.h; docs/architecture.md, "Surviving the
 * daemon's death").
 *
 * The keeper holds a copy of every descriptor the apps depend on, each in
 * an item with a record (JSON) of what it is, plus records of the apps and
 * instances: everything the next daemon needs to take over (adopt.c). This
 * module keeps those items current:
 *
 *   app     KK_APP  app id      its spec (sent when it is created or its
 *                               spec changes): its environment whole, or
 *                               as the id of a KK_ENV item and a delta
 *   env     KK_ENV  env id      an environment base many apps share (the
 *                               daemon's pool, table.c), sent once while
 *                               some app record names it
 *   inst    KK_INST uid         state and counters (after each change)
 *   proc    KK_PROC serial      pid, state, role; pidfd, broker, Node IPC
 *   pipe    KK_PIPE pipe id     an output pipe's read end (logpipe.c)
 *   socket  KK_SOCK member id   a listening socket, its group and index
 *   notify  KK_NOTIFY 0 or 1    the sd_notify sockets (notify.c)
 *   meta    KK_META 0           the next pm_id
 *
 * Records of instances and processes are marked dirty when they change and
 * sent once per loop iteration (keep_flush, a loop hook); descriptors are
 * sent when they are opened. Sends never block: what the socket does not
 * take waits in a queue (descriptors duplicated) until it is writable. If
 * the keeper dies, a new one is started as our child and gets everything
 * again.
 */
#ifndef CORRAL_KEEP_H
#define CORRAL_KEEP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cluster/cluster.h"
#include "common/idmap.h"
#include "common/keepproto.h"
#include "ev/loop.h"

struct app;
struct inst;
struct proc;
struct event;

enum keep_kind {
	KK_META = 1,
	KK_APP,
	KK_INST,
	KK_PROC,
	KK_PIPE,
	KK_SOCK,
	KK_NOTIFY,
	KK_ENV,
};
#define KK_LAST KK_ENV

#define KEEP_ID_BITS 56
#define KEEP_KEY(kind, id) (((uint64_t)(kind) << KEEP_ID_BITS) | \
	((uint64_t)(id) & ((1ull << KEEP_ID_BITS) - 1)))
#define KEEP_KIND(key) ((int)((key) >> KEEP_ID_BITS))
#define KEEP_ID(key) ((key) & ((1ull << KEEP_ID_BITS) - 1))

/* What a keeper handed over: each item's record and descriptors (an entry
 * of fds set to -1 once taken). */
struct keep_item {
	uint64_t key;
	json_t *rec;
	int fds[KEEP_MAX_FDS];
	unsigned nfds;
};

struct keep_items {
	struct keep_item *v;
	size_t n;
};

/* Close the descriptors nobody took and free the records. */
void keep_items_free(struct keep_items *items);

/* The KK_ENV items' environments by id, in envs (borrowed from items;
 * idmap_free() it). */
void keep_env_index(const struct keep_items *items, struct idmap *envs);
/* The spec of a KK_APP record with its whole environment (a new object),
 * whichever form the record has; NULL with *err when the environment it
 * names is not in envs (keep_env_index()). For adoption and for `corral
 * update`'s check. */
json_t *keep_app_spec(const struct idmap *envs, const json_t *rec, char **err);

/*
 * At start-up, with the pid lock held and before anything else is set up:
 * find the keeper — the connection our keeper started us with, or the one
 * listening on keeper.sock — and take everything it holds into *got. With
 * no keeper, this process forks: the parent becomes the keeper (exec
 * `corral keeper`) and the child goes on as the daemon, in a new session.
 * *found says whether a keeper answered (else nothing could be adopted).
 * Never fails: without a keeper, the daemon runs as before.
 */
void keep_attach(struct keep_items *got, bool *found);
/* With the loop running and the table rebuilt: send the keeper everything
 * (a new generation of items) and keep it current from now on. */
void keep_start(void);
/* The control socket listens: a keeper that started us may let `corral`
 * commands in. */
void keep_ready(void);
/* Orderly exit, every app stopped: tell the keeper to go, and wait (a
 * little) until it has. */
void keep_bye(void);
/* Free what is left (daemon exit). */
void keep_close(void);
/* The keeper's pid, 0 when there is none. */
pid_t keep_pid(void);

/* ---- for `corral update` (update.c) ---- */

/* Write the record of every item the keeper holds (without descriptors) to
 * fd as ITEM frames, then END with KEEP_VERSION: what a new binary reads
 * to prove it can take over. Blocking on fd. 0, or -errno (-ENOTCONN
 * without a keeper). */
int keep_dump(int fd);
/* Send the keeper every record marked dirty and everything queued,
 * waiting at most timeout_ms: afterwards it holds this very state. 0, or
 * -errno (-ENOTCONN without a live keeper). */
int keep_sync_now(int timeout_ms);
/* The connection to the live keeper, or -1. */
int keep_fd(void);

/* Descriptors: an item with a record (consumed) and fds (copied by the
 * keeper; still the caller's). */
void keep_put(enum keep_kind kind, uint64_t id, json_t *rec, const int *fds, unsigned nfds);
void keep_del(enum keep_kind kind, uint64_t id);

/* A process was started: its pidfd and channels go to the keeper. */
void keep_proc_started(struct proc *p);
/* Its record changed (state, role): sent after this loop iteration. */
void keep_mark_proc(struct proc *p);
/* The same for an instance (and its processes). */
void keep_mark_inst(struct inst *in);

/* Events handler: instance and app records follow the table. */
void keep_on_event(const struct event *ev, void *arg);
/* Loop hook: send the records marked dirty. */
void keep_flush(struct loop *l, void *arg);
/* cluster_ops.member: a listening socket came, changed or goes. */
void keep_member(void *arg, enum cluster_member_event ev, const struct cluster_member_info *m);

#endif
