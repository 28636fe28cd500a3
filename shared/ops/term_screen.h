/* A full-screen text view without curses: the terminal's alternate screen,
 * a hidden cursor and redraws in place with ANSI sequences, and keys read one
 * at a time (no echo, no line editing; Ctrl-C still sends SIGINT). Whatever
 * enter() changed, leave() puts back -- callers run it on every way out. */
#pragma once

#include "core/error.h"

#include <stdbool.h>
#include <termios.h>

#define TERM_ENTER_SEQ "\033[?1049h\033[?25l" /* alternate screen, hide the cursor */
#define TERM_LEAVE_SEQ "\033[?25h\033[?1049l" /* show the cursor, main screen */

typedef struct term_screen {
  int in_fd, out_fd;
  bool in_is_tty; /* keys come from a terminal (its mode was changed) */
  bool in_closed; /* the input ended: no more keys */
  bool entered;
  struct termios saved;
} term_screen;

/* out_fd must be a terminal; in_fd may be anything (a terminal's mode is
 * changed, anything else is only read). */
int term_screen_enter(term_screen *t, int in_fd, int out_fd, bw_error_t *err);
/* Idempotent. */
void term_screen_leave(term_screen *t);
/* The terminal's size; false when fd is not a terminal (or says 0x0). */
bool term_screen_size(int fd, int *width, int *height);
/* The frame ('\n' between lines) from the top left, each line cleared to its
 * end and the rest of the screen cleared below, in one write. */
int term_screen_draw(term_screen *t, const char *frame, bw_error_t *err);
/* The next key's byte, or -1 when none is waiting (never blocks). */
int term_screen_key(term_screen *t);
