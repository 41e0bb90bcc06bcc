/*
 * table.c — apps and instances: creation, removal, lookup, log paths.
 */
#include "daemon/table.h"

#include <errno.h>
#include <regex.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/units.h"
#include "daemon/events.h"
#include "daemon/logfile.h"

static uint64_t inst_uid_counter;

/* PM2's file-name form of an app name: [A-Za-z0-9.-], the rest as '-'. */
static char *
file_name_of(const char *name)
{
	char *s = xstrdup(name);
	for (char *p = s; *p; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '-';
		if (!ok)
			*p = '-';
	}
	return s;
}

/* "/x/app.log" + 3 → "/x/app-3.log"; "/x/app.pid" → "/x/app-3.pid";
 * "/x/app" → "/x/app-3". */
static char *
with_id(const char *path, int pm_id)
{
	if (str_ends(path, ".log") || str_ends(path, ".pid"))
		return xasprintf("%.*s-%d%s", (int)(strlen(path) - 4), path, pm_id,
		    path + strlen(path) - 4);
	return xasprintf("%s-%d", path, pm_id);
}

static char *
log_path(const struct spec *s, const char *custom, const char *suffix, int pm_id,
    bool may_be_default)
{
	if (custom && strcmp(custom, "/dev/null") == 0)
		return NULL;
	char *base;
	if (custom && *custom) {
		base = xstrdup(custom);
	} else if (may_be_default) {
		char *fname = file_name_of(s->name);
		base = xasprintf("%s/%s%s.log", D->paths.logs_dir, fname, suffix);
		free(fname);
	} else {
		return NULL;
	}
	if (s->merge_logs)
		return base;
	char *p = with_id(base, pm_id);
	free(base);
	return p;
}

static void
inst_close_logs(struct inst *in)
{
	logfile_put(in->out_file);
	logfile_put(in->err_file);
	logfile_put(in->log_file);
	in->out_file = in->err_file = in->log_file = NULL;
	free(in->out_path);
	free(in->err_path);
	free(in->log_path);
	free(in->pid_path);
	in->out_path = in->err_path = in->log_path = in->pid_path = NULL;
}

int
inst_open_logs(struct inst *in, char **err)
{
	const struct spec *s = &in->app->spec;
	inst_close_logs(in);
	in->out_path = log_path(s, s->out_file, "-out", in->pm_id, true);
	in->err_path = log_path(s, s->error_file, "-error", in->pm_id, true);
	/* log_file: NULL = none, "" = the default combined file. */
	in->log_path = s->log_file ? log_path(s, s->log_file, "", in->pm_id, true) : NULL;
	if (s->pid_file && *s->pid_file) {
		in->pid_path = with_id(s->pid_file, in->pm_id);
	} else {
		char *fname = file_name_of(s->name);
		in->pid_path = xasprintf("%s/%s-%d.pid", D->paths.pids_dir, fname, in->pm_id);
		free(fname);
	}
	if (s->disable_logs)
		return 0;
	struct {
		const char *path;
		struct logfile **lf;
	} files[] = {{in->out_path, &in->out_file}, {in->err_path, &in->err_file},
	    {in->log_path, &in->log_file}};
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		if (!files[i].path)
			continue;
		*files[i].lf = logfile_get(files[i].path, err);
		if (!*files[i].lf) {
			inst_close_logs(in);
			return -EIO;
		}
		logfile_configure(*files[i].lf, s->log_max_size, s->log_retain,
		    (int)s->log_compress, s->log_rotate_interval);
	}
	return 0;
}

/*
 * The environment pool. Apps started from one shell or one ecosystem file
 * inherit the same variables (a few KB, a quarter of the daemon's heap with
 * 100 apps) and add a few of their own. Each app keeps its environment as
 * a base from the pool, shared, plus the variables in which it differs.
 * The base of an app is its environment without the variables it sets
 * itself (app_env): one per shell. An app whose inherited part is new (a
 * variable changed in the shell between two starts) takes the base used
 * last instead if it differs from it by a few variables only.
 */
#define ENV_NEAR_MIN 8

/* A key for an environment that does not depend on the order of its
 * variables: the sum of a hash of each pair. */
