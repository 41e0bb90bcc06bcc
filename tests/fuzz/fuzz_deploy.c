/*
 * fuzz_deploy.c — libFuzzer target for the deploy section of an ecosystem
 * file (config/deploy.c), which users write by hand: any JSON document is
 * either a deploy target with hosts, repo, path and ref, or refused with
 * one line. The env names tried are "production" and the document's first
 * section.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/deploy.h"
#include "config/doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct config_doc *doc, const char *env)
{
	struct deploy_target t;
	char *err = NULL;
	int rc = deploy_parse(doc, env, &t, &err);
	if (rc == 0) {
		if (!t.hosts || !t.hosts[0] || !t.repo || !t.path || !t.ref || !t.post_deploy ||
		    !t.ssh_options || !t.env_vars || t.keep_releases < 1 || err)
			abort();
		for (size_t i = 0; t.env_vars[i]; i++)
			if (!strchr(t.env_vars[i], '='))
				abort();
		deploy_target_free(&t);
	} else if (rc != -EINVAL || !err || strchr(err, '\n')) {
		abort();
	}
	free(err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_doc *doc = NULL;
	char *err = NULL;
	if (config_doc_load_json_mem("fuzz.json", (const char *)data, size, &doc, NULL, &err) < 0) {
		free(err);
		return 0;
	}
	check(doc, "production");
	json_t *deploy = json_object_get(config_doc_root(doc), "deploy");
	void *it = json_is_object(deploy) ? json_object_iter(deploy) : NULL;
	if (it)
		check(doc, json_object_iter_key(it));
	config_doc_free(doc);
	return 0;
}
