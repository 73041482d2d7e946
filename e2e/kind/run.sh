#!/usr/bin/env bash
# run.sh — ferrolb on a kind cluster on podman, installed the way a user installs it (issue 17):
# the shipped images, the Helm chart and the all-in-one manifest, then the guide's L2 flow with a failover.
#
#   sudo e2e/kind/run.sh [--install helm|manifest|both] [--keep] [--no-failover] [--no-bgp]
#
#   --install   helm: `helm upgrade --install` of charts/ferrolb; manifest: config/manifests/ferrolb-native.yaml;
#               both (default): helm on one cluster, then the manifest on a fresh one
#   --keep      leave the (last) cluster running; otherwise it is deleted at the end, also on failure
#   --no-failover  skip the `podman stop` of the announcing node (L2) and of a next hop (BGP)
#   --no-bgp    skip the BGP phase (7. below)
#
# Steps (each timed; the summary is also written to $FERROLB_CACHE/kind/last-run.txt):
#   1. host set-up: podman with runc and cgroupfs, default ulimits within the host's hard limit (kind passes
#      no --ulimit), /lib/modules (kind mounts it): a containers.conf under the cache, used through
#      CONTAINERS_CONF (the host's /etc/containers is not changed);
#   2. tools, cached: the rig's kubectl and helm (e2e/build-upstream.sh --with-helm), kind $KIND_VERSION from
#      its Go module, the test workload e2e/kind/web (a static Go server + prober, image FROM scratch), the
#      node image (e2e/kind/build-node-image.sh), ferrolb's images (hack/build-images.sh --prebuilt when
#      ghcr.io/ferrolb/{operator,speaker}:v<version> are not in podman's storage);
#   3. the podman network `kind` (created with KIND_SUBNET, default 172.18.0.0/16, IPv4 only, labelled
#      io.ferrolb.kind, when missing; an existing one must carry KIND_SUBNET) and the pool derived from it:
#      the last /24's .200-.250 (172.18.255.200-172.18.255.250 for 172.18.0.0/16);
#   4. `KIND_EXPERIMENTAL_PROVIDER=podman kind create cluster --name myk8s` (1 control plane + 3 workers,
#      kind-config.yaml), the pod network (node/ferrolb-cni.sh on every node), nodes Ready, CoreDNS Ready;
#   5. `kind load image-archive` of both ferrolb images and the web image; install (chart or manifest);
#   6. the guide (api/tests/data/examples/kind-l2-pool.yaml, unchanged but for the web image and, on another
#      subnet, the pool): webpod1/webpod2, svc1-svc3 get pool IPs, a client container on the kind network
#      curls each EXTERNAL-IP, the ServiceL2Statuses name the announcing nodes; then `podman stop` of svc1's
#      announcing node while a prober container GETs svc1 every 100 ms: the IP must move to another node
#      (a new ServiceL2Status) and answer again;
#   7. BGP (first install only, before 6.'s failover): an FRR container (build-frr-image.sh) on the kind network, AS 64513, with
#      the nodes as dynamic neighbours (`bgp listen range <kind subnet>`); BGPPeer + BGPAdvertisement for
#      svc-bgp from a second pool off the kind subnet (KIND_BGP_POOL, default 10.250.0.0/28): every running
#      speaker node Established in `show bgp summary json`, the /32 in `show ip route json` with every
#      announcing node as an (ECMP) next hop, a curl from the FRR container answers; then `podman stop` of
#      a worker: its next hop goes and the curl still answers.
# Needs root, podman, runc, go, debootstrap (first build), cargo + musl-tools (only if the images are missing).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=kind-run
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=bgp.sh
. "$HERE/bgp.sh"

INSTALL=both KEEP=0 FAILOVER=1 BGP=1
while [ $# -gt 0 ]; do
  case "$1" in
    --install) INSTALL=${2:?--install needs helm, manifest or both}; shift ;;
    --keep) KEEP=1 ;;
    --no-failover) FAILOVER=0 ;;
    --no-bgp) BGP=0 ;;
    -h | --help) sed -n '2,41p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done
case "$INSTALL" in helm | manifest | both) ;; *) die "--install: helm, manifest or both, not $INSTALL" ;; esac

