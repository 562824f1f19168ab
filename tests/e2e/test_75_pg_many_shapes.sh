#!/usr/bin/env bash
# A batch with more distinct statement shapes than the postgres sink keeps
# prepared (4096) still goes: deleting, in one transaction, 4200 rows of a
# table without a key whose NULLs all fall differently gives 4200 distinct
# DELETE statements (NULL matches as IS NULL).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

cols="c0 int, c1 int, c2 int, c3 int, c4 int, c5 int, c6 int, c7 int, c8 int, c9 int, c10 int, c11 int, c12 int, id int"
new_capture pgshapes- shapes_ "$cols"
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD
src_psql "ALTER TABLE $table REPLICA IDENTITY FULL"
tgt_psql "CREATE TABLE $table ($cols)"
on_exit "tgt_psql 'DROP TABLE IF EXISTS $table' >/dev/null 2>&1"

# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --tables "$table" $(repl_args)
start_bg work "$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" \
    --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app \
    --target-user app --batch-size 10000 --batch-wait 2s
wait_until 30 slot_active || not_ok "replicator streams"

nullable=""
for b in $(seq 0 12); do
    nullable+="${nullable:+, }CASE WHEN g & $((1 << b)) = 0 THEN NULL ELSE g END"
done
src_psql "INSERT INTO $table SELECT $nullable, g FROM generate_series(1, 4200) g"
src_psql "DELETE FROM $table"
src_psql "INSERT INTO $table (id) VALUES (-1)"

if wait_until 120 eval '[ "$(tgt_psql "SELECT count(*) FROM '"$table"' WHERE id = -1")" = 1 ]'; then
    ok "the change after 4200 distinct deletes arrived"
else
    not_ok "the change after 4200 distinct deletes arrived"
    dump_bg work
fi
check_eq "the target holds only the last row" "1 -1" "$(tgt_psql "SELECT count(*), min(id) FROM $table" | tr '|' ' ')"
check_eq "no dead letters" 0 "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")"

rc=0; stop_bg repl || rc=$?
check_eq "replicator exits 0" 0 "$rc"
rc=0; stop_bg work || rc=$?
check_eq "worker exits 0" 0 "$rc"
