#!/usr/bin/env bash
# Runs the upstream OpenStack Designate API tests (designate-tempest-plugin, through tempest) against a
# running nsplane, with tokens validated by a real Keystone, and reports per-module results.
#
#   scripts/conformance.sh
#
# What it does, all on 127.0.0.1 with free ports picked at start:
#   1. a venv with tempest and designate-tempest-plugin from PyPI (pinned below, idempotent);
#   2. Keystone (scripts/keystone.sh) with the catalog's `dns` endpoint = the nsplane API root;
#   3. `nsplane all` in dev mode (its own nats-server and PostgreSQL), auth strategy keystone;
#   4. tempest.conf, then `tempest run --regex $CONFORMANCE_REGEX --subunit`;
#   5. counts the subunit stream (tempest exits 0 even when tests fail), prints a per-module table
#      and the failing test ids, writes results.json;
#   6. stops everything it started (also on Ctrl-C or an error).
#
# Environment:
#   NSPLANE_BIN                nsplane binary (default $CARGO_TARGET_DIR/release/nsplane)
#   NSPLANE_CONFORMANCE_DIR    work dir, emptied at start (default ${TMPDIR:-/tmp}/nsplane-conformance);
#                              results: results.subunit, results.json, summary.txt; logs under it
#   NSPLANE_TEMPEST_VENV       the tempest venv (default ~/.cache/nsplane/tempest-venv)
#   CONFORMANCE_REGEX          tests to run (default designate_tempest_plugin.tests.api)
#   CONFORMANCE_CONCURRENCY    tempest workers (default 2)
#   CONFORMANCE_TIMEOUT        longest the tempest run may take, seconds (default 3600)
#
# Exit status: 0 when the run was valid (whatever the tests' outcome), non-zero when something could
# not be set up or the run produced no results. Test outcomes are in the table and results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

# nats-server and PostgreSQL paths (NSPLANE_NATS_SERVER, NSPLANE_PG_BIN) and CARGO_TARGET_DIR.
source scripts/setup.sh

TEMPEST_PIN="47.0.0"
PLUGIN_PIN="0.30.0"
VENV="${NSPLANE_TEMPEST_VENV:-$HOME/.cache/nsplane/tempest-venv}"
NSPLANE_BIN="${NSPLANE_BIN:-$CARGO_TARGET_DIR/release/nsplane}"
WORK="${NSPLANE_CONFORMANCE_DIR:-${TMPDIR:-/tmp}/nsplane-conformance}"
REGEX="${CONFORMANCE_REGEX:-designate_tempest_plugin.tests.api}"
CONCURRENCY="${CONFORMANCE_CONCURRENCY:-2}"
RUN_TIMEOUT="${CONFORMANCE_TIMEOUT:-3600}"
# Debian's interpreter: a wheel built for another python3 on PATH (pyenv) can fail at import.
PYTHON=/usr/bin/python3

# Keystone's users, made by scripts/keystone.sh start.
KS_ADMIN_PASSWORD="admin-secret"
KS_SERVICE_USER="nsplane"
KS_SERVICE_PASSWORD="nsplane-secret"

