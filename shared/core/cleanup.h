/* Scope-bound cleanup through __attribute__((cleanup)), as crun does.
 * Ownership leaves a function as `*out = p; p = NULL;`. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <jansson.h>
#include <curl/curl.h>

static inline void bw_cleanup_freep(void *p) {
  free(*(void **)p);
}
static inline void bw_cleanup_closep(int *fd) {
  if (*fd >= 0)
    close(*fd);
}
static inline void bw_cleanup_fclosep(FILE **f) {
  if (*f)
    fclose(*f);
}
static inline void bw_cleanup_jsonp(json_t **j) {
  json_decref(*j); /* accepts NULL */
}
static inline void bw_cleanup_curlp(CURL **c) {
  if (*c)
    curl_easy_cleanup(*c);
}
static inline void bw_cleanup_slistp(struct curl_slist **l) {
  curl_slist_free_all(*l); /* accepts NULL */
}

#define cleanup_free __attribute__((cleanup(bw_cleanup_freep)))
#define cleanup_close __attribute__((cleanup(bw_cleanup_closep)))
#define cleanup_fclose __attribute__((cleanup(bw_cleanup_fclosep)))
#define cleanup_json __attribute__((cleanup(bw_cleanup_jsonp)))
#define cleanup_curl __attribute__((cleanup(bw_cleanup_curlp)))
#define cleanup_slist __attribute__((cleanup(bw_cleanup_slistp)))

/* Hand ownership out of a cleanup-managed variable. */
#define steal_pointer(pp)                                                                          \
  ({                                                                                               \
    __typeof__(*(pp)) stolen_ = *(pp);                                                             \
    *(pp) = NULL;                                                                                  \
    stolen_;                                                                                       \
  })
