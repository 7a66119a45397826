#!/usr/bin/env bash
# Scenario: tenant routing. With the Istio variant affinity, the ingress gateway hashes X-Tenant-ID onto the ring of
# the database pods, so every request of a tenant lands on the same pod.
#
# Watch: the X-Served-By header of each answer (the pod that served it), per tenant.
# Pass:  each of 20 tenants is served by one pod for all its 10 requests, and the tenants spread over at least 2 of
#        the 3 pods.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TENANTS=20
REQUESTS=10

log "Istio variant affinity, three database pods (KEDA paused at 3)"
kc apply -k "$REPO/istio/affinity" >/dev/null
pause_at "$DB" 3
trap 'unpause "$DB"; stop_ingress' EXIT
wait_for "three ready database pods" 600 test "$(replicas statefulset "$DB")" -ge 3
start_ingress
trap 'unpause "$DB"; stop_ingress' EXIT

TOKEN=$(token '*' rw)
used=""
for i in $(seq 1 "$TENANTS"); do
  tenant="routing-$i"
  # the first write creates the tenant
  curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -H "X-Tenant-ID: $tenant" -H 'content-type: application/json' \
    -d "{\"uri\":\"doc://routing\",\"content\":\"tenant $tenant\"}" "$INGRESS/api/v1/resources" || fail "write for $tenant refused"
  pods=""
  for _ in $(seq 1 "$REQUESTS"); do
    pod=$(curl -s -o /dev/null -D - -H "Authorization: Bearer $TOKEN" -H "X-Tenant-ID: $tenant" "$INGRESS/api/v1/tenant" |
      tr -d '\r' | awk -F': ' 'tolower($1) == "x-served-by" { print $2 }')
    pods="$pods $pod"
  done
  distinct=$(tr ' ' '\n' <<<"$pods" | sed '/^$/d' | sort -u)
  note "$tenant -> $(tr '\n' ' ' <<<"$distinct")"
  [[ $(wc -l <<<"$distinct") -eq 1 ]] || fail "$tenant was served by several pods: $(tr '\n' ' ' <<<"$distinct")"
  used="$used $distinct"
done
spread=$(tr ' ' '\n' <<<"$used" | sed '/^$/d' | sort -u | wc -l)
[[ $spread -ge 2 ]] || fail "all tenants landed on one pod: the ring is not in use"
pass "$TENANTS tenants, each always on one pod, spread over $spread pods"
