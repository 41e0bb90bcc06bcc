/*
 * verbs_config.c — ecosystem files: loading one for any verb (with the
 * start options PM2 applies to its apps), `corral config` to show one as it
 * will run, `corral ecosystem` to write a sample.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/render.h"
#include "cli/sample.h"
#include "cli/verbs.h"
#include "config/doc.h"
#include "config/normalize.h"

extern char **environ;

/* The start options PM2 applies to the apps of an ecosystem file; the
 * others are dropped with a warning (PM2 drops them silently). New
 * reference, or NULL when there are none. */
static json_t *
config_overrides(struct ctx *x, json_t *warnings)
{
	static const char *const kept[] = {"namespace", "watch", "ignore_watch", "uid", "gid", "cwd"};
	if (strcmp(x->verb, "start") != 0)
		return NULL;
	json_t *fields = args_app_fields(&x->a);
	for (const struct opt_def *o = args_options; o->lng; o++) {
		if (!o->field || !args_has(&x->a, o->lng))
			continue;
		bool keep = false;
		for (size_t i = 0; i < ARRAY_LEN(kept); i++)
			keep |= strcmp(kept[i], o->field) == 0;
		if (!keep) {
			config_doc_warn(&warnings, "--%s is ignored with an ecosystem file, as in "
			    "PM2 (set \"%s\" in the file)", o->lng, o->field);
			json_object_del(fields, o->field);
		}
	}
	if (json_object_size(fields) == 0) {
		json_decref(fields);
		return NULL;
	}
	return fields;
}

/* Standard input, whole (PM2's `start -`); NUL-terminated, caller frees.
 * NULL with *err. */
static char *
read_stdin(size_t *len, char **err)
{
	struct sbuf b = SBUF_INIT;
	sbuf_adds(&b, "");
	char buf[65536];
	ssize_t n;
	while ((n = read_retry(0, buf, sizeof(buf))) > 0 && b.len <= CONFIG_DOC_MAX_BYTES)
		sbuf_add(&b, buf, (size_t)n);
	if (n < 0 || b.len > CONFIG_DOC_MAX_BYTES) {
		*err = n < 0 ? xasprintf("cannot read standard input: %s", strerror((int)-n))
		    : xasprintf("standard input: more than %zu MiB", CONFIG_DOC_MAX_BYTES >> 20);
		sbuf_free(&b);
		return NULL;
	}
	*len = b.len;
	return sbuf_take(&b);
}

/* The directory relative paths of a file resolve against (caller frees);
 * for standard input, the current one (here). */
static char *
base_dir(const char *file, const char *here)
{
	if (strcmp(file, "-") == 0)
		return xstrdup(here);
	char *dir = file[0] == '/' ? xstrdup(file) : xasprintf("%s/%s", here, file);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	return dir;
}

/* Load and normalize an ecosystem file ("-": JSON on standard input). NULL
 * after printing the error. */
json_t *
cli_load_config(struct ctx *x, const char *file)
{
	struct config_doc *doc = NULL;
	json_t *warnings = json_array(), *apps = NULL;
	char *err = NULL, *dir = NULL, *text = NULL, *here = cli_current_dir();
	size_t len;
	if (strcmp(file, "-") == 0) {
		if (!(text = read_stdin(&len, &err)) ||
		    config_doc_load_json_mem("<stdin>", text, len, &doc, &warnings, &err) < 0)
			goto out;
	} else if (config_doc_load(file, &doc, &warnings, &err) < 0) {
		goto out;
	}
	dir = base_dir(file, here);
	struct norm_ctx nctx = {
		.base_dir = dir,
		.invoke_dir = here,
		.environ = environ,
		.env_name = args_get(&x->a, "env"),
		.warnings = warnings,
		.overrides = config_overrides(x, warnings),
	};
	normalize_doc(&nctx, doc, args_get(&x->a, "only"), &apps, &err);
	json_decref(nctx.overrides);
out:
	cli_print_warnings(warnings);
	if (!apps)
		cli_fail(x, "%s", err);
	json_decref(warnings);
	config_doc_free(doc);
	free(text);
	free(dir);
	free(here);
	free(err);
	return apps;
}

bool
cli_is_config_arg(const char *arg)
{
	struct stat st;
	return normalize_is_config_file(arg) && (stat(arg, &st) == 0 || strchr(arg, '.'));
}

int
verb_config(struct ctx *x)
{
	const char *file = x->a.pos[0] ? x->a.pos[0] : "ecosystem.config.js";
	json_t *apps = cli_load_config(x, file);
	if (!apps)
		return 1;
	if (args_has(&x->a, "json"))
		render_json(stdout, apps, true);
	else
		render_config(stdout, apps);
	json_decref(apps);
	return 0;
}

int
verb_ecosystem(struct ctx *x)
{
	const char *file = "ecosystem.config.js";
	if (access(file, F_OK) == 0 && !args_has(&x->a, "force"))
		return cli_fail(x, "%s already exists (use --force to overwrite it)", file);
	char *sample = sample_ecosystem();
	int rc = 0;
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, sample, strlen(sample)) < 0)
		rc = cli_fail(x, "cannot write %s: %s", file, strerror(errno));
	else
		printf("corral: wrote %s\n", file);
	if (fd >= 0)
		close(fd);
	free(sample);
	return rc;
}
