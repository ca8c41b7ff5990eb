#!/usr/bin/env bash
# The ticket webhook under wrk, one process against two, on one database.
#
#   bash benches/wrk_replicas.sh DATABASE [PROCESSES] [SECONDS]
#
# DATABASE is a SQLite path or a postgres:// URL (use a new, empty database for each run).
# PROCESSES (1 or 2) `triage serve` processes of the release build share it; 32 connections in
# all are split between them, one wrk per process, as a load balancer would. Each wrk prints its
# own requests/s and latency; add the requests/s up.
set -euo pipefail
cd "$(dirname "$0")/.."
DATABASE=${1:?usage: wrk_replicas.sh DATABASE [PROCESSES] [SECONDS]}
PROCESSES=${2:-1}
SECONDS_=${3:-20}
BIN=${TRIAGE_BIN:-target/release/triage}
command -v wrk >/dev/null || { echo "wrk is not installed (Debian: apt-get install wrk)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "$BIN is missing: cargo build --release" >&2; exit 2; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
ports=()
for i in $(seq 1 "$PROCESSES"); do
    port=$(free_port)
    TRIAGE_API_TOKEN=wrk-bench-token TRIAGE_INSTANCE="wrk-$i" RUST_LOG=warn \
        "$BIN" serve --listen "127.0.0.1:$port" --database "$DATABASE" >"/tmp/wrk-replica-$i.log" 2>&1 &
    pids+=($!)
    ports+=("$port")
done
for port in "${ports[@]}"; do
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
done
per=$((32 / PROCESSES))
wrks=()
for i in "${!ports[@]}"; do
    # Each wrk's ids carry its own prefix, so that the processes never share an id.
    WRK_ID_PREFIX="p$i-" wrk -t1 -c"$per" -d"${SECONDS_}s" --latency -s benches/wrk_tickets.lua "http://127.0.0.1:${ports[$i]}" \
        >"/tmp/wrk-out-$i.txt" &
    wrks+=($!)
done
wait "${wrks[@]}"
for i in "${!ports[@]}"; do
    echo "== process $((i + 1)) of $PROCESSES (port ${ports[$i]})"
    grep -E "Requests/sec|Non-2xx|Socket errors| 50%| 99%" "/tmp/wrk-out-$i.txt"
done
