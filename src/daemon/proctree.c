/*
 * proctree.c — walking /proc for an instance's processes.
 */
#include "daemon/proctree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
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

/* Skip n space-separated fields of a /proc/<pid>/stat line. */
static const char *
skip_fields(const char *p, int n)
{
	while (n-- > 0) {
		while (*p && *p != ' ')
			p++;
		if (*p)
			p++;
	}
	return p;
}

/* The next field as a number (negative ones too: rss may be); false at
 * the end of the line. */
static bool
next_num(const char **pp, long long *v)
{
	const char *p = *pp;
	bool neg = *p == '-';
	if (neg)
		p++;
	if (*p < '0' || *p > '9')
		return false;
	unsigned long long x = 0;
	while (*p >= '0' && *p <= '9')
		x = x * 10 + (unsigned)(*p++ - '0');
	*v = neg ? -(long long)x : (long long)x;
	if (*p == ' ')
		p++;
	*pp = p;
	return true;
}

/* The text of one /proc/<pid>/stat, the only parser of it. 0 or -EIO. */
static int
parse_stat_text(char *buf, struct pstat *s)
{
	/* The command name may hold spaces and parentheses: skip to the last ')'. */
	const char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] == '\0' || p[3] != ' ')
		return -EIO;
	s->state = p[2];
	p += 4;
	/* ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice threads itreal starttime
	 * vsize rss */
	long long ppid, pgrp, utime, stime, threads, start, rss;
	if (!next_num(&p, &ppid) || !next_num(&p, &pgrp))
		return -EIO;
	p = skip_fields(p, 8);
	if (!next_num(&p, &utime) || !next_num(&p, &stime))
		return -EIO;
	p = skip_fields(p, 4);
	if (!next_num(&p, &threads))
		return -EIO;
	p = skip_fields(p, 1);
	if (!next_num(&p, &start))
		return -EIO;
	p = skip_fields(p, 1);
	if (!next_num(&p, &rss))
		return -EIO;
	s->ppid = (pid_t)ppid;
	s->pgrp = (pid_t)pgrp;
	s->ticks = (uint64_t)utime + (uint64_t)stime;
	s->threads = (long)threads;
	s->start = (uint64_t)start;
	s->rss_pages = rss;
	return 0;
}

/* Read an open /proc/<pid>/stat again from its start (a seq_file: pread
 * at 0 makes it anew). 0 or -errno. */
static int
pread_stat(int fd, struct pstat *s)
{
	char buf[1024];
	ssize_t n;
	do
		n = pread(fd, buf, sizeof(buf) - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EIO;
	buf[n] = '\0';
	return parse_stat_text(buf, s);
}

/* One /proc/<pid>/stat. 0 or -errno. Not counted as a step: read_stat is,
 * for the walks that grow with the apps. */
static int
parse_stat(pid_t pid, struct pstat *s)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = pread_stat(fd, s);
	close(fd);
	return rc;
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

/* Call fn(child, arg) for every pid in txt. */
static void
each_pid(char *txt, void (*fn)(pid_t child, void *arg), void *arg)
{
	char *save = NULL;
	for (char *tok = strtok_r(txt, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		fn((pid_t)atoi(tok), arg);
}

/* Call fn(child, arg) for every child listed in one children file. */
static void
each_listed(const char *path, void (*fn)(pid_t child, void *arg), void *arg)
{
	char *txt = NULL;
	state_step();
	if (read_file(path, &txt, NULL, CHILDREN_FILE_MAX) < 0)
		return;
	each_pid(txt, fn, arg);
	free(txt);
}

/* The same through an open children file, read again from its start. The
 * kernel fills a read of less than a page until the list ends, so a short
 * first read is the whole list: one pread for a process without children,
 * the common case. */
static void
each_listed_fd(int fd, void (*fn)(pid_t child, void *arg), void *arg)
{
	char first[1024];
	state_step();
	ssize_t n = pread(fd, first, sizeof(first) - 1, 0);
	if (n <= 0)
		return;
	if ((size_t)n < sizeof(first) - 1) {
		first[n] = '\0';
		each_pid(first, fn, arg);
		return;
	}
	struct sbuf b = SBUF_INIT;
	sbuf_add(&b, first, (size_t)n);
	char chunk[8192];
	while (b.len < CHILDREN_FILE_MAX &&
	    (n = pread(fd, chunk, sizeof(chunk), (off_t)b.len)) > 0)
		sbuf_add(&b, chunk, (size_t)n);
	char *txt = sbuf_take(&b);
	each_pid(txt, fn, arg);
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

/* Open path into *fd unless it is open already; false when it cannot be. */
static bool
keep_open(int *fd, const char *path)
{
	if (*fd < 0)
		*fd = open(path, O_RDONLY | O_CLOEXEC);
	return *fd >= 0;
}

void
proctree_fds_close(struct ptfds *fds)
{
	if (fds->stat >= 0)
		close(fds->stat);
	if (fds->children >= 0)
		close(fds->children);
	*fds = (struct ptfds)PTFDS_NONE;
}

/* root's stat through fds (opened the first time), and the children of
 * its only thread through fds too. */
static int
root_stat(pid_t root, struct ptfds *fds, struct pstat *ps)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)root);
	state_step();
	if (!keep_open(&fds->stat, path))
		return -errno;
	int rc = pread_stat(fds->stat, ps);
	if (rc < 0)
		proctree_fds_close(fds);
	return rc;
}

static bool
children_fd(pid_t root, struct ptfds *fds)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)root, (int)root);
	return keep_open(&fds->children, path);
}

int
proctree_usage(pid_t root, struct ptfds *fds, uint64_t *ticks, int64_t *rss_pages)
{
	struct usage u = {0};
	int rc = -ESRCH;
	*ticks = 0;
	*rss_pages = 0;
	queue_child(root, &u);
	for (size_t i = 0; i < u.n && i < PROCTREE_MAX; i++) {
		struct pstat ps;
		if ((i == 0 && fds ? root_stat(root, fds, &ps) : read_stat(u.queue[i], &ps)) < 0) {
			if (i == 0)
				break;
			continue;
		}
		rc = 0;
		*ticks += ps.ticks;
		*rss_pages += ps.rss_pages;
		if (i == 0 && fds && ps.threads == 1 && children_fd(root, fds))
			each_listed_fd(fds->children, queue_child, &u);
		else
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
