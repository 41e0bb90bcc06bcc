/*
 * webmetrics.c — `corral web`'s /metrics and /readyz (web.h). Every metric
 * and label is in docs/web.md.
 *
 * Prometheus's text format and OpenMetrics differ here only in three
 * things: OpenMetrics names a counter's family without its `_total`, wants
 * `# EOF` at the end, and is asked for in Accept.
 */
#include <dirent.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/spec.h"
#include "daemon/apps.h"
#include "daemon/server.h"
#include "daemon/procinfo.h"
#include "daemon/runtime.h"
#include "daemon/sampler.h"
#include "daemon/state.h"
#include "daemon/table.h"
#include "daemon/web.h"

struct mw {
	struct sbuf *b;
	bool om;
	const char *name;       /* the family being written */
	bool counter;
};

/* A label value, escaped as both formats want (\\, \" and \n). */
static void
add_label_value(struct sbuf *b, const char *v)
{
	const char *p = v ? v : "";
	for (;;) {
		size_t run = strcspn(p, "\\\"\n");
		sbuf_add(b, p, run);
		p += run;
		if (!*p)
			return;
		sbuf_adds(b, *p == '\n' ? "\\n" : *p == '"' ? "\\\"" : "\\\\");
		p++;
	}
}

static void
family(struct mw *m, const char *name, bool counter, const char *type, const char *help)
{
	m->name = name;
	m->counter = counter;
	const char *suffix = counter && !m->om ? "_total" : "";
	sbuf_addf(m->b, "# HELP %s%s %s\n# TYPE %s%s %s\n", name, suffix, help, name, suffix,
	    type);
}

/* One sample: labels is the text between the braces (may be ""). Written
 * without a format per piece: a scrape of 200 instances has 3000 lines. */
static void
sample(struct mw *m, const char *labels, const char *extra_key, const char *extra_value,
    double v)
{
	struct sbuf *b = m->b;
	sbuf_adds(b, m->name);
	if (m->counter)
		sbuf_adds(b, "_total");
	if (*labels || extra_key) {
		sbuf_addc(b, '{');
		sbuf_adds(b, labels);
		if (extra_key) {
			if (*labels)
				sbuf_addc(b, ',');
			sbuf_adds(b, extra_key);
			sbuf_adds(b, "=\"");
			add_label_value(b, extra_value);
			sbuf_addc(b, '"');
		}
		sbuf_addc(b, '}');
	}
	char num[64];
	int k = v == (double)(int64_t)v ? snprintf(num, sizeof(num), " %lld\n", (long long)v)
	    : snprintf(num, sizeof(num), " %.6f\n", v);
	sbuf_add(b, num, (size_t)k);
}

static char *
labels_of(const char *app, const char *ns, int pm_id, int index)
{
	struct sbuf b = SBUF_INIT;
	sbuf_adds(&b, "app=\"");
	add_label_value(&b, app);
	sbuf_adds(&b, "\",namespace=\"");
	add_label_value(&b, ns);
	sbuf_adds(&b, "\"");
	if (pm_id >= 0)
		sbuf_addf(&b, ",pm_id=\"%d\",instance=\"%d\"", pm_id, index);
	return sbuf_take(&b);
}

static int64_t
self_rss(void)
{
	char *text = NULL;
	size_t len;
	long long size = 0, res = 0;
	if (read_file("/proc/self/statm", &text, &len, 4096) == 0)
		sscanf(text, "%lld %lld", &size, &res);
	free(text);
	return res * sysconf(_SC_PAGESIZE);
}

static int
self_fds(void)
{
	/* Linux 6.2 and later give the count as the directory's size: a
	 * listing of a thousand descriptors was a quarter of a scrape. */
	struct stat st;
	if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0)
		return (int)st.st_size;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;   /* the directory's own descriptor */
}

static bool
is_running(const struct inst *in)
{
	return in->state == ST_ONLINE || in->state == ST_LAUNCHING || in->state == ST_STOPPING;
}

