#!/usr/bin/env bash
# Builds the real control-plane binaries (kube-apiserver, kubectl, etcd) and helm from the Go module
# proxy with this machine's Go toolchain, into a cache outside the repository keyed by version.
# Output layout follows the envtest convention: $OUT/{kube-apiserver,kubectl,etcd}; helm in $HELM_OUT.
# Usage: hack/build-k8s-binaries.sh   (prints the KUBEBUILDER_ASSETS directory on its last line)
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${HELM_VERSION:-v3.19.5}"
CACHE="${PERPDEX_CACHE:-$HOME/.cache/perpdex}"
OUT="$CACHE/k8s-$K8S_VERSION-etcd-$ETCD_VERSION/bin"
HELM_OUT="$CACHE/helm-$HELM_VERSION/bin"

if ! command -v go >/dev/null 2>&1; then
  echo "error: the Go toolchain is required to build kube-apiserver/etcd/kubectl/helm (install Go >= 1.24," \
       "or point KUBEBUILDER_ASSETS at a directory holding kube-apiserver, etcd and kubectl)" >&2
  exit 1
fi

log() { printf '[build-k8s] %s\n' "$*" >&2; }
export GOFLAGS="-mod=mod" CGO_ENABLED=0
mkdir -p "$OUT" "$HELM_OUT"

build_k8s() {
  local work="$CACHE/build/k8s-$K8S_VERSION"
  mkdir -p "$work"
  cd "$work"
  if [ ! -f go.mod ]; then
    log "preparing wrapper module for k8s.io/kubernetes@$K8S_VERSION"
    go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
    local gomod
    gomod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod"
    local staging="v0.${K8S_VERSION#v1.}"
    {
      echo "module perpdex.local/k8sbuild"
      echo
      echo "go 1.24.0"
      echo
      echo "require k8s.io/kubernetes $K8S_VERSION"
      echo
      # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with ./staging paths;
      # map each one to the published module of the same release.
      grep -E '^\s+k8s\.io/[A-Za-z0-9._-]+ v0\.0\.0$' "$gomod" | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
    } > go.mod.tmp
    mv go.mod.tmp go.mod
    printf 'package tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubectl/pkg/cmd"\n)\n' > tools.go
    go mod tidy >&2
  fi
  if [ ! -x "$OUT/kube-apiserver" ]; then
    log "building kube-apiserver $K8S_VERSION (several minutes on 2 cores)"
    go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_VERSION#v1.}" \
      -o "$OUT/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
    mv "$OUT/kube-apiserver.tmp" "$OUT/kube-apiserver"
  fi
  if [ ! -x "$OUT/kubectl" ]; then
    log "building kubectl $K8S_VERSION"
    go build -trimpath -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitVersion=$K8S_VERSION" \
      -o "$OUT/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl
    mv "$OUT/kubectl.tmp" "$OUT/kubectl"
  fi
}

build_etcd() {
  [ -x "$OUT/etcd" ] && return 0
  local work="$CACHE/build/etcd-$ETCD_VERSION"
  mkdir -p "$work"
  cd "$work"
  log "building etcd $ETCD_VERSION"
  if [ ! -f go.mod ]; then
    printf 'module perpdex.local/etcdbuild\n\ngo 1.24.0\n' > go.mod
    printf 'package tools\n\nimport _ "go.etcd.io/etcd/server/v3/etcdmain"\n' > tools.go
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
    go mod tidy >&2
  fi
  go build -trimpath -ldflags "-s -w" -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$OUT/etcd.tmp" "$OUT/etcd"
}

build_helm() {
  [ -x "$HELM_OUT/helm" ] && return 0
  log "building helm $HELM_VERSION"
  GOBIN="$HELM_OUT" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

case "${1:-all}" in
  --print-dir) echo "$OUT"; exit 0 ;;
  all) build_etcd; build_k8s; build_helm; ln -sf "$HELM_OUT/helm" "$OUT/helm" ;;
  k8s) build_k8s ;;
  etcd) build_etcd ;;
  helm) build_helm ;;
  *) echo "usage: $0 [all|k8s|etcd|helm]" >&2; exit 2 ;;
esac
echo "$OUT"
