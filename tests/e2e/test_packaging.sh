#!/usr/bin/env bash
# The packaging in deploy/ and docker-compose.yml, checked without building or
# pulling an image (docs/deployment.md says why): the compose file validates
# with Debian's docker-compose and keeps its invariants; the Kubernetes
# manifests parse and agree with each other and with the worker's own
# configuration (the ConfigMap's files are loaded by the program, so a
# misspelt key fails here); the systemd unit passes systemd-analyze verify;
# the Dockerfile follows the rules docs/deployment.md reviews and installs
# the packages the build needs. Last, `serve` runs with the ConfigMap's
# configuration against the local stack and answers the Deployment's probes.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
py=/usr/bin/python3 # Debian's, with python3-yaml (not a pyenv shim's)
compose_file=$src/docker-compose.yml
k8s=$src/deploy/k8s
unit=$src/deploy/systemd/bundle-worker.service
dockerfile=$src/deploy/docker/Dockerfile
unset BUNDLE_WORKER_CONFIG

# py_checks SCRIPT ARGS...: runs a Python check script that prints
# "ok   NAME" or "FAIL NAME: why" per check; counts them like `check`.
py_checks() {
  local script=$1 line
  shift
  "$py" - "$@" <"$script" >"$work/py.out" 2>&1
  local prc=$?
  while IFS= read -r line; do
    echo "$line"
    case $line in
    "ok   "*) passed=$((passed + 1)) ;;
    "FAIL "*) failed=$((failed + 1)) ;;
    esac
  done <"$work/py.out"
  if [ $prc -ne 0 ] && ! grep -q '^FAIL ' "$work/py.out"; then
    failed=$((failed + 1))
    echo "FAIL $script exited $prc"
  fi
}

# cfg_value OUTPUT KEY: a key's value in `bundle-worker config` output.
cfg_value() { sed -n "s/^$2 = \(.*\)    # from .*/\1/p" <<<"$1"; }

# The tools: installed by deploy/local/install-deps.sh.
install_deps_lists_docker_compose_and() { grep -qw docker-compose "$src/deploy/local/install-deps.sh" && grep -qw python3-yaml "$src/deploy/local/install-deps.sh"; }
check "install-deps lists docker-compose and python3-yaml" install_deps_lists_docker_compose_and
docker_compose_is_installed() { command -v docker-compose >/dev/null; }
check "docker-compose is installed" docker_compose_is_installed
check "python3-yaml is installed" "$py" -c 'import yaml'

# The worker's defaults, for the files that rely on them.
run_bw config
defaults=$out
bundle_worker_config_prints_the_defaults() { [ "$rc" -eq 0 ]; }
check "bundle-worker config prints the defaults" bundle_worker_config_prints_the_defaults

#
# docker-compose.yml
#
# No engine and no network: the Docker host is a socket that does not exist.
compose() {
  DOCKER_HOST=unix://$work/no-engine.sock docker-compose -f "$compose_file" \
    --project-directory "$src" "$@" >"$work/out" 2>"$work/err"
  rc=$?
  out=$(cat "$work/out")
  err=$(cat "$work/err")
}
DOCKER_GID=4242 compose config -q
compose_docker_compose_config_q_accepts() { [ "$rc" -eq 0 ] && [ -z "$err" ]; }
check "compose: docker-compose config -q accepts the file (no engine, no pull)" compose_docker_compose_config_q_accepts
(unset DOCKER_GID; compose config -q; declare -p rc out err >"$work/nogid")
source "$work/nogid"
compose_without_docker_gid_it_stops_and() { [ "$rc" -ne 0 ] && has "$err" "DOCKER_GID"; }
check "compose: without DOCKER_GID it stops and says what to set" compose_without_docker_gid_it_stops_and
DOCKER_GID=4242 compose config
compose_docker_compose_config_resolves() { [ "$rc" -eq 0 ]; }
check "compose: docker-compose config resolves the file" compose_docker_compose_config_resolves
printf '%s\n' "$out" >"$work/compose.resolved.yml"

