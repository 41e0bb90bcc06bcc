/*
 * logfile.c — shared append-only log files.
 */
#include "daemon/logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/state.h"

/* A hold older than this is broken: the app stopped in the middle of a huge
 * line, and the other writers of the file must not wait for it forever. */
#define HOLD_TIMEOUT_MS 2000

/* Open a log file for appending. Only regular files (and /dev/null): a
 * FIFO or a device would block the daemon's loop in open() or write(). */
static int
open_log(const char *path)
{
	int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	int fd = open(path, flags, 0640);
	if (fd < 0 && errno == ENOENT) {
		/* Only then the directories: not a mkdir per file opened. */
		char *dir = xstrdup(path);
		mkdir_p(dirname(dir), 0700);
		free(dir);
		fd = open(path, flags, 0640);
	}
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || (!S_ISREG(st.st_mode) && strcmp(path, "/dev/null") != 0)) {
		close(fd);
		return -EINVAL;
	}
	fd_set_nonblock(fd, false);
	return fd;
}

struct logfile *
logfile_get(const char *path, char **err)
{
	uint64_t h = idmap_hash_str(path);
	struct logfile *lf;
	for (lf = idmap_get(&D->logfiles_by_path, h); lf; lf = lf->path_next) {
		state_step();
		if (strcmp(lf->path, path) == 0) {
			lf->refs++;
			return lf;
		}
	}
	int fd = open_log(path);
	if (fd < 0) {
		*err = fd == -EINVAL ? xasprintf("log file %s is not a regular file", path)
		    : xasprintf("cannot open log file %s: %s", path, strerror(-fd));
		return NULL;
	}
	lf = xcalloc(1, sizeof(*lf));
	lf->path = xstrdup(path);
	lf->fd = fd;
	lf->refs = 1;
	LIST_INSERT_HEAD(&D->logfiles, lf, link);
	idmap_chain_add(&D->logfiles_by_path, h, lf, offsetof(struct logfile, path_next));
	return lf;
}

void
logfile_put(struct logfile *lf)
{
	if (!lf || --lf->refs > 0)
		return;
	LIST_REMOVE(lf, link);
	idmap_chain_del(&D->logfiles_by_path, idmap_hash_str(lf->path), lf,
	    offsetof(struct logfile, path_next));
	/* The index's memory goes with the last file (daemon exit). */
	if (LIST_EMPTY(&D->logfiles))
		idmap_free(&D->logfiles_by_path);
	close(lf->fd);
	free(lf->path);
	free(lf);
}

static bool
held_by_other(struct logfile *lf, const void *writer)
{
	if (!lf->holder || lf->holder == writer)
		return false;
	if (mono_ms() - lf->held_since_mono > HOLD_TIMEOUT_MS) {
		lf->holder = NULL;
		return false;
	}
	return true;
}

/* Write all of iov; on a short write continue with the rest. */
static int
writev_all(int fd, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0) {
		ssize_t n = writev(fd, iov, iovcnt);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

bool
logfile_write(struct logfile *lf, const void *writer, const struct iovec *iov, int iovcnt)
{
	if (held_by_other(lf, writer))
		return false;
	if (lf->dropped > 0) {
		char note[160];
		int n = snprintf(note, sizeof(note), "[corral] %lld log lines lost: %s\n",
		    (long long)lf->dropped, strerror(lf->last_errno));
		struct iovec v = {note, (size_t)n};
		if (writev_all(lf->fd, &v, 1) == 0)
			lf->dropped = 0;
	}
	struct iovec copy[8];
	if (iovcnt > 8)
		iovcnt = 8;
	memcpy(copy, iov, sizeof(*iov) * (size_t)iovcnt);
	int rc = writev_all(lf->fd, copy, iovcnt);
	if (rc < 0) {
		if (lf->dropped == 0 || lf->last_errno != -rc)
			dlog("log file %s: write failed: %s; dropping lines until it works again",
			    lf->path, strerror(-rc));
		lf->dropped++;
		lf->last_errno = -rc;
	}
	return true;
}

void
logfile_hold(struct logfile *lf, const void *writer)
{
	if (lf->holder != writer) {
		lf->holder = writer;
		lf->held_since_mono = mono_ms();
	}
}

void
logfile_release(struct logfile *lf, const void *writer)
{
	if (lf->holder == writer)
		lf->holder = NULL;
}

int
logfile_truncate(struct logfile *lf)
{
	return ftruncate(lf->fd, 0) < 0 ? -errno : 0;
}

size_t
logfile_reopen_all(char **first_error)
{
	size_t failed = 0;
	struct logfile *lf;
	LIST_FOREACH(lf, &D->logfiles, link) {
		state_step();
		int fd = open_log(lf->path);
		if (fd < 0) {
			dlog("reopen %s: %s (still writing to the old file)", lf->path, strerror(-fd));
			if (failed++ == 0 && first_error)
				*first_error = xasprintf("%s: %s", lf->path, strerror(-fd));
			continue;
		}
		dup3(fd, lf->fd, O_CLOEXEC);
		close(fd);
	}
	return failed;
}
