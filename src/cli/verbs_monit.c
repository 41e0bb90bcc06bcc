/*
 * verbs_monit.c — `corral monit` (alias `dash`): a live full-screen
 * dashboard, drawn with ncurses.
 *
 *   ┌ processes ─────────────────────────────────────────────────────────┐
 *   │ id name  mode    status  pid  uptime ↺  cpu        memory     lb  │
 *   │ ...one row per instance, sorted by pm_id, the selection reversed   │
 *   ├ logs of the selection ──────────────┬ detail ─────────────────────┤
 *   │ 12:00:01 0 out GET / 200            │ script, cwd, interpreter,   │
 *   │ 12:00:02 0 err boom                 │ listeners, restart policy,  │
 *   │                                     │ last exit; cpu/mem history  │
 *   └─────────────────────────────────────┴─────────────────────────────┘
 *   status line: the daemon, the filter, what a key did
 *
 * Where the data comes from (one connection, docs/protocol.md): the
 * `events` push stream (a state change redraws its row at once), a `logs`
 * subscription to the selected instance or app (replaced when the
 * selection changes), a `sample` request every 2 s that measures CPU and
 * memory of the rows on screen and carries only them, or every instance's
 * light figures after a change (apply_full, apply_measured), and a
 * one-instance `list` for the detail pane when the
 * selection changes or its instance does. Nothing polls whole states.
 *
 * Replies and pushes come in on the same socket and are told apart by
 * their "id"; requests are sent without waiting (conn_send), so a restart
 * that takes seconds never freezes the screen.
 *
 * When the connection drops, the rows stay (dimmed), the status line says
 * so, and the daemon is tried again every half second — without starting
 * one: the keeper brings a crashed daemon back, a `corral kill` is the
 * user's wish. The terminal is restored on every way out: the quit keys,
 * SIGTERM/SIGHUP (endwin), and a crash (the saved termios and terminfo's
 * own strings, written from the signal handler).
 */

#include <errno.h>
#include <langinfo.h>
#include <stdarg.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "cli/render.h"
#include "cli/tui.h"
#include "cli/verbs.h"
#include "common/units.h"

#define HIST 120                 /* samples of CPU and memory kept per row */
#define LOG_KEEP 1000            /* log lines kept for the log pane */
#define LOG_LINE_MAX 4096        /* bytes of a log line kept */
/* CPU and memory of the rows on screen every 2 s (top's default is 3 s):
 * each costs the daemon two reads of /proc. The clock of the uptimes ticks
 * every second in between. */
#define SAMPLE_EVERY_MS 2000
#define TICK_MS 1000
#define SAMPLE_SOON_MS 50        /* after an event: its row redrawn at once */
#define FULL_EVERY_MS 10000      /* every row at least this often (see apply_sample) */
#define RECONNECT_EVERY_MS 500
#define STATUS_SHOW_MS 5000

struct row {
	int pm_id;
	int64_t app_id;
	char *name, *ns;
	char mode[12], status[24], lb[16];
	int pid, restarts;
	int64_t uptime_ms;
	int64_t at_mono;         /* when uptime_ms was true */
	bool measured, has_lb;
	double cpu;
	int64_t mem, queued;
	float cpu_hist[HIST], mem_hist[HIST];   /* % and MB, a ring */
	int hist_n, hist_head;
};

struct logline {
	int64_t at_ms;
	int pm_id;
	bool err;
	char *text;
};

enum pane { PANE_PROCS, PANE_LOGS, PANE_DETAIL, PANES };
enum mode { MODE_NORMAL, MODE_FILTER, MODE_CONFIRM, MODE_HELP };

/* Colour pairs. */
enum { C_GREEN = 1, C_RED, C_YELLOW, C_CYAN, C_GREY };

struct monit {
	struct ctx *x;
	struct conn conn;
	bool up;                 /* connected and said hello */
	bool ever_up;
	int daemon_pid;
	int64_t next_sample_mono, next_retry_mono, next_tick_mono;
	size_t sampled_top, sampled_nshown;  /* the rows on screen at the last sample */
	int sampled_lines;
	int sample_id;           /* request in flight, 0 when none */
	bool sample_full;        /* it asks for every row, not only those measured */
	size_t sample_asked;     /* how many rows it measures */
	bool full_due;           /* the next sample asks for every row */
	int64_t next_full_mono;
	int detail_id;
	bool detail_again;
	int detail_pm_id;        /* whose detail is shown or asked for, -1: none */
	json_t *detail;          /* the selection as `list` gives it */
	int action_id;
	char action_what[160];

	struct row *rows;
	size_t nrows;
	size_t *shown;           /* indices of the rows that pass the filter */
	size_t nshown;
	int sel_pm_id;           /* the selection, by pm_id (-1: none yet) */
	size_t sel, top;         /* index in shown; first shown row on screen */
	int proc_lines;          /* process rows the screen holds */

	bool app_logs;           /* the log pane follows the app, not the instance */
	char log_key[256];       /* what the logs subscription follows now */
	struct logline logs[LOG_KEEP];
	size_t log_head, log_n;
	size_t log_back;         /* lines scrolled back from the newest */
	size_t detail_top;

	char filter[64];
	size_t filter_len;
	enum pane focus;
	enum mode mode;
	const char *confirm_cmd; /* "restart", "reload", "stop" */
	char confirm_text[160];
	json_t *confirm_target;

	char note[256];          /* what the last key did, for a while */
	int64_t note_until;
	bool color, utf8;
	bool dirty;
};

/* ---- the terminal, restored on every way out ---- */

static volatile sig_atomic_t quit_signal;
static struct termios saved_tty;
static bool saved_tty_ok;
static const char *term_restore[3];     /* rmcup, cnorm, sgr0 from terminfo */

static void
on_quit_signal(int sig)
{
	quit_signal = sig;
}

/* A crash: put the terminal back as it was (only async-signal-safe calls),
 * then die of the signal as we would have. */