void
web_metrics(struct sbuf *b, bool openmetrics)
{
	struct mw m = {.b = b, .om = openmetrics};
	size_t n;
	struct inst *in;
	struct inst **ins = table_all_insts(&n);
	char **lab = xcalloc(n ? n : 1, sizeof(*lab));
	for (size_t i = 0; i < n; i++)
		lab[i] = labels_of(ins[i]->app->spec.name, ins[i]->app->spec.namespace,
		    ins[i]->pm_id, ins[i]->index);
	sampler_refresh(ins, n);
	long tck = sysconf(_SC_CLK_TCK);
	int64_t now = wall_ms();

	family(&m, "corral_up", false, "gauge", "1 when the instance is online");
	for (size_t i = 0; i < n; i++)
		sample(&m, lab[i], NULL, NULL, strcmp(procinfo_status(ins[i]), "online") == 0);
	family(&m, "corral_instance_status", false, "gauge",
	    "the instance's status (label status), always 1");
	for (size_t i = 0; i < n; i++)
		sample(&m, lab[i], "status", procinfo_status(ins[i]), 1);
	family(&m, "corral_cpu_seconds", true, "counter",
	    "CPU time of the instance's process tree since its process started");
	for (size_t i = 0; i < n; i++)
		sample(&m, lab[i], NULL, NULL, procinfo_sampled(ins[i])
		    ? (double)ins[i]->last_cpu_ticks / (double)tck : 0);
	family(&m, "corral_memory_resident_bytes", false, "gauge",
	    "resident memory of the instance's whole process tree");
	for (size_t i = 0; i < n; i++)
		sample(&m, lab[i], NULL, NULL, procinfo_sampled(ins[i])
		    ? (double)ins[i]->mem_bytes : 0);
	family(&m, "corral_restarts", true, "counter", "restarts of the instance (list's ↺)");
	for (size_t i = 0; i < n; i++)
		sample(&m, lab[i], NULL, NULL, ins[i]->restarts);
	family(&m, "corral_last_restart_reason", false, "gauge",
	    "why the instance last restarted or stopped (label reason), always 1");
	for (size_t i = 0; i < n; i++)
		if (ins[i]->reason)
			sample(&m, lab[i], "reason", ins[i]->reason, 1);
	family(&m, "corral_start_time_seconds", false, "gauge",
	    "when the instance's process started, in seconds since the epoch (0: not running)");
	for (size_t i = 0; i < n; i++)
		sample(&m, lab[i], NULL, NULL, is_running(ins[i])
		    ? (double)ins[i]->started_wall / 1000.0 : 0);
	family(&m, "corral_uptime_seconds", false, "gauge",
	    "how long the instance's process has run (0: not running)");
	for (size_t i = 0; i < n; i++)
		sample(&m, lab[i], NULL, NULL, is_running(ins[i])
		    ? (double)(now - ins[i]->started_wall) / 1000.0 : 0);
	family(&m, "corral_lb_ready", false, "gauge",
	    "cluster mode: 1 when the instance takes new connections");
	size_t ncluster = 0;
	int64_t *queued = xcalloc(n ? n : 1, sizeof(*queued));
	const char **lb = xcalloc(n ? n : 1, sizeof(*lb));
	for (size_t i = 0; i < n; i++) {
		if (ins[i]->app->spec.exec_mode != MODE_CLUSTER)
			continue;
		ncluster++;
		lb[i] = procinfo_lb(ins[i], &queued[i]);
		sample(&m, lab[i], "state", lb[i], strcmp(lb[i], "ready") == 0);
	}
	family(&m, "corral_accept_queue_depth", false, "gauge",
	    "cluster mode: connections waiting in the instance's accept queues");
	for (size_t i = 0; ncluster && i < n; i++)
		if (lb[i])
			sample(&m, lab[i], NULL, NULL, (double)queued[i]);
	free(queued);
	free(lb);

	/* Per app. */
	size_t na = 0;
	struct app *a;
	TAILQ_FOREACH(a, &D->apps, link)
		na++;
	char **alab = xcalloc(na ? na : 1, sizeof(*alab));
	struct app **apps = xcalloc(na ? na : 1, sizeof(*apps));
	na = 0;
	TAILQ_FOREACH(a, &D->apps, link) {
		state_step();
		apps[na] = a;
		alab[na++] = labels_of(a->spec.name, a->spec.namespace, -1, 0);
	}
	family(&m, "corral_app_instances_wanted", false, "gauge",
	    "instances the app is scaled to");
	for (size_t i = 0; i < na; i++)
		sample(&m, alab[i], NULL, NULL, app_scale_count(apps[i]));
	family(&m, "corral_app_instances_ready", false, "gauge", "instances of the app online");
	for (size_t i = 0; i < na; i++) {
		int ready = 0;
		TAILQ_FOREACH(in, &apps[i]->insts, app_link)
			ready += strcmp(procinfo_status(in), "online") == 0;
		sample(&m, alab[i], NULL, NULL, ready);
	}
	family(&m, "corral_app_reloads", true, "counter",
	    "rolling reloads of the app by outcome (label outcome: ok, failed)");
	for (size_t i = 0; i < na; i++) {
		sample(&m, alab[i], "outcome", "ok", (double)apps[i]->reloads_ok);
		sample(&m, alab[i], "outcome", "failed", (double)apps[i]->reloads_failed);
	}
	family(&m, "corral_log_bytes", true, "counter",
	    "bytes the daemon wrote to the app's logs (label stream: out, err)");
	for (size_t i = 0; i < na; i++) {
		sample(&m, alab[i], "stream", "out", (double)apps[i]->log_bytes[0]);
		sample(&m, alab[i], "stream", "err", (double)apps[i]->log_bytes[1]);
	}

	/* The daemon. */
	family(&m, "corral_daemon_resident_memory_bytes", false, "gauge",
	    "the daemon's own resident memory");
	sample(&m, "", NULL, NULL, (double)self_rss());
	family(&m, "corral_daemon_open_fds", false, "gauge", "the daemon's open descriptors");
	sample(&m, "", NULL, NULL, self_fds());
	family(&m, "corral_daemon_clients", false, "gauge",
	    "clients connected to the control socket");
	sample(&m, "", NULL, NULL, (double)server_client_count());
	family(&m, "corral_daemon_start_time_seconds", false, "gauge",
	    "when the daemon started, in seconds since the epoch");
	sample(&m, "", NULL, NULL, (double)D->started_wall_ms / 1000.0);
	family(&m, "corral_log_lines_dropped", true, "counter",
	    "app log lines lost (corral runtime's stdout not keeping up); files never drop");
	sample(&m, "", NULL, NULL, (double)D->log_lines_dropped);
	json_t *st = web_status_json();
	family(&m, "corral_web_connections", false, "gauge", "open HTTP connections");
	sample(&m, "", NULL, NULL, (double)json_integer_value(json_object_get(st, "connections")));
	family(&m, "corral_web_requests", true, "counter", "HTTP requests received");
	sample(&m, "", NULL, NULL, (double)json_integer_value(json_object_get(st, "requests")));
	family(&m, "corral_web_events_dropped", true, "counter",
	    "events not sent to an event stream that did not keep up");
	sample(&m, "", NULL, NULL,
	    (double)json_integer_value(json_object_get(st, "events_dropped")));
	json_decref(st);
	if (m.om)
		sbuf_adds(b, "# EOF\n");

	for (size_t i = 0; i < n; i++)
		free(lab[i]);
	for (size_t i = 0; i < na; i++)
		free(alab[i]);
	free(lab);
	free(alab);
	free(ins);
	free(apps);
}

/* Whether in should be online and ready and is not: the rule of `corral
 * ready` (src/cli/verbs_query.c): every instance not stopped is online
 * and ready (bound its ports in cluster mode; said so with wait_ready). */
static bool
missing(const struct inst *in)
{
	const char *status = procinfo_status(in);
	if (strcmp(status, "stopped") == 0)
		return false;
	return strcmp(status, "online") != 0 || !in->proc || in->proc->ready_mono < 0;
}

bool
web_ready(struct sbuf *b)
{
	/* A container's apps are not there yet: not ready, with none missing. */
	if (!runtime_apps_started()) {
		sbuf_adds(b, "[]");
		return false;
	}
	sbuf_addc(b, '[');
	size_t k = 0;
	struct inst *in;
	TAILQ_FOREACH(in, &D->insts, link) {
		state_step();
		if (!missing(in))
			continue;
		if (k++)
			sbuf_addc(b, ',');
		procinfo_append_sample(b, in, false);
	}
	sbuf_addc(b, ']');
	return k == 0;
}
