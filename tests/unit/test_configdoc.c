/*
 * test_configdoc.c — the ecosystem file loaders: trees, positions, errors.
 *
 * Files live in tests/fixtures/loaders (found next to this source, or at
 * $CORRAL_FIXTURES); the JavaScript tests run the real node.
 */
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "config/doc.h"

static char fixtures[PATH_MAX];

static char *
fixture(const char *name)
{
	return xasprintf("%s/%s", fixtures, name);
}

static int
find_fixtures(void **state)
{
	const char *env = getenv("CORRAL_FIXTURES");
	char *guess = NULL;
	if (env == NULL) {
		/* __FILE__ is tests/unit/test_configdoc.c, relative to the top. */
		char *dir = xstrdup(__FILE__);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		guess = xasprintf("%s/../fixtures/loaders", slash ? dir : ".");
		free(dir);
	}
	if (realpath(env ? env : guess, fixtures) == NULL) {
		fprintf(stderr, "cannot find tests/fixtures/loaders (set CORRAL_FIXTURES)\n");
		free(guess);
		return -1;
	}
	free(guess);
	return 0;
}

/* Position helpers: assert an exact line:col. */
static void
assert_at(const struct config_doc *doc, const json_t *v, int line, int col)
{
	int l = 0, c = 0;
	assert_true(config_doc_where(doc, v, &l, &c));
	assert_int_equal(l, line);
	assert_int_equal(c, col);
}

static void
assert_key_at(const struct config_doc *doc, const json_t *obj, const char *key, int line,
    int col)
{
	int l = 0, c = 0;
	assert_true(config_doc_where_key(doc, obj, key, &l, &c));
	assert_int_equal(l, line);
	assert_int_equal(c, col);
}

static void
assert_member_at(const struct config_doc *doc, const json_t *obj, const char *key, int line,
    int col)
{
	int l = 0, c = 0;
	assert_true(config_doc_where_member(doc, obj, key, &l, &c));
	assert_int_equal(l, line);
	assert_int_equal(c, col);
}

static json_t *
app(const struct config_doc *doc, size_t i)
{
	json_t *a = json_array_get(json_object_get(config_doc_root(doc), "apps"), i);
	assert_non_null(a);
	return a;
}

static const char *
str_at(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	assert_non_null(s);
	return s;
}

/* Load and expect success; returns the document. */
static struct config_doc *
load_ok(const char *path, json_t **warnings)
{
	struct config_doc *doc = NULL;
	char *err = NULL;
	int rc = config_doc_load(path, &doc, warnings, &err);
	if (rc != 0)
		fail_msg("%s: rc %d: %s", path, rc, err ? err : "(no message)");
	assert_null(err);
	assert_non_null(doc);
	return doc;
}

/* Load and expect failure; returns the message (caller frees). */
static char *
load_fail(const char *path, int want_rc)
{
	struct config_doc *doc = NULL;
	char *err = NULL;
	json_t *warnings = NULL;
	int rc = config_doc_load(path, &doc, &warnings, &err);
	assert_int_equal(rc, want_rc);
	assert_null(doc);
	assert_non_null(err);
	assert_null(strchr(err, '\n'));
	json_decref(warnings);
	return err;
}

static struct config_doc *
json_mem_ok(const char *text, json_t **warnings)
{
	struct config_doc *doc = NULL;
	char *err = NULL;
	int rc = config_doc_load_json_mem("t.json", text, strlen(text), &doc, warnings, &err);
	if (rc != 0)
		fail_msg("rc %d: %s", rc, err ? err : "(no message)");
	return doc;
}

static void
json_mem_error(const char *text, const char *want)
{
	struct config_doc *doc = NULL;
	char *err = NULL;
	int rc = config_doc_load_json_mem("t.json", text, strlen(text), &doc, NULL, &err);
	assert_int_equal(rc, -EINVAL);
	assert_null(doc);
	assert_non_null(err);
	assert_string_equal(err, want);
	free(err);
}

static struct config_doc *
yaml_mem_ok(const char *text, json_t **warnings)
{
	struct config_doc *doc = NULL;
	char *err = NULL;
	int rc = config_doc_load_yaml_mem("t.yaml", text, strlen(text), &doc, warnings, &err);
	if (rc != 0)
		fail_msg("rc %d: %s", rc, err ? err : "(no message)");
	return doc;
}

static char *
yaml_mem_error(const char *text)
{
	struct config_doc *doc = NULL;
	char *err = NULL;
	int rc = config_doc_load_yaml_mem("t.yaml", text, strlen(text), &doc, NULL, &err);
	assert_int_equal(rc, -EINVAL);
	assert_null(doc);
	assert_non_null(err);
	assert_null(strchr(err, '\n'));
	return err;
}

