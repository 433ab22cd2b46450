#!/usr/bin/env python3
"""Connection-limit figures for README/issue 13 (loopback only; standard library only).

  connections.py streams ADDR PID N      one connection opening N header-only calls
  connections.py idle ADDR N WAIT        N connections that send the preface, then idle
  connections.py fdlimit ADDR PID N      N idle connections, then CPU use and a new call

ADDR is host:port of the gRPC port, PID the server's process id.
"""
import os, socket, struct, subprocess, sys, time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def open_call(stream):
    block = b""
    for name, value in [(":method", "POST"), (":scheme", "http"),
                        (":path", "/shortcuts.v1.ShortcutService/ListShortcuts"),
                        (":authority", "localhost"), ("content-type", "application/grpc"),
                        ("te", "trailers")]:
        block += bytes([0, len(name)]) + name.encode() + bytes([len(value)]) + value.encode()
    return frame(1, 4, stream, block)


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024


def cpu_s(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connect(addr):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)))
    s.sendall(PREFACE)
    return s


def streams(addr, pid, n):
    print(f"RSS before: {rss_mb(pid):.0f} MB")
    s = connect(addr)
    s.settimeout(0.2)
    refused = 0
    buf = b""
    for start in range(0, n, 500):
        s.sendall(b"".join(open_call(1 + 2 * i) for i in range(start, min(n, start + 500))))
        try:
            while True:
                data = s.recv(1 << 16)
                if not data:
                    break
                buf += data
        except socket.timeout:
            pass
    deadline = time.time() + 3
    while time.time() < deadline:
        try:
            data = s.recv(1 << 16)
            if not data:
                break
            buf += data
        except socket.timeout:
            pass
    i = 0
    while i + 9 <= len(buf):
        length = int.from_bytes(buf[i:i + 3], "big")
        if buf[i + 3] == 3 and buf[i + 9:i + 13] == b"\x00\x00\x00\x07":
            refused += 1
        i += 9 + length
    print(f"opened {n} calls; refused (REFUSED_STREAM): {refused}; RSS with them open: {rss_mb(pid):.0f} MB")
    s.close()
    time.sleep(3)
    print(f"RSS 3 s after closing: {rss_mb(pid):.0f} MB")


def idle(addr, n, wait):
    conns = [connect(addr) for _ in range(n)]
    time.sleep(wait)
    open_ = 0
    for s in conns:
        s.setblocking(False)
        try:
            while True:
                data = s.recv(1 << 16)
                if not data:
                    break
        except BlockingIOError:
            open_ += 1
        except OSError:
            pass
    print(f"{n} idle connections, after {wait} s: {open_} still open")


def fdlimit(addr, pid, n):
    conns = []
    for _ in range(n):
        conns.append(connect(addr))
    time.sleep(2)
    before, t0 = cpu_s(pid), time.time()
    time.sleep(5)
    share = (cpu_s(pid) - before) / (time.time() - t0)
    print(f"{n} idle connections: server CPU {share * 100:.0f}% of a core")
    t0 = time.time()
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "30",
                          "--http2-prior-knowledge", "-X", "POST", "-H", "content-type: application/grpc",
                          "-H", "te: trailers", "--data-binary", "@-",
                          f"http://{addr}/grpc.health.v1.Health/Check"],
                         input=b"\x00\x00\x00\x00\x00", capture_output=True)
    print(f"a new client's health check: HTTP {out.stdout.decode() or 'none'} after {time.time() - t0:.2f} s")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "streams":
        streams(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "idle":
        idle(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif mode == "fdlimit":
        fdlimit(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
