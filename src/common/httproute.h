/*
 * httproute.h — what `corral web` makes of the parts of an HTTP request
 * that are ours to read (libmicrohttpd parses the HTTP itself): the route
 * of a path, the Accept header, a bearer token, and the address a server
 * listens on. Pure functions, no I/O, fuzzed (tests/fuzz/fuzz_httproute.c).
 * docs/web.md lists the routes.
 */
#ifndef CORRAL_HTTPROUTE_H
#define CORRAL_HTTPROUTE_H

#include <stdbool.h>
#include <stddef.h>

enum route_kind {
	ROUTE_NONE,
	ROUTE_DASHBOARD,      /* GET / */
	ROUTE_HEALTHZ,        /* GET /healthz */
	ROUTE_READYZ,         /* GET /readyz */
	ROUTE_METRICS,        /* GET /metrics */
	ROUTE_PROCESSES,      /* GET /api/v1/processes */
	ROUTE_PROCESS,        /* GET /api/v1/processes/{target} */
	ROUTE_LOGS,           /* GET /api/v1/logs/{target} */
	ROUTE_EVENTS,         /* GET /api/v1/events (Server-Sent Events) */
	ROUTE_SAMPLES,        /* GET /api/v1/samples (the dashboard's history) */
	ROUTE_ACTION,         /* POST /api/v1/processes/{target}/{action} */
	ROUTE_SCALE,          /* POST /api/v1/apps/{name}/scale */
};

/* The longest target (a name, a pm_id) a path may carry, decoded. */
#define ROUTE_TARGET_MAX 256

struct route {
	enum route_kind kind;
	char target[ROUTE_TARGET_MAX + 1]; /* percent-decoded, no '/' nor NUL */
	const char *action;                /* "restart", "reload", "stop", "start" */
};

/*
 * Match method and path (without the query). Returns the HTTP status: 200
 * with *r filled; 404 for a path that names nothing (or a target that is
 * empty, too long, or badly encoded); 405 for a known path asked with
 * another method (then *allow is the method it takes).
 */
int route_parse(const char *method, const char *path, struct route *r, const char **allow);

/* Whether an Accept header asks for OpenMetrics rather than Prometheus's
 * text format (the media type listed with a non-zero quality). */
bool accept_wants_openmetrics(const char *accept);

/* Whether an Authorization header carries "Bearer <token>" with this
 * token. The comparison takes the same time wherever they differ. */
bool bearer_matches(const char *authorization, const char *token);

/*
 * Parse a listen address: "host:port", "[v6]:port" or a bare port (then
 * 127.0.0.1). host must be a numeric IPv4 or IPv6 address (no name lookup:
 * the daemon's loop must not wait on DNS). 0 with host (cap bytes) and
 * *port filled, or -1 with *err (one line, caller frees).
 */
int listen_parse(const char *s, char *host, size_t cap, int *port, char **err);

/* Whether a listen address parsed by listen_parse is a loopback one. */
bool listen_is_loopback(const char *host);

/* Whether a Host header names this machine's loopback: localhost, an
 * address of 127.0.0.0/8 or [::1], with or without a port. A server bound
 * to loopback answers only those, so a web page whose name an attacker
 * points at 127.0.0.1 (DNS rebinding) cannot read it from a browser. */
bool host_header_is_loopback(const char *host);

#endif
