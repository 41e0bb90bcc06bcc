/*
 * steer.c — classic BPF steering for reuseport listener groups: program
 * generation (weighted random, sticky by source address), attachment, a
 * small interpreter and checker for tests, and accept-queue probes.
 * The program layout is drawn in steer.h.
 */
#include "cluster/steer.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

/* Farthest a conditional jump reaches (jt/jf are 8 bits). */
#define JUMP_MAX 255
/* RANDOM: keep sum(weights) <= 2^24 so random % total is near-uniform. */
#define RANDOM_TOTAL_MAX (1u << 24)

/* Sticky hash: h = SEED; per 32-bit word h = (h ^ w) * MIX_K, h ^= h >> 16;
 * then the usual 32-bit finaliser. Fixed, so a client keeps its bucket
 * across rebuilds and daemon restarts. */
#define STICKY_SEED 0x2545f491u
#define STICKY_MIX_K 0x9e3779b1u
#define FMIX_C1 0x85ebca6bu
#define FMIX_C2 0xc2b2ae35u
/* Rendezvous hash seed (bucket, member id) → score. */
#define HRW_SEED 0x6a09e667f3bcc909ull

/* Offsets in the network header (SKF_NET_OFF-relative). */
#define NET_V4_SRC 12
#define NET_V6_SRC 8

#define IP_HDR_MAX 60

/* ::ffff:0:0/96, how a dual-stack socket spells an IPv4 peer. */
static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* One sorted key range of the search tree: keys [lo, next lo) map to value. */
struct range {
	uint32_t lo;
	uint32_t value;
};

/* Appends instructions to a program; err latches -E2BIG on overflow. */
struct emitter {
	struct steer_prog *prog;
	int err;
};

static unsigned
emit(struct emitter *e, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
	struct steer_prog *p = e->prog;
	if (p->len >= BPF_MAXINSNS) {
		e->err = -E2BIG;
		return p->len;
	}
	p->insns[p->len] = (struct sock_filter)BPF_JUMP(code, k, jt, jf);
	return p->len++;
}

static unsigned
emit_stmt(struct emitter *e, uint16_t code, uint32_t k)
{
	return emit(e, code, k, 0, 0);
}

/* Point the conditional jump at `at` (jt or jf) to absolute `target`. */
static void
patch_cond(struct emitter *e, unsigned at, bool true_branch, unsigned target)
{
	if (e->err != 0 || at >= e->prog->len)
		return;
	unsigned off = target - at - 1;
	if (target <= at || off > JUMP_MAX) {
		e->err = -E2BIG;
		return;
	}
	if (true_branch)
		e->prog->insns[at].jt = (uint8_t)off;
	else
		e->prog->insns[at].jf = (uint8_t)off;
}

static void
patch_ja(struct emitter *e, unsigned at, unsigned target)
{
	if (e->err != 0 || at >= e->prog->len)
		return;
	e->prog->insns[at].k = target - at - 1;
}

/*
 * The search tree over ranges[lo, hi): A holds the key. Leaves are either
 * "ret #value" (leaf_len 1) or "ld #value; ja tail" (leaf_len 2). Layout:
 * node, left subtree, right subtree; a node whose left subtree is longer
 * than a conditional jump reaches goes through a "ja".
 */
struct tree {
	const struct range *ranges;
	unsigned leaf_len;
	unsigned tail;		/* absolute position of the shared tail */
};

static unsigned
tree_len(const struct tree *t, unsigned lo, unsigned hi)
{
	if (hi - lo == 1)
		return t->leaf_len;
	unsigned mid = lo + (hi - lo) / 2;
	unsigned left = tree_len(t, lo, mid);
	return 1 + (left > JUMP_MAX) + left + tree_len(t, mid, hi);
}