CLUSTER=myk8s
KIND_SUBNET=${KIND_SUBNET:-172.18.0.0/16}
KIND_BGP_POOL=${KIND_BGP_POOL:-10.250.0.0/28}
EXAMPLE=$REPO_ROOT/api/tests/data/examples/kind-l2-pool.yaml
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO_ROOT/Cargo.toml" | head -1)
IMAGE_REPO=${IMAGE_REPO:-ghcr.io/ferrolb}
IMAGE_TAG=${IMAGE_TAG:-v$VERSION} # hack/build-images.sh's and hack/test-images.sh's defaults: CI's fresh images
OPERATOR_IMAGE=$IMAGE_REPO/operator:$IMAGE_TAG
SPEAKER_IMAGE=$IMAGE_REPO/speaker:$IMAGE_TAG
KUBECTL=$CACHE/bin/kubectl-$K8S_VERSION/kubectl
HELM=$CACHE/bin/helm-$HELM_VERSION/helm
KIND=$BIN/kind-$KIND_VERSION/kind
export KIND_EXPERIMENTAL_PROVIDER=podman
WORK=$(mktemp -d /tmp/ferrolb-kind.XXXXXX)
KC=$WORK/kubeconfig
SUMMARY=()
T_START=$(date +%s)

kc() { "$KUBECTL" --kubeconfig "$KC" "$@"; }
# step <label> <cmd...>: timed, recorded in the summary. The command runs plainly (never under `||`), so
# `set -e` stays in force inside the functions it calls; a failure exits and cleanup names the open step.
CURRENT_STEP=
step() {
  local t0 prev=$CURRENT_STEP
  t0=$(date +%s)
  CURRENT_STEP="$1 (since $(date +%T))"
  log "== $1"
  "${@:2}"
  SUMMARY+=("$(printf '%-48s %4d s' "$1" "$(($(date +%s) - t0))")")
  CURRENT_STEP=$prev
}
# retry <tries> <sleep> <cmd...>: bounded retries
retry() {
  local n=$1 s=$2 i; shift 2
  for ((i = 1; i <= n; i++)); do "$@" && return 0; [ "$i" -lt "$n" ] && sleep "$s"; done
  return 1
}
# within <seconds> <cmd...>: retry once a second until the command succeeds or the deadline passes (the
# bound of the assertions after the failover: generous, never a performance figure)
within() {
  local deadline=$(($(date +%s) + $1)); shift
  until "$@"; do [ "$(date +%s)" -lt "$deadline" ] || return 1; sleep 1; done
}

cleanup() {
  local rc=$?
  [ "$rc" = 0 ] || [ -z "$CURRENT_STEP" ] || SUMMARY+=("FAILED in: $CURRENT_STEP")
  # -i: podman 4.3's `rm -f a b` removes neither when one is missing (no prober after --no-failover)
  "${PODMAN[@]}" rm -f -i "$CLUSTER-client" "$CLUSTER-prober" >/dev/null 2>&1 || true
  bgp_down
  if [ "$rc" != 0 ] && [ -s "$KC" ]; then # what the cluster looked like, before it is deleted
    {
      kc get nodes -o wide --request-timeout=10s
      kc get pods -A -o wide --request-timeout=10s
      kc get events -A --sort-by=.lastTimestamp --request-timeout=10s | tail -n 40
      kc -n metallb-system logs -l component=speaker --tail=30 --prefix --request-timeout=10s
    } >&2 2>&1 || true
  fi
  if [ "$KEEP" = 0 ] && [ -x "$KIND" ]; then
    "$KIND" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
    rm -f "$KCACHE/$CLUSTER.kubeconfig"
    # The kind network (172.18.0.0/16) overlaps the netns rig's addresses: once unused, it goes, so
    # no host route to it is left behind for e2e/run.sh (rig.rs z_host_never_routes_rig_addresses_out);
    # only a network this script made (its label), never someone else's `kind` network
    if [ -z "$("${PODMAN[@]}" ps -aq --filter network=kind 2>/dev/null)" ] &&
      [ "$(podman network inspect kind --format '{{index .Labels "io.ferrolb.kind"}}' 2>/dev/null)" = run.sh ]; then
      "${PODMAN[@]}" network rm kind >/dev/null 2>&1 || true
    fi
  fi
  {
    echo "# e2e/kind/run.sh --install $INSTALL ($(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg))"
    printf '%s\n' "${SUMMARY[@]}"
    echo "total $(($(date +%s) - T_START)) s, exit $rc"
  } | tee "$KCACHE/last-run.txt" >&2
  rm -rf "$WORK"
  [ "$KEEP" = 1 ] && [ -f "$KCACHE/$CLUSTER.kubeconfig" ] && log "cluster kept: export KUBECONFIG=$KCACHE/$CLUSTER.kubeconfig"
  exit "$rc"
}
trap cleanup EXIT

