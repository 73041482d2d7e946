# shellcheck shell=bash disable=SC2034
# lib.sh — shared by e2e/kind/build-node-image.sh and e2e/kind/run.sh (sourced, not run): the pins, the
# cache layout, podman's flags, logging, and the cached Go build of a pinned module's command.
#
# Cache: ${FERROLB_CACHE:-~/.cache/ferrolb}/kind/ (bin/<name>-<version>/, src/, rootfs/, node-<key>.tar);
# the Go module and build caches are e2e/build-upstream.sh's ($FERROLB_CACHE/go), so both share downloads.
KIND_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$KIND_DIR/../.." && pwd)
# shellcheck source=../versions.env
. "$KIND_DIR/../versions.env"
# shellcheck source=versions.env
. "$KIND_DIR/versions.env"

# command substitutions fail the script too (rootfs_dir, module_dir run in $(...))
shopt -s inherit_errexit

CACHE=${FERROLB_CACHE:-$HOME/.cache/ferrolb}
KCACHE=$CACHE/kind
BIN=$KCACHE/bin
SRC=$KCACHE/src
NODE_IMAGE=localhost/ferrolb-kind-node:$K8S_VERSION
ETCD_TAG="${ETCD_VERSION#v}-0"
PODMAN=(podman --runtime "${PODMAN_RUNTIME:-runc}")
# nofile for containers: podman's default (1048576) can exceed this host's hard limit ("setting rlimit type
# 7: operation not permitted"), as hack/build-images.sh notes too
NOFILE=$(ulimit -Hn)
{ [ "$NOFILE" = unlimited ] || [ "$NOFILE" -gt 65536 ]; } && NOFILE=65536

export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
export GOFLAGS="-trimpath -mod=mod -buildvcs=false" CGO_ENABLED=0 GOTOOLCHAIN=${GOTOOLCHAIN:-local}

log() { printf '[%s %s] %s\n' "${LOG_TAG:-kind}" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
hash_of() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }

# timed <label> <cmd...>: run, log the wall time. The command runs plainly (not under `||`), so `set -e`
# stays in force inside the functions it calls: a failure exits the script there.
timed() {
  local label=$1 t0; shift
  t0=$(date +%s)
  "$@"
  log "$label: done in $(($(date +%s) - t0)) s"
}

# module_dir <module@version>: the module's directory in the module cache (downloads it when missing).
module_dir() {
  local d
  d=$(cd / && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  [ -d "$d" ] || die "cannot download Go module $1"
  echo "$d"
}

# go_tool_build <name> <version> <module@version> <package> [ldflags]: a scratch module requiring the
# package's module (a dependency's replace directives are ignored), built once to $BIN/<name>-<version>/.
go_tool_build() {
  local name=$1 ver=$2 mod=$3 pkg=$4 ldf=${5:-}
  local out=$BIN/$name-$ver w=$SRC/$name-$ver
  [ -x "$out/$name" ] && return 0
  mkdir -p "$w" "$out.tmp"
  (
    cd "$w" || exit 1
    [ -f go.mod ] || go mod init "ferrolb.local/$name-build" >/dev/null 2>&1
    go get -tool "$mod"
    nice -n 10 go build -ldflags "-s -w $ldf" -o "$out.tmp/$name" "$pkg"
  )
  rm -rf "$out"; mv "$out.tmp" "$out"
}
