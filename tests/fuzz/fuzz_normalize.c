/*
 * fuzz_normalize.c — the field normalizer on arbitrary JSON.
 *
 * The first byte picks the context (--env or not, --only or not, options
 * from the command line or fields of a file); the rest is loaded as a JSON
 * ecosystem file and normalized, as one app and as a whole file.
 *
 * Besides not crashing, hanging or leaking: an error is one line and comes
 * with no apps; every warning is one line; every app that comes out is a
 * spec the daemon accepts (spec_from_json) and that survives a round trip
 * through struct spec unchanged; its environment holds strings only.
 *
 * Relative paths resolve in a directory that does not exist (and fall back
 * to another one that does not), so the file system is touched only for
 * absolute names (/bin/sh, PATH lookups).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/spec.h"
#include "config/doc.h"
#include "config/normalize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *fuzz_environ[] = {"PATH=/usr/bin:/bin", "HOME=/nonexistent-home",
    "SECRET_TOKEN=x", "LANG=C", NULL};

static void
check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "invariant broken: %s\n", what);
		abort();
	}
}

static void
check_one_line(const char *s, const char *what)
{
	check(s != NULL && strchr(s, '\n') == NULL && strchr(s, '\r') == NULL, what);
}

static void
check_app(json_t *app)
{
	struct spec s;
	char *err = NULL;
	check(json_is_object(app), "an app that is not an object");
	check(spec_from_json(app, &s, &err) == 0, "an app the daemon would refuse");
	json_t *again = spec_to_json(&s, true);
	check(json_equal(again, app), "an app that does not survive a round trip");
	json_decref(again);
	spec_free(&s);
	const char *key;
	json_t *v;
	json_object_foreach(json_object_get(app, "env"), key, v)
		check(json_is_string(v) && *key && !strchr(key, '='), "a bad environment entry");
}

static void
check_outcome(int rc, json_t *apps, json_t *warnings, char *err)
{
	size_t i;
	json_t *w;
	json_array_foreach(warnings, i, w)
		check_one_line(json_string_value(w), "a warning that is not one line");
	if (rc < 0) {
		check(apps == NULL, "apps with an error");
		check_one_line(err, "an error that is not one line");
		return;
	}
	check(rc == 0 && err == NULL && json_is_array(apps), "success without apps");
	json_t *app;
	json_array_foreach(apps, i, app)
		check_app(app);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	struct config_doc *doc = NULL;
	char *err = NULL;
	if (config_doc_load_json_mem("fuzz.json", text, len, &doc, NULL, &err) < 0) {
		free(err);
		return 0;
	}
	json_t *warnings = json_array();
	struct norm_ctx ctx = {
		.base_dir = "/nonexistent-fuzz",
		.invoke_dir = "/nonexistent-fuzz-cwd",
		.environ = fuzz_environ,
		.env_name = (mode & 1) ? "production" : NULL,
		.from_cli = (mode & 2) != 0,
		.warnings = warnings,
	};
	json_t *root = config_doc_root(doc);

	/* One app, as `corral start` builds it from options or a file has it. */
	if (json_is_object(root)) {
		json_t *spec = NULL;
		ctx.doc = ctx.from_cli ? NULL : doc;
		int rc = normalize_app(&ctx, root, &spec, &err);
		json_t *apps = NULL;
		if (spec) {
			apps = json_array();
			json_array_append_new(apps, spec);
		}
		check_outcome(rc, apps, warnings, err);
		json_decref(apps);
		free(err);
		err = NULL;
	}

	/* The whole file, with its shapes, deploy envs and --only. */
	ctx.from_cli = false;
	json_t *apps = NULL;
	int rc = normalize_doc(&ctx, doc, (mode & 4) ? "a,b" : NULL, &apps, &err);
	check_outcome(rc, apps, warnings, err);
	json_decref(apps);
	free(err);
	json_decref(warnings);
	config_doc_free(doc);
	return 0;
}