static void
on_crash(int sig)
{
	for (size_t i = 0; i < ARRAY_LEN(term_restore); i++)
		if (term_restore[i]) {
			ssize_t unused = write(STDOUT_FILENO, term_restore[i], strlen(term_restore[i]));
			(void)unused;
		}
	if (saved_tty_ok)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

static const char *
terminfo_str(const char *cap)
{
	char *s = tigetstr(cap);
	return s && s != (char *)-1 ? s : NULL;
}

/* Take the terminal; false (nothing changed) when its type is unknown. */
static bool
screen_open(struct monit *m)
{
	saved_tty_ok = tcgetattr(STDIN_FILENO, &saved_tty) == 0;
	if (!newterm(NULL, stdout, stdin))
		return false;
	term_restore[0] = terminfo_str("rmcup");
	term_restore[1] = terminfo_str("cnorm");
	term_restore[2] = terminfo_str("sgr0");
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	m->color = has_colors() && !getenv("NO_COLOR");
	if (m->color) {
		start_color();
		use_default_colors();
		init_pair(C_GREEN, COLOR_GREEN, -1);
		init_pair(C_RED, COLOR_RED, -1);
		init_pair(C_YELLOW, COLOR_YELLOW, -1);
		init_pair(C_CYAN, COLOR_CYAN, -1);
		init_pair(C_GREY, COLORS > 8 ? 8 : COLOR_WHITE, -1);
	}
	struct sigaction sa = {.sa_handler = on_quit_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	struct sigaction crash = {.sa_handler = on_crash, .sa_flags = SA_RESETHAND};
	sigemptyset(&crash.sa_mask);
	int fatal_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
	for (size_t i = 0; i < ARRAY_LEN(fatal_sigs); i++)
		sigaction(fatal_sigs[i], &crash, NULL);
	return true;
}

static void
screen_close(void)
{
	endwin();
	if (saved_tty_ok)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
}

/* ---- drawing helpers ---- */

/* Bytes of s that fill at most cols columns (UTF-8 when the terminal is). */
static size_t
fit_bytes(const struct monit *m, const char *s, int cols, int *used)
{
	size_t i = 0;
	int w = 0;
	if (!m->utf8) {
		size_t n = strlen(s);
		i = n < (size_t)(cols > 0 ? cols : 0) ? n : (size_t)(cols > 0 ? cols : 0);
		*used = (int)i;
		return i;
	}
	mbstate_t st;
	memset(&st, 0, sizeof(st));
	size_t n = strlen(s);
	while (i < n) {
		wchar_t wc;
		size_t k = mbrtowc(&wc, s + i, n - i, &st);
		if (k == (size_t)-1 || k == (size_t)-2 || k == 0)
			break;
		int cw = wcwidth(wc);
		if (cw < 0)
			cw = 1;
		if (w + cw > cols)
			break;
		w += cw;
		i += k;
	}
	*used = w;
	return i;
}

/* Write s at (y, x), clipped to cols columns, padded with spaces to pad
 * columns when pad > 0. */
static void
put(const struct monit *m, int y, int x, int cols, const char *s, attr_t attr, int pad)
{
	if (cols <= 0 || y < 0 || y >= LINES || x >= COLS)
		return;
	if (x + cols > COLS)
		cols = COLS - x;
	int used;
	size_t n = fit_bytes(m, s, cols, &used);
	attron(attr);
	mvaddnstr(y, x, s, (int)n);
	for (int i = used; i < pad && x + i < COLS; i++)
		mvaddch(y, x + i, ' ');
	attroff(attr);
}

static attr_t
pair(const struct monit *m, int p)
{
	return m->color ? COLOR_PAIR(p) : A_NORMAL;
}

static attr_t
status_attr(const struct monit *m, const char *st)
{
	if (strcmp(st, "online") == 0)
		return pair(m, C_GREEN) | A_BOLD;
	if (strcmp(st, "errored") == 0 || strcmp(st, "stopped") == 0)
		return pair(m, C_RED) | A_BOLD;
	return pair(m, C_YELLOW);
}

/* A bar of width w filled to frac (0..1). */
static void
gauge(const struct monit *m, char *buf, size_t len, double frac, int w)
{
	if (frac < 0)
		frac = 0;
	if (frac > 1)
		frac = 1;
	int full = (int)lround(frac * w);
	size_t o = 0;
	for (int i = 0; i < w && o + 4 < len; i++) {
		const char *c = i < full ? (m->utf8 ? "\u2588" : "#") : (m->utf8 ? "\u00b7" : ".");
		size_t k = strlen(c);
		memcpy(buf + o, c, k);
		o += k;
	}
	buf[o] = '\0';
}

/* The last w values of a ring as a sparkline, scaled to its maximum. */
static void
sparkline(const struct monit *m, char *buf, size_t len, const float *ring, int n, int head,
    int w)
{
	static const char *const bars[] = {"\u2581", "\u2582", "\u2583", "\u2584", "\u2585",
	    "\u2586", "\u2587", "\u2588"};
	static const char ascii[] = "_.-:=+*#";
	int count = n < w ? n : w;
	float max = 0;
	for (int i = 0; i < count; i++) {
		float v = ring[(head - count + i + HIST) % HIST];
		if (v > max)
			max = v;
	}
	size_t o = 0;
	for (int i = 0; i < count && o + 4 < len; i++) {
		float v = ring[(head - count + i + HIST) % HIST];
		int level = max > 0 ? (int)(v / max * 7.0f + 0.5f) : 0;
		if (level < 0)
			level = 0;
		if (level > 7)
			level = 7;
		if (m->utf8) {
			size_t k = strlen(bars[level]);
			memcpy(buf + o, bars[level], k);
			o += k;
		} else {
			buf[o++] = ascii[level];
		}
	}
	buf[o] = '\0';
}

static void
note(struct monit *m, const char *fmt, ...) PRINTFLIKE(2, 3);

static void
note(struct monit *m, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m->note, sizeof(m->note), fmt, ap);
	va_end(ap);
	m->note_until = mono_ms() + STATUS_SHOW_MS;
	m->dirty = true;
}

/* ---- the rows ---- */

static void
rows_free_fields(struct row *r)
{
	free(r->name);
	free(r->ns);
}

static void
rows_free(struct row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rows_free_fields(&rows[i]);
	free(rows);
}

static int
row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	return (x->pm_id > y->pm_id) - (x->pm_id < y->pm_id);
}

static const struct row *
selected(const struct monit *m)
{
	return m->nshown ? &m->rows[m->shown[m->sel]] : NULL;
}

static bool
passes_filter(const struct monit *m, const struct row *r)
{
	if (!m->filter_len)
		return true;
	return strcasestr(r->name, m->filter) || (r->ns && strcasestr(r->ns, m->filter));
}

/* Which rows pass the filter; the selection stays on its pm_id when it
 * still shows, else on the row now at its place. */
static void
refilter(struct monit *m)
{
	free(m->shown);
	m->shown = xcalloc(m->nrows ? m->nrows : 1, sizeof(*m->shown));
	m->nshown = 0;
	size_t sel = m->sel;
	bool found = false;
	for (size_t i = 0; i < m->nrows; i++) {
		if (!passes_filter(m, &m->rows[i]))
			continue;
		if (m->rows[i].pm_id == m->sel_pm_id) {
			sel = m->nshown;
			found = true;
		}
		m->shown[m->nshown++] = i;
	}
	if (!found && m->nshown && m->sel_pm_id >= 0) {
		/* Gone or filtered out: the next row by pm_id takes its place. */
		sel = m->nshown - 1;
		for (size_t i = 0; i < m->nshown; i++)
			if (m->rows[m->shown[i]].pm_id > m->sel_pm_id) {
				sel = i;
				break;
			}
	}
	m->sel = m->nshown ? (sel < m->nshown ? sel : m->nshown - 1) : 0;
	m->sel_pm_id = m->nshown ? m->rows[m->shown[m->sel]].pm_id : m->sel_pm_id;
	m->dirty = true;
}

static void
hist_push(struct row *r)
{
	r->cpu_hist[r->hist_head] = (float)r->cpu;
	r->mem_hist[r->hist_head] = (float)((double)r->mem / (1024.0 * 1024.0));
	r->hist_head = (r->hist_head + 1) % HIST;
	if (r->hist_n < HIST)
		r->hist_n++;
}

static const char *
jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static void
copy_str(char *dst, size_t len, const char *s)
{
	snprintf(dst, len, "%s", s ? s : "");
}

