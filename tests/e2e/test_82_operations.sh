#!/usr/bin/env bash
# Operations: /metrics and /health of both programs scraped during a run
# (the counters add up: read = published = acked = applied + filtered +
# dead-lettered); /health follows a target and a source that go away and
# come back; an idle group's slot holds no WAL while another database, or
# a table outside the group, writes (with heartbeats); a slot dropped while
# the group is down, dropped under a running replicator, or invalidated by
# max_slot_wal_keep_size is reported with the gap, never made again
# silently; --resync starts over and the target ends equal to the source;
# --cleanup leaves no slot, publication, stream, consumer or bucket.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

services="$(dirname "$0")/../../internal/services.sh"
group=$(unique_name ops-)
slot=tributary_${group//-/_}
s=$(unique_name ops_)
other_db=$(unique_name opsdb_)
export TRIBUTARY_PASSWORD=$APP_PASSWORD
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD

src_psql "CREATE SCHEMA $s AUTHORIZATION app;
CREATE TABLE $s.t (id int PRIMARY KEY, v text, n int); ALTER TABLE $s.t OWNER TO app;
CREATE TABLE $s.outside (id int PRIMARY KEY, v text); ALTER TABLE $s.outside OWNER TO app"
# the target refuses n >= 1000: those rows go to the dead letters
tgt_psql "CREATE SCHEMA $s; CREATE TABLE $s.t (id int PRIMARY KEY, v text, n int CHECK (n < 1000))"
on_exit "src_psql \"SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots WHERE slot_name = '$slot'\" >/dev/null 2>&1; src_psql 'DROP PUBLICATION IF EXISTS $slot; DROP SCHEMA $s CASCADE' >/dev/null 2>&1"
on_exit "tgt_psql 'DROP SCHEMA $s CASCADE' >/dev/null 2>&1"
on_exit "src_psql 'DROP DATABASE IF EXISTS $other_db' >/dev/null 2>&1"
on_exit "src_psql 'ALTER SYSTEM RESET max_slot_wal_keep_size' 'SELECT pg_reload_conf()' >/dev/null 2>&1"

rules=$TEST_TMP/rules.yml
cat >"$rules" <<EOF
tables:
  t:
    - type: filter
      column: n
      parameters: {operator: gte, value: 0}
      operations: [INSERT, UPDATE, COPY]
EOF

# shellcheck disable=SC2046
repl_flags=(--group "$group" --schema "$s" --tables t $(repl_args))
work_flags=(postgres --group "$group" --nats-url "$NATS_URL"
    --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app
    --target-user app --batch-size 50 --batch-wait 50ms --reject-attempts 1
    --rules-config "$rules" --retry-initial-wait 200ms --retry-max-wait 1s)

# metrics_url NAME: the URL the program logged when it began serving
metrics_url() {
    grep -o 'http://127.0.0.1:[0-9]*' "$TEST_TMP/$1.err" | head -1
}

# info_lines NAME: lines at info or above in the program's log (text or JSON)
info_lines() {
    grep -cE '^[^ ]+ (info|warn|error) |"level":"(info|warn|error)"' "$TEST_TMP/$1.err" || true
}

# metric URL NAME: the sum of every series of NAME (0 when absent)
metric() {
    curl -s -m 5 "$1/metrics" | awk -v n="$2" \
        '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%.0f", s }'
}

# metric_line URL NAME: true when NAME has a series
metric_line() {
    curl -s -m 5 "$1/metrics" | grep -q "^$2[{ ]"
}

health_code() {
    curl -s -m 5 -o /dev/null -w '%{http_code}' "$1/health"
}

health_is() {
    [ "$(health_code "$1")" = "$2" ]
}

# the worker has dealt with every event the replicator read
worker_done() {
    local read done
    read=$(metric "$RURL" tributary_events_read_total)
    done=$(($(metric "$WURL" tributary_events_applied_total) +
        $(metric "$WURL" tributary_events_filtered_total) +
        $(metric "$WURL" tributary_events_dead_lettered_total)))
    [ "$read" -gt 0 ] && [ "$done" -eq "$read" ]
}

target_equal() {
    [ "$(src_psql "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM $s.t WHERE n >= 0 AND n < 1000")" = \
        "$(tgt_psql "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM $s.t")" ]
}

slot_lag() {
    src_psql "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = '$slot'"
}

lag_below() {
    local lag
    lag=$(slot_lag)
    [ -n "$lag" ] && [ "$lag" -lt "$1" ]
}

# ---- metrics during a run ----------------------------------------------------

rc=0
"$BIN/replicator" "${repl_flags[@]}" --metrics-addr 'nope:x' >"$TEST_TMP/bad.out" 2>&1 || rc=$?
check_eq "a bad --metrics-addr is a configuration error (exit 2)" 2 "$rc"
check "the error names the value" grep -q 'nope:x' "$TEST_TMP/bad.out"

start_bg repl "$BIN/replicator" "${repl_flags[@]}" --metrics-addr 127.0.0.1:0 \
    --heartbeat-interval 1s --health-threshold 1s --retry-initial-wait 200ms \
    --retry-max-wait 1s
start_bg work "$BIN/worker" "${work_flags[@]}" --metrics-addr 0 --health-threshold 1s \
    --log-format json
wait_until 30 slot_active || not_ok "replicator streams"
wait_until 10 metrics_url repl || not_ok "the replicator logs its metrics URL"
wait_until 10 metrics_url work || not_ok "the worker logs its metrics URL"
RURL=$(metrics_url repl)
WURL=$(metrics_url work)

ctype=$(curl -s -m 5 -o /dev/null -w '%{content_type}' "$RURL/metrics")
check "/metrics is Prometheus text" bash -c "[[ '$ctype' == text/plain*version=0.0.4* ]]"
check_eq "replicator /health answers 200 while replicating" 200 "$(health_code "$RURL")"
check_eq "worker /health answers 200 while applying" 200 "$(health_code "$WURL")"
check_eq "an unknown path is 404" 404 "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$RURL/nope")"
check "every series carries the group" \
    bash -c "curl -s '$RURL/metrics' | grep '^tributary_events_published_total' | grep -q 'group=\"$group\"'"
