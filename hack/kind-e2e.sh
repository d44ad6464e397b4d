#!/usr/bin/env bash
# End to end on kind with the real image: build, load, helm install, a paper collector and grid bot, wait Running,
# pause/resume, delete. Needs Docker (not available on machines without a container runtime, where `make demo`
# and the e2e tier use the local pod runner instead).
set -euo pipefail
cd "$(dirname "$0")/.."

KIND_VERSION="${KIND_VERSION:-v0.29.0}"
CLUSTER="${KIND_CLUSTER:-perpdex-e2e}"
IMAGE="perp-dex-operator:e2e"
NS=perpdex
CACHE="${PERPDEX_CACHE:-$HOME/.cache/perpdex}"

if ! docker info >/dev/null 2>&1; then
  echo "kind-e2e needs a running Docker engine (docker info failed); nothing was run" >&2
  exit 1
fi
ASSETS="$(hack/build-k8s-binaries.sh all | tail -n1)"
export PATH="$ASSETS:$CACHE/kind-$KIND_VERSION/bin:$PATH"
if ! command -v kind >/dev/null 2>&1; then
  GOBIN="$CACHE/kind-$KIND_VERSION/bin" go install "sigs.k8s.io/kind@$KIND_VERSION"
fi

cleanup() { [ "${KEEP_CLUSTER:-0}" = 1 ] || kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; }
trap cleanup EXIT

docker build -t "$IMAGE" .
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
kind load docker-image "$IMAGE" --name "$CLUSTER"

# Helm never upgrades crds/: apply them first (docs/operations.md, Upgrade); a no-op on a fresh cluster
helm show crds charts/perp-dex-operator | kubectl apply --server-side --force-conflicts -f -
helm upgrade --install perpdex charts/perp-dex-operator -n "$NS" --create-namespace --wait --timeout 10m \
  --set image.repository=perp-dex-operator --set image.tag=e2e --set image.pullPolicy=Never \
  --set postgresql.persistence.size=1Gi \
  --set collector.create=true --set 'collector.exchanges={paper-a,paper-b}' --set collector.interval=10s
kubectl -n "$NS" apply -f examples/paper-collector.yaml -f examples/paper-grid.yaml

wait_phase() { # kind name phase timeout
  local deadline=$((SECONDS + $4))
  until [ "$(kubectl -n "$NS" get "$1" "$2" -o jsonpath='{.status.phase}' 2>/dev/null)" = "$3" ]; do
    [ $SECONDS -lt $deadline ] || { kubectl -n "$NS" describe "$1" "$2"; echo "timeout waiting for $1/$2 $3" >&2; exit 1; }
    sleep 3
  done
  echo "$1/$2 is $3"
}
wait_phase tradingbot paper-btc-grid Running 300
wait_phase fundingcollector paper-dexes Running 300
kubectl -n "$NS" get tradingbots,fundingcollectors

kubectl -n "$NS" patch tb paper-btc-grid --type=merge -p '{"spec":{"paused":true}}'
wait_phase tradingbot paper-btc-grid Paused 180
kubectl -n "$NS" patch tb paper-btc-grid --type=merge -p '{"spec":{"paused":false}}'
wait_phase tradingbot paper-btc-grid Running 300

kubectl -n "$NS" delete tb paper-btc-grid --wait --timeout=180s
if kubectl -n "$NS" get pod -l app.kubernetes.io/instance=paper-btc-grid -o name | grep -q .; then
  echo "bot pod still present after delete" >&2; exit 1
fi
# uninstall: the pre-delete hook deletes the chart's FundingCollector while the operator still runs
kubectl -n "$NS" delete fundingcollector paper-dexes --wait --timeout=180s
helm uninstall perpdex -n "$NS" --wait --timeout 5m
if kubectl get fundingcollectors,tradingbots -A -o name | grep -q .; then
  echo "custom resources left after uninstall" >&2; kubectl get fundingcollectors,tradingbots -A; exit 1
fi
echo "kind e2e passed"
