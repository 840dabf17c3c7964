#!/usr/bin/env bash
# The README's run command as a new user meets it: scripts/dev.sh with its data under a directory of
# mode 0700 (as a checkout under /root is), on free ports. Passes when the API answers, mdns serves the
# demo zone's record, the tools find it through its data dir, and stopping it ends everything cleanly.
# Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
home="$(mktemp -d "${TMPDIR:-/tmp}/nsplane-0700-XXXXXX")"
chmod 0700 "$home"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
api="127.0.0.1:$(free_port)"
mdns_port="$(free_port)"
log="$home/dev.log"
NSPLANE_DATA_DIR="$home/.nsplane" NSPLANE_API_LISTEN="$api" NSPLANE_MDNS_LISTEN="127.0.0.1:$mdns_port" \
  setsid bash scripts/dev.sh >"$log" 2>&1 &
pid=$!
fail() {
  echo "dev-smoke: $*" >&2
  tail -n 40 "$log" >&2 || true
  kill -TERM -- "-$pid" 2>/dev/null || true
  exit 1
}
for _ in $(seq 1 1200); do
  grep -q "nsplane is running" "$log" && break
  kill -0 "$pid" 2>/dev/null || fail "scripts/dev.sh ended before nsplane was running"
  sleep 1
done
grep -q "nsplane is running" "$log" || fail "nsplane did not start within 20 minutes"
served=""
for _ in $(seq 1 100); do
  served="$(dig @127.0.0.1 -p "$mdns_port" www.demo.nsplane.test A +short +time=1 +tries=1 || true)"
  [ "$served" = "192.0.2.10" ] && break
  sleep 0.2
done
[ "$served" = "192.0.2.10" ] || fail "mdns does not serve the demo record (got: $served)"
curl -fsS "http://$api/v2/zones" | grep -q '"demo.nsplane.test."' || fail "the API does not list the demo zone"
[ "$(curl -fsS "http://$api/healthcheck")" = "OK" ] || fail "the API's /healthcheck does not answer OK"
curl -fsS "http://$api/metrics" | grep -q '^nsplane_dependency_up{dependency="postgres"} 1' || fail "/metrics does not show postgres up"
# The tools find the running instance's servers through its data dir.
nsplane="${CARGO_TARGET_DIR:-$HOME/.cache/nsplane/target}/release/nsplane"
events="$("$nsplane" events --data-dir "$home/.nsplane" tail --kind zone --json)" || fail "nsplane events --data-dir failed"
grep -q '"ZoneCreated.v1"' <<<"$events" || fail "nsplane events --data-dir does not show the demo zone's creation"
audit="$("$nsplane" audit --data-dir "$home/.nsplane" --zone-name demo.nsplane.test --csv)" || fail "nsplane audit --data-dir failed"
grep -q '^[0-9.]*,.*RecordsetCreated' <<<"$audit" || fail "nsplane audit --data-dir does not show the demo record"
# A reader that stops early is not an error.
"$nsplane" events --data-dir "$home/.nsplane" tail --last 0 | head -n 1 >/dev/null || fail "nsplane events | head failed"
if [ "$(id -u)" = 0 ]; then
  [ -f "$home/.nsplane/postgres/postgres.location" ] || fail "as root, PostgreSQL's data should live outside the 0700 directory"
fi
[ "$(stat -c %a "$home")" = 700 ] || fail "the 0700 directory's mode was changed"
# A background job of a script ignores SIGINT, so stop it as a service manager would; dev.sh passes
# it on to nsplane as the Ctrl-C a terminal would send.
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
[ "$status" = 0 ] || fail "stopping did not end nsplane cleanly (exit $status)"
rm -rf "$home"
echo "dev-smoke: scripts/dev.sh ran from a 0700 directory, served the demo zone and stopped cleanly"
