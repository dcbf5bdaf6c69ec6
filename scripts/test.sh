#!/usr/bin/env bash
# `make test`'s steps after the installs: the format check, one build of every test target, then
# the tests and clippy side by side, then the timing tests alone. Clippy (warnings denied) is CPU
# work while most of the suite waits on sockets, servers and subprocesses, so running them
# together saves minutes on two cores; clippy starts only once cargo has built everything and
# started the first test binary (the build lock is free then), and its report is printed after
# the tests'. Any of them failing fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
out="${CARGO_TARGET_DIR:-target}"
skip_log="${POWERBIRTH_SKIP_LOG:-$PWD/$out/skipped-tests.txt}"
mkdir -p "$out" && rm -f "$skip_log" "$out/test.rc"

"$CARGO" fmt --all -- --check || exit 1
"$CARGO" test --locked --all-targets --no-run || exit 1

test_log="$out/test-output.log"
: >"$test_log"
(
  POWERBIRTH_SKIP_LOG="$skip_log" "$CARGO" test --locked --all-targets 2>&1
  echo $? >"$out/test.rc"
) | tee "$test_log" &
tests=$!

# The first "Running" line means every target is built and the build lock is released.
until grep -q "Running" "$test_log" 2>/dev/null || [ -s "$out/test.rc" ]; do sleep 1; done
"$CARGO" clippy --locked --workspace --all-targets -- -D warnings >"$out/clippy.log" 2>&1
clippy_rc=$?

wait "$tests"
test_rc="$(cat "$out/test.rc" 2>/dev/null || echo 1)"

# Serial phase: the timing tests (`#[ignore = "timing: …"]`, so the parallel run above and a plain
# `cargo test` leave them out), one at a time with nothing else of ours running. A latency bound
# measured beside hundreds of other tests on two cores measures the suite, not the gateway.
echo
echo "==== timing tests, run alone ===="
POWERBIRTH_SKIP_LOG="$skip_log" "$CARGO" test --locked --test it -- --ignored --test-threads=1 2>&1 |
  tee -a "$test_log"
[ "${PIPESTATUS[0]}" -eq 0 ] || test_rc=1
echo
echo "==== clippy (--all-targets, -D warnings): $([ "$clippy_rc" -eq 0 ] && echo clean || echo FAILED) ===="
[ "$clippy_rc" -eq 0 ] || cat "$out/clippy.log"
./scripts/skipped-tests.sh "$skip_log"
[ "$test_rc" -eq 0 ] && [ "$clippy_rc" -eq 0 ]
