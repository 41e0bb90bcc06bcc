/*
 * fuzz_steer.c — build steering programs from arbitrary weight tables and
 * check, through the interpreter and the checker, what the kernel relies on:
 * a valid program, small; only members with weight > 0 chosen, the kernel
 * fallback when there are none; RANDOM gives each member exactly its weight
 * over one period of the modulo; STICKY ignores the random value and, when
 * one member's weight drops to 0, moves only that member's clients, and
 * picks what the C reference (steer_bucket, steer_bucket_owner) picks.
 *
 * Input: [mode/flags] [n - 1] then per member [id hi] [id lo] [weight],
 * then bytes used as source addresses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cluster/steer.h"

static struct steer_prog prog, prog2;

static void
require(int cond)
{
	if (!cond)
		abort();
}

/* The index a program picks must be a member with weight > 0, or the
 * fallback when no member has one. */
static void
check_choice(uint32_t idx, const struct steer_member *m, unsigned n, unsigned active)
{
	if (active == 0) {
		require(idx == STEER_FALLBACK);
		return;
	}
	require(idx < n);
	require(m[idx].weight > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct steer_member m[STEER_MAX_MEMBERS];
	if (size < 2)
		return 0;
	enum steer_mode mode = (data[0] & 1) ? STEER_STICKY : STEER_RANDOM;
	unsigned n = 1 + data[1];
	data += 2;
	size -= 2;
	if (size < 3 * (size_t)n)
		return 0;
	unsigned active = 0;
	uint64_t total = 0;
	for (unsigned i = 0; i < n; i++) {
		m[i].id = (uint32_t)data[0] << 8 | data[1];
		m[i].weight = data[2];
		/* Now and then a huge weight, to exercise RANDOM's scaling. */
		if ((data[0] & 0xf0) == 0xf0 && m[i].weight > 0)
			m[i].weight = UINT32_MAX - data[2];
		active += m[i].weight > 0;
		total += m[i].weight;
		data += 3;
	}
	size -= 3 * (size_t)n;

	require(steer_build(mode, m, n, &prog) == 0);
	require(steer_check(&prog) == 0);
	require(prog.len <= 1024);

	/* Source addresses: IPv4 and IPv6 taken from the rest of the input. */
	uint8_t addrs[16][16];
	int family[16];
	unsigned naddr = 0;
	while (naddr < 16 && size >= 16) {
		memcpy(addrs[naddr], data, 16);
		family[naddr] = (data[0] & 1) ? AF_INET6 : AF_INET;
		naddr++;
		data += 16;
		size -= 16;
	}

	if (mode == STEER_RANDOM) {
		uint32_t count[STEER_MAX_MEMBERS] = { 0 };
		bool exact = active > 0 && total <= 1u << 24;
		uint32_t period = exact ? (uint32_t)total : 4096;
		for (uint32_t r = 0; r < period; r++) {
			uint32_t idx = steer_run(&prog, AF_INET, (const uint8_t *)"\x7f\0\0\1",
			    r * (exact ? 1 : 2654435761u));
			check_choice(idx, m, n, active);
			if (idx < n)
				count[idx]++;
		}
		for (unsigned i = 0; exact && i < n; i++)
			require(count[i] == m[i].weight);
		return 0;
	}

	uint32_t before[16];
	for (unsigned a = 0; a < naddr; a++) {
		before[a] = steer_run(&prog, family[a], addrs[a], 0);
		check_choice(before[a], m, n, active);
		require(steer_run(&prog, family[a], addrs[a], 0x9e3779b9u) == before[a]);
		require(before[a] == steer_bucket_owner(m, n, steer_bucket(family[a], addrs[a])));
	}
	if (active == 0)
		return 0;

	/* Take one member out: only its clients may move, to members with
	 * weight > 0. */
	unsigned victim = (data[-1] + naddr) % n;
	while (m[victim].weight == 0)
		victim = (victim + 1) % n;
	m[victim].weight = 0;
	require(steer_build(mode, m, n, &prog2) == 0);
	require(steer_check(&prog2) == 0);
	for (unsigned a = 0; a < naddr; a++) {
		uint32_t now = steer_run(&prog2, family[a], addrs[a], 0);
		check_choice(now, m, n, active - 1);
		if (before[a] != victim)
			require(now == before[a]);
	}
	return 0;
}
