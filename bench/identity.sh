#!/usr/bin/env bash
# What a signed-in caller costs against a key caller, measured on one gateway in one run (see
# bench/README.md, "Identity"): the gateway trusts `clearance-fake idp` as an
# `[[identity.oidc]]` issuer (keys fetched by discovery, then cached) and enforces a directive
# that reads the caller's facts on every request. One principal calls with its Clearance key;
# another, whose citizenship the registry lacks, with an RS256 JWT that carries it (so the
# combine rule runs and the record names the token as that fact's source). Both are allowed,
# so the provider call is the same. Interleaved rounds (the order alternates) of a fixed rate
# (latency corrected; p50 / p99) and of max throughput (RPS), for each of: key, token.
# Usage: bash bench/identity.sh        BENCH_RATE=500 BENCH_ROUNDS=3
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/target/release"
RATE=${BENCH_RATE:-500}
FIXED_SECS=${BENCH_FIXED_SECS:-10}
MAX_SECS=${BENCH_MAX_SECS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_FIXED_CONNS:-16}
MAX_CONNS=${BENCH_MAX_CONNS:-64}

log() { printf '[identity-bench] %s\n' "$*" >&2; }

. "$ROOT/bench/processes.sh"
need_oha
build_release

scratch_work identity-bench

results_dir identity

start_fake_provider
"$BIN/clearance-fake" idp --listen 127.0.0.1:0 >"$WORK/idp.out" 2>"$WORK/idp.out.err" &
PIDS+=($!)
IDP=$(wait_line "$WORK/idp.out" "$!" | cut -d' ' -f1)
log "fake provider on $FAKE, fake identity provider on $IDP"

mkdir -p "$WORK/directives"
printf '%s\n' 'id = "EXD-BENCH"' 'title = "Non-US persons may not use the bench model"' \
    'authority = "Benchmark"' 'effective = "2026-01-01T00:00:00Z"' 'mode = "enforce"' \
    'models = ["bench-model"]' 'when = "!principal.us_person"' 'effect = "deny"' \
    >"$WORK/directives/exd.toml"
CFG="$WORK/clearance.toml"
printf '%s\n' '[server]' "listen = \"127.0.0.1:$(free_port)\"" \
    '[store]' "sqlite = \"$WORK/clearance.db\"" \
    '[audit]' 'max_wait_ms = 2000' 'batch_max = 512' \
    '[directives]' "dir = \"$WORK/directives\"" \
    '[providers.bench]' 'kind = "openai"' "base_url = \"http://$FAKE/v1\"" \
    '[[models]]' 'name = "bench-model"' 'provider = "bench"' 'upstream = "bench-upstream"' \
    '[[identity.oidc]]' "issuer = \"http://$IDP\"" 'audience = "clearance-bench"' \
    '[identity.oidc.claims]' 'citizenships = "citizenships"' 'residence = "residence"' \
    >"$CFG"
printf 'id,citizenships,residence\nbench-key-user,US,US\nbench-token-user,,US\n' >"$WORK/p.csv"
"$BIN/clearance" principals import "$WORK/p.csv" --config "$CFG" >/dev/null
KEY=$("$BIN/clearance" keys create --principal bench-key-user --config "$CFG" --format json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
CLAIMS="{\"sub\": \"bench-token-user\", \"aud\": \"clearance-bench\", \"citizenships\": [\"US\"], \"exp\": $(($(date +%s) + 86400))}"
TOKEN=$(curl -fsS -X POST "http://$IDP/token" -H 'content-type: application/json' -d "$CLAIMS" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

CLEARANCE_LOG=warn "$BIN/clearance" serve --config "$CFG" >"$WORK/gw.out" 2>"$WORK/gw.out.err" &
PIDS+=($!)
GW=$(wait_line "$WORK/gw.out" "$!")
log "gateway on $GW"
URL="http://$GW/v1/chat/completions"
BODY='{"model":"bench-model","messages":[{"role":"user","content":"hello"}]}'
for who in key token; do
    cred=$KEY
    [[ $who == token ]] && cred=$TOKEN
    status=000
    for _ in $(seq 1 50); do
        status=$(curl -s -o /dev/null -w '%{http_code}' "$URL" -H "authorization: Bearer $cred" \
            -H 'content-type: application/json' -d "$BODY")
        [[ $status == 200 ]] && break
        sleep 0.1  # the gateway fetches the identity provider's keys in the background at start
    done
    [[ $status == 200 ]] || { log "$who: HTTP $status, not 200"; exit 1; }
done

run() { # WHO PHASE ROUND oha-args...
    local who=$1 phase=$2 round=$3
    shift 3
    local cred=$KEY
    [[ $who == token ]] && cred=$TOKEN
    "$OHA" --no-tui --output-format json -o "$OUT/$phase-$who-r$round.json" -m POST \
        -T application/json -d "$BODY" -H "authorization: Bearer $cred" "$@" "$URL" >/dev/null
}
for who in key token; do run "$who" warmup 0 -z 3s -c "$CONNS"; done
for round in $(seq 1 "$ROUNDS"); do
    order=(key token)
    ((round % 2 == 0)) && order=(token key)
    log "round $round/$ROUNDS: ${RATE} RPS ${FIXED_SECS}s, then max ${MAX_SECS}s, each of: ${order[*]}"
    for who in "${order[@]}"; do run "$who" fixed "$round" -z "${FIXED_SECS}s" -q "$RATE" --latency-correction -c "$CONNS"; done
    for who in "${order[@]}"; do run "$who" max "$round" -z "${MAX_SECS}s" -c "$MAX_CONNS"; done
done

python3 "$ROOT/bench/identity.py" "$OUT" | tee "$OUT/summary.txt"
log "raw results in ${OUT#"$ROOT"/}"
