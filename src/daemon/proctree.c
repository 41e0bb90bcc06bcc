/*
 * proctree.c — walking /proc for an instance's processes.
 */
#include "daemon/proctree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/state.h"

/* The fields of /proc/<pid>/stat we use. */
struct pstat {
	char state;
	pid_t ppid, pgrp;
	long threads;
	uint64_t ticks;           /* utime + stime */
	uint64_t start;
	int64_t rss_pages;
};

/* One /proc/<pid>/stat, the only parser of it. 0 or -errno. Not counted as
 * a step: read_stat is, for the walks that grow with the apps. */
static int
parse_stat(pid_t pid, struct pstat *s)
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
	unsigned long long utime = 0, stime = 0, starttime = 0;
	long long rss = 0;
	int ppid, pgrp;
	/* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice threads itreal starttime vsize rss */
	if (sscanf(p, "%c %d %d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
	    "%ld %*d %llu %*u %lld", &s->state, &ppid, &pgrp, &utime, &stime, &s->threads,
	    &starttime, &rss) != 8)
		return -EIO;
	s->ppid = ppid;
	s->pgrp = pgrp;
	s->ticks = utime + stime;
	s->rss_pages = rss;
	s->start = starttime;
	return 0;
}

static int
read_stat(pid_t pid, struct pstat *s)
{
	state_step();
	return parse_stat(pid, s);
}

int
proctree_stat(pid_t pid, uint64_t *ticks, int64_t *rss_pages, uint64_t *start, char *state)
{
	struct pstat ps;
	int rc = read_stat(pid, &ps);
	if (rc < 0)
		return rc;
	if (ticks)
		*ticks = ps.ticks;
	if (rss_pages)
		*rss_pages = ps.rss_pages;
	if (start)
		*start = ps.start;
	if (state)
		*state = ps.state;
	return 0;
}

pid_t
proctree_parent(pid_t pid)
{
	struct pstat ps;
	return parse_stat(pid, &ps) == 0 ? ps.ppid : -1;
}

/* A children file lists pids of at most 7 digits and a space each: enough
 * for every child a process can have (pid_max is at most 2^22). */
#define CHILDREN_FILE_MAX (8u << 20)

/* Call fn(child, arg) for every child listed in one children file. */
static void
each_listed(const char *path, void (*fn)(pid_t child, void *arg), void *arg)
{
	char *txt = NULL;
	state_step();
	if (read_file(path, &txt, NULL, CHILDREN_FILE_MAX) < 0)
		return;
	char *save = NULL;
	for (char *tok = strtok_r(txt, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		fn((pid_t)atoi(tok), arg);
	free(txt);
}

/* Call fn(child, arg) for every child of every thread of pid. A process of
 * one thread (most) has one children file, read without listing its
 * tasks; threads is 0 when not known. */
static void
each_child(pid_t pid, int threads, void (*fn)(pid_t child, void *arg), void *arg)
{
	char path[64];
	if (threads == 1) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
		each_listed(path, fn, arg);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char cpath[300];
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int)pid, e->d_name);
		each_listed(cpath, fn, arg);
	}
	closedir(d);
}

struct child_list {
	struct ptentry *out;
	size_t *n, max;
};

static void
add_child(pid_t child, void *arg)
{
	struct child_list *cl = arg;
	struct pstat ps;
	if (*cl->n < cl->max && read_stat(child, &ps) == 0)
		cl->out[(*cl->n)++] = (struct ptentry){child, (int)ps.threads, ps.start};
}

/* Append the children of every thread of e. */
static void
add_children(const struct ptentry *e, struct ptentry *out, size_t *n, size_t max)
{
	if (*n < max)
		each_child(e->pid, e->threads, add_child, &(struct child_list){out, n, max});
}

static size_t
walk_from(size_t first, struct ptentry *out, size_t n, size_t max)
{
	for (size_t i = first; i < n; i++)
		add_children(&out[i], out, &n, max);
	return n;
}

size_t
proctree_children(pid_t pid, struct ptentry *out, size_t max)
{
	size_t n = 0;
	add_children(&(struct ptentry){.pid = pid}, out, &n, max);
	return n;
}

