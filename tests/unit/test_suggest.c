/*
 * test_suggest.c — what an unknown command or option is taken for: a near
 * miss of the same kind or nothing; a destructive verb only for a one-edit
 * typo of that verb; and for PM2's commands that corral lacks, what to use
 * instead.
 */
#include "unit.h"

#include "cli/suggest.h"

static void
test_near_misses(void **state)
{
	assert_true(suggest_near_miss("strat", "start", false));     /* swapped letters */
	assert_true(suggest_near_miss("lsit", "list", false));
	assert_true(suggest_near_miss("jlst", "jlist", false));      /* a missing letter */
	assert_true(suggest_near_miss("descirbe", "describe", false));
	assert_true(suggest_near_miss("prettylsit", "prettylist", false));
	assert_true(suggest_near_miss("resurect", "resurrect", false));
	assert_true(suggest_near_miss("confgi", "config", false));
	/* Two edits are too many for a short name. */
	assert_false(suggest_near_miss("ping", "pid", false));
	assert_false(suggest_near_miss("monit", "config", false));
	assert_false(suggest_near_miss("frobnicate", "start", false));
	/* The name itself is no suggestion. */
	assert_false(suggest_near_miss("list", "list", false));
}

static void
test_destructive_verbs_need_a_one_edit_typo(void **state)
{
	assert_true(suggest_near_miss("restrat", "restart", true));
	assert_true(suggest_near_miss("delte", "delete", true));
	assert_true(suggest_near_miss("stpo", "stop", true));
	assert_true(suggest_near_miss("clearump", "cleardump", true));
	/* What used to be proposed. */
	assert_false(suggest_near_miss("heapdump", "cleardump", true));
	assert_false(suggest_near_miss("plus", "flush", true));
	assert_false(suggest_near_miss("restat", "reset", true));
	assert_false(suggest_near_miss("dele", "delete", true));
}

static void
test_pm2_commands_say_what_to_use(void **state)
{
	static const char *const missing[] = {"imonit", "heapdump", "profile:mem",
	    "plus", "link", "install", "module:install", "updatePM2", "serve", "report", "attach",
	    "trigger", "logrotate", "multiset", "gracefulReload"};
	for (size_t i = 0; i < ARRAY_LEN(missing); i++)
		if (!suggest_pm2_alternative(missing[i]))
			fail_msg("%s: no alternative", missing[i]);
	assert_non_null(strstr(suggest_pm2_alternative("imonit"), "corral monit"));
	/* corral has monit and dash itself. */
	assert_null(suggest_pm2_alternative("monit"));
	assert_null(suggest_pm2_alternative("dash"));
	/* corral has its own deploy now. */
	assert_null(suggest_pm2_alternative("deploy"));
	assert_null(suggest_pm2_alternative("start"));
	/* corral has its own update now. */
	assert_null(suggest_pm2_alternative("update"));
	assert_null(suggest_pm2_alternative("strat"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_near_misses),
		cmocka_unit_test(test_destructive_verbs_need_a_one_edit_typo),
		cmocka_unit_test(test_pm2_commands_say_what_to_use),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
