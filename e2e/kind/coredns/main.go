// Command coredns is CoreDNS (github.com/coredns/coredns at COREDNS_VERSION, e2e/kind/versions.env) for
// the kind node image, built by e2e/kind/build-node-image.sh in a scratch module that requires it.
//
// Upstream's main imports core/plugin, i.e. all 59 plugins; this one imports only the plugins kubeadm's
// Corefile uses (cmd/kubeadm/app/phases/addons/dns/manifests.go: errors, health, ready, kubernetes,
// prometheus = plugin/metrics, forward, cache, loop, reload, loadbalance) — the cluster's DNS works as
// with kubeadm's own image, and the build compiles what that Corefile needs and little else. The
// directive order stays upstream's (core/dnsserver); a Corefile naming a plugin left out fails with
// "unknown directive".
package main

import (
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	coremain.Run()
}
