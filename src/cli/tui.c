/*
 * tui.c — ncurses's functions and variables, looked up on first use
 * (tui.h).
 */
#define TUI_API_SLOTS   /* the names below are the library's, not macros */
#include "cli/tui.h"

#include "common/lazylib.h"
#include "common/util.h"

/* The wide-character library of the ncurses the header is from; it finds
 * its terminfo library (libtinfo) itself, and dlsym() looks there too. */
#define TUI_STR(x) #x
#define TUI_SONAME(major) "libncursesw.so." TUI_STR(major)

struct tui_api tui_api;

#define TUI_NAME(f) #f,
static const char *const names[] = {TUI_FUNCTIONS(TUI_NAME) TUI_VARIABLES(TUI_NAME)};
#undef TUI_NAME

_Static_assert(sizeof(struct tui_api) == sizeof(names) / sizeof(names[0]) * sizeof(void *),
    "one slot per name");

static struct lazylib lib = {
	.soname = TUI_SONAME(NCURSES_VERSION_MAJOR),
	.names = names,
	.slots = (void **)&tui_api,
	.n = sizeof(names) / sizeof(names[0]),
};

int
tui_load(char **err)
{
	return lazylib_load(&lib, err);
}