size_t
proctree_walk(pid_t root, struct ptentry *out, size_t max)
{
	size_t n = 0;
	if (max == 0)
		return 0;
	add_child(root, &(struct child_list){out, &n, max});
	return n ? walk_from(0, out, n, max) : 0;
}

struct usage {
	pid_t *queue;
	size_t n, cap;
};

static void
queue_child(pid_t child, void *arg)
{
	struct usage *u = arg;
	if (u->n == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 16;
		u->queue = xrealloc(u->queue, u->cap * sizeof(*u->queue));
	}
	u->queue[u->n++] = child;
}

int
proctree_usage(pid_t root, uint64_t *ticks, int64_t *rss_pages)
{
	struct usage u = {0};
	int rc = -ESRCH;
	*ticks = 0;
	*rss_pages = 0;
	queue_child(root, &u);
	for (size_t i = 0; i < u.n && i < PROCTREE_MAX; i++) {
		struct pstat ps;
		if (read_stat(u.queue[i], &ps) < 0) {
			if (i == 0)
				break;
			continue;
		}
		rc = 0;
		*ticks += ps.ticks;
		*rss_pages += ps.rss_pages;
		each_child(u.queue[i], (int)ps.threads, queue_child, &u);
	}
	free(u.queue);
	return rc;
}

size_t
proctree_walk_from(const struct ptentry *root, struct ptentry *out, size_t max)
{
	if (max == 0)
		return 0;
	out[0] = *root;
	return walk_from(0, out, 1, max);
}

/* Read the environment of pid for the pm_id and name it carries. */
static void
orphan_identify(struct ptorphan *o)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)o->e.pid);
	char *env = NULL;
	size_t len = 0;
	o->pm_id = -1;
	o->name = NULL;
	state_step();
	if (read_file(path, &env, &len, 1 << 20) < 0)
		return;
	for (size_t i = 0; i < len;) {
		const char *kv = env + i;
		size_t kl = strnlen(kv, len - i);
		char *end;
		if (kl > 6 && strncmp(kv, "pm_id=", 6) == 0) {
			long id = strtol(kv + 6, &end, 10);
			if (end == kv + kl && id >= 0 && id <= INT32_MAX)
				o->pm_id = (int)id;
		}
		if (kl >= 5 && strncmp(kv, "name=", 5) == 0 && !o->name)
			o->name = xstrndup(kv + 5, kl - 5);
		i += kl + 1;
	}
	free(env);
}

struct adopted {
	bool (*known)(pid_t pid, void *arg);
	void *arg;
	struct ptorphan *v;
	size_t n, cap;
};

static void
add_adopted(pid_t child, void *arg)
{
	struct adopted *ad = arg;
	uint64_t start;
	state_step();
	/* Most children are the processes the daemon started: a hash lookup
	 * each, and /proc is read only for the others. */
	if (ad->known(child, ad->arg) || proctree_stat(child, NULL, NULL, &start, NULL) < 0)
		return;
	if (ad->n == ad->cap) {
		ad->cap = ad->cap ? ad->cap * 2 : 8;
		ad->v = xrealloc(ad->v, ad->cap * sizeof(*ad->v));
	}
	struct ptorphan *o = &ad->v[ad->n++];
	o->e = (struct ptentry){child, 0, start};
	orphan_identify(o);
}

size_t
proctree_adopted(pid_t reaper, bool (*known)(pid_t pid, void *arg), void *arg,
    struct ptorphan **out)
{
	struct adopted ad = {.known = known, .arg = arg};
	each_child(reaper, 0, add_adopted, &ad);
	*out = ad.v;
	return ad.n;
}

void
proctree_adopted_free(struct ptorphan *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

bool
proctree_group_running(pid_t pgid)
{
	DIR *d = opendir("/proc");
	if (!d)
		return kill(-pgid, 0) == 0;
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d)) != NULL) {
		int pid = atoi(e->d_name);
		if (pid <= 0)
			continue;
		struct pstat ps;
		if (parse_stat(pid, &ps) == 0)
			found = ps.pgrp == pgid && ps.state != 'Z' && ps.state != 'X';
	}
	closedir(d);
	return found;
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
