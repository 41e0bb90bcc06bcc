/*
 * state.c — the supervisor's one state object (state.h).
 */
#include "daemon/state.h"

#include <string.h>
#include <unistd.h>

struct daemon *D;

void
state_init(struct daemon *d)
{
	memset(d, 0, sizeof(*d));
	d->ctl_fd = d->sig_fd = d->pid_fd = d->accept_spare_fd = -1;
	d->pid = getpid();
	d->started_wall_ms = wall_ms();
	TAILQ_INIT(&d->apps);
	TAILQ_INIT(&d->insts);
	TAILQ_INIT(&d->procs);
	TAILQ_INIT(&d->clients);
	TAILQ_INIT(&d->ops);
	LIST_INIT(&d->logfiles);
	LIST_INIT(&d->logfiles_uncreated);
	timer_init(&d->logfile_create_timer, NULL, NULL); /* logfile.c sets it */
	LIST_INIT(&d->logpipes);
	D = d;
}
