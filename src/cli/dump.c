/*
 * dump.c — saving and reading the process list.
 */
#include "cli/dump.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/envshare.h"
#include "common/util.h"

json_t *
dump_from_procs(json_t *procs)
{
	json_t *apps = json_array();
	json_t *by_app = json_object();
	size_t i;
	json_t *p;
	json_array_foreach(procs, i, p) {
		char key[32];
		snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(json_object_get(p, "app_id")));
		json_t *entry = json_object_get(by_app, key);
		const char *status = json_string_value(json_object_get(p, "status"));
		/* As in PM2, only apps someone stopped stay stopped: an app that
		 * went errored (its database was not up yet...) is tried again. */
		bool running = status && strcmp(status, "stopped") != 0;
		if (!entry) {
			entry = json_pack("{s:O, s:i, s:s}", "spec", json_object_get(p, "spec"),
			    "instances", 0, "status", "stopped");
			json_object_set_new(by_app, key, entry);
			json_array_append(apps, entry);
		}
		json_object_set_new(entry, "instances",
		    json_integer(json_integer_value(json_object_get(entry, "instances")) + 1));
		if (running)
			json_object_set_new(entry, "status", json_string("online"));
	}
	json_decref(by_app);
	/* The environment the apps share once (envshare.h): with 1000 apps
	 * started from one shell it was 3.7 MB of the same variables, which a
	 * resurrect read and compared again before starting anything. */
	json_t *base = envshare_base(json_object_get(json_array_get(apps, 0), "spec"));
	json_array_foreach(apps, i, p) {
		json_t *spec = envshare_delta(json_object_get(p, "spec"), base);
		json_object_set_new(p, "spec", spec);
	}
	json_t *doc = json_pack("{s:i, s:o}", "version", 2, "apps", apps);
	if (base)
		json_object_set_new(doc, "env_base", base);
	return doc;
}

static size_t
dump_count(const char *path)
{
	json_t *old = json_load_file(path, 0, NULL);
	size_t n = json_array_size(json_object_get(old, "apps"));
	json_decref(old);
	return n;
}

int
dump_write(const struct paths *p, json_t *doc, bool force, char **err)
{
	size_t napps = json_array_size(json_object_get(doc, "apps"));
	size_t old = dump_count(p->dump);
	if (napps == 0 && old > 0 && !force) {
		*err = xasprintf("refusing to replace the saved list of %zu app%s (%s) with an empty "
		    "one; use --force to do it anyway", old, old == 1 ? "" : "s", p->dump);
		return -EEXIST;
	}
	char *tmp = xasprintf("%s.tmp.%d", p->dump, (int)getpid());
	char *txt = json_dumps(doc, JSON_INDENT(2));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = 0;
	if (fd < 0 || write_all(fd, txt, strlen(txt)) < 0 || write_all(fd, "\n", 1) < 0 ||
	    fsync(fd) < 0) {
		rc = -errno;
		*err = xasprintf("cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	/* Keep the previous dump as .bak; dump.json is never missing. */
	char *baktmp = xasprintf("%s.tmp.%d", p->dump_bak, (int)getpid());
	if (link(p->dump, baktmp) == 0) {
		if (rename(baktmp, p->dump_bak) < 0)
			unlink(baktmp);
	}
	free(baktmp);
	if (rename(tmp, p->dump) < 0) {
		rc = -errno;
		*err = xasprintf("cannot replace %s: %s", p->dump, strerror(errno));
		unlink(tmp);
		goto out;
	}
	char *dir = xstrdup(p->dump);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(dir);
out:
	free(txt);
	free(tmp);
	return rc;
}

static json_t *
read_one(const char *path, char **err)
{
	json_error_t je;
	json_t *doc = json_load_file(path, 0, &je);
	if (!doc) {
		*err = xasprintf("%s:%d:%d: %s", path, je.line, je.column, je.text);
		return NULL;
	}
	if (!json_is_array(json_object_get(doc, "apps"))) {
		*err = xasprintf("%s: not a corral dump (no \"apps\" array)", path);
		json_decref(doc);
		return NULL;
	}
	return doc;
}

json_t *
dump_read(const struct paths *p, char **err)
{
	if (access(p->dump, F_OK) < 0 && access(p->dump_bak, F_OK) < 0) {
		*err = xasprintf("nothing saved: %s does not exist (corral save writes it)", p->dump);
		return NULL;
	}
	char *e1 = NULL, *e2 = NULL;
	json_t *doc = read_one(p->dump, &e1);
	if (!doc) {
		doc = read_one(p->dump_bak, &e2);
		if (doc) {
			fprintf(stderr, "corral: %s; using %s\n", e1, p->dump_bak);
		} else {
			*err = e1;
			free(e2);
			return NULL;
		}
	}
	free(e1);
	return doc;
}
