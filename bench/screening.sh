#!/usr/bin/env bash
# Denied-party screening through the `clearance` binary (see bench/README.md, "Screening"):
# BENCH_SCREEN_N principals (default 100000) generated deterministically into a CSV (common
# names from several regions, a third with an org made of generic company words, 1% spellings
# of listed SDN names), imported into a fresh SQLite store; then timed, each as one process run:
#  1. `lists import --source ofac-sdn` (the real SDN snapshot in
#     crates/clearance-screening/tests/data/lists/): parse, index, re-screen all N principals
#     (name as an individual, org as an organisation) and store them with the version;
#  2. `screen --principals --format json > /dev/null`: the registry screened again, printed;
#  3. `screen --name NAME`: one name, BENCH_SCREEN_RUNS times (default 7), median and max; each
#     run is a whole process (start, open the store, load and index the lists, screen one name).
# Targets (issue 17): the full SDN against 100 000 principals <= 30 s.
# Usage: bash bench/screening.sh        BENCH_SCREEN_N=20000 BENCH_NO_BUILD=1
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BENCH_BIN:-$ROOT/target/release}
N=${BENCH_SCREEN_N:-100000}
RUNS=${BENCH_SCREEN_RUNS:-7}
NAME=${BENCH_SCREEN_NAME:-Ayman al Zawahiry}
LISTS="$ROOT/crates/clearance-screening/tests/data/lists"

log() { printf '[screening-bench] %s\n' "$*" >&2; }

. "$ROOT/bench/processes.sh"
if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
    log "building the release binary"
    (cd "$ROOT" && cargo build --release -q -p clearance-cli)
fi
CLEARANCE="$BIN/clearance"

scratch_work screening-bench
cat >"$WORK/clearance.toml" <<EOF
[server]
listen = "127.0.0.1:0"
[store]
sqlite = "$WORK/clearance.db"
[providers.fake]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
[[models]]
name = "gpt-5"
provider = "fake"
EOF
C=(--config "$WORK/clearance.toml")

log "generating $N principals"
python3 - "$N" "$LISTS/ofac-sdn/sdn.csv" >"$WORK/principals.csv" <<'PY'
import csv, random, sys

n, sdn_path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(17)
given = ("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Susan "
         "Maria Jose Juan Ana Carlos Sofia Luis Lucia Wei Li Ming Hui Jun Yan Hiroshi Yuki Kenji "
         "Aiko Raj Priya Amit Anjali Sanjay Olga Ivan Elena Dmitri Natalia Ahmed Fatima Omar "
         "Layla Yusuf Aisha Hans Anna Klaus Ingrid Pierre Claire Jean Marie Lars Astrid Kofi Ama "
         "Chinedu Ngozi Sipho Thandiwe Mateo Valentina Diego Camila Noah Emma Liam Olivia").split()
family = ("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
          "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
          "White Harris Sanchez Clark Ramirez Lewis Robinson Wang Zhang Liu Chen Yang Huang Zhao "
          "Wu Zhou Sato Suzuki Takahashi Tanaka Watanabe Patel Sharma Singh Kumar Gupta Ivanov "
          "Smirnov Kuznetsov Popov Petrov Khan Haddad Nasser Rahman Hussein Mueller Schmidt "
          "Schneider Fischer Weber Dubois Moreau Laurent Berg Nilsson Mensah Okafor Nkosi Dlamini "
          "Silva Santos Oliveira Pereira Costa").split()
words = ("Global Trading Solutions Systems Tech Labs Partners Logistics Energy Capital Holdings "
         "Industries Consulting Digital Networks Services Analytics Bio Green Blue Northern "
         "Pacific Atlantic Summit Vertex Harbor Pioneer Union Allied General United").split()
forms = ["Ltd", "LLC", "GmbH", "S.A.", "Inc.", "AG", "Co.", "plc", "BV", "SAS"]
countries = "US GB DE FR IN CN JP BR MX NG ZA SE ES IT CA AU KR EG AE PK".split()