static void
emit_tree(struct emitter *e, const struct tree *t, unsigned lo, unsigned hi)
{
	if (hi - lo == 1) {
		if (t->leaf_len == 1) {
			emit_stmt(e, BPF_RET | BPF_K, t->ranges[lo].value);
		} else {
			emit_stmt(e, BPF_LD | BPF_IMM, t->ranges[lo].value);
			patch_ja(e, emit_stmt(e, BPF_JMP | BPF_JA, 0), t->tail);
		}
		return;
	}
	unsigned mid = lo + (hi - lo) / 2;
	unsigned left = tree_len(t, lo, mid);
	if (left <= JUMP_MAX) {
		emit(e, BPF_JMP | BPF_JGE | BPF_K, t->ranges[mid].lo, (uint8_t)left, 0);
	} else {
		emit(e, BPF_JMP | BPF_JGE | BPF_K, t->ranges[mid].lo, 0, 1);
		emit_stmt(e, BPF_JMP | BPF_JA, left);
	}
	emit_tree(e, t, lo, mid);
	emit_tree(e, t, mid, hi);
}

/* Emit the tree for nranges ranges (nranges >= 1). Two-instruction leaves
 * jump to the tail, which the caller emits right after the tree. */
static void
emit_search(struct emitter *e, const struct range *ranges, unsigned nranges,
    unsigned leaf_len)
{
	struct tree t = { .ranges = ranges, .leaf_len = leaf_len };
	t.tail = e->prog->len + tree_len(&t, 0, nranges);
	emit_tree(e, &t, 0, nranges);
}

/* ---- STEER_RANDOM ---------------------------------------------------- */

static void
build_random(struct emitter *e, const struct steer_member *m, unsigned n)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += m[i].weight;

	struct range ranges[STEER_MAX_MEMBERS];
	unsigned nranges = 0;
	uint32_t lo = 0;
	for (unsigned i = 0; i < n; i++) {
		if (m[i].weight == 0)
			continue;
		uint64_t w = m[i].weight;
		if (total > RANDOM_TOTAL_MAX) {
			w = w * RANDOM_TOTAL_MAX / total;
			if (w == 0)
				w = 1;
		}
		ranges[nranges].lo = lo;
		ranges[nranges].value = i;
		nranges++;
		lo += (uint32_t)w;
	}
	emit_stmt(e, BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM));
	emit_stmt(e, BPF_ALU | BPF_MOD | BPF_K, lo);
	emit_search(e, ranges, nranges, 1);
}

/* ---- STEER_STICKY ---------------------------------------------------- */

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/* 52 uniform bits from (bucket, id): the rendezvous draw. 52, so that
 * draw + 0.5 is exact in a double. */
static uint64_t
hrw_draw(uint32_t bucket, uint32_t id)
{
	return mix64(((uint64_t)id << 32 | bucket) ^ HRW_SEED) >> 12;
}

static bool
weights_equal(const struct steer_member *m, unsigned n)
{
	uint32_t first_weight = 0;
	for (unsigned i = 0; i < n; i++) {
		if (m[i].weight == 0)
			continue;
		if (first_weight == 0)
			first_weight = m[i].weight;
		else if (m[i].weight != first_weight)
			return false;
	}
	return true;
}

/*
 * Owner (kernel index) of a bucket by weighted rendezvous hashing: the
 * member with the highest weight / -ln(U), U = (draw + 0.5) / 2^52. With
 * equal weights that order is the order of the draws, compared exactly as
 * integers. Ties go to the higher draw, then the lower id, then the lower
 * index: one total order, so removing a member that does not own a bucket
 * never changes its owner. -1 when no member has weight > 0.
 */
static int
bucket_owner(const struct steer_member *m, unsigned n, bool equal, uint32_t bucket)
{
	int best = -1;
	uint64_t best_draw = 0;
	double best_score = 0;
	for (unsigned i = 0; i < n; i++) {
		if (m[i].weight == 0)
			continue;
		uint64_t draw = hrw_draw(bucket, m[i].id);
		double score = 0;
		if (!equal) {
			double u = ((double)draw + 0.5) / 4503599627370496.0;
			score = (double)m[i].weight / -log(u);
		}
		bool better = best < 0 || score > best_score ||
		    (score == best_score && (draw > best_draw ||
		    (draw == best_draw && m[i].id < m[best].id)));
		if (better) {
			best = (int)i;
			best_draw = draw;
			best_score = score;
		}
	}
	return best;
}

