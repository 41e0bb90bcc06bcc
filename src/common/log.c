/*
 * log.c — the daemon's own log. The contract is in log.h.
 */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The one log a process writes; -1 while closed. */
static int log_fd = -1;
static char *log_path;
/* The file log_fd is, and how long it is. */
static dev_t log_dev;
static ino_t log_ino;
static int64_t log_size;
static int64_t rotate_at;
static void (*rotate_cb)(void);
static bool rotating;

static int
open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
	return fd < 0 ? -errno : fd;
}

static void
take(int fd)
{
	struct stat st;
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	log_size = 0;
	log_dev = 0;
	log_ino = 0;
	if (fstat(fd, &st) == 0) {
		log_dev = st.st_dev;
		log_ino = st.st_ino;
		log_size = st.st_size;
	}
}

void
log_set_rotation(int64_t max_bytes, void (*rotate)(void))
{
	rotate_at = rotate ? max_bytes : 0;
	rotate_cb = rotate;
}

int
log_open(const char *path)
{
	int fd = open_log(path);
	if (fd < 0)
		return fd;
	log_close();
	take(fd);
	log_path = xstrdup(path);
	return 0;
}

int
log_reopen(void)
{
	if (!log_path)
		return -EBADF;
	int fd = open_log(log_path);
	if (fd < 0)
		return fd;
	take(fd);
	return 0;
}

void
log_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	free(log_path);
	log_path = NULL;
}

void
dlog(const char *fmt, ...)
{
	if (log_fd < 0)
		return;
	char stamp[64];
	int64_t now = wall_ms();
	time_t secs = (time_t)(now / 1000);
	struct tm tm;
	localtime_r(&secs, &tm);
	size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03d", (int)(now % 1000));
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	char *line = xasprintf("%s %s\n", stamp, msg);
	/* Moved away (rotated): the path again. Still ours: its size counts
	 * the lines of the other processes that write it (the keeper, the
	 * compressors). */
	struct stat st;
	if (log_path && (stat(log_path, &st) < 0 || st.st_ino != log_ino || st.st_dev != log_dev))
		log_reopen();
	else if (log_path)
		log_size = st.st_size;
	size_t len = strlen(line);
	if (write_all(log_fd, line, len) == 0)
		log_size += (int64_t)len;
	free(line);
	free(msg);
	if (rotate_at > 0 && log_size >= rotate_at && !rotating) {
		rotating = true;
		rotate_cb();
		rotating = false;
	}
}
