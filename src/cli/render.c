/*
 * render.c — tables.
 */
#include "cli/render.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "common/spec.h"
#include "common/units.h"
#include "common/util.h"

#define MAX_COLS 16

struct cell {
	char *text;
	const char *color;   /* ANSI SGR or NULL */
};

struct table {
	const char *head[MAX_COLS];
	size_t ncols;
	struct cell *cells;  /* rows × ncols */
	size_t nrows;
	bool color;
};

static const char *GREEN = "32", *RED = "31", *YELLOW = "33", *CYAN = "36", *GREY = "90",
    *BOLD = "1";

bool
render_color(FILE *f)
{
	const char *nc = getenv("NO_COLOR");
	if (nc && *nc)
		return false;
	return isatty(fileno(f));
}

/* Display width of UTF-8 text: one column per code point. */
static size_t
width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static void
table_row(struct table *t, struct cell *row)
{
	t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*t->cells));
	memcpy(&t->cells[t->nrows * t->ncols], row, t->ncols * sizeof(*row));
	t->nrows++;
}

static void
rule(FILE *f, const size_t *w, size_t n, const char *l, const char *m, const char *r)
{
	fputs(l, f);
	for (size_t c = 0; c < n; c++) {
		for (size_t k = 0; k < w[c] + 2; k++)
			fputs("─", f);
		fputs(c + 1 < n ? m : r, f);
	}
	fputc('\n', f);
}

static void
put_cell(FILE *f, const char *text, const char *color, size_t w, bool use_color)
{
	fputc(' ', f);
	if (use_color && color)
		fprintf(f, "\033[%sm%s\033[0m", color, text);
	else
		fputs(text, f);
	for (size_t k = width(text); k < w; k++)
		fputc(' ', f);
	fputs(" │", f);
}

static void
table_print(FILE *f, struct table *t)
{
	size_t w[MAX_COLS];
	for (size_t c = 0; c < t->ncols; c++) {
		w[c] = width(t->head[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t cw = width(t->cells[r * t->ncols + c].text);
			if (cw > w[c])
				w[c] = cw;
		}
	}
	rule(f, w, t->ncols, "┌", "┬", "┐");
	fputs("│", f);
	for (size_t c = 0; c < t->ncols; c++)
		put_cell(f, t->head[c], BOLD, w[c], t->color);
	fputc('\n', f);
	rule(f, w, t->ncols, "├", "┼", "┤");
	for (size_t r = 0; r < t->nrows; r++) {
		fputs("│", f);
		for (size_t c = 0; c < t->ncols; c++) {
			struct cell *cell = &t->cells[r * t->ncols + c];
			put_cell(f, cell->text, cell->color, w[c], t->color);
		}
		fputc('\n', f);
	}
	rule(f, w, t->ncols, "└", "┴", "┘");
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i].text);
	free(t->cells);
	t->cells = NULL;
	t->nrows = 0;
}

static const char *
status_color(const char *st)
{
	if (strcmp(st, "online") == 0)
		return GREEN;
	if (strcmp(st, "errored") == 0 || strcmp(st, "stopped") == 0)
		return RED;
	return YELLOW;
}

static const char *
str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static long long
num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? (long long)json_integer_value(v)
	    : json_is_real(v) ? (long long)json_real_value(v) : 0;
}

