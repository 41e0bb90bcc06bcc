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
struct inst;
struct op;
struct client;

/* Reload these instances of app (all belong to it). The reload replies to
 * the client itself when done. */
void reload_start(struct client *c, json_t *req_id, struct app *app,
    struct inst **insts, size_t n, int parallel);
/* Abort a reload in progress (the app is being deleted or stopped). */
void reload_cancel(struct app *app);

#endif
