#!/usr/bin/env bash
# Scenario: replication. A write on one database pod reaches the others through the sync stream PERCOLATE_SYNC
# (three JetStream replicas on the three NATS servers): each pod is a warm replica of what is written while it runs.
#
# Watch: the document appearing on pods 1 and 2 after it was written on pod 0 (each asked on its own loopback, so no
#        routing is involved), and percolate_replication_lag_seconds on their /metrics.
# Pass:  the document is readable on all three pods within 30 s of the write.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TENANT=replication-demo
log "three database pods (KEDA paused at 3)"
pause_at "$DB" 3
trap 'unpause "$DB"' EXIT
wait_for "three ready database pods" 600 test "$(replicas statefulset "$DB")" -ge 3
TOKEN=$(token "$TENANT" rw)
MARK="replicated at $(date +%s)"

log "write on $DB-0"
out=$(pod_call "$DB-0" POST /api/v1/resources "$TENANT" "$TOKEN" "{\"uri\":\"doc://replicated\",\"content\":\"$MARK\"}")
[[ $out == 201* ]] || fail "write refused: $out"
start=$SECONDS
for pod in "$DB-1" "$DB-2"; do
  seen() { pod_call "$pod" GET '/api/v1/resources?limit=100' "$TENANT" "$TOKEN" | grep -q "$MARK"; }
  wait_for "the document on $pod" 30 seen
  note "$pod has it after $((SECONDS - start)) s"
  lag=$(kc -n "$NS" exec "$pod" -c database -- node -e 'fetch("http://127.0.0.1:8080/metrics").then(r=>r.text()).then(t=>console.log(t.split("\n").filter(l=>l.startsWith("percolate_replication_lag_seconds_count")).join(" ")))')
  note "$pod: $lag"
done
pass "written on $DB-0, read on $DB-1 and $DB-2 within $((SECONDS - start)) s"
