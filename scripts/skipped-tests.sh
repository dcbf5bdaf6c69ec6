#!/usr/bin/env bash
# Prints the tests that skipped themselves during `make test` (outside CI a test whose service or
# model is missing skips with a reason instead of failing; in CI a skip is a failure). The tests
# append "test name: reason" lines to the log named by POWERBIRTH_SKIP_LOG.
set -euo pipefail
log="${1:?usage: skipped-tests.sh LOG}"
if [ -s "$log" ]; then
  n="$(wc -l <"$log" | tr -d ' ')"
  echo
  echo "==== $n test(s) SKIPPED, not passed (set the services or run \`make models\`; see README) ===="
  sort "$log"
  echo "===="
else
  echo "make test: no test skipped"
fi
