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
#include <sys/resource.h>
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

/* sysconf()'s, read once. */
static long clk_tck = 100, page_size = 4096;

/* Descriptors kept open for the processes sampled lately (proctree.h): a
 * slot per serial modulo the number of slots, so a dashboard's rows (the
 * serials of neighbouring apps) and a scrape of a couple of hundred
 * instances (corral web) each keep theirs, and a process that takes a slot
 * closes the one of the process before. At most two descriptors a slot, and
 * a sixteenth of the descriptor limit for all (16 to 256 slots: with 200
 * instances, a cold /metrics took 9.1 ms with 64 slots, 5.0 ms with 256); a
 * process's are closed when it exits (sampler_forget). */
#define SLOTS_MIN 16
#define SLOTS_MAX 256
struct fd_slot {
	uint64_t serial;        /* 0: empty */
	struct ptfds fds;
};
static struct fd_slot *fd_slots;
static size_t nslots;

static void
slots_init(void)
{
	struct rlimit nofile;
	nslots = SLOTS_MAX;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
	    nofile.rlim_cur / 16 < SLOTS_MAX)
		nslots = nofile.rlim_cur / 16 < SLOTS_MIN ? SLOTS_MIN : nofile.rlim_cur / 16;
	fd_slots = xcalloc(nslots, sizeof(*fd_slots));
}

static struct ptfds *
fds_of(const struct proc *p)
{
	if (!nslots)
		slots_init();
	struct fd_slot *s = &fd_slots[p->serial % nslots];
	if (s->serial != p->serial) {
		if (s->serial)
			proctree_fds_close(&s->fds);
		s->serial = p->serial;
		s->fds = (struct ptfds)PTFDS_NONE;
	}
	return &s->fds;
}

void
sampler_forget(const struct proc *p)
{
	if (!nslots)
		return;
	struct fd_slot *s = &fd_slots[p->serial % nslots];
	if (s->serial && s->serial == p->serial) {
		proctree_fds_close(&s->fds);
		s->serial = 0;
	}
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

/* Take a new sample of in's process tree if the last one is at least
 * min_age_ms old or of another process. The CPU share is over the time
 * since the previous sample, or since the process started for its first. */
static void
sample_inst(struct inst *in, int64_t now, int64_t min_age_ms)
{
	struct proc *p = in->proc;
	if (!p || p->exited) {
		in->cpu_pct = 0;
		in->mem_bytes = 0;
		in->last_sample_mono = 0;
		return;
	}
	if (in->sampled_serial != p->serial) {
		/* A new process (restart, reload): its own figures, from 0. */
		in->sampled_serial = p->serial;
		in->cpu_pct = 0;
		in->mem_bytes = 0;
		in->last_sample_mono = 0;
		in->last_cpu_ticks = 0;
	} else if (in->last_sample_mono > 0 && now - in->last_sample_mono < min_age_ms) {
		return;
	}
	int64_t pages;
	uint64_t ticks;
	if (proctree_usage(p->pid, fds_of(p), &ticks, &pages) < 0)
		return;
	/* No resident page yet: a program read just after its exec, before
	 * the kernel folded its first pages into the count it shows. Not a
	 * figure to keep for a period: the next look reads again. */
	if (pages == 0 && in->last_sample_mono == 0)
		return;
	int64_t rss = pages * page_size;
	int64_t since = in->last_sample_mono > 0 ? in->last_sample_mono : p->started_mono;
	if (now > since && ticks >= in->last_cpu_ticks) {
		double secs = (double)(now - since) / 1000.0;
		in->cpu_pct = (double)(ticks - in->last_cpu_ticks) / (double)clk_tck / secs * 100.0;
	}
	in->last_cpu_ticks = ticks;
	in->last_sample_mono = now;
	in->mem_bytes = rss;
}

void
sampler_refresh(struct inst **ins, size_t n)
{
	int64_t now = mono_ms();
	for (size_t i = 0; i < n; i++)
		sample_inst(ins[i], now, SAMPLE_PERIOD_MS);
}

/* Every SAMPLE_PERIOD_MS: the instances with a memory limit. */
static void
on_sample(struct loop *l, struct timer *t, void *arg)
{
	/* Housekeeping: not counted as work done for requests (state.h). */
	uint64_t steps = D->steps;
	int64_t now = mono_ms();
	struct inst *in, *next;
	for (in = D->limited_apps ? TAILQ_FIRST(&D->insts) : NULL; in; in = next) {
		next = TAILQ_NEXT(in, link);
		const struct spec *s = &in->app->spec;
		if (s->max_memory_restart <= 0)
			continue;
		sample_inst(in, now, 0);
		if (in->proc && !in->proc->exited && in->mem_bytes > s->max_memory_restart &&
		    in->state == ST_ONLINE && !in->successor)
			over_limit(in, in->mem_bytes);
	}
	cluster_sweep_orphans(D->cluster);
	D->steps = steps;
	timer_start(D->loop, t, SAMPLE_PERIOD_MS);
}

void
sampler_start(void)
{
	clk_tck = sysconf(_SC_CLK_TCK);
	page_size = sysconf(_SC_PAGESIZE);
	timer_init(&D->sample_timer, on_sample, NULL);
	timer_start(D->loop, &D->sample_timer, SAMPLE_PERIOD_MS);
}
