# shellcheck shell=bash
# rootfs.sh — the cached debootstrap tree (sourced after lib.sh, not run): used by build-node-image.sh
# (node and kube-proxy trees) and build-frr-image.sh (the FRR router's base tree).
#
# rootfs_dir <name> <pkgs...>: prints the path of $KCACHE/rootfs/<name>-<key>, a
# `debootstrap --variant=minbase --include=<pkgs>` tree of DEBIAN_SUITE from DEBIAN_MIRROR, building it when
# missing (key: name, suite, mirror, packages; an older tree of the same name is removed). Apt's downloaded
# .debs and lists are dropped from the tree.
rootfs_dir() {
  local name=$1; shift
  local key dir
  key=$(hash_of "$name" "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "$@")
  dir=$KCACHE/rootfs/$name-$key
  if [ ! -f "$dir.done" ]; then
    rm -rf "$dir" "$KCACHE/rootfs/$name"-*
    mkdir -p "$KCACHE/rootfs"
    local inc
    inc=$(IFS=,; echo "$*")
    log "debootstrap $name ($DEBIAN_SUITE, $# packages) -> $dir"
    nice -n 10 debootstrap --variant=minbase --include="$inc" "$DEBIAN_SUITE" "$dir" "$DEBIAN_MIRROR" \
      >"$dir.log" 2>&1 || { tail -n 30 "$dir.log" >&2; die "debootstrap $name failed (log: $dir.log)"; }
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    touch "$dir.done"
  fi
  echo "$dir"
}
