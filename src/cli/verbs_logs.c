/*
 * verbs_logs.c — `corral logs`: the last lines of each matching log file,
 * then the live stream from the daemon until Ctrl-C; flush and reloadLogs.
 *
 * Every line, from a file or from the daemon, is printed by print_line() in
 * one of PM2's four shapes:
 *
 *   plain     0|api | GET / 200        (coloured on a terminal; --timestamp
 *                                       puts the time first, --highlight
 *                                       marks a word)
 *   --raw     GET / 200
 *   --json    {"message":"GET / 200","timestamp":"2024-05-01T10:00:00.123+0200",
 *              "type":"out","process_id":0,"app_name":"api"}
 *   --format  timestamp=2024-05-01-10:00:00+0200 app=api id=0 type=out message=GET / 200
 *
 * --json has the schema of `log_type: json` files: the lines of such a file
 * are printed as they are stored; a line of a plain file has no recorded
 * time (timestamp null, and no time in the other shapes). A line reaches
 * the screen as it reached the file, NUL bytes included.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/render.h"
#include "cli/verbs.h"
#include "common/tail.h"
#include "common/units.h"
#include "config/normalize.h"

/* PM2's defaults: --timestamp without a format, and --format's time. */
#define TIMESTAMP_DEFAULT "YYYY-MM-DD-HH:mm:ss"
#define FORMAT_TIME "YYYY-MM-DD-HH:mm:ssZZ"

/* How lines are printed. */
struct look {
	enum { SHAPE_PLAIN, SHAPE_RAW, SHAPE_JSON, SHAPE_FORMAT } shape;
	bool color;
	char *time_fmt;         /* strftime format of a line's time, or NULL */
	const char *highlight;  /* word to mark (on a terminal), or NULL */
};

/* One line to print, or a segment of a line longer than the daemon's buffer
 * (which then neither starts nor ends it). */
struct line {
	int pm_id;
	const char *name;
	bool err;               /* from stderr */
	const char *data;       /* not NUL-terminated; may hold NULs */
	size_t len;
	int64_t at_ms;          /* when the daemon read it; 0 when unknown */
	bool starts, ends;
	bool stored_json;       /* data is already a log_type: json object */
};

/* Call fn for each of the last n lines of the file at path (without their
 * newline). 0 or -errno. */
static int
tail_file(const char *path, long n, tail_fn fn, void *arg)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = fstat(fd, &st) < 0 ? -errno : tail_lines(fd, st.st_size, n, 0, fn, arg);
	close(fd);
	return rc;
}

/* The text of a line, each occurrence of the highlighted word on a grey
 * background (on a terminal). */
static void
print_text(const struct look *k, const char *s, size_t n)
{
	size_t wlen = k->highlight && k->color ? strlen(k->highlight) : 0;
	const char *hit;
	while (wlen > 0 && (hit = memmem(s, n, k->highlight, wlen)) != NULL) {
		fwrite(s, 1, (size_t)(hit - s), stdout);
		printf("\033[100m%s\033[49m", k->highlight);
		n -= (size_t)(hit - s) + wlen;
		s = hit + wlen;
	}
	fwrite(s, 1, n, stdout);
}

static void
print_json(const struct line *l)
{
	if (l->stored_json) {
		fwrite(l->data, 1, l->len, stdout);
		putchar('\n');
		return;
	}
	char stamp[128];
	units_format_time(UNITS_ISO_TIME, l->at_ms, stamp, sizeof(stamp));
	/* Bytes that are not UTF-8 cannot be in a JSON string: U+FFFD stands
	 * in for each (the file has them as they were). */
	char *text = NULL;
	size_t len = l->len;
	if (!utf8_valid(l->data, l->len))
		text = utf8_replaced(l->data, l->len, &len);
	json_t *o = json_pack("{s:s%, s:o, s:s, s:i, s:s}", "message", text ? text : l->data, len,
	    "timestamp", l->at_ms ? json_string(stamp) : json_null(), "type", l->err ? "err" : "out",
	    "process_id", l->pm_id, "app_name", l->name);
	render_json(stdout, o, false);
	json_decref(o);
	free(text);
}

static void
print_line(const struct look *k, const struct line *l)
{
	char stamp[128] = "";
	if (k->time_fmt && l->at_ms)
		units_format_time(k->time_fmt, l->at_ms, stamp, sizeof(stamp));
	if (k->shape == SHAPE_JSON) {
		print_json(l);
		return;
	}
	if (l->starts && k->shape == SHAPE_FORMAT) {
		if (*stamp)
			printf("timestamp=%s ", stamp);
		printf("app=%s id=%d type=%s message=", l->name, l->pm_id, l->err ? "error" : "out");
	} else if (l->starts && k->shape == SHAPE_PLAIN) {
		if (*stamp)
			printf(k->color ? "\033[2;90m%s\033[0m " : "%s ", stamp);
		if (k->color)
			printf("\033[%sm%d|%s |\033[0m ", l->err ? "31" : "32", l->pm_id, l->name);
		else
			printf("%d|%s | ", l->pm_id, l->name);
	}
	print_text(k, l->data, l->len);
	if (l->ends)
		putchar('\n');
}

