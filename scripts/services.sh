#!/bin/sh
# Installs (apt-get, once) and starts the system services the test suite needs:
# PostgreSQL (service tests), Mosquitto (MQTT ingestion), Chromium (dashboard tests).
# Idempotent: installed packages are skipped, running services are left alone.
# Everything listens on 127.0.0.1 only.
set -eu

need=""
command -v pg_ctlcluster >/dev/null 2>&1 || need="$need postgresql"
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need="$need mosquitto"
[ -x /usr/bin/chromium ] || need="$need chromium"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
if [ -n "$need" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "services.sh: need root to apt-get install:$need" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $need >/dev/null
fi

# PostgreSQL: start the cluster, make sure the test role exists (tests create their own databases).
PGVER=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
if [ -n "$PGVER" ]; then
    pg_ctlcluster "$PGVER" main status >/dev/null 2>&1 || pg_ctlcluster "$PGVER" main start
    for i in 1 2 3 4 5 6 7 8 9 10; do
        su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
        sleep 1
    done
    su postgres -c "psql -qAtc \"select 1 from pg_roles where rolname='peergrid'\"" | grep -q 1 ||
        su postgres -c "psql -qc \"create role peergrid login superuser password 'peergrid'\""
fi

# Mosquitto: one local broker that nobody anonymous can use (tests start their own brokers on other ports).
#   127.0.0.1:1883  MQTT, user name + password, ACL (docs/dashboard.md, "Broker security")
#   127.0.0.1:8883  MQTT over TLS, server certificate of a local CA ($MQ/ca.crt)
# Users: peergrid-ingest (reads readings), peergrid-gateway (publishes readings); random passwords kept in
# $MQ/service-credentials.json (root only). Meters are added with `peergrid meters provision`.
# A broker on 1883 that lets anonymous clients in (e.g. one of an older version of this script) is stopped
# and replaced. python3 does what POSIX sh cannot: MQTT CONNECT probes, password hashing, /proc lookups.
# (the PEERGRID_MQTT_* variables are for the test of this script: a broker on other ports and directories)
MQ=${PEERGRID_MQTT_DIR:-/etc/peergrid/mosquitto}
RUN=${PEERGRID_MQTT_RUN:-/run/peergrid-mosquitto}
PORT=${PEERGRID_MQTT_PORT:-1883}
TLS_PORT=${PEERGRID_MQTT_TLS_PORT:-8883}
MQUSER=mosquitto
id "$MQUSER" >/dev/null 2>&1 || MQUSER=root

# prints "down", "anonymous" (CONNACK "success" to a CONNECT without credentials, as our MQTT 5 client
# sends it) or "secured"
mqtt_probe() {
    python3 - "$1" <<'PY'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)
except OSError:
    print("down"); sys.exit()
cid = b"peergrid-services-probe"
body = b"\x00\x04MQTT\x05\x02\x00\x05\x00" + len(cid).to_bytes(2, "big") + cid
s.settimeout(3)
try:
    s.sendall(bytes((0x10, len(body))) + body)
    d = s.recv(64)
except OSError:
    d = b""
print("anonymous" if len(d) >= 4 and d[0] == 0x20 and d[3] == 0 else "secured")
PY
}

# pids of the processes listening on port $1 and of mosquitto processes started with the old config
port_owners() {
    python3 - "$1" <<'PY'
import os, sys
port = "%04X" % int(sys.argv[1])
inodes = set()
for f in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(f).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        p = line.split()
        if p[1].endswith(":" + port) and p[3] == "0A":  # LISTEN
            inodes.add("socket:[%s]" % p[9])
pids = set()
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if "/tmp/peergrid-mosquitto.conf" in open(f"/proc/{pid}/cmdline").read():
            pids.add(pid)
            continue
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                pids.add(pid)
                break
    except OSError:
        pass
print(" ".join(sorted(pids)))
PY
}

