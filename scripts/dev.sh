#!/usr/bin/env bash
# Sets up what is missing, builds nsplane and runs every role in one process (`nsplane all`), with its
# own NATS and PostgreSQL under ./.nsplane; creates a demo zone and prints how to use it. Ctrl-C stops all.
# NSPLANE_DATA_DIR, NSPLANE_API_LISTEN and NSPLANE_MDNS_LISTEN move it; other flags pass to nsplane all.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release --locked -p nsplane --bin nsplane
API="${NSPLANE_API_LISTEN:-127.0.0.1:9001}"
MDNS="${NSPLANE_MDNS_LISTEN:-127.0.0.1:5354}"
DATA="${NSPLANE_DATA_DIR:-./.nsplane}"
"$CARGO_TARGET_DIR/release/nsplane" all --data-dir "$DATA" --api-listen "$API" --mdns-listen "$MDNS" "$@" &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid; exit $?' INT TERM
for _ in $(seq 1 600); do
  curl -fsS "http://$API/" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { wait $pid; exit 1; }
  sleep 0.1
done
base="http://$API/v2"
if ! curl -fsS "$base/zones?name=demo.nsplane.test." | grep -q '"demo.nsplane.test."'; then
  zone=$(curl -fsS -X POST "$base/zones" -H 'Content-Type: application/json' \
    -d '{"name": "demo.nsplane.test.", "email": "hostmaster@demo.nsplane.test", "ttl": 300}')
  zone_id=$(echo "$zone" | sed -E 's/.*"id":"([^"]+)".*/\1/')
  curl -fsS -X POST "$base/zones/$zone_id/recordsets" -H 'Content-Type: application/json' \
    -d '{"name": "www.demo.nsplane.test.", "type": "A", "records": ["192.0.2.10"]}' >/dev/null
fi
mdns_host="${MDNS%:*}"
mdns_port="${MDNS##*:}"
cat <<MSG

nsplane is running (API http://$API, mdns $MDNS, data in $DATA).
A demo zone exists; mdns serves it, and the worker turns it ACTIVE once mdns answers its serial:

  dig @$mdns_host -p $mdns_port www.demo.nsplane.test A
  dig @$mdns_host -p $mdns_port demo.nsplane.test AXFR

  curl -s $base/zones | python3 -m json.tool
  curl -s -X POST $base/zones -H 'Content-Type: application/json' \\
       -d '{"name": "example.org.", "email": "hostmaster@example.org"}'
  curl -s "$base/recordsets?name=www.demo.nsplane.test." | python3 -m json.tool

With the openstack CLI (pip install python-openstackclient python-designateclient):

  openstack --os-auth-type none --os-endpoint http://$API/v2 zone list
  openstack --os-auth-type none --os-endpoint http://$API/v2 recordset list demo.nsplane.test.

Ctrl-C stops nsplane and the NATS and PostgreSQL it started.
MSG
wait $pid