# --- 1. host ----------------------------------------------------------------------------------------------
host_setup() {
  [ "$(id -u)" = 0 ] || die "needs root (rootful podman: kind's privileged node containers)"
  local c
  for c in podman runc go python3; do command -v "$c" >/dev/null || die "'$c' not found (Debian: apt-get install podman runc golang python3)"; done
  mkdir -p "$KCACHE"
  # kind runs `podman run` with no --ulimit: podman's default nofile (1048576) is above this host's hard
  # limit ("setting rlimit type 7: operation not permitted"); crun fails on hybrid cgroups; PID 1 is not
  # systemd here, so cgroupfs
  cat >"$KCACHE/containers.conf" <<EOF
# written by e2e/kind/run.sh; used through CONTAINERS_CONF for kind's podman calls
[containers]
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  export CONTAINERS_CONF=$KCACHE/containers.conf
  podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} cgroup{{.Host.CgroupsVersion}}' >"$WORK/podman-info" ||
    die "podman info failed with $CONTAINERS_CONF"
  log "podman $(podman version --format '{{.Client.Version}}'): $(cat "$WORK/podman-info"), nofile $NOFILE"
  # kind always bind-mounts /lib/modules; an empty directory is enough when the kernel has the modules built in
  [ -d /lib/modules ] || { log "creating empty /lib/modules (kind mounts it)"; mkdir -p /lib/modules; }
  grep -q "imageTag: $ETCD_TAG\$" "$HERE/kind-config.yaml" ||
    die "kind-config.yaml's etcd imageTag is not $ETCD_TAG (ETCD_VERSION in e2e/versions.env)"
}

# --- 2. tools and images -----------------------------------------------------------------------------------
WEB_IMAGE=
build_web() { # the guide's traefik/whoami stand-in, and the prober
  local key out
  key=$(hash_of "$(cat "$HERE/web/go.mod" "$HERE/web/main.go")" "$(go version)")
  out=$BIN/web-$key
  if [ ! -x "$out/web" ]; then
    mkdir -p "$out.tmp"
    (cd "$HERE/web" && GOFLAGS="-trimpath -buildvcs=false" nice -n 10 go build -ldflags "-s -w" -o "$out.tmp/web" .)
    find "$BIN" -maxdepth 1 -name 'web-*' ! -name "web-$key*" -exec rm -rf {} +
    mv "$out.tmp" "$out"
  fi
  WEB_IMAGE=localhost/ferrolb-kind-web:$key
  if ! "${PODMAN[@]}" image exists "$WEB_IMAGE"; then
    tar --numeric-owner -C "$out" -c web |
      "${PODMAN[@]}" import -q --change 'ENTRYPOINT ["/web"]' --change 'CMD ["serve"]' - "$WEB_IMAGE" >/dev/null
  fi
}

tools() {
  # build-upstream.sh takes a lock for the whole cache even when everything is built: skip it then
  if [ -x "$KUBECTL" ] && [ -x "$HELM" ]; then log "kubectl, helm: cached"; else "$REPO_ROOT/e2e/build-upstream.sh" --with-helm; fi
  timed "kind $KIND_VERSION" go_tool_build kind "$KIND_VERSION" "sigs.k8s.io/kind@$KIND_VERSION" sigs.k8s.io/kind
  "$KIND" version >&2
  timed "web (test workload)" build_web
}