static void
assert_one_warning(json_t *warnings, const char *want)
{
	assert_non_null(warnings);
	assert_int_equal(json_array_size(warnings), 1);
	assert_string_equal(json_string_value(json_array_get(warnings, 0)), want);
}

/* ---- JSON ---- */

static void
test_json_positions(void **state)
{
	char *path = fixture("good.json");
	json_t *warnings = NULL;
	struct config_doc *doc = load_ok(path, &warnings);
	assert_null(warnings);
	assert_int_equal(config_doc_format(doc), CONFIG_JSON);
	assert_string_equal(config_doc_path(doc), path);

	json_t *root = config_doc_root(doc);
	json_t *apps = json_object_get(root, "apps");
	json_t *a0 = app(doc, 0), *a1 = app(doc, 1);
	json_t *env = json_object_get(a0, "env");

	assert_at(doc, root, 1, 1);
	assert_key_at(doc, root, "apps", 2, 3);
	assert_at(doc, apps, 2, 11);
	assert_at(doc, a0, 3, 5);
	assert_key_at(doc, a0, "name", 4, 7);
	assert_at(doc, json_object_get(a0, "name"), 4, 15);
	assert_at(doc, json_object_get(a0, "instances"), 6, 20);
	assert_at(doc, json_object_get(a0, "max_memory_restart"), 7, 29);
	/* true is shared by jansson: only through its container. */
	assert_false(config_doc_where(doc, json_object_get(a0, "autorestart"), NULL, NULL));
	assert_member_at(doc, a0, "autorestart", 8, 22);
	assert_key_at(doc, a0, "autorestart", 8, 7);
	assert_key_at(doc, env, "PORT", 9, 16);
	assert_at(doc, json_object_get(env, "PORT"), 9, 24);
	assert_at(doc, json_object_get(env, "NODE_ENV"), 9, 42);
	assert_at(doc, a1, 11, 5);
	/* A \u escape in the value; several members on one line. */
	assert_string_equal(str_at(a1, "name"), "w\xc3\xa9rker");
	assert_at(doc, json_object_get(a1, "name"), 12, 15);
	assert_key_at(doc, a1, "script", 12, 30);
	json_t *args = json_object_get(a1, "args");
	assert_at(doc, json_array_get(args, 1), 12, 73);
	int l, c;
	assert_true(config_doc_where_index(doc, args, 0, &l, &c));
	assert_int_equal(l, 12);
	assert_int_equal(c, 62);
	/* Not part of the tree. */
	json_t *stranger = json_string("x");
	assert_false(config_doc_where(doc, stranger, &l, &c));
	assert_false(config_doc_where_key(doc, a0, "nope", &l, &c));
	assert_false(config_doc_where_index(doc, args, 2, &l, &c));
	json_decref(stranger);
	config_doc_free(doc);
	free(path);
}

static void
test_json_lenient(void **state)
{
	char *path = fixture("lenient.json");
	json_t *warnings = NULL;
	struct config_doc *doc = load_ok(path, &warnings);
	char *want = xasprintf("%s: not strict JSON (comments or trailing commas); accepted as "
	    "PM2 does", path);
	assert_one_warning(warnings, want);

	json_t *root = config_doc_root(doc), *a0 = app(doc, 0);
	assert_int_equal(json_array_size(json_object_get(root, "apps")), 1);
	assert_string_equal(str_at(a0, "url"), "http://example.com/a//b");
	assert_string_equal(str_at(a0, "note"), "/* not a comment */");
	assert_int_equal(json_integer_value(json_object_get(a0, "instances")), 2);
	assert_at(doc, root, 2, 1);
	assert_key_at(doc, root, "apps", 4, 3);
	assert_at(doc, a0, 5, 5);
	assert_at(doc, json_object_get(a0, "name"), 6, 15);
	assert_at(doc, json_object_get(a0, "instances"), 9, 20);
	config_doc_free(doc);
	json_decref(warnings);
	free(want);
	free(path);
}

static void
test_json_syntax_error(void **state)
{
	char *path = fixture("syntax.json");
	char *err = load_fail(path, -EINVAL);
	char *want = xasprintf("%s:5:7: ',' or '}' expected near '\"script\"'", path);
	assert_string_equal(err, want);
	free(want);
	free(err);
	free(path);
}

