/*
 * gzfile.h — gzip one rotated log file in place (through zlib): X becomes
 * X.gz with X's modification time, X is removed. What `corral logzip`
 * (started by the daemon, never by users) runs, so that compressing never
 * blocks the daemon's loop.
 *
 * Safe to run twice on one file at once, or again after a run that was
 * killed: the file is locked (flock) while it is compressed, a second run
 * finds it locked (or gone) and does nothing, and the result appears under
 * its name only when it is complete (written as X.gz.tmp, then renamed).
 */
#ifndef CORRAL_GZFILE_H
#define CORRAL_GZFILE_H

/* Compress path into path.gz and remove path. 0 (also when another run has
 * it, or had it), or -errno with *err (caller frees). */
int gzfile_compress(const char *path, char **err);

#endif