# The working set pip resolved for tempest==47.0.0 + designate-tempest-plugin==0.30.0 on CPython 3.11
# (all wheels). OpenStack's upper-constraints live on opendev, which is not reachable here: pinned instead.
constraints() {
  cat <<'PINS'
attrs==26.1.0
autopage==0.6.0
bcrypt==5.0.0
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.3
cliff==4.17.0
cmd2==4.3.1
cryptography==50.0.2
debtcollector==3.1.0
defusedxml==0.7.1
designate-tempest-plugin==0.30.0
dnspython==2.9.2
fasteners==0.20
fixtures==4.3.2
idna==3.20
invoke==3.0.3
iso8601==2.1.0
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
markdown-it-py==4.3.0
mdurl==0.1.2
msgpack==1.2.4
netaddr==1.3.0
oslo.concurrency==7.6.1
oslo.config==10.7.0
oslo.context==6.5.0
oslo.i18n==6.9.0
oslo.log==8.3.2
oslo.serialization==5.11.0
oslo.utils==10.2.0
packaging==26.4
paramiko==5.1.0
pbr==7.1.3
prettytable==3.18.0
prompt_toolkit==3.0.53
psutil==7.2.2
pycparser==3.12
Pygments==2.21.0
PyNaCl==1.6.2
pyparsing==3.3.3
pyperclip==1.11.0
python-dateutil==4.0.0
python-subunit==1.4.6
PyYAML==6.0.4
referencing==0.37.0
requests==2.34.2
rfc3986==2.0.0
rich==15.0.0
rich-argparse==1.8.0
rpds-py==2026.9.1
stestr==4.2.1
stevedore==5.10.0
tempest==47.0.0
testscenarios==0.7.0
testtools==2.9.1
tomlkit==0.15.2
typing_extensions==4.16.0
tzdata==2026.6
urllib3==2.8.0
voluptuous==0.16.0
wcwidth==0.9.4
wrapt==2.5.2
PINS
}

log() { echo "conformance: $*" >&2; }
die() { log "$*"; exit 1; }

# --- 1. the tempest venv -------------------------------------------------------------------------

pin_stamp() { echo "tempest==$TEMPEST_PIN designate-tempest-plugin==$PLUGIN_PIN $(constraints | cksum | cut -d' ' -f1)"; }
venv_ready() {
  [ -x "$VENV/bin/tempest" ] && [ "$(cat "$VENV/.nsplane-tempest" 2>/dev/null)" = "$(pin_stamp)" ]
}
install_venv() {
  venv_ready && return 0
  log "installing tempest $TEMPEST_PIN and designate-tempest-plugin $PLUGIN_PIN into $VENV"
  rm -rf "$VENV"   # a stale or half-made venv is rebuilt, not patched
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV" || die "$PYTHON -m venv failed (on Debian: apt-get install python3-venv)"
  local pins
  pins="$(mktemp)"
  constraints >"$pins"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --only-binary :all: -c "$pins" \
    "tempest==$TEMPEST_PIN" "designate-tempest-plugin==$PLUGIN_PIN" || { rm -f "$pins"; die "pip install failed"; }
  rm -f "$pins"
  pin_stamp >"$VENV/.nsplane-tempest"   # written last: marks a complete install
}

# --- helpers -------------------------------------------------------------------------------------

# Three distinct free 127.0.0.1 ports (the mdns one free for TCP and UDP), held open together so they
# differ. Something else may still take one before we bind it: rare, and the start then fails loudly.
free_ports() {
  "$PYTHON" - <<'PY'
import socket
held, ports = [], []
while len(ports) < 3:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close(); continue
    held += [t, u]; ports.append(port)
print(*ports)
PY
}

# Token of Keystone's admin (project admin), for the checks before the run.
admin_token() {
  curl -fsS -D - -o /dev/null -H 'Content-Type: application/json' "$KS_URL/auth/tokens?nocatalog" -d "{\"auth\": {
      \"identity\": {\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"admin\",
        \"domain\": {\"id\": \"default\"}, \"password\": \"$KS_ADMIN_PASSWORD\"}}},
      \"scope\": {\"project\": {\"name\": \"admin\", \"domain\": {\"id\": \"default\"}}}}}" \
    | tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p'
}