static void
test_json_errors_from_memory(void **state)
{
	json_mem_error("{\n  \"a\": 1,\n  /* never closed", "t.json:3:3: unterminated /* comment");
	json_mem_error("[1, 2,\n  3 4]", "t.json:2:5: ',' or ']' expected near '4'");
	json_mem_error("{\"a\": tru}", "t.json:1:7: invalid token near 'tru'");
	json_mem_error("{\"a\": 12345678901234567890}",
	    "t.json:1:7: too big integer near '12345678901234567890'");
	json_mem_error("{\"a\": \"abc", "t.json:1:7: premature end of input near '\"abc'");
	json_mem_error("", "t.json:1:1: unexpected token near end of file");
	json_mem_error("[,]", "t.json:1:2: unexpected token near ','");
	json_mem_error("{,}", "t.json:1:2: string or '}' expected near ','");
	json_mem_error("[1,,]", "t.json:1:4: unexpected token near ','");
	/* Columns count characters, in comments too. */
	json_mem_error("[/* \xc3\xa9\xc3\xa9\xc3\xa9 */ x]", "t.json:1:12: invalid token near 'x'");
	json_mem_error("{\"a\": 1, // c\n \"b\": x}", "t.json:2:7: invalid token near 'x'");
	/* jansson would skip a raw NUL byte; it is refused instead. */
	struct config_doc *doc = NULL;
	char *err = NULL;
	assert_int_equal(config_doc_load_json_mem("t.json", "[1,\n 2\0]", 8, &doc, NULL, &err),
	    -EINVAL);
	assert_string_equal(err, "t.json:2:3: a NUL byte (is this a binary file?)");
	free(err);
	/* Control characters in a message are escaped: one line. */
	json_mem_error("[\"a\",\n\x01]", "t.json:2:1: invalid token near '\\x01'");
	json_mem_error("{\"a\": \"\\u0000\"}",
	    "t.json:1:7: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"\\u0000\"'");
}

static void
test_json_edge_cases(void **state)
{
	json_t *warnings = NULL;
	/* A byte order mark is dropped; a scalar root is allowed. */
	struct config_doc *doc = json_mem_ok("\xef\xbb\xbf  42", &warnings);
	assert_null(warnings);
	assert_int_equal(json_integer_value(config_doc_root(doc)), 42);
	assert_at(doc, config_doc_root(doc), 1, 3);
	config_doc_free(doc);

	/* Duplicate keys: the last wins, where it was written, with a note. */
	doc = json_mem_ok("{\"a\": {\"x\": 1},\n \"a\": [7, 8]}", &warnings);
	json_t *a = json_object_get(config_doc_root(doc), "a");
	assert_true(json_is_array(a));
	assert_at(doc, a, 2, 7);
	assert_key_at(doc, config_doc_root(doc), "a", 2, 2);
	assert_at(doc, json_array_get(a, 1), 2, 11);
	assert_one_warning(warnings, "t.json:2:2: duplicate key \"a\"; the last one is used, "
	    "as in PM2");
	json_decref(warnings);
	warnings = NULL;
	config_doc_free(doc);

	/* Escaped keys are matched by their decoded names. */
	doc = json_mem_ok("{\"n\\u0061me\": \"x\", \"q\\\"\": \"//\"}", &warnings);
	assert_null(warnings);
	assert_key_at(doc, config_doc_root(doc), "name", 1, 2);
	assert_key_at(doc, config_doc_root(doc), "q\"", 1, 20);
	assert_string_equal(str_at(config_doc_root(doc), "q\""), "//");
	config_doc_free(doc);

	/* A trailing comma behind a comment, and a comment at the very end. */
	doc = json_mem_ok("[1, 2, /* c */\n] // end", &warnings);
	assert_int_equal(json_array_size(config_doc_root(doc)), 2);
	assert_non_null(warnings);
	json_decref(warnings);
	config_doc_free(doc);

	/* Notes are dropped when the caller passes no array. */
	doc = json_mem_ok("[1, 2,]", NULL);
	assert_int_equal(json_array_size(config_doc_root(doc)), 2);
	config_doc_free(doc);
}

static char *saved_path_env;

static void
path_without_node(const char *dir)
{
	const char *p = getenv("PATH");
	saved_path_env = xstrdup(p ? p : "");
	setenv("PATH", dir, 1);
}

static void
path_restore(void)
{
	setenv("PATH", saved_path_env, 1);
	free(saved_path_env);
	saved_path_env = NULL;
}

