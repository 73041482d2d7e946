#!/usr/bin/env bash
# hack/test-images.sh — the container image step of CI (test.sh, before the e2e suite):
#   1. installs podman, runc, musl-tools, the aarch64 cross gcc, qemu-user and file from apt when
#      missing, and the Rust targets x86_64- and aarch64-unknown-linux-musl;
#   2. builds both images for linux/amd64 and linux/arm64 from host-compiled static binaries
#      (hack/build-images.sh --prebuilt --platforms linux/amd64,linux/arm64; cargo profile `image`,
#      built in $FERROLB_CACHE/target-images, outside the clone): per image a manifest list
#      <repo>/<image>:<tag> of <tag>-amd64 and <tag>-arm64;
#   3. smoke-tests them: `--help` runs in each amd64 image (operator, `operator webhook`,
#      speaker); the arm64 binaries, copied out of their images, are aarch64 static ELF files
#      (`file`) and under qemu-user print the same help and refuse an unknown flag (exit 2, naming
#      it: an empty or wrong binary cannot pass); each manifest list holds exactly both platforms;
#      each image of each platform is under 20,000,000 bytes and does not run as root by default
#      (its USER). Where binfmt_misc has qemu-aarch64 registered, the arm64 images also run
#      through podman (a bonus check; skipped otherwise).
#
#   hack/test-images.sh            needs root (apt, podman's root storage)
#
# Env: FERROLB_CACHE (default ~/.cache/ferrolb), IMAGE_PROFILE (cargo profile, default image),
#      IMAGE_REPO / IMAGE_TAG / PODMAN_RUNTIME as hack/build-images.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive
CACHE=${FERROLB_CACHE:-$HOME/.cache/ferrolb}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
IMAGE_REPO=${IMAGE_REPO:-ghcr.io/ferrolb}
IMAGE_TAG=${IMAGE_TAG:-v$VERSION}
RUNTIME=${PODMAN_RUNTIME:-runc}
LIMIT=20000000 # bytes, issue #7: "under 20 MB each"
PLATFORMS=linux/amd64,linux/arm64
ARCHES=(amd64 arm64)

log() { printf '[test-images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
t0=$(date +%s)

# --- 1. packages and the Rust target -------------------------------------------------------------
PKGS=(podman runc musl-tools gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user file)
missing=()
for p in "${PKGS[@]}"; do
  case "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" in *"install ok installed"*) ;; *) missing+=("$p") ;; esac
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { log "missing ${missing[*]}: run as root or apt-get install them"; exit 1; }
  log "installing Debian packages: ${missing[*]}"
  apt_log=$(mktemp)
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } </dev/null >"$apt_log" 2>&1; then
    log "apt-get failed; last lines:"; tail -n 20 "$apt_log" >&2; rm -f "$apt_log"; exit 1
  fi
  rm -f "$apt_log"
  log "apt: $(($(date +%s) - t0)) s"
fi
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
done

# --- 2. build --------------------------------------------------------------------------------------
t=$(date +%s)
CARGO_TARGET_DIR=$CACHE/target-images hack/build-images.sh --prebuilt --platforms "$PLATFORMS" </dev/null
log "build-images: $(($(date +%s) - t)) s"

# --- 3. smoke tests --------------------------------------------------------------------------------
nofile=$(ulimit -Hn); { [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ]; } && nofile=65536
RUN=(podman --runtime "$RUNTIME" run --rm --network none --ulimit "nofile=$nofile:$nofile"
  --ulimit nproc=4096:4096)
fail=0
check_help() { # image, expected usage line, args...
  local img=$1 want=$2 out
  shift 2
  if ! out=$("${RUN[@]}" "$IMAGE_REPO/$img:$IMAGE_TAG" "$@" 2>&1); then
    log "FAIL: $img $*: exit non-zero: $(printf '%s' "$out" | tail -n 5)"; fail=1; return
  fi
  grep -qF "$want" <<<"$out" || { log "FAIL: $img $*: no '$want' in: $(head -n 5 <<<"$out")"; fail=1; return; }
  log "ok: $img $* -> $want"
}
check_help operator "Usage: ferrolb-operator [OPTIONS]" --help
check_help operator "Usage: ferrolb-operator webhook [OPTIONS]" webhook --help
check_help speaker "Usage: ferrolb-speaker" --help

# arm64: the binaries out of their images, under qemu-user
QEMU=qemu-aarch64
ARM=$(mktemp -d)
trap 'rm -rf "$ARM"' EXIT
for img in operator speaker; do
  # a container is never started: create + cp only reads the image's filesystem
  if ! ctr=$(podman --runtime "$RUNTIME" create --platform linux/arm64 "$IMAGE_REPO/$img:$IMAGE_TAG-arm64" 2>"$ARM/err"); then
    log "FAIL: cannot create a container of $img:$IMAGE_TAG-arm64: $(tail -n 3 "$ARM/err")"; fail=1; continue
  fi
  podman --runtime "$RUNTIME" cp "$ctr:/ferrolb-$img" "$ARM/" || { log "FAIL: no /ferrolb-$img in $img:$IMAGE_TAG-arm64"; fail=1; }
  podman --runtime "$RUNTIME" rm "$ctr" >/dev/null
