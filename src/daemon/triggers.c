/*
 * triggers.c — cron_restart and watch.
 *
 * cron: the next firing time comes from cron_next() on the wall clock; the
 * timer is re-armed after every firing (and never drifts, since each delay
 * is computed from the wall clock again).
 *
 * watch: one inotify instance per watching app, a watch on every directory
 * under the watched paths (new directories are added as they appear),
 * events on ignored paths dropped, and a debounce of watch_delay so a burst
 * of saves gives one restart. The app's own log files never trigger it.
 */
#include "daemon/triggers.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cron.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/events.h"
#include "daemon/state.h"
#include "daemon/supervise.h"
#include "daemon/table.h"

#define WATCH_EVENTS (IN_CREATE | IN_DELETE | IN_MODIFY | IN_MOVED_FROM | \
    IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF)
#define MAX_WATCHED_DIRS 16384
/* One save is several events (create, modify, close_write, attrib) that
 * may come in separate reads: even with watch_delay 0 (PM2's default) they
 * are one change, so one restart. */
#define MIN_DEBOUNCE_MS 100

struct wdir {
	int wd;
	char *path;
};

struct watch {
	struct app *app;
	int fd;
	struct io io;
	struct wdir *dirs;
	size_t ndirs, cap;
	struct timer debounce;
	char *changed;          /* first path that changed, for the reason */
};

/* ---- cron ---- */

static void
cron_arm(struct app *a)
{
	time_t now = (time_t)(wall_ms() / 1000), next;
	if (cron_next(&a->cron->expr, now, &next) < 0) {
		dlog("%s: cron_restart never fires again", a->spec.name);
		return;
	}
	timer_start(D->loop, &a->cron->timer, (int64_t)next * 1000 - wall_ms());
}

static void
on_cron(struct loop *l, struct timer *t, void *arg)
{
	struct app *a = arg;
	/* The timer may fire a little early on a clock step: wait for the
	 * second itself. */
	time_t now = (time_t)(wall_ms() / 1000), next;
	if (cron_next(&a->cron->expr, now - 1, &next) == 0 && next > now) {
		timer_start(l, t, (int64_t)next * 1000 - wall_ms());
		return;
	}
	dlog("%s: cron_restart \"%s\" fired", a->spec.name, a->spec.cron_restart);
	struct inst *in;
	TAILQ_FOREACH(in, &a->insts, app_link) {
		/* As in PM2, a cron restart also starts a stopped app. */
		inst_restart(in, NULL);
		inst_set_reason(in, "cron_restart \"%s\"", a->spec.cron_restart);
	}
	/* Never twice in the same second. */
	time_t after = now;
	if (cron_next(&a->cron->expr, after, &next) == 0)
		timer_start(l, t, (int64_t)next * 1000 - wall_ms());
}

/* ---- watch ---- */

/* Does the glob pat (fnmatch, '*' stays within a component) match the
 * leading components of path, up to some '/' or to its end? A pattern
 * that names a directory then ignores everything below it. */
static bool
match_prefix(const char *pat, const char *path)
{
	char *copy = xstrdup(path);
	bool hit = false;
	for (char *p = copy; !hit;) {
		char *slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		hit = fnmatch(pat, copy, FNM_PATHNAME) == 0;
		if (!slash)
			break;
		*slash = '/';
		p = slash + 1;
	}
	free(copy);
	return hit;
}

/*
 * An ignore_watch pattern as PM2 users write them for chokidar:
 *   "node_modules", "*.log"   no '/': any component, anywhere in the tree
 *   "logs/old", "./tmp"       relative to the app's cwd
 *   "/var/cache"              absolute
 *   "**" + "/x", "x/" + "**"  any depth before; everything below
 * rel is the path relative to cwd (or absolute outside it).
 */
static bool
pattern_ignores(const char *pattern, const char *rel, const char *abs)
{
	char *pat = xstrdup(pattern);
	bool anywhere = false;
	if (str_starts(pat, "**/")) {
		memmove(pat, pat + 3, strlen(pat + 3) + 1);
		anywhere = true;
	} else if (str_starts(pat, "./")) {
		memmove(pat, pat + 2, strlen(pat + 2) + 1);
	}
	size_t n = strlen(pat);
	if (n > 3 && strcmp(pat + n - 3, "/**") == 0)
		pat[n -= 3] = '\0';
	while (n > 1 && pat[n - 1] == '/')
		pat[--n] = '\0';
	bool hit = false;
	if (pat[0] == '/') {
		hit = match_prefix(pat, abs);
	} else if (anywhere || !strchr(pat, '/')) {
		for (const char *c = rel; c && !hit; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL)
			hit = match_prefix(pat, c);
	} else {
		hit = match_prefix(pat, rel);
	}
	free(pat);
	return hit;
}