static void
test_json5_through_node(void **state)
{
	if (!config_doc_have_node())
		skip();
	char *path = fixture("json5.json");
	json_t *warnings = NULL;
	struct config_doc *doc = load_ok(path, &warnings);
	char *want = xasprintf("%s: not JSON; evaluated as JavaScript as PM2 does", path);
	assert_one_warning(warnings, want);
	assert_int_equal(config_doc_format(doc), CONFIG_JSON);
	json_t *a0 = app(doc, 0);
	assert_string_equal(str_at(a0, "name"), "api");
	assert_int_equal(json_integer_value(json_object_get(a0, "instances")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(a0, "env"), "PORT")),
	    3000);
	assert_false(config_doc_where(doc, a0, NULL, NULL));
	config_doc_free(doc);
	json_decref(warnings);
	free(want);

	/* Without node, jansson's error stands. */
	path_without_node(fixtures);
	char *err = load_fail(path, -EINVAL);
	path_restore();
	want = xasprintf("%s:3:3: string or '}' expected near 'apps'", path);
	assert_string_equal(err, want);
	free(err);
	free(want);
	free(path);
}

/* ---- YAML ---- */

static void
test_yaml_scalars(void **state)
{
	static const struct {
		const char *text;
		const char *want;	/* JSON */
	} cases[] = {
		{"true", "true"}, {"True", "true"}, {"TRUE", "true"}, {"false", "false"},
		{"yes", "\"yes\""}, {"on", "\"on\""}, {"No", "\"No\""},
		{"null", "null"}, {"~", "null"}, {"Null", "null"}, {"", "null"},
		{"0x1f", "31"}, {"-0x1F", "-31"}, {"0o17", "15"}, {"0b101", "5"},
		{"012", "12"}, {"1_000", "1000"}, {"+12", "12"}, {"-42", "-42"}, {"0", "0"},
		{"1.5", "1.5"}, {".5", "0.5"}, {"1e3", "1000.0"}, {"-2.5E-3", "-0.0025"},
		{"\"1\"", "\"1\""}, {"'0x1f'", "\"0x1f\""}, {"\"true\"", "\"true\""},
		{"1.2.3", "\"1.2.3\""}, {"2024-01-01", "\"2024-01-01\""}, {"-.5", "\"-.5\""},
		{"1_", "\"1_\""}, {"0x", "\"0x\""}, {"200M", "\"200M\""},
		{"hello world", "\"hello world\""},
		{"!!str 42", "\"42\""}, {"!!int \"7\"", "7"}, {"! 12", "\"12\""},
		{"!!float 3", "3.0"}, {"!!bool \"false\"", "false"},
		{"9223372036854775807", "9223372036854775807"},
		{"99999999999999999999", "1e20"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *text = xasprintf("v: %s\n", cases[i].text);
		struct config_doc *doc = yaml_mem_ok(text, NULL);
		json_t *want = json_loads(cases[i].want, JSON_DECODE_ANY, NULL);
		json_t *got = json_object_get(config_doc_root(doc), "v");
		assert_non_null(want);
		assert_non_null(got);
		if (json_typeof(got) != json_typeof(want) ||
		    (json_is_real(want) && json_real_value(want) != json_real_value(got)) ||
		    (!json_is_real(want) && !json_equal(got, want)))
			fail_msg("v: %s gave %s, want %s", cases[i].text,
			    json_dumps(got, JSON_ENCODE_ANY), cases[i].want);
		json_decref(want);
		config_doc_free(doc);
		free(text);
	}
	static const char *const not_finite[] = {".inf", "-.Inf", ".nan", "1e999"};
	for (size_t i = 0; i < ARRAY_LEN(not_finite); i++) {
		char *text = xasprintf("a: 1\nv:  %s\n", not_finite[i]);
		char *err = yaml_mem_error(text);
		char *want = xasprintf("t.yaml:2:5: %s is not a finite number", not_finite[i]);
		assert_string_equal(err, want);
		free(want);
		free(err);
		free(text);
	}
}

static void
test_yaml_positions(void **state)
{
	char *path = fixture("ecosystem.yaml");
	struct config_doc *doc = load_ok(path, NULL);
	assert_int_equal(config_doc_format(doc), CONFIG_YAML);
	json_t *a0 = app(doc, 0);
	assert_at(doc, config_doc_root(doc), 1, 1);
	assert_key_at(doc, config_doc_root(doc), "apps", 1, 1);
	assert_at(doc, a0, 2, 5);
	assert_key_at(doc, a0, "script", 3, 5);
	assert_at(doc, json_object_get(a0, "script"), 3, 13);
	assert_at(doc, json_object_get(a0, "instances"), 4, 16);
	assert_int_equal(json_integer_value(json_object_get(a0, "instances")), 4);
	config_doc_free(doc);
	free(path);

	doc = yaml_mem_ok("list: [a, \"b\", {k: true}]\n", NULL);
	json_t *list = json_object_get(config_doc_root(doc), "list");
	assert_at(doc, list, 1, 7);
	assert_at(doc, json_array_get(list, 1), 1, 11);
	assert_at(doc, json_array_get(list, 2), 1, 16);
	assert_member_at(doc, json_array_get(list, 2), "k", 1, 20);
	config_doc_free(doc);
}

static const char anchors_yaml[] =
    "base: &base\n"				/* 1 */
    "  script: server.js\n"			/* 2 */
    "  env: &env\n"				/* 3 */
    "    NODE_ENV: production\n"		/* 4 */
    "apps:\n"					/* 5 */
    "  - name: a\n"				/* 6 */
    "    env: *env\n"				/* 7 */
    "  - <<: *base\n"				/* 8 */
    "    name: b\n"				/* 9 */
    "    script: override.js\n"		/* 10 */
    "  - name: c\n"				/* 11 */
    "    <<: [*base, {instances: 3, script: other.js}]\n"; /* 12 */

static void
test_yaml_anchors_and_merges(void **state)
{
	struct config_doc *doc = yaml_mem_ok(anchors_yaml, NULL);
	json_t *root = config_doc_root(doc);
	json_t *base_env = json_object_get(json_object_get(root, "base"), "env");
	json_t *a0 = app(doc, 0), *a1 = app(doc, 1), *a2 = app(doc, 2);

	/* An alias is a copy, placed where the alias is; its insides keep the
	 * positions of what it copies. */
	json_t *env0 = json_object_get(a0, "env");
	assert_true(json_equal(env0, base_env));
	assert_ptr_not_equal(env0, base_env);
	assert_at(doc, env0, 7, 10);
	assert_at(doc, json_object_get(env0, "NODE_ENV"), 4, 15);
	assert_key_at(doc, env0, "NODE_ENV", 4, 5);

	/* << merges; explicit keys win wherever they are. */
	assert_string_equal(str_at(a1, "name"), "b");
	assert_string_equal(str_at(a1, "script"), "override.js");
	assert_at(doc, json_object_get(a1, "script"), 10, 13);
	assert_string_equal(str_at(json_object_get(a1, "env"), "NODE_ENV"), "production");
	assert_key_at(doc, a1, "env", 3, 3);
	assert_ptr_not_equal(json_object_get(a1, "env"), base_env);

	/* A list of mappings: the first that has a key gives it. */
	assert_string_equal(str_at(a2, "name"), "c");
	assert_string_equal(str_at(a2, "script"), "server.js");
	assert_int_equal(json_integer_value(json_object_get(a2, "instances")), 3);
	assert_at(doc, json_object_get(a2, "instances"), 12, 29);
	config_doc_free(doc);

	char *err = yaml_mem_error("a: 1\nb: 2\na: 3\n");
	assert_string_equal(err, "t.yaml:3:1: duplicated mapping key \"a\"");
	free(err);
	err = yaml_mem_error("a:\n  <<: 5\n");
	assert_string_equal(err, "t.yaml:2:7: cannot merge mappings; a << value must be a "
	    "mapping or a list of mappings");
	free(err);
	err = yaml_mem_error("a: &x 1\nb: *y\n");
	assert_string_equal(err, "t.yaml:2:4: unknown alias *y (no anchor &y before it)");
	free(err);
}

static void
test_yaml_billion_laughs(void **state)
{
	struct sbuf b = SBUF_INIT;
	sbuf_adds(&b, "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
	for (char c = 'b'; c <= 'k'; c++) {
		sbuf_addf(&b, "%c: &%c [", c, c);
		for (int i = 0; i < 10; i++)
			sbuf_addf(&b, "%s*%c", i ? ", " : "", c - 1);
		sbuf_adds(&b, "]\n");
	}
	int64_t start = mono_ms();
	struct config_doc *doc = NULL;
	char *err = NULL;
	assert_int_equal(config_doc_load_yaml_mem("t.yaml", b.s, b.len, &doc, NULL, &err),
	    -EFBIG);
	assert_null(doc);
	assert_non_null(strstr(err, "aliases expand to more than 100000 values"));
	assert_true(mono_ms() - start < 5000);
	free(err);
	sbuf_free(&b);
}

static void
test_yaml_errors(void **state)
{
	char *err = yaml_mem_error("apps:\n  - name: api\n   script: x\n");
	assert_string_equal(err, "t.yaml:3:4: did not find expected '-' indicator (while "
	    "parsing a block collection that starts at 2:3)");
	free(err);
	err = yaml_mem_error("? [a, b]\n: c\n");
	assert_string_equal(err, "t.yaml:1:3: a mapping key must be a scalar, not a sequence");
	free(err);
	err = yaml_mem_error("a: !custom 1\n");
	assert_string_equal(err, "t.yaml:1:4: unknown tag !<!custom>");
	free(err);
	err = yaml_mem_error("ok: 1\nbad: \xff\n");
	assert_string_equal(err, "t.yaml:2:6: invalid leading UTF-8 octet (byte 0xFF)");
	free(err);
	err = yaml_mem_error("# only a comment\n");
	assert_string_equal(err, "t.yaml: no YAML document in the file (it is empty)");
	free(err);

	struct sbuf deep = SBUF_INIT;
	for (int i = 0; i < 5000; i++)
		sbuf_addc(&deep, '[');
	err = yaml_mem_error(deep.s);
	assert_non_null(strstr(err, "nested deeper than 1000 levels"));
	free(err);
	sbuf_free(&deep);
}

static void
test_yaml_documents(void **state)
{
	json_t *warnings = NULL;
	struct config_doc *doc = yaml_mem_ok("a: 1\n---\nb: 2\n", &warnings);
	assert_int_equal(json_integer_value(json_object_get(config_doc_root(doc), "a")), 1);
	assert_null(json_object_get(config_doc_root(doc), "b"));
	assert_one_warning(warnings, "t.yaml:2:1: a second YAML document starts here; only "
	    "the first is used");
	json_decref(warnings);
	config_doc_free(doc);

	/* Keys are scalars written as JavaScript would: String(key). */
	doc = yaml_mem_ok("{1: a, 0x1f: b, true: c, ~: d, 1.5: e, '<<': f}\n", NULL);
	json_t *want = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "1", "a", "31", "b",
	    "true", "c", "null", "d", "1.5", "e", "<<", "f");
	assert_true(json_equal(config_doc_root(doc), want));
	json_decref(want);
	config_doc_free(doc);
}

/* ---- JavaScript ---- */

static struct config_doc *
js_ok(const char *name)
{
	char *path = fixture(name);
	struct config_doc *doc = load_ok(path, NULL);
	assert_int_equal(config_doc_format(doc), CONFIG_JS);
	assert_false(config_doc_where(doc, config_doc_root(doc), NULL, NULL));
	free(path);
	return doc;
}

static char *
js_fail(const char *name, int want_rc)
{
	char *path = fixture(name);
	char *err = load_fail(path, want_rc);
	/* The message names the file first. */
	assert_true(str_starts(err, path));
	free(path);
	return err;
}

static void
test_js_module_exports(void **state)
{
	if (!config_doc_have_node())
		skip();
	struct config_doc *doc = js_ok("module_exports.config.js");
	assert_string_equal(str_at(app(doc, 0), "name"), "api");
	assert_int_equal(json_integer_value(json_object_get(app(doc, 0), "instances")), 2);
	config_doc_free(doc);

	doc = js_ok("array.config.cjs");
	assert_true(json_is_array(config_doc_root(doc)));
	assert_int_equal(json_array_size(config_doc_root(doc)), 2);
	config_doc_free(doc);
}

static void
test_js_esm(void **state)
{
	if (!config_doc_have_node())
		skip();
	struct config_doc *doc = js_ok("default.config.mjs");
	assert_string_equal(str_at(app(doc, 0), "name"), "esm-default");
	assert_null(json_object_get(config_doc_root(doc), "default"));
	config_doc_free(doc);

	doc = js_ok("named.config.mjs");
	assert_string_equal(str_at(app(doc, 0), "name"), "esm-named");
	config_doc_free(doc);

	/* A .js file under "type": "module": require() refuses, import() works. */
	doc = js_ok("typemodule/ecosystem.config.js");
	assert_string_equal(str_at(app(doc, 0), "name"), "typemodule");
	config_doc_free(doc);
}

static void
test_js_dirname_require_env(void **state)
{
	if (!config_doc_have_node())
		skip();
	struct config_doc *doc = js_ok("dirname.config.js");
	json_t *a0 = app(doc, 0);
	char *script = xasprintf("%s/server.js", fixtures);
	assert_string_equal(str_at(a0, "script"), script);
	assert_string_equal(str_at(a0, "cwd"), fixtures);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(a0, "env"), "PORT")),
	    4100);
	free(script);
	config_doc_free(doc);

	setenv("CORRAL_TEST_VALUE", "from the environment", 1);
	doc = js_ok("env.config.js");
	unsetenv("CORRAL_TEST_VALUE");
	assert_string_equal(str_at(json_object_get(app(doc, 0), "env"), "FROM_ENV"),
	    "from the environment");
	config_doc_free(doc);
}