/* One row of a `sample` reply into r; false when it has no pm_id. */
static bool
row_read(struct row *r, json_t *p)
{
	json_t *id = json_object_get(p, "pm_id");
	if (!json_is_integer(id))
		return false;
	r->pm_id = (int)json_integer_value(id);
	r->app_id = json_integer_value(json_object_get(p, "app_id"));
	r->name = xstrdup(jstr(p, "name"));
	r->ns = xstrdup(jstr(p, "namespace"));
	copy_str(r->mode, sizeof(r->mode), jstr(p, "mode"));
	copy_str(r->status, sizeof(r->status), jstr(p, "status"));
	r->pid = (int)json_integer_value(json_object_get(p, "pid"));
	r->restarts = (int)json_integer_value(json_object_get(p, "restarts"));
	r->uptime_ms = json_integer_value(json_object_get(p, "uptime_ms"));
	r->at_mono = mono_ms();
	json_t *cpu = json_object_get(p, "cpu");
	r->measured = json_is_number(cpu);
	r->cpu = json_number_value(cpu);
	r->mem = json_integer_value(json_object_get(p, "memory"));
	json_t *lb = json_object_get(p, "lb");
	r->has_lb = json_is_string(lb);
	copy_str(r->lb, sizeof(r->lb), json_string_value(lb));
	r->queued = json_integer_value(json_object_get(p, "queued"));
	return true;
}

/* r is the new state of old's instance: its history carries over (and,
 * when it was not measured this time, its last figures), and a measured
 * row adds to it. */
static void
row_carry(struct row *r, const struct row *old)
{
	if (old) {
		memcpy(r->cpu_hist, old->cpu_hist, sizeof(r->cpu_hist));
		memcpy(r->mem_hist, old->mem_hist, sizeof(r->mem_hist));
		r->hist_n = old->hist_n;
		r->hist_head = old->hist_head;
		if (!r->measured && old->pid == r->pid) {
			r->cpu = old->cpu;
			r->mem = old->mem;
			r->has_lb = old->has_lb;
			copy_str(r->lb, sizeof(r->lb), old->lb);
			r->queued = old->queued;
		}
	}
	if (r->measured)
		hist_push(r);
}

/* A `sample` reply of every row: the new rows, each keeping its history
 * when it is the same instance as before (pm_id and app id). */
static void
apply_full(struct monit *m, json_t *procs)
{
	size_t n = json_array_size(procs);
	struct row *rows = xcalloc(n ? n : 1, sizeof(*rows));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (row_read(&rows[k], json_array_get(procs, i)))
			k++;
	qsort(rows, k, sizeof(*rows), row_cmp);
	/* Both sorted by pm_id. */
	size_t o = 0;
	for (size_t i = 0; i < k; i++) {
		struct row *r = &rows[i];
		while (o < m->nrows && m->rows[o].pm_id < r->pm_id)
			o++;
		row_carry(r, o < m->nrows && m->rows[o].pm_id == r->pm_id &&
		    m->rows[o].app_id == r->app_id ? &m->rows[o] : NULL);
	}
	rows_free(m->rows, m->nrows);
	m->rows = rows;
	m->nrows = k;
	refilter(m);
}

/* A `sample` reply of the measured rows only: each replaces its row in
 * place. The set of rows and their states change with events, each of
 * which asks for every row next (on_push); a row the reply lacks or does
 * not know asks for them too. */
static void
apply_measured(struct monit *m, json_t *procs)
{
	size_t n = json_array_size(procs);
	if (n != m->sample_asked)
		m->full_due = true;
	for (size_t i = 0; i < n; i++) {
		struct row r = {0};
		if (!row_read(&r, json_array_get(procs, i)))
			continue;
		struct row *old = bsearch(&r, m->rows, m->nrows, sizeof(*m->rows), row_cmp);
		if (!old || old->app_id != r.app_id) {
			m->full_due = true;
			rows_free_fields(&r);
			continue;
		}
		row_carry(&r, old);
		rows_free_fields(old);
		*old = r;
	}
}

/* ---- requests ---- *//* ---- requests ---- */

static void
disconnect(struct monit *m)
{
	if (!m->up)
		return;
	conn_close(&m->conn);
	m->up = false;
	m->sample_id = m->detail_id = 0;
	m->full_due = true;     /* the next daemon may have other rows */
	m->log_key[0] = '\0';
	json_decref(m->detail);
	m->detail = NULL;
	m->detail_pm_id = -1;
	if (m->action_id) {
		note(m, "%s: no answer (the daemon went away)", m->action_what);
		m->action_id = 0;
	}
	m->next_retry_mono = mono_ms() + RECONNECT_EVERY_MS;
	m->dirty = true;
}

/* Send a request (consumed); its id, or 0 after the connection dropped. */
static int
send_req(struct monit *m, json_t *req)
{
	if (!m->up) {
		json_decref(req);
		return 0;
	}
	int id = conn_send(&m->conn, req);
	json_decref(req);
	if (id < 0) {
		disconnect(m);
		return 0;
	}
	return id;
}

static void request_detail(struct monit *m);

static void
request_sample(struct monit *m)
{
	if (!m->up || m->sample_id)
		return;
	json_t *ids = json_array();
	bool sel_shown = false;
	for (int i = 0; i < m->proc_lines && m->top + (size_t)i < m->nshown; i++) {
		json_array_append_new(ids, json_integer(m->rows[m->shown[m->top + i]].pm_id));
		sel_shown |= m->top + (size_t)i == m->sel;
	}
	const struct row *s = selected(m);
	if (s && !sel_shown)
		json_array_append_new(ids, json_integer(s->pm_id));
	/* Every row now and then, and when something changed (an event); the
	 * rows measured only otherwise: the daemon sends what the screen
	 * shows, not the whole table, each time. */
	int64_t now = mono_ms();
	m->sample_full = m->full_due || m->nrows == 0 || now >= m->next_full_mono;
	m->sample_asked = json_array_size(ids);
	m->sampled_top = m->top;
	m->sampled_nshown = m->nshown;
	m->sampled_lines = m->proc_lines;
	m->sample_id = send_req(m, json_pack("{s:s, s:o, s:b}", "cmd", "sample", "pm_ids", ids,
	    "others", m->sample_full));
	if (m->sample_id && m->sample_full) {
		m->full_due = false;
		m->next_full_mono = now + FULL_EVERY_MS;
	}
	m->next_sample_mono = now + SAMPLE_EVERY_MS;
	/* In-app metrics come and change without an event: the detail of a
	 * running process that has them, or whose agent will send them,
	 * follows them (others are asked again with every full sample). */
	if (m->detail && strcmp(jstr(m->detail, "status"), "online") == 0 &&
	    (m->sample_full || proc_has_agent(m->detail) ||
	    json_object_size(json_object_get(m->detail, "axm_monitor")) > 0))
		request_detail(m);
}

static void
request_detail(struct monit *m)
{
	const struct row *s = selected(m);
	if (!m->up || !s)
		return;
	if (m->detail_id) {
		m->detail_again = true;
		return;
	}
	m->detail_again = false;
	m->detail_id = send_req(m, json_pack("{s:s, s:[i], s:b}", "cmd", "list", "targets",
	    s->pm_id, "by_script", 0));
}

/* The i-th log line kept, from the oldest. */
static struct logline *
log_at(struct monit *m, size_t i)
{
	return &m->logs[(m->log_head + LOG_KEEP - m->log_n + i) % LOG_KEEP];
}

