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
	int threads;        /* when it was seen, 0 if not known */
	uint64_t start;     /* starttime from /proc/<pid>/stat */
};

/* The children of pid (zombies too); returns how many. */
size_t proctree_children(pid_t pid, struct ptentry *out, size_t max);
/* root and all its descendants (root first); returns how many. */
size_t proctree_walk(pid_t root, struct ptentry *out, size_t max);
/* root (already seen) and all its descendants; returns how many. */
size_t proctree_walk_from(const struct ptentry *root, struct ptentry *out, size_t max);

/* A child of the daemon it did not start: an orphan it adopted as subreaper. */
struct ptorphan {
	struct ptentry e;
	int pm_id;          /* from its environment, -1 if none */
	char *name;         /* from its environment, NULL if none */
};
/* The children of reaper (the daemon, or its keeper: subreapers both) for
 * which known(pid, arg) is false, with the pm_id and name their environment
 * carries. One read of reaper's children list, then /proc only for the
 * unknown ones. Returns how many; *out is freed with
 * proctree_adopted_free(). */
size_t proctree_adopted(pid_t reaper, bool (*known)(pid_t pid, void *arg), void *arg,
    struct ptorphan **out);
void proctree_adopted_free(struct ptorphan *v, size_t n);
/* Does a process of group pgid still run? Zombies do not count: kill(-pgid,
 * 0) counts them, and a group whose parent is init may stay a zombie for a
 * while (some inits reap late). Reads every /proc/<pid>/stat: for the rare
 * processes no reaper of ours waits for. */
bool proctree_group_running(pid_t pgid);
/* Is the process still the one we saw (and not a zombie)? */
bool proctree_alive(const struct ptentry *e);
/* Descriptors of a process's /proc/<pid>/stat and of its main thread's
 * children list, kept open between samples of it: a read from offset 0
 * makes either anew, without the path lookups of an open. They name the
 * process itself, not its pid: once it is gone, reads fail (ESRCH). */
struct ptfds {
	int stat, children;     /* -1 when not open */
};
#define PTFDS_NONE {-1, -1}
void proctree_fds_close(struct ptfds *fds);
/* CPU ticks (utime+stime) and resident pages of root and its descendants
 * together: two small reads of /proc per process, through fds for root
 * when fds is not NULL (opened the first time, closed when root is gone).
 * 0, or -ESRCH when root is gone. */
int proctree_usage(pid_t root, struct ptfds *fds, uint64_t *ticks, int64_t *rss_pages);
/* utime+stime ticks and resident pages of one process; 0 or -errno. */
int proctree_stat(pid_t pid, uint64_t *ticks, int64_t *rss_pages, uint64_t *start, char *state);
/* The parent of pid, -1 if unknown. */
pid_t proctree_parent(pid_t pid);

#endif