/* The options as a look: 0, or 1 after saying what is wrong. */
static int
look_init(struct ctx *x, struct look *k)
{
	const struct args *a = &x->a;
	*k = (struct look){.shape = args_has(a, "json") ? SHAPE_JSON
	    : args_has(a, "format") ? SHAPE_FORMAT : args_has(a, "raw") ? SHAPE_RAW : SHAPE_PLAIN};
	k->color = render_color(stdout) && (k->shape == SHAPE_PLAIN || k->shape == SHAPE_FORMAT);
	/* An option's value that is left out reads as "true". */
	const char *ts = args_get(a, "timestamp");
	if (k->shape == SHAPE_FORMAT)
		ts = FORMAT_TIME;
	else if (ts && strcmp(ts, "true") == 0)
		ts = TIMESTAMP_DEFAULT;
	if (ts && k->shape != SHAPE_JSON)
		k->time_fmt = normalize_date_format(ts);
	k->highlight = args_get(a, "highlight");
	if (k->highlight && (strcmp(k->highlight, "true") == 0 || !*k->highlight)) {
		free(k->time_fmt);
		return cli_fail(x, "--highlight needs a word: --highlight=word");
	}
	return 0;
}

/* A log file being tailed, for tail_line(). */
struct tailed {
	const struct look *look;
	struct line line;
};

static void
tail_line(void *arg, const char *data, size_t len)
{
	struct tailed *t = arg;
	t->line.data = data;
	t->line.len = len;
	print_line(t->look, &t->line);
}

/* The last `lines` lines of every log file of the processes (a file shared
 * by instances, once). */
static void
print_tails(const struct look *k, json_t *procs, long lines, bool want_out, bool want_err)
{
	json_t *seen = json_object();
	size_t i;
	json_t *p;
	json_array_foreach(procs, i, p) {
		const char *files[2] = {
		    want_out ? json_string_value(json_object_get(p, "out_log")) : NULL,
		    want_err ? json_string_value(json_object_get(p, "err_log")) : NULL};
		const char *log_type = json_string_value(json_object_get(json_object_get(p, "spec"),
		    "log_type"));
		for (int f = 0; f < 2; f++) {
			if (!files[f] || json_object_get(seen, files[f]))
				continue;
			json_object_set_new(seen, files[f], json_true());
			struct tailed t = {k, {
			    .pm_id = (int)json_integer_value(json_object_get(p, "pm_id")),
			    .name = json_string_value(json_object_get(p, "name")),
			    .err = f == 1, .starts = true, .ends = true,
			    .stored_json = log_type && strcmp(log_type, "json") == 0}};
			if (k->shape == SHAPE_PLAIN)
				printf("%s%s last %ld lines:%s\n", k->color ? "\033[90m" : "", files[f],
				    lines, k->color ? "\033[0m" : "");
			tail_file(files[f], lines, tail_line, &t);
		}
	}
	json_decref(seen);
	fflush(stdout);
}

/* Whether the last segment of a stream ended its line, per process. */
struct stream_state {
	int pm_id;
	bool err;
	bool mid_line;
};

