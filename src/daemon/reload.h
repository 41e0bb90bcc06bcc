/*
 * reload.h — zero-downtime reload of a cluster app, one instance (or
 * --parallel N) at a time:
 *
 *   spawn successor ─▶ wait ready (≤ listen_timeout) ─▶ promote: new socket
 *   weight on, old weight off ─▶ drain old queue ─▶ stop old gracefully
 *
 * If a successor exits or is not ready in time, the reload stops there: the
 * successor is killed, the old instances keep serving, and the request fails
 * naming the instance and the reason. A broken release is never promoted.
 */
#ifndef CORRAL_RELOAD_H
#define CORRAL_RELOAD_H

#include <jansson.h>

struct app;
struct event;
struct inst;
struct op;
struct client;

/* Reload these instances (of any apps): cluster apps without downtime,
 * `parallel` instances at a time per app; fork-mode instances restart. One
 * reply to the client (may be NULL) when everything is over: the listed
 * instances, or an error naming each instance that failed. Refused with
 * "busy" if one of the apps is reloading already. */
void reload_start(struct client *c, json_t *req_id, struct inst **insts, size_t n,
    int parallel);
/* The first app of these instances that is reloading already, or NULL. */
struct app *reload_busy(struct inst **insts, size_t n);
/* Abort a reload in progress (the app is being deleted or stopped). */
void reload_cancel(struct app *app);
/* Events handler (EV_APP_REMOVE): a removed app's reload is cancelled. */
void reload_on_event(const struct event *ev, void *arg);

#endif