static char *
slurp(const char *path)
{
	char *text = NULL;
	assert_int_equal(read_file(path, &text, NULL, 1 << 20), 0);
	return text;
}

static void
test_js_console_output(void **state)
{
	if (!config_doc_have_node())
		skip();
	/* Our stdout must stay clean (it may carry a protocol); the config's
	 * prints all go to our stderr. */
	char out_path[] = "/tmp/corral-test-out-XXXXXX";
	char err_path[] = "/tmp/corral-test-err-XXXXXX";
	int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
	assert_true(out_fd >= 0 && err_fd >= 0);
	fflush(stdout);
	fflush(stderr);
	int saved_out = dup(1), saved_err = dup(2);
	dup2(out_fd, 1);
	dup2(err_fd, 2);
	char *path = fixture("logs.config.js");
	struct config_doc *doc = NULL;
	char *err = NULL;
	int rc = config_doc_load(path, &doc, NULL, &err);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	assert_int_equal(rc, 0);
	assert_string_equal(str_at(app(doc, 0), "name"), "chatty");

	char *out_text = slurp(out_path), *err_text = slurp(err_path);
	assert_string_equal(out_text, "");
	assert_non_null(strstr(err_text, "hello from the config on stdout"));
	assert_non_null(strstr(err_text, "hello from the config on stderr"));
	free(out_text);
	free(err_text);
	close(out_fd);
	close(err_fd);
	unlink(out_path);
	unlink(err_path);
	config_doc_free(doc);
	free(path);
}

