#!/usr/bin/env bash
# `make compose-test`: the docker-compose stack for real, on a machine like CI's (Debian
# bookworm, root or sudo). Every phase prints its time.
#
#   setup     docker.io / docker-compose / debootstrap from apt when missing; dockerd started
#             in the background when no engine answers (and stopped by PID at the end)
#   base      the local base image native-devnet-base:bookworm (debootstrap minbase from the
#             Debian mirror apt already uses, then `docker import`), unless it exists or
#             BASE_IMAGE names another base (e.g. BASE_IMAGE=python:3.11-slim)
#   build     the image native-devnet:local with BuildKit; the machine's CA bundle goes to
#             pip as the secret pip_ca (PIP_CA_BUNDLE, default /etc/ssl/certs/ca-certificates.crt)
#   up        l1, l2 and relayer up (-d), waiting for their health checks; both nodes answer
#             on their published loopback ports
#   demo      the compose `demo` profile against the containers; its summary must say
#             "RESULT: all checks passed"
#   restart   `docker kill` of the l1 container, started again: the chain comes back from the
#             l1-data volume (same head hash) and the relayer settles a new L2 block without help
#   down      `down -v` (containers, network, volumes) even on failure
#
# Variables: BASE_IMAGE, PIP_CA_BUNDLE, COMPOSE_TEST_PROJECT (default native-devnet-test),
# L1_PORT and L2_PORT (default: free ports). The base image and the build cache stay, so a
# second run reuses them.
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=${COMPOSE_TEST_PROJECT:-native-devnet-test}
LOCAL_BASE=native-devnet-base:bookworm
IMAGE=native-devnet:local
WORK=$(mktemp -d /tmp/compose-test.XXXXXX)
STARTED_DOCKERD_PID=""
COMPOSE=()
STACK_UP=0
T0=$(date +%s.%N)
PHASE_T=$T0

