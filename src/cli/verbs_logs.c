/*
 * verbs_logs.c — `corral logs`: the last lines of each matching log file,
 * then the live stream from the daemon until Ctrl-C; flush and reloadLogs.
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
#include "common/units.h"

#define TAIL_CHUNK 65536

/* Print the last n lines of path to f with prefix (may be ""); 0 or -errno. */
static int
logs_tail(FILE *f, const char *path, long n, const char *prefix)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	/* Walk back chunk by chunk until n line starts are found: long lines
	 * never cut the count short. */
	off_t end = st.st_size, start = end;
	long lines = 0;
	char *buf = xmalloc(TAIL_CHUNK);
	bool last_nl_skipped = false;
	while (start > 0 && lines <= n) {
		off_t from = start > TAIL_CHUNK ? start - TAIL_CHUNK : 0;
		ssize_t got = pread(fd, buf, (size_t)(start - from), from);
		if (got <= 0)
			break;
		for (ssize_t i = got - 1; i >= 0; i--) {
			if (buf[i] != '\n')
				continue;
			if (!last_nl_skipped && from + i == end - 1) {
				last_nl_skipped = true;
				continue;
			}
			if (++lines >= n) {
				start = from + i + 1;
				goto found;
			}
		}
		start = from;
	}
found:
	free(buf);
	if (n <= 0)
		start = end;
	FILE *in = fdopen(fd, "r");
	if (!in) {
		close(fd);
		return -errno;
	}
	fseeko(in, start, SEEK_SET);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	off_t pos = start;
	while (pos < end && (len = getline(&line, &cap, in)) > 0) {
		pos += len;
		fputs(prefix, f);
		fwrite(line, 1, (size_t)len, f);
		if (line[len - 1] != '\n')
			fputc('\n', f);
	}
	free(line);
	fclose(in);
	return 0;
}

/* s with every byte that does not start a UTF-8 sequence replaced by
 * U+FFFD, for a JSON string. */
static char *
utf8_replaced(const char *s, size_t n, size_t *len)
{
	struct sbuf b = SBUF_INIT;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq_len(s + i, n - i);
		if (k == 0) {
			sbuf_adds(&b, "\xef\xbf\xbd");
			i++;
		} else {
			sbuf_add(&b, s + i, k);
			i += k;
		}
	}
	*len = b.len;
	return sbuf_take(&b);
}

struct stream_state {
	int pm_id;
	char stream;
	bool mid_line;
};

