/*
 * proctree.h — the processes that belong to an instance beyond its process
 * group: descendants found through their parent links (a child that called
 * setsid() left the group but not the tree), and orphans the daemon adopted
 * as child subreaper that still carry the instance's pm_id and name in their
 * environment. Each entry remembers the process's start time, so a pid
 * reused by an unrelated process is never mistaken for it.
 */
#ifndef CORRAL_PROCTREE_H
#define CORRAL_PROCTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROCTREE_MAX 4096

struct ptentry {
	pid_t pid;
	uint64_t start;     /* starttime from /proc/<pid>/stat */
};

/* root and all its descendants (root first); returns how many. */
size_t proctree_walk(pid_t root, struct ptentry *out, size_t max);
/* The children of pid (zombies too); returns how many. */
size_t proctree_children(pid_t pid, struct ptentry *out, size_t max);
/* Children of reaper (the daemon, or its keeper: subreapers both), not in
 * `known`, whose environment says pm_id=pm_id and name=name, with their
 * descendants. */
size_t proctree_orphans(pid_t reaper, int pm_id, const char *name, const pid_t *known,
    size_t nknown, struct ptentry *out, size_t max);
/* Is the process still the one we saw (and not a zombie)? */
bool proctree_alive(const struct ptentry *e);
/* utime+stime ticks and resident pages of one process; 0 or -errno. */
int proctree_stat(pid_t pid, uint64_t *ticks, int64_t *rss_pages, uint64_t *start, char *state);

#endif
