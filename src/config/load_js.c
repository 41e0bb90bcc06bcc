/*
 * load_js.c — ecosystem.config.js (.cjs, .mjs) evaluated by node.
 *
 * PM2 require()s a JavaScript config inside its own CLI; corral has no
 * JavaScript engine, so it runs `node -e <EVAL_SCRIPT> -- <mode> <file>` as
 * a child in its own process group, with the config's directory as cwd:
 *
 *     fd 0  /dev/null
 *     fd 1  our stderr          (a config's console.log stays visible)
 *     fd 2  a pipe, captured    (replayed, or mined for an error message)
 *     fd 3  a pipe, the answer  "R<json>\n" or "E<json string>\n"
 *
 * The answer is complete at its newline; then the whole group is killed, so
 * a config that leaves a timer or a server behind does not hold us up, and
 * neither does a grandchild that inherited fd 3. A child that has not
 * answered by the deadline is killed and reported as a timeout.
 */
#include "config/doc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

#define JS_DEFAULT_TIMEOUT_MS 10000
#define JS_MAX_STDERR_BYTES ((size_t)64 << 10)
#define JS_MAX_MESSAGE_BYTES 400

/*
 * Runs in node as CommonJS. argv: [node, mode, file]. Mode "module" loads
 * with require() (import() for .mjs, or when require refuses an ES module)
 * and unwraps a module namespace to its default export, or to its named
 * exports. Mode "expr" evaluates "(<file text>)" as PM2 does for .json.
 * A SyntaxError that carries no location (ES modules) is rethrown uncaught,
 * so that node prints the file and line, which load_js reads from stderr.
 * The globals "node -e" defines (module, require, ...) are removed first: an
 * ES module that assigns module.exports must fail as it does under PM2
 * ("module is not defined in ES module scope"), not write into ours.
 */
static const char EVAL_SCRIPT[] =
    "'use strict';\n"
    "const fs = require('fs'), path = require('path'), url = require('url');\n"
    "const mode = process.argv[1], file = path.resolve(process.argv[2]), load = require;\n"
    "for (const k of ['module', 'exports', 'require', '__filename', '__dirname'])\n"
    "  delete globalThis[k];\n"
    "function send(tag, json) {\n"
    "  const buf = Buffer.from(tag + json + '\\n');\n"
    "  let off = 0;\n"
    "  while (off < buf.length) off += fs.writeSync(3, buf, off, buf.length - off);\n"
    "}\n"
    "function where(e) {\n"
    "  const st = (e !== null && typeof e === 'object' && typeof e.stack === 'string')\n"
    "    ? e.stack.split('\\n') : [];\n"
    "  let m = st.length ? /^((?:file:\\/\\/)?\\/.*):(\\d+)$/.exec(st[0]) : null;\n"
    "  for (let i = 1; !m && i < st.length; i++)\n"
    "    m = /^\\s+at (?:.* \\()?((?:file:\\/\\/)?\\/.*?):(\\d+):\\d+\\)?$/.exec(st[i]);\n"
    "  if (!m) return '';\n"
    "  let f = m[1];\n"
    "  if (f.startsWith('file://')) { try { f = url.fileURLToPath(f); } catch (_) {} }\n"
    "  return ' (at ' + f + ':' + m[2] + ')';\n"
    "}\n"
    "function fail(e) {\n"
    "  if (e instanceof SyntaxError && !where(e)) { setImmediate(() => { throw e; }); return; }\n"
    "  let text;\n"
    "  try {\n"
    "    text = (e !== null && typeof e === 'object' && typeof e.message === 'string')\n"
    "      ? (e.name || 'Error') + ': ' + e.message : 'threw ' + String(e);\n"
    "  } catch (_) { text = 'threw a value that cannot be shown'; }\n"
    "  const lines = text.split('\\n');\n"
    "  const hint = lines.slice(1).join(' ').split(/(?<=\\.) /).find((t) => t.includes('.cjs'));\n"
    "  send('E', JSON.stringify(lines[0] + where(e) +\n"
    "    (hint && lines[0].includes('ES module scope') ? '. ' + hint.trim() : '')));\n"
    "  process.exit(1);\n"
    "}\n"
    "function done(v, ns) {\n"
    "  if (ns || (v !== null && typeof v === 'object' && v[Symbol.toStringTag] === 'Module'))\n"
    "    v = ('default' in v) ? v.default : Object.assign({}, v);\n"
    "  let json;\n"
    "  try { json = JSON.stringify(v); } catch (e) { return fail(e); }\n"
    "  send('R', json === undefined ? 'null' : json);\n"
    "  process.exit(0);\n"
    "}\n"
    "function esm() { import(url.pathToFileURL(file).href).then((ns) => done(ns, true), fail); }\n"
    "try {\n"
    "  if (mode === 'expr') {\n"
    "    let text = fs.readFileSync(file, 'utf8');\n"
    "    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);\n"
    "    done(load('vm').runInThisContext('(' + text + '\\n)', { filename: file }), false);\n"
    "  } else if (file.endsWith('.mjs')) {\n"
    "    esm();\n"
    "  } else {\n"
    "    let v, viaImport = false;\n"
    "    try { v = load(file); } catch (e) {\n"
    "      if (!e || (e.code !== 'ERR_REQUIRE_ESM' && e.code !== 'ERR_REQUIRE_ASYNC_MODULE'))\n"
    "        throw e;\n"
    "      viaImport = true;\n"
    "    }\n"
    "    if (viaImport) esm(); else done(v, false);\n"
    "  }\n"
    "} catch (e) { fail(e); }\n";