uint32_t
steer_bucket_owner(const struct steer_member *members, unsigned n, uint32_t bucket)
{
	if (n == 0 || n > STEER_MAX_MEMBERS || bucket >= STEER_BUCKETS)
		return STEER_FALLBACK;
	int owner = bucket_owner(members, n, weights_equal(members, n), bucket);
	return owner < 0 ? STEER_FALLBACK : (uint32_t)owner;
}

static uint32_t
sticky_mix_word(uint32_t h, uint32_t word)
{
	h = (h ^ word) * STICKY_MIX_K;
	return h ^ (h >> 16);
}

static uint32_t
load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The C twin of the hash the sticky program computes; the tests hold the
 * two to each other. */
uint32_t
steer_bucket(int family, const uint8_t *src_addr)
{
	uint32_t h = STICKY_SEED;

	if (family == AF_INET6 && memcmp(src_addr, v4_mapped, sizeof(v4_mapped)) == 0) {
		family = AF_INET;
		src_addr += sizeof(v4_mapped);
	}
	if (family == AF_INET)
		h = sticky_mix_word(h, load_be32(src_addr));
	else if (family == AF_INET6)
		for (unsigned i = 0; i < 4; i++)
			h = sticky_mix_word(h, load_be32(src_addr + 4 * i));
	else
		return STEER_FALLBACK;
	h ^= h >> 16;
	h *= FMIX_C1;
	h ^= h >> 13;
	h *= FMIX_C2;
	h ^= h >> 16;
	return h & (STEER_BUCKETS - 1);
}

/* h = (h ^ A) * K; h ^= h >> 16, with h in X on entry and in A on exit. */
static void
emit_mix_word(struct emitter *e, uint32_t net_off)
{
	emit_stmt(e, BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_NET_OFF + (int32_t)net_off));
	emit_stmt(e, BPF_ALU | BPF_XOR | BPF_X, 0);
	emit_stmt(e, BPF_ALU | BPF_MUL | BPF_K, STICKY_MIX_K);
	emit_stmt(e, BPF_MISC | BPF_TAX, 0);
	emit_stmt(e, BPF_ALU | BPF_RSH | BPF_K, 16);
	emit_stmt(e, BPF_ALU | BPF_XOR | BPF_X, 0);
}

/* A ^= A >> shift (clobbers X). */
static void
emit_xorshift(struct emitter *e, uint32_t shift)
{
	emit_stmt(e, BPF_MISC | BPF_TAX, 0);
	emit_stmt(e, BPF_ALU | BPF_RSH | BPF_K, shift);
	emit_stmt(e, BPF_ALU | BPF_XOR | BPF_X, 0);
}

