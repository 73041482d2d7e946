#!/usr/bin/env bash
# hack/fuzz-smoke.sh — a short coverage-guided run of every cargo-fuzz target (FUZZING.md).
#
# Builds every target of every fuzz workspace (bgp/fuzz, bfd/fuzz, l2/fuzz, api/fuzz,
# webhook/fuzz: each its own cargo workspace, excluded from ferrolb's) with cargo-fuzz on the
# nightly toolchain, then runs each for FUZZ_SMOKE_SECS seconds (default 10) from its committed
# seed corpus (<crate>/fuzz/corpus/<target>, read-only: new inputs go to a scratch directory).
# Fails on the first build failure or crash (libFuzzer leaves the input in
# <crate>/fuzz/artifacts/<target>/; reproduce with `cargo +nightly fuzz run -s none <target> <file>`).
#
# cargo-fuzz is installed once under $FERROLB_CACHE/cargo-fuzz (cached by CI). Without a nightly
# toolchain (and no way to install one) the step is skipped with a message, exit 0.
#
#   hack/fuzz-smoke.sh                 every target, 10 s each
#   FUZZ_SMOKE_SECS=60 hack/fuzz-smoke.sh
#   hack/fuzz-smoke.sh l2 api          only these workspaces
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export FERROLB_CACHE=${FERROLB_CACHE:-$HOME/.cache/ferrolb}
SECS=${FUZZ_SMOKE_SECS:-10}
# The fuzz workspaces share one target directory (their dependencies build once), except
# bfd: cargo-fuzz finds a binary by name, and bgp and bfd both have `session`.
TARGET_BASE=${CARGO_TARGET_DIR:-$FERROLB_CACHE/target}/fuzz
# A smoke run finds crashes on the committed seeds and what 10 s of mutation reaches; it does not
# need optimised code. The dev profile (`--dev`: no optimisation, debug assertions on) builds the
# instrumented dependencies far faster from cold (kube, k8s-openapi, serde_yaml for the webhook and
# api targets), which is what a cold CI run pays. Long campaigns (FUZZING.md) use the release
# default; FUZZ_SMOKE_PROFILE=release makes this script do the same.
FUZZ_FLAGS=(-s none --dev)
[ "${FUZZ_SMOKE_PROFILE:-dev}" = release ] && FUZZ_FLAGS=(-s none)
CARGO_FUZZ_ROOT=$FERROLB_CACHE/cargo-fuzz
WORKSPACES=(bgp bfd l2 api webhook)
[ "$#" -gt 0 ] && WORKSPACES=("$@")

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz-smoke: no nightly toolchain; trying rustup toolchain install nightly --profile minimal"
  if ! rustup toolchain install nightly --profile minimal || ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz-smoke: SKIPPED — no nightly toolchain available (cargo-fuzz needs nightly)"
    exit 0
  fi
fi
export PATH=$CARGO_FUZZ_ROOT/bin:$PATH
if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz-smoke: installing cargo-fuzz into $CARGO_FUZZ_ROOT"
  cargo install cargo-fuzz --locked --root "$CARGO_FUZZ_ROOT"
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
start=$(date +%s)
for ws in "${WORKSPACES[@]}"; do
  cd "$ROOT/$ws"
  td=$TARGET_BASE/shared
  [ "$ws" = bfd ] && td=$TARGET_BASE/bfd
  echo "==> fuzz build $ws/fuzz"
  cargo +nightly fuzz build "${FUZZ_FLAGS[@]}" --target-dir "$td"
  for t in $(cargo +nightly fuzz list); do
    mkdir -p "$scratch/$ws-$t"
    seeds=()
    [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
    printf '==> fuzz run %s/%s (%ss): ' "$ws" "$t" "$SECS"
    log=$scratch/$ws-$t.log
    if ! cargo +nightly fuzz run "${FUZZ_FLAGS[@]}" --target-dir "$td" "$t" "$scratch/$ws-$t" "${seeds[@]}" \
        -- -max_total_time="$SECS" -print_final_stats=1 >"$log" 2>&1; then
      echo "FAILED"
      tail -n 60 "$log"
      echo "fuzz-smoke: $ws/$t failed (crash input in $ROOT/$ws/fuzz/artifacts/$t/)" >&2
      exit 1
    fi
    # The last status line: executions, coverage, corpus.
    grep -E '^#[0-9]+' "$log" | tail -n 1 || echo "(no status line)"
  done
done
echo "fuzz-smoke: every target ran without a crash ($(($(date +%s) - start)) s)"
