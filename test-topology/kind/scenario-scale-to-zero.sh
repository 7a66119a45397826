#!/usr/bin/env bash
# Scenario: scale to zero and warm-up. Without requests, the tier's active tenants fall to 0 after the active window
# (60 s in KIND) and KEDA takes the database StatefulSet to zero after its cooldown (60 s in KIND); each pod drains
# first (preStop: outboxes published, hot tenants snapshotted to MinIO). The next request for the tier is counted by
# the ingress gateway's proxy (a 503: no pod), which activates the ScaledObject's second trigger: one pod starts,
# restores the tenant from its snapshot and the sync stream, and answers.
#
# Watch: kubectl -n percolate get statefulset percolate-db-small -w   (replicas 1 -> 0 -> 1), and the seconds from
#        the first request at zero to the first 200.
# Pass:  the StatefulSet reaches 0 replicas, comes back by itself on a request, and the tenant's document written
#        before is returned.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TENANT=warmup-demo
unpause "$DB"
start_ingress
TOKEN=$(token "$TENANT" rw)
auth=(-H "Authorization: Bearer $TOKEN" -H "X-Tenant-ID: $TENANT")

log "a document for $TENANT (retried until a database pod answers)"
write() { curl -sf -o /dev/null "${auth[@]}" -H 'content-type: application/json' -d '{"uri":"doc://warm","content":"kept through scale to zero"}' "$INGRESS/api/v1/resources"; }
wait_for "a database pod taking writes" 600 write

log "no requests now: waiting for KEDA to scale $DB to zero (active window, then cooldown)"
at_zero() { [[ $(kc -n "$NS" get statefulset "$DB" -o jsonpath='{.spec.replicas}') == 0 ]]; }
wait_for "$DB at zero replicas" 900 at_zero
note "$DB has 0 replicas; PVCs kept: $(kc -n "$NS" get pvc -l app.kubernetes.io/name=percolate-db -o name | wc -l)"

log "one request wakes the tier"
start=$SECONDS
read_back() { curl -sf "${auth[@]}" "$INGRESS/api/v1/resources?limit=10" | grep -q 'kept through scale to zero'; }
wait_for "the document, served again" 600 read_back
note "first 200 after $((SECONDS - start)) s; replicas now $(replicas statefulset "$DB")"
pass "$DB went to zero and came back on a request, with $TENANT's document"
