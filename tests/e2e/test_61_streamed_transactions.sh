#!/usr/bin/env bash
# replicator --stream-in-progress: large transactions that PostgreSQL
# streams before they commit (protocol 2). With logical_decoding_work_mem
# at its minimum (64kB) every transaction here past a few hundred rows is
# streamed in many blocks.
# The replicator keeps their changes until the commit and publishes them
# then, in commit order; a rolled-back subtransaction and a rolled-back
# transaction leave nothing; two large transactions that run at once do not
# mix; a replicator killed while a streamed transaction is still open loses
# and doubles nothing after its restart. What the file sink receives is
# checked row by row.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

new_capture streamtx- stream_ "id int PRIMARY KEY, note text, n int"

src_psql "ALTER SYSTEM SET logical_decoding_work_mem = '64kB'" "SELECT pg_reload_conf()" >/dev/null
on_exit "src_psql 'ALTER SYSTEM RESET logical_decoding_work_mem' 'SELECT pg_reload_conf()' >/dev/null"

# slow_tx NOTE FIRST N PAUSE: one transaction of the 2N rows from FIRST on,
# noted "NOTE id", inserted in two halves PAUSE seconds apart
slow_tx() {
    local mid=$(($2 + $3)) last=$(($2 + 2 * $3 - 1))
    src_psql "BEGIN;
INSERT INTO $table SELECT g, '$1 ' || g, 0 FROM generate_series($2, $((mid - 1))) g;
SELECT pg_sleep($4);
INSERT INTO $table SELECT g, '$1 ' || g, 0 FROM generate_series($mid, $last) g;
COMMIT;" >/dev/null
}

out="$TEST_TMP/out"
# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --tables "$table" $(repl_args) \
    --stream-in-progress
start_bg work "$BIN/worker" file --group "$group" --nats-url "$NATS_URL" \
    --file-output-dir "$out" --batch-size 5000
wait_until 30 slot_active || not_ok "replicator streams"

# 1. savepoints: a first savepoint rolled back, 3,000 rows that stay, the
# 4,000 of a second rolled-back savepoint (streamed before its rollback)
# and the updates made inside it go, a released savepoint's updates stay,
# then 3,000 more rows and a delete
src_psql "BEGIN;
SAVEPOINT z;
INSERT INTO $table SELECT g, 'rolled back ' || g, 0 FROM generate_series(110001, 114000) g;
ROLLBACK TO SAVEPOINT z;
INSERT INTO $table SELECT g, 'first ' || g, 0 FROM generate_series(1, 3000) g;
SAVEPOINT a;
INSERT INTO $table SELECT g, 'rolled back ' || g, 0 FROM generate_series(100001, 104000) g;
UPDATE $table SET n = -1 WHERE id <= 3000;
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
UPDATE $table SET n = 1 WHERE id <= 1000;
RELEASE SAVEPOINT b;
INSERT INTO $table SELECT g, 'second ' || g, 0 FROM generate_series(3001, 6000) g;
DELETE FROM $table WHERE id = 6000;
COMMIT;"
# 2. a transaction rolled back whole
src_psql "BEGIN;
INSERT INTO $table SELECT g, 'aborted ' || g, 0 FROM generate_series(200001, 205000) g;
ROLLBACK;"
# 3. two large transactions at once, and a small one that commits between
# them: three positions in commit order
slow_tx left 10001 3000 2 &
left=$!
slow_tx right 20001 3000 1 &
right=$!
sleep 0.5
src_psql "INSERT INTO $table VALUES (30001, 'small', 0)"
wait "$left" "$right"

expected=$((3000 + 1000 + 3000 + 1 + 12000 + 1))
if wait_until 120 file_count_ge "$out" $expected; then
    ok "the streamed transactions arrived ($expected events)"
else
    not_ok "the streamed transactions arrived ($expected events)" "got $(file_count "$out")"
    dump_bg repl
fi
streamed() { [ "$(src_psql "SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = '$slot'")" -ge 4 ]; }
check "the server streamed them before their commit" wait_until 30 streamed
check "the replicator replayed them" grep -q "streamed before its commit, committed at" "$TEST_TMP/repl.err"

file_events "$out" >"$TEST_TMP/events"
check_eq "nothing of the rolled-back savepoint or transaction" 0 \
    "$(jq -r 'select((.row.note // .old.note // "") | test("rolled back|aborted")) | 1' "$TEST_TMP/events" | wc -l)"
check_eq "no update made inside the rolled-back savepoint" 0 \
    "$(jq -r 'select(.op == "UPDATE" and .row.n == -1) | 1' "$TEST_TMP/events" | wc -l)"
check_eq "the released savepoint's updates" 1000 \
    "$(jq -r 'select(.op == "UPDATE" and .row.n == 1) | 1' "$TEST_TMP/events" | wc -l)"
jq -r '"\(.position) \(.tx_index) \(.tx_end)"' "$TEST_TMP/events" >"$TEST_TMP/summary"
check_eq "four transactions" 4 "$(cut -d' ' -f1 "$TEST_TMP/summary" | uniq | wc -l)"
check_eq "positions in commit order, each transaction whole" 0 \
    "$(cut -d' ' -f1 "$TEST_TMP/summary" | lsn_order_violations)"
check_eq "indexes count up in each transaction" 0 \
    "$(awk '$1 != p { p = $1; i = 0 } $2 != i { bad++ } { i++ } END { print bad + 0 }' "$TEST_TMP/summary")"
check_eq "each transaction ends once, at its last change" "0 4" \
    "$(awk '{ last[$1] = NR } $3 == "true" { end[$1] = NR }
        END { for (p in last) if (last[p] != end[p]) bad++; print bad + 0 }' \
        "$TEST_TMP/summary") $(grep -c ' true$' "$TEST_TMP/summary")"
check_eq "the large transactions did not mix" "left right" \
    "$(jq -r 'select(.op == "INSERT") | .row.note | split(" ")[0]' "$TEST_TMP/events" |
        grep -E '^(left|right)$' | uniq | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "the small transaction came before the two that committed after it" \
    "small" "$(jq -r 'select(.op == "INSERT") | .row.note | split(" ")[0]' "$TEST_TMP/events" |
        grep -E '^(left|right|small)$' | uniq | head -n 1)"

# 4. kill -9 while a streamed transaction is open: after the restart the
# server streams it again from its start, and it arrives once
base=$(wc -l <"$TEST_TMP/events")
slow_tx open 40001 4000 4 &
open=$!
sleep 2
kill -KILL "$(cat "$TEST_TMP/repl.pid")"
# shellcheck disable=SC2046
start_bg repl2 "$BIN/replicator" --group "$group" --tables "$table" $(repl_args) \
    --stream-in-progress
wait "$open"
if wait_until 120 file_count_ge "$out" $((base + 8000)); then
    ok "the transaction open at the kill arrived"
else
    not_ok "the transaction open at the kill arrived" "got $(($(file_count "$out") - base)) of 8000"
    dump_bg repl2
fi
sleep 1
file_events "$out" | tail -n +$((base + 1)) >"$TEST_TMP/after"
check_eq "its 8000 rows once each" "$(seq 40001 48000 | md5sum)" \
    "$(jq -r '.row.id' "$TEST_TMP/after" | sort -n | md5sum)"
check_eq "in one transaction" 1 "$(jq -r '.position' "$TEST_TMP/after" | sort -u | wc -l)"

rc=0; stop_bg repl2 || rc=$?
check_eq "replicator exits 0" 0 "$rc"
rc=0; stop_bg work || rc=$?
check_eq "worker exits 0" 0 "$rc"
