# Shared by the bench scripts that start processes (record.sh, soak.sh): sourced, not run.
# The caller defines log().

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
