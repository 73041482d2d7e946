#!/usr/bin/env bash
# build-node-image.sh — build (or reuse) the kind node image localhost/ferrolb-kind-node:<K8S_VERSION> from
# Debian packages (debootstrap) and Go modules only: no container registry is needed (issue 17).
#
#   e2e/kind/build-node-image.sh [--force] [--rootfs-only]
#
# What the image holds (the steps of kind's images/base/Dockerfile and `kind build node-image`, redone here
# because both need Docker and registries):
#   - a Debian ($DEBIAN_SUITE) root file system with systemd, containerd, runc and the CNI plugins, finished
#     with kind's base files (entrypoint, systemd units, containerd config) from the kind Go module;
#     containerd's `restrict_oom_score_adj = true` (the host lacks CAP_SYS_RESOURCE) and the sandbox image
#     set to kubeadm's pause tag;
#   - kubelet, kubeadm, kubectl (k8s.io/kubernetes at K8S_VERSION, built like e2e/build-upstream.sh builds
#     the rig's binaries) in /usr/bin, /kind/version;
#   - preloaded into containerd (namespace k8s.io): kube-apiserver, kube-controller-manager,
#     kube-scheduler, kube-proxy (the rig's builds; kube-proxy on a Debian base with iptables, nft and
#     conntrack), etcd (the rig's build, tag ETCD_VERSION; kind-config.yaml selects it), coredns (its Go
#     module, with the plugins of e2e/kind/coredns/main.go), pause (static build of the kubernetes module's build/pause/linux/pause.c), all under the
#     names `kubeadm config images list` prints;
#   - /kind/bin/ferrolb-cni.sh: the CNI configuration e2e/kind/run.sh writes per node once the node has a
#     podCIDR (ptp + host-local, static routes between the nodes' pod CIDRs; kindnetd is not a Go module
#     the proxy serves).
#
# Cache: ${FERROLB_CACHE:-~/.cache/ferrolb}/kind/. The image is content-addressed: its key hashes
# e2e/versions.env, e2e/kind/versions.env, lib.sh, rootfs.sh, this script, e2e/kind/node/*, coredns/main.go and the
# effective pins. With the
# key's image in podman's storage the script exits in seconds; with the saved archive node-<key>.tar it
# loads that; otherwise it builds (debootstrap trees and Go binaries are cached per input, so a change to
# this script rebuilds only the assembly). --force rebuilds the image (not the cached inputs);
# --rootfs-only stops after the debootstrap trees (light: download and unpack).
#
# Needs root (debootstrap, chroot, podman's root storage), podman, runc, debootstrap, go, a C compiler
# (musl-gcc or gcc with static glibc).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=kind-node
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=rootfs.sh
. "$HERE/rootfs.sh"
ROOT=$REPO_ROOT
IMAGE=$NODE_IMAGE
FORCE=0 ROOTFS_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --rootfs-only) ROOTFS_ONLY=1 ;;
    -h | --help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "build-node-image.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, podman root storage)"
for c in podman debootstrap go sha256sum flock; do command -v "$c" >/dev/null || die "'$c' not found"; done

# Packages of the node (kind's base image list minus nfs/iscsi, plus Debian's containerd, runc and CNI
# plugins, which kind builds from source) and of the kube-proxy image.
NODE_PKGS=(systemd systemd-sysv dbus containerd runc containernetworking-plugins conntrack iptables nftables
  iproute2 ethtool util-linux mount kmod libseccomp2 pigz fuse-overlayfs e2fsprogs bash ca-certificates curl
  jq procps socat)
PROXY_PKGS=(iptables nftables conntrack ipset kmod)
CP_IMAGES=(kube-apiserver kube-controller-manager kube-scheduler)

mkdir -p "$KCACHE"
exec 8>"$KCACHE/.build-node-image.lock"
flock -w 3600 8 || die "could not lock $KCACHE/.build-node-image.lock"

KEY=$(hash_of "$(cat "$HERE/../versions.env" "$HERE/versions.env" "$HERE/lib.sh" "$HERE/rootfs.sh" "$0" "$HERE"/node/* "$HERE/coredns/main.go")" \
  "$K8S_VERSION" "$ETCD_VERSION" "$KIND_VERSION" "$COREDNS_VERSION" "$PAUSE_VERSION" "$DEBIAN_SUITE" "$DEBIAN_MIRROR")

# --- debootstrap trees, cached per (suite, mirror, package list): rootfs_dir (rootfs.sh) ----------------

