#!/usr/bin/env bash
# run-kind.sh — run ferrolb on a kind cluster (1 control plane + 3 workers) and run the e2e
# suite's API-level tests against it.
#
# NOT RUN in this project's CI: it needs Docker, kind and a container registry, none of which
# exist on the project's machines (no Docker, no network besides package registries). It is
# kept simple so a developer with Docker can reproduce MetalLB's usual dev setup.
#
# What it does: build images -> create cluster -> load images -> install
# config/manifests/ferrolb-native.yaml -> wait for rollout -> run the tests that do not need the
# netns rig (a: RBAC, b: CRDs). The traffic/BGP tests (c-f) need rig.sh's network namespaces,
# fake pods (kwok) and routers; on kind they would need a client container and FRR container
# on the kind docker network instead (not written).
#
# usage: e2e/kind/run-kind.sh [--keep]
# env:   FERROLB_IMAGE (default ferrolb:dev), FERROLB_DOCKERFILE (default Dockerfile at repo root)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
IMAGE=${FERROLB_IMAGE:-ferrolb:dev}
DOCKERFILE=${FERROLB_DOCKERFILE:-$ROOT/Dockerfile}
MANIFEST=$ROOT/config/manifests/ferrolb-native.yaml
CLUSTER=ferrolb
KEEP=0; [ "${1:-}" = --keep ] && KEEP=1

for c in docker kind kubectl cargo; do
  command -v "$c" >/dev/null || { echo "run-kind.sh: '$c' is required" >&2; exit 1; }
done
[ -f "$DOCKERFILE" ] || { echo "run-kind.sh: no Dockerfile at $DOCKERFILE (set FERROLB_DOCKERFILE)" >&2; exit 1; }
[ -f "$MANIFEST" ] || { echo "run-kind.sh: $MANIFEST does not exist yet" >&2; exit 1; }

docker build -t "$IMAGE" -f "$DOCKERFILE" "$ROOT"
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --config "$HERE/kind-config.yaml" --wait 120s
cleanup() { [ "$KEEP" = 1 ] || kind delete cluster --name "$CLUSTER"; }
trap cleanup EXIT
kind load docker-image "$IMAGE" --name "$CLUSTER"

KC=$(mktemp); kind get kubeconfig --name "$CLUSTER" >"$KC"
# the manifest names the image ferrolb:dev by default; rewrite when another tag was asked for
sed "s#image: ferrolb:dev#image: $IMAGE#" "$MANIFEST" | kubectl --kubeconfig "$KC" apply --server-side -f -
kubectl --kubeconfig "$KC" -n metallb-system rollout status deployment --timeout=180s
kubectl --kubeconfig "$KC" -n metallb-system rollout status daemonset --timeout=180s

cd "$ROOT"
FERROLB_E2E=1 FERROLB_E2E_KUBECONFIG="$KC" FERROLB_E2E_KUBECTL="$(command -v kubectl)" \
  cargo test -p ferrolb-e2e --test rig -- --test-threads=1 a_apiserver b_crds
