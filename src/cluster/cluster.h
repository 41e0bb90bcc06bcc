/*
 * cluster.h — what the supervisor asks of cluster mode (src/cluster).
 *
 * Listener groups are created lazily: when an instance's app binds a TCP
 * port (through libcorral-preload.so, over the broker channel) or when a
 * process is spawned with `listen` addresses (socket activation). Every hook
 * below is a no-op for fork-mode apps.
 */
#ifndef CORRAL_CLUSTER_H
#define CORRAL_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct app;
struct inst;
struct proc;

/* Sockets for the app's `listen` addresses, to pass at fds 3.. (borrowed,
 * stay owned by the group). Returns how many, or -1 with *err. *names is
 * set to the colon-separated LISTEN_FDNAMES (caller frees) when > 0. */
int cluster_listen_fds(struct inst *in, int *fds, size_t max, char **names, char **err);
/* Watch p's broker channel (p->broker_fd) for bind requests. */
void cluster_proc_attach(struct proc *p);
/* p became ready, exited, started stopping or retiring: recompute which
 * sockets get new connections. */
void cluster_proc_changed(struct proc *p);
/* True when no socket used only by p holds queued connections. */
bool cluster_proc_drained(const struct proc *p);
/* p is gone for good: close its channel, release its sockets (kept for
 * the instance's replacement, or closed when the instance has another). */
void cluster_proc_detach(struct proc *p);
/* Close the sockets kept for an instance's next process (after a crash or
 * a restart) that its serving process, ready for a while, did not take: it
 * binds other ports now (a new release), and nobody would accept there.
 * Called periodically. */
void cluster_sweep_orphans(void);
/* The instance stopped or errored: close its sockets (free the port once
 * no instance of the app runs). */
void cluster_inst_idle(struct inst *in);
/* Listener groups of an app for describe/jlist. */
json_t *cluster_describe(const struct app *a);

#endif
