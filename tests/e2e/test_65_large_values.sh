#!/usr/bin/env bash
# Values larger than the NATS server's max_payload (1 MiB by default, not
# raised here): a 5 MiB text, a 5 MiB jsonb and a 24 MiB text travel as
# runs of chunks, between small rows in the same and in other
# transactions. The file sink must hold every event once, in commit order,
# with the big values byte for byte as PostgreSQL has them (md5 on both
# sides). The worker runs with --batch-size 3, so each run of chunks is
# longer than a batch (and the 24 MiB one longer than the consumer's old
# max_ack_pending window). Then the replicator (and the worker) are
# killed with SIGKILL while the chunks of big rows are published, and
# started again, with a 1 s duplicate window so that the run cut short
# stays in the stream before its re-sent copy: every event must still be
# there exactly once, and nothing may become a dead letter. Last, broken
# runs published by hand (a gap, a wrong k, a bad header...) must all end
# in the dead letters with their reason, and the events after them arrive.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

new_capture large- large_ "id int PRIMARY KEY, body text, doc jsonb"

out="$TEST_TMP/out"
stream="TRIBUTARY_$group"

max_payload=$(curl -s -m 5 "$NATS_MONITOR/varz" | jq -r '.max_payload')
check_eq "the NATS server runs with the default max_payload (1 MiB)" 1048576 "$max_payload"

# SQL for a text of N md5 strings (32 bytes each) seeded with S
big_text() { echo "(SELECT string_agg(md5(g::text || '$2'), '') FROM generate_series(1, $1) g)"; }
# SQL for a jsonb of N small objects (about 45 bytes each in text form)
big_jsonb() {
    echo "(SELECT jsonb_build_object('n', $1, 'items', jsonb_agg(jsonb_build_object('i', g, 's', md5(g::text || '$2')))) FROM generate_series(1, $1) g)"
}
MIB5=163840   # 163840 * 32 bytes = 5 MiB

n_repl=0
start_repl() {
    n_repl=$((n_repl + 1))
    # shellcheck disable=SC2046
    start_bg "repl$n_repl" "$BIN/replicator" --group "$group" --tables "$table" \
        $(repl_args) --dedup-window 1s --status-interval 5s --retry-initial-wait 100ms "$@"
}
n_work=0
start_work() {
    n_work=$((n_work + 1))
    start_bg "work$n_work" "$BIN/worker" file --group "$group" --nats-url "$NATS_URL" \
        --file-output-dir "$out" --batch-size 3 --batch-wait 50ms
}
# the replicator creates the stream, with its 1 s duplicate window
start_repl
wait_until 30 grep -q "replicating group" "$TEST_TMP/repl1.err" ||
    not_ok "replicator starts"
start_work
wait_until 30 slot_active || not_ok "replicator streams"

# ---- big values between small rows ----------------------------------------------

src_psql "BEGIN;
    INSERT INTO $table VALUES (1, 'small before', NULL);
    INSERT INTO $table VALUES (2, $(big_text $MIB5 a), NULL);
    INSERT INTO $table VALUES (3, 'small after', '{\"a\": 1}');
    COMMIT;" \
    "INSERT INTO $table VALUES (4, 'own transaction', NULL)" \
    "BEGIN;
    INSERT INTO $table VALUES (5, NULL, $(big_jsonb 116000 b));
    INSERT INTO $table VALUES (6, 'after the jsonb', NULL);
    COMMIT;" \
    "INSERT INTO $table VALUES (7, $(big_text $((MIB5 * 24 / 5)) c), NULL)" \
    "INSERT INTO $table VALUES (8, 'last', '[1, 2]')"
expected=8

if wait_until 180 file_count_ge "$out" $expected; then
    ok "every event arrived"
else
    not_ok "every event arrived" "got $(file_count "$out") of $expected"
    dump_bg "repl$n_repl"
    dump_bg "work$n_work"
fi

# md5 of each row's body and doc as PostgreSQL has them, in id order
pg_md5s() {
    src_psql "SELECT id || ' ' || md5(coalesce(body, '')) || ' ' || md5(coalesce(doc::text, ''))
              FROM $table ORDER BY id"
}
# The same from the file sink, in output order. A text value is compared
# as jq prints the raw string. A jsonb value is embedded in the output as
# PostgreSQL's text; jq prints it compact, and the values here (integers,
# and strings of hex digits) make PostgreSQL's form exactly that with a
# space after every ',' and ':' between tokens.
out_md5s() {
    local line id body doc
    file_events "$out" >"$TEST_TMP/all.jsonl"
    while IFS= read -r line; do
        id=$(jq -r '.row.id' <<<"$line")
        body=$(jq -j '.row.body // ""' <<<"$line" | md5sum | cut -d' ' -f1)
        doc=$(jq -j 'if .row.doc == null then "" else (.row.doc | tojson) end' <<<"$line" |
            sed 's/,/, /g; s/":/": /g' | md5sum | cut -d' ' -f1)
        echo "$id $body $doc"
    done <"$TEST_TMP/all.jsonl"
}