int
verb_logs(struct ctx *x)
{
	if (cli_connect(x, true) < 0)
		return 1;
	struct conn *c = &x->conn;
	const struct args *a = &x->a;
	long lines = 15;
	const char *ls = args_get(a, "lines");
	if (ls) {
		int64_t v;
		if (units_parse_int(ls, 0, 1000000, &v) < 0) {
			fprintf(stderr, "corral logs: --lines: \"%s\" is not a number of lines\n", ls);
			return 1;
		}
		lines = (long)v;
	}
	bool raw = args_has(a, "raw"), json = args_has(a, "json");
	bool want_out = !args_has(a, "err") || args_has(a, "out");
	bool want_err = !args_has(a, "out") || args_has(a, "err");
	bool follow = !args_has(a, "nostream");
	bool color = render_color(stdout) && !raw && !json;

	json_t *targets = NULL;
	if (a->pos[0]) {
		targets = json_array();
		for (size_t i = 0; a->pos[i]; i++)
			json_array_append_new(targets, json_string(a->pos[i]));
	}
	char *err = NULL;
	json_t *req = json_pack("{s:s}", "cmd", "list");
	if (targets)
		json_object_set(req, "targets", targets);
	json_t *r = conn_call(c, req, 30000, &err);
	json_decref(req);
	if (!r) {
		fprintf(stderr, "corral logs: %s\n", err);
		free(err);
		json_decref(targets);
		return 1;
	}
	if (follow) {
		json_t *sub = json_pack("{s:s, s:b, s:b}", "cmd", "logs", "out", want_out, "err", want_err);
		if (targets)
			json_object_set(sub, "targets", targets);
		json_t *sr = conn_call(c, sub, 30000, &err);
		json_decref(sub);
		if (!sr) {
			fprintf(stderr, "corral logs: %s\n", err);
			free(err);
			json_decref(targets);
			json_decref(r);
			return 1;
		}
		json_decref(sr);
	}
	json_decref(targets);

	json_t *procs = json_object_get(r, "procs");
	size_t i;
	json_t *p;
	if (lines > 0 && !json) {
		/* Merged logs are shared by instances: print each file once. */
		json_t *seen = json_object();
		json_array_foreach(procs, i, p) {
			const char *name = json_string_value(json_object_get(p, "name"));
			int id = (int)json_integer_value(json_object_get(p, "pm_id"));
			const char *files[2] = {want_out ? json_string_value(json_object_get(p, "out_log")) : NULL,
			    want_err ? json_string_value(json_object_get(p, "err_log")) : NULL};
			for (int k = 0; k < 2; k++) {
				if (!files[k] || json_object_get(seen, files[k]))
					continue;
				json_object_set_new(seen, files[k], json_true());
				char *prefix = raw ? xstrdup("") : color
				    ? xasprintf("\033[%sm%d|%s |\033[0m ", k ? "31" : "32", id, name)
				    : xasprintf("%d|%s | ", id, name);
				if (!raw)
					printf("%s%s last %ld lines:%s\n", color ? "\033[90m" : "", files[k],
					    lines, color ? "\033[0m" : "");
				logs_tail(stdout, files[k], lines, prefix);
				free(prefix);
			}
		}
		json_decref(seen);
		fflush(stdout);
	}
	json_decref(r);
	if (!follow)
		return 0;

	struct stream_state st[64];
	size_t nst = 0;
	for (;;) {
		json_t *ev = conn_next(c, -1);
		if (!ev) {
			fprintf(stderr, "corral logs: the daemon went away\n");
			return 1;
		}
		const char *kind = json_string_value(json_object_get(ev, "event"));
		if (kind && strcmp(kind, "missed") == 0) {
			fprintf(stderr, "corral logs: %lld lines were skipped (this terminal was too slow)\n",
			    (long long)json_integer_value(json_object_get(ev, "count")));
		}
		if (!kind || strcmp(kind, "log") != 0) {
			json_decref(ev);
			continue;
		}
		int id = (int)json_integer_value(json_object_get(ev, "pm_id"));
		const char *name = json_string_value(json_object_get(ev, "name"));
		const char *stream = json_string_value(json_object_get(ev, "stream"));
		bool eol = json_is_true(json_object_get(ev, "eol"));
		const char *data = json_string_value(json_object_get(ev, "data"));
		size_t dlen = data ? json_string_length(json_object_get(ev, "data")) : 0;
		char *decoded = NULL;
		const char *b64 = json_string_value(json_object_get(ev, "data_b64"));
		if (!data && b64) {
			decoded = xmalloc(strlen(b64) * 3 / 4 + 4);
			ssize_t n = base64_decode(b64, strlen(b64), decoded);
			dlen = n > 0 ? (size_t)n : 0;
			data = decoded;
		}
		if (json) {
			/* Bytes that are not UTF-8 came as base64: a JSON string cannot
			 * hold them, and json_pack() would fail for the whole line. */
			char *text = NULL;
			if (decoded) {
				text = utf8_replaced(decoded, dlen, &dlen);
				data = text;
			}
			json_t *o = json_pack("{s:i, s:s, s:s, s:s%}", "pm_id", id, "name", name ? name : "",
			    "stream", stream ? stream : "", "line", data ? data : "", dlen);
			render_json(stdout, o, false);
			json_decref(o);
			free(text);
		} else {
			char sk = stream && stream[0] == 'e' ? 'e' : 'o';
			struct stream_state *s = NULL;
			for (size_t k = 0; k < nst; k++)
				if (st[k].pm_id == id && st[k].stream == sk)
					s = &st[k];
			if (!s && nst < ARRAY_LEN(st)) {
				s = &st[nst++];
				*s = (struct stream_state){id, sk, false};
			}
			if (!raw && (!s || !s->mid_line)) {
				if (color)
					printf("\033[%sm%d|%s |\033[0m ", sk == 'e' ? "31" : "32", id, name);
				else
					printf("%d|%s | ", id, name);
			}
			fwrite(data ? data : "", 1, dlen, stdout);
			if (eol)
				fputc('\n', stdout);
			if (s)
				s->mid_line = !eol;
		}
		fflush(stdout);
		free(decoded);
		json_decref(ev);
	}
	return 0;
}

int
verb_flush(struct ctx *x)
{
	json_t *req = json_pack("{s:s}", "cmd", "flush");
	if (x->a.pos[0])
		json_object_set_new(req, "targets", cli_targets(x->a.pos));
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
