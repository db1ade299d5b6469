#!/usr/bin/env bash
# Parley's whole test suite in one command (CI runs exactly this through .ci/run):
#   1. installs what the tests need and the machine lacks (scripts/deps.sh: apt-get as root, npm ci)
#   2. builds with warnings as errors
#   3. starts a private PostgreSQL on 127.0.0.1 (scripts/postgres.sh), unless PARLEY_TEST_POSTGRES
#      already names one
#   4. runs the xunit suite (unit tests, integration tests on SQLite and on PostgreSQL) and the web
#      client's browser tests (tests/web, Debian's chromium through playwright-core)
#      and a private Redis on 127.0.0.1 (scripts/redis.sh) for the cluster tests, unless PARLEY_TEST_REDIS
#      already names one
#   5. stops PostgreSQL and Redis again, whatever happened
# It prints failures in full, skipped tests grouped by reason, counts per tier, and last one line:
#   N passed, N failed, N skipped
# Exit status 0 only when nothing failed. Under CI (CI=true), a missing dependency and a skipped test
# are failures: there everything must run.
#
# Environment:
#   PARLEY_TEST_INSTALL=0   do not install anything (what is missing is reported, its tests skip)
#   PARLEY_TEST_POSTGRES    an Npgsql connection string to use instead of starting a private server
#   PARLEY_TEST_REDIS       a StackExchange.Redis configuration string to use instead of a private Redis
#   PARLEY_TEST_FILTER      extra xunit runner arguments, e.g. "-class Parley.Tests.Files.FilesTests"
#                           (the browser tests then run only if PARLEY_TEST_WEB=1)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

strict=0
[[ "${CI:-}" == "true" ]] && strict=1
work="$(mktemp -d)"
started_pg=0
started_redis=0
status=0

