/* The worker's own threads (job slots, the heartbeat, log followers, disk
 * watches, the metrics server's) start with every signal blocked: a signal
 * handler then only ever runs on the main thread, which alone reads the
 * signal flags (conmon's rule: handlers wake the main loop, nothing else). */
#pragma once

#include <pthread.h>

/* pthread_create with all signals blocked in the new thread; returns its result. */
int bw_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

/* Runs fn(arg) with every signal blocked in the calling thread, so that
 * threads a library starts inside it (libmicrohttpd's) inherit the mask. */
void bw_with_signals_blocked(void (*fn)(void *), void *arg);
