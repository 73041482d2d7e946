#!/usr/bin/env python3
"""l2probe: send an ARP request (or IPv6 Neighbor Solicitation) for a VIP every
--interval ms from inside a client netns; print one JSON line per reply
{"t_ns":..., "mac":...} and, at the end, a summary with each MAC's first/last
reply and the largest gap between replies (= failover outage).
Stdlib only; run as root:  ip netns exec CLIENT python3 l2probe.py eth0 10.0.0.100
Unlike ndisc6, any Neighbor Advertisement for the target counts, whatever its IPv6 source
(responders such as MetalLB's answer from their link-local address; ndisc6 only accepts
advertisements sourced from the target address itself).
(From the project's testbed reference, testbed-files/l2probe.py, validated there.)
"""
import argparse, ipaddress, json, os, select, socket, struct, sys, time

def mac_str(b): return ":".join(f"{x:02x}" for x in b)

def if_mac(ifname):
    with open(f"/sys/class/net/{ifname}/address") as f:
        return bytes.fromhex(f.read().strip().replace(":", ""))

def if_ipv4(ifname):
    import fcntl
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", ifname.encode()[:15]))  # SIOCGIFADDR
    return r[20:24]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ifname"); ap.add_argument("vip")
    ap.add_argument("--interval", type=float, default=10.0, help="ms between probes")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds to run (bounded)")
    a = ap.parse_args()
    vip = ipaddress.ip_address(a.vip)
    mymac = if_mac(a.ifname)
    if vip.version == 4:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
        s.bind((a.ifname, 0))
        myip = if_ipv4(a.ifname)
        frame = (b"\xff" * 6 + mymac + b"\x08\x06" +
                 struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mymac + myip + b"\x00" * 6 + vip.packed)
        send = lambda: s.send(frame)
        def parse(pkt):
            if len(pkt) < 42 or pkt[12:14] != b"\x08\x06": return None
            op = struct.unpack("!H", pkt[20:22])[0]
            if op == 2 and pkt[28:32] == vip.packed: return mac_str(pkt[22:28])
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, a.ifname.encode())
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
        snm = ipaddress.ip_address("ff02::1:ff00:0").packed[:13] + vip.packed[13:]
        ns = struct.pack("!BBHI", 135, 0, 0, 0) + vip.packed + b"\x01\x01" + mymac  # kernel fills checksum
        ifidx = socket.if_nametoindex(a.ifname)
        send = lambda: s.sendto(ns, (socket.inet_ntop(socket.AF_INET6, snm), 0, 0, ifidx))
        def parse(pkt):  # raw ICMPv6 socket: payload starts at ICMPv6 header
            if len(pkt) < 24 or pkt[0] != 136 or pkt[8:24] != vip.packed: return None
            opts = pkt[24:]
            while len(opts) >= 8 and opts[1]:
                if opts[0] == 2: return mac_str(opts[2:8])   # target link-layer address option
                opts = opts[opts[1] * 8:]
            return "no-tlla"
    end = time.monotonic() + a.duration
    nxt = time.monotonic()
    seen = {}; last_t = None; max_gap = (0, None, None); sent = 0
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= nxt:
            send(); sent += 1; nxt = now + a.interval / 1000.0
        r, _, _ = select.select([s], [], [], max(0.0, min(nxt, end) - time.monotonic()))
        if not r: continue
        pkt = s.recv(2048)
        mac = parse(pkt)
        if not mac: continue
        t = time.time_ns()
        print(json.dumps({"t_ns": t, "mac": mac}), flush=True)
        m = seen.setdefault(mac, {"first_ns": t, "last_ns": t, "replies": 0})
        m["last_ns"] = t; m["replies"] += 1
        if last_t is not None and t - last_t > max_gap[0]: max_gap = (t - last_t, last_t, t)
        last_t = t
    print(json.dumps({"summary": {"sent": sent, "macs": seen, "max_gap_ms": max_gap[0] / 1e6,
                                  "gap_from_ns": max_gap[1], "gap_to_ns": max_gap[2]}}), flush=True)

if __name__ == "__main__":
    main()