static void
logs_clear(struct monit *m)
{
	for (size_t i = 0; i < m->log_n; i++)
		free(log_at(m, i)->text);
	m->log_n = 0;
	m->log_back = 0;
}

/* Follow the logs of the selection (instance or app), when that changed. */
static void
follow_logs(struct monit *m)
{
	const struct row *s = selected(m);
	if (!m->up || !s)
		return;
	char key[256];
	if (m->app_logs)
		snprintf(key, sizeof(key), "a:%lld", (long long)s->app_id);
	else
		snprintf(key, sizeof(key), "i:%lld:%d", (long long)s->app_id, s->pm_id);
	if (strcmp(key, m->log_key) == 0)
		return;
	copy_str(m->log_key, sizeof(m->log_key), key);
	logs_clear(m);
	json_t *target = m->app_logs ? json_string(s->name) : json_integer(s->pm_id);
	send_req(m, json_pack("{s:s, s:[o], s:b}", "cmd", "logs", "targets", target,
	    "by_script", 0));
	m->dirty = true;
}

/* The selection changed: its logs and detail follow. */
static void
selection_changed(struct monit *m)
{
	const struct row *s = selected(m);
	if (s)
		m->sel_pm_id = s->pm_id;
	if (s && s->pm_id != m->detail_pm_id) {
		m->detail_pm_id = s->pm_id;
		m->detail_top = 0;
		json_decref(m->detail);
		m->detail = NULL;
		request_detail(m);
	}
	follow_logs(m);
	m->dirty = true;
}

/* m->conn is open: subscribe to the events and take a first sample. */
static void
connected(struct monit *m)
{
	bool again = m->ever_up;
	m->up = m->ever_up = true;
	m->daemon_pid = m->conn.daemon_pid;
	m->log_key[0] = '\0';
	send_req(m, json_pack("{s:s}", "cmd", "events"));
	request_sample(m);
	if (again)
		note(m, "reconnected to the daemon (pid %d)", m->daemon_pid);
	m->dirty = true;
}

static void
try_connect(struct monit *m)
{
	char *err = NULL;
	int rc = conn_open(&m->x->paths, false, &m->conn, &err);
	free(err);
	m->next_retry_mono = mono_ms() + RECONNECT_EVERY_MS;
	if (rc >= 0)
		connected(m);
}

/* ---- what the daemon sends ---- */

static void
add_log(struct monit *m, int pm_id, bool err, int64_t at_ms, const char *data, size_t len)
{
	if (len > LOG_LINE_MAX)
		len = LOG_LINE_MAX;
	char *text = xmalloc(len + 1);
	/* No control characters reach the screen (they would move the cursor);
	 * outside a UTF-8 terminal, no byte above ASCII either. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)data[i];
		text[i] = c == '\t' ? ' ' : c < 0x20 || c == 0x7f || (c >= 0x80 && !m->utf8) ? '?'
		    : (char)c;
	}
	text[len] = '\0';
	struct logline *l = &m->logs[m->log_head];
	if (m->log_n == LOG_KEEP)
		free(l->text);
	else
		m->log_n++;
	*l = (struct logline){at_ms, pm_id, err, text};
	m->log_head = (m->log_head + 1) % LOG_KEEP;
	if (m->log_back > 0 && m->log_back + 1 < m->log_n)
		m->log_back++;   /* scrolled back: the view stays where it is */
	m->dirty = true;
}

static void
on_log(struct monit *m, json_t *ev)
{
	const struct row *s = selected(m);
	if (!s)
		return;
	int pm_id = (int)json_integer_value(json_object_get(ev, "pm_id"));
	/* Lines of the last subscription may still be on their way. */
	if (m->app_logs ? strcmp(jstr(ev, "name"), s->name) != 0 : pm_id != s->pm_id)
		return;
	bool err = strcmp(jstr(ev, "stream"), "err") == 0;
	int64_t at = json_integer_value(json_object_get(ev, "at"));
	json_t *data = json_object_get(ev, "data");
	if (json_is_string(data)) {
		add_log(m, pm_id, err, at, json_string_value(data), json_string_length(data));
		return;
	}
	const char *b64 = json_string_value(json_object_get(ev, "data_b64"));
	if (!b64)
		return;
	char *bytes = xmalloc(strlen(b64) * 3 / 4 + 4);
	ssize_t n = base64_decode(b64, strlen(b64), bytes);
	if (n >= 0) {
		/* Not UTF-8: every byte above ASCII shows as '?'. */
		for (ssize_t i = 0; i < n; i++)
			if ((unsigned char)bytes[i] >= 0x80)
				bytes[i] = '?';
		add_log(m, pm_id, err, at, bytes, (size_t)n);
	}
	free(bytes);
}

static void
on_push(struct monit *m, json_t *ev)
{
	const char *kind = jstr(ev, "event");
	if (strcmp(kind, "log") == 0) {
		on_log(m, ev);
	} else if (strcmp(kind, "process") == 0) {
		/* Its row is redrawn from a sample made now, not guessed. */
		m->full_due = true;
		int64_t soon = mono_ms() + SAMPLE_SOON_MS;
		if (m->next_sample_mono > soon)
			m->next_sample_mono = soon;
		const struct row *s = selected(m);
		if (s && json_integer_value(json_object_get(ev, "pm_id")) == s->pm_id)
			request_detail(m);
	} else if (strcmp(kind, "missed") == 0) {
		m->full_due = true;     /* events may be among what was dropped */
		char text[96];
		int n = snprintf(text, sizeof(text), "(%lld lines skipped: the screen was too slow)",
		    (long long)json_integer_value(json_object_get(ev, "count")));
		add_log(m, -1, true, wall_ms(), text, (size_t)n);
	}
}

static void
on_reply(struct monit *m, int id, json_t *r)
{
	bool ok = json_is_true(json_object_get(r, "ok"));
	const char *msg = json_string_value(json_object_get(json_object_get(r, "error"),
	    "message"));
	if (id == m->sample_id) {
		m->sample_id = 0;
		if (ok) {
			bool had_rows = m->nrows > 0;
			if (m->sample_full)
				apply_full(m, json_object_get(r, "procs"));
			else
				apply_measured(m, json_object_get(r, "procs"));
			selection_changed(m);
			if (!had_rows && m->nrows)
				m->next_sample_mono = mono_ms();   /* measure the rows on screen */
		} else {
			note(m, "the daemon refused a sample: %s", msg ? msg : "?");
		}
	} else if (id == m->detail_id) {
		m->detail_id = 0;
		/* An answer about the selection before is dropped: the one asked
		 * for since (detail_again) follows. */
		json_t *p = json_array_get(json_object_get(r, "procs"), 0);
		if (ok && json_integer_value(json_object_get(p, "pm_id")) == m->detail_pm_id) {
			json_decref(m->detail);
			m->detail = json_incref(p);
		}
		if (m->detail_again)
			request_detail(m);
	} else if (id == m->action_id) {
		m->action_id = 0;
		if (ok)
			note(m, "%s: done", m->action_what);
		else
			note(m, "%s: %s", m->action_what, msg ? msg : "failed");
	} else if (!ok && msg) {
		note(m, "%s", msg);
	}
	m->dirty = true;
}

