#!/usr/bin/env bash
# The official `iggy` CLI against Apache Iggy and against `rustok-iggy serve`,
# side by side: the same fixture (stream s1, topic t1 with 2 partitions and 3
# messages, group g1) on both, then the same commands, mostly ones a server
# must refuse, on both. Prints each command with both outcomes (OK and its
# last line, or ERR and the server's reason as the CLI reports it) and marks
# the ones that differ. serve must be exactly as strict as Apache Iggy, so a
# command that only serve accepts is a bug in serve (docs/real-iggy.md).
#
# Exits non-zero when an outcome differs, except the differences
# docs/real-iggy.md names as deliberate (KNOWN below).
#
# Needs IGGY_SERVER_BIN and IGGY_SERVER_CONFIG (an Apache Iggy build and its
# config.toml), IGGY_CLI (the official CLI, e.g. `cargo install iggy-cli
# --version =0.14.0`), and SERVE_BIN (default target/release/rustok-iggy).
set -uo pipefail
cd "$(dirname "$0")/.."

: "${IGGY_SERVER_BIN:?set IGGY_SERVER_BIN to an iggy-server executable}"
: "${IGGY_SERVER_CONFIG:?set IGGY_SERVER_CONFIG to its config.toml}"
: "${IGGY_CLI:?set IGGY_CLI to the official iggy CLI}"
SERVE_BIN=${SERVE_BIN:-target/release/rustok-iggy}
[ -x "$SERVE_BIN" ] || { echo "not executable: $SERVE_BIN (cargo build --release -p rustok-iggy-cli)" >&2; exit 2; }

# Commands whose outcomes differ on purpose: Apache Iggy's partition-request
# dispatch answers any unresolved stream, topic or partition of a send or an
# offset write with "resource not found" (20); serve names the level that
# missed (docs/real-iggy.md, "Topics, partitions and segments").
KNOWN=(
  "message send -p 7 s1 t1 x"
  "consumer-offset set c1 s1 t1 7 0"
  "consumer-offset set c1 s1 nope 0 0"
  # A topic without partitions: Apache Iggy creates one, a core topic has at
  # least one (routing divides by the count).
  "topic create s1 t6 0 none"
)

CASES=$(cat <<'EOF'
stream create s1
stream get nope
stream delete nope
stream update nope s9
stream create ""
stream purge nope
topic create nope t2 1 none
topic create s1 t1 1 none
topic create s1 "" 1 none
topic get s1 nope
topic delete s1 nope
topic purge s1 nope
topic update s1 nope t3 none
topic create s1 ty 1 none -m 1B
partition create s1 nope 1
partition create s1 t1 1001
partition delete s1 t1 5
partition delete s1 nope 1
message send -p 7 s1 t1 x
message send s1 nope x
message send nope t1 x
consumer-offset get c1 s1 t1 0
consumer-offset set c1 s1 t1 0 99
consumer-offset set c1 s1 t1 7 0
consumer-offset set c1 s1 nope 0 0
consumer-group create s1 t1 g1
consumer-group get s1 t1 nope
consumer-group delete s1 t1 nope
consumer-group create s1 nope g2
user create probe-user pw
user create probe-user probe-password
user create probe-user probe-password
user delete nope
user get nope
user password nope old new123456
pat create probe-token
pat delete nope
segment delete s1 t1 7 1
segment delete s1 nope 0 1
client get 999999
stream update s1 s1
topic create s1 t5 1001 none
topic create s1 t6 0 none
topic create s1 t7 1 none --set nope=1
topic create s1 t8 1 gzip 1h
topic update s1 t1 t1 none
message poll --offset 0 -m 10 s1 t1 7
message poll --offset 99 -m 10 s1 t1 0
message poll --first -m 10 s1 nope 0
message poll --last -m 1 s1 t1 0
message send -m tenant-a s1 t1 keyed
message send -p 0 -H iggy.meta:string:x s1 t1 x
consumer-group create s1 t1 ""
user name nope someone
user status nope inactive
user create "bad name!" probe-password
pat create probe-expiring 1s
pat create ""
EOF
)

work=$(mktemp -d -t rustok-cli-probe-XXXXXX)
user=probe
password=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
real_port=$(free_port)
serve_port=$(free_port)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

env IGGY_CONFIG_PATH="$IGGY_SERVER_CONFIG" IGGY_HTTP_ENABLED=false IGGY_QUIC_ENABLED=false \
  IGGY_WEBSOCKET_ENABLED=false IGGY_SYSTEM_LOGGING_LEVEL=warn IGGY_SYSTEM_PATH="$work/real" \
  IGGY_TCP_ADDRESS="127.0.0.1:$real_port" IGGY_ROOT_USERNAME=$user IGGY_ROOT_PASSWORD=$password \
  "$IGGY_SERVER_BIN" >"$work/real.log" 2>&1 &
pids+=($!)
env IGGY_ROOT_USERNAME=$user IGGY_ROOT_PASSWORD=$password \
  "$SERVE_BIN" serve --address "127.0.0.1:$serve_port" --data-dir "$work/serve" >"$work/serve.log" 2>&1 &
pids+=($!)
for port in $real_port $serve_port; do
  for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
done

# outcome PORT ARGS...: "OK: <last line>" or "ERR: <the reason the CLI reports>".
outcome() {
  local port=$1 out
  shift
  out=$("$IGGY_CLI" --tcp-server-address "127.0.0.1:$port" -u $user -p "$password" "$@" 2>&1 \
    | grep -v 'WARN\|keyring')
  if grep -q '^Error' <<<"$out"; then
    echo "ERR: $(grep -A1 'Caused by' <<<"$out" | sed -n 2p | sed 's/^ *//')"
  else
    # The last line that is not part of a table (whose widths follow
    # random message ids), without the time a command took.
    echo "OK: $(grep -v '^[+|]' <<<"$out" | tail -n 1 | sed 's/, it took .*//' | cut -c1-80)"
  fi
}

for port in $real_port $serve_port; do
  outcome "$port" stream create s1 >/dev/null
  outcome "$port" topic create s1 t1 2 none >/dev/null
  outcome "$port" message send -p 0 s1 t1 a b c >/dev/null
  outcome "$port" consumer-group create s1 t1 g1 >/dev/null
done

differ=0
while IFS= read -r line; do
  [ -z "$line" ] && continue
  eval "args=($line)"
  real=$(outcome "$real_port" "${args[@]}")
  served=$(outcome "$serve_port" "${args[@]}")
  # A token is random on each server: compare that it was created.
  [[ $line == "pat create"* ]] && real=${real%%: *} && served=${served%%: *}
  mark=same
  if [ "$real" != "$served" ]; then
    mark=DIFF
    known=no
    for k in "${KNOWN[@]}"; do [ "$k" = "$line" ] && known=yes; done
    if [ $known = yes ]; then mark=known; else differ=$((differ + 1)); fi
  fi
  printf '%-5s %-40s | Apache Iggy: %-60s | serve: %s\n' "$mark" "$line" "$real" "$served"
done <<<"$CASES"
echo "$differ unexplained difference(s)"
[ $differ -eq 0 ]
