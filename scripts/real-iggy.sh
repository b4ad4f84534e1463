#!/usr/bin/env bash
# Runs rustok-iggy's remote paths against a real Apache Iggy server, on
# loopback, with throwaway credentials and data (see docs/real-iggy.md):
#
#   1. the remote conformance suites and transport tests (`--ignored` ones
#      of backends/remote/tests/real_server.rs), and its idempotent-publish
#      tests against a second server started with message deduplication on;
#   2. the demo with backend = "remote", twice on the same server;
#   3. the operator commands on that data: topology, lag, health, replay
#      (print and --to-group), dlq list/show/redrive/purge;
#   4. managed mode spawning the real server (start, SIGKILL, restart, stop);
#   5. `rustok-iggy bench --backend remote`, and Apache Iggy's own
#      iggy-bench against the real server and against `rustok-iggy serve`
#      when IGGY_BENCH_BIN is set;
#   6. scripts/cli-probe.sh (the official CLI's refusals on both servers)
#      when IGGY_CLI is set.
#
# It does not build Apache Iggy. It needs:
#   IGGY_SERVER_BIN     an iggy-server executable built from apache/iggy
#   IGGY_SERVER_CONFIG  that build's server config (core/server/config.toml)
# and optionally IGGY_BENCH_BIN (iggy-bench) and IGGY_CLI (the official
# `iggy` CLI). Prints PASS/FAIL per step and
# exits non-zero if any step failed. Logs stay in $RESULTS (printed).
set -uo pipefail
cd "$(dirname "$0")/.."

: "${IGGY_SERVER_BIN:?set IGGY_SERVER_BIN to an iggy-server executable}"
: "${IGGY_SERVER_CONFIG:?set IGGY_SERVER_CONFIG to its config.toml}"
[ -x "$IGGY_SERVER_BIN" ] || { echo "not executable: $IGGY_SERVER_BIN" >&2; exit 2; }
[ -f "$IGGY_SERVER_CONFIG" ] || { echo "no such file: $IGGY_SERVER_CONFIG" >&2; exit 2; }

RESULTS=$(mktemp -d -t rustok-real-iggy-XXXXXX)
echo "logs: $RESULTS"
failed=0
summary=()

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The real server's own settings for every server this script (or managed
# mode) starts: its config file, and only the TCP listener, on loopback.
export IGGY_CONFIG_PATH="$IGGY_SERVER_CONFIG"
export IGGY_HTTP_ENABLED=false IGGY_QUIC_ENABLED=false IGGY_WEBSOCKET_ENABLED=false
export IGGY_SYSTEM_LOGGING_LEVEL=warn

user=harness
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
port=$(free_port)
url="iggy+tcp://$user:$password@127.0.0.1:$port"

server_pid=
dedup_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$dedup_pid" ] && kill "$dedup_pid" 2>/dev/null && wait "$dedup_pid" 2>/dev/null
  rm -rf "$RESULTS/data" "$RESULTS/dedup-data"
}
trap cleanup EXIT

