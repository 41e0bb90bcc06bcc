/*
 * test_perffold.c — `perf script` output folded into collapsed stacks
 * (cli/perffold.h): root first, offsets and objects dropped, equal stacks
 * counted once, a command name with spaces, ';' in a symbol made ':'. And
 * when perf may not sample (common/perf.h): the one-line reason for a user
 * that perf_event_paranoid forbids, none for root or a level of 2 or less.
 */
#include "unit.h"

#include <stdlib.h>

#include <unistd.h>

#include "cli/perffold.h"
#include "common/perf.h"

static char *
fold(const char *text)
{
	struct perffold f;
	perffold_init(&f);
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		perffold_line(&f, p, len);
		p += len + (nl ? 1 : 0);
	}
	char *out = perffold_result(&f);
	perffold_free(&f);
	return out;
}

static void
test_folds_samples(void **state)
{
	char *out = fold(
	    "# a comment line\n"
	    "hot 11396 22397.836690:   10101010 cpu-clock:ppp: \n"
	    "\t            117f burn+0x1f (/tmp/hot)\n"
	    "\t            1190 main+0x10 (/tmp/hot)\n"
	    "\n"
	    "hot 11396 22397.846690:   10101010 cpu-clock:ppp: \n"
	    "\t            1170 burn+0x10 (/tmp/hot)\n"
	    "\t            1190 main+0x10 (/tmp/hot)\n"
	    "\n"
	    "Web Content  4242/4243 [001] 22397.85:   10101010 cpu-clock:ppp: \n"
	    "\t            1183 [unknown] ([unknown])\n"
	    "\t            1190 ns::f(a;b)+0x10 (/tmp/x)\n"
	    "\t            deadbeef  (/tmp/x)\n"
	    "idle 1 1.0: 1 cpu-clock:\n");
	assert_string_equal(out,
	    "Web Content;[unknown];ns::f(a:b);[unknown] 1\n"
	    "hot;main;burn 2\n"
	    "idle 1\n");
	free(out);
	out = fold("");
	assert_string_equal(out, "");
	free(out);
}

/* The reason perf_forbidden_by() gives with this paranoid level, or NULL. */
static char *
forbidden_at(const char *level, uid_t euid)
{
	char path[] = "/tmp/corral-test-paranoid-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, level, strlen(level)), (ssize_t)strlen(level));
	close(fd);
	char *why = perf_forbidden_by(path, euid);
	unlink(path);
	return why;
}

static void
test_paranoid_level(void **state)
{
	char *why = forbidden_at("3\n", 1000);
	assert_non_null(why);
	assert_string_equal(why, "perf is not allowed to sample processes: "
	    "/proc/sys/kernel/perf_event_paranoid is 3 (allow it with "
	    "sudo sysctl kernel.perf_event_paranoid=2, or run corral as root)");
	free(why);
	assert_null(forbidden_at("2\n", 1000));
	assert_null(forbidden_at("-1\n", 1000));
	assert_null(forbidden_at("4\n", 0));      /* root may */
	assert_null(perf_forbidden_by("/nonexistent/paranoid", 1000));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_folds_samples),
		cmocka_unit_test(test_paranoid_level),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