cleanup() {
  if [[ "$started_pg" -eq 1 ]]; then
    bash scripts/postgres.sh stop >"$work/pg-stop.log" 2>&1 || { echo "test.sh: warning: stopping PostgreSQL failed:" >&2; cat "$work/pg-stop.log" >&2; }
    started_pg=0
  fi
  if [[ "$started_redis" -eq 1 ]]; then
    bash scripts/redis.sh stop >"$work/redis-stop.log" 2>&1 || { echo "test.sh: warning: stopping Redis failed:" >&2; cat "$work/redis-stop.log" >&2; }
    started_redis=0
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

step() { echo "== $*"; }
note() { echo "   $*"; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

# ---- 1. dependencies
missing_deps=0
if [[ "${PARLEY_TEST_INSTALL:-1}" != "0" ]]; then
  step "dependencies (scripts/deps.sh)"
  if ! bash scripts/deps.sh 2>"$work/deps.log"; then
    cat "$work/deps.log"
    missing_deps=1
    note "some dependencies could not be installed: the tests that need them report themselves skipped"
  else
    grep -E 'installing|installed|npm ci' "$work/deps.log" | sed 's/^/   /' || true
  fi
else
  step "dependencies: not installed (PARLEY_TEST_INSTALL=0)"
fi

# ---- 2. build
step "build (Release, warnings are errors)"
t0=$(date +%s)
if ! dotnet build Parley.slnx -c Release -nologo -v quiet -p:TreatWarningsAsErrors=true >"$work/build.log" 2>&1; then
  grep -E 'error|Error' "$work/build.log" | sort -u
  echo "test.sh: build failed" >&2
  echo
  echo "0 passed, 1 failed"
  exit 1
fi
note "built in $(elapsed "$t0")"

# ---- 3. PostgreSQL
if [[ -n "${PARLEY_TEST_POSTGRES:-}" ]]; then
  step "PostgreSQL: using PARLEY_TEST_POSTGRES"
elif conn="$(bash scripts/postgres.sh start 2>"$work/pg-start.log")" && [[ -n "$conn" ]]; then
  started_pg=1
  export PARLEY_TEST_POSTGRES="$conn"
  step "PostgreSQL: private server started on 127.0.0.1 (scripts/postgres.sh)"
else
  step "PostgreSQL: could not be started; its leg reports itself skipped"
  sed 's/^/   /' "$work/pg-start.log"
  missing_deps=1
fi

# ---- 3b. Redis (the cluster bus)
if [[ -n "${PARLEY_TEST_REDIS:-}" ]]; then
  step "Redis: using PARLEY_TEST_REDIS"
elif conn="$(bash scripts/redis.sh start 2>"$work/redis-start.log")" && [[ -n "$conn" ]]; then
  started_redis=1
  export PARLEY_TEST_REDIS="$conn"
  step "Redis: private server started on 127.0.0.1 (scripts/redis.sh)"
else
  step "Redis: could not be started; the cluster tests report themselves skipped"
  sed 's/^/   /' "$work/redis-start.log"
  missing_deps=1
fi

passed=0 failed=0 skipped=0
tiers=()
add_tier() { # name passed failed skipped
  tiers+=("$(printf '%-34s %5d passed, %d failed, %d skipped' "$1" "$2" "$3" "$4")")
  passed=$((passed + $2)); failed=$((failed + $3)); skipped=$((skipped + $4))
}

# ---- 4a. xunit
step "xunit: unit and integration tests (SQLite and PostgreSQL)"
t0=$(date +%s)
xml="$work/xunit.xml"
# shellcheck disable=SC2086 # PARLEY_TEST_FILTER is a list of runner arguments
dotnet tests/Parley.Tests/bin/Release/net10.0/Parley.Tests.dll -noColor -noLogo -noAutoReporters -reporter quiet \
  -xml "$xml" ${PARLEY_TEST_FILTER:-} >"$work/xunit.log" 2>&1
xunit_rc=$?
note "ran in $(elapsed "$t0")"

if [[ ! -s "$xml" ]]; then
  echo "test.sh: the xunit runner wrote no results (exit $xunit_rc); its output:" >&2
  tail -n 60 "$work/xunit.log"
  add_tier "xunit" 0 1 0
else
  # One line per test: "<type>\t<result>\t<tier trait>"; the XML keeps each test's traits inside it.
  grep -o -E '<test [^>]*>|<trait name="Tier" value="[A-Za-z]+"|</test>' "$xml" \
    | awk '
        /^<test / {
          type = $0; sub(/.* type="/, "", type); sub(/".*/, "", type)
          result = $0; sub(/.* result="/, "", result); sub(/".*/, "", result)
          tier = ""
          if ($0 ~ /\/>$/) print type "\t" result "\t" tier   # no traits, no output: self-closing
          next
        }
        /^<trait / { tier = $0; sub(/.*value="/, "", tier); sub(/"$/, "", tier); next }
        /^<\/test>/ { print type "\t" result "\t" tier }
      ' >"$work/tests.tsv"
  # Tiers (docs: STYLE.md): pure logic marked [Trait("Tier", "Unit")]; classes named *Postgres run the
  # integration tests against PostgreSQL; classes in Parley.Tests.Cluster run node processes on PostgreSQL
  # and Redis; everything else is an integration test on SQLite.
  for tier in unit sqlite postgres cluster; do
    awk -F'\t' -v tier="$tier" '
      { t = ($3 == "Unit") ? "unit" : ($1 ~ /^Parley\.Tests\.Cluster\./ ? "cluster" : ($1 ~ /Postgres$/ ? "postgres" : "sqlite")) }
      t == tier { n[$2]++ }
      END { printf "%d %d %d\n", n["Pass"], n["Fail"], n["Skip"] + n["NotRun"] }
    ' "$work/tests.tsv" >"$work/tier.txt"
    read -r p f s <"$work/tier.txt"
    case "$tier" in
      unit) label="unit tests" ;;
      sqlite) label="integration tests, SQLite" ;;
      postgres) label="integration tests, PostgreSQL" ;;
      cluster) label="cluster tests (nodes, Redis)" ;;
    esac
    add_tier "$label" "$p" "$f" "$s"
  done
  errors=$(grep -o -E '<assembly [^>]* errors="[0-9]+"' "$xml" | sed -E 's/.* errors="([0-9]+)"/\1/' | head -n1)
  if [[ "${errors:-0}" -gt 0 ]]; then
    echo "test.sh: xunit reported $errors errors outside tests (fixtures, cleanup):"
    grep -o -E '<error [^>]*>' "$xml" | head -n 20
    failed=$((failed + errors))
  fi
  if [[ "$xunit_rc" -ne 0 && "$(awk -F'\t' '$2 == "Fail"' "$work/tests.tsv" | wc -l)" -eq 0 && "${errors:-0}" -eq 0 ]]; then
    echo "test.sh: the xunit runner exited $xunit_rc without a failed test; its last output:"
    tail -n 30 "$work/xunit.log"
    failed=$((failed + 1))
  fi

  # Failures in full, as the runner printed them: a "    Name [FAIL]" header and its indented lines.
  # Lines the servers under test log to the console (column 0, e.g. "warn: ...") end a block.
  awk '
    /^    [^ ].* \[FAIL\]$/ { inblock = 1; print; next }
    inblock && /^      / { print; next }
    { inblock = 0 }
  ' "$work/xunit.log" >"$work/failures.txt"
  if [[ -s "$work/failures.txt" ]]; then
    step "xunit failures"
    cat "$work/failures.txt"
  fi

  # Skipped tests, grouped by reason.
  awk '
    /^    [^ ].* \[SKIP\]$/ { getline reason; sub(/^ +/, "", reason); n[reason]++ }
    END { for (r in n) printf "%5d  %s\n", n[r], r }
  ' "$work/xunit.log" | sort -rn >"$work/skips.txt"
  if [[ -s "$work/skips.txt" ]]; then
    step "xunit: skipped tests by reason"
    cat "$work/skips.txt"
  fi
