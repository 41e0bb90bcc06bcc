/*
 * test_jsonw.c — JSON written straight as text (common/jsonw.h): the text
 * jansson reads back is the object meant, and it is byte for byte what
 * jansson itself dumps for that object (compact, not ASCII-only): escapes,
 * reals, nesting, nulls, string arrays, raw and jansson members; a string
 * that is not UTF-8 becomes null.
 */
#include "unit.h"

#include <stdlib.h>

#include "common/jsonw.h"

/* The text of w's buffer equals jansson's compact dump of want (consumed). */
static void
same_as_jansson(struct sbuf *b, json_t *want)
{
	char *dumped = json_dumps(want, JSON_COMPACT);
	assert_non_null(dumped);
	assert_string_equal(b->s, dumped);
	json_t *back = json_loadb(b->s, b->len, 0, NULL);
	assert_non_null(back);
	assert_true(json_equal(back, want));
	json_decref(back);
	json_decref(want);
	free(dumped);
}

static void
test_members_as_jansson_writes_them(void **state)
{
	struct sbuf b = SBUF_INIT;
	struct jsonw w;
	const char *odd = "quote \" backslash \\ slash / nl \n tab \t cr \r bell \a del \x7f "
	    "é ✓ \x01\x1f";
	char *const args[] = {"a", "b c", "\"d\"", NULL};
	jw_begin(&w, &b);
	jw_int(&w, "pm_id", 0);
	jw_int(&w, "big", -9007199254740993LL);
	jw_int(&w, "min", INT64_MIN);
	jw_int(&w, "max", INT64_MAX);
	jw_str(&w, "name", odd);
	jw_str(&w, "none", NULL);
	jw_real(&w, "zero", 0.0);
	jw_real(&w, "third", 1.0 / 3.0);
	jw_real(&w, "whole", 12.0);
	jw_real(&w, "tiny", 1e-300);
	jw_bool(&w, "yes", true);
	jw_null(&w, "nothing");
	jw_object(&w, "inner");
	jw_object(&w, "deeper");
	jw_end(&w);
	jw_strv(&w, "args", args);
	jw_strv(&w, "no_args", NULL);
	jw_end(&w);
	jw_json(&w, "listeners", json_pack("[{s:s, s:[]}]", "address", "[::]:80", "members"));
	jw_json(&w, "missing", NULL);
	jw_raw(&w, "spec", "{\"name\":\"x\"}");
	jw_end(&w);
	json_t *want = json_pack("{s:i, s:I, s:I, s:I, s:s, s:n, s:f, s:f, s:f, s:f, s:b, s:n, "
	    "s:{s:{}, s:[s, s, s], s:[]}, s:[{s:s, s:[]}], s:n, s:{s:s}}",
	    "pm_id", 0, "big", (json_int_t)-9007199254740993LL, "min", (json_int_t)INT64_MIN,
	    "max", (json_int_t)INT64_MAX, "name", odd, "none",
	    "zero", 0.0, "third", 1.0 / 3.0, "whole", 12.0, "tiny", 1e-300, "yes", 1, "nothing",
	    "inner", "deeper", "args", "a", "b c", "\"d\"", "no_args",
	    "listeners", "address", "[::]:80", "members", "missing", "spec", "name", "x");
	assert_non_null(want);
	same_as_jansson(&b, want);
	sbuf_free(&b);
}

static void
test_bytes_that_are_not_utf8_are_null(void **state)
{
	struct sbuf b = SBUF_INIT;
	struct jsonw w;
	char *const args[] = {"ok", "\xff\xfe", NULL};
	jw_begin(&w, &b);
	jw_str(&w, "status_text", "half \xc3");
	jw_strv(&w, "args", args);
	jw_end(&w);
	assert_string_equal(b.s, "{\"status_text\":null,\"args\":[\"ok\",null]}");
	sbuf_free(&b);
}

static void
test_an_empty_object(void **state)
{
	struct sbuf b = SBUF_INIT;
	struct jsonw w;
	jw_begin(&w, &b);
	jw_end(&w);
	assert_string_equal(b.s, "{}");
	sbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_members_as_jansson_writes_them),
		cmocka_unit_test(test_bytes_that_are_not_utf8_are_null),
		cmocka_unit_test(test_an_empty_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