static void
test_js_errors(void **state)
{
	if (!config_doc_have_node())
		skip();
	char *err = js_fail("throws.config.js", -EINVAL);
	char *where = fixture("throws.config.js:4");
	assert_non_null(strstr(err, ": Error: no port configured for api (at "));
	assert_non_null(strstr(err, where));
	assert_null(strstr(err, "second line"));
	free(where);
	free(err);

	err = js_fail("cjs_syntax.config.js", -EINVAL);
	where = fixture("cjs_syntax.config.js:2");
	assert_non_null(strstr(err, "SyntaxError: "));
	assert_non_null(strstr(err, where));
	free(where);
	free(err);

	err = js_fail("esm_syntax.config.mjs", -EINVAL);
	where = fixture("esm_syntax.config.mjs:2");
	assert_non_null(strstr(err, "SyntaxError: "));
	assert_non_null(strstr(err, where));
	free(where);
	free(err);

	/* module.exports under "type": "module" fails as under PM2 (node's
	 * ReferenceError), not "no apps" from writing into the loader's own
	 * module object; node's advice comes along. */
	err = js_fail("typemodule/cjs.config.js", -EINVAL);
	where = fixture("typemodule/cjs.config.js:1");
	assert_non_null(strstr(err, "ReferenceError: module is not defined in ES module scope"));
	assert_non_null(strstr(err, where));
	assert_non_null(strstr(err, ".cjs"));
	free(where);
	free(err);

	err = js_fail("exit.config.js", -EINVAL);
	assert_non_null(strstr(err, "node exited with status 3"));
	free(err);

	err = js_fail("bigint.config.js", -EINVAL);
	assert_non_null(strstr(err, "TypeError: Do not know how to serialize a BigInt"));
	free(err);

	err = js_fail("missing.config.js", -ENOENT);
	assert_non_null(strstr(err, ": No such file or directory"));
	free(err);
}

