/*
 * test_brokerproto.c — the preload ↔ broker wire format: round trips, exact
 * bytes, and a table of malformed messages that must be rejected.
 */
#include <errno.h>
#include "unit.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/brokerproto.h"

static struct broker_req
make_req(int family, const char *addr, uint16_t port, bool v6only)
{
	struct broker_req req;
	memset(&req, 0, sizeof(req));
	req.family = family;
	strcpy(req.addr, addr);
	req.port = port;
	req.v6only = v6only;
	return req;
}

static void
assert_req_equal(const struct broker_req *a, const struct broker_req *b)
{
	assert_int_equal(a->family, b->family);
	assert_string_equal(a->addr, b->addr);
	assert_int_equal(a->port, b->port);
	assert_int_equal(a->v6only, b->v6only);
}

static void
test_req_round_trip(void **state)
{
	static const struct {
		int family;
		const char *addr;
		uint16_t port;
		bool v6only;
		const char *wire;
	} cases[] = {
		{4, "127.0.0.1", 8080, false, "bind 1 4 127.0.0.1 8080 0"},
		{4, "0.0.0.0", 1, false, "bind 1 4 0.0.0.0 1 0"},
		{4, "255.255.255.255", 65535, false, "bind 1 4 255.255.255.255 65535 0"},
		{6, "::", 3000, false, "bind 1 6 :: 3000 0"},
		{6, "::", 3000, true, "bind 1 6 :: 3000 1"},
		{6, "::1", 443, true, "bind 1 6 ::1 443 1"},
		{6, "fd00::2", 80, false, "bind 1 6 fd00::2 80 0"},
		{6, "::ffff:127.0.0.1", 80, false, "bind 1 6 ::ffff:127.0.0.1 80 0"},
		{6, "2001:db8:1:2:3:4:5:6", 9, false, "bind 1 6 2001:db8:1:2:3:4:5:6 9 0"},
		/* The longest address inet_ntop writes. */
		{6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, true,
		    "bind 1 6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 1"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct broker_req req = make_req(cases[i].family, cases[i].addr,
		    cases[i].port, cases[i].v6only);
		char buf[BROKER_MSG_MAX];
		int n = broker_req_encode(&req, buf, sizeof(buf));
		assert_int_equal(n, (int)strlen(cases[i].wire));
		assert_memory_equal(buf, cases[i].wire, (size_t)n);

		struct broker_req back;
		assert_int_equal(broker_req_decode(buf, (size_t)n, &back), 0);
		assert_req_equal(&back, &req);
	}
}

static void
test_req_encode_rejects(void **state)
{
	struct broker_req bad[] = {
		make_req(5, "127.0.0.1", 80, false),
		make_req(0, "127.0.0.1", 80, false),
		make_req(4, "::1", 80, false),
		make_req(6, "127.0.0.1", 80, false),
		make_req(4, "localhost", 80, false),
		make_req(6, "0::1", 80, false),      /* not canonical */
		make_req(4, "127.0.0.1", 0, false),
		make_req(4, "127.0.0.1", 80, true),  /* v6only on IPv4 */
		make_req(4, "", 80, false),
	};
	char buf[BROKER_MSG_MAX];
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		assert_int_equal(broker_req_encode(&bad[i], buf, sizeof(buf)), -EINVAL);

	/* An address that is not NUL-terminated inside the struct. */
	struct broker_req req = make_req(4, "1.2.3.4", 80, false);
	memset(req.addr, '1', sizeof(req.addr));
	assert_int_equal(broker_req_encode(&req, buf, sizeof(buf)), -EINVAL);
}

static void
test_req_encode_no_space(void **state)
{
	struct broker_req req = make_req(4, "127.0.0.1", 8080, false);
	const char *wire = "bind 1 4 127.0.0.1 8080 0";
	size_t len = strlen(wire);
	char buf[64];

	for (size_t cap = 0; cap < len; cap++) {
		memset(buf, 'X', sizeof(buf));
		assert_int_equal(broker_req_encode(&req, buf, cap), -ENOSPC);
		/* Nothing written past the given size. */
		for (size_t i = cap; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 'X');
	}
	/* Exactly the length: fits, no room for the NUL, none written. */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(broker_req_encode(&req, buf, len), (int)len);
	assert_int_equal(buf[len], 'X');
	/* One more: NUL-terminated for convenience. */
	assert_int_equal(broker_req_encode(&req, buf, len + 1), (int)len);
	assert_string_equal(buf, wire);
}

static void
test_req_decode_rejects(void **state)
{
	static const struct {
		const char *why;
		const char *wire;
		size_t len; /* 0: strlen(wire) */
	} bad[] = {
		{"empty", "", 0},
		{"wrong verb", "bond 1 4 127.0.0.1 80 0", 0},
		{"verb case", "BIND 1 4 127.0.0.1 80 0", 0},
		{"version 2", "bind 2 4 127.0.0.1 80 0", 0},
		{"version 0", "bind 0 4 127.0.0.1 80 0", 0},
		{"version 01", "bind 01 4 127.0.0.1 80 0", 0},
		{"family 5", "bind 1 5 127.0.0.1 80 0", 0},
		{"family inet", "bind 1 inet 127.0.0.1 80 0", 0},
		{"family 04", "bind 1 04 127.0.0.1 80 0", 0},
		{"v6 addr, family 4", "bind 1 4 ::1 80 0", 0},
		{"v4 addr, family 6", "bind 1 6 127.0.0.1 80 0", 0},
		{"hostname", "bind 1 4 localhost 80 0", 0},
		{"short v4", "bind 1 4 127.1 80 0", 0},
		{"octet 256", "bind 1 4 127.0.0.256 80 0", 0},
		{"leading zero octet", "bind 1 4 127.0.0.01 80 0", 0},
		{"v6 not canonical", "bind 1 6 0::1 80 0", 0},
		{"v6 upper case", "bind 1 6 FD00::2 80 0", 0},
		{"v6 scope id", "bind 1 6 fe80::1%eth0 80 0", 0},
		{"v6 brackets", "bind 1 6 [::1] 80 0", 0},
		{"v6 dotted tail", "bind 1 6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 80 0", 0},
		{"address too long", "bind 1 6 0000:0000:0000:0000:0000:0000:0000:0000:0000:0001 80 0", 0},
		{"port 0", "bind 1 4 127.0.0.1 0 0", 0},
		{"port 65536", "bind 1 4 127.0.0.1 65536 0", 0},
		{"port huge", "bind 1 4 127.0.0.1 99999999999999999999 0", 0},
		{"port negative", "bind 1 4 127.0.0.1 -80 0", 0},
		{"port plus", "bind 1 4 127.0.0.1 +80 0", 0},
		{"port leading zero", "bind 1 4 127.0.0.1 080 0", 0},
		{"port hex", "bind 1 4 127.0.0.1 0x50 0", 0},
		{"port word", "bind 1 4 127.0.0.1 http 0", 0},
		{"port with suffix", "bind 1 4 127.0.0.1 80a 0", 0},
		{"v6only 2", "bind 1 6 :: 80 2", 0},
		{"v6only word", "bind 1 6 :: 80 yes", 0},
		{"v6only 00", "bind 1 6 :: 80 00", 0},
		{"v6only 1 on family 4", "bind 1 4 0.0.0.0 80 1", 0},
		{"extra field", "bind 1 4 127.0.0.1 80 0 x", 0},
		{"two extra fields", "bind 1 4 127.0.0.1 80 0 x y", 0},
		{"missing v6only", "bind 1 4 127.0.0.1 80", 0},
		{"missing port", "bind 1 4 127.0.0.1", 0},
		{"verb only", "bind", 0},
		{"trailing space", "bind 1 4 127.0.0.1 80 0 ", 0},
		{"leading space", " bind 1 4 127.0.0.1 80 0", 0},
		{"double space", "bind 1 4  127.0.0.1 80 0", 0},
		{"tab", "bind 1 4\t127.0.0.1 80 0", 0},
		{"newline at end", "bind 1 4 127.0.0.1 80 0\n", 0},
		{"CRLF", "bind 1 4 127.0.0.1 80 0\r\n", 0},
		{"embedded NUL", "bind 1 4 127.0.0.1\0 80 0", 24},
		{"NUL at end", "bind 1 4 127.0.0.1 80 0\0", 24},
		{"high byte", "bind 1 4 127.0.0.1 80 \xc3\xa9", 0},
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].wire);
		struct broker_req req;
		memset(&req, 0x5a, sizeof(req));
		int rc = broker_req_decode(bad[i].wire, len, &req);
		if (rc != -EINVAL)
			fail_msg("accepted %s: \"%s\"", bad[i].why, bad[i].wire);
		/* A rejected decode leaves no half-filled struct behind. */
		assert_int_equal(req.family, 0);
		assert_int_equal(req.port, 0);
		assert_int_equal(req.addr[0], '\0');
	}
}

