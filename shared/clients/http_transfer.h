/* What the clients that send files over HTTP share (the http(s):// artifact
 * store, S3): a window of an open file as a request body, read with pread so
 * that the fd's offset and other readers are untouched; the protocols a
 * transfer may use; a one-line excerpt of an error answer; the retry wait. */
#pragma once

#include "core/buffer.h"
#include "core/cancel.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

/* How long one transfer may take and how often it is tried; a zero field
 * takes its default (http_transfer_opts_defaults). */
typedef struct http_transfer_opts {
  long connect_timeout_ms; /* 0: 10 s */
  long low_speed_time_s;   /* 0: 60 s; slower than 1 byte/s that long aborts */
  int max_attempts;        /* 0: 5 */
  long backoff_initial_ms; /* 0: 500 ms, doubling */
  long backoff_max_ms;     /* 0: 30 s */
  const bw_cancel *cancel; /* may be NULL; stops waiting between attempts */
} http_transfer_opts;

void http_transfer_opts_defaults(http_transfer_opts *o);

typedef struct http_body {
  int fd;
  int64_t start; /* the window: [start, start + size) of the file */
  int64_t size;
  int64_t sent; /* bytes of the window given to libcurl in this attempt */
  int read_errno;
  bool short_file; /* the file ended inside the window: Content-Length would lie */
} http_body;

/* Makes h a PUT-style upload of the window (CURLOPT_UPLOAD, the size, the
 * read and seek callbacks). b must outlive the transfers of h. */
void http_body_attach(CURL *h, http_body *b);
/* Before each attempt: from the window's first byte, no error. */
void http_body_rewind(http_body *b);

/* Percent-encodes all but RFC 3986's unreserved characters (A-Z a-z 0-9
 * - . _ ~), and '/' too unless keep_slash: S3's canonical form of a key
 * (keep_slash) and of a query value, and a key in a URL. Uppercase hex.
 * free() the result. */
char *http_escape(const char *text, bool keep_slash);

/* A handle for url with what every transfer of ours sets: no signals
 * (threads), our User-Agent, http and https only (http_restrict_protocols).
 * Never NULL (out of memory aborts). */
CURL *http_handle_new(const char *url);

/* http and https only, also for redirects. */
void http_restrict_protocols(CURL *h);

/* ": <the first 200 bytes of the answer on one line>", or "" for none;
 * free() it. */
char *http_answer_excerpt(const bw_buffer *b);

/* Capped exponential backoff with jitter between the attempts of one call. */
typedef struct http_retry {
  int max_attempts; /* >= 1 */
  long backoff_ms;  /* the first wait; doubles up to backoff_max_ms */
  long backoff_max_ms;
  const bw_cancel *cancel; /* may be NULL */
  int attempt;             /* 1 during the first attempt */
} http_retry;

/* The retries of one call under o: its first attempt. */
http_retry http_retry_of(const http_transfer_opts *o);

/* After a failed attempt that may be retried: waits and returns true (the
 * next attempt may start), or returns false without waiting when that was
 * the last attempt or the wait was cancelled (bw_cancel_level tells). */
bool http_retry_wait(http_retry *r);
