#!/usr/bin/env bash
# hack/cp-vip-rss.sh BINARY [SECONDS] [EXTRA FLAGS...]: resident memory of `ferrolb-speaker control-plane`
# as the VIP owner (BENCHMARKS.md "Control-plane VIP"): a network namespace of its own with a veth
# eth0, `openssl s_server -WWW` serving /readyz over TLS (a throwaway CA; the name kubernetes),
# the speaker probing it every 200 ms with one dead peer; prints VmRSS/RssAnon/RssFile/Threads
# after SECONDS (default 20). Needs root, iproute2, openssl. Set TOKIO_WORKER_THREADS=N to see
# a multi-thread runtime on an N-core node. Traffic stays inside the namespace.
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,7p "$0"; exit 2; }
BIN=$1; SECS=${2:-20}
NS=ferrolb-cp-vip-rss
D=$(mktemp -d)
SRV='' SP=''
cleanup() {
  [ -z "$SP" ] || kill "$SP" 2>/dev/null || true
  [ -z "$SRV" ] || kill "$SRV" 2>/dev/null || true
  sleep 0.3; ip netns del "$NS" 2>/dev/null || true; rm -rf "$D"
}
trap cleanup EXIT
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add eth0 type veth peer name eth0p; ip -n "$NS" link set eth0p up
ip -n "$NS" addr add 10.99.0.1/24 dev eth0
ip -n "$NS" link set eth0 up
cd "$D"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=cp-vip-rss-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out c.csr -subj /CN=kube-apiserver 2>/dev/null
printf 'subjectAltName=DNS:kubernetes,IP:127.0.0.1\n' > ext
openssl x509 -req -in c.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out c.pem -days 1 -extfile ext 2>/dev/null
mkdir www && printf ok > www/readyz
(cd www && exec ip netns exec "$NS" openssl s_server -quiet -accept 6443 -cert ../c.pem -key ../k.pem -WWW >/dev/null 2>&1) &
SRV=$!
echo "e2e-control-plane-vip-key-0123456789" > key
sleep 0.5
ip netns exec "$NS" "$BIN" control-plane --vip 10.99.0.99 --interface eth0 --host 10.99.0.1 --peers 10.99.0.1,10.99.0.2 \
  --heartbeat-key-file key --apiserver-url https://127.0.0.1:6443 --apiserver-ca-file ca.pem --log-format text --log-level info "${@:3}" > log 2>&1 &
SP=$!
sleep "$SECS"
echo "== $BIN"; grep -E 'VmRSS|VmHWM|Threads|RssAnon|RssFile' "/proc/$SP/status" | tr '\n' ' '; echo
echo "candidate: $(grep -c 'candidate for the VIP' log || true), VIP on eth0: $(ip -n "$NS" addr show eth0 | grep -c 10.99.0.99 || true)"