static void
on_line(struct monit *m, const char *line, size_t len)
{
	json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return;
	}
	json_t *id = json_object_get(j, "id");
	if (json_is_integer(id))
		on_reply(m, (int)json_integer_value(id), j);
	else if (json_object_get(j, "event"))
		on_push(m, j);
	else if (json_object_get(j, "error"))   /* about the connection itself */
		note(m, "%s", jstr(json_object_get(j, "error"), "message"));
	json_decref(j);
}

/* The lines read so far: also those a request took in while it waited
 * to be written (conn.c), which no poll() announces. */
static void
handle_lines(struct monit *m)
{
	char *line;
	size_t len;
	while (m->up && (line = linebuf_next(&m->conn.in, &len)) != NULL)
		on_line(m, line, len);
}

static void
read_daemon(struct monit *m)
{
	ssize_t n = linebuf_read(&m->conn.in, m->conn.fd);
	if (n == -EAGAIN || n == -EINTR)
		return;
	handle_lines(m);
	if (m->up && (n <= 0 || m->conn.in.overflow))
		disconnect(m);
}

/* ---- drawing ---- */

/* The process pane's columns: title, width (with the gap after it) on a
 * wide (120 columns or more), a medium and a narrow (under 100) terminal,
 * 0 when not shown, and right aligned or not. The gauges need room; on 80
 * columns the queue depth is left to the detail pane. */
enum { COL_ID, COL_NAME, COL_MODE, COL_STATUS, COL_PID, COL_UPTIME, COL_RESTARTS, COL_CPU,
	COL_CPU_BAR, COL_MEM, COL_MEM_BAR, COL_LB, COL_QUEUE, NCOLS };
static const struct {
	const char *title;
	int width[3];
	bool right;
} columns[NCOLS] = {
	{"id", {5, 5, 5}, false}, {"name", {19, 19, 12}, false}, {"mode", {8, 8, 8}, false},
	{"status", {10, 10, 9}, false}, {"pid", {8, 8, 8}, false},
	{"uptime", {8, 8, 7}, false}, {"restarts", {9, 9, 4}, true}, {"cpu", {6, 6, 6}, true},
	{"", {8, 0, 0}, false}, {"memory", {10, 10, 9}, true}, {"", {8, 0, 0}, false},
	{"lb", {10, 10, 10}, false}, {"queue", {6, 6, 0}, true},
};

static int
layout(void)
{
	return COLS >= 120 ? 0 : COLS >= 100 ? 1 : 2;
}

/* The cells of one row across: each text in its column, clipped. */
static void
draw_cells(struct monit *m, int y, char *const *text, const attr_t *attrs, attr_t base)
{
	int x = 0, lay = layout();
	for (int c = 0; c < NCOLS && x < COLS; c++) {
		int w = columns[c].width[lay];
		if (w == 0)
			continue;
		char cell[128];
		if (columns[c].right)
			snprintf(cell, sizeof(cell), "%*s ", w - 1, text[c]);
		else
			snprintf(cell, sizeof(cell), "%s", text[c]);
		put(m, y, x, w, cell, base | attrs[c], w);
		x += w;
	}
	if (x < COLS)
		put(m, y, x, COLS - x, "", base, COLS - x);
}

static void
draw_procs(struct monit *m, int y0, int h)
{
	bool wide = COLS >= 120;
	attr_t frame = m->focus == PANE_PROCS ? A_BOLD : A_DIM;
	char title[128];
	snprintf(title, sizeof(title), " processes (%zu%s) ", m->nshown,
	    m->filter_len ? ", filtered" : "");
	put(m, y0, 0, COLS, title, frame | A_REVERSE, COLS);
	char *heads[NCOLS];
	attr_t none[NCOLS] = {0};
	for (int c = 0; c < NCOLS; c++)
		heads[c] = (char *)columns[c].title;
	if (layout() == 2)
		heads[COL_RESTARTS] = m->utf8 ? "\u21ba" : "rst";
	draw_cells(m, y0 + 1, heads, none, A_BOLD | A_UNDERLINE);
	m->proc_lines = h - 2 > 0 ? h - 2 : 0;
	if (m->sel < m->top)
		m->top = m->sel;
	if (m->proc_lines > 0 && m->sel >= m->top + (size_t)m->proc_lines)
		m->top = m->sel - (size_t)m->proc_lines + 1;
	if (m->top + (size_t)m->proc_lines > m->nshown)
		m->top = m->nshown > (size_t)m->proc_lines ? m->nshown - (size_t)m->proc_lines : 0;
	for (int i = 0; i < m->proc_lines; i++) {
		size_t k = m->top + (size_t)i;
		int y = y0 + 2 + i;
		if (k >= m->nshown) {
			put(m, y, 0, COLS, "", A_NORMAL, COLS);
			continue;
		}
		const struct row *r = &m->rows[m->shown[k]];
		attr_t base = (k == m->sel ? A_REVERSE : A_NORMAL) | (m->up ? A_NORMAL : A_DIM);
		char id[16], pid[16], up[16], rs[16], cpu[16], mem[16], cbar[64] = "", mbar[64] = "",
		    lb[16] = "", q[24] = "";
		snprintf(id, sizeof(id), "%d", r->pm_id);
		if (r->pid)
			snprintf(pid, sizeof(pid), "%d", r->pid);
		else
			copy_str(pid, sizeof(pid), "-");
		if (strcmp(r->status, "online") == 0)
			units_format_uptime(r->uptime_ms + (m->up ? mono_ms() - r->at_mono : 0), up,
			    sizeof(up));
		else
			copy_str(up, sizeof(up), "0");
		snprintf(rs, sizeof(rs), "%d", r->restarts);
		if (r->measured || r->cpu > 0 || r->mem > 0) {
			snprintf(cpu, sizeof(cpu), r->cpu < 9.95 ? "%.1f%%" : "%.0f%%", r->cpu);
			units_format_bytes(r->mem, mem, sizeof(mem));
		} else {
			copy_str(cpu, sizeof(cpu), "-");
			copy_str(mem, sizeof(mem), "-");
		}
		if (wide) {
			gauge(m, cbar, sizeof(cbar), r->cpu / 100.0, 6);
			/* Memory against 1 GiB: a gauge, not a limit. */
			gauge(m, mbar, sizeof(mbar), (double)r->mem / (1024.0 * 1024 * 1024), 6);
		}
		if (strcmp(r->mode, "cluster") == 0 && r->has_lb) {
			copy_str(lb, sizeof(lb), r->lb);
			snprintf(q, sizeof(q), "%lld", (long long)r->queued);
		}
		char *text[NCOLS] = {id, r->name, (char *)r->mode, (char *)r->status, pid, up, rs, cpu,
		    cbar, mem, mbar, lb, q};
		attr_t attrs[NCOLS] = {0};
		attrs[COL_NAME] = A_BOLD;
		attrs[COL_STATUS] = m->up ? status_attr(m, r->status) : 0;
		attrs[COL_CPU_BAR] = attrs[COL_MEM_BAR] = pair(m, C_CYAN);
		attrs[COL_LB] = strcmp(lb, "ready") == 0 ? pair(m, C_GREEN) : pair(m, C_YELLOW);
		draw_cells(m, y, text, attrs, base);
	}
}

