/*
 * test_steer.c — the steering programs: first through the interpreter
 * (spread, weights, stickiness, what moves when membership changes), then
 * attached to real SO_REUSEPORT listener groups on loopback, where the
 * kernel's choice must match the interpreter's.
 */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cluster/steer.h"
#include "common/util.h"

#define SAMPLES 40000
#define NADDR 1000

static struct steer_prog prog;	/* 32 KiB: not on the stack */
static uint64_t rng_state;

static uint32_t
rng_next(void)
{
	rng_state += 0x9e3779b97f4a7c15ull;
	uint64_t z = rng_state;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static void
set_members(struct steer_member *m, unsigned n, const uint32_t *weights)
{
	for (unsigned i = 0; i < n; i++) {
		m[i].id = 1000 + 7 * i;
		m[i].weight = weights ? weights[i] : 1;
	}
}

static void
build_ok(enum steer_mode mode, const struct steer_member *m, unsigned n)
{
	assert_int_equal(steer_build(mode, m, n, &prog), 0);
	assert_int_equal(steer_check(&prog), 0);
	assert_true(prog.len <= BPF_MAXINSNS);
}

/* Test addresses: IPv4 and IPv6, half sequential (one subnet), half random. */
struct addr {
	int family;
	uint8_t bytes[16];
};

static void
make_addrs(struct addr *a, unsigned count, int family)
{
	for (unsigned i = 0; i < count; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].family = family;
		uint32_t word = i < count / 2 ? 0xc0a80000u + i : rng_next();
		uint8_t *tail = a[i].bytes + (family == AF_INET ? 0 : 12);
		if (family == AF_INET6) {
			a[i].bytes[0] = 0x20;
			a[i].bytes[1] = 0x01;
			a[i].bytes[2] = 0x0d;
			a[i].bytes[3] = 0xb8;
			if (i >= count / 2)
				for (unsigned j = 4; j < 12; j++)
					a[i].bytes[j] = (uint8_t)rng_next();
		}
		tail[0] = (uint8_t)(word >> 24);
		tail[1] = (uint8_t)(word >> 16);
		tail[2] = (uint8_t)(word >> 8);
		tail[3] = (uint8_t)word;
	}
}

static uint32_t
run_addr(const struct addr *a, uint32_t random)
{
	return steer_run(&prog, a->family, a->bytes, random);
}

/* ---- pure: building, checking, interpreting --------------------------- */

static void
test_build_rejects_bad_input(void **state)
{
	struct steer_member m[STEER_MAX_MEMBERS + 1];
	set_members(m, STEER_MAX_MEMBERS + 1, NULL);
	assert_int_equal(steer_build(STEER_RANDOM, m, 0, &prog), -EINVAL);
	assert_int_equal(steer_build(STEER_STICKY, m, STEER_MAX_MEMBERS + 1, &prog), -EINVAL);
	assert_int_equal(steer_build((enum steer_mode)7, m, 2, &prog), -EINVAL);
	assert_int_equal(steer_build(STEER_STICKY, m, STEER_MAX_MEMBERS, &prog), 0);
}

static void
test_interpreter_sees_a_syn(void **state)
{
	static const uint8_t v4[4] = { 10, 1, 2, 3 };
	static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, 10, 1, 2, 3 };
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 9 };
	struct steer_prog p = { .len = 3 };

	/* Version nibble. */
	p.insns[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)SKF_NET_OFF);
	p.insns[1] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4);
	p.insns[2] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
	assert_int_equal(steer_check(&p), 0);
	assert_int_equal(steer_run(&p, AF_INET, v4, 0), 4);
	assert_int_equal(steer_run(&p, AF_INET6, v6, 0), 6);
	assert_int_equal(steer_run(&p, AF_INET6, mapped, 0), 4);

	/* Source addresses, big-endian like the kernel's loads. */
	p.len = 2;
	p.insns[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    (uint32_t)(SKF_NET_OFF + 12));
	p.insns[1] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
	assert_int_equal(steer_run(&p, AF_INET, v4, 0), 0x0a010203);
	assert_int_equal(steer_run(&p, AF_INET6, mapped, 0), 0x0a010203);
	p.insns[0].k = (uint32_t)(SKF_NET_OFF + 8 + 12);
	assert_int_equal(steer_run(&p, AF_INET6, v6, 0), 9);

	/* SKF_AD_RANDOM, and a failed load (the payload is empty) ends with 0. */
	p.insns[0].k = (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM);
	assert_int_equal(steer_run(&p, AF_INET, v4, 0xdeadbeef), 0xdeadbeef);
	p.insns[0].k = 0;
	p.insns[1] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 77);
	assert_int_equal(steer_run(&p, AF_INET, v4, 1), 0);
}

