/*
 * test_signame.c — signal names as users write them in kill_signal and
 * sendSignal, and as corral prints them: every spelling of a named signal,
 * the real-time signals by their offset from SIGRTMIN or SIGRTMAX (the
 * names read back as they were written), and what is no signal.
 */
#include "unit.h"

#include <signal.h>

#include "common/signame.h"

static void
test_named_signals(void **state)
{
	assert_int_equal(signame_parse("SIGINT"), SIGINT);
	assert_int_equal(signame_parse("int"), SIGINT);
	assert_int_equal(signame_parse("sigterm"), SIGTERM);
	assert_int_equal(signame_parse("9"), SIGKILL);
	assert_string_equal(signame_name(SIGUSR2), "SIGUSR2");
	assert_string_equal(signame_name(signame_parse("hup")), "SIGHUP");
}

static void
test_real_time_signals(void **state)
{
	assert_int_equal(signame_parse("SIGRTMIN"), SIGRTMIN);
	assert_int_equal(signame_parse("rtmin+6"), SIGRTMIN + 6);
	assert_int_equal(signame_parse("SIGRTMAX"), SIGRTMAX);
	assert_int_equal(signame_parse("SIGRTMAX-2"), SIGRTMAX - 2);
	assert_int_equal(signame_parse("SIGRTMIN+0"), SIGRTMIN);
	/* A number reads back as the name that parses to it again. */
	char num[16];
	snprintf(num, sizeof(num), "%d", SIGRTMIN + 6);
	assert_int_equal(signame_parse(num), SIGRTMIN + 6);
	assert_string_equal(signame_name(SIGRTMIN + 6), "SIGRTMIN+6");
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		assert_int_equal(signame_parse(signame_name(sig)), sig);
}

static void
test_what_is_no_signal(void **state)
{
	assert_true(signame_parse("SIGRT") < 0);
	assert_true(signame_parse("SIGRTMIN-1") < 0);
	assert_true(signame_parse("SIGRTMAX+1") < 0);
	assert_true(signame_parse("SIGRTMIN+99") < 0);
	assert_true(signame_parse("RTMIN+") < 0);
	assert_true(signame_parse("RTMIN+1x") < 0);
	assert_true(signame_parse("RTMIN+-0") < 0);
	assert_true(signame_parse("RTMAX-+1") < 0);
	assert_true(signame_parse("RTMIN+ 3") < 0);
	assert_true(signame_parse("0") < 0);
	assert_true(signame_parse("65") < 0);
	assert_true(signame_parse("SIGFOO") < 0);
	assert_true(signame_parse("") < 0);
	/* glibc keeps the numbers below SIGRTMIN for its threads. */
	for (int n = 32; n < SIGRTMIN; n++) {
		char num[16];
		snprintf(num, sizeof(num), "%d", n);
		assert_true(signame_parse(num) < 0);
		assert_string_equal(signame_name(n), "SIGUNKNOWN");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_named_signals),
		cmocka_unit_test(test_real_time_signals),
		cmocka_unit_test(test_what_is_no_signal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
