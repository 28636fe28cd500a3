#!/usr/bin/env bash
# `bundle-worker run` with http inputs that point at the worker's own network:
# loopback, "localhost", the cloud metadata address and a redirect to
# loopback are refused by default (no container starts), jobs.inputs.allow
# opens what an operator needs, a malformed allow-list is a configuration
# error, and a server that never answers holds the job no longer than its
# time limit.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_stack STACK_DOCKER_SOCKET STACK_REGISTRY_USER STACK_REGISTRY_PASSWORD

export BUNDLE_WORKER_CONFIG=$src/deploy/config/local.conf
export BUNDLE_WORKER_DOCKER_SOCKET=$STACK_DOCKER_SOCKET
export BUNDLE_WORKER_DATA_ROOT=$work/jobs
export BUNDLE_WORKER_ARTIFACTS_URL=file://$work/artifacts
export BUNDLE_WORKER_COMPONENTS_FILE=$src/deploy/config/components.local.json
unset BUNDLE_WORKER_JOBS_INPUTS_ALLOW
sock=$STACK_DOCKER_SOCKET

# --- a local HTTP server: /ok serves a small table, /redirect?to=URL answers
# 302 to URL, /hang reads the request and never answers. Every request's path
# goes to requests.log.
cat >"$work/server.py" <<'EOF'
import http.server, sys, time, urllib.parse

class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        with open(sys.argv[2], "a") as log:
            log.write(self.path + "\n")
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", urllib.parse.unquote(self.path[len("/redirect?to="):]))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/hang":
            time.sleep(3600)
        else:
            body = b"a,b\n1,2\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
EOF
python3 "$work/server.py" "$work/port" "$work/requests.log" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.1; done
if [ ! -s "$work/port" ]; then
  echo "FAIL: the test's HTTP server did not start" >&2
  exit 1
fi
port=$(cat "$work/port")
: >"$work/requests.log"
body_sha=$(printf 'a,b\n1,2\n' | sha256sum | cut -d' ' -f1)

finished() { jq -r 'select(.type == "job.finished") | .'"$1" <<<"$out"; }
started_container() { jq -c 'select(.type == "container.started")' <<<"$out" | grep -q .; }
containers_of() { # containers of job $1, whatever their state
  curl -s --unix-socket "$sock" -g \
    "http://d/v1.41/containers/json?all=1&filters={\"label\":[\"io.bundle-worker.job-id=$1\"]}" | jq length
}
requested() { grep -qxF -- "$1" "$work/requests.log"; }
job() { # job ID URL [EXTRA-JSON]
  local extra=${3:-'{}'}
  jq -n --arg id "$1" --arg url "$2" --arg sum "$body_sha" --argjson x "$extra" \
    '{job_id: $id, component: "bundle.exit", inputs: [{url: $url, path: "tables/a.csv", sha256: $sum}]} + $x' \
    >"$work/$1.json"
}
run_job() { # run_job ID [bundle-worker options...]
  local id=$1
  shift
  run_bw run "$@" "$work/$id.json"
}
refused_without_container() { # refused_without_container ID MESSAGE
  [ "$rc" -eq 1 ] && [ "$(finished status)" = user_error ] && [ "$(finished message)" = "$2" ] &&
    ! started_container && [ "$(containers_of "$1")" = 0 ] && [ ! -e "$work/jobs/$1" ]
}

# --- loopback: refused by default, before any request reaches the server
job net-loop-1 "http://u:pw@127.0.0.1:$port/ok?sig=s3cret"
run_job net-loop-1
check "loopback refused by default with a clear message, no container" refused_without_container \
  net-loop-1 "inputs[0]: http://127.0.0.1:$port/ok: the address 127.0.0.1 is loopback, not allowed (jobs.inputs.allow)"
loopback_no_request_reached_the_server() { ! requested "/ok?sig=s3cret"; }
check "loopback: no request reached the server" loopback_no_request_reached_the_server
loopback_no_secret_of_the_url_in_the() { ! grep -q -e s3cret -e ":pw@" <<<"$out$err"; }
check "loopback: no secret of the URL in the events" loopback_no_secret_of_the_url_in_the

# --- allowed through jobs.inputs.allow
job net-allow-1 "http://127.0.0.1:$port/ok"
BUNDLE_WORKER_JOBS_INPUTS_ALLOW="10.0.0.0/8, 127.0.0.1/32" run_job net-allow-1
allowed_by_jobs_inputs_allow_fetched_and() { [ "$rc" -eq 0 ] && [ "$(finished status)" = success ] && started_container && requested /ok; }
check "allowed by jobs.inputs.allow: fetched (checksum right) and the job ran" allowed_by_jobs_inputs_allow_fetched_and

