#!/usr/bin/env bash
# Installs what the tests need beyond running nsplane (scripts/setup.sh), idempotently: real DNS
# secondaries, Debian's old nats-server (only so a test can prove it is refused), RabbitMQ, the
# openstack CLI, schemathesis and a real Keystone. Sourced by scripts/test.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

# BIND 9 / Knot / PowerDNS as real secondaries, Debian's nats-server 2.9, and RabbitMQ (the notifications
# test starts a throwaway broker of its own from /usr/lib/rabbitmq/bin).
apt_install nats-server bind9 bind9-utils knot knot-dnsutils pdns-server pdns-backend-sqlite3 sqlite3 \
  rabbitmq-server

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

# cargo-deb, to build and check the Debian package (scripts/package-check.sh), and systemd-analyze.
CARGO_DEB_PIN="3.6.0"
if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_PIN"; then
  echo "setup: installing cargo-deb $CARGO_DEB_PIN"
  cargo install -q --locked cargo-deb --version "$CARGO_DEB_PIN"
fi
command -v systemd-analyze >/dev/null 2>&1 || apt_install systemd

# rustfmt and clippy for the checks test.sh runs (the machine's toolchain usually has them).
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  command -v rustup >/dev/null 2>&1 && rustup component add rustfmt clippy
fi
