/*
 * web.c — `corral web` (web.h): libmicrohttpd in the daemon's loop.
 *
 * MHD runs with MHD_USE_EPOLL and no thread of its own: its epoll
 * descriptor is one more io of our loop, MHD_run() is called when it is
 * readable and when the timeout MHD_get_timeout() gives is due, so every
 * request is handled by the loop's thread between two other events and
 * nothing else ever touches the app table. The listening socket is ours
 * (bound here, so `web start` can say why an address is refused).
 *
 * Limits (docs/web.md, "Security"): WEB_MAX_CONNECTIONS connections, each
 * with WEB_CONN_MEMORY bytes for its request (a larger header gets 431 from
 * MHD), a body over WEB_MAX_BODY refused with 413, WEB_TIMEOUT_S seconds
 * of silence closes a connection, at most WEB_MAX_STREAMS event streams,
 * each holding at most WEB_STREAM_BYTES not yet sent (beyond, events are
 * dropped for it and counted, as server.c does for slow subscribers).
 */
#include "daemon/web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/httproute.h"
#include "common/jsonw.h"
#include "common/log.h"
#include "common/settings.h"
#include "common/spec.h"
#include "common/tail.h"
#include "daemon/apps.h"
#include "daemon/events.h"
#include "daemon/mhd.h"
#include "daemon/procinfo.h"
#include "daemon/reload.h"
#include "daemon/sampler.h"
#include "daemon/state.h"
#include "daemon/table.h"
#include "daemon/wait.h"

#define WEB_MAX_CONNECTIONS 256u
#define WEB_CONN_MEMORY (64u << 10)
#define WEB_MAX_BODY 4096
#define WEB_TIMEOUT_S 10u
#define WEB_STREAM_TIMEOUT_S 60u
#define WEB_MAX_STREAMS 64
#define WEB_STREAM_BYTES (256u << 10)
#define WEB_HEARTBEAT_MS 15000
#define WEB_TOKEN_MAX 4096
#define WEB_LOG_LINES_MAX 1000
/* What one /api/v1/logs request reads of the files, all together: a
 * namespace of many instances cannot make the loop read and hold hundreds
 * of MB. */
#define WEB_LOG_BYTES_MAX (4 << 20)
/* While an event stream is open (a dashboard), every instance is sampled
 * every WEB_SAMPLE_MS and the last WEB_SAMPLES samples are kept for the
 * page's charts: 3 minutes, a few bytes per instance each. */
#define WEB_SAMPLE_MS 2000
#define WEB_SAMPLES 90

/* The page (src/daemon/web/dashboard.html), compiled in by the Makefile. */
extern const unsigned char web_dashboard_html[];
extern const size_t web_dashboard_html_len;

struct sse {
	LIST_ENTRY(sse) link;
	struct web *w;
	struct MHD_Connection *conn;
	struct sbuf buf;            /* not yet taken by MHD */
	size_t off;
	bool suspended;
	bool logs;                  /* log lines too (?logs=1) */
	bool ending;                /* the server stops: end the stream */
};

struct web {
	struct MHD_Daemon *mhd;
	int listen_fd;
	struct io io;
	struct timer timer;
	struct timer heartbeat;
	char *listen;
	char *token_file;
	char *token;                /* NULL: read-only */
	bool loopback;              /* bound to a loopback address */
	uint64_t requests;
	uint64_t dropped;           /* events not sent to slow streams */
	size_t nstreams;
	size_t nlogstreams;       /* of them, those with ?logs=1 */
	LIST_HEAD(, sse) streams;
	struct timer sample_timer;
	char *samples[WEB_SAMPLES]; /* a ring of JSON texts, oldest at next */
	size_t next_sample;
};

/* ---- the loop's side ---- */

static void
arm(struct web *w)
{
	MHD_UNSIGNED_LONG_LONG t;
	if (MHD_get_timeout(w->mhd, &t) == MHD_YES)
		timer_start(D->loop, &w->timer, t > 60000 ? 60000 : (int64_t)t);
	else
		timer_stop(D->loop, &w->timer);
}

