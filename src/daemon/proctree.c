/*
 * proctree.c — walking /proc for an instance's processes.
 */
#include "daemon/proctree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

int
proctree_stat(pid_t pid, uint64_t *ticks, int64_t *rss_pages, uint64_t *start, char *state)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read_retry(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip to the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] == '\0')
		return -EIO;
	p += 2;
	char st;
	unsigned long long utime = 0, stime = 0, starttime = 0;
	long long rss = 0;
	/* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice threads itreal starttime vsize rss */
	if (sscanf(p, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
	    "%*d %*d %llu %*u %lld", &st, &utime, &stime, &starttime, &rss) != 5)
		return -EIO;
	if (ticks)
		*ticks = utime + stime;
	if (rss_pages)
		*rss_pages = rss;
	if (start)
		*start = starttime;
	if (state)
		*state = st;
	return 0;
}

/* Append the children of every thread of pid. */
static void
add_children(pid_t pid, struct ptentry *out, size_t *n, size_t max)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && *n < max) {
		if (e->d_name[0] == '.')
			continue;
		char cpath[300];
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int)pid, e->d_name);
		char *txt = NULL;
		if (read_file(cpath, &txt, NULL, 1 << 16) < 0)
			continue;
		char *save = NULL;
		for (char *tok = strtok_r(txt, " \n", &save); tok && *n < max;
		    tok = strtok_r(NULL, " \n", &save)) {
			pid_t child = (pid_t)atoi(tok);
			uint64_t start;
			if (proctree_stat(child, NULL, NULL, &start, NULL) == 0)
				out[(*n)++] = (struct ptentry){child, start};
		}
		free(txt);
	}
	closedir(d);
}

static size_t
walk_from(size_t first, struct ptentry *out, size_t n, size_t max)
{
	for (size_t i = first; i < n; i++)
		add_children(out[i].pid, out, &n, max);
	return n;
}

size_t
proctree_children(pid_t pid, struct ptentry *out, size_t max)
{
	size_t n = 0;
	add_children(pid, out, &n, max);
	return n;
}

size_t
proctree_walk(pid_t root, struct ptentry *out, size_t max)
{
	uint64_t start;
	if (max == 0 || proctree_stat(root, NULL, NULL, &start, NULL) < 0)
		return 0;
	out[0] = (struct ptentry){root, start};
	return walk_from(0, out, 1, max);
}

/* Does the NUL-separated environment env hold exactly "key=value"? */
static bool
env_has(const char *env, size_t len, const char *kv)
{
	size_t kl = strlen(kv);
	for (size_t i = 0; i < len;) {
		const char *e = env + i;
		size_t el = strnlen(e, len - i);
		if (el == kl && memcmp(e, kv, kl) == 0)
			return true;
		i += el + 1;
	}
	return false;
}

size_t
proctree_orphans(pid_t reaper, int pm_id, const char *name, const pid_t *known, size_t nknown,
    struct ptentry *out, size_t max)
{
	struct ptentry *mine = xmalloc(PROCTREE_MAX * sizeof(*mine));
	size_t nmine = 0, n = 0;
	add_children(reaper, mine, &nmine, PROCTREE_MAX);
	char *want_id = xasprintf("pm_id=%d", pm_id);
	char *want_name = xasprintf("name=%s", name);
	for (size_t i = 0; i < nmine && n < max; i++) {
		bool is_known = false;
		for (size_t k = 0; k < nknown; k++)
			is_known |= known[k] == mine[i].pid;
		if (is_known)
			continue;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/environ", (int)mine[i].pid);
		char *env = NULL;
		size_t len = 0;
		if (read_file(path, &env, &len, 1 << 20) < 0)
			continue;
		if (env_has(env, len, want_id) && env_has(env, len, want_name)) {
			size_t first = n;
			out[n++] = mine[i];
			n = walk_from(first, out, n, max);
		}
		free(env);
	}
	free(want_id);
	free(want_name);
	free(mine);
	return n;
}

bool
proctree_alive(const struct ptentry *e)
{
	uint64_t start;
	char state;
	if (proctree_stat(e->pid, NULL, NULL, &start, &state) < 0)
		return false;
	return start == e->start && state != 'Z' && state != 'X';
}