static void
draw_logs(struct monit *m, int y0, int x0, int w, int h)
{
	const struct row *s = selected(m);
	char title[256];
	if (s && m->app_logs)
		snprintf(title, sizeof(title), " logs: %s (every instance)%s ", s->name,
		    m->log_back ? " [scrolled]" : "");
	else if (s)
		snprintf(title, sizeof(title), " logs: %s [%d]%s ", s->name, s->pm_id,
		    m->log_back ? " [scrolled]" : "");
	else
		snprintf(title, sizeof(title), " logs ");
	put(m, y0, x0, w, title, (m->focus == PANE_LOGS ? A_BOLD : A_DIM) | A_REVERSE, w);
	int lines = h - 1;
	if (lines <= 0)
		return;
	size_t max_back = m->log_n > (size_t)lines ? m->log_n - (size_t)lines : 0;
	if (m->log_back > max_back)
		m->log_back = max_back;
	size_t shown = m->log_n < (size_t)lines ? m->log_n : (size_t)lines;
	size_t first = m->log_n - shown - m->log_back;   /* index from the oldest */
	for (int i = 0; i < lines; i++) {
		int y = y0 + 1 + i;
		put(m, y, x0, w, "", A_NORMAL, w);
		if ((size_t)i >= shown)
			continue;
		const struct logline *l = log_at(m, first + (size_t)i);
		char stamp[32] = "";
		units_format_time("%H:%M:%S", l->at_ms, stamp, sizeof(stamp));
		char pre[48];
		if (l->pm_id >= 0)
			snprintf(pre, sizeof(pre), "%s %d %s ", stamp, l->pm_id, l->err ? "err" : "out");
		else
			snprintf(pre, sizeof(pre), "%s ", stamp);
		int used;
		fit_bytes(m, pre, w, &used);
		put(m, y, x0, w, pre, l->err ? pair(m, C_RED) : pair(m, C_GREY), 0);
		put(m, y, x0 + used, w - used, l->text, l->err ? pair(m, C_RED) : A_NORMAL, 0);
	}
}

/* Lines of the detail pane, for the selection. */
static void
detail_lines(struct monit *m, char ***out, size_t *n)
{
	json_t *p = m->detail;
	json_t *s = json_object_get(p, "spec");
	char **v = NULL;
	size_t k = 0, cap = 0;
#define LINE(...) do { \
		if (k == cap) { cap = cap ? cap * 2 : 32; v = xrealloc(v, cap * sizeof(*v)); } \
		v[k++] = xasprintf(__VA_ARGS__); \
	} while (0)
	if (!p) {
		LINE("%s", m->up ? "(loading)" : "(not connected)");
		*out = v;
		*n = k;
		return;
	}
	LINE("name         %s [%lld] (%s)", jstr(p, "name"),
	    (long long)json_integer_value(json_object_get(p, "pm_id")), jstr(p, "namespace"));
	LINE("status       %s", jstr(p, "status"));
	LINE("script       %s", jstr(s, "script"));
	struct sbuf args = SBUF_INIT;
	size_t i;
	json_t *a;
	json_array_foreach(json_object_get(s, "args"), i, a)
		sbuf_addf(&args, "%s%s", i ? " " : "", json_string_value(a) ?: "");
	if (args.len)
		LINE("args         %s", args.s);
	sbuf_free(&args);
	LINE("cwd          %s", jstr(s, "cwd"));
	LINE("interpreter  %s", json_is_string(json_object_get(s, "interpreter")) ?
	    jstr(s, "interpreter") : "none");
	long long insts = json_integer_value(json_object_get(s, "instances"));
	LINE("mode         %s, %lld instance%s", jstr(p, "mode"), insts, insts == 1 ? "" : "s");
	json_t *g;
	json_array_foreach(json_object_get(p, "listeners"), i, g)
		LINE("listener     %s %s %lld/%lld in rotation, %lld queued", jstr(g, "address"),
		    jstr(g, "lb"), (long long)json_integer_value(json_object_get(g, "in_rotation")),
		    (long long)json_integer_value(json_object_get(g, "size")),
		    (long long)json_integer_value(json_object_get(g, "queued")));
	char delay[32], minup[32];
	units_format_uptime(json_integer_value(json_object_get(s, "restart_delay")), delay,
	    sizeof(delay));
	units_format_uptime(json_integer_value(json_object_get(s, "min_uptime")), minup,
	    sizeof(minup));
	LINE("restart      %s, at most %lld unstable, delay %s, min uptime %s",
	    json_is_false(json_object_get(s, "autorestart")) ? "never (autorestart off)" : "on exit",
	    (long long)json_integer_value(json_object_get(s, "max_restarts")), delay, minup);
	if (json_integer_value(json_object_get(s, "max_memory_restart")) > 0) {
		char lim[32];
		units_format_bytes(json_integer_value(json_object_get(s, "max_memory_restart")), lim,
		    sizeof(lim));
		LINE("memory limit %s", lim);
	}
	json_t *code = json_object_get(p, "exit_code"), *sig = json_object_get(p, "exit_signal");
	if (json_is_integer(code) || json_is_string(sig))
		LINE("last exit    %s%lld%s%s", json_is_integer(code) ? "code " : "",
		    (long long)json_integer_value(code), json_is_string(sig) ? " signal " : "",
		    jstr(p, "exit_signal"));
	if (*jstr(p, "reason"))
		LINE("reason       %s", jstr(p, "reason"));
	if (*jstr(p, "error"))
		LINE("error        %s", jstr(p, "error"));
	LINE("restarts     %lld (%lld unstable)",
	    (long long)json_integer_value(json_object_get(p, "restarts")),
	    (long long)json_integer_value(json_object_get(p, "unstable_restarts")));
	const char *mname;
	json_t *mv;
	json_object_foreach(json_object_get(p, "axm_monitor"), mname, mv) {
		json_t *val = json_object_get(mv, "value");
		if (json_is_integer(val))
			LINE("metric       %s %lld %s", mname, (long long)json_integer_value(val),
			    jstr(mv, "unit"));
		else
			LINE("metric       %s %.2f %s", mname, json_number_value(val), jstr(mv, "unit"));
	}
	LINE("out log      %s", json_is_string(json_object_get(p, "out_log")) ?
	    jstr(p, "out_log") : "(none)");
	LINE("err log      %s", json_is_string(json_object_get(p, "err_log")) ?
	    jstr(p, "err_log") : "(none)");
#undef LINE
	*out = v;
	*n = k;
}

