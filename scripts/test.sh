#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
#
# The whole suite: fmt, clippy, then every test target (unit, Harness, pipelines, allocation,
# benchmarks and examples in test mode) with GLib warnings fatal. Ends with one total line.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo clippy --all-targets -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# cargo test links the rlib only; the Python and shell applications load the plugin (.so).
cargo build --lib
G_DEBUG=fatal_warnings cargo test --all-targets --no-fail-fast 2>&1 | tee "$log" || status=$?
passed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | paste -sd+ | bc)
failed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | paste -sd+ | bc)
echo
echo "total: ${passed:-0} passed, ${failed:-0} failed"
if [ "${passed:-0}" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
exit "$status"