# Listed SDN individuals, written as a registry would: given names first, a letter changed now
# and then.
listed = []
with open(sdn_path, newline="", encoding="utf-8") as f:
    for row in csv.reader(f):
        if len(row) > 2 and row[2].strip().lower() == "individual" and "," in row[1]:
            surname, given_names = (p.strip() for p in row[1].split(",", 1))
            listed.append(f"{given_names} {surname.title()}")
listed.sort()

out = csv.writer(sys.stdout, lineterminator="\n")
out.writerow(["id", "name", "citizenships", "residence", "org"])
for i in range(n):
    country = rng.choice(countries)
    if rng.random() < 0.01:
        name = rng.choice(listed)
        if rng.random() < 0.5:
            chars = list(name)
            j = rng.randrange(len(chars))
            if chars[j].isalpha():
                chars[j] = rng.choice("aeiouy")
            name = "".join(chars)
    else:
        name = f"{rng.choice(given)} {rng.choice(family)}"
    org = ""
    if rng.random() < 0.33:
        org = f"{rng.choice(words)} {rng.choice(words)} {rng.choice(forms)}"
    out.writerow([f"p{i:06d}", name, country, country, org])
PY
rows=$(($(wc -l <"$WORK/principals.csv") - 1))
[[ $rows -eq $N ]] || { log "generated $rows principals, expected $N"; exit 1; }

# seconds OUT CMD...: runs CMD with its stdout in OUT; prints its wall time in seconds.
seconds() {
    local out=$1 start end
    shift
    start=$(date +%s%N)
    "$@" >"$out"
    end=$(date +%s%N)
    python3 -c "print(f'{($end - $start) / 1e9:.3f}')"
}
rate() { python3 -c "print(f'{$N / $1:,.0f}')"; }

log "principals import ($N)"
t_principals=$(seconds "$WORK/principals.out" "$CLEARANCE" principals import "$WORK/principals.csv" "${C[@]}")
log "lists import --source ofac-sdn (re-screens $N principals)"
t_import=$(seconds "$WORK/import.out" "$CLEARANCE" lists import --source ofac-sdn "$LISTS/ofac-sdn" "${C[@]}")
log "screen --principals --format json"
t_registry=$(seconds "$WORK/registry.json" "$CLEARANCE" screen --principals --format json "${C[@]}")
counts=$(python3 - "$WORK/registry.json" <<'PY'
import json, sys
from collections import Counter
rows = json.load(open(sys.argv[1]))
c = Counter(r["screening"]["status"] for r in rows)
print(f"{len(rows)} screened: {c['clear']} clear, {c['potential_match']} potential_match, {c['match']} match")
PY
)
log "screen --name \"$NAME\" x $RUNS"
one=()
for _ in $(seq 1 "$RUNS"); do
    one+=("$(seconds "$WORK/one.out" "$CLEARANCE" screen --name "$NAME" "${C[@]}")")
done
one_summary=$(python3 -c "
import statistics, sys
t = sorted(float(x) * 1000 for x in sys.argv[1:])
print(f'median {statistics.median(t):.0f} ms, min {t[0]:.0f} ms, max {t[-1]:.0f} ms ({len(t)} runs)')
" "${one[@]}")

echo "screening benchmark: $N principals, binary $CLEARANCE at $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
row() { printf '  %-32s %8s s  (%s principals/s%s)\n' "$1" "$2" "$(rate "$2")" "${3:-}"; }
row "principals import" "$t_principals"
row "lists import --source ofac-sdn" "$t_import" ", re-screened and stored"
echo "    $(head -n1 "$WORK/import.out")"
row "screen --principals --format json" "$t_registry"
echo "    $counts"
echo "  screen --name \"$NAME\" (whole process: start, load + index the SDN, one name): $one_summary"
echo "    $(head -n1 "$WORK/one.out")"