# keystone.sh serves Keystone with 8 threads. Under tempest's churn of dynamic credentials (projects
# and users made and deleted by both workers while nsplane validates tokens) SQLite then fails writes
# with "database is locked" (HTTP 500 from Keystone: whole test classes fail in setUpClass). So once
# keystone.sh has provisioned DIR, the same DIR is served again by one single-threaded worker: requests
# are serialized, each a few ms with the token cache. Uses keystone.sh's files: keystone.conf,
# nsplane_keystone_wsgi.py, keystone.pid (so `keystone.sh stop DIR` still stops it), gunicorn.log.
serve_keystone_serially() {
  local dir="$1" port="$2" pid
  local ks_venv="${NSPLANE_KEYSTONE_VENV:-$HOME/.cache/nsplane/keystone-venv}"
  scripts/keystone.sh stop "$dir"
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break; sleep 0.1; done
  OS_KEYSTONE_CONFIG_DIR="$dir" setsid "$ks_venv/bin/gunicorn" \
    --bind "127.0.0.1:$port" --workers 1 --worker-class sync --timeout 120 \
    --graceful-timeout 5 --chdir "$dir" --pythonpath "$dir" \
    --error-logfile "$dir/gunicorn.log" --capture-output \
    nsplane_keystone_wsgi:application </dev/null >>"$dir/gunicorn.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/keystone.pid"
  # Answers once *this* gunicorn has bound the port (its log says so) and Keystone's app has loaded.
  for i in $(seq 1 600); do
    if grep -qF "Listening at: http://127.0.0.1:$port ($pid)" "$dir/gunicorn.log" 2>/dev/null \
       && curl -fsS -o /dev/null "http://127.0.0.1:$port/v3"; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$dir/gunicorn.log" >&2; die "keystone exited on restart"; }
    [ "$i" = 600 ] && { tail -n 30 "$dir/gunicorn.log" >&2; die "keystone did not answer within 60 s of its restart"; }
    sleep 0.1
  done
}

# --- cleanup: stop what this run started, by PID -------------------------------------------------

NSPLANE_PID=""
stop_nsplane() {
  [ -n "$NSPLANE_PID" ] || return 0
  if kill -0 "$NSPLANE_PID" 2>/dev/null; then
    kill -TERM "$NSPLANE_PID" 2>/dev/null || true   # nsplane all stops its nats-server and postgres
    for _ in $(seq 1 300); do kill -0 "$NSPLANE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$NSPLANE_PID" 2>/dev/null || true
  fi
  wait "$NSPLANE_PID" 2>/dev/null || true
  NSPLANE_PID=""
  # Safety net if nsplane died without stopping them: its postgres (postmaster.pid) and its
  # nats-server (the process whose command line names this run's store), each by its own PID.
  local data="$WORK/nsplane" pid
  pid="$(head -n 1 "$data/postgres/postmaster.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    log "stopping leftover postgres $pid"
    kill -INT "$pid" 2>/dev/null || true
  fi
  for proc in /proc/[0-9]*; do
    if tr '\0' ' ' <"$proc/cmdline" 2>/dev/null | grep -qF -- "-sd $data/nats/store"; then
      log "stopping leftover nats-server ${proc#/proc/}"
      kill -TERM "${proc#/proc/}" 2>/dev/null || true
    fi
  done
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_nsplane
  "$ROOT/scripts/keystone.sh" stop "$WORK/keystone" || true
  exit "$rc"
}

# --- 6. the report: counts from the subunit stream ------------------------------------------

