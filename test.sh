#!/usr/bin/env bash
# test.sh — ferrolb's whole test suite, exactly what CI (.ci/run) runs:
#   1. static checks: rustfmt, clippy -D warnings, generated CRDs up to date, cargo-deny
#      (licenses, bans, sources: hack/deny.sh);
#   2. unit and integration tests of every crate (`cargo test --workspace`), then a short
#      coverage-guided run of every cargo-fuzz target (hack/fuzz-smoke.sh: nightly; 10 s each);
#   3. container images: podman builds both, for amd64 and arm64 (a manifest list each), from
#      host-compiled static release binaries and runs them (hack/test-images.sh: --help works,
#      arm64 under qemu-user, each < 20 MB, non-root USER);
#   4. end-to-end tests on a real local cluster (e2e/run.sh: kube-apiserver, etcd,
#      kube-controller-manager, kwok, kube-proxy built from Go modules; nodes as network
#      namespaces; real GoBGP/FRR peers). Needs root; builds are cached under ~/.cache/ferrolb.
#   5. ferrolb on kind (e2e/kind/run.sh, docs/kind.md): a 1 + 3 node kind cluster on podman from the
#      node image built here (cached), the images of step 3 installed with the Helm chart, then on a
#      fresh cluster with the all-in-one manifest; the guide's L2 flow and a failover each; on the
#      first cluster also BGP against an FRR container (sessions, ECMP route, curl, failover). After
#      step 4 (the kind network 172.18.0.0/16 overlaps the rig's addresses); it deletes its clusters
#      and the network at the end.
#
#   ./test.sh            everything
#   ./test.sh --unit     steps 1-2 only (no root needed)
#   FERROLB_SKIP_IMAGES=1 ./test.sh   everything but step 3
#   FERROLB_SKIP_FUZZ=1 ./test.sh     everything but the fuzz smoke run
#   FERROLB_SKIP_KIND=1 ./test.sh     everything but step 5
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"
export FERROLB_CACHE=${FERROLB_CACHE:-$HOME/.cache/ferrolb}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$FERROLB_CACHE/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# A long-lived cache grows with every checkout's incremental state (44 GB once, filling the disk):
# past 20 GB the incremental directories go (dependencies stay; workspace crates rebuild).
if [ -d "$CARGO_TARGET_DIR" ] && [ "$(du -s --block-size=1G "$CARGO_TARGET_DIR" 2>/dev/null | cut -f1)" -gt 20 ]; then
  echo "cargo target $CARGO_TARGET_DIR is over 20 GB: removing its incremental directories"
  # Another cargo may be writing there right now (an e2e run sharing the cache): what cannot be
  # removed stays, and the run goes on.
  rm -rf "$CARGO_TARGET_DIR"/*/incremental 2>/dev/null ||
    echo "some incremental state is in use by another cargo: kept"
fi

unit_only=0
case "${1:-}" in
  --unit) unit_only=1 ;;
  "") ;;
  *) echo "usage: ./test.sh [--unit]" >&2; exit 2 ;;
esac

step() { printf '\n==> %s (%s)\n' "$*" "$(date +%H:%M:%S)"; }

# The e2e step's upstream Go builds (e2e/build-upstream.sh: etcd, Kubernetes, kwok, helm, MetalLB's
# controller, the OTel Collector; ~9 min cold, 0.03 s cached) start now, in the background at nice
# 5: the Rust steps leave a core idle for minutes (single-threaded fat-LTO links, test and fuzz
# runs), which the Go builds take (BENCHMARKS.md "whole .ci/run"). Only an optimisation: the e2e
# step calls build-upstream.sh again, which waits on its lock, skips what is built and builds (or
# reports) what is not. FERROLB_PREBUILD_UPSTREAM=0 turns it off.
prebuild_pid=
if [ "$unit_only" = 0 ] && [ "${FERROLB_PREBUILD_UPSTREAM:-1}" = 1 ] && command -v go >/dev/null; then
  mkdir -p "$FERROLB_CACHE/logs"
  prebuild_log="$FERROLB_CACHE/logs/prebuild-upstream.log"
  FERROLB_BUILD_HELM=${FERROLB_BUILD_HELM:-1} setsid -w nice -n 5 "$ROOT/e2e/build-upstream.sh" \
    </dev/null >"$prebuild_log" 2>&1 &
  prebuild_pid=$!
  echo "upstream Go builds started in the background (pid $prebuild_pid, log $prebuild_log)"
fi
# Step 5's node image is built in the background too (build-node-image.sh: debootstrap trees 130 s
# cold, mostly downloads and dpkg; kubelet, kubeadm, CoreDNS and pause from Go modules ~8 min cold,
# after the upstream builds above, whose lock it waits on; the assembly ~2 min; 0 s cached), so
# its Go builds also fill the cores the Rust steps leave idle. Before it, the FRR image of step 5's BGP
# phase (build-frr-image.sh: a debootstrap tree with Debian's frr, ~90 s cold, downloads and dpkg).
# Step 5 waits for both; if one failed, e2e/kind/run.sh builds (or reports) the image itself.
kind_prefetch=
if [ "$unit_only" = 0 ] && [ "${FERROLB_SKIP_KIND:-0}" != 1 ] && [ "$(id -u)" = 0 ] && command -v debootstrap >/dev/null; then
  mkdir -p "$FERROLB_CACHE/kind"
  # shellcheck disable=SC2016
  setsid -w nice -n 10 bash -c '"$1/build-frr-image.sh"; f=$?; "$1/build-node-image.sh" && exit "$f"' _ "$ROOT/e2e/kind" \
    </dev/null >"$FERROLB_CACHE/kind/prefetch.log" 2>&1 &
  kind_prefetch=$!
fi
# an early failure of this script must not leave them running (setsid: own process groups)
stop_background() {
  local p
  for p in $prebuild_pid $kind_prefetch; do kill -TERM -- "-$p" 2>/dev/null || true; done
}
trap stop_background EXIT

command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
for comp in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$comp" || rustup component add "$comp"
done

step "rustfmt"
cargo fmt --all -- --check
step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
step "generated CRDs match the code"
cargo run -q -p ferrolb-api --bin crdgen -- --check
hack/gen-manifests.sh --check   # config/manifests/ferrolb-native.yaml + chart copies (offline)
step "supply chain (cargo-deny: licenses, bans, sources; deny.toml)"
hack/deny.sh </dev/null
step "unit and integration tests"
cargo test --workspace </dev/null
if [ "${FERROLB_SKIP_FUZZ:-0}" = 1 ]; then
  echo "(FERROLB_SKIP_FUZZ=1: skipping the fuzz smoke run)"
else
  step "fuzz smoke run (cargo-fuzz, every target; FUZZING.md)"
  "$ROOT/hack/fuzz-smoke.sh" </dev/null
fi

if [ "$unit_only" = 1 ]; then
  echo "(--unit: skipping e2e)"
  exit 0
fi
if [ "${FERROLB_SKIP_IMAGES:-0}" = 1 ]; then
  echo "(FERROLB_SKIP_IMAGES=1: skipping the container images)"
else
  step "container images (podman; cargo profile image in \$FERROLB_CACHE/target-images)"
  "$ROOT/hack/test-images.sh" </dev/null
fi
if [ -n "$prebuild_pid" ]; then
  step "upstream Go builds (started in the background at the beginning)"
  if wait "$prebuild_pid"; then
    tail -n 3 "$prebuild_log"
  else
    echo "the background build-upstream.sh failed; the e2e step retries it. Its last lines:"
    tail -n 20 "$prebuild_log"
  fi
  prebuild_pid=
fi
step "end-to-end tests on the local rig"
# helm is part of the rig (the install test runs `helm upgrade --install` of charts/ferrolb).
export FERROLB_BUILD_HELM=${FERROLB_BUILD_HELM:-1}
"$ROOT/e2e/run.sh" </dev/null
if [ "${FERROLB_SKIP_KIND:-0}" = 1 ]; then
  echo "(FERROLB_SKIP_KIND=1: skipping kind)"
else
  # after e2e/run.sh, which always takes its rigs down: the kind network must not coexist with them
  step "ferrolb on kind (e2e/kind/run.sh: chart, then manifest; guide flow + failover; BGP vs FRR)"
  if [ -n "$kind_prefetch" ] && ! wait "$kind_prefetch"; then
    echo "(the background FRR or node image build failed, $FERROLB_CACHE/kind/prefetch.log: e2e/kind/run.sh retries it)"
  fi
  kind_prefetch=
  "$ROOT/e2e/kind/run.sh" </dev/null
fi
