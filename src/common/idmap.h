/*
 * idmap.h — a hash map from 64-bit ids to pointers: the daemon's lookups by
 * pm_id, instance uid, app id and pid, in constant time however many apps
 * there are.
 *
 * Open addressing with linear probing, at most half full, and deletion by
 * moving the entries behind the hole back (no tombstones), so a map that
 * sees many inserts and deletes stays as fast as a fresh one. Values are
 * never NULL: NULL means "not there". Not safe to modify while iterating.
 */
#ifndef CORRAL_IDMAP_H
#define CORRAL_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_ent {
	uint64_t key;
	void *value;            /* NULL: a free slot */
};

struct idmap {
	struct idmap_ent *v;
	size_t cap;             /* 0 or a power of two */
	size_t n;
};

#define IDMAP_INIT {NULL, 0, 0}

void idmap_free(struct idmap *m);
/* The value for key, or NULL. */
void *idmap_get(const struct idmap *m, uint64_t key);
/* Set key to value (not NULL), replacing what was there. */
void idmap_put(struct idmap *m, uint64_t key, void *value);
/* Remove key; its value, or NULL when it was not there. */
void *idmap_del(struct idmap *m, uint64_t key);

/* A 64-bit key for a string (FNV-1a). Different strings may share one: a
 * map keyed by it chains the values and compares the strings. */
uint64_t idmap_hash_str(const char *s);

/* Several values under one key (names or paths by their hash): the map
 * holds the first, each value points to the next through its pointer
 * field at next_off. Add appends at the end; del unlinks value. */
void idmap_chain_add(struct idmap *m, uint64_t key, void *value, size_t next_off);
void idmap_chain_del(struct idmap *m, uint64_t key, void *value, size_t next_off);

#endif