ferrolb_images() {
  if "${PODMAN[@]}" image exists "$OPERATOR_IMAGE" && "${PODMAN[@]}" image exists "$SPEAKER_IMAGE"; then
    log "ferrolb images present: $OPERATOR_IMAGE $SPEAKER_IMAGE"
  else
    log "building ferrolb's images (hack/build-images.sh --prebuilt)"
    CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target-images} IMAGE_REPO=$IMAGE_REPO \
      nice -n 10 "$REPO_ROOT/hack/build-images.sh" --prebuilt </dev/null
  fi
}

# --- 3. network and pool --------------------------------------------------------------------------------------
POOL=
network() {
  # kind's nodes find each other by name (kubeadm join dials <cluster>-control-plane:6443): the network
  # needs podman's DNS, which the CNI backend has only with the dnsname plugin
  local d has_dnsname=0
  for d in /usr/lib/cni /usr/libexec/cni /usr/local/lib/cni /opt/cni/bin; do [ -x "$d/dnsname" ] && has_dnsname=1; done
  if [ "$(podman info --format '{{.Host.NetworkBackend}}')" = cni ] && [ "$has_dnsname" = 0 ]; then
    die "podman's CNI backend has no dnsname plugin: apt-get install golang-github-containernetworking-plugin-dnsname"
  fi
  if podman network exists kind && [ "$(podman network inspect kind --format '{{.DNSEnabled}}')" != true ] &&
    [ "$(podman network inspect kind --format '{{index .Labels "io.ferrolb.kind"}}')" = run.sh ]; then
    [ -z "$(podman ps -aq --filter network=kind)" ] || die "the podman network kind has no DNS and containers use it; remove them and the network"
    log "the podman network kind has no DNS (made before dnsname was installed): recreating it"
    podman network rm kind >/dev/null
  fi
  if ! podman network exists kind; then
    log "creating the podman network kind ($KIND_SUBNET)"
    podman network create -d bridge --subnet "$KIND_SUBNET" --label io.ferrolb.kind=run.sh kind >/dev/null
  fi
  [ "$(podman network inspect kind --format '{{.DNSEnabled}}')" = true ] ||
    die "the podman network kind (not made by run.sh) has no DNS: remove it or use another host"
  local subnet
  subnet=$(podman network inspect kind | python3 -c 'import json, sys
print(" ".join(s["subnet"] for s in json.load(sys.stdin)[0].get("subnets", [])))')
  # the pool and the subnet, checked: KIND_SUBNET is the network's (a `kind`
  # network made by someone else on another subnet is not silently used), the BGP pool is off it
  local derived
  derived=$(python3 - "$subnet" "$KIND_SUBNET" "$KIND_BGP_POOL" <<'EOF'
import ipaddress, sys
nets = [ipaddress.ip_network(s) for s in sys.argv[1].split()]
want, bgp = ipaddress.ip_network(sys.argv[2]), ipaddress.ip_network(sys.argv[3])
if want not in nets:
    sys.exit("the podman network 'kind' has %s, not KIND_SUBNET %s: remove it or set KIND_SUBNET" % (sys.argv[1], want))
v4 = [n for n in nets if n.version == 4 and n.prefixlen <= 24]
if not v4:
    sys.exit("the podman network 'kind' has no IPv4 subnet of /24 or larger: %s" % sys.argv[1])
if bgp.overlaps(v4[0]):
    sys.exit("KIND_BGP_POOL %s overlaps the kind network %s (it must be routed, not on-link)" % (bgp, v4[0]))
last24 = ipaddress.ip_network((int(v4[0].broadcast_address) & ~0xFF, 24))
print("%s-%s %s" % (last24.network_address + 200, last24.network_address + 250, v4[0]))
EOF
  )
  read -r POOL KIND_V4 <<<"$derived"
  log "kind network: $subnet -> pool $POOL, BGP pool $KIND_BGP_POOL"
}

# --- 4. cluster -----------------------------------------------------------------------------------------------
node_table() { # name podCIDR InternalIP, one line per node
  kc get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}'
}
all_nodes_have_cidrs() { [ "$(node_table | awk 'NF == 3' | wc -l)" = 4 ]; }

pod_network() {
  retry 60 2 all_nodes_have_cidrs || { node_table >&2; die "not every node has a podCIDR"; }
  local table n cidr ip n2 c2 i2 peers
  table=$(node_table)
  while read -r n cidr ip; do
    peers=()
    while read -r n2 c2 i2; do [ "$n2" = "$n" ] || peers+=("$c2=$i2"); done <<<"$table"
    podman exec "$n" /kind/bin/ferrolb-cni.sh "$cidr" "${peers[@]}" </dev/null >&2
  done <<<"$table"
}

