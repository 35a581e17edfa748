#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (default 60) and prints one line per target:
#   TARGET  execs=N  crashes=N  corpus=N  seconds=S
# Builds with ASan + libFuzzer into .build-fuzz (never .build). Seeds: Tests/Fixtures/fuzz/<target>/ (kept
# unchanged; the growing corpus lives in .build-fuzz/corpus/<target>). Crash inputs are kept in
# .build-fuzz/artifacts/<target>/; replay one with `.build-fuzz/debug/<target> FILE`, or the whole seed corpus
# without libFuzzer with `swift build --product <target> && .build/debug/<target> Tests/Fixtures/fuzz/<target>`.
# Exit 0 when no target crashed, 1 otherwise.   Usage: Tests/reliability/fuzz.sh [SECONDS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(FuzzSafeText FuzzConfig FuzzFields FuzzEvents FuzzHCL)
SWIFT=${SWIFT:-swift}
SCRATCH=.build-fuzz
FLAGS=(-c debug --scratch-path "$SCRATCH" -Xswiftc -sanitize=fuzzer,address -Xswiftc -DSYMTUI_FUZZ)
status=0
# Swift's own crash backtracer trips ASan (a false stack-buffer-underflow in CrashHandlerLinux); libFuzzer reports.
export SWIFT_BACKTRACE=enable=no
for t in "${TARGETS[@]}"; do
  if ! $SWIFT build "${FLAGS[@]}" --product "$t" >"$SCRATCH-$t.build.log" 2>&1; then
    mkdir -p "$SCRATCH"; mv "$SCRATCH-$t.build.log" "$SCRATCH/$t.build.log" 2>/dev/null
    echo "$t  build failed (see $SCRATCH/$t.build.log)"; status=1; continue
  fi
  mv "$SCRATCH-$t.build.log" "$SCRATCH/$t.build.log"
  corpus="$SCRATCH/corpus/$t"; artifacts="$SCRATCH/artifacts/$t/"; log="$SCRATCH/$t.fuzz.log"
  mkdir -p "$corpus" "$artifacts"
  cp -n Tests/Fixtures/fuzz/"$t"/* "$corpus"/ 2>/dev/null
  # The HCL target also starts from the Sym Terraform fixtures of the import tests.
  [ "$t" = FuzzHCL ] && cp -n Tests/Fixtures/sym-terraform/*.tf Tests/Fixtures/sym-terraform/okta-access-v2/*.tf \
    Tests/Fixtures/sym-terraform/malformed/*.tf "$corpus"/ 2>/dev/null
  before=$(ls "$artifacts" | wc -l)
  # -fork keeps going after a crash so that one run finds more than one; each crash lands in $artifacts.
  "$SCRATCH/debug/$t" -fork=1 -ignore_crashes=1 -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts" -print_final_stats=1 "$corpus" >"$log" 2>&1
  execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  crashes=$(( $(ls "$artifacts" | wc -l) - before ))
  echo "$t  execs=${execs:-0}  crashes=$crashes  corpus=$(ls "$corpus" | wc -l)  seconds=$SECONDS_EACH"
  if [ "$crashes" -gt 0 ]; then
    status=1
    grep -m3 -E 'Fatal error|ERROR: AddressSanitizer|deadly signal' "$log" | sed 's/^/    /'
  fi
done
exit $status
