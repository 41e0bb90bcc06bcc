/*
 * test_idmap.c — the id → pointer map (common/idmap.h) against a plain
 * array, through many random inserts, replacements and deletions (deletion
 * moves entries back, the part that is easy to get wrong); ids that collide
 * in the table; the map is empty again at the end. Chains: several values
 * under one key, unlinked from the head, the middle and the end.
 */
#include "unit.h"

#include <stddef.h>
#include <stdlib.h>

#include "common/idmap.h"

enum { KEYS = 4096 };

static void
test_against_an_array(void **state)
{
	static char objects[KEYS];
	static void *want[KEYS];
	struct idmap m = IDMAP_INIT;
	unsigned seed = 12345;
	for (int round = 0; round < 200000; round++) {
		seed = seed * 1103515245u + 12345u;
		uint64_t key = (seed >> 8) % KEYS;
		void *v = &objects[(seed >> 4) % KEYS];
		switch ((seed >> 20) % 3) {
		case 0:
		case 1:
			idmap_put(&m, key, v);
			want[key] = v;
			break;
		case 2:
			assert_ptr_equal(idmap_del(&m, key), want[key]);
			want[key] = NULL;
			break;
		}
		if (round % 997 == 0) {
			size_t n = 0;
			for (uint64_t k = 0; k < KEYS; k++) {
				assert_ptr_equal(idmap_get(&m, k), want[k]);
				n += want[k] != NULL;
			}
			assert_int_equal(m.n, n);
		}
	}
	for (uint64_t k = 0; k < KEYS; k++)
		if (want[k])
			assert_ptr_equal(idmap_del(&m, k), want[k]);
	assert_int_equal(m.n, 0);
	assert_null(idmap_get(&m, 7));
	idmap_free(&m);
}

/* Keys far apart (pids, uids) and key 0 (pm_id 0). */
static void
test_odd_keys(void **state)
{
	struct idmap m = IDMAP_INIT;
	int a, b, c;
	assert_null(idmap_get(&m, 0));
	assert_null(idmap_del(&m, 0));
	idmap_put(&m, 0, &a);
	idmap_put(&m, UINT64_MAX, &b);
	idmap_put(&m, 1ull << 40, &c);
	assert_ptr_equal(idmap_get(&m, 0), &a);
	assert_ptr_equal(idmap_get(&m, UINT64_MAX), &b);
	assert_ptr_equal(idmap_get(&m, 1ull << 40), &c);
	idmap_put(&m, 0, &c);
	assert_ptr_equal(idmap_get(&m, 0), &c);
	assert_int_equal(m.n, 3);
	idmap_free(&m);
}

struct named {
	const char *name;
	struct named *next;
};

/* The values under key, in chain order, as a string of their names. */
static void
chain_is(struct idmap *m, uint64_t key, const char *want)
{
	char got[16] = "";
	size_t n = 0;
	for (struct named *v = idmap_get(m, key); v && n < sizeof(got) - 1; v = v->next)
		got[n++] = v->name[0];
	got[n] = '\0';
	assert_string_equal(got, want);
}

static void
test_chains(void **state)
{
	struct idmap m = IDMAP_INIT;
	struct named a = {"a", NULL}, b = {"b", NULL}, c = {"c", NULL}, d = {"d", NULL};
	size_t off = offsetof(struct named, next);
	assert_int_equal(idmap_hash_str("api"), idmap_hash_str("api"));
	assert_true(idmap_hash_str("api") != idmap_hash_str("apj"));
	uint64_t k = idmap_hash_str("same");
	idmap_chain_add(&m, k, &a, off);
	idmap_chain_add(&m, k, &b, off);
	idmap_chain_add(&m, k, &c, off);
	idmap_chain_add(&m, 1, &d, off);
	chain_is(&m, k, "abc");
	idmap_chain_del(&m, k, &b, off);        /* the middle */
	chain_is(&m, k, "ac");
	idmap_chain_add(&m, k, &b, off);
	idmap_chain_del(&m, k, &a, off);        /* the head */
	chain_is(&m, k, "cb");
	idmap_chain_del(&m, k, &b, off);        /* the end */
	chain_is(&m, k, "c");
	idmap_chain_del(&m, k, &c, off);
	assert_null(idmap_get(&m, k));
	chain_is(&m, 1, "d");
	idmap_chain_del(&m, 1, &d, off);
	assert_int_equal(m.n, 0);
	idmap_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_an_array),
		cmocka_unit_test(test_odd_keys),
		cmocka_unit_test(test_chains),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
