#!/usr/bin/env python3
"""TCP peers for natnow's end-to-end tests (bounded in time).

  tcp.py serve PORT SECONDS          accept connections, print "accepted N bytes B" at the end
  tcp.py send HOST PORT SECONDS      stream 1 KiB every 10 ms, print "sent B" (exit 1 on a reset)
  tcp.py connect HOST PORT SPORT T   connect from a fixed source port, retrying SYNs as the
                                     kernel does; print "connected MS" or "failed REASON"
"""
import socket
import sys
import time


def serve(port, seconds):
    s = socket.socket(socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", port))
    s.listen(8)
    s.settimeout(0.1)
    end = time.time() + seconds
    conns, accepted, total = [], 0, 0
    while time.time() < end:
        try:
            c, _ = s.accept()
            c.setblocking(False)
            conns.append(c)
            accepted += 1
        except socket.timeout:
            pass
        for c in list(conns):
            try:
                d = c.recv(65536)
                if not d:
                    conns.remove(c)
                total += len(d)
            except BlockingIOError:
                pass
            except OSError:
                conns.remove(c)
    print(f"accepted {accepted} bytes {total}", flush=True)


def send(host, port, seconds):
    c = socket.create_connection((host, port), timeout=3)
    end = time.time() + seconds
    sent = 0
    try:
        while time.time() < end:
            c.sendall(b"n" * 1024)
            sent += 1024
            time.sleep(0.01)
        c.shutdown(socket.SHUT_WR)
    except OSError as e:
        print(f"sent {sent} error {e}", flush=True)
        sys.exit(1)
    print(f"sent {sent}", flush=True)


def connect(host, port, sport, timeout):
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind(("", sport))
    c.settimeout(timeout)
    t = time.time()
    try:
        c.connect((host, port))
        print(f"connected {int((time.time() - t) * 1000)}", flush=True)
    except OSError as e:
        print(f"failed {e}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(int(sys.argv[2]), float(sys.argv[3]))
    elif cmd == "send":
        send(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "connect":
        connect(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    else:
        sys.exit(__doc__)
