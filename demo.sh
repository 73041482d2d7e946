#!/usr/bin/env bash
# demo.sh — a local cluster with a LoadBalancer Service getting an EXTERNAL-IP from ferrolb,
# and a client reaching a pod through it. No Docker: the e2e rig (e2e/README.md) runs a real
# kube-apiserver, controller-manager, kwok nodes and kube-proxy in network namespaces.
#
#   sudo ./demo.sh          run the demo, leave the rig up to play with (prints how)
#   sudo ./demo.sh down     stop everything the demo started
#
# Needs root, Go and cargo; installs Debian packages it needs; upstream builds are cached in
# ~/.cache/ferrolb (the first run builds Kubernetes from source: ~20-30 min on 2 cores).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export FERROLB_CACHE=${FERROLB_CACHE:-$HOME/.cache/ferrolb}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$FERROLB_CACHE/target}
RUN="$ROOT/e2e/.run"
NS=demo

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
stop_components() {
  for p in "$RUN"/demo-*.pid; do
    [ -e "$p" ] || continue
    kill "$(cat "$p")" 2>/dev/null || true
    rm -f "$p"
  done
}

if [ "${1:-}" = down ]; then
  stop_components
  "$ROOT/e2e/rig.sh" down
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "demo.sh needs root (network namespaces); run: sudo ./demo.sh" >&2; exit 1; }

say "1/6 Installing packages and building upstream Kubernetes (cached after the first run)"
FERROLB_E2E_PREPARE_ONLY=1 "$ROOT/e2e/run.sh" </dev/null
(cd "$ROOT" && cargo build -q -p ferrolb-operator)
[ -d "$ROOT/speaker" ] && (cd "$ROOT" && cargo build -q -p ferrolb-speaker)

say "2/6 Starting the local cluster (control plane + 3 kwok nodes in network namespaces)"
"$ROOT/e2e/rig.sh" up >/dev/null
# shellcheck disable=SC1091
. "$RUN/env"
kubectl get nodes -o wide

say "3/6 Installing ferrolb: CRDs, namespace, RBAC, controller (as its own ServiceAccount)"
kubectl apply --server-side --force-conflicts -f "$ROOT/config/namespace/namespace.yaml" -f "$ROOT/config/crd/bases" -f "$ROOT/config/rbac/controller.yaml" >/dev/null
kubectl wait --for=condition=Established --timeout=60s crd/ipaddresspools.metallb.io >/dev/null
stop_components
mkdir -p "$RUN/logs"
CTRL_KC=$("$ROOT/e2e/rig.sh" kubeconfig-for metallb-system controller)
KUBECONFIG=$CTRL_KC METALLB_NAMESPACE=metallb-system setsid "$CARGO_TARGET_DIR/debug/ferrolb-operator" \
  >>"$RUN/logs/ferrolb-operator.log" 2>&1 </dev/null &
echo $! >"$RUN/demo-operator.pid"
SPEAKER=0
if [ -x "$CARGO_TARGET_DIR/debug/ferrolb-speaker" ] && [ -x "$ROOT/e2e/start-speakers.sh" ]; then
  "$ROOT/e2e/start-speakers.sh" "$CARGO_TARGET_DIR/debug/ferrolb-speaker" && SPEAKER=1
fi

say "4/6 Applying the home-lab guide's pool (shared example helm-l2-pool.yaml, unchanged)"
cat "$ROOT/api/tests/data/examples/helm-l2-pool.yaml"
kubectl apply --server-side --force-conflicts -f "$ROOT/api/tests/data/examples/helm-l2-pool.yaml" >/dev/null

say "5/6 A 3-replica web Deployment and a LoadBalancer Service"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -n "$NS" -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: echo, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
YAML
for _ in $(seq 1 60); do
  IP=$(kubectl get svc web -n "$NS" -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
  [ -n "$IP" ] && break
  sleep 0.5
done
kubectl get svc web -n "$NS"
[ -n "${IP:-}" ] || { echo "no EXTERNAL-IP: see $RUN/logs/ferrolb-operator.log" >&2; exit 1; }
kubectl wait --for=condition=Ready pod -l app=web -n "$NS" --timeout=60s >/dev/null

# Retry for a few seconds: kube-proxy and the pod agents pick up new endpoints asynchronously.
retry_curl() {
  for _ in $(seq 1 20); do
    if out=$("$@" 2>/dev/null); then echo "$out"; return 0; fi
    sleep 1
  done
  "$@"
}
say "6/6 A client on the LAN opens http://$IP/"
if [ "$SPEAKER" = 1 ]; then
  for _ in 1 2 3; do retry_curl "$ROOT/e2e/rig.sh" exec-client -- curl -sS --max-time 2 "http://$IP/"; echo; done
else
  echo "ferrolb's speaker (which answers ARP for $IP on the LAN) is not built yet in this"
  echo "checkout, so nothing on the LAN owns $IP. Meanwhile, the same backends through the"
  echo "Service's ClusterIP from node-1 (kube-proxy forwarding):"
  CIP=$(kubectl get svc web -n "$NS" -o jsonpath='{.spec.clusterIP}')
  retry_curl "$ROOT/e2e/rig.sh" exec-node node-1 -- curl -sS --max-time 2 "http://$CIP/"; echo
fi
cat <<TXT

The rig stays up. Try:
  . $RUN/env && kubectl get svc -A && kubectl get ipaddresspools -n metallb-system
  sudo ./demo.sh down     # stop everything
TXT
