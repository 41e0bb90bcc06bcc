/*
 * tui.h — ncurses for `corral monit`, loaded when monit starts (common/
 * lazylib.h says why: no other command, and not the daemon, needs it).
 *
 * Include this instead of <curses.h>: the library's header gives the
 * types, constants and its own macros (move(), refresh()...), and each
 * function and variable those end in is a macro for the slot tui_load()
 * filled. Using one before tui_load() succeeded is a bug.
 */
#ifndef CORRAL_CLI_TUI_H
#define CORRAL_CLI_TUI_H

#include <curses.h>

#define TUI_FUNCTIONS(X) \
	X(newterm) X(endwin) X(cbreak) X(noecho) X(nonl) X(keypad) X(nodelay) \
	X(set_escdelay) X(curs_set) X(has_colors) X(start_color) \
	X(use_default_colors) X(init_pair) X(tigetstr) X(werase) X(wrefresh) \
	X(wgetch) X(wmove) X(waddch) X(waddnstr) X(wattr_on) X(wattr_off)
#define TUI_VARIABLES(X) X(stdscr) X(LINES) X(COLS) X(COLORS) X(acs_map)

struct tui_api {
#define TUI_SLOT(f) __typeof__(&f) f;
	TUI_FUNCTIONS(TUI_SLOT)
	TUI_VARIABLES(TUI_SLOT)
#undef TUI_SLOT
};

extern struct tui_api tui_api;

/* Load the library (once): 0, or -1 with *err (one line). */
int tui_load(char **err);

#ifndef TUI_API_SLOTS
#define newterm (tui_api.newterm)
#define endwin (tui_api.endwin)
#define cbreak (tui_api.cbreak)
#define noecho (tui_api.noecho)
#define nonl (tui_api.nonl)
#define keypad (tui_api.keypad)
#define nodelay (tui_api.nodelay)
#define set_escdelay (tui_api.set_escdelay)
#define curs_set (tui_api.curs_set)
#define has_colors (tui_api.has_colors)
#define start_color (tui_api.start_color)
#define use_default_colors (tui_api.use_default_colors)
#define init_pair (tui_api.init_pair)
#define tigetstr (tui_api.tigetstr)
#define werase (tui_api.werase)
#define wrefresh (tui_api.wrefresh)
#define wgetch (tui_api.wgetch)
#define wmove (tui_api.wmove)
#define waddch (tui_api.waddch)
#define waddnstr (tui_api.waddnstr)
#define wattr_on (tui_api.wattr_on)
#define wattr_off (tui_api.wattr_off)
#define stdscr (*tui_api.stdscr)
#define LINES (*tui_api.LINES)
#define COLS (*tui_api.COLS)
#define COLORS (*tui_api.COLORS)
#define acs_map (*tui_api.acs_map)
#endif

#endif
