#!/usr/bin/env bash
# Soak: the release gateway under mixed load for SOAK_SECONDS (default 300) while its
# PostgreSQL is stopped and restarted, its Redis killed and restarted, and its upstream killed and
# restarted. Everything runs on loopback and is private to this run: a temporary PostgreSQL
# cluster (initdb, its own port), a private redis-server, a mock upstream (examples/soak.rs). The
# shared services are never touched. Prints requests, errors, exchanges filed and lost exchanges
# (must be 0: every exchange the gateway filed is in the database at the end); exits 1 otherwise.
#
#   SOAK_SECONDS=60 scripts/soak.sh      (SOAK_CONCURRENCY, SOAK_*_PORT, SOAK_PROFILE=dev, SOAK_BUILD=0
#                                         also read)
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${SOAK_SECONDS:-300}
CONC=${SOAK_CONCURRENCY:-16}
PG_PORT=${SOAK_PG_PORT:-55432}
REDIS_PORT=${SOAK_REDIS_PORT:-56379}
UP_PORT=${SOAK_UPSTREAM_PORT:-58081}
GW_PORT=${SOAK_GATEWAY_PORT:-58080}
TARGET=${CARGO_TARGET_DIR:-target}
# SOAK_PROFILE=dev soaks the debug build (quicker to build; the figures are then not release's).
PROFILE=${SOAK_PROFILE:-release}
DIR=$([ "$PROFILE" = dev ] && echo debug || echo release)

# SOAK_BUILD=0 runs the binaries already built there (`cargo build --profile "$PROFILE" --bin
# powerbirth --example soak`), e.g. a release build made earlier at lower priority.
if [ "${SOAK_BUILD:-1}" != 0 ]; then
  cargo build --profile "$PROFILE" --locked --bin powerbirth --example soak >&2
fi
BIN=$TARGET/$DIR/powerbirth
SOAK=$TARGET/$DIR/examples/soak

WORK=$(mktemp -d /tmp/powerbirth-soak.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  as_pg pg_ctl -D "$WORK/pgrun/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# initdb and postgres refuse to run as root: run them as the postgres user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

PG_BIN=$(dirname "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | tail -1)")
export PATH="$PG_BIN:$PATH"
# The cluster, its log and its socket live in a directory the postgres user owns.
mkdir "$WORK/pgrun" && { [ "$(id -u)" != 0 ] || chown postgres "$WORK/pgrun"; }
PGDATA_DIR=$WORK/pgrun/data
as_pg initdb -D "$PGDATA_DIR" -U postgres --auth=trust >/dev/null
pg_up() { as_pg pg_ctl -D "$PGDATA_DIR" -l "$WORK/pgrun/pg.log" -w -o "-p $PG_PORT -k $WORK/pgrun -c listen_addresses=127.0.0.1" start >/dev/null; }
pg_down() { as_pg pg_ctl -D "$PGDATA_DIR" -m "$1" -w stop >/dev/null; }
pg_up
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE soak" >/dev/null
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/soak"

redis_up() { redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null & REDIS_PID=$!; PIDS+=("$REDIS_PID"); }
upstream_up() { "$SOAK" upstream "$UP_PORT" & UP_PID=$!; PIDS+=("$UP_PID"); }
redis_up
upstream_up

cat >"$WORK/powerbirth.toml" <<EOF
[server]
listen = "127.0.0.1:$GW_PORT"
shutdown_grace_s = 25

[database]
url = "$DB_URL"

[writer]
spool_dir = "$WORK/spool"

[auth]
# Keys stay cached while PostgreSQL is down (a key looked up for the first time then is refused).
key_cache_ms = 600000
bootstrap_admin_key = false

[ratelimit]
backend = "redis"
default_rpm = 1000000

[redis]
url = "redis://127.0.0.1:$REDIS_PORT"

[[models]]
name = "soak"
provider = "openai"
api_base = "http://127.0.0.1:$UP_PORT/v1"
timeout_ms = 2000
max_retries = 1
[models.price]
input = "0.15"
output = "0.60"
EOF

KEY=$("$BIN" --config "$WORK/powerbirth.toml" keys create --name soak --role client --daily-budget-usd 1000 | tail -1)
NO_COLOR=1 RUST_LOG=${RUST_LOG:-warn} "$BIN" --config "$WORK/powerbirth.toml" serve >"$WORK/gateway.out" 2>"$WORK/gateway.log" &
GW_PID=$!
PIDS+=("$GW_PID")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$GW_PORT/healthz" >/dev/null && break; sleep 0.1; done

"$SOAK" load "http://127.0.0.1:$GW_PORT" "$KEY" "$SECS" "$CONC" "$WORK/ids" >"$WORK/load.out" &
LOAD_PID=$!

# Faults, in a 30-second cycle, until the load ends: PostgreSQL down 10 s (fast, then immediate
# stop), Redis killed for 4 s, the upstream killed for 3 s.
start=$(date +%s)
cycle=0
fault_log() { echo "[soak +$(( $(date +%s) - start ))s] $*" >&2; }
while kill -0 "$LOAD_PID" 2>/dev/null && [ $(( $(date +%s) - start + 30 )) -le "$SECS" ]; do
  sleep 3
  mode=$([ $((cycle % 2)) = 0 ] && echo fast || echo immediate)
  fault_log "PostgreSQL stop ($mode)"; pg_down "$mode"; sleep 10; pg_up; fault_log "PostgreSQL back"
  sleep 3
  fault_log "Redis killed"; kill -9 "$REDIS_PID"; { wait "$REDIS_PID" || true; } 2>/dev/null; sleep 4; redis_up; fault_log "Redis back"
  sleep 3
  fault_log "upstream killed"; kill -9 "$UP_PID"; { wait "$UP_PID" || true; } 2>/dev/null; sleep 3; upstream_up; fault_log "upstream back"
  sleep 4
  cycle=$((cycle + 1))
done
wait "$LOAD_PID"

# SIGTERM: the gateway drains its spool into the database within shutdown_grace_s.
kill -TERM "$GW_PID"; wait "$GW_PID" || true
read -r _ requests _ errors _ exchanges _ no_answer _ e4xx _ e5xx <"$WORK/load.out"
lost=$("$SOAK" check "$DB_URL" "$WORK/ids" | awk '{print $2}')
echo "soak: ${SECS}s, $CONC connections, $PROFILE build, $cycle fault cycles (PostgreSQL, Redis, upstream)"
echo "requests $requests"
echo "errors $errors (no answer $no_answer, 4xx $e4xx, 5xx $e5xx)"
echo "exchanges $exchanges"
echo "lost exchanges $lost"
echo "gateway log: $(grep -c ' WARN ' "$WORK/gateway.log" || true) warnings, $(grep -c ' ERROR ' "$WORK/gateway.log" || true) errors; most frequent:"
sed -E 's/^[^ ]+ +//; s/(request_id|conversation_id)=[^ ]+//g' "$WORK/gateway.log" | grep -E '^(WARN|ERROR)' | cut -c1-160 | sort | uniq -c | sort -rn | head -5
[ "$lost" = 0 ]
