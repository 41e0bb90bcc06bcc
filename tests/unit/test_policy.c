/*
 * test_policy.c — PM2's restart rules as arithmetic (docs/config.md, the
 * restart policy fields):
 * the exponential backoff sequence from 100 ms (×1.5, integer, capped at
 * 15 s), its reset after a run of 30 s, restart_delay, autorestart false,
 * stop_exit_codes (never matched by a death by signal), unstable runs
 * (shorter than min_uptime) counted in a row until max_restarts → errored,
 * and a stable run clearing the count.
 */
#include "unit.h"

#include <stdio.h>
#include <string.h>

#include "daemon/policy.h"

/* The spec fields the policy reads, with PM2's defaults. */
static struct spec
defaults(void)
{
	struct spec s;
	memset(&s, 0, sizeof(s));
	s.autorestart = true;
	s.max_restarts = 16;
	s.min_uptime = 1000;
	return s;
}

struct inst_counters {
	int unstable;
	int64_t prev_delay;
};

static struct exit_outcome
process_exit(const struct spec *s, struct inst_counters *c, int64_t run_ms, int code)
{
	struct exit_outcome out;
	memset(&out, 0xa5, sizeof(out));
	policy_on_exit(s, run_ms, code, &c->unstable, &c->prev_delay, &out);
	return out;
}

static void
test_backoff_sequence(void **state)
{
	static const int64_t want[] = {100, 150, 225, 337, 505, 757, 1135, 1702, 2553, 3829,
	    5743, 8614, 12921, 15000, 15000, 15000};
	struct spec s = defaults();
	s.exp_backoff_restart_delay = 100;
	struct inst_counters c = {0};
	for (size_t i = 0; i < ARRAY_LEN(want); i++) {
		/* Stable runs (above min_uptime) shorter than the 30 s reset. */
		struct exit_outcome o = process_exit(&s, &c, 2000, 1);
		assert_int_equal(o.action, EXIT_RESTART);
		if (o.delay_ms != want[i])
			fail_msg("crash %zu: delay %lld, expected %lld", i + 1,
			    (long long)o.delay_ms, (long long)want[i]);
		assert_false(o.unstable);
	}
}

static void
test_backoff_step(void **state)
{
	assert_int_equal(policy_backoff_next(100, 0), 100);
	assert_int_equal(policy_backoff_next(100, 100), 150);
	assert_int_equal(policy_backoff_next(100, 225), 337);
	assert_int_equal(policy_backoff_next(100, 12921), 15000);
	assert_int_equal(policy_backoff_next(100, 15000), 15000);
	/* A base above the cap is used once, then the cap (as in PM2). */
	assert_int_equal(policy_backoff_next(20000, 0), 20000);
	assert_int_equal(policy_backoff_next(20000, 20000), 15000);
}

static void
test_backoff_resets_after_30s_run(void **state)
{
	struct spec s = defaults();
	s.exp_backoff_restart_delay = 100;
	struct inst_counters c = {0};
	for (int i = 0; i < 5; i++)
		process_exit(&s, &c, 2000, 1);
	assert_int_equal(c.prev_delay, 505);
	/* Just under 30 s: the backoff keeps growing. */
	assert_int_equal(process_exit(&s, &c, 29999, 1).delay_ms, 757);
	/* A run of 30 s counts as stable: back to the base. */
	assert_int_equal(process_exit(&s, &c, 30000, 1).delay_ms, 100);
	assert_int_equal(process_exit(&s, &c, 2000, 1).delay_ms, 150);
	assert_int_equal(process_exit(&s, &c, 3600000, 1).delay_ms, 100);
}

static void
test_backoff_overrides_restart_delay(void **state)
{
	struct spec s = defaults();
	s.restart_delay = 5000;
	s.exp_backoff_restart_delay = 200;
	struct inst_counters c = {0};
	assert_int_equal(process_exit(&s, &c, 2000, 1).delay_ms, 200);
	assert_int_equal(process_exit(&s, &c, 2000, 1).delay_ms, 300);
}

static void
test_restart_delay_is_fixed(void **state)
{
	struct spec s = defaults();
	s.restart_delay = 500;
	struct inst_counters c = {0};
	for (int i = 0; i < 5; i++) {
		struct exit_outcome o = process_exit(&s, &c, 2000, 1);
		assert_int_equal(o.action, EXIT_RESTART);
		assert_int_equal(o.delay_ms, 500);
	}
	assert_int_equal(c.prev_delay, 0);
}

static void
test_no_delay_by_default(void **state)
{
	struct spec s = defaults();
	struct inst_counters c = {0};
	struct exit_outcome o = process_exit(&s, &c, 5000, 0);
	assert_int_equal(o.action, EXIT_RESTART);
	assert_int_equal(o.delay_ms, 0);
	/* Exit code 0 restarts too: PM2 restarts whatever the code. */
	o = process_exit(&s, &c, 5000, 0);
	assert_int_equal(o.action, EXIT_RESTART);
}

/* A crash loop never spins, even with the unstable-restart guard off. */
static void
test_spin_guard(void **state)
{
	struct spec s = defaults();
	s.min_uptime = 0;
	struct inst_counters c = {0};
	for (int i = 0; i < 1000; i++) {
		struct exit_outcome o = process_exit(&s, &c, 1, 1);
		assert_int_equal(o.action, EXIT_RESTART);
		assert_int_equal(o.delay_ms, SPIN_DELAY_MS);
	}
	/* A run of a second or more restarts at once, as in PM2. */
	assert_int_equal(process_exit(&s, &c, SPIN_RUN_MS, 1).delay_ms, 0);
	/* A longer configured delay is kept. */
	s.restart_delay = 250;
	assert_int_equal(process_exit(&s, &c, 1, 1).delay_ms, 250);
}

