#!/usr/bin/env bash
# The main job, on a fresh machine, offline: builds Clearance, starts fake OpenAI, Anthropic and Gemini
# providers and the gateway with the sample config (demo/clearance.toml) and an embedded
# SQLite store, imports a few principals, creates a client key, sends a real request and a
# streamed one, verifies the audit log, and leaves the gateway running until Ctrl-C.
#
#   bash scripts/demo.sh          # keep the gateway running afterwards
#   bash scripts/demo.sh --once   # stop after the tour (CI uses this)
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${CLEARANCE_PROFILE:-release}"
once=false
[ "${1:-}" = "--once" ] && once=true

# The sample config uses 8787 (gateway) and 9101 (providers); override if those are taken.
gateway_port="${DEMO_GATEWAY_PORT:-8787}"
fake_port="${DEMO_FAKE_PORT:-9101}"
witness_port="${DEMO_WITNESS_PORT:-9102}"
idp_port="${DEMO_IDP_PORT:-9103}"
for port in "$gateway_port" "$fake_port" "$witness_port" "$idp_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already in use; stop whatever listens there (an earlier demo?) or set" >&2
    echo "DEMO_GATEWAY_PORT / DEMO_FAKE_PORT / DEMO_WITNESS_PORT / DEMO_IDP_PORT, and retry" >&2
    exit 1
  fi
done

# The directive proofs in the tour run the cvc5 SMT solver (installed here if missing).
. scripts/cvc5.sh

echo "==> building ($profile)"
if [ "$profile" = release ]; then
  cargo build --locked --release -p clearance-cli -p clearance-fake
else
  cargo build --locked -p clearance-cli -p clearance-fake
fi
bin="${CARGO_TARGET_DIR:-$PWD/target}/$profile"

run="$PWD/demo-run"
rm -rf "$run" && mkdir -p "$run"
cp demo/principals.csv "$run/"
cp -r demo/directives "$run/directives"
sed -e "s/127.0.0.1:8787/127.0.0.1:$gateway_port/" -e "s/127.0.0.1:9101/127.0.0.1:$fake_port/" \
  -e "s/127.0.0.1:9103/127.0.0.1:$idp_port/" demo/clearance.toml >"$run/clearance.toml"
config="$run/clearance.toml"

# The providers' secrets come from the environment, never from the config file.
export ACME_KEY=demo-provider-key OPENLAB_KEY=demo-provider-key GOOGLE_KEY=demo-provider-key
# The identity provider's SCIM token (its own credential: it opens /scim/v2 and nothing else).
export CLEARANCE_SCIM_TOKEN=demo-scim-token
# The admin API's token (the default variable); `clearance status` and `clearance models` use it too.
export CLEARANCE_ADMIN_TOKEN=demo-admin-token

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

wait_for_line() { # file pattern
  for _ in $(seq 1 100); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}

echo "==> starting fake providers on 127.0.0.1:$fake_port"
"$bin/clearance-fake" --listen "127.0.0.1:$fake_port" --require-key demo-provider-key >"$run/fake.log" 2>&1 &
pids+=($!)
wait_for_line "$run/fake.log" "listening"

echo "==> starting a fake identity provider (OIDC issuer, test-only keys) on 127.0.0.1:$idp_port"
"$bin/clearance-fake" idp --listen "127.0.0.1:$idp_port" >"$run/idp.log" 2>&1 &
pids+=($!)
wait_for_line "$run/idp.log" "listening"

echo "==> the audit log's signing key, and an independent witness that cosigns its checkpoints"
"$bin/clearance" audit keygen --name clearance.demo/audit --out "$run/audit-signing.key" >"$run/log-key.txt"
"$bin/clearance" witness keygen --name witness.demo/w1 --out "$run/witness.key" >"$run/witness-key.txt"
log_key=$(cat "$run/log-key.txt")
witness_key=$(cat "$run/witness-key.txt")
echo "  log verifier key (for auditors): $log_key"
echo "  witness verifier key:            $witness_key"
"$bin/clearance" witness serve --listen "127.0.0.1:$witness_port" --name witness.demo/w1 --key "$run/witness.key" \
  --log "clearance.demo/audit/*=$log_key" --state "$run/witness.db" >"$run/witness.log" 2>&1 &
pids+=($!)
wait_for_line "$run/witness.log" "listening"
sed -i "s|^# witnesses = .*|witnesses = [{ url = \"http://127.0.0.1:$witness_port\", key = \"$witness_key\" }]\nwitnesses_required = 1|" "$config"

