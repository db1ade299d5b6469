#!/usr/bin/env bash
# Runs the web client's browser tests (every tests/web/*.test.mjs) against the built server.
# Needs a Release build, /usr/bin/chromium and tests/web/node_modules (scripts/deps.sh installs both; ./test.sh runs it).
# Last line: "web: N passed, N failed, N skipped" (test.sh adds these to its totals).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -x /usr/bin/chromium || ! -d tests/web/node_modules/playwright-core ]]; then
  echo "web-test.sh: /usr/bin/chromium or tests/web/node_modules missing (run scripts/deps.sh); browser tests skipped" >&2
  echo "web: 0 passed, 0 failed, 1 skipped"
  exit 0
fi

log=$(mktemp)
(cd tests/web && node --test --test-concurrency=1 --test-reporter=spec ./*.test.mjs) 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
# node --test ends with "ℹ pass N", "ℹ fail N", "ℹ skipped N" (and todo/cancelled).
count() { grep -E "^. $1 [0-9]+" "$log" | tail -n 1 | awk '{print $3}'; }
pass=$(count pass); fail=$(count fail); skip=$(count skipped); cancelled=$(count cancelled)
rm -f "$log"
pass=${pass:-0}; fail=$(( ${fail:-0} + ${cancelled:-0} )); skip=${skip:-0}
if [[ "$rc" -ne 0 && "$fail" -eq 0 ]]; then fail=1; fi
echo "web: $pass passed, $fail failed, $skip skipped"
[[ "$fail" -eq 0 ]]