static void
test_req_decode_length(void **state)
{
	/* Decoding reads exactly len bytes: a prefix of a valid message is not
	 * valid, and bytes past len are ignored. */
	const char *wire = "bind 1 4 127.0.0.1 8080 0garbage";
	size_t valid_len = strlen("bind 1 4 127.0.0.1 8080 0");
	struct broker_req req;
	assert_int_equal(broker_req_decode(wire, valid_len, &req), 0);
	assert_int_equal(req.port, 8080);
	for (size_t len = 0; len < valid_len; len++)
		assert_int_equal(broker_req_decode(wire, len, &req), -EINVAL);
	assert_int_equal(broker_req_decode(wire, valid_len + 1, &req), -EINVAL);

	/* Over-long input is refused before it is even looked at. */
	char big[BROKER_MSG_MAX + 2];
	memset(big, 'a', sizeof(big));
	assert_int_equal(broker_req_decode(big, sizeof(big), &req), -EINVAL);
	/* ...even when it starts with a valid request. */
	memcpy(big, wire, valid_len);
	assert_int_equal(broker_req_decode(big, BROKER_MSG_MAX + 1, &req), -EINVAL);
}

static void
test_reply_round_trip(void **state)
{
	static const struct {
		enum broker_reply_kind kind;
		int err;
		const char *msg;
		const char *wire;
	} cases[] = {
		{BROKER_OK, 0, "", "ok"},
		{BROKER_PASS, 0, "", "pass"},
		{BROKER_ERR, 98, "address in use", "err 98 address in use"},
		{BROKER_ERR, 13, "", "err 13"},
		{BROKER_ERR, 1, "x", "err 1 x"},
		{BROKER_ERR, 4095, "app 'web' may not bind 0.0.0.0:80 (not in its listen list)",
		    "err 4095 app 'web' may not bind 0.0.0.0:80 (not in its listen list)"},
		{BROKER_ERR, 22, "caf\xc3\xa9 utf-8  double  space ", "err 22 caf\xc3\xa9 utf-8  double  space "},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct broker_reply rep;
		memset(&rep, 0, sizeof(rep));
		rep.kind = cases[i].kind;
		rep.err = cases[i].err;
		strcpy(rep.msg, cases[i].msg);

		char buf[BROKER_MSG_MAX];
		int n = broker_reply_encode(&rep, buf, sizeof(buf));
		assert_int_equal(n, (int)strlen(cases[i].wire));
		assert_memory_equal(buf, cases[i].wire, (size_t)n);

		struct broker_reply back;
		assert_int_equal(broker_reply_decode(buf, (size_t)n, &back), 0);
		assert_int_equal(back.kind, rep.kind);
		assert_int_equal(back.err, rep.err);
		assert_string_equal(back.msg, rep.msg);
	}

	/* The longest message that fits the struct. */
	struct broker_reply rep = {.kind = BROKER_ERR, .err = 98};
	memset(rep.msg, 'm', sizeof(rep.msg) - 1);
	rep.msg[sizeof(rep.msg) - 1] = '\0';
	char buf[BROKER_MSG_MAX];
	int n = broker_reply_encode(&rep, buf, sizeof(buf));
	assert_int_equal(n, (int)(strlen("err 98 ") + sizeof(rep.msg) - 1));
	struct broker_reply back;
	assert_int_equal(broker_reply_decode(buf, (size_t)n, &back), 0);
	assert_string_equal(back.msg, rep.msg);
}