echo "==> importing principals and creating a key for alice"
"$bin/clearance" check-config --config "$config"
"$bin/clearance" principals import "$run/principals.csv" --config "$config"
new_key() { # principal app: a key named for the application that uses it
  "$bin/clearance" keys create --principal "$1" --name "$2" --config "$config" --format json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])'
}
key=$(new_key alice support-bot)
bjorn_key=$(new_key bjorn research-notebook)   # a Swedish national working inside the US
dev_key=$(new_key dev code-assist)             # an Indian national with a US green card

echo
echo "==> denied-party screening: OFAC's SDN list imported (a 2021 snapshot kept for tests; load the"
echo "    current one from OFAC); every principal is screened, by name and by organisation"
"$bin/clearance" lists import --source ofac-sdn crates/clearance-screening/tests/data/lists/ofac-sdn --config "$config"
"$bin/clearance" screen --principals --config "$config" | tail -n 1
echo "==> one name, as a compliance officer would check it: clearance screen --name \"Aiman Al Zawahiri\""
"$bin/clearance" screen --name "Aiman Al Zawahiri" --config "$config" | head -n 4

echo "==> starting the gateway"
CLEARANCE_LOG=warn "$bin/clearance" serve --config "$config" >"$run/gateway.log" 2>&1 &
gateway_pid=$!
pids=("$gateway_pid" "${pids[@]}")
wait_for_line "$run/gateway.log" "listening"
base="http://127.0.0.1:$gateway_port"

echo
echo "==> an OpenAI-style request (POST /v1/chat/completions, model gpt-5)"
curl -sS -i "$base/v1/chat/completions" -H "Authorization: Bearer $key" -H 'content-type: application/json' \
  -d '{"model":"gpt-5","messages":[{"role":"user","content":"What does Clearance do?"}]}' | tr -d '\r'
