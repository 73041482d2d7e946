#!/usr/bin/env bash
# build-frr-image.sh — build (or reuse) localhost/ferrolb-kind-frr:<DEBIAN_SUITE>, the BGP router of
# e2e/kind/run.sh's BGP phase: FRR from Debian's package in a debootstrap tree, no container registry
# (issue 17).
#
#   e2e/kind/build-frr-image.sh [--force]
#
# The image: `debootstrap --variant=minbase` of DEBIAN_SUITE with curl, iproute2 and procps (rootfs.sh),
# then `apt-get install frr` in a copy of it (cached under $FERROLB_CACHE/kind/rootfs/frr-<key>),
# imported as one layer with /usr/local/bin/frr-start as its entrypoint: it starts zebra, bfdd and bgpd
# from those of /etc/frr/{zebra,bfdd,bgpd}.conf that exist (run.sh mounts its generated configuration
# there: zebra and bgpd) and waits; `vtysh` answers inside the container. The image carries the label
# io.ferrolb.kind.frr-key (a hash of this script, rootfs.sh and the pins): with that key in podman's
# storage the script exits at once; otherwise the import from the cached tree takes ~10 s and the image
# it replaces is removed. --force re-imports (the tree stays cached). The image's name is the one line
# on stdout (run.sh reads it).
#
# Needs root (debootstrap, chroot, podman's root storage), podman, debootstrap, network access to the
# Debian mirror on the first build.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=kind-frr
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=rootfs.sh
. "$HERE/rootfs.sh"
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, podman root storage)"
for c in podman debootstrap sha256sum flock; do command -v "$c" >/dev/null || die "'$c' not found"; done

# debootstrap's own resolver cannot install frr (frr -> logrotate -> cron-daemon-common -> systemd: it unpacks
# systemd and its pre-dependency libsystemd-shared in one dpkg call, which dpkg refuses): the tree is a
# minbase with BASE_PKGS, then apt-get installs FRR_PKGS in it (chroot)
BASE_PKGS=(curl iproute2 procps)
FRR_PKGS=(frr)
FRR_IMAGE=localhost/ferrolb-kind-frr:$DEBIAN_SUITE
mkdir -p "$KCACHE"
exec 8>"$KCACHE/.build-frr-image.lock"
flock -w 1800 8 || die "could not lock $KCACHE/.build-frr-image.lock"

KEY=$(hash_of "$(cat "$0" "$HERE/rootfs.sh")" "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "${BASE_PKGS[@]}" "${FRR_PKGS[@]}")
current_key() { "${PODMAN[@]}" image inspect "$FRR_IMAGE" --format '{{index .Labels "io.ferrolb.kind.frr-key"}}' 2>/dev/null || true; }
T0=$(date +%s)
if [ "$FORCE" = 0 ] && [ "$(current_key)" = "$KEY" ]; then
  log "$FRR_IMAGE (key $KEY): cached in podman storage"; echo "$FRR_IMAGE"; exit 0
fi

# frr_tree: $KCACHE/rootfs/frr-<key>, the base tree plus FRR_PKGS (cached like rootfs_dir's trees)
frr_tree() {
  local base dir
  base=$(rootfs_dir frrbase "${BASE_PKGS[@]}")
  dir=$KCACHE/rootfs/frr-$(hash_of "$base" "${FRR_PKGS[@]}")
  if [ ! -f "$dir.done" ]; then
    rm -rf "$KCACHE"/rootfs/frr-*
    cp -a "$base" "$dir"
    log "apt-get install ${FRR_PKGS[*]} in $dir"
    printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"; chmod 0755 "$dir/usr/sbin/policy-rc.d"
    {
      nice -n 10 chroot "$dir" apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive nice -n 10 chroot "$dir" apt-get install -y -q --no-install-recommends "${FRR_PKGS[@]}"
    } >"$dir.log" 2>&1 || { tail -n 30 "$dir.log" >&2; die "apt-get install ${FRR_PKGS[*]} failed (log: $dir.log)"; }
    rm -f "$dir/usr/sbin/policy-rc.d"
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    touch "$dir.done"
  fi
  echo "$dir"
}
TREE=$(frr_tree)
{ [ -x "$TREE/usr/lib/frr/bgpd" ] && [ -x "$TREE/usr/bin/vtysh" ]; } || die "$TREE has no FRR"
WORK=$KCACHE/work-frr
rm -rf "$WORK"; mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
cp -a "$TREE" "$WORK/rootfs"
r=$WORK/rootfs
rm -rf "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/locale/* "$r"/usr/share/info/*
# the daemons run as the package's frr user; the sockets live in /run/frr (vtysh finds them there)
cat >"$r/usr/local/bin/frr-start" <<'EOS'
#!/bin/sh
# frr-start (build-frr-image.sh): zebra, bfdd, bgpd from /etc/frr, then wait until SIGTERM.
set -e
mkdir -p /run/frr /var/log/frr
chown frr:frr /run/frr /var/log/frr
[ -f /etc/frr/vtysh.conf ] || : >/etc/frr/vtysh.conf 2>/dev/null || true
for d in zebra bfdd bgpd; do
  [ -f "/etc/frr/$d.conf" ] || continue
  "/usr/lib/frr/$d" -d -f "/etc/frr/$d.conf" -A 127.0.0.1 --log "file:/var/log/frr/$d.log"
done
trap 'exit 0' TERM INT
while :; do sleep 1 & wait $!; done
EOS
chmod 0755 "$r/usr/local/bin/frr-start"
mkdir -p "$r/tmp"; chmod 1777 "$r/tmp"
# the image this replaces (an older key) is removed once untagged: a re-import would otherwise leave 250 MB
old=$("${PODMAN[@]}" image inspect "$FRR_IMAGE" --format '{{.Id}}' 2>/dev/null || true)
tar --numeric-owner -C "$r" -c . | "${PODMAN[@]}" import -q \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin' \
  --change 'ENTRYPOINT ["/usr/local/bin/frr-start"]' --change "LABEL io.ferrolb.kind.frr-key=$KEY" \
  - "$FRR_IMAGE" >/dev/null
[ "$(current_key)" = "$KEY" ] || die "$FRR_IMAGE: imported without the key label $KEY"
if [ -n "$old" ] && [ "$old" != "$("${PODMAN[@]}" image inspect "$FRR_IMAGE" --format '{{.Id}}')" ]; then
  "${PODMAN[@]}" rmi "$old" >/dev/null 2>&1 || log "the previous $FRR_IMAGE ($old) is still in use: kept"
fi
# shellcheck disable=SC2016
log "$FRR_IMAGE (key $KEY, frr $(chroot "$TREE" dpkg-query -W -f '${Version}' frr)) ready in $(($(date +%s) - T0)) s"
echo "$FRR_IMAGE"
