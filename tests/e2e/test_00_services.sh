#!/usr/bin/env bash
# The servers that internal/services.sh started answer the way the other
# end-to-end tests expect: logical WAL on the source, role app with its
# password (and only with it), the target, MariaDB with a row-based binlog
# and user app, NATS with JetStream.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

check_eq "source postgres has wal_level logical" logical "$(src_psql 'SHOW wal_level')"

app_conninfo="host=$SRC_PGHOST port=$SRC_PGPORT user=app dbname=app connect_timeout=10"
check_eq "user app logs in to the source over TCP with its password" app \
    "$(PGPASSWORD=$APP_PASSWORD "${PGBIN:+$PGBIN/}psql" -X -qAt "$app_conninfo" -c 'SELECT current_user')"

if PGPASSWORD=not-the-password "${PGBIN:+$PGBIN/}psql" -X -qAt "$app_conninfo" -c 'SELECT 1' \
    >"$TEST_TMP/wrong.out" 2>&1; then
    not_ok "user app is refused with a wrong password" "$(cat "$TEST_TMP/wrong.out")"
else
    ok "user app is refused with a wrong password"
fi

check "user app opens a replication connection to the source" \
    env PGPASSWORD="$APP_PASSWORD" "${PGBIN:+$PGBIN/}psql" -X -qAt \
    "$app_conninfo replication=database" -c 'IDENTIFY_SYSTEM'

check_eq "target postgres answers" "1|hstore" \
    "$(tgt_psql "SELECT 1, extname FROM pg_extension WHERE extname = 'hstore'")"

# ---- MariaDB

check_eq "mariadb answers" 1 "$(my_sql 'SELECT 1')"

# app_my ARGS...: the mariadb client as user app over TCP, with the password
# from the environment (never on the command line).
app_my() {
    MYSQL_PWD=$APP_PASSWORD mariadb --no-defaults --protocol=TCP -h "$MY_HOST" -P "$MY_PORT" \
        -u app --connect-timeout=10 --batch --skip-column-names --raw app "$@"
}

check_eq "user app logs in to mariadb over TCP with its password" app@127.0.0.1 \
    "$(app_my -e 'SELECT CURRENT_USER()')"

if MYSQL_PWD=not-the-password mariadb --no-defaults --protocol=TCP -h "$MY_HOST" -P "$MY_PORT" \
    -u app --connect-timeout=10 -e 'SELECT 1' >"$TEST_TMP/my-wrong.out" 2>&1; then
    not_ok "user app is refused by mariadb with a wrong password" "$(cat "$TEST_TMP/my-wrong.out")"
else
    ok "user app is refused by mariadb with a wrong password"
fi

check_eq "mariadb binlog_format is ROW" ROW "$(my_sql 'SELECT @@binlog_format')"
check_eq "mariadb binlog_row_image is FULL" FULL "$(my_sql 'SELECT @@binlog_row_image')"
check_eq "mariadb binlog_row_metadata is FULL" FULL "$(my_sql 'SELECT @@binlog_row_metadata')"
check_eq "mariadb character_set_server is utf8mb4" utf8mb4 "$(my_sql 'SELECT @@character_set_server')"
check_eq "mariadb log_bin is on" 1 "$(my_sql 'SELECT @@log_bin')"

out=$(app_my -e 'SHOW MASTER STATUS' 2>&1) || true
if [[ $out =~ ^binlog\.[0-9]+$'\t'[0-9]+ ]]; then
    ok "user app runs SHOW MASTER STATUS"
else
    not_ok "user app runs SHOW MASTER STATUS" "$out"
fi
out=$(app_my -e 'SHOW BINLOG EVENTS LIMIT 1' 2>&1) || true
if [[ $out == *$'\t'Format_desc$'\t'* ]]; then
    ok "user app runs SHOW BINLOG EVENTS"
else
    not_ok "user app runs SHOW BINLOG EVENTS" "$out"
fi
# What a binlog reader does: register as a replica and dump the binlog
# (needs REPLICATION SLAVE).
app_binlog_dump() {
    local first
    first=$(app_my -e 'SHOW BINARY LOGS' | head -n 1 | cut -f 1)
    MYSQL_PWD=$APP_PASSWORD mariadb-binlog --no-defaults --read-from-remote-server \
        --protocol=TCP -h "$MY_HOST" -P "$MY_PORT" -u app --stop-position=256 \
        --result-file=/dev/null "${first:-binlog.000001}"
}
check "user app reads the binlog as a replica (mariadb-binlog --read-from-remote-server)" \
    app_binlog_dump

check "nats jetstream is healthy" curl -sf -m 5 "$NATS_MONITOR/healthz?js-enabled-only=true"

check_eq "an absent stream has 0 messages" 0 "$(nats_stream_msgs "$(unique_name NOSUCH_)")"
