#!/usr/bin/env python3
"""Summarise a bench/run.sh results directory: oha JSON per run + runs.jsonl (CPU ticks).

Usage: python3 bench/report.py bench/results/STAMP [--rate 500] [--clk-tck 100] ...
Prints the per-run detail and the summary table with PASS/MISS per target, and writes
summary.json next to the raw files. Standard library only.
"""

import argparse
import json
import os
import sys

# Targets from the issue (2-core machine, audit on).
ADDED_P50_MAX_US = 200.0
ADDED_P99_MAX_US = 1000.0
MAX_RPS_RATIO_MIN = 0.50


def load_runs(out_dir):
    runs = []
    with open(os.path.join(out_dir, "runs.jsonl")) as f:
        for line in f:
            if not line.strip():
                continue
            meta = json.loads(line)
            with open(os.path.join(out_dir, meta["name"] + ".json")) as g:
                oha = json.load(g)
            runs.append(summarise_run(meta, oha))
    return runs


def summarise_run(meta, oha):
    codes = {str(k): int(v) for k, v in (oha.get("statusCodeDistribution") or {}).items()}
    transport_errors = sum(int(v) for v in (oha.get("errorDistribution") or {}).values())
    answered = sum(codes.values())
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    duration = float(oha["summary"]["total"])
    pct = oha.get("latencyPercentiles") or {}

    def us(key):
        value = pct.get(key)
        return None if value is None else float(value) * 1e6

    oha_cpu = None
    if meta.get("oha_cpu"):
        try:
            user, system = (float(x) for x in meta["oha_cpu"].split()[:2])
            oha_cpu = user + system
        except ValueError:
            pass
    return {
        **meta,
        "answered": answered,
        "ok": ok,
        "errors": (answered - ok) + transport_errors,
        "status_codes": codes,
        "error_distribution": oha.get("errorDistribution") or {},
        "duration_s": duration,
        "rps": ok / duration if duration else 0.0,
        "p50_us": us("p50"),
        "p99_us": us("p99"),
        "p999_us": us("p99.9"),
        "oha_cpu_s": oha_cpu,
    }


def aggregate(runs, clk):
    """Per (phase, target): latency percentiles averaged over rounds, RPS and CPU pooled."""
    groups = {}
    for r in runs:
        groups.setdefault((r["phase"], r["target"]), []).append(r)
    agg = {}
    for key, rs in groups.items():
        answered = sum(r["answered"] for r in rs)
        ok = sum(r["ok"] for r in rs)
        duration = sum(r["duration_s"] for r in rs)

        def mean(field):
            vals = [r[field] for r in rs if r[field] is not None]
            return sum(vals) / len(vals) if vals else None

        def spread(field):
            vals = [r[field] for r in rs if r[field] is not None]
            return (min(vals), max(vals)) if vals else None

        def per_req_us(ticks_field):
            ticks = sum(r[ticks_field] for r in rs)
            return ticks / clk * 1e6 / answered if answered else None

        oha_cpu = [r["oha_cpu_s"] for r in rs if r["oha_cpu_s"] is not None]
        agg[key] = {
            "runs": len(rs),
            "answered": answered,
            "ok": ok,
            "errors": sum(r["errors"] for r in rs),
            "rps": ok / duration if duration else 0.0,
            "p50_us": mean("p50_us"),
            "p99_us": mean("p99_us"),
            "p999_us": mean("p999_us"),
            "p50_spread_us": spread("p50_us"),
            "p99_spread_us": spread("p99_us"),
            "gw_cpu_us_per_req": per_req_us("gw_ticks"),
            "fake_cpu_us_per_req": per_req_us("fake_ticks"),
            "gw_cpu_s": sum(r["gw_ticks"] for r in rs) / clk,
            "fake_cpu_s": sum(r["fake_ticks"] for r in rs) / clk,
            "oha_cpu_us_per_req": (sum(oha_cpu) * 1e6 / answered)
            if oha_cpu and len(oha_cpu) == len(rs) and answered
            else None,
            "wall_s": sum(r["wall"] for r in rs),
            "duration_s": duration,
        }
    return agg


def fmt_us(v):
    if v is None:
        return "-"
    return f"{v / 1000:.2f} ms" if v >= 10000 else f"{v:.0f} µs"


def fmt_added(v):
    if v is None:
        return "-"
    return ("+" if v >= 0 else "-") + fmt_us(abs(v))


def fmt_num(v, digits=0):
    return "-" if v is None else f"{v:,.{digits}f}"


def verdict(ok, note=""):
    return ("PASS" if ok else "MISS") + (f" ({note})" if note else "")


