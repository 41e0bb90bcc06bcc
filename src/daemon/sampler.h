/*
 * sampler.h — the CPU and resident memory of an instance's whole process
 * tree (the main process and its descendants, found through
 * /proc/<pid>/task/<tid>/children), and the max_memory_restart check.
 *
 * An instance is sampled when a client lists it, at most once per
 * SAMPLE_PERIOD_MS (its CPU share is over the time since the sample before,
 * as PM2's), and every SAMPLE_PERIOD_MS when its app has max_memory_restart.
 * So an idle daemon with a thousand apps reads nothing in /proc.
 */
#ifndef CORRAL_SAMPLER_H
#define CORRAL_SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SAMPLE_PERIOD_MS 1000

struct inst;

void sampler_start(void);
/* Bring the figures of these instances up to date (see above). */
void sampler_refresh(struct inst **ins, size_t n);

/* p exited: close the descriptors its samples kept open. */
struct proc;
void sampler_forget(const struct proc *p);

#endif