static void
test_reply_encode_rejects(void **state)
{
	char buf[BROKER_MSG_MAX];
	struct broker_reply rep;

	memset(&rep, 0, sizeof(rep));
	rep.kind = BROKER_ERR;
	rep.err = 0;
	assert_int_equal(broker_reply_encode(&rep, buf, sizeof(buf)), -EINVAL);
	rep.err = -5;
	assert_int_equal(broker_reply_encode(&rep, buf, sizeof(buf)), -EINVAL);
	rep.err = 4096;
	assert_int_equal(broker_reply_encode(&rep, buf, sizeof(buf)), -EINVAL);
	rep.err = 98;
	strcpy(rep.msg, "two\nlines");
	assert_int_equal(broker_reply_encode(&rep, buf, sizeof(buf)), -EINVAL);
	strcpy(rep.msg, "escape \x1b[31m");
	assert_int_equal(broker_reply_encode(&rep, buf, sizeof(buf)), -EINVAL);
	memset(rep.msg, 'm', sizeof(rep.msg)); /* not terminated */
	assert_int_equal(broker_reply_encode(&rep, buf, sizeof(buf)), -EINVAL);
	rep.kind = (enum broker_reply_kind)42;
	assert_int_equal(broker_reply_encode(&rep, buf, sizeof(buf)), -EINVAL);

	rep.kind = BROKER_PASS;
	assert_int_equal(broker_reply_encode(&rep, buf, 3), -ENOSPC);
	assert_int_equal(broker_reply_encode(&rep, buf, 4), 4);
}