static int
term_width(FILE *f)
{
	struct winsize ws;
	if (isatty(fileno(f)) && ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 1000;
}

void
render_list(FILE *f, json_t *procs)
{
	bool full = term_width(f) >= 120;
	struct table t = {.color = render_color(f)};
	const char *full_head[] = {"id", "name", "namespace", "version", "mode", "pid",
	    "uptime", "↺", "status", "cpu", "mem", "user", "watching"};
	const char *small_head[] = {"id", "name", "mode", "↺", "status", "cpu", "mem"};
	const char **head = full ? full_head : small_head;
	t.ncols = full ? ARRAY_LEN(full_head) : ARRAY_LEN(small_head);
	for (size_t i = 0; i < t.ncols; i++)
		t.head[i] = head[i];
	size_t i;
	json_t *p;
	json_array_foreach(procs, i, p) {
		const char *st = str(p, "status");
		bool up = strcmp(st, "online") == 0 || strcmp(st, "launching") == 0 ||
		    strcmp(st, "stopping") == 0;
		char id[16], pid[16], uptime[16], restarts[16], cpu[16], mem[24];
		snprintf(id, sizeof(id), "%lld", num(p, "pm_id"));
		snprintf(pid, sizeof(pid), "%lld", num(p, "pid"));
		units_format_uptime(num(p, "uptime_ms"), uptime, sizeof(uptime));
		snprintf(restarts, sizeof(restarts), "%lld", num(p, "restarts"));
		double cpuv = json_number_value(json_object_get(p, "cpu"));
		snprintf(cpu, sizeof(cpu), "%.0f%%", cpuv);
		units_format_bytes(num(p, "memory"), mem, sizeof(mem));
		const char *version = str(p, "version");
		struct cell full_row[] = {
			{id, CYAN}, {(char *)str(p, "name"), CYAN}, {(char *)str(p, "namespace"), NULL},
			{(char *)(*version ? version : "N/A"), NULL}, {(char *)str(p, "mode"), NULL},
			{up ? pid : "0", NULL}, {up ? uptime : "0", NULL}, {restarts, NULL},
			{(char *)st, status_color(st)}, {up ? cpu : "0%", NULL}, {up ? mem : "0b", NULL},
			{(char *)str(p, "user"), NULL},
			{json_is_true(json_object_get(p, "watching")) ? "enabled" : "disabled", GREY},
		};
		struct cell small_row[] = {
			{id, CYAN}, {(char *)str(p, "name"), CYAN}, {(char *)str(p, "mode"), NULL},
			{restarts, NULL}, {(char *)st, status_color(st)}, {up ? cpu : "0%", NULL},
			{up ? mem : "0b", NULL},
		};
		struct cell *row = full ? full_row : small_row;
		for (size_t c = 0; c < t.ncols; c++)
			row[c].text = xstrdup(row[c].text);
		table_row(&t, row);
	}
	table_print(f, &t);
}

static void
kv(struct table *t, const char *k, const char *v, const char *color)
{
	struct cell row[2] = {{xstrdup(k), BOLD}, {xstrdup(v && *v ? v : "N/A"), color}};
	table_row(t, row);
}

static char *
join(json_t *arr)
{
	struct sbuf b = SBUF_INIT;
	sbuf_adds(&b, "");
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		char *q = shell_quote(json_string_value(v) ? json_string_value(v) : "");
		sbuf_addf(&b, "%s%s", i ? " " : "", q);
		free(q);
	}
	return sbuf_take(&b);
}