wait_port() {  # $1 port, $2 up|down: wait up to 10 s
    for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        st=$(mqtt_probe "$1")
        if [ "$2" = up ] && [ "$st" != down ]; then return 0; fi
        if [ "$2" = down ] && [ "$st" = down ]; then return 0; fi
        sleep 0.5
    done
    return 1
}

# move the temporary file $2 onto $1 unless they are equal; prints "changed" if it did
install_if_changed() {
    if [ -f "$1" ] && cmp -s "$1" "$2"; then rm -f "$2"; else mv -f "$2" "$1"; echo changed; fi
}

if [ "$(id -u)" != 0 ]; then
    [ "$(mqtt_probe "$PORT")" = secured ] && exit 0
    echo "services.sh: need root to configure the secured Mosquitto on 127.0.0.1:$PORT" >&2
    exit 1
fi
mkdir -p "$MQ" "$RUN"
chmod 0755 "$MQ"
chown "$MQUSER" "$RUN"
umask 077
changed=""

# 1. service credentials: generated once, then kept
if [ ! -s "$MQ/service-credentials.json" ]; then
    python3 -c 'import json, secrets, sys
json.dump({u: secrets.token_urlsafe(32) for u in ("peergrid-gateway", "peergrid-ingest")}, sys.stdout, indent=2)
print()' > "$MQ/service-credentials.json.tmp"
    mv -f "$MQ/service-credentials.json.tmp" "$MQ/service-credentials.json"
fi
chmod 0600 "$MQ/service-credentials.json"

# 2. password file, Mosquitto 2 PBKDF2-SHA512 as mosquitto_passwd writes it; a line whose hash still matches
#    its password is kept as it is, so a second run changes nothing
python3 - "$MQ" > "$MQ/passwd.tmp" <<'PY'
import base64, hashlib, hmac, json, os, secrets, sys
d = sys.argv[1]
creds = json.load(open(f"{d}/service-credentials.json"))
old = {}
if os.path.exists(f"{d}/passwd"):
    for line in open(f"{d}/passwd"):
        u, _, h = line.strip().partition(":")
        old[u] = h
def matches(h, pw):
    p = h.split("$")
    if len(p) != 5 or p[1] != "7":
        return False
    got = hashlib.pbkdf2_hmac("sha512", pw.encode(), base64.b64decode(p[3]), int(p[2]), 64)
    return hmac.compare_digest(got, base64.b64decode(p[4]))
for u in sorted(creds):
    h = old.get(u, "")
    if not matches(h, creds[u]):
        salt = secrets.token_bytes(12)
        dk = hashlib.pbkdf2_hmac("sha512", creds[u].encode(), salt, 101, 64)
        h = "$7$101$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(dk).decode()
    print(f"{u}:{h}")
PY
[ -n "$(install_if_changed "$MQ/passwd" "$MQ/passwd.tmp")" ] && changed="$changed passwd"

# 3. ACL: anything not granted is denied (meters added by `peergrid meters provision` write their own topic)
printf '%s\n' "# peergrid local broker ACL (scripts/services.sh); anything not granted is denied" "" \
    "user peergrid-ingest" "topic read peergrid/+/+/reading" "" \
    "user peergrid-gateway" "topic write peergrid/+/+/reading" > "$MQ/acl.tmp"
[ -n "$(install_if_changed "$MQ/acl" "$MQ/acl.tmp")" ] && changed="$changed acl"
chown "$MQUSER" "$MQ/passwd" "$MQ/acl"  # Mosquitto reads them after dropping root

# 4. TLS: a local CA (ca.key stays root's) and a server certificate for 127.0.0.1 and localhost,
#    renewed when less than 30 days are left
if [ ! -s "$MQ/ca.crt" ] || [ ! -s "$MQ/ca.key" ] ||
        ! openssl x509 -checkend 2592000 -noout -in "$MQ/ca.crt" >/dev/null 2>&1; then
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=peergrid local MQTT CA" \
        -keyout "$MQ/ca.key" -out "$MQ/ca.crt" 2>/dev/null
    rm -f "$MQ/server.crt"
