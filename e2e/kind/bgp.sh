# shellcheck shell=bash
# bgp.sh — the BGP phase of e2e/kind/run.sh (sourced by it, not run; uses its kc, step, within,
# wait_curl, svc_ip, in_pool, prober_end, log, die): ferrolb's speakers peer with an FRR router on the
# kind network and advertise a Service from a pool that is not on-link, as with a top-of-rack router
# (docs/configure.md "BGP").
#
# The router: the container $CLUSTER-frr from build-frr-image.sh (FRR from Debian) on the kind network
# (its address from podman's IPAM like the nodes': a fixed one would move podman's host-local allocation
# pointer next to the pools, for every later run on this subnet), AS 64513, the nodes as dynamic
# neighbours (`bgp listen range <kind subnet>`, passive: the speakers connect, as to the rig's FRR in
# e2e/rig.sh), timers 3/9 s, `maximum-paths 16`.
# zebra installs the routes in the container's own network namespace; KIND_BGP_POOL is blackholed there
# (`ip route add blackhole`), so without a BGP route nothing for the pool leaves the container by its
# default route: all traffic stays on the kind network. The ECMP hash includes the ports
# (fib_multipath_hash_policy=1), so the prober's connections spread over the next hops.
#
# ferrolb's objects: IPAddressPool kind-bgp-pool (KIND_BGP_POOL, autoAssign false), BGPPeer kind-frr (myASN
# 64512, peerASN 64513, holdTime 9s), BGPAdvertisement kind-bgp-adv, Service svc-bgp (the guide's web Pods,
# the pool by the metallb.io/address-pool annotation).
#
# Asserted, each within a generous bound (never a duration): svc-bgp's EXTERNAL-IP is in the pool; every
# running node with a speaker Pod is Established in `show bgp summary json`; the /32's next hops in
# `show ip route json` are exactly the running speaker nodes that announce (not labelled
# node.kubernetes.io/exclude-from-external-load-balancers); a curl from the router answers. Failover (unless
# --no-failover): `podman stop` of a worker among the next hops (one without a web Pod when there is one):
# its next hop and its session go within 120 s (the hold time is 9 s; the stop is graceful: the speaker's
# Cease or drain withdraws at once) and the curl answers. Recorded, not asserted: the seconds until each held
# and the prober's figures (a `web probe` in the router's network namespace).

FRR_ASN=64513
SPEAKER_ASN=64512
FRR_IMAGE='' FRR_IP=''
frr_image() { FRR_IMAGE=$("$HERE/build-frr-image.sh" </dev/null); }

# bgp_down: the router and its prober (cleanup, and the end of the phase)
bgp_down() {
  "${PODMAN[@]}" rm -f "$CLUSTER-bgp-prober" >/dev/null 2>&1 || true
  "${PODMAN[@]}" rm -f -t 2 "$CLUSTER-frr" >/dev/null 2>&1 || true
}

