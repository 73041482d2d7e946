#!/usr/bin/env python3
"""Opens N idle TCP connections to HOST:PORT and holds them (issue 19: "20,000 idle
connections leave the speaker's memory bounded"). Sends nothing. Bounded: at most N
connections (and at most the hard fd limit less 64), each connect has a 2 s timeout, opening stops after --open-secs, the hold lasts
--hold-secs; every socket is closed at the end. Run it inside the rig namespace of the target
(e.g. `ip netns exec flb6-node-1 idle_conns.py 127.0.0.1 27472 20000`).

Prints one line: `idle opened=<n> failed=<n> closed_by_server=<n> open_at_end=<n>`, where
closed_by_server counts the sockets the server closed (EOF or reset) during the hold.

usage: idle_conns.py HOST PORT N [--open-secs S] [--hold-secs S]
"""
import resource
import select
import socket
import sys
import time


def main():
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    opts = dict(zip(sys.argv[4::2], sys.argv[5::2]))
    open_secs = float(opts.get("--open-secs", "60"))
    hold_secs = float(opts.get("--hold-secs", "30"))
    n = min(n, 25000)
    # fds: N sockets + a few; the soft limit is raised up to the hard one (run several
    # processes for more connections than that allows).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    n = min(n, hard - 64)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, hard))
    socks, failed = [], 0
    deadline = time.monotonic() + open_secs
    while len(socks) + failed < n and time.monotonic() < deadline:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect((host, port))
            s.setblocking(False)
            socks.append(s)
        except OSError:
            failed += 1
            s.close()
    print(f"idle opening done: opened={len(socks)} failed={failed}", flush=True)
    closed = set()
    ep = select.epoll(sizehint=len(socks) + 1)
    for s in socks:
        ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
    by_fd = {s.fileno(): s for s in socks}
    end = time.monotonic() + hold_secs
    while time.monotonic() < end:
        for fd, _ in ep.poll(timeout=max(0.0, min(1.0, end - time.monotonic()))):
            if fd in closed:
                continue
            try:
                data = by_fd[fd].recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                closed.add(fd)
                ep.unregister(fd)
    open_at_end = len(socks) - len(closed)
    for s in socks:
        s.close()
    print(
        f"idle opened={len(socks)} failed={failed} closed_by_server={len(closed)} "
        f"open_at_end={open_at_end}",
        flush=True,
    )


if __name__ == "__main__":
    main()
