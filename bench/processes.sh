# Shared by the bench scripts that start processes (record.sh, soak.sh, verifiable.sh): sourced,
# not run. The caller defines log().

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
