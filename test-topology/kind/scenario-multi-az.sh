#!/usr/bin/env bash
# Scenario: multi-AZ locality and failover. With the Istio variant locality, a client's proxy sends 80 % of its
# requests to database pods of its own zone and 20 % to the two others; when its zone has no healthy pod, all go to
# the others. One client pod per zone (test-topology/kind/clients) asks for 100 tenants; each answer says its zone in
# X-Served-Zone. Then zone a's database pod is taken away (its node cordoned, the pod deleted: its volume is in zone
# a, so it cannot move) and zone a's client asks again.
#
# Watch: per client, how many answers came from each zone; during the failover, zone a's client's answers.
# Pass:  each client gets at least 65 % of its answers from its own zone (80 % expected), and with zone a's pod gone,
#        zone a's client gets every answer (no 5xx) from zones b and c. The affinity variant is re-applied at the end.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REQUESTS=100
log "Istio variant locality, one database pod per zone (KEDA paused at 3), a client pod per zone"
kc apply -k "$REPO/istio/locality" >/dev/null
pause_at "$DB" 3
cordoned=""
cleanup() {
  [[ -n $cordoned ]] && kc uncordon "$cordoned" >/dev/null
  kc apply -k "$REPO/istio/affinity" >/dev/null
  unpause "$DB"
}
trap cleanup EXIT
wait_for "three ready database pods" 600 test "$(replicas statefulset "$DB")" -ge 3
kc apply -k "$KIND_DIR/clients" >/dev/null
for z in a b c; do kc -n percolate-clients rollout status "deployment/client-$z" --timeout=300s >/dev/null; done
TOKEN=$(token '*' ro)
SERVICE=http://$DB.$NS.svc.cluster.local:8080

# zones ZONE: the X-Served-Zone of REQUESTS answers to the client of ZONE, one tenant each, one line per answer
zones() {
  # shellcheck disable=SC2016 # expanded by the client pod's shell
  kc -n percolate-clients exec "deploy/client-$1" -c client -- sh -c '
    for i in $(seq 1 "$0"); do
      curl -s -o /dev/null -D - -H "Authorization: Bearer $1" -H "X-Tenant-ID: locality-$i" "$2/api/v1/tenant" |
        tr -d "\r" | awk -F": " "/^HTTP/ { split(\$0, a, \" \"); s = a[2] } tolower(\$1) == \"x-served-zone\" { z = \$2 } END { print s \" \" z }"
    done' "$REQUESTS" "$TOKEN" "$SERVICE"
}

log "locality: answers by zone, per client zone"
for z in a b c; do
  answers=$(zones "$z")
  own=$(awk -v z="$z" '$2==z' <<<"$answers" | wc -l)
  note "client in zone $z: $(awk '{print $2}' <<<"$answers" | sort | uniq -c | tr '\n' ' ')"
  ((own * 100 >= REQUESTS * 65)) || fail "client in zone $z got only $own of $REQUESTS answers from its zone"
done

log "failover: zone a's database pod goes away"
pod_a=$(kc -n "$NS" get pods -l app.kubernetes.io/name=percolate-db -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName}{"\n"}{end}' |
  while read -r pod node; do
    [[ $(kc get node "$node" -o jsonpath='{.metadata.labels.topology\.kubernetes\.io/zone}') == a ]] && echo "$pod $node"
  done | head -1)
[[ -n $pod_a ]] || fail "no database pod in zone a"
cordoned=${pod_a#* }
kc cordon "$cordoned" >/dev/null
kc -n "$NS" delete pod "${pod_a% *}" --wait=true >/dev/null
answers=$(zones a)
note "client in zone a, zone a down: $(awk '{print $1"/"$2}' <<<"$answers" | sort | uniq -c | tr '\n' ' ')"
if awk '$1 ~ /^5/ || $2 == "a"' <<<"$answers" | grep -q .; then fail "answers from zone a or 5xx while zone a was down"; fi
pass "locality kept (>= 65 % own zone per client), and zone a's clients failed over to b and c"
