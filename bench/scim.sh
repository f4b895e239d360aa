#!/usr/bin/env bash
# SCIM PATCH-to-decision propagation (see bench/README.md, "SCIM"): a gateway with SCIM on and
# a directive denying gpt-5 to non-US persons; a user provisioned over SCIM with a key; then
# BENCH_SCIM_N times: PATCH the user's citizenships and residence (as Entra ID sends it,
# alternating CN and US) and send model requests until the decision flips (451 / 200). The
# propagation time runs from sending the PATCH to the first request answered with the new
# decision; p50 / p99 / max are printed (target: 1 s).
#  - sqlite:  one gateway; the requests go to the gateway that took the PATCH.
#  - replica: two gateways on one PostgreSQL database (BENCH_SCIM_PG, default
#    postgres://root@127.0.0.1:5432, a scratch database created and dropped); the PATCH goes
#    to one, the requests to the other (which reloads on the store's notification).
# Usage: bash bench/scim.sh        BENCH_SCIM_N=200 BENCH_PARTS="sqlite replica"
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BENCH_BIN:-$ROOT/target/release}
N=${BENCH_SCIM_N:-200}
PARTS=${BENCH_PARTS:-sqlite replica}
PG=${BENCH_SCIM_PG:-postgres://root@127.0.0.1:5432}

log() { printf '[scim-bench] %s\n' "$*" >&2; }

. "$ROOT/bench/processes.sh"
build_release

scratch_work scim-bench
PG_DB=""
cleanup_extra() {
    if [[ -n "$PG_DB" ]]; then psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true; fi
}

start_fake_provider
log "fake provider on $FAKE"

mkdir -p "$WORK/directives"
cat >"$WORK/directives/EXD-PERSON.toml" <<EOF
id = "EXD-PERSON"
title = "Export control: US persons only"
authority = "Bench order"
effective = "2026-01-01T00:00:00Z"
mode = "enforce"
models = ["gpt-5"]
when = "!principal.us_person"
effect = "deny"
EOF

# config NAME STORE_LINES: a gateway config in $WORK/NAME.toml
config() {
    cat >"$WORK/$1.toml" <<EOF
[server]
listen = "127.0.0.1:$(free_port)"
admin_token_env = "BENCH_ADMIN_TOKEN"
[store]
$2
replica = "$1"
[directives]
dir = "$WORK/directives"
[identity.scim]
token_env = "BENCH_SCIM_TOKEN"
[providers.fake]
kind = "openai"
base_url = "http://$FAKE/v1"
[[models]]
name = "gpt-5"
provider = "fake"
EOF
}

# serve CONFIG: starts a gateway; sets SERVED_ADDR (not in a subshell)
serve() {
    BENCH_ADMIN_TOKEN=bench-admin BENCH_SCIM_TOKEN=bench-scim CLEARANCE_LOG=warn \
        "$BIN/clearance" serve --config "$1" >"$1.out" 2>"$1.out.err" &
    PIDS+=($!)
    SERVED_ADDR=$(wait_line "$1.out" "$!")
}

measure() { # WRITE_ADDR READ_ADDR LABEL
    python3 - "$1" "$2" "$3" "$N" <<'PY'
import http.client, json, sys, time
write, read, label, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def conn(addr):
    host, port = addr.split(":")
    return http.client.HTTPConnection(host, int(port), timeout=10)
w, r = conn(write), conn(read)
def call(c, method, path, body=None, token="bench-scim", ctype="application/scim+json"):
    headers = {"authorization": f"Bearer {token}"}
    if body is not None:
        headers["content-type"] = ctype
        body = json.dumps(body)
    c.request(method, path, body=body, headers=headers)
    resp = c.getresponse()
    data = resp.read()
    return resp.status, (json.loads(data) if data else None)
ext = "urn:ietf:params:scim:schemas:extension:clearance:2.0:User"
status, user = call(w, "POST", "/scim/v2/Users", {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ext],
    "userName": f"bench-{label}@example.com", "active": True,
    ext: {"citizenships": "US", "residence": "US"}})
assert status == 201, (status, user)
status, key = call(w, "POST", "/admin/keys", {"principal": f"bench-{label}@example.com"},
                   token="bench-admin", ctype="application/json")
assert status == 201, (status, key)
chat = json.dumps({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]})
def ask():
    r.request("POST", "/v1/chat/completions", body=chat,
              headers={"authorization": f"Bearer {key['key']}", "content-type": "application/json"})
    resp = r.getresponse(); resp.read()
    return resp.status
deadline = time.time() + 5
while ask() != 200:
    assert time.time() < deadline, "the key never worked"
    time.sleep(0.01)
times, tries = [], []
for i in range(n):
    country = "CN" if i % 2 == 0 else "US"
    expect = 451 if country == "CN" else 200
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
        {"op": "Replace", "path": f"{ext}:citizenships", "value": country},
        {"op": "Replace", "path": f"{ext}:residence", "value": country}]}
    started = time.perf_counter()
    status, _ = call(w, "PATCH", f"/scim/v2/Users/{user['id']}", patch)
    assert status == 200, status
    k = 0
    while True:
        k += 1
        if ask() == expect:
            break
        assert time.perf_counter() - started < 10, "no flip within 10 s"
    times.append((time.perf_counter() - started) * 1000)
    tries.append(k)
times.sort()
pct = lambda p: times[min(len(times) - 1, int(round(p / 100 * (len(times) - 1))))]
print(f"{label}: {n} PATCHes; PATCH-to-decision p50 {pct(50):.1f} ms, p99 {pct(99):.1f} ms, "
      f"max {times[-1]:.1f} ms; first request already flipped in {tries.count(1)}/{n}")
PY
}

for part in $PARTS; do
    case $part in
        sqlite)
            config solo "sqlite = \"$WORK/solo.db\""
            serve "$WORK/solo.toml"
            log "gateway on $SERVED_ADDR (SQLite)"
            measure "$SERVED_ADDR" "$SERVED_ADDR" sqlite
            ;;
        replica)
            PG_DB="clearance_scim_bench_$$"
            psql "$PG/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
            config a "postgres = \"$PG/$PG_DB\""
            config b "postgres = \"$PG/$PG_DB\""
            serve "$WORK/a.toml"; A=$SERVED_ADDR
            serve "$WORK/b.toml"; B=$SERVED_ADDR
            log "gateways on $A and $B (one PostgreSQL database)"
            measure "$A" "$A" postgres-same-gateway
            measure "$A" "$B" postgres-replica
            ;;
    esac
done
