#!/usr/bin/env bash
# Sets up what is missing and runs every check: formatting, clippy (warnings are errors), the whole
# test suite (real NATS, PostgreSQL, BIND, Knot, PowerDNS, Keystone, started by the tests), and the
# README's run command from a data directory under a 0700 directory (scripts/dev-smoke.sh), and the
# Debian package's contents and systemd units (scripts/package-check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-test.sh
echo "test: nats-server $("$NSPLANE_NATS_SERVER" --version), postgres in $NSPLANE_PG_BIN, target $CARGO_TARGET_DIR"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --all-targets --locked
cargo test --workspace --locked --no-fail-fast
bash scripts/dev-smoke.sh
bash scripts/package-check.sh