kubeconfig() {
  "$KIND" get kubeconfig --name "$CLUSTER" >"$KC"
  if ! kc get --raw /readyz --request-timeout=5s >/dev/null 2>&1; then
    # the published 127.0.0.1 port does not answer on some hosts; the API server's certificate also names the
    # control-plane container's address on the kind network
    local ip
    ip=$(podman inspect "$CLUSTER-control-plane" --format '{{(index .NetworkSettings.Networks "kind").IPAddress}}')
    log "127.0.0.1 port unreachable; using https://$ip:6443"
    "$KUBECTL" --kubeconfig "$KC" config set-cluster "kind-$CLUSTER" --server "https://$ip:6443" >/dev/null
    retry 30 2 kc get --raw /readyz --request-timeout=5s >/dev/null || die "API server unreachable"
  fi
  cp "$KC" "$KCACHE/$CLUSTER.kubeconfig"
}

# one retry: on a loaded CI machine kubeadm's own waits can expire; a second failure fails the run
create_cluster() {
  local try
  for try in 1 2; do
    "$KIND" create cluster --name "$CLUSTER" --image "$NODE_IMAGE" --config "$HERE/kind-config.yaml" --retain &&
      return 0
    [ "$try" = 1 ] || return 1
    log "kind create cluster failed: deleting the cluster, retrying once"
    SUMMARY+=("kind create cluster failed once: retried")
    "$KIND" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  done
}
cluster_up() {
  "$KIND" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  step "kind create cluster (1+3 nodes)" create_cluster
  kubeconfig
  step "pod network (ferrolb-cni.sh per node)" pod_network
  step "nodes Ready" kc wait --for=condition=Ready node --all --timeout=300s
  step "CoreDNS Ready" kc -n kube-system rollout status deployment/coredns --timeout=300s
  kc get nodes -o wide >&2
}

load_images() {
  "${PODMAN[@]}" save -q -m --format docker-archive -o "$WORK/images.tar" "$OPERATOR_IMAGE" "$SPEAKER_IMAGE" "$WEB_IMAGE" >/dev/null
  "$KIND" load image-archive "$WORK/images.tar" --name "$CLUSTER"
  rm -f "$WORK/images.tar"
}

# --- 5. install -----------------------------------------------------------------------------------------------
install_helm() {
  kc create namespace metallb-system
  kc label namespace metallb-system pod-security.kubernetes.io/enforce=privileged \
    pod-security.kubernetes.io/audit=privileged pod-security.kubernetes.io/warn=privileged
  "$HELM" --kubeconfig "$KC" upgrade --install ferrolb "$REPO_ROOT/charts/ferrolb" --namespace metallb-system \
    --set controller.image.repository="$IMAGE_REPO/operator" --set speaker.image.repository="$IMAGE_REPO/speaker" \
    --wait --timeout 6m
}
install_manifest() {
  kc apply --server-side -f "$REPO_ROOT/config/manifests/ferrolb-native.yaml"
  kc -n metallb-system wait --for=condition=Available deployment --all --timeout=360s
  kc -n metallb-system rollout status daemonset/speaker --timeout=360s
}

