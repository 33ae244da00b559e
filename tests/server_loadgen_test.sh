#!/usr/bin/env bash
# The server binary end to end: start on 127.0.0.1 (an ephemeral port) with an API key from a file, wait for
# /health, run the load generator (16 streaming chat requests from 4 clients, bounded in time) with the key,
# see a request without it refused, then SIGTERM, which must finish and exit 0. Then a second server with
# requests queued behind one sequence slot: a first SIGTERM lets it finish them, a second one ends it at once
# (exit 128 + 15).
# Usage: server_loadgen_test.sh SERVER LOADGEN MODEL
set -uo pipefail
server="$1" loadgen="$2" model="$3"
log="${TEST_TMPDIR:-/tmp}/server.log"
key_file="${TEST_TMPDIR:-/tmp}/api_key"
echo "sk-loadgen-test" > "$key_file"
pid=""
trap '[[ -n $pid ]] && kill -9 $pid 2>/dev/null' EXIT
start_server() {  # SERVER FLAGS...: sets pid and port once /health answers.
  "$server" -m "$model" --port 0 --backend cpu "$@" > "$log" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 100); do
    port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$log")
    [[ -n $port ]] && python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1])' \
      "http://127.0.0.1:$port/health" 2> /dev/null && return 0
    sleep 0.1
  done
  echo "the server did not start:"; cat "$log"; exit 1
}
expect_exit() {  # TENTHS STATUS WHAT: the server is gone within TENTHS tenths of a second with STATUS.
  for _ in $(seq "$1"); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  if kill -0 $pid 2>/dev/null; then echo "the server did not exit $3"; exit 1; fi
  wait $pid
  local rc=$?
  [[ $rc -eq $2 ]] || { echo "$3 the server exited with $rc, not $2"; cat "$log"; exit 1; }
}
start_server --parallel 4 --ctx-size 256 -b 64 -ub 32 --api-key-file "$key_file"
timeout 60 python3 "$loadgen" --url "http://127.0.0.1:$port" --clients 4 --prompt-tokens 24 --max-tokens 24 \
  --requests 16 --duration 30 --api-key sk-loadgen-test || { echo "loadgen failed"; cat "$log"; exit 1; }
if GGRT_API_KEY= timeout 30 python3 "$loadgen" --url "http://127.0.0.1:$port" --clients 1 --requests 1 \
  --max-tokens 4 --duration 10 > /dev/null 2>&1; then
  echo "a request without the API key was served"; exit 1
fi
kill -TERM $pid
expect_exit 100 0 "on SIGTERM"

# The second server: one sequence at a time, so that 16 streaming requests keep it busy for a while.
start_server --parallel 1 --ctx-size 2048
timeout 60 python3 "$loadgen" --url "http://127.0.0.1:$port" --clients 16 --prompt-tokens 24 --max-tokens 1000 \
  --requests 16 --duration 30 > /dev/null 2>&1 &
load=$!
# Until requests wait behind the running one (at most 10 s).
python3 - "http://127.0.0.1:$port/metrics" <<'PY' || { echo "no request ever waited"; cat "$log"; exit 1; }
import sys, time, urllib.request
for _ in range(200):
    text = urllib.request.urlopen(sys.argv[1]).read().decode()
    if any(l.startswith("ggrt_sequences_waiting ") and float(l.split()[1]) > 0 for l in text.splitlines()):
        sys.exit(0)
    time.sleep(0.05)
sys.exit(1)
PY
kill -TERM $pid
sleep 0.1
kill -0 $pid 2>/dev/null || { echo "the server did not wait for its in-flight requests"; cat "$log"; exit 1; }
kill -TERM $pid
expect_exit 20 143 "on a second SIGTERM"
kill $load 2>/dev/null
wait $load 2>/dev/null
echo "ok"
