/*
 * procinfo.c — how an instance is shown to clients (procinfo.h).
 */
#include "daemon/procinfo.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "common/signame.h"
#include "common/spec.h"
#include "daemon/logfile.h"
#include "daemon/state.h"
#include "daemon/supervise.h"
#include "daemon/table.h"

/* The user an app runs as, without an NSS lookup per listed process. */
static const char *
user_name(const struct spec *s)
{
	if (s->user)
		return s->user;
	if (s->uid < 0 || (uid_t)s->uid == geteuid()) {
		if (!D->user_name) {
			struct passwd *pw = getpwuid(geteuid());
			D->user_name = xstrdup(pw ? pw->pw_name : "?");
		}
		return D->user_name;
	}
	return "?";
}

/* Whether the sampler's figures are those of the instance's process now:
 * a process started since the last sample shows 0, not its predecessor's
 * memory under its own pid. */
static bool
sampled(const struct inst *in)
{
	bool running = in->state == ST_ONLINE || in->state == ST_LAUNCHING ||
	    in->state == ST_STOPPING;
	return running && in->proc && in->sampled_serial == in->proc->serial;
}

/* The state to show: between its main process's exit and the end of the
 * cleanup of what it left running (up to kill_timeout), an instance is not
 * online any more, whatever follows. */
static const char *
shown_state(const struct inst *in)
{
	if (in->proc && in->proc->exited &&
	    (in->state == ST_ONLINE || in->state == ST_LAUNCHING))
		return inst_state_name(ST_STOPPING);
	return inst_state_name(in->state);
}

json_t *
procinfo_brief(struct inst *in)
{
	const struct spec *s = &in->app->spec;
	struct proc *p = in->proc;
	bool running = in->state == ST_ONLINE || in->state == ST_LAUNCHING ||
	    in->state == ST_STOPPING;
	return json_pack("{s:i, s:s, s:s, s:s?, s:s, s:i, s:I, s:i, s:s, s:f, s:I, s:s, s:b}",
	    "pm_id", in->pm_id,
	    "name", s->name,
	    "namespace", s->namespace,
	    "version", s->version,
	    "mode", spec_mode_name(s->exec_mode),
	    "pid", p && !p->exited ? (int)p->pid : 0,
	    "uptime_ms", (json_int_t)(running ? wall_ms() - in->started_wall : 0),
	    "restarts", in->restarts,
	    "status", shown_state(in),
	    "cpu", sampled(in) ? in->cpu_pct : 0.0,
	    "memory", (json_int_t)(sampled(in) ? in->mem_bytes : 0),
	    "user", user_name(s),
	    "watching", in->app->watch != NULL);
}

/* What write errors (a full disk) cost each log file of the instance since
 * the daemon opened it: {"out": {"lines", "bytes"}, "err": ..., "log": ...}.
 * A merged file's counts are shared by the instances that write to it. */
static json_t *
logs_lost(const struct inst *in)
{
	const struct {
		const char *key;
		const struct logfile *lf;
	} files[] = {{"out", in->out_file}, {"err", in->err_file}, {"log", in->log_file}};
	json_t *j = json_object();
	for (size_t i = 0; i < ARRAY_LEN(files); i++)
		if (files[i].lf)
			json_object_set_new(j, files[i].key, json_pack("{s:I, s:I}",
			    "lines", (json_int_t)files[i].lf->lost_lines,
			    "bytes", (json_int_t)files[i].lf->lost_bytes));
	return j;
}

/* How the instance's process stands with its broker (cluster mode through
 * the preload library): "reached" once some process of it asked for a port,
 * "not reached" once it ran listen_timeout without asking (a server that
 * could not reach the broker binds its port alone: its error log says why),
 * "waiting" before; null when it has no broker (fork mode, `listen` apps)
 * or no process. */
static json_t *
broker_state(const struct inst *in)
{
	const struct proc *p = in->proc;
	bool asked;
	if (!p || p->exited || !p->peer || !cluster_peer_broker(p->peer, &asked))
		return json_null();
	if (asked)
		return json_string("reached");
	return json_string(mono_ms() - p->started_mono >= in->app->spec.listen_timeout ?
	    "not reached" : "waiting");
}

