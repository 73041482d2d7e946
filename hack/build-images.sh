#!/usr/bin/env bash
# hack/build-images.sh — build ferrolb's container images with podman and print their sizes.
#
#   hack/build-images.sh              multi-stage build inside a Rust builder image
#                                     (needs registry access: docker.io/library/rust, crates.io)
#   hack/build-images.sh --prebuilt   compile the static binaries on this host
#                                     (cargo, x86_64-unknown-linux-musl, Debian musl-tools) and
#                                     package them FROM scratch: no registry needed
#   hack/build-images.sh --prebuilt --platforms linux/amd64,linux/arm64
#                                     the same for each platform (arm64: rustup target
#                                     aarch64-unknown-linux-musl, cross-linker from Debian
#                                     gcc-aarch64-linux-gnu), each image tagged <tag>-<arch>,
#                                     then a podman manifest list <repo>/<image>:<tag> of them.
#                                     The images have no RUN step: no emulation is needed.
#
# Env: IMAGE_REPO (default ghcr.io/ferrolb), IMAGE_TAG (default v<workspace version>),
#      PODMAN_RUNTIME (default runc), CARGO_TARGET_DIR for --prebuilt
#      (default ~/.cache/ferrolb/target-images, kept apart from the debug builds; cargo keeps
#      each target triple in its own subdirectory),
#      IMAGE_PROFILE: cargo profile (default `image`: release optimized for size, Cargo.toml),
#      PLATFORMS: as --platforms (default linux/amd64: one plain image per name, as before;
#      more than one platform gives a manifest list under that name instead).
# Debian: apt-get install podman runc (and musl-tools for --prebuilt; for linux/arm64 on an
# x86_64 host also gcc-aarch64-linux-gnu libc6-dev-arm64-cross).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
IMAGE_REPO=${IMAGE_REPO:-ghcr.io/ferrolb}
IMAGE_TAG=${IMAGE_TAG:-v$VERSION}
RUNTIME=${PODMAN_RUNTIME:-runc}
# podman in containers/CI: runc as the OCI runtime, explicit ulimits (the defaults it copies
# from the host can exceed what the sandbox allows)
PODMAN=(podman --runtime "$RUNTIME")
# (here: nofile above the shell's hard limit -> "setting rlimit type 7: operation not permitted")
nofile=$(ulimit -Hn); { [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ]; } && nofile=65536
BUILD_OPTS=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096 --layers)

prebuilt=0
PLATFORMS=${PLATFORMS:-linux/amd64}
usage() { echo "usage: hack/build-images.sh [--prebuilt [--platforms linux/amd64,linux/arm64]]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --prebuilt) prebuilt=1 ;;
    --platforms) [ $# -ge 2 ] || usage; PLATFORMS=$2; shift ;;
    --platforms=*) PLATFORMS=${1#--platforms=} ;;
    *) usage ;;
  esac
  shift
done
IFS=, read -r -a PLATFORM_LIST <<<"$PLATFORMS"
[ ${#PLATFORM_LIST[@]} -gt 0 ] || usage
rust_target() { # platform -> Rust target triple of its static binaries
  case "$1" in
    linux/amd64) echo x86_64-unknown-linux-musl ;;
    linux/arm64 | linux/arm64/v8) echo aarch64-unknown-linux-musl ;;
    *) echo "hack/build-images.sh: unsupported platform '$1' in --platforms/PLATFORMS (linux/amd64, linux/arm64)" >&2; return 2 ;;
  esac
}
for p in "${PLATFORM_LIST[@]}"; do rust_target "$p" >/dev/null || exit 2; done
if [ "$prebuilt" = 0 ] && [ "$PLATFORMS" != linux/amd64 ]; then
  echo "hack/build-images.sh: --platforms $PLATFORMS needs --prebuilt (the builder image compiles for amd64 only)" >&2
  exit 2