out_md5s >"$TEST_TMP/out.md5"
pg_md5s >"$TEST_TMP/pg.md5"
check_eq "every event once, in order, with values identical to PostgreSQL's" \
    "$(cat "$TEST_TMP/pg.md5")" "$(cat "$TEST_TMP/out.md5")"
check_eq "the 5 MiB text is 5 MiB in the output" 5242880 \
    "$(jq -j 'select(.row.id == 2) | .row.body' "$TEST_TMP/all.jsonl" | wc -c)"
check_eq "transaction boundaries kept (tx_index/tx_end)" \
    "0 false,1 false,2 true,0 true,0 false,1 true,0 true,0 true" \
    "$(jq -r '"\(.tx_index) \(.tx_end)"' "$TEST_TMP/all.jsonl" | paste -sd,)"
msgs=$(nats_stream_msgs "$stream")
echo "# the stream holds $msgs messages for $expected events"
check "big events went as chunks (more messages than events)" test "$msgs" -ge 40
check_eq "no dead letters" 0 "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")"

# ---- SIGKILL while chunks are published ------------------------------------------

# Each round commits three 12 MiB rows (13 chunks each), one transaction
# each with a small row after it. While they are published, the
# replicator is paused (SIGSTOP) every few milliseconds to look at the
# stream: once it holds part of a run, the replicator is killed with
# SIGKILL, and so is the worker, which then holds that part unacknowledged.
# After twice the duplicate window (when JetStream has forgotten the
# msgids) both start again: the replicator sends the event again from
# chunk 1, the worker drops the part before it. From here the replicator
# keeps one message in flight (--max-inflight 1), so that it publishes a
# run slowly enough to be caught in it. Rounds go on until two kills have
# landed inside a run (at most 5 rounds).
per_round=42   # 3 * (13 chunks + 1 small row)
stop_bg "repl$n_repl" || not_ok "replicator stops before the kills"
start_repl --max-inflight 1
wait_until 30 slot_active || not_ok "replicator streams again"
next_id=100
killed_mid=0
round=0
while [ $round -lt 5 ] && [ $killed_mid -lt 2 ]; do
    round=$((round + 1))
    sql=()
    for j in 1 2 3; do
        next_id=$((next_id + 1))
        sql+=("INSERT INTO $table VALUES ($next_id, $(big_text $((MIB5 * 12 / 5)) "r$round$j"), NULL)")
        next_id=$((next_id + 1))
        sql+=("INSERT INTO $table VALUES ($next_id, 'small $round $j', NULL)")
    done
    expected=$((expected + 6))
    base=$(nats_stream_msgs "$stream")
    start_bg "load$round" src_psql "${sql[@]}"
    pid=$(cat "$TEST_TMP/repl$n_repl.pid")
    deadline=$((SECONDS + 60))
    grown=0
    while [ $SECONDS -lt $deadline ]; do
        kill -STOP "$pid" 2>/dev/null || break
        grown=$(($(nats_stream_msgs "$stream") - base))
        # chunks 1..11 of a run stored: whatever is in flight, the run
        # stays incomplete
        if [ $((grown % 14)) -ge 1 ] && [ $((grown % 14)) -le 11 ]; then
            break
        fi
        kill -CONT "$pid" 2>/dev/null || break
        [ $grown -lt $per_round ] || break
        sleep 0.01
    done
    kill9_bg "repl$n_repl"
    kill9_bg "work$n_work"
    echo "# round $round: killed replicator and worker with $grown new messages in the stream"
    rc=0; wait "$(cat "$TEST_TMP/load$round.pid")" || rc=$?
    rm -f "$TEST_TMP/load$round.pid"
    check_eq "round $round: the rows are committed" 0 "$rc"
    sleep 2.5
    start_repl --max-inflight 1
    start_work
    if wait_until 10 grep -q "is incomplete: sending it again" "$TEST_TMP/repl$n_repl.err"; then
        killed_mid=$((killed_mid + 1))
    fi
    # the next round counts from a stream that holds all of this one
    wait_until 180 file_count_ge "$out" $expected ||
        not_ok "round $round: every event arrived" "got $(file_count "$out") of $expected"
done
echo "# $killed_mid of $round kills left a run of chunks incomplete"
check "a kill left a run of chunks incomplete (best effort timing)" \
    test "$killed_mid" -ge 1

if wait_until 180 file_count_ge "$out" $expected; then
    ok "every event arrived after the kills"
else
    not_ok "every event arrived after the kills" "got $(file_count "$out") of $expected"
    dump_bg "repl$n_repl"
    dump_bg "work$n_work"
fi
sleep 2

out_md5s >"$TEST_TMP/out.md5"
pg_md5s >"$TEST_TMP/pg.md5"
check_eq "after the kills: every event exactly once, in order, values identical" \
    "$(cat "$TEST_TMP/pg.md5")" "$(cat "$TEST_TMP/out.md5")"
check_eq "no event is written twice (distinct position and index)" "$expected" \
    "$(jq -r '"\(.position) \(.tx_index)"' "$TEST_TMP/all.jsonl" | sort -u | wc -l)"
