#!/usr/bin/env bash
# The verifiable log's cost, measured in one run (see bench/README.md, "Verifiable log"):
#  1. latency: the same gateway config with checkpoints off (no signing key), on (signing key)
#     and on with a witness (`clearance witness serve`), against the fake provider direct (the
#     floor) and a plain TCP relay (socat, if present); p50 / p99 at a fixed rate (latency
#     corrected) and max RPS, in interleaved rounds whose order rotates, so noise hits all alike;
#  2. verification: a store of ~BENCH_VERIFY_REQUESTS x 2 records written by a real gateway
#     (signing on), then, on that store: the gateway's start-up verification (`verify_at_start`,
#     timed from its log line and against a start with it off), `clearance audit verify-log`
#     (from the tiles over HTTP) and `clearance audit verify` (from the database), interleaved.
# Usage: bash bench/verifiable.sh        BENCH_PARTS=latency|verify|"latency verify"
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/target/release"
RATE=${BENCH_RATE:-500}
FIXED_SECS=${BENCH_FIXED_SECS:-10}
MAX_SECS=${BENCH_MAX_SECS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_FIXED_CONNS:-16}
MAX_CONNS=${BENCH_MAX_CONNS:-64}
EVERY_RECORDS=${BENCH_CHECKPOINT_EVERY_RECORDS:-1000}   # the product's defaults
EVERY_MS=${BENCH_CHECKPOINT_EVERY_MS:-1000}
VERIFY_REQUESTS=${BENCH_VERIFY_REQUESTS:-100000}        # two records each
VERIFY_RUNS=${BENCH_VERIFY_RUNS:-3}
PARTS=${BENCH_PARTS:-latency verify}
ORIGIN=bench.example/audit

log() { printf '[verifiable-bench] %s\n' "$*" >&2; }

. "$ROOT/bench/processes.sh"
need_oha
build_release

scratch_work verifiable-bench

results_dir verifiable

start_fake_provider
log "fake provider on $FAKE"

LOG_VKEY=$("$BIN/clearance" audit keygen --name "$ORIGIN" --out "$WORK/log.key" 2>/dev/null)
WIT_VKEY=$("$BIN/clearance" witness keygen --name witness.example/w1 --out "$WORK/witness.key" 2>/dev/null)
WIT_PORT=$(free_port)
"$BIN/clearance" witness serve --listen "127.0.0.1:$WIT_PORT" --name witness.example/w1 --key "$WORK/witness.key" \
    --log "$ORIGIN/*=$LOG_VKEY" --state "$WORK/witness.sqlite" >"$WORK/witness.out" 2>"$WORK/witness.out.err" &
PIDS+=($!)
WITNESS=$(wait_line "$WORK/witness.out" "$!")
log "log key $LOG_VKEY; witness on $WITNESS"

# config NAME MODE(off|on|witness) [EXTRA_AUDIT_LINES]: a gateway config in $WORK/NAME.toml
config() {
    local audit=""
    case $2 in
        on) audit="signing_key_file = \"$WORK/log.key\"" ;;
        witness) audit="signing_key_file = \"$WORK/log.key\"
[[audit.witnesses]]
url = \"http://$WITNESS\"
key = \"$WIT_VKEY\"" ;;
    esac
    cat >"$WORK/$1.toml" <<EOF
