#!/usr/bin/env bash
# start-speakers.sh SPEAKER_BINARY [--restart] — run one ferrolb-speaker per rig node, inside the
# node's network namespace, as ServiceAccount metallb-system/speaker (config/rbac/speaker.yaml).
#
# Applies the namespace and the speaker RBAC, creates the heartbeat Secret `metallb-memberlist`
# (key `secretkey`, 22 base64 characters like MetalLB's) if missing, mints the speaker's
# kubeconfig, then starts `ip netns exec flb-node-N ferrolb-speaker` with NODE_NAME=node-N and
# METALLB_HOST=<the node's InternalIP>. Logs: e2e/.run/logs/ferrolb-speaker-node-N.log; pids:
# e2e/.run/demo-speaker-node-N.pid (stopped by `demo.sh down`).
#
# Idempotent: a speaker that is already running is left alone unless --restart is given (then it
# is stopped with SIGTERM, i.e. a graceful handover, and started again).
# Extra speaker flags can be passed in FERROLB_SPEAKER_ARGS (e.g. "--dead-after 300ms").
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
RUN="$HERE/.run"
BIN=${1:?usage: start-speakers.sh SPEAKER_BINARY [--restart]}
RESTART=0
[ "${2:-}" = --restart ] && RESTART=1
BIN=$(readlink -f "$BIN")
[ -x "$BIN" ] || { echo "start-speakers.sh: $BIN is not executable" >&2; exit 1; }
# shellcheck disable=SC1091
. "$RUN/env"
NS=metallb-system
mkdir -p "$RUN/logs"

kubectl apply --server-side -f "$ROOT/config/namespace/namespace.yaml" -f "$ROOT/config/rbac/speaker.yaml" >/dev/null
if ! kubectl -n "$NS" get secret metallb-memberlist >/dev/null 2>&1; then
  key=$(head -c 16 /dev/urandom | base64 | tr -d '=\n')
  kubectl -n "$NS" create secret generic metallb-memberlist --from-literal=secretkey="$key" >/dev/null
fi
KC=$("$HERE/rig.sh" kubeconfig-for "$NS" speaker)

alive() { [ -e "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

for i in $(seq 1 "${FERROLB_E2E_NODES:-3}"); do
  node=node-$i
  pidf="$RUN/demo-speaker-$node.pid"
  if alive "$pidf"; then
    if [ "$RESTART" = 0 ]; then
      echo "speaker on $node already running (pid $(cat "$pidf"))"
      continue
    fi
    pid=$(cat "$pidf")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  ip=$(kubectl get node "$node" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}' 2>/dev/null | tr ' ' '\n' | grep -v : | head -1 || true)
  if [ -z "$ip" ]; then
    # A re-created Node may not have its addresses yet: use the rig's address plan (e2e/README.md).
    ip=172.18.0.2$i
    echo "start-speakers.sh: $node has no IPv4 InternalIP yet; using $ip" >&2
  fi
  # shellcheck disable=SC2086
  KUBECONFIG=$KC NODE_NAME=$node METALLB_NAMESPACE=$NS METALLB_HOST=$ip \
    FERROLB_LOG=${FERROLB_SPEAKER_LOG:-info} \
    setsid ip netns exec "${FERROLB_E2E_NS_PREFIX:-flb-}$node" "$BIN" ${FERROLB_SPEAKER_ARGS:-} \
    >>"$RUN/logs/ferrolb-speaker-$node.log" 2>&1 </dev/null &
  echo $! >"$pidf"
  echo "speaker on $node started (pid $!, host $ip)"
done