# --- 6. the guide's flow --------------------------------------------------------------------------------------
svc_ip() { kc get service "$1" -o jsonpath='{.status.loadBalancer.ingress[0].ip}'; }
all_ips() { local s; for s in svc1 svc2 svc3; do [ -n "$(svc_ip "$s")" ] || return 1; done; }
l2_node() { # the node of the Service's ServiceL2Status (one object per announcing node)
  kc -n metallb-system get servicel2statuses -l "metallb.io/service-name=$1" \
    -o jsonpath='{range .items[*]}{.status.node}{"\n"}{end}'
}
# client_curl <ip> [container]: a GET from the client container (or another one on the kind network)
client_curl() { podman exec "${2:-$CLUSTER-client}" curl -sS --max-time 3 "http://$1/"; }
LAST_BODY=
curl_ok() {
  LAST_BODY=$(client_curl "$@" 2>&1) || return 1
  grep -q '^Hostname: webpod' <<<"$LAST_BODY"
}
# wait_curl <ip> [seconds] [container]: until one answer comes from a web Pod, at most <seconds> (default
# 60). After a failover kube-proxy still sends some connections to the stopped node's Pod (webpod1 is pinned
# to myk8s-worker) until the node is NotReady: those time out, and are retried.
wait_curl() {
  if within "${2:-60}" curl_ok "$1" "${@:3}"; then head -1 <<<"$LAST_BODY" >&2; return 0; fi
  printf '%s\n' "$LAST_BODY" >&2
  return 1
}
wait_ips() {
  if within 120 all_ips; then kc get svc -o wide >&2; return 0; fi
  kc get svc -o wide >&2
  return 1
}
# l2_running <svc>: the first announcing node whose container runs
l2_running() {
  local n
  for n in $(l2_node "$1"); do
    [ "$(podman inspect "$n" --format '{{.State.Running}}' 2>/dev/null)" = true ] && { echo "$n"; return 0; }
  done
  return 1
}
moved_from() { l2_node svc1 | grep -qvx "$1"; }
# in_pool <ip> <first-last|CIDR>
in_pool() {
  python3 -c 'import ipaddress as i, sys
ip, p = i.ip_address(sys.argv[1]), sys.argv[2]
if "-" in p:
    a, b = p.split("-")
    sys.exit(not i.ip_address(a) <= ip <= i.ip_address(b))
sys.exit(ip not in i.ip_network(p))' "$1" "$2"
}
# l2_node_ok <svc>: a ServiceL2Status exists and every one names a node of this cluster
l2_node_ok() {
  local nodes n
  nodes=$(l2_node "$1")
  [ -n "$nodes" ] || return 1
  while read -r n; do kc get node "$n" -o name >/dev/null 2>&1 || return 1; done <<<"$nodes"
}

apply_example() {
  sed -e "s#image: traefik/whoami#image: $WEB_IMAGE#" -e "s#172\.18\.255\.200-172\.18\.255\.250#$POOL#" "$EXAMPLE" |
    kc apply -f -
}

# flow: asserts what must hold (pool addresses, an answer from a web Pod per Service, a ServiceL2Status naming
# a node of the cluster), each under a generous bound; nothing here asserts a duration.
flow() {
  # the validating webhook may still be starting right after the rollout
  step "apply kind-l2-pool.yaml (pool, L2, pods, svc1-3)" retry 20 3 apply_example
  step "webpod1+2 Ready" kc wait --for=condition=Ready pod/webpod1 pod/webpod2 --timeout=180s
  step "svc1-3 EXTERNAL-IP" wait_ips
  "${PODMAN[@]}" rm -f "$CLUSTER-client" >/dev/null 2>&1 || true
  "${PODMAN[@]}" run -d --name "$CLUSTER-client" --network kind --entrypoint sleep "$NODE_IMAGE" infinity >/dev/null
  local s ip
  for s in svc1 svc2 svc3; do
    ip=$(svc_ip "$s")
    in_pool "$ip" "$POOL" || die "$s got $ip, outside the pool $POOL"
    step "curl $s ($ip) from the kind network" wait_curl "$ip" 60
    within 60 l2_node_ok "$s" || die "no ServiceL2Status naming a node of the cluster for $s: $(l2_node "$s" | tr '\n' ' ')"
    log "$s: $ip announced by $(l2_node "$s" | tr '\n' ' ')"
  done
  # BGP on the first install only (the chart's when both: the speaker's BGP code is the same in both),
  # before the L2 failover: a stopped node's controller or webhook Pod would hold up svc-bgp's address
  if [ "$BGP" = 1 ] && [ "$BGP_DONE" = 0 ]; then bgp_flow; BGP_DONE=1; fi
  [ "$FAILOVER" = 1 ] || return 0
  step "failover (podman stop of svc1's node)" failover
}