[server]
listen = "127.0.0.1:$(free_port)"
admin_token_env = "BENCH_ADMIN_TOKEN"
[store]
sqlite = "$WORK/$1.db"
replica = "$1"
[audit]
max_wait_ms = 2000
batch_max = 512
origin = "$ORIGIN"
checkpoint_every_records = $EVERY_RECORDS
checkpoint_every_ms = $EVERY_MS
${3:-}
$audit
[providers.bench]
kind = "openai"
base_url = "http://$FAKE/v1"
[[models]]
name = "bench-model"
provider = "bench"
upstream = "bench-upstream"
EOF
    echo "$WORK/$1.toml"
}
# key CONFIG: the principal and a key set up in the config's store; prints the key
key() {
    printf 'id,citizenships\nbench-user,US\n' >"$WORK/p.csv"
    "$BIN/clearance" principals import "$WORK/p.csv" --config "$1" >/dev/null
    "$BIN/clearance" keys create --principal bench-user --config "$1" --format json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])'
}
# serve CONFIG: starts a gateway; sets SERVED_ADDR and SERVED_PID (not in a subshell)
serve() {
    BENCH_ADMIN_TOKEN=bench-admin CLEARANCE_LOG=${CLEARANCE_LOG:-info} "$BIN/clearance" serve --config "$1" \
        >"$1.out" 2>"$1.out.err" &
    SERVED_PID=$!
    PIDS+=("$SERVED_PID")
    local i
    for ((i = 0; i < 12000; i++)); do  # up to 10 minutes: the start verifies the whole trail
        SERVED_ADDR=$(sed -n 's/.*listening on \(http:\/\/\)\{0,1\}//p' "$1.out" | head -n1)
        [[ -n "$SERVED_ADDR" ]] && return 0
        kill -0 "$SERVED_PID" 2>/dev/null || break
        sleep 0.05
    done
    log "gateway did not start: $(cat "$1.out" "$1.out.err")"; return 1
}
BODY_GW='{"model":"bench-model","messages":[{"role":"user","content":"hello"}]}'
BODY_DIRECT='{"model":"bench-upstream","messages":[{"role":"user","content":"hello"}]}'

