/*
 * events.c — subscriber lists, one per kind (events.h).
 */
#include "daemon/events.h"

#include <stdlib.h>

#include "common/util.h"

struct sub {
	event_fn fn;
	void *arg;
};

static struct {
	struct sub *v;
	size_t n, cap;
} subs[EV_KINDS];

void
events_on(enum event_kind kind, event_fn fn, void *arg)
{
	if (subs[kind].n == subs[kind].cap) {
		subs[kind].cap = subs[kind].cap ? subs[kind].cap * 2 : 4;
		subs[kind].v = xrealloc(subs[kind].v, subs[kind].cap * sizeof(*subs[kind].v));
	}
	subs[kind].v[subs[kind].n++] = (struct sub){fn, arg};
}

void
events_reset(void)
{
	for (size_t k = 0; k < EV_KINDS; k++) {
		free(subs[k].v);
		subs[k].v = NULL;
		subs[k].n = subs[k].cap = 0;
	}
}

void
events_emit(const struct event *ev)
{
	for (size_t i = 0; i < subs[ev->kind].n; i++)
		subs[ev->kind].v[i].fn(ev, subs[ev->kind].v[i].arg);
}

void
events_inst(enum event_kind kind, struct inst *in, const char *what)
{
	events_emit(&(struct event){.kind = kind, .in = in, .what = what});
}

void
events_changed(void)
{
	events_emit(&(struct event){.kind = EV_CHANGED});
}
