#!/usr/bin/env bash
# Parley's whole test suite: build with warnings as errors, run every test tier, print one totals line.
# PostgreSQL tests run when PARLEY_TEST_POSTGRES holds a connection string (.ci/run starts a private
# PostgreSQL and sets it); without it they report themselves skipped and SQLite runs everything.
set -uo pipefail
cd "$(dirname "$0")"

passed=0 failed=0 skipped=0 status=0

# Adds one runner's totals. xunit v3 ends with:
#   Parley.Tests  Total: N, Errors: E, Failed: F, Skipped: S, Not Run: R, Time: ...
add_xunit_totals() {
  local line total errors fails skips notrun
  line=$(grep -E 'Total: [0-9]+, Errors: [0-9]+, Failed: [0-9]+, Skipped: [0-9]+' "$1" | tail -n 1)
  if [ -z "$line" ]; then
    echo "test.sh: no xunit summary found in the output of $2" >&2
    failed=$((failed + 1)); status=1; return
  fi
  total=$(sed -E 's/.*Total: ([0-9]+).*/\1/' <<<"$line")
  errors=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
  fails=$(sed -E 's/.*Failed: ([0-9]+).*/\1/' <<<"$line")
  skips=$(sed -E 's/.*Skipped: ([0-9]+).*/\1/' <<<"$line")
  notrun=$(sed -E 's/.*Not Run: ([0-9]+).*/\1/' <<<"$line")
  passed=$((passed + total - fails - skips - notrun))
  failed=$((failed + fails + errors))
  skipped=$((skipped + skips + notrun))
  if [ "$total" -eq 0 ]; then
    echo "test.sh: $2 ran no tests" >&2
    status=1
  fi
}

echo "== build (Release, warnings are errors)"
if ! dotnet build Parley.slnx -c Release -nologo -v quiet -p:TreatWarningsAsErrors=true; then
  echo "test.sh: build failed" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

if [ -n "${PARLEY_TEST_POSTGRES:-}" ]; then
  echo "== PostgreSQL leg: on (PARLEY_TEST_POSTGRES is set)"
else
  echo "== PostgreSQL leg: skipped (PARLEY_TEST_POSTGRES is not set; bash .ci/run sets it)"
fi

echo "== unit and integration tests (xunit)"
log=$(mktemp)
dotnet tests/Parley.Tests/bin/Release/net10.0/Parley.Tests.dll -noColor -noLogo 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
add_xunit_totals "$log" "Parley.Tests"
rm -f "$log"

echo "== web client in a real browser (tests/web, chromium + playwright-core)"
if [ -x /usr/bin/chromium ] && [ -d tests/web/node_modules/playwright-core ]; then
  log=$(mktemp)
  bash scripts/web-test.sh 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  line=$(grep -E '^web: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    passed=$((passed + $(sed -E 's/^web: ([0-9]+) passed.*/\1/' <<<"$line")))
    failed=$((failed + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
    skipped=$((skipped + $(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$line")))
  else
    echo "test.sh: no summary from scripts/web-test.sh" >&2
    failed=$((failed + 1)); status=1
  fi
  rm -f "$log"
else
  echo "== web client tests: skipped (/usr/bin/chromium or tests/web/node_modules missing; run scripts/web-deps.sh)"
  skipped=$((skipped + 1))
fi

[ "$failed" -eq 0 ] || status=1
echo
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