if [[ " $PARTS " == *" latency "* ]]; then
    declare -A ADDR KEY
    for mode in off on witness; do
        cfg=$(config "$mode" "$mode")
        KEY[$mode]=$(key "$cfg")
        CLEARANCE_LOG=warn serve "$cfg"
        ADDR[$mode]=$SERVED_ADDR
    done
    TARGETS=(direct off on witness)
    if command -v socat >/dev/null; then
        RELAY_PORT=$(free_port)
        socat "TCP-LISTEN:$RELAY_PORT,bind=127.0.0.1,fork,reuseaddr,nodelay" "TCP:$FAKE,nodelay" &
        PIDS+=($!)
        TARGETS=(direct relay off on witness)
    fi
    log "gateways: off ${ADDR[off]}, on ${ADDR[on]}, on+witness ${ADDR[witness]}"
    run() { # NAME PHASE ROUND oha-args...
        local name=$1 phase=$2 round=$3; shift 3
        local url body=$BODY_GW auth=()
        case $name in
            direct) url="http://$FAKE/v1/chat/completions" body=$BODY_DIRECT ;;
            relay) url="http://127.0.0.1:$RELAY_PORT/v1/chat/completions" body=$BODY_DIRECT ;;
            *) url="http://${ADDR[$name]}/v1/chat/completions" auth=(-H "authorization: Bearer ${KEY[$name]}") ;;
        esac
        "$OHA" --no-tui --output-format json -o "$OUT/$phase-$name-r$round.json" -m POST \
            -T application/json -d "$body" "${auth[@]}" "$@" "$url" >/dev/null
    }
    for t in "${TARGETS[@]}"; do run "$t" warmup 0 -z 3s -c "$CONNS"; done
    for round in $(seq 1 "$ROUNDS"); do
        # Rotate the order each round: each target runs first, middle and last in turn.
        n=${#TARGETS[@]}
        order=()
        for i in $(seq 0 $((n - 1))); do order+=("${TARGETS[$(((i + round - 1) % n))]}"); done
        log "round $round/$ROUNDS: ${RATE} RPS ${FIXED_SECS}s, then max ${MAX_SECS}s, each of: ${order[*]}"
        for t in "${order[@]}"; do run "$t" fixed "$round" -z "${FIXED_SECS}s" -q "$RATE" --latency-correction -c "$CONNS"; done
        for t in "${order[@]}"; do run "$t" max "$round" -z "${MAX_SECS}s" -c "$MAX_CONNS"; done
    done
    for mode in off on witness; do
        curl -fsS -H 'authorization: Bearer bench-admin' "http://${ADDR[$mode]}/metrics" >"$OUT/metrics-$mode.txt" 2>/dev/null || true
    done
    cp "$WORK"/witness.out* "$OUT/" 2>/dev/null || true
fi

if [[ " $PARTS " == *" verify "* ]]; then
    cfg=$(config store on)
    vkey=$(key "$cfg")
    CLEARANCE_LOG=warn serve "$cfg"
    addr=$SERVED_ADDR pid=$SERVED_PID
    log "filling the store: $VERIFY_REQUESTS requests through a gateway with signing on"
    "$OHA" --no-tui --output-format json -o "$OUT/fill.json" -m POST -T application/json -d "$BODY_GW" \
        -H "authorization: Bearer $vkey" -n "$VERIFY_REQUESTS" -c "$MAX_CONNS" "http://$addr/v1/chat/completions" >/dev/null
    kill -TERM "$pid"; wait "$pid" || true
    records=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from audit').fetchone()[0])" "$WORK/store.db")
    log "store holds $records records ($(du -m "$WORK/store.db" | cut -f1) MB)"
    echo "{\"records\": $records}" >"$OUT/verify-store.json"
    # Start-up: time to "listening" with verify_at_start on and off, interleaved.
    cfg_noverify=$(config store-noverify on "verify_at_start = false")
    sed -i "s#^sqlite = .*#sqlite = \"$WORK/store.db\"#; s#^replica = .*#replica = \"store\"#" "$cfg_noverify"
    cfg=$(config store on)  # the same store, verify_at_start on (the default)
    for run in $(seq 1 "$VERIFY_RUNS"); do
        for v in on off; do
            c=$cfg; [[ $v == off ]] && c=$cfg_noverify
            start=$(date +%s.%N)
            serve "$c"
            end=$(date +%s.%N)
            addr=$SERVED_ADDR pid=$SERVED_PID
            line=$(grep -m1 'audit trail verified' "$c.out.err" "$c.out" 2>/dev/null | head -n1 || true)
            python3 -c "import json,sys; print(json.dumps({'verify_at_start': sys.argv[1], 'seconds': float(sys.argv[3]) - float(sys.argv[2]), 'line': sys.argv[4]}))" \
                "$v" "$start" "$end" "$line" >>"$OUT/verify-start.jsonl"
            if [[ $v == on && $run == "$VERIFY_RUNS" ]]; then
                break  # keep the last verifying gateway up for verify-log
            fi
            kill -TERM "$pid"; wait "$pid" || true
        done
    done
    sleep $(((EVERY_MS + 999) / 1000 + 1))  # its checkpointer signs the closed logs
    for run in $(seq 1 "$VERIFY_RUNS"); do
        for how in tiles database; do
            start=$(date +%s.%N)
            if [[ $how == tiles ]]; then
                "$BIN/clearance" audit verify-log --url "http://$addr" --key "$LOG_VKEY" --token bench-admin \
                    >"$OUT/verify-$how-$run.out" 2>&1 || { log "verify-log failed: $(tail -5 "$OUT/verify-$how-$run.out")"; }
            else
                "$BIN/clearance" audit verify --config "$cfg" >"$OUT/verify-$how-$run.out" 2>&1 ||
                    { log "verify failed: $(tail -5 "$OUT/verify-$how-$run.out")"; }
            fi
            end=$(date +%s.%N)
            python3 -c "import json,sys; print(json.dumps({'how': sys.argv[1], 'seconds': float(sys.argv[3]) - float(sys.argv[2])}))" \
                "$how" "$start" "$end" >>"$OUT/verify-runs.jsonl"
        done
    done
fi

python3 "$ROOT/bench/verifiable.py" "$OUT" | tee "$OUT/summary.txt"
log "raw results in ${OUT#"$ROOT"/}"
