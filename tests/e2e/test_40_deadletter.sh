#!/usr/bin/env bash
# Messages on the group's subjects that are not valid events (written by
# another NATS client) go to the group's dead-letter stream with their
# reason; they never stop the worker and are never acknowledged silently.
# Among them two marked compressed (Tributary-Encoding: zstd, as written by
# the replicator's --compress): one that is not, and one that is but holds
# no valid event, which keeps its header in the dead letters and is listed
# decompressed. A valid event whose position lies below the sink's is
# skipped as written before, and the worker says so.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

new_capture dlq- t_ "id int PRIMARY KEY, v text"

out="$TEST_TMP/out"

# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --tables "$table" $(repl_args)
start_bg work "$BIN/worker" file --group "$group" --nats-url "$NATS_URL" --file-output-dir "$out"
wait_until 30 slot_active || not_ok "replicator streams"

src_psql "INSERT INTO $table VALUES (1, 'before')"
wait_until 30 file_count_ge "$out" 1 || not_ok "first event arrives"

subject="tributary.$group.public.$table"
check "a client publishes text that is not JSON" nats_pub "$subject" "this is not an event"
check "a client publishes JSON that is not an event" nats_pub "$subject" '{"v":1,"op":"INSERT"}'
check "a client publishes an event of an unknown version" nats_pub "$subject" '{"v":9,"op":"INSERT"}'
printf 'this is not a zstd frame' >"$TEST_TMP/plain"
check "a client publishes a payload marked zstd that is not compressed" \
    nats_hpub "$subject" "Tributary-Encoding: zstd" "$TEST_TMP/plain"
printf '{"v":8,"op":"INSERT"}' >"$TEST_TMP/v8.json"
zstd -q -f "$TEST_TMP/v8.json" -o "$TEST_TMP/v8.zst"
check "a client publishes a compressed event of an unknown version" \
    nats_hpub "$subject" "Tributary-Encoding: zstd" "$TEST_TMP/v8.zst"
src_psql "INSERT INTO $table VALUES (2, 'after')"

dlq_count_ge() { [ "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")" -ge "$1" ]; }
if wait_until 30 dlq_count_ge 5; then
    ok "the five bad messages are in the dead-letter stream"
else
    not_ok "the five bad messages are in the dead-letter stream" \
        "found $(nats_stream_msgs "TRIBUTARY_DLQ_$group")"
    dump_bg work
fi
if wait_until 30 file_count_ge "$out" 2; then
    ok "the change after the bad messages is written"
else
    not_ok "the change after the bad messages is written"
fi
check_eq "the file holds exactly the two real changes" "1 2" \
    "$(file_events "$out" | jq -r .row.id | tr '\n' ' ' | sed 's/ $//')"
check_eq "the stream holds the two changes and the five foreign messages, nothing sent twice" 7 \
    "$(nats_stream_msgs "TRIBUTARY_$group")"
check "the worker says why each message was set aside" \
    grep -q 'sent to dead letters "tributary_dlq.'"$group"'.file": cannot decode event: message is not a JSON object' "$TEST_TMP/work.err"
check "an event without columns is named as such" \
    grep -q 'event has no "source"\|has no columns\|has no "schema"' "$TEST_TMP/work.err"
check "an unknown version is named as such" grep -q 'event version 9 is not supported' "$TEST_TMP/work.err"
check "a payload marked zstd that is not is named as such" \
    grep -q 'cannot decode event: payload marked zstd is not a zstd frame' "$TEST_TMP/work.err"
check "a compressed event is read decompressed, and its fault named" \
    grep -q 'event version 8 is not supported' "$TEST_TMP/work.err"
"$BIN/worker" file --group "$group" --nats-url "$NATS_URL" --file-output-dir "$out" \
    --list-dead-letters >"$TEST_TMP/listed" 2>"$TEST_TMP/listed.err" || true
check "the compressed dead letter kept its header: it is listed decompressed" \
    grep -qF '"undecodable":"{\"v\":8,\"op\":\"INSERT\"}"' "$TEST_TMP/listed"

# A valid event whose position lies below what the sink holds, as from a
# source whose positions start lower: skipped as written before, not lost
# silently: the worker names it and counts it in its progress.
check "a client publishes an event with a position below the sink's" nats_pub "$subject" \
    '{"v":1,"op":"INSERT","source":"postgres","schema":"public","table":"'"$table"'","position":"0/10","tx_index":0,"tx_end":true,"columns":[{"name":"id","type":"int4","value":"3"},{"name":"v","type":"text","value":"lower"}],"key":["id"]}'
says_skip() { grep -q 'skipping the event at stream sequence 8 (postgres position 0/10)' "$TEST_TMP/work.err"; }
check "the worker says it skips it as written before" wait_until 30 says_skip
says_count() { grep -q ', 1 skipped as already written' "$TEST_TMP/work.err"; }
check "and counts it in its progress" wait_until 30 says_count
check_eq "the file still holds the two real changes" "1 2" \
    "$(file_events "$out" | jq -r .row.id | tr '\n' ' ' | sed 's/ $//')"

rc=0; stop_bg work || rc=$?
check_eq "worker exits 0" 0 "$rc"
start_bg work2 "$BIN/worker" file --group "$group" --nats-url "$NATS_URL" --file-output-dir "$out" --idle-exit 2s
rc=0; wait_until 30 bash -c "! kill -0 $(cat "$TEST_TMP/work2.pid") 2>/dev/null" || rc=1
check_eq "a restarted worker finds nothing left to do" 0 "$rc"
check_eq "still two events and five dead letters after the restart" "2 5" \
    "$(file_count "$out") $(nats_stream_msgs "TRIBUTARY_DLQ_$group")"

# More dead letters than a consumer lets out unacknowledged (128): another
# client stores 150 more on the sink's dead-letter subject, and a listing
# shows every one of them, in order.
published=0
for i in $(seq 1 150); do
    nats_pub "tributary_dlq.$group.file" "extra $i" && published=$((published + 1))
done
check_eq "another client stored 150 more" 150 "$published"
check_eq "the dead-letter stream holds 155 messages" 155 "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")"
"$BIN/worker" file --group "$group" --nats-url "$NATS_URL" --file-output-dir "$out" \
    --list-dead-letters >"$TEST_TMP/listed2" 2>"$TEST_TMP/listed2.err" || true
check_eq "all 155 dead letters are listed" 155 "$(wc -l <"$TEST_TMP/listed2")"
check_eq "the last one listed is the last one stored" "extra 150" \
    "$(tail -n 1 "$TEST_TMP/listed2" | jq -r .undecodable)"

rc=0; stop_bg repl || rc=$?
check_eq "replicator exits 0" 0 "$rc"