check "the worker's series carry group and sink" \
    bash -c "curl -s '$WURL/metrics' | grep '^tributary_events_received_total' | grep -q 'group=\"$group\",sink=\"postgres\"'"

# 300 inserts (3 transactions, a pause between), 30 filtered, 50 updates,
# 20 deletes, 5 rows the target refuses: 405 changes
start_bg load src_psql "INSERT INTO $s.t SELECT g, 'v' || g, g FROM generate_series(1, 100) g;
SELECT pg_sleep(0.7);
INSERT INTO $s.t SELECT g, 'v' || g, g FROM generate_series(101, 200) g;
SELECT pg_sleep(0.7);
INSERT INTO $s.t SELECT g, 'v' || g, g FROM generate_series(201, 300) g;
INSERT INTO $s.t SELECT g, 'f', -1 FROM generate_series(1001, 1030) g;
UPDATE $s.t SET v = 'u' WHERE id <= 50;
DELETE FROM $s.t WHERE id BETWEEN 251 AND 270;
INSERT INTO $s.t SELECT g, 'big', 5000 FROM generate_series(2001, 2005) g"
wait_until 20 bash -c "[ \$(curl -s '$RURL/metrics' | awk '/^tributary_events_read_total/ { s += \$NF } END { print s + 0 }') -gt 0 ]" || true
# mid-run: whatever the moment, no stage is ahead of the one before it
mid_read=$(metric "$RURL" tributary_events_read_total)
mid_pub=$(metric "$RURL" tributary_events_published_total)
mid_acked=$(metric "$RURL" tributary_events_acked_total)
check "mid-run: acked <= published <= read ($mid_acked, $mid_pub, $mid_read)" \
    test "$mid_acked" -le "$mid_pub" -a "$mid_pub" -le "$mid_read" -a "$mid_read" -gt 0