static uint64_t
env_hash_except(const json_t *env, const json_t *skip)
{
	uint64_t h = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)env, k, v) {
		if (skip && json_object_get(skip, k))
			continue;
		uint64_t kv = idmap_hash_str(k) * 0x9E3779B97F4A7C15ull;
		h += kv ^ idmap_hash_str(json_string_value(v));
	}
	return h;
}

/* Is base exactly env without the variables of skip? */
static bool
env_equal_except(const json_t *env, const json_t *skip, const json_t *base)
{
	size_t n = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)env, k, v) {
		if (skip && json_object_get(skip, k))
			continue;
		if (!json_equal(v, json_object_get(base, k)))
			return false;
		n++;
	}
	return n == json_object_size(base);
}

json_t *
table_env_shared(json_t *env)
{
	json_t *base = idmap_get(&D->env_pool, env_hash_except(env, NULL));
	return base && env_equal_except(env, NULL, base) ? base : env;
}

static void
share_env(struct spec *spec)
{
	if (!spec->env) {
		/* Sent as a base and a delta (table_env_shared): the base joins
		 * the pool unless it is in it, or another has its key. The apps
		 * of one request have the same base: hashed for the first. */
		json_t *base = spec->env_base;
		if (!base || base == D->env_last)
			return;
		uint64_t h = env_hash_except(base, NULL);
		if (!idmap_get(&D->env_pool, h))
			idmap_put(&D->env_pool, h, json_incref(base));
		if (idmap_get(&D->env_pool, h) == base)
			D->env_last = base;
		return;
	}
	const json_t *own = json_object_size(spec->app_env) ? spec->app_env : NULL;
	uint64_t h = env_hash_except(spec->env, own);
	json_t *base = idmap_get(&D->env_pool, h);
	if (base && !env_equal_except(spec->env, own, base))
		base = NULL;    /* another environment with the same key */
	if (!base && D->env_last) {
		size_t n = json_object_size(spec->env) / 4;
		if (spec_env_distance(spec->env, D->env_last) <= (n > ENV_NEAR_MIN ? n : ENV_NEAR_MIN))
			base = D->env_last;
	}
	if (!base && !idmap_get(&D->env_pool, h)) {
		base = json_copy(spec->env);
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)own, k, v)
			json_object_del(base, k);
		idmap_put(&D->env_pool, h, base);
	}
	if (!base)
		return;         /* a collision: this one keeps its own */
	D->env_last = base;
	spec_env_rebase(spec, base);
}

/* The app is letting go of its spec: a base nobody else uses leaves the
 * pool. */
static void
unshare_env(struct spec *spec)
{
	json_t *base = spec->env_base;
	if (!base || base->refcount > 2)
		return;
	uint64_t h = env_hash_except(base, NULL);
	if (idmap_get(&D->env_pool, h) != base)
		return;
	idmap_del(&D->env_pool, h);
	if (D->env_last == base)
		D->env_last = NULL;
	json_decref(base);
	if (D->env_pool.n == 0)
		idmap_free(&D->env_pool);
}

/* The apps by name, and how many apps each namespace has (by its hash),
 * so that resolving a target is not a pass over the table per target; how
 * many apps have a memory limit (the sampler's periodic work). */
static void
app_index_add(struct app *a)
{
	idmap_chain_add(&D->apps_by_name, idmap_hash_str(a->spec.name), a,
	    offsetof(struct app, name_next));
	uint64_t ns = idmap_hash_str(a->spec.namespace);
	uintptr_t k = (uintptr_t)idmap_get(&D->namespaces, ns);
	idmap_put(&D->namespaces, ns, (void *)(k + 1));
	if (a->spec.max_memory_restart > 0)
		D->limited_apps++;
}

static void
app_index_del(struct app *a)
{
	idmap_chain_del(&D->apps_by_name, idmap_hash_str(a->spec.name), a,
	    offsetof(struct app, name_next));
	uint64_t ns = idmap_hash_str(a->spec.namespace);
	uintptr_t k = (uintptr_t)idmap_get(&D->namespaces, ns);
	if (k > 1)
		idmap_put(&D->namespaces, ns, (void *)(k - 1));
	else
		idmap_del(&D->namespaces, ns);
	/* The index's memory goes with the last app (daemon exit, tests). */
	if (D->namespaces.n == 0)
		idmap_free(&D->namespaces);
	if (a->spec.max_memory_restart > 0)
		D->limited_apps--;
}

