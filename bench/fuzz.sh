#!/usr/bin/env bash
# Fuzzes every cargo-fuzz target in fuzz/ for MINUTES minutes each, one after the other, and
# prints the executions per target. Exits non-zero if any target crashed, naming the input
# that crashed it.
# Usage: bash bench/fuzz.sh MINUTES [TARGET...]      (see bench/README.md, "Fuzzing")
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MINUTES=${1:?usage: bash bench/fuzz.sh MINUTES [TARGET...]}
shift
[[ "$MINUTES" =~ ^[0-9]+$ && "$MINUTES" -gt 0 ]] || {
  echo "MINUTES must be a whole number of minutes, at least 1" >&2
  exit 2
}

# Knobs (environment).
CORPUS=${FUZZ_CORPUS:-$ROOT/fuzz/corpus}     # working corpus, one dir per target (git-ignored)
RSS_MB=${FUZZ_RSS_MB:-2048}                  # libFuzzer -rss_limit_mb
TIMEOUT=${FUZZ_TIMEOUT:-10}                  # libFuzzer -timeout: seconds one input may take
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=${FUZZ_RESULTS:-$ROOT/bench/results/fuzz-$STAMP}

log() { printf '[fuzz] %s\n' "$*" >&2; }

# --- cargo-fuzz and the nightly toolchain -----------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null; then
  log "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "the nightly toolchain is needed: rustup toolchain install nightly" >&2
  exit 2
fi

cd "$ROOT/fuzz"
if [[ $# -gt 0 ]]; then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi

# cargo-fuzz's default build: release, debug assertions and overflow checks on, AddressSanitizer.
log "building (cargo +nightly fuzz build)"
if [[ $# -gt 0 ]]; then
  for target in "${TARGETS[@]}"; do cargo +nightly fuzz build "$target"; done
else
  cargo +nightly fuzz build
fi

mkdir -p "$RESULTS"
SECONDS_EACH=$((MINUTES * 60))
declare -A EXECS COVERAGE RESULT
CRASHED=0
for target in "${TARGETS[@]}"; do
  # The committed seeds go into the working corpus; what the fuzzer adds stays there (ignored
  # by git), so a run never changes the tree and the next run starts where this one ended.
  mkdir -p "$CORPUS/$target" "$ROOT/fuzz/artifacts/$target"
  if [[ -d "$ROOT/fuzz/seeds/$target" ]]; then
    cp -n "$ROOT/fuzz/seeds/$target"/* "$CORPUS/$target/" 2>/dev/null || true
  fi
  log "$target: $MINUTES min, corpus $CORPUS/$target ($(ls "$CORPUS/$target" | wc -l) inputs)"
  status=0
  # One process per target (no -jobs/-workers): one core, stats on this process's stderr.
  cargo +nightly fuzz run "$target" "$CORPUS/$target" -- \
    -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
    -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" \
    >"$RESULTS/$target.log" 2>&1 || status=$?
  EXECS[$target]=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$RESULTS/$target.log" |
    tail -n 1 | grep -o '[0-9]*$' || echo "?")
  COVERAGE[$target]=$(grep -o ' cov: [0-9]*' "$RESULTS/$target.log" | tail -n 1 |
    grep -o '[0-9]*$' || echo "?")
  if [[ $status -eq 0 ]]; then
    RESULT[$target]="ok"
  else
    CRASHED=1
    artifact=$(grep -o 'Test unit written to [^ ]*' "$RESULTS/$target.log" | tail -n 1 |
      sed 's/Test unit written to //' || true)
    RESULT[$target]="CRASH (exit $status) ${artifact:-no artifact, see $RESULTS/$target.log}"
    log "$target crashed: ${artifact:-see $RESULTS/$target.log}"
    grep -m 1 -A 3 -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)" "$RESULTS/$target.log" >&2 || true
  fi
done

{
  printf '%-20s %14s %8s  %s\n' target executions coverage result
  for target in "${TARGETS[@]}"; do
    printf '%-20s %14s %8s  %s\n' "$target" "${EXECS[$target]}" "${COVERAGE[$target]}" \
      "${RESULT[$target]}"
  done
  printf '(%s min per target; logs in %s)\n' "$MINUTES" "$RESULTS"
} | tee "$RESULTS/summary.txt"
exit $CRASHED