fi
multi=0; [ ${#PLATFORM_LIST[@]} -gt 1 ] && multi=1

# cross-compiling for aarch64 from another host: Debian's cross gcc links (with the Rust target's
# own musl crt and libc) and compiles ring's C code (the cc crate reads CC_<target>/AR_<target>)
cross_env_aarch64() {
  [ "$(uname -m)" != aarch64 ] || return 0
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER:-aarch64-linux-gnu-gcc}
  export CC_aarch64_unknown_linux_musl=${CC_aarch64_unknown_linux_musl:-aarch64-linux-gnu-gcc}
  export AR_aarch64_unknown_linux_musl=${AR_aarch64_unknown_linux_musl:-aarch64-linux-gnu-ar}
  command -v "$CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER" >/dev/null || {
    echo "hack/build-images.sh: no $CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER for linux/arm64: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross" >&2
    exit 1
  }
}

# image name -> binaries in it (ferrolb-operator is multi-call: `ferrolb-operator webhook` is
# the webhook, so the operator image needs no second binary)
declare -A BINS=([operator]="ferrolb-operator" [speaker]="ferrolb-speaker")
PROFILE=${IMAGE_PROFILE:-image}

t0=$(date +%s)
# build_platform PLATFORM TAG: compile (--prebuilt) and package both images for one platform
build_platform() {
  local platform=$1 tag=$2 target img b t opts
  target=$(rust_target "$platform")
  if [ "$prebuilt" = 1 ]; then
    t=$(date +%s)
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
    [ "$target" != aarch64-unknown-linux-musl ] || cross_env_aarch64
    # One cargo invocation per binary: features are unified within one invocation, so building
    # them together would give the speaker the operator's features (e.g. kube's CEL engine).
    for img in "${!BINS[@]}"; do for b in ${BINS[$img]}; do
      cargo build --profile "$PROFILE" --locked --target "$target" -p "$b"
    done; done
    rm -rf .image-out
    for img in "${!BINS[@]}"; do
      mkdir -p ".image-out/$img"
      for b in ${BINS[$img]}; do cp "$CARGO_TARGET_DIR/$target/$PROFILE/$b" ".image-out/$img/"; done
    done
    echo "cargo build ($PROFILE, $target): $(( $(date +%s) - t )) s"
  fi
  for img in operator speaker; do
    t=$(date +%s)
    opts=("${BUILD_OPTS[@]}" -f "images/$img.Containerfile" -t "$IMAGE_REPO/$img:$tag")
    if [ "$prebuilt" = 1 ]; then
      opts+=(--target prebuilt --platform "$platform")
    else
      opts+=(--build-arg "BINS=${BINS[$img]}" --build-arg "PROFILE=$PROFILE")
    fi
    "${PODMAN[@]}" build "${opts[@]}" .
    echo "podman build $img ($platform): $(( $(date +%s) - t )) s"
  done
  rm -rf .image-out
}

[ "$prebuilt" = 0 ] || export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-${FERROLB_CACHE:-$HOME/.cache/ferrolb}/target-images}
TAGS=() # the per-platform image tags (one, or <tag>-<arch> for a manifest list)
for p in "${PLATFORM_LIST[@]}"; do
  if [ "$multi" = 1 ]; then tag=$IMAGE_TAG-$(cut -d/ -f2 <<<"$p"); else tag=$IMAGE_TAG; fi
  build_platform "$p" "$tag"
  TAGS+=("$tag")
done

if [ "$multi" = 1 ]; then
  for img in operator speaker; do
    list=$IMAGE_REPO/$img:$IMAGE_TAG
    # the name may hold an earlier single-platform image or list: free it (layers stay cached)
    if "${PODMAN[@]}" manifest exists "$list"; then "${PODMAN[@]}" manifest rm "$list" >/dev/null
    elif "${PODMAN[@]}" image exists "$list"; then "${PODMAN[@]}" untag "$list" "$list"; fi
    "${PODMAN[@]}" manifest create "$list" >/dev/null
    for tag in "${TAGS[@]}"; do
      "${PODMAN[@]}" manifest add "$list" "containers-storage:$IMAGE_REPO/$img:$tag" >/dev/null
    done
    echo "manifest list $list: $(IFS=,; echo "${PLATFORM_LIST[*]}")"
  done
fi

echo
echo "total: $(( $(date +%s) - t0 )) s"
echo "smoke test: ${PODMAN[*]} run --rm ${BUILD_OPTS[*]:0:4} $IMAGE_REPO/operator:$IMAGE_TAG --help"
[ "$multi" = 0 ] || echo "push: ${PODMAN[*]} manifest push --all $IMAGE_REPO/operator:$IMAGE_TAG docker://$IMAGE_REPO/operator:$IMAGE_TAG (and speaker)"
for img in operator speaker; do for tag in "${TAGS[@]}"; do
  "${PODMAN[@]}" image inspect "$IMAGE_REPO/$img:$tag" \
    --format "$IMAGE_REPO/$img:$tag  {{.Os}}/{{.Architecture}}  {{.Size}} bytes  user={{.Config.User}}" \
    | awk '{printf "%s  %s  %.1f MB  %s\n", $1, $2, $3/1000000, $5}'
done; done
