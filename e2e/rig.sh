#!/usr/bin/env bash
# rig.sh — the ferrolb e2e rig: a real Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler) as plain processes on 127.0.0.1, kwok fake kubelets,
# and one Linux network namespace per node / client / BGP router on a bridged LAN.
# No Docker. Needs root, iproute2, socat, iptables, python3, openssl, curl, gobgpd, frr, bird2.
#
# usage: e2e/rig.sh <command> [args]
#   up                         start everything (idempotent: a healthy rig is left alone,
#                              a broken or partial one is torn down and started again)
#   down                       stop everything; leaves no processes, netns, veths, mounts
#   status                     show components, namespaces and nodes; exit 1 if unhealthy
#   env                        print shell exports (KUBECONFIG, PATH with kubectl, ...)
#   kubeconfig-for NS SA [--create] [--duration D] [--out FILE]
#                              mint a ServiceAccount token (TokenRequest) and write a
#                              kubeconfig using it; prints the file path
#   exec-node NODE -- CMD...   run CMD inside the node's netns (NODE = node-1 ...)
#   exec-client -- CMD...      run CMD inside the client netns
#   exec-pods -- CMD...        run CMD inside the host pod network's netns (pods the apiserver reaches)
#   exec-router frr|gobgp|gobgp-md5|bird|collect -- CMD...
#   collectors N               (re)start N GoBGP collectors in the collect netns (0 stops them)
#   frr-restart [DAEMON]       stop and start FRR's bgpd (default), zebra or bfdd with its config
#   node-notready NODE         make kwok report Ready=False (kwok chaos stage label)
#   node-ready NODE            undo node-notready
#   node-delete NODE           delete the Node object and cut the node's LAN link (nft drop)
#   node-restore NODE          undo node-delete: re-create the Node and reopen its link
#   logs [COMPONENT]           list logs / tail one
#   pick-instance [N...]       print the first rig instance (0-9) that is free or ours, not one of N...
#
# Env: FERROLB_CACHE (binaries, default ~/.cache/ferrolb), FERROLB_E2E_NODES (default 3, max 9),
#      FERROLB_E2E_INSTANCE (0-9, default 0: several rigs can run side by side),
#      FERROLB_E2E_PROXY_MODE (kube-proxy mode: iptables (default) or nftables),
#      FERROLB_E2E_COLLECTORS (GoBGP scale collectors started by `up`, default 0, max 32).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=versions.env
. "$HERE/versions.env"
CACHE=${FERROLB_CACHE:-$HOME/.cache/ferrolb}
BIN_ROOT="$CACHE/bin"
# Several rigs can run side by side (developers sharing a machine, CI next to a leftover rig):
# instance N (FERROLB_E2E_INSTANCE, 0-9, default 0) uses netns prefix flbN- (flb- for 0), ports
# +100*N, its own /run and /dev/shm paths and state dir e2e/.run (0) or e2e/.run/iN.
INSTANCE=${FERROLB_E2E_INSTANCE:-0}
case "$INSTANCE" in [0-9]) ;; *) echo "FERROLB_E2E_INSTANCE must be 0..9" >&2; exit 2 ;; esac
if [ "$INSTANCE" = 0 ]; then P=flb; SFX=""; RUN="$HERE/.run"; else P="flb$INSTANCE"; SFX="-$INSTANCE"; RUN="$HERE/.run/i$INSTANCE"; fi
OFF=$((INSTANCE * 100))
LOGS="$RUN/logs"
PIDS="$RUN/pids"
PKI="$RUN/pki"
KC="$RUN/kubeconfig"            # admin (system:masters) kubeconfig
SOCK_DIR=/run/ferrolb-e2e$SFX    # UNIX sockets, FRR state (short path)
ETCD_DATA=/dev/shm/ferrolb-e2e$SFX-etcd
FRR_NS_NAME=${P}frr              # FRR pathspace (-N): /var/run/frr/flbfrr, /etc/frr/flbfrr
LOCK=/run/ferrolb-e2e$SFX.lock
NODES=${FERROLB_E2E_NODES:-3}
case "$NODES" in [1-9]) ;; *) echo "FERROLB_E2E_NODES must be 1..9" >&2; exit 2 ;; esac
PROXY_MODE=${FERROLB_E2E_PROXY_MODE:-iptables}   # kube-proxy mode: iptables (default) or nftables

# ports on the host's 127.0.0.1
ETCD_PORT=$((23790 + OFF))
ETCD_PEER_PORT=$((23800 + OFF))
API_PORT=$((16443 + OFF))
KCM_PORT=$((16257 + OFF))
SCHED_PORT=$((16259 + OFF))

# address plan (see README.md): every LAN host h has .h in each IPv4 LAN subnet and ::h in IPv6
LAN4_PRIMARY=172.18.0          # /16, like kind's docker network; node InternalIPs live here
LAN4_EXTRA=(192.168.0 192.168.1 192.168.35)   # /24 each: the shared examples' L2 pools are on-link
LAN6=fc00:f853:ccd:e793        # /64, kind's IPv6 network
SVC_CIDR=10.96.0.0/16
SVC_CIDR6=fd00:10:96::/112     # dual-stack Services (IPv4 stays the default family)
POD_CIDR=10.244.0.0/16         # node-i gets 10.244.i.0/24
POD_CIDR6=fd00:10:244::/56     # node-i gets fd00:10:244:i::/64
FRR_ASN=64513                  # 192.168.0.1, as in shared/examples/bgp-peering.yaml
GOBGP_ASN=64514
SPEAKER_ASN=64512
GOBGP_MD5_ASN=64515            # the second gobgpd: static MD5 neighbours only
COLLECTOR_ASN=64516            # scale collectors (gobgpd on ports COLLECTOR_PORT0 + i - 1)
BIRD_ASN=$SPEAKER_ASN          # BIRD is an iBGP peer of the speakers: LOCAL_PREF is visible
# MD5 LAN: static neighbours with a password on FRR, BIRD and gobgp-md5 are the nodes' addresses
# in this subnet, which no dynamic range covers (a TCP-MD5 key is per remote address on the
# router's listening socket, so the same node address cannot also peer without one)
LAN4_MD5=192.168.5
LAN6_MD5=fc00:f853:ccd:e795     # /64, the MD5 LAN's IPv6 (FRR's IPv6 MD5 neighbours: ::2i)
MD5_PASSWORD=ferrolb-e2e-md5
COLLECTORS=${FERROLB_E2E_COLLECTORS:-0}
case "$COLLECTORS" in [0-9] | [12][0-9] | 3[0-2]) ;; *) echo "FERROLB_E2E_COLLECTORS must be 0..32" >&2; exit 2 ;; esac
COLLECTOR_PORT0=1790           # collector i listens on 1790 + i - 1, its gRPC API on 50051 + i
H_FRR=1
H_GOBGP=2
H_BIRD=3
H_GOBGP_MD5=4
H_COLLECT=5
H_CLIENT=50
node_h() { echo $((20 + $1)); }   # node-i -> host number 20+i
# Host pod network: pods the host's kube-apiserver reaches at their pod IP (webhook replicas
# behind a `service:` clientConfig, resolved to an EndpointSlice endpoint by
# --enable-aggregator-routing). Netns $P-pods, veth $P-pods (host, .1) <-> eth0 (.2); pod IPs
# .10-.250 are added to eth0 by the tests (ferrolb_e2e::hostpods). One /24 of the benchmark range
# 198.18.0.0/15 (RFC 2544) per instance, so rigs side by side never share an address on the host.
PODNET4=198.18.$INSTANCE
# kwok leaves Pods with this annotation alone: their kubelet is the test (status, readiness, deletion)
KUBELET_TEST_ANNOTATION=e2e.ferrolb.io/kubelet=test

