#!/bin/sh
# Builds release and runs symtui-bench; writes the results into docs/PERFORMANCE.md between the
# results markers (the analysis around them is kept). Usage: scripts/bench.sh [symtui-bench options]
# e.g. scripts/bench.sh --only render,audit   (figures: render audit throughput latency expiry-lag expiry-burst console
# status report shaped fleet; `scale` only when named). SYMTUI_BENCH_SECTION names the doc's section to rewrite (default `results`;
# `make bench-scale` writes `scale-results`), so the two runs keep each other's tables.
set -eu
section=${SYMTUI_BENCH_SECTION:-results}
cd "$(dirname "$0")/.."
# The release binary links the Swift runtime and Foundation statically, as `make release` does: a console then maps
# only the library pages it touches (28 MB resident instead of 35 MB with shared libraries).
swift build -c release --static-swift-stdlib --product symtui
swift build -c release --static-swift-stdlib --product symtui-bench
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)
doc=docs/PERFORMANCE.md
results=$(mktemp)
trap 'rm -f "$results" "$results.md"' EXIT
# Exit status 1 = a figure could not be measured (its row says why); the doc is written anyway.
status=0
"$bin/symtui-bench" --dir "$PWD/.build/bench-data" --out "$results" "$@" || status=$?
[ -s "$results" ] || { echo "symtui-bench wrote no results (exit $status)" >&2; exit "$status"; }

sqlite_version=$(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || echo "?")
{
  echo "<!-- $section:begin (written by scripts/bench.sh; edit outside these markers) -->"
  if [ "$section" = results ]; then echo "## Results"; else echo "## Results at scale (\`make bench-scale\`)"; fi
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.1f GB RAM", $2/1048576}' /proc/meminfo)"
  echo "- filesystem of the stores: $(df -T .build | awk 'NR==2 {print $2 " on " $1}')"
  echo "- SQLite $sqlite_version (system library); $(swift --version 2>&1 | head -1)"
  echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet -- Sources || echo ' (with uncommitted changes in Sources/)')"
  echo "- command: \`scripts/bench.sh$( [ $# -gt 0 ] && printf ' %s' "$@" )\` → \`$bin/symtui-bench --dir .build/bench-data --out FILE$( [ $# -gt 0 ] && printf ' %s' "$@" )\`"
  echo
  cat "$results"
  echo "<!-- $section:end -->"
} > "$results.md"

if [ -f "$doc" ] && grep -q "<!-- $section:begin" "$doc"; then
  awk -v new="$results.md" -v begin="<!-- $section:begin" -v end="<!-- $section:end -->" '
    index($0, begin) == 1 { while ((getline line < new) > 0) print line; skip = 1; next }
    index($0, end) == 1 { skip = 0; next }
    !skip { print }' "$doc" > "$doc.tmp" && mv "$doc.tmp" "$doc"
elif [ -f "$doc" ]; then
  { echo; cat "$results.md"; } >> "$doc"
else
  { echo "# Performance"; echo; cat "$results.md"; } > "$doc"
fi
echo "wrote $doc"
exit "$status"
