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
#include <time.h>
#include <unistd.h>

/* The one log a process writes; -1 while closed. */
static int log_fd = -1;
static char *log_path;

static int
open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
	return fd < 0 ? -errno : fd;
}

int
log_open(const char *path)
{
	int fd = open_log(path);
	if (fd < 0)
		return fd;
	log_close();
	log_fd = fd;
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
	close(log_fd);
	log_fd = fd;
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
	write_all(log_fd, line, strlen(line));
	free(line);
	free(msg);
}