static void
test_reply_decode_rejects(void **state)
{
	static const struct {
		const char *why;
		const char *wire;
		size_t len; /* 0: strlen(wire) */
	} bad[] = {
		{"empty", "", 0},
		{"OK upper case", "OK", 0},
		{"okay", "okay", 0},
		{"ok with text", "ok 1", 0},
		{"ok trailing space", "ok ", 0},
		{"pass with text", "pass now", 0},
		{"ok newline", "ok\n", 0},
		{"ok NUL", "ok\0", 3},
		{"leading space", " ok", 0},
		{"err without errno", "err", 0},
		{"err trailing space", "err ", 0},
		{"err errno 0", "err 0 no error", 0},
		{"err errno 4096", "err 4096 too big", 0},
		{"err errno huge", "err 99999999999999999999 x", 0},
		{"err errno negative", "err -98 x", 0},
		{"err errno leading zero", "err 098 x", 0},
		{"err errno word", "err EADDRINUSE x", 0},
		{"err errno with suffix", "err 98x", 0},
		{"err empty message", "err 98 ", 0},
		{"err double space errno", "err  98 x", 0},
		{"err newline in message", "err 98 a\nb", 0},
		{"err NUL in message", "err 98 a\0b", 10},
		{"err DEL in message", "err 98 a\x7f", 0},
		{"err tab in message", "err 98 a\tb", 0},
		{"unknown verb", "maybe", 0},
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].wire);
		struct broker_reply rep;
		memset(&rep, 0x5a, sizeof(rep));
		if (broker_reply_decode(bad[i].wire, len, &rep) != -EINVAL)
			fail_msg("accepted %s: \"%s\"", bad[i].why, bad[i].wire);
		assert_int_equal(rep.err, 0);
		assert_int_equal(rep.msg[0], '\0');
	}

	/* A message longer than the struct holds. */
	char buf[BROKER_MSG_MAX + 1];
	struct broker_reply rep;
	size_t len = (size_t)snprintf(buf, sizeof(buf), "err 98 ");
	size_t msg_max = sizeof(rep.msg) - 1;
	memset(buf + len, 'm', msg_max);
	assert_int_equal(broker_reply_decode(buf, len + msg_max, &rep), 0);
	buf[len + msg_max] = 'm';
	assert_int_equal(broker_reply_decode(buf, len + msg_max + 1, &rep), -EINVAL);

	/* Over-long input. */
	memset(buf, 'm', sizeof(buf));
	memcpy(buf, "err 98 ", 7);
	assert_int_equal(broker_reply_decode(buf, sizeof(buf), &rep), -EINVAL);
}

/* $CORRAL_BROKER_SOCKET: "@name" abstract, "/path" a file, nothing else. */
static void
test_addr_parse(void **state)
{
	struct sockaddr_un sa;
	socklen_t len;
	const char *abs = "@corral-broker-42-00ff";
	assert_int_equal(broker_addr_parse(abs, strlen(abs), &sa, &len), 0);
	assert_int_equal(sa.sun_family, AF_UNIX);
	assert_int_equal(sa.sun_path[0], '\0');
	assert_memory_equal(sa.sun_path + 1, abs + 1, strlen(abs) - 1);
	assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + strlen(abs));

	const char *path = "/run/corral/b.sock";
	assert_int_equal(broker_addr_parse(path, strlen(path), &sa, &len), 0);
	assert_string_equal(sa.sun_path, path);
	assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);

	/* The longest of each that fits sun_path. */
	char big[sizeof(sa.sun_path) + 1];
	memset(big, 'a', sizeof(big));
	big[0] = '@';
	assert_int_equal(broker_addr_parse(big, sizeof(sa.sun_path), &sa, &len), 0);
	assert_int_equal(broker_addr_parse(big, sizeof(sa.sun_path) + 1, &sa, &len), -EINVAL);
	big[0] = '/';
	assert_int_equal(broker_addr_parse(big, sizeof(sa.sun_path) - 1, &sa, &len), 0);
	assert_int_equal(broker_addr_parse(big, sizeof(sa.sun_path), &sa, &len), -EINVAL);

	static const char *const bad[] = {"", "@", "/", "corral", "./b.sock", "@a b",
	    "@a\tb", "@caf\xc3\xa9", "@a\x7f"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (broker_addr_parse(bad[i], strlen(bad[i]), &sa, &len) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	/* A NUL inside is not part of a name. */
	assert_int_equal(broker_addr_parse("@a\0b", 4, &sa, &len), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_req_round_trip),
		cmocka_unit_test(test_req_encode_rejects),
		cmocka_unit_test(test_req_encode_no_space),
		cmocka_unit_test(test_req_decode_rejects),
		cmocka_unit_test(test_req_decode_length),
		cmocka_unit_test(test_reply_round_trip),
		cmocka_unit_test(test_reply_encode_rejects),
		cmocka_unit_test(test_reply_decode_rejects),
		cmocka_unit_test(test_addr_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