struct app *
app_restore(struct spec *spec, uint64_t id)
{
	share_env(spec);
	struct app *a = xcalloc(1, sizeof(*a));
	a->id = id;
	if (D->next_app_id < id)
		D->next_app_id = id;
	a->spec = *spec;
	memset(spec, 0, sizeof(*spec));
	TAILQ_INIT(&a->insts);
	TAILQ_INSERT_TAIL(&D->apps, a, link);
	idmap_put(&D->apps_by_id, a->id, a);
	app_index_add(a);
	events_emit(&(struct event){.kind = EV_APP_CHANGED, .app = a});
	return a;
}

struct app *
app_create(struct spec *spec)
{
	return app_restore(spec, D->next_app_id + 1);
}

/* Link a new instance into the table and the app. */
static void
inst_link(struct inst *in)
{
	struct app *a = in->app;
	TAILQ_INSERT_TAIL(&D->insts, in, link);
	idmap_put(&D->insts_by_uid, in->uid, in);
	idmap_put(&D->insts_by_pm_id, (uint64_t)in->pm_id, in);
	TAILQ_INSERT_TAIL(&a->insts, in, app_link);
	a->target_count++;
	events_inst(EV_INST_NEW, in, NULL);
}

struct inst *
inst_restore(struct app *a, uint64_t uid, int pm_id, int index)
{
	struct inst *in = xcalloc(1, sizeof(*in));
	in->app = a;
	in->uid = uid;
	if (inst_uid_counter < uid)
		inst_uid_counter = uid;
	in->state = ST_STOPPED;
	in->exit_code = -1;
	in->created_wall = wall_ms();
	in->index = index;
	in->pm_id = pm_id;
	if (D->next_pm_id <= pm_id)
		D->next_pm_id = pm_id + 1;
	inst_link(in);
	return in;
}

struct inst *
app_add_inst(struct app *a)
{
	struct inst *in = xcalloc(1, sizeof(*in));
	in->app = a;
	in->uid = ++inst_uid_counter;
	in->state = ST_STOPPED;
	in->exit_code = -1;
	in->created_wall = wall_ms();
	/* Lowest free NODE_APP_INSTANCE index, as PM2: with k instances it is
	 * at most k, so one pass marks which of 0..k are taken. */
	size_t k = 0;
	struct inst *o;
	TAILQ_FOREACH(o, &a->insts, app_link)
		k++;
	bool *used = xcalloc(k + 1, sizeof(*used));
	TAILQ_FOREACH(o, &a->insts, app_link) {
		state_step();
		if (o->index >= 0 && (size_t)o->index <= k)
			used[o->index] = true;
	}
	while (used[in->index])
		in->index++;
	free(used);
	/* As in PM2, a pm_id is never given twice (a script's `stop 12` must
	 * not hit another app after 12 was deleted) until the table empties. */
	if (TAILQ_EMPTY(&D->insts))
		D->next_pm_id = 0;
	in->pm_id = D->next_pm_id++;
	inst_link(in);
	return in;
}

static void
inst_free(void *p)
{
	struct inst *in = p;
	free(in->reason);
	free(in->error);
	free(in->status_text);
	json_decref(in->metrics);
	json_decref(in->profiles);
	free(in);
}

void
inst_remove(struct inst *in)
{
	struct app *a = in->app;
	/* The life cycle lets go of the processes still on their way out and
	 * of the instance's sockets; clients hear "delete". */
	events_inst(EV_INST_REMOVE, in, "delete");
	in->proc = NULL;
	in->successor = NULL;
	inst_close_logs(in);
	TAILQ_REMOVE(&D->insts, in, link);
	idmap_del(&D->insts_by_uid, in->uid);
	idmap_del(&D->insts_by_pm_id, (uint64_t)in->pm_id);
	TAILQ_REMOVE(&a->insts, in, app_link);
	a->target_count--;
	loop_defer_free(D->loop, in, inst_free);
	if (TAILQ_EMPTY(&a->insts) && a->deleted)
		app_remove(a);
}

