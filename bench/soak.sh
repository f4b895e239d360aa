#!/usr/bin/env bash
# The soak (see bench/README.md, "Soak"): one gateway (release build, SQLite store) under a
# steady load for MINUTES minutes (default 30) while its directive set is re-activated every
# few seconds through the admin API and the primary model of a route flaps between failing and
# answering (so its fallback takes over and gives back, and the breaker opens and closes).
# Every minute it prints the window's requests, failures, p50 and p99, and the gateway's RSS
# and open file descriptors; at the end, how those moved from the first windows to the last.
# It exits 1 if any request failed or RSS, file descriptors or p99 grew beyond the bounds
# bench/soak.py states.
# Usage: bash bench/soak.sh [MINUTES]    (env: SOAK_RATE=200 requests/s, SOAK_STREAM_RATE=40,
#        SOAK_RELOAD_S=5, SOAK_FLAP_S=10)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
MINUTES=${1:-30}
RATE=${SOAK_RATE:-200}
STREAM_RATE=${SOAK_STREAM_RATE:-40}
RELOAD_S=${SOAK_RELOAD_S:-5}
FLAP_S=${SOAK_FLAP_S:-10}

log() { printf '[soak] %s\n' "$*" >&2; }

. "$ROOT/bench/processes.sh"
need_oha
log "building release binaries"
(cd "$ROOT" && cargo build --release -q -p clearance-cli -p clearance-fake)

scratch_work soak


"$BIN/clearance-fake" --listen 127.0.0.1:0 >"$WORK/fake.out" 2>"$WORK/fake.out.err" &
PIDS+=($!)
FAKE=$(wait_line "$WORK/fake.out" "$!")

cat >"$WORK/clearance.toml" <<TOML
[server]
listen = "127.0.0.1:$(free_port)"
admin_token_env = "SOAK_ADMIN_TOKEN"
[store]
sqlite = "soak.db"
[audit]
max_wait_ms = 2000
[providers.lab]
kind = "openai"
base_url = "http://$FAKE/v1"
[providers.other]
kind = "anthropic"
base_url = "http://$FAKE"
[[models]]
name = "soak-model"
provider = "lab"
upstream = "soak-primary"
[[models]]
name = "soak-fallback"
provider = "other"
upstream = "soak-fallback-upstream"
[[routes]]
model = "soak-model"
fallbacks = ["soak-fallback"]
attempt_timeout_ms = 2000
retries = 0
[breaker]
consecutive_failures = 5
open_ms = 2000
TOML
printf 'id,citizenships,residence\nsoak-user,US,US\nsoak-other,FR,FR\n' >"$WORK/p.csv"
"$BIN/clearance" principals import "$WORK/p.csv" --config "$WORK/clearance.toml" >/dev/null
KEY=$("$BIN/clearance" keys create --principal soak-user --config "$WORK/clearance.toml" --format json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
SOAK_ADMIN_TOKEN=soak-admin CLEARANCE_LOG=warn "$BIN/clearance" serve --config "$WORK/clearance.toml" \
    >"$WORK/gateway.out" 2>"$WORK/gateway.out.err" &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")
GATEWAY=$(wait_line "$WORK/gateway.out" "$GATEWAY_PID")
log "gateway $GATEWAY (pid $GATEWAY_PID), fake provider $FAKE; ${MINUTES} min at ${RATE}+${STREAM_RATE} req/s"

OUT="$ROOT/bench/results/soak-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
python3 "$ROOT/bench/soak.py" --oha "$OHA" --gateway "$GATEWAY" --pid "$GATEWAY_PID" --fake "$FAKE" \
    --key "$KEY" --admin-token soak-admin --minutes "$MINUTES" --rate "$RATE" \
    --stream-rate "$STREAM_RATE" --reload-s "$RELOAD_S" --flap-s "$FLAP_S" --out "$OUT" \
    --store "$WORK/soak.db" --clearance "$BIN/clearance" --config "$WORK/clearance.toml" |
    tee "$OUT/summary.txt"
