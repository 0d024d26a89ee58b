#!/usr/bin/env bash
# Backfill benchmark: the release collector reads the whole history of a graph-sim tenant with
# client-side pacing off, publishes it to JetStream, stops when caught up, and /usr/bin/time -v
# reports its wall time and peak memory; the collector logs records/s as it stops.
#
#   crates/collector/bench/backfill.sh [USERS] [NAMESPACE]      (default 3600 users ≈ 1,040,000 records)
#
# Needs NATS with JetStream at $NATS_URL (scripts/ensure-services), python3 and GNU time. The
# events land in the stream <NAMESPACE upper-cased>_EVENTS (about 3.6 GB for a million records):
# remove it afterwards (e.g. `nats stream rm BENCH_EVENTS`). To see how much of it the detector would
# take as late, and remove the namespace:
#   cargo run --release -p m365mon-collector --example stream_order -- --namespace bench --delete
set -euo pipefail
users=${1:-3600}
namespace=${2:-bench}
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
cargo build --release -p m365mon-collector -p m365mon-graph-sim --bins
work=$(mktemp -d)
target/release/m365mon-graph-sim --users "$users" --history-days 7 --no-ledger \
  --tls-cert-out "$work/ca.pem" > "$work/sim.out" &
sim=$!
trap 'kill $sim 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/sim.out" ] && break; sleep 0.1; done
info() { python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline())["graph_sim"]; print(eval(sys.argv[2]))' "$work/sim.out" "$1"; }
export M365MON_TENANT_ID=$(info 'd["tenants"][0]["tenant_id"]')
export M365MON_CLIENT_ID=$(info 'd["tenants"][0]["apps"][0]["client_id"]')
export M365MON_CLIENT_SECRET=$(info 'd["tenants"][0]["apps"][0]["client_secret"]')
export M365MON_AUTHORITY_HOST=$(info 'd["base_url"]') M365MON_GRAPH_URL=$(info 'd["base_url"]')
export M365MON_EXTRA_CA_FILE=$work/ca.pem M365MON_NAMESPACE=$namespace
export M365MON_GRAPH_REQUESTS_PER_10S=0 M365MON_COLLECTOR_HEALTH_ADDR=off RUST_LOG=${RUST_LOG:-info}
/usr/bin/time -v target/release/m365mon-collector --exit-when-caught-up 2>&1 |
  grep -E "collector stopped|Elapsed|Maximum resident|User time|System time|ERROR"