void
app_replace_spec(struct app *a, struct spec *spec)
{
	app_index_del(a);
	unshare_env(&a->spec);
	spec_free(&a->spec);
	share_env(spec);
	a->spec = *spec;
	memset(spec, 0, sizeof(*spec));
	app_index_add(a);
	app_spec_changed(a);
}

void
app_spec_changed(struct app *a)
{
	free(a->spec_text);
	a->spec_text = NULL;
	events_emit(&(struct event){.kind = EV_APP_CHANGED, .app = a});
}

void
table_drop_caches(void)
{
	struct app *a;
	/* The text only: the spec is what it was (no event, the keeper's
	 * copy stays). */
	TAILQ_FOREACH(a, &D->apps, link) {
		free(a->spec_text);
		a->spec_text = NULL;
	}
}

const char *
app_spec_text(struct app *a)
{
	if (!a->spec_text) {
		json_t *j = spec_to_json(&a->spec, false);
		a->spec_text = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		if (!a->spec_text)
			fatal("cannot serialize the spec of %s", a->spec.name);
	}
	return a->spec_text;
}

static void
app_free(void *p)
{
	struct app *a = p;
	free(a->spec_text);
	unshare_env(&a->spec);
	spec_free(&a->spec);
	free(a);
}

void
app_remove(struct app *a)
{
	struct inst *in;
	while ((in = TAILQ_FIRST(&a->insts)) != NULL) {
		a->deleted = false;     /* avoid recursion from inst_remove */
		inst_remove(in);
	}
	events_emit(&(struct event){.kind = EV_APP_REMOVE, .app = a});
	TAILQ_REMOVE(&D->apps, a, link);
	idmap_del(&D->apps_by_id, a->id);
	app_index_del(a);
	loop_defer_free(D->loop, a, app_free);
}

const char *
inst_state_name(enum inst_state st)
{
	switch (st) {
	case ST_LAUNCHING: return "launching";
	case ST_ONLINE: return "online";
	case ST_STOPPING: return "stopping";
	case ST_STOPPED: return "stopped";
	case ST_WAITING: return "waiting restart";
	case ST_ERRORED: return "errored";
	}
	return "?";
}

struct inst *
inst_by_pm_id(int pm_id)
{
	return pm_id < 0 ? NULL : idmap_get(&D->insts_by_pm_id, (uint64_t)pm_id);
}

struct app *
app_named(const char *name, const char *script)
{
	for (struct app *a = idmap_get(&D->apps_by_name, idmap_hash_str(name)); a; a = a->name_next)
		if ((state_step(), !a->deleted) && strcmp(a->spec.name, name) == 0 &&
		    (!script || strcmp(a->spec.script, script) == 0))
			return a;
	return NULL;
}

struct inst *
inst_by_uid(uint64_t uid)
{
	return idmap_get(&D->insts_by_uid, uid);
}

struct app *
app_by_id(uint64_t id)
{
	return idmap_get(&D->apps_by_id, id);
}

struct proc *
proc_by_pid(pid_t pid)
{
	/* Only processes not reaped yet: a reaped pid may be someone else's. */
	return pid > 0 ? idmap_get(&D->procs_by_pid, (uint64_t)pid) : NULL;
}

/* One mark per table_resolve() call: an instance already added carries it,
 * so adding stays O(1) however many targets match it. */
static uint64_t resolve_generation;

static void
add_unique(struct inst ***out, size_t *n, size_t *cap, struct inst *in)
{
	state_step();
	if (in->resolve_mark == resolve_generation)
		return;
	in->resolve_mark = resolve_generation;
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*out = xrealloc(*out, *cap * sizeof(**out));
	}
	(*out)[(*n)++] = in;
}

static int
cmp_pm_id(const void *a, const void *b)
{
	const struct inst *x = *(struct inst *const *)a, *y = *(struct inst *const *)b;
	return (x->pm_id > y->pm_id) - (x->pm_id < y->pm_id);
}

/* Does app a run the script named by target: its absolute path, or (for a
 * target without a slash) its base name? */
static bool
runs_script(const struct app *a, const char *target)
{
	const char *script = a->spec.script;
	if (strchr(target, '/'))
		return strcmp(script, target) == 0;
	const char *base = strrchr(script, '/');
	return strcmp(base ? base + 1 : script, target) == 0;
}