/* Everything of procinfo_json() but "spec". */
static json_t *
procinfo_state(struct inst *in)
{
	const struct spec *s = &in->app->spec;
	struct proc *p = in->proc;
	bool running = in->state == ST_ONLINE || in->state == ST_LAUNCHING ||
	    in->state == ST_STOPPING;
	int64_t now = wall_ms();
	json_t *j = json_pack("{s:i, s:I, s:s, s:s, s:i, s:s, s:s, s:i, s:i, s:i, s:I, s:f, s:I,"
	    " s:s, s:b, s:b}",
	    "pm_id", in->pm_id,
	    "app_id", (json_int_t)in->app->id,
	    "name", s->name,
	    "namespace", s->namespace,
	    "pid", p && !p->exited ? (int)p->pid : 0,
	    "status", shown_state(in),
	    "mode", spec_mode_name(s->exec_mode),
	    "instance", in->index,
	    "restarts", in->restarts,
	    "unstable_restarts", in->unstable_restarts,
	    "created_at", (json_int_t)in->created_wall,
	    "cpu", sampled(in) ? in->cpu_pct : 0.0,
	    "memory", (json_int_t)(sampled(in) ? in->mem_bytes : 0),
	    "user", user_name(s),
	    "watching", in->app->watch != NULL,
	    "ready", p ? p->ready_mono >= 0 : false);
	json_object_set_new(j, "version", s->version ? json_string(s->version) : json_null());
	json_object_set_new(j, "started_at", running ? json_integer(in->started_wall) : json_null());
	json_object_set_new(j, "uptime_ms", running ? json_integer(now - in->started_wall) : json_integer(0));
	json_object_set_new(j, "exit_code", in->exit_code >= 0 ? json_integer(in->exit_code) : json_null());
	json_object_set_new(j, "exit_signal", in->exit_signal ? json_string(signame_name(in->exit_signal)) : json_null());
	json_object_set_new(j, "reason", in->reason ? json_string(in->reason) : json_null());
	json_object_set_new(j, "error", in->error ? json_string(in->error) : json_null());
	json_object_set_new(j, "status_text", in->status_text ? json_string(in->status_text) : json_null());
	json_object_set_new(j, "out_log", in->out_path ? json_string(in->out_path) : json_null());
	json_object_set_new(j, "err_log", in->err_path ? json_string(in->err_path) : json_null());
	json_object_set_new(j, "log", in->log_path ? json_string(in->log_path) : json_null());
	json_object_set_new(j, "pid_file", in->pid_path ? json_string(in->pid_path) : json_null());
	json_object_set_new(j, "logs_lost", logs_lost(in));
	if (s->exec_mode == MODE_CLUSTER)
		json_object_set_new(j, "listeners", cluster_describe_slot(D->cluster, in->app->id,
		    in->uid));
	json_object_set_new(j, "broker", broker_state(in));
	int inspect = inst_inspect_port(in);
	json_object_set_new(j, "inspect_port", inspect ? json_integer(inspect) : json_null());
	/* The shapes PM2's jlist has, for scripts written against it. */
	json_object_set_new(j, "monit", json_pack("{s:I, s:f}", "memory",
	    (json_int_t)(sampled(in) ? in->mem_bytes : 0), "cpu", sampled(in) ? in->cpu_pct : 0.0));
	json_t *pm2 = json_pack("{s:s, s:i, s:i, s:I, s:s, s:s, s:i, s:s, s:s}",
	    "status", shown_state(in),
	    "restart_time", in->restarts,
	    "unstable_restarts", in->unstable_restarts,
	    "created_at", (json_int_t)in->created_wall,
	    "namespace", s->namespace,
	    "exec_mode", s->exec_mode == MODE_CLUSTER ? "cluster_mode" : "fork_mode",
	    "pm_id", in->pm_id,
	    "name", s->name,
	    "pm_exec_path", s->script);
	json_object_set_new(pm2, "pm_cwd", json_string(s->cwd));
	/* PM2 keeps the last start time once stopped. */
	json_object_set_new(pm2, "pm_uptime", json_integer(in->started_wall));
	json_object_set_new(pm2, "pm_out_log_path", in->out_path ? json_string(in->out_path) : json_null());
	json_object_set_new(pm2, "pm_err_log_path", in->err_path ? json_string(in->err_path) : json_null());
	json_object_set_new(pm2, "pm_pid_path", in->pid_path ? json_string(in->pid_path) : json_null());
	json_object_set_new(pm2, "exit_code", in->exit_code >= 0 ? json_integer(in->exit_code) : json_null());
	json_object_set_new(pm2, "instances", json_integer(s->instances));
	json_object_set_new(pm2, "version", json_string(s->version ? s->version : "N/A"));
	json_object_set_new(pm2, s->instance_var, json_integer(in->index));
	json_object_set_new(pm2, "args", strv_to_json(s->args));
	json_object_set_new(pm2, "node_args", strv_to_json(s->interpreter_args));
	json_object_set_new(pm2, "exec_interpreter",
	    json_string(s->interpreter ? s->interpreter : "none"));
	json_object_set_new(pm2, "autorestart", json_boolean(s->autorestart));
	json_object_set_new(pm2, "watch", json_boolean(s->watch));
	json_object_set_new(pm2, "username", json_string(user_name(s)));
	json_object_set_new(pm2, "unique_id", json_sprintf("%016llx",
	    (unsigned long long)in->uid));
	json_object_set_new(j, "pm2_env", pm2);
	return j;
}

json_t *
procinfo_json(struct inst *in, bool with_env)
{
	json_t *j = procinfo_state(in);
	json_object_set_new(j, "spec", spec_to_json(&in->app->spec, with_env));
	return j;
}

/* With 100 apps, building and serializing the specs was most of a jlist:
 * the app's cached spec text is spliced in instead. */
void
procinfo_append_text(struct sbuf *b, struct inst *in)
{
	json_t *j = procinfo_state(in);
	char *txt = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!txt)
		fatal("cannot serialize process %d", in->pm_id);
	size_t len = strlen(txt);
	sbuf_add(b, txt, len - 1);              /* without the closing brace */
	sbuf_adds(b, ",\"spec\":");
	sbuf_adds(b, app_spec_text(in->app));
	sbuf_addc(b, '}');
	free(txt);
}