# failover: `podman stop` of svc1's announcing node while a prober container GETs svc1 every 100 ms.
# Asserted, each within 180 s of the stop (generous: a node's graceful shutdown, then the move): svc1 keeps
# its EXTERNAL-IP, a ServiceL2Status names another node of the cluster, and the client container gets an
# answer from a web Pod. Recorded in the summary, not asserted: the prober's figures (failed requests, first
# and longest outage: BENCHMARKS.md "kind on podman") and the seconds until each assertion held.
failover() {
  local ip node after t0 t_moved t_answer
  ip=$(svc_ip svc1)
  # a running node (the BGP phase may have stopped one: svc1 then moved, see l2_running)
  within 60 l2_running svc1 >/dev/null || die "svc1 has no ServiceL2Status naming a running node: $(l2_node svc1 | tr '\n' ' ')"
  node=$(l2_running svc1)
  case "$node" in *control-plane) die "svc1 is announced by the control plane ($node): cannot stop it" ;; esac
  "${PODMAN[@]}" rm -f "$CLUSTER-prober" >/dev/null 2>&1 || true
  "${PODMAN[@]}" run -d --name "$CLUSTER-prober" --network kind "$WEB_IMAGE" \
    probe -url "http://$ip/" -interval 100ms -timeout 300ms -for 180s -until-recovered >/dev/null
  sleep 3
  log "podman stop $node (announces svc1 $ip)"
  t0=$(date +%s)
  podman stop "$node" >/dev/null
  log "podman stop returned after $(($(date +%s) - t0)) s"
  within 180 moved_from "$node" || die "svc1's ServiceL2Status still names only $node 180 s after the stop"
  t_moved=$(($(date +%s) - t0))
  after=$(l2_node svc1 | grep -vx "$node" | head -1)
  kc get node "$after" -o name >/dev/null || die "svc1's new ServiceL2Status names $after, not a node of the cluster"
  [ "$(svc_ip svc1)" = "$ip" ] || die "svc1's EXTERNAL-IP changed after the failover: $ip -> $(svc_ip svc1)"
  log "svc1 moved: $node -> $after (ServiceL2Status after ${t_moved} s)"
  step "curl svc1 after the failover" wait_curl "$ip" $((180 + t0 - $(date +%s)))
  t_answer=$(($(date +%s) - t0))
  # the prober's exit status is recorded, not asserted: the client's answer above is the assertion
  prober_end "$CLUSTER-prober" "$t0" 120 prober
  SUMMARY+=("failover $node -> $after: status moved ${t_moved} s, client answered ${t_answer} s after the stop; $PROBER_RESULT")
}

# prober_end <container> <t0> <seconds> <label>: wait for a `web probe` container to end by itself (with
# -until-recovered: three good answers in a row after an outage), at most until <seconds> after <t0>, then
# end it (it prints its summary either way); its output goes to the log, "prober exit <rc>, <summary>" to
# PROBER_RESULT
PROBER_RESULT=
prober_end() {
  local c=$1 t0=$2 secs=$3 label=$4 left rc out
  left=$((secs + t0 - $(date +%s)))
  [ "$left" -ge 1 ] || left=1
  timeout "$left" podman wait "$c" >/dev/null 2>&1 ||
    { log "$label still running $secs s after the stop: ending it"; podman stop -t 10 "$c" >/dev/null; }
  rc=$(podman inspect "$c" --format '{{.State.ExitCode}}')
  out=$(podman logs "$c" 2>&1)
  printf '%s\n' "$out" | sed "s/^/  $label: /" >&2
  PROBER_RESULT="prober exit $rc, $(printf '%s\n' "$out" | grep '^summary:' | sed 's/^summary: //')"
}

# --- main -------------------------------------------------------------------------------------------------
BGP_DONE=0
one_install() { # one_install helm|manifest
  cluster_up
  step "kind load image-archive (operator, speaker, web)" load_images
  step "install ($1)" "install_$1"
  kc -n metallb-system get pods -o wide >&2
  flow
}

step "host set-up" host_setup
step "tools (kubectl, helm, kind, web)" tools
step "node image (build-node-image.sh)" "$HERE/build-node-image.sh"
step "ferrolb images" ferrolb_images
[ "$BGP" = 0 ] || step "FRR image (build-frr-image.sh)" frr_image
step "podman network kind" network
case "$INSTALL" in
  helm | manifest) one_install "$INSTALL" ;;
  both)
    one_install helm
    one_install manifest
    ;;
esac
log "PASS: the guide's flow on kind ($INSTALL)"