/* Print the daemon's log pushes until it goes away. */
static int
follow(struct ctx *x, const struct look *k)
{
	struct stream_state st[64];
	size_t nst = 0;
	for (;;) {
		json_t *ev = conn_next(&x->conn, -1);
		if (!ev)
			return cli_fail(x, "the daemon went away");
		const char *kind = json_string_value(json_object_get(ev, "event"));
		if (kind && strcmp(kind, "missed") == 0)
			fprintf(stderr, "corral logs: %lld lines were skipped (this terminal was too "
			    "slow)\n", (long long)json_integer_value(json_object_get(ev, "count")));
		if (kind && strcmp(kind, "deleted") == 0) {
			/* What we follow went away; nothing left: we are done. */
			json_int_t left = json_integer_value(json_object_get(ev, "remaining"));
			fprintf(stderr, "corral logs: %s %s was deleted%s\n",
			    json_string_value(json_object_get(ev, "what")),
			    json_string_value(json_object_get(ev, "name")),
			    left ? "" : "; nothing left to follow");
			json_decref(ev);
			if (!left)
				return 0;
			continue;
		}
		if (!kind || strcmp(kind, "log") != 0) {
			json_decref(ev);
			continue;
		}
		const char *stream = json_string_value(json_object_get(ev, "stream"));
		struct line l = {
			.pm_id = (int)json_integer_value(json_object_get(ev, "pm_id")),
			.name = json_string_value(json_object_get(ev, "name")) ?: "",
			.err = stream && stream[0] == 'e',
			.data = json_string_value(json_object_get(ev, "data")),
			.len = json_string_length(json_object_get(ev, "data")),
			.at_ms = json_integer_value(json_object_get(ev, "at")) ?: wall_ms(),
			.ends = json_is_true(json_object_get(ev, "eol")),
		};
		char *decoded = NULL;
		const char *b64 = json_string_value(json_object_get(ev, "data_b64"));
		if (!l.data && b64) {
			decoded = xmalloc(strlen(b64) * 3 / 4 + 4);
			ssize_t n = base64_decode(b64, strlen(b64), decoded);
			l.len = n > 0 ? (size_t)n : 0;
			l.data = decoded;
		}
		if (!l.data)
			l.data = "";
		struct stream_state *s = NULL;
		for (size_t i = 0; i < nst; i++)
			if (st[i].pm_id == l.pm_id && st[i].err == l.err)
				s = &st[i];
		if (!s && nst < ARRAY_LEN(st)) {
			s = &st[nst++];
			*s = (struct stream_state){l.pm_id, l.err, false};
		}
		l.starts = !s || !s->mid_line;
		if (s)
			s->mid_line = !l.ends;
		print_line(k, &l);
		fflush(stdout);
		free(decoded);
		json_decref(ev);
	}
}

int
logs_attach(struct ctx *x, json_t *procs)
{
	json_t *names = json_array(), *seen = json_object();
	size_t i;
	json_t *p;
	json_array_foreach(procs, i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));
		if (name && !json_object_get(seen, name)) {
			json_object_set_new(seen, name, json_true());
			json_array_append_new(names, json_string(name));
		}
	}
	json_decref(seen);
	int rc = 1;
	struct look k;
	if (json_array_size(names) == 0 || look_init(x, &k) != 0)
		goto out;
	json_t *r = cli_call(x, json_pack("{s:s, s:O, s:b, s:b}", "cmd", "logs", "targets", names,
	    "out", 1, "err", 1), QUICK_TIMEOUT_MS);
	if (r) {
		json_decref(r);
		fflush(stdout);
		rc = follow(x, &k);
	}
	free(k.time_fmt);
out:
	json_decref(names);
	return rc;
}

int
verb_logs(struct ctx *x)
{
	const struct args *a = &x->a;
	long lines = 15;
	const char *ls = args_get(a, "lines");
	if (ls) {
		int64_t v;
		if (units_parse_int(ls, 0, 1000000, &v) < 0)
			return cli_fail(x, "--lines: \"%s\" is not a number of lines", ls);
		lines = (long)v;
	}
	struct look k;
	if (look_init(x, &k) != 0)
		return 1;
	bool want_out = !args_has(a, "err") || args_has(a, "out");
	bool want_err = !args_has(a, "out") || args_has(a, "err");
	bool live = !args_has(a, "nostream");
	int rc = 1;
	json_t *targets = a->pos[0] ? cli_process_targets(a->pos) : NULL;
	json_t *procs = cli_list_procs(x, targets, false);
	if (!procs)
		goto out;
	if (live) {
		json_t *sub = json_pack("{s:s, s:b, s:b}", "cmd", "logs", "out", want_out,
		    "err", want_err);
		if (targets)
			json_object_set(sub, "targets", targets);
		json_t *r = cli_call(x, sub, QUICK_TIMEOUT_MS);
		if (!r)
			goto out;
		json_decref(r);
	}
	if (lines > 0)
		print_tails(&k, procs, lines, want_out, want_err);
	rc = live ? follow(x, &k) : 0;
out:
	json_decref(procs);
	json_decref(targets);
	free(k.time_fmt);
	return rc;
}

int
verb_flush(struct ctx *x)
{
	json_t *req = json_pack("{s:s}", "cmd", "flush");
	if (x->a.pos[0])
		json_object_set_new(req, "targets", cli_process_targets(x->a.pos));
	json_t *r = cli_call(x, req, QUICK_TIMEOUT_MS);
	if (!r)
		return 1;
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(r, "files"), i, f)
		printf("corral: flushed %s\n", json_string_value(f));
	json_decref(r);
	return 0;
}

int
verb_reload_logs(struct ctx *x)
{
	json_t *r = cli_call(x, json_pack("{s:s}", "cmd", "reload_logs"), QUICK_TIMEOUT_MS);
	if (!r)
		return 1;
	printf("corral: log files reopened\n");
	json_decref(r);
	return 0;
}