/* The node executable on PATH (caller frees), or NULL. */
static char *
find_node(void)
{
	const char *path = getenv("PATH");
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path;;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		/* An empty PATH entry means the current directory. */
		char *candidate = n ? xasprintf("%.*s/node", (int)n, p) : xstrdup("./node");
		struct stat st;
		if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(candidate, X_OK) == 0) {
			/* node runs in the config's directory: no relative path. */
			char *cwd = candidate[0] == '/' ? NULL : getcwd(NULL, 0);
			if (cwd != NULL) {
				char *abs = xasprintf("%s/%s", cwd, candidate);
				free(cwd);
				free(candidate);
				candidate = abs;
			}
			return candidate;
		}
		free(candidate);
		if (colon == NULL)
			return NULL;
		p = colon + 1;
	}
}

bool
config_doc_have_node(void)
{
	char *node = find_node();
	free(node);
	return node != NULL;
}

static int
timeout_ms(void)
{
	return (int)env_number("CORRAL_CONFIG_TIMEOUT_MS", 1, 24LL * 3600 * 1000,
	    JS_DEFAULT_TIMEOUT_MS);
}

/* Move fd above the standard descriptors and fd 3, CLOEXEC; -errno. */
static int
fd_move_high(int fd)
{
	int high = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	int saved = errno;
	close(fd);
	return high < 0 ? -saved : high;
}

static int
pipe_high(int fds[2])
{
	int raw[2];
	if (pipe2(raw, O_CLOEXEC) < 0)
		return -errno;
	fds[0] = fd_move_high(raw[0]);
	fds[1] = fd_move_high(raw[1]);
	if (fds[0] < 0 || fds[1] < 0) {
		int rc = fds[0] < 0 ? fds[0] : fds[1];
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		return rc;
	}
	return 0;
}

