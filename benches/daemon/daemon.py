#!/usr/bin/env python3
"""Process-level benchmarks of the daemon (issue 2's targets), printed as a Markdown table.

- start to ready: spawn -> READY=1 on our own NOTIFY_SOCKET -> first `/health` 200
- idle RSS after start (VmRSS of the process, median of several starts)
- `/health` throughput with wrk at 32 connections (when wrk is installed)
- stripped aarch64 release binary size (when it has been built)

Usage: benches/daemon/daemon.py --bin target/release/identity-box [--aarch64 PATH] [--runs N]
Nothing here asserts: the figures go into BENCHMARKS.md with this command.
"""
import argparse
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time


def start(binary, data_dir, notify_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)
    sock.settimeout(60)
    env = dict(os.environ, NOTIFY_SOCKET=notify_path, RUST_LOG="warn",
               IDENTITY_BOX_MDNS__ENABLED="false")  # measure the box, not mDNS
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [binary, "serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status = None
    while True:
        msg = sock.recv(4096).decode()
        for line in msg.splitlines():
            if line.startswith("STATUS="):
                status = line[len("STATUS="):]
        if "READY=1" in msg.splitlines():
            break
    t_ready = time.perf_counter() - t0
    sock.close()
    host, port = re.match(r"Serving on http://([\d.]+):(\d+)/", status).groups()
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", "/health")
    assert conn.getresponse().status == 200
    t_health = time.perf_counter() - t0
    conn.close()
    return proc, (host, int(port)), t_ready, t_health


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def stop(proc):
    proc.terminate()
    return proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--aarch64")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--wrk-seconds", type=int, default=10)
    args = ap.parse_args()

    readies, healths, rsses = [], [], []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            # Every other run starts on an existing data directory (the usual case after boot).
            data = os.path.join(tmp, "data")
            if i % 2 == 1:
                p, _, _, _ = start(args.bin, data, os.path.join(tmp, "n0"))
                stop(p)
            proc, addr, t_ready, t_health = start(args.bin, data, os.path.join(tmp, "n1"))
            readies.append(t_ready * 1000)
            healths.append(t_health * 1000)
            rsses.append(rss_kib(proc.pid) / 1024)
            stop(proc)

    rows = [
        ("start to READY=1 (ms, median of %d)" % args.runs, "%.1f" % statistics.median(readies), "-"),
        ("start to /health 200 (ms, median; max %.1f)" % max(healths), "%.1f" % statistics.median(healths), "<= 100"),
        ("idle RSS after start (MiB, median; max %.1f)" % max(rsses), "%.1f" % statistics.median(rsses), "<= 15"),
    ]

    if shutil.which("wrk"):
        with tempfile.TemporaryDirectory() as tmp:
            proc, (host, port), _, _ = start(args.bin, os.path.join(tmp, "d"), os.path.join(tmp, "n"))
            out = subprocess.run(
                ["wrk", "-t2", "-c32", "-d%ds" % args.wrk_seconds, f"http://{host}:{port}/health"],
                capture_output=True, text=True, check=True).stdout
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
            non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            rows.append(("/health req/s, wrk -t2 -c32 -d%ds%s" % (
                args.wrk_seconds, ", %s non-2xx!" % non2xx.group(1) if non2xx else ""),
                "%.0f" % rps, ">= 20000"))
            rows.append(("RSS after the wrk run (MiB)", "%.1f" % (rss_kib(proc.pid) / 1024), "-"))
            stop(proc)

    if args.aarch64 and os.path.exists(args.aarch64):
        size = os.path.getsize(args.aarch64) / (1024 * 1024)
        rows.append(("stripped aarch64 release binary (MiB)", "%.2f" % size, "<= 12"))

    print("| measure | result | target |")
    print("|---|---|---|")
    for r in rows:
        print("| %s | %s | %s |" % r)


if __name__ == "__main__":
    main()
