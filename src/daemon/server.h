/*
 * server.h — the control socket: clients, the JSON-lines protocol
 * (docs/protocol.md), replies, and live subscriptions (logs, events).
 *
 * Every client is checked with SO_PEERCRED (same uid as the daemon, or
 * root) and must say hello with the protocol version first. A line longer
 * than PROTO_MAX_LINE, bytes that are not JSON, or a connection closed in the
 * middle of a line get an error reply and the client is dropped; the daemon
 * serves the others as before. Pushes to a slow subscriber are dropped
 * (and counted) once its queue is full, so a stalled `corral logs` never
 * grows the daemon; the memory held for all clients is bounded too (the
 * rules are at the top of server.c).
 *
 * Slots: at most D->max_clients clients (1024, or a quarter of the
 * descriptor limit), most of them subscribed. A connection that says no
 * hello within 5 s, or a client that holds no subscription and waits for no
 * reply and sends no request (nor reads) for the idle timeout, is closed;
 * when every slot is taken or the descriptors ran out, the client idle the
 * longest among those makes room for the newcomer.
 */
#ifndef CORRAL_SERVER_H
#define CORRAL_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"

#define PROTO_VERSION 1
#define PROTO_MAX_LINE (4u << 20)

struct client;
struct event;
struct inst;

/* Listen on the control socket (or take the one CORRAL_CONTROL_FD names,
 * inherited across `corral update`'s exec). 0 or -errno with *err. */
int server_listen(char **err);
void server_close_all(void);
/* Clients connected now (`corral web`'s metrics). */
size_t server_client_count(void);
/* The listening control socket (update.c keeps it across the exec). */
int server_listen_fd(void);

/* Reply {"id":id,"ok":true, ...result's members}; result is consumed. */
void client_reply(struct client *c, json_t *id, json_t *result);
/* client_reply() with one more member, key, whose value is the JSON text
 * given (compact, UTF-8): a big value is written once, not built as a tree
 * and serialized again. */
void client_reply_text(struct client *c, json_t *id, json_t *result, const char *key,
    const char *text, size_t len);
/* Queue one preformatted line (no newline inside) right after a reply. */
void client_send_line(struct client *c, const char *text);
/*
 * A reply too long to hold at once (the list of a thousand apps): after the
 * reply that announces it, next(arg, &len) gives its lines one at a time
 * (malloc'd, each ending with its newline; the server frees them), NULL
 * after the last. A line is made only when the client has read the one
 * before, so the client holds one line of it at a time however long the
 * whole is, and it reads the first before the last is made. No other reply
 * of c is sent (nor request read) in between. free_arg(arg) when it is
 * over or c went away.
 */
typedef char *(*stream_next_fn)(void *arg, size_t *len);
void client_stream(struct client *c, stream_next_fn next, void *arg, void (*free_arg)(void *));
void client_error(struct client *c, json_t *id, const char *code,
    const char *fmt, ...) PRINTFLIKE(4, 5);
/* False once c was dropped (its memory lasts until the loop iteration ends). */
bool client_alive(const struct client *c);
/* An op of c finished (c may be NULL): close c if it only waited for it. */
void client_op_done(struct client *c);
/* Write c's pending output now, waiting at most timeout_ms (the loop does
 * not run meanwhile: only before an exec). */
void client_flush_now(struct client *c, int timeout_ms);
/* After the pending output is written, close the connection. */
void client_close_after_flush(struct client *c);

/* Subscribe c to the log lines of these apps and instances (objects keyed
 * by decimal app id / instance uid, values their names; both NULL: every
 * line); it is told when one of them is deleted. */
void client_subscribe_logs(struct client *c, json_t *apps, json_t *insts, bool out, bool err);
void client_subscribe_events(struct client *c);

/* Push an event about in to the clients that subscribed to events. */
void server_publish_event(struct inst *in, const char *event);
/* Events handler (daemon.c subscribes it): instance state changes, exits,
 * deletions and app messages to event subscribers, log lines to log
 * subscribers. */
void server_on_event(const struct event *ev, void *arg);

#endif