/* path relative to root ("" for root itself), or NULL when outside it. */
static const char *
under_root(const char *path, const char *root)
{
	size_t n = strlen(root);
	if (n == 1 && root[0] == '/')
		return path[0] == '/' ? path + 1 : NULL;
	if (strncmp(path, root, n) != 0)
		return NULL;
	if (path[n] == '\0')
		return path + n;
	return path[n] == '/' ? path + n + 1 : NULL;
}

static bool
is_ignored(const struct watch *w, const char *path)
{
	const struct spec *s = &w->app->spec;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	/* Never restart because the app wrote its own logs or pid file. */
	struct inst *in;
	TAILQ_FOREACH(in, &w->app->insts, app_link) {
		const char *own[] = {in->out_path, in->err_path, in->log_path, in->pid_path};
		for (size_t i = 0; i < ARRAY_LEN(own); i++)
			if (own[i] && strcmp(own[i], path) == 0)
				return true;
	}
	if (str_starts(path, D->paths.home) &&
	    (path[strlen(D->paths.home)] == '/' || path[strlen(D->paths.home)] == '\0'))
		return true;
	/* What was asked for is watched even inside a dot-folder: only what
	 * lies below the deepest watched root is judged. Patterns like
	 * "logs/x.log" are relative to the app's directory. */
	const char *below = under_root(path, s->cwd);
	for (size_t i = 0; s->watch_paths[i]; i++) {
		const char *r = under_root(path, s->watch_paths[i]);
		if (r && (!below || strlen(r) < strlen(below)))
			below = r;
	}
	if (below && !*below)
		return false;
	const char *rel = under_root(path, s->cwd);
	if (!rel)
		rel = path;
	size_t npat = strv_len(s->ignore_watch);
	if (npat == 0) {
		/* Default: node_modules and anything inside a dot-folder. */
		for (const char *c = below ? below : rel; c;
		    c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL) {
			if (c[0] == '.' && c[1] != '\0' && c[1] != '/')
				return true;
			if (str_starts(c, "node_modules") && (c[12] == '/' || c[12] == '\0'))
				return true;
		}
		return false;
	}
	for (size_t i = 0; i < npat; i++)
		if (fnmatch(s->ignore_watch[i], base, 0) == 0 ||
		    pattern_ignores(s->ignore_watch[i], rel, path))
			return true;
	return false;
}

static void
watch_add_tree(struct watch *w, const char *path)
{
	if (w->ndirs >= MAX_WATCHED_DIRS || is_ignored(w, path))
		return;
	int wd = inotify_add_watch(w->fd, path, WATCH_EVENTS | IN_ONLYDIR);
	if (wd < 0) {
		if (errno != ENOTDIR && errno != ENOENT)
			dlog("%s: cannot watch %s: %s", w->app->spec.name, path, strerror(errno));
		return;
	}
	for (size_t i = 0; i < w->ndirs; i++)
		if (w->dirs[i].wd == wd)
			return;
	if (w->ndirs == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->dirs = xrealloc(w->dirs, w->cap * sizeof(*w->dirs));
	}
	w->dirs[w->ndirs].wd = wd;
	w->dirs[w->ndirs].path = xstrdup(path);
	w->ndirs++;
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)
			continue;
		char *sub = xasprintf("%s/%s", path, e->d_name);
		struct stat st;
		if (e->d_type == DT_DIR || (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)))
			watch_add_tree(w, sub);
		free(sub);
	}
	closedir(d);
}

static const char *
dir_of(const struct watch *w, int wd)
{
	for (size_t i = 0; i < w->ndirs; i++)
		if (w->dirs[i].wd == wd)
			return w->dirs[i].path;
	return NULL;
}