cat >"$work/compose_checks.py" <<'PY'
import sys, re, yaml
resolved, drain, grace, data_root_default, topics_csv, envfile = sys.argv[1:7]
drain, grace = int(drain), int(grace)
doc = yaml.safe_load(open(resolved))
svcs = doc["services"]

def check(name, cond, why=""):
    print(("ok   %s" % name) if cond else ("FAIL %s: %s" % (name, why)))

def seconds(d):
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", str(d))
    if not m or not any(m.groups()):
        return -1
    h, mi, s = (int(x or 0) for x in m.groups())
    return h * 3600 + mi * 60 + s

kafka = svcs.get("kafka", {})
env = kafka.get("environment", {})
check("compose: Kafka runs in KRaft mode (broker and controller, no ZooKeeper)",
      "controller" in env.get("KAFKA_PROCESS_ROLES", "") and "zookeeper" not in str(svcs).lower(),
      env.get("KAFKA_PROCESS_ROLES"))
check("compose: Kafka's log directory is a volume",
      any(str(v).endswith(":" + env.get("KAFKA_LOG_DIRS", "?") + ":rw") for v in kafka.get("volumes", [])),
      kafka.get("volumes"))

topics = svcs.get("topics", {})
script = " ".join(topics.get("command", []))
check("compose: the topics one-shot does not restart and waits for a healthy Kafka",
      topics.get("restart") == "no"
      and topics.get("depends_on", {}).get("kafka", {}).get("condition") == "service_healthy",
      topics)
missing = [t for t in topics_csv.split(",") if t not in script]
check("compose: the topics one-shot creates every topic of the configuration", not missing, missing)

redis = svcs.get("redis", {})
cmd = redis.get("command", [])
aof = "--appendonly" in cmd and cmd[cmd.index("--appendonly") + 1] == "yes"
check("compose: Redis persists (append-only file) on a volume at /data",
      aof and any(str(v).split(":")[1:2] == ["/data"] for v in redis.get("volumes", [])),
      (cmd, redis.get("volumes")))
check("compose: a registry", "registry" in svcs and svcs["registry"].get("image", "").startswith("registry:"))

workers = {n: s for n, s in svcs.items() if s.get("command") == ["serve"]}
check("compose: two workers (serve)", len(workers) == 2, list(workers))
envs = []
for name, w in sorted(workers.items()):
    wenv = {k: ("" if v is None else str(v)) for k, v in w.get("environment", {}).items()}
    envs.append(wenv)
    vols = [str(v) for v in w.get("volumes", [])]
    sock = wenv.get("BUNDLE_WORKER_DOCKER_SOCKET", "/var/run/docker.sock")
    check("compose: %s mounts the Docker socket" % name,
          any(v.startswith(sock + ":" + sock) for v in vols), vols)
    root = wenv.get("BUNDLE_WORKER_DATA_ROOT", data_root_default)
    same = [v for v in vols if v.split(":")[0] == v.split(":")[1]
            and (root == v.split(":")[0] or root.startswith(v.split(":")[0].rstrip("/") + "/"))]
    check("compose: %s has the data root %s at the same path inside and outside" % (name, root),
          bool(same), vols)
    check("compose: %s gets the socket's group (group_add) and runs as the image's user" % name,
          w.get("group_add") == ["4242"] and "user" not in w, (w.get("group_add"), w.get("user")))
    d = int(wenv.get("BUNDLE_WORKER_WORKER_DRAIN_TIMEOUT_SECONDS", drain))
    g = int(wenv.get("BUNDLE_WORKER_JOBS_STOP_GRACE_SECONDS", grace))
    check("compose: %s stop_grace_period %s > drain %d + stop grace %d" % (name, w.get("stop_grace_period"), d, g),
          seconds(w.get("stop_grace_period", "")) > d + g and w.get("stop_signal", "SIGTERM") == "SIGTERM")
    dep = w.get("depends_on", {})
    check("compose: %s starts after the topics exist and Redis is healthy" % name,
          dep.get("topics", {}).get("condition") == "service_completed_successfully"
          and dep.get("redis", {}).get("condition") == "service_healthy", dep)
check("compose: the workers have distinct fixed host names (orphan sweep after a restart)",
      len({w.get("hostname") for w in workers.values()} - {None}) == len(workers))
