/*
 * test_inspect.c — Node's inspector options (common/inspect.h): which
 * options are the inspector's and the port each names; the option each
 * instance of a cluster app gets (the port + its index, host kept).
 */
#include "unit.h"

#include <stdlib.h>

#include "common/inspect.h"

static int
port_of(const char *a)
{
	int port = -1;
	return inspect_option(a, strlen(a), &port) ? port : -1;
}

static void
test_options_and_ports(void **state)
{
	assert_int_equal(port_of("--inspect"), 9229);
	assert_int_equal(port_of("--inspect-brk"), 9229);
	assert_int_equal(port_of("--inspect-wait"), 9229);
	assert_int_equal(port_of("--inspect=9300"), 9300);
	assert_int_equal(port_of("--inspect=0.0.0.0:9300"), 9300);
	assert_int_equal(port_of("--inspect-brk=[::1]:7000"), 7000);
	assert_int_equal(port_of("--inspect-port=8000"), 8000);
	assert_int_equal(port_of("--inspect=localhost"), 9229);
	assert_int_equal(port_of("--inspector"), -1);
	assert_int_equal(port_of("--inspect-publish-uid=http"), -1);
	assert_int_equal(port_of("--max-old-space-size=100"), -1);
	/* Only len bytes count (NODE_OPTIONS is split in place). */
	int port;
	assert_true(inspect_option("--inspect=9400 --foo", 14, &port));
	assert_int_equal(port, 9400);
}

static void
check_rewrite(const char *a, int index, const char *want)
{
	char *got = inspect_option_for_instance(a, index);
	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void
test_each_instance_its_port(void **state)
{
	check_rewrite("--inspect", 0, "--inspect=9229");
	check_rewrite("--inspect", 3, "--inspect=9232");
	check_rewrite("--inspect-brk=127.0.0.1:9400", 1, "--inspect-brk=127.0.0.1:9401");
	check_rewrite("--inspect=[::1]:9400", 0, "--inspect=[::1]:9400");
	check_rewrite("--inspect=localhost", 1, "--inspect=localhost:9230");
	check_rewrite("--inspect=65535", 1, NULL);
	check_rewrite("--inspect=host:", 0, NULL);
	check_rewrite("--trace-warnings", 0, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_and_ports),
		cmocka_unit_test(test_each_instance_its_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