static int
count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* Processes whose parent is us, or whose command line mentions `needle`. */
static int
count_processes(const char *needle)
{
	int count = 0;
	DIR *d = opendir("/proc");
	assert_non_null(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char *p = xasprintf("/proc/%s/stat", e->d_name);
		char *stat_text = NULL;
		if (read_file(p, &stat_text, NULL, 1 << 16) == 0) {
			const char *close_paren = strrchr(stat_text, ')');
			char state;
			int ppid;
			if (close_paren && sscanf(close_paren + 1, " %c %d", &state, &ppid) == 2 &&
			    ppid == (int)getpid())
				count++;
		}
		free(stat_text);
		free(p);
		p = xasprintf("/proc/%s/cmdline", e->d_name);
		char *cmd = NULL;
		size_t len = 0;
		if (read_file(p, &cmd, &len, 1 << 20) == 0 && memmem(cmd, len, needle,
		    strlen(needle)) != NULL && atoi(e->d_name) != (int)getpid())
			count++;
		free(cmd);
		free(p);
	}
	closedir(d);
	return count;
}

static void
test_js_timeout(void **state)
{
	if (!config_doc_have_node())
		skip();
	int fds = count_fds();
	setenv("CORRAL_CONFIG_TIMEOUT_MS", "1000", 1);
	int64_t start = mono_ms();
	char *err = js_fail("loop.config.js", -ETIMEDOUT);
	int64_t took = mono_ms() - start;
	unsetenv("CORRAL_CONFIG_TIMEOUT_MS");
	char *path = fixture("loop.config.js");
	char *want = xasprintf("%s: node did not finish evaluating the config within 1 s (an "
	    "infinite loop or a pending timer?)", path);
	assert_string_equal(err, want);
	assert_true(took >= 1000 && took < 3000);
	assert_int_equal(count_processes("loop.config.js"), 0);
	assert_int_equal(count_fds(), fds);
	free(want);
	free(path);
	free(err);
}