static void
draw_detail(struct monit *m, int y0, int x0, int w, int h)
{
	put(m, y0, x0, w, " detail ", (m->focus == PANE_DETAIL ? A_BOLD : A_DIM) | A_REVERSE, w);
	const struct row *s = selected(m);
	/* The sparklines take the pane's last three lines when there is room. */
	int spark = h >= 8 && s ? 3 : 0;
	int lines = h - 1 - spark;
	char **v;
	size_t n;
	detail_lines(m, &v, &n);
	if (m->detail_top + (size_t)(lines > 0 ? lines : 0) > n)
		m->detail_top = n > (size_t)lines ? n - (size_t)lines : 0;
	for (int i = 0; i < lines; i++) {
		size_t k = m->detail_top + (size_t)i;
		put(m, y0 + 1 + i, x0, w, k < n ? v[k] : "", A_NORMAL, w);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	if (!spark)
		return;
	char line[1024], gr[HIST * 4 + 8];
	int gw = w - 18 > 0 ? (w - 18 < HIST ? w - 18 : HIST) : 0;
	int y = y0 + h - spark;
	snprintf(line, sizeof(line), "history, the last %d s", gw);
	put(m, y, x0, w, line, A_DIM, w);
	char now[64];
	snprintf(now, sizeof(now), "cpu %5.1f%% ", s->cpu);
	sparkline(m, gr, sizeof(gr), s->cpu_hist, s->hist_n, s->hist_head, gw);
	snprintf(line, sizeof(line), "%-12s%s", now, gr);
	put(m, y + 1, x0, w, line, pair(m, C_CYAN), w);
	char mem[32];
	units_format_bytes(s->mem, mem, sizeof(mem));
	snprintf(now, sizeof(now), "mem %s ", mem);
	sparkline(m, gr, sizeof(gr), s->mem_hist, s->hist_n, s->hist_head, gw);
	snprintf(line, sizeof(line), "%-12s%s", now, gr);
	put(m, y + 2, x0, w, line, pair(m, C_CYAN), w);
}

static const char *const help_lines[] = {
	"corral monit: keys",
	"",
	"  Up/Down, k/j     select a process (scroll the focused pane)",
	"  PgUp/PgDn        a page up/down in the focused pane",
	"  Home/End         first/last",
	"  Tab              next pane: processes, logs, detail",
	"  /                filter rows by name or namespace (Enter keeps, Esc clears)",
	"  l                logs of the instance / of the whole app",
	"  r  R  s  S       restart, reload, stop, start the selection (y/n first)",
	"  ?                this help (any key closes it)",
	"  q, Esc, Ctrl-C   quit",
};

static void
draw_help(struct monit *m)
{
	int w = 0;
	for (size_t i = 0; i < ARRAY_LEN(help_lines); i++)
		if ((int)strlen(help_lines[i]) > w)
			w = (int)strlen(help_lines[i]);
	w += 4;
	int h = (int)ARRAY_LEN(help_lines) + 2;
	int y0 = LINES > h ? (LINES - h) / 2 : 0, x0 = COLS > w ? (COLS - w) / 2 : 0;
	for (int i = 0; i < h; i++)
		put(m, y0 + i, x0, w, i > 0 && i <= (int)ARRAY_LEN(help_lines) ? help_lines[i - 1] : "",
		    A_REVERSE, w);
}

static void
draw_status(struct monit *m)
{
	char line[512];
	attr_t attr = A_REVERSE;
	if (m->mode == MODE_FILTER) {
		snprintf(line, sizeof(line), "filter: %s_  (Enter keeps it, Esc clears it)", m->filter);
	} else if (m->mode == MODE_CONFIRM) {
		snprintf(line, sizeof(line), "%s? [y/n]", m->confirm_text);
		attr |= A_BOLD;
	} else if (!m->up) {
		snprintf(line, sizeof(line), "disconnected from the daemon (pid %d): reconnecting...",
		    m->daemon_pid);
		attr |= A_BOLD | pair(m, C_RED);
	} else if (m->note_until > mono_ms()) {
		snprintf(line, sizeof(line), "%s", m->note);
	} else {
		snprintf(line, sizeof(line), "connected to the daemon (pid %d) | %zu processes%s%s | "
		    "? keys  q quit", m->daemon_pid, m->nrows, m->filter_len ? " | filter: " : "",
		    m->filter);
	}
	put(m, LINES - 1, 0, COLS, line, attr, COLS);
}

static void
draw(struct monit *m)
{
	erase();
	if (LINES < 8 || COLS < 40) {
		put(m, 0, 0, COLS, "corral monit: the terminal is too small", A_BOLD, 0);
		refresh();
		return;
	}
	/* The process pane takes what its rows need, half the screen at most;
	 * the logs get the rest. */
	int body = LINES - 1;
	int proc_h = (int)(m->nrows < (size_t)body ? m->nrows : (size_t)body) + 2;
	if (proc_h > body / 2)
		proc_h = body / 2;
	if (proc_h < 5)
		proc_h = 5;
	int low = body - proc_h;
	draw_procs(m, 0, proc_h);
	int log_w = COLS * 3 / 5;
	draw_logs(m, proc_h, 0, log_w - 1, low);
	for (int y = proc_h; y < body; y++)
		mvaddch(y, log_w - 1, ACS_VLINE);
	draw_detail(m, proc_h, log_w, COLS - log_w, low);
	draw_status(m);
	if (m->mode == MODE_HELP)
		draw_help(m);
	refresh();
	m->dirty = false;
}

/* ---- keys ---- */

static void
select_at(struct monit *m, long to)
{
	if (!m->nshown)
		return;
	if (to < 0)
		to = 0;
	if (to >= (long)m->nshown)
		to = (long)m->nshown - 1;
	m->sel = (size_t)to;
	selection_changed(m);
}

/* Scroll the focused pane by delta lines (a page is the pane's height). */
static void
scroll_by(struct monit *m, long delta)
{
	if (m->focus == PANE_PROCS) {
		select_at(m, (long)m->sel + delta);
	} else if (m->focus == PANE_LOGS) {
		long back = (long)m->log_back - delta;
		m->log_back = back < 0 ? 0 : (size_t)back;
	} else {
		long top = (long)m->detail_top + delta;
		m->detail_top = top < 0 ? 0 : (size_t)top;
	}
	m->dirty = true;
}

/* PgUp (dir -1), PgDn (1): the process pane's view and selection move by
 * a screenful together; the other panes scroll by a third of the screen. */
static void
page(struct monit *m, int dir)
{
	if (m->focus != PANE_PROCS || m->proc_lines < 1) {
		scroll_by(m, dir * (LINES / 3 > 1 ? LINES / 3 : 1));
		return;
	}
	size_t step = (size_t)m->proc_lines;
	size_t max_top = m->nshown > step ? m->nshown - step : 0;
	if (dir > 0) {
		m->top = m->top + step < max_top ? m->top + step : max_top;
		select_at(m, (long)(m->sel + step));
	} else {
		m->top = m->top > step ? m->top - step : 0;
		select_at(m, (long)m->sel - (long)step);
	}
	m->dirty = true;
}

static void
scroll_to_end(struct monit *m, bool end)
{
	if (m->focus == PANE_PROCS)
		select_at(m, end ? (long)m->nshown - 1 : 0);
	else if (m->focus == PANE_LOGS)
		m->log_back = end ? 0 : m->log_n;
	else
		m->detail_top = end ? (size_t)1 << 20 : 0;
	m->dirty = true;
}

/* r, R, s, S: ask first. */
static void
ask(struct monit *m, const char *cmd, const char *verb)
{
	const struct row *s = selected(m);
	if (!s)
		return;
	if (m->action_id) {
		note(m, "%s is still in progress", m->action_what);
		return;
	}
	json_decref(m->confirm_target);
	m->confirm_cmd = cmd;
	if (m->app_logs) {
		m->confirm_target = json_string(s->name);
		snprintf(m->confirm_text, sizeof(m->confirm_text), "%s app %s (every instance)", verb,
		    s->name);
	} else {
		m->confirm_target = json_integer(s->pm_id);
		snprintf(m->confirm_text, sizeof(m->confirm_text), "%s %s [%d]", verb, s->name,
		    s->pm_id);
	}
	m->mode = MODE_CONFIRM;
	m->dirty = true;
}

static void
confirmed(struct monit *m)
{
	if (!m->up) {
		note(m, "%s: not connected to the daemon", m->confirm_text);
		return;
	}
	copy_str(m->action_what, sizeof(m->action_what), m->confirm_text);
	m->action_id = send_req(m, json_pack("{s:s, s:[O], s:b}", "cmd", m->confirm_cmd,
	    "targets", m->confirm_target, "by_script", 0));
	if (m->action_id)
		note(m, "%s...", m->action_what);
}

/* False when the key quits. */
static bool
on_key(struct monit *m, int ch)
{
	m->dirty = true;
	if (ch == KEY_RESIZE)
		return true;
	if (m->mode == MODE_HELP) {
		m->mode = MODE_NORMAL;
		return true;
	}
	if (m->mode == MODE_CONFIRM) {
		m->mode = MODE_NORMAL;
		if (ch == 'y' || ch == 'Y')
			confirmed(m);
		else
			note(m, "%s: cancelled", m->confirm_text);
		return true;
	}
	if (m->mode == MODE_FILTER) {
		if (ch == 27) {
			m->filter_len = 0;
			m->filter[0] = '\0';
			m->mode = MODE_NORMAL;
		} else if (ch == '\r' || ch == '\n' || ch == KEY_ENTER) {
			m->mode = MODE_NORMAL;
		} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
			if (m->filter_len)
				m->filter[--m->filter_len] = '\0';
		} else if (ch >= 0x20 && ch < 0x7f && m->filter_len + 1 < sizeof(m->filter)) {
			m->filter[m->filter_len++] = (char)ch;
			m->filter[m->filter_len] = '\0';
		} else {
			return true;
		}
		refilter(m);
		selection_changed(m);
		return true;
	}
	switch (ch) {
	case 'q':
	case 27:
		return false;
	case KEY_UP:
	case 'k':
		scroll_by(m, -1);
		break;
	case KEY_DOWN:
	case 'j':
		scroll_by(m, 1);
		break;
	case KEY_PPAGE:
		page(m, -1);
		break;
	case KEY_NPAGE:
		page(m, 1);
		break;
	case KEY_HOME:
		scroll_to_end(m, false);
		break;
	case KEY_END:
		scroll_to_end(m, true);
		break;
	case '\t':
		m->focus = (m->focus + 1) % PANES;
		break;
	case KEY_BTAB:
		m->focus = (m->focus + PANES - 1) % PANES;
		break;
	case '/':
		m->mode = MODE_FILTER;
		break;
	case 'l':
		m->app_logs = !m->app_logs;
		follow_logs(m);
		break;
	case 'r':
		ask(m, "restart", "restart");
		break;
	case 'R':
		ask(m, "reload", "reload");
		break;
	case 's':
		ask(m, "stop", "stop");
		break;
	case 'S':
		ask(m, "restart", "start");
		break;
	case '?':
		m->mode = MODE_HELP;
		break;
	default:
		break;
	}
	return true;
}

