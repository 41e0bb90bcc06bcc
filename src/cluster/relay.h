/*
 * relay.h — hand a closing listener's queued connections on to the rest of
 * its group, without privilege.
 *
 * Closing a SO_REUSEPORT listener resets every connection in its accept
 * queue (measured: 88 of 88 reset, docs/architecture.md); only root can ask the kernel to migrate
 * them (net.ipv4.tcp_migrate_req). When a member must close while clients
 * wait in its queue and no process will ever accept them (its instance
 * stopped for good: a crash with autorestart off, a stop deadline), the
 * daemon accepts them itself and relays each one to the group's address,
 * where the steering program (which already gives the closing member weight
 * 0) picks a live instance. The app sees the connection come from the
 * daemon's loopback address. Only these leftovers ever take this path;
 * normal traffic never touches the daemon.
 *
 * Each relayed connection copies bytes both ways through one bounded buffer
 * per direction, passes half-closes on, and ends when both directions are
 * closed, on any error, or after RELAY_IDLE_MS without traffic.
 */
#ifndef CORRAL_RELAY_H
#define CORRAL_RELAY_H

#include <sys/socket.h>

#include "ev/loop.h"

struct relays;

/* The relayed connections of one cluster, on loop l. */
struct relays *relays_new(struct loop *l);
/* Close every relayed connection and free the set (daemon exit). */
void relays_free(struct relays *set);
/* Accept everything queued on listen_fd (which the caller then closes) and
 * relay each connection to dst. Returns how many connections are relayed. */
int relays_take_queue(struct relays *set, int listen_fd, const struct sockaddr *dst,
    socklen_t dst_len);

#endif
