#!/usr/bin/env python3
"""podagent.py - the rig's stand-in for a container runtime, one per node netns.

kwok makes Pods Running/Ready and gives them IPs from the node's podCIDR, but nothing listens
on those IPs. This agent polls the API server for the Pods bound to its node, puts each pod IP
on the netns loopback (as /32) and serves a tiny HTTP echo on every declared TCP containerPort
(port 80 when a container declares none):

    GET /clientip  -> "<client ip>:<client port>"   (like agnhost netexec /clientip)
    GET <anything> -> "<pod name>"                   (like agnhost /hostname)
    headers: X-Pod-Name, X-Pod-Namespace, X-Node-Name

hostNetwork Pods (e.g. ferrolb speakers) are skipped: they are real processes; so are Pods
annotated `e2e.ferrolb.io/kubelet: test` (real processes in the rig's host pod network whose
kubelet is the test itself, e.g. webhook replicas: `ferrolb_e2e::hostpods`).
Stdlib only. Stops on SIGTERM or after --max-runtime seconds.
"""
import argparse
import http.server
import json
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


class EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    pod = ("", "", "")  # name, namespace, node

    def do_GET(self):  # noqa: N802 (http.server naming)
        name, namespace, node = self.pod
        if self.path.startswith("/clientip"):
            host, port = self.client_address[0], self.client_address[1]
            if ":" in host:
                host = "[" + host + "]"
            body = f"{host}:{port}\n".encode()
        else:
            body = f"{name}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Pod-Name", name)
        self.send_header("X-Pod-Namespace", namespace)
        self.send_header("X-Node-Name", node)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):  # keep logs small
        pass


class Server6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def make_server(ip, port, pod):
    handler = type("H", (EchoHandler,), {"pod": pod})
    cls = Server6 if ":" in ip else http.server.ThreadingHTTPServer
    cls.allow_reuse_address = True
    cls.daemon_threads = True
    srv = cls((ip, port), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv


def ip_cmd(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def pod_ports(pod):
    ports = set()
    for c in pod.get("spec", {}).get("containers", []) or []:
        for p in c.get("ports", []) or []:
            if p.get("protocol", "TCP") == "TCP" and p.get("containerPort"):
                ports.add(int(p["containerPort"]))
    return ports or {80}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", required=True)
    ap.add_argument("--server", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--max-runtime", type=float, default=12 * 3600)
    a = ap.parse_args()

    ctx = ssl.create_default_context(cafile=a.ca)
    ctx.load_cert_chain(a.cert, a.key)
    sel = urllib.parse.quote(f"spec.nodeName={a.node}")
    url = f"{a.server}/api/v1/pods?fieldSelector={sel}"

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    servers = {}  # (ip, port) -> (server, pod-uid)
    addrs = set()  # pod IPs we put on lo
    deadline = time.monotonic() + a.max_runtime
    errors = 0
    log(f"podagent for {a.node}: polling {url}")
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
                items = json.load(r).get("items", [])
            errors = 0
        except Exception as e:  # API briefly unavailable: keep what we have
            errors += 1
            if errors in (1, 10) or errors % 100 == 0:
                log(f"list pods failed ({errors}x): {e}")
            stop.wait(1)
            continue

        want = {}  # (ip, port) -> (uid, (name, ns, node))
        for p in items:
            md, spec, st = p.get("metadata", {}), p.get("spec", {}), p.get("status", {})
            if spec.get("hostNetwork") or md.get("deletionTimestamp") or st.get("phase") != "Running":
                continue
            if (md.get("annotations") or {}).get("e2e.ferrolb.io/kubelet") == "test":
                continue
            ips = [x.get("ip") for x in st.get("podIPs", []) or [] if x.get("ip")] or (
                [st["podIP"]] if st.get("podIP") else [])
            for ip in ips:
                for port in pod_ports(p):
                    want[(ip, port)] = (md.get("uid"), (md.get("name", ""), md.get("namespace", ""), a.node))

        # stop servers that are gone or belong to a different pod now
        for key in list(servers):
            srv, uid = servers[key]
            if key not in want or want[key][0] != uid:
                srv.shutdown()
                srv.server_close()
                del servers[key]
                log(f"stopped {key[0]}:{key[1]}")
        want_ips = {ip for ip, _ in want}
        for ip in addrs - want_ips:
            plen = "128" if ":" in ip else "32"
            ip_cmd("addr", "del", f"{ip}/{plen}", "dev", "lo")
            log(f"removed {ip}")
        addrs &= want_ips
        for ip in want_ips - addrs:
            plen = "128" if ":" in ip else "32"
            r = ip_cmd("addr", "replace", f"{ip}/{plen}", "dev", "lo")
            if r.returncode != 0:
                log(f"ip addr add {ip} failed: {r.stderr.strip()}")
                continue
            addrs.add(ip)
            log(f"added {ip}")
        for key, (uid, pod) in want.items():
            if key in servers or key[0] not in addrs:
                continue
            try:
                servers[key] = (make_server(key[0], key[1], pod), uid)
                log(f"serving {pod[1]}/{pod[0]} on {key[0]}:{key[1]}")
            except OSError as e:
                log(f"cannot listen on {key[0]}:{key[1]}: {e}")
        stop.wait(a.interval)

    for srv, _ in servers.values():
        srv.shutdown()
        srv.server_close()
    for ip in addrs:
        ip_cmd("addr", "del", f"{ip}/{'128' if ':' in ip else '32'}", "dev", "lo")
    log("podagent stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
