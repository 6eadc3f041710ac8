#!/usr/bin/env python3
"""A bounded TCP download for the multi-WAN test.

  tcpdl.py serve PORT SECONDS           sends 1 KiB every 10 ms to each client, for SECONDS
  tcpdl.py get ADDR PORT SECONDS LOG    downloads until SECONDS are up; a connection that
                                        breaks or stalls for 1 s is counted and made again.
                                        LOG gets one line per event: "connect", "error REASON"
"""
import socket
import sys
import threading
import time


def serve(port, secs):
    end = time.time() + secs
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    s.settimeout(0.2)

    def feed(c):
        try:
            while time.time() < end:
                c.sendall(b"x" * 1024)
                time.sleep(0.01)
        except OSError:
            pass
        c.close()

    while time.time() < end:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        threading.Thread(target=feed, args=(c,), daemon=True).start()


def get(addr, port, secs, log):
    end = time.time() + secs
    with open(log, "a", buffering=1) as f:
        while time.time() < end:
            try:
                c = socket.create_connection((addr, port), timeout=1)
                f.write("connect\n")
                c.settimeout(1)
                while time.time() < end:
                    if not c.recv(65536):
                        raise OSError("closed by the server")
                c.close()
            except OSError as e:
                if time.time() < end:
                    f.write("error %s\n" % (e,))
                    time.sleep(0.1)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), float(sys.argv[3]))
    else:
        get(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
