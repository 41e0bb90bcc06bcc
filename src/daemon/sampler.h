/*
 * sampler.h — once a second, the CPU and resident memory of every
 * instance's whole process tree (the main process and its descendants,
 * found through /proc/<pid>/task/<tid>/children), and the
 * max_memory_restart check on the same numbers.
 */
#ifndef CORRAL_SAMPLER_H
#define CORRAL_SAMPLER_H

#include <stdint.h>
#include <sys/types.h>

#define SAMPLE_PERIOD_MS 1000

void sampler_start(void);

/* Sum of resident bytes and CPU ticks of pid and its descendants; 0 or
 * -errno if pid is gone. */
int sampler_tree(pid_t pid, int64_t *rss_bytes, uint64_t *cpu_ticks);

#endif
