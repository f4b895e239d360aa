#!/usr/bin/env python3
"""The soak's driver (bench/soak.sh starts the processes and calls this).

Minute by minute: two oha runs at a fixed rate (chat completions, and streamed ones), while
one thread re-activates the directive set through the admin API every --reload-s seconds and
another flips the primary model between failing (HTTP 503) and answering every --flap-s
seconds. After each minute: the window's requests, failures, p50 and p99, the gateway's RSS and
open file descriptors. At the end, first windows against last, and the verdict:
zero failed requests, and RSS, file descriptors and p99 flat (see BOUNDS).
"""
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

# "Flat": the median of the last third of the windows against the median of the first third
# (after the first minute, which warms caches and the allocator; medians, so that one minute
# the shared machine was busy does not decide it either way). Growth past these bounds fails
# the soak.
BOUNDS = {"rss": 1.25, "fds": 1.25, "p99": 2.0}

DIRECTIVE = """\
id = "SOAK-{n}"
title = "Soak re-activation {n}"
authority = "bench/soak.py"
effective = "2026-01-01T00:00:00Z"
mode = "{mode}"
models = ["soak-model", "soak-fallback"]
when = "principal.residence == \\"KP\\" || context.max_tokens > {limit}"
effect = "deny"
"""


def arg(name, default=None):
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    if default is None:
        sys.exit(f"soak.py: {name} is required")
    return default


