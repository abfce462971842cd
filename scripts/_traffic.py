#!/usr/bin/env python3
"""Traffic scenarios for scripts/record_samples.sh (standard library only).

Each sub-command is one side of a small TCP or UDP conversation. Servers write
``--ready FILE`` once they listen, serve a fixed number of connections and
exit; every socket has a timeout and the whole program an alarm, so nothing
can hang the recording script.

    _traffic.py serve-http   --host 10.99.0.2 --port 8080 --size 20000
    _traffic.py http-client  --host 10.99.0.2 --port 8080
    _traffic.py serve-sink   --host 10.99.0.2 --port 5001 [--rcvbuf N --pause S --count N]
    _traffic.py bulk-client  --host 10.99.0.2 --port 5001 --size 1500000 [--delay S]
    _traffic.py serve-udp    --host 10.99.0.2 --port 5353 --count 4    # DNS-style answers
    _traffic.py udp-client   --host 10.99.0.2 --port 5353 --count 4    # DNS-style queries
    _traffic.py keepalive-client --host 10.99.0.2 --port 5002 --idle 4
    _traffic.py reuse-client --host 10.99.0.2 --port 8080 --sport 45000 --count 3
    _traffic.py reset-client --host 10.99.0.2 --port 8080 --closed-port 8081
    _traffic.py serve-post   --host 10.99.0.2 --port 8080            # HTTP POST sink
    _traffic.py post-client  --host 10.99.0.2 --port 8080 --size 152138 [--hold S --done FILE]
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import struct
import sys
import threading
import time

TIMEOUT = 10.0  # per socket operation


def log(msg: str) -> None:
    print(f"[{os.path.basename(sys.argv[0])} {sys.argv[1]}] {msg}", file=sys.stderr, flush=True)


def family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def ready(path: str | None) -> None:
    if path:
        with open(path + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(path + ".tmp", path)


def listener(host: str, port: int, rcvbuf: int = 0) -> socket.socket:
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf:
        # Set before listen() so accepted sockets inherit it (and the window
        # scale chosen in the handshake matches the small buffer).
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((host, port))
    s.listen(8)
    s.settimeout(TIMEOUT)
    return s


def connect(host: str, port: int, sport: int = 0, reuse: bool = False) -> socket.socket:
    s = socket.socket(family(host), socket.SOCK_STREAM)
    if reuse:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if sport:
        s.bind(("::" if family(host) == socket.AF_INET6 else "0.0.0.0", sport))
    s.settimeout(TIMEOUT)
    s.connect((host, port))
    return s


def recv_until(s: socket.socket, marker: bytes, limit: int = 65536) -> bytes:
    buf = b""
    while marker not in buf and len(buf) < limit:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def drain(s: socket.socket, limit: int = 1 << 30) -> int:
    """Read until EOF (or a reset); return the byte count."""
    n = 0
    try:
        while n < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            n += len(chunk)
    except ConnectionResetError:
        log("connection reset by peer")
    return n


def linger_abort(s: socket.socket) -> None:
    """close() that sends RST instead of FIN (SO_LINGER on, timeout 0)."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def body(size: int) -> bytes:
    line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-\n"
    return (line * (size // len(line) + 1))[:size]


# --- servers ---------------------------------------------------------------

def serve_each(a, handle) -> None:
    """Listen, then run ``handle(conn, peer)`` for each of --count connections;
    a peer that resets or goes away is logged, not fatal."""
    ls = listener(a.host, a.port)
    ready(a.ready)
    for _ in range(a.count):
        c, peer = ls.accept()
        c.settimeout(TIMEOUT)
        try:
            handle(c, peer)
        except (ConnectionResetError, BrokenPipeError) as exc:
            log(f"{peer}: {exc}")
        finally:
            c.close()
    ls.close()


def serve_http(a) -> None:
    """Read a request, send a response of --size bytes of body, then close."""
    def handle(c: socket.socket, peer) -> None:
        req = recv_until(c, b"\r\n\r\n")
        if not req:  # aborted before sending anything
            return
        data = body(a.size)
        conn = "keep-alive" if a.keep_open else "close"
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(data)}\r\nConnection: {conn}\r\n\r\n"
        ).encode()
        c.sendall(head + data)
        if not a.keep_open:
            c.shutdown(socket.SHUT_WR)  # "Connection: close": server FIN first
        drain(c)
        log(f"served {peer} {len(data)} bytes")

    serve_each(a, handle)