static void
test_autorestart_false(void **state)
{
	struct spec s = defaults();
	s.autorestart = false;
	s.restart_delay = 100;
	struct inst_counters c = {0};
	struct exit_outcome o = process_exit(&s, &c, 5000, 1);
	assert_int_equal(o.action, EXIT_STOP);
	o = process_exit(&s, &c, 10, -1);
	assert_int_equal(o.action, EXIT_STOP);
	/* Stopping is not a restart: no unstable count. */
	assert_int_equal(c.unstable, 0);
}

static void
test_stop_exit_codes(void **state)
{
	int64_t codes[] = {0, 143};
	struct spec s = defaults();
	s.stop_exit_codes.v = codes;
	s.stop_exit_codes.n = 2;
	struct inst_counters c = {0};
	assert_int_equal(process_exit(&s, &c, 10, 0).action, EXIT_STOP);
	assert_int_equal(process_exit(&s, &c, 10, 143).action, EXIT_STOP);
	assert_int_equal(c.unstable, 0);
	assert_int_equal(process_exit(&s, &c, 5000, 1).action, EXIT_RESTART);
	assert_int_equal(process_exit(&s, &c, 5000, 2).action, EXIT_RESTART);
	/* Killed by a signal (-1) is never an exit code in the list. */
	assert_int_equal(process_exit(&s, &c, 5000, -1).action, EXIT_RESTART);
}

static void
test_max_restarts_errored(void **state)
{
	struct spec s = defaults();
	s.max_restarts = 3;
	struct inst_counters c = {0};
	struct exit_outcome o = process_exit(&s, &c, 10, 1);
	assert_true(o.unstable);
	assert_int_equal(o.action, EXIT_RESTART);
	assert_int_equal(c.unstable, 1);
	assert_int_equal(process_exit(&s, &c, 999, 1).action, EXIT_RESTART);
	assert_int_equal(c.unstable, 2);
	o = process_exit(&s, &c, 10, 1);
	assert_int_equal(o.action, EXIT_ERRORED);
	assert_int_equal(c.unstable, 3);
}

static void
test_stable_run_clears_unstable_count(void **state)
{
	struct spec s = defaults();
	s.max_restarts = 3;
	struct inst_counters c = {0};
	process_exit(&s, &c, 10, 1);
	process_exit(&s, &c, 10, 1);
	assert_int_equal(c.unstable, 2);
	/* Exactly min_uptime is a stable run. */
	struct exit_outcome o = process_exit(&s, &c, 1000, 1);
	assert_false(o.unstable);
	assert_int_equal(o.action, EXIT_RESTART);
	assert_int_equal(c.unstable, 0);
	/* So it takes three unstable runs in a row again. */
	assert_int_equal(process_exit(&s, &c, 10, 1).action, EXIT_RESTART);
	assert_int_equal(process_exit(&s, &c, 10, 1).action, EXIT_RESTART);
	assert_int_equal(process_exit(&s, &c, 10, 1).action, EXIT_ERRORED);
}

static void
test_unstable_with_delays_still_errors(void **state)
{
	/* corral counts consecutive unstable runs whatever the delays (PM2's
	 * time window would let a slow crash loop run forever). */
	struct spec s = defaults();
	s.max_restarts = 4;
	s.exp_backoff_restart_delay = 100;
	struct inst_counters c = {0};
	for (int i = 0; i < 3; i++)
		assert_int_equal(process_exit(&s, &c, 50, 1).action, EXIT_RESTART);
	assert_int_equal(process_exit(&s, &c, 50, 1).action, EXIT_ERRORED);
}

static void
test_default_max_restarts_is_16(void **state)
{
	struct spec s = defaults();
	struct inst_counters c = {0};
	for (int i = 1; i < 16; i++)
		assert_int_equal(process_exit(&s, &c, 0, 1).action, EXIT_RESTART);
	assert_int_equal(process_exit(&s, &c, 0, 1).action, EXIT_ERRORED);
}

static void
test_max_restarts_zero(void **state)
{
	/* As in PM2 (unstable_restarts >= max_restarts): 0 never restarts. */
	struct spec s = defaults();
	s.max_restarts = 0;
	struct inst_counters c = {0};
	assert_int_equal(process_exit(&s, &c, 5000, 1).action, EXIT_ERRORED);
}

static void
test_custom_min_uptime(void **state)
{
	struct spec s = defaults();
	s.min_uptime = 5000;
	struct inst_counters c = {0};
	assert_true(process_exit(&s, &c, 4999, 1).unstable);
	assert_false(process_exit(&s, &c, 5000, 1).unstable);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_sequence),
		cmocka_unit_test(test_backoff_step),
		cmocka_unit_test(test_backoff_resets_after_30s_run),
		cmocka_unit_test(test_backoff_overrides_restart_delay),
		cmocka_unit_test(test_restart_delay_is_fixed),
		cmocka_unit_test(test_no_delay_by_default),
		cmocka_unit_test(test_spin_guard),
		cmocka_unit_test(test_autorestart_false),
		cmocka_unit_test(test_stop_exit_codes),
		cmocka_unit_test(test_max_restarts_errored),
		cmocka_unit_test(test_stable_run_clears_unstable_count),
		cmocka_unit_test(test_unstable_with_delays_still_errors),
		cmocka_unit_test(test_default_max_restarts_is_16),
		cmocka_unit_test(test_max_restarts_zero),
		cmocka_unit_test(test_custom_min_uptime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