static void
run(struct web *w)
{
	MHD_run(w->mhd);
	arm(w);
}

static void
on_io(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	run(arg);
}

static void
on_timer(struct loop *l, struct timer *t, void *arg)
{
	run(arg);
}

/* ---- replies ---- */

/* Queue body (ours to free) with one more header when hdr is not NULL. */
static enum MHD_Result
reply_with(struct MHD_Connection *conn, unsigned status, const char *type, char *body,
    size_t len, const char *hdr, const char *val)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body,
	    MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	if (hdr)
		MHD_add_response_header(r, hdr, val);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *type, char *body, size_t len)
{
	return reply_with(conn, status, type, body, len, NULL, NULL);
}

static enum MHD_Result
reply_sbuf(struct MHD_Connection *conn, unsigned status, const char *type, struct sbuf *b)
{
	size_t len = b->len;
	return reply(conn, status, type, sbuf_take(b), len);
}

#define JSON_TYPE "application/json"

static enum MHD_Result PRINTFLIKE(3, 4)
reply_error(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	struct sbuf b = SBUF_INIT;
	struct jsonw jw;
	jw_begin(&jw, &b);
	jw_str(&jw, "error", msg);
	jw_end(&jw);
	sbuf_addc(&b, '\n');
	free(msg);
	return reply_sbuf(conn, status, JSON_TYPE, &b);
}

/* ---- reading ---- */

/* The instances target names (a pm_id, a name, a namespace), or NULL after
 * replying 404. */
static struct inst **
resolve(struct MHD_Connection *conn, const char *target, size_t *n, enum MHD_Result *ret)
{
	json_t *t = json_pack("[s]", target);
	struct inst **ins = NULL;
	char *err = NULL;
	int rc = table_resolve(t, false, &ins, n, &err);
	json_decref(t);
	if (rc < 0) {
		*ret = reply_error(conn, MHD_HTTP_NOT_FOUND, "%s", err);
		free(err);
		return NULL;
	}
	return ins;
}

static void
append_procs(struct sbuf *b, struct inst **ins, size_t n, bool env)
{
	sampler_refresh(ins, n);
	sbuf_addc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			sbuf_addc(b, ',');
		procinfo_append(b, ins[i], env ? PROCINFO_ENV : PROCINFO_FULL);
	}
	sbuf_adds(b, "]\n");
}

static enum MHD_Result
get_processes(struct MHD_Connection *conn, const struct route *r, bool env)
{
	struct sbuf b = SBUF_INIT;
	size_t n = 0;
	struct inst **ins;
	enum MHD_Result ret;
	if (r->kind == ROUTE_PROCESS) {
		if (!(ins = resolve(conn, r->target, &n, &ret)))
			return ret;
	} else {
		ins = table_all_insts(&n);
	}
	append_procs(&b, ins, n, env);
	free(ins);
	return reply_sbuf(conn, MHD_HTTP_OK, JSON_TYPE, &b);
}

struct tailed {
	struct sbuf *b;
	size_t *count;
	const struct inst *in;
	const char *stream;
};

static void
tailed_line(void *arg, const char *line, size_t len)
{
	struct tailed *t = arg;
	size_t clean_len;
	char *clean = utf8_replaced(line, len, &clean_len);
	if ((*t->count)++)
		sbuf_addc(t->b, ',');
	struct jsonw jw;
	jw_begin(&jw, t->b);
	jw_int(&jw, "pm_id", t->in->pm_id);
	jw_str(&jw, "name", t->in->app->spec.name);
	jw_str(&jw, "stream", t->stream);
	jw_str(&jw, "line", clean);
	jw_end(&jw);
	free(clean);
}

/* The last `lines` lines of the file at path, appended to b as JSON
 * objects (a comma before each but the first), reading at most budget
 * bytes of it. */
static void
tail_file(struct sbuf *b, size_t *count, const char *path, int lines, off_t budget,
    const struct inst *in, const char *stream)
{
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) : -1;
	struct stat st;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		tail_lines(fd, st.st_size, lines, budget > 0 ? budget : 1, tailed_line,
		    &(struct tailed){b, count, in, stream});
	if (fd >= 0)
		close(fd);
}