stop_bg load || not_ok "the load ran"
wait_until 60 worker_done || not_ok "the worker dealt with every event" "$(curl -s "$WURL/metrics" | grep '^tributary_events')"

read_n=$(metric "$RURL" tributary_events_read_total)
check_eq "read: every change of the load" 405 "$read_n"
check_eq "published = read" "$read_n" "$(metric "$RURL" tributary_events_published_total)"
check_eq "acked by JetStream = read" "$read_n" "$(metric "$RURL" tributary_events_acked_total)"
check_eq "received by the worker = read" "$read_n" "$(metric "$WURL" tributary_events_received_total)"
check_eq "applied: inserts, updates and deletes that passed" 370 "$(metric "$WURL" tributary_events_applied_total)"
check_eq "filtered by the rule" 30 "$(metric "$WURL" tributary_events_filtered_total)"
check_eq "dead-lettered: the rows the target refused" 5 "$(metric "$WURL" tributary_events_dead_lettered_total)"
check "applied is labelled by table" \
    bash -c "curl -s '$WURL/metrics' | grep -q '^tributary_events_applied_total{.*table=\"$s.t\"} 370'"
check "batch sizes and sink latency are histograms with observations" \
    bash -c "[ \$(curl -s '$WURL/metrics' | awk '/^tributary_batch_size_count/ { print \$NF }') -gt 0 ] &&
             curl -s '$WURL/metrics' | grep -q '^tributary_sink_latency_seconds_bucket{.*le=\"+Inf\"}'"
check "lag in seconds and the consumer's pending count are there" \
    bash -c "curl -s '$WURL/metrics' | grep -q '^tributary_lag_seconds' &&
             curl -s '$WURL/metrics' | grep -q '^tributary_consumer_pending'"
check "the target holds exactly the rows that passed" target_equal
check "the worker's JSON log is one object per line with time, level, component, group, module and msg" \
    bash -c "jq -e 'select((.time and .level and .component and .group and .module and .msg) | not)' '$TEST_TMP/work.err' | grep -q . && exit 1;
             jq -s length '$TEST_TMP/work.err' >/dev/null"
check "405 changes took a handful of log lines, not one per row (replicator $(info_lines repl), worker $(info_lines work))" \
    test "$(info_lines repl)" -lt 30 -a "$(info_lines work)" -lt 40

# ---- /health follows failures --------------------------------------------------

TRIBUTARY_TGT_PGPORT=$TGT_PGPORT bash "$services" target-stop --dir "$TRIBUTARY_SERVICES_DIR" >/dev/null 2>&1 || true
src_psql "INSERT INTO $s.t VALUES (500, 'during the outage', 1)"
wait_until 30 health_is "$WURL" 503 || not_ok "worker /health turns 503 while the target is down"
check "worker /health says the sink is failing" \
    bash -c "curl -s '$WURL/health' | grep -q 'sink failing for'"
TRIBUTARY_TGT_PGPORT=$TGT_PGPORT bash "$services" target-start --fast --dir "$TRIBUTARY_SERVICES_DIR" >/dev/null ||
    not_ok "the target starts again"
wait_until 30 health_is "$WURL" 200 || not_ok "worker /health is 200 again once the target is back"
wait_until 30 target_equal || not_ok "the row written during the outage arrives"
check "the sink's retries are counted" test "$(metric "$WURL" tributary_retries_total)" -gt 0

TRIBUTARY_SRC_PGPORT=$SRC_PGPORT bash "$services" source-stop --dir "$TRIBUTARY_SERVICES_DIR" >/dev/null 2>&1 || true
wait_until 30 health_is "$RURL" 503 || not_ok "replicator /health turns 503 while the source is down"
check "replicator /health says the source is failing" \
    bash -c "curl -s '$RURL/health' | grep -q 'source failing for'"
