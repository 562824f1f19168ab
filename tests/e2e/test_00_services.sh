#!/usr/bin/env bash
# The servers that internal/services.sh started answer the way the other
# end-to-end tests expect: logical WAL on the source, role app with its
# password (and only with it), the target, NATS with JetStream.
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

check "nats jetstream is healthy" curl -sf -m 5 "$NATS_MONITOR/healthz?js-enabled-only=true"

check_eq "an absent stream has 0 messages" 0 "$(nats_stream_msgs "$(unique_name NOSUCH_)")"
