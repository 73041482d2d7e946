#!/usr/bin/env bash
# hack/deny.sh — supply-chain checks with cargo-deny (deny.toml): licenses, bans (no OpenSSL, no
# wildcard versions) and sources (crates.io only), all offline. Advisories are skipped: the
# RustSec database lives on GitHub, which these machines cannot reach; `hack/deny.sh advisories`
# runs them where it can be fetched.
#
# cargo-deny is installed once, pinned, under $FERROLB_CACHE/cargo-deny (cached like cargo-fuzz).
#
#   hack/deny.sh                 licenses bans sources
#   hack/deny.sh advisories      (needs network access to github.com)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export FERROLB_CACHE=${FERROLB_CACHE:-$HOME/.cache/ferrolb}
CARGO_DENY_VERSION=0.20.2
ROOT_DIR=$FERROLB_CACHE/cargo-deny
export PATH=$ROOT_DIR/bin:$PATH
if ! cargo-deny --version 2>/dev/null | grep -qx "cargo-deny $CARGO_DENY_VERSION"; then
  echo "deny: installing cargo-deny $CARGO_DENY_VERSION into $ROOT_DIR"
  # Its own target directory: the install's dependencies are not ferrolb's.
  CARGO_TARGET_DIR=$FERROLB_CACHE/target-tools cargo install cargo-deny --locked \
    --version "$CARGO_DENY_VERSION" --root "$ROOT_DIR"
  rm -rf "$FERROLB_CACHE/target-tools"
fi
checks=("$@")
[ "${#checks[@]}" -eq 0 ] && checks=(licenses bans sources)
cd "$ROOT"
cargo deny --locked --offline check --hide-inclusion-graph "${checks[@]}"