fi

# ---- 4b. browser tests
if [[ -n "${PARLEY_TEST_FILTER:-}" && "${PARLEY_TEST_WEB:-0}" != "1" ]]; then
  step "browser tests: not run (PARLEY_TEST_FILTER is set)"
else
  step "browser tests: the web client in Debian's chromium (tests/web)"
  t0=$(date +%s)
  bash scripts/web-test.sh >"$work/web.log" 2>&1
  web_rc=$?
  note "ran in $(elapsed "$t0")"
  line=$(grep -E '^web: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' "$work/web.log" | tail -n 1)
  if [[ -z "$line" ]]; then
    echo "test.sh: no summary from scripts/web-test.sh (exit $web_rc); its output:" >&2
    tail -n 60 "$work/web.log"
    add_tier "browser tests, chromium" 0 1 0
  else
    read -r p f s < <(sed -E 's/^web: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/' <<<"$line")
    [[ "$web_rc" -ne 0 && "$f" -eq 0 ]] && f=1
    if [[ "$f" -gt 0 || "$s" -gt 0 ]]; then
      grep -v -E '^web: ' "$work/web.log" | sed -n '/failing tests:/,$p; /web-test.sh:/p'
    fi
    add_tier "browser tests, chromium" "$p" "$f" "$s"
  fi
fi

# ---- 5. PostgreSQL and Redis stop in the EXIT trap; summary
if [[ "$strict" -eq 1 ]]; then
  if [[ "$missing_deps" -eq 1 ]]; then
    echo "test.sh: CI=true and a dependency is missing: counted as a failure"
    failed=$((failed + 1))
  fi
  if [[ "$skipped" -gt 0 ]]; then
    echo "test.sh: CI=true and $skipped tests were skipped: in CI a skip is a failure"
    failed=$((failed + skipped)); skipped=0
  fi
fi

step "totals per tier"
for t in "${tiers[@]}"; do note "$t"; done
[[ "$failed" -eq 0 ]] || status=1
cleanup
trap - EXIT
echo
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