static void
close_pair(int fds[2])
{
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/* The absolute form of path and its directory (both for the caller to
 * free), without resolving symlinks, as PM2's path.resolve does. */
static int
absolute_path(const char *path, char **abs, char **dir)
{
	if (path[0] == '/') {
		*abs = xstrdup(path);
	} else {
		char *cwd = getcwd(NULL, 0);
		if (cwd == NULL)
			return -errno;
		*abs = xasprintf("%s/%s", cwd, path);
		free(cwd);
	}
	*dir = xstrdup(*abs);
	char *slash = strrchr(*dir, '/');
	slash[slash == *dir ? 1 : 0] = '\0';
	return 0;
}

struct js_child {
	pid_t pid;
	int answer_fd;	/* our end of the child's fd 3 */
	int stderr_fd;	/* our end of the child's fd 2 */
};

/*
 * Fork and exec node in its own process group. Exec failures come back
 * through a CLOEXEC pipe: EOF means node is running. 0 or -errno.
 */
static int
spawn_node(const char *node, const char *dir, const char *file, const char *mode,
    struct js_child *child)
{
	int answer[2] = {-1, -1}, errp[2] = {-1, -1}, execp[2] = {-1, -1};
	int devnull = -1, rc;
	char *argv[] = {(char *)node, (char *)"-e", (char *)EVAL_SCRIPT, (char *)"--",
	    (char *)mode, (char *)file, NULL};

	if ((rc = pipe_high(answer)) < 0 || (rc = pipe_high(errp)) < 0 ||
	    (rc = pipe_high(execp)) < 0)
		goto fail;
	int raw = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (raw < 0) {
		rc = -errno;
		goto fail;
	}
	if ((devnull = fd_move_high(raw)) < 0) {
		rc = devnull;
		devnull = -1;
		goto fail;
	}

	pid_t pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto fail;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		setpgid(0, 0);
		if (chdir(dir) < 0 || dup2(devnull, 0) < 0 ||
		    (dup2(2, 1) < 0 && dup2(devnull, 1) < 0) ||
		    dup2(errp[1], 2) < 0 || dup2(answer[1], 3) < 0)
			goto child_fail;
		/* Whatever else the parent left open stays out of node. */
		close_range(4, ~0U, CLOSE_RANGE_CLOEXEC);
		execv(node, argv);
child_fail:
		{
			int e = errno;
			(void)!write(execp[1], &e, sizeof(e));
			_exit(127);
		}
	}

	/* Also from this side, so that a kill of the group cannot miss it. */
	setpgid(pid, pid);
	close(answer[1]);
	close(errp[1]);
	close(execp[1]);
	close(devnull);
	answer[1] = errp[1] = execp[1] = devnull = -1;

	int exec_errno = 0;
	ssize_t n = read_retry(execp[0], &exec_errno, sizeof(exec_errno));
	close(execp[0]);
	if (n == (ssize_t)sizeof(exec_errno)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		close_pair(answer);
		close_pair(errp);
		return -(exec_errno ? exec_errno : ENOEXEC);
	}
	fd_set_nonblock(answer[0], true);
	fd_set_nonblock(errp[0], true);
	child->pid = pid;
	child->answer_fd = answer[0];
	child->stderr_fd = errp[0];
	return 0;

fail:
	close_pair(answer);
	close_pair(errp);
	close_pair(execp);
	if (devnull >= 0)
		close(devnull);
	return rc;
}

/* Read what fd has now into b, keeping at most max bytes (the rest is read
 * and dropped, setting *overflow). True at end of file or on an error. */
static bool
drain(int fd, struct sbuf *b, size_t max, bool *overflow)
{
	char chunk[8192];
	for (;;) {
		ssize_t n = read_retry(fd, chunk, sizeof(chunk));
		if (n == -EAGAIN)
			return false;
		if (n <= 0)
			return true;
		size_t room = b->len < max ? max - b->len : 0;
		if ((size_t)n > room)
			*overflow = true;
		sbuf_add(b, chunk, (size_t)n < room ? (size_t)n : room);
	}
}

/* Whether the child has exited, without reaping it (so that its pid, and
 * with it its process group id, cannot be reused before we kill the group). */
static bool
child_exited(pid_t pid)
{
	siginfo_t info;
	memset(&info, 0, sizeof(info));
	if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno != EINTR;	/* ECHILD: someone reaped it already */
	return info.si_pid == pid;
}

struct js_outcome {
	struct sbuf answer;
	struct sbuf stderr_text;
	bool answer_overflow;
	bool timed_out;
	bool status_known;
	int status;
};

/* Collect the child's answer and stderr until it answers, exits or runs out
 * of time; then kill its process group and reap it. */
static void
collect(struct js_child *child, int limit_ms, struct js_outcome *o)
{
	bool answer_open = true, stderr_open = true, stderr_overflow = false;
	int64_t deadline = mono_ms() + limit_ms;
	for (;;) {
		if (o->answer.len > 0 && memchr(o->answer.s, '\n', o->answer.len) != NULL)
			break;
		if (child_exited(child->pid)) {
			/* Its last words are in the pipes already. */
			if (answer_open)
				drain(child->answer_fd, &o->answer, CONFIG_DOC_MAX_BYTES + 2,
				    &o->answer_overflow);
			if (stderr_open)
				drain(child->stderr_fd, &o->stderr_text, JS_MAX_STDERR_BYTES,
				    &stderr_overflow);
			break;
		}
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			o->timed_out = true;
			break;
		}
		struct pollfd pfd[2];
		nfds_t nfds = 0;
		if (answer_open)
			pfd[nfds++] = (struct pollfd){.fd = child->answer_fd, .events = POLLIN};
		if (stderr_open)
			pfd[nfds++] = (struct pollfd){.fd = child->stderr_fd, .events = POLLIN};
		/* With both pipes closed only the exit is left to wait for, which
		 * poll cannot see: look again soon. */
		int wait_ms = nfds ? 100 : 10;
		if (left < wait_ms)
			wait_ms = (int)left;
		if (poll(pfd, nfds, wait_ms) < 0 && errno != EINTR)
			break;
		for (nfds_t i = 0; i < nfds; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (pfd[i].fd == child->answer_fd)
				answer_open = !drain(child->answer_fd, &o->answer,
				    CONFIG_DOC_MAX_BYTES + 2, &o->answer_overflow);
			else
				stderr_open = !drain(child->stderr_fd, &o->stderr_text,
				    JS_MAX_STDERR_BYTES, &stderr_overflow);
		}
	}
	/* What the config printed before answering is in the pipe by now. */
	if (stderr_open)
		drain(child->stderr_fd, &o->stderr_text, JS_MAX_STDERR_BYTES, &stderr_overflow);
	/* Timers, servers and children the config started go with it. */
	kill(-child->pid, SIGKILL);
	kill(child->pid, SIGKILL);
	pid_t r;
	while ((r = waitpid(child->pid, &o->status, 0)) < 0 && errno == EINTR)
		;
	o->status_known = r == child->pid;
	close(child->answer_fd);
	close(child->stderr_fd);
}