echo
echo
echo "==> an Anthropic-style streamed answer (POST /v1/messages, model mythos-5), event by event"
curl -sS -N "$base/v1/messages" -H "x-api-key: $key" -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' \
  -d '{"model":"mythos-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"Stream me a greeting"}]}'
echo
echo "==> any client to any model: the same Anthropic-style stream answered by gemini-flash, a Gemini"
echo "    model (the request is translated to generateContent, the answer back into Anthropic events)"
curl -sS -N "$base/v1/messages" -H "x-api-key: $key" -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' \
  -d '{"model":"gemini-flash","max_tokens":100,"stream":true,"system":"Be brief.","messages":[{"role":"user","content":"Stream me a greeting"}]}'
echo "  what the Gemini provider received:"
curl -sS "http://127.0.0.1:$fake_port/_fake/requests" | python3 -c '
import json, sys
last = json.load(sys.stdin)[-1]
print("    POST", last["path"] + ("?" + last["query"] if last.get("query") else ""))
print("    " + json.dumps(last["body"])[:300])'
echo
echo "==> an OpenAI-style request the target cannot express is refused by name, never half-sent (400)"
curl -sS "$base/v1/chat/completions" -H "Authorization: Bearer $key" -H 'content-type: application/json' \
  -d '{"model":"mythos-5","logprobs":true,"messages":[{"role":"user","content":"hi"}]}'
echo
echo "==> a request with a wrong key is refused (401) and still audited"
curl -sS "$base/v1/chat/completions" -H "Authorization: Bearer clr_wrong" -d '{}'
echo

ask_mythos() { # who key: one Anthropic-style request for mythos-5; prints status and decision
  curl -sS -o "$run/answer.json" -D "$run/headers.txt" -w '%{http_code}' "$base/v1/messages" \
    -H "x-api-key: $2" -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' \
    -d '{"model":"mythos-5","max_tokens":50,"messages":[{"role":"user","content":"hello"}]}' >"$run/status.txt"
  printf '  %-6s -> HTTP %s, x-clearance-decision: %s\n' "$1" "$(cat "$run/status.txt")" \
    "$(tr -d '\r' <"$run/headers.txt" | sed -n 's/^x-clearance-decision: //p')"
}

echo
echo "==> directive EXD-2026-06 (\"models fable-5 and mythos-5: no access for persons who are not US"
echo "    persons\") is active in SHADOW mode (demo/directives/): it records whom it would cut, cuts no one"
ask_mythos alice "$key"
ask_mythos bjorn "$bjorn_key"
ask_mythos dev "$dev_key"
sleep 1.2   # the audit writer batches off the hot path
echo
echo "==> why, in words: clearance explain --principal bjorn --model mythos-5"
"$bin/clearance" explain --principal bjorn --model mythos-5 --config "$config" --format text
echo
echo "==> before enforcing: the impact preview (registry and recorded traffic), next to a blanket block"
"$bin/clearance" directives preview demo/drafts/EXD-2026-06.toml --since 1d --config "$config" --format text
echo
echo "==> and proved, for every caller there could be (not only those on record): clearance directives"
echo "    diff --active demo/drafts/EXD-2026-06.toml (Cedar's symbolic compiler and cvc5)"
"$bin/clearance" directives diff --active demo/drafts/EXD-2026-06.toml --config "$config"
echo
echo "==> enforce it: clearance directives activate demo/drafts/EXD-2026-06.toml --require-no-new-access"
echo "    (proved, validated whole, written atomically; the gateway picks it up within a second)"
"$bin/clearance" directives activate demo/drafts/EXD-2026-06.toml --require-no-new-access --config "$config"
sleep 1.5
ask_mythos alice "$key"
ask_mythos bjorn "$bjorn_key"
ask_mythos dev "$dev_key"
echo "  bjorn's answer (HTTP 451, in the Anthropic error shape, with RFC 7725's Link header):"
ask_mythos bjorn "$bjorn_key" >/dev/null
tr -d '\r' <"$run/headers.txt" | { grep -i '^link:' || true; } | sed 's/^/    /'
bjorn_request=$(tr -d '\r' <"$run/headers.txt" | sed -n 's/^x-clearance-request-id: //p')
bjorn_receipt=$(tr -d '\r' <"$run/headers.txt" | sed -n 's/^x-clearance-receipt: //p')
python3 -c 'import json, sys; print("    " + json.load(open(sys.argv[1]))["error"]["message"])' "$run/answer.json"
sleep 0.5   # the audit writer batches off the hot path

echo
echo "==> now enforced, an edit that would let our own staff keep access (demo/drafts/widened/):"
echo "    the proof refutes \"nobody gains access\" with a concrete caller; the activation is refused"
if "$bin/clearance" directives activate demo/drafts/widened/EXD-2026-06.toml --require-no-new-access --config "$config" \
  2>"$run/refused.txt"; then
  echo "  the widening edit was activated: the proof failed to refuse it" >&2
  exit 1
fi
grep -E 'REFUTED|GAINS|^    - |nothing was activated' "$run/refused.txt" | sed -n '1,3p;$p' | sed 's/^/  /'

echo
echo "==> the identity provider keeps the registry current (SCIM 2.0): HR provisions erin, a German"
echo "    national working in the US, as Microsoft Entra ID sends it"
scim() { # method path [json]: prints the HTTP status; the body goes to $run/scim.json
  curl -sS -o "$run/scim.json" -w '%{http_code}' -X "$1" "$base/scim/v2$2" \
    -H "Authorization: Bearer $CLEARANCE_SCIM_TOKEN" -H 'content-type: application/scim+json' ${3:+-d "$3"}
}
status=$(scim POST /Users '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:clearance:2.0:User"],
  "userName":"erin","externalId":"e-4711","displayName":"Erin Engel","active":true,"userType":"Employee",
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"organization":"acme-labs"},
  "urn:ietf:params:scim:schemas:extension:clearance:2.0:User":{"citizenships":["DE"],"residence":"US"}}')
erin_id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$run/scim.json")
echo "  POST /scim/v2/Users -> HTTP $status (SCIM id $erin_id)"
"$bin/clearance" principals show erin --config "$config" --format json | python3 -c '
import json, sys
p = json.load(sys.stdin)
print("  registry: erin citizenships=%s residence=%s us_person=%s confirmed by the IdP at %s" % (
    p["citizenships"], p["residence"], p["us_person"], p.get("facts_confirmed_at")))'

