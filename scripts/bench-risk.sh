#!/usr/bin/env bash
# The risk endpoint's HTTP benchmark (issue 16), gateway and FastAPI peer in the same run, measured
# by the same load generator (examples/risk_load.rs: closed loop, keep-alive, CONCURRENCY
# connections, one warm-up second, then SECONDS measured):
#
#   scripts/bench-risk.sh [SECONDS=10] [CONCURRENCY=16]
#
# 1. builds the release binary and the load generator (once);
# 2. trains the shipped config into a temporary local registry and promotes it
#    (`powerbirth models bootstrap`), starts `powerbirth serve` on SQLite with a client key whose
#    rate limit cannot bind, and loads /v1/risk/obstetric (auth, validation, inference, overrides,
#    the prediction spooled for the database: the whole path);
# 3. starts the peer (benches/peers/risk_fastapi/run.sh, PEER_MODEL lr and gbm) and loads it the
#    same way; prints every line and the throughput ratio.
# Everything runs on loopback; the processes it starts are stopped on exit.
set -euo pipefail
SECONDS_MEASURED="${1:-10}"
CONC="${2:-16}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d -t pb-bench-risk-XXXXXX)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

cargo build --release --locked --bin powerbirth --example risk_load
PB="$TARGET/release/powerbirth"
LOAD="$TARGET/release/examples/risk_load"

cat >"$WORK/bench.toml" <<TOML
[server]
listen = "127.0.0.1:18080"
[database]
url = "sqlite://$WORK/bench.db"
[ratelimit]
default_rpm = 100000000
[auth]
bootstrap_admin_key = false
[writer]
spool_dir = "$WORK/spool"
[risk]
models_dir = "$WORK/models"
TOML

wait_http() { for _ in $(seq 1 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

"$PB" --config "$WORK/bench.toml" models bootstrap --models-dir "$WORK/models" >/dev/null
KEY="$("$PB" --config "$WORK/bench.toml" keys create --name bench --rpm 100000000 | tail -1)"
RUST_LOG=warn "$PB" serve --config "$WORK/bench.toml" >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
wait_http http://127.0.0.1:18080/healthz
"$LOAD" gateway http://127.0.0.1:18080/v1/risk/obstetric "$KEY" "$SECONDS_MEASURED" "$CONC" | tee "$WORK/gateway.txt"
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true

for MODEL in lr gbm; do
  PORT=18090 PEER_MODEL=$MODEL PEER_KEY=peer-key PEER_LOG="$WORK/peer.log" \
    benches/peers/risk_fastapi/run.sh >"$WORK/peer-$MODEL.log" 2>&1 &
  PEER=$!
  PIDS+=($PEER)
  wait_http http://127.0.0.1:18090/docs
  "$LOAD" "fastapi-$MODEL" http://127.0.0.1:18090/v1/risk/obstetric peer-key "$SECONDS_MEASURED" "$CONC" | tee "$WORK/peer-$MODEL.txt"
  kill "$PEER"; wait "$PEER" 2>/dev/null || true
done

g="$(awk '{print $3}' "$WORK/gateway.txt")"
for MODEL in lr gbm; do
  p="$(awk '{print $3}' "$WORK/peer-$MODEL.txt")"
  awk -v g="$g" -v p="$p" -v m="$MODEL" 'BEGIN { if (p > 0) printf "ratio gateway/fastapi-%s %.1fx\n", m, g / p }'
done
