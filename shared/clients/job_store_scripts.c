/* The job store's Lua scripts (job_store.c): each runs atomically in Redis,
 * so a decision about a job (claim, finish, release) is made in one step
 * whoever else asks at the same time. */
#include "clients/job_store_scripts.h"

/* KEYS: record lease. ARGV: token ttl_ms worker requested_attempt started record_ttl_s
 * replay max_deliveries. Returns {outcome, attempt, crashes[, event]}: 0 acquired,
 * 1 held, 2 finished (with the stored job.finished when its delivery is not
 * confirmed), 3 poisoned. A replay (ARGV[7] "1") may run a job whose record is
 * final again, but only a job that did not succeed, and only as a later attempt than the
 * record's: two copies of one replay carry the same attempt, so the second finds it taken.
 * A record still "running" without a lease means its worker vanished without a final
 * record (a crash, a kill): that counts against max_deliveries, and once the job has
 * taken down that many workers it is poisoned instead of being claimed again (the caller
 * records its end: job_store_finish_unrun). */
const char job_store_claim_script[] =
    "local final = {success=1, user_error=1, application_error=1, timeout=1, oom=1,\n"
    "               cancelled=1, infra_error=1, rejected=1, disk_limit=1}\n"
    "local status = redis.call('HGET', KEYS[1], 'status')\n"
    "local prev = tonumber(redis.call('HGET', KEYS[1], 'attempt')) or 0\n"
    "local crashes = tonumber(redis.call('HGET', KEYS[1], 'crashes')) or 0\n"
    "if status and final[status] then\n"
    "  if ARGV[7] ~= '1' or status == 'success' or tonumber(ARGV[4]) <= prev then\n"
    "    if redis.call('HGET', KEYS[1], 'delivered') == '0' then\n"
    "      return {2, prev, crashes, redis.call('HGET', KEYS[1], 'event')}\n"
    "    end\n"
    "    return {2, prev, crashes}\n"
    "  end\n"
    "  crashes = 0\n"
    "end\n"
    "if redis.call('EXISTS', KEYS[2]) == 1 then return {1, prev, crashes} end\n"
    "if status == 'running' then crashes = crashes + 1 end\n"
    "if not status then crashes = 0 end\n"
    "if status == 'running' and crashes >= tonumber(ARGV[8]) then\n"
    "  return {3, prev, crashes}\n"
    "end\n"
    "local attempt = tonumber(ARGV[4])\n"
    "if (status == 'running' or status == 'interrupted') and prev + 1 > attempt then\n"
    "  attempt = prev + 1\n"
    "end\n"
    "if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  return {1, prev, crashes}\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'status', 'running', 'worker', ARGV[3],\n"
    "           'attempt', tostring(attempt), 'started', ARGV[5], 'token', ARGV[1],\n"
    "           'crashes', tostring(crashes))\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[6])\n"
    "return {0, attempt, crashes}\n";

/* KEYS: lease. ARGV: token ttl_ms. */
const char job_store_extend_script[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                       "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                                       "end\n"
                                       "return 0\n";

/* KEYS: record lease. ARGV: token status finished result has_result record_ttl_s
 * event. 1 written and lease deleted, 0 written (lease not ours), -1 nothing written.
 * An event (ARGV[7] not empty) is the outbox: kept with delivered 0 until confirmed. */
const char job_store_finish_script[] =
    "local ours = redis.call('GET', KEYS[2]) == ARGV[1]\n"
    "if not ours and redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return -1 end\n"
    "redis.call('HSET', KEYS[1], 'status', ARGV[2], 'finished', ARGV[3], 'token', ARGV[1])\n"
    "if ARGV[5] == '1' then\n"
    "  redis.call('HSET', KEYS[1], 'result', ARGV[4])\n"
    "else\n"
    "  redis.call('HDEL', KEYS[1], 'result')\n"
    "end\n"
    "if ARGV[7] ~= '' then\n"
    "  redis.call('HSET', KEYS[1], 'event', ARGV[7], 'delivered', '0')\n"
    "else\n"
    "  redis.call('HDEL', KEYS[1], 'event', 'delivered')\n"
    "end\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[6])\n"
    "if ours then redis.call('DEL', KEYS[2]) return 1 end\n"
    "return 0\n";

/* KEYS: record lease. ARGV: status finished result event record_ttl_s. The end
 * of a job that never ran (poisoned): only while its record still says running
 * and no lease holds it. 1 written, 0 not. */
const char job_store_finish_unrun_script[] =
    "if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end\n"
    "if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished', ARGV[2], 'result', ARGV[3],\n"
    "           'event', ARGV[4], 'delivered', '0')\n"
    "redis.call('HDEL', KEYS[1], 'token')\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[5])\n"
    "return 1\n";

/* KEYS: record. ARGV: event_id. The outbox's event went out: no one need send
 * it again. Only for the event it holds (a later run may have replaced it). */
const char job_store_confirm_script[] =
    "local ev = redis.call('HGET', KEYS[1], 'event')\n"
    "if not ev then return 0 end\n"
    "if not string.find(ev, ARGV[1], 1, true) then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'delivered', '1')\n"
    "return 1\n";

/* KEYS: lease. ARGV: token. Deletes the lease only while it holds the token. */
const char job_store_abandon_script[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                        "  return redis.call('DEL', KEYS[1])\n"
                                        "end\n"
                                        "return 0\n";

/* KEYS: record lease. ARGV: token record_ttl_s. */
const char job_store_release_script[] =
    "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'status', 'interrupted')\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
    "redis.call('DEL', KEYS[2])\n"
    "return 1\n";

/* KEYS: worker workers. ARGV: info ttl_ms now_ms id cutoff_ms window_ms. */
const char job_store_heartbeat_script[] =
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[6])\n"
    "return 1\n";
