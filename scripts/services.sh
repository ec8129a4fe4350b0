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

# Mosquitto: one local broker on 127.0.0.1:1883 (tests start their own brokers on other ports as needed).
# (/dev/tcp is a bash feature; this script runs under sh, so ask Python whether the port answers)
if ! python3 -c "import socket; socket.create_connection(('127.0.0.1', 1883), 1).close()" 2>/dev/null; then
    conf=/tmp/peergrid-mosquitto.conf
    printf 'listener 1883 127.0.0.1\nallow_anonymous true\npersistence false\n' > "$conf"
    /usr/sbin/mosquitto -d -c "$conf"
fi
exit 0