static enum MHD_Result
get_logs(struct MHD_Connection *conn, const struct route *r)
{
	const char *ls = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "lines");
	int lines = 15;
	if (ls) {
		char *end;
		long v = strtol(ls, &end, 10);
		if (!*ls || *end || v < 1 || v > WEB_LOG_LINES_MAX)
			return reply_error(conn, MHD_HTTP_BAD_REQUEST, "lines: expected a number "
			    "from 1 to %d", WEB_LOG_LINES_MAX);
		lines = (int)v;
	}
	size_t n;
	enum MHD_Result ret;
	struct inst **ins = resolve(conn, r->target, &n, &ret);
	if (!ins)
		return ret;
	struct sbuf b = SBUF_INIT;
	sbuf_adds(&b, "{\"lines\":[");
	size_t count = 0;
	off_t budget = n ? WEB_LOG_BYTES_MAX / (off_t)(2 * n) : 0;
	for (size_t i = 0; i < n; i++) {
		tail_file(&b, &count, ins[i]->out_path, lines, budget, ins[i], "out");
		tail_file(&b, &count, ins[i]->err_path, lines, budget, ins[i], "err");
	}
	free(ins);
	sbuf_adds(&b, "]}\n");
	return reply_sbuf(conn, MHD_HTTP_OK, JSON_TYPE, &b);
}

/* ---- actions ---- */

static enum MHD_Result
check_token(struct web *w, struct MHD_Connection *conn, bool *ok)
{
	*ok = false;
	if (!w->token)
		return reply_error(conn, MHD_HTTP_FORBIDDEN, "this server is read-only: no token "
		    "file (corral web start --token-file FILE)");
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (!auth) {
		static const char msg[] = "{\"error\":\"actions need Authorization: Bearer <token>\"}\n";
		return reply_with(conn, MHD_HTTP_UNAUTHORIZED, JSON_TYPE, xstrdup(msg),
		    sizeof(msg) - 1, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	}
	if (!bearer_matches(auth, w->token))
		return reply_error(conn, MHD_HTTP_FORBIDDEN, "wrong token");
	*ok = true;
	return MHD_YES;
}

static enum MHD_Result
accepted(struct MHD_Connection *conn, const char *action, struct inst **ins, size_t n)
{
	struct sbuf b = SBUF_INIT;
	sbuf_addf(&b, "{\"accepted\":true,\"action\":\"%s\",\"pm_ids\":[", action);
	for (size_t i = 0; i < n; i++)
		sbuf_addf(&b, "%s%d", i ? "," : "", ins[i]->pm_id);
	sbuf_adds(&b, "]}\n");
	return reply_sbuf(conn, MHD_HTTP_ACCEPTED, JSON_TYPE, &b);
}

static enum MHD_Result
post_action(struct MHD_Connection *conn, const struct route *r)
{
	size_t n;
	enum MHD_Result ret;
	struct inst **ins = resolve(conn, r->target, &n, &ret);
	if (!ins)
		return ret;
	const char *act = r->action;
	if (strcmp(act, "reload") == 0) {
		struct app *busy = reload_busy(ins, n);
		if (busy) {
			free(ins);
			return reply_error(conn, MHD_HTTP_CONFLICT, "a reload of %s is already in "
			    "progress", busy->spec.name);
		}
		/* The op replies to no one: the outcome shows in the events. */
		reload_start(NULL, NULL, ins, n, 1);
	} else {
		struct wait *wt = wait_new();
		if (strcmp(act, "stop") == 0) {
			insts_stop(ins, n, wt);
		} else if (strcmp(act, "restart") == 0) {
			insts_restart(ins, n, wt);
		} else {
			/* start: those not running; a restart of a stopped one
			 * starts it. */
			size_t k = 0;
			for (size_t i = 0; i < n; i++)
				if (ins[i]->state == ST_STOPPED || ins[i]->state == ST_ERRORED)
					ins[k++] = ins[i];
			insts_restart(ins, k, wt);
			n = k;
		}
		wait_reply_when_done(wt, NULL, NULL);
	}
	ret = accepted(conn, act, ins, n);
	free(ins);
	return ret;
}

static enum MHD_Result
post_scale(struct MHD_Connection *conn, const struct route *r)
{
	struct app *a = app_named(r->target, NULL);
	if (!a)
		return reply_error(conn, MHD_HTTP_NOT_FOUND, "no app named %s", r->target);
	const char *cs = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "count");
	char *end = NULL;
	long want = cs ? strtol(cs, &end, 10) : 0;
	if (!cs || !*cs || *end || want < 1 || want > 4096)
		return reply_error(conn, MHD_HTTP_BAD_REQUEST, "scale needs ?count=N (1..4096)");
	struct wait *wt = wait_new();
	char *err = NULL;
	if (app_scale(a, (int)want, wt, &err) < 0) {
		enum MHD_Result ret = reply_error(conn, MHD_HTTP_CONFLICT, "%s", err);
		free(err);
		wait_free(wt);
		return ret;
	}
	wait_reply_when_done(wt, NULL, NULL);
	struct sbuf b = SBUF_INIT;
	sbuf_addf(&b, "{\"accepted\":true,\"action\":\"scale\",\"count\":%ld}\n", want);
	return reply_sbuf(conn, MHD_HTTP_ACCEPTED, JSON_TYPE, &b);
}