static void
build_sticky(struct emitter *e, const struct steer_member *m, unsigned n)
{
	uint16_t owner[STEER_BUCKETS];
	bool equal = weights_equal(m, n);
	for (uint32_t b = 0; b < STEER_BUCKETS; b++)
		owner[b] = (uint16_t)bucket_owner(m, n, equal, b);

	uint32_t max_index = 1;
	for (unsigned b = 0; b < STEER_BUCKETS; b++)
		if (owner[b] > max_index)
			max_index = owner[b];
	uint32_t bits = 32 - (uint32_t)__builtin_clz(max_index);
	uint32_t per_word = 32 / bits;
	uint32_t mask = (1u << bits) - 1;

	/* Pack the table, merging runs of identical words into one range. */
	struct range ranges[STEER_BUCKETS];
	unsigned nranges = 0;
	for (uint32_t b0 = 0, w = 0; b0 < STEER_BUCKETS; b0 += per_word, w++) {
		uint32_t word = 0;
		for (uint32_t j = 0; j < per_word && b0 + j < STEER_BUCKETS; j++)
			word |= (uint32_t)owner[b0 + j] << (j * bits);
		if (nranges > 0 && ranges[nranges - 1].value == word)
			continue;
		ranges[nranges].lo = w;
		ranges[nranges].value = word;
		nranges++;
	}

	emit_stmt(e, BPF_LD | BPF_B | BPF_ABS, (uint32_t)SKF_NET_OFF);
	emit_stmt(e, BPF_ALU | BPF_RSH | BPF_K, 4);
	unsigned is_v4 = emit(e, BPF_JMP | BPF_JEQ | BPF_K, 4, 0, 0);
	unsigned is_v6 = emit(e, BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 0);
	emit_stmt(e, BPF_RET | BPF_K, STEER_FALLBACK);

	patch_cond(e, is_v6, true, e->prog->len);
	emit_stmt(e, BPF_LDX | BPF_IMM, STICKY_SEED);
	for (uint32_t i = 0; i < 4; i++) {
		if (i > 0)
			emit_stmt(e, BPF_MISC | BPF_TAX, 0);
		emit_mix_word(e, NET_V6_SRC + 4 * i);
	}
	unsigned v6_done = emit_stmt(e, BPF_JMP | BPF_JA, 0);

	patch_cond(e, is_v4, true, e->prog->len);
	emit_stmt(e, BPF_LDX | BPF_IMM, STICKY_SEED);
	emit_mix_word(e, NET_V4_SRC);

	patch_ja(e, v6_done, e->prog->len);
	emit_xorshift(e, 16);
	emit_stmt(e, BPF_ALU | BPF_MUL | BPF_K, FMIX_C1);
	emit_xorshift(e, 13);
	emit_stmt(e, BPF_ALU | BPF_MUL | BPF_K, FMIX_C2);
	emit_xorshift(e, 16);

	/* A = bucket; then X = bit offset in its word, A = word number. */
	emit_stmt(e, BPF_ALU | BPF_AND | BPF_K, STEER_BUCKETS - 1);
	emit_stmt(e, BPF_MISC | BPF_TAX, 0);
	emit_stmt(e, BPF_ALU | BPF_MOD | BPF_K, per_word);
	emit_stmt(e, BPF_ALU | BPF_MUL | BPF_K, bits);
	emit_stmt(e, BPF_ST, 0);
	emit_stmt(e, BPF_MISC | BPF_TXA, 0);
	emit_stmt(e, BPF_ALU | BPF_DIV | BPF_K, per_word);
	emit_stmt(e, BPF_LDX | BPF_MEM, 0);

	emit_search(e, ranges, nranges, 2);
	emit_stmt(e, BPF_ALU | BPF_RSH | BPF_X, 0);
	emit_stmt(e, BPF_ALU | BPF_AND | BPF_K, mask);
	emit_stmt(e, BPF_RET | BPF_A, 0);
}

int
steer_build(enum steer_mode mode, const struct steer_member *members, unsigned n,
    struct steer_prog *out)
{
	if (n == 0 || n > STEER_MAX_MEMBERS ||
	    (mode != STEER_RANDOM && mode != STEER_STICKY))
		return -EINVAL;

	struct emitter e = { .prog = out, .err = 0 };
	out->len = 0;
	unsigned active = 0, last_active = 0;
	for (unsigned i = 0; i < n; i++) {
		if (members[i].weight > 0) {
			active++;
			last_active = i;
		}
	}
	if (active == 0)
		emit_stmt(&e, BPF_RET | BPF_K, STEER_FALLBACK);
	else if (active == 1)
		emit_stmt(&e, BPF_RET | BPF_K, last_active);
	else if (mode == STEER_RANDOM)
		build_random(&e, members, n);
	else
		build_sticky(&e, members, n);
	/* Sizes are bounded below BPF_MAXINSNS (2052 at most, steer.h), so an
	 * overflow here is a bug in this file, not bad input. */
	if (e.err != 0) {
		out->len = 0;
		return e.err;
	}
	return 0;
}