static void
time_text(long long ms, char *buf, size_t len)
{
	if (ms <= 0) {
		snprintf(buf, len, "N/A");
		return;
	}
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&secs, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* The rows that say what runs: script, its arguments, the interpreter. */
static void
kv_command(struct table *t, json_t *s, const char *script_label, const char *args_label)
{
	kv(t, script_label, str(s, "script"), NULL);
	char *args = join(json_object_get(s, "args"));
	kv(t, args_label, args, NULL);
	free(args);
	kv(t, "interpreter", json_is_null(json_object_get(s, "interpreter")) ? "none"
	    : str(s, "interpreter"), NULL);
	char *iargs = join(json_object_get(s, "interpreter_args"));
	kv(t, "interpreter args", iargs, NULL);
	free(iargs);
}

static void render_profiles(FILE *f, json_t *files);

void
render_describe(FILE *f, json_t *p)
{
	bool color = render_color(f);
	json_t *s = json_object_get(p, "spec");
	fprintf(f, " Describing process with id %lld - name %s\n", num(p, "pm_id"), str(p, "name"));
	struct table t = {.color = color, .ncols = 2, .head = {"field", "value"}};
	char buf[256];
	const char *st = str(p, "status");
	kv(&t, "status", st, status_color(st));
	kv(&t, "name", str(p, "name"), NULL);
	kv(&t, "namespace", str(p, "namespace"), NULL);
	kv(&t, "version", str(p, "version"), NULL);
	snprintf(buf, sizeof(buf), "%lld", num(p, "restarts"));
	kv(&t, "restarts", buf, NULL);
	units_format_uptime(num(p, "uptime_ms"), buf, sizeof(buf));
	kv(&t, "uptime", num(p, "pid") ? buf : "0", NULL);
	snprintf(buf, sizeof(buf), "%lld", num(p, "pid"));
	kv(&t, "pid", buf, NULL);
	kv_command(&t, s, "script path", "script args");
	kv(&t, "exec cwd", str(s, "cwd"), NULL);
	kv(&t, "exec mode", str(p, "mode"), NULL);
	snprintf(buf, sizeof(buf), "%lld", num(p, "instance"));
	kv(&t, "instance (NODE_APP_INSTANCE)", buf, NULL);
	kv(&t, "out log path", str(p, "out_log"), NULL);
	kv(&t, "error log path", str(p, "err_log"), NULL);
	kv(&t, "combined log path", str(p, "log"), NULL);
	kv(&t, "pid path", str(p, "pid_file"), NULL);
	const char *lost_keys[][2] = {{"out", "out log lost"}, {"err", "error log lost"},
	    {"log", "combined log lost"}};
	for (size_t k = 0; k < ARRAY_LEN(lost_keys); k++) {
		json_t *lost = json_object_get(json_object_get(p, "logs_lost"), lost_keys[k][0]);
		if (!lost)
			continue;
		snprintf(buf, sizeof(buf), "%lld lines (%lld bytes)", num(lost, "lines"),
		    num(lost, "bytes"));
		kv(&t, lost_keys[k][1], buf, num(lost, "lines") || num(lost, "bytes") ? RED : NULL);
	}
	snprintf(buf, sizeof(buf), "%lld", num(p, "unstable_restarts"));
	kv(&t, "unstable restarts", buf, NULL);
	json_t *ec = json_object_get(p, "exit_code");
	json_t *es = json_object_get(p, "exit_signal");
	if (json_is_string(es))
		snprintf(buf, sizeof(buf), "killed by %s", json_string_value(es));
	else if (json_is_integer(ec))
		snprintf(buf, sizeof(buf), "exit code %lld", (long long)json_integer_value(ec));
	else
		snprintf(buf, sizeof(buf), "N/A");
	kv(&t, "last exit", buf, NULL);
	time_text(num(p, "created_at"), buf, sizeof(buf));
	kv(&t, "created at", buf, NULL);
	long long mm = num(s, "max_memory_restart");
	if (mm > 0) {
		units_format_bytes(mm, buf, sizeof(buf));
		kv(&t, "max memory restart", buf, NULL);
	}
	if (*str(s, "cron_restart"))
		kv(&t, "cron restart", str(s, "cron_restart"), NULL);
	kv(&t, "watch & reload", json_is_true(json_object_get(p, "watching")) ? "enabled" : "disabled", NULL);
	kv(&t, "ready", json_is_true(json_object_get(p, "ready")) ? "yes" : "no", NULL);
	if (strcmp(str(p, "broker"), "not reached") == 0) {
		snprintf(buf, sizeof(buf), "not reached: nothing in this instance asked corral "
		    "for a port within listen_timeout (%lld ms); if it listens, it bound its port "
		    "alone and the other instances cannot (its error log says why)",
		    num(s, "listen_timeout"));
		kv(&t, "broker", buf, RED);
	} else if (*str(p, "broker")) {
		kv(&t, "broker", str(p, "broker"), NULL);
	}
	if (*str(p, "status_text"))
		kv(&t, "status (sd_notify)", str(p, "status_text"), NULL);
	if (*str(p, "reason"))
		kv(&t, "last event", str(p, "reason"), NULL);
	if (*str(p, "error"))
		kv(&t, "error", str(p, "error"), RED);
	json_t *listeners = json_object_get(p, "listeners");
	size_t i;
	json_t *g;
	json_array_foreach(listeners, i, g) {
		struct sbuf b = SBUF_INIT;
		sbuf_addf(&b, "%s lb=%s", str(g, "address"), str(g, "lb"));
		if (json_object_get(g, "size"))
			sbuf_addf(&b, ", %lld in rotation of %lld", num(g, "in_rotation"),
			    num(g, "size"));
		size_t k;
		json_t *m;
		json_array_foreach(json_object_get(g, "members"), k, m)
			sbuf_addf(&b, "; [%lld] pm_id %lld pid %lld %s queue %lld", num(m, "index"),
			    num(m, "pm_id"), num(m, "pid"),
			    json_is_true(json_object_get(m, "gets_traffic")) ? "in rotation" : "out of rotation",
			    num(m, "queued"));
		kv(&t, "listener", b.s, NULL);
		sbuf_free(&b);
	}
	table_print(f, &t);
	render_metrics(f, json_object_get(p, "axm_monitor"));
	render_profiles(f, json_object_get(p, "profiles"));
}

/* The profiles and heap dumps written for a process, with their sizes. */
static void
render_profiles(FILE *f, json_t *files)
{
	if (json_array_size(files) == 0)
		return;
	struct table t = {.color = render_color(f), .ncols = 2, .head = {"profile", "size"}};
	size_t i;
	json_t *p;
	json_array_foreach(files, i, p) {
		char size[32];
		units_format_bytes(num(p, "bytes"), size, sizeof(size));
		kv(&t, str(p, "path"), size, NULL);
	}
	fprintf(f, " Profiles\n");
	table_print(f, &t);
}

void
render_metrics(FILE *f, json_t *metrics)
{
	if (json_object_size(metrics) == 0)
		return;
	struct table t = {.color = render_color(f), .ncols = 2, .head = {"in-app metric", "value"}};
	const char *name;
	json_t *m;
	json_object_foreach(metrics, name, m) {
		char buf[64];
		json_t *v = json_object_get(m, "value");
		if (json_is_integer(v))
			snprintf(buf, sizeof(buf), "%lld %s", (long long)json_integer_value(v),
			    str(m, "unit"));
		else
			snprintf(buf, sizeof(buf), "%.2f %s", json_number_value(v), str(m, "unit"));
		kv(&t, name, buf, NULL);
	}
	fprintf(f, " In-app metrics\n");
	table_print(f, &t);
}

/* "yes"/"no" for a boolean member. */
static const char *
yes_no(json_t *o, const char *k)
{
	return json_is_true(json_object_get(o, k)) ? "yes" : "no";
}

/* A path member, or what an unset one means. */
static const char *
path_or(json_t *o, const char *k, const char *unset)
{
	return json_is_string(json_object_get(o, k)) ? str(o, k) : unset;
}

void
render_config(FILE *f, json_t *apps)
{
	size_t i;
	json_t *s;
	json_array_foreach(apps, i, s) {
		struct table t = {.color = render_color(f), .ncols = 2, .head = {"field", "value"}};
		char buf[96];
		fprintf(f, " App %s\n", str(s, "name"));
		kv_command(&t, s, "script", "args");
		kv(&t, "cwd", str(s, "cwd"), NULL);
		kv(&t, "version", str(s, "version"), NULL);
		kv(&t, "namespace", str(s, "namespace"), NULL);
		kv(&t, "exec mode", str(s, "exec_mode"), NULL);
		long long inst = num(s, "instances");
		if (inst > 0)
			snprintf(buf, sizeof(buf), "%lld", inst);
		else if (inst == 0)
			snprintf(buf, sizeof(buf), "max (all usable CPUs)");
		else
			snprintf(buf, sizeof(buf), "all usable CPUs %lld", inst);
		kv(&t, "instances", buf, NULL);
		if (!strcmp(str(s, "exec_mode"), "cluster")) {
			kv(&t, "lb", str(s, "lb"), NULL);
			char *ports = NULL;
			struct sbuf b = SBUF_INIT;
			size_t k;
			json_t *v;
			json_array_foreach(json_object_get(s, "share_ports"), k, v)
				sbuf_addf(&b, "%s%lld", k ? " " : "", (long long)json_integer_value(v));
			ports = sbuf_take(&b);
			kv(&t, "share_ports", ports && *ports ? ports : "every port it binds", NULL);
			free(ports);
		}
		char *listen = join(json_object_get(s, "listen"));
		if (*listen)
			kv(&t, "listen", listen, NULL);
		free(listen);
		kv(&t, "autostart", yes_no(s, "autostart"), NULL);
		kv(&t, "autorestart", yes_no(s, "autorestart"), NULL);
		snprintf(buf, sizeof(buf), "%lld", num(s, "max_restarts"));
		kv(&t, "max_restarts", buf, NULL);
		const char *ms[] = {"min_uptime", "restart_delay", "exp_backoff_restart_delay",
		    "kill_timeout", "listen_timeout"};
		for (size_t k = 0; k < ARRAY_LEN(ms); k++) {
			snprintf(buf, sizeof(buf), "%lld ms", num(s, ms[k]));
			kv(&t, ms[k], buf, NULL);
		}
		struct sbuf codes = SBUF_INIT;
		size_t k;
		json_t *v;
		sbuf_adds(&codes, "");
		json_array_foreach(json_object_get(s, "stop_exit_codes"), k, v)
			sbuf_addf(&codes, "%s%lld", k ? " " : "", (long long)json_integer_value(v));
		kv(&t, "stop_exit_codes", *codes.s ? codes.s : "none", NULL);
		sbuf_free(&codes);
		kv(&t, "kill_signal", str(s, "kill_signal"), NULL);
		kv(&t, "treekill", yes_no(s, "treekill"), NULL);
		kv(&t, "shutdown_with_message", yes_no(s, "shutdown_with_message"), NULL);
		kv(&t, "wait_ready", yes_no(s, "wait_ready"), NULL);
		long long mm = num(s, "max_memory_restart");
		if (mm > 0) {
			char human[32];
			units_format_bytes(mm, human, sizeof(human));
			snprintf(buf, sizeof(buf), "%lld bytes (%s), whole process tree", mm, human);
		}
		kv(&t, "max_memory_restart", mm > 0 ? buf : "off", NULL);
		kv(&t, "cron_restart", path_or(s, "cron_restart", "off"), NULL);
		if (json_is_true(json_object_get(s, "watch"))) {
			char *paths = join(json_object_get(s, "watch_paths"));
			kv(&t, "watch", *paths ? paths : str(s, "cwd"), NULL);
			free(paths);
			char *ign = join(json_object_get(s, "ignore_watch"));
			kv(&t, "ignore_watch", *ign ? ign : "node_modules, dot-folders (default)", NULL);
			free(ign);
			snprintf(buf, sizeof(buf), "%lld ms", num(s, "watch_delay"));
			kv(&t, "watch_delay", buf, NULL);
		} else {
			kv(&t, "watch", "no", NULL);
		}
		kv(&t, "out_file", path_or(s, "out_file", "(default, in $CORRAL_HOME/logs)"), NULL);
		kv(&t, "error_file", path_or(s, "error_file", "(default, in $CORRAL_HOME/logs)"), NULL);
		kv(&t, "log_file", !json_is_string(json_object_get(s, "log_file")) ? "none"
		    : *str(s, "log_file") ? str(s, "log_file") : "(default, in $CORRAL_HOME/logs)", NULL);
		kv(&t, "pid_file", path_or(s, "pid_file", "(default, in $CORRAL_HOME/pids)"), NULL);
		kv(&t, "merge_logs", yes_no(s, "merge_logs"), NULL);
		kv(&t, "log_date_format", path_or(s, "log_date_format", "none"), NULL);
		kv(&t, "log_type", str(s, "log_type"), NULL);
		kv(&t, "disable_logs", yes_no(s, "disable_logs"), NULL);
		if (num(s, "uid") >= 0) {
			snprintf(buf, sizeof(buf), "%s (uid %lld, gid %lld)", str(s, "user"),
			    num(s, "uid"), num(s, "gid"));
			kv(&t, "user", buf, NULL);
		} else if (num(s, "gid") >= 0) {
			snprintf(buf, sizeof(buf), "gid %lld", num(s, "gid"));
			kv(&t, "group", buf, NULL);
		}
		kv(&t, "instance_var", str(s, "instance_var"), NULL);
		if (*str(s, "increment_var"))
			kv(&t, "increment_var", str(s, "increment_var"), NULL);
		if (json_is_true(json_object_get(s, "filter_env_all"))) {
			kv(&t, "filter_env", "inherit nothing from the shell", NULL);
		} else if (json_array_size(json_object_get(s, "filter_env")) > 0) {
			char *fe = join(json_object_get(s, "filter_env"));
			kv(&t, "filter_env", fe, NULL);
			free(fe);
		}
		const char *key;
		json_object_foreach(json_object_get(s, "app_env"), key, v) {
			char *label = xasprintf("env %s", key);
			kv(&t, label, json_string_value(v), NULL);
			free(label);
		}
		snprintf(buf, sizeof(buf), "%zu variables (corral config --json lists them)",
		    json_object_size(json_object_get(s, "env")));
		kv(&t, "environment", buf, NULL);
		table_print(f, &t);
	}
}

void
render_json(FILE *f, json_t *j, bool pretty)
{
	char *txt = json_dumps(j, pretty ? JSON_INDENT(2) : JSON_COMPACT);
	if (txt) {
		fputs(txt, f);
		fputc('\n', f);
		free(txt);
	}
}

bool
proc_has_agent(json_t *p)
{
	json_t *s = json_object_get(p, "spec");
	return spec_node_agent(json_string_value(json_object_get(s, "interpreter")),
	    json_is_true(json_object_get(s, "node_ipc")),
	    json_is_true(json_object_get(s, "disable_agent")));
}
