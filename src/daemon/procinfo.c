/*
 * procinfo.c — how an instance is shown to clients (procinfo.h).
 */
#include "daemon/procinfo.h"
#include "daemon/profile.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "common/jsonw.h"
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

/* The state to show: between its main process's exit and the end of the
 * cleanup of what it left running (up to kill_timeout), an instance is not
 * online any more, whatever follows. */
const char *
procinfo_status(const struct inst *in)
{
	if (in->proc && in->proc->exited &&
	    (in->state == ST_ONLINE || in->state == ST_LAUNCHING))
		return inst_state_name(ST_STOPPING);
	return inst_state_name(in->state);
}

static bool
running(const struct inst *in)
{
	return in->state == ST_ONLINE || in->state == ST_LAUNCHING || in->state == ST_STOPPING;
}

/* Whether the sampler's figures are those of the instance's process now:
 * a process started since the last sample shows 0, not its predecessor's
 * memory under its own pid. */
bool
procinfo_sampled(const struct inst *in)
{
	return running(in) && in->proc && in->sampled_serial == in->proc->serial;
}

/* Just what the `list` table draws. */
static void
write_brief(struct jsonw *w, struct inst *in)
{
	const struct spec *s = &in->app->spec;
	struct proc *p = in->proc;
	jw_int(w, "pm_id", in->pm_id);
	jw_str(w, "name", s->name);
	jw_str(w, "namespace", s->namespace);
	if (s->version)
		jw_str(w, "version", s->version);
	jw_str(w, "mode", spec_mode_name(s->exec_mode));
	jw_int(w, "pid", p && !p->exited ? (int)p->pid : 0);
	jw_int(w, "uptime_ms", running(in) ? wall_ms() - in->started_wall : 0);
	jw_int(w, "restarts", in->restarts);
	jw_str(w, "status", procinfo_status(in));
	jw_real(w, "cpu", procinfo_sampled(in) ? in->cpu_pct : 0.0);
	jw_int(w, "memory", procinfo_sampled(in) ? in->mem_bytes : 0);
	jw_str(w, "user", user_name(s));
	jw_bool(w, "watching", in->app->watch != NULL);
}

/* What write errors (a full disk) cost each log file of the instance since
 * the daemon opened it: {"out": {"lines", "bytes"}, "err": ..., "log": ...}.
 * A merged file's counts are shared by the instances that write to it. */
static void
write_logs_lost(struct jsonw *w, const struct inst *in)
{
	const struct {
		const char *key;
		const struct logfile *lf;
	} files[] = {{"out", in->out_file}, {"err", in->err_file}, {"log", in->log_file}};
	jw_object(w, "logs_lost");
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		if (!files[i].lf)
			continue;
		int64_t bytes, lines = logfile_lost(files[i].lf, &bytes);
		jw_object(w, files[i].key);
		jw_int(w, "lines", lines);
		jw_int(w, "bytes", bytes);
		jw_end(w);
	}
	jw_end(w);
}

/* How the instance's process stands with its broker (cluster mode through
 * the preload library): "reached" once some process of it asked for a port,
 * "not reached" once it ran listen_timeout without asking (a server that
 * could not reach the broker binds its port alone: its error log says why),
 * "waiting" before; null when it has no broker (fork mode, `listen` apps)
 * or no process. */
static const char *
broker_state(const struct inst *in)
{
	const struct proc *p = in->proc;
	bool asked;
	if (!p || p->exited || !p->peer || !cluster_peer_broker(p->peer, &asked))
		return NULL;
	if (asked)
		return "reached";
	return mono_ms() - p->started_mono >= in->app->spec.listen_timeout ?
	    "not reached" : "waiting";
}