static void
test_js_lingering_timer(void **state)
{
	if (!config_doc_have_node())
		skip();
	/* A config that leaves a timer and a listening server is still done
	 * as soon as it has answered; what it left is killed. */
	int fds = count_fds();
	setenv("CORRAL_CONFIG_TIMEOUT_MS", "8000", 1);
	int64_t start = mono_ms();
	struct config_doc *doc = js_ok("timer.config.js");
	int64_t took = mono_ms() - start;
	unsetenv("CORRAL_CONFIG_TIMEOUT_MS");
	assert_string_equal(str_at(app(doc, 0), "name"), "lingering");
	assert_true(took < 4000);
	assert_int_equal(count_processes("timer.config.js"), 0);
	assert_int_equal(count_fds(), fds);
	config_doc_free(doc);
}

static void
test_js_without_node(void **state)
{
	path_without_node(fixtures);
	char *err = js_fail("module_exports.config.js", -ENOENT);
	path_restore();
	char *path = fixture("module_exports.config.js");
	char *want = xasprintf("%s: a JavaScript config needs node, which is not on PATH", path);
	assert_string_equal(err, want);
	free(want);
	free(path);
	free(err);
}

/* ---- dispatch ---- */

static void
test_dispatch(void **state)
{
	char *err = load_fail("ecosystem.txt", -EINVAL);
	assert_string_equal(err, "ecosystem.txt: not a config file name (expected .json, .json5, "
	    ".yaml, .yml, .js, .cjs or .mjs)");
	free(err);

	char *path = fixture("no-such-file.json");
	err = load_fail(path, -ENOENT);
	char *want = xasprintf("%s: No such file or directory", path);
	assert_string_equal(err, want);
	free(want);
	free(err);
	free(path);

	/* Too large: refused before parsing. */
	char big[] = "/tmp/corral-test-big-XXXXXX.json";
	int fd = mkstemps(big, 5);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)CONFIG_DOC_MAX_BYTES + 1), 0);
	close(fd);
	err = load_fail(big, -EFBIG);
	assert_non_null(strstr(err, "larger than 16 MiB"));
	free(err);
	unlink(big);

	/* The same bytes, named .yml, go to the YAML loader. */
	char yml[] = "/tmp/corral-test-XXXXXX.yml";
	fd = mkstemps(yml, 4);
	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, "apps: [{name: x}]\n", 18), 0);
	close(fd);
	struct config_doc *doc = load_ok(yml, NULL);
	assert_int_equal(config_doc_format(doc), CONFIG_YAML);
	assert_string_equal(str_at(app(doc, 0), "name"), "x");
	config_doc_free(doc);
	unlink(yml);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_positions),
		cmocka_unit_test(test_json_lenient),
		cmocka_unit_test(test_json_syntax_error),
		cmocka_unit_test(test_json_errors_from_memory),
		cmocka_unit_test(test_json_edge_cases),
		cmocka_unit_test(test_json5_through_node),
		cmocka_unit_test(test_yaml_scalars),
		cmocka_unit_test(test_yaml_positions),
		cmocka_unit_test(test_yaml_anchors_and_merges),
		cmocka_unit_test(test_yaml_billion_laughs),
		cmocka_unit_test(test_yaml_errors),
		cmocka_unit_test(test_yaml_documents),
		cmocka_unit_test(test_js_module_exports),
		cmocka_unit_test(test_js_esm),
		cmocka_unit_test(test_js_dirname_require_env),
		cmocka_unit_test(test_js_console_output),
		cmocka_unit_test(test_js_errors),
		cmocka_unit_test(test_js_timeout),
		cmocka_unit_test(test_js_lingering_timer),
		cmocka_unit_test(test_js_without_node),
		cmocka_unit_test(test_dispatch),
	};
	return cmocka_run_group_tests(tests, find_fixtures, NULL);
}