TRIBUTARY_SRC_PGPORT=$SRC_PGPORT bash "$services" source-start --fast --dir "$TRIBUTARY_SERVICES_DIR" >/dev/null ||
    not_ok "the source starts again"
wait_until 60 health_is "$RURL" 200 || not_ok "replicator /health is 200 again once the source is back"
wait_until 30 slot_active || not_ok "replicator streams again"

# ---- an idle group holds no WAL -------------------------------------------------

src_psql "CREATE DATABASE $other_db"
before=$(src_psql "SELECT pg_current_wal_lsn()")
"${PGBIN:+$PGBIN/}psql" -X -qAt -v ON_ERROR_STOP=1 \
    "host=${SRC_PGHOST:-127.0.0.1} port=$SRC_PGPORT user=postgres dbname=$other_db" \
    -c "CREATE TABLE w (id int, pad text)" \
    -c "INSERT INTO w SELECT g, repeat('x', 100) FROM generate_series(1, 100000) g" ||
    not_ok "writes in another database"
src_psql "INSERT INTO $s.outside SELECT g, repeat('y', 100) FROM generate_series(1, 50000) g"
written=$(src_psql "SELECT (pg_current_wal_lsn() - '$before')::bigint")
check "the other writers wrote more than 8 MiB of WAL ($written bytes)" test "$written" -gt 8388608
wait_until 30 lag_below 1048576 || not_ok "the idle group's slot lag falls below 1 MiB" "lag: $(slot_lag)"
check "heartbeats were written" test "$(metric "$RURL" tributary_heartbeats_total)" -gt 0
wait_until 15 bash -c "curl -s '$RURL/metrics' | awk '/^tributary_replication_lag_bytes/ { found = 1; if (\$NF >= 1048576) bad = 1 } END { exit !(found && !bad) }'" ||
    not_ok "the replicator reports its slot's lag in bytes, below 1 MiB" "$(curl -s "$RURL/metrics" | grep lag_bytes)"
check "no change outside the group reached the worker" \
    test "$(metric "$WURL" tributary_events_received_total)" -eq 406

rc=0
stop_bg repl || rc=$?
check_eq "the replicator stops cleanly" 0 "$rc"

# ---- a slot dropped while the group is down ---------------------------------------

src_psql "SELECT pg_drop_replication_slot('$slot')" >/dev/null
src_psql "DELETE FROM $s.t WHERE id <= 10; INSERT INTO $s.t VALUES (600, 'in the gap', 6)"
rc=0
timeout 60 "$BIN/replicator" "${repl_flags[@]}" >"$TEST_TMP/gone.out" 2>&1 || rc=$?
check_eq "a replicator whose slot is gone exits 1" 1 "$rc"
check "it says the slot is gone, where the gap starts and ends, and what to do" \
    grep -Eq 'replication slot "'"$slot"'" is gone: the group confirmed [0-9A-F]+/[0-9A-F]+ and the source is now at [0-9A-F]+/[0-9A-F]+.*--resync' "$TEST_TMP/gone.out"
check_eq "the slot was not made again over the gap" 0 \
    "$(src_psql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'")"

rc=0
"$BIN/replicator" "${repl_flags[@]}" --resync --stream >"$TEST_TMP/bad.out" 2>&1 || rc=$?
check_eq "--resync with --stream is a configuration error" 2 "$rc"

start_bg repl "$BIN/replicator" "${repl_flags[@]}" --resync --retry-initial-wait 2s
wait_until 60 target_equal || not_ok "after --resync the target equals the source (rows deleted in the gap gone)"
check "the resync said what it removed" \
    bash -c "grep -q 'saved position and copy progress' '$TEST_TMP/repl.err'"