/* ---- Server-Sent Events ---- */

static ssize_t
sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *s = cls;
	size_t left = s->buf.len - s->off;
	if (left == 0) {
		if (s->ending)
			return MHD_CONTENT_READER_END_OF_STREAM;
		/* Nothing to send: wait off MHD's lists until a push. */
		MHD_suspend_connection(s->conn);
		s->suspended = true;
		return 0;
	}
	size_t k = left < max ? left : max;
	memcpy(buf, s->buf.s + s->off, k);
	s->off += k;
	if (s->off == s->buf.len) {
		sbuf_reset(&s->buf);
		s->off = 0;
	}
	return (ssize_t)k;
}

static void
sse_free(void *cls)
{
	struct sse *s = cls;
	LIST_REMOVE(s, link);
	s->w->nstreams--;
	if (s->logs)
		s->w->nlogstreams--;
	sbuf_free(&s->buf);
	free(s);
}

static void
sse_wake(struct sse *s)
{
	if (s->suspended) {
		s->suspended = false;
		MHD_resume_connection(s->conn);
		timer_start(D->loop, &s->w->timer, 0);
	}
}

static void
sse_push(struct web *w, struct sse *s, const char *text, size_t len)
{
	if (s->buf.len - s->off + len > WEB_STREAM_BYTES) {
		w->dropped++;
		return;
	}
	sbuf_add(&s->buf, text, len);
	sse_wake(s);
}

static void
on_heartbeat(struct loop *l, struct timer *t, void *arg)
{
	struct web *w = arg;
	struct sse *s;
	LIST_FOREACH(s, &w->streams, link)
		sse_push(w, s, ": keepalive\n\n", 13);
	if (w->nstreams)
		timer_start(D->loop, &w->heartbeat, WEB_HEARTBEAT_MS);
}

/* One sample of every instance, for the charts: {"at":ms,"procs":[[pm_id,
 * cpu %, memory bytes, lb state or null, accept-queue depth], ...]}. */
static char *
take_sample(void)
{
	struct sbuf b = SBUF_INIT;
	sbuf_addf(&b, "{\"at\":%lld,\"procs\":[", (long long)wall_ms());
	struct inst *in;
	size_t n = 0;
	TAILQ_FOREACH(in, &D->insts, link) {
		sampler_refresh(&in, 1);
		bool ok = procinfo_sampled(in);
		sbuf_addf(&b, "%s[%d,%.1f,%lld,", n++ ? "," : "", in->pm_id, ok ? in->cpu_pct : 0.0,
		    ok ? (long long)in->mem_bytes : 0LL);
		if (in->app->spec.exec_mode == MODE_CLUSTER) {
			int64_t queued;
			const char *lb = procinfo_lb(in, &queued);
			sbuf_addf(&b, "\"%s\",%lld]", lb, (long long)queued);
		} else {
			sbuf_adds(&b, "null,0]");
		}
	}
	sbuf_adds(&b, "]}");
	return sbuf_take(&b);
}

