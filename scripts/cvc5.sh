#!/usr/bin/env bash
# Makes sure the cvc5 SMT solver is on PATH (or $CVC5 names it): `clearance directives diff`,
# `lint`, and the proof `activate`, `preview` and the admin API show, run it through Cedar's
# symbolic compiler (cedar-policy-symcc). Debian's `cvc5` package (1.0.3) is used: a packaged
# executable the compiler drives as a process, which answered every query of this project's
# tests; symcc's own tests use 1.3.1, which PyPI ships only as a library (docs/proofs.md says
# why we do not use it).
#
# Run it (`bash scripts/cvc5.sh`) or source it (`. scripts/cvc5.sh`). Idempotent and quick when
# cvc5 is present; otherwise, as root on Debian, installs the package with apt-get.

clearance_cvc5_present() {
  local say="scripts/cvc5.sh:"
  if [ -n "${CVC5:-}" ] && [ -x "$CVC5" ]; then
    echo "$say cvc5 at \$CVC5 ($("$CVC5" --version | head -n1))"
    return 0
  fi
  if command -v cvc5 >/dev/null 2>&1; then
    echo "$say $(cvc5 --version | head -n1)"
    return 0
  fi
  echo "$say installing cvc5 (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || return 1
  apt-get install -y -qq cvc5 >/dev/null || return 1
  echo "$say $(cvc5 --version | head -n1)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  clearance_cvc5_present
else
  clearance_cvc5_present || { echo "scripts/cvc5.sh: could not install cvc5" >&2; return 1; }
fi
