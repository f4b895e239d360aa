#!/usr/bin/env bash
# The record at scale, measured in one run (see bench/README.md, "The record"):
#  1. added latency (p50, p99 at a fixed rate) and max RPS of the durable decision record,
#     against the previous release's after-the-answer write and against the provider direct
#     (the floor), on SQLite and on PostgreSQL;
#  2. how long a directive activated through one of three replicas on one PostgreSQL database
#     takes to hold on the other two (p50, p99, max), with load on them;
#  3. audit records/s sustained by three writers on one PostgreSQL database
#     (`cargo bench -p clearance-store --bench pg_append`) and, end to end, by three replicas
#     under saturation.
# Usage: bash bench/record.sh    (needs PostgreSQL at 127.0.0.1:5432: scripts/postgres.sh)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN="$ROOT/target/release"
BASELINE_REV=${BENCH_BASELINE_REV:-55c31ce}    # the last commit before durable decision records
BASELINE_TARGET="$ROOT/target/bench-baseline"
RATE=${BENCH_RATE:-500}
FIXED_SECS=${BENCH_FIXED_SECS:-15}
MAX_SECS=${BENCH_MAX_SECS:-10}
ROUNDS=${BENCH_ROUNDS:-2}
CONNS=${BENCH_FIXED_CONNS:-16}
MAX_CONNS=${BENCH_MAX_CONNS:-64}
PROPAGATIONS=${BENCH_PROPAGATIONS:-100}
PG_SERVER=${CLEARANCE_TEST_POSTGRES:-postgres://root@127.0.0.1:5432/test}
UPSTREAM_DELAY_MS=${BENCH_UPSTREAM_DELAY_MS:-0}  # the provider's time to answer (0: as fast as the fake can)
ONLY_LATENCY=${BENCH_ONLY_LATENCY:-0}            # 1: skip the replica and store-level parts

log() { printf '[record-bench] %s\n' "$*" >&2; }

. "$ROOT/scripts/postgres.sh"
. "$ROOT/bench/processes.sh"
need_oha

log "building release binaries (current)"
(cd "$ROOT" && cargo build --release -q -p clearance-cli -p clearance-fake)
if [[ ! -x "$BASELINE_TARGET/release/clearance" || "${BENCH_REBUILD_BASELINE:-0}" == 1 ]]; then
    log "building the baseline ($BASELINE_REV: answers before the record is written)"
    rm -rf "$ROOT/target/bench-baseline-src"
    git -C "$ROOT" worktree add -f --detach "$ROOT/target/bench-baseline-src" "$BASELINE_REV" >/dev/null
    (cd "$ROOT/target/bench-baseline-src" && CARGO_TARGET_DIR="$BASELINE_TARGET" cargo build --release -q -p clearance-cli)
    git -C "$ROOT" worktree remove --force "$ROOT/target/bench-baseline-src"
fi

scratch_work record-bench
DBS=()
cleanup_extra() {
    for db in "${DBS[@]}"; do psql "$PG_SERVER" -qAt -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
}
scratch_db() {
    local name="clearance_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
    psql "$PG_SERVER" -qAt -c "CREATE DATABASE $name" >/dev/null
    DBS+=("$name")
    echo "${PG_SERVER%/*}/$name"
}

"$BIN/clearance-fake" --listen 127.0.0.1:0 >"$WORK/fake.out" 2>"$WORK/fake.out.err" &
PIDS+=($!)
FAKE=$(wait_line "$WORK/fake.out" "$!")
log "fake provider on $FAKE"
if ((UPSTREAM_DELAY_MS > 0)); then
    curl -fsS -o /dev/null -X PUT "http://$FAKE/_fake/behavior/bench-upstream" \
        -H 'content-type: application/json' -d "{\"delay_ms\":$UPSTREAM_DELAY_MS}"
    log "the provider takes $UPSTREAM_DELAY_MS ms to answer"
fi

# config NAME STORE_LINE REPLICA: a gateway config in $WORK/NAME.toml
config() {
    local replica_line=""
    [[ -n "${3:-}" ]] && replica_line="replica = \"$3\""
    cat >"$WORK/$1.toml" <<EOF
[server]
listen = "127.0.0.1:$(free_port)"
admin_token_env = "BENCH_ADMIN_TOKEN"
[store]
$2
$replica_line
[audit]
max_wait_ms = 2000
batch_max = 512
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
config_baseline() { # the baseline's config knows no replica key and lingers 5 ms (its default)
    sed -e '/^replica = /d' "$(config "$1" "$2" "")" >"$WORK/$1.base.toml"
    echo "$WORK/$1.base.toml"
}
# serve BIN CONFIG: starts a gateway (principal and key set up first), prints "ADDR KEY"
serve() {
    local bin=$1 cfg=$2
    printf 'id,citizenships\nbench-user,US\n' >"$WORK/p.csv"
    "$bin" principals import "$WORK/p.csv" --config "$cfg" >/dev/null
    local key
    key=$("$bin" keys create --principal bench-user --config "$cfg" --format json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
    BENCH_ADMIN_TOKEN=bench-admin CLEARANCE_LOG=warn "$bin" serve --config "$cfg" >"$cfg.out" 2>"$cfg.out.err" &
    PIDS+=($!)
    echo "$(wait_line "$cfg.out" "$!") $key"
}

read -r A_ADDR A_KEY < <(serve "$BASELINE_TARGET/release/clearance" "$(config_baseline after-answer-sqlite 'sqlite = "after.db"')")
read -r B_ADDR B_KEY < <(serve "$BIN/clearance" "$(config durable-sqlite 'sqlite = "durable.db"' bench-sqlite)")
read -r C_ADDR C_KEY < <(serve "$BIN/clearance" "$(config durable-postgres "postgres = \"$(scratch_db)\"" bench-pg)")
log "after-answer (baseline, SQLite) $A_ADDR; durable SQLite $B_ADDR; durable PostgreSQL $C_ADDR"

OUT="$ROOT/bench/results/record-$(date +%Y%m%d-%H%M%S)-delay${UPSTREAM_DELAY_MS}ms"
mkdir -p "$OUT"
BODY_GW='{"model":"bench-model","messages":[{"role":"user","content":"hello"}]}'
BODY_DIRECT='{"model":"bench-upstream","messages":[{"role":"user","content":"hello"}]}'
target_args() { # NAME -> url key body
    case $1 in
        direct) echo "http://$FAKE/v1/chat/completions - $BODY_DIRECT" ;;
        after-answer-sqlite) echo "http://$A_ADDR/v1/chat/completions $A_KEY $BODY_GW" ;;
        durable-sqlite) echo "http://$B_ADDR/v1/chat/completions $B_KEY $BODY_GW" ;;
        durable-postgres) echo "http://$C_ADDR/v1/chat/completions $C_KEY $BODY_GW" ;;
    esac
}
run() { # NAME PHASE ROUND oha-args...
    local name=$1 phase=$2 round=$3; shift 3
    local url key body
    read -r url key body < <(target_args "$name")
    local auth=()
    [[ "$key" != - ]] && auth=(-H "authorization: Bearer $key")
    "$OHA" --no-tui --output-format json -o "$OUT/$phase-$name-r$round.json" -m POST \
        -T application/json -d "$body" "${auth[@]}" "$@" "$url"
}
TARGETS=(direct after-answer-sqlite durable-sqlite durable-postgres)
for t in "${TARGETS[@]}"; do run "$t" warmup 0 -z 3s -w -c "$CONNS"; done
for round in $(seq 1 "$ROUNDS"); do
    order=("${TARGETS[@]}")
    ((round % 2)) || order=(durable-postgres durable-sqlite after-answer-sqlite direct)
    log "round $round: ${RATE} RPS for ${FIXED_SECS}s each, then max for ${MAX_SECS}s each (${order[*]})"
    for t in "${order[@]}"; do run "$t" fixed "$round" -z "${FIXED_SECS}s" -w -q "$RATE" --latency-correction -c "$CONNS"; done
    for t in "${order[@]}"; do run "$t" max "$round" -z "${MAX_SECS}s" -w -c "$MAX_CONNS"; done