echo
echo "==> erin signs in through the identity provider (OIDC): no Clearance key, a signed token"
token() { # sub: a token from the fake IdP for the demo audience
  curl -sS "http://127.0.0.1:$idp_port/token" -H 'content-type: application/json' \
    -d "{\"sub\":\"$1\",\"aud\":\"clearance-demo\",\"groups\":[\"engineer\"]}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
erin_token=$(token erin)
echo "  token: ${erin_token:0:40}... (RS256, verified against the issuer's JWKS)"
ask_mythos erin "$erin_token"
echo "  HR records her US naturalisation: Entra ID's PATCH; the very next request is decided on it"
status=$(scim PATCH "/Users/$erin_id" '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
  {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:clearance:2.0:User:citizenships","value":"DE;US"}]}')
echo "  PATCH /scim/v2/Users/$erin_id -> HTTP $status"
ask_mythos erin "$erin_token"
echo "  erin leaves the company: Okta's deactivation; her token (and any key) stops working at once"
status=$(scim PATCH "/Users/$erin_id" '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}')
echo "  PATCH /scim/v2/Users/$erin_id {active: false} -> HTTP $status"
ask_mythos erin "$erin_token"
python3 -c 'import json, sys; print("    " + json.load(open(sys.argv[1]))["error"]["message"])' "$run/answer.json"

ask_gpt() { # one OpenAI-style request for gpt-5 as alice; prints status, served model and decision
  curl -sS -o "$run/answer.json" -D "$run/headers.txt" -w '%{http_code}' "$base/v1/chat/completions" \
    -H "Authorization: Bearer $key" -H 'content-type: application/json' \
    -d '{"model":"gpt-5","messages":[{"role":"user","content":"hello"}]}' >"$run/status.txt"
  printf '  HTTP %s, x-clearance-served-model: %-12s x-clearance-decision: %s\n' "$(cat "$run/status.txt")" \
    "$(tr -d '\r' <"$run/headers.txt" | sed -n 's/^x-clearance-served-model: //p')" \
    "$(tr -d '\r' <"$run/headers.txt" | sed -n 's/^x-clearance-decision: //p')"
}
fake_behavior() { # upstream-model json
  curl -sS -o /dev/null -X PUT "http://127.0.0.1:$fake_port/_fake/behavior/$1" -H 'content-type: application/json' -d "$2"
}

echo
echo "==> a model goes dark: gpt-5's provider starts answering 503 to every request for it"
echo "    (route in demo/clearance.toml: gpt-5 -> gemini-flash -> open-model; breaker opens after 3 failures)"
ask_gpt
fake_behavior gpt-5-2026-06 '{"status":503}'
for _ in 1 2 3 4; do ask_gpt; done
echo "  the last answer's audit record lists every attempt:"
sleep 0.5   # the audit writer batches off the hot path
"$bin/clearance" audit export --config "$config" --format jsonl | tail -n 1 | python3 -c '
import json, sys
rec = json.loads(sys.stdin.read())["record"]
print("    decision: %s, served_model: %s, attempts: %s" % (rec["decision"], rec["served_model"], json.dumps(rec.get("attempts"))))'
echo "  what the gateway knows: clearance status (GET /admin/status)"
"$bin/clearance" status --config "$config" | sed 's/^/    /'
echo "  the provider recovers; after the breaker's open_ms (5 s) one probe closes it again"
fake_behavior gpt-5-2026-06 '{}'
sleep 5.2
ask_gpt
ask_gpt
echo
echo "==> the kill switch: an operator takes gpt-5 out of service (audited, kept across restarts)"
"$bin/clearance" models disable gpt-5 --reason "vendor incident INC-7: answers under review" --config "$config"
ask_gpt
"$bin/clearance" models enable gpt-5 --reason "INC-7 closed" --config "$config"
ask_gpt

echo
echo "==> validated fallbacks: gpt-5's route falls back to gemini-flash, then open-model. Were they ever"
echo "    tested on what the support bot needs? clearance validate runs demo/suites/support.toml on each,"
echo "    through the same provider layer and translation as production"
good='{"reply":"Refunds take 30 days. Start a return from your orders page."}'
fake_behavior gpt-5-2026-06 "$good"
fake_behavior gemini-3-flash "$good"
fake_behavior llama-4-70b-instruct '{"reply":"I cannot say, sorry."}'
"$bin/clearance" validate --suite demo/suites/support.toml --primary gpt-5 \
  --candidates gemini-flash,open-model --config "$config" | sed 's/^/  /' ||
  echo "  (exit 1: a candidate is below the bar; the run and both standings are stored)"
echo "  the running gateway picked the standings up (no restart): clearance status"
sleep 0.5
"$bin/clearance" status --config "$config" | sed -n '1p;/^gpt-5 /p' | sed 's/^/    /'

echo
echo "==> a model goes dark WITH a validated fallback: gpt-5's provider fails, gemini-flash answers"
fake_behavior gpt-5-2026-06 '{"status":503}'
ask_gpt
echo "==> and one WITHOUT: mythos-5 has no route; when its provider fails, its callers have nothing"
fake_behavior claude-mythos-5 '{"status":503}'
ask_mythos alice "$key"
fake_behavior gpt-5-2026-06 '{}'
fake_behavior claude-mythos-5 '{}'

echo
echo "==> the dependency report: which apps hang on which model, and which have no validated fallback"
echo "    they may use (clearance deps; --format html writes one self-contained page, docs/img/deps.png)"
"$bin/clearance" deps --since 1h --config "$config" | sed 's/^/  /'
"$bin/clearance" deps --since 1h --config "$config" --format html --out "$run/deps.html" | sed 's/^/  /'
echo "  and if gpt-5 were cut off for everyone (demo/drafts/gpt-5-cutoff.toml): who loses their primary?"
"$bin/clearance" deps --since 1h --config "$config" --directive demo/drafts/gpt-5-cutoff.toml | sed 's/^/  /'

echo
echo "==> verifying the audit trail: one hash-chained log per writer (this gateway's, and one per CLI change)"
"$bin/clearance" audit verify --config "$config"
echo "  every request: its decision record (durable before the answer) + its completion record"
"$bin/clearance" audit export --config "$config" --format jsonl | python3 -c '
import json, sys
lines = [json.loads(line) for line in sys.stdin]
completions = {e["record"]["id"]: e for e in lines if e["record"].get("phase") == "completion"}
for e in lines:
    rec = e["record"]
    if rec.get("phase") == "completion":
        continue
    log = "log " + e["log_id"][-6:]
    if rec["decision"] == "admin":
        a = rec["admin"]
        print("  %s #%-6s admin    %-20s %s (by %s)" % (log, e["seq"], a["action"], a["target"][:36], a["actor"]))
        continue
    done = completions.get(rec["id"])
    end = done["record"] if done else rec
    shadow = ("shadow:" + ",".join(rec["shadow_hits"])) if rec.get("shadow_hits") else ""
    fired = ",".join(end.get("directive_ids") or [])
    seqs = "%s+%s" % (e["seq"], done["seq"]) if done else str(e["seq"])
    print("  %s #%-6s %-8s %s %-6s %-9s hash %s... %s" % (log, seqs, end["decision"], end["status"],
          rec["principal_id"] or "-", rec["requested_model"] or "-", e["hash"][:16], fired or shadow))'

echo
echo "==> the verifiable log: bjorn's refusal has a receipt he can check offline, years later"
echo "  his 451 answer carried  x-clearance-receipt: $bjorn_receipt"
for _ in $(seq 1 50); do # 425 until a signed checkpoint covers the record (every 500 ms here)
  code=$(curl -sS -o "$run/receipt-451.json" -w '%{http_code}' "$base/audit/receipt/$bjorn_request" -H "x-api-key: $bjorn_key")
  [ "$code" = 200 ] && break
  sleep 0.2
done
echo "  GET /audit/receipt/$bjorn_request (with his key) -> $run/receipt-451.json; verified with only the keys:"
echo "  \$ clearance audit verify-bundle receipt-451.json --key <log key> --witness-key <witness key>"
"$bin/clearance" audit verify-bundle "$run/receipt-451.json" --key "$log_key" --witness-key "$witness_key" | sed 's/^/    /'
echo "  (independently: python3 tools/audit_check.py receipt $run/receipt-451.json --key '<log key>', see docs/auditor.md)"
echo "  an auditor saves the deployment's signed heads, then checks every log from its tiles over HTTP:"
curl -sS "$base/audit/checkpoint" >"$run/deployment-note.txt"
"$bin/clearance" audit verify-log --url "$base" --key "$log_key" --checkpoint "$run/deployment-note.txt" | sed 's/^/    /'

if $once; then
  echo "==> demo done"
  exit 0
fi
cat <<TXT

The gateway is running at $base (store: $run/clearance.db). Try:
  curl -s $base/v1/chat/completions -H "Authorization: Bearer $key" -d '{"model":"open-model","messages":[{"role":"user","content":"hi"}]}'
  curl -s $base/metrics | grep clearance_requests
  $bin/clearance audit verify --config $config
Ctrl-C stops it (the audit log is drained first).
TXT
wait "$gateway_pid"