log() { printf '[compose-test] %s\n' "$*"; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(date +%s.%N)"; }
phase_start() {
  PHASE=$1
  PHASE_T=$(date +%s.%N)
  log "== $PHASE: $2"
}
phase_end() { log "== $PHASE done in $(elapsed "$PHASE_T")s${1:+ ($1)}"; }

# Commands that need root: directly as root, else through sudo.
as_root() {
  if [ "$EUID" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "needs root for: $* (not root, no sudo)"
    return 1
  fi
}

teardown() {
  local rc=$?
  set +e
  if [ "$STACK_UP" -eq 1 ]; then
    if [ "$rc" -ne 0 ]; then
      log "failed (exit $rc): the services' last log lines"
      "${COMPOSE[@]}" logs --no-color --tail 40 2>&1 | tail -n 160
    fi
    phase_start down "docker compose down -v"
    "${COMPOSE[@]}" --profile demo down -v --remove-orphans >"$WORK/down.log" 2>&1 \
      || cat "$WORK/down.log"
    phase_end
  fi
  if [ -n "$STARTED_DOCKERD_PID" ]; then
    log "stopping the dockerd this run started (pid $STARTED_DOCKERD_PID)"
    as_root kill -TERM "$STARTED_DOCKERD_PID"
    local state=""
    for _ in $(seq 1 60); do # our child: gone, or a zombie left to reap
      state=$(awk '{print $3}' "/proc/$STARTED_DOCKERD_PID/stat" 2>/dev/null || true)
      [ -n "$state" ] && [ "$state" != Z ] || break
      sleep 0.5
    done
    if [ -n "$state" ] && [ "$state" != Z ]; then
      log "dockerd (pid $STARTED_DOCKERD_PID) still runs after 30 s"
    else
      wait "$STARTED_DOCKERD_PID" 2>/dev/null
      log "dockerd stopped"
    fi
  fi
  rm -rf "$WORK"
  log "total $(elapsed "$T0")s, $([ "$rc" -eq 0 ] && echo PASSED || echo FAILED)"
  exit "$rc"
}
trap teardown EXIT

# --- setup ------------------------------------------------------------------------------
phase_start setup "engine, compose, debootstrap"
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
if ! { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; }; then
  missing+=(docker-compose)
fi
if [ -z "${BASE_IMAGE:-}" ] && ! command -v debootstrap >/dev/null 2>&1; then
  missing+=(debootstrap)
fi
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
else
  log "docker engine, compose and debootstrap present"
fi

if docker info >/dev/null 2>&1; then
  log "a docker engine answers: using it"
else
  log "starting dockerd (log: $WORK/dockerd.log)"
  # a pid file left by a dockerd that died without cleaning up stops a new one from starting
  stale=$(cat /var/run/docker.pid 2>/dev/null || true)
  if [ -n "$stale" ] && ! [ -d "/proc/$stale" ]; then
    log "removing the stale /var/run/docker.pid ($stale)"
    as_root rm -f /var/run/docker.pid
  fi
  # started directly (or by sudo, which passes SIGTERM on), so $! is the PID to stop
  if [ "$EUID" -eq 0 ]; then
    dockerd >"$WORK/dockerd.log" 2>&1 &
  else
    as_root dockerd >"$WORK/dockerd.log" 2>&1 &
  fi
  STARTED_DOCKERD_PID=$!
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null || { tail -20 "$WORK/dockerd.log"; exit 1; }
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -20 "$WORK/dockerd.log"; exit 1; }
  log "dockerd pid $STARTED_DOCKERD_PID answers"
fi

# compose v2 (the docker CLI plugin) when present, else v1 (Debian's docker-compose)
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
else
  COMPOSE=(docker-compose)
fi
COMPOSE+=(-p "$PROJECT" -f docker-compose.yml)
log "compose: ${COMPOSE[0]}${COMPOSE[1]:+ ${COMPOSE[1]}} ($("${COMPOSE[@]}" version --short 2>/dev/null || true))"

# A BuildKit builder: a docker CLI with the buildx plugin, or one from before 23.0 (its
# BuildKit client is built in; Debian bookworm's docker.io 20.10 has no buildx package).
BUILD_DOCKER=""
for candidate in docker /usr/bin/docker; do
  command -v "$candidate" >/dev/null 2>&1 || continue
  if "$candidate" buildx version >/dev/null 2>&1; then
    BUILD_DOCKER=$candidate
    break
  fi
  major=$("$candidate" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1 || true)
  if [[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -lt 23 ]; then
    BUILD_DOCKER=$candidate
    break
  fi
done
if [ -z "$BUILD_DOCKER" ]; then
  log "no BuildKit builder: install the docker buildx plugin (the Dockerfile uses RUN --mount)"
  exit 1
fi
log "builder: DOCKER_BUILDKIT=1 $BUILD_DOCKER build ($("$BUILD_DOCKER" version --format '{{.Client.Version}}' 2>/dev/null))"
phase_end

# --- base -------------------------------------------------------------------------------
# The Debian mirror apt uses here, read at run time (deb822 sources first, then one-line).
debian_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '/^URIs:/ {uri=$2} /^Suites:/ && / bookworm( |$)/ && uri != "" {print uri; exit}' "$f"
  done | head -n1 | grep . && return 0
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" && $0 ~ / bookworm / {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' "$f"
  done | head -n1 | grep .
}

phase_start base "base image"
if [ -n "${BASE_IMAGE:-}" ]; then
  log "BASE_IMAGE=$BASE_IMAGE (pulled by the build if missing)"
elif docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
  BASE_IMAGE=$LOCAL_BASE
  log "$LOCAL_BASE present: reused"
else
  BASE_IMAGE=$LOCAL_BASE
  mirror=$(debian_mirror) || { log "no bookworm mirror in /etc/apt/sources.list*"; exit 1; }
  rootfs="$WORK/rootfs"
  log "debootstrap --variant=minbase bookworm from $mirror"
  # debootstrap refuses unless `id -u` prints 0; a machine whose id is replaced by a script
  # gets one answering from the real uid for this command only.
  shim_path=$PATH
  if [ "$EUID" -eq 0 ] && [ "$(id -u 2>/dev/null)" != 0 ]; then
    mkdir -p "$WORK/shim"
    printf '#!/bin/sh\nexec python3 -c "import os, sys; print(os.geteuid() if sys.argv[1:] == [\\"-u\\"] else os.getuid())" "$@"\n' \
      >"$WORK/shim/id"
    chmod +x "$WORK/shim/id"
    shim_path="$WORK/shim:$PATH"
  fi
  as_root env PATH="$shim_path" debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; exit 1; }
  as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  as_root tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$LOCAL_BASE" >/dev/null
  as_root rm -rf "$rootfs"
fi
phase_end "$BASE_IMAGE"
export BASE_IMAGE

# --- build ------------------------------------------------------------------------------
phase_start build "$IMAGE from $BASE_IMAGE"
build_args=(build -t "$IMAGE" --build-arg "BASE_IMAGE=$BASE_IMAGE")
ca=${PIP_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
if [ -s "$ca" ]; then
  build_args+=(--secret "id=pip_ca,src=$ca")
  log "pip CA bundle: $ca (BuildKit secret pip_ca)"
fi
DOCKER_BUILDKIT=1 "$BUILD_DOCKER" "${build_args[@]}" . >"$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log"; exit 1; }
cached=$(grep -c ' CACHED$' "$WORK/build.log" || true)
phase_end "$cached steps cached"

# --- up ---------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
L1_PORT=${L1_PORT:-$(free_port)}
L2_PORT=${L2_PORT:-$(free_port)}
[ "$L1_PORT" != "$L2_PORT" ] || L2_PORT=$(free_port)
export L1_PORT L2_PORT

