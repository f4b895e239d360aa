"""Summary of bench/identity.sh: per caller kind (key, token), the fixed-rate p50 / p99
(median over rounds) and the max-throughput RPS (median over rounds), and the token/key ratios.
Usage: python3 bench/identity.py RESULTS_DIR"""

from __future__ import annotations

import glob
import json
import os
import statistics
import sys


def load(out: str, phase: str, who: str) -> list[dict]:
    runs = []
    for path in sorted(glob.glob(os.path.join(out, f"{phase}-{who}-r*.json"))):
        with open(path, encoding="utf-8") as f:
            runs.append(json.load(f))
    if not runs:
        sys.exit(f"no {phase} results for {who} in {out}")
    return runs


def all_ok(runs: list[dict]) -> bool:
    return all(set(r.get("statusCodeDistribution", {})) <= {"200"} for r in runs)


def main(out: str) -> None:
    rows = {}
    for who in ("key", "token"):
        fixed, top = load(out, "fixed", who), load(out, "max", who)
        p50 = statistics.median(r["latencyPercentiles"]["p50"] * 1000 for r in fixed)
        p99 = statistics.median(r["latencyPercentiles"]["p99"] * 1000 for r in fixed)
        rps = statistics.median(r["summary"]["requestsPerSec"] for r in top)
        rows[who] = (p50, p99, rps, all_ok(fixed + top))
    print(f"{'caller':<7} {'p50 ms':>8} {'p99 ms':>8} {'max RPS':>9}  status")
    for who, (p50, p99, rps, ok) in rows.items():
        print(f"{who:<7} {p50:8.2f} {p99:8.2f} {rps:9.0f}  {'all 200' if ok else 'NOT ALL 200'}")
    k, t = rows["key"], rows["token"]
    print(f"token/key: p50 {t[0] / k[0]:.2f}x, p99 {t[1] / k[1]:.2f}x, max RPS {t[2] / k[2]:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1])
