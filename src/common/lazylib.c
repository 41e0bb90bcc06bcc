/*
 * lazylib.c — shared libraries loaded on first use (lazylib.h).
 */
#include "common/lazylib.h"

#include <dlfcn.h>

#include "common/util.h"

int
lazylib_load(struct lazylib *l, char **err)
{
	if (l->state == 0) {
		/* RTLD_LOCAL: its symbols stay out of the way of later loads;
		 * RTLD_NOW: a missing one fails here, not at its first call. */
		void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
		const char *missing = NULL;
		for (size_t i = 0; h && i < l->n && !missing; i++) {
			l->slots[i] = dlsym(h, l->names[i]);
			if (!l->slots[i])
				missing = l->names[i];
		}
		if (!h) {
			const char *why = dlerror();
			l->error = xasprintf("cannot load %s: %s", l->soname, why ? why : "dlopen failed");
		} else if (missing) {
			l->error = xasprintf("cannot load %s: it has no %s", l->soname, missing);
			dlclose(h);
		}
		l->state = l->error ? -1 : 1;
	}
	if (l->state < 0) {
		*err = xstrdup(l->error);
		return -1;
	}
	return 0;
}