int
steer_attach(int fd, const struct steer_prog *prog)
{
	if (prog->len == 0 || prog->len > BPF_MAXINSNS)
		return -EINVAL;
	struct sock_fprog fprog = {
		.len = (unsigned short)prog->len,
		.filter = (struct sock_filter *)prog->insns,
	};
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fprog, sizeof(fprog)) < 0)
		return -errno;
	return 0;
}

/* ---- interpreter ----------------------------------------------------- */

/* What the program sees of a SYN: no payload, a network header (IP header
 * and a zeroed TCP header) reachable through SKF_NET_OFF. */
struct packet {
	uint8_t net[IP_HDR_MAX + 20];
	uint32_t net_len;
	uint32_t random;
};

static void
packet_init(struct packet *pkt, int family, const uint8_t *src_addr, uint32_t random)
{
	memset(pkt, 0, sizeof(*pkt));
	pkt->random = random;
	if (family == AF_INET6 && memcmp(src_addr, v4_mapped, sizeof(v4_mapped)) == 0) {
		family = AF_INET;
		src_addr += sizeof(v4_mapped);
	}
	if (family == AF_INET) {
		pkt->net[0] = 0x45;
		pkt->net[9] = IPPROTO_TCP;
		memcpy(pkt->net + NET_V4_SRC, src_addr, 4);
		pkt->net_len = 20 + 20;
	} else if (family == AF_INET6) {
		pkt->net[0] = 0x60;
		pkt->net[6] = IPPROTO_TCP;
		memcpy(pkt->net + NET_V6_SRC, src_addr, 16);
		pkt->net_len = 40 + 20;
	}
}

/* Load `size` bytes big-endian at a signed BPF offset; false when the kernel
 * would fail the load (which ends the program with 0). */
static bool
packet_load(const struct packet *pkt, int64_t off, uint32_t size, bool absolute, uint32_t *out)
{
	if (absolute && off >= SKF_AD_OFF && off < 0) {
		if (off != SKF_AD_OFF + SKF_AD_RANDOM)
			return false;
		*out = pkt->random;
		return true;
	}
	if (off < SKF_NET_OFF || off >= SKF_AD_OFF)
		return false;	/* payload is empty; link layer not modelled */
	int64_t at = off - SKF_NET_OFF;
	if (at + size > pkt->net_len)
		return false;
	uint32_t v = 0;
	for (uint32_t i = 0; i < size; i++)
		v = v << 8 | pkt->net[at + i];
	*out = v;
	return true;
}

static uint32_t
size_of(uint16_t code)
{
	switch (BPF_SIZE(code)) {
	case BPF_W: return 4;
	case BPF_H: return 2;
	default: return 1;
	}
}

/* A OP operand; false on division by zero (the program returns 0). */
static bool
alu(uint16_t op, uint32_t *a, uint32_t operand)
{
	switch (op) {
	case BPF_ADD: *a += operand; break;
	case BPF_SUB: *a -= operand; break;
	case BPF_MUL: *a *= operand; break;
	case BPF_DIV:
		if (operand == 0)
			return false;
		*a /= operand;
		break;
	case BPF_MOD:
		if (operand == 0)
			return false;
		*a %= operand;
		break;
	case BPF_AND: *a &= operand; break;
	case BPF_OR: *a |= operand; break;
	case BPF_XOR: *a ^= operand; break;
	case BPF_LSH: *a = operand < 32 ? *a << operand : 0; break;
	case BPF_RSH: *a = operand < 32 ? *a >> operand : 0; break;
	case BPF_NEG: *a = -*a; break;
	default: return false;
	}
	return true;
}