src_psql "UPDATE $s.t SET v = 'after resync' WHERE id = 600"
wait_until 30 target_equal || not_ok "streaming goes on after the resync's copy"

# ---- a slot dropped under a running replicator -------------------------------------------

wait_until 30 slot_active || not_ok "replicator streams after the resync"
for _ in $(seq 1 50); do
    src_psql "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '$slot' AND active_pid IS NOT NULL" >/dev/null 2>&1 || true
    if src_psql "SELECT pg_drop_replication_slot('$slot')" >/dev/null 2>&1; then
        break
    fi
    sleep 0.1
done
wait_until 30 bash -c "! kill -0 \$(cat '$TEST_TMP/repl.pid') 2>/dev/null" ||
    not_ok "the replicator stops when its slot is dropped under it"
rc=0
stop_bg repl || rc=$?
check_eq "it exits 1" 1 "$rc"
check "it reports the slot gone with the gap" grep -q "is gone: the group confirmed" "$TEST_TMP/repl.err"

# ---- a slot invalidated by max_slot_wal_keep_size --------------------------------------------

rc=0
timeout 120 "$BIN/replicator" "${repl_flags[@]}" --resync --max-events 1 >"$TEST_TMP/resync2.out" 2>&1 &
rpid=$!
wait_until 60 bash -c "grep -q 'copied' '$TEST_TMP/resync2.out'" || not_ok "a second resync copies"
src_psql "INSERT INTO $s.t VALUES (700, 'one more', 7)"
wait "$rpid" || rc=$?
check_eq "the replicator stopped after its event" 0 "$rc"
src_psql "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'" "SELECT pg_reload_conf()" >/dev/null
status=''
for i in $(seq 1 10); do
    src_psql "INSERT INTO $s.outside VALUES (100000 + $i, 'x')" "SELECT pg_switch_wal()" >/dev/null
    src_psql "CHECKPOINT" >/dev/null
    status=$(src_psql "SELECT wal_status FROM pg_replication_slots WHERE slot_name = '$slot'")
    [ "$status" != lost ] || break
done
src_psql "ALTER SYSTEM RESET max_slot_wal_keep_size" "SELECT pg_reload_conf()" >/dev/null
if [ "$status" = lost ]; then
    rc=0
    timeout 60 "$BIN/replicator" "${repl_flags[@]}" >"$TEST_TMP/lost.out" 2>&1 || rc=$?
    check_eq "a replicator whose slot lost its WAL exits 1" 1 "$rc"
    check "it says the slot was invalidated, with the gap" \
        grep -Eq 'was invalidated .*max_slot_wal_keep_size.*the group confirmed [0-9A-F]+/[0-9A-F]+ and the source is now at' "$TEST_TMP/lost.out"
else
    not_ok "the slot is invalidated by max_slot_wal_keep_size" "wal_status: $status"
fi

# ---- cleanup leaves nothing of the group --------------------------------------------------

rc=0
stop_bg work || rc=$?
check_eq "the worker stops cleanly" 0 "$rc"
rc=0
"$BIN/replicator" "${repl_flags[@]}" --cleanup --yes >"$TEST_TMP/cleanup.out" 2>&1 || rc=$?
check_eq "cleanup succeeds" 0 "$rc"
check_eq "no slot of the group" 0 "$(src_psql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'")"
check_eq "no publication of the group" 0 "$(src_psql "SELECT count(*) FROM pg_publication WHERE pubname = '$slot'")"
jsz=$(curl -s -m 5 "$NATS_MONITOR/jsz?streams=true&consumers=true")
check_eq "no stream, consumer or bucket of the group in the JetStream account" 0 \
    "$(jq --arg g "$group" '[.account_details[]?.stream_detail[]? | select((.name | contains($g)) or ([.consumer_detail[]?.name] | any(contains($g))))] | length' <<<"$jsz")"

[ "$_T_FAILED" -eq 0 ] || { dump_bg repl; dump_bg work; }
