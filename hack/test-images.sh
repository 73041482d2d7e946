#!/usr/bin/env bash
# hack/test-images.sh — the container image step of CI (test.sh, before the e2e suite):
#   1. installs podman, runc and musl-tools from apt when missing, and the Rust target
#      x86_64-unknown-linux-musl;
#   2. builds both images from host-compiled static binaries (hack/build-images.sh --prebuilt;
#      cargo profile `image`, built in $FERROLB_CACHE/target-images, outside the clone);
#   3. smoke-tests them: `--help` runs in each (operator, `operator webhook`, speaker), each image
#      is under 20,000,000 bytes, and none runs as root by default (its USER).
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

log() { printf '[test-images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
t0=$(date +%s)

# --- 1. packages and the Rust target -------------------------------------------------------------
PKGS=(podman runc musl-tools)
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
rustup target list --installed | grep -qx x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl

# --- 2. build --------------------------------------------------------------------------------------
t=$(date +%s)
CARGO_TARGET_DIR=$CACHE/target-images hack/build-images.sh --prebuilt </dev/null
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
for img in operator speaker; do
  read -r size user < <(podman --runtime "$RUNTIME" image inspect "$IMAGE_REPO/$img:$IMAGE_TAG" \
    --format '{{.Size}} {{if .Config.User}}{{.Config.User}}{{else}}<none>{{end}}')
  case "$user" in
    "<none>" | 0 | 0:* | root | root:*) log "FAIL: $img runs as root (USER=$user)"; fail=1 ;;
  esac
  if [ "$size" -ge "$LIMIT" ]; then
    log "FAIL: $img is $size bytes (limit $LIMIT)"; fail=1
  else
    log "ok: $img $size bytes < $LIMIT, USER=$user"
  fi
done
log "total: $(($(date +%s) - t0)) s"
exit "$fail"
