#!/usr/bin/env bash
# Makes sure a headless-capable Chromium is on PATH (or $CHROMIUM names it): the browser test of
# `clearance deps --format html` (crates/clearance-validate/tests/deps_browser.rs) opens the
# report in it, reads the DOM it built and takes a screenshot. Debian's `chromium` package is
# used: a packaged browser, no download of a pinned build at test time.
#
# Run it (`bash scripts/chromium.sh`) or source it (`. scripts/chromium.sh`). Idempotent and
# quick when chromium is present; otherwise, as root on Debian, installs the package with
# apt-get (running `apt-get update` first only when the package lists do not know it yet).

clearance_chromium_present() {
  local say="scripts/chromium.sh:"
  if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then
    echo "$say chromium at \$CHROMIUM ($("$CHROMIUM" --version 2>/dev/null | head -n1))"
    return 0
  fi
  if command -v chromium >/dev/null 2>&1; then
    echo "$say $(chromium --version 2>/dev/null | head -n1)"
    return 0
  fi
  echo "$say installing chromium (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh container has empty package lists: only then is the (slow) update needed.
  if ! apt-cache show chromium >/dev/null 2>&1; then
    apt-get update -qq || return 1
  fi
  apt-get install -y -qq --no-install-recommends chromium >/dev/null || return 1
  echo "$say $(chromium --version 2>/dev/null | head -n1)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  clearance_chromium_present
else
  clearance_chromium_present || { echo "scripts/chromium.sh: could not install chromium" >&2; return 1; }
fi
