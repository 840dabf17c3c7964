#!/usr/bin/env bash
# Sets up what is missing and runs the whole test suite (real NATS and PostgreSQL, started by the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
echo "test: nats-server $("$NSPLANE_NATS_SERVER" --version), postgres in $NSPLANE_PG_BIN, target $CARGO_TARGET_DIR"
cargo build --workspace --all-targets --locked
cargo test --workspace --locked --no-fail-fast
