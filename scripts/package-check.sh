#!/usr/bin/env bash
# Builds the Debian package from the release binary (cargo deb --no-build) and checks it: the files it
# holds, its maintainer script, and its systemd units, verified by systemd-analyze in a throwaway root
# holding the package's files over the host's systemd units. Run by scripts/test.sh after dev-smoke
# (which builds the release binary); needs cargo-deb (scripts/setup-test.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh >/dev/null
fail() { echo "package-check: $*" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
[ -x "$CARGO_TARGET_DIR/release/nsplane" ] || cargo build --release --locked -p nsplane --bin nsplane
cargo deb --no-build --strip -p nsplane -o "$work/nsplane.deb" >/dev/null
dpkg-deb --info "$work/nsplane.deb" >"$work/info"
grep -q "^ Package: nsplane$" "$work/info" || fail "not package nsplane"
grep -q "^ Depends:.*adduser" "$work/info" || fail "does not depend on adduser (postinst creates the user)"
dpkg-deb --contents "$work/nsplane.deb" >"$work/contents"
for path in usr/bin/nsplane etc/nsplane/nsplane.toml usr/share/doc/nsplane/OPERATIONS.md \
            lib/systemd/system/nsplane-api.service lib/systemd/system/nsplane-central.service \
            lib/systemd/system/nsplane-mdns.service lib/systemd/system/nsplane-worker.service \
            lib/systemd/system/nsplane-producer.service lib/systemd/system/nsplane-sink.service; do
  grep -q " $path\$" "$work/contents" || fail "missing $path"
done
dpkg-deb --ctrl-tarfile "$work/nsplane.deb" | tar -x -C "$work" conffiles postinst
grep -qx "/etc/nsplane/nsplane.toml" "$work/conffiles" || fail "the configuration is not a conffile"
sh -n "$work/postinst" || fail "postinst is not valid sh"
# A throwaway root: the host's units (targets the package's units need), then the package's files.
root="$work/root"
mkdir -p "$root/lib/systemd/system"
cp -a /lib/systemd/system/. "$root/lib/systemd/system/"
dpkg-deb -x "$work/nsplane.deb" "$root"
"$root/usr/bin/nsplane" --version >/dev/null || fail "the packaged binary does not run"
for role in api central mdns worker producer sink; do
  unit="/lib/systemd/system/nsplane-$role.service"
  grep -q "^Type=notify$" "$root$unit" || fail "$unit is not Type=notify"
  grep -q "^WatchdogSec=" "$root$unit" || fail "$unit has no watchdog"
  grep -q "^ExecStart=/usr/bin/nsplane $role --config /etc/nsplane/nsplane.toml$" "$root$unit" || fail "$unit runs something else"
  # systemd-analyze warns (exit 0) on unknown keys: any message but the container's own is a failure.
  said="$(systemd-analyze verify --root="$root" "$unit" 2>&1 | grep -v 'Failed to read \$container\|PR_SET_MM' || true)"
  [ -z "$said" ] || fail "systemd-analyze verify $unit: $said"
  # The packaged example configuration is valid for the role it starts.
  "$root/usr/bin/nsplane" "$role" --config "$root/etc/nsplane/nsplane.toml" --check-config >/dev/null 2>&1 \
    || fail "nsplane $role refuses the packaged configuration"
done
echo "package-check: $(basename "$(dpkg-deb --show --showformat='${Package}_${Version}_${Architecture}' "$work/nsplane.deb")").deb holds the binary, the configuration and six verified units (api, central, mdns, worker, producer, sink)"
