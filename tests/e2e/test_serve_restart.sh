#!/usr/bin/env bash
# Killed workers (issue 10.3-10.5): never two containers of one job at once on
# one host, whatever the session timeout; a killed job's container and data
# folder are swept; a worker restarted with its worker.id gets its partitions
# and its dead self's jobs back at once (static membership, the sweep at
# start). Checked from the Engine's own events and the data root.
# shellcheck source=tests/e2e/serve_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"
export BUNDLE_WORKER_KAFKA_HEARTBEAT_INTERVAL_MS=1000
ulimit -c 0
since=$(date +%s)

long_job() { jq -cn --arg id "$1" '{job_id: $id, component: "bundle.sleep", env: {SLEEP_SECONDS: "20"}}'; }
engine_events() { # engine_events JOB_ID: "TIME ACTION CONTAINER" of its containers' start and die
  curl -s --unix-socket "$STACK_DOCKER_SOCKET" -g \
    "http://d/v1.41/events?since=$since&until=$(date +%s)&filters={\"event\":[\"start\",\"die\"],\"label\":[\"io.bundle-worker.job-id=$1\"]}" |
    jq -r '"\(.timeNano) \(.Action) \(.id)"' | sort -n
}
never_overlapped() { # never_overlapped JOB_ID: no start while another container of the job runs
  local running="" _ action id starts=0
  while read -r _ action id; do
    case $action in
    start)
      starts=$((starts + 1))
      if [ -n "$running" ] && [ "$running" != "$id" ]; then
        echo "  $id started while $running ran"
        return 1
      fi
      running=$id
      ;;
    die) [ "$running" = "$id" ] && running="" ;;
    esac
  done < <(engine_events "$1")
  [ "$starts" -ge 2 ] || { echo "  only $starts start(s) seen"; return 1; }
}
status_of() { events | jq -r "select(.type == \"job.finished\" and .job_id == \"$1\") | .status" | tail -n 1; }
folders_left() { find "$work/jobs" -mindepth 2 -maxdepth 2 -name "$1*" 2>/dev/null | grep -c .; }

# --- A: a short session timeout: the other worker takes the job over 6 s
# after the kill; it removes the dead run's container before it starts its own
export BUNDLE_WORKER_KAFKA_SESSION_TIMEOUT_MS=6000
a=restart-a-$run_id
start_worker ra1 1 --set worker.static.membership=false
wait_assigned ra1
produce "$a" "$(long_job "$a")"
wait_events 1 ".type == \"container.started\" and .job_id == \"$a\"" 60
kill -KILL "${worker_pids[ra1]}"
wait "${worker_pids[ra1]}" 2>/dev/null
unset 'worker_pids[ra1]'
start_worker ra2 1 --set worker.static.membership=false
wait_events 1 ".type == \"job.finished\" and .job_id == \"$a\"" 120
a_the_job_ends_taken_over_by_another() { [ "$(status_of "$a")" = success ]; }
check "A (session 6 s): the job ends, taken over by another worker" a_the_job_ends_taken_over_by_another
check "A: never two of its containers at once" never_overlapped "$a"
a_no_container_and_no_data_folder_of_the() { [ "$(folders_left "$a")" = 0 ] && [ "$(curl -s --unix-socket "$STACK_DOCKER_SOCKET" -g "http://d/v1.41/containers/json?all=1&filters={\"label\":[\"io.bundle-worker.job-id=$a\"]}" | jq length)" = 0 ]; }
check "A: no container and no data folder of the killed run left" a_no_container_and_no_data_folder_of_the
kill -TERM "${worker_pids[ra2]}"
wait "${worker_pids[ra2]}"
unset 'worker_pids[ra2]'

# --- B: the default session timeout (45 s) and a restart with the same
# worker.id: the restarted worker is the same static member, gets its
# partitions at once, clears what its dead self left and runs the job again
unset BUNDLE_WORKER_KAFKA_SESSION_TIMEOUT_MS
export BUNDLE_WORKER_KAFKA_GROUP_ID=groupb-$run_id
b=restart-b-$run_id
start_worker rb 1
wait_assigned rb
produce "$b" "$(long_job "$b")"
wait_events 1 ".type == \"container.started\" and .job_id == \"$b\"" 60
kill -KILL "${worker_pids[rb]}"
wait "${worker_pids[rb]}" 2>/dev/null
restarted=$(date +%s%3N)
start_worker rb 1
wait_events 1 ".type == \"container.started\" and .job_id == \"$b\" and .attempt == 2" 60
first_job_ms=$(($(date +%s%3N) - restarted))
echo "restart to the first job's container: $first_job_ms ms"
b_restarted_with_its_worker_id_the_job() { [ "$first_job_ms" -lt 10000 ]; }
check "B (session 45 s): restarted with its worker.id, the job runs again within 10 s (${first_job_ms} ms)" b_restarted_with_its_worker_id_the_job
wait_events 1 ".type == \"job.finished\" and .job_id == \"$b\"" 90
b_the_job_ends_as_attempt_2() { [ "$(events | jq -r "select(.type == \"job.finished\" and .job_id == \"$b\") | .attempt")" = 2 ]; }
check "B: the job ends as attempt 2" b_the_job_ends_as_attempt_2
check "B: never two of its containers at once" never_overlapped "$b"
b_the_sweep_at_start_removed_what_the() { grep -q "left by this worker.s previous process\|gave up the lease" "$work/rb.log"; }
check "B: the sweep at start removed what the dead process left" b_the_sweep_at_start_removed_what_the
b_no_data_folder_left() { [ "$(folders_left "$b")" = 0 ]; }
check "B: no data folder left" b_no_data_folder_left
finish