/* s[0, n) as one printable line of bounded length (caller frees). */
static char *
one_line(const char *s, size_t n)
{
	struct sbuf b = SBUF_INIT;
	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	for (size_t i = 0; i < n && b.len < JS_MAX_MESSAGE_BYTES; i++) {
		unsigned char c = (unsigned char)s[i];
		sbuf_addc(&b, c < 0x20 || c == 0x7f ? ' ' : (char)c);
	}
	if (b.len >= JS_MAX_MESSAGE_BYTES) {
		/* Do not end inside a UTF-8 sequence. */
		while (b.len > 0 && ((unsigned char)b.s[b.len - 1] & 0xC0) == 0x80)
			b.len--;
		if (b.len > 0 && ((unsigned char)b.s[b.len - 1] & 0x80))
			b.len--;
		b.s[b.len] = '\0';
		sbuf_adds(&b, "...");
	}
	while (b.len > 0 && b.s[b.len - 1] == ' ')
		b.s[--b.len] = '\0';
	return sbuf_take(&b);
}

static bool
is_ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '_' || c == '$';
}

/* "SyntaxError: ...", "Error [ERR_X]: ...", "RangeError: ..." */
static bool
is_error_line(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && is_ident_char(s[i]))
		i++;
	if (i < 5 || i >= n || (s[i] != ':' && s[i] != ' '))
		return false;
	return (i >= 5 && memcmp(s + i - 5, "Error", 5) == 0) ||
	    (i >= 9 && memcmp(s + i - 9, "Exception", 9) == 0);
}

/* "file:///a/b.js:3" or "/a/b.js:3": the path and line (caller frees). */
static char *
location_line(const char *s, size_t n)
{
	const char *p = s;
	if (n >= 7 && memcmp(s, "file://", 7) == 0)
		p += 7;
	size_t k = n - (size_t)(p - s);
	if (k < 3 || p[0] != '/')
		return NULL;
	size_t j = k;
	while (j > 0 && p[j - 1] >= '0' && p[j - 1] <= '9')
		j--;
	if (j == k || j < 2 || p[j - 1] != ':')
		return NULL;
	return xstrndup(p, k);
}

/* "    at f (/a/b.js:3:7)" or "    at /a/b.js:3:7": "/a/b.js:3" (caller frees). */
static char *
frame_location(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == 0 || n - i < 3 || memcmp(s + i, "at ", 3) != 0)
		return NULL;
	const char *start = memchr(s + i, '(', n - i);
	start = start ? start + 1 : s + i + 3;
	const char *end = s + n;
	if (end > start && end[-1] == ')')
		end--;
	/* Drop ":col", keep "path:line". */
	const char *colon = end;
	while (colon > start && colon[-1] != ':')
		colon--;
	if (colon <= start + 1)
		return NULL;
	return location_line(start, (size_t)(colon - 1 - start));
}

/* The one-line error for a node that died without answering, from what it
 * printed on stderr (node's report of an uncaught exception, usually). */
