# Shared by the bench scripts that start processes (record.sh, soak.sh, verifiable.sh,
# identity.sh, scim.sh): sourced, not run. The caller defines log().

# need_oha: OHA is oha's path, installed with cargo where the machine has none.
need_oha() {
    OHA=$(command -v oha || echo "$HOME/.cargo/bin/oha")
    [[ -x "$OHA" ]] || { log "installing oha"; cargo install oha --locked; OHA="$HOME/.cargo/bin/oha"; }
}

# scratch_work NAME: WORK is a new scratch folder; the processes whose pids go into PIDS are
# stopped, and the folder removed, when the script exits (Ctrl-C included). A script with more
# to undo defines cleanup_extra.
scratch_work() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/clearance-$1.XXXXXX")
    PIDS=()
    trap stop_and_clean EXIT
    trap 'exit 130' INT TERM
}

stop_and_clean() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if declare -F cleanup_extra >/dev/null; then cleanup_extra; fi
    rm -rf "$WORK"
    exit "$rc"
}

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_line FILE PID: waits for the process to print "listening on ADDR" into FILE; prints ADDR.
wait_line() {
    for _ in $(seq 1 200); do
        local addr
        addr=$(sed -n 's/.*listening on \(http:\/\/\)\{0,1\}//p' "$1" | head -n1)
        [[ -n "$addr" ]] && { echo "$addr"; return 0; }
        kill -0 "$2" 2>/dev/null || break
        sleep 0.05
    done
    log "did not start: $(cat "$1" "$1.err" 2>/dev/null)"; return 1
}

# build_release: the release binaries the scripts start (BENCH_NO_BUILD=1 skips the build).
build_release() {
    if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
        log "building release binaries"
        (cd "$ROOT" && cargo build --release -q -p clearance-cli -p clearance-fake)
    fi
}

# results_dir NAME: OUT is a new results folder under bench/results, with the machine it ran on.
results_dir() {
    OUT="$ROOT/bench/results/$1-$(date +%Y%m%d-%H%M%S)"
    mkdir -p "$OUT"
    { date -u; uname -r; nproc; grep -m1 'model name' /proc/cpuinfo; git -C "$ROOT" rev-parse --short HEAD; } >"$OUT/machine.txt" 2>/dev/null || true
}

# start_fake_provider: FAKE is the address of a fake provider, stopped with the script.
start_fake_provider() {
    "$BIN/clearance-fake" --listen 127.0.0.1:0 >"$WORK/fake.out" 2>"$WORK/fake.out.err" &
    PIDS+=($!)
    FAKE=$(wait_line "$WORK/fake.out" "$!")
}
