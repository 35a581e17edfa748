#!/usr/bin/env bash
# Sums the results of every `make test` stage from the logs in DIR and prints one closing line:
# "total: N passed, M failed[, K skipped]". Exit 1 when something failed or no test ran.
set -uo pipefail   # no -e: a grep that finds nothing is not an error here
dir=${1:-.build/test-logs}
passed=0 failed=0 skipped=0
add() { passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + ${3:-0})); }
# XCTest: the line of the whole run ("Executed 548 tests, with 1 test skipped and 0 failures …").
if [ -f "$dir/unit.log" ]; then
  line=$(grep -E "Executed [0-9]+ tests?," "$dir/unit.log" | tail -1 || true)
  if [ -n "$line" ]; then
    n=$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) failures?.*/\1/' <<<"$line")
    s=$(grep -oE '[0-9]+ tests? skipped' <<<"$line" | grep -oE '^[0-9]+' || echo 0)
    add $((n - f - s)) "$f" "$s"
  fi
fi
# Python unittest: "Ran N tests" then "OK" or "FAILED (failures=F, errors=E)".
if [ -f "$dir/sdk.log" ]; then
  n=$(grep -oE '^Ran [0-9]+ tests?' "$dir/sdk.log" | tail -1 | grep -oE '[0-9]+' || echo 0)
  f=$(grep -oE '(failures|errors)=[0-9]+' "$dir/sdk.log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
  add $((n - ${f:-0})) "${f:-0}"
fi
# The project's own runners close with "N passed, M failed[, K skipped]" (e2e, chaos, races, the package, …).
for log in "$dir"/e2e.log "$dir"/reliability.log "$dir"/package.log; do
  [ -f "$log" ] || continue
  while read -r p f s; do add "$p" "$f" "${s:-0}"; done < <(
    grep -E '^([a-z]+: )?[0-9]+ passed, [0-9]+ failed' "$log" \
      | sed -E 's/^([a-z]+: )?([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?.*/\2 \3 \5/')
  # Fuzz corpora replayed as tests: each input that replays cleanly counts once.
  r=$(grep -oE '^replayed [0-9]+ inputs' "$log" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')
  add "${r:-0}" 0
done
if [ "$skipped" -gt 0 ]; then echo "total: $passed passed, $failed failed, $skipped skipped"; else echo "total: $passed passed, $failed failed"; fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
