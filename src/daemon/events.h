/*
 * events.h — what the model (table.c) and the life cycle (supervise.c,
 * logpipe.c, ...) tell the rest of the daemon, without knowing who listens.
 *
 * The layers inside src/daemon run model → life cycle → control plane
 * (server.c, op.c, commands.c, reload.c). A lower layer never calls a higher
 * one: it emits an event, and daemon.c subscribes the handlers at start-up,
 * as Redis registers its beforesleep hook. Handlers run synchronously,
 * inside the emit, in the order they subscribed; the objects in the event
 * are valid for the duration of the call only.
 */
#ifndef CORRAL_EVENTS_H
#define CORRAL_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct app;
struct inst;

enum event_kind {
	EV_INST_NEW,        /* in was created (STOPPED, no process yet) */
	EV_INST_STATE,      /* in changed state (what: the state's name) */
	EV_INST_EXIT,       /* in's serving process exited (what: "exit") */
	EV_INST_REMOVE,     /* in is being removed: still linked, no process */
	EV_INST_MSG,        /* in's Node app sent msg with process.send() */
	EV_APP_CHANGED,     /* app was created, or its spec changed */
	EV_APP_REMOVE,      /* app is being removed, its instances are gone */
	EV_LOG,             /* a line (or part of one) of an app's output */
	EV_CHANGED,         /* something requests may wait on changed */
	EV_REAPED,          /* a child no process of ours accounts for was reaped
	                     * (pid, wstatus): an orphan, or `corral runtime`'s
	                     * own `corral start` */
	EV_AGENT_MSG,       /* corral's agent in in's process pid sent msg */
	EV_KINDS
};

struct event {
	enum event_kind kind;
	struct app *app;
	struct inst *in;
	const char *what;       /* EV_INST_STATE, EV_INST_EXIT, EV_INST_REMOVE */
	json_t *msg;            /* EV_INST_MSG, EV_AGENT_MSG (borrowed) */
	/* EV_LOG: */
	uint64_t app_id;
	uint64_t inst_uid;
	int pm_id;
	const char *name;       /* the app's name */
	const char *stream;     /* "out" or "err" */
	const char *data;       /* without the newline */
	size_t len;
	bool eol;               /* the line ends here */
	/* EV_REAPED, EV_AGENT_MSG: */
	int pid;
	int wstatus;
};

typedef void (*event_fn)(const struct event *ev, void *arg);

/* Call fn(ev, arg) for every event of this kind from now on. */
void events_on(enum event_kind kind, event_fn fn, void *arg);
/* Drop every subscription (daemon exit, tests). */
void events_reset(void);

void events_emit(const struct event *ev);

/* The common cases, spelled out. */
void events_inst(enum event_kind kind, struct inst *in, const char *what);
void events_changed(void);

#endif
