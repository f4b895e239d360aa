#!/usr/bin/env bash
# Runs every test of the project:
#  1. the Rust workspace: unit and property tests in the pure crates, integration tests that
#     drive a real gateway over real HTTP against fake providers, and CLI tests on real files;
#  2. end-to-end tests in which the official OpenAI and Anthropic Python SDKs (from PyPI, in a
#     virtualenv made here) talk to the gateway binaries.
# The store's contract tests and the record tests (SIGKILL under load, three replicas) also run
# on PostgreSQL: scripts/postgres.sh makes sure a server answers at 127.0.0.1:5432 (installing
# and starting one where the machine has none), and each test makes its own scratch database.
# The directive proofs run the cvc5 SMT solver: scripts/cvc5.sh installs it where it is missing.
# The dependency report's HTML is rendered in Debian's headless Chromium: scripts/chromium.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> PostgreSQL for the store tests (scripts/postgres.sh)"
# shellcheck source=scripts/postgres.sh
. scripts/postgres.sh

echo "==> cvc5 for the directive proofs (scripts/cvc5.sh)"
# shellcheck source=scripts/cvc5.sh
. scripts/cvc5.sh

echo "==> Chromium for the dependency report's browser test (scripts/chromium.sh)"
# shellcheck source=scripts/chromium.sh
. scripts/chromium.sh

echo "==> cargo build (binaries for the SDK tests)"
cargo build --locked --workspace --bins

echo "==> cargo test"
cargo test --locked --workspace

echo "==> Python SDK tests"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
CLEARANCE_BIN_DIR="${CARGO_TARGET_DIR:-$PWD/target}/debug" .venv/bin/python -m pytest tests/python -q -p no:cacheprovider