fi
if [ ! -s "$MQ/server.crt" ] || [ ! -s "$MQ/server.key" ] ||
        ! openssl verify -CAfile "$MQ/ca.crt" "$MQ/server.crt" >/dev/null 2>&1 ||
        ! openssl x509 -checkend 2592000 -noout -in "$MQ/server.crt" >/dev/null 2>&1; then
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$MQ/server.ext"
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=127.0.0.1" -keyout "$MQ/server.key" \
        -out "$MQ/server.csr" 2>/dev/null
    openssl x509 -req -sha256 -days 825 -in "$MQ/server.csr" -CA "$MQ/ca.crt" -CAkey "$MQ/ca.key" \
        -CAcreateserial -extfile "$MQ/server.ext" -out "$MQ/server.crt" 2>/dev/null
    changed="$changed tls"
fi
chmod 0644 "$MQ/ca.crt" "$MQ/server.crt"
chmod 0600 "$MQ/ca.key" "$MQ/server.key"
chown "$MQUSER" "$MQ/server.key"

# 5. configuration (per_listener_settings false: authentication and ACL on both listeners; on the TLS
#    listener, the one meters reach, a client's id is its user name: nobody takes another's session)
cat > "$MQ/mosquitto.conf.tmp" <<EOF
# peergrid local broker (scripts/services.sh): nobody anonymous
per_listener_settings false
allow_anonymous false
password_file $MQ/passwd
acl_file $MQ/acl
pid_file $RUN/mosquitto.pid
persistence false
log_dest file $RUN/mosquitto.log

listener $PORT 127.0.0.1

listener $TLS_PORT 127.0.0.1
cafile $MQ/ca.crt
certfile $MQ/server.crt
keyfile $MQ/server.key
tls_version tlsv1.2
use_username_as_clientid true
EOF
[ -n "$(install_if_changed "$MQ/mosquitto.conf" "$MQ/mosquitto.conf.tmp")" ] && changed="$changed conf"
chmod 0644 "$MQ/mosquitto.conf"

# 6. the broker: replace an anonymous one; restart ours after configuration or certificate changes,
#    reload it (SIGHUP) after password or ACL changes; otherwise leave it alone
ours=""
if [ -s "$RUN/mosquitto.pid" ]; then
    pid=$(cat "$RUN/mosquitto.pid")
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "$MQ/mosquitto.conf"; then
        ours=$pid
    fi
fi
state=$(mqtt_probe "$PORT")
stop_pids=""
if [ "$state" = anonymous ]; then
    stop_pids=$(port_owners "$PORT")
    echo "services.sh: the MQTT broker on 127.0.0.1:$PORT lets anonymous clients in: replacing it (pid $stop_pids)" >&2
elif [ -n "$ours" ] && echo "$changed" | grep -Eq 'conf|tls'; then
    stop_pids=$ours
elif [ -n "$ours" ] && [ -n "$changed" ]; then
    kill -HUP "$ours"
fi
if [ -n "$stop_pids" ]; then
    # shellcheck disable=SC2086
    kill $stop_pids 2>/dev/null || true
    if ! wait_port "$PORT" down; then
        # shellcheck disable=SC2086
        kill -9 $stop_pids 2>/dev/null || true
        wait_port "$PORT" down
    fi
    state=down
fi
if [ "$state" = down ]; then
    /usr/sbin/mosquitto -d -c "$MQ/mosquitto.conf"
    if ! wait_port "$PORT" up || ! wait_port "$TLS_PORT" up; then
        echo "services.sh: mosquitto did not start (see $RUN/mosquitto.log)" >&2
        exit 1
    fi
elif [ "$state" = secured ] && [ -z "$ours" ]; then
    echo "services.sh: another secured MQTT broker listens on 127.0.0.1:$PORT: left alone" >&2
fi
exit 0