# --- a malformed allow-list is a configuration error naming the key, the origin and the entry
BUNDLE_WORKER_JOBS_INPUTS_ALLOW="127.0.0.1/32 10.0.0.1/8" run_job net-allow-1
a_malformed_allow_list_exit_2_the_origin() { [ "$rc" -eq 2 ] && has "$err" "environment BUNDLE_WORKER_JOBS_INPUTS_ALLOW: jobs.inputs.allow: '10.0.0.1/8': bits set after the /8 prefix (the network is 10.0.0.0/8)"; }
check "a malformed allow-list: exit 2, the origin, the key and the bad entry" a_malformed_allow_list_exit_2_the_origin

# --- "localhost" resolves to loopback: refused unless allowed
job net-localhost-1 "http://localhost:$port/ok"
run_job net-localhost-1
localhost_refused() { [ "$rc" -eq 1 ] && [ "$(finished status)" = user_error ] && has "$(finished message)" "inputs[0]: http://localhost:$port/ok: the address " && has "$(finished message)" " is loopback, not allowed (jobs.inputs.allow)" && ! started_container; }
check "localhost refused (the address connected decides, not the name)" localhost_refused
BUNDLE_WORKER_JOBS_INPUTS_ALLOW=localhost run_job net-localhost-1
localhost_allowed_by_its_name_in_jobs() { [ "$rc" -eq 0 ] && [ "$(finished status)" = success ]; }
check "localhost allowed by its name in jobs.inputs.allow" localhost_allowed_by_its_name_in_jobs

# --- the cloud metadata address: refused at once, not after a connect timeout
job net-meta-1 "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
start=$(date +%s.%N)
BUNDLE_WORKER_JOBS_INPUTS_ALLOW=127.0.0.1/32 run_job net-meta-1
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
check "169.254.169.254 refused (link-local, cloud metadata), no container" refused_without_container \
  net-meta-1 "inputs[0]: http://169.254.169.254/latest/meta-data/iam/security-credentials/: the address 169.254.169.254 is link-local (cloud metadata), not allowed (jobs.inputs.allow)"
case_169_254_169_254_refused_without_waiting() { [ "$(echo "$elapsed < 5" | bc)" = 1 ]; }
check "169.254.169.254 refused without waiting for a connect timeout (took ${elapsed}s)" case_169_254_169_254_refused_without_waiting

# --- a redirect from an allowed host to 127.0.0.1 is refused
: >"$work/requests.log"
job net-redir-1 "http://localhost:$port/redirect?to=http%3A%2F%2F127.0.0.1%3A$port%2Fok%3Ftoken%3Dt0k3n"
BUNDLE_WORKER_JOBS_INPUTS_ALLOW=localhost run_job net-redir-1
check "a redirect to 127.0.0.1 from an allowed host is refused, no container" refused_without_container \
  net-redir-1 "inputs[0]: http://localhost:$port/redirect: redirected to http://127.0.0.1:$port/ok: the address 127.0.0.1 is loopback, not allowed (jobs.inputs.allow)"
redirect_the_allowed_host_was_asked_the() { grep -q "^/redirect?to=" "$work/requests.log" && ! requested "/ok?token=t0k3n"; }
check "redirect: the allowed host was asked, the refused one never" redirect_the_allowed_host_was_asked_the
redirect_no_secret_of_either_url_in_the() { ! grep -q t0k3n <<<"$out$err"; }
check "redirect: no secret of either URL in the events" redirect_no_secret_of_either_url_in_the
# ... and followed when the target is allowed too
job net-redir-2 "http://127.0.0.1:$port/redirect?to=%2Fok"
BUNDLE_WORKER_JOBS_INPUTS_ALLOW=127.0.0.1 run_job net-redir-2
a_redirect_within_what_is_allowed_is() { [ "$rc" -eq 0 ] && [ "$(finished status)" = success ] && requested /ok; }
check "a redirect within what is allowed is followed" a_redirect_within_what_is_allowed_is

# --- a server that never answers holds the job no longer than limits.timeout_seconds
job net-hang-1 "http://127.0.0.1:$port/hang" '{"limits": {"timeout_seconds": 3}}'
start=$(date +%s.%N)
BUNDLE_WORKER_JOBS_INPUTS_ALLOW=127.0.0.1/32 run_job net-hang-1
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
hanging_server_the_job_ends_at_its_time() { [ "$(echo "$elapsed >= 3 && $elapsed < 3 + 4" | bc)" = 1 ] && requested /hang; }
check "hanging server: the job ends at its time limit (took ${elapsed}s, limit 3 s)" hanging_server_the_job_ends_at_its_time
hanging_server_status_timeout_the_inputs() { [ "$rc" -eq 5 ] && [ "$(finished status)" = timeout ] && has "$(finished message)" "inputs[0]: http://127.0.0.1:$port/hang: the inputs took longer than the job's time limit (limits.timeout_seconds)" && ! started_container && [ "$(containers_of net-hang-1)" = 0 ]; }
check "hanging server: status timeout, the inputs took longer than the time limit, no container" hanging_server_status_timeout_the_inputs

finish