NS_LAN=$P-lan
NS_CLIENT=$P-client
NS_FRR=$P-frr
NS_GOBGP=$P-gobgp
NS_GOBGP_MD5=$P-gobgp-md5
NS_BIRD=$P-bird
NS_COLLECT=$P-collect
NS_PODS=$P-pods
BIRD_SOCK=$SOCK_DIR/bird.ctl     # birdc -s $BIRD_SOCK
ns_node() { echo "$P-$1"; }       # node-1 -> flb-node-1
our_netns() { # names of existing flb-* namespaces, one per line (read fully before anyone greps)
  local all; all=$(ip netns list 2>/dev/null || true)
  awk -v p="$P-" 'index($1, p) == 1 {print $1}' <<<"$all"
}
netns_exists() { local all; all=$(our_netns); [[ $'\n'"$all"$'\n' == *$'\n'"$1"$'\n'* ]]; }

bin() { echo "$BIN_ROOT/$1-$2/$1"; }
ETCD_BIN=$(bin etcd "$ETCD_VERSION")
APISERVER_BIN=$(bin kube-apiserver "$K8S_VERSION")
KCM_BIN=$(bin kube-controller-manager "$K8S_VERSION")
SCHED_BIN=$(bin kube-scheduler "$K8S_VERSION")
PROXY_BIN=$(bin kube-proxy "$K8S_VERSION")
KUBECTL_BIN=$(bin kubectl "$K8S_VERSION")
KWOK_BIN=$(bin kwok "$KWOK_VERSION")
KWOK_STAGES="$BIN_ROOT/kwok-$KWOK_VERSION/kwok-stages.yaml"

log() { printf '[rig %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[rig] ERROR: %s\n' "$*" >&2; exit 1; }
kubectl() { "$KUBECTL_BIN" --kubeconfig="$KC" "$@"; }

node_names() { local i; for i in $(seq 1 "$NODES"); do echo "node-$i"; done; }

# --------------------------------------------------------------------------------------------------
# process helpers: every background process gets a pid file in $PIDS and a log in $LOGS

start_bg() { # start_bg NAME CMD... (CMD may start with `ip netns exec NS`)
  local name=$1; shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null 8>&- &
  echo $! >"$PIDS/$name.pid"
}

alive() { # alive NAME: its process exists and is not a zombie waiting to be reaped
  local pid st
  pid=$(cat "$PIDS/$1.pid" 2>/dev/null) || return 1
  st=$(ps -o stat= -p "$pid" 2>/dev/null) || return 1
  [[ -n "$st" && "$st" != Z* ]]
}