# Per-module table and failing test ids on stdout (and DIR/summary.txt), DIR/results.json. Reads only
# files of DIR, so a finished run can be reported again: scripts/conformance.sh report DIR.
report() {
  local dir="$1" rc=0
  [ -s "$dir/results.subunit" ] || die "no results.subunit in $dir"
  "$VENV/bin/python" - "$dir/results.subunit" "$dir/listed.txt" "$dir/results.json" \
    "$(cat "$dir/elapsed" 2>/dev/null || echo 0)" "$REGEX" <<'PY' | tee "$dir/summary.txt" || rc=$?
import collections, json, re, sys

import subunit
import testtools

stream_path, listed_path, json_path, elapsed, regex = sys.argv[1:6]
PREFIX = "designate_tempest_plugin.tests.api."

tests = {}
def on_test(test):
    tests[test["id"]] = test

with open(stream_path, "rb") as stream:
    result = testtools.StreamToDict(on_test)
    result.startTestRun()
    subunit.ByteStreamToStreamResult(stream, non_subunit_name="stdout").run(result)
    result.stopTestRun()

def bare(test_id):          # without the [id-…,smoke] attributes
    return test_id.split("[", 1)[0]

def module_of(test_id):     # designate_tempest_plugin.tests.api.v2.test_zones.Class.test → v2.test_zones
    m = re.match(r"(?:\w+\s+\()?([\w.]+)", test_id)
    parts = m.group(1).split(".") if m else [test_id]
    for i, part in enumerate(parts):
        if part.startswith("test_"):
            return ".".join(parts[:i + 1]).removeprefix(PREFIX)
    return test_id

def detail_text(test, name):
    content = test["details"].get(name)
    if content is None:
        return ""
    try:
        return content.as_text()
    except Exception:                      # binary attachment
        return ""

def cause(test):
    """The last line of the traceback: the assertion or the exception with its HTTP body."""
    tb = detail_text(test, "traceback").strip()
    return tb.splitlines()[-1] if tb else ""

with open(listed_path) as f:
    listed = [line.strip() for line in f if line.strip()]

STATUS = {"success": "passed", "fail": "failed", "skip": "skipped", "xfail": "passed", "uxsuccess": "failed"}
modules = collections.defaultdict(collections.Counter)
records, class_errors = [], []
for test_id, test in sorted(tests.items()):
    status = STATUS.get(test["status"])
    if status is None:                     # "exists", "inprogress": listed but not finished
        continue
    if test_id.startswith(("setUpClass", "tearDownClass", "setUpModule", "tearDownModule")):
        # A fixture of a whole class: its tests never ran (counted as "not run" below).
        if status == "failed":
            class_errors.append({"id": test_id, "module": module_of(test_id), "cause": cause(test),
                                 "traceback": detail_text(test, "traceback")[-4000:]})
        continue
    modules[module_of(test_id)][status] += 1
    record = {"id": test_id, "module": module_of(test_id), "status": status}
    if status == "failed":
        record["cause"] = cause(test)
        record["traceback"] = detail_text(test, "traceback")[-4000:]
    elif status == "skipped":
        record["reason"] = detail_text(test, "reason").strip()
    records.append(record)

ran = {bare(r["id"]) for r in records}
not_run = [t for t in listed if bare(t) not in ran]
for t in not_run:
    modules[module_of(t)]["not run"] += 1
for t in listed:
    modules[module_of(t)]["listed"] += 1

cols = ["listed", "passed", "failed", "skipped", "not run"]
width = max([len("module")] + [len(m) for m in modules])
print(f"\n{'module':<{width}}  " + "  ".join(f"{c:>7}" for c in cols))
total = collections.Counter()
for module in sorted(modules):
    counts = modules[module]
    total.update(counts)
    print(f"{module:<{width}}  " + "  ".join(f"{counts[c]:>7}" for c in cols))
print(f"{'total':<{width}}  " + "  ".join(f"{total[c]:>7}" for c in cols))

failed = [r for r in records if r["status"] == "failed"]
if failed or class_errors:
    print("\nfailing:")
    for r in failed:
        print(f"  {bare(r['id'])}\n      {r['cause'][:300]}")
    for r in class_errors:
        print(f"  {r['id']} (class fixture: its tests did not run)\n      {r['cause'][:300]}")
print(f"\nconformance: {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped, "
      f"{total['not run']} not run of {len(listed)} listed ({elapsed} s)")

with open(json_path, "w") as f:
    json.dump({"regex": regex, "elapsed_seconds": int(elapsed), "listed": len(listed),
               "totals": {c: total[c] for c in cols},
               "modules": {m: {c: modules[m][c] for c in cols} for m in sorted(modules)},
               "class_errors": class_errors, "not_run": not_run, "tests": records}, f, indent=1)
# A stream with no test at all is no valid run.
sys.exit(0 if records else 1)
PY
  log "results: $dir/results.json, $dir/summary.txt, $dir/results.subunit"
  return "$rc"
}