# --- Go and C builds, cached per version (go_tool_build: lib.sh) ---------------------------------------
# kubelet and kubeadm: the module prepared by e2e/build-upstream.sh (staging modules replaced by their
# published tags) plus these two commands; the shared packages come from the same GOCACHE.
build_kubelet_kubeadm() {
  local out=$BIN/kubernetes-$K8S_VERSION w=$SRC/kubernetes-$K8S_VERSION up=$CACHE/src/kubernetes-$K8S_VERSION
  [ -x "$out/kubelet" ] && [ -x "$out/kubeadm" ] && return 0
  [ -f "$up/.prepared" ] || die "$up is not prepared: run e2e/build-upstream.sh first"
  mkdir -p "$w" "$out.tmp"
  cp "$up/go.mod" "$up/go.sum" "$w/"
  local minor ldf p
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  # the version stamps e2e/build-upstream.sh gives its kubernetes binaries (kubeadm checks them)
  ldf="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X '$p.gitVersion=$K8S_VERSION' -X '$p.gitMajor=1' -X '$p.gitMinor=$minor'"
    ldf="$ldf -X '$p.gitTreeState=clean' -X '$p.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)'"
  done
  (
    cd "$w"
    go get -tool "k8s.io/kubernetes/cmd/kubelet@$K8S_VERSION" "k8s.io/kubernetes/cmd/kubeadm@$K8S_VERSION"
    nice -n 10 go build -tags selinux,notest,grpcnotrace -ldflags "$ldf" -o "$out.tmp/" \
      k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubeadm
  )
  "$out.tmp/kubeadm" version -o short >&2
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# coredns: e2e/kind/coredns/main.go (kubeadm's plugins, not the cloud ones) in a scratch module requiring
# github.com/coredns/coredns at COREDNS_VERSION.
COREDNS_BIN=
build_coredns() {
  local key out w
  key=$(hash_of "$(cat "$HERE/coredns/main.go")" "$COREDNS_VERSION")
  out=$BIN/coredns-$COREDNS_VERSION-$key; w=$SRC/coredns-$COREDNS_VERSION-$key
  COREDNS_BIN=$out/coredns
  [ -x "$out/coredns" ] && return 0
  mkdir -p "$w" "$out.tmp"
  cp "$HERE/coredns/main.go" "$w/main.go"
  (
    cd "$w" || exit 1
    [ -f go.mod ] || go mod init ferrolb.local/coredns-build >/dev/null 2>&1
    go get "github.com/coredns/coredns@$COREDNS_VERSION"
    nice -n 10 go build -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" \
      -o "$out.tmp/coredns" .
  )
  local plugins; plugins=$("$out.tmp/coredns" -plugins) # not `| grep -q` under pipefail (SIGPIPE)
  grep -qw kubernetes <<<"$plugins" || die "coredns: no kubernetes plugin"
  "$out.tmp/coredns" -version >&2
  find "$BIN" -maxdepth 1 -name "coredns-*" ! -name "coredns-$COREDNS_VERSION-$key*" -exec rm -rf {} +
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# pause: kubernetes' build/pause/linux/pause.c, static (musl when available).
build_pause() {
  local out=$BIN/pause-$PAUSE_VERSION src cc
  [ -x "$out/pause" ] && return 0
  src=$(module_dir "k8s.io/kubernetes@$K8S_VERSION")
  [ -f "$src/build/pause/linux/pause.c" ] || die "no build/pause/linux/pause.c in $src"
  if command -v musl-gcc >/dev/null; then cc=musl-gcc; else cc=gcc; fi
  mkdir -p "$out.tmp"
  "$cc" -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-ferrolb" -o "$out.tmp/pause" "$src/build/pause/linux/pause.c"
  strip "$out.tmp/pause"
  "$out.tmp/pause" -v >&2
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_binaries() {
  # build-upstream.sh takes a lock for the whole cache even when everything is built: skip it then
  local c need=0
  for c in "${CP_IMAGES[@]}" kube-proxy kubectl; do [ -x "$CACHE/bin/$c-$K8S_VERSION/$c" ] || need=1; done
  [ -x "$CACHE/bin/etcd-$ETCD_VERSION/etcd" ] && [ -f "$CACHE/src/kubernetes-$K8S_VERSION/.prepared" ] || need=1
  if [ "$need" = 1 ]; then timed "e2e/build-upstream.sh (the rig's binaries)" "$ROOT/e2e/build-upstream.sh"; fi
  timed "kubelet + kubeadm $K8S_VERSION" build_kubelet_kubeadm
  timed "coredns $COREDNS_VERSION" build_coredns
  timed "pause $PAUSE_VERSION" build_pause
}

# --- the node's root file system ----------------------------------------------------------------------
# finish_node_rootfs <dir>: what kind's images/base/Dockerfile does after installing the packages, applied
# to Debian's package layout (binaries in /usr/bin and /usr/lib/cni, where kind builds into /usr/local).
finish_node_rootfs() {
  local r=$1 f
  f=$(module_dir "sigs.k8s.io/kind@$KIND_VERSION")/images/base/files
  [ -d "$f" ] || die "kind $KIND_VERSION base files not found"
  install -m0755 "$f"/usr/local/bin/* "$r/usr/local/bin/"
  mkdir -p "$r/kind/bin" "$r/LICENSES" "$r/etc/containerd" "$r/etc/default" "$r/etc/sysctl.d" \
    "$r/etc/systemd/system/kubelet.service.d" "$r/etc/kubernetes/manifests" "$r/etc/cni/net.d" "$r/opt/cni/bin" \
    "$r/usr/local/sbin"
  install -m0644 "$f"/kind/*.txt "$r/kind/"
  install -m0755 "$f"/kind/bin/* "$r/kind/bin/"
  install -m0644 "$f"/LICENSES/* "$r/LICENSES/"
  install -m0644 "$f/etc/crictl.yaml" "$r/etc/"
  install -m0644 "$f"/etc/containerd/* "$r/etc/containerd/"
  install -m0644 "$f"/etc/default/* "$r/etc/default/"
  install -m0644 "$f"/etc/sysctl.d/* "$r/etc/sysctl.d/"
  find "$f/etc/systemd/system" -maxdepth 1 -type f -exec install -m0644 {} "$r/etc/systemd/system/" \;
  install -m0644 "$f"/etc/systemd/system/kubelet.service.d/* "$r/etc/systemd/system/kubelet.service.d/"
  # kind's units and config name /usr/local/bin/containerd*, /usr/local/sbin/runc and /opt/cni/bin
  local b
  for b in containerd ctr containerd-shim-runc-v2; do ln -sf "/usr/bin/$b" "$r/usr/local/bin/$b"; done
  ln -sf /usr/sbin/runc "$r/usr/local/sbin/runc"
  for b in host-local loopback ptp portmap bridge; do ln -sf "/usr/lib/cni/$b" "$r/opt/cni/bin/$b"; done
  # containerd: no CAP_SYS_RESOURCE on this kind of host (every sandbox fails "can't get final child's PID
  # from pipe" otherwise), and the sandbox image kubeadm expects
  sed -i -e 's/^\([[:space:]]*restrict_oom_score_adj[[:space:]]*=\).*/\1 true/' \
    -e "s#^\([[:space:]]*sandbox_image[[:space:]]*=\).*#\1 \"registry.k8s.io/pause:$PAUSE_VERSION\"#" \
    "$r/etc/containerd/config.toml"
  grep -q 'restrict_oom_score_adj = true' "$r/etc/containerd/config.toml" || die "containerd config: no restrict_oom_score_adj"
  grep -q "pause:$PAUSE_VERSION" "$r/etc/containerd/config.toml" || die "containerd config: no sandbox_image"
  # systemd as PID 1 of a container: only what kind enables
  find "$r/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
  rm -f "$r"/lib/systemd/system/multi-user.target.wants/* "$r"/etc/systemd/system/*.wants/* \
    "$r"/lib/systemd/system/local-fs.target.wants/* "$r"/lib/systemd/system/sockets.target.wants/*udev* \
    "$r"/lib/systemd/system/sockets.target.wants/*initctl* "$r"/lib/systemd/system/basic.target.wants/*
  grep -q '^ReadKMsg=no' "$r/etc/systemd/journald.conf" || echo "ReadKMsg=no" >>"$r/etc/systemd/journald.conf"
  ln -sf /usr/lib/systemd/systemd "$r/sbin/init"
  chroot "$r" systemctl enable kubelet.service containerd.service undo-mount-hacks.service
  chroot "$r" systemctl mask systemd-binfmt.service
  # the OCI spec containerd bases every container on: kind's product-uuid hook, no rlimits
  chroot "$r" ctr oci spec |
    jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' |
    jq 'del(.process.rlimits)' >"$r/etc/containerd/cri-base.json"
  : >"$r/etc/machine-id"
  # Kubernetes
  local kb=$BIN/kubernetes-$K8S_VERSION
  install -m0755 "$kb/kubelet" "$kb/kubeadm" "$CACHE/bin/kubectl-$K8S_VERSION/kubectl" "$r/usr/bin/"
  echo "$K8S_VERSION" >"$r/kind/version"
  install -m0755 "$HERE/node/ferrolb-cni.sh" "$r/kind/bin/ferrolb-cni.sh"
}

# --- the images preloaded into the node's containerd ----------------------------------------------------
# import_image <name> <dir> [--change ...]: a one-layer image from a directory tree (no build, no registry).
import_image() {
  local name=$1 dir=$2; shift 2
  mkdir -p "$dir/tmp"; chmod 1777 "$dir/tmp"
  tar --numeric-owner -C "$dir" -c . | "${PODMAN[@]}" import -q --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin' "$@" - "$name" >/dev/null
}

build_component_images() { # writes $WORK/images.tar (docker-archive, every image)
  local d c names=()
  for c in "${CP_IMAGES[@]}"; do
    d=$WORK/img/$c; mkdir -p "$d/usr/local/bin"
    install -m0755 "$CACHE/bin/$c-$K8S_VERSION/$c" "$d/usr/local/bin/"
    import_image "registry.k8s.io/$c:$K8S_VERSION" "$d" --change "ENTRYPOINT [\"/usr/local/bin/$c\"]"
    names+=("registry.k8s.io/$c:$K8S_VERSION")
  done
  d=$WORK/img/etcd; mkdir -p "$d/usr/local/bin" "$d/var/lib/etcd"
  install -m0755 "$CACHE/bin/etcd-$ETCD_VERSION/etcd" "$CACHE/bin/etcd-$ETCD_VERSION/etcdctl" "$d/usr/local/bin/"
  import_image "registry.k8s.io/etcd:$ETCD_TAG" "$d" --change 'ENTRYPOINT ["/usr/local/bin/etcd"]'
  names+=("registry.k8s.io/etcd:$ETCD_TAG")
  d=$WORK/img/coredns; mkdir -p "$d"
  install -m0755 "$COREDNS_BIN" "$d/coredns"
  import_image "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" "$d" --change 'ENTRYPOINT ["/coredns"]'
  names+=("registry.k8s.io/coredns/coredns:$COREDNS_VERSION")
  d=$WORK/img/pause; mkdir -p "$d"
  install -m0755 "$BIN/pause-$PAUSE_VERSION/pause" "$d/pause"
  import_image "registry.k8s.io/pause:$PAUSE_VERSION" "$d" --change 'ENTRYPOINT ["/pause"]' --change 'USER 65535:65535'
  names+=("registry.k8s.io/pause:$PAUSE_VERSION")
  # kube-proxy: Debian with iptables (nft and legacy), nft, conntrack, ipset
  d=$WORK/img/kube-proxy
  cp -a "$PROXY_ROOTFS" "$d"
  rm -rf "$d"/usr/share/doc/* "$d"/usr/share/man/* "$d"/usr/share/locale/* "$d"/usr/share/info/*
  install -m0755 "$CACHE/bin/kube-proxy-$K8S_VERSION/kube-proxy" "$d/usr/local/bin/"
  import_image "registry.k8s.io/kube-proxy:$K8S_VERSION" "$d" --change 'ENTRYPOINT ["/usr/local/bin/kube-proxy"]'
  names+=("registry.k8s.io/kube-proxy:$K8S_VERSION")
  "${PODMAN[@]}" save -q -m --format docker-archive -o "$WORK/images.tar" "${names[@]}" >/dev/null
  "${PODMAN[@]}" rmi "${names[@]}" >/dev/null
  printf '%s\n' "${names[@]}" >"$WORK/images.txt"
}

# --- assembly -----------------------------------------------------------------------------------------
assemble() {
  WORK=$KCACHE/work
  rm -rf "$WORK"; mkdir -p "$WORK"
  cp -a "$NODE_ROOTFS" "$WORK/rootfs"
  timed "finish node rootfs" finish_node_rootfs "$WORK/rootfs"
  local base=localhost/ferrolb-kind-base:$KEY
  timed "import node base $base" import_image "$base" "$WORK/rootfs" \
    --change 'ENV container=docker' --change 'STOPSIGNAL SIGRTMIN+3' \
    --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]'
  rm -rf "$WORK/rootfs"
  timed "component images" build_component_images
  # preload: containerd in a build container (as `kind build node-image` does), content only (--no-unpack:
  # the node unpacks on first use, on its /var volume), then commit
  local c=ferrolb-kind-build-$$
  "${PODMAN[@]}" rm -f "$c" >/dev/null 2>&1 || true
  "${PODMAN[@]}" run -d --name "$c" --privileged --security-opt seccomp=unconfined --network none \
    --ulimit "nofile=$NOFILE:$NOFILE" --ulimit nproc=4096:4096 --entrypoint sleep "$base" infinity >/dev/null
  trap '"${PODMAN[@]}" rm -f "$c" >/dev/null 2>&1 || true' EXIT
  "${PODMAN[@]}" exec "$c" bash -c 'nohup containerd >/var/log/containerd-build.log 2>&1 &'
  # shellcheck disable=SC2016
  "${PODMAN[@]}" exec "$c" bash -c 'for i in $(seq 1 30); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && exit 0; sleep 1; done; cat /var/log/containerd-build.log; exit 1' ||
    die "containerd did not start in the build container"
  "${PODMAN[@]}" exec -i "$c" ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned \
    --all-platforms --no-unpack --digests - <"$WORK/images.tar" >/dev/null
  local have want missing=0
  have=$("${PODMAN[@]}" exec "$c" ctr --namespace=k8s.io images list -q)
  while read -r want; do
    grep -qxF "$want" <<<"$have" || { log "not preloaded: $want"; missing=1; }
  done < <(sed 's#^localhost/##' "$WORK/images.txt")
  [ "$missing" = 0 ] || die "preload incomplete; containerd has: $have"
  # kubeadm's own list must be covered (etcd: the rig's tag, selected by kind-config.yaml)
  "${PODMAN[@]}" exec "$c" kubeadm config images list --kubernetes-version "$K8S_VERSION" >"$WORK/kubeadm-images.txt"
  while read -r want; do
    case "$want" in registry.k8s.io/etcd:*) want=registry.k8s.io/etcd:$ETCD_TAG ;; esac
    grep -qxF "$want" <<<"$have" || die "kubeadm wants $want, not preloaded"
  done <"$WORK/kubeadm-images.txt"
  # shellcheck disable=SC2016
  "${PODMAN[@]}" exec "$c" bash -c 'pkill containerd; for i in $(seq 1 20); do pgrep -x containerd >/dev/null || exit 0; sleep 0.5; done'
  "${PODMAN[@]}" exec "$c" rm -rf /var/log/containerd-build.log /run/containerd /tmp/*
  "${PODMAN[@]}" commit -q \
    --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' --change 'CMD []' \
    --change "LABEL io.ferrolb.kind.key=$KEY" "$c" "$IMAGE" >/dev/null
  "${PODMAN[@]}" rm -f "$c" >/dev/null; trap - EXIT
  "${PODMAN[@]}" rmi "$base" >/dev/null || true
  rm -rf "$WORK"
}

# --- main -----------------------------------------------------------------------------------------------
T0=$(date +%s)
current_key() { "${PODMAN[@]}" image inspect "$IMAGE" --format '{{index .Labels "io.ferrolb.kind.key"}}' 2>/dev/null || true; }
ARCHIVE=$KCACHE/node-$KEY.tar
if [ "$FORCE" = 0 ] && [ "$ROOTFS_ONLY" = 0 ]; then
  if [ "$(current_key)" = "$KEY" ]; then log "$IMAGE (key $KEY): cached in podman storage"; exit 0; fi
  if [ -f "$ARCHIVE" ]; then
    timed "load $ARCHIVE" "${PODMAN[@]}" load -q -i "$ARCHIVE" >/dev/null
    [ "$(current_key)" = "$KEY" ] || die "$ARCHIVE did not hold $IMAGE with key $KEY"
    log "$IMAGE (key $KEY): loaded from the cache in $(($(date +%s) - T0)) s"; exit 0
  fi
fi
NODE_ROOTFS=$(rootfs_dir node "${NODE_PKGS[@]}")
PROXY_ROOTFS=$(rootfs_dir kube-proxy "${PROXY_PKGS[@]}")
log "debootstrap trees ready: $NODE_ROOTFS $PROXY_ROOTFS"
[ "$ROOTFS_ONLY" = 1 ] && exit 0
build_binaries
timed "assemble $IMAGE" assemble
rm -f "$KCACHE"/node-*.tar
timed "save $ARCHIVE" "${PODMAN[@]}" save -q --format docker-archive -o "$ARCHIVE.tmp" "$IMAGE"
mv "$ARCHIVE.tmp" "$ARCHIVE"
log "$IMAGE (key $KEY) built in $(($(date +%s) - T0)) s; $(du -h "$ARCHIVE" | cut -f1) archive"
