/*
 * steer.h — the classic BPF program that spreads new TCP connections over a
 * `reuseport` listener group (one SO_REUSEPORT socket per instance slot),
 * attached with SO_ATTACH_REUSEPORT_CBPF. The kernel runs it on every SYN
 * that reaches the group; its return value is the index of the socket that
 * gets the connection. No proxy, no work in the daemon per connection.
 *
 * Kernel facts the layout relies on (docs/architecture.md, "The steering
 * program", says how each was checked):
 *   - The program runs after the TCP header was pulled: offset 0 is the
 *     (empty) SYN payload, so the IP header is read through SKF_NET_OFF.
 *     IPv4 source at NET+12 (4 bytes), IPv6 source at NET+8 (16 bytes),
 *     version in the high nibble of NET+0. A dual-stack IPv6 listener sees
 *     IPv4 clients with an IPv4 header.
 *   - Group index = listen() order; closing a member moves the LAST member
 *     into its hole. members[i] of steer_build() must describe the socket at
 *     kernel index i, so the caller rebuilds after every membership change.
 *   - A return value >= the group size makes the kernel use its own hash
 *     (STEER_FALLBACK).
 *   - cBPF needs no privilege; conditional jumps reach at most 255
 *     instructions ahead ("ja" reaches anywhere); at most 4096 instructions.
 *
 * STEER_RANDOM, k = members with weight > 0 (k >= 2; k == 1 is a single
 * "ret #index", k == 0 a single "ret #STEER_FALLBACK"):
 *
 *      ld   rand                 A = SKF_AD_RANDOM
 *      mod  #total               A = random % sum(weights)      (a "key")
 *   +- jge  #lo[mid] ---------+  binary search over the weight ranges
 *   |  jge  #lo[mid/2] --+    |  [0,w0) [w0,w0+w1) ... of the members in
 *   |  ret  #i0          |    |  index order; each leaf returns one index
 *   |  ret  #i1  <-------+    |
 *   +> ...          <---------+
 *
 * STEER_STICKY, same k shortcuts:
 *
 *      ldb  [NET+0]
 *      rsh  #4                   A = IP version
 *      jeq  #4 ---------------------------------+
 *      jeq  #6 --+                              |
 *      ret  #STEER_FALLBACK   neither v4 nor v6 |
 *   v6: ldx #seed          <-+                  |
 *      4 x { ld [NET+8+4i]; xor x; mul #K;      |   h = (h ^ word) * K
 *            tax; rsh #16; xor x; (tax) }       |   h ^= h >> 16
 *      ja   hash --------------------------+    |
 *   v4: ldx #seed; ld [NET+12]; the same  <-----+   one word
 *   hash: tax; rsh #16; xor x; mul #C1;  <-+        32-bit finaliser
 *         tax; rsh #13; xor x; mul #C2;             (avalanche)
 *         tax; rsh #16; xor x
 *      and  #1023                A = bucket (STEER_BUCKETS buckets)
 *      tax; mod #per_word; mul #bits; st M[0]
 *      txa; div #per_word        A = table word, X = bit offset in it
 *      ldx  M[0]
 *   +- jge  #w[mid] ...          binary search over the table words
 *   |  ld   #word_a; ja tail     each leaf loads one 32-bit table word:
 *   +> ld   #word_b; ja tail     per_word = 32 / bits indexes, bits =
 *      ...                       bits needed for the largest index
 *   tail: rsh x; and #mask; ret a   the bucket's member index
 *
 * The bucket table is built in C: bucket b goes to the member with the
 * highest weighted rendezvous score  weight / -ln(U(b, id)), U a hash of
 * (b, member id) mapped into (0,1). So the assignment depends on ids, never
 * on kernel indexes; when a member's weight drops to 0 only its buckets move
 * (each to its next-best member) and they come back when it returns; raising
 * or lowering one weight only moves buckets to or from that member.
 *
 * A long left subtree (> 255 instructions) gets a trampoline:
 * "jge #lo, 0, 1; ja left_len". Sizes (tests/unit/test_steer.c prints
 * them): random 2k+4 instructions for k members (513 for 256, 2052 for
 * 1024); sticky at most 1089, the table having at most 342 words of 3
 * 10-bit indexes (831 for 256 members). Every one is within the kernel's
 * 4096, which is why one group can hold STEER_MAX_MEMBERS = 1024. A SYN
 * runs ~log2(k) comparisons, plus ~50 instructions of hashing if sticky.
 */