# start_iggy PORT NAME [VAR=VALUE...]: starts a server on PORT with data in
# $RESULTS/NAME and its log in $RESULTS/iggy-server-NAME.log, with the
# extra settings given; its pid in $started_pid. Fails if it does not
# listen (it exited, or 60 s passed).
start_iggy() {
  local port=$1 name=$2; shift 2
  env "$@" IGGY_SYSTEM_PATH="$RESULTS/$name" IGGY_TCP_ADDRESS="127.0.0.1:$port" \
    IGGY_ROOT_USERNAME=$user IGGY_ROOT_PASSWORD=$password \
    "$IGGY_SERVER_BIN" >"$RESULTS/iggy-server-$name.log" 2>&1 &
  started_pid=$!
  for _ in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$started_pid" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}

start_server() {
  if ! start_iggy "$port" data; then
    echo "the Iggy server did not start; see $RESULTS/iggy-server-data.log" >&2
    exit 2
  fi
  server_pid=$started_pid
}

# step NAME COMMAND...: runs it, logs to $RESULTS/NAME.log, records PASS/FAIL.
step() {
  local name=$1; shift
  local started=$SECONDS
  if "$@" >"$RESULTS/$name.log" 2>&1; then
    summary+=("PASS  $name ($((SECONDS - started)) s)")
  else
    summary+=("FAIL  $name ($((SECONDS - started)) s): $RESULTS/$name.log")
    failed=1
  fi
  echo "${summary[-1]}"
}

# Everything the steps run, built once.
echo "building (release)..."
cargo build --release --locked -p rustok-iggy-cli >"$RESULTS/build.log" 2>&1 \
  || { echo "build failed: $RESULTS/build.log" >&2; exit 2; }
cargo test --release --locked -p rustok-iggy-remote --test real_server --no-run >>"$RESULTS/build.log" 2>&1 \
  && cargo test --release --locked -p rustok-iggy-cli --test managed --no-run >>"$RESULTS/build.log" 2>&1 \
  || { echo "build failed: $RESULTS/build.log" >&2; exit 2; }
cli=target/release/rustok-iggy

start_server
echo "Apache Iggy $("$IGGY_SERVER_BIN" --version 2>/dev/null | head -n 1) on 127.0.0.1:$port"

step conformance-and-transport env RUSTOK_IGGY_TEST_URL="$url" \
  cargo test --release --locked -p rustok-iggy-remote --test real_server -- --ignored \
  --skip deduplicating_server

# Idempotent publish needs the server's message deduplication, on a server
# of its own: the window must cover what the tests publish again (20,000
# events over 4 partitions) for as long as they run. Apache Iggy 0.9
# removed the feature and refuses to boot with it (its log says so).
dedup_port=$(free_port)
if start_iggy "$dedup_port" dedup-data \
  IGGY_SYSTEM_MESSAGE_DEDUPLICATION_ENABLED=true \
  IGGY_SYSTEM_MESSAGE_DEDUPLICATION_MAX_ENTRIES=100000 \
  IGGY_SYSTEM_MESSAGE_DEDUPLICATION_EXPIRY="1 h"; then
  dedup_pid=$started_pid
  step idempotent-publish env \
    RUSTOK_IGGY_TEST_DEDUP_URL="iggy+tcp://$user:$password@127.0.0.1:$dedup_port" \
    cargo test --release --locked -p rustok-iggy-remote --test real_server -- --ignored \
    deduplicating_server
  kill "$dedup_pid" 2>/dev/null; wait "$dedup_pid" 2>/dev/null; dedup_pid=
else
  summary+=("FAIL  idempotent-publish: the server did not start with message deduplication on: $RESULTS/iggy-server-dedup-data.log")
  failed=1
  echo "${summary[-1]}"
fi

# The demo and the operator commands share one stream on the server.
export RUSTOK_IGGY__BACKEND=remote RUSTOK_IGGY__STREAM=rustok-demo
export RUSTOK_IGGY__PLUGINS__REMOTE__URL="$url"
demo_ok() { "$cli" demo "$@" && grep -q '^OK' "$RESULTS/$current.log"; }
current=demo-fresh-stream; step "$current" demo_ok
current=demo-reused-stream; step "$current" demo_ok
step topology "$cli" topology
step lag "$cli" lag --group demo
step health "$cli" health
step replay-print "$cli" replay --topic events --from-beginning --limit 20
step replay-to-group "$cli" replay --topic events --from-beginning --to-group harness-replay
# A third run leaves its two dead letters in the DLQ for the DLQ commands:
# list and show them, redrive one (handled by the next demo run's group,
# which skips it as another run's event), purge the rest.
current=demo-leaving-dead-letters; step "$current" demo_ok --leave-dead-letters
step dlq-list "$cli" dlq list
dlq_id=$("$cli" dlq list --json 2>/dev/null \
  | python3 -c 'import json,sys; e=json.load(sys.stdin)["entries"]; print(e[0]["id"] if e else "")' 2>/dev/null)
if [ -n "$dlq_id" ]; then
  step dlq-show "$cli" dlq show "$dlq_id"
  step dlq-redrive "$cli" dlq redrive "$dlq_id"
else
  summary+=("FAIL  dlq-show/redrive: the demo left no dead letter"); failed=1
fi
step dlq-purge "$cli" dlq purge --include-redriven --yes
dlq_empty() {
  "$cli" dlq list --include-redriven --json \
    | python3 -c 'import json,sys; e=json.load(sys.stdin)["entries"]; sys.exit(1 if e else 0)'
}
step dlq-empty-after-purge dlq_empty
unset RUSTOK_IGGY__BACKEND RUSTOK_IGGY__STREAM RUSTOK_IGGY__PLUGINS__REMOTE__URL

step managed-mode env RUSTOK_IGGY_MANAGED_SERVER="$IGGY_SERVER_BIN" \
  cargo test --release --locked -p rustok-iggy-cli --test managed -- --nocapture \
  a_killed_server_is_restarted past_the_restart_limit dropping_the_transport the_backend_reports

bench_config="$RESULTS/bench.toml"
cat >"$bench_config" <<EOF
backend = "remote"
[plugins.remote]
url = "$url"
EOF
step rustok-bench-remote "$cli" --config "$bench_config" bench --backend remote --events 200000

if [ -n "${IGGY_BENCH_BIN:-}" ]; then
  # iggy-bench ADDRESS SIZE: a pinned producer, then a pinned consumer of
  # what it wrote (1 stream, 1 partition, 1,000 batches of 1,000 messages).
  iggy_bench() {
    local common=(--username "$user" --password "$password" --message-size "$2"
      --messages-per-batch 1000 --message-batches 1000)
    "$IGGY_BENCH_BIN" "${common[@]}" pinned-producer --streams 1 --producers 1 \
      tcp --server-address "$1" \
    && "$IGGY_BENCH_BIN" "${common[@]}" pinned-consumer --streams 1 --consumers 1 \
      tcp --server-address "$1"
  }
  step iggy-bench-real-100B iggy_bench "127.0.0.1:$port" 100
  serve_port=$(free_port)
  serve_dir="$RESULTS/serve-data"
  IGGY_ROOT_USERNAME=$user IGGY_ROOT_PASSWORD=$password \
    RUSTOK_IGGY__PLUGINS__EMBEDDED__FSYNC=never \
    "$cli" serve --address "127.0.0.1:$serve_port" --data-dir "$serve_dir" >"$RESULTS/serve.log" 2>&1 &
  serve_pid=$!
  sleep 2
  step iggy-bench-serve-100B iggy_bench "127.0.0.1:$serve_port" 100
  kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null
fi

if [ -n "${IGGY_CLI:-}" ]; then
  # The official CLI against both servers: refusals must match.
  step cli-probe env SERVE_BIN="$cli" scripts/cli-probe.sh
fi

echo
echo "== real Apache Iggy harness: $RESULTS"
printf '%s\n' "${summary[@]}"
exit $failed
