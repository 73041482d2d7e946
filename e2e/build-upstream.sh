#!/usr/bin/env bash
# build-upstream.sh — build the pinned upstream binaries the e2e rig needs, from Go modules only
# (Go module proxy; no downloads of release tarballs).
#
#   e2e/build-upstream.sh [--with-helm] [--metallb-speaker] [--force]
#
# Results go to ${FERROLB_CACHE:-$HOME/.cache/ferrolb}/bin/<component>-<version>/<component>.
# A component whose binary is already there is skipped, so a second run takes seconds.
# GOMODCACHE and GOCACHE live under $FERROLB_CACHE/go so CI can cache one directory.
#
# Components (versions pinned below, override via env for experiments only):
#   kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl  (one go build, K8S_VERSION)
#   etcd (+etcdctl)                                                            (ETCD_VERSION)
#   kwok (+ its default Stage YAMLs)                                           (KWOK_VERSION)
#   helm (only with --with-helm or FERROLB_BUILD_HELM=1)                       (HELM_VERSION)
#   metallb-controller (MetalLB's own controller, for side-by-side tests)     (METALLB_VERSION)
#   metallb-speaker (only with --metallb-speaker or FERROLB_BUILD_METALLB_SPEAKER=1: the L2
#     failover benchmark against MetalLB builds it on demand; CI's default build never does)
#   otelcol-ferrolb (the OpenTelemetry Collector of e2e/tests/otel.rs: e2e/otelcol/main.go with
#     the Collector's modules at OTELCOL_VERSION; rebuilt when e2e/otelcol/ changes)   (OTELCOL_VERSION)
#   flux-source-controller, flux-kustomize-controller (+ each one's CRDs as crds.yaml; issue 21)
#                                                 (FLUX_SOURCE_VERSION, FLUX_KUSTOMIZE_VERSION)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=versions.env
. "$HERE/versions.env"

CACHE=${FERROLB_CACHE:-$HOME/.cache/ferrolb}
BIN_ROOT="$CACHE/bin"
SRC_ROOT="$CACHE/src"
WITH_HELM=${FERROLB_BUILD_HELM:-0}
WITH_ML_SPEAKER=${FERROLB_BUILD_METALLB_SPEAKER:-0}
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --with-helm) WITH_HELM=1 ;;
    --metallb-speaker) WITH_ML_SPEAKER=1 ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build-upstream.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

export GOMODCACHE="$CACHE/go/mod"
export GOCACHE="$CACHE/go/build"
export GOFLAGS="-trimpath -mod=mod -buildvcs=false"
export CGO_ENABLED=0
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
mkdir -p "$BIN_ROOT" "$SRC_ROOT" "$GOMODCACHE" "$GOCACHE"

command -v go >/dev/null || { echo "build-upstream.sh: 'go' not found in PATH" >&2; exit 1; }

# One build at a time per cache dir (CI + a developer shell, or two rig users).
exec 9>"$CACHE/.build-upstream.lock"
if ! flock -w 3600 9; then echo "build-upstream.sh: could not lock $CACHE/.build-upstream.lock" >&2; exit 1; fi

