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

rc=0; stop_bg repl || rc=$?
check_eq "replicator exits 0" 0 "$rc"
rc=0; stop_bg work || rc=$?
check_eq "worker exits 0" 0 "$rc"
