#!/usr/bin/env python3
"""Report of bench/verifiable.sh (standard library only).

  verifiable.py DIR     prints the summary of a results directory: medians over rounds, the
                        per-round figures, and the ratios of checkpoints on / off.
"""

import json
import os
import re
import statistics
import sys


def oha(path):
    data = json.load(open(path))
    summary = data["summary"]
    lat = data.get("latencyPercentiles", {})
    codes = data.get("statusCodeDistribution", {})
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    bad = sum(v for k, v in codes.items() if not k.startswith("2"))
    return {
        "rps": ok / summary["total"] if summary.get("total") else 0.0,
        "p50": (lat.get("p50") or 0) * 1e6,
        "p99": (lat.get("p99") or 0) * 1e6,
        "failed": bad + sum(data.get("errorDistribution", {}).values()),
    }


def runs(directory, phase, target):
    pattern = re.compile(rf"^{phase}-{target}-r(\d+)\.json$")
    found = sorted((int(m.group(1)), f) for f in os.listdir(directory) if (m := pattern.match(f)))
    return [oha(os.path.join(directory, f)) for _, f in found]


NAMES = {"direct": "direct (floor)", "relay": "TCP relay (socat)", "off": "checkpoints off",
         "on": "checkpoints on", "witness": "on + witness"}


def latency(directory):
    rows = {}
    for t in NAMES:
        fixed, peak = runs(directory, "fixed", t), runs(directory, "max", t)
        if fixed:
            rows[t] = (fixed, peak)
    if not rows:
        return
    med = lambda rs, k: statistics.median(r[k] for r in rs) if rs else 0.0
    print("Latency at a fixed rate (latency-corrected) and max throughput; medians over rounds,")
    print("per-round values in brackets:\n")
    print(f"{'target':20} {'p50 µs':>8} {'p99 µs':>8} {'max RPS':>8} {'failed':>6}   rounds: p50 / p99 / RPS")
    for t, (fixed, peak) in rows.items():
        per = "; ".join(f"{f['p50']:.0f}/{f['p99']:.0f}/{p['rps']:.0f}" for f, p in zip(fixed, peak))
        failed = sum(r["failed"] for r in fixed + peak)
        print(f"{NAMES[t]:20} {med(fixed, 'p50'):8.0f} {med(fixed, 'p99'):8.0f} {med(peak, 'rps'):8.0f} {failed:6d}   [{per}]")
    if "off" in rows:
        off_f, off_p = rows["off"]
        print("\nAgainst checkpoints off (median of per-round ratios, same round):")
        for t in ("on", "witness"):
            if t not in rows:
                continue
            f, p = rows[t]
            r50 = statistics.median(a["p50"] / b["p50"] for a, b in zip(f, off_f))
            r99 = statistics.median(a["p99"] / b["p99"] for a, b in zip(f, off_f))
            d50 = statistics.median(a["p50"] - b["p50"] for a, b in zip(f, off_f))
            d99 = statistics.median(a["p99"] - b["p99"] for a, b in zip(f, off_f))
            rps = statistics.median(a["rps"] / b["rps"] for a, b in zip(p, off_p)) if p else 0
            print(f"  {NAMES[t]:16} p50 {r50:.2f}x ({d50:+.0f} µs)  p99 {r99:.2f}x ({d99:+.0f} µs)  max RPS {rps:.2f}x")
    for t in ("on", "witness"):
        path = os.path.join(directory, f"metrics-{t}.txt")
        if os.path.exists(path):
            lines = [l for l in open(path) if "checkpoint" in l and not l.startswith("#")]
            if lines:
                print(f"\n/metrics of '{NAMES[t]}' at the end (checkpoint lines):")
                print("".join("  " + l for l in lines[:12]).rstrip())


def verification(directory):
    store = os.path.join(directory, "verify-store.json")
    if not os.path.exists(store):
        return
    records = json.load(open(store))["records"]
    print(f"\nVerification of a store of {records} records written by a gateway (signing on):")
    start = os.path.join(directory, "verify-start.jsonl")
    if os.path.exists(start):
        rows = [json.loads(l) for l in open(start)]
        on = [r["seconds"] for r in rows if r["verify_at_start"] == "on"]
        off = [r["seconds"] for r in rows if r["verify_at_start"] == "off"]
        logged = []
        for r in rows:
            m = re.search(r"ms[=:\"\s]+(\d+)", r.get("line", ""))
            if m and r["verify_at_start"] == "on":
                logged.append(int(m.group(1)) / 1000)
        print(f"  start to listening, verify_at_start on : median {statistics.median(on):.2f} s  {[round(s, 2) for s in on]}")
        if off:
            print(f"  start to listening, verify_at_start off: median {statistics.median(off):.2f} s  {[round(s, 2) for s in off]}")
        if logged:
            m = statistics.median(logged)
            print(f"  the gateway's own figure ('audit trail verified', ms): median {m:.2f} s = "
                  f"{m / records * 1e6:.1f} µs/record, {records / m:,.0f} records/s  {logged}")
        elif off:
            d = statistics.median(on) - statistics.median(off)
            print(f"  difference: {d:.2f} s = {d / records * 1e6:.1f} µs/record")
    path = os.path.join(directory, "verify-runs.jsonl")
    if os.path.exists(path):
        rows = [json.loads(l) for l in open(path)]
        result = {}
        for how, name in (("tiles", "audit verify-log (tiles over HTTP)"), ("database", "audit verify (database)")):
            s = [r["seconds"] for r in rows if r["how"] == how]
            if s:
                result[how] = statistics.median(s)
                print(f"  {name:36} median {result[how]:.2f} s = {records / result[how]:>9,.0f} records/s  {[round(x, 2) for x in s]}")
        if len(result) == 2:
            print(f"  verify-log / verify (time): {result['tiles'] / result['database']:.2f}x")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    latency(sys.argv[1])
    verification(sys.argv[1])
