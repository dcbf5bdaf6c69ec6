#!/usr/bin/env bash
# `make test`'s steps after the installs: the format check, one build of every test target, then
# the tests and clippy side by side, then the timing tests alone. Any of them failing fails the run.
#
# Side by side, because on two cores the suite's parts are short of different things: the
# library's unit tests are CPU work (mostly the local model's generation, ~2-3 min), the
# integration suite mostly waits on sockets, servers and subprocesses, and clippy (warnings denied)
# is CPU work again. Run one after the other they took 16-17 minutes; side by side the CPU is kept
# busy while the integration tests wait. Clippy starts once cargo has started the first test
# binaries (the build lock is free then). Each part's output goes to its own log under target/,
# printed whole when that part ends, so the reports do not interleave.
set -uo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
out="${CARGO_TARGET_DIR:-target}"
skip_log="${POWERBIRTH_SKIP_LOG:-$PWD/$out/skipped-tests.txt}"
mkdir -p "$out" && rm -f "$skip_log" "$out"/test-*.rc "$out"/test-*.log

"$CARGO" fmt --all -- --check || exit 1
"$CARGO" test --locked --all-targets --no-run || exit 1

# `part NAME ARGS...`: `cargo test --locked ARGS` with its output in $out/test-NAME.log and its exit
# status in $out/test-NAME.rc; prints the log when the part ends.
part() {
  local name="$1"
  shift
  POWERBIRTH_SKIP_LOG="$skip_log" "$CARGO" test --locked "$@" >"$out/test-$name.log" 2>&1
  echo $? >"$out/test-$name.rc"
  echo
  echo "==== $name tests (cargo test $*): exit $(cat "$out/test-$name.rc") ===="
  cat "$out/test-$name.log"
}

# The library's unit tests; every other target (the binary's, the integration suite, the benches
# and examples run once in test mode). Together they are `--all-targets` (`--benches` would run
# the library's unit tests a second time: the library is a bench target too).
#
# The unit tests run candle on one thread each (RAYON_NUM_THREADS=1; libtest still runs two tests at
# once). candle's CPU pool waits for its workers by spinning: with two tests each driving a
# two-thread pool, and the integration suite beside them, the waiting threads burned more CPU than
# the work (the local model's 49 tests: 213 s of CPU with the default, 94 s with one thread, on
# the same loaded machine). The integration suite keeps candle's default, so the pool's
# multi-threaded path is still exercised through the real server.
(
  export RAYON_NUM_THREADS=1
  part unit --lib
) &
unit=$!
part rest --bins --test '*' --bench '*' --example '*' &
rest=$!

# A "Running" line in both logs means cargo has finished checking the build and released its lock.
until { grep -q "Running" "$out/test-unit.log" && grep -q "Running" "$out/test-rest.log"; } 2>/dev/null ||
  [ -s "$out/test-unit.rc" ] || [ -s "$out/test-rest.rc" ]; do
  sleep 1
done
"$CARGO" clippy --locked --workspace --all-targets -- -D warnings >"$out/clippy.log" 2>&1
clippy_rc=$?

wait "$unit" "$rest"
test_rc=0
for name in unit rest; do
  [ "$(cat "$out/test-$name.rc" 2>/dev/null || echo 1)" -eq 0 ] || test_rc=1
done

# Serial phase: the timing tests (`#[ignore = "timing: …"]`, so the parallel run above and a plain
# `cargo test` leave them out), one at a time with nothing else of ours running. A latency bound
# measured beside hundreds of other tests on two cores measures the suite, not the gateway.
echo
echo "==== timing tests, run alone ===="
POWERBIRTH_SKIP_LOG="$skip_log" "$CARGO" test --locked --test it -- --ignored --test-threads=1 2>&1 |
  tee "$out/test-timing.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || test_rc=1
echo
echo "==== clippy (--all-targets, -D warnings): $([ "$clippy_rc" -eq 0 ] && echo clean || echo FAILED) ===="
[ "$clippy_rc" -eq 0 ] || cat "$out/clippy.log"
./scripts/skipped-tests.sh "$skip_log"
[ "$test_rc" -eq 0 ] && [ "$clippy_rc" -eq 0 ]
