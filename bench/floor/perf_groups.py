#!/usr/bin/env python3
"""Where a proxy's CPU goes, from a `perf record --call-graph dwarf` profile (bench/floor.sh).

Reads `perf script` output on stdin and files every sample under one group, the first group in
GROUPS (in that order) that any frame of its call stack matches: a sample inside
`PolicyBook::decide` is "policy" even when its leaf is memcmp or malloc, a kernel `writev` under
hyper's server is "hyper server", the blocking-pool thread that runs SQLite is "audit: SQLite".
Beside the group, the sample's leaf says what kind of work it was: kernel, allocator
(mimalloc/malloc/free), memcpy/memset/memcmp, or user code.

Usage: perf script -i perf.data -F comm,tid,period,ip,sym,dso --no-inline |
         python3 bench/floor/perf_groups.py [--us-per-request N]
With --us-per-request (the process's CPU per request at that load), each group's share is also
given in µs per request. Stacks cut short by the unwinder still count, under what they show.
"""

import argparse
import collections
import re
import sys

# (group, pattern over one frame's symbol), most specific first.
GROUPS = [
    ("policy: Cedar / PolicyBook::decide", r"clearance_policy::|cedar_policy"),
    ("audit: SQLite commit (store)", r"rusqlite|^sqlite3|clearance_store::|^(unix|wal|pager)[A-Z]"),
    ("audit: seal (canonical JSON + SHA-256)", r"clearance_core::audit|sha2::|clearance_tlog::"),
    ("audit: writer, queue, gate", r"audit_writer|PendingAudit|AuditSink|AnswerGate|Reservation"),
    ("tracing", r"^<?tracing(_core|_subscriber)?::|<tracing::"),
    ("metrics", r"prometheus_client|clearance_gateway::metrics"),
    ("JSON / wire (parse, rewrite, serialise)", r"serde_json|serde_core|serde::|clearance_wire::"),
    ("upstream client (reqwest, hyper client)", r"reqwest|clearance_upstream|hyper::client|hyper_util::client"),
    ("auth, limits, registry", r"clearance_gateway::(auth|limits|registry|oidc)|subtle::|clearance_core::key"),
    # Not workers:: or server::, the ancestors of every request on a worker.
    ("gateway request path (own code)", r"clearance_gateway::(?!workers|server)|clearance_failover|clearance_core::"),
    ("axum / tower routing", r"axum|tower::|tower_http"),
    ("hyper server (HTTP/1 framing, socket I/O)", r"hyper::|hyper_util::|httparse|h2::"),
    ("tokio runtime (scheduler, timers, epoll)", r"tokio::|mio::"),
    ("acceptor / connection hand-off", r"clearance_gateway::(server|workers)|accept"),
]
COMPILED = [(name, re.compile(pattern)) for name, pattern in GROUPS]
LEAF_KINDS = [
    ("allocator", re.compile(r"^(_?mi_|mi_|malloc|free|realloc|calloc|cfree|__libc_(malloc|free))|alloc::alloc|__rust_(alloc|dealloc)")),
    ("memcpy/memcmp", re.compile(r"^__(mem|str)\w+")),
]


def samples(lines):
    """Yields (thread name, [(symbol, dso)], leaf first) per sample of `perf script` output."""
    comm, frames = None, []
    for line in lines:
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
        elif not line[0].isspace():
            comm, frames = line.split()[0], []
        else:
            m = re.match(r"\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$", line)
            if m:
                symbol = re.sub(r"\+0x[0-9a-f]+$", "", m.group(1))
                frames.append((symbol, m.group(2)))
    if comm is not None:
        yield comm, frames


def classify(comm, frames):
    for name, pattern in COMPILED:
        if any(pattern.search(symbol) for symbol, _ in frames):
            return name
    if comm.startswith("tokio-rt-worke"):
        return "blocking pool (other)"
    return "other / unattributed"


def leaf_kind(frames):
    if not frames:
        return "user"
    symbol, dso = frames[0]
    if "kernel" in dso:
        return "kernel"
    for kind, pattern in LEAF_KINDS:
        if pattern.search(symbol):
            return kind
    return "user"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--us-per-request", type=float, default=None)
    args = parser.parse_args()
    kinds = ["user", "kernel", "allocator", "memcpy/memcmp"]
    by_group = collections.defaultdict(collections.Counter)
    threads = collections.Counter()
    total = 0
    for comm, frames in samples(sys.stdin):
        total += 1
        threads[comm] += 1
        by_group[classify(comm, frames)][leaf_kind(frames)] += 1
    if not total:
        sys.exit("no samples")
    us = args.us_per_request
    head = f"{'group':44} {'share':>6} " + (f"{'µs/req':>7} " if us else "") + " ".join(f"{k:>13}" for k in kinds)
    print(f"{total} samples; threads: " + ", ".join(f"{c} {100 * n / total:.0f}%" for c, n in threads.most_common()))
    print(f"(leaf kinds: share of all samples whose leaf is user code, kernel, allocator, mem*)\n{head}")
    for group, counts in sorted(by_group.items(), key=lambda item: -sum(item[1].values())):
        n = sum(counts.values())
        cells = " ".join(f"{100 * counts[k] / total:12.1f}%" for k in kinds)
        per_req = f"{us * n / total:7.1f} " if us else ""
        print(f"{group:44} {100 * n / total:5.1f}% {per_req}{cells}")
    cells = " ".join(f"{100 * sum(c[k] for c in by_group.values()) / total:12.1f}%" for k in kinds)
    print(f"{'all':44} {100.0:5.1f}% " + (f"{us:7.1f} " if us else "") + cells)


if __name__ == "__main__":
    main()
