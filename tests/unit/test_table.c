/*
 * test_table.c — the daemon's model (src/daemon/table.c) without a daemon:
 * a state object, a loop, and a recorder subscribed to the events the model
 * emits. pm_ids are handed out in order and not reused until the table
 * empties; NODE_APP_INSTANCE takes the lowest free index; targets resolve as
 * PM2's do (all, a name, a namespace, a /regex/, a pm_id; first a name, then
 * a namespace, then a number); removing an instance says "delete" while it
 * is still linked, and the last instance of a deleted app takes the app
 * along; log and pid paths follow PM2's names; apps keep their environment
 * as a shared base plus their own differences, and show it whole.
 */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/spec.h"
#include "common/util.h"
#include "daemon/events.h"
#include "daemon/state.h"
#include "daemon/table.h"
#include "ev/loop.h"

struct recorder {
	char log[2048];
	size_t len;
};

static struct recorder rec;

static void
record(const struct event *ev, void *arg)
{
	const char *kind[] = {"new", "state", "exit", "remove", "msg", "app", "app-remove",
	    "log", "changed"};
	const char *name = ev->in ? ev->in->app->spec.name : ev->app ? ev->app->spec.name : "-";
	int id = ev->in ? ev->in->pm_id : -1;
	/* A removed instance is still in the table when it is announced. */
	if (ev->kind == EV_INST_REMOVE)
		assert_ptr_equal(inst_by_pm_id(id), ev->in);
	rec.len += (size_t)snprintf(rec.log + rec.len, sizeof(rec.log) - rec.len, "%s:%s:%d%s%s ",
	    kind[ev->kind], name, id, ev->what ? ":" : "", ev->what ? ev->what : "");
}

static struct daemon d;
static char home[64];

static int
setup(void **state)
{
	state_init(&d);
	d.loop = loop_new();
	strcpy(home, "/tmp/corral-test-table-XXXXXX");
	assert_non_null(mkdtemp(home));
	d.paths.logs_dir = xasprintf("%s/logs", home);
	d.paths.pids_dir = xasprintf("%s/pids", home);
	for (int k = 0; k < EV_KINDS; k++)
		events_on((enum event_kind)k, record, NULL);
	memset(&rec, 0, sizeof(rec));
	return 0;
}

static int
teardown(void **state)
{
	struct app *a;
	while ((a = TAILQ_FIRST(&D->apps)) != NULL)
		app_remove(a);
	loop_flush(d.loop);
	loop_free(d.loop);
	events_reset();
	idmap_free(&d.apps_by_id);
	idmap_free(&d.apps_by_name);
	idmap_free(&d.insts_by_uid);
	idmap_free(&d.insts_by_pm_id);
	char *cmd = xasprintf("rm -rf %s", home);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	paths_free(&d.paths);
	return 0;
}

/* An app of the spec j (consumed) with that many instances. */
static struct app *
app_of(json_t *j, int instances)
{
	struct spec s;
	char *err = NULL;
	if (spec_from_json(j, &s, &err) < 0)
		fail_msg("spec: %s", err);
	json_decref(j);
	struct app *a = app_create(&s);
	for (int i = 0; i < instances; i++)
		app_add_inst(a);
	return a;
}

static struct app *
new_app(const char *name, const char *ns, int instances, const char *env_value)
{
	return app_of(json_pack("{s:s, s:s, s:s, s:{s:s}}", "name", name, "script", "/bin/true",
	    "namespace", ns, "env", "A", env_value), instances);
}

static const char *
resolve(const char *target_json, char **err)
{
	static char out[256];
	json_error_t je;
	json_t *t = json_loads(target_json, 0, &je);
	assert_non_null(t);
	struct inst **ins;
	size_t n;
	*err = NULL;
	int rc = table_resolve(t, true, &ins, &n, err);
	json_decref(t);
	if (rc < 0)
		return NULL;
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%d", i ? "," : "",
		    ins[i]->pm_id);
	free(ins);
	return out;
}