/* Everything of PROCINFO_FULL but "spec". */
static void
write_state(struct jsonw *w, struct inst *in)
{
	const struct spec *s = &in->app->spec;
	struct proc *p = in->proc;
	bool up = running(in);
	jw_int(w, "pm_id", in->pm_id);
	jw_int(w, "app_id", (int64_t)in->app->id);
	jw_str(w, "name", s->name);
	jw_str(w, "namespace", s->namespace);
	jw_int(w, "pid", p && !p->exited ? (int)p->pid : 0);
	jw_str(w, "status", procinfo_status(in));
	jw_str(w, "mode", spec_mode_name(s->exec_mode));
	jw_int(w, "instance", in->index);
	jw_int(w, "restarts", in->restarts);
	jw_int(w, "unstable_restarts", in->unstable_restarts);
	jw_int(w, "created_at", in->created_wall);
	jw_real(w, "cpu", procinfo_sampled(in) ? in->cpu_pct : 0.0);
	jw_int(w, "memory", procinfo_sampled(in) ? in->mem_bytes : 0);
	jw_str(w, "user", user_name(s));
	jw_bool(w, "watching", in->app->watch != NULL);
	jw_bool(w, "ready", p ? p->ready_mono >= 0 : false);
	jw_str(w, "version", s->version);
	jw_int_or_null(w, "started_at", up, in->started_wall);
	jw_int(w, "uptime_ms", up ? wall_ms() - in->started_wall : 0);
	jw_int_or_null(w, "exit_code", in->exit_code >= 0, in->exit_code);
	jw_str(w, "exit_signal", in->exit_signal ? signame_name(in->exit_signal) : NULL);
	jw_str(w, "reason", in->reason);
	jw_str(w, "error", in->error);
	jw_str(w, "status_text", in->status_text);
	jw_json(w, "axm_monitor", json_incref(in->metrics));
	jw_json(w, "profiles", profile_files(in));
	jw_str(w, "out_log", in->out_path);
	jw_str(w, "err_log", in->err_path);
	jw_str(w, "log", in->log_path);
	jw_str(w, "pid_file", in->pid_path);
	write_logs_lost(w, in);
	if (s->exec_mode == MODE_CLUSTER)
		jw_json(w, "listeners", cluster_describe_slot(D->cluster, in->app->id, in->uid));
	jw_str(w, "broker", broker_state(in));
	int inspect = inst_inspect_port(in);
	jw_int_or_null(w, "inspect_port", inspect != 0, inspect);
	/* The shapes PM2's jlist has, for scripts written against it. */
	jw_object(w, "monit");
	jw_int(w, "memory", procinfo_sampled(in) ? in->mem_bytes : 0);
	jw_real(w, "cpu", procinfo_sampled(in) ? in->cpu_pct : 0.0);
	jw_end(w);
	jw_object(w, "pm2_env");
	jw_str(w, "status", procinfo_status(in));
	jw_int(w, "restart_time", in->restarts);
	jw_int(w, "unstable_restarts", in->unstable_restarts);
	jw_int(w, "created_at", in->created_wall);
	jw_str(w, "namespace", s->namespace);
	jw_str(w, "exec_mode", s->exec_mode == MODE_CLUSTER ? "cluster_mode" : "fork_mode");
	jw_int(w, "pm_id", in->pm_id);
	jw_str(w, "name", s->name);
	jw_str(w, "pm_exec_path", s->script);
	jw_str(w, "pm_cwd", s->cwd);
	/* PM2 keeps the last start time once stopped. */
	jw_int(w, "pm_uptime", in->started_wall);
	jw_str(w, "pm_out_log_path", in->out_path);
	jw_str(w, "pm_err_log_path", in->err_path);
	jw_str(w, "pm_pid_path", in->pid_path);
	jw_int_or_null(w, "exit_code", in->exit_code >= 0, in->exit_code);
	jw_int(w, "instances", s->instances);
	jw_str(w, "version", s->version ? s->version : "N/A");
	jw_int(w, s->instance_var, in->index);
	jw_strv(w, "args", s->args);
	jw_strv(w, "node_args", s->interpreter_args);
	jw_str(w, "exec_interpreter", s->interpreter ? s->interpreter : "none");
	jw_bool(w, "autorestart", s->autorestart);
	jw_bool(w, "watch", s->watch);
	jw_str(w, "username", user_name(s));
	char uid[24];
	snprintf(uid, sizeof(uid), "%016llx", (unsigned long long)in->uid);
	jw_str(w, "unique_id", uid);
	jw_end(w);
}