done

if ((ONLY_LATENCY)); then
    python3 "$ROOT/bench/record.py" report "$OUT" | tee "$OUT/summary.txt"
    exit 0
fi

# --- three replicas on one database --------------------------------------------------------
PG3=$(scratch_db)
REPLICAS=()
KEY3=""
for r in r1 r2 r3; do
    read -r addr key < <(serve "$BIN/clearance" "$(config "replica-$r" "postgres = \"$PG3\"" "$r")")
    REPLICAS+=("$addr")
    KEY3=$key
done
log "three replicas: ${REPLICAS[*]}"
# Load on r2 and r3 while directives propagate (the third replica takes the activations).
for addr in "${REPLICAS[@]:1}"; do
    "$OHA" --no-tui --output-format json -o "$OUT/propagation-load-$addr.json" -m POST -T application/json \
        -d "$BODY_GW" -H "authorization: Bearer $KEY3" -z 600s -q 200 -c 8 "http://$addr/v1/chat/completions" >/dev/null 2>&1 &
    PIDS+=($!)
done
python3 "$ROOT/bench/record.py" propagation --admin-token bench-admin --count "$PROPAGATIONS" \
    --out "$OUT/propagation.json" "${REPLICAS[@]}"
for pid in "${PIDS[@]: -2}"; do kill -TERM "$pid" 2>/dev/null || true; done
# End to end: all three replicas at saturation at once, records/s counted from the store.
before=$(psql "$PG3" -qAt -c "SELECT count(*) FROM audit")
start=$(date +%s.%N)
SATURATE=()
for addr in "${REPLICAS[@]}"; do
    "$OHA" --no-tui --output-format json -o "$OUT/replicas-max-$addr.json" -m POST -T application/json \
        -d "$BODY_GW" -H "authorization: Bearer $KEY3" -z "${MAX_SECS}s" -c 32 "http://$addr/v1/chat/completions" >/dev/null &
    SATURATE+=($!)
done
for pid in "${SATURATE[@]}"; do wait "$pid" || true; done
end=$(date +%s.%N)
after=$(psql "$PG3" -qAt -c "SELECT count(*) FROM audit")
python3 -c "import json; json.dump({'records': $after - $before, 'seconds': $end - $start}, open('$OUT/replicas-records.json', 'w'))"

log "store-level append throughput, three writers (cargo bench -p clearance-store --bench pg_append)"
(cd "$ROOT" && cargo bench -q -p clearance-store --bench pg_append 2>/dev/null) | tee "$OUT/pg_append.txt" || true

python3 "$ROOT/bench/record.py" report "$OUT" | tee "$OUT/summary.txt"
log "raw results in ${OUT#"$ROOT"/}"
