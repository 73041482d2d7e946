#!/bin/bash
# ferrolb-cni.sh — the kind node's pod network, written once the node has a podCIDR (run by e2e/kind/run.sh
# through `podman exec`; baked into the node image by e2e/kind/build-node-image.sh).
#
#   /kind/bin/ferrolb-cni.sh <this node's podCIDR> [<other node's podCIDR>=<its node IP> ...]
#
# kindnetd (kind's default CNI) is not a Go module the module proxy serves, so the nodes use the reference
# plugins Debian ships: ptp (a veth per pod, host routes) + host-local IPAM over the node's podCIDR, ipMasq
# for traffic leaving the pod range, portmap for hostPort. Pods on other nodes are reached by static routes
# `<their podCIDR> via <their node IP>` (all kind nodes share one podman network), which is what kindnetd
# programs too. A node added later needs this run again on every node.
set -euo pipefail
cidr=${1:?usage: ferrolb-cni.sh <podCIDR> [<podCIDR>=<nodeIP> ...]}
shift
mtu=$(cat /sys/class/net/eth0/mtu)
mkdir -p /etc/cni/net.d
cat >/etc/cni/net.d/10-ferrolb.conflist.tmp <<JSON
{
  "cniVersion": "0.4.0",
  "name": "ferrolb-kind",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": true,
      "mtu": $mtu,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$cidr" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
JSON
mv /etc/cni/net.d/10-ferrolb.conflist.tmp /etc/cni/net.d/10-ferrolb.conflist
for peer in "$@"; do
  ip route replace "${peer%%=*}" via "${peer#*=}" dev eth0
done
echo "$(hostname): pod CIDR $cidr, routes: ${*:-none}"