static void
test_check_rejects_what_the_kernel_rejects(void **state)
{
	struct steer_prog p = { .len = 0 };
	assert_int_equal(steer_check(&p), -EINVAL);	/* empty */

	p.len = 1;
	p.insns[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_IMM, 1);
	assert_int_equal(steer_check(&p), -EINVAL);	/* no ret at the end */

	p.len = 2;
	p.insns[0] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 1, 0);
	p.insns[1] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
	assert_int_equal(steer_check(&p), -EINVAL);	/* jump past the end */

	p.insns[0] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_MEM, 3);
	assert_int_equal(steer_check(&p), -EINVAL);	/* M[3] never written */

	p.insns[0] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 0);
	assert_int_equal(steer_check(&p), -EINVAL);	/* modulo by constant 0 */

	p.insns[0] = (struct sock_filter)BPF_STMT(0xff, 0);
	assert_int_equal(steer_check(&p), -EINVAL);	/* unknown opcode */

	/* M[0] written on one path only. */
	p.len = 5;
	p.insns[0] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1);
	p.insns[1] = (struct sock_filter)BPF_STMT(BPF_ST, 0);
	p.insns[2] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_MEM, 0);
	p.insns[3] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
	p.insns[4] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
	assert_int_equal(steer_check(&p), -EINVAL);
	p.insns[0].jf = 0;
	assert_int_equal(steer_check(&p), 0);
}

static void
test_random_equal_weights_spread_evenly(void **state)
{
	struct steer_member m[4];
	set_members(m, 4, NULL);
	build_ok(STEER_RANDOM, m, 4);
	unsigned count[4] = { 0 };
	for (unsigned s = 0; s < SAMPLES; s++) {
		uint32_t idx = steer_run(&prog, AF_INET, (const uint8_t *)"\x7f\0\0\1", rng_next());
		assert_true(idx < 4);
		count[idx]++;
	}
	print_message("random 4 x 1: %u / %u / %u / %u\n", count[0], count[1], count[2], count[3]);
	for (unsigned i = 0; i < 4; i++) {
		assert_in_range(count[i], SAMPLES / 4 * 97 / 100, SAMPLES / 4 * 103 / 100);
	}
}

static void
test_random_follows_weights(void **state)
{
	static const uint32_t w31[2] = { 3, 1 };
	static const uint32_t wz[5] = { 2, 0, 1, 0, 1 };
	struct steer_member m[5];
	unsigned count[5] = { 0 };

	set_members(m, 2, w31);
	build_ok(STEER_RANDOM, m, 2);
	for (unsigned s = 0; s < SAMPLES; s++)
		count[steer_run(&prog, AF_INET, (const uint8_t *)"\x7f\0\0\1", rng_next())]++;
	print_message("random 3:1: %u / %u\n", count[0], count[1]);
	assert_in_range(count[0], SAMPLES * 74 / 100, SAMPLES * 76 / 100);
	assert_int_equal(count[0] + count[1], SAMPLES);

	memset(count, 0, sizeof(count));
	set_members(m, 5, wz);
	build_ok(STEER_RANDOM, m, 5);
	for (unsigned s = 0; s < SAMPLES; s++) {
		uint32_t idx = steer_run(&prog, AF_INET, (const uint8_t *)"\x7f\0\0\1", rng_next());
		assert_true(idx < 5);
		count[idx]++;
	}
	assert_int_equal(count[1], 0);
	assert_int_equal(count[3], 0);
	assert_in_range(count[0], SAMPLES * 48 / 100, SAMPLES * 52 / 100);
	assert_in_range(count[2], SAMPLES * 23 / 100, SAMPLES * 27 / 100);
	assert_in_range(count[4], SAMPLES * 23 / 100, SAMPLES * 27 / 100);
}

static void
test_random_huge_weights_do_not_overflow(void **state)
{
	static const uint32_t w[3] = { UINT32_MAX, UINT32_MAX, 1 };
	struct steer_member m[3];
	unsigned count[3] = { 0 };
	set_members(m, 3, w);
	build_ok(STEER_RANDOM, m, 3);
	for (unsigned s = 0; s < SAMPLES; s++) {
		uint32_t idx = steer_run(&prog, AF_INET, (const uint8_t *)"\x7f\0\0\1", rng_next());
		assert_true(idx < 3);
		count[idx]++;
	}
	assert_in_range(count[0], SAMPLES * 48 / 100, SAMPLES * 52 / 100);
	assert_true(count[2] < 10);
}

static void
test_no_ready_member_falls_back_to_the_kernel(void **state)
{
	static const uint32_t zero[4] = { 0, 0, 0, 0 };
	static const uint32_t one[4] = { 0, 0, 5, 0 };
	struct steer_member m[4];
	struct addr a[20];
	make_addrs(a, 10, AF_INET);
	make_addrs(a + 10, 10, AF_INET6);

	for (int mode = STEER_RANDOM; mode <= STEER_STICKY; mode++) {
		set_members(m, 4, zero);
		build_ok((enum steer_mode)mode, m, 4);
		for (unsigned i = 0; i < 20; i++)
			assert_int_equal(run_addr(&a[i], rng_next()), STEER_FALLBACK);
		set_members(m, 4, one);
		build_ok((enum steer_mode)mode, m, 4);
		for (unsigned i = 0; i < 20; i++)
			assert_int_equal(run_addr(&a[i], rng_next()), 2);
	}
}

static void
test_sizes_stay_small(void **state)
{
	static const unsigned sizes[] = { 1, 4, 64, 256, 512, STEER_MAX_MEMBERS };
	struct steer_member m[STEER_MAX_MEMBERS];
	struct addr a[2];
	make_addrs(a, 1, AF_INET);
	make_addrs(a + 1, 1, AF_INET6);
	for (unsigned s = 0; s < ARRAY_LEN(sizes); s++) {
		unsigned len[2];
		for (int mode = STEER_RANDOM; mode <= STEER_STICKY; mode++) {
			set_members(m, sizes[s], NULL);
			build_ok((enum steer_mode)mode, m, sizes[s]);
			len[mode] = prog.len;
			for (unsigned i = 0; i < 2; i++)
				assert_true(run_addr(&a[i], rng_next()) < sizes[s]);
		}
		print_message("n=%u: random %u insns, sticky %u insns\n", sizes[s], len[0], len[1]);
	}
	/* Weights that differ and many runs: still small. */
	for (unsigned i = 0; i < STEER_MAX_MEMBERS; i++)
		m[i].weight = 1 + (rng_next() & 1023);
	build_ok(STEER_STICKY, m, STEER_MAX_MEMBERS);
	build_ok(STEER_RANDOM, m, STEER_MAX_MEMBERS);
}