cid() { "${COMPOSE[@]}" ps -q "$1"; }
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$(cid "$1")" 2>/dev/null || echo missing; }
wait_healthy() {
  local deadline=$((SECONDS + $1)) s
  shift
  for s in "$@"; do
    until [ "$(health "$s")" = healthy ]; do
      if [ $SECONDS -ge $deadline ]; then
        log "$s is $(health "$s") after the wait"
        return 1
      fi
      sleep 1
    done
  done
}
rpc() { # rpc PORT METHOD [PARAMS-JSON]: the result, from the host through the published port
  python3 - "$@" <<'PY'
import json, sys, urllib.request
port, method = sys.argv[1], sys.argv[2]
params = json.loads(sys.argv[3]) if len(sys.argv) > 3 else []
body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
req = urllib.request.Request(f"http://127.0.0.1:{port}", data=body, headers={"Content-Type": "application/json"})
reply = json.load(urllib.request.urlopen(req, timeout=10))
if "result" not in reply:
    sys.exit(f"{method}: {reply}")
print(json.dumps(reply["result"]).strip('"'))
PY
}
urls=(--l1 http://l1:8545 --l2 http://l2:8545 --rollup-file /rollup/rollup.json)
status_field() { # the rollup's status (native-rollup status in the relayer container)
  "${COMPOSE[@]}" exec -T relayer native-rollup status "${urls[@]}" \
    | python3 -c "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"
}

phase_start up "l1, l2, relayer up -d, to healthy (L1 127.0.0.1:$L1_PORT, L2 127.0.0.1:$L2_PORT)"
STACK_UP=1
# what an interrupted earlier run of this project left (containers, network, volumes)
"${COMPOSE[@]}" --profile demo down -v --remove-orphans >/dev/null 2>&1 || true
"${COMPOSE[@]}" up -d --no-build l1 l2 relayer >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log"; exit 1; }
wait_healthy 240 l1 l2 relayer
log "L1 chain id $(rpc "$L1_PORT" eth_chainId), L2 chain id $(rpc "$L2_PORT" eth_chainId) on the published ports"
log "container user: $(docker exec "$(cid l1)" id -un), package at $(docker exec "$(cid l1)" python -c 'import rpc, os; print(os.path.dirname(rpc.__file__))')"
phase_end

# --- demo -------------------------------------------------------------------------------
phase_start demo "compose --profile demo run --rm demo"
set +e
"${COMPOSE[@]}" --profile demo run --rm -T demo 2>&1 | tee "$WORK/demo.log"
demo_rc=${PIPESTATUS[0]}
set -e
[ "$demo_rc" -eq 0 ] || { log "the demo exited $demo_rc"; exit 1; }
grep -q '^RESULT: all checks passed$' "$WORK/demo.log" || { log "no passing RESULT line in the demo's summary"; exit 1; }
if grep -q '^  BAD ' "$WORK/demo.log"; then
  log "the summary lists a failed check"
  exit 1
fi
settled=$(grep -o '^Blocks settled: [0-9]*' "$WORK/demo.log" | grep -o '[0-9]*$')
[ "${settled:-0}" -gt 0 ] || { log "the demo settled no block"; exit 1; }
phase_end "$settled L2 blocks settled through EXECUTE, all checks passed"

# --- restart ----------------------------------------------------------------------------
phase_start restart "docker kill l1, start it again from its volume"
before_head=$(rpc "$L1_PORT" eth_blockNumber)
before_hash=$(rpc "$L1_PORT" eth_getBlockByNumber "[\"$before_head\", false]" \
  | python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["hash"])')
before_settled=$(status_field lastBlockNumber)
log "before: L1 head $((before_head)) $before_hash, L2 settled to #$before_settled"
docker kill "$(cid l1)" >/dev/null
log "l1 killed ($(docker inspect -f '{{.State.Status}}' "$(cid l1)")); relayer: $(health relayer)"
"${COMPOSE[@]}" start l1 >/dev/null 2>&1
wait_healthy 120 l1
after_hash=$(rpc "$L1_PORT" eth_getBlockByNumber "[\"$before_head\", false]" \
  | python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["hash"])')
[ "$after_hash" = "$before_hash" ] || { log "L1 block $((before_head)) is $after_hash after the restart"; exit 1; }
log "after: L1 block $((before_head)) has the same hash (head $(($(rpc "$L1_PORT" eth_blockNumber))))"
wait_healthy 120 relayer
# a new L2 transaction (a small withdrawal from the L2's dev account), mined and settled
# through EXECUTE by the relayer that lived through the L1's restart
out=$("${COMPOSE[@]}" exec -T relayer native-rollup withdraw --l1 http://l1:8545 --l2 http://l2:8545 --value 0.001)
l2_block=$(printf '%s' "$out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["l2Block"])')
deadline=$((SECONDS + 120))
until [ "$(status_field lastBlockNumber)" -ge "$l2_block" ]; do
  [ $SECONDS -lt $deadline ] || { log "L2 block $l2_block not settled"; exit 1; }
  sleep 1
done
[ "$(status_field consistent)" = True ] || { log "status is not consistent"; exit 1; }
retries=$("${COMPOSE[@]}" logs --no-color relayer 2>&1 | grep -c 'step failed, retrying' || true)
restarts=$(docker inspect -f '{{.RestartCount}}' "$(cid relayer)")
log "relayer: $retries failed steps retried while the L1 was down, $restarts restarts"
phase_end "L2 #$l2_block settled after the restart (was #$before_settled)"
