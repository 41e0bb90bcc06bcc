/*
 * fdreserve.c — descriptors kept for the daemon's own work (fdreserve.h).
 */
#include "daemon/fdreserve.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/state.h"

static int
open_spare(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static bool
out_of_fds(int err)
{
	return err == EMFILE || err == ENFILE || err == -EMFILE || err == -ENFILE;
}

/* Fill the spawn reserve up; true when it is full. */
static bool
fill(void)
{
	fdreserve_refill_accept();
	while (D->fd_reserve_n < FDRESERVE_COUNT) {
		int fd = open_spare();
		if (fd < 0)
			return false;
		D->fd_reserve[D->fd_reserve_n++] = fd;
	}
	return D->accept_spare_fd >= 0;
}

static void
on_refill(struct loop *l, struct timer *t, void *arg)
{
	if (fill())
		dlog("file descriptors are free again: the daemon's reserve is back");
	else
		timer_start(l, t, FDRESERVE_RETRY_MS);
}

void
fdreserve_init(void)
{
	D->accept_spare_fd = -1;
	timer_init(&D->fd_reserve_timer, on_refill, NULL);
	if (!fill())
		timer_start(D->loop, &D->fd_reserve_timer, FDRESERVE_RETRY_MS);
}

bool
fdreserve_release(int err)
{
	if (!out_of_fds(err) || D->fd_reserve_n == 0)
		return false;
	dlog("out of file descriptors: using the daemon's reserve of %d", D->fd_reserve_n);
	while (D->fd_reserve_n > 0)
		close(D->fd_reserve[--D->fd_reserve_n]);
	timer_start(D->loop, &D->fd_reserve_timer, FDRESERVE_RETRY_MS);
	return true;
}

bool
fdreserve_release_for_accept(int err)
{
	if (!out_of_fds(err) || D->accept_spare_fd < 0)
		return false;
	close(D->accept_spare_fd);
	D->accept_spare_fd = -1;
	return true;
}

void
fdreserve_refill_accept(void)
{
	if (D->accept_spare_fd < 0)
		D->accept_spare_fd = open_spare();
}

void
fdreserve_free(void)
{
	timer_stop(D->loop, &D->fd_reserve_timer);
	while (D->fd_reserve_n > 0)
		close(D->fd_reserve[--D->fd_reserve_n]);
	if (D->accept_spare_fd >= 0)
		close(D->accept_spare_fd);
	D->accept_spare_fd = -1;
}
