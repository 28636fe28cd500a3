/* Crash points for the fault tests: a build with -DBW_TEST_HOOKS=ON (the
 * test suite's build; never a release) dies on purpose at a named point of a
 * job's path when BW_TEST_CRASH says so, so a test can make a worker vanish
 * exactly there, as a kill -9 would, every time:
 *
 *   BW_TEST_CRASH=POINT:JOB_ID_PREFIX[,POINT:JOB_ID_PREFIX...]
 *
 * Points: "claimed" (serve: the lease is taken, the slot starts), "started"
 * (the container runs), "finished" (serve: job.finished queued, not yet
 * delivered). Without BW_TEST_HOOKS this compiles to nothing. */
#pragma once

#ifdef BW_TEST_HOOKS
void bw_test_crash_point(const char *point, const char *job_id);
#else
static inline void bw_test_crash_point(const char *point, const char *job_id) {
  (void)point;
  (void)job_id;
}
#endif
