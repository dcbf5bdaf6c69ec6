#!/usr/bin/env bash
# Time to answer through the running server on the local model, with a versioned prompt
# (assistant-general, ~700 prompt tokens): the first request reads the whole prompt, the next
# ones start from the cached state after it (src/providers/local/prefix.rs). See docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-./target/debug/powerbirth}"
PORT="${PORT:-18080}"
DB="$(mktemp -d)/bench.db"
export POWERBIRTH_SERVER__LISTEN="127.0.0.1:$PORT" POWERBIRTH_DATABASE__URL="sqlite://$DB" \
  POWERBIRTH_REVIEW__SCHEDULE=off
LOG="$(mktemp)"
"$BIN" serve --config powerbirth.toml >"$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do grep -q "listening" "$LOG" && break; sleep 1; done
KEY="$(grep -oE 'pb-[A-Za-z0-9_-]+' "$LOG" | head -n1)"
for q in "Posso comer queijo?" "Posso tomar cafe?" "Posso caminhar todo dia?" "Quantas consultas devo fazer?"; do
  curl -s -o /dev/null -w "%{time_total} s  $q\n" "http://127.0.0.1:$PORT/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
    -d "{\"model\":\"local-smollm2\",\"max_tokens\":8,\"temperature\":0,\"prompt\":{\"id\":\"assistant-general\"},\"messages\":[{\"role\":\"user\",\"content\":\"$q\"}]}"
done