/* Over one full period of random % total, each member is chosen exactly
 * `weight` times: the search tree maps every key to the right member. */
static void
test_random_exact_over_one_period(void **state)
{
	static const unsigned sizes[] = { 2, 3, 5, 17, 64, 129, 255, 256 };
	struct steer_member m[STEER_MAX_MEMBERS];
	for (unsigned s = 0; s < ARRAY_LEN(sizes); s++) {
		unsigned n = sizes[s];
		uint32_t total = 0;
		for (unsigned i = 0; i < n; i++) {
			m[i].id = rng_next();
			m[i].weight = (i % 5 == 3) ? 0 : 1 + (rng_next() % 300);
			total += m[i].weight;
		}
		build_ok(STEER_RANDOM, m, n);
		uint32_t count[STEER_MAX_MEMBERS] = { 0 };
		for (uint32_t r = 0; r < total; r++) {
			uint32_t idx = steer_run(&prog, AF_INET, (const uint8_t *)"\x7f\0\0\1", r);
			assert_true(idx < n);
			count[idx]++;
		}
		for (unsigned i = 0; i < n; i++)
			assert_int_equal(count[i], m[i].weight);
	}
}

/* The program's choice equals the C reference: steer_bucket() for the hash
 * and steer_bucket_owner() for the table, for every bucket, at sizes that
 * need trampolines in the search tree and with uneven weights. */
static void
test_sticky_program_matches_reference(void **state)
{
	static const unsigned sizes[] = { 2, 3, 5, 9, 17, 33, 64, 100, 200, 256 };
	struct steer_member m[STEER_MAX_MEMBERS];
	struct addr a[3 * NADDR];
	bool seen[STEER_BUCKETS];
	make_addrs(a, NADDR, AF_INET);
	make_addrs(a + NADDR, NADDR, AF_INET6);
	make_addrs(a + 2 * NADDR, NADDR, AF_INET6);
	for (unsigned i = 2 * NADDR; i < 3 * NADDR; i++) {
		memset(a[i].bytes, 0, 10);	/* IPv4-mapped */
		a[i].bytes[10] = a[i].bytes[11] = 0xff;
	}
	for (unsigned s = 0; s < ARRAY_LEN(sizes); s++) {
		for (int uneven = 0; uneven <= 1; uneven++) {
			unsigned n = sizes[s];
			for (unsigned i = 0; i < n; i++) {
				m[i].id = rng_next();
				m[i].weight = uneven ? (i % 7 == 2 ? 0 : 1 + rng_next() % 50) : 1;
			}
			build_ok(STEER_STICKY, m, n);
			memset(seen, 0, sizeof(seen));
			for (unsigned i = 0; i < 3 * NADDR; i++) {
				uint32_t bucket = steer_bucket(a[i].family, a[i].bytes);
				assert_true(bucket < STEER_BUCKETS);
				seen[bucket] = true;
				assert_int_equal(run_addr(&a[i], rng_next()),
				    steer_bucket_owner(m, n, bucket));
			}
			/* And bucket by bucket: find an address for each one. */
			for (uint32_t tries = 0; tries < 200000; tries++) {
				uint8_t v4[4] = { 10, (uint8_t)(tries >> 16), (uint8_t)(tries >> 8),
				    (uint8_t)tries };
				uint32_t bucket = steer_bucket(AF_INET, v4);
				if (seen[bucket])
					continue;
				seen[bucket] = true;
				assert_int_equal(steer_run(&prog, AF_INET, v4, 0),
				    steer_bucket_owner(m, n, bucket));
			}
			for (uint32_t b = 0; b < STEER_BUCKETS; b++)
				assert_true(seen[b]);
		}
	}
	/* Out of range. */
	assert_int_equal(steer_bucket(AF_UNIX, a[0].bytes), STEER_FALLBACK);
	assert_int_equal(steer_bucket_owner(m, 4, STEER_BUCKETS), STEER_FALLBACK);
	m[0].weight = m[1].weight = 0;
	assert_int_equal(steer_bucket_owner(m, 2, 0), STEER_FALLBACK);
}

static void
test_sticky_same_address_same_member(void **state)
{
	struct steer_member m[4];
	struct addr a[2 * NADDR];
	set_members(m, 4, NULL);
	build_ok(STEER_STICKY, m, 4);
	make_addrs(a, NADDR, AF_INET);
	make_addrs(a + NADDR, NADDR, AF_INET6);
	for (unsigned i = 0; i < 2 * NADDR; i++) {
		uint32_t first = run_addr(&a[i], rng_next());
		assert_true(first < 4);
		for (unsigned r = 0; r < 16; r++)
			assert_int_equal(run_addr(&a[i], rng_next()), first);
	}
	/* An IPv4-mapped address reaches the member of the IPv4 address. */
	for (unsigned i = 0; i < NADDR; i++) {
		uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff };
		memcpy(mapped + 12, a[i].bytes, 4);
		assert_int_equal(steer_run(&prog, AF_INET6, mapped, 0), run_addr(&a[i], 0));
	}
}

