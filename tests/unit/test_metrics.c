/*
 * test_metrics.c — in-app metrics from untrusted apps (common/metrics.h):
 * the NOTIFY_SOCKET line, an app's IPC message and the agent's report; bad
 * names, units and values refused; at most METRICS_MAX names kept.
 */
#include <errno.h>
#include "unit.h"

#include <stdlib.h>

#include "common/metrics.h"

static double
value(json_t *store, const char *name)
{
	return json_number_value(json_object_get(json_object_get(store, name), "value"));
}

static const char *
unit(json_t *store, const char *name)
{
	return json_string_value(json_object_get(json_object_get(store, name), "unit"));
}

static int
notify(json_t **store, const char *line)
{
	return metrics_from_notify(store, line, strlen(line), 1000);
}

static void
test_notify_lines(void **state)
{
	json_t *s = NULL;
	assert_int_equal(notify(&s, "CORRAL_METRIC=queue_depth=42 jobs"), 1);
	assert_true(value(s, "queue_depth") == 42);
	assert_string_equal(unit(s, "queue_depth"), "jobs");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "queue_depth"),
	    "at")), 1000);
	assert_int_equal(notify(&s, "CORRAL_METRIC=latency=1.25"), 1);
	assert_true(value(s, "latency") == 1.25);
	assert_string_equal(unit(s, "latency"), "");
	assert_int_equal(notify(&s, "STATUS=serving"), -ENOENT);
	assert_int_equal(notify(&s, "READY=1"), -ENOENT);
	const char *bad[] = {"CORRAL_METRIC=", "CORRAL_METRIC==1", "CORRAL_METRIC=x=",
	    "CORRAL_METRIC=x=abc", "CORRAL_METRIC=x=1e999", "CORRAL_METRIC=x=nan",
	    "CORRAL_METRIC=x=inf", "CORRAL_METRIC=bad\"name=1", "CORRAL_METRIC=x=1 unit;rm",
	    "CORRAL_METRIC=x=1 a-unit-that-is-much-too-long",
	    "CORRAL_METRIC=a-name-that-goes-on-and-on-and-on-for-longer-than-allowed=1"};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		if (notify(&s, bad[i]) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	assert_int_equal(json_object_size(s), 2);
	/* A NUL inside the line is refused, not cut short. */
	assert_int_equal(metrics_from_notify(&s, "CORRAL_METRIC=y=1\0x", 19, 1), -EINVAL);
	json_decref(s);
}

static void
test_messages(void **state)
{
	json_t *s = NULL;
	json_t *m = json_loads("{\"type\":\"corral:metric\",\"name\":\"orders\",\"value\":7,"
	    "\"unit\":\"orders\"}", 0, NULL);
	assert_int_equal(metrics_from_message(&s, m, 5), 1);
	json_decref(m);
	assert_true(value(s, "orders") == 7);
	m = json_loads("{\"cmd\":\"NODE_CORRAL\",\"op\":\"metrics\",\"metrics\":{"
	    "\"heap_used\":{\"value\":4.5,\"unit\":\"MiB\"},\"bad\":{\"value\":\"x\"},"
	    "\"also bad\\n\":{\"value\":1}}}", 0, NULL);
	assert_int_equal(metrics_from_message(&s, m, 5), 1);
	json_decref(m);
	assert_true(value(s, "heap_used") == 4.5);
	assert_null(json_object_get(s, "bad"));
	/* Not a metric: someone else's message, the agent's answers. */
	const char *other[] = {"\"ready\"", "{\"type\":\"process:msg\"}",
	    "{\"cmd\":\"NODE_CORRAL\",\"op\":\"reply\",\"seq\":1}", "[1,2]"};
	for (size_t i = 0; i < ARRAY_LEN(other); i++) {
		m = json_loads(other[i], JSON_DECODE_ANY, NULL);
		assert_int_equal(metrics_from_message(&s, m, 5), -ENOENT);
		json_decref(m);
	}
	m = json_loads("{\"type\":\"corral:metric\",\"name\":\"x\"}", 0, NULL);
	assert_int_equal(metrics_from_message(&s, m, 5), -EINVAL);
	json_decref(m);
	json_decref(s);
}

static void
test_at_most_metrics_max_names(void **state)
{
	json_t *s = NULL;
	char line[64];
	for (int i = 0; i < METRICS_MAX; i++) {
		snprintf(line, sizeof(line), "CORRAL_METRIC=m%d=%d", i, i);
		assert_int_equal(notify(&s, line), 1);
	}
	assert_int_equal(notify(&s, "CORRAL_METRIC=one_more=1"), -ENOSPC);
	/* A known name still updates. */
	assert_int_equal(notify(&s, "CORRAL_METRIC=m3=33"), 1);
	assert_true(value(s, "m3") == 33);
	assert_int_equal(json_object_size(s), METRICS_MAX);
	json_decref(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify_lines),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_at_most_metrics_max_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
