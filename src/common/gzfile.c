/*
 * gzfile.c — gzip a file in place (gzfile.h).
 */
#include "common/gzfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/util.h"

#define CHUNK (128 * 1024)

static int
fail(char **err, int rc, const char *what, const char *path)
{
	*err = xasprintf("cannot %s %s: %s", what, path, strerror(-rc));
	return rc;
}

int
gzfile_compress(const char *path, char **err)
{
	int in = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return errno == ENOENT ? 0 : fail(err, -errno, "open", path);
	struct stat st;
	/* Another run has it, or had it and removed it. */
	if (flock(in, LOCK_EX | LOCK_NB) < 0 || fstat(in, &st) < 0 || st.st_nlink == 0 ||
	    !S_ISREG(st.st_mode)) {
		close(in);
		return 0;
	}
	char *gz = xasprintf("%s.gz", path);
	char *tmp = xasprintf("%s.gz.tmp", path);
	int rc = 0;
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	int zfd = out >= 0 ? dup(out) : -1;
	gzFile z = zfd >= 0 ? gzdopen(zfd, "wb6") : NULL;
	if (!z) {
		rc = fail(err, out < 0 || zfd < 0 ? -errno : -ENOMEM, "create", tmp);
		if (zfd >= 0)
			close(zfd);
		goto done;
	}
	char *buf = xmalloc(CHUNK);
	for (;;) {
		ssize_t n = read_retry(in, buf, CHUNK);
		if (n < 0) {
			rc = fail(err, (int)n, "read", path);
			break;
		}
		if (n == 0)
			break;
		if (gzwrite(z, buf, (unsigned)n) != (int)n) {
			int zerr;
			gzerror(z, &zerr);
			rc = fail(err, zerr == Z_ERRNO && errno ? -errno : -EIO, "write", tmp);
			break;
		}
	}
	free(buf);
	int zrc = gzclose(z);
	if (rc == 0 && zrc != Z_OK)
		rc = fail(err, zrc == Z_ERRNO && errno ? -errno : -EIO, "write", tmp);
	/* Keep the file's time: retention orders rotated files by it. */
	struct timespec times[2] = {st.st_atim, st.st_mtim};
	if (rc == 0 && fsync(out) < 0)
		rc = fail(err, -errno, "write", tmp);
	if (rc == 0)
		futimens(out, times);
	if (rc == 0 && rename(tmp, gz) < 0)
		rc = fail(err, -errno, "rename to", gz);
	if (rc == 0 && unlink(path) < 0 && errno != ENOENT)
		rc = fail(err, -errno, "remove", path);
done:
	if (rc < 0 && out >= 0)
		unlink(tmp);
	if (out >= 0)
		close(out);
	close(in);
	free(gz);
	free(tmp);
	return rc;
}