def call(method, url, token=None, body=None):
    request = urllib.request.Request(url, data=body, method=method)
    if token:
        request.add_header("authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


class Background:
    """The directive reloads and the flapping primary, counted, with any failure kept."""

    def __init__(self, gateway, fake, token, reload_s, flap_s):
        self.gateway, self.fake, self.token = gateway, fake, token
        self.reload_s, self.flap_s = reload_s, flap_s
        self.stop = threading.Event()
        self.reloads = 0
        self.flaps = 0
        self.errors = []

    def reload(self):
        n = 0
        while not self.stop.wait(self.reload_s):
            n += 1
            body = DIRECTIVE.format(n=n, mode="enforce" if n % 2 else "shadow", limit=100000 + n).encode()
            try:
                call("PUT", f"http://{self.gateway}/admin/directives/soak.toml", self.token, body)
                self.reloads += 1
            except Exception as error:  # noqa: BLE001 - kept and reported
                self.errors.append(f"reload {n}: {error}")

    def flap(self):
        failing = False
        while not self.stop.wait(self.flap_s):
            failing = not failing
            body = json.dumps({"status": 503} if failing else {}).encode()
            try:
                call("PUT", f"http://{self.fake}/_fake/behavior/soak-primary", body=body)
                self.flaps += 1
            except Exception as error:  # noqa: BLE001
                self.errors.append(f"flap: {error}")
        call("PUT", f"http://{self.fake}/_fake/behavior/soak-primary", body=b"{}")

    def start(self):
        self.threads = [threading.Thread(target=self.reload), threading.Thread(target=self.flap)]
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()


def oha(path):
    data = json.load(open(path))
    lat = data.get("latencyPercentiles", {})
    codes = data.get("statusCodeDistribution", {})
    errors = data.get("errorDistribution", {})
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    failed = sum(v for k, v in codes.items() if not k.startswith("2")) + sum(errors.values())
    return {"ok": ok, "failed": failed, "p50": lat.get("p50") or 0.0, "p99": lat.get("p99") or 0.0,
            "codes": codes, "errors": errors}


def process(pid):
    rss_kb = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return rss_kb / 1024, len(os.listdir(f"/proc/{pid}/fd"))


def load(oha_bin, url, key, body, rate, seconds, out, connections):
    return subprocess.Popen(
        [oha_bin, "--no-tui", "--output-format", "json", "-o", out, "-m", "POST",
         "-T", "application/json", "-d", body, "-H", f"authorization: Bearer {key}",
         "-z", f"{seconds}s", "-w", "-q", str(rate), "--latency-correction", "-c", str(connections), url],
        stdout=subprocess.DEVNULL)


def median(values):
    return statistics.median(values) if values else 0.0


def main():
    oha_bin, gateway, fake = arg("--oha"), arg("--gateway"), arg("--fake")
    pid, key, token = int(arg("--pid")), arg("--key"), arg("--admin-token")
    minutes, rate, stream_rate = int(arg("--minutes")), int(arg("--rate")), int(arg("--stream-rate"))
    out = arg("--out")
    url = f"http://{gateway}/v1/chat/completions"
    chat = json.dumps({"model": "soak-model", "max_tokens": 64,
                       "messages": [{"role": "user", "content": "hello"}]})
    stream = json.dumps({"model": "soak-model", "max_tokens": 64, "stream": True,
                         "messages": [{"role": "user", "content": "hello"}]})
    background = Background(gateway, fake, token, float(arg("--reload-s")), float(arg("--flap-s")))
    background.start()
    rows = []
    print(f"{'min':>3} {'requests':>9} {'failed':>6} {'p50 ms':>7} {'p99 ms':>7} {'RSS MiB':>8} {'fds':>5}"
          f" {'reloads':>7} {'flaps':>5}", flush=True)
    try:
        for minute in range(1, minutes + 1):
            runs = [load(oha_bin, url, key, chat, rate, 60, f"{out}/chat-{minute:02}.json", 16),
                    load(oha_bin, url, key, stream, stream_rate, 60, f"{out}/stream-{minute:02}.json", 8)]
            for run in runs:
                run.wait()
            results = [oha(f"{out}/chat-{minute:02}.json"), oha(f"{out}/stream-{minute:02}.json")]
            rss, fds = process(pid)
            row = {"minute": minute, "requests": sum(r["ok"] + r["failed"] for r in results),
                   "failed": sum(r["failed"] for r in results), "p50": results[0]["p50"] * 1000,
                   "p99": max(r["p99"] for r in results) * 1000, "rss": rss, "fds": fds,
                   "problems": [r["codes"] for r in results if r["failed"]] + [r["errors"] for r in results if r["errors"]]}
            rows.append(row)
            print(f"{minute:3} {row['requests']:9} {row['failed']:6} {row['p50']:7.2f} {row['p99']:7.2f}"
                  f" {rss:8.1f} {fds:5} {background.reloads:7} {background.flaps:5}"
                  + (f"  {row['problems']}" if row["failed"] else ""), flush=True)
    finally:
        background.finish()
    json.dump(rows, open(f"{out}/windows.json", "w"), indent=1)
    verdict(rows, background, arg("--clearance"), arg("--config"))


def verdict(rows, background, clearance, config):
    steady = rows[1:] if len(rows) > 3 else rows
    third = max(1, len(steady) // 3)
    first, last = steady[:third], steady[-third:]
    total = sum(r["requests"] for r in rows)
    failed = sum(r["failed"] for r in rows)
    problems = []
    print(f"\n{len(rows)} minutes, {total} requests, {failed} failed; "
          f"{background.reloads} directive activations, {background.flaps} primary flips"
          + (f"; background errors: {background.errors[:5]}" if background.errors else ""))
    for name, unit in (("rss", "MiB"), ("fds", ""), ("p99", "ms")):
        a, b = median([r[name] for r in first]), median([r[name] for r in last])
        low, high = min(r[name] for r in steady), max(r[name] for r in steady)
        ratio = b / a if a else 0.0
        ok = ratio <= BOUNDS[name]
        print(f"{name:>4}: first third {a:.1f}{unit}, last third {b:.1f}{unit} (medians, {ratio:.2f}x, bound "
              f"{BOUNDS[name]}x), range {low:.1f}-{high:.1f}{unit}: {'flat' if ok else 'GREW'}")
        if not ok:
            problems.append(f"{name} grew {ratio:.2f}x")
    if failed:
        problems.append(f"{failed} failed requests")
    if background.errors:
        problems.append(f"{len(background.errors)} reload/flap errors")
    verify = subprocess.run([clearance, "audit", "verify", "--config", config],
                            capture_output=True, text=True)
    print(f"audit verify: {(verify.stdout or verify.stderr).strip().splitlines()[-1] if (verify.stdout or verify.stderr).strip() else verify.returncode}")
    if verify.returncode != 0:
        problems.append("audit verify failed")
    print("SOAK PASSED" if not problems else f"SOAK FAILED: {'; '.join(problems)}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
