#!/usr/bin/env bash
# The source and the bus go away and come back: the walsender is
# terminated twice and NATS is killed and started again while changes
# flow; the replicator and the worker reconnect on their own, say so in
# their logs, and the file sink ends with every change exactly once. Also:
# an idle group's slot does not hold WAL back while other tables change.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

new_capture resil- r_ "id serial PRIMARY KEY, v int"

other=$(unique_name other_)
out="$TEST_TMP/out"
services="$(dirname "$0")/../../internal/services.sh"

src_psql "CREATE TABLE $other (id serial PRIMARY KEY, pad text)"
on_exit "src_psql 'DROP TABLE IF EXISTS $other' >/dev/null 2>&1"
# whatever happens, NATS runs again for the next tests
on_exit "bash '$services' nats-start --dir '$TRIBUTARY_SERVICES_DIR' >/dev/null 2>&1 || true"

# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --tables "$table" $(repl_args) \
    --ack-timeout 5s --retry-initial-wait 200ms --retry-max-wait 2s
start_bg work "$BIN/worker" file --group "$group" --nats-url "$NATS_URL" \
    --file-output-dir "$out" --retry-initial-wait 200ms --retry-max-wait 2s
wait_until 30 slot_active || not_ok "replicator streams"

# ---- an idle group does not hold WAL back
src_psql "INSERT INTO $other (pad) SELECT repeat('x', 200) FROM generate_series(1, 20000)"
target=$(src_psql "SELECT pg_current_wal_lsn()")
confirmed_past() {
    [ "$(src_psql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND confirmed_flush_lsn >= '$target'")" = 1 ]
}
if wait_until 60 confirmed_past; then
    ok "an idle slot's confirmed position follows the WAL written by other tables"
else
    not_ok "an idle slot's confirmed position follows the WAL written by other tables" \
        "$(src_psql "SELECT confirmed_flush_lsn, '$target' FROM pg_replication_slots WHERE slot_name = '$slot'")"
fi
check_eq "no event was published for the other table" 0 "$(nats_stream_msgs "TRIBUTARY_$group")"

# ---- faults while 1500 changes flow
{
    for i in $(seq 1 1500); do
        echo "INSERT INTO $table (v) VALUES ($i);"
        if ((i % 10 == 0)); then echo "SELECT pg_sleep(0.05);"; fi
    done
} >"$TEST_TMP/load.sql"
start_bg load "${PGBIN:+$PGBIN/}psql" -X -q -v ON_ERROR_STOP=1 \
    "host=$SRC_PGHOST port=$SRC_PGPORT user=postgres dbname=app" -f "$TEST_TMP/load.sql"
terminate() {
    src_psql "SELECT count(pg_terminate_backend(active_pid)) FROM pg_replication_slots WHERE slot_name = '$slot' AND active"
}
sleep 1.5
check_eq "the walsender is terminated" 1 "$(terminate)"
sleep 1.5
# SIGKILL: whatever was in flight is lost, and the server recovers its
# file store on start
check "NATS is killed" kill -KILL "$(cat "$TRIBUTARY_SERVICES_DIR/nats/nats.pid")"
sleep 3
check "NATS is started again with its file store" bash "$services" nats-start --dir "$TRIBUTARY_SERVICES_DIR"
sleep 1
wait_until 30 slot_active || true
check_eq "the walsender is terminated again" 1 "$(terminate)"
load_done() { ! bg_alive load; }
wait_until 120 load_done || true
rc=0; stop_bg load || rc=$?
check_eq "the workload ran to its end" 0 "$rc"

if wait_until 90 file_count_ge "$out" 1500; then
    ok "file sink caught up after the faults"
else
    not_ok "file sink caught up after the faults" "got $(file_count "$out")"
    dump_bg repl
    dump_bg work
fi
sleep 1
check_eq "every change is in the file exactly once" "$(seq 1 1500 | md5sum)" \
    "$(file_events "$out" | jq -r '.row.v' | sort -n | md5sum)"
check_eq "and in commit order" 0 "$(file_events "$out" | jq -r '.position' | lsn_order_violations)"
check "the replicator said it lost the source and retried" \
    grep -qE 'warn .*(replication|source).*retrying in' "$TEST_TMP/repl.err"
check "the replicator and the worker said they reconnected to NATS" \
    bash -c "grep -q 'reconnected to NATS' '$TEST_TMP/repl.err' && grep -q 'reconnected to NATS' '$TEST_TMP/work.err'"
rc=0; stop_bg repl || rc=$?
check_eq "replicator exits 0" 0 "$rc"
rc=0; stop_bg work || rc=$?
check_eq "worker exits 0" 0 "$rc"
