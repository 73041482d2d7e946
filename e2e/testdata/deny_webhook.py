#!/usr/bin/env python3
"""A minimal validating admission webhook for the rig self-test: denies objects whose name
starts with "deny-", allows everything else. Serves HTTPS on 127.0.0.1:PORT with the rig's
webhook cert (e2e/.run/pki/webhook.{crt,key}). Stops after --max-runtime seconds.

usage: deny_webhook.py PORT CERT KEY [--max-runtime S]
"""
import http.server
import json
import ssl
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        review = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        req = review.get("request", {})
        name = (req.get("object") or {}).get("metadata", {}).get("name", "") or req.get("name", "")
        allowed = not name.startswith("deny-")
        resp = {"uid": req.get("uid"), "allowed": allowed}
        if not allowed:
            resp["status"] = {"code": 403, "message": f"ferrolb-e2e webhook denies {name}"}
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("webhook: " + (fmt % args) + "\n")


def main():
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    max_runtime = float(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[4] == "--max-runtime" else 300.0
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Timer(max_runtime, srv.shutdown).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