frr_config() { # frr_config <dir>
  local d=$1
  mkdir -p "$d"
  printf 'hostname kind-frr\n' >"$d/zebra.conf"
  : >"$d/vtysh.conf"
  cat >"$d/bgpd.conf" <<EOF
frr defaults datacenter
hostname kind-frr
log timestamp precision 3
router bgp $FRR_ASN
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor SPEAKERS peer-group
 neighbor SPEAKERS remote-as external
 neighbor SPEAKERS timers 3 9
 bgp listen range $KIND_V4 peer-group SPEAKERS
 address-family ipv4 unicast
  neighbor SPEAKERS activate
  maximum-paths 16
 exit-address-family
!
EOF
  chmod 0755 "$d"; chmod 0644 "$d"/*.conf
}

frr_up() {
  frr_config "$WORK/frr"
  bgp_down
  "${PODMAN[@]}" run -d --name "$CLUSTER-frr" --hostname kind-frr --network kind \
    --cap-add NET_ADMIN,NET_RAW,NET_BIND_SERVICE,SYS_ADMIN --sysctl net.ipv4.fib_multipath_hash_policy=1 \
    -v "$WORK/frr:/etc/frr" "$FRR_IMAGE" >/dev/null
  FRR_IP=$(podman inspect "$CLUSTER-frr" --format '{{(index .NetworkSettings.Networks "kind").IPAddress}}')
  [ -n "$FRR_IP" ] || die "$CLUSTER-frr has no address on the kind network"
  log "FRR router $CLUSTER-frr at $FRR_IP"
  podman exec "$CLUSTER-frr" ip route add blackhole "$KIND_BGP_POOL"
  within 30 podman exec "$CLUSTER-frr" vtysh -c 'show bgp summary' >/dev/null 2>&1 ||
    { podman logs "$CLUSTER-frr" >&2; die "FRR in $CLUSTER-frr does not answer vtysh"; }
}

bgp_objects() {
  kc apply -f - <<EOF
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: kind-bgp-pool, namespace: metallb-system}
spec:
  addresses: ["$KIND_BGP_POOL"]
  autoAssign: false
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: kind-frr, namespace: metallb-system}
spec: {myASN: $SPEAKER_ASN, peerASN: $FRR_ASN, peerAddress: "$FRR_IP", holdTime: 9s, keepaliveTime: 3s}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: kind-bgp-adv, namespace: metallb-system}
spec:
  ipAddressPools: [kind-bgp-pool]
---
apiVersion: v1
kind: Service
metadata:
  name: svc-bgp
  annotations: {metallb.io/address-pool: kind-bgp-pool}
spec:
  type: LoadBalancer
  selector: {app: webpod}
  ports: [{name: web, port: 80, targetPort: 80}]
EOF
}

# running_speakers: "<node> <InternalIP> <announces 0|1>" for every node with a speaker Pod whose container
# runs (a stopped node keeps its Node object and Pod for a while)
running_speakers() {
  local n ip labels
  while read -r n; do
    [ "$(podman inspect "$n" --format '{{.State.Running}}' 2>/dev/null)" = true ] || continue
    ip=$(kc get node "$n" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
    labels=$(kc get node "$n" -o jsonpath='{.metadata.labels}')
    if grep -q '"node.kubernetes.io/exclude-from-external-load-balancers"' <<<"$labels"; then
      echo "$n $ip 0"
    else
      echo "$n $ip 1"
    fi
  done < <(kc -n metallb-system get pods -l component=speaker -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u)
}

# established: the neighbours FRR has Established, one address a line
established() {
  podman exec "$CLUSTER-frr" vtysh -c 'show bgp summary json' | python3 -c 'import json, sys
peers = json.load(sys.stdin).get("ipv4Unicast", {}).get("peers", {})
for a, p in sorted(peers.items()):
    if p.get("state") == "Established":
        print(a.lstrip("*"))'
}
# next_hops <ip>: the active next hops of the selected BGP route to <ip>/32, one a line
next_hops() {
  podman exec "$CLUSTER-frr" vtysh -c "show ip route $1/32 json" | python3 -c 'import json, sys
routes = json.load(sys.stdin).get(sys.argv[1] + "/32", [])
for r in routes:
    if r.get("protocol") == "bgp" and r.get("selected"):
        for nh in r.get("nexthops", []):
            if nh.get("active") and nh.get("ip"):
                print(nh["ip"])' "$1"
}
# sessions_ok: every running speaker node Established
sessions_ok() {
  local est n ip a
  est=$(established)
  while read -r n ip a; do grep -qxF "$ip" <<<"$est" || return 1; done < <(running_speakers)
}
# hops_ok <ip>: the next hops are exactly the running announcing nodes
hops_ok() {
  [ "$(next_hops "$1" | sort)" = "$(running_speakers | awk '$3 == 1 {print $2}' | sort)" ]
}
# hop_gone <ip> <node IP>: the node is neither a next hop nor Established
hop_gone() { ! next_hops "$1" | grep -qxF "$2" && ! established | grep -qxF "$2"; }

bgp_state() { # for the log and failures
  podman exec "$CLUSTER-frr" vtysh -c 'show bgp summary' -c "show ip route $KIND_BGP_POOL longer-prefixes" >&2 || true
  running_speakers | sed 's/^/  speaker node: /' >&2
}

svc_has_ip() { [ -n "$(svc_ip "$1")" ]; }
wait_bgp_ip() { within 120 svc_has_ip svc-bgp || { kc get svc -o wide >&2; die "svc-bgp got no EXTERNAL-IP"; }; }
wait_sessions() { within 120 sessions_ok || { bgp_state; die "not every running speaker node is Established"; }; }
wait_hops() { within 120 hops_ok "$1" || { bgp_state; die "the next hops of $1/32 are not the announcing nodes"; }; }

bgp_flow() {
  step "BGP: FRR router on the kind network" frr_up
  step "BGP: apply pool, peer, advertisement, svc-bgp" retry 20 3 bgp_objects
  step "BGP: svc-bgp EXTERNAL-IP" wait_bgp_ip
  local ip
  ip=$(svc_ip svc-bgp)
  in_pool "$ip" "$KIND_BGP_POOL" || die "svc-bgp got $ip, outside $KIND_BGP_POOL"
  step "BGP: sessions Established (every speaker node)" wait_sessions
  step "BGP: $ip/32 via each announcing node" wait_hops "$ip"
  log "svc-bgp $ip/32 via $(next_hops "$ip" | tr '\n' ' '); Established: $(established | tr '\n' ' ')"
  bgp_state
  step "BGP: curl svc-bgp ($ip) from FRR" wait_curl "$ip" 60 "$CLUSTER-frr"
  if [ "$FAILOVER" = 1 ]; then step "BGP: failover (podman stop of a next hop)" bgp_failover "$ip"; fi
  bgp_down
}

# bgp_failover <ip>: see the header
bgp_failover() {
  local ip=$1 node nip pinned hops t0 t_gone t_answer
  pinned=$(kc get pods -l app=webpod -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}')
  hops=$(next_hops "$ip")
  node=
  local n a
  while read -r n nip a; do
    [ "$a" = 1 ] || continue
    grep -qxF "$nip" <<<"$hops" || continue
    case "$n" in *control-plane) continue ;; esac
    if ! grep -qxF "$n" <<<"$pinned"; then node=$n; break; fi
    [ -n "$node" ] || node=$n
  done < <(running_speakers)
  [ -n "$node" ] || die "no worker among svc-bgp's next hops ($(tr '\n' ' ' <<<"$hops"))"
  [ "$(wc -l <<<"$hops")" -ge 2 ] || die "svc-bgp has one next hop only: nothing to fail over to"
  nip=$(kc get node "$node" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
  "${PODMAN[@]}" run -d --name "$CLUSTER-bgp-prober" --network "container:$CLUSTER-frr" "$WEB_IMAGE" \
    probe -url "http://$ip/" -interval 100ms -timeout 300ms -for 120s -until-recovered >/dev/null
  sleep 3
  log "podman stop $node ($nip, a next hop of $ip/32)"
  t0=$(date +%s)
  podman stop "$node" >/dev/null
  within 120 hop_gone "$ip" "$nip" || { bgp_state; die "$nip is still a next hop or Established 120 s after the stop"; }
  t_gone=$(($(date +%s) - t0))
  next_hops "$ip" | grep -q . || die "svc-bgp has no next hop left after the stop of $node"
  step "BGP: curl svc-bgp after the failover" wait_curl "$ip" $((120 + t0 - $(date +%s))) "$CLUSTER-frr"
  t_answer=$(($(date +%s) - t0))
  # the prober ends by itself after an outage; with none (a graceful stop withdraws the route before the
  # node goes) it is ended 20 s after the stop, well after the withdrawal above
  prober_end "$CLUSTER-bgp-prober" "$t0" 20 "bgp prober"
  SUMMARY+=("BGP failover: stop $node ($nip): next hop and session gone ${t_gone} s, curl answered ${t_answer} s after the stop; next hops now $(next_hops "$ip" | tr '\n' ' '); $PROBER_RESULT")
}
