#!/usr/bin/env python3
"""Helpers of bench/record.sh (standard library only).

  record.py propagation --admin-token T --count N --out F R1 R2 R3
      Activates N directive sets through replica R1's admin API, one after the other, and
      after each measures how long until R2 and R3 both report the new directive set version
      in GET /admin/status (polled every 2 ms from one thread per replica).
  record.py report DIR
      Prints the summary of a results directory.
"""

import json
import os
import statistics
import sys
import threading
import time
import urllib.request

DIRECTIVE = """id = "BENCH-PROPAGATION"
title = "Propagation probe {n}"
authority = "bench/record.sh"
effective = "2026-01-01T00:00:00Z"
mode = "shadow"
models = ["bench-model"]
when = "principal.residence == \\"KP\\""
effect = "deny"
"""


def admin(method, url, token, body=None):
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def set_version(base, token):
    return admin("GET", f"http://{base}/admin/status", token)["replica"]["directive_set_version"]


def wait_for(base, token, version, started, result, index):
    while True:
        if set_version(base, token) >= version:
            result[index] = time.monotonic() - started
            return
        time.sleep(0.002)


def propagation(args):
    token = args[args.index("--admin-token") + 1]
    count = int(args[args.index("--count") + 1])
    out = args[args.index("--out") + 1]
    first, *others = [a for a in args if ":" in a]
    seconds = []
    for n in range(count):
        body = DIRECTIVE.format(n=n).encode()
        answer = admin("PUT", f"http://{first}/admin/directives/probe.toml", token, body)
        started = time.monotonic()
        version = answer["store_version"]
        result = [None] * len(others)
        threads = [threading.Thread(target=wait_for, args=(b, token, version, started, result, i))
                   for i, b in enumerate(others)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        if any(r is None for r in result):
            sys.exit(f"activation {n}: a replica did not pick up version {version} within 30 s")
        seconds.append(max(result))
    json.dump({"seconds": seconds}, open(out, "w"))


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def oha(path):
    data = json.load(open(path))
    summary = data["summary"]
    lat = data.get("latencyPercentiles", {})
    codes = data.get("statusCodeDistribution", {})
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    bad = sum(v for k, v in codes.items() if not k.startswith("2"))
    return {
        "rps": ok / summary["total"] if summary.get("total") else 0.0,
        "p50": lat.get("p50"),
        "p99": lat.get("p99"),
        "failed": bad + sum(data.get("errorDistribution", {}).values()),
    }


def report(directory):
    targets = ["direct", "after-answer-sqlite", "durable-sqlite", "durable-postgres"]
    rows = {}
    for t in targets:
        fixed = [oha(os.path.join(directory, f)) for f in sorted(os.listdir(directory))
                 if f.startswith(f"fixed-{t}-r")]
        peak = [oha(os.path.join(directory, f)) for f in sorted(os.listdir(directory))
                if f.startswith(f"max-{t}-r")]
        if not fixed:
            continue
        rows[t] = {
            "p50_us": statistics.mean(r["p50"] for r in fixed) * 1e6,
            "p99_us": statistics.mean(r["p99"] for r in fixed) * 1e6,
            "max_rps": statistics.mean(r["rps"] for r in peak) if peak else 0.0,
            "failed": sum(r["failed"] for r in fixed + peak),
        }
    d = rows.get("direct")
    print("Latency at a fixed rate (mean over rounds) and max throughput, same run:\n")
    print(f"{'target':22} {'p50 µs':>9} {'added':>9} {'p99 µs':>9} {'added':>9} {'max RPS':>9} {'% direct':>9} {'failed':>7}")
    for t, r in rows.items():
        added50 = r["p50_us"] - d["p50_us"] if d else 0
        added99 = r["p99_us"] - d["p99_us"] if d else 0
        share = r["max_rps"] / d["max_rps"] if d and d["max_rps"] else 0
        print(f"{t:22} {r['p50_us']:9.0f} {added50:+9.0f} {r['p99_us']:9.0f} {added99:+9.0f} "
              f"{r['max_rps']:9.0f} {share:9.0%} {r['failed']:7d}")
    base = rows.get("after-answer-sqlite")
    if base:
        print("\nDurable decision record against the previous release's after-the-answer write:")
        for t in ("durable-sqlite", "durable-postgres"):
            if t in rows:
                r = rows[t]
                print(f"  {t}: p50 {r['p50_us'] - base['p50_us']:+.0f} µs, p99 {r['p99_us'] - base['p99_us']:+.0f} µs, "
                      f"max RPS {r['max_rps'] / base['max_rps']:.0%} of the baseline's")
    prop = os.path.join(directory, "propagation.json")
    if os.path.exists(prop):
        s = json.load(open(prop))["seconds"]
        print(f"\nDirective propagation to the two other replicas ({len(s)} activations, under load):"
              f" p50 {pct(s, 50) * 1000:.0f} ms, p99 {pct(s, 99) * 1000:.0f} ms, max {max(s) * 1000:.0f} ms"
              f" (target: p99 ≤ 1000 ms)")
    rec = os.path.join(directory, "replicas-records.json")
    if os.path.exists(rec):
        r = json.load(open(rec))
        print(f"Three replicas at saturation, end to end: {r['records'] / r['seconds']:.0f} audit records/s"
              f" ({r['records']} records in {r['seconds']:.1f} s; two per request)")
    append = os.path.join(directory, "pg_append.txt")
    if os.path.exists(append):
        print("\nStore level, three concurrent writers on one database (pg_append):")
        print(open(append).read().strip())


if __name__ == "__main__":
    if sys.argv[1] == "propagation":
        propagation(sys.argv[2:])
    elif sys.argv[1] == "report":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)
