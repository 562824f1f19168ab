#!/usr/bin/env bash
# A group's stream deleted and made anew while its worker is down (as when
# NATS loses its storage, or the stream is removed by hand): the replication
# slot is kept, so the new stream carries on from where the source was, but
# numbers its messages from 1 again. The new stream grows past the stream
# sequence the target recorded before the worker starts again. The worker
# must not start its new consumer at that sequence, which would pass over
# the new stream's first messages: it sees the message there is not the
# target's last event, reads the stream from its beginning, and every row
# arrives. A worker whose consumer alone was deleted still starts at the
# recorded sequence, as the message there is the target's last event (the
# last chunk of a row larger than NATS's message limit, then one of the
# events of a compressed message). And when that very message is removed
# by hand from the same stream, the stream still begins before the
# target's last event: the worker starts after the removed message, not at
# the beginning.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

new_capture anew ta "id int PRIMARY KEY, v text NOT NULL"
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD
tgt_psql "CREATE TABLE $table (id int PRIMARY KEY, v text NOT NULL)"
on_exit "tgt_psql 'DROP TABLE IF EXISTS $table' >/dev/null 2>&1"
on_exit "tgt_psql \"DELETE FROM tributary.positions WHERE group_name = '$group'\" >/dev/null 2>&1"
on_exit "'$BIN/replicator' --group '$group' --cleanup --yes $(repl_args) >/dev/null 2>&1"
stream=TRIBUTARY_$group
durable=postgres_$group

replicator() {
    local name=$1
    shift
    # shellcheck disable=SC2046
    start_bg "$name" "$BIN/replicator" --group "$group" --tables "$table" $(repl_args) "$@"
    wait_until 60 slot_active || not_ok "replicator $name streams" "$(tail -5 "$TEST_TMP/$name.err")"
}
worker() {
    start_bg "$1" "$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" \
        --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app \
        --target-user app --batch-wait 20ms
}
# insert FROM TO: one transaction per row, so each is a message of its own
insert() {
    local k
    for ((k = $1; k <= $2; k++)); do
        src_psql "INSERT INTO $table VALUES ($k, 'v$k')"
    done
}
rows() { tgt_psql "SELECT count(*) FROM $table"; }
rows_are() { [ "$(rows)" = "$1" ]; }
rows_md5() { echo "SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY id), '')) FROM $table t"; }
equal() { [ "$(src_psql "$(rows_md5)")" = "$(tgt_psql "$(rows_md5)")" ]; }
recorded_seq() { tgt_psql "SELECT stream_seq FROM tributary.positions WHERE group_name = '$group'"; }
stream_last() { nats_stream_state "$stream" last_seq; }
stream_gone() { [ "$(nats_stream_msgs "$stream")" = 0 ] && ! curl -s -m 5 "$NATS_MONITOR/jsz?streams=true" | grep -q "\"$stream\""; }

# compressed messages (zstd, from 1 KiB) for the first stream
replicator r1 --compress zstd
worker w1
insert 1 39
# the last a 2 MiB row, past NATS's 1 MiB message limit: the target's
# record then names the last of its chunks
src_psql "INSERT INTO $table SELECT 40, string_agg(md5(g::text), '') FROM generate_series(1, 65536) g"
check "the first 40 rows arrive, the last a 2 MiB row in chunks" wait_until 60 rows_are 40
stop_bg w1 || true
seq1=$(recorded_seq)
check_eq "the target recorded the stream's last message, the big row's last chunk" "$(stream_last)" "$seq1"

# the durable consumer alone deleted: the message at the recorded sequence
# is the target's, so the new consumer starts there
nats_api "\$JS.API.CONSUMER.DELETE.$stream.$durable"
# ten rows in one transaction, in one compressed message
src_psql "INSERT INTO $table SELECT g, repeat('w', 300) || g FROM generate_series(41, 50) g"
worker w2
check "with the consumer deleted, all 50 rows arrive" wait_until 60 rows_are 50
check "the new consumer starts at the recorded sequence $seq1" \
    grep -q "created consumer \"$durable\" on stream \"$stream\" starting at stream sequence $seq1\$" "$TEST_TMP/w2.err"
