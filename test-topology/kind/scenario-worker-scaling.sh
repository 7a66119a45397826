#!/usr/bin/env bash
# Scenario: worker scaling. Uploads queue jobs on percolate.jobs.small; KEDA scales percolate-worker-small on the lag
# of the consumer workers-small (5 jobs per worker, from zero, at most 5 workers), read from NATS's monitoring
# endpoint and from the gateway's percolate_jobs_pending; after the jobs are done and the cooldown (60 s) passes, the
# workers go back to zero.
#
# Watch: kubectl -n percolate get deployment percolate-worker-small -w, and the jobs' status (GET /jobs/:id).
# Pass:  workers start from zero while jobs wait (more than one for 30 jobs), every job completes, and the workers
#        are back at zero afterwards.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

JOBS=30
TENANT=ingest-demo
start_ingress
TOKEN=$(token "$TENANT" rw)
auth=(-H "Authorization: Bearer $TOKEN" -H "X-Tenant-ID: $TENANT")
[[ $(replicas deployment "$WORKERS") -eq 0 ]] || note "workers already running: $(replicas deployment "$WORKERS")"

log "$JOBS uploads"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; stop_ingress' EXIT
ids=()
for i in $(seq 1 "$JOBS"); do
  for p in $(seq 1 200); do echo "Document $i paragraph $p about autoscaling workers from zero on queue lag."; done >"$tmp/doc-$i.txt"
  id=$(curl -sf "${auth[@]}" -F "file=@$tmp/doc-$i.txt" -F tier=small "$INGRESS/upload" | sed -n 's/.*"job_id":"\([^"]*\)".*/\1/p')
  [[ -n $id ]] || fail "upload $i refused"
  ids+=("$id")
done

log "workers scale out"
most=0
all_done() {
  local n
  n=$(replicas deployment "$WORKERS")
  ((n > most)) && most=$n
  for id in "${ids[@]}"; do
    curl -sf "${auth[@]}" "$INGRESS/jobs/$id" | grep -q '"status":"completed"' || return 1
  done
}
wait_for "every job completed" 900 all_done
note "at most $most workers were ready at once"
((most > 1)) || fail "the workers never scaled beyond one for $JOBS jobs"

log "workers scale back to zero"
wait_for "$WORKERS at zero" 600 test "$(kc -n "$NS" get deployment "$WORKERS" -o jsonpath='{.spec.replicas}')" = 0
pass "$JOBS jobs done by up to $most workers, scaled from and back to zero"
