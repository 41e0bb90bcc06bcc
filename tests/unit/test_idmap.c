/*
 * test_idmap.c — the id → pointer map (common/idmap.h) against a plain
 * array, through many random inserts, replacements and deletions (deletion
 * moves entries back, the part that is easy to get wrong); ids that collide
 * in the table; the map is empty again at the end.
 */
#include "unit.h"

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_an_array),
		cmocka_unit_test(test_odd_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
