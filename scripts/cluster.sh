#!/usr/bin/env bash
# The production topology on this machine, on loopback: three routed nats-server nodes (R3), PostgreSQL,
# RabbitMQ, two instances of every role (each with /healthcheck and /metrics), HAProxy in front of the APIs
# checking /healthcheck, and a BIND and a Knot secondary fed by catalog zone.
#   scripts/cluster.sh up     # installs what is missing, builds, starts it in the background
#   scripts/cluster.sh down   # stops everything
# NSPLANE_CLUSTER_DIR (default ./.nsplane-cluster) holds data, logs and cluster.env (the addresses);
# NSPLANE_CLUSTER_API (default 127.0.0.1:9080) is where HAProxy serves the API.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${NSPLANE_CLUSTER_DIR:-./.nsplane-cluster}"
API="${NSPLANE_CLUSTER_API:-127.0.0.1:9080}"
case "${1:-}" in
  up)
    source scripts/setup-test.sh >/dev/null
    apt_install haproxy
    cargo build --release --locked -p nsplane --bin nsplane
    cargo build --release --locked -p nsplane-sim
    mkdir -p "$DIR"
    if [ -f "$DIR/cluster.pid" ] && kill -0 "$(cat "$DIR/cluster.pid")" 2>/dev/null; then
      echo "cluster.sh: already up (pid $(cat "$DIR/cluster.pid")); addresses in $DIR/cluster.env"
      exit 0
    fi
    rm -f "$DIR/cluster.env"
    nohup "$CARGO_TARGET_DIR/release/nsplane-sim" cluster --dir "$DIR" --api-listen "$API" \
      >"$DIR/cluster.log" 2>&1 &
    echo $! >"$DIR/cluster.pid"
    for _ in $(seq 1 300); do
      grep -q "^cluster up" "$DIR/cluster.log" 2>/dev/null && break
      kill -0 "$(cat "$DIR/cluster.pid")" 2>/dev/null || { tail -20 "$DIR/cluster.log"; echo "cluster.sh: failed to start" >&2; exit 1; }
      sleep 1
    done
    grep -q "^cluster up" "$DIR/cluster.log" || { echo "cluster.sh: not up within 5 minutes; see $DIR/cluster.log" >&2; exit 1; }
    cat "$DIR/cluster.env"
    grep "^cluster up" "$DIR/cluster.log"
    ;;
  down)
    if [ -f "$DIR/cluster.pid" ]; then
      pid="$(cat "$DIR/cluster.pid")"
      if kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      fi
      rm -f "$DIR/cluster.pid"
    fi
    echo "cluster.sh: down (data and logs stay in $DIR)"
    ;;
  *)
    echo "usage: scripts/cluster.sh up|down" >&2
    exit 2
    ;;
esac
