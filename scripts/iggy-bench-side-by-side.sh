#!/usr/bin/env bash
# Apache Iggy's `iggy-bench` against the real Apache Iggy server and against
# one or more `rustok-iggy serve` builds, side by side in one session
# (docs/benchmarks.md, "serve vs Apache Iggy under iggy-bench").
#
# For every run (RUNS, default 3), every message size (SIZES, default
# "100 1000") and every server, in that order, so the servers interleave:
# a fresh server on a fresh data directory and a free loopback port, then
# `pinned-producer` (1 stream, 1 partition, 1,000 batches of 1,000
# messages) and `pinned-consumer` of what it wrote, then the server is
# stopped (by its pid). Prints each run's MB/s and the CPU time the server
# process used during each phase (user + system, all threads: what a phase
# costs the server, which the load of a shared machine moves far less than
# MB/s), then per size and server the medians, their ratio to the real
# server's, and the median of the per-run ratios (each run's servers ran
# back to back, under about the same load).
#
# Needs IGGY_SERVER_BIN, IGGY_SERVER_CONFIG, IGGY_BENCH_BIN, and the serve
# builds as arguments: NAME=PATH-TO-rustok-iggy ... (e.g.
# serve=target/release/rustok-iggy). serve runs the embedded log with
# fsync = never; the real server keeps its defaults (no fsync per write).
set -uo pipefail

: "${IGGY_SERVER_BIN:?set IGGY_SERVER_BIN to an iggy-server executable}"
: "${IGGY_SERVER_CONFIG:?set IGGY_SERVER_CONFIG to its config.toml}"
: "${IGGY_BENCH_BIN:?set IGGY_BENCH_BIN to an iggy-bench executable}"
[ $# -ge 1 ] || { echo "usage: $0 NAME=PATH-TO-rustok-iggy..." >&2; exit 2; }
RUNS=${RUNS:-3}
SIZES=${SIZES:-"100 1000"}

work=$(mktemp -d -t rustok-iggy-bench-XXXXXX)
echo "logs: $work"
user=bench
password=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
pid=
stop() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  pid=
}
trap 'stop; rm -rf "$work"/data-*' EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start NAME PATH PORT DIR: starts the server NAME (real, or a serve build
# at PATH) on PORT with data in DIR; its pid in $pid. Fails if it does not
# listen within 60 s.
start() {
  local name=$1 path=$2 port=$3 dir=$4
  if [ "$name" = real ]; then
    env IGGY_CONFIG_PATH="$IGGY_SERVER_CONFIG" IGGY_HTTP_ENABLED=false \
      IGGY_QUIC_ENABLED=false IGGY_WEBSOCKET_ENABLED=false \
      IGGY_SYSTEM_LOGGING_LEVEL=warn IGGY_SYSTEM_PATH="$dir" \
      IGGY_TCP_ADDRESS="127.0.0.1:$port" \
      IGGY_ROOT_USERNAME=$user IGGY_ROOT_PASSWORD=$password \
      "$IGGY_SERVER_BIN" >"$dir.log" 2>&1 &
  else
    env IGGY_ROOT_USERNAME=$user IGGY_ROOT_PASSWORD=$password \
      RUSTOK_IGGY__PLUGINS__EMBEDDED__FSYNC=never \
      "$path" serve --address "127.0.0.1:$port" --data-dir "$dir" >"$dir.log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# cpu_ms PID: CPU time (user + system) the process used so far, in ms.
cpu_ms() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print int(($12 + $13) * 1000 / hz) }' "/proc/$1/stat"
}

# bench KIND SIZE PORT LOG: one iggy-bench run; prints its total MB/s and
# the server's CPU ms during it.
bench() {
  local kind=$1 size=$2 port=$3 log=$4 actors
  case $kind in
    pinned-producer) actors=(--producers 1) ;;
    *) actors=(--consumers 1) ;;
  esac
  local before after mbs
  before=$(cpu_ms "$pid")
  "$IGGY_BENCH_BIN" --username $user --password "$password" --message-size "$size" \
    --messages-per-batch 1000 --message-batches 1000 \
    "$kind" --streams 1 "${actors[@]}" tcp --server-address "127.0.0.1:$port" >"$log" 2>&1 \
    || { printf 'FAILED\tFAILED'; return; }
  after=$(cpu_ms "$pid")
  mbs=$(sed -n 's/.*Results: Total throughput: \([0-9.]*\) MB\/s.*/\1/p' "$log" | tail -1)
  printf '%s\t%s' "${mbs:-FAILED}" "$((after - before))"
}

results="$work/results.tsv"
for run in $(seq 1 "$RUNS"); do
  for size in $SIZES; do
    for target in real "$@"; do
      name=${target%%=*}
      path=${target#*=}
      port=$(free_port)
      dir="$work/data-$name-$size-$run"
      if ! start "$name" "$path" "$port" "$dir"; then
        echo "$name did not start; see $dir.log" >&2
        stop
        continue
      fi
      produced=$(bench pinned-producer "$size" "$port" "$dir.producer.log")
      consumed=$(bench pinned-consumer "$size" "$port" "$dir.consumer.log")
      stop
      rm -rf "$dir"
      printf '%s\t%s\t%s\t%s\t%s\n' "$run" "$size" "$name" "$produced" "$consumed" | tee -a "$results"
    done
  done
done

echo
echo "medians of $RUNS runs, MB/s (ratio to real):"
python3 - "$results" <<'EOF'
import statistics, sys
# run, size, name, producer MB/s, producer server CPU ms, consumer MB/s, consumer server CPU ms
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
def value(r, col):
    return float(r[col]) if r[col] != "FAILED" else None
def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else float("nan")
def of(size, name, col):
    return med(value(r, col) for r in rows if r[1] == size and r[2] == name)
def paired(size, name, col):
    real = {r[0]: value(r, col) for r in rows if r[1] == size and r[2] == "real"}
    return med(value(r, col) / real[r[0]] for r in rows
               if r[1] == size and r[2] == name and value(r, col) and real.get(r[0]))
names = list(dict.fromkeys(r[2] for r in rows))
print("size   server        phase     MB/s  ratio  per-run ratio  server CPU ms")
for size in dict.fromkeys(r[1] for r in rows):
    for name in names:
        for phase, col in (("producer", 3), ("consumer", 5)):
            mbs = of(size, name, col)
            print(f"{size:>5} B {name:<12} {phase}  {mbs:8.2f}  {mbs / of(size, 'real', col):.2f}x"
                  f"  {paired(size, name, col):.2f}x  {of(size, name, col + 1):8.0f}")
EOF
