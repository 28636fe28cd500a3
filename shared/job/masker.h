/* Secret masking: every occurrence of a registered secret, in any of the forms
 * a component is likely to print it, becomes "[hidden]" (the common interface
 * masks values of '#' keys in all output the runner shows).
 *
 * Matching is one Aho-Corasick pass, so the time is linear in the text however
 * many secrets there are. When matches overlap (two secrets sharing bytes, or
 * one form inside another) the union of the matched bytes is hidden as one
 * "[hidden]": longest-match-first falls out of that, and no byte of any match
 * is ever shown. Matches that only touch are hidden separately
 * ("[hidden][hidden]").
 *
 * Register every secret before the first masker_apply(), masker_stream_new(),
 * masker_scan_init() or masker_contains(): the masker is read-only (and so
 * safe to share between threads) after that. Registering only adds the forms
 * to a trie, in time linear in their bytes; the automaton is linked once, by
 * the first use after a registration (under a lock inside the masker, so that
 * first use may come from any thread, or several at once). Registering many
 * secrets, one call each or one config, is therefore linear in their bytes;
 * registering again after a use links everything again on the next use.
 *
 * Memory is linear in the registered forms: 6 bytes per trie node (a node
 * per byte of a form, less the first bytes it shares with others), and about
 * 50 bytes per form (its branch and match entries, hash tables at most half
 * full); 1 KiB per node with 32 children or more. A random secret of L bytes
 * has about 3 L bytes of forms (plain, base64, base64url, JSON), so it costs
 * about 25 bytes per byte (measured: 1,000,000 secrets of 16 to 40 bytes,
 * 27 MB, take 660 MB; tests/bench/bench_masker.c); each line of a multi-line
 * secret costs as much again. All of it is wiped (explicit_bzero) when freed,
 * and no copy is left behind when an array grows. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MASKER_HIDDEN "[hidden]"
#define MASKER_HIDDEN_LEN (sizeof(MASKER_HIDDEN) - 1)
/* Shorter values are ignored: masking "a" or "10" everywhere would destroy
 * the logs and hide nothing worth hiding. */
#define MASKER_MIN_SECRET 3

typedef struct masker masker;

/* Allocation failures abort, as bw_strdup does: a worker that cannot allocate
 * a few bytes cannot run jobs anyway. */
masker *masker_new(void);
/* Wipes every stored form (explicit_bzero) before freeing; accepts NULL. */
void masker_free(masker *m);

/* Registers the value and its derived forms: standard base64 (with and without
 * '=' padding), URL-safe base64 (both), and the JSON-escaped text as jansson's
 * json_dumps writes it without the quotes (plain, JSON_ENSURE_ASCII,
 * JSON_ESCAPE_SLASH, and \u escapes in lower case as PHP and Python write them).
 *
 * A value with newlines (a PEM key, a multi-line JSON document) is registered
 * whole, and each of its lines on its own with all its derived forms: the
 * worker masks container output line by line, so a printed key arrives as
 * separate lines. Lines are split on '\n'; a line counts without its leading
 * and trailing blanks (spaces, tabs, a '\r'), and only when it has at least
 * MASKER_MIN_SECRET bytes and a letter or digit: the "  }," of a multi-line
 * JSON secret is not a secret, and hiding it would hide every "}," of the
 * logs. The whole value's base64 and JSON forms have no newline and are
 * matched whole.
 *
 * Returns 1 when registered, 0 when the value is shorter than MASKER_MIN_SECRET. */
int masker_add_secret(masker *m, const char *value);
int masker_add_secret_len(masker *m, const char *value, size_t len);
/* Registers exactly these bytes, no derived forms (tokens that are printed only
 * as they are; differential tests). Same 0/1 result as masker_add_secret. */
int masker_add_exact(masker *m, const char *bytes, size_t len);
/* Walks objects and arrays at any depth and registers the value of every key
 * whose name starts with '#' as masker_add_secret does (lines included):
 * strings as they are, integers and reals as their text. When such a key
 * holds an object or array, every string and number below it is a secret too.
 * Booleans and null are not secrets. Returns how many values were registered.
 * Like every registration it only builds the trie: a config with a million
 * secrets is linked once, by the first use. */
size_t masker_add_config(masker *m, const json_t *config);

/* Length of the longest registered form (0 when there is none): a stream that
 * masks text in pieces must keep this many bytes minus one in hand. */
size_t masker_longest(const masker *m);
/* Number of distinct forms registered. */
size_t masker_forms(const masker *m);
/* Bytes the masker holds (its trie and tables), for benchmarks and tests. */
size_t masker_footprint(const masker *m);

/* Returns a new NUL-terminated buffer with every match replaced; *out_len gets
 * its length (the text may contain NUL bytes). m may be NULL: a plain copy. */
char *masker_apply(const masker *m, const char *text, size_t len, size_t *out_len);

/* Masking of text that arrives in pieces, with the same result as masker_apply
 * over the concatenation. Output goes to the sink as soon as it is final: at
 * most masker_longest()-1 bytes are held back, because they could still be
 * the start of a secret. `hidden` is true when bytes is the MASKER_HIDDEN
 * token, so a sink that cuts its output can avoid cutting through it. */
typedef void (*masker_sink_fn)(void *ctx, const char *bytes, size_t len, bool hidden);
typedef struct masker_stream masker_stream;

/* m may be NULL (everything passes through). */
masker_stream *masker_stream_new(const masker *m, masker_sink_fn sink, void *ctx);
void masker_stream_feed(masker_stream *s, const char *text, size_t len);
/* End of the text: releases what was held back and starts over, so the same
 * stream can mask the next text (the next log line). */
void masker_stream_flush(masker_stream *s);
/* Bytes the stream holds (its buffers), for tests that check memory stays bounded. */
size_t masker_stream_footprint(const masker_stream *s);
/* Wipes the held-back bytes; accepts NULL. */
void masker_stream_free(masker_stream *s);

/* Scanning: does a text contain any registered form? Fed in chunks of any
 * size, with the same result as one pass over their concatenation (a form
 * split across chunks is found), in the automaton's time per byte and with no
 * memory beyond this struct: the masker is shared, read-only. Found means
 * some form occurs, which is exactly when masker_apply() hides something
 * (its output differs from the text unless every hidden region was itself
 * the text "[hidden]"). The struct is the caller's (on the stack, say); the
 * fields are read-only outside masker.c. */
typedef struct masker_scan {
  const masker *m;
  uint32_t state;     /* the automaton's state after pos bytes */
  bool found;         /* a form occurs in the bytes fed so far */
  uint64_t pos;       /* bytes fed */
  uint64_t first_end; /* when found: offset just past the first occurrence to end */
  size_t first_len;   /* when found: the longest form that ends there */
} masker_scan;

/* m may be NULL (nothing is ever found). Links the masker if it needs it, as
 * masker_apply does. After found, feeding only counts bytes. */
void masker_scan_init(masker_scan *s, const masker *m);
void masker_scan_feed(masker_scan *s, const void *bytes, size_t len);
bool masker_scan_found(const masker_scan *s);
/* One text at once: whether masker_apply would hide anything in it. */
bool masker_contains(const masker *m, const char *text, size_t len);
