/*
 * triggers.h — things that restart an app by themselves: cron_restart,
 * watch (inotify), max_memory_restart (checked by the sampler).
 */
#ifndef CORRAL_TRIGGERS_H
#define CORRAL_TRIGGERS_H

#include "ev/loop.h"

struct app;
struct event;

/* Arm the app's cron and watch triggers from its spec (again after a spec
 * change). */
void triggers_start(struct app *a);
void triggers_stop(struct app *a);
/* Events handler (EV_APP_REMOVE): a removed app's triggers stop. */
void triggers_on_event(const struct event *ev, void *arg);
/* Turn watching on or off (--watch on start/restart/stop). */
void triggers_set_watch(struct app *a, bool on);

#endif
