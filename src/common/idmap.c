/*
 * idmap.c — ids to pointers (idmap.h).
 */
#include "common/idmap.h"

#include <stdlib.h>

#include "common/util.h"

static size_t
slot_of(const struct idmap *m, uint64_t key)
{
	/* Fibonacci hashing: consecutive ids spread over the table. */
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
}

void
idmap_free(struct idmap *m)
{
	free(m->v);
	m->v = NULL;
	m->cap = m->n = 0;
}

void *
idmap_get(const struct idmap *m, uint64_t key)
{
	if (m->n == 0)
		return NULL;
	for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (!m->v[i].value)
			return NULL;
		if (m->v[i].key == key)
			return m->v[i].value;
	}
}

static void
grow(struct idmap *m)
{
	struct idmap old = *m;
	m->cap = old.cap ? old.cap * 2 : 16;
	m->v = xcalloc(m->cap, sizeof(*m->v));
	m->n = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.v[i].value)
			idmap_put(m, old.v[i].key, old.v[i].value);
	free(old.v);
}

void
idmap_put(struct idmap *m, uint64_t key, void *value)
{
	if (2 * (m->n + 1) > m->cap)
		grow(m);
	size_t i = slot_of(m, key);
	while (m->v[i].value && m->v[i].key != key)
		i = (i + 1) & (m->cap - 1);
	if (!m->v[i].value)
		m->n++;
	m->v[i].key = key;
	m->v[i].value = value;
}

void *
idmap_del(struct idmap *m, uint64_t key)
{
	if (m->n == 0)
		return NULL;
	size_t mask = m->cap - 1, i = slot_of(m, key);
	while (m->v[i].value && m->v[i].key != key)
		i = (i + 1) & mask;
	void *value = m->v[i].value;
	if (!value)
		return NULL;
	m->n--;
	/* Move back the entries of the run after the hole that may not stay
	 * behind it: one whose home slot is not in (hole, its slot]. */
	for (size_t j = (i + 1) & mask; m->v[j].value; j = (j + 1) & mask) {
		size_t home = slot_of(m, m->v[j].key);
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		m->v[i] = m->v[j];
		i = j;
	}
	m->v[i].value = NULL;
	return value;
}

uint64_t
idmap_hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		h = (h ^ *c) * 0x100000001b3ull;
	return h;
}

static void **
next_of(void *value, size_t next_off)
{
	return (void **)((char *)value + next_off);
}

void
idmap_chain_add(struct idmap *m, uint64_t key, void *value, size_t next_off)
{
	*next_of(value, next_off) = NULL;
	void *o = idmap_get(m, key);
	if (!o) {
		idmap_put(m, key, value);
		return;
	}
	while (*next_of(o, next_off))
		o = *next_of(o, next_off);
	*next_of(o, next_off) = value;
}

void
idmap_chain_del(struct idmap *m, uint64_t key, void *value, size_t next_off)
{
	void *first = idmap_get(m, key);
	void *next = *next_of(value, next_off);
	if (first == value) {
		if (next)
			idmap_put(m, key, next);
		else
			idmap_del(m, key);
		return;
	}
	for (void *o = first; o; o = *next_of(o, next_off))
		if (*next_of(o, next_off) == value) {
			*next_of(o, next_off) = next;
			return;
		}
}
