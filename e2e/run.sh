#!/usr/bin/env bash
# run.sh — the e2e entry point (CI calls this): install what the rig needs, build the pinned
# upstream binaries (cached), start the rig, run the ferrolb-e2e tests, ALWAYS tear the rig down.
# Exit code = the tests' exit code (or non-zero when the rig could not be built/started).
#
#   e2e/run.sh [cargo test args after --, e.g. `-- d_traffic`]
#
# Env: FERROLB_CACHE (default ~/.cache/ferrolb: Go module/build caches, binaries),
#      CARGO_TARGET_DIR (default $FERROLB_CACHE/target), FERROLB_BUILD_HELM=1 to also build helm.
# Non-interactive (CI=true, no stdin). Needs root (network namespaces), Go >= 1.26, cargo.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export FERROLB_CACHE=${FERROLB_CACHE:-$HOME/.cache/ferrolb}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$FERROLB_CACHE/target}
export DEBIAN_FRONTEND=noninteractive
# ferrolb's binaries log JSON by default (as MetalLB); the tests read the text lines (fields as
# key=value, the RFC 3339 timestamp first), so every binary the tests start logs text.
export FERROLB_LOG_FORMAT=${FERROLB_LOG_FORMAT:-text}

log() { printf '[e2e/run %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
T_START=$(date +%s)
since() { echo "$(($(date +%s) - $1))s"; }

[ "$(id -u)" = 0 ] || { log "must run as root (network namespaces, iptables inside them)"; exit 1; }

# --- 1. Debian packages (skipped when all are present) ---------------------------------------------
PKGS=(iproute2 iptables nftables socat gobgpd frr bird2 curl jq python3 openssl conntrack arping ndisc6 shellcheck
  iputils-ping tcpdump procps util-linux kmod prometheus docker-registry)
missing=()
for p in "${PKGS[@]}"; do
  case "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" in *"install ok installed"*) ;; *) missing+=("$p") ;; esac
done
if [ ${#missing[@]} -gt 0 ]; then
  t=$(date +%s)
  log "installing Debian packages: ${missing[*]}"
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    # never let a package start its daemon (frr, bird, docker-registry) in the root namespace
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1
  fi
  apt_log=$(mktemp)
  rc=0
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } </dev/null >"$apt_log" 2>&1 || rc=$?
  [ "$made_policy" = 0 ] || rm -f /usr/sbin/policy-rc.d
  if [ "$rc" != 0 ]; then
    log "apt-get failed (exit $rc); last lines:"; tail -n 20 "$apt_log" >&2; rm -f "$apt_log"; exit 1
  fi
  rm -f "$apt_log"
  log "apt: $(since "$t")"
fi
command -v go >/dev/null || { log "Go is required to build the upstream binaries (Go >= 1.26)"; exit 1; }
command -v cargo >/dev/null || { log "cargo is required"; exit 1; }

# --- 2. upstream binaries, MetalLB's controller included (cached under $FERROLB_CACHE/bin) ------------
t=$(date +%s)
"$HERE/build-upstream.sh" </dev/null
log "build-upstream: $(since "$t")"

# FERROLB_E2E_PREPARE_ONLY=1: stop after installing packages and building (used by demo.sh).
if [ "${FERROLB_E2E_PREPARE_ONLY:-0}" = 1 ]; then exit 0; fi

# --- 3. compile the tests before starting the rig (the rig should not idle while rustc runs) ------
t=$(date +%s)
(cd "$ROOT" && cargo build -p ferrolb-operator </dev/null && cargo build -p ferrolb-webhook </dev/null && cargo build -p ferrolb-speaker -p ferrolb-net </dev/null && cargo test -p ferrolb-e2e --no-run </dev/null)
log "cargo build of ferrolb-e2e: $(since "$t")"

# --- 4. rig up, tests, rig down (always) ----------------------------------------------------------
# a rig left running by someone else (another checkout) keeps its instance; take a free one
FERROLB_E2E_INSTANCE=${FERROLB_E2E_INSTANCE:-$("$HERE/rig.sh" pick-instance)}
export FERROLB_E2E_INSTANCE
[ "$FERROLB_E2E_INSTANCE" = 0 ] || log "rig instance 0 is busy: using instance $FERROLB_E2E_INSTANCE"
RUN_DIR=$HERE/.run; [ "$FERROLB_E2E_INSTANCE" = 0 ] || RUN_DIR=$HERE/.run/i$FERROLB_E2E_INSTANCE
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$?
  log "tearing the rig down (logs stay in ${RUN_DIR:-$HERE/.run}/logs)"
  "$HERE/rig.sh" down </dev/null || rc=1
  log "total: $(since "$T_START"), exit $rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t=$(date +%s)
"$HERE/rig.sh" up </dev/null >/dev/null
log "rig up: $(since "$t")"
cat "$RUN_DIR/timings.txt" >&2 || true
# shellcheck disable=SC1091
. "$RUN_DIR/env"

t=$(date +%s)
rc=0
(cd "$ROOT" && FERROLB_E2E=1 cargo test -p ferrolb-e2e --no-fail-fast -- --test-threads=1 "$@" </dev/null) || rc=$?
log "tests: $(since "$t") (exit $rc)"
if [ "$rc" != 0 ]; then
  log "component log tails (full logs: $RUN_DIR/logs):"
  for f in "$RUN_DIR"/logs/*.log; do
    echo "----- $(basename "$f") -----" >&2; tail -n 8 "$f" >&2
  done
fi
exit "$rc"