static void
on_sample(struct loop *l, struct timer *t, void *arg)
{
	struct web *w = arg;
	if (!w->nstreams)
		return;         /* no page open: nothing sampled */
	char *s = take_sample();
	free(w->samples[w->next_sample]);
	w->samples[w->next_sample] = s;
	w->next_sample = (w->next_sample + 1) % WEB_SAMPLES;
	char *ev = xasprintf("event: sample\ndata: %s\n\n", s);
	struct sse *c;
	LIST_FOREACH(c, &w->streams, link)
		sse_push(w, c, ev, strlen(ev));
	free(ev);
	timer_start(D->loop, &w->sample_timer, WEB_SAMPLE_MS);
}

static enum MHD_Result
get_samples(struct web *w, struct MHD_Connection *conn)
{
	struct sbuf b = SBUF_INIT;
	sbuf_addc(&b, '[');
	size_t n = 0;
	for (size_t i = 0; i < WEB_SAMPLES; i++) {
		const char *s = w->samples[(w->next_sample + i) % WEB_SAMPLES];
		if (s)
			sbuf_addf(&b, "%s%s", n++ ? "," : "", s);
	}
	sbuf_adds(&b, "]\n");
	return reply_sbuf(conn, MHD_HTTP_OK, JSON_TYPE, &b);
}

static enum MHD_Result
get_events(struct web *w, struct MHD_Connection *conn)
{
	if (w->nstreams >= WEB_MAX_STREAMS)
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "too many event streams "
		    "(%d)", WEB_MAX_STREAMS);
	struct sse *s = xcalloc(1, sizeof(*s));
	s->w = w;
	s->conn = conn;
	const char *logs = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "logs");
	s->logs = logs && strcmp(logs, "0") != 0;
	sbuf_adds(&s->buf, "retry: 2000\n: corral events\n\n");
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384,
	    sse_read, s, sse_free);
	if (!r) {
		sbuf_free(&s->buf);
		free(s);
		return MHD_NO;
	}
	LIST_INSERT_HEAD(&w->streams, s, link);
	w->nstreams++;
	if (s->logs)
		w->nlogstreams++;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, WEB_STREAM_TIMEOUT_S);
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	if (!timer_armed(&w->heartbeat))
		timer_start(D->loop, &w->heartbeat, WEB_HEARTBEAT_MS);
	if (!timer_armed(&w->sample_timer))
		timer_start(D->loop, &w->sample_timer, 0);
	return ret;
}

void
web_on_event(const struct event *ev, void *arg)
{
	struct web *w = D->web;
	if (!w || !w->nstreams)
		return;
	struct sbuf b = SBUF_INIT;
	struct jsonw jw;
	bool log = ev->kind == EV_LOG;
	if (log) {
		if (!ev->eol || !w->nlogstreams)
			return;
		size_t len;
		char *clean = utf8_replaced(ev->data, ev->len, &len);
		sbuf_adds(&b, "event: log\ndata: ");
		jw_begin(&jw, &b);
		jw_int(&jw, "pm_id", ev->pm_id);
		jw_str(&jw, "name", ev->name);
		jw_str(&jw, "stream", ev->stream);
		jw_str(&jw, "line", clean);
		jw_end(&jw);
		free(clean);
	} else if (ev->in) {
		sbuf_adds(&b, "event: process\ndata: ");
		jw_begin(&jw, &b);
		jw_str(&jw, "event", ev->what ? ev->what : "changed");
		jw_end(&jw);
		b.len--;        /* reopen the object for the instance's figures */
		sbuf_adds(&b, ",\"process\":");
		procinfo_append_sample(&b, ev->in, false);
		sbuf_addc(&b, '}');
	} else {
		return;
	}
	sbuf_adds(&b, "\n\n");
	struct sse *s;
	LIST_FOREACH(s, &w->streams, link)
		if (!log || s->logs)
			sse_push(w, s, b.s, b.len);
	sbuf_free(&b);
}

