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
# The whole suite runs as two shards on two rig instances at once (FERROLB_E2E_SHARDS=2, the
# default when no test filter is given): the tests mostly wait on timers, so two streams on the
# 2-core CI machine take ~half the wall time (BENCHMARKS.md "whole .ci/run"). Every test is
# instance-safe already (own namespaces, ports via Rig::host_port, netns prefix per instance).
# Shard B is the list below (the BGP, fault and control-plane files, ~half the run time); shard A
# is everything else, so a new test file lands in A. FERROLB_E2E_SHARDS=1: one rig, one stream.
SHARD_B=(bgp_faults faults_partitions faults_floods faults_takeover faults_listeners bgp_gr bgp bgp_rig bgp_bfd_peers faults_control_plane
  bgp_status faults_bgp bgp_bfd cp_vip otel)
shards=${FERROLB_E2E_SHARDS:-}
if [ -z "$shards" ]; then if [ $# = 0 ]; then shards=2; else shards=1; fi; fi
case "$shards" in 1 | 2) ;; *) log "FERROLB_E2E_SHARDS must be 1 or 2"; exit 2 ;; esac

# a rig left running by someone else (another checkout) keeps its instance; take a free one
FERROLB_E2E_INSTANCE=${FERROLB_E2E_INSTANCE:-$("$HERE/rig.sh" pick-instance)}
export FERROLB_E2E_INSTANCE
[ "$FERROLB_E2E_INSTANCE" = 0 ] || log "rig instance 0 is busy: using instance $FERROLB_E2E_INSTANCE"
run_dir() { if [ "$1" = 0 ]; then echo "$HERE/.run"; else echo "$HERE/.run/i$1"; fi; }
RUN_DIR=$(run_dir "$FERROLB_E2E_INSTANCE")
INSTANCE_B=
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$?
  [ -z "${shard_b_pid:-}" ] || kill -TERM -- "-$shard_b_pid" 2>/dev/null || true
  log "tearing the rig down (logs stay in ${RUN_DIR:-$HERE/.run}/logs)"
  "$HERE/rig.sh" down </dev/null || rc=1
  if [ -n "$INSTANCE_B" ]; then
    FERROLB_E2E_INSTANCE=$INSTANCE_B "$HERE/rig.sh" down </dev/null || rc=1
  fi
  log "total: $(since "$T_START"), exit $rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t=$(date +%s)
"$HERE/rig.sh" up </dev/null >/dev/null
log "rig up: $(since "$t")"
cat "$RUN_DIR/timings.txt" >&2 || true
if [ "$shards" = 2 ]; then
  t=$(date +%s)
  if INSTANCE_B=$("$HERE/rig.sh" pick-instance "$FERROLB_E2E_INSTANCE") &&
    FERROLB_E2E_INSTANCE=$INSTANCE_B "$HERE/rig.sh" up </dev/null >/dev/null; then
    log "second rig (instance $INSTANCE_B, shard B) up: $(since "$t")"
  else
    log "no second rig: shard B runs after shard A on instance $FERROLB_E2E_INSTANCE"
    [ -z "$INSTANCE_B" ] || FERROLB_E2E_INSTANCE=$INSTANCE_B "$HERE/rig.sh" down </dev/null || true
    INSTANCE_B=
  fi
fi

# the cargo test target selections of the two shards
b_args=(); a_args=(--lib --bins)
for f in "$HERE"/tests/*.rs; do
  name=$(basename "$f" .rs)
  case " ${SHARD_B[*]} " in *" $name "*) b_args+=(--test "$name") ;; *) a_args+=(--test "$name") ;; esac
done
# runs `cargo test -p ferrolb-e2e <selection> -- <libtest args>` against the rig instance $1
run_tests() {
  local inst=$1; shift
  local dir; dir=$(run_dir "$inst")
  (
    # shellcheck disable=SC1091 # the instance's KUBECONFIG, FERROLB_E2E_INSTANCE, ports, ...
    . "$dir/env"
    cd "$ROOT" && FERROLB_E2E=1 cargo test -p ferrolb-e2e --no-fail-fast "$@" </dev/null
  )
}

t=$(date +%s)
rc=0
if [ "$shards" = 1 ]; then
  run_tests "$FERROLB_E2E_INSTANCE" -- --test-threads=1 "$@" || rc=$?
else
  shard_b_log=$RUN_DIR/logs/shard-b.log
  shard_b_pid=
  if [ -n "$INSTANCE_B" ]; then
    set -m # its own process group, so that cleanup can stop all of it
    run_tests "$INSTANCE_B" "${b_args[@]}" -- --test-threads=1 "$@" >"$shard_b_log" 2>&1 &
    shard_b_pid=$!
    set +m
    log "shard B (${SHARD_B[*]}) runs on instance $INSTANCE_B, output in $shard_b_log (printed at its end)"
  fi
  run_tests "$FERROLB_E2E_INSTANCE" "${a_args[@]}" -- --test-threads=1 "$@" || rc=$?
  run_tests "$FERROLB_E2E_INSTANCE" --doc -- --test-threads=1 "$@" || rc=$?
  log "shard A: $(since "$t") (exit $rc)"
  if [ -n "$shard_b_pid" ]; then
    rc_b=0; wait "$shard_b_pid" || rc_b=$?
    shard_b_pid=
    log "shard B (instance $INSTANCE_B): $(since "$t") (exit $rc_b); its output:"
    cat "$shard_b_log"
  else
    rc_b=0; run_tests "$FERROLB_E2E_INSTANCE" "${b_args[@]}" -- --test-threads=1 "$@" || rc_b=$?
  fi
  [ "$rc_b" = 0 ] || rc=$rc_b
fi
log "tests: $(since "$t") (exit $rc)"
if [ "$rc" != 0 ]; then
  for inst in "$FERROLB_E2E_INSTANCE" $INSTANCE_B; do
    log "component log tails of instance $inst (full logs: $(run_dir "$inst")/logs):"
    for f in "$(run_dir "$inst")"/logs/*.log; do
      echo "----- $(basename "$f") -----" >&2; tail -n 8 "$f" >&2
    done
  done
fi
exit "$rc"