int
table_resolve(json_t *targets, bool by_script, struct inst ***out, size_t *n, char **err)
{
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	resolve_generation++;
	if (!json_is_array(targets) || json_array_size(targets) == 0) {
		*err = xstrdup("no target given (an id, a name, a namespace or all)");
		return -EINVAL;
	}
	size_t i;
	json_t *t;
	json_array_foreach(targets, i, t) {
		const char *s = json_string_value(t);
		char numbuf[32];
		if (json_is_integer(t)) {
			snprintf(numbuf, sizeof(numbuf), "%lld", (long long)json_integer_value(t));
			s = numbuf;
		}
		if (!s) {
			*err = xstrdup("targets must be strings or integers");
			goto fail;
		}
		/* Whether this target matched, even instances an earlier target
		 * already added ("stop app 0" names one process twice). */
		bool matched = false;
		struct inst *in;
		if (strcmp(s, "all") == 0) {
			TAILQ_FOREACH(in, &D->insts, link)
				add_unique(out, n, &cap, in);
			continue;
		}
		size_t len = strlen(s);
		if (len >= 2 && s[0] == '/' && s[len - 1] == '/') {
			/* Back-references make POSIX regexes exponential: refuse them,
			 * and long patterns, so a target cannot pin the loop. */
			bool backref = false;
			for (const char *q = s; *q; q++)
				if (q[0] == '\\' && q[1] >= '1' && q[1] <= '9')
					backref = true;
			if (backref || len > 256) {
				*err = xasprintf("regular expression %s: back-references and patterns "
				    "over 256 characters are not supported", s);
				goto fail;
			}
			char *pat = xstrndup(s + 1, len - 2);
			regex_t re;
			int rc = regcomp(&re, pat, REG_EXTENDED | REG_NOSUB);
			free(pat);
			if (rc != 0) {
				*err = xasprintf("invalid regular expression %s", s);
				goto fail;
			}
			TAILQ_FOREACH(in, &D->insts, link)
				if (regexec(&re, in->app->spec.name, 0, NULL, 0) == 0) {
					add_unique(out, n, &cap, in);
					matched = true;
				}
			regfree(&re);
		} else {
			for (struct app *a = idmap_get(&D->apps_by_name, idmap_hash_str(s)); a;
			    a = a->name_next) {
				if (strcmp(a->spec.name, s) != 0)
					continue;
				TAILQ_FOREACH(in, &a->insts, app_link)
					add_unique(out, n, &cap, in);
				matched = true;
			}
			if (!matched && idmap_get(&D->namespaces, idmap_hash_str(s)))
				TAILQ_FOREACH(in, &D->insts, link)
					if (strcmp(in->app->spec.namespace, s) == 0) {
						add_unique(out, n, &cap, in);
						matched = true;
					}
			int64_t id;
			if (!matched && units_parse_int(s, 0, INT32_MAX, &id) == 0) {
				in = inst_by_pm_id((int)id);
				if (in) {
					add_unique(out, n, &cap, in);
					matched = true;
				}
			}
			/* As PM2: every app that runs this script, by its path (the
			 * CLI makes a path it can see absolute) or its base name. */
			if (!matched && by_script)
				TAILQ_FOREACH(in, &D->insts, link)
					if (runs_script(in->app, s)) {
						add_unique(out, n, &cap, in);
						matched = true;
					}
		}
		if (!matched) {
			*err = xasprintf("no process or namespace matches %s", s);
			goto fail;
		}
	}
	/* "all" of an empty table matches nothing, and *out is still NULL. */
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), cmp_pm_id);
	return 0;
fail:
	free(*out);
	*out = NULL;
	*n = 0;
	return -ENOENT;
}

struct inst **
table_all_insts(size_t *n)
{
	struct inst *in;
	*n = 0;
	TAILQ_FOREACH(in, &D->insts, link)
		(*n)++;
	struct inst **ins = xcalloc(*n ? *n : 1, sizeof(*ins));
	*n = 0;
	TAILQ_FOREACH(in, &D->insts, link) {
		state_step();
		ins[(*n)++] = in;
	}
	return ins;
}
