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

#include "cluster/cluster.h"
#include "common/log.h"
#include "common/units.h"
#include "common/util.h"
#include "daemon/proctree.h"
#include "daemon/reload.h"
#include "daemon/state.h"
#include "daemon/supervise.h"
#include "daemon/table.h"

int
sampler_tree(pid_t pid, int64_t *rss_bytes, uint64_t *cpu_ticks)
{
	struct ptentry *tree = xmalloc(PROCTREE_MAX * sizeof(*tree));
	size_t n = proctree_walk(pid, tree, PROCTREE_MAX);
	long page = sysconf(_SC_PAGESIZE);
	*rss_bytes = 0;
	*cpu_ticks = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t t;
		int64_t pages;
		if (proctree_stat(tree[i].pid, &t, &pages, NULL, NULL) == 0) {
			*cpu_ticks += t;
			*rss_bytes += pages * page;
		}
	}
	free(tree);
	return n > 0 ? 0 : -ESRCH;
}

static void
over_limit(struct inst *in, int64_t rss)
{
	if (D->shutting_down)   /* nothing starts again while everything stops */
		return;
	const struct spec *s = &in->app->spec;
	char used[32], limit[32];
	units_format_bytes(rss, used, sizeof(used));
	units_format_bytes(s->max_memory_restart, limit, sizeof(limit));
	if (s->exec_mode == MODE_CLUSTER && in->app->reload) {
		/* A restart now would take the instance down in the middle of
		 * a zero-downtime reload; the next sample after it reloads. */
		dlog("%s[%d]: memory %s over max_memory_restart %s: waiting for the reload "
		    "in progress", s->name, in->pm_id, used, limit);
		return;
	}
	/* Cluster instances are replaced without downtime, as PM2 reloads;
	 * if a reload already failed to replace this process, a new one would
	 * fail again (every second, forever): restart it instead. */
	bool reload = s->exec_mode == MODE_CLUSTER && in->proc &&
	    in->reload_failed_serial != in->proc->serial;
	inst_set_reason(in, "max_memory_restart: process tree used %s, limit %s", used, limit);
	dlog("%s[%d]: memory %s over max_memory_restart %s: %s", s->name, in->pm_id, used,
	    limit, reload ? "reloading" : s->exec_mode == MODE_CLUSTER ?
	    "restarting (a reload of it failed)" : "restarting");
	if (reload)
		reload_start(NULL, NULL, &in, 1, 1);
	else
		inst_restart(in, NULL);
}

static void
on_sample(struct loop *l, struct timer *t, void *arg)
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
		if (in->sampled_serial != p->serial) {
			/* A new process (restart, reload): its own figures, from 0. */
			in->sampled_serial = p->serial;
			in->cpu_pct = 0;
			in->mem_bytes = 0;
			in->last_sample_mono = 0;
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
	cluster_sweep_orphans(D->cluster);
	timer_start(D->loop, t, SAMPLE_PERIOD_MS);
}

void
sampler_start(void)
{
	timer_init(&D->sample_timer, on_sample, NULL);
	timer_start(D->loop, &D->sample_timer, SAMPLE_PERIOD_MS);
}