# The workers' BUNDLE_WORKER_* variables, for the program to check.
with open(envfile, "wb") as f:
    for k, v in sorted(envs[0].items() if envs else []):
        if k.startswith("BUNDLE_WORKER_"):
            f.write(("%s=%s" % (k, v)).encode() + b"\0")
PY
topics_csv=$(printf '%s,' "$(cfg_value "$defaults" topic.runs)" "$(cfg_value "$defaults" topic.events)" \
  "$(cfg_value "$defaults" topic.uploads)" "$(cfg_value "$defaults" topic.dlq)")
py_checks "$work/compose_checks.py" "$work/compose.resolved.yml" \
  "$(cfg_value "$defaults" worker.drain.timeout.seconds)" "$(cfg_value "$defaults" jobs.stop.grace.seconds)" \
  "$(cfg_value "$defaults" data.root)" "${topics_csv%,}" "$work/compose.env"
mapfile -d '' compose_env <"$work/compose.env"
run_bw_env() { env "$@" "$bw" config >"$work/out" 2>"$work/err"; rc=$?; out=$(cat "$work/out"); err=$(cat "$work/err"); }
run_bw_env "${compose_env[@]}"
# Each variable's key (BUNDLE_WORKER_REDIS_HOST is redis.host) has its value.
env_applied() {
  local kv key
  [ ${#compose_env[@]} -gt 3 ] || return 1
  for kv in "${compose_env[@]}"; do
    key=${kv%%=*}
    key=${key#BUNDLE_WORKER_}
    key=${key,,}
    grep -qF -- "${key//_/.} = ${kv#*=}" <<<"$out" || return 1
  done
}
compose_the_program_accepts_the_workers() { [ "$rc" -eq 0 ] && env_applied; }
check "compose: the program accepts the workers' BUNDLE_WORKER_* variables (${#compose_env[@]})" compose_the_program_accepts_the_workers

#
# Kubernetes
#
mkdir -p "$work/k8s"
cat >"$work/k8s_extract.py" <<'PY'
import sys, os, glob, yaml
k8s, outdir = sys.argv[1:3]
def check(name, cond, why=""):
    print(("ok   %s" % name) if cond else ("FAIL %s: %s" % (name, why)))
docs = []
for path in sorted(glob.glob(os.path.join(k8s, "*.yaml"))):
    try:
        loaded = [d for d in yaml.safe_load_all(open(path)) if d is not None]
        check("k8s: %s parses as YAML" % os.path.basename(path), True)
    except yaml.YAMLError as e:
        check("k8s: %s parses as YAML" % os.path.basename(path), False, e)
        continue
    for d in loaded:
        docs.append((os.path.basename(path), d))
kinds = {}
for f, d in docs:
    if d.get("kind") == "Kustomization":
        listed = set(d.get("resources", []))
        others = {os.path.basename(p) for p in glob.glob(os.path.join(k8s, "*.yaml"))} - {f}
        check("k8s: the kustomization lists every manifest", listed == others, (listed, others))
        continue
    kinds.setdefault(d["kind"], []).append(d)
    check("k8s: %s %s has no namespace (namespace-agnostic)" % (d["kind"], d["metadata"]["name"]),
          "namespace" not in d["metadata"])
for kind in ("Deployment", "ConfigMap", "PodDisruptionBudget", "Service"):
    check("k8s: one %s" % kind, len(kinds.get(kind, [])) == 1, len(kinds.get(kind, [])))
cm = kinds["ConfigMap"][0]
for name in ("worker.conf", "components.json"):
    with open(os.path.join(outdir, name), "w") as f:
        f.write(cm["data"].get(name, ""))
yaml.safe_dump(kinds, open(os.path.join(outdir, "kinds.yaml"), "w"))
PY
py_checks "$work/k8s_extract.py" "$k8s" "$work/k8s"

run_bw config --config "$work/k8s/worker.conf"
k8s_the_configmap_s_worker_conf_is() { [ "$rc" -eq 0 ]; }
check "k8s: the ConfigMap's worker.conf is accepted by the program" k8s_the_configmap_s_worker_conf_is
k8s_cfg=$out
k8s_worker_conf_names_components_json_of() { [ "$(cfg_value "$k8s_cfg" components.file)" = "$work/k8s/components.json" ]; }
check "k8s: worker.conf names components.json of the same ConfigMap" k8s_worker_conf_names_components_json_of
# The same check catches a typo (so a passing check means something).
{ cat "$work/k8s/worker.conf"; echo "worker.drain.timeout.second = 300"; } >"$work/k8s/typo.conf"
run_bw config --config "$work/k8s/typo.conf"
k8s_and_a_misspelt_key_in_it_would_fail() { [ "$rc" -eq 2 ] && has "$err" "unknown key"; }
check "k8s: ... and a misspelt key in it would fail this test" k8s_and_a_misspelt_key_in_it_would_fail
# Every registered component resolves a request (the program loads the file).
comps=$("$py" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["components"]))' "$work/k8s/components.json")
k8s_components_json_registers_at_least() { [ -n "$comps" ]; }
check "k8s: components.json registers at least one component" k8s_components_json_registers_at_least
while read -r comp; do
  [ -n "$comp" ] || continue
  printf '{"job_id": "packaging-1", "component": "%s"}\n' "$comp" >"$work/k8s/req.json"
  run_bw validate --config "$work/k8s/worker.conf" "$work/k8s/req.json"
  k8s_component_of_the_configmap_resolves() { [ "$rc" -eq 0 ] && has "$out" "ok    "; }
  check "k8s: component $comp of the ConfigMap resolves a request" k8s_component_of_the_configmap_resolves
done <<<"$comps"

cat >"$work/k8s_checks.py" <<'PY'
import sys, yaml
kinds_file, drain, grace, listen, sock, data_root = sys.argv[1:7]
drain, grace = int(drain), int(grace)
metrics_port = int(listen.rsplit(":", 1)[1]) if ":" in listen else -1
kinds = yaml.safe_load(open(kinds_file))
def check(name, cond, why=""):
    print(("ok   %s" % name) if cond else ("FAIL %s: %s" % (name, why)))
dep = kinds["Deployment"][0]
spec = dep["spec"]
pod = spec["template"]["spec"]
labels = spec["template"]["metadata"]["labels"]
cm_name = kinds["ConfigMap"][0]["metadata"]["name"]
check("k8s: the Deployment's selector matches its pod labels",
      all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()))
tgp = pod.get("terminationGracePeriodSeconds", 30)
check("k8s: terminationGracePeriodSeconds %d > drain %d + stop grace %d" % (tgp, drain, grace),
      tgp > drain + grace)
workers = [c for c in pod["containers"] if "serve" in c.get("args", []) + c.get("command", [])]
check("k8s: one worker container runs serve", len(workers) == 1, [c["name"] for c in pod["containers"]])
w = workers[0]
psc, csc = pod.get("securityContext", {}), w.get("securityContext", {})
check("k8s: the worker runs as non-root (runAsNonRoot, a non-zero uid)",
      csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True
      and csc.get("runAsUser", psc.get("runAsUser", 0)) != 0)
check("k8s: the worker cannot escalate and drops every capability",
      csc.get("allowPrivilegeEscalation") is False and csc.get("capabilities", {}).get("drop") == ["ALL"])
check("k8s: the pod has supplemental groups (the nodes' docker group)", bool(psc.get("supplementalGroups")))
ports = {p.get("name"): p["containerPort"] for p in w.get("ports", [])}
check("k8s: the container exposes the metrics port of metrics.listen (%d)" % metrics_port,
      metrics_port in ports.values(), ports)
for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
    get = w.get(probe, {}).get("httpGet", {})
    port = ports.get(get.get("port"), get.get("port"))
    check("k8s: %s is GET %s on the metrics port" % (probe, path),
          get.get("path") == path and port == metrics_port, get)
vols = {v["name"]: v for v in pod.get("volumes", [])}
mounts = {m["mountPath"]: m["name"] for m in w.get("volumeMounts", [])}
sv = vols.get(mounts.get(sock), {})
check("k8s: the Docker socket %s is mounted (hostPath, same path)" % sock,
      sv.get("hostPath", {}).get("path") == sock, sv)
dv = vols.get(mounts.get(data_root), {})
check("k8s: the data root %s is a hostPath at the same path in the pod" % data_root,
      dv.get("hostPath", {}).get("path") == data_root, dv)
cv = vols.get(mounts.get("/etc/bundle-worker"), {})
env = {e["name"]: e.get("value") for e in w.get("env", [])}
check("k8s: the ConfigMap is mounted where BUNDLE_WORKER_CONFIG points",
      cv.get("configMap", {}).get("name") == cm_name
      and env.get("BUNDLE_WORKER_CONFIG") == "/etc/bundle-worker/worker.conf", (cv, env))
check("k8s: the rolling update never goes below the replicas (maxUnavailable 0)",
      spec.get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable") == 0)
images = [c["image"] for c in pod["containers"] + pod.get("initContainers", [])]
check("k8s: no image uses the latest tag or no tag",
      all(":" in i.rsplit("/", 1)[-1] and not i.endswith(":latest") for i in images), images)
pdb = kinds["PodDisruptionBudget"][0]
sel = pdb["spec"]["selector"]["matchLabels"]
check("k8s: the PodDisruptionBudget selects the Deployment's pods",
      sel and all(labels.get(k) == v for k, v in sel.items()), sel)
check("k8s: the PodDisruptionBudget lets at most one worker go at a time",
      pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable") == spec["replicas"] - 1)
svc = kinds["Service"][0]
check("k8s: the metrics Service selects the pods and targets the metrics port",
      all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
      and all(ports.get(p["targetPort"], p["targetPort"]) == metrics_port for p in svc["spec"]["ports"]))
PY
py_checks "$work/k8s_checks.py" "$work/k8s/kinds.yaml" \
  "$(cfg_value "$k8s_cfg" worker.drain.timeout.seconds)" "$(cfg_value "$k8s_cfg" jobs.stop.grace.seconds)" \
  "$(cfg_value "$k8s_cfg" metrics.listen)" "$(cfg_value "$k8s_cfg" docker.socket)" "$(cfg_value "$k8s_cfg" data.root)"

#
# systemd
#
unit_key() { sed -n "s/^$1=//p" "$unit" | tail -1; }
if command -v systemd-analyze >/dev/null 2>&1; then
  # verify wants ExecStart's program to exist: the built one stands in for
  # /usr/local/bin/bundle-worker. Unknown keys are warnings (exit 0), so any
  # output fails the check.
  mkdir -p "$work/unit"
  sed "s#/usr/local/bin/bundle-worker#$bw#" "$unit" >"$work/unit/bundle-worker.service"
  out=$(systemd-analyze verify "$work/unit/bundle-worker.service" 2>&1)
  rc=$?
  err=""
  systemd_systemd_analyze_verify_no_errors() { [ "$rc" -eq 0 ] && [ -z "$out" ]; }
  check "systemd: systemd-analyze verify: no errors, no warnings" systemd_systemd_analyze_verify_no_errors
  sed 's/^KillMode=/KilMode=/' "$work/unit/bundle-worker.service" >"$work/unit/typo.service"
  out=$(systemd-analyze verify "$work/unit/typo.service" 2>&1)
  systemd_and_it_reports_a_misspelt_key() { has "$out" "Unknown key"; }
  check "systemd: ... and it reports a misspelt key" systemd_and_it_reports_a_misspelt_key
else
  systemd_the_unit_has_its_sections() { grep -qx "\[Unit\]" "$unit" && grep -qx "\[Service\]" "$unit" && grep -qx "\[Install\]" "$unit"; }
  check "systemd: the unit has its sections" systemd_the_unit_has_its_sections
fi
stop=$(unit_key TimeoutStopSec)
stop=${stop%s}
drain=$(cfg_value "$defaults" worker.drain.timeout.seconds)
grace=$(cfg_value "$defaults" jobs.stop.grace.seconds)
systemd_timeoutstopsec_drain_stop_grace() { [ "$stop" -gt $((drain + grace)) ]; }
check "systemd: TimeoutStopSec $stop > drain $drain + stop grace $grace" systemd_timeoutstopsec_drain_stop_grace
systemd_sigterm_restart_on_failure() { [ "$(unit_key KillSignal)" = SIGTERM ] && [ "$(unit_key Restart)" = on-failure ]; }
check "systemd: SIGTERM, restart on failure" systemd_sigterm_restart_on_failure
systemd_a_dedicated_user_in_the_docker() { u=$(unit_key User) && [ -n "$u" ] && [ "$u" != root ] && [ "$(unit_key SupplementaryGroups)" = docker ]; }
check "systemd: a dedicated user in the docker group" systemd_a_dedicated_user_in_the_docker
systemd_an_optional_environmentfile_the() { [[ "$(unit_key EnvironmentFile)" == -/* ]] && grep -q "^Environment=BUNDLE_WORKER_CONFIG=/" "$unit"; }
check "systemd: an optional EnvironmentFile, the config file by BUNDLE_WORKER_CONFIG" systemd_an_optional_environmentfile_the
systemd_sandboxed_with_the_data_root() {
  [ "$(unit_key ProtectSystem)" = strict ] && [ "$(unit_key NoNewPrivileges)" = yes ] &&
  [[ "$(cfg_value "$defaults" data.root)" == "$(unit_key ReadWritePaths)"/* ]] && [ "$(unit_key PrivateTmp)" = no ]
}
check "systemd: sandboxed, with the data root writable and the host's /var/tmp" systemd_sandboxed_with_the_data_root
systemd_starts_after_so_stops_before() { grep -q "^After=.*docker.service" "$unit"; }
check "systemd: starts after, so stops before, dockerd" systemd_starts_after_so_stops_before

#
# Dockerfile
#
cat >"$work/dockerfile_checks.py" <<'PY'
import sys, re
path, metrics_port = sys.argv[1], sys.argv[2]
def check(name, cond, why=""):
    print(("ok   %s" % name) if cond else ("FAIL %s: %s" % (name, why)))
# Instructions, with continuation lines joined and comments dropped.
instrs, cur = [], ""
for line in open(path):
    s = line.rstrip("\n")
    if not cur and (not s.strip() or s.lstrip().startswith("#")):
        continue
    if s.lstrip().startswith("#"):
        continue
    cur += s[:-1] + " " if s.endswith("\\") else s
    if not s.endswith("\\"):
        instrs.append(cur.strip())
        cur = ""
stages = []
for i in instrs:
    op = i.split(None, 1)[0].upper()
    if op == "FROM":
        stages.append([i])
    elif stages:
        stages[-1].append(i)
froms = [s[0].split()[1] for s in stages]
check("Dockerfile: multi-stage (a build stage and a runtime stage)", len(stages) >= 2, froms)
check("Dockerfile: the final stage is FROM a -slim image", froms and froms[-1].split("@")[0].endswith("-slim"), froms)
check("Dockerfile: every base image has a tag, none is latest",
      all(":" in f.split("/")[-1] and ":latest" not in f for f in froms), froms)
final = stages[-1] if stages else []
users = [i.split()[1] for i in final if i.upper().startswith("USER ")]
check("Dockerfile: the final stage runs as a non-root USER",
      users and users[-1].split(":")[0] not in ("root", "0"), users)
runs = [i for s in stages for i in s if i.upper().startswith("RUN ")]
apt = [r for r in runs if "apt-get install" in r]
check("Dockerfile: apt-get update and install in one RUN, with --no-install-recommends",
      apt and all("apt-get update" in r and "--no-install-recommends" in r for r in apt), apt)
check("Dockerfile: the apt lists are removed in the RUN that installs",
      all(re.search(r"rm -rf /var/lib/apt/lists/\*", r) for r in apt))
check("Dockerfile: libmicrohttpd: -dev to build, the library to run",
      any("libmicrohttpd-dev" in r for r in stages[0]) and any("libmicrohttpd12" in r for r in final))
check("Dockerfile: expat (S3's XML answers): -dev to build, the library to run",
      any("libexpat1-dev" in r for r in stages[0]) and any("libexpat1 " in r for r in final))
check("Dockerfile: COPY, never ADD", not any(i.upper().startswith("ADD ") for s in stages for i in s))
check("Dockerfile: the runtime stage copies only the binary from the build stage",
      all(i.startswith("COPY --from=") for i in final if i.upper().startswith("COPY ")))
check("Dockerfile: ENTRYPOINT and CMD in exec form",
      all(re.match(r"^(ENTRYPOINT|CMD) \[", i) for i in final if i.split()[0] in ("ENTRYPOINT", "CMD")))
expose = [i.split()[1:] for i in final if i.upper().startswith("EXPOSE ")]
check("Dockerfile: EXPOSE the metrics port %s" % metrics_port, [metrics_port] in expose, expose)
hc = [i for i in final if i.upper().startswith("HEALTHCHECK ")]
check("Dockerfile: a HEALTHCHECK on /healthz of the metrics port",
      hc and ":%s/healthz" % metrics_port in hc[0], hc)
check("Dockerfile: no VOLUME (the data root is a same-path bind mount)",
      not any(i.upper().startswith("VOLUME") for i in final))
PY
listen=$(cfg_value "$k8s_cfg" metrics.listen)
py_checks "$work/dockerfile_checks.py" "$dockerfile" "${listen##*:}"

# The packages against the build itself, mapped by this Debian 12 host's dpkg
# (the image's release): a new library in CMakeLists.txt or in the binary fails
# here until the Dockerfile installs it. Stage by stage: the text between FROMs.
stage_text() { awk -v n="$1" '/^FROM /{i++} i==n' "$dockerfile"; }
build_stage=$(stage_text 1)
runtime_stage=$(stage_text "$(grep -c '^FROM ' "$dockerfile")")
missing=() seen=0
while IFS= read -r mod; do
  seen=$((seen + 1))
  pkg=$(dpkg -S "$(pkg-config --variable=pcfiledir "$mod")/$mod.pc" 2>/dev/null | cut -d: -f1)
  grep -qw -- "${pkg:-?$mod}" <<<"$build_stage" || missing+=("$mod:${pkg:-not found}")
done < <(sed -n 's/.*pkg_check_modules([A-Z_]* REQUIRED IMPORTED_TARGET \([^ >)]*\).*/\1/p' "$src/CMakeLists.txt")
out="missing: ${missing[*]}" err="" rc=""
dockerfile_the_build_stage_installs_the() { [ $seen -gt 0 ] && [ ${#missing[@]} -eq 0 ]; }
check "Dockerfile: the build stage installs the -dev package of every pkg-config module ($seen)" dockerfile_the_build_stage_installs_the
plain=${BW_TEST_PLAIN_BIN:-$bw} # without the sanitizers' runtime libraries
missing=() seen=0
for lib in $(objdump -p "$plain" | awk '$1 == "NEEDED" {print $2}'); do
  case $lib in libc.so.* | libm.so.* | libasan.so.* | libubsan.so.*) continue ;; esac
  seen=$((seen + 1))
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
  # dpkg knows a file by the path its package installed (/lib or /usr/lib on
  # a merged /usr): ask for the name ldconfig gives, then the resolved one.
  pkg=$({ dpkg -S "$path" 2>/dev/null || dpkg -S "$(readlink -f "$path")" 2>/dev/null; } | head -n 1 | cut -d: -f1)
  grep -qw -- "${pkg:-?$lib}" <<<"$runtime_stage" || missing+=("$lib:${pkg:-not found}")
done
out="missing: ${missing[*]}"
dockerfile_the_runtime_stage_installs() { [ $seen -gt 0 ] && [ ${#missing[@]} -eq 0 ]; }
check "Dockerfile: the runtime stage installs the package of every library the binary needs ($seen)" dockerfile_the_runtime_stage_installs
dockerignore_keeps_build_folders_and_git() { grep -qx "build\*" "$src/.dockerignore" && grep -qx ".git" "$src/.dockerignore"; }
check ".dockerignore keeps build folders and .git out of the context" dockerignore_keeps_build_folders_and_git

#
# The ConfigMap's configuration, run: `serve` with worker.conf (only the
# addresses of the local stack, per-run topics and a free port changed)
# answers the probes the Deployment uses, and a SIGTERM drains and exits.
#
require_stack STACK_KAFKA_BOOTSTRAP STACK_REDIS_HOST STACK_REDIS_PORT STACK_DOCKER_SOCKET
topics_tool=${BW_TEST_KAFKA_TOPICS:?BW_TEST_KAFKA_TOPICS must name the kafka_topics tool}
run_id=pkg-$(date +%s)-$$
live_topics=("runs-$run_id" "events-$run_id" "uploads-$run_id" "dlq-$run_id")
serve_pid=""
live_cleanup() {
  [ -n "$serve_pid" ] && kill -KILL "$serve_pid" 2>/dev/null
  wait 2>/dev/null
  "$topics_tool" "$STACK_KAFKA_BOOTSTRAP" delete "${live_topics[@]}" >/dev/null 2>&1
  rm -rf "$work"
}
trap live_cleanup EXIT
"$topics_tool" "$STACK_KAFKA_BOOTSTRAP" create 1 "${live_topics[@]}" >/dev/null
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/live"
env BUNDLE_WORKER_CONFIG="$work/k8s/worker.conf" \
  BUNDLE_WORKER_KAFKA_BOOTSTRAP_SERVERS="$STACK_KAFKA_BOOTSTRAP" BUNDLE_WORKER_KAFKA_GROUP_ID="group-$run_id" \
  BUNDLE_WORKER_TOPIC_RUNS="${live_topics[0]}" BUNDLE_WORKER_TOPIC_EVENTS="${live_topics[1]}" \
  BUNDLE_WORKER_TOPIC_UPLOADS="${live_topics[2]}" BUNDLE_WORKER_TOPIC_DLQ="${live_topics[3]}" \
  BUNDLE_WORKER_REDIS_HOST="$STACK_REDIS_HOST" BUNDLE_WORKER_REDIS_PORT="$STACK_REDIS_PORT" \
  BUNDLE_WORKER_DOCKER_SOCKET="$STACK_DOCKER_SOCKET" BUNDLE_WORKER_DATA_ROOT="$work/live/jobs" \
  BUNDLE_WORKER_ARTIFACTS_URL="file://$work/live/artifacts" BUNDLE_WORKER_METRICS_LISTEN="127.0.0.1:$port" \
  BUNDLE_WORKER_WORKER_HEARTBEAT_INTERVAL_MS=500 \
  "$bw" serve --redis-prefix "bwt:$run_id:" >"$work/live/out" 2>"$work/live/log" &
serve_pid=$!
probe() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$port$1"; }
wait_probe() { # wait_probe PATH SECONDS
  local _
  for _ in $(seq 1 $((10 * $2))); do
    probe "$1" && return 0
    kill -0 "$serve_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
out="" err="" rc=""
live_log() { err=$(grep -v '"level":"debug"' "$work/live/log" | tail -15 | cut -c1-300); }
wait_probe /healthz 30
rc=$?
live_log
live_serve_with_the_configmap_s_worker() { [ "$rc" -eq 0 ]; }
check "live: serve with the ConfigMap's worker.conf answers the liveness probe (/healthz)" live_serve_with_the_configmap_s_worker
wait_probe /readyz 60
rc=$?
live_log
live_and_becomes_ready_once_in_the_group() { [ "$rc" -eq 0 ]; }
check "live: ... and becomes ready (/readyz) once in the group with Redis and the Engine" live_and_becomes_ready_once_in_the_group
kill -TERM "$serve_pid"
for _ in $(seq 1 300); do
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.1
done
stuck=0
kill -0 "$serve_pid" 2>/dev/null && stuck=1 && kill -KILL "$serve_pid"
wait "$serve_pid"
rc=$?
[ $stuck -eq 1 ] && rc=124
serve_pid=""
live_log
live_sigterm_with_no_job_running_it() { [ "$rc" -eq 0 ]; }
check "live: SIGTERM with no job running: it drains and exits 0 at once" live_sigterm_with_no_job_running_it

finish
