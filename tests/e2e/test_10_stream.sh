#!/usr/bin/env bash
# Streaming through JetStream into the file and stdout sinks: 1000 inserts,
# 500 updates and 250 deletes as separate transactions, a multi-row
# transaction, NULLs and a truncate, for a group whose name has a dash.
# Exact counts, order, transaction boundaries, fan-out to two sinks, and a
# clean SIGTERM stop of both binaries.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

new_capture stream- users_ "id serial PRIMARY KEY, data text, note text, created_at timestamptz DEFAULT now()"

out="$TEST_TMP/out"

# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --tables "$table" $(repl_args)
start_bg wfile "$BIN/worker" file --group "$group" --nats-url "$NATS_URL" \
    --file-output-dir "$out" --batch-size 300
start_bg wstdout "$BIN/worker" stdout --group "$group" --nats-url "$NATS_URL"

if wait_until 30 slot_active; then
    ok "replicator created slot $slot and streams from it"
else
    not_ok "replicator created slot $slot and streams from it"
    dump_bg repl
fi

{
    for i in $(seq 1 1000); do echo "INSERT INTO $table (data) VALUES ('row $i');"; done
    for i in $(seq 1 500); do echo "UPDATE $table SET data = 'updated $i' WHERE id = $i;"; done
    for i in $(seq 1 250); do echo "DELETE FROM $table WHERE id = $i;"; done
    echo "BEGIN;"
    echo "INSERT INTO $table (data, note) VALUES ('tx a', NULL), ('tx b', 'b');"
    echo "UPDATE $table SET note = NULL WHERE id = 1000;"
    echo "COMMIT;"
    echo "TRUNCATE $table;"
} | src_psql

expected=$((1000 + 500 + 250 + 3 + 1))
if wait_until 120 file_count_ge "$out" $expected; then
    ok "file sink received $expected events"
else
    not_ok "file sink received $expected events" "got $(file_count "$out")"
    dump_bg repl
    dump_bg wfile
fi
sleep 1

ops=$(file_events "$out" | jq -r .op | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
check_eq "file sink holds exactly each change once, by operation" \
    "DELETE=250 INSERT=1002 TRUNCATE=1 UPDATE=501 " "$ops"

check_eq "every event has a distinct position and index" "$expected" \
    "$(file_events "$out" | jq -r '"\(.position) \(.tx_index)"' | sort -u | wc -l)"

check_eq "events are in commit order (positions never go back)" 0 \
    "$(file_events "$out" | jq -r '.position' | lsn_order_violations)"

check_eq "inserted ids are 1..1000 then 1001, 1002" \
    "$(seq 1 1002 | md5sum)" \
    "$(file_events "$out" | jq -r 'select(.op == "INSERT") | .row.id' | md5sum)"

check_eq "updates carry the new row" "updated 500" \
    "$(file_events "$out" | jq -r 'select(.op == "UPDATE" and .row.id == 500) | .row.data')"

check_eq "deletes carry the old key" "250" \
    "$(file_events "$out" | jq -r 'select(.op == "DELETE") | .old.id' | sort -n | tail -1)"

check_eq "a NULL travels as null" "null" \
    "$(file_events "$out" | jq -c 'select(.op == "UPDATE" and .row.id == 1000) | .row.note')"

check_eq "the three-change transaction: indexes 0,1,2 and only the last ends it" \
    "0:false 1:false 2:true" \
    "$(file_events "$out" | jq -r 'select(.row.data == "tx a" or .row.data == "tx b" or (.op == "UPDATE" and .row.id == 1000)) | "\(.tx_index):\(.tx_end)"' | tr '\n' ' ' | sed 's/ $//')"

check_eq "single-statement transactions end at their only change" 0 \
    "$(file_events "$out" | jq -r 'select(.op == "DELETE" and .tx_end != true) | .op' | wc -l)"

check_eq "integers are JSON numbers and text is a string" "number string" \
    "$(file_events "$out" | jq -r 'select(.op == "INSERT" and .row.id == 7) | "\(.row.id | type) \(.row.data | type)"')"

if wait_until 60 lines_ge "$TEST_TMP/wstdout.out" $expected; then
    ok "stdout sink, with its own consumer, also received every event"
else
    not_ok "stdout sink, with its own consumer, also received every event" \
        "got $(grep -c '^{' "$TEST_TMP/wstdout.out")"
fi
check_eq "stdout lines are the same events as the file's" \
    "$(file_events "$out" | jq -c 'del(.seq)' | md5sum)" \
    "$(grep '^{' "$TEST_TMP/wstdout.out" | jq -c . | md5sum)"

rc=0; stop_bg repl || rc=$?
check_eq "replicator exits 0 on SIGTERM" 0 "$rc"
rc=0; stop_bg wfile || rc=$?
check_eq "file worker exits 0 on SIGTERM" 0 "$rc"
rc=0; stop_bg wstdout || rc=$?
check_eq "stdout worker exits 0 on SIGTERM" 0 "$rc"

check "the replicator logged that it confirmed its position" \
    grep -q "confirmed .* to the source" "$TEST_TMP/repl.err"
check_eq "the slot's confirmed position is at or past the last event" 1 \
    "$(src_psql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND confirmed_flush_lsn >= '$(file_events "$out" | tail -1 | jq -r .position)'")"
check_eq "the stream holds every event once" "$expected $expected" \
    "$(stream_events "$group" | jq -r '"\(.position) \(.tx_index)"' | tee "$TEST_TMP/instream" | wc -l) $(sort -u "$TEST_TMP/instream" | wc -l)"
# shellcheck disable=SC2046
saved=$("$BIN/replicator" status --group "$group" --tables "$table" $(repl_args) 2>/dev/null |
    awk '$1 == "saved" && $2 == "position" { print $3 }')
check_eq "the group's state bucket holds the replicator's position (the slot's)" \
    "$(src_psql "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'")" "$saved"
check "no sanitizer or crash report in the logs" \
    bash -c "! grep -qiE 'sanitizer|runtime error|fatal' '$TEST_TMP'/*.err"