/* ---- the loop ---- */

static int
run(struct monit *m)
{
	int rc = 0;
	for (;;) {
		if (quit_signal) {
			rc = quit_signal == SIGINT ? 0 : 128 + quit_signal;
			break;
		}
		int64_t now = mono_ms();
		if (!m->up && now >= m->next_retry_mono)
			try_connect(m);
		if (m->note_until && now >= m->note_until) {
			m->note_until = 0;
			m->dirty = true;
		}
		if (now >= m->next_tick_mono) {
			m->next_tick_mono = now + TICK_MS;
			m->dirty = true;
		}
		/* Drawn first: the sample measures the rows the screen holds,
		 * soon when other rows came on it (scrolled, filtered). */
		if (m->dirty)
			draw(m);
		if (m->top != m->sampled_top || m->nshown != m->sampled_nshown ||
		    m->proc_lines != m->sampled_lines) {
			m->sampled_top = m->top;
			m->sampled_nshown = m->nshown;
			m->sampled_lines = m->proc_lines;
			if (m->next_sample_mono > now + SAMPLE_SOON_MS)
				m->next_sample_mono = now + SAMPLE_SOON_MS;
		}
		if (m->up && !m->sample_id && now >= m->next_sample_mono)
			request_sample(m);
		/* A sample in flight: its reply wakes us. */
		int64_t wake = !m->up ? m->next_retry_mono :
		    m->sample_id ? m->next_tick_mono : m->next_sample_mono;
		if (m->next_tick_mono < wake)
			wake = m->next_tick_mono;
		if (m->note_until && m->note_until < wake)
			wake = m->note_until;
		int wait_ms = (int)(wake - mono_ms());
		if (wait_ms < 0 || (m->up && linebuf_has_line(&m->conn.in)))
			wait_ms = 0;
		struct pollfd pfd[2] = {{STDIN_FILENO, POLLIN, 0}, {m->up ? m->conn.fd : -1, POLLIN, 0}};
		int n = poll(pfd, 2, wait_ms);
		if (n < 0 && errno != EINTR)
			break;
		/* A signal (SIGWINCH among them) or a key: ncurses has the key,
		 * or the KEY_RESIZE it made of the signal. */
		int ch;
		bool go_on = true;
		while (go_on && (ch = getch()) != ERR)
			go_on = on_key(m, ch);
		if (!go_on)
			break;
		if (n > 0 && m->up && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
			read_daemon(m);
		else if (m->up)
			handle_lines(m);
		if (n > 0 && (pfd[0].revents & (POLLHUP | POLLERR))) {
			rc = 1;   /* the terminal went away */
			break;
		}
	}
	return rc;
}

int
verb_monit(struct ctx *x)
{
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return cli_fail(x, "needs a terminal (stdin and stdout); corral list or corral jlist "
		    "print the same figures");
	struct monit m = {.x = x, .sel_pm_id = -1, .detail_pm_id = -1};
	char *err = NULL;
	if (tui_load(&err) < 0) {
		cli_fail(x, "%s", err);
		free(err);
		return 1;
	}
	if (conn_open(&x->paths, true, &m.conn, &err) < 0) {
		cli_fail(x, "%s", err ? err : "cannot reach the daemon");
		free(err);
		return 1;
	}
	setlocale(LC_ALL, "");
	const char *cs = nl_langinfo(CODESET);
	m.utf8 = cs && strcmp(cs, "UTF-8") == 0;
	if (!screen_open(&m)) {
		conn_close(&m.conn);
		const char *term = getenv("TERM");
		return cli_fail(x, "cannot drive this terminal (TERM=%s: no terminfo entry)",
		    term ? term : "(unset)");
	}
	connected(&m);
	int rc = run(&m);
	screen_close();
	if (m.up)
		conn_close(&m.conn);
	rows_free(m.rows, m.nrows);
	free(m.shown);
	logs_clear(&m);
	json_decref(m.detail);
	json_decref(m.confirm_target);
	if (rc > 128) {
		/* Die of the signal, as a program interrupted should. */
		signal(rc - 128, SIG_DFL);
		raise(rc - 128);
	}
	return rc;
}