static void
test_ids_and_indexes(void **state)
{
	struct app *web = new_app("web", "default", 3, "1");
	struct inst *in;
	int want_index = 0;
	TAILQ_FOREACH(in, &web->insts, app_link) {
		assert_int_equal(in->pm_id, want_index);
		assert_int_equal(in->index, want_index);
		assert_int_equal(in->state, ST_STOPPED);
		want_index++;
	}
	assert_int_equal(web->target_count, 3);
	/* The app is announced (for the keeper), then each instance. */
	assert_string_equal(rec.log, "app:web:-1 new:web:0 new:web:1 new:web:2 ");

	/* Remove the middle one: its index is the lowest free, its pm_id is
	 * never given again while the table is not empty. */
	struct inst *mid = inst_by_pm_id(1);
	uint64_t uid = mid->uid;
	rec.len = 0;
	inst_remove(mid);
	assert_string_equal(rec.log, "remove:web:1:delete ");
	assert_null(inst_by_pm_id(1));
	assert_null(inst_by_uid(uid));
	assert_int_equal(web->target_count, 2);
	struct inst *added = app_add_inst(web);
	assert_int_equal(added->index, 1);
	assert_int_equal(added->pm_id, 3);
	assert_true(added->uid > uid);                  /* uids never come back */

	/* Once the table empties, pm_ids start again at 0. */
	web->deleted = true;
	while ((in = TAILQ_FIRST(&web->insts)) != NULL)
		inst_remove(in);
	assert_true(TAILQ_EMPTY(&D->apps));             /* the app went with them */
	loop_flush(d.loop);
	struct app *api = new_app("api", "default", 1, "1");
	assert_int_equal(TAILQ_FIRST(&api->insts)->pm_id, 0);
}

static void
test_resolve_like_pm2(void **state)
{
	new_app("web", "front", 2, "1");       /* 0, 1 */
	new_app("api", "back", 1, "1");        /* 2 */
	new_app("4", "back", 1, "1");          /* 3: a name that looks like an id */
	new_app("worker", "back", 1, "1");     /* 4 */
	char *err;
	assert_string_equal(resolve("[\"all\"]", &err), "0,1,2,3,4");
	assert_string_equal(resolve("[\"web\"]", &err), "0,1");
	assert_string_equal(resolve("[\"back\"]", &err), "2,3,4");
	assert_string_equal(resolve("[\"/^w/\"]", &err), "0,1,4");
	assert_string_equal(resolve("[2, \"web\", 0]", &err), "0,1,2");
	/* A name comes before a pm_id: "4" is the app named 4 (pm_id 3), not
	 * worker (pm_id 4); a number that names nothing is a pm_id. */
	assert_string_equal(resolve("[\"4\"]", &err), "3");
	assert_string_equal(resolve("[\"1\"]", &err), "1");
	/* By script: all apps run /bin/true here. */
	assert_string_equal(resolve("[\"true\"]", &err), "0,1,2,3,4");
	assert_string_equal(resolve("[\"/bin/true\"]", &err), "0,1,2,3,4");
	assert_null(resolve("[\"bin/true\"]", &err));
	free(err);
	assert_null(resolve("[\"nope\"]", &err));
	assert_string_equal(err, "no process or namespace matches nope");
	free(err);
	assert_null(resolve("[\"web\", \"nope\"]", &err));
	free(err);
	assert_null(resolve("[]", &err));
	assert_non_null(strstr(err, "no target given"));
	free(err);
	assert_null(resolve("[\"/(a)\\\\1/\"]", &err));
	assert_non_null(strstr(err, "back-references"));
	free(err);
	assert_null(resolve("[\"/[/\"]", &err));
	assert_string_equal(err, "invalid regular expression /[/");
	free(err);
	assert_null(resolve("[true]", &err));
	free(err);
}

/* An app of this environment and app_env (JSON objects as text). */
static struct app *
app_with_env(const char *name, const char *env, const char *app_env)
{
	json_error_t je;
	return app_of(json_pack("{s:s, s:s, s:o, s:o}", "name", name, "script", "/bin/true",
	    "env", json_loads(env, 0, &je), "app_env", json_loads(app_env, 0, &je)), 1);
}

/* The environment an app shows is the one it was given, whatever it shares. */
static void
assert_env(struct app *a, const char *want_text)
{
	json_error_t je;
	json_t *want = json_loads(want_text, 0, &je);
	json_t *got = spec_env(&a->spec);
	assert_true(json_equal(got, want));
	json_t *j = spec_to_json(&a->spec, true);
	assert_true(json_equal(json_object_get(j, "env"), want));
	json_decref(j);
	json_decref(got);
	json_decref(want);
}

#define SHELL "\"HOME\":\"/root\", \"PATH\":\"/bin\", \"LANG\":\"C\", \"TERM\":\"xterm\""

static void
test_app_remove_event_and_shared_env(void **state)
{
	struct app *a = new_app("a", "default", 1, "same");
	struct app *b = new_app("b", "default", 1, "same");
	/* Two apps of one environment share it whole. */
	assert_non_null(a->spec.env_base);
	assert_ptr_equal(a->spec.env_base, b->spec.env_base);
	assert_null(a->spec.env);
	assert_null(b->spec.env_delta);
	rec.len = 0;
	app_remove(b);
	assert_string_equal(rec.log, "remove:b:1:delete app-remove:b:-1 ");
	assert_null(app_by_id(2));
	assert_ptr_equal(app_by_id(1), a);
	loop_flush(d.loop);
	/* a's environment outlives b's share of it. */
	assert_string_equal(spec_env_get(&a->spec, "A"), "same");
	app_remove(a);
	loop_flush(d.loop);
	assert_int_equal(d.env_pool.n, 0);
}