def serve_sink(a) -> None:
    """Accept --count connections (served in parallel); on each, optionally
    pause before reading, read to EOF, answer with the byte count, close."""
    ls = listener(a.host, a.port, a.rcvbuf)
    ready(a.ready)

    def one(c: socket.socket, peer) -> None:
        c.settimeout(TIMEOUT)
        try:
            if a.pause:
                time.sleep(a.pause)
            n = 0
            if a.slow_reads:
                # A few small reads with pauses: the window opens a little at a time.
                for _ in range(a.slow_reads):
                    chunk = c.recv(a.slow_size)
                    if not chunk:
                        break
                    n += len(chunk)
                    time.sleep(a.slow_delay)
            n += drain(c)
            c.sendall(f"OK {n}\n".encode())
            log(f"{peer}: received {n} bytes")
        except (ConnectionResetError, BrokenPipeError, socket.timeout) as exc:
            log(f"{peer}: {exc!r}")
        finally:
            c.close()

    workers = []
    for _ in range(a.count):
        c, peer = ls.accept()
        t = threading.Thread(target=one, args=(c, peer), daemon=True)
        t.start()
        workers.append(t)
    ls.close()
    for t in workers:
        t.join(TIMEOUT * 3)


def serve_post(a) -> None:
    """Read an HTTP POST (headers, then Content-Length bytes of body), answer
    with a short page, wait for the client to close, close."""
    def handle(c: socket.socket, peer) -> None:
        head = recv_until(c, b"\r\n\r\n")
        header, _, got = head.partition(b"\r\n\r\n")
        length = 0
        for line in header.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        n = len(got)
        while n < length:
            chunk = c.recv(65536)
            if not chunk:
                break
            n += len(chunk)
        page = f"<html><body>Received {n} bytes. Thank you.</body></html>\n".encode()
        c.sendall(("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                   f"Content-Length: {len(page)}\r\nConnection: close\r\n\r\n").encode() + page)
        drain(c)
        log(f"{peer}: POST of {n} bytes")

    serve_each(a, handle)


def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def dns_query(qid: int, name: str) -> bytes:
    """A standard query for NAME, type A, class IN (RFC 1035 wire format)."""
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + dns_name(name) + struct.pack("!HH", 1, 1)


def dns_answer(query: bytes, addr: str) -> bytes:
    """The response to QUERY: same question plus one A record for ADDR."""
    qid = struct.unpack("!H", query[:2])[0]
    question = query[12:]
    record = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(addr)
    return struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + record


def serve_udp(a) -> None:
    """Answer --count DNS-like queries (one A record each), then exit."""
    s = socket.socket(family(a.host), socket.SOCK_DGRAM)
    s.bind((a.host, a.port))
    s.settimeout(a.alarm)
    ready(a.ready)
    for _ in range(a.count):
        try:
            data, peer = s.recvfrom(2048)
        except socket.timeout:
            break
        if len(data) > 12:
            s.sendto(dns_answer(data, a.answer), peer)
    s.close()


# --- clients ---------------------------------------------------------------

def http_request(host: str, port: int, path: str = "/index.html") -> bytes:
    name = f"[{host}]" if ":" in host else host
    return (f"GET {path} HTTP/1.1\r\nHost: {name}:{port}\r\n"
            "User-Agent: pcapan-sample/1.0\r\nAccept: */*\r\n\r\n").encode()


def http_client(a) -> None:
    for i in range(a.count):
        s = connect(a.host, a.port)
        s.sendall(http_request(a.host, a.port, f"/file{i}.txt" if a.count > 1 else "/index.html"))
        n = drain(s)
        s.close()
        log(f"received {n} bytes")
        if a.gap:
            time.sleep(a.gap)


def bulk_client(a) -> None:
    time.sleep(a.delay)
    s = connect(a.host, a.port)
    chunk = body(65536)
    left = a.size
    while left > 0:
        n = s.send(chunk[: min(left, len(chunk))])
        left -= n
    s.shutdown(socket.SHUT_WR)
    reply = recv_until(s, b"\n")
    s.close()
    log(f"sent {a.size} bytes, server said {reply!r}")


def post_client(a) -> None:
    """Upload --size bytes of text in one HTTP POST, read the answer, close first."""
    s = connect(a.host, a.port)
    data = body(a.size)
    head = (f"POST /upload HTTP/1.1\r\nHost: {a.host}:{a.port}\r\nUser-Agent: pcapan-sample/1.0\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(data)}\r\n\r\n").encode()
    s.sendall(head + data)
    reply = recv_until(s, b"</html>")
    if a.done:
        open(a.done, "w").close()
    time.sleep(a.hold)
    s.close()
    log(f"posted {a.size} bytes, {len(reply)} bytes of answer")


def udp_client(a) -> None:
    s = socket.socket(family(a.host), socket.SOCK_DGRAM)
    s.settimeout(2.0)
    for i in range(a.first, a.first + a.count):
        s.sendto(dns_query(0x1000 + i, f"host{i}.pcapan.test"), (a.host, a.port))
        try:
            s.recvfrom(2048)
        except socket.timeout:
            log("no UDP answer")
        if a.gap:
            time.sleep(a.gap)
    s.close()


def keepalive_client(a) -> None:
    s = connect(a.host, a.port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 10)
    s.sendall(b"hello, then silence\n")
    time.sleep(a.idle)
    s.shutdown(socket.SHUT_WR)
    recv_until(s, b"\n")
    s.close()


def reuse_client(a) -> None:
    """Same source port for --count connections (server closes first, so the
    client never holds TIME_WAIT and can bind the port again)."""
    for i in range(a.count):
        s = connect(a.host, a.port, sport=a.sport, reuse=True)
        s.sendall(http_request(a.host, a.port, f"/again{i}"))
        n = drain(s)
        s.close()
        log(f"connection {i} from port {a.sport}: {n} bytes")
        time.sleep(a.gap)


def reset_client(a) -> None:
    # 1. SYN to a port nobody listens on: answered by RST/ACK.
    try:
        connect(a.host, a.closed_port).close()
        log("unexpected: closed port accepted")
    except ConnectionRefusedError:
        log(f"port {a.closed_port} refused (RST)")
    time.sleep(0.2)
    # 2. Real connection, some data both ways, then abort with RST.
    s = connect(a.host, a.port)
    s.sendall(http_request(a.host, a.port, "/abort"))
    got = recv_until(s, b"\r\n\r\n")
    time.sleep(0.05)
    linger_abort(s)
    log(f"aborted after {len(got)} bytes")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def add(name, fn, port=8080):
        p = sub.add_parser(name)
        p.add_argument("--host", required=True)
        p.add_argument("--port", type=int, default=port)
        p.add_argument("--count", type=int, default=1)
        p.add_argument("--gap", type=float, default=0.0, help="seconds between repetitions")
        p.add_argument("--ready", help="file to create once listening")
        p.add_argument("--alarm", type=int, default=60, help="hard limit for the whole run, seconds")
        p.set_defaults(fn=fn)
        return p

    p = add("serve-http", serve_http)
    p.add_argument("--size", type=int, default=20000)
    p.add_argument("--keep-open", action="store_true", help="do not send FIN; wait for the client to end")
    p = add("serve-sink", serve_sink, 5001)
    p.add_argument("--rcvbuf", type=int, default=0)
    p.add_argument("--pause", type=float, default=0.0, help="seconds before the first read")
    p.add_argument("--slow-reads", type=int, default=0)
    p.add_argument("--slow-size", type=int, default=1000)
    p.add_argument("--slow-delay", type=float, default=0.2)
    p = add("serve-udp", serve_udp, 5353)
    p.add_argument("--answer", default="10.99.0.2", help="address in the A records")
    add("http-client", http_client)
    p = add("bulk-client", bulk_client, 5001)
    p.add_argument("--size", type=int, default=4_000_000)
    p.add_argument("--delay", type=float, default=0.0, help="seconds to wait before connecting")
    p = add("udp-client", udp_client, 5353)
    p.add_argument("--first", type=int, default=0, help="number of the first query (ID and name)")
    p = add("keepalive-client", keepalive_client, 5002)
    p.add_argument("--idle", type=float, default=4.0)
    p = add("reuse-client", reuse_client)
    p.add_argument("--sport", type=int, default=45000)
    add("serve-post", serve_post)
    p = add("post-client", post_client)
    p.add_argument("--size", type=int, default=152138)
    p.add_argument("--hold", type=float, default=0.0, help="seconds to keep the connection open after the answer")
    p.add_argument("--done", help="file to create once the answer is read")
    p = add("reset-client", reset_client)
    p.add_argument("--closed-port", type=int, default=8081)

    a = ap.parse_args()
    signal.alarm(a.alarm)
    try:
        a.fn(a)
    except socket.timeout:
        log("timed out")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