static void
test_sticky_spreads_addresses(void **state)
{
	struct steer_member m[4];
	struct addr a[NADDR];
	set_members(m, 4, NULL);
	build_ok(STEER_STICKY, m, 4);
	for (int family = AF_INET; family != -1; family = family == AF_INET ? AF_INET6 : -1) {
		unsigned count[4] = { 0 };
		make_addrs(a, NADDR, family);
		for (unsigned i = 0; i < NADDR; i++)
			count[run_addr(&a[i], 0)]++;
		print_message("sticky 4 x 1, %u IPv%c addresses: %u / %u / %u / %u\n", NADDR,
		    family == AF_INET ? '4' : '6', count[0], count[1], count[2], count[3]);
		for (unsigned i = 0; i < 4; i++)
			assert_in_range(count[i], NADDR / 4 * 80 / 100, NADDR / 4 * 120 / 100);
	}

	static const uint32_t w31[2] = { 3, 1 };
	unsigned count[2] = { 0 };
	set_members(m, 2, w31);
	build_ok(STEER_STICKY, m, 2);
	make_addrs(a, NADDR, AF_INET);
	for (unsigned i = 0; i < NADDR; i++)
		count[run_addr(&a[i], 0)]++;
	print_message("sticky 3:1: %u / %u\n", count[0], count[1]);
	assert_in_range(count[0], NADDR * 70 / 100, NADDR * 80 / 100);
}

/* Map every address to the id of the member it reaches. */
static void
map_ids(const struct addr *a, unsigned count, const struct steer_member *m, unsigned n,
    uint32_t *ids)
{
	for (unsigned i = 0; i < count; i++) {
		uint32_t idx = run_addr(&a[i], rng_next());
		assert_true(idx < n);
		assert_true(m[idx].weight > 0);
		ids[i] = m[idx].id;
	}
}

static void
test_sticky_only_a_dropped_members_clients_move(void **state)
{
	struct steer_member m[4];
	struct addr a[2 * NADDR];
	uint32_t before[2 * NADDR], during[2 * NADDR], after[2 * NADDR];
	make_addrs(a, NADDR, AF_INET);
	make_addrs(a + NADDR, NADDR, AF_INET6);
	set_members(m, 4, NULL);
	build_ok(STEER_STICKY, m, 4);
	map_ids(a, 2 * NADDR, m, 4, before);

	m[2].weight = 0;
	build_ok(STEER_STICKY, m, 4);
	map_ids(a, 2 * NADDR, m, 4, during);
	unsigned moved = 0, moved_to[4] = { 0 };
	for (unsigned i = 0; i < 2 * NADDR; i++) {
		if (before[i] != m[2].id) {
			assert_int_equal(during[i], before[i]);
			continue;
		}
		moved++;
		for (unsigned j = 0; j < 4; j++)
			moved_to[j] += during[i] == m[j].id;
	}
	print_message("member 2 down: %u of %u addresses moved, to %u / %u / - / %u\n",
	    moved, 2 * NADDR, moved_to[0], moved_to[1], moved_to[3]);
	assert_in_range(moved, 2 * NADDR / 4 * 75 / 100, 2 * NADDR / 4 * 125 / 100);
	/* Its clients spread over the survivors rather than piling on one. */
	for (unsigned j = 0; j < 4; j++)
		if (j != 2)
			assert_in_range(moved_to[j], moved / 3 / 2, moved / 3 * 2);

	m[2].weight = 1;
	build_ok(STEER_STICKY, m, 4);
	map_ids(a, 2 * NADDR, m, 4, after);
	assert_memory_equal(after, before, sizeof(before));
}

static void
test_sticky_weight_and_membership_changes_move_little(void **state)
{
	struct steer_member m[5];
	struct addr a[NADDR];
	uint32_t before[NADDR], after[NADDR];
	make_addrs(a, NADDR, AF_INET);
	set_members(m, 4, NULL);
	build_ok(STEER_STICKY, m, 4);
	map_ids(a, NADDR, m, 4, before);

	/* Raise one weight: clients only move onto that member. */
	m[1].weight = 3;
	build_ok(STEER_STICKY, m, 4);
	map_ids(a, NADDR, m, 4, after);
	unsigned on1 = 0;
	for (unsigned i = 0; i < NADDR; i++) {
		if (after[i] != before[i])
			assert_int_equal(after[i], m[1].id);
		on1 += after[i] == m[1].id;
	}
	assert_in_range(on1, NADDR * 40 / 100, NADDR * 60 / 100);

	/* Add a fifth member: clients only move onto it, about a fifth. */
	m[1].weight = 1;
	m[4].id = 4242;
	m[4].weight = 1;
	build_ok(STEER_STICKY, m, 5);
	map_ids(a, NADDR, m, 5, after);
	unsigned moved = 0;
	for (unsigned i = 0; i < NADDR; i++) {
		if (after[i] != before[i]) {
			assert_int_equal(after[i], 4242);
			moved++;
		}
	}
	assert_in_range(moved, NADDR * 12 / 100, NADDR * 28 / 100);
}