#ifndef CORRAL_STEER_H
#define CORRAL_STEER_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/filter.h>

/* Members of one group: instances sharing a port, plus the successors a
 * rolling reload adds meanwhile (a 256-instance app reloading 64 at a time
 * needs 320). */
#define STEER_MAX_MEMBERS 1024
/* Returned when no member may take the connection: an index no group can
 * have, so the kernel falls back to its own hash over all members. */
#define STEER_FALLBACK UINT32_MAX
/* Number of sticky buckets; fixed so a client's bucket never changes. */
#define STEER_BUCKETS 1024
/* Weight of a ready member with an empty accept queue (least-busy). */
#define STEER_WEIGHT_FULL 1024

enum steer_mode {
	STEER_RANDOM,	/* weighted random per connection */
	STEER_STICKY,	/* by client source address, weighted */
};

struct steer_member {
	uint32_t id;      /* stable identity of the instance slot (not the kernel index) */
	uint32_t weight;  /* 0 = gets no new connections (not ready, dead, draining) */
};

struct steer_prog {
	struct sock_filter insns[BPF_MAXINSNS];
	unsigned len;
};

/*
 * Build the program for a group: members[i] describes the socket at kernel
 * index i. Members with weight 0 are never chosen; if every weight is 0 the
 * program returns STEER_FALLBACK (>= n) and the kernel hashes over all
 * members, which beats refusing connections. RANDOM weights are scaled down
 * proportionally when they sum to more than 2^24 (keeps the modulo bias
 * below 0.4 %). Two members with the same id act as one in STICKY mode (the
 * lower index wins). Deterministic: same input, same program.
 * 0, or -EINVAL (n == 0, n > STEER_MAX_MEMBERS, unknown mode).
 */
int steer_build(enum steer_mode mode, const struct steer_member *members, unsigned n,
    struct steer_prog *out);

/* setsockopt(SO_ATTACH_REUSEPORT_CBPF) on any member socket; it replaces the
 * group's program at once. 0 or -errno. */
int steer_attach(int fd, const struct steer_prog *prog);

/*
 * Run a program the way the kernel would on a SYN from src_addr (raw bytes
 * of an AF_INET or AF_INET6 address), with `random` as SKF_AD_RANDOM. An
 * IPv4-mapped AF_INET6 address gets an IPv4 header, as on a dual-stack
 * listener; any other family gets no network header. A failed load returns
 * 0, like the kernel. For tests and the fuzz target.
 */
uint32_t steer_run(const struct steer_prog *prog, int family, const uint8_t *src_addr,
    uint32_t random);

/* The sticky bucket of a client address (0 .. STEER_BUCKETS-1), computed in
 * C exactly as the program computes it; an IPv4-mapped AF_INET6 address
 * hashes as IPv4. STEER_FALLBACK for other families. */
uint32_t steer_bucket(int family, const uint8_t *src_addr);

/* The kernel index that owns a sticky bucket for these members, the same
 * table steer_build() compiles in; STEER_FALLBACK if no member has weight
 * > 0 or the arguments are out of range. With steer_bucket() this answers
 * "which instance serves client X" without running the program. */
uint32_t steer_bucket_owner(const struct steer_member *members, unsigned n, uint32_t bucket);

/* Check a program as the kernel's classic BPF checker would (known opcodes,
 * jumps inside the program, ends in ret, scratch memory written before it is
 * read, no division by a constant 0). 0 or -EINVAL. For tests and fuzzing. */
int steer_check(const struct steer_prog *prog);

/* Accept-queue depth of a LISTEN socket (TCP_INFO tcpi_unacked); -EINVAL if
 * fd is not listening, else -errno on failure. */
int steer_queue_depth(int fd);

/*
 * least-busy: weight = 0 when not ready, else
 *     max(STEER_WEIGHT_FULL / (1 + depth), best / 4, 1)
 * where best is the highest such weight. An empty queue gets 1024, one
 * waiting connection 512, three 256: the share falls as 1/(queue + 1), a
 * proportional rather than all-or-nothing preference that does not herd
 * every new connection onto the one idle instance until the next sample.
 * No ready member drops below a quarter of the best: a stalled instance
 * sheds three quarters of its share, a busy one is only leaned against.
 */
void steer_weights_from_depths(const uint32_t *depth, const bool *ready, unsigned n,
    uint32_t *weights_out);

#endif
