#!/usr/bin/env bash
# A real OpenStack Keystone (from PyPI) for nsplane's keystone-mode tests: SQLite, fernet tokens,
# served by gunicorn on 127.0.0.1, no root services, no docker.
#
#   scripts/keystone.sh install              venv at ${NSPLANE_KEYSTONE_VENV:-~/.cache/nsplane/keystone-venv} (idempotent)
#   scripts/keystone.sh start DIR PORT [DNS_URL]
#                                            keystone.conf, keystone.db, keys and logs in DIR; PID in DIR/keystone.pid;
#                                            prints one line: KEYSTONE_URL=http://127.0.0.1:PORT/v3
#                                            (DNS_URL, if given, becomes the catalog's `dns` endpoint)
#   scripts/keystone.sh stop DIR
#
# What `start` provisions (domain Default; all idempotent, so a DIR can be started again):
#   admin        / admin-secret    admin on project admin, and system admin (keystone-manage bootstrap)
#   nsplane      / nsplane-secret  service on project service: enough for GET /v3/auth/tokens
#                                  (identity:validate_token = admin or service or system reader or subject)
#   alpha-member / secret          member on alpha        alpha-reader / secret   reader on alpha
#   beta-member  / secret          member on beta         beta-reader  / secret   reader on beta
#   cloud-admin  / secret          admin on alpha
# Roles admin > manager > member > reader (implied) and service come from bootstrap.
set -euo pipefail

KEYSTONE_PIN="30.0.0"
GUNICORN_PIN="23.0.0"
ADMIN_PASSWORD="admin-secret"
VENV="${NSPLANE_KEYSTONE_VENV:-$HOME/.cache/nsplane/keystone-venv}"

# The whole working set, resolved on CPython 3.11 with keystone==$KEYSTONE_PIN (all wheels, no C builds).
# OpenStack's upper-constraints live on opendev, which the CI machine cannot reach, so they are pinned here.
constraints() {
  cat <<'PINS'
alembic==1.20.1
amqp==5.4.2
aniso8601==10.0.1
attrs==26.1.0
bcrypt==5.0.0
blinker==1.9.0
cachetools==8.0.2
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.2
click==8.5.1
cryptography==50.0.2
debtcollector==3.1.0
decorator==5.3.1
defusedxml==0.7.1
dnspython==2.9.2
dogpile.cache==1.5.0
elementpath==4.8.0
eventlet==0.41.3
fasteners==0.20
Flask==3.1.3
Flask-RESTful==0.3.10
futurist==3.5.0
greenlet==3.5.6
gunicorn==23.0.0
idna==3.20
iso8601==2.1.0
itsdangerous==2.2.0
Jinja2==3.1.6
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
keystone==30.0.0
keystoneauth1==5.18.1
keystonemiddleware==13.0.1
kombu==5.7.0
Mako==1.4.3
MarkupSafe==3.0.4
msgpack==1.2.4
netaddr==1.3.0
oauthlib==4.0.1
os-service-types==1.9.0
oslo.cache==4.3.0
oslo.concurrency==7.6.1
oslo.config==10.7.0
oslo.context==6.5.0
oslo.db==18.1.1
oslo.i18n==6.9.0
oslo.log==8.3.2
oslo.messaging==18.3.1
oslo.metrics==0.17.0
oslo.middleware==8.2.0
oslo.policy==6.0.1
oslo.serialization==5.11.0
oslo.service==4.8.0
oslo.upgradecheck==2.8.0
oslo.utils==10.2.0
osprofiler==4.4.0
packaging==26.3
Paste==3.10.1
PasteDeploy==3.1.0
pbr==7.1.3
prettytable==3.18.0
prometheus_client==0.26.0
psutil==7.2.2
pycadf==4.1.0
pycparser==3.12
PyJWT==2.15.1
pyOpenSSL==26.4.0
pyparsing==3.3.3
pysaml2==7.5.5
python-dateutil==4.0.0
python-keystoneclient==6.0.0
pytz==2026.6
PyYAML==6.0.4
referencing==0.37.0
repoze-lru==0.8
requests==2.34.2
rfc3986==2.0.0
Routes==2.5.1
rpds-py==2026.9.1
six==1.17.0
SQLAlchemy==2.1.9
statsd==4.0.1
stevedore==5.10.0
testresources==2.1.2
testscenarios==0.7.0
typing_extensions==4.16.0
tzdata==2026.6
urllib3==2.8.0
vine==5.1.0
wcwidth==0.9.4
WebOb==1.8.11
Werkzeug==3.1.9
wrapt==2.5.2
xmlschema==2.5.1
yappi==1.7.6
PINS
}

die() { echo "keystone.sh: $*" >&2; exit 1; }

# Prints the last lines of a log to stderr, for a failure's explanation.
show_log() { [ -f "$1" ] && { echo "--- last lines of $1:" >&2; tail -n 30 "$1" >&2; }; return 0; }