static void
test_sticky_follows_ids_not_indexes(void **state)
{
	struct steer_member m[4], shuffled[4], closed[3];
	struct addr a[2 * NADDR];
	uint32_t before[2 * NADDR], after[2 * NADDR];
	make_addrs(a, NADDR, AF_INET);
	make_addrs(a + NADDR, NADDR, AF_INET6);
	set_members(m, 4, NULL);
	build_ok(STEER_STICKY, m, 4);
	map_ids(a, 2 * NADDR, m, 4, before);

	/* Same members at other indexes: every client keeps its member. */
	shuffled[0] = m[2];
	shuffled[1] = m[0];
	shuffled[2] = m[3];
	shuffled[3] = m[1];
	build_ok(STEER_STICKY, shuffled, 4);
	map_ids(a, 2 * NADDR, shuffled, 4, after);
	assert_memory_equal(after, before, sizeof(before));

	/* Close index 1: the kernel moves the last socket into the hole. */
	closed[0] = m[0];
	closed[1] = m[3];
	closed[2] = m[2];
	build_ok(STEER_STICKY, closed, 3);
	map_ids(a, 2 * NADDR, closed, 3, after);
	for (unsigned i = 0; i < 2 * NADDR; i++) {
		if (before[i] != m[1].id)
			assert_int_equal(after[i], before[i]);
	}
}

static void
test_weights_from_depths(void **state)
{
	static const uint32_t depth[6] = { 0, 1, 3, 5000, 0, UINT32_MAX };
	static const bool ready[6] = { true, true, true, true, false, true };
	uint32_t w[6];
	steer_weights_from_depths(depth, ready, 6, w);
	assert_int_equal(w[0], STEER_WEIGHT_FULL);
	assert_int_equal(w[1], STEER_WEIGHT_FULL / 2);
	assert_int_equal(w[2], STEER_WEIGHT_FULL / 4);
	/* Deep queues are held at a quarter of the best weight, not starved. */
	assert_int_equal(w[3], STEER_WEIGHT_FULL / 4);
	assert_int_equal(w[4], 0);
	assert_int_equal(w[5], STEER_WEIGHT_FULL / 4);

	/* The floor follows the best ready member, whatever its depth. */
	static const uint32_t busy[3] = { 7, 15, 1000 };
	static const bool all[3] = { true, true, true };
	steer_weights_from_depths(busy, all, 3, w);
	assert_int_equal(w[0], STEER_WEIGHT_FULL / 8);
	assert_int_equal(w[1], STEER_WEIGHT_FULL / 16);
	assert_int_equal(w[2], STEER_WEIGHT_FULL / 32);

	/* Nobody ready: all zero, no floor. */
	static const bool none[3] = { false, false, false };
	steer_weights_from_depths(busy, none, 3, w);
	assert_int_equal(w[0] | w[1] | w[2], 0);
}

/* ---- real kernel: SO_REUSEPORT groups on loopback --------------------- */

#define GROUP 4
#define MAX_CLIENTS 512

struct group {
	int family;
	int fd[GROUP];
	unsigned n;
	struct sockaddr_storage addr;	/* the shared listening address */
	socklen_t addr_len;
	int client[MAX_CLIENTS];
	unsigned nclients;
};

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Open n listeners on one address, in listen() order. 0, or -errno when
 * the address family or address is not available here. */
static int
group_open(struct group *g, int family, const char *ip, bool v6only)
{
	memset(g, 0, sizeof(*g));
	g->family = family;
	for (unsigned i = 0; i < GROUP; i++)
		g->fd[i] = -1;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&g->addr;
		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
		g->addr_len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&g->addr;
		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
		g->addr_len = sizeof(*sin6);
	}
	for (unsigned i = 0; i < GROUP; i++) {
		int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		g->fd[i] = fd;
		g->n = i + 1;
		int one = 1, v6 = v6only;
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
		if (family == AF_INET6)
			assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof(v6)), 0);
		if (bind(fd, (struct sockaddr *)&g->addr, g->addr_len) < 0)
			return -errno;
		if (i == 0) {
			socklen_t len = g->addr_len;
			assert_int_equal(getsockname(fd, (struct sockaddr *)&g->addr, &len), 0);
		}
		assert_int_equal(listen(fd, 1024), 0);
	}
	return 0;
}

static void
group_close(struct group *g)
{
	for (unsigned i = 0; i < g->nclients; i++)
		close(g->client[i]);
	for (unsigned i = 0; i < GROUP; i++)
		if (g->fd[i] >= 0)
			close(g->fd[i]);
	g->nclients = 0;
}

/* Non-blocking connect to the group, from src (an IPv4 or IPv6 literal) or
 * from wherever the kernel picks; the handshake completes into an accept
 * queue with nobody accepting. */