wait_for() { # wait_for DESCRIPTION TIMEOUT_S CMD... : poll every 0.5 s, bounded
  local what=$1 timeout=$2 i; shift 2
  for ((i = 0; i < timeout * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "timed out after ${timeout}s waiting for: $what"
  return 1
}

must_alive() { # must_alive NAME: fail with the log tail when a process died
  if ! alive "$1"; then
    log "$1 is not running; last lines of $LOGS/$1.log:"
    tail -n 30 "$LOGS/$1.log" >&2 || true
    return 1
  fi
}

PHASE_T0=0
phase() { # phase NAME: time the previous phase, start a new one
  local now; now=$(date +%s.%N)
  if [ -n "${PHASE_NAME:-}" ]; then
    printf '%-22s %6.1fs\n' "$PHASE_NAME" "$(awk -v a="$now" -v b="$PHASE_T0" 'BEGIN{print a-b}')" >>"$RUN/timings.txt"
  fi
  PHASE_NAME=${1:-}; PHASE_T0=$now
  [ -n "$PHASE_NAME" ] && log "phase: $PHASE_NAME"
  return 0
}

# --------------------------------------------------------------------------------------------------
preflight() {
  [ "$(id -u)" = 0 ] || die "must run as root (network namespaces)"
  local c missing=()
  for c in ip ss socat iptables nft python3 openssl curl gobgpd gobgp vtysh bird birdc awk flock setsid conntrack; do
    command -v "$c" >/dev/null || missing+=("$c")
  done
  for c in /usr/lib/frr/bgpd /usr/lib/frr/zebra; do [ -x "$c" ] || missing+=("$c"); done
  [ ${#missing[@]} = 0 ] || die "missing tools: ${missing[*]} (e2e/run.sh installs them from Debian)"
  for c in "$ETCD_BIN" "$APISERVER_BIN" "$KCM_BIN" "$SCHED_BIN" "$PROXY_BIN" "$KUBECTL_BIN" "$KWOK_BIN" "$KWOK_STAGES"; do
    [ -e "$c" ] || missing+=("$c")
  done
  if [ ${#missing[@]} != 0 ]; then
    log "upstream binaries missing (${missing[*]}); running build-upstream.sh"
    "$HERE/build-upstream.sh"
  fi
}

# --------------------------------------------------------------------------------------------------
gen_pki() {
  [ -f "$PKI/ca.crt" ] && return 0
  mkdir -p "$PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
      -keyout ca.key -out ca.crt -subj "/CN=ferrolb-e2e-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    issue() { # name subject ext
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -out "$1.crt" \
        -extfile <(printf '%s\n' "$3") 2>/dev/null
      rm -f "$1.csr"
    }
    local client="extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
    issue apiserver "/CN=kube-apiserver" "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
    issue admin "/O=system:masters/CN=ferrolb-e2e-admin" "$client"
    issue kcm "/O=system:masters/CN=system:kube-controller-manager" "$client"
    issue scheduler "/O=system:masters/CN=system:kube-scheduler" "$client"
    issue kwok "/O=system:masters/CN=ferrolb-e2e-kwok" "$client"
    issue podagent "/O=system:masters/CN=ferrolb-e2e-podagent" "$client"
    # kube-proxy runs with its real identity: the bootstrap ClusterRoleBinding system:node-proxier
    issue kube-proxy "/CN=system:kube-proxy" "$client"
    # serving cert for admission/conversion webhooks on the host (URL https://127.0.0.1:PORT/...)
    issue webhook "/CN=127.0.0.1" "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    chmod 600 ./*.key
  )
}

write_kubeconfig() { # write_kubeconfig FILE USER_YAML
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ferrolb-e2e
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: user
  user:
$2
contexts:
- name: ferrolb-e2e
  context: {cluster: ferrolb-e2e, user: user}
current-context: ferrolb-e2e
EOF
  chmod 600 "$1"
}

cert_kubeconfig() { # cert_kubeconfig FILE CERTNAME
  write_kubeconfig "$1" "    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key"
}

# --------------------------------------------------------------------------------------------------
start_etcd() {
  rm -rf "$ETCD_DATA"; mkdir -p "$ETCD_DATA"; chmod 700 "$ETCD_DATA"
  start_bg etcd "$ETCD_BIN" --name=ferrolb-e2e --data-dir="$ETCD_DATA" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="ferrolb-e2e=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state=new \
    --listen-metrics-urls="" --unsafe-no-fsync=true --log-level=warn
  wait_for "etcd /health" 60 curl -fsS "http://127.0.0.1:$ETCD_PORT/health" || { must_alive etcd; return 1; }
}

# Address ranges of the rig (LAN, Services, pods, the pools tests use) that the host itself must
# never route out of eth0. The kube-apiserver runs in the host namespace: a webhook or aggregated
# API configured by `service:` makes it connect to a ClusterIP, which without this would follow
# the host's default route off the machine (seen once: a restored BGPPeer conversion webhook).
# Blackhole routes are idempotent, identical for every instance and left in place by `down`
# (they only ever drop traffic to test addresses). 10.0.0.0/8 is not covered as a whole: the
# host's resolver may live there.
HOST_GUARD4=(10.96.0.0/16 10.244.0.0/16 172.16.0.0/12 192.168.0.0/16 198.18.0.0/15)
HOST_GUARD6=(fc00::/8 fd00:10::/32)
host_guard() {
  local r
  for r in "${HOST_GUARD4[@]}"; do ip route replace blackhole "$r"; done
  for r in "${HOST_GUARD6[@]}"; do ip -6 route replace blackhole "$r"; done
}

start_apiserver() {
  mkdir -p "$RUN/apiserver-certs"
  start_bg kube-apiserver "$APISERVER_BIN" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port="$API_PORT" \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range="$SVC_CIDR,$SVC_CIDR6" \
    --authorization-mode=Node,RBAC \
    --disable-admission-plugins=ServiceAccount \
    --allow-privileged=true \
    --enable-priority-and-fairness=false \
    --enable-aggregator-routing=true \
    --cert-dir="$RUN/apiserver-certs" --profiling=false --v=1
  wait_for "kube-apiserver /readyz" 120 curl -fsS --cacert "$PKI/ca.crt" "https://127.0.0.1:$API_PORT/readyz" ||
    { must_alive kube-apiserver; return 1; }
}

KCM_CONTROLLERS=endpointslice-controller,endpointslice-mirroring-controller,endpoints-controller,namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,deployment-controller,replicaset-controller,daemonset-controller,statefulset-controller,node-lifecycle-controller,taint-eviction-controller,pod-garbage-collector-controller
start_kcm() {
  local k="$RUN/kcm.kubeconfig"
  cert_kubeconfig "$k" kcm
  mkdir -p "$RUN/kcm-certs"
  # not the service-lb-controller: there is no cloud provider, ferrolb is the LB implementation
  start_bg kube-controller-manager "$KCM_BIN" \
    --kubeconfig="$k" --authentication-kubeconfig="$k" --authorization-kubeconfig="$k" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --cert-dir="$RUN/kcm-certs" \
    --leader-elect=false --controllers="$KCM_CONTROLLERS" \
    --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
    --node-monitor-period=1s --node-monitor-grace-period=16s \
    --concurrent-service-endpoint-syncs=5 --v=1
}

start_scheduler() {
  local k="$RUN/scheduler.kubeconfig"
  cert_kubeconfig "$k" scheduler
  start_bg kube-scheduler "$SCHED_BIN" --kubeconfig="$k" --authentication-kubeconfig="$k" \
    --authorization-kubeconfig="$k" --leader-elect=false --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --v=1
}

start_kwok() {
  local k="$RUN/kwok.kubeconfig"
  cert_kubeconfig "$k" kwok
  start_bg kwok "$KWOK_BIN" --kubeconfig="$k" --config="$KWOK_STAGES" \
    --manage-all-nodes=false --manage-nodes-with-label-selector=type=kwok \
    --node-lease-duration-seconds=8 --cidr="$POD_CIDR" \
    --disregard-status-with-annotation-selector="$KUBELET_TEST_ANNOTATION"
}

node_yaml() { # node_yaml NAME INDEX
  local h; h=$(node_h "$2")
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $1
  labels:
    type: kwok
    kubernetes.io/hostname: $1
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: zone-$(( ($2 - 1) % 2 ))
  annotations:
    node.alpha.kubernetes.io/ttl: "0"
    kwok.x-k8s.io/node: fake
spec:
  podCIDR: 10.244.$2.0/24
  podCIDRs: [10.244.$2.0/24, "fd00:10:244:$2::/64"]
EOF
}

node_status_patch() { # node_status_patch INDEX NAME
  local h; h=$(node_h "$1")
  printf '{"status":{"addresses":[{"type":"InternalIP","address":"%s"},{"type":"InternalIP","address":"%s"},{"type":"Hostname","address":"%s"}],"allocatable":{"cpu":"8","memory":"32Gi","pods":"110"},"capacity":{"cpu":"8","memory":"32Gi","pods":"110"}}}' \
    "$LAN4_PRIMARY.$h" "$LAN6::$h" "$2"
}

create_node_object() { # create_node_object NAME (node-i)
  local i=${1#node-}
  node_yaml "$1" "$i" | kubectl apply -f - >/dev/null
  kubectl patch node "$1" --subresource=status --type=merge -p "$(node_status_patch "$i" "$1")" >/dev/null
}

create_nodes() {
  local n
  for n in $(node_names); do create_node_object "$n"; done
}

nodes_ready() {
  local n want=$NODES got
  got=$(kubectl get nodes -l type=kwok -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    grep -c '=True$' || true)
  [ "$got" = "$want" ] || return 1
  for n in $(node_names); do
    # node-lifecycle-controller must have lifted the not-ready taint before the scheduler places pods
    case "$(kubectl get node "$n" -o jsonpath='{.spec.taints[*].key}')" in *node.kubernetes.io/not-ready*) return 1 ;; esac
  done
}

# --------------------------------------------------------------------------------------------------
# network

addr_all() { # addr_all NS IFACE HOSTNUM: the host's addresses on every LAN subnet
  local ns=$1 dev=$2 h=$3 p
  ip -n "$ns" addr add "$LAN4_PRIMARY.$h/16" dev "$dev"
  for p in "${LAN4_EXTRA[@]}"; do ip -n "$ns" addr add "$p.$h/24" dev "$dev"; done
  ip -n "$ns" addr add "$LAN4_MD5.$h/24" dev "$dev"
  ip -n "$ns" addr add "$LAN6_MD5::$h/64" dev "$dev" nodad
  ip -n "$ns" addr add "$LAN6::$h/64" dev "$dev" nodad
}

attach_host() { # attach_host NS HOSTNUM
  local ns=$1 h=$2 veth
  veth="v$h"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip link add eth0 netns "$ns" type veth peer name "$veth" netns "$NS_LAN"
  ip -n "$NS_LAN" link set "$veth" master br0 up
  addr_all "$ns" eth0 "$h"
  ip -n "$ns" link set eth0 up
}

net_up() {
  ip netns add "$NS_LAN"
  ip -n "$NS_LAN" link set lo up
  ip -n "$NS_LAN" link add br0 type bridge mcast_snooping 0
  ip -n "$NS_LAN" link set br0 up
  ip netns exec "$NS_LAN" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true

  attach_host "$NS_FRR" "$H_FRR"
  attach_host "$NS_GOBGP" "$H_GOBGP"
  attach_host "$NS_GOBGP_MD5" "$H_GOBGP_MD5"
  attach_host "$NS_BIRD" "$H_BIRD"
  attach_host "$NS_CLIENT" "$H_CLIENT"
  local n i h ns j
  for n in $(node_names); do
    i=${n#node-}; h=$(node_h "$i"); ns=$(ns_node "$n")
    attach_host "$ns" "$h"
    # the kernel must never answer ARP for a service IP by itself (an L2 speaker does that)
    ip netns exec "$ns" sysctl -qw \
      net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.default.arp_ignore=1 net.ipv4.conf.eth0.arp_ignore=1 \
      net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.default.arp_announce=2 net.ipv4.conf.eth0.arp_announce=2 \
      net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0 \
      net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
      net.ipv4.conf.all.route_localnet=1
  done
  # flat dual-stack pod network: 10.244.i.0/24 and fd00:10:244:i::/64 live on node-i (pod IPs
  # are /32 and /128 addresses on its lo)
  for ns in "$NS_CLIENT" "$NS_FRR" "$NS_GOBGP" "$NS_GOBGP_MD5" "$NS_BIRD" $(for n in $(node_names); do ns_node "$n"; done); do
    for j in $(seq 1 "$NODES"); do
      [ "$ns" = "$(ns_node "node-$j")" ] && continue
      ip -n "$ns" route add "10.244.$j.0/24" via "$LAN4_PRIMARY.$(node_h "$j")"
      ip -n "$ns" -6 route add "fd00:10:244:$j::/64" via "$LAN6::$(node_h "$j")"
    done
  done
  # nodes have a default gateway like real ones (the FRR router): needed for ClusterIPs (connect()
  # fails with ENETUNREACH before kube-proxy's DNAT without a route) and for replies to routed clients
  for n in $(node_names); do
    ip -n "$(ns_node "$n")" route add default via "$LAN4_PRIMARY.$H_FRR"
    ip -n "$(ns_node "$n")" -6 route add default via "$LAN6::$H_FRR"
  done
  # the client sends everything else (BGP-advertised service IPs) to the FRR router, which installs
  # BGP routes into its netns kernel (zebra) and forwards. These routes exist only inside the netns.
  ip -n "$NS_CLIENT" route add default via "$LAN4_PRIMARY.$H_FRR"
  ip -n "$NS_CLIENT" -6 route add default via "$LAN6::$H_FRR"
  # ECMP: hash on the L4 ports (policy 1) so the client's connections to one service IP spread
  # over the nodes' next hops instead of all following one (policy 0 hashes the addresses only)
  # and no ICMP redirects: the client would cache "via <first node>" for a service IP and bypass
  # the router (and its ECMP) from then on (IPv6 cannot stop sending them: the client ignores them)
  ip netns exec "$NS_FRR" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0 \
    net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1 \
    net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
  ip netns exec "$NS_CLIENT" sysctl -qw net.ipv4.conf.all.accept_redirects=0 net.ipv4.conf.eth0.accept_redirects=0 \
    net.ipv6.conf.all.accept_redirects=0 net.ipv6.conf.eth0.accept_redirects=0
}

podnet_up() { # the host pod network: netns $NS_PODS, reachable from the host (see PODNET4)
  ip netns add "$NS_PODS"
  ip -n "$NS_PODS" link set lo up
  ip link add "$NS_PODS" type veth peer name eth0 netns "$NS_PODS"
  ip addr add "$PODNET4.1/24" dev "$NS_PODS"
  ip link set "$NS_PODS" up
  ip -n "$NS_PODS" addr add "$PODNET4.2/24" dev eth0
  ip -n "$NS_PODS" link set eth0 up
}

relays_up() {
  mkdir -p "$SOCK_DIR"
  rm -f "$SOCK_DIR/api.sock"
  start_bg relay-host socat "UNIX-LISTEN:$SOCK_DIR/api.sock,fork,mode=600" "TCP:127.0.0.1:$API_PORT"
  wait_for "relay socket" 10 test -S "$SOCK_DIR/api.sock"
  local n
  for n in $(node_names); do
    start_bg "relay-$n" ip netns exec "$(ns_node "$n")" \
      socat "TCP-LISTEN:$API_PORT,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$SOCK_DIR/api.sock"
  done
  start_bg relay-pods ip netns exec "$NS_PODS" \
    socat "TCP-LISTEN:$API_PORT,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$SOCK_DIR/api.sock"
}

kube_proxy_up() {
  local k="$RUN/kube-proxy.kubeconfig" n
  cert_kubeconfig "$k" kube-proxy
  for n in $(node_names); do
    start_bg "kube-proxy-$n" ip netns exec "$(ns_node "$n")" "$PROXY_BIN" \
      --kubeconfig="$k" --hostname-override="$n" --proxy-mode="$PROXY_MODE" \
      --cluster-cidr="$POD_CIDR,$POD_CIDR6" --conntrack-max-per-core=0 \
      --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=0.0.0.0:10256 --v=1
  done
}

podagents_up() {
  local k="$RUN/podagent.kubeconfig" n
  cert_kubeconfig "$k" podagent
  for n in $(node_names); do
    start_bg "podagent-$n" ip netns exec "$(ns_node "$n")" python3 -u "$HERE/podagent.py" \
      --node "$n" --server "https://127.0.0.1:$API_PORT" --ca "$PKI/ca.crt" \
      --cert "$PKI/podagent.crt" --key "$PKI/podagent.key"
  done
}

# --------------------------------------------------------------------------------------------------
# BGP routers

frr_up() {
  local d="$SOCK_DIR/frr" ranges="" p n
  mkdir -p "$d" "/var/run/frr/$FRR_NS_NAME" "/etc/frr/$FRR_NS_NAME"
  touch "/etc/frr/$FRR_NS_NAME/vtysh.conf"
  ranges+=" bgp listen range $LAN4_PRIMARY.0/16 peer-group SPEAKERS"$'\n'
  for p in "${LAN4_EXTRA[@]}"; do ranges+=" bgp listen range $p.0/24 peer-group SPEAKERS"$'\n'; done
  ranges+=" bgp listen range $LAN6::/64 peer-group SPEAKERS"$'\n'
  for n in $(md5_neighbors) $(md5_neighbors6); do ranges+=" neighbor $n peer-group MD5"$'\n'; done
  printf 'hostname flb-frr\n' >"$d/zebra.conf"
  cat >"$d/bfdd.conf" <<'EOF'
bfd
 profile fast
  detect-multiplier 3
  receive-interval 100
  transmit-interval 100
 !
!
EOF
  cat >"$d/bgpd.conf" <<EOF
frr defaults datacenter
hostname flb-frr
log timestamp precision 3
log file $LOGS/frr-bgpd-ms.log informational
router bgp $FRR_ASN
 bgp router-id 192.168.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor SPEAKERS peer-group
 neighbor SPEAKERS remote-as external
 neighbor SPEAKERS timers 3 9
 neighbor MD5 peer-group
 neighbor MD5 remote-as external
 neighbor MD5 password $MD5_PASSWORD
 neighbor MD5 passive
 neighbor MD5 timers 3 9
$ranges address-family ipv4 unicast
  neighbor SPEAKERS activate
  neighbor MD5 activate
  maximum-paths 16
 exit-address-family
 address-family ipv6 unicast
  neighbor SPEAKERS activate
  neighbor MD5 activate
  maximum-paths 16
 exit-address-family
!
EOF
  chown -R frr:frr "$d" "/var/run/frr/$FRR_NS_NAME" "/etc/frr/$FRR_NS_NAME"
  chmod 755 "$SOCK_DIR" "$d"
  local daemon
  for daemon in zebra bfdd bgpd; do frr_daemon_start "$daemon" || return 1; done
}

frr_daemon_start() { # frr_daemon_start zebra|bfdd|bgpd: start one FRR daemon with its config
  local daemon=$1 d="$SOCK_DIR/frr"
  touch "$LOGS/frr-$daemon.log"; chown frr:frr "$LOGS/frr-$daemon.log"
  # bgpd's configured file target: the same events with millisecond timestamps (the --log
  # target ignores `log timestamp precision`)
  if [ "$daemon" = bgpd ]; then touch "$LOGS/frr-bgpd-ms.log"; chown frr:frr "$LOGS/frr-bgpd-ms.log"; fi
  ip netns exec "$NS_FRR" "/usr/lib/frr/$daemon" -N "$FRR_NS_NAME" -f "$d/$daemon.conf" -i "$d/$daemon.pid" \
    -A 127.0.0.1 -d --log "file:$LOGS/frr-$daemon.log" 8>&- ||
    { log "FRR $daemon failed to start; see $LOGS/frr-$daemon.log"; return 1; }
  wait_for "FRR $daemon pid" 20 test -s "$d/$daemon.pid"
  cp "$d/$daemon.pid" "$PIDS/frr-$daemon.pid"
}

frr_restart() { # frr_restart zebra|bfdd|bgpd: stop one FRR daemon (TERM, KILL after 2 s), start it again
  local daemon=$1 pid
  case "$daemon" in zebra | bfdd | bgpd) ;; *) die "frr-restart zebra|bfdd|bgpd" ;; esac
  pid=$(cat "$PIDS/frr-$daemon.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then kill_pids "$pid"; fi
  rm -f "$SOCK_DIR/frr/$daemon.pid"
  frr_daemon_start "$daemon"
}

gobgp_speakers_toml() { # gobgp_speakers_toml AS ROUTER_ID [PORT]: a gobgpd config with every rig LAN as dynamic neighbours
  local p
  printf '[global.config]\n  as = %s\n  router-id = "%s"\n' "$1" "$2"
  if [ -n "${3:-}" ]; then printf '  port = %s\n' "$3"; fi
  cat <<EOF

[[peer-groups]]
  [peer-groups.config]
    peer-group-name = "speakers"
    peer-as = $SPEAKER_ASN
  [peer-groups.transport.config]
    passive-mode = true
  [peer-groups.timers.config]
    hold-time = 9
    keepalive-interval = 3
  [[peer-groups.afi-safis]]
    [peer-groups.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[peer-groups.afi-safis]]
    [peer-groups.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
EOF
  for p in "$LAN4_PRIMARY.0/16" "${LAN4_EXTRA[@]/%/.0/24}" "$LAN6::/64"; do
    printf '\n[[dynamic-neighbors]]\n  [dynamic-neighbors.config]\n    prefix = "%s"\n    peer-group = "speakers"\n' "$p"
  done
}

gobgp_up() {
  local f="$SOCK_DIR/gobgpd.toml"
  mkdir -p "$SOCK_DIR"
  gobgp_speakers_toml "$GOBGP_ASN" 192.168.0.2 >"$f"
  start_bg gobgpd ip netns exec "$NS_GOBGP" gobgpd -f "$f" --api-hosts=127.0.0.1:50051 --pprof-disable -p
}

md5_neighbors() { # the nodes' addresses on the MD5 LAN (one static MD5 neighbour each, every router)
  local i; for i in $(seq 1 "$NODES"); do echo "$LAN4_MD5.$(node_h "$i")"; done
}

md5_neighbors6() { # the nodes' IPv6 addresses on the MD5 LAN (FRR's IPv6 MD5 neighbours)
  local i; for i in $(seq 1 "$NODES"); do echo "$LAN6_MD5::$(node_h "$i")"; done
}

gobgp_md5_up() { # a second gobgpd: GoBGP 3.10 cannot put a password on dynamic neighbours
  local f="$SOCK_DIR/gobgpd-md5.toml" n
  mkdir -p "$SOCK_DIR"
  {
    printf '[global.config]\n  as = %s\n  router-id = "192.168.0.%s"\n' "$GOBGP_MD5_ASN" "$H_GOBGP_MD5"
    for n in $(md5_neighbors); do
      cat <<EOF

[[neighbors]]
  [neighbors.config]
    neighbor-address = "$n"
    peer-as = $SPEAKER_ASN
    auth-password = "$MD5_PASSWORD"
  [neighbors.transport.config]
    passive-mode = true
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
EOF
    done
  } >"$f"
  start_bg gobgpd-md5 ip netns exec "$NS_GOBGP_MD5" gobgpd -f "$f" --api-hosts=127.0.0.1:50051 --pprof-disable -p
}

bird_up() { # BIRD 2: iBGP (AS 64512 like the speakers), dynamic ranges + static MD5 neighbours
  local f="$SOCK_DIR/bird.conf" p i=0 n
  mkdir -p "$SOCK_DIR"
  {
    cat <<EOF
log stderr { info, remote, warning, error, auth, fatal, bug };
router id 192.168.0.$H_BIRD;
protocol device { scan time 10; }
template bgp speakers {
  local as $BIRD_ASN;
  passive on;
  direct;
  hold time 9;
  keepalive time 3;
  connect retry time 5;
  ipv4 { import all; export none; };
  ipv6 { import all; export none; };
}
EOF
    for p in "$LAN4_PRIMARY.0/16" "${LAN4_EXTRA[@]/%/.0/24}" "$LAN6::/64"; do
      i=$((i + 1))
      printf 'protocol bgp dyn%s from speakers { neighbor range %s as %s; dynamic name "dyn%s_"; }\n' \
        "$i" "$p" "$SPEAKER_ASN" "$i"
    done
    i=0
    for n in $(md5_neighbors); do
      i=$((i + 1))
      printf 'protocol bgp md5_node%s from speakers { neighbor %s as %s; password "%s"; }\n' \
        "$i" "$n" "$SPEAKER_ASN" "$MD5_PASSWORD"
    done
  } >"$f"
  rm -f "$BIRD_SOCK"
  start_bg bird ip netns exec "$NS_BIRD" bird -f -c "$f" -s "$BIRD_SOCK"
}

collectors_up() { # collectors_up N: N gobgpd in one netns, collector i on BGP port 1790+i-1 (peerPort)
  local want=$1 i f pids=()
  for f in "$PIDS"/collector-*.pid; do
    [ -s "$f" ] && pids+=("$(cat "$f")")
    rm -f "$f"
  done
  kill_pids "${pids[@]}"
  if [ "$want" -gt 0 ] && ! netns_exists "$NS_COLLECT"; then attach_host "$NS_COLLECT" "$H_COLLECT"; fi
  for ((i = 1; i <= want; i++)); do
    f="$SOCK_DIR/collector-$i.toml"
    gobgp_speakers_toml "$COLLECTOR_ASN" "10.255.5.$i" "$((COLLECTOR_PORT0 + i - 1))" >"$f"
    start_bg "collector-$i" ip netns exec "$NS_COLLECT" gobgpd -f "$f" --api-hosts="127.0.0.1:$((50051 + i))" --pprof-disable -p
  done
  echo "$want" >"$RUN/collectors"
  for ((i = 1; i <= want; i++)); do
    wait_for "collector $i answering" 30 ip netns exec "$NS_COLLECT" gobgp -p "$((50051 + i))" global ||
      { must_alive "collector-$i"; return 1; }
  done
}

routers_ready() {
  ip netns exec "$NS_GOBGP" gobgp global >/dev/null 2>&1 &&
    ip netns exec "$NS_GOBGP_MD5" gobgp global >/dev/null 2>&1 &&
    ip netns exec "$NS_BIRD" birdc -s "$BIRD_SOCK" show status >/dev/null 2>&1 &&
    ip netns exec "$NS_FRR" vtysh -N "$FRR_NS_NAME" -c 'show bgp summary json' >/dev/null 2>&1
}

# --------------------------------------------------------------------------------------------------
healthy() {
  local p n
  [ "$(cat "$RUN/nodes" 2>/dev/null)" = "$NODES" ] || return 1   # same node count as asked
  for p in etcd kube-apiserver kube-controller-manager kube-scheduler kwok relay-host relay-pods gobgpd gobgpd-md5 bird frr-bgpd frr-zebra; do
    alive "$p" || return 1
  done
  local c; c=$(cat "$RUN/collectors" 2>/dev/null || echo 0)   # started by up or `collectors N`
  for ((n = 1; n <= c; n++)); do alive "collector-$n" || return 1; done
  for n in $(node_names); do
    for p in "relay-$n" "kube-proxy-$n" "podagent-$n"; do alive "$p" || return 1; done
  done
  curl -fsS --cacert "$PKI/ca.crt" "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1
}

kube_proxy_ready() {
  local n
  for n in $(node_names); do
    ip netns exec "$(ns_node "$n")" curl -fsS "http://127.0.0.1:10256/healthz" >/dev/null 2>&1 || return 1
  done
}

write_env() {
  cat >"$RUN/env" <<EOF
export KUBECONFIG=$KC
export FERROLB_E2E_RUN=$RUN
export FERROLB_E2E_KUBECTL=$KUBECTL_BIN
export FERROLB_E2E_NODES=$NODES
export FERROLB_E2E_INSTANCE=$INSTANCE
export FERROLB_E2E_NS_PREFIX=$P-
export FERROLB_E2E_PODNET=$PODNET4
export FERROLB_E2E_API_PORT=$API_PORT
export FERROLB_E2E_BIRD_SOCKET=$BIRD_SOCK
export FERROLB_E2E_BGP_MD5_PASSWORD=$MD5_PASSWORD
export FERROLB_E2E_COLLECTORS=$(cat "$RUN/collectors" 2>/dev/null || echo 0)
export PATH=$(dirname "$KUBECTL_BIN"):\$PATH
EOF
}

cmd_up() {
  preflight
  if [ -f "$RUN/up" ] && healthy; then
    log "rig already up and healthy"
    if [ -n "${FERROLB_E2E_COLLECTORS:-}" ] && [ "$(cat "$RUN/collectors" 2>/dev/null || echo 0)" != "$COLLECTORS" ]; then
      collectors_up "$COLLECTORS"
    fi
    write_env; cat "$RUN/env"; return 0
  fi
  # ports held by processes that are not this checkout's rig: refuse (before touching anything)
  local holder
  holder=$(foreign_port_holder)
  if [ -n "$holder" ]; then
    die "a port of rig instance $INSTANCE is in use by pid $holder ($(tr '\0' ' ' </proc/"$holder"/cmdline 2>/dev/null | cut -c1-120)); a rig from another checkout? Run its e2e/rig.sh down, or use FERROLB_E2E_INSTANCE=N (rig.sh pick-instance)."
  fi
  if [ -d "$RUN" ] || [ -n "$(our_netns)" ]; then
    log "cleaning a previous (partial) rig first"
    cmd_down
  fi
  mkdir -p "$LOGS" "$PIDS"
  : >"$RUN/timings.txt"
  local t0; t0=$(date +%s.%N)
  trap 'rc=$?; if [ $rc != 0 ]; then log "rig up FAILED (exit $rc); logs in $LOGS; run e2e/rig.sh down to clean up"; fi' EXIT

  phase pki;               gen_pki; cert_kubeconfig "$KC" admin
  phase etcd;              start_etcd
  phase kube-apiserver;    host_guard; start_apiserver
  phase controllers;       start_kcm; start_scheduler; start_kwok
  phase network;           net_up; podnet_up; relays_up
  phase routers;           frr_up; gobgp_up; gobgp_md5_up; bird_up; collectors_up "$COLLECTORS"
  phase nodes;             create_nodes
  wait_for "$NODES kwok nodes Ready and untainted" 90 nodes_ready || {
    kubectl get nodes -o wide >&2 || true; must_alive kwok; must_alive kube-controller-manager; return 1; }
  phase kube-proxy;        kube_proxy_up; podagents_up
  wait_for "kube-proxy healthz in every node" 90 kube_proxy_ready || {
    local n; for n in $(node_names); do must_alive "kube-proxy-$n" || true; done; return 1; }
  wait_for "gobgpd, gobgpd-md5, BIRD and FRR answering" 30 routers_ready || {
    must_alive gobgpd; must_alive gobgpd-md5; must_alive bird; return 1; }
  phase
  printf '%-22s %6.1fs\n' total "$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{print a-b}')" >>"$RUN/timings.txt"
  trap - EXIT
  write_env
  echo "$NODES" >"$RUN/nodes"
  touch "$RUN/up"
  log "rig is up:"; sed 's/^/    /' "$RUN/timings.txt" >&2
  cat "$RUN/env"
}

# --------------------------------------------------------------------------------------------------
kill_pids() { # kill_pids PID...: TERM all at once, KILL what is still alive after 2 s
  local pid i left
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do
    left=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [ "$left" = 1 ] || return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
}

foreign_port_holder() { # print a pid holding one of this instance's ports that is not ours
  local port holder
  for port in "$ETCD_PORT" "$ETCD_PEER_PORT" "$API_PORT" "$KCM_PORT" "$SCHED_PORT"; do
    for holder in $(ss -Hltnp "sport = :$port" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
      grep -qxF -- "$holder" "$PIDS"/*.pid 2>/dev/null || { echo "$holder"; return 0; }
    done
  done
}

cmd_down() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  local foreign
  foreign=$(foreign_port_holder)
  if [ -n "$foreign" ]; then
    die "instance $INSTANCE is run by another checkout (pid $foreign holds its ports); not touching it. Use that checkout's e2e/rig.sh down."
  fi
  local f ns pids all=()
  if [ -d "$PIDS" ]; then
    for f in "$PIDS"/*.pid; do [ -s "$f" ] && all+=("$(cat "$f")"); done
    kill_pids "${all[@]}"
  fi
  # whatever still lives in our namespaces (FRR daemons, forks of socat, ...) was started by the rig
  # every flb-* namespace (also those of an earlier run with more nodes), the LAN bridge last
  for ns in $(our_netns | grep -vxF "$NS_LAN" || true) $NS_LAN; do
    if netns_exists "$ns"; then
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      # shellcheck disable=SC2086
      [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
      ip netns del "$ns" 2>/dev/null || log "could not delete netns $ns"
    fi
  done
  rm -rf "$ETCD_DATA" "$SOCK_DIR" "/var/run/frr/$FRR_NS_NAME" "/etc/frr/$FRR_NS_NAME"
  if [ -d "$RUN" ]; then
    # keep logs of the last run for post-mortem, drop the rest of the state
    rm -rf "$PIDS" "$RUN/up" "$RUN/nodes" "$RUN/collectors" "$RUN/env" "$RUN/apiserver-certs" "$RUN/kcm-certs" "$RUN/pki" "$RUN"/*.kubeconfig \
      "$RUN/kubeconfig" "$RUN/kubeconfigs"
  fi
  local left
  left=$(our_netns)
  [ -z "$left" ] || die "network namespaces are left over: $(echo "$left" | tr '\n' ' ')"
  log "rig is down"
}

cmd_status() {
  local p rc=0 n
  printf '%-26s %s\n' COMPONENT STATE
  for f in "$PIDS"/*.pid; do
    [ -e "$f" ] || { echo "(no rig state in $RUN)"; return 1; }
    p=$(basename "$f" .pid)
    if alive "$p"; then printf '%-26s running (pid %s)\n' "$p" "$(cat "$f")"; else printf '%-26s DEAD\n' "$p"; rc=1; fi
  done
  echo; echo "instance $INSTANCE, namespaces: $(our_netns | tr '\n' ' ')"
  if curl -fsS --cacert "$PKI/ca.crt" "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1; then
    echo; kubectl get nodes -o wide || rc=1
  else
    echo "kube-apiserver: not ready"; rc=1
  fi
  if netns_exists "$NS_GOBGP"; then
    echo; echo "GoBGP ($NS_GOBGP) neighbors:"; ip netns exec "$NS_GOBGP" gobgp neighbor 2>&1 || rc=1
    echo; echo "FRR ($NS_FRR) summary:"
    ip netns exec "$NS_FRR" vtysh -N "$FRR_NS_NAME" -c 'show bgp summary' 2>&1 | sed -n '1,30p' || rc=1
  fi
  if netns_exists "$NS_BIRD"; then
    echo; echo "BIRD ($NS_BIRD, birdc -s $BIRD_SOCK) protocols:"
    ip netns exec "$NS_BIRD" birdc -s "$BIRD_SOCK" show protocols 2>&1 || rc=1
  fi
  if netns_exists "$NS_GOBGP_MD5"; then
    echo; echo "GoBGP MD5 ($NS_GOBGP_MD5) neighbors:"; ip netns exec "$NS_GOBGP_MD5" gobgp neighbor 2>&1 || rc=1
  fi
  return "$rc"
}

cmd_env() {
  [ -f "$RUN/env" ] || write_env
  cat "$RUN/env"
}

cmd_kubeconfig_for() {
  local ns=${1:?namespace}; local sa=${2:?serviceaccount}; shift 2
  local create=0 duration=24h out=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --create) create=1 ;;
      --duration) duration=${2:?}; shift ;;
      --out) out=${2:?}; shift ;;
      *) die "kubeconfig-for: unknown argument $1" ;;
    esac
    shift
  done
  # works against any cluster whose admin kubeconfig is given (FERROLB_E2E_KUBECONFIG, e.g. kind)
  local admin=${FERROLB_E2E_KUBECONFIG:-$KC} kbin=${FERROLB_E2E_KUBECTL:-$KUBECTL_BIN}
  k() { "$kbin" --kubeconfig="$admin" "$@"; }
  if ! k -n "$ns" get serviceaccount "$sa" >/dev/null 2>&1; then
    [ "$create" = 1 ] || die "serviceaccount $ns/$sa does not exist (apply config/rbac first, or pass --create)"
    k get namespace "$ns" >/dev/null 2>&1 || k create namespace "$ns" >/dev/null
    k -n "$ns" create serviceaccount "$sa" >/dev/null
  fi
  local token server ca ca_data cluster
  token=$(k -n "$ns" create token "$sa" --duration="$duration") || die "TokenRequest for $ns/$sa failed"
  server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  ca=$(k config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')
  ca_data=$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
  if [ -n "$ca" ]; then cluster="certificate-authority: $ca"; else cluster="certificate-authority-data: $ca_data"; fi
  mkdir -p "$RUN/kubeconfigs"
  out=${out:-$RUN/kubeconfigs/$ns-$sa.kubeconfig}
  cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: cluster
  cluster:
    server: $server
    $cluster
users:
- name: $ns-$sa
  user:
    token: $token
contexts:
- name: $ns-$sa
  context: {cluster: cluster, user: $ns-$sa, namespace: $ns}
current-context: $ns-$sa
EOF
  chmod 600 "$out"
  echo "$out"
}

node_exists() { [[ " $(node_names | tr '\n' ' ') " == *" $1 "* ]] || die "unknown node '$1' (nodes: $(node_names | tr '\n' ' '))"; }

exec_in() { # exec_in NS [--] CMD...
  local ns=$1; shift
  [ "${1:-}" = -- ] && shift
  [ $# -gt 0 ] || die "no command given"
  exec ip netns exec "$ns" "$@"
}

CHAOS_TABLE='table netdev flb_chaos { chain in { type filter hook ingress device "eth0" priority 0; policy drop; }; chain out { type filter hook egress device "eth0" priority 0; policy drop; }; }'

cmd_pick_instance() { # print the first instance (0-9) that is free or already this checkout's, not in "$@"
  local i off port holder ours pidsdir prefix all
  all=$(ip netns list 2>/dev/null || true)
  for i in 0 1 2 3 4 5 6 7 8 9; do
    case " $* " in *" $i "*) continue ;; esac
    off=$((i * 100)); ours=1
    if [ "$i" = 0 ]; then pidsdir=$HERE/.run/pids; prefix=flb-; else pidsdir=$HERE/.run/i$i/pids; prefix=flb$i-; fi
    for port in $((23790 + off)) $((16443 + off)); do
      for holder in $(ss -Hltnp "sport = :$port" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
        grep -qxF -- "$holder" "$pidsdir"/*.pid 2>/dev/null || ours=0
      done
    done
    # namespaces of that instance without our state: someone else's (possibly half torn down) rig
    if [ -n "$(awk -v p="$prefix" 'index($1, p) == 1' <<<"$all")" ] && [ ! -d "$pidsdir" ]; then ours=0; fi
    if [ "$ours" = 1 ]; then echo "$i"; return 0; fi
  done
  die "no free rig instance (0-9)"
}

rig_lock() { # one up/down at a time on this machine (the rig is a singleton)
  exec 8>"$LOCK"
  flock -w 300 8 || die "another rig.sh up/down has held $LOCK for 300 s"
}

main() {
  local cmd=${1:-}; shift || true
  case "$cmd" in
    up|down|collectors) rig_lock ;;
  esac
  case "$cmd" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    kubeconfig-for) cmd_kubeconfig_for "$@" ;;
    pick-instance) cmd_pick_instance "$@" ;;
    collectors)
      [ -f "$RUN/up" ] || die "the rig is not up"
      case "${1:-}" in [0-9] | [12][0-9] | 3[0-2]) ;; *) die "collectors N (0..32)" ;; esac
      COLLECTORS=$1; collectors_up "$1"; write_env; echo "$1 collector(s) in $NS_COLLECT" ;;
    frr-restart) [ -f "$RUN/up" ] || die "the rig is not up"; frr_restart "${1:-bgpd}" ;;
    exec-node) node_exists "${1:?node}"; local n=$1; shift; exec_in "$(ns_node "$n")" "$@" ;;
    exec-client) exec_in "$NS_CLIENT" "$@" ;;
    exec-pods) exec_in "$NS_PODS" "$@" ;;
    exec-router)
      case "${1:-}" in
        frr) shift; exec_in "$NS_FRR" "$@" ;;
        gobgp) shift; exec_in "$NS_GOBGP" "$@" ;;
        gobgp-md5) shift; exec_in "$NS_GOBGP_MD5" "$@" ;;
        bird) shift; exec_in "$NS_BIRD" "$@" ;;
        collect) shift; exec_in "$NS_COLLECT" "$@" ;;
        *) die "exec-router frr|gobgp|gobgp-md5|bird|collect -- CMD" ;;
      esac ;;
    node-notready) node_exists "${1:?node}"; kubectl label node "$1" node-not-ready.stage.kwok.x-k8s.io=true --overwrite ;;
    node-ready)
      # kwok's heartbeat stage only selects Ready nodes: flip the condition back by hand
      node_exists "${1:?node}"
      kubectl label node "$1" node-not-ready.stage.kwok.x-k8s.io- >/dev/null
      kubectl patch node "$1" --subresource=status --type=strategic -p \
        "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\",\"message\":\"rig node-ready\",\"lastHeartbeatTime\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}]}}" ;;
    node-delete)
      node_exists "${1:?node}"
      kubectl delete node "$1" --wait=false
      ip netns exec "$(ns_node "$1")" nft -f - <<<"$CHAOS_TABLE" ;;
    node-restore)
      node_exists "${1:?node}"
      ip netns exec "$(ns_node "$1")" nft delete table netdev flb_chaos 2>/dev/null || true
      create_node_object "$1" ;;
    logs)
      if [ -n "${1:-}" ]; then tail -n "${2:-100}" "$LOGS/$1.log"; else ls -1 "$LOGS"; fi ;;
    _call) "$@" ;; # developer aid: run one internal function, e.g. `rig.sh _call net_up`
    ""|-h|--help|help) sed -n '2,30p' "$0" ;;
    *) die "unknown command '$cmd' (try --help)" ;;
  esac
}

main "$@"