installed() {   # the venv holds exactly these pins (written last by a successful install)
  [ -x "$VENV/bin/keystone-manage" ] && [ -x "$VENV/bin/gunicorn" ] \
    && [ "$(cat "$VENV/.nsplane-keystone" 2>/dev/null)" = "$(pin_stamp)" ]
}
pin_stamp() { echo "keystone==$KEYSTONE_PIN gunicorn==$GUNICORN_PIN $(constraints | cksum | cut -d' ' -f1)"; }

install() {
  installed && return 0
  mkdir -p "$(dirname "$VENV")"
  # Tests may start several keystones at once: one of them installs, the others wait for it.
  # (A subshell holds the lock, so no fd of it leaks into the keystone started afterwards.)
  ( flock 9; if ! installed; then install_now; fi ) 9>"$VENV.lock"
}

install_now() {
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "keystone $KEYSTONE_PIN needs Python 3.11 or newer (python3 is $(python3 --version 2>&1))"
  echo "keystone.sh: installing keystone $KEYSTONE_PIN and gunicorn $GUNICORN_PIN into $VENV" >&2
  rm -rf "$VENV"   # a stale or half-made venv is rebuilt, not patched
  python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  local pins
  pins="$(mktemp)"
  constraints >"$pins"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --only-binary :all: -c "$pins" \
    "keystone==$KEYSTONE_PIN" "gunicorn==$GUNICORN_PIN" || { rm -f "$pins"; die "pip install failed"; }
  rm -f "$pins"
  pin_stamp >"$VENV/.nsplane-keystone"
}