static void
group_connect(struct group *g, int client_family, const char *src)
{
	assert_true(g->nclients < MAX_CLIENTS);
	int fd = socket(client_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (src != NULL) {
		struct sockaddr_storage ss;
		socklen_t len;
		memset(&ss, 0, sizeof(ss));
		if (client_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			sin->sin_family = AF_INET;
			assert_int_equal(inet_pton(AF_INET, src, &sin->sin_addr), 1);
			len = sizeof(*sin);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
			sin6->sin6_family = AF_INET6;
			assert_int_equal(inet_pton(AF_INET6, src, &sin6->sin6_addr), 1);
			len = sizeof(*sin6);
		}
		assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	}
	struct sockaddr_storage dst = g->addr;
	socklen_t dst_len = g->addr_len;
	if (client_family == AF_INET && g->family == AF_INET6) {
		/* Dual-stack group bound to ::ffff:a.b.c.d: connect over IPv4. */
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&g->addr;
		struct sockaddr_in *sin = (struct sockaddr_in *)&dst;
		memset(&dst, 0, sizeof(dst));
		sin->sin_family = AF_INET;
		sin->sin_port = sin6->sin6_port;
		memcpy(&sin->sin_addr, sin6->sin6_addr.s6_addr + 12, 4);
		dst_len = sizeof(*sin);
	}
	int rc = connect(fd, (struct sockaddr *)&dst, dst_len);
	assert_true(rc == 0 || errno == EINPROGRESS);
	g->client[g->nclients++] = fd;
}

/* Wait (5 s deadline) until the accept queues hold `expected` connections;
 * fill depth[] with each listener's queue. */
static void
group_wait_queued(struct group *g, unsigned expected, unsigned *depth)
{
	int64_t deadline = now_ms() + 5000;
	for (;;) {
		unsigned total = 0;
		for (unsigned i = 0; i < GROUP; i++) {
			depth[i] = 0;
			if (g->fd[i] < 0)
				continue;
			int d = steer_queue_depth(g->fd[i]);
			assert_true(d >= 0);
			depth[i] = (unsigned)d;
			total += depth[i];
		}
		if (total >= expected || now_ms() > deadline) {
			assert_int_equal(total, expected);
			return;
		}
		poll(NULL, 0, 2);
	}
}

/* Accept everything queued on listener i; record, per source address
 * (last IPv4 octet, or 0 for IPv6), which listener took it. */
static unsigned
group_accept(struct group *g, unsigned i, int *listener_of_src, bool *src_mismatch)
{
	unsigned accepted = 0;
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(g->fd[i], NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			assert_int_equal(errno, EAGAIN);
			return accepted;
		}
		accepted++;
		assert_int_equal(getpeername(fd, (struct sockaddr *)&peer, &len), 0);
		unsigned src = 0;
		if (peer.ss_family == AF_INET) {
			src = ntohl(((struct sockaddr_in *)&peer)->sin_addr.s_addr) & 0xff;
		} else {
			const uint8_t *b = ((struct sockaddr_in6 *)&peer)->sin6_addr.s6_addr;
			if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)b))
				src = b[15];
		}
		if (listener_of_src[src] >= 0 && listener_of_src[src] != (int)i)
			*src_mismatch = true;
		listener_of_src[src] = (int)i;
		close(fd);
	}
}

static void
attach_ok(struct group *g, enum steer_mode mode, const struct steer_member *m)
{
	assert_int_equal(steer_build(mode, m, g->n, &prog), 0);
	assert_int_equal(steer_attach(g->fd[0], &prog), 0);
}

static void
test_kernel_random_spreads_evenly(void **state)
{
	struct group g;
	struct steer_member m[GROUP];
	unsigned depth[GROUP];
	assert_int_equal(group_open(&g, AF_INET, "127.0.0.1", false), 0);
	set_members(m, GROUP, NULL);
	attach_ok(&g, STEER_RANDOM, m);
	for (unsigned c = 0; c < 400; c++)
		group_connect(&g, AF_INET, NULL);
	group_wait_queued(&g, 400, depth);
	print_message("kernel random 4 x 1, 400 connections: %u / %u / %u / %u\n",
	    depth[0], depth[1], depth[2], depth[3]);
	for (unsigned i = 0; i < GROUP; i++)
		assert_in_range(depth[i], 60, 140);
	group_close(&g);

	static const uint32_t w[GROUP] = { 1, 1, 1, 0 };
	assert_int_equal(group_open(&g, AF_INET, "127.0.0.1", false), 0);
	set_members(m, GROUP, w);
	attach_ok(&g, STEER_RANDOM, m);
	for (unsigned c = 0; c < 400; c++)
		group_connect(&g, AF_INET, NULL);
	group_wait_queued(&g, 400, depth);
	print_message("kernel random 1,1,1,0: %u / %u / %u / %u\n",
	    depth[0], depth[1], depth[2], depth[3]);
	assert_int_equal(depth[3], 0);
	for (unsigned i = 0; i < 3; i++)
		assert_in_range(depth[i], 90, 180);
	group_close(&g);
}

/*
 * What group.c relies on when a member closes: the kernel moves the last
 * listener into the hole, so a program rebuilt for the compacted order
 * (members[i] = members[n-1]) reaches the sockets it means. Then a
 * least-busy weight table (queues 0, 1, 3) must split new connections in
 * proportion 4 : 2 : 1.
 */
/* The largest programs (STEER_MAX_MEMBERS members, random and sticky,
 * equal and uneven weights) are within what the kernel takes: it checks
 * them on attach. */
static void
test_kernel_takes_the_largest_programs(void **state)
{
	struct group g;
	static struct steer_member m[STEER_MAX_MEMBERS];
	assert_int_equal(group_open(&g, AF_INET, "127.0.0.1", false), 0);
	for (int uneven = 0; uneven < 2; uneven++) {
		set_members(m, STEER_MAX_MEMBERS, NULL);
		for (unsigned i = 0; uneven && i < STEER_MAX_MEMBERS; i++)
			m[i].weight = 1 + (rng_next() & 1023);
		for (int mode = STEER_RANDOM; mode <= STEER_STICKY; mode++) {
			assert_int_equal(steer_build((enum steer_mode)mode, m, STEER_MAX_MEMBERS,
			    &prog), 0);
			assert_int_equal(steer_attach(g.fd[0], &prog), 0);
		}
	}
	group_close(&g);
}

