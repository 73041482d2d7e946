#!/usr/bin/env bash
# hack/build-images.sh — build ferrolb's container images with podman and print their sizes.
#
#   hack/build-images.sh              multi-stage build inside a Rust builder image
#                                     (needs registry access: docker.io/library/rust, crates.io)
#   hack/build-images.sh --prebuilt   compile the static binaries on this host
#                                     (cargo, x86_64-unknown-linux-musl, Debian musl-tools) and
#                                     package them FROM scratch: no registry needed
#
# Env: IMAGE_REPO (default ghcr.io/ferrolb), IMAGE_TAG (default v<workspace version>),
#      PODMAN_RUNTIME (default runc), CARGO_TARGET_DIR for --prebuilt
#      (default ~/.cache/ferrolb/target-images, kept apart from the debug builds),
#      IMAGE_PROFILE: cargo profile (default `image`: release optimized for size, Cargo.toml).
# Debian: apt-get install podman runc (and musl-tools for --prebuilt).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
IMAGE_REPO=${IMAGE_REPO:-ghcr.io/ferrolb}
IMAGE_TAG=${IMAGE_TAG:-v$VERSION}
RUNTIME=${PODMAN_RUNTIME:-runc}
TARGET=x86_64-unknown-linux-musl
# podman in containers/CI: runc as the OCI runtime, explicit ulimits (the defaults it copies
# from the host can exceed what the sandbox allows)
PODMAN=(podman --runtime "$RUNTIME")
# (here: nofile above the shell's hard limit -> "setting rlimit type 7: operation not permitted")
nofile=$(ulimit -Hn); { [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ]; } && nofile=65536
BUILD_OPTS=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096 --layers)

prebuilt=0
case "${1:-}" in
  --prebuilt) prebuilt=1 ;;
  "") ;;
  *) echo "usage: hack/build-images.sh [--prebuilt]" >&2; exit 2 ;;
esac

# image name -> binaries in it (ferrolb-operator is multi-call: `ferrolb-operator webhook` is
# the webhook, so the operator image needs no second binary)
declare -A BINS=([operator]="ferrolb-operator" [speaker]="ferrolb-speaker")
PROFILE=${IMAGE_PROFILE:-image}

t0=$(date +%s)
if [ "$prebuilt" = 1 ]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${FERROLB_CACHE:-$HOME/.cache/ferrolb}/target-images}
  rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
  # One cargo invocation per binary: features are unified within one invocation, so building
  # them together would give the speaker the operator's features (e.g. kube's CEL engine).
  for img in "${!BINS[@]}"; do for b in ${BINS[$img]}; do
    cargo build --profile "$PROFILE" --locked --target "$TARGET" -p "$b"
  done; done
  rm -rf .image-out
  for img in "${!BINS[@]}"; do
    mkdir -p ".image-out/$img"
    for b in ${BINS[$img]}; do cp "$CARGO_TARGET_DIR/$TARGET/$PROFILE/$b" ".image-out/$img/"; done
  done
  echo "cargo build ($PROFILE, $TARGET): $(( $(date +%s) - t0 )) s"
fi

for img in operator speaker; do
  t=$(date +%s)
  opts=("${BUILD_OPTS[@]}" -f "images/$img.Containerfile" -t "$IMAGE_REPO/$img:$IMAGE_TAG")
  if [ "$prebuilt" = 1 ]; then
    opts+=(--target prebuilt)
  else
    opts+=(--build-arg "BINS=${BINS[$img]}" --build-arg "PROFILE=$PROFILE")
  fi
  "${PODMAN[@]}" build "${opts[@]}" .
  echo "podman build $img: $(( $(date +%s) - t )) s"
done
rm -rf .image-out

echo
echo "total: $(( $(date +%s) - t0 )) s"
echo "smoke test: ${PODMAN[*]} run --rm ${BUILD_OPTS[*]:0:4} $IMAGE_REPO/operator:$IMAGE_TAG --help"
for img in operator speaker; do
  "${PODMAN[@]}" image inspect "$IMAGE_REPO/$img:$IMAGE_TAG" \
    --format "{{index .RepoTags 0}}  {{.Size}} bytes  user={{.Config.User}}" \
    | awk '{printf "%s  %.1f MB  %s\n", $1, $2/1000000, $4}'
done