done
for b in ferrolb-operator ferrolb-speaker; do
  desc=$(file -b "$ARM/$b" 2>&1) || true
  case "$desc" in
    *"ELF 64-bit LSB"*"ARM aarch64"*static*) log "ok: arm64 $b: ${desc%%, BuildID*}" ;;
    *) log "FAIL: arm64 $b is not a static aarch64 ELF: $desc"; fail=1 ;;
  esac
done
check_qemu() { # binary, expected usage line, args...
  local b=$1 want=$2 out
  shift 2
  if ! out=$("$QEMU" "$ARM/$b" "$@" 2>&1); then
    log "FAIL: arm64 $b $* under $QEMU: exit non-zero: $(printf '%s' "$out" | tail -n 5)"; fail=1; return
  fi
  grep -qF "$want" <<<"$out" || { log "FAIL: arm64 $b $*: no '$want' in: $(head -n 5 <<<"$out")"; fail=1; return; }
  log "ok: arm64 $b $* under $QEMU -> $want"
}
check_refusal() { # binary, args... (the last one the unknown flag): exit 2 naming it
  local b=$1 flag=${*: -1} out rc=0
  shift
  out=$("$QEMU" "$ARM/$b" "$@" 2>&1) || rc=$?
  if [ "$rc" != 2 ] || ! grep -qF -- "$flag" <<<"$out"; then
    log "FAIL: arm64 $b $*: want exit 2 naming $flag, got exit $rc: $(head -n 3 <<<"$out")"; fail=1; return
  fi
  log "ok: arm64 $b $* refused: exit 2, $(grep -F -m1 -- "$flag" <<<"$out")"
}
check_qemu ferrolb-operator "Usage: ferrolb-operator [OPTIONS]" --help
check_qemu ferrolb-operator "Usage: ferrolb-operator webhook [OPTIONS]" webhook --help
check_qemu ferrolb-speaker "Usage: ferrolb-speaker" --help
check_refusal ferrolb-operator --no-such-flag
check_refusal ferrolb-operator webhook --no-such-flag
check_refusal ferrolb-speaker --no-such-flag
if [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  out=$("${RUN[@]}" --platform linux/arm64 "$IMAGE_REPO/operator:$IMAGE_TAG-arm64" --help 2>&1) || true
  if grep -qF "Usage: ferrolb-operator [OPTIONS]" <<<"$out"; then log "ok: arm64 operator image runs through podman (binfmt)"
  else log "FAIL: arm64 operator image under podman (binfmt): $(tail -n 3 <<<"$out")"; fail=1; fi
else
  log "skip: no binfmt_misc entry for qemu-aarch64: arm64 images not run through podman"
fi

# the manifest lists, and each platform's image
for img in operator speaker; do
  got=$(podman --runtime "$RUNTIME" manifest inspect "$IMAGE_REPO/$img:$IMAGE_TAG" |
    python3 -c 'import json, sys
print(",".join(sorted(m["platform"]["os"] + "/" + m["platform"]["architecture"] for m in json.load(sys.stdin)["manifests"])))')
  if [ "$got" = "$PLATFORMS" ]; then log "ok: manifest list $img:$IMAGE_TAG: $got"
  else log "FAIL: manifest list $img:$IMAGE_TAG has platforms '$got', want $PLATFORMS"; fail=1; fi
  for arch in "${ARCHES[@]}"; do
    read -r size user iarch < <(podman --runtime "$RUNTIME" image inspect "$IMAGE_REPO/$img:$IMAGE_TAG-$arch" \
      --format '{{.Size}} {{if .Config.User}}{{.Config.User}}{{else}}<none>{{end}} {{.Architecture}}')
    [ "$iarch" = "$arch" ] || { log "FAIL: $img:$IMAGE_TAG-$arch has architecture $iarch"; fail=1; }
    case "$user" in
      "<none>" | 0 | 0:* | root | root:*) log "FAIL: $img ($arch) runs as root (USER=$user)"; fail=1 ;;
    esac
    if [ "$size" -ge "$LIMIT" ]; then
      log "FAIL: $img ($arch) is $size bytes (limit $LIMIT)"; fail=1
    else
      log "ok: $img ($arch) $size bytes < $LIMIT, USER=$user"
    fi
  done
done
log "total: $(($(date +%s) - t0)) s"
exit "$fail"
