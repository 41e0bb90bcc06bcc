/*
 * sampler.c — process tree CPU and memory, memory limits.
 */
#include "daemon/sampler.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/units.h"
#include "common/util.h"
#include "daemon/daemon.h"
#include "daemon/reload.h"
#include "daemon/supervise.h"
#include "daemon/table.h"

#define MAX_TREE 4096

/* utime+stime and rss (pages) from /proc/<pid>/stat. */
static int
read_stat(pid_t pid, uint64_t *ticks, int64_t *rss_pages)
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
	if (!p)
		return -EIO;
	p += 2;
	unsigned long long utime = 0, stime = 0;
	long long rss = 0;
	/* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice threads itreal start vsize rss */
	if (sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
	    "%*d %*d %*u %*u %lld", &utime, &stime, &rss) != 3)
		return -EIO;
	*ticks = utime + stime;
	*rss_pages = rss;
	return 0;
}

/* Append the children of every thread of pid to list. */
static void
add_children(pid_t pid, pid_t *list, size_t *n)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && *n < MAX_TREE) {
		if (e->d_name[0] == '.')
			continue;
		char cpath[300];
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int)pid, e->d_name);
		char *txt = NULL;
		if (read_file(cpath, &txt, NULL, 1 << 16) < 0)
			continue;
		char *save = NULL;
		for (char *tok = strtok_r(txt, " \n", &save); tok && *n < MAX_TREE;
		    tok = strtok_r(NULL, " \n", &save))
			list[(*n)++] = (pid_t)atoi(tok);
		free(txt);
	}
	closedir(d);
}

int
sampler_tree(pid_t pid, int64_t *rss_bytes, uint64_t *cpu_ticks)
{
	pid_t *list = xmalloc(MAX_TREE * sizeof(*list));
	size_t n = 0, i = 0;
	list[n++] = pid;
	long page = sysconf(_SC_PAGESIZE);
	*rss_bytes = 0;
	*cpu_ticks = 0;
	int rc = 0;
	while (i < n) {
		uint64_t t;
		int64_t pages;
		if (read_stat(list[i], &t, &pages) == 0) {
			*cpu_ticks += t;
			*rss_bytes += pages * page;
			add_children(list[i], list, &n);
		} else if (i == 0) {
			rc = -ESRCH;
			break;
		}
		i++;
	}
	free(list);
	return rc;
}

static void
over_limit(struct inst *in, int64_t rss)
{
	const struct spec *s = &in->app->spec;
	char used[32], limit[32];
	units_format_bytes(rss, used, sizeof(used));
	units_format_bytes(s->max_memory_restart, limit, sizeof(limit));
	inst_set_reason(in, "max_memory_restart: process tree used %s, limit %s", used, limit);
	dlog("%s[%d]: memory %s over max_memory_restart %s: restarting", s->name, in->pm_id,
	    used, limit);
	/* Cluster instances are replaced without downtime, as PM2 reloads. */
	if (s->mode == MODE_CLUSTER && !in->app->reload && in->state == ST_ONLINE)
		reload_start(NULL, NULL, &in, 1, 1);
	else
		inst_restart(in, NULL);
}

static void
on_sample(struct timer *t)
{
	long hz = sysconf(_SC_CLK_TCK);
	int64_t now = mono_ms();
	struct inst *in, *next;
	for (in = TAILQ_FIRST(&D->insts); in; in = next) {
		next = TAILQ_NEXT(in, link);
		struct proc *p = in->proc;
		if (!p || p->exited) {
			in->cpu_pct = 0;
			in->mem_bytes = 0;
			in->last_sample_mono = 0;
			continue;
		}
		int64_t rss;
		uint64_t ticks;
		if (sampler_tree(p->pid, &rss, &ticks) < 0)
			continue;
		if (in->last_sample_mono > 0 && now > in->last_sample_mono && ticks >= in->last_cpu_ticks) {
			double secs = (double)(now - in->last_sample_mono) / 1000.0;
			in->cpu_pct = (double)(ticks - in->last_cpu_ticks) / (double)hz / secs * 100.0;
		}
		in->last_cpu_ticks = ticks;
		in->last_sample_mono = now;
		in->mem_bytes = rss;
		const struct spec *s = &in->app->spec;
		if (s->max_memory_restart > 0 && rss > s->max_memory_restart &&
		    in->state == ST_ONLINE && !in->successor)
			over_limit(in, rss);
	}
	timer_start(D->loop, t, SAMPLE_PERIOD_MS);
}

void
sampler_start(void)
{
	timer_init(&D->sample_timer, on_sample);
	timer_start(D->loop, &D->sample_timer, SAMPLE_PERIOD_MS);
}