static char *
crash_message(const char *path, const struct js_outcome *o)
{
	const char *text = o->stderr_text.s ? o->stderr_text.s : "";
	size_t len = o->stderr_text.len;
	char *where = NULL, *what = NULL, *first = NULL, *frame = NULL;
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - text) - pos : len - pos;
		const char *line = text + pos;
		pos += n + 1;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			continue;
		char *loc = location_line(line, n);
		if (loc != NULL && where == NULL && first == NULL) {
			where = loc;
			continue;
		}
		free(loc);
		if (first == NULL)
			first = one_line(line, n);
		if (what == NULL && is_error_line(line, n))
			what = one_line(line, n);
		if (frame == NULL && what != NULL)
			frame = frame_location(line, n);
	}
	if (where == NULL) {
		where = frame;
		frame = NULL;
	}
	if (what == NULL) {
		what = first;
		first = NULL;
	}

	char *msg;
	if (what != NULL && where != NULL)
		msg = xasprintf("%s: %s (at %s)", path, what, where);
	else if (what != NULL)
		msg = xasprintf("%s: %s", path, what);
	else if (o->status_known && WIFSIGNALED(o->status))
		msg = xasprintf("%s: node was killed by signal %d (%s) while evaluating the config",
		    path, WTERMSIG(o->status), strsignal(WTERMSIG(o->status)));
	else if (o->status_known && WIFEXITED(o->status) && WEXITSTATUS(o->status) == 0)
		msg = xasprintf("%s: node exited before the config was evaluated (does it call "
		    "process.exit()?)", path);
	else if (o->status_known && WIFEXITED(o->status))
		msg = xasprintf("%s: node exited with status %d without evaluating the config", path,
		    WEXITSTATUS(o->status));
	else
		msg = xasprintf("%s: node stopped without evaluating the config", path);
	free(where);
	free(what);
	free(first);
	free(frame);
	return msg;
}

/* Turn a complete answer into the tree or the error message. */
static int
read_answer(const char *path, const struct js_outcome *o, json_t **root, char **err)
{
	const char *nl = memchr(o->answer.s, '\n', o->answer.len);
	size_t body_len = (size_t)(nl - o->answer.s) - 1;
	json_error_t jerr;
	json_t *body = json_loadb(o->answer.s + 1, body_len, JSON_DECODE_ANY, &jerr);
	if (body == NULL) {
		*err = xasprintf("%s: cannot read what node made of the config: %s", path, jerr.text);
		return -EINVAL;
	}
	if (o->answer.s[0] == 'R') {
		*root = body;
		return 0;
	}
	const char *text = json_string_value(body);
	char *line = text ? one_line(text, strlen(text)) : xstrdup("unknown error");
	*err = xasprintf("%s: %s", path, line);
	free(line);
	json_decref(body);
	return -EINVAL;
}

int
config_doc_eval_js(const char *path, bool as_expression, json_t **root, char **err)
{
	char *node = NULL, *abs = NULL, *dir = NULL;
	struct js_outcome o = {SBUF_INIT, SBUF_INIT, false, false, false, 0};
	int limit_ms = timeout_ms();
	int rc;
	*root = NULL;
	*err = NULL;

	if ((node = find_node()) == NULL) {
		*err = xasprintf("%s: a JavaScript config needs node, which is not on PATH", path);
		rc = -ENOENT;
		goto out;
	}
	if ((rc = absolute_path(path, &abs, &dir)) < 0) {
		*err = xasprintf("%s: %s", path, strerror(-rc));
		goto out;
	}
	struct js_child child = {-1, -1, -1};
	rc = spawn_node(node, dir, abs, as_expression ? "expr" : "module", &child);
	if (rc < 0) {
		*err = xasprintf("%s: cannot run %s: %s", path, node, strerror(-rc));
		goto out;
	}
	collect(&child, limit_ms, &o);

	bool answered = o.answer.len > 0 && memchr(o.answer.s, '\n', o.answer.len) != NULL &&
	    (o.answer.s[0] == 'R' || o.answer.s[0] == 'E');
	if (answered) {
		/* What the config printed on stderr, the user should see. */
		if (o.stderr_text.len > 0)
			(void)write_all(STDERR_FILENO, o.stderr_text.s, o.stderr_text.len);
		rc = read_answer(path, &o, root, err);
	} else if (o.answer_overflow) {
		*err = xasprintf("%s: the config evaluates to more than %zu MiB of JSON", path,
		    CONFIG_DOC_MAX_BYTES >> 20);
		rc = -EFBIG;
	} else if (o.timed_out) {
		*err = xasprintf("%s: node did not finish evaluating the config within %g s "
		    "(an infinite loop or a pending timer?)", path, limit_ms / 1000.0);
		rc = -ETIMEDOUT;
	} else {
		*err = crash_message(path, &o);
		rc = -EINVAL;
	}
out:
	sbuf_free(&o.answer);
	sbuf_free(&o.stderr_text);
	free(node);
	free(abs);
	free(dir);
	return rc;
}
