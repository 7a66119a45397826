#!/usr/bin/env bash
# Shared by the KIND scripts (sourced, not run): settings, kubectl on the cluster's context, tokens, a port-forward to
# the Istio ingress gateway, waits with deadlines, and calls to one database pod from inside it.
#
#   PERCOLATE_KIND_CLUSTER       the kind cluster's name (default percolate)
#   PERCOLATE_KIND_INGRESS_PORT  the local port of the ingress port-forward (default 8080)

# shellcheck disable=SC2034 # the settings are used by the scripts that source this file
set -euo pipefail

KIND_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$KIND_DIR/../.." && pwd)
CLUSTER=${PERCOLATE_KIND_CLUSTER:-percolate}
NS=percolate
TIER=small
DB=percolate-db-$TIER
WORKERS=percolate-worker-$TIER
SECRETS=$REPO/k8s/components/secret-files/files
INGRESS_PORT=${PERCOLATE_KIND_INGRESS_PORT:-8080}
INGRESS=http://127.0.0.1:$INGRESS_PORT
PF_PID=

log() { printf '\n== %s\n' "$*"; }
note() { printf '   %s\n' "$*"; }
pass() { printf '\nPASS: %s\n' "$*"; }
fail() {
  printf '\nFAIL: %s\n' "$*" >&2
  exit 1
}

kc() { kubectl --context "kind-$CLUSTER" "$@"; }

# wait_for WHAT SECONDS COMMAND...: runs COMMAND every 2 s until it succeeds, or fails the scenario at the deadline
wait_for() {
  local what=$1 timeout=$2
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for $what"
    sleep 2
  done
}

# token TENANT SCOPE [TTL]: a token signed with the installation's key (the secret-files component's jwks.json)
token() {
  PERCOLATE_AUTH_KEYS_FILE=$SECRETS/jwks.json node "$REPO/bin/percolate.js" token --tenant "$1" --scope "$2" --ttl "${3:-2h}" --sub kind-scenario
}

# the ingress gateway on localhost, for this script's lifetime
start_ingress() {
  kc -n istio-system port-forward svc/istio-ingressgateway "$INGRESS_PORT:80" >/dev/null 2>&1 &
  PF_PID=$!
  trap stop_ingress EXIT
  wait_for "the ingress port-forward" 30 curl -s -o /dev/null "$INGRESS/"
}
stop_ingress() {
  if [[ -n $PF_PID ]]; then kill "$PF_PID" 2>/dev/null || true; fi
}

# replicas KIND NAME: the workload's ready replicas (0 when none)
replicas() {
  local n
  n=$(kc -n "$NS" get "$1" "$2" -o jsonpath='{.status.readyReplicas}')
  echo "${n:-0}"
}

# KEDA keeps a ScaledObject's target at a fixed count while this annotation is set; unpause hands it back
pause_at() { kc -n "$NS" annotate scaledobject "$1" "autoscaling.keda.sh/paused-replicas=$2" --overwrite >/dev/null; }
unpause() { kc -n "$NS" annotate scaledobject "$1" autoscaling.keda.sh/paused-replicas- >/dev/null 2>&1 || true; }

# pod_call POD METHOD PATH TENANT TOKEN [BODY]: a request to the node in POD, on its loopback (no mesh, no routing);
# prints "<status> <body>"
pod_call() {
  local pod=$1 method=$2 path=$3 tenant=$4 tok=$5 body=${6:-}
  # the token goes in the environment of the exec'd process, not on a command line a log could show
  kc -n "$NS" exec "$pod" -c database -- env "TOKEN=$tok" node -e '
    const [method, path, tenant, body] = process.argv.slice(1);
    const headers = { "x-tenant-id": tenant, authorization: "Bearer " + process.env.TOKEN };
    if (body) headers["content-type"] = "application/json";
    fetch("http://127.0.0.1:8080" + path, { method, headers, body: body || undefined })
      .then(async (r) => console.log(r.status + " " + (await r.text())))
      .catch((e) => { console.log("000 " + e.message); process.exitCode = 1; });
  ' "$method" "$path" "$tenant" "$body"
}