check_eq "events are in commit order" 0 \
    "$(jq -r '.position' "$TEST_TMP/all.jsonl" | lsn_order_violations)"
check_eq "still no dead letters" 0 "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")"
if [ "$killed_mid" -ge 1 ]; then
    check "the worker dropped a run cut short and read its re-sent copy" \
        grep -q "dropping .* chunks of an incomplete event" "$TEST_TMP"/work*.err
fi

# ---- broken runs become dead letters ----------------------------------------------

# Messages another client publishes with Tributary-Chunk headers: a run
# with a gap, a chunk without its start, a run whose k changes, an
# unreadable header and a run interrupted by a plain event all go to the
# dead letters (every message of them: 7), while a well-formed run and the
# plain event are written. The events sit past every real position.
# nats_hpub SUBJECT CHUNK PAYLOAD: one message with a Tributary-Chunk header
# (and a Nats-Msg-Id), published with the text protocol.
nats_hpub() {
    local hostport=${NATS_URL#nats://} hdr line
    hdr=$'NATS/1.0\r\nNats-Msg-Id: hand-'"$RANDOM$RANDOM"$'\r\n'
    if [ -n "$2" ]; then
        hdr+="Tributary-Chunk: $2"$'\r\n'
    fi
    hdr+=$'\r\n'
    exec 9<>"/dev/tcp/${hostport%:*}/${hostport##*:}"
    printf 'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\nHPUB %s %d %d\r\n%s%s\r\nPING\r\n' \
        "$1" "${#hdr}" "$((${#hdr} + ${#3}))" "$hdr" "$3" >&9
    while IFS= read -r -t 5 line <&9; do
        case "$line" in PONG*) break ;; -ERR*) exec 9>&-; return 1 ;; esac
    done
    exec 9>&-
}
hand_event() {
    printf '{"v":1,"op":"INSERT","source":"postgres","schema":"public","table":"%s","position":"FFFFFFFF/FFFFFF%s","tx_index":0,"tx_end":true,"columns":[{"name":"id","type":"int4","value":"%s"}],"key":["id"]}' \
        "$table" "$1" "$2"
}
subject="tributary.$group.public.$table"
ev1=$(hand_event 01 9001)
ev2=$(hand_event 02 9002)
dead_before=$(nats_stream_msgs "TRIBUTARY_DLQ_$group")
if ! { nats_hpub "$subject" 1/3 '{"v":1,' && nats_hpub "$subject" 3/3 '}' &&
    nats_hpub "$subject" 2/2 '}' &&
    nats_hpub "$subject" 1/2 '{"v":1,' && nats_hpub "$subject" 2/3 '}' &&
    nats_hpub "$subject" x/y '{}' &&
    nats_hpub "$subject" 1/2 "${ev1:0:40}" && nats_hpub "$subject" 2/2 "${ev1:40}" &&
    nats_hpub "$subject" 1/2 '{"v":1,' && nats_hpub "$subject" '' "$ev2"; }; then
    not_ok "hand-made messages published"
fi
expected=$((expected + 2))
if wait_until 60 file_count_ge "$out" $expected; then
    ok "a run and a plain event after broken runs arrived"
else
    not_ok "a run and a plain event after broken runs arrived" "got $(file_count "$out") of $expected"
    dump_bg "work$n_work"
fi
check_eq "they are the hand-made events" "9001 9002" \
    "$(file_events "$out" | tail -n 2 | jq -r '.row.id' | paste -sd' ')"
dead_ge() { [ "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")" -ge "$1" ]; }
wait_until 10 dead_ge $((dead_before + 7)) || true
check_eq "every message of a broken run is a dead letter" $((dead_before + 7)) \
    "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")"
for reason in "chunk 3/3 came where chunk 2/3 was expected" \
    "chunk 2/2 without the chunks before it" \
    "chunk 2/3 came where chunk 2/2 was expected" \
    "malformed Tributary-Chunk header" \
    "chunks 1 to 1 of 2 were followed by a message that is not a chunk"; do
    check "dead letter reason: $reason" grep -q "$reason" "$TEST_TMP/work$n_work.err"
done

"$BIN/worker" file --group "$group" --nats-url "$NATS_URL" --file-output-dir "$out" \
    --list-dead-letters >"$TEST_TMP/listed" 2>"$TEST_TMP/listed.err" || true
check_eq "the broken runs are listed chunk by chunk, as they came" "1/3 3/3 2/2 1/2 2/3 x/y 1/2" \
    "$(jq -r 'select(.incomplete) | .chunk' "$TEST_TMP/listed" | tail -n 7 | paste -sd' ')"
check_eq "with their bytes" '{"v":1,' "$(jq -r 'select(.incomplete) | .undecodable' "$TEST_TMP/listed" | tail -n 1)"

rc=0; stop_bg "repl$n_repl" || rc=$?
check_eq "replicator exits 0" 0 "$rc"
rc=0; stop_bg "work$n_work" || rc=$?
check_eq "worker exits 0" 0 "$rc"
check "no sanitizer or crash report in the logs" \
    bash -c "! grep -qiE 'sanitizer|runtime error|fatal' '$TEST_TMP'/*.err"