log() { printf '[build-upstream %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# have <component> <version>: true when the cached binary exists and runs.
have() {
  [ "$FORCE" = 1 ] && return 1
  [ -x "$BIN_ROOT/$1-$2/$1" ]
}

timed() { # timed <label> <cmd...>: run and print the wall time it took
  local label=$1 t0 t1 rc=0; shift
  t0=$(date +%s)
  "$@" || rc=$?
  t1=$(date +%s)
  if [ "$rc" = 0 ]; then log "$label: done in $((t1 - t0))s"; else log "$label: FAILED (exit $rc) after $((t1 - t0))s"; fi
  return "$rc"
}

# --------------------------------------------------------------------------------------------------
build_etcd() {
  local w="$SRC_ROOT/etcd-$ETCD_VERSION" out="$BIN_ROOT/etcd-$ETCD_VERSION"
  mkdir -p "$w" "$out.tmp"
  (
    cd "$w"
    [ -f go.mod ] || go mod init ferrolb.local/etcd-build >/dev/null 2>&1
    # server/v3 is the etcd main package; its go.mod has replace directives, so `go install pkg@v` refuses
    # it, but a scratch module requiring it works (a dependency's replaces are ignored).
    go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "go.etcd.io/etcd/etcdctl/v3@$ETCD_VERSION"
    go build -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3
    go build -ldflags "-s -w" -o "$out.tmp/etcdctl" go.etcd.io/etcd/etcdctl/v3
  )
  "$out.tmp/etcd" --version | head -1 >&2
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# --------------------------------------------------------------------------------------------------
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl)
build_k8s() {
  local w="$SRC_ROOT/kubernetes-$K8S_VERSION" tmp="$BIN_ROOT/.k8s-$K8S_VERSION.tmp"
  local minor staging gomod mods m now ldf p c
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  staging="v0.${K8S_VERSION#v1.}"
  mkdir -p "$w" "$tmp"
  (
    cd "$w"
    if [ ! -f .prepared ]; then
      rm -f go.mod go.sum
      go mod init ferrolb.local/k8s-build >/dev/null 2>&1
      # kubernetes' own go.mod requires every staging module at v0.0.0 and resolves them through
      # `replace => ./staging/...`, which a dependent module ignores: replace them by published tags.
      gomod=$(cd "$(mktemp -d)" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
        sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
      [ -s "$gomod" ] || { echo "cannot download k8s.io/kubernetes@$K8S_VERSION" >&2; exit 1; }
      mods=$({
        sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\1#p' "$gomod"
        sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\)[[:space:]]\{1,\}v0\.0\.0\([[:space:]].*\)\{0,1\}$#\1#p' "$gomod"
      } | sort -u)
      [ -n "$mods" ] || { echo "no staging modules found in $gomod" >&2; exit 1; }
      for m in $mods; do
        if go mod download "$m@$staging" >/dev/null 2>&1; then
          go mod edit -replace="$m=$m@$staging"
        else
          echo "note: $m@$staging not served; skipped (fine unless the build imports it)" >&2
        fi
      done
      if grep -E '=>' "$gomod" | grep -v '\./staging/' >&2; then
        echo "warning: kubernetes go.mod has non-staging replaces (above); not copied" >&2
      fi
      sed -n 's/^godebug[[:space:]]\{1,\}\([^(].*\)$/\1/p' "$gomod" | while read -r kv; do go mod edit -godebug="$kv"; done
      local tools=()
      for c in "${K8S_CMDS[@]}"; do tools+=("k8s.io/kubernetes/cmd/$c@$K8S_VERSION"); done
      go get -tool "${tools[@]}"
      touch .prepared
    fi
    now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    ldf="-s -w"
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldf="$ldf -X '$p.gitVersion=$K8S_VERSION' -X '$p.gitMajor=1' -X '$p.gitMinor=$minor'"
      ldf="$ldf -X '$p.gitTreeState=clean' -X '$p.buildDate=$now'"
    done
    local pkgs=()
    for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
    # one invocation: the shared packages compile once
    go build -tags selinux,notest,grpcnotrace -ldflags "$ldf" -o "$tmp/" "${pkgs[@]}"
  )
  for c in "${K8S_CMDS[@]}"; do
    rm -rf "$BIN_ROOT/$c-$K8S_VERSION"; mkdir -p "$BIN_ROOT/$c-$K8S_VERSION"
    mv "$tmp/$c" "$BIN_ROOT/$c-$K8S_VERSION/$c"
  done
  rm -rf "$tmp"
  "$BIN_ROOT/kube-apiserver-$K8S_VERSION/kube-apiserver" --version >&2
  "$BIN_ROOT/kubectl-$K8S_VERSION/kubectl" version --client >&2
}

# --------------------------------------------------------------------------------------------------
KWOK_STAGES=(node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
  node/chaos/node-not-ready.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml)
build_kwok() {
  local w="$SRC_ROOT/kwok-$KWOK_VERSION" out="$BIN_ROOT/kwok-$KWOK_VERSION" d f
  mkdir -p "$w" "$out.tmp"
  (
    cd "$w"
    [ -f go.mod ] || go mod init ferrolb.local/kwok-build >/dev/null 2>&1
    go get -tool "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
    go build -ldflags "-s -w" -o "$out.tmp/kwok" sigs.k8s.io/kwok/cmd/kwok
    # standalone kwok loads no behaviour by itself ("no stages found"): keep the shipped default stages
    d=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
    for f in "${KWOK_STAGES[@]}"; do
      [ -f "$d/kustomize/stage/$f" ] || { echo "missing stage $f in $d" >&2; exit 1; }
      echo "---"; cat "$d/kustomize/stage/$f"
    done >"$out.tmp/kwok-stages.yaml"
  )
  "$out.tmp/kwok" --version >&2 || true
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# --------------------------------------------------------------------------------------------------
build_helm() {
  local major w out
  major=$(echo "$HELM_VERSION" | cut -d. -f1) # v3 / v4
  w="$SRC_ROOT/helm-$HELM_VERSION"; out="$BIN_ROOT/helm-$HELM_VERSION"
  mkdir -p "$w" "$out.tmp"
  (
    cd "$w"
    [ -f go.mod ] || go mod init ferrolb.local/helm-build >/dev/null 2>&1
    go get -tool "helm.sh/helm/$major/cmd/helm@$HELM_VERSION"
    go build -ldflags "-s -w -X helm.sh/helm/$major/internal/version.version=$HELM_VERSION" \
      -o "$out.tmp/helm" "helm.sh/helm/$major/cmd/helm"
  )
  "$out.tmp/helm" version --short >&2 || true
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# --------------------------------------------------------------------------------------------------
# MetalLB's controller and, on demand, its speaker (issue 22: measured against MetalLB itself on the
# same rig). The module has no replace directives, so one scratch module requiring it builds
# `go.universe.tf/metallb/<component>` (the dependencies the two share compile once). Its commit is
# the tag's (from the module proxy's .info Origin), set like upstream's Dockerfile.
build_metallb_component() { # build_metallb_component controller|speaker FLAG-ITS-HELP-MUST-SHOW
  local c=$1 flag=$2
  local w="$SRC_ROOT/metallb-$METALLB_VERSION" out="$BIN_ROOT/metallb-$c-$METALLB_VERSION"
  mkdir -p "$w" "$out.tmp"
  (
    cd "$w"
    [ -f go.mod ] || go mod init ferrolb.local/metallb-build >/dev/null 2>&1
    go get -tool "go.universe.tf/metallb/$c@$METALLB_VERSION"
    go build -ldflags "-s -w -X 'go.universe.tf/metallb/internal/version.gitBranch=$METALLB_VERSION'" \
      -o "$out.tmp/metallb-$c" "go.universe.tf/metallb/$c"
  )
  # the help text into a variable first: `--help | grep -q` under pipefail fails at random (grep -q
  # exits at the first match, the writer then gets SIGPIPE; seen in a cold CI run)
  local help; help=$("$out.tmp/metallb-$c" --help 2>&1 || true)
  grep -q -- "$flag" <<<"$help" || { echo "metallb-$c: no $flag flag?" >&2; exit 1; }
  rm -rf "$out"; mv "$out.tmp" "$out"
}
build_metallb() { build_metallb_component controller -lb-class; }
build_metallb_speaker() { build_metallb_component speaker -ml-bindaddr; }

# --------------------------------------------------------------------------------------------------
# The OpenTelemetry Collector (issue 18): a main.go of ours (OTLP receiver, an OTLP/JSON file exporter)
# against the Collector's modules pinned by e2e/otelcol/go.mod (OTELCOL_VERSION). The binary's directory
# carries a stamp of the sources, so a change of e2e/otelcol/ rebuilds it.
OTELCOL_SRC="$HERE/otelcol"
otelcol_stamp() { cat "$OTELCOL_SRC/main.go" "$OTELCOL_SRC/go.mod" "$OTELCOL_SRC/go.sum" | sha256sum | cut -c1-16; }
have_otelcol() {
  have otelcol-ferrolb "$OTELCOL_VERSION" &&
    [ "$(cat "$BIN_ROOT/otelcol-ferrolb-$OTELCOL_VERSION/source.stamp" 2>/dev/null)" = "$(otelcol_stamp)" ]
}
build_otelcol() {
  local w="$SRC_ROOT/otelcol-ferrolb-$OTELCOL_VERSION" out="$BIN_ROOT/otelcol-ferrolb-$OTELCOL_VERSION"
  grep -q "go.opentelemetry.io/collector/otelcol $OTELCOL_VERSION\$" "$OTELCOL_SRC/go.mod" ||
    { echo "e2e/otelcol/go.mod does not require go.opentelemetry.io/collector/otelcol $OTELCOL_VERSION" >&2; exit 1; }
  rm -rf "$w"; mkdir -p "$w" "$out.tmp"
  cp "$OTELCOL_SRC/main.go" "$OTELCOL_SRC/go.mod" "$OTELCOL_SRC/go.sum" "$w/"
  (
    cd "$w"
    go build -ldflags "-s -w -X main.version=$OTELCOL_VERSION" -o "$out.tmp/otelcol-ferrolb" .
  )
  "$out.tmp/otelcol-ferrolb" --version >&2
  otelcol_stamp >"$out.tmp/source.stamp"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# --------------------------------------------------------------------------------------------------
# Flux's source-controller and kustomize-controller (issue 21). Each main module has replace
# directives (`./api`, a go-digest commit with BLAKE3, kustomize pins), so `go install mod@v` refuses
# it; a scratch module requiring it builds it, with upstream's non-local replaces copied so the
# dependency versions are upstream's own. The CRDs come from the module zip (config/crd/bases).
build_flux_component() { # build_flux_component source|kustomize VERSION
  local c=$1 v=$2 gomod d r
  local mod="github.com/fluxcd/$c-controller"
  local w="$SRC_ROOT/flux-$c-controller-$v" out="$BIN_ROOT/flux-$c-controller-$v"
  rm -rf "$w"; mkdir -p "$w" "$out.tmp"
  # `||`-chained: this runs under `timed`'s `||`, where `set -e` does not apply
  (
    cd "$w" || exit 1
    go mod init "ferrolb.local/flux-$c-build" >/dev/null 2>&1 || exit 1
    gomod=$(cd "$(mktemp -d)" && go mod download -json "$mod@$v" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
    [ -s "$gomod" ] || { echo "cannot download $mod@$v" >&2; exit 1; }
    # `replace a => b v` lines, single or inside a `replace ( ... )` block; `=> ./x` ones are skipped
    awk '/^replace \(/{b=1;next} b&&/^\)/{b=0;next} b{print;next} /^replace /{sub(/^replace /,"");print}' "$gomod" |
      sed -n 's#^[[:space:]]*\([^[:space:]]*\)[[:space:]]*=>[[:space:]]*\([^.[:space:]][^[:space:]]*\)[[:space:]]\{1,\}\(v[^[:space:]]*\).*#\1=\2@\3#p' |
      while read -r r; do go mod edit -replace="$r" || exit 1; done || exit 1
    go get -tool "$mod@$v" || exit 1
    go build -ldflags "-s -w" -o "$out.tmp/flux-$c-controller" "$mod" || exit 1
    d=$(go list -m -f '{{.Dir}}' "$mod") && [ -d "$d/config/crd/bases" ] || { echo "no CRDs in $mod@$v" >&2; exit 1; }
    cat "$d"/config/crd/bases/*.yaml >"$out.tmp/crds.yaml"
  ) || return 1
  local help; help=$("$out.tmp/flux-$c-controller" --help 2>&1 || true)
  grep -q -- "--watch-all-namespaces" <<<"$help" || { echo "flux-$c-controller: no --watch-all-namespaces flag?" >&2; return 1; }
  rm -rf "$out"; mv "$out.tmp" "$out"
}
build_flux_source() { build_flux_component source "$FLUX_SOURCE_VERSION"; }
build_flux_kustomize() { build_flux_component kustomize "$FLUX_KUSTOMIZE_VERSION"; }

# --------------------------------------------------------------------------------------------------
T0=$(date +%s)
log "cache: $CACHE  ($(go version))"
if have etcd "$ETCD_VERSION"; then log "etcd $ETCD_VERSION: cached"; else timed "etcd $ETCD_VERSION" build_etcd; fi
need_k8s=0
for c in "${K8S_CMDS[@]}"; do have "$c" "$K8S_VERSION" || need_k8s=1; done
if [ "$need_k8s" = 0 ]; then log "kubernetes $K8S_VERSION: cached"; else timed "kubernetes $K8S_VERSION (${K8S_CMDS[*]})" build_k8s; fi
if have kwok "$KWOK_VERSION"; then log "kwok $KWOK_VERSION: cached"; else timed "kwok $KWOK_VERSION" build_kwok; fi
if have metallb-controller "$METALLB_VERSION"; then log "metallb-controller $METALLB_VERSION: cached"; else timed "metallb-controller $METALLB_VERSION" build_metallb; fi
if have_otelcol; then log "otelcol-ferrolb $OTELCOL_VERSION: cached"; else timed "otelcol-ferrolb $OTELCOL_VERSION" build_otelcol; fi
if have flux-source-controller "$FLUX_SOURCE_VERSION"; then log "flux-source-controller $FLUX_SOURCE_VERSION: cached"; else timed "flux-source-controller $FLUX_SOURCE_VERSION" build_flux_source; fi
if have flux-kustomize-controller "$FLUX_KUSTOMIZE_VERSION"; then log "flux-kustomize-controller $FLUX_KUSTOMIZE_VERSION: cached"; else timed "flux-kustomize-controller $FLUX_KUSTOMIZE_VERSION" build_flux_kustomize; fi
if [ "$WITH_ML_SPEAKER" = 1 ]; then
  if have metallb-speaker "$METALLB_VERSION"; then log "metallb-speaker $METALLB_VERSION: cached"; else timed "metallb-speaker $METALLB_VERSION" build_metallb_speaker; fi
fi
if [ "$WITH_HELM" = 1 ]; then
  if have helm "$HELM_VERSION"; then log "helm $HELM_VERSION: cached"; else timed "helm $HELM_VERSION" build_helm; fi
fi
log "all done in $(($(date +%s) - T0))s; binaries under $BIN_ROOT"
