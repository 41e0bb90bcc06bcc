/*
 * brokerproto.h — the wire format between libcorral-preload.so (inside an
 * app) and the daemon's socket broker.
 *
 * Transport: the daemon starts each cluster-mode process with two ways to
 * reach its broker:
 *   - one end of a SOCK_SEQPACKET socketpair inherited at the fd named by
 *     $CORRAL_BROKER_FD (the broker channel);
 *   - $CORRAL_BROKER_SOCKET, the address of a SOCK_SEQPACKET unix socket the
 *     daemon listens on for that process alone: "@name" is an abstract
 *     address, "/path" a file (broker_addr_parse). Each connection to it is
 *     one more broker channel of the process. It is there for descendants
 *     that did not inherit the fd: Node's child_process.spawn passes only
 *     stdio, so under `npm start` the real server sees the variable but not
 *     the fd (or another file at that number).
 * When the app calls bind() on a TCP socket with a non-zero port, the preload
 * library creates a fresh SOCK_SEQPACKET socketpair, sends ONE datagram on a
 * broker channel carrying a request line and, with SCM_RIGHTS, one end of
 * that new pair (the reply channel), then waits on the other end for ONE
 * reply datagram. A per-request reply channel keeps replies straight when an
 * app has threads or forked children that bind at the same time.
 *
 * Request (text, no NUL, no newline, at most BROKER_MSG_MAX bytes):
 *     "bind 1 <family> <address> <port> <v6only>"
 *       family   4 or 6
 *       address  numeric, as inet_ntop prints it ("0.0.0.0", "::", "::1")
 *       port     1..65535
 *       v6only   0 or 1 (IPV6_V6ONLY as the app set it; always 0 for family 4)
 * Reply:
 *     "ok"            and SCM_RIGHTS carries the listening socket to use
 *     "pass"          corral does not share this address: bind it yourself
 *     "err <errno> <message>"   fail the app's bind() with that errno
 *       errno    1..4095, decimal
 *       message  optional (then "err <errno>" with no trailing space), at
 *                most 159 bytes, no control characters (it is printed on
 *                the app's stderr)
 *
 * Both directions are strict: words are separated by exactly one space,
 * numbers are decimal without sign or leading zeros, the address must be in
 * inet_ntop's canonical form ("::1", not "0::1"), and anything else is
 * rejected. So a buffer decodes only if the encoder would have written
 * exactly those bytes, and the encoders return -EINVAL for any struct the
 * decoder would reject. The encoders add a NUL after the message when the
 * buffer has room for it; it is never sent.
 *
 * Everything here is pure, allocation-free and usable from the preload
 * library; the decoders and broker_addr_parse are fuzzed
 * (tests/fuzz/fuzz_brokerproto.c).
 */
#ifndef CORRAL_BROKERPROTO_H
#define CORRAL_BROKERPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#define BROKER_PROTO_VERSION 1
#define BROKER_MSG_MAX 256
#define BROKER_ENV_FD "CORRAL_BROKER_FD"
#define BROKER_ENV_SOCKET "CORRAL_BROKER_SOCKET"

struct broker_req {
	int family;          /* 4 or 6 */
	char addr[46];       /* INET6_ADDRSTRLEN, numeric form */
	uint16_t port;
	bool v6only;
};

enum broker_reply_kind {
	BROKER_OK,
	BROKER_PASS,
	BROKER_ERR,
};

struct broker_reply {
	enum broker_reply_kind kind;
	int err;             /* errno for BROKER_ERR */
	char msg[160];       /* human text for BROKER_ERR, may be empty */
};

/* Encode into buf; return the length (no NUL counted) or -ENOSPC/-EINVAL. */
int broker_req_encode(const struct broker_req *req, char *buf, size_t len);
/* Decode exactly len bytes (not NUL-terminated); 0 or -EINVAL. The address
 * is checked with inet_pton for the given family. */
int broker_req_decode(const char *buf, size_t len, struct broker_req *req);

int broker_reply_encode(const struct broker_reply *rep, char *buf, size_t len);
int broker_reply_decode(const char *buf, size_t len, struct broker_reply *rep);

/*
 * The unix socket address that $CORRAL_BROKER_SOCKET names (len bytes, not
 * NUL-terminated): "@name" for the abstract name, "/path" for a file. The
 * text is printable ASCII without spaces and fits sun_path. Fills *sa and
 * *sa_len (what bind() and connect() take); 0 or -EINVAL.
 */
int broker_addr_parse(const char *text, size_t len, struct sockaddr_un *sa, socklen_t *sa_len);

#endif