/* ---- dispatch ---- */

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct web *w = cls;
	static int seen;
	if (*con_cls == &seen) {
		/* Bodies are not read: every route answered on the headers. */
		*upload_size = 0;
		return MHD_YES;
	}
	*con_cls = &seen;
	w->requests++;
	/* A browser always says Host; a client without one is not a page. */
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_HOST);
	if (w->loopback && host && !host_header_is_loopback(host))
		return reply_error(conn, MHD_HTTP_MISDIRECTED_REQUEST, "this server answers only "
		    "to a loopback Host (localhost, 127.0.0.1, [::1])");
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > WEB_MAX_BODY)
		return reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body over %d bytes",
		    WEB_MAX_BODY);
	struct route r;
	const char *allow;
	int status = route_parse(method, url, &r, &allow);
	if (status == 404)
		return reply_error(conn, MHD_HTTP_NOT_FOUND, "no such path (docs/web.md lists "
		    "the endpoints)");
	if (status == 405) {
		struct sbuf b = SBUF_INIT;
		sbuf_addf(&b, "{\"error\":\"method not allowed here (%s only)\"}\n", allow);
		size_t len = b.len;
		return reply_with(conn, MHD_HTTP_METHOD_NOT_ALLOWED, JSON_TYPE, sbuf_take(&b), len,
		    MHD_HTTP_HEADER_ALLOW, allow);
	}
	struct sbuf b = SBUF_INIT;
	bool ok;
	enum MHD_Result ret;
	switch (r.kind) {
	case ROUTE_DASHBOARD: {
		char *page = xmalloc(web_dashboard_html_len);
		memcpy(page, web_dashboard_html, web_dashboard_html_len);
		return reply(conn, MHD_HTTP_OK, "text/html; charset=utf-8", page,
		    web_dashboard_html_len);
	}
	case ROUTE_HEALTHZ:
		sbuf_adds(&b, "ok\n");
		return reply_sbuf(conn, MHD_HTTP_OK, "text/plain; charset=utf-8", &b);
	case ROUTE_READYZ: {
		sbuf_adds(&b, "{\"ready\":");
		struct sbuf missing = SBUF_INIT;
		bool ready = web_ready(&missing);
		sbuf_addf(&b, "%s,\"missing\":%s}\n", ready ? "true" : "false", missing.s);
		sbuf_free(&missing);
		return reply_sbuf(conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
		    JSON_TYPE, &b);
	}
	case ROUTE_METRICS: {
		bool om = accept_wants_openmetrics(MHD_lookup_connection_value(conn,
		    MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
		web_metrics(&b, om);
		return reply_sbuf(conn, MHD_HTTP_OK, om
		    ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
		    : "text/plain; version=0.0.4; charset=utf-8", &b);
	}
	case ROUTE_PROCESSES:
	case ROUTE_PROCESS: {
		/* Environments hold secrets: only with the token. */
		const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_AUTHORIZATION);
		return get_processes(conn, &r, w->token && bearer_matches(auth, w->token));
	}
	case ROUTE_LOGS:
		return get_logs(conn, &r);
	case ROUTE_EVENTS:
		return get_events(w, conn);
	case ROUTE_SAMPLES:
		return get_samples(w, conn);
	case ROUTE_ACTION:
	case ROUTE_SCALE:
		if (D->shutting_down)
			return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the daemon is "
			    "shutting down");
		ret = check_token(w, conn, &ok);
		if (!ok)
			return ret;
		return r.kind == ROUTE_SCALE ? post_scale(conn, &r) : post_action(conn, &r);
	case ROUTE_NONE:
		break;
	}
	return reply_error(conn, MHD_HTTP_NOT_FOUND, "no such path");
}

/* The path as it came: route_parse() decodes each segment itself, after
 * splitting at the slashes (MHD's own decoding, on by default, made a
 * second pass: "50%25off" reached it as "50%off" and was refused). */
