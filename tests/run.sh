#!/usr/bin/env bash
# Runs each test binary given, prints its output, and sums Criterion's synthesis lines into one
# closing line "N passed, N failed". Fails when a binary fails, crashes, or when the output holds
# a sanitizer report (Criterion itself does not fail a run on a leak).
set -u
log=$(mktemp)
trap 'rm -f "$log"' EXIT
passed=0 failed=0 bad=0
for bin in "$@"; do
    name=$(basename "$bin")
    jobs=2
    case "$bin" in */integration/*) jobs=1 ;; esac
    echo "== $name"
    timeout 600 "$bin" --jobs "$jobs" --short-filename >"$log" 2>&1
    rc=$?
    cat "$log"
    line=$(grep -a 'Synthesis: Tested:' "$log" | tail -n 1)
    p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
    f=$(sed -n 's/.*Failing: \([0-9]*\).*/\1/p' <<<"$line")
    c=$(sed -n 's/.*Crashing: \([0-9]*\).*/\1/p' <<<"$line")
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "$rc" -ne 0 ] || [ -z "$line" ] || [ "${c:-0}" -ne 0 ]; then
        echo "!! $name: exit $rc" >&2
        bad=1
    fi
    # Criterion does not count an assertion that fails in a suite's .fini (where the harness
    # stops each daemon and checks its exit), so any "Assertion Failed" line fails the run.
    if grep -aq 'Assertion Failed' "$log" && [ "${f:-0}" -eq 0 ]; then
        echo "!! $name: an assertion failed outside a test (setup or teardown)" >&2
        failed=$((failed + 1))
        bad=1
    fi
    if grep -aqE 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:' "$log"; then
        echo "!! $name: sanitizer report above" >&2
        bad=1
    fi
done
echo "tests: $passed passed, $failed failed"
[ "$bad" -eq 0 ] && [ "$failed" -eq 0 ]
