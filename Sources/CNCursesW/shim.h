#define NCURSES_WIDECHAR 1
#define _XOPEN_SOURCE_EXTENDED 1
#include <locale.h>
#include <langinfo.h>
#include <stdio.h>
#include <wchar.h>
#include <ncursesw/curses.h>

// Macros and globals Swift cannot import or Swift 6 rejects, as functions.
int wcwidth(wchar_t c);
static inline attr_t cn_bold(void) { return A_BOLD; }
static inline attr_t cn_reverse(void) { return A_REVERSE; }
static inline attr_t cn_dim(void) { return A_DIM; }
static inline attr_t cn_underline(void) { return A_UNDERLINE; }
static inline attr_t cn_normal(void) { return A_NORMAL; }
static inline int cn_key_resize(void) { return KEY_RESIZE; }
static inline int cn_colors(void) { return COLORS; }
static inline int cn_color_pair(int n) { return COLOR_PAIR(n); }
static inline WINDOW *cn_stdscr(void) { return stdscr; }
static inline int cn_key_code_yes(void) { return KEY_CODE_YES; }
static inline int cn_err(void) { return ERR; }
static inline const char *cn_codeset(void) { return nl_langinfo(CODESET); }
static inline int cn_key_mouse(void) { return KEY_MOUSE; }
static inline int cn_ok(void) { return OK; }
static inline mmask_t cn_button1_pressed(void) { return BUTTON1_PRESSED; }
static inline mmask_t cn_button1_clicked(void) { return BUTTON1_CLICKED; }
static inline mmask_t cn_button4_pressed(void) { return BUTTON4_PRESSED; }
static inline mmask_t cn_button5_pressed(void) { return BUTTON5_PRESSED; }
