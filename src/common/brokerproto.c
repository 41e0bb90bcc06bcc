/*
 * brokerproto.c — encode and decode the preload ↔ broker messages described
 * in brokerproto.h.
 *
 * The decoders are strict: a message decodes only if it is exactly what the
 * matching encoder would have written (single spaces, decimal numbers without
 * sign or leading zeros, the address in inet_ntop's canonical form). So for
 * any buffer that decodes, encode(decode(buf)) == buf, and the fuzzer can
 * check that property. The encoders refuse any struct the decoder would
 * refuse, so what one side writes the other side always reads.
 *
 * Pure: no allocation, no stdio, no util.h; this file is linked into
 * libcorral-preload.so as well as into the daemon.
 */
#include "common/brokerproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#define MAX_FIELDS 8
/* Linux errno values are below 4096 (MAX_ERRNO in the kernel). */
#define BROKER_ERRNO_MAX 4095

/* One space-separated word of a message: a pointer into the buffer and a length. */
struct field {
	const char *s;
	size_t len;
};

/* An output buffer being filled left to right; overflow is sticky. */
struct out {
	char *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

static void
out_bytes(struct out *o, const char *s, size_t n)
{
	if (o->overflow || n > o->cap - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void
out_str(struct out *o, const char *s)
{
	out_bytes(o, s, strlen(s));
}

static void
out_uint(struct out *o, unsigned long v)
{
	char digits[24];
	size_t n = sizeof(digits);
	do {
		digits[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	out_bytes(o, digits + n, sizeof(digits) - n);
}

/* The encoded length, or -ENOSPC if it did not fit in the buffer or would
 * exceed BROKER_MSG_MAX. A trailing NUL is added when there is room for it
 * (convenient for printing); it is never part of the message. */
static int
out_finish(struct out *o)
{
	if (o->overflow || o->len > BROKER_MSG_MAX)
		return -ENOSPC;
	if (o->len < o->cap)
		o->buf[o->len] = '\0';
	return (int)o->len;
}

/*
 * Split buf into words separated by exactly one space. Fails (-EINVAL) on an
 * empty word (leading, trailing or doubled space) and on any byte outside
 * printable ASCII (NUL, newline, tab, DEL, bytes >= 0x80). When max_split is
 * reached, the rest of the buffer (spaces included) becomes the last field
 * unchecked: the caller validates it.
 */
static int
split_fields(const char *buf, size_t len, struct field *fields, size_t max_split,
    size_t *nfields)
{
	size_t n = 0;
	size_t i = 0;
	while (i < len) {
		if (n == max_split - 1) {
			fields[n].s = buf + i;
			fields[n].len = len - i;
			n++;
			break;
		}
		size_t start = i;
		while (i < len && buf[i] != ' ') {
			unsigned char c = (unsigned char)buf[i];
			if (c < 0x21 || c > 0x7e)
				return -EINVAL;
			i++;
		}
		if (i == start)
			return -EINVAL;
		fields[n].s = buf + start;
		fields[n].len = i - start;
		n++;
		if (i < len) {
			i++; /* the separator */
			if (i == len)
				return -EINVAL; /* trailing space */
		}
	}
	*nfields = n;
	return 0;
}

static bool
field_is(const struct field *f, const char *word)
{
	size_t n = strlen(word);
	return f->len == n && memcmp(f->s, word, n) == 0;
}

/* A decimal number in 1..max, without sign or leading zeros; 0 or -EINVAL. */
static int
parse_positive(const struct field *f, unsigned long max, unsigned long *out)
{
	/* Nine digits cannot overflow even a 32-bit unsigned long. */
	if (f->len == 0 || f->len > 9 || f->s[0] == '0')
		return -EINVAL;
	unsigned long v = 0;
	for (size_t i = 0; i < f->len; i++) {
		if (f->s[i] < '0' || f->s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(f->s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Is addr (NUL-terminated) a numeric address of this family, written the way
 * inet_ntop writes it? */
static bool
addr_is_canonical(int family, const char *addr)
{
	int af = family == 4 ? AF_INET : AF_INET6;
	unsigned char bin[sizeof(struct in6_addr)];
	char again[INET6_ADDRSTRLEN];
	if (inet_pton(af, addr, bin) != 1)
		return false;
	if (inet_ntop(af, bin, again, sizeof(again)) == NULL)
		return false;
	return strcmp(addr, again) == 0;
}

/* Everything the decoder would check, on a struct; 0 or -EINVAL. */
static int
req_validate(const struct broker_req *req)
{
	if (req->family != 4 && req->family != 6)
		return -EINVAL;
	if (memchr(req->addr, '\0', sizeof(req->addr)) == NULL)
		return -EINVAL;
	if (!addr_is_canonical(req->family, req->addr))
		return -EINVAL;
	if (req->port == 0)
		return -EINVAL;
	if (req->family == 4 && req->v6only)
		return -EINVAL;
	return 0;
}

int
broker_req_encode(const struct broker_req *req, char *buf, size_t len)
{
	int rc = req_validate(req);
	if (rc < 0)
		return rc;
	struct out o = {buf, len, 0, false};
	out_str(&o, "bind ");
	out_uint(&o, BROKER_PROTO_VERSION);
	out_str(&o, " ");
	out_uint(&o, (unsigned long)req->family);
	out_str(&o, " ");
	out_str(&o, req->addr);
	out_str(&o, " ");
	out_uint(&o, req->port);
	out_str(&o, req->v6only ? " 1" : " 0");
	return out_finish(&o);
}

int
broker_req_decode(const char *buf, size_t len, struct broker_req *req)
{
	struct field f[MAX_FIELDS];
	size_t n;
	unsigned long port;

	memset(req, 0, sizeof(*req));
	if (len > BROKER_MSG_MAX)
		return -EINVAL;
	/* Split one further than needed so extra words are seen, not merged. */
	if (split_fields(buf, len, f, 7, &n) < 0 || n != 6)
		goto invalid;
	if (!field_is(&f[0], "bind"))
		goto invalid;
	/* Only version 1 exists; a later daemon must keep accepting it. */
	if (!field_is(&f[1], "1"))
		goto invalid;
	if (field_is(&f[2], "4"))
		req->family = 4;
	else if (field_is(&f[2], "6"))
		req->family = 6;
	else
		goto invalid;
	if (f[3].len >= sizeof(req->addr))
		goto invalid;
	memcpy(req->addr, f[3].s, f[3].len);
	req->addr[f[3].len] = '\0';
	if (!addr_is_canonical(req->family, req->addr))
		goto invalid;
	if (parse_positive(&f[4], 65535, &port) < 0)
		goto invalid;
	req->port = (uint16_t)port;
	if (field_is(&f[5], "0"))
		req->v6only = false;
	else if (field_is(&f[5], "1") && req->family == 6)
		req->v6only = true;
	else
		goto invalid;
	return 0;

invalid:
	memset(req, 0, sizeof(*req));
	return -EINVAL;
}

/* May a reply carry this message text? Printable ASCII and UTF-8 bytes,
 * no control characters: it ends up on the app's stderr. */
static bool
msg_is_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

int
broker_reply_encode(const struct broker_reply *rep, char *buf, size_t len)
{
	struct out o = {buf, len, 0, false};
	switch (rep->kind) {
	case BROKER_OK:
		out_str(&o, "ok");
		break;
	case BROKER_PASS:
		out_str(&o, "pass");
		break;
	case BROKER_ERR: {
		if (rep->err < 1 || rep->err > BROKER_ERRNO_MAX)
			return -EINVAL;
		const char *end = memchr(rep->msg, '\0', sizeof(rep->msg));
		if (end == NULL)
			return -EINVAL;
		size_t msg_len = (size_t)(end - rep->msg);
		if (!msg_is_valid(rep->msg, msg_len))
			return -EINVAL;
		out_str(&o, "err ");
		out_uint(&o, (unsigned long)rep->err);
		if (msg_len > 0) {
			out_str(&o, " ");
			out_bytes(&o, rep->msg, msg_len);
		}
		break;
	}
	default:
		return -EINVAL;
	}
	return out_finish(&o);
}

int
broker_reply_decode(const char *buf, size_t len, struct broker_reply *rep)
{
	struct field f[3];
	size_t n;
	unsigned long err;

	memset(rep, 0, sizeof(*rep));
	if (len > BROKER_MSG_MAX)
		return -EINVAL;
	/* At most three fields: the message is the unsplit remainder. */
	if (split_fields(buf, len, f, 3, &n) < 0 || n == 0)
		goto invalid;
	if (field_is(&f[0], "ok") && n == 1) {
		rep->kind = BROKER_OK;
	} else if (field_is(&f[0], "pass") && n == 1) {
		rep->kind = BROKER_PASS;
	} else if (field_is(&f[0], "err") && n >= 2) {
		if (parse_positive(&f[1], BROKER_ERRNO_MAX, &err) < 0)
			goto invalid;
		rep->kind = BROKER_ERR;
		rep->err = (int)err;
		if (n == 3) {
			if (f[2].len == 0 || f[2].len >= sizeof(rep->msg) ||
			    !msg_is_valid(f[2].s, f[2].len))
				goto invalid;
			memcpy(rep->msg, f[2].s, f[2].len);
			rep->msg[f[2].len] = '\0';
		}
	} else {
		goto invalid;
	}
	return 0;

invalid:
	memset(rep, 0, sizeof(*rep));
	return -EINVAL;
}

int
broker_addr_parse(const char *text, size_t len, struct sockaddr_un *sa, socklen_t *sa_len)
{
	/* "@" plus at least one byte; a path is NUL-terminated in sun_path,
	 * an abstract name takes every byte of it after the leading 0. */
	if (len < 2 || len > sizeof(sa->sun_path) - (text[0] == '/' ? 1 : 0) ||
	    (text[0] != '@' && text[0] != '/'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (text[i] <= ' ' || text[i] > '~')
			return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (text[0] == '@') {
		memcpy(sa->sun_path + 1, text + 1, len - 1);
		*sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		memcpy(sa->sun_path, text, len);
		*sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	}
	return 0;
}