static void
test_kernel_close_compacts_and_weights_follow(void **state)
{
	struct group g;
	struct steer_member m[GROUP];
	unsigned depth[GROUP];
	assert_int_equal(group_open(&g, AF_INET, "127.0.0.1", false), 0);
	/* Close listener 1; the model is now fds {0, 3, 2}. */
	close(g.fd[1]);
	g.fd[1] = -1;
	int model[3] = { 0, 3, 2 };
	static const uint32_t only_old_3[3] = { 0, 1, 0 };
	for (unsigned i = 0; i < 3; i++) {
		m[i].id = 100 + (uint32_t)model[i];
		m[i].weight = only_old_3[i];
	}
	assert_int_equal(steer_build(STEER_RANDOM, m, 3, &prog), 0);
	assert_int_equal(steer_attach(g.fd[0], &prog), 0);
	for (unsigned c = 0; c < 100; c++)
		group_connect(&g, AF_INET, NULL);
	group_wait_queued(&g, 100, depth);
	print_message("after closing listener 1, index 1 = old listener 3: %u / - / %u / %u\n",
	    depth[0], depth[2], depth[3]);
	assert_int_equal(depth[3], 100);

	/* Drain, then weights from queue depths 0, 1, 3 (4 : 2 : 1). */
	for (unsigned i = 0; i < GROUP; i++) {
		if (g.fd[i] < 0)
			continue;
		int fd;
		while ((fd = accept4(g.fd[i], NULL, NULL, SOCK_CLOEXEC)) >= 0)
			close(fd);
	}
	for (unsigned i = 0; i < g.nclients; i++)
		close(g.client[i]);
	g.nclients = 0;
	static const uint32_t fake_depth[3] = { 0, 1, 3 };
	static const bool ready[3] = { true, true, true };
	uint32_t w[3];
	steer_weights_from_depths(fake_depth, ready, 3, w);
	for (unsigned i = 0; i < 3; i++)
		m[i].weight = w[i];
	assert_int_equal(steer_build(STEER_RANDOM, m, 3, &prog), 0);
	assert_int_equal(steer_attach(g.fd[0], &prog), 0);
	for (unsigned c = 0; c < 490; c++)
		group_connect(&g, AF_INET, NULL);
	group_wait_queued(&g, 490, depth);
	print_message("least-busy weights %u/%u/%u over 490: %u / %u / %u\n", w[0], w[1], w[2],
	    depth[model[0]], depth[model[1]], depth[model[2]]);
	assert_in_range(depth[model[0]], 220, 340);   /* expect 280 */
	assert_in_range(depth[model[1]], 95, 185);    /* expect 140 */
	assert_in_range(depth[model[2]], 35, 110);    /* expect 70 */
	group_close(&g);
}

/* Connect `rounds` times from each of 127.0.0.1..nsrc, accept everything,
 * and check each source always reached the listener the interpreter
 * predicts. listener_of_src[x] = listener fd slot that got 127.0.0.x. */
static void
sticky_round(struct group *g, unsigned nsrc, unsigned rounds, int client_family,
    int *listener_of_src, unsigned *per_listener)
{
	char src[32];
	unsigned depth[GROUP];
	bool mismatch = false;
	for (unsigned x = 0; x < 256; x++)
		listener_of_src[x] = -1;
	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned x = 1; x <= nsrc; x++) {
			snprintf(src, sizeof(src), "127.0.0.%u", x);
			group_connect(g, client_family, src);
		}
	}
	group_wait_queued(g, nsrc * rounds, depth);
	for (unsigned i = 0; i < GROUP; i++) {
		per_listener[i] = depth[i];
		if (g->fd[i] >= 0)
			assert_int_equal(group_accept(g, i, listener_of_src, &mismatch), depth[i]);
	}
	assert_false(mismatch);
	for (unsigned x = 1; x <= nsrc; x++) {
		uint8_t addr[4] = { 127, 0, 0, (uint8_t)x };
		assert_true(listener_of_src[x] >= 0);
		assert_int_equal(steer_run(&prog, AF_INET, addr, rng_next()),
		    (uint32_t)listener_of_src[x]);
	}
	for (unsigned i = 0; i < g->nclients; i++)
		close(g->client[i]);
	g->nclients = 0;
}

static void
test_kernel_sticky_keeps_each_source_on_one_listener(void **state)
{
	struct group g;
	struct steer_member m[GROUP];
	int first[256], second[256];
	unsigned count[GROUP];
	assert_int_equal(group_open(&g, AF_INET, "127.0.0.1", false), 0);
	set_members(m, GROUP, NULL);
	attach_ok(&g, STEER_STICKY, m);
	sticky_round(&g, 200, 2, AF_INET, first, count);
	print_message("kernel sticky, 200 sources x 2: %u / %u / %u / %u connections\n",
	    count[0], count[1], count[2], count[3]);
	for (unsigned i = 0; i < GROUP; i++)
		assert_in_range(count[i], 50, 150);

	/* Close listener 1 (queue empty): the kernel moves listener 3 into
	 * index 1. Rebuilt in that order, each source whose member survived
	 * still reaches the very same socket. */
	close(g.fd[1]);
	g.fd[1] = g.fd[3];
	g.fd[3] = -1;
	g.n = 3;
	struct steer_member after[3] = { m[0], m[3], m[2] };
	attach_ok(&g, STEER_STICKY, after);
	sticky_round(&g, 200, 1, AF_INET, second, count);
	unsigned moved = 0;
	for (unsigned x = 1; x <= 200; x++) {
		/* Slots: before 0,1,2,3 = fds A,B,C,D; after 0,1,2 = A,D,C. */
		static const int slot_after[GROUP] = { 0, -1, 2, 1 };
		if (first[x] == 1) {
			moved++;
			continue;
		}
		assert_int_equal(second[x], slot_after[first[x]]);
	}
	print_message("kernel sticky after closing listener 1: %u / %u / %u, %u sources moved\n",
	    count[0], count[1], count[2], moved);
	group_close(&g);
}

