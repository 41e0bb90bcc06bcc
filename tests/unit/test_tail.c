/*
 * test_tail.c — the last lines of a file (common/tail.c), as `corral logs`
 * and the web API read them: a file with and without its last newline,
 * fewer lines than asked, empty lines, lines longer than the chunk it reads
 * backwards by, and a byte budget that stops at a line's start or inside a
 * line (which is then left out, never cut).
 */
#include <errno.h>
#include <fcntl.h>
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tail.h"
#include "common/util.h"

/* The lines tail_lines() gave, each followed by '|'. */
static void
collect(void *arg, const char *line, size_t len)
{
	struct sbuf *b = arg;
	sbuf_add(b, line, len);
	sbuf_addc(b, '|');
}

/* The tail of content as "line|line|". */
static char *
tail_of(const char *content, size_t size, long n, off_t budget)
{
	char path[] = "/tmp/corral-test-tail-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, content, size), (ssize_t)size);
	struct sbuf b = SBUF_INIT;
	sbuf_adds(&b, "");
	assert_int_equal(tail_lines(fd, (off_t)size, n, budget, collect, &b), 0);
	close(fd);
	return sbuf_take(&b);
}

static void
expect_tail(const char *content, long n, off_t budget, const char *want)
{
	char *got = tail_of(content, strlen(content), n, budget);
	assert_string_equal(got, want);
	free(got);
}

static void
test_last_lines(void **state)
{
	expect_tail("a\nb\nc\n", 2, 0, "b|c|");
	expect_tail("a\nb\nc", 2, 0, "b|c|");        /* no last newline */
	expect_tail("a\nb\nc\n", 10, 0, "a|b|c|");   /* fewer than asked */
	expect_tail("a\n\n\nb\n", 3, 0, "||b|");     /* empty lines count */
	expect_tail("a\nb\n", 0, 0, "");
	expect_tail("", 5, 0, "");
	expect_tail("\n", 5, 0, "|");
}

static void
test_long_lines(void **state)
{
	/* Three lines of 150 000 bytes: more than two chunks each. */
	size_t len = 150000;
	char *content = xmalloc(3 * (len + 1) + 1);
	for (int i = 0; i < 3; i++) {
		memset(content + i * (len + 1), 'a' + i, len);
		content[i * (len + 1) + len] = '\n';
	}
	content[3 * (len + 1)] = '\0';
	char *got = tail_of(content, strlen(content), 2, 0);
	assert_int_equal(strlen(got), 2 * (len + 1));
	assert_int_equal(got[0], 'b');
	assert_int_equal(got[len - 1], 'b');
	assert_int_equal(got[len], '|');
	assert_int_equal(got[len + 1], 'c');
	free(got);
	free(content);
}

static void
test_budget(void **state)
{
	/* 4 bytes back from the end of "aaa\nbb\ncc\n" land inside "bb": it is
	 * left out, not cut to "b". */
	expect_tail("aaa\nbb\ncc\n", 5, 4, "cc|");
	/* 6 bytes back is where "bb" starts: it is whole. */
	expect_tail("aaa\nbb\ncc\n", 5, 6, "bb|cc|");
	/* A budget that reaches the start reads everything asked. */
	expect_tail("aaa\nbb\ncc\n", 5, 100, "aaa|bb|cc|");
	/* One line longer than the budget: nothing rather than its end. */
	expect_tail("xxxxxxxxxx\n", 1, 4, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_last_lines),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