static void
on_debounce(struct loop *l, struct timer *t, void *arg)
{
	struct watch *w = arg;
	struct app *a = w->app;
	dlog("%s: %s changed, restarting", a->spec.name, w->changed ? w->changed : "a file");
	struct inst *in;
	TAILQ_FOREACH(in, &a->insts, app_link) {
		if (in->state == ST_STOPPED || in->state == ST_ERRORED)
			continue;
		inst_restart(in, NULL);
		inst_set_reason(in, "watch: %s changed", w->changed ? w->changed : "a file");
	}
	free(w->changed);
	w->changed = NULL;
}

static void
on_inotify(struct loop *l, struct io *io, uint32_t events, void *arg)
{
	struct watch *w = arg;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read_retry(w->fd, buf, sizeof(buf));
		if (n <= 0)
			return;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			const char *dir = dir_of(w, ev->wd);
			if (!dir || (ev->mask & IN_IGNORED))
				continue;
			char *path = ev->len ? xasprintf("%s/%s", dir, ev->name) : xstrdup(dir);
			if (!is_ignored(w, path)) {
				if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && (ev->mask & IN_ISDIR))
					watch_add_tree(w, path);
				if (!w->changed)
					w->changed = xstrdup(path);
				int64_t delay = w->app->spec.watch_delay;
				timer_start(D->loop, &w->debounce,
				    delay > MIN_DEBOUNCE_MS ? delay : MIN_DEBOUNCE_MS);
			}
			free(path);
		}
	}
}

static void
watch_free_mem(void *p)
{
	struct watch *w = p;
	for (size_t i = 0; i < w->ndirs; i++)
		free(w->dirs[i].path);
	free(w->dirs);
	free(w->changed);
	free(w);
}

/* Stop watching now; free after the batch (an inotify event for w may
 * still be pending in it). */
static void
watch_free(struct watch *w)
{
	io_del(D->loop, &w->io);
	close(w->fd);
	timer_stop(D->loop, &w->debounce);
	loop_defer_free(D->loop, w, watch_free_mem);
}

static void
watch_start(struct app *a)
{
	struct watch *w = xcalloc(1, sizeof(*w));
	w->app = a;
	w->fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (w->fd < 0 || io_add(D->loop, &w->io, w->fd, EPOLLIN, on_inotify, w) < 0) {
		dlog("%s: cannot watch files: %s", a->spec.name, strerror(errno));
		if (w->fd >= 0)
			close(w->fd);
		free(w);
		return;
	}
	timer_init(&w->debounce, on_debounce, w);
	a->watch = w;
	if (strv_len(a->spec.watch_paths) == 0)
		watch_add_tree(w, a->spec.cwd);
	for (size_t i = 0; a->spec.watch_paths[i]; i++) {
		struct stat st;
		const char *p = a->spec.watch_paths[i];
		if (stat(p, &st) == 0 && !S_ISDIR(st.st_mode)) {
			/* A single file: watch its directory, keep its events. */
			char *dir = xstrdup(p);
			char *slash = strrchr(dir, '/');
			if (slash && slash != dir)
				*slash = '\0';
			watch_add_tree(w, dir);
			free(dir);
		} else {
			watch_add_tree(w, p);
		}
	}
	dlog("%s: watching %zu director%s", a->spec.name, w->ndirs, w->ndirs == 1 ? "y" : "ies");
}

void
triggers_set_watch(struct app *a, bool on)
{
	a->spec.watch = on;
	app_spec_changed(a);
	if (a->watch && !on) {
		watch_free(a->watch);
		a->watch = NULL;
	} else if (!a->watch && on) {
		watch_start(a);
	}
}

void
triggers_stop(struct app *a)
{
	if (a->cron) {
		timer_stop(D->loop, &a->cron->timer);
		free(a->cron);
		a->cron = NULL;
	}
	if (a->watch) {
		watch_free(a->watch);
		a->watch = NULL;
	}
}

void
triggers_start(struct app *a)
{
	triggers_stop(a);
	if (a->spec.cron_restart && *a->spec.cron_restart) {
		char *err = NULL;
		struct app_cron *c = xcalloc(1, sizeof(*c));
		if (cron_parse(a->spec.cron_restart, &c->expr, &err) == 0) {
			timer_init(&c->timer, on_cron, a);
			a->cron = c;
			cron_arm(a);
		} else {
			dlog("%s: %s", a->spec.name, err);
			free(err);
			free(c);
		}
	}
	if (a->spec.watch)
		watch_start(a);
}

void
triggers_on_event(const struct event *ev, void *arg)
{
	if (ev->kind == EV_APP_REMOVE)
		triggers_stop(ev->app);
}