void
procinfo_append(struct sbuf *b, struct inst *in, enum procinfo_shape shape)
{
	struct jsonw w;
	jw_begin(&w, b);
	if (shape == PROCINFO_BRIEF) {
		write_brief(&w, in);
	} else {
		write_state(&w, in);
		/* With 100 apps, building and serializing the specs was most of
		 * a jlist: the app's cached spec text is spliced in instead. */
		if (shape == PROCINFO_ENV)
			jw_json(&w, "spec", spec_to_json(&in->app->spec, true));
		else
			jw_raw(&w, "spec", app_spec_text(in->app));
	}
	jw_end(&w);
}

/* An instance's standing with its listener groups (cluster mode): "ready"
 * when one of its processes takes new connections (or, in a `shared`
 * group, which has no members of its own, when it is online and bound),
 * "draining" when it is stopping with members left, "not ready" otherwise;
 * *queued: the connections waiting in its members' queues (a shared
 * group's whole queue). */
const char *
procinfo_lb(struct inst *in, int64_t *queued)
{
	json_t *groups = cluster_describe_slot(D->cluster, in->app->id, in->uid);
	int members = 0, traffic = 0;
	bool shared = false;
	*queued = 0;
	size_t i, k;
	json_t *g, *m;
	json_array_foreach(groups, i, g) {
		const char *lb = json_string_value(json_object_get(g, "lb"));
		shared |= lb && strcmp(lb, "shared") == 0;
		*queued += json_integer_value(json_object_get(g, "queued"));
		json_array_foreach(json_object_get(g, "members"), k, m) {
			members++;
			traffic += json_is_true(json_object_get(m, "gets_traffic"));
			*queued += json_integer_value(json_object_get(m, "queued"));
		}
	}
	json_decref(groups);
	const struct proc *p = in->proc;
	bool bound = p && !p->exited && p->ready_mono >= 0;
	if (traffic > 0 || (shared && bound && in->state == ST_ONLINE))
		return "ready";
	if (members > 0 && in->state == ST_STOPPING)
		return "draining";
	return "not ready";
}

void
procinfo_append_sample(struct sbuf *b, struct inst *in, bool measured)
{
	const struct spec *s = &in->app->spec;
	struct proc *p = in->proc;
	struct jsonw w;
	jw_begin(&w, b);
	jw_int(&w, "pm_id", in->pm_id);
	jw_int(&w, "app_id", (int64_t)in->app->id);
	jw_str(&w, "name", s->name);
	jw_str(&w, "namespace", s->namespace);
	jw_str(&w, "mode", spec_mode_name(s->exec_mode));
	jw_str(&w, "status", procinfo_status(in));
	jw_int(&w, "pid", p && !p->exited ? (int)p->pid : 0);
	jw_int(&w, "uptime_ms", running(in) ? wall_ms() - in->started_wall : 0);
	jw_int(&w, "restarts", in->restarts);
	if (measured) {
		jw_real(&w, "cpu", procinfo_sampled(in) ? in->cpu_pct : 0.0);
		jw_int(&w, "memory", procinfo_sampled(in) ? in->mem_bytes : 0);
	} else {
		jw_null(&w, "cpu");
		jw_null(&w, "memory");
	}
	if (s->exec_mode == MODE_CLUSTER && measured) {
		int64_t queued;
		jw_str(&w, "lb", procinfo_lb(in, &queued));
		jw_int(&w, "queued", queued);
	} else if (s->exec_mode == MODE_CLUSTER) {
		jw_null(&w, "lb");
		jw_null(&w, "queued");
	}
	jw_end(&w);
}

void
procinfo_append_all(struct sbuf *b, struct inst *const *ins, size_t n, enum procinfo_shape shape)
{
	bool first = true;
	sbuf_addc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (!ins[i])
			continue;
		if (!first)
			sbuf_addc(b, ',');
		first = false;
		procinfo_append(b, ins[i], shape);
	}
	sbuf_addc(b, ']');
}