# --- main ----------------------------------------------------------------------------------------

# The whole run is one function, so bash has read all of this file before it starts (editing the
# script during a run cannot derail it). Its body is not indented: the heredocs are written verbatim.
run() {
[ -x "$NSPLANE_BIN" ] || die "no nsplane binary at $NSPLANE_BIN (build it, or set NSPLANE_BIN)"
install_venv
scripts/keystone.sh install

# A fresh work dir (a previous run's keystone, if any was left, is stopped first).
[ -d "$WORK/keystone" ] && scripts/keystone.sh stop "$WORK/keystone"
rm -rf "$WORK"
mkdir -p "$WORK/tempest/etc" "$WORK/tempest/logs" "$WORK/tempest/lock"
WORK="$(cd "$WORK" && pwd)"
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r API_PORT MDNS_PORT KS_PORT <<<"$(free_ports)"
API_URL="http://127.0.0.1:$API_PORT"
log "work dir $WORK; api $API_URL, mdns 127.0.0.1:$MDNS_PORT, keystone port $KS_PORT"

# 2. Keystone: the catalog's dns endpoint is the API root (tempest's client adds /v2 itself).
KS_URL="$(scripts/keystone.sh start "$WORK/keystone" "$KS_PORT" "$API_URL" | sed -n 's/^KEYSTONE_URL=//p')"
[ -n "$KS_URL" ] || die "keystone did not start (logs in $WORK/keystone)"
serve_keystone_serially "$WORK/keystone" "$KS_PORT"
log "keystone at $KS_URL"

# 3. nsplane, every role in one process; dev mode starts its own nats-server and postgres in the data dir.
NSPLANE_KEYSTONE_PASSWORD="$KS_SERVICE_PASSWORD" "$NSPLANE_BIN" all \
  --data-dir "$WORK/nsplane" --api-listen "127.0.0.1:$API_PORT" --mdns-listen "127.0.0.1:$MDNS_PORT" \
  --auth-strategy keystone --keystone-url "$KS_URL" --keystone-username "$KS_SERVICE_USER" \
  --keystone-project-name service --keystone-domain-name Default \
  </dev/null >"$WORK/nsplane.log" 2>&1 &
NSPLANE_PID=$!
for i in $(seq 1 1200); do
  curl -fsS "$API_URL/" >/dev/null 2>&1 && break
  kill -0 "$NSPLANE_PID" 2>/dev/null || { tail -n 30 "$WORK/nsplane.log" >&2; die "nsplane exited during startup"; }
  [ "$i" = 1200 ] && { tail -n 30 "$WORK/nsplane.log" >&2; die "nsplane did not answer on $API_URL within 120 s"; }
  sleep 0.1
done
log "nsplane (pid $NSPLANE_PID) answers on $API_URL"

# Before spending minutes on tempest: a Keystone token must work against the API, and the four
# services the status tests look for should report UP (heartbeats take a moment after start).
TOKEN="$(admin_token)"
[ -n "$TOKEN" ] || die "could not get an admin token from $KS_URL"
code="$(curl -sS -o "$WORK/check.json" -w '%{http_code}' -H "X-Auth-Token: $TOKEN" "$API_URL/v2/zones")"
[ "$code" = 200 ] || { cat "$WORK/check.json" >&2; die "GET /v2/zones with a Keystone admin token: HTTP $code"; }
for i in $(seq 1 60); do
  up="$(curl -sS -H "X-Auth-Token: $TOKEN" "$API_URL/v2/service_statuses" \
        | "$PYTHON" -c 'import json,sys; print(sum(s.get("status")=="UP" for s in json.load(sys.stdin).get("service_statuses", [])))' \
        2>/dev/null || echo 0)"
  [ "$up" -ge 4 ] && break
  [ "$i" = 60 ] && log "warning: only $up services UP in /v2/service_statuses after 60 s"
  sleep 1
done

# 4. tempest.conf (see docs/CONFORMANCE.md and the notes on each setting).
cat >"$WORK/tempest/etc/tempest.conf" <<CONF
[DEFAULT]
log_dir = $WORK/tempest/logs
log_file = tempest.log
debug = true

[oslo_concurrency]
lock_path = $WORK/tempest/lock

[auth]
# One fresh project and user per test class and role. No tempest_roles: it would be added to every
# dynamic user and turn the reader credential into a member.
use_dynamic_credentials = true
create_isolated_networks = false
admin_username = admin
admin_password = $KS_ADMIN_PASSWORD
admin_project_name = admin
admin_domain_name = Default
default_credentials_domain_name = Default

[identity]
uri_v3 = $KS_URL
auth_version = v3
region = RegionOne
v3_endpoint_type = public

[identity-feature-enabled]
api_v2 = false

[service_available]
designate = true
neutron = false
nova = false
glance = false
cinder = false
swift = false

[dns]
catalog_type = dns
endpoint_type = publicURL
# Where the zones are served (test_zone_abandon queries it): nsplane's own mdns.
nameservers = 127.0.0.1:$MDNS_PORT
build_interval = 1
build_timeout = 360

[dns_feature_enabled]
api_v2 = true
api_admin = true
api_v2_root_recordsets = true
api_v2_quotas = true
api_v2_quotas_verify_project = true
# Designate 23 runs oslo.policy's new defaults (member/reader roles), project-scoped.
enforce_new_defaults = true

[enforce_scope]
designate = false
CONF

# stestr's config, as `tempest init` would write it (without registering a workspace in ~/.tempest).
site="$("$VENV/bin/python" -c 'import os, tempest; print(os.path.dirname(tempest.__file__))')"
cat >"$WORK/tempest/.stestr.conf" <<CONF
[DEFAULT]
test_path=$site/test_discover
top_dir=$(dirname "$site")
group_regex=([^\.]*\.)*
CONF

# 5. The run. Its exit code says nothing about the tests: the subunit stream is what counts.
cd "$WORK/tempest"
"$VENV/bin/stestr" init >/dev/null   # the test repository `tempest run` records into
# The tests the regex selects: the ones that never report (a class whose setUpClass failed) are "not run".
"$VENV/bin/tempest" run --config-file "$WORK/tempest/etc/tempest.conf" --list-tests --regex "$REGEX" \
  2>"$WORK/list-tests.err" | grep -E '^[a-z_]+\.' >"$WORK/listed.txt" || true
[ -s "$WORK/listed.txt" ] || { cat "$WORK/list-tests.err" >&2; die "tempest listed no test for $REGEX"; }
log "running $(wc -l <"$WORK/listed.txt") tests (concurrency $CONCURRENCY); log in $WORK/tempest/logs/tempest.log"
started=$(date +%s)
rc=0
timeout --kill-after=30 "$RUN_TIMEOUT" "$VENV/bin/tempest" run --config-file "$WORK/tempest/etc/tempest.conf" \
  --regex "$REGEX" --concurrency "$CONCURRENCY" --subunit >"$WORK/results.subunit" 2>"$WORK/tempest-run.err" || rc=$?
elapsed=$(( $(date +%s) - started ))
echo "$elapsed" >"$WORK/elapsed"
[ "$rc" = 0 ] || log "tempest run exited $rc after ${elapsed} s (see $WORK/tempest-run.err)"
cd "$ROOT"

report "$WORK"
}

case "${1:-run}" in
  run) run ;;
  report) report "${2:-$WORK}" ;;
  *) echo "usage: $0 [run] | report [DIR]" >&2; exit 2 ;;
esac
