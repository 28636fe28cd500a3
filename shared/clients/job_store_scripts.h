/* The job store's Lua scripts (job_store_scripts.c, where each says what its
 * KEYS and ARGV are); only job_store.c includes this header. */
#pragma once

extern const char job_store_claim_script[];
extern const char job_store_extend_script[];
extern const char job_store_finish_script[];
extern const char job_store_finish_unrun_script[];
extern const char job_store_confirm_script[];
extern const char job_store_abandon_script[];
extern const char job_store_release_script[];
extern const char job_store_heartbeat_script[];
