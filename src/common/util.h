/*
 * util.h — small helpers every part of corral (except the preload library)
 * shares: allocation that aborts on out-of-memory, EINTR-safe I/O, clocks,
 * and a growable string buffer.
 *
 * The daemon and the CLI treat out-of-memory as fatal (tmux/Redis style);
 * code that runs inside apps (src/preload) never includes this header.
 */
#ifndef CORRAL_UTIL_H
#define CORRAL_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PRINTFLIKE(f, a) __attribute__((format(printf, f, a)))
#define NORETURN __attribute__((noreturn))

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTFLIKE(1, 2);
char *xvasprintf(const char *fmt, va_list ap) PRINTFLIKE(1, 0);

/* Abort with a message: for impossible states only. */
void fatal(const char *fmt, ...) PRINTFLIKE(1, 2) NORETURN;

/* read(2)/write(2) retried on EINTR; return -errno on failure. */
ssize_t read_retry(int fd, void *buf, size_t len);
ssize_t write_retry(int fd, const void *buf, size_t len);
/* Write all of buf (blocking fds only); 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);
/* Read a whole (small) file into a NUL-terminated buffer; 0 or -errno. */
int read_file(const char *path, char **out, size_t *out_len, size_t max_len);
/* The path of the binary process pid runs (0: this process) into buf, as
 * installed now: a binary replaced on disk since it started reads
 * "<path> (deleted)", and the suffix is dropped. Its length, or -1. */
ssize_t exe_path_of(pid_t pid, char *buf, size_t cap);
/* In a child about to exec: no signal blocked, SIGPIPE at its default. */
void child_signals_reset(void);

int fd_set_nonblock(int fd, bool on);
int fd_set_cloexec(int fd, bool on);

/* The environment variable name as a whole decimal number in [min, max],
 * or dflt when it is unset, empty, not a number or out of range. */
long long env_number(const char *name, long long min, long long max, long long dflt);

/* Milliseconds on CLOCK_MONOTONIC and on the wall clock. */
int64_t mono_ms(void);
/* The same in microseconds. */
int64_t mono_us(void);
int64_t wall_ms(void);

/* Growable NUL-terminated string. */
struct sbuf {
	char *s;
	size_t len;
	size_t cap;
};
#define SBUF_INIT {NULL, 0, 0}
void sbuf_add(struct sbuf *b, const char *s, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_addc(struct sbuf *b, char c);
void sbuf_addf(struct sbuf *b, const char *fmt, ...) PRINTFLIKE(2, 3);
void sbuf_reset(struct sbuf *b);
/* Write to fd (non-blocking) what it takes of b, and drop that from b's
 * front. 0 when all of it went, -EAGAIN when fd is full and the rest
 * waits in b, or another -errno (-EIO when nothing could be written). */
int sbuf_write(struct sbuf *b, int fd);
/* Hand the string to the caller (never NULL) and reset the buffer. */
char *sbuf_take(struct sbuf *b);
void sbuf_free(struct sbuf *b);

bool str_starts(const char *s, const char *prefix);
bool str_ends(const char *s, const char *suffix);
/* Edit distance for "did you mean" suggestions: insertions, deletions,
 * substitutions and swaps of two neighbouring letters ("lsit") cost 1. */
int str_distance(const char *a, const char *b);
/* Quote s for a POSIX shell when it needs quoting; caller frees. */
char *shell_quote(const char *s);

/* Length (1-4) of the well-formed UTF-8 sequence at s, 0 if it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are not). */
size_t utf8_seq_len(const char *s, size_t n);
bool utf8_valid(const char *s, size_t n);
/* s with every byte that does not start a UTF-8 sequence replaced by
 * U+FFFD, for a JSON string; its length in *len. Caller frees. */
char *utf8_replaced(const char *s, size_t n, size_t *len);

/* Standard base64 of n bytes; caller frees. Decoding returns -EINVAL on bad
 * input, else the decoded length, into out (at least 3*len/4+3 bytes). */
char *base64_encode(const void *data, size_t n);
ssize_t base64_decode(const char *s, size_t len, void *out);

/* A connected SOCK_STREAM unix socket to path (close-on-exec), or -errno. */
int unix_connect(const char *path);

/* mkdir -p with the given mode (not masked by the umask) for every created
 * level; existing levels are left as they are. 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);

#endif
