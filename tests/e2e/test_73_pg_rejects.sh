#!/usr/bin/env bash
# Changes the target rejects for good go to the group's dead letters with
# PostgreSQL's reason, after a few attempts, and the rest of the group flows
# on: rows that break a CHECK constraint the source does not have (also in
# the middle of a multi-row insert, so the sink must find the one row at
# fault), a value the target's column type cannot take (also in an event
# large enough to travel as chunks), and a table the target does not have.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

new_capture pgrej- rej_ "id int PRIMARY KEY, v int, t text"
other=${table}_missing
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD
src_psql "CREATE TABLE $other (id int PRIMARY KEY); ALTER TABLE $other OWNER TO app"
on_exit "src_psql 'DROP TABLE IF EXISTS $other' >/dev/null 2>&1"
tgt_psql "CREATE TABLE $table (id int PRIMARY KEY, v int CHECK (v < 100), t int)"
on_exit "tgt_psql 'DROP TABLE IF EXISTS $table' >/dev/null 2>&1"

# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --tables "$table,$other" $(repl_args)
start_bg work "$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" \
    --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app \
    --target-user app --retry-initial-wait 100ms --retry-max-wait 500ms
wait_until 30 slot_active || not_ok "replicator streams"

# one transaction of 10 rows: ids 4 and 7 break the target's CHECK
src_psql "INSERT INTO $table SELECT g, CASE WHEN g IN (4, 7) THEN 500 ELSE g END, g::text FROM generate_series(1, 10) g"
# a text the target's int column cannot read
src_psql "INSERT INTO $table VALUES (11, 11, 'eleven')"
# a table the target does not have
src_psql "INSERT INTO $other VALUES (1)"
# an event over the server's 1 MiB max_payload (it travels as chunks) that
# the target rejects: every chunk goes to the dead letters
src_psql "INSERT INTO $table VALUES (13, 13, repeat('x', 2500000))"
# and after all that, ordinary changes
src_psql "UPDATE $table SET v = v + 1 WHERE id <= 3"
src_psql "INSERT INTO $table VALUES (12, 12, '12')"

dlq_count_ge() { [ "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")" -ge "$1" ]; }
if wait_until 90 eval '[ "$(tgt_psql "SELECT count(*) FROM '"$table"' WHERE id = 12")" = 1 ]'; then
    ok "changes after the rejected ones arrive"
else
    not_ok "changes after the rejected ones arrive"
    dump_bg work
fi
check_eq "the target holds every row it can take, updated" "1:2 2:3 3:4 5:5 6:6 8:8 9:9 10:10 12:12" \
    "$(tgt_psql "SELECT string_agg(id || ':' || v, ' ' ORDER BY id) FROM $table")"
# 4 events in one message each, and the chunks of the big one (3 or more)
dead=$(nats_stream_msgs "TRIBUTARY_DLQ_$group")
check "four changes and every chunk of the big one are dead letters ($dead messages)" \
    test "$dead" -ge 7 -a "$dead" -le 10
check "the reason names the constraint" grep -q 'violates check constraint' "$TEST_TMP/work.err"
check "the reason names the type error" grep -q 'invalid input syntax for type integer' "$TEST_TMP/work.err"
check "the reason names the missing table" grep -q "does not exist on the target" "$TEST_TMP/work.err"
check "a rejected change is tried more than once before it is set aside" \
    test "$(grep -c 'rejected, attempt' "$TEST_TMP/work.err")" -ge 2


# ---- the dead letters, listed, then applied again once the target is fixed ----
target_flags=(--target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app --target-user app)
rc=0
"$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" "${target_flags[@]}" \
    --list-dead-letters >"$TEST_TMP/listed" 2>"$TEST_TMP/listed.err" || rc=$?
check_eq "listing the dead letters exits 0" 0 "$rc"
check_eq "five changes are listed, the large one once" "1 4 7 11 13" \
    "$(jq -r '.row.id' "$TEST_TMP/listed" | sort -n | paste -sd' ')"
check_eq "the large one is listed whole, joined from its chunks" 2500000 \
    "$(jq -r 'select(.row.id == 13) | .row.t | length' "$TEST_TMP/listed")"
check "its listing names the first and last of its messages" \
    test "$(jq -r 'select(.row.id == 13) | .dead_letter.last_seq - .dead_letter.seq' "$TEST_TMP/listed")" -ge 2
tgt_psql "ALTER TABLE $table DROP CONSTRAINT ${table}_v_check; ALTER TABLE $table ALTER COLUMN t TYPE text;
    CREATE TABLE $other (id int PRIMARY KEY)"
on_exit "tgt_psql 'DROP TABLE IF EXISTS $other' >/dev/null 2>&1"
rc=0
"$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" "${target_flags[@]}" \
    --replay-dead-letters >"$TEST_TMP/replay" 2>"$TEST_TMP/replay.err" || rc=$?
check_eq "the replay exits 0" 0 "$rc"
check_eq "the target now holds every row" "1:2 2:3 3:4 4:500 5:5 6:6 7:500 8:8 9:9 10:10 11:11 12:12 13:13" \
    "$(tgt_psql "SELECT string_agg(id || ':' || v, ' ' ORDER BY id) FROM $table")"
check_eq "the large value arrived whole" "2500000 $(src_psql "SELECT md5(t) FROM $table WHERE id = 13")" \
    "$(tgt_psql "SELECT length(t) || ' ' || md5(t) FROM $table WHERE id = 13")"
check_eq "the row of the table that was missing arrived" 1 "$(tgt_psql "SELECT count(*) FROM $other")"
check_eq "no dead letters are left" 0 "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")"
check "the replay says the chunks were one event" grep -q "(the chunks of one event) applied again" "$TEST_TMP/replay.err"
# a chunk whose run is not in the dead letters stops a replay, and stays
printf '{"v":1,' >"$TEST_TMP/half"
check "a client stores chunk 1 of 2 alone as a dead letter" \
    nats_hpub "tributary_dlq.$group.postgres" "Tributary-Chunk: 1/2" "$TEST_TMP/half"
rc=0
"$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" "${target_flags[@]}" \
    --replay-dead-letters >"$TEST_TMP/replay2" 2>"$TEST_TMP/replay2.err" || rc=$?
check_eq "the replay of a chunk that cannot be joined exits 1" 1 "$rc"
check "it says why, and how to discard it" \
    grep -q "(chunk 1/2) cannot be joined into an event: the chunks after them are not in the dead letters.*nats stream rmm TRIBUTARY_DLQ_$group" "$TEST_TMP/replay2.err"
check_eq "the chunk stays in the dead letters" 1 "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")"

rc=0; stop_bg repl || rc=$?
check_eq "replicator exits 0" 0 "$rc"
rc=0; stop_bg work || rc=$?
check_eq "worker exits 0" 0 "$rc"
