/*
 * test_nodefmt.c — JSON values laid out as Node's util.inspect() does
 * (prettylist, id): quoting, keys, numbers, grouping of arrays into
 * columns, when an object shares a line. The expected texts are what
 * node 20 prints for the same values.
 */
#include "unit.h"

#include <jansson.h>
#include <stdlib.h>

#include "cli/nodefmt.h"

static const struct {
	const char *what;
	const char *json;
	const char *want;
} cases[] = {
	{"empty containers",
	    "[[], {}, [[]], {\"a\": {}}]",
	    "[ [], {}, [ [] ], { a: {} } ]"},
	{"pm2 id",
	    "[4, 5]",
	    "[ 4, 5 ]"},
	{"seven numbers are grouped, right-aligned",
	    "[1, 2, 3, 4, 5, 6, 700]",
	    "[\n"
	    "  1, 2,   3, 4,\n"
	    "  5, 6, 700\n"
	    "]"},
	{"strings are grouped left-aligned",
	    "[\"a\", \"bb\", \"ccc\", \"dddd\", \"e\", \"f\", \"g\", \"h\"]",
	    "[\n"
	    "  'a',   'bb',\n"
	    "  'ccc', 'dddd',\n"
	    "  'e',   'f',\n"
	    "  'g',   'h'\n"
	    "]"},
	{"quotes",
	    "[\"it's\", \"a\\\"b\", \"it's \\\"x\\\"\", \"it's \\\"x\\\" `y`\", \"tab\\there\", \"\\u007f\\u0085\\u0001\", \"back\\\\slash\"]",
	    "[\n"
	    "  \"it's\",\n"
	    "  'a\"b',\n"
	    "  `it's \"x\"`,\n"
	    "  'it\\'s \"x\" `y`',\n"
	    "  'tab\\there',\n"
	    "  '\\x7F\\x85\\x01',\n"
	    "  'back\\\\slash'\n"
	    "]"},
	{"keys",
	    "{\"a-b\": 1, \"2\": 3, \"1\": 4, \"_ok\": true, \"__proto__\": null, \"x1\": \"y\", \"it's\": 0}",
	    "{\n"
	    "  '1': 4,\n"
	    "  '2': 3,\n"
	    "  'a-b': 1,\n"
	    "  _ok: true,\n"
	    "  ['__proto__']: null,\n"
	    "  x1: 'y',\n"
	    "  \"it's\": 0\n"
	    "}"},
	{"numbers",
	    "[0.5, -0.0, 1e21, 1e-7, 123.0, 9007199254740993, 0.30000000000000004, -2.5e-12]",
	    "[\n"
	    "  0.5,\n"
	    "  -0,\n"
	    "  1e+21,\n"
	    "  1e-7,\n"
	    "  123,\n"
	    "  9007199254740992,\n"
	    "  0.30000000000000004,\n"
	    "  -2.5e-12\n"
	    "]"},
	{"what is nested decides what shares a line",
	    "[{\"a\": {\"b\": {\"c\": 1}}}, {\"a\": {\"b\": {\"c\": {\"d\": 1}}}}]",
	    "[\n"
	    "  { a: { b: { c: 1 } } },\n"
	    "  {\n"
	    "    a: { b: { c: { d: 1 } } }\n"
	    "  }\n"
	    "]"},
	{"a long string with newlines is split",
	    "{\"script\": \"line one is here\\nline two is here\\nline three is the last one and it is long enough\"}",
	    "{\n"
	    "  script: 'line one is here\\n' +\n"
	    "    'line two is here\\n' +\n"
	    "    'line three is the last one and it is long enough'\n"
	    "}"},
	{"wide characters align by columns",
	    "[\"日本\", \"ab\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\"]",
	    "[\n"
	    "  '日本', 'ab',\n"
	    "  'c',    'd',\n"
	    "  'e',    'f',\n"
	    "  'g',    'h'\n"
	    "]"},
	{"a process as prettylist shows it",
	    "{\"pid\": 0, \"name\": \"beta\", \"pm2_env\": {\"status\": \"stopped\", \"restart_time\": 0, \"namespace\": \"default\", \"exec_mode\": \"fork_mode\", \"pm_id\": 1, \"args\": [], \"node_args\": [\"--max-old-space-size=100\"], \"exit_code\": 1, \"pm_out_log_path\": \"/root/.corral/logs/beta-out.log\", \"version\": \"N/A\", \"NODE_APP_INSTANCE\": 0, \"autorestart\": false}, \"pm_id\": 1, \"monit\": {\"memory\": 0, \"cpu\": 0}}",
	    "{\n"
	    "  pid: 0,\n"
	    "  name: 'beta',\n"
	    "  pm2_env: {\n"
	    "    status: 'stopped',\n"
	    "    restart_time: 0,\n"
	    "    namespace: 'default',\n"
	    "    exec_mode: 'fork_mode',\n"
	    "    pm_id: 1,\n"
	    "    args: [],\n"
	    "    node_args: [ '--max-old-space-size=100' ],\n"
	    "    exit_code: 1,\n"
	    "    pm_out_log_path: '/root/.corral/logs/beta-out.log',\n"
	    "    version: 'N/A',\n"
	    "    NODE_APP_INSTANCE: 0,\n"
	    "    autorestart: false\n"
	    "  },\n"
	    "  pm_id: 1,\n"
	    "  monit: { memory: 0, cpu: 0 }\n"
	    "}"},
};

static void
test_like_node(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		json_error_t e;
		json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, &e);
		if (!v)
			fail_msg("%s: bad JSON: %s", cases[i].what, e.text);
		char *got = nodefmt_json(v);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%s:\nwant:\n%s\ngot:\n%s", cases[i].what, cases[i].want, got);
		free(got);
		json_decref(v);
	}
}

static void
test_long_arrays_and_strings_are_cut(void **state)
{
	json_t *a = json_array();
	for (int i = 0; i < 103; i++)
		json_array_append_new(a, json_integer(i));
	char *got = nodefmt_json(a);
	assert_non_null(strstr(got, " 99,\n  ... 3 more items\n]"));
	free(got);
	json_decref(a);
	char *text = malloc(10003);
	memset(text, 'x', 10002);
	text[10002] = '\0';
	json_t *s = json_string(text);
	got = nodefmt_json(s);
	assert_int_equal(strlen(got), 10023);
	assert_string_equal(got + 10001, "'... 2 more characters");
	free(got);
	json_decref(s);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_like_node),
		cmocka_unit_test(test_long_arrays_and_strings_are_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