running_pid() {   # the PID in DIR/keystone.pid if that process is alive
  local pid
  pid="$(cat "$1/keystone.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
  local dir="${1:?usage: keystone.sh start DIR PORT [DNS_URL]}" port="${2:?usage: keystone.sh start DIR PORT [DNS_URL]}"
  local dns_url="${3:-}"
  install
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  [ -z "$(running_pid "$dir")" ] || die "keystone already running from $dir (pid $(cat "$dir/keystone.pid"))"
  local url="http://127.0.0.1:$port/v3" setup_log="$dir/keystone-manage.log"
  ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || die "something already listens on 127.0.0.1:$port"

  cat >"$dir/keystone.conf" <<CONF
[DEFAULT]
log_file = $dir/keystone.log
use_stderr = false

[database]
connection = sqlite:///$dir/keystone.db

[token]
provider = fernet

[fernet_tokens]
key_repository = $dir/fernet-keys

[fernet_receipts]
key_repository = $dir/fernet-receipts

[credential]
key_repository = $dir/credential-keys

[identity]
# bcrypt's minimum: every password check costs ~1 ms instead of ~250 ms (test data only).
password_hash_rounds = 4

[cache]
# In-process cache: without it every token validation is ~200 SQL queries (~150 ms); with it a few ms.
# Coherent because one gunicorn worker process serves everything (keystone invalidates it on changes).
enabled = true
backend = oslo_cache.dict
CONF

  # keystone's WSGI app parses sys.argv with oslo.config, which would choke on gunicorn's options.
  cat >"$dir/nsplane_keystone_wsgi.py" <<'PY'
import sys

sys.argv = sys.argv[:1]
from keystone.wsgi.api import application  # noqa: E402,F401  (reads $OS_KEYSTONE_CONFIG_DIR/keystone.conf)
PY

  local km=("$VENV/bin/keystone-manage" --config-file "$dir/keystone.conf")
  local owner=(--keystone-user "$(id -un)" --keystone-group "$(id -gn)")   # required when root
  : >"$setup_log"
  # Keys and schema are independent: make them side by side (each keystone-manage is ~1.5 s of imports).
  "${km[@]}" fernet_setup "${owner[@]}" >>"$setup_log" 2>&1 & local fernet=$!
  "${km[@]}" credential_setup "${owner[@]}" >>"$setup_log" 2>&1 & local cred=$!
  "${km[@]}" db_sync >>"$setup_log" 2>&1 || { show_log "$setup_log"; die "keystone-manage db_sync failed"; }
  wait "$fernet" || { show_log "$setup_log"; die "keystone-manage fernet_setup failed"; }
  wait "$cred" || { show_log "$setup_log"; die "keystone-manage credential_setup failed"; }
  # gunicorn's master is the process started here (setsid does not fork: a background job is no group
  # leader), so $! is the PID to stop. No fd of the caller is kept open: a caller reading our stdout
  # through a pipe sees it close when this script ends. It boots (~3 s of imports, no database access
  # before the first request) while bootstrap fills the database; nothing asks it before both are done.
  OS_KEYSTONE_CONFIG_DIR="$dir" setsid "$VENV/bin/gunicorn" \
    --bind "127.0.0.1:$port" --workers 1 --worker-class gthread --threads 8 \
    --graceful-timeout 5 --chdir "$dir" --pythonpath "$dir" \
    --error-logfile "$dir/gunicorn.log" --capture-output \
    nsplane_keystone_wsgi:application </dev/null >>"$dir/gunicorn.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/keystone.pid"
  failed() {
    show_log "$setup_log"
    show_log "$dir/gunicorn.log"
    kill "$pid" 2>/dev/null || true
    rm -f "$dir/keystone.pid"
    die "$1 (logs in $dir)"
  }

  # admin / admin-secret, project admin, roles reader < member < manager < admin and service,
  # region RegionOne and the identity endpoints.
  "${km[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
    --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
    --bootstrap-service-name keystone --bootstrap-region-id RegionOne \
    --bootstrap-public-url "$url" --bootstrap-internal-url "$url" --bootstrap-admin-url "$url" \
    >>"$setup_log" 2>&1 || failed "keystone-manage bootstrap failed"

  if ! KS_URL="$url" KS_PID="$pid" KS_LOG="$dir/gunicorn.log" KS_ADMIN_PASSWORD="$ADMIN_PASSWORD" KS_DNS_URL="$dns_url" \
       "$VENV/bin/python" - >>"$setup_log" 2>&1 <<'PY'
# Waits for keystone, then provisions the test projects, users and roles through its REST API.
import json, os, sys, time, urllib.error, urllib.request

URL, PID = os.environ["KS_URL"], int(os.environ["KS_PID"])
# gunicorn logs this once *its* socket is bound: an answer on the port before that is someone else's.
LISTENING = f"Listening at: {URL.rsplit('/', 1)[0]} ({PID})"


def call(method, path, body=None, token=None, ok=(200, 201, 204)):
    req = urllib.request.Request(URL + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, headers, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, e.headers, e.read()
    if status not in ok:
        sys.exit(f"{method} {path}: HTTP {status}: {raw[:500]!r}")
    return headers, (json.loads(raw) if raw else None)


deadline = time.monotonic() + 90
while True:
    try:
        os.kill(PID, 0)
    except ProcessLookupError:
        sys.exit("gunicorn exited during startup (see gunicorn.log)")
    try:
        with open(os.environ["KS_LOG"], errors="replace") as log:
            bound = LISTENING in log.read()
        if bound:
            with urllib.request.urlopen(URL, timeout=2) as r:
                if r.status == 200:
                    break
    except (OSError, urllib.error.URLError):
        pass
    if time.monotonic() > deadline:
        sys.exit(f"keystone did not answer on {URL} within 90 s")
    time.sleep(0.1)

headers, _ = call("POST", "/auth/tokens?nocatalog", {"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": os.environ["KS_ADMIN_PASSWORD"]}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
T = headers["X-Subject-Token"]


def ensure(kind, name, attrs):
    """Creates a named entity, or finds the one made by an earlier start of the same DIR."""
    plural = kind + "s"
    _, made = call("POST", f"/{plural}", {kind: dict(name=name, **attrs)}, token=T, ok=(201, 409))
    if made and kind in made:
        return made[kind]["id"]
    _, found = call("GET", f"/{plural}?name={name}", token=T)
    return found[plural][0]["id"]


_, roles = call("GET", "/roles", token=T)
role = {r["name"]: r["id"] for r in roles["roles"]}
for r in ("admin", "member", "reader", "service"):
    if r not in role:
        role[r] = ensure("role", r, {})
project = {p: ensure("project", p, {"domain_id": "default", "enabled": True})
           for p in ("service", "alpha", "beta")}
for user, password, role_name, project_name in [
    ("nsplane", "nsplane-secret", "service", "service"),
    ("alpha-member", "secret", "member", "alpha"),
    ("alpha-reader", "secret", "reader", "alpha"),
    ("beta-member", "secret", "member", "beta"),
    ("beta-reader", "secret", "reader", "beta"),
    ("cloud-admin", "secret", "admin", "alpha"),
]:
    uid = ensure("user", user, {"domain_id": "default", "enabled": True, "password": password,
                                "default_project_id": project[project_name]})
    call("PUT", f"/projects/{project[project_name]}/users/{uid}/roles/{role[role_name]}", token=T)

dns_url = os.environ.get("KS_DNS_URL")
if dns_url:
    _, found = call("GET", "/services?type=dns", token=T)
    if found["services"]:
        sid = found["services"][0]["id"]
    else:
        _, made = call("POST", "/services", {"service": {"type": "dns", "name": "designate", "enabled": True}},
                       token=T)
        sid = made["service"]["id"]
    _, eps = call("GET", f"/endpoints?service_id={sid}", token=T)
    for ep in eps["endpoints"]:
        call("DELETE", f"/endpoints/{ep['id']}", token=T)
    for interface in ("public", "internal", "admin"):
        call("POST", "/endpoints", {"endpoint": {"service_id": sid, "interface": interface, "url": dns_url,
                                                 "region_id": "RegionOne", "enabled": True}}, token=T)
PY
  then
    failed "keystone did not start or could not be provisioned"
  fi
  echo "KEYSTONE_URL=$url"
}

stop() {
  local dir="${1:?usage: keystone.sh stop DIR}" pid
  pid="$(running_pid "$dir")" || { rm -f "$dir/keystone.pid"; return 0; }
  kill -INT "$pid" 2>/dev/null || true   # gunicorn: SIGINT is a quick shutdown
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true   # its worker notices the lost parent and exits
  rm -f "$dir/keystone.pid"
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: $0 install | start DIR PORT [DNS_URL] | stop DIR" >&2; exit 2 ;;
esac
