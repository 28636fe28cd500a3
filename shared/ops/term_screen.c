#include "ops/term_screen.h"

#include "core/fdio.h"

#include "core/buffer.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int term_screen_enter(term_screen *t, int in_fd, int out_fd, bw_error_t *err) {
  if (t->entered)
    return 0;
  t->in_fd = in_fd;
  t->out_fd = out_fd;
  t->in_is_tty = false;
  if (!isatty(out_fd))
    return bw_error_set(err, BW_ERR_INVALID, "standard output is not a terminal");
  if (isatty(in_fd) && tcgetattr(in_fd, &t->saved) == 0) {
    struct termios raw = t->saved;
    /* Keys without Enter and without echo; ISIG stays, so Ctrl-C and Ctrl-Z
     * still reach the program as signals. */
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(in_fd, TCSAFLUSH, &raw) < 0)
      return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, errno, "terminal mode");
    t->in_is_tty = true;
  }
  t->entered = true;
  if (bw_write_all(out_fd, TERM_ENTER_SEQ, strlen(TERM_ENTER_SEQ)) < 0) {
    int e = errno;
    term_screen_leave(t);
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, e, "terminal");
  }
  return 0;
}

void term_screen_leave(term_screen *t) {
  if (!t->entered)
    return;
  t->entered = false;
  bw_write_all(t->out_fd, TERM_LEAVE_SEQ, strlen(TERM_LEAVE_SEQ));
  if (t->in_is_tty)
    tcsetattr(t->in_fd, TCSAFLUSH, &t->saved);
}

bool term_screen_size(int fd, int *width, int *height) {
  struct winsize ws;
  if (ioctl(fd, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0 || ws.ws_row == 0)
    return false;
  *width = ws.ws_col;
  *height = ws.ws_row;
  return true;
}

int term_screen_draw(term_screen *t, const char *frame, bw_error_t *err) {
  bw_buffer b;
  bw_buffer_init(&b, 0);
  bw_buffer_append(&b, "\033[H", 3);
  for (const char *line = frame; line;) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    bw_buffer_append(&b, line, len);
    bw_buffer_append(&b, "\033[K", 3);
    if (nl)
      bw_buffer_append(&b, "\r\n", 2);
    line = nl ? nl + 1 : NULL;
  }
  bw_buffer_append(&b, "\033[J", 3);
  int rc = bw_write_all(t->out_fd, b.data, b.len);
  int e = errno;
  bw_buffer_free(&b);
  if (rc < 0)
    return bw_error_set_errno(err, BW_ERR_UNAVAILABLE, e, "terminal");
  return 0;
}

int term_screen_key(term_screen *t) {
  if (t->in_closed)
    return -1;
  struct pollfd p = {.fd = t->in_fd, .events = POLLIN};
  if (poll(&p, 1, 0) <= 0)
    return -1;
  unsigned char c;
  ssize_t n = read(t->in_fd, &c, 1);
  if (n == 1)
    return c;
  if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
    t->in_closed = true;
  return -1;
}