uint32_t
steer_run(const struct steer_prog *prog, int family, const uint8_t *src_addr, uint32_t random)
{
	struct packet pkt;
	packet_init(&pkt, family, src_addr, random);
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = { 0 };

	for (unsigned pc = 0; pc < prog->len && pc < BPF_MAXINSNS; pc++) {
		const struct sock_filter *f = &prog->insns[pc];
		uint32_t v;
		switch (BPF_CLASS(f->code)) {
		case BPF_LD:
			switch (BPF_MODE(f->code)) {
			case BPF_ABS:
			case BPF_IND: {
				bool absolute = BPF_MODE(f->code) == BPF_ABS;
				int64_t off = (int32_t)f->k;
				if (!absolute)
					off = (int32_t)(f->k + x);
				if (!packet_load(&pkt, off, size_of(f->code), absolute, &v))
					return 0;
				a = v;
				break;
			}
			case BPF_IMM: a = f->k; break;
			case BPF_LEN: a = 0; break;
			case BPF_MEM:
				if (f->k >= BPF_MEMWORDS)
					return 0;
				a = mem[f->k];
				break;
			default: return 0;
			}
			break;
		case BPF_LDX:
			switch (BPF_MODE(f->code)) {
			case BPF_IMM: x = f->k; break;
			case BPF_LEN: x = 0; break;
			case BPF_MEM:
				if (f->k >= BPF_MEMWORDS)
					return 0;
				x = mem[f->k];
				break;
			case BPF_MSH:
				if (!packet_load(&pkt, (int32_t)f->k, 1, false, &v))
					return 0;
				x = (v & 0xf) << 2;
				break;
			default: return 0;
			}
			break;
		case BPF_ST:
		case BPF_STX:
			if (f->k >= BPF_MEMWORDS)
				return 0;
			mem[f->k] = BPF_CLASS(f->code) == BPF_ST ? a : x;
			break;
		case BPF_ALU:
			if (!alu(BPF_OP(f->code), &a, BPF_SRC(f->code) == BPF_X ? x : f->k))
				return 0;
			break;
		case BPF_JMP: {
			uint32_t operand = BPF_SRC(f->code) == BPF_X ? x : f->k;
			bool taken;
			switch (BPF_OP(f->code)) {
			case BPF_JA:
				if (f->k >= prog->len)
					return 0;
				pc += f->k;
				continue;
			case BPF_JEQ: taken = a == operand; break;
			case BPF_JGT: taken = a > operand; break;
			case BPF_JGE: taken = a >= operand; break;
			case BPF_JSET: taken = (a & operand) != 0; break;
			default: return 0;
			}
			pc += taken ? f->jt : f->jf;
			break;
		}
		case BPF_RET:
			return BPF_RVAL(f->code) == BPF_A ? a : f->k;
		case BPF_MISC:
			if (BPF_MISCOP(f->code) == BPF_TAX)
				x = a;
			else
				a = x;
			break;
		default:
			return 0;
		}
	}
	return 0;	/* fell off the end: the checker rejects such programs */
}

/* ---- checker --------------------------------------------------------- */

static bool
opcode_known(uint16_t code)
{
	switch (code) {
	case BPF_LD | BPF_W | BPF_ABS: case BPF_LD | BPF_H | BPF_ABS:
	case BPF_LD | BPF_B | BPF_ABS: case BPF_LD | BPF_W | BPF_IND:
	case BPF_LD | BPF_H | BPF_IND: case BPF_LD | BPF_B | BPF_IND:
	case BPF_LD | BPF_IMM: case BPF_LD | BPF_W | BPF_LEN: case BPF_LD | BPF_MEM:
	case BPF_LDX | BPF_IMM: case BPF_LDX | BPF_W | BPF_LEN: case BPF_LDX | BPF_MEM:
	case BPF_LDX | BPF_B | BPF_MSH:
	case BPF_ST: case BPF_STX:
	case BPF_RET | BPF_K: case BPF_RET | BPF_A:
	case BPF_MISC | BPF_TAX: case BPF_MISC | BPF_TXA:
	case BPF_ALU | BPF_NEG:
	case BPF_JMP | BPF_JA:
		return true;
	}
	uint16_t op = BPF_OP(code);
	if (BPF_CLASS(code) == BPF_ALU)
		return op == BPF_ADD || op == BPF_SUB || op == BPF_MUL || op == BPF_DIV ||
		    op == BPF_MOD || op == BPF_AND || op == BPF_OR || op == BPF_XOR ||
		    op == BPF_LSH || op == BPF_RSH;
	if (BPF_CLASS(code) == BPF_JMP)
		return op == BPF_JEQ || op == BPF_JGT || op == BPF_JGE || op == BPF_JSET;
	return false;
}