static void
test_env_base_and_differences(void **state)
{
	/* From one shell: the inherited part is stored once, each app keeps
	 * what it sets (and what it overrides) apart. */
	struct app *a = app_with_env("a", "{" SHELL ", \"PORT\":\"1\"}", "{\"PORT\":\"1\"}");
	struct app *b = app_with_env("b", "{" SHELL ", \"PORT\":\"2\"}", "{\"PORT\":\"2\"}");
	struct app *c = app_with_env("c", "{\"HOME\":\"/srv\", \"PATH\":\"/bin\", "
	    "\"LANG\":\"C\", \"TERM\":\"xterm\"}", "{\"HOME\":\"/srv\"}");
	assert_ptr_equal(a->spec.env_base, b->spec.env_base);
	assert_ptr_equal(a->spec.env_base, c->spec.env_base);
	assert_int_equal(json_object_size(a->spec.env_delta), 1);
	assert_int_equal(json_object_size(c->spec.env_delta), 1);
	assert_null(spec_env_get(&a->spec, "NOPE"));
	assert_string_equal(spec_env_get(&b->spec, "PORT"), "2");
	assert_string_equal(spec_env_get(&c->spec, "HOME"), "/srv");
	assert_env(a, "{" SHELL ", \"PORT\":\"1\"}");
	assert_env(c, "{\"HOME\":\"/srv\", \"PATH\":\"/bin\", \"LANG\":\"C\", "
	    "\"TERM\":\"xterm\"}");
	/* A shell that lost a variable: near enough, it is a removal. */
	struct app *e = app_with_env("e", "{\"HOME\":\"/root\", \"PATH\":\"/bin\", "
	    "\"LANG\":\"C\"}", "{}");
	assert_ptr_equal(e->spec.env_base, a->spec.env_base);
	assert_null(spec_env_get(&e->spec, "TERM"));
	assert_env(e, "{\"HOME\":\"/root\", \"PATH\":\"/bin\", \"LANG\":\"C\"}");
	/* Another world entirely gets a base of its own. */
	char far[1024] = "{";
	for (int i = 0; i < 20; i++)
		snprintf(far + strlen(far), sizeof(far) - strlen(far), "%s\"V%d\":\"%d\"",
		    i ? ", " : "", i, i);
	strcat(far, "}");
	struct app *f = app_with_env("f", far, "{}");
	assert_ptr_not_equal(f->spec.env_base, a->spec.env_base);
	assert_null(f->spec.env_delta);
	assert_env(f, far);
	assert_int_equal(d.env_pool.n, 2);
	/* The bases leave the pool with their last app. */
	app_remove(f);
	app_remove(a);
	app_remove(b);
	loop_flush(d.loop);
	assert_int_equal(d.env_pool.n, 1);
	app_remove(c);
	app_remove(e);
	loop_flush(d.loop);
	assert_int_equal(d.env_pool.n, 0);
}

static void
test_log_and_pid_paths(void **state)
{
	struct app *a = new_app("my app/1", "default", 2, "1");
	struct inst *in = TAILQ_LAST(&a->insts, inst_list);
	char *err = NULL;
	assert_int_equal(inst_open_logs(in, &err), 0);
	char *want = xasprintf("%s/logs/my-app-1-out.log", home);
	/* merge_logs is on by default, as in PM2's fork mode. */
	assert_string_equal(in->out_path, want);
	free(want);
	want = xasprintf("%s/pids/my-app-1-1.pid", home);
	assert_string_equal(in->pid_path, want);
	free(want);
	assert_null(in->log_path);
	a->spec.merge_logs = false;
	assert_int_equal(inst_open_logs(in, &err), 0);
	want = xasprintf("%s/logs/my-app-1-error-1.log", home);
	assert_string_equal(in->err_path, want);
	free(want);
	/* Its folder is made; the file comes with its first line (logfile.c). */
	want = xasprintf("%s/logs", home);
	assert_int_equal(access(want, W_OK | X_OK), 0);
	free(want);
	assert_int_equal(access(in->err_path, F_OK), -1);
	/* A folder that cannot be created is an error naming it. */
	free(a->spec.out_file);
	a->spec.out_file = xstrdup("/proc/corral-nope/out.log");
	assert_int_equal(inst_open_logs(in, &err), -EIO);
	assert_non_null(strstr(err, "/proc/corral-nope"));
	free(err);
	assert_null(in->out_file);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ids_and_indexes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_like_pm2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_app_remove_event_and_shared_env, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_env_base_and_differences, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_and_pid_paths, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
