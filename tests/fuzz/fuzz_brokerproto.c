/*
 * fuzz_brokerproto.c — libFuzzer target for the preload ↔ broker messages.
 *
 * Random bytes go to both decoders. Whatever decodes must encode again, and
 * the encoding must decode to the same struct and be byte-for-byte the input
 * (the format has exactly one spelling for each message). They go to
 * broker_addr_parse too ($CORRAL_BROKER_SOCKET): what it accepts must fill
 * the address with exactly those bytes, within sun_path.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/brokerproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool ok)
{
	if (!ok)
		abort();
}

static void
fuzz_req(const char *buf, size_t size)
{
	struct broker_req req, again;
	char out[BROKER_MSG_MAX + 1];

	if (broker_req_decode(buf, size, &req) != 0)
		return;
	check(req.family == 4 || req.family == 6);
	check(req.port != 0);
	check(memchr(req.addr, '\0', sizeof(req.addr)) != NULL);
	check(req.family == 6 || !req.v6only);

	int n = broker_req_encode(&req, out, sizeof(out));
	check(n >= 0);
	check((size_t)n == size && memcmp(out, buf, size) == 0);
	check(broker_req_decode(out, (size_t)n, &again) == 0);
	check(again.family == req.family);
	check(strcmp(again.addr, req.addr) == 0);
	check(again.port == req.port);
	check(again.v6only == req.v6only);
}

static void
fuzz_reply(const char *buf, size_t size)
{
	struct broker_reply rep, again;
	char out[BROKER_MSG_MAX + 1];

	if (broker_reply_decode(buf, size, &rep) != 0)
		return;
	check(rep.kind == BROKER_OK || rep.kind == BROKER_PASS || rep.kind == BROKER_ERR);
	check(memchr(rep.msg, '\0', sizeof(rep.msg)) != NULL);
	if (rep.kind == BROKER_ERR)
		check(rep.err > 0);

	int n = broker_reply_encode(&rep, out, sizeof(out));
	check(n >= 0);
	check((size_t)n == size && memcmp(out, buf, size) == 0);
	check(broker_reply_decode(out, (size_t)n, &again) == 0);
	check(again.kind == rep.kind);
	check(again.err == rep.err);
	check(strcmp(again.msg, rep.msg) == 0);
}

static void
fuzz_addr(const char *buf, size_t size)
{
	struct sockaddr_un sa;
	socklen_t sa_len;
	if (broker_addr_parse(buf, size, &sa, &sa_len) != 0)
		return;
	size_t base = offsetof(struct sockaddr_un, sun_path);
	check(sa.sun_family == AF_UNIX);
	check(size >= 2 && (buf[0] == '@' || buf[0] == '/'));
	check(sa_len <= sizeof(sa));
	if (buf[0] == '@') {
		check(sa_len == base + size);
		check(sa.sun_path[0] == '\0' && memcmp(sa.sun_path + 1, buf + 1, size - 1) == 0);
	} else {
		check(sa_len == base + size + 1);
		check(memcmp(sa.sun_path, buf, size) == 0 && sa.sun_path[size] == '\0');
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Copy into an exactly-sized heap buffer so ASan catches any read past
	 * len (the decoders must not expect a NUL). */
	char *buf = malloc(size ? size : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	fuzz_req(buf, size);
	fuzz_reply(buf, size);
	fuzz_addr(buf, size);
	free(buf);
	return 0;
}