int
steer_check(const struct steer_prog *prog)
{
	unsigned len = prog->len;
	if (len == 0 || len > BPF_MAXINSNS)
		return -EINVAL;
	/* Scratch words known to be written on every path reaching each pc;
	 * jumps only go forward, so one pass settles it. */
	uint16_t valid_at[BPF_MAXINSNS];
	for (unsigned pc = 0; pc < len; pc++)
		valid_at[pc] = 0xffff;
	uint16_t valid = 0;

	for (unsigned pc = 0; pc < len; pc++) {
		const struct sock_filter *f = &prog->insns[pc];
		uint16_t code = f->code;
		valid &= valid_at[pc];
		if (!opcode_known(code))
			return -EINVAL;
		switch (BPF_CLASS(code)) {
		case BPF_LD:
		case BPF_LDX:
			if (BPF_MODE(code) == BPF_MEM) {
				if (f->k >= BPF_MEMWORDS || !(valid & (1u << f->k)))
					return -EINVAL;
			}
			break;
		case BPF_ST:
		case BPF_STX:
			if (f->k >= BPF_MEMWORDS)
				return -EINVAL;
			valid |= (uint16_t)(1u << f->k);
			break;
		case BPF_ALU:
			if (BPF_SRC(code) == BPF_K && BPF_OP(code) != BPF_NEG) {
				if ((BPF_OP(code) == BPF_DIV || BPF_OP(code) == BPF_MOD) && f->k == 0)
					return -EINVAL;
				if ((BPF_OP(code) == BPF_LSH || BPF_OP(code) == BPF_RSH) && f->k >= 32)
					return -EINVAL;
			}
			break;
		case BPF_JMP:
			if (BPF_OP(code) == BPF_JA) {
				if (f->k >= len - pc - 1)
					return -EINVAL;
				valid_at[pc + 1 + f->k] &= valid;
			} else {
				if (pc + 1 + f->jt >= len || pc + 1 + f->jf >= len)
					return -EINVAL;
				valid_at[pc + 1 + f->jt] &= valid;
				valid_at[pc + 1 + f->jf] &= valid;
			}
			valid = 0xffff;	/* nothing falls through */
			break;
		case BPF_RET:
			valid = 0xffff;
			break;
		}
	}
	if (BPF_CLASS(prog->insns[len - 1].code) != BPF_RET)
		return -EINVAL;
	return 0;
}

/* ---- least-busy ------------------------------------------------------ */

int
steer_queue_depth(int fd)
{
	struct tcp_info info;
	socklen_t len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0)
		return -errno;
	if (info.tcpi_state != TCP_LISTEN)
		return -EINVAL;
	/* On a listener tcpi_unacked is the accept-queue length. */
	return info.tcpi_unacked > INT_MAX ? INT_MAX : (int)info.tcpi_unacked;
}

void
steer_weights_from_depths(const uint32_t *depth, const bool *ready, unsigned n,
    uint32_t *weights_out)
{
	uint32_t best = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!ready[i]) {
			weights_out[i] = 0;
			continue;
		}
		uint64_t w = STEER_WEIGHT_FULL / (1 + (uint64_t)depth[i]);
		weights_out[i] = w == 0 ? 1 : (uint32_t)w;
		if (weights_out[i] > best)
			best = weights_out[i];
	}
	uint32_t floor = best / 4 ? best / 4 : 1;
	for (unsigned i = 0; i < n; i++)
		if (ready[i] && weights_out[i] < floor)
			weights_out[i] = floor;
}