static size_t
keep_escaped(void *cls, struct MHD_Connection *conn, char *s)
{
	return strlen(s);
}

static void PRINTFLIKE(2, 0)
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	dlog("web: %s", msg);
	free(msg);
}

/* ---- start, stop ---- */

static int
bind_listen(const char *addr, char **err)
{
	char host[64];
	int port;
	char *perr = NULL;
	if (listen_parse(addr, host, sizeof(host), &port, &perr) < 0) {
		*err = perr;
		return -EINVAL;
	}
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else {
		inet_pton(AF_INET6, host, &s6->sin6_addr);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ss.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		*err = xasprintf("cannot listen on %s: %s", addr, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	return fd;
}

/* The token in path: the file must be ours and private (0600 or 0400, as
 * ssh wants of a key), hold one line of printable text. NULL with *err. */
static char *
read_token(const char *path, char **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 && errno == ELOOP) {
		/* As a Kubernetes secret volume mounts its files. */
		*err = xasprintf("the token file %s is a symbolic link: give the path of the file "
		    "itself", path);
		return NULL;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		*err = xasprintf("cannot read the token file %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	char *tok = NULL;
	if (!S_ISREG(st.st_mode))
		*err = xasprintf("the token file %s is not a regular file", path);
	else if (st.st_uid != geteuid())
		*err = xasprintf("the token file %s belongs to uid %d, not to corral's user (uid "
		    "%d)", path, (int)st.st_uid, (int)geteuid());
	else if (st.st_mode & 077)
		*err = xasprintf("the token file %s is readable or writable by others (mode "
		    "%04o): chmod 600 it", path, (unsigned)(st.st_mode & 07777));
	else if (st.st_size > WEB_TOKEN_MAX)
		*err = xasprintf("the token file %s is over %d bytes", path, WEB_TOKEN_MAX);
	if (*err) {
		close(fd);
		return NULL;
	}
	tok = xcalloc(1, WEB_TOKEN_MAX + 1);
	ssize_t n = read_retry(fd, tok, WEB_TOKEN_MAX);
	close(fd);
	size_t len = n > 0 ? (size_t)n : 0;
	while (len && (tok[len - 1] == '\n' || tok[len - 1] == '\r' || tok[len - 1] == ' '))
		tok[--len] = '\0';
	bool ok = len >= 8;
	for (size_t i = 0; ok && i < len; i++)
		ok = tok[i] > 0x20 && tok[i] < 0x7f;
	if (!ok) {
		*err = xasprintf("the token file %s must hold one token of at least 8 printable "
		    "characters, no spaces", path);
		free(tok);
		return NULL;
	}
	return tok;
}

static void
web_free(struct web *w)
{
	/* Streams end: their connections are resumed so MHD can close them. */
	struct sse *s;
	LIST_FOREACH(s, &w->streams, link) {
		s->ending = true;
		sse_wake(s);
	}
	if (w->mhd) {
		MHD_run(w->mhd);
		io_del(D->loop, &w->io);
		MHD_stop_daemon(w->mhd);
	}
	timer_stop(D->loop, &w->timer);
	timer_stop(D->loop, &w->heartbeat);
	timer_stop(D->loop, &w->sample_timer);
	for (size_t i = 0; i < WEB_SAMPLES; i++)
		free(w->samples[i]);
	if (w->listen_fd >= 0)
		close(w->listen_fd);
	free(w->listen);
	free(w->token_file);
	free(w->token);
	free(w);
}

int
web_start(const char *listen, const char *token_file, char **err)
{
	*err = NULL;
	if (mhd_load(err) < 0)
		return -ENOENT;
	char *token = NULL;
	if (token_file && *token_file && !(token = read_token(token_file, err)))
		return -EINVAL;
	struct web *old = D->web;
	/* The same address: the new server needs the old one's socket. */
	if (old && strcmp(old->listen, listen) == 0) {
		D->web = NULL;
		web_free(old);
		old = NULL;
	}
	int fd = bind_listen(listen, err);
	if (fd < 0) {
		free(token);
		return fd;
	}
	struct web *w = xcalloc(1, sizeof(*w));
	w->listen_fd = fd;
	w->listen = xstrdup(listen);
	char host[64];
	int port;
	char *perr = NULL;
	w->loopback = listen_parse(listen, host, sizeof(host), &port, &perr) == 0 &&
	    listen_is_loopback(host);
	free(perr);
	w->token_file = token_file && *token_file ? xstrdup(token_file) : NULL;
	w->token = token;
	LIST_INIT(&w->streams);
	timer_init(&w->timer, on_timer, w);
	timer_init(&w->heartbeat, on_heartbeat, w);
	timer_init(&w->sample_timer, on_sample, w);
	w->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_request, w,
	    /* First: MHD's messages about the other options go there too. */
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, WEB_MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WEB_CONN_MEMORY,
	    MHD_OPTION_CONNECTION_TIMEOUT, WEB_TIMEOUT_S,
	    MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1,
	    MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
	    MHD_OPTION_END);
	if (w->mhd)
		w->listen_fd = -1;   /* MHD's now: MHD_stop_daemon() closes it */
	const union MHD_DaemonInfo *info = w->mhd
	    ? MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if (!info || io_add(D->loop, &w->io, info->epoll_fd, EPOLLIN, on_io, w) < 0) {
		*err = xasprintf("cannot start the HTTP server on %s", listen);
		if (w->mhd)
			MHD_stop_daemon(w->mhd);
		w->mhd = NULL;
		web_free(w);
		return -EIO;
	}
	if (old)
		web_free(old);
	D->web = w;
	arm(w);
	dlog("web: serving on http://%s/%s", listen, w->token ? ""
	    : " (read-only: no token file)");
	return 0;
}

void
web_stop(void)
{
	if (!D->web)
		return;
	struct web *w = D->web;
	D->web = NULL;
	dlog("web: stopped serving on %s", w->listen);
	web_free(w);
}

json_t *
web_status_json(void)
{
	struct web *w = D->web;
	if (!w)
		return json_pack("{s:b}", "listening", 0);
	const union MHD_DaemonInfo *ci = MHD_get_daemon_info(w->mhd,
	    MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return json_pack("{s:b, s:s, s:b, s:s?, s:I, s:i, s:i, s:I}", "listening", 1,
	    "listen", w->listen, "token", w->token != NULL, "token_file", w->token_file,
	    "requests", (json_int_t)w->requests,
	    "connections", ci ? (int)ci->num_connections : 0, "streams", (int)w->nstreams,
	    "events_dropped", (json_int_t)w->dropped);
}

/* What the settings file says for key ("" when unset or unreadable). */
static char *
setting(json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));
	return xstrdup(v ? v : "");
}

static int
apply(const char *listen, const char *token_file, char **err)
{
	if (!*listen) {
		web_stop();
		return 0;
	}
	struct web *w = D->web;
	if (w && strcmp(w->listen, listen) == 0 &&
	    strcmp(w->token_file ? w->token_file : "", token_file) == 0)
		return 0;
	return web_start(listen, token_file, err);
}

int
web_reload_settings(char **err)
{
	*err = NULL;
	if (getenv("CORRAL_WEB_LISTEN"))
		return 0;       /* the environment wins over the file */
	json_t *obj = settings_load(D->paths.settings, err);
	if (!obj)
		return -EINVAL;
	char *listen = setting(obj, "web:listen");
	char *token_file = setting(obj, "web:token_file");
	json_decref(obj);
	int rc = apply(listen, token_file, err);
	free(listen);
	free(token_file);
	return rc;
}

void
web_init(void)
{
	char *err = NULL;
	const char *env = getenv("CORRAL_WEB_LISTEN");
	int rc;
	if (env) {
		const char *tf = getenv("CORRAL_WEB_TOKEN_FILE");
		rc = apply(env, tf ? tf : "", &err);
	} else {
		rc = web_reload_settings(&err);
	}
	if (rc < 0) {
		dlog("web: %s; not serving", err);
		if (D->runtime)
			fprintf(stderr, "corral runtime: web: %s; not serving\n", err);
	}
	free(err);
}
