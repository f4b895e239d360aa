#!/usr/bin/env bash
# Provable policy change (see bench/README.md, "Proofs"): how long `clearance_proof::diff` and
# `clearance_proof::lint` take on generated directive sets of 10, 50 and 200 directives over a
# catalog of 8 models (model- and tag-scoped directives, conditions over every principal and
# request fact, effective and expiry dates, some reroutes, a fifth in shadow mode).
#  - diff: the set against an edited copy (one directive added, one condition changed, one
#    removed), proved from 2026-06-15 onwards;
#  - lint: the set alone (dead, shadowed, duplicate, erroring directives, a caller denied
#    everything).
# Each 3 times on a fresh cvc5 (start-up not timed): median, min, max, and the solver queries
# asked; plus the solver's own round trip (one trivial query, median of 20) to read them against.
# Target (the issue): 50 directives <= 5 s on the 2-core machine.
# Needs cvc5 on PATH, or $CVC5 naming it (as the crate reads it).
# Usage: bash bench/proofs.sh        CVC5=/opt/cvc5/bin/cvc5 bash bench/proofs.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SOLVER=${CVC5:-cvc5}

log() { printf '[proofs-bench] %s\n' "$*" >&2; }

if ! command -v "$SOLVER" >/dev/null 2>&1; then
    log "no solver: \`$SOLVER\` is not on PATH; install cvc5 (apt-get install cvc5) or set \$CVC5 to its path"
    exit 1
fi
if ! version=$("$SOLVER" --version 2>/dev/null | head -n1); then
    log "\`$SOLVER --version\` failed: \$CVC5 must name a cvc5 binary"
    exit 1
fi
log "solver: $(command -v "$SOLVER") ($version)"
log "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), at $(git -C "$ROOT" rev-parse --short HEAD)"

cd "$ROOT"
cargo bench -p clearance-proof --bench prove