check "it does not read the stream from its beginning" bash -c "! grep -q 'made anew' '$TEST_TMP/w2.err'"
stop_bg w2 || true
seq2=$(recorded_seq)
check_eq "the target recorded the stream's last message, the ten rows" "$(stream_last)" "$seq2"

# again, the target's last event now inside a compressed message
nats_api "\$JS.API.CONSUMER.DELETE.$stream.$durable"
worker w2b
check "the next new consumer starts at the recorded sequence $seq2" \
    wait_until 30 grep -q "created consumer \"$durable\" on stream \"$stream\" starting at stream sequence $seq2\$" "$TEST_TMP/w2b.err"
stop_bg w2b || true

# that message removed by hand from the same stream: it begins before the
# target's last event, so the stream is not new, and the consumer starts
# after the removed message rather than at the beginning (where copied
# rows, written whenever they come, would take back their copied values)
stream_msgs() { nats_stream_msgs "$stream"; }
msgs_before=$(stream_msgs)
nats_api "\$JS.API.STREAM.MSG.DELETE.$stream" "{\"seq\":$seq2}"
one_less() { [ "$(stream_msgs)" = $((msgs_before - 1)) ]; }
check "the message at sequence $seq2 is removed" wait_until 10 one_less
nats_api "\$JS.API.CONSUMER.DELETE.$stream.$durable"
insert 51 55
worker w2c
check "with that message gone, the 5 new rows arrive (55 rows)" wait_until 60 rows_are 55
check "the worker says the message was removed from a stream that is not new" \
    grep -q "stream \"$stream\" has no message at sequence $seq2, where the sink's last event .* but it begins before that event: the message was removed" "$TEST_TMP/w2c.err"
check "its new consumer starts at the recorded sequence $seq2, not the beginning" \
    grep -q "created consumer \"$durable\" on stream \"$stream\" starting at stream sequence $seq2\$" "$TEST_TMP/w2c.err"
stop_bg w2c || true
seq2=$(recorded_seq)

# the stream deleted while the worker is down; the replicator, started
# again, makes it anew and carries on from the slot
stop_bg r1 || true
nats_api "\$JS.API.STREAM.DELETE.$stream"
check "the group's stream is deleted" wait_until 10 stream_gone
replicator r2
# one row at a time until the new stream is past the recorded sequence (a
# busy source's transactions may share a message), then the rest at once
k=56
grown=true
while [ "$(stream_last)" -le $((seq2 + 2)) ]; do
    last=$(stream_last)
    insert "$k" "$k"
    k=$((k + 1))
    stream_grew() { [ "$(stream_last)" -gt "$last" ]; }
    wait_until 30 stream_grew || { grown=false; break; }
done
check "the new stream grows past the recorded sequence $seq2" $grown
insert "$k" 150
before=$(rows)
check_eq "the target still has the 55 rows of the old stream" 55 "$before"

worker w3
if wait_until 90 equal; then
    ok "every row of the new stream arrives: the target equals the source (150 rows)"
else
    not_ok "every row of the new stream arrives: the target equals the source (150 rows)" \
        "target has $(rows) rows; missing ids: $(tgt_psql "SELECT string_agg(g::text, ',') FROM generate_series(1, 150) g WHERE g NOT IN (SELECT id FROM $table)")"
    dump_bg w3
fi
check "the worker says the stream was made anew and reads it from its beginning" \
    grep -q "stream \"$stream\" has another event at sequence $seq2, where the sink's last event .* was: the stream was made anew" "$TEST_TMP/w3.err"
check "its new consumer starts at the stream's beginning" \
    grep -q "created consumer \"$durable\" on stream \"$stream\" starting at its beginning" "$TEST_TMP/w3.err"

# and the stream goes on: later changes arrive too
insert 151 160
check "later changes arrive as well (160 rows, equal to the source)" wait_until 60 equal
stop_bg w3 || true
stop_bg r2 || true