static void
test_kernel_ipv6(void **state)
{
	struct group g;
	struct steer_member m[GROUP];
	unsigned depth[GROUP];
	int rc = group_open(&g, AF_INET6, "::1", true);
	if (rc == -EAFNOSUPPORT || rc == -EADDRNOTAVAIL) {
		group_close(&g);
		print_message("no IPv6 loopback here: skipped\n");
		skip();
	}
	assert_int_equal(rc, 0);
	set_members(m, GROUP, NULL);
	attach_ok(&g, STEER_RANDOM, m);
	for (unsigned c = 0; c < 400; c++)
		group_connect(&g, AF_INET6, NULL);
	group_wait_queued(&g, 400, depth);
	print_message("kernel random on ::1: %u / %u / %u / %u\n",
	    depth[0], depth[1], depth[2], depth[3]);
	for (unsigned i = 0; i < GROUP; i++)
		assert_in_range(depth[i], 60, 140);
	for (unsigned i = 0; i < GROUP; i++) {
		int ignored[256];
		bool mismatch = false;
		group_accept(&g, i, ignored, &mismatch);
	}
	for (unsigned i = 0; i < g.nclients; i++)
		close(g.client[i]);
	g.nclients = 0;

	/* Sticky: ::1 is the only IPv6 source loopback offers; all of its
	 * connections reach the listener the interpreter predicts. */
	attach_ok(&g, STEER_STICKY, m);
	for (unsigned c = 0; c < 50; c++)
		group_connect(&g, AF_INET6, "::1");
	group_wait_queued(&g, 50, depth);
	uint32_t want = steer_run(&prog, AF_INET6, in6addr_loopback.s6_addr, rng_next());
	print_message("kernel sticky on ::1: %u / %u / %u / %u (predicted %u)\n",
	    depth[0], depth[1], depth[2], depth[3], want);
	assert_true(want < GROUP);
	assert_int_equal(depth[want], 50);
	group_close(&g);
}

static void
test_kernel_dual_stack_sees_ipv4_headers(void **state)
{
	struct group g;
	struct steer_member m[GROUP];
	int where[256];
	unsigned count[GROUP];
	int rc = group_open(&g, AF_INET6, "::ffff:127.0.0.1", false);
	if (rc == -EAFNOSUPPORT || rc == -EADDRNOTAVAIL) {
		group_close(&g);
		print_message("no dual-stack sockets here: skipped\n");
		skip();
	}
	assert_int_equal(rc, 0);
	set_members(m, GROUP, NULL);
	attach_ok(&g, STEER_STICKY, m);
	/* sticky_round predicts with steer_run(AF_INET, ...): the IPv4 path. */
	sticky_round(&g, 120, 2, AF_INET, where, count);
	print_message("kernel sticky, dual-stack listener, 120 IPv4 sources x 2: "
	    "%u / %u / %u / %u\n", count[0], count[1], count[2], count[3]);
	group_close(&g);
}

int
main(void)
{
	rng_state = 0x5eed;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_rejects_bad_input),
		cmocka_unit_test(test_interpreter_sees_a_syn),
		cmocka_unit_test(test_check_rejects_what_the_kernel_rejects),
		cmocka_unit_test(test_random_equal_weights_spread_evenly),
		cmocka_unit_test(test_random_follows_weights),
		cmocka_unit_test(test_random_huge_weights_do_not_overflow),
		cmocka_unit_test(test_no_ready_member_falls_back_to_the_kernel),
		cmocka_unit_test(test_sizes_stay_small),
		cmocka_unit_test(test_random_exact_over_one_period),
		cmocka_unit_test(test_sticky_program_matches_reference),
		cmocka_unit_test(test_sticky_same_address_same_member),
		cmocka_unit_test(test_sticky_spreads_addresses),
		cmocka_unit_test(test_sticky_only_a_dropped_members_clients_move),
		cmocka_unit_test(test_sticky_weight_and_membership_changes_move_little),
		cmocka_unit_test(test_sticky_follows_ids_not_indexes),
		cmocka_unit_test(test_weights_from_depths),
		cmocka_unit_test(test_kernel_takes_the_largest_programs),
		cmocka_unit_test(test_kernel_random_spreads_evenly),
		cmocka_unit_test(test_kernel_close_compacts_and_weights_follow),
		cmocka_unit_test(test_kernel_sticky_keeps_each_source_on_one_listener),
		cmocka_unit_test(test_kernel_ipv6),
		cmocka_unit_test(test_kernel_dual_stack_sees_ipv4_headers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
