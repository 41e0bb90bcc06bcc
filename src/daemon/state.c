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

/* A start of a thousand apps comes as a stream of requests. A new file
 * costs an inode (on ext4 without a journal, up to a millisecond after
 * many files were deleted), and files created between the requests made
 * the start take half as long again: file work waits until no process has
 * been started for FILES_QUIET_MS, then catches up. Processes that start
 * all the time (a crash loop) hold it back FILES_DEFER_MAX_MS at most,
 * longer than such a start takes (1.1-1.5 s here; an app's first line
 * creates its log file at once anyway). */
#define FILES_QUIET_MS 20
#define FILES_DEFER_MAX_MS 5000

/* A file costs 30 us on a tmpfs and up to 3 ms on that ext4, in the
 * kernel: a fixed number per turn held the loop 100 ms there, and the
 * replies of a start and the requests after it waited behind each batch.
 * So a turn makes files for FILES_TURN_US at most (one at least), then
 * lets the loop serve what came meanwhile. */
#define FILES_TURN_US 2000

int64_t
state_files_turn_end(void)
{
	return mono_us() + FILES_TURN_US;
}

bool
state_files_turn_over(int64_t end)
{
	return mono_us() >= end;
}

int64_t
state_files_defer_ms(int64_t *since)
{
	int64_t now = mono_ms();
	int64_t quiet = now - D->last_spawn_mono;
	if (quiet >= FILES_QUIET_MS) {
		*since = 0;
		return 0;
	}
	if (!*since)
		*since = now;
	if (now - *since >= FILES_DEFER_MAX_MS)
		return 0;
	return FILES_QUIET_MS - quiet;
}
