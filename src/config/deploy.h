/*
 * deploy.h — the `deploy.<env>` section of an ecosystem file (PM2's fields)
 * as a C struct, for `corral deploy` (src/cli/verbs_deploy.c, docs/deploy.md).
 *
 * Pure: a loaded document in, a struct or a one-line error out
 * ("file:line:col: deploy.production.port: ..."), so it is fuzzed
 * (tests/fuzz/fuzz_deploy.c).
 */
#ifndef CORRAL_CONFIG_DEPLOY_H
#define CORRAL_CONFIG_DEPLOY_H

#include <stdbool.h>

struct config_doc;

struct deploy_target {
	char *env;              /* the section's name */
	char **hosts;           /* `host`, a string or an array; NULL-terminated */
	char *user;             /* or NULL: ssh's default */
	int port;               /* 0: ssh's default */
	char *key;              /* identity file, or NULL */
	char **ssh_options;     /* each passed as -o <option>; NULL-terminated */
	bool forward_agent;     /* `forward-agent`: ssh -A */
	char *repo;
	char *ref;              /* "origin/main", a tag, a commit */
	char *path;             /* on the host */
	bool fetch_fast;        /* `fetch: 'fast'`: clone and fetch with --depth=5 */
	char **env_vars;        /* `env` as "NAME=value"; NULL-terminated */
	char *pre_setup, *post_setup, *pre_deploy_local, *pre_deploy, *post_deploy;
	int keep_releases;      /* `keep_releases`, default 5 */
	int max_parallel;       /* `max_parallel`, default 0: every host at once */
};

#define DEPLOY_KEEP_DEFAULT 5

/* deploy.<env> of the document. `post-deploy` defaults to PM2's
 * `corral startOrRestart <file's name> --env <env>`. 0, or -EINVAL with
 * *err (one line, caller frees): no deploy section, no such env (naming the
 * ones that exist), a missing field (host, repo, path, ref), a value of the
 * wrong type or out of range. */
int deploy_parse(const struct config_doc *doc, const char *env, struct deploy_target *out,
    char **err);
void deploy_target_free(struct deploy_target *t);

#endif
