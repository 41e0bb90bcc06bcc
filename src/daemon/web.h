/*
 * web.h — `corral web`: the daemon's HTTP server (libmicrohttpd, driven by
 * the daemon's own loop: no thread). Prometheus metrics, a JSON API with
 * actions behind a bearer token, health endpoints, Server-Sent Events and
 * the dashboard page. docs/web.md documents the endpoints; docs/
 * architecture.md ("corral web") why it is built this way.
 */
#ifndef CORRAL_WEB_H
#define CORRAL_WEB_H

#include <jansson.h>
#include <stdbool.h>

#include "common/util.h"

struct event;

/* Serve on listen ("host:port"), the token read from token_file (NULL or
 * "": read-only). A server already running on another address is replaced
 * only once the new one listens (on the same address, it closes first).
 * 0, or -errno with *err (one line). */
int web_start(const char *listen, const char *token_file, char **err);
/* Stop serving (closing every connection); a no-op when off. */
void web_stop(void);
/* {"listening": false} or {"listening": true, "listen", "token", ...}. */
json_t *web_status_json(void);
/* At start-up: CORRAL_WEB_LISTEN / CORRAL_WEB_TOKEN_FILE, else the
 * settings (web:listen, web:token_file). Errors go to daemon.log. */
void web_init(void);
/* settings.json changed (`corral set web:listen ...`): apply it. 0 or
 * -errno with *err. */
int web_reload_settings(char **err);
/* Events handler (daemon.c subscribes it): pushes to the SSE streams. */
void web_on_event(const struct event *ev, void *arg);

/* /metrics as text (webmetrics.c): Prometheus's format, or OpenMetrics. */
void web_metrics(struct sbuf *b, bool openmetrics);
/* /readyz: true when every app that should be online is; else the
 * instances missing, as a JSON array appended to b. */
bool web_ready(struct sbuf *b);

#endif
