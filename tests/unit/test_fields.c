/*
 * test_fields.c — the field table (common/fields.def) against what users
 * read: docs/config.md's table of fields (every field there, with its
 * aliases, its options and its default), `corral help start`'s options
 * and the sample ecosystem file.
 *
 * Run from the top of the tree (make unit does), where docs/ is.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/sample.h"
#include "common/spec.h"
#include "common/util.h"

struct row {
	const char *key;
	const char *aliases[6];
	const char *def;        /* the default as docs write it first, or NULL */
	bool ms;                /* a nonzero default is followed by " ms" */
};

/* The fields users write, with their documented defaults. */
#define LIST(...) {__VA_ARGS__}
#define FIELD(key, kind, tag, opt, name, letter, aliases, help) {#key, LIST aliases, tag},
#define INPUT(key, kind, opt, name, letter, aliases, help) {#key, LIST aliases, NULL, false},
#define COMPUTED(...)
#define OPTION(...)
#define REQUIRED NULL, false
#define STR(text) #text, false
#define STR_NULL NULL, false
#define STRV NULL, false
#define INT(n, lo, hi) #n, false
#define MS(n) #n, true
#define BOOL(b) #b, false
#define INTV(lo, hi) NULL, false
#define ENV NULL, false
#define ENUM(text, names) #text, false
#define HIDDEN(tag) NULL, false

static const struct row rows[] = {
#include "common/fields.def"
};

/* docs/config.md's "## Fields" table: one line per field. */
static char *docs;

static int
load_docs(void **state)
{
	if (read_file("docs/config.md", &docs, NULL, 1 << 20) < 0)
		fail_msg("cannot read docs/config.md (run from the top of the tree)");
	char *table = strstr(docs, "\n## Fields\n");
	assert_non_null(table);
	char *end = strstr(table + 1, "\n## ");
	if (end)
		*end = '\0';
	return 0;
}

static int
free_docs(void **state)
{
	free(docs);
	return 0;
}

/* The cells of the table row for `key` (cells[0] is the field), or false. */
static bool
docs_row(const char *key, char cells[8][2048])
{
	char *start = xasprintf("\n| `%s` |", key);
	const char *line = strstr(strstr(docs, "\n## Fields\n"), start);
	free(start);
	if (!line)
		return false;
	line++;
	size_t len = strcspn(line, "\n");
	int n = 0;
	/* Each cell lies between two bars. */
	for (const char *p = line + 1; p < line + len && n < 8; n++) {
		const char *bar = memchr(p, '|', (size_t)(line + len - p));
		if (!bar)
			break;
		snprintf(cells[n], 2048, "%.*s", (int)(bar - p), p);
		p = bar + 1;
	}
	return n >= 5;
}

static bool
mentions(const char *cell, const char *what)
{
	char *quoted = xasprintf("`%s`", what);
	bool found = strstr(cell, quoted) != NULL;
	free(quoted);
	return found;
}

/* `--opt`, or `--opt value` / `--opt=value`. */
static bool
mentions_option(const char *cell, const char *opt)
{
	char *quoted = xasprintf("`%s", opt);
	size_t len = strlen(quoted);
	bool found = false;
	for (const char *p = strstr(cell, quoted); p && !found; p = strstr(p + 1, quoted))
		found = p[len] == '`' || p[len] == ' ' || p[len] == '=';
	free(quoted);
	return found;
}

static void
test_every_field_is_documented_with_its_default(void **state)
{
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		const struct row *r = &rows[i];
		char cells[8][2048];
		if (!docs_row(r->key, cells))
			fail_msg("docs/config.md: no row for %s", r->key);
		for (size_t k = 0; k < ARRAY_LEN(r->aliases) && r->aliases[k]; k++)
			if (!mentions(cells[1], r->aliases[k]))
				fail_msg("docs/config.md: %s: alias %s is not listed", r->key,
				    r->aliases[k]);
		if (!r->def)
			continue;
		/* " `SIGINT`" → "SIGINT" */
		const char *d = cells[3] + strspn(cells[3], " `");
		size_t len = strlen(r->def);
		if (strncmp(d, r->def, len) != 0 || (d[len] && !strchr(" `(", d[len])))
			fail_msg("docs/config.md: %s: the default is %s%s, not \"%s\"", r->key, r->def,
			    r->ms ? " ms" : "", cells[3]);
		if (r->ms && strcmp(r->def, "0") != 0 && strncmp(d + len, " ms", 3) != 0)
			fail_msg("docs/config.md: %s: the default is %s ms, not \"%s\"", r->key, r->def,
			    cells[3]);
	}
}

static void
test_every_option_is_documented(void **state)
{
	for (const struct opt_def *o = args_options; o->lng; o++) {
		if (!o->field)
			continue;
		char cells[8][2048];
		if (!docs_row(o->field, cells))
			fail_msg("docs/config.md: no row for %s (--%s)", o->field, o->lng);
		char *opt = xasprintf("--%s", o->lng);
		char shrt[3] = {'-', o->shrt, 0};
		if (!mentions_option(cells[1], opt) || (o->shrt && !mentions(cells[1], shrt)))
			fail_msg("docs/config.md: %s: %s%s%s is not listed", o->field, o->shrt ? shrt : "",
			    o->shrt ? ", " : "", opt);
		free(opt);
	}
}

static bool
is_field(const char *key)
{
	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		if (strcmp(rows[i].key, key) == 0)
			return true;
	return false;
}

static void
test_docs_name_no_other_field(void **state)
{
	const char *table = strstr(docs, "\n## Fields\n");
	for (const char *p = strstr(table, "\n| `"); p; p = strstr(p + 1, "\n| `")) {
		const char *key = p + 4;
		size_t len = strcspn(key, "`");
		/* env_<name> is a family; the ignored fields share one row. */
		if (key[len + 1] != ' ' || strncmp(key, "env_<name>", len) == 0)
			continue;
		char *name = xstrndup(key, len);
		if (!is_field(name))
			fail_msg("docs/config.md documents %s, which is no field", name);
		free(name);
	}
}

static void
test_help_and_sample_show_the_defaults(void **state)
{
	json_t *defaults = spec_defaults();
	long long kill_ms = json_integer_value(json_object_get(defaults, "kill_timeout"));
	char *want = xasprintf("(default: %lld ms)", kill_ms);
	bool in_help = false;
	for (const struct opt_def *o = args_options; o->lng; o++)
		if (o->field && strcmp(o->field, "kill_timeout") == 0)
			in_help = strstr(o->help, want) != NULL;
	assert_true(in_help);
	free(want);
	char *sample = sample_ecosystem();
	want = xasprintf("kill_timeout: %lld,", kill_ms);
	assert_non_null(strstr(sample, want));
	free(want);
	want = xasprintf("lb: '%s',", json_string_value(json_object_get(defaults, "lb")));
	assert_non_null(strstr(sample, want));
	free(want);
	free(sample);
	json_decref(defaults);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_field_is_documented_with_its_default),
		cmocka_unit_test(test_every_option_is_documented),
		cmocka_unit_test(test_docs_name_no_other_field),
		cmocka_unit_test(test_help_and_sample_show_the_defaults),
	};
	return cmocka_run_group_tests(tests, load_docs, free_docs);
}
