/*
 * mhd.c — libmicrohttpd's functions, looked up on first use (mhd.h).
 */
#define MHD_API_SLOTS   /* the names below are the library's, not macros */
#include "daemon/mhd.h"

#include "common/lazylib.h"
#include "common/util.h"

#ifndef MHD_SONAME
#define MHD_SONAME "libmicrohttpd.so.12"
#endif

struct mhd_api mhd_api;

#define MHD_NAME(f) #f,
static const char *const names[] = {MHD_FUNCTIONS(MHD_NAME)};
#undef MHD_NAME

_Static_assert(sizeof(struct mhd_api) == sizeof(names) / sizeof(names[0]) * sizeof(void *),
    "one slot per name");

static struct lazylib lib = {
	.soname = MHD_SONAME,
	.names = names,
	.slots = (void **)&mhd_api,
	.n = sizeof(names) / sizeof(names[0]),
};

int
mhd_load(char **err)
{
	return lazylib_load(&lib, err);
}
