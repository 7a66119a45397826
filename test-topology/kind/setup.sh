#!/usr/bin/env bash
# Builds the whole KIND installation of KIND.md: a three-zone kind cluster, the images loaded into it, Istio (with its
# CNI plugin), Prometheus, KEDA, MinIO, the Secrets, NATS and tier small with the Istio variant affinity, and KEDA's
# ScaledObjects. Idempotent: run it again after a change (a changed image is rebuilt and loaded again).
#
#   test-topology/kind/setup.sh            needs docker, kind, kubectl, helm, istioctl, node (the repo's npm install)
#
# Pass: the last line says the installation is ready, with the NATS servers, the gateway and one database pod ready.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION=$(node -p "require('$REPO/package.json').version")
for bin in docker kind kubectl helm istioctl node curl; do
  command -v "$bin" >/dev/null || fail "$bin is not installed (KIND.md lists what the scripts need)"
done

log "cluster $CLUSTER (three workers in zones a, b, c)"
if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --config "$KIND_DIR/cluster.yaml"
fi
kc get nodes -L topology.kubernetes.io/zone

log "images percolate-api, percolate-gateway, percolate-worker:$VERSION"
for target in api gateway worker; do
  docker build --target "$target" -t "percolate-$target:$VERSION" "$REPO"
  kind load docker-image --name "$CLUSTER" "percolate-$target:$VERSION"
done

log "Istio: default profile, CNI plugin (no NET_ADMIN init containers), native sidecars"
istioctl install -y --context "kind-$CLUSTER" --set profile=default --set components.cni.enabled=true \
  --set values.pilot.env.ENABLE_NATIVE_SIDECARS=true

log "Prometheus (service prometheus.monitoring:9090, 15 s scrapes, the alert rules of k8s/base/monitoring)"
helm repo add prometheus-community https://prometheus-community.github.io/helm-charts >/dev/null
helm repo add kedacore https://kedacore.github.io/charts >/dev/null
helm repo update >/dev/null
helm upgrade --install prometheus prometheus-community/prometheus --kube-context "kind-$CLUSTER" \
  --namespace monitoring --create-namespace \
  --set server.fullnameOverride=prometheus --set server.service.servicePort=9090 \
  --set server.global.scrape_interval=15s --set server.persistentVolume.enabled=false \
  --set alertmanager.enabled=false --set prometheus-pushgateway.enabled=false \
  --set-file 'serverFiles.alerting_rules\.yml'="$REPO/k8s/base/monitoring/alerts.yaml"

log "KEDA"
helm upgrade --install keda kedacore/keda --kube-context "kind-$CLUSTER" --namespace keda --create-namespace

log "secrets: signing key, S3 credentials, admin token (k8s/components/secret-files/files, git-ignored)"
mkdir -p "$SECRETS"
if [[ ! -f $SECRETS/jwks.json ]]; then
  node "$REPO/bin/percolate.js" keys generate --file "$SECRETS/jwks.json"
fi
if [[ ! -f $SECRETS/s3.env ]]; then
  # MinIO's root user is Percolate's S3 user in this cluster
  printf 'AWS_ACCESS_KEY_ID=percolate\nAWS_SECRET_ACCESS_KEY=%s\n' "$(node -p "require('crypto').randomBytes(18).toString('hex')")" >"$SECRETS/s3.env"
  chmod 600 "$SECRETS/s3.env"
fi
# the snapshot CronJob's token: admin for every tenant, re-minted (and the CronJob's pods rolled) by each setup
token '*' admin 90d >"$SECRETS/admin-token"
chmod 600 "$SECRETS/admin-token"

log "MinIO (namespace minio, bucket percolate)"
kc create namespace minio --dry-run=client -o yaml | kc apply -f -
S3_USER=$(sed -n 's/^AWS_ACCESS_KEY_ID=//p' "$SECRETS/s3.env")
S3_PASS=$(sed -n 's/^AWS_SECRET_ACCESS_KEY=//p' "$SECRETS/s3.env")
kc -n minio create secret generic minio-credentials --from-literal=MINIO_ROOT_USER="$S3_USER" \
  --from-literal=MINIO_ROOT_PASSWORD="$S3_PASS" --dry-run=client -o yaml | kc apply -f -
kc apply -k "$KIND_DIR/minio"
kc -n minio wait --for=condition=complete job/minio-bucket --timeout=300s

log "Percolate tier $TIER (k8s/overlays/$TIER through test-topology/kind/overlay), Istio variant affinity"
kc apply -k "$KIND_DIR/overlay"
kc apply -k "$REPO/istio/affinity"
kc -n "$NS" rollout status statefulset/nats --timeout=300s
kc -n "$NS" rollout status deployment/percolate-gateway --timeout=300s

log "KEDA ScaledObjects (test-topology/kind/keda: keda/$TIER with a 60 s database cooldown)"
kc apply -k "$KIND_DIR/keda"
# the first database pod, so the installation is usable at once (the scenarios unpause it)
pause_at "$DB" 1
wait_for "one ready database pod" 300 test "$(replicas statefulset "$DB")" -ge 1
unpause "$DB"

pass "the installation is ready: kubectl --context kind-$CLUSTER -n $NS get pods"
