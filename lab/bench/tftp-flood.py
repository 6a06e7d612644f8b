#!/usr/bin/env python3
"""The recovery TFTP server under a flood: descriptors it holds and the time a normal read
takes, before and during a flood from the phone's own address.

    HARNESS=target/debug/harness lab/bench/tftp-flood.py
    FLOOD=2000 READS=9 lab/bench/tftp-flood.py        (defaults)

Starts `harness bench tftp-serve` for bench t46g of lab/virtual.toml (a 1 MiB file), then:
  1. idle: the server's open descriptors and the median time of READS lock-step reads;
  2. FLOOD read requests asking `timeout 255`, each from a fresh port (the finding: each
     held a file and a socket for 9 x 255 s);
  3. FLOOD/10 reads that are never acknowledged, from ports kept open;
and after each flood the same two figures. Figures, not a test: speed is never asserted.
"""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HARNESS = os.environ.get("HARNESS", os.path.join(ROOT, "target", "debug", "harness"))
FLOOD = int(os.environ.get("FLOOD", "2000"))
READS = int(os.environ.get("READS", "9"))
PHONE = "127.0.0.46"
SIZE = 1024 * 1024


def rrq(name, *options):
    fields = [name, "octet", *options]
    return b"\x00\x01" + b"".join(f.encode() + b"\x00" for f in fields)


def read_once(server):
    """One lock-step read (512-byte blocks); seconds taken, or the TFTP error."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((PHONE, 0))
    s.settimeout(10)
    start = time.monotonic()
    s.sendto(rrq("T46G.rom"), server)
    got = 0
    try:
        while True:
            data, peer = s.recvfrom(2048)
            if data[:2] == b"\x00\x05":
                return "error %d %s" % (int.from_bytes(data[2:4], "big"), data[4:-1].decode())
            got += len(data) - 4
            s.sendto(b"\x00\x04" + data[2:4], peer)
            if len(data) - 4 < 512:
                break
    except socket.timeout:
        return "no answer within 10 s"
    finally:
        s.close()
    assert got == SIZE, got
    return time.monotonic() - start


def figures(server, pid, label):
    fds = len(os.listdir("/proc/%d/fd" % pid))
    results = [read_once(server) for _ in range(READS)]
    times = [r for r in results if isinstance(r, float)]
    errors = [r for r in results if not isinstance(r, float)]
    median = "%.1f ms" % (1000 * statistics.median(times)) if times else "-"
    print("%-44s %6d fds   median read %9s   %s" % (
        label, fds, median, ("; ".join(sorted(set(errors)))) if errors else "all served"))


def main():
    work = tempfile.mkdtemp(prefix="tftp-flood.")
    image = os.path.join(work, "T46G.rom")
    with open(image, "wb") as f:
        f.write(os.urandom(SIZE))
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = ("127.0.0.1", port)
    proc = subprocess.Popen(
        [HARNESS, "bench", "tftp-serve", "--lab", os.path.join(ROOT, "lab/virtual.toml"),
         "--bench", "t46g", "--file", image, "--bind", "127.0.0.1:%d" % port],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        print("harness: %s" % HARNESS)
        figures(server, proc.pid, "idle")

        sent = 0
        for i in range(FLOOD):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((PHONE, 0))
            s.sendto(rrq("T46G.rom", "timeout", "255"), server)
            s.close()
            sent += 1
        time.sleep(1.0)
        figures(server, proc.pid, "after %d reads asking timeout 255" % sent)

        holders = []
        for i in range(FLOOD // 10):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((PHONE, 0))
            s.sendto(rrq("T46G.rom"), server)
            holders.append(s)
        time.sleep(1.0)
        figures(server, proc.pid, "+ %d reads never acknowledged" % len(holders))
        for s in holders:
            s.close()
    finally:
        proc.terminate()
        proc.wait()
        os.remove(image)
        os.rmdir(work)


if __name__ == "__main__":
    sys.exit(main())
