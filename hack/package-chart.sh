#!/usr/bin/env bash
# hack/package-chart.sh — package charts/ferrolb for installing from a file or an OCI registry,
# with the rig's pinned Helm (e2e/versions.env; `e2e/build-upstream.sh --with-helm` builds it,
# or set HELM=/path/to/helm).
#
#   hack/package-chart.sh [OUT_DIR]                      lint + package into OUT_DIR (dist/)
#   hack/package-chart.sh [OUT_DIR] --push oci://REG/PATH [--plain-http]
#                                                        ... and push it to an OCI registry
#
# Then:   helm install ferrolb dist/ferrolb-<version>.tgz -n metallb-system --create-namespace
#   or:   helm install ferrolb oci://REG/PATH/ferrolb --version <version> -n metallb-system ...
# (e2e/tests/chart.rs `packaged_chart_from_file_and_oci_registry` does both against a real
# registry, Debian's docker-registry.)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC1091
. "$ROOT/e2e/versions.env"
CACHE=${FERROLB_CACHE:-$HOME/.cache/ferrolb}
HELM=${HELM:-$CACHE/bin/helm-$HELM_VERSION/helm}
OUT=dist
if [[ $# -gt 0 && $1 != --* ]]; then OUT=$1; shift; fi
PUSH=""
PUSH_ARGS=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --push) [[ $# -ge 2 ]] || { echo "package-chart: --push needs oci://REGISTRY/PATH" >&2; exit 2; }
            PUSH=$2; shift 2 ;;
    --plain-http) PUSH_ARGS+=(--plain-http); shift ;;
    *) echo "package-chart: unknown argument $1 (usage: hack/package-chart.sh [OUT_DIR] [--push oci://REG/PATH [--plain-http]])" >&2; exit 2 ;;
  esac
done
if [[ -n $PUSH && $PUSH != oci://* ]]; then
  echo "package-chart: --push wants an oci:// reference, got $PUSH" >&2; exit 2
fi
if [[ ! -x $HELM ]]; then
  echo "package-chart: no Helm at $HELM (e2e/build-upstream.sh --with-helm, or HELM=...)" >&2; exit 1
fi
mkdir -p "$OUT"
"$HELM" lint "$ROOT/charts/ferrolb" --kube-version 1.33.0 >/dev/null
pkg=$("$HELM" package "$ROOT/charts/ferrolb" --destination "$OUT" | sed -n 's/^Successfully packaged chart and saved it to: //p')
[[ -f $pkg ]] || { echo "package-chart: helm package wrote no archive" >&2; exit 1; }
echo "$pkg"
if [[ -n $PUSH ]]; then
  "$HELM" push "$pkg" "$PUSH" "${PUSH_ARGS[@]}"
fi
