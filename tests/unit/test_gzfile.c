/*
 * test_gzfile.c — gzipping a rotated log in place (common/gzfile.c): the
 * .gz holds exactly the bytes and the file's time, the file is gone, and a
 * second run on a file another run holds (locked) or already did is a no-op.
 */
#include "unit.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/gzfile.h"
#include "common/util.h"

static char dir[64];

static char *
make_file(const char *name, size_t lines)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	for (size_t i = 0; i < lines; i++)
		fprintf(f, "line %08zu of a rotated log\n", i);
	fclose(f);
	struct timespec t[2] = {{1000000000, 0}, {1000000000, 123456789}};
	utimensat(AT_FDCWD, path, t, 0);
	return path;
}

static void
test_compresses_in_place(void **state)
{
	char *path = make_file("a__1.log", 100000);
	char *want = NULL;
	size_t want_len = 0;
	assert_int_equal(read_file(path, &want, &want_len, 64 << 20), 0);
	char *err = NULL;
	assert_int_equal(gzfile_compress(path, &err), 0);
	assert_int_equal(access(path, F_OK), -1);
	char *gz = xasprintf("%s.gz", path);
	struct stat st;
	assert_int_equal(stat(gz, &st), 0);
	assert_true(st.st_size < (off_t)want_len / 4);
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
	gzFile z = gzopen(gz, "rb");
	char *got = xmalloc(want_len + 16);
	int n = gzread(z, got, (unsigned)want_len + 16);
	gzclose(z);
	assert_int_equal(n, (int)want_len);
	assert_memory_equal(got, want, want_len);
	char *tmp = xasprintf("%s.tmp", gz);
	assert_int_equal(access(tmp, F_OK), -1);
	unlink(gz);
	free(tmp);
	free(got);
	free(gz);
	free(want);
	free(path);
}

static void
test_a_locked_or_missing_file_is_left_alone(void **state)
{
	char *path = make_file("b__1.log", 10);
	int fd = open(path, O_RDONLY);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	char *err = NULL;
	assert_int_equal(gzfile_compress(path, &err), 0);
	assert_int_equal(access(path, F_OK), 0);
	char *gz = xasprintf("%s.gz", path);
	assert_int_equal(access(gz, F_OK), -1);
	close(fd);
	unlink(path);
	assert_int_equal(gzfile_compress(path, &err), 0);
	assert_int_equal(access(gz, F_OK), -1);
	free(gz);
	free(path);
}

static int
setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/corral-gz-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compresses_in_place),
		cmocka_unit_test(test_a_locked_or_missing_file_is_left_alone),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
