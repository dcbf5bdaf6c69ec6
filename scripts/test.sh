#!/usr/bin/env bash
# `make test`'s steps after the installs: the format check, one build of every target with clippy's
# lints, then the tests in two parts side by side, then the timing tests alone. Any of them failing
# (a lint included) fails the run.
#
# Clippy runs inside the build: cargo compiles the workspace's own crates with clippy-driver
# (`RUSTC_WORKSPACE_WRAPPER`, which is how `cargo clippy` runs it too), so the lints come with the
# one build the tests need instead of a second pass that checked all ~440 dependencies again
# (minutes of CPU on two cores). Warnings are denied as `cargo clippy -- -D warnings` denies them,
# but read from the build's output at the end, so a lint does not keep the tests from running.
# The tests run with the same wrapper (cargo fingerprints it): nothing is built twice.
#
# The tests run in two parts side by side, so that neither waits for the other: the library's unit
# tests are CPU work (mostly the local model's generation); the integration suite is CPU work too
# (about one core on average: ~450 app start-ups, training, subprocesses) with waits on sockets,
# servers and subprocesses between. Each part's output goes to its own log under target/, printed
# whole when that part ends, so the reports do not interleave.
set -uo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
out="${CARGO_TARGET_DIR:-target}"
skip_log="${POWERBIRTH_SKIP_LOG:-$PWD/$out/skipped-tests.txt}"
mkdir -p "$out" && rm -f "$skip_log" "$out"/test-*.rc "$out"/test-*.log "$out/build.log"

if [ -z "${RUSTC_WORKSPACE_WRAPPER:-}" ]; then
  driver="$(command -v clippy-driver || true)"
  if [ -z "$driver" ]; then
    echo "make test: clippy-driver not found (rustup component add clippy)" >&2
    exit 1
  fi
  export RUSTC_WORKSPACE_WRAPPER="$driver"
fi

"$CARGO" fmt --all -- --check || exit 1
"$CARGO" test --locked --workspace --all-targets --no-run 2>&1 | tee "$out/build.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1

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

# The library's unit tests, and every other target (the binary's, the integration suite, the
# benches and examples run once in test mode): together, `--all-targets` (`--benches` would run the
# library's unit tests a second time: the library is a bench target too).
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

# Clippy's verdict: any warning from the workspace's crates (clippy's or rustc's) fails the run,
# as `-D warnings` would. Cargo replays a cached crate's warnings, so a rebuild-free run still
# reports them.
echo
lints="$(grep -E '^warning: .* generated [0-9]+ warnings?' "$out/build.log")"
if [ -z "$lints" ]; then
  clippy_rc=0
  echo "==== clippy (--workspace --all-targets, warnings denied): clean ===="
else
  clippy_rc=1
  echo "==== clippy (--workspace --all-targets, warnings denied): FAILED ===="
  echo "$lints"
  echo "(the warnings are in the build output above and in $out/build.log)"
fi
./scripts/skipped-tests.sh "$skip_log"
[ "$test_rc" -eq 0 ] && [ "$clippy_rc" -eq 0 ]
