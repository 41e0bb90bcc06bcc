/*
 * conn.h — the CLI's connection to the daemon.
 *
 * conn_open() connects to $CORRAL_HOME/corral.sock, starting the daemon
 * when none answers: under an flock on daemon.lock, so that concurrent
 * first commands start exactly one daemon, the client re-tries the
 * connection, and only then spawns `corral daemon` (double fork, own
 * session) and waits for it to report that its socket is up.
 */
#ifndef CORRAL_CONN_H
#define CORRAL_CONN_H

#include <jansson.h>
#include <stdbool.h>

#include "common/linebuf.h"
#include "common/paths.h"

struct conn {
	int fd;
	struct linebuf in;
	int next_id;
	int daemon_pid;
	bool env_base;      /* the daemon takes a start's shared env once */
	bool hung_up;       /* the daemon closed the connection */
	json_t *early;      /* replies read before their conn_wait(), by id */
};

/* Connect (and say hello); with autostart, start the daemon if needed.
 * 0, -ENOENT (no daemon and !autostart), or another -errno with *err. */
int conn_open(const struct paths *p, bool autostart, struct conn *c, char **err);
void conn_close(struct conn *c);

/* Send a request (the "id" is added) and wait up to timeout_ms for its
 * reply. Returns the reply (new reference) when ok; NULL with *err set to
 * the daemon's message (or a transport error) otherwise. */
json_t *conn_call(struct conn *c, json_t *req, int timeout_ms, char **err);
/* Send a request without waiting for its reply (the "id" is added, an
 * integer: returned, or -errno). For a client that reads replies and pushes
 * as they come (monit), or sends several requests before their replies:
 * replies that come while it waits to write are kept for conn_wait(). */
int conn_send(struct conn *c, json_t *req);
/* The reply to the request conn_send() returned id for (an id < 0 is its
 * error), as conn_call(). Replies to other requests read meanwhile are
 * kept for their own conn_wait(); pushes are dropped. */
json_t *conn_wait(struct conn *c, int id, int timeout_ms, char **err);
/* The next pushed line (for logs -f); NULL at EOF or timeout (timeout_ms
 * < 0 waits forever). */
json_t *conn_next(struct conn *c, int timeout_ms);
/* The next line as it came, NUL-terminated, valid until the next read; NULL
 * at EOF or timeout. For replies whose payload follows on its own line. */
char *conn_next_line(struct conn *c, int timeout_ms, size_t *len);

/* Is a daemon answering for this home? */
bool conn_daemon_running(const struct paths *p);

#endif