def table(rows, header):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--clk-tck", type=float, default=os.sysconf("SC_CLK_TCK"))
    ap.add_argument("--max-conns", default="?")
    ap.add_argument("--fixed-conns", default="?")
    args = ap.parse_args()

    runs = load_runs(args.out_dir)
    agg = aggregate(runs, args.clk_tck)
    audit = {}
    audit_path = os.path.join(args.out_dir, "audit.json")
    if os.path.exists(audit_path):
        with open(audit_path) as f:
            audit = json.load(f)

    print("\nPer run (latency-corrected for fixed-rate runs; CPU = utime+stime over the run;"
          " 'other' = machine busy time not used by gateway, fake or oha, in cores)")
    rows = []
    for r in runs:
        gw_cpu = r["gw_ticks"] / args.clk_tck * 1e6 / r["answered"] if r["answered"] else None
        fk_cpu = r["fake_ticks"] / args.clk_tck * 1e6 / r["answered"] if r["answered"] else None
        other = None
        if "machine_ticks" in r and r["oha_cpu_s"] is not None and r["wall"]:
            other = (r["machine_ticks"] - r["gw_ticks"] - r["fake_ticks"]) / args.clk_tck
            other = max(0.0, other - r["oha_cpu_s"]) / r["wall"]
        rows.append([
            r["name"], fmt_num(r["answered"]), fmt_num(r["errors"]), fmt_num(r["rps"]),
            fmt_us(r["p50_us"]), fmt_us(r["p99_us"]), fmt_us(r["p999_us"]),
            fmt_num(gw_cpu), fmt_num(fk_cpu), fmt_num(other, 2),
        ])
    table(rows, ["run", "requests", "errors", "RPS", "p50", "p99", "p99.9",
                 "gw µs CPU/req", "fake µs CPU/req", "other"])

    fd, fg = agg.get(("fixed", "direct")), agg.get(("fixed", "gateway"))
    md, mg = agg.get(("max", "direct")), agg.get(("max", "gateway"))
    if not all((fd, fg, md, mg)):
        print("missing phases; cannot summarise", file=sys.stderr)
        return 1

    results = {}
    print(f"\nSUMMARY  (fixed rate: {args.rate:.0f} RPS, c={args.fixed_conns}, "
          f"oha --latency-correction; max: c={args.max_conns}; {fd['runs']} round(s), "
          "latency = mean over rounds)")
    rows = []
    low_rate = [t for t, a in (("direct", fd), ("gateway", fg)) if a["rps"] < 0.97 * args.rate]
    errs = fg["errors"] + fd["errors"]
    note = "errors!" if errs else ("rate not reached" if low_rate else "")
    added50 = fg["p50_us"] - fd["p50_us"]
    added99 = fg["p99_us"] - fd["p99_us"]
    added999 = (fg["p999_us"] - fd["p999_us"]) if fg["p999_us"] and fd["p999_us"] else None
    ratio = mg["rps"] / md["rps"] if md["rps"] else 0.0
    pass50 = added50 <= ADDED_P50_MAX_US and not errs
    pass99 = added99 <= ADDED_P99_MAX_US and not errs
    pass_rps = ratio >= MAX_RPS_RATIO_MIN and not (mg["errors"] or md["errors"])
    rows.append([f"p50 @ {args.rate:.0f} RPS", fmt_us(fd["p50_us"]), fmt_us(fg["p50_us"]),
                 fmt_added(added50), f"added ≤ {ADDED_P50_MAX_US:.0f} µs", verdict(pass50, note)])
    rows.append([f"p99 @ {args.rate:.0f} RPS", fmt_us(fd["p99_us"]), fmt_us(fg["p99_us"]),
                 fmt_added(added99), f"added ≤ {ADDED_P99_MAX_US / 1000:.0f} ms", verdict(pass99, note)])
    rows.append([f"p99.9 @ {args.rate:.0f} RPS", fmt_us(fd["p999_us"]), fmt_us(fg["p999_us"]),
                 fmt_added(added999), "(info)", ""])
    rows.append(["achieved RPS (fixed)", fmt_num(fd["rps"]), fmt_num(fg["rps"]), "", "(sanity)", ""])
    rows.append([f"max RPS (c={args.max_conns})", fmt_num(md["rps"]), fmt_num(mg["rps"]),
                 f"{ratio:.0%} of direct", f"≥ {MAX_RPS_RATIO_MIN:.0%}",
                 verdict(pass_rps, "errors!" if (mg["errors"] or md["errors"]) else "")])
    rows.append(["errors (fixed / max)", f"{fd['errors']} / {md['errors']}",
                 f"{fg['errors']} / {mg['errors']}", "", "0", ""])
    table(rows, ["metric", "direct", "gateway", "added / ratio", "target", "result"])
    fr, mr = agg.get(("fixed", "relay")), agg.get(("max", "relay"))
    if fr and fd and fg:
        print("\nReference, same run: a plain TCP relay (socat) in front of the same fake, i.e. the cost of")
        print("the extra hop alone on this machine, which any proxy pays:")
        rel = []
        for label, key in (("p50 @ 500 RPS", "p50_us"), ("p99 @ 500 RPS", "p99_us")):
            if fr[key] is not None and fd[key] is not None and fg[key] is not None:
                rel.append([label, fmt_us(fr[key]), fmt_added(fr[key] - fd[key]), fmt_added(fg[key] - fr[key])])
        if mr and md and mg and md["rps"]:
            rel.append(["max RPS (c=64)", fmt_num(mr["rps"]), f"{mr['rps'] / md['rps']:.0%} of direct",
                        f"gateway = {mg['rps'] / mr['rps']:.0%} of relay"])
        table(rel, ["metric", "relay", "relay vs direct", "gateway vs relay"])

    fdir, mdir = agg.get(("fixed", "directed")), agg.get(("max", "directed"))
    if fdir and mdir:
        print("\nDirectives on vs off, same gateway, same run: 'directed' asks for a model that the bench's")
        print("directives cover (decided on every request; none denies the bench user), 'gateway' for one")
        print("no directive covers:")
        rows = []
        for label, key in ((f"p50 @ {args.rate:.0f} RPS", "p50_us"), (f"p99 @ {args.rate:.0f} RPS", "p99_us")):
            if fdir[key] is not None and fg[key] is not None:
                rows.append([label, fmt_us(fg[key]), fmt_us(fdir[key]), fmt_added(fdir[key] - fg[key])])
        if mg["rps"]:
            rows.append([f"max RPS (c={args.max_conns})", fmt_num(mg["rps"]), fmt_num(mdir["rps"]),
                         f"{mdir['rps'] / mg['rps']:.0%} of off"])
        if fg["gw_cpu_us_per_req"] and fdir["gw_cpu_us_per_req"]:
            rows.append(["gw CPU µs/req (fixed)", fmt_num(fg["gw_cpu_us_per_req"]),
                         fmt_num(fdir["gw_cpu_us_per_req"]),
                         fmt_added(fdir["gw_cpu_us_per_req"] - fg["gw_cpu_us_per_req"])])
        rows.append(["errors (fixed / max)", f"{fg['errors']} / {mg['errors']}",
                     f"{fdir['errors']} / {mdir['errors']}", ""])
        table(rows, ["metric", "directives off", "directives on", "difference"])

    print("\nCPU time per request (utime+stime from /proc/PID/stat; µs per request)")
    rows = []
    for label, d, g in ((f"fixed {args.rate:.0f} RPS", fd, fg), ("max throughput", md, mg)):
        gw = g["gw_cpu_us_per_req"]
        fake_direct = d["fake_cpu_us_per_req"]
        rows.append([
            label, fmt_num(gw), fmt_num(fake_direct), fmt_num(g["fake_cpu_us_per_req"]),
            f"{gw / fake_direct:.1f}x" if gw and fake_direct else "-",
            f"{fmt_num(d['oha_cpu_us_per_req'])} / {fmt_num(g['oha_cpu_us_per_req'])}",
        ])
    table(rows, ["phase", "gateway", "fake (direct)", "fake (via gw)", "gateway/fake",
                 "oha (direct / via gw)"])
    busy = mg["duration_s"]
    if busy:
        print(f"\nDuring max throughput via the gateway: gateway {mg['gw_cpu_s'] / busy:.2f} cores, "
              f"fake {mg['fake_cpu_s'] / busy:.2f} cores (2 cores shared with oha and anything else).")
    oha_d, oha_g = md["oha_cpu_us_per_req"], mg["oha_cpu_us_per_req"]
    if oha_d and oha_g and md["fake_cpu_us_per_req"] and mg["gw_cpu_us_per_req"]:
        direct_total = md["fake_cpu_us_per_req"] + oha_d
        gw_total = mg["gw_cpu_us_per_req"] + mg["fake_cpu_us_per_req"] + oha_g
        print(f"Machine CPU per request at max: direct {direct_total:.0f} µs (fake+oha), via gateway "
              f"{gw_total:.0f} µs (gateway+fake+oha) -> a CPU-bound ratio of about "
              f"{direct_total / gw_total:.0%}.")

    gw_requests = sum(r["answered"] for r in runs if r["target"] in ("gateway", "directed"))
    if "audit_rows" in audit:
        expected = gw_requests + 1 + (1 if fdir else 0)  # + the sanity requests before the runs
        status = "ok" if audit["audit_rows"] >= expected else "MISSING RECORDS"
        print(f"Audit: {audit['audit_rows']:,} decision records in SQLite for {expected:,} gateway "
              f"requests sent ({status}).")

    print("\nTargets: " + ", ".join([
        f"added p50 {verdict(pass50)}", f"added p99 {verdict(pass99)}",
        f"max RPS ratio {verdict(pass_rps)}"]))

    results = {
        "targets": {
            "added_p50_us": {"value": added50, "max": ADDED_P50_MAX_US, "pass": pass50},
            "added_p99_us": {"value": added99, "max": ADDED_P99_MAX_US, "pass": pass99},
            "max_rps_ratio": {"value": ratio, "min": MAX_RPS_RATIO_MIN, "pass": pass_rps},
        },
        "aggregate": {f"{p}/{t}": v for (p, t), v in agg.items()},
        "runs": runs,
        "audit": audit,
    }
    with open(os.path.join(args.out_dir, "summary.json"), "w") as f:
        json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
