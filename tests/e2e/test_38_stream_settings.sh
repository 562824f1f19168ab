#!/usr/bin/env bash
# The replicator's stream settings reach a stream that exists already: a
# worker started first makes the group's stream with the defaults, and the
# replicator's --stream-max-age, --stream-max-bytes and --dedup-window then
# change it. A full stream (--stream-max-bytes reached) holds the replicator
# back without losing anything, and raising the limit lets it go on. A
# change that would delete events is refused, and settings left out change
# nothing.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

new_capture limits- limits_ "id int PRIMARY KEY, pad text"
stream=TRIBUTARY_$group
out="$TEST_TMP/out"

# stream_config FIELD: a field of the stream's configuration on the server
# (max_age and duplicate_window in nanoseconds, max_bytes), "" if absent
stream_config() {
    curl -s -m 5 "$NATS_MONITOR/jsz?streams=true&config=true" |
        jq -r --arg s "$stream" --arg f "$1" \
            '[.account_details[]?.stream_detail[]? | select(.name == $s) | .config[$f]] | first // ""'
}
stream_made() { [ -n "$(stream_config max_age)" ]; }
day_ns=86400000000000

start_bg work "$BIN/worker" file --group "$group" --nats-url "$NATS_URL" --file-output-dir "$out"
wait_until 30 stream_made || not_ok "the worker makes the stream"
check_eq "the worker made the stream with the default maximum age (7d)" $((7 * day_ns)) "$(stream_config max_age)"
check_eq "and no size limit" -1 "$(stream_config max_bytes)"

# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --tables "$table" $(repl_args) \
    --stream-max-age 30d --stream-max-bytes 256KiB --dedup-window 1m \
    --retry-initial-wait 100ms --retry-max-wait 1s
wait_until 30 slot_active || not_ok "replicator streams"
check_eq "the replicator set the maximum age it was given (30d)" $((30 * day_ns)) "$(stream_config max_age)"
check_eq "and the size limit (256KiB)" 262144 "$(stream_config max_bytes)"
check_eq "and the duplicate window (1m)" 60000000000 "$(stream_config duplicate_window)"
check "it says what it changed" \
    grep -q "stream \"$stream\": stream-max-age 7d -> 30d, stream-max-bytes none -> 256KiB, dedup-window 2m -> 1m" \
    "$TEST_TMP/repl.err"

# about 2 MB of events into a stream that holds 256 KiB
src_psql "INSERT INTO $table SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, 2000) g"
says_full() { grep -qi "maximum bytes" "$TEST_TMP/repl.err"; }
check "the replicator says the stream is full" wait_until 60 says_full
check "and keeps running" bg_alive repl
held=$(nats_stream_state "$stream" bytes)
if [ "$held" -le 262144 ]; then
    ok "the stream holds no more than its limit ($held bytes)"
else
    not_ok "the stream holds no more than its limit" "$held bytes"
fi
n=$(file_events "$out" | jq -r 'select(.op == "INSERT") | .row.id' | wc -l)
if [ "$n" -lt 2000 ]; then
    ok "the worker has only part of the rows while the stream is full ($n)"
else
    not_ok "the worker has only part of the rows while the stream is full" "$n rows"
fi

rc=0
stop_bg repl || rc=$?
check_eq "the held-back replicator stops on SIGTERM with exit 0" 0 "$rc"

# refused WHAT WHY PATTERN FIELD KEPT FLAG...: a replicator given FLAG...
# exits 2 naming the stream and WHY (PATTERN in its log), and the stream's
# FIELD stays KEPT
refused() {
    local what=$1 why=$2 pattern=$3 field=$4 kept=$5 rc=0
    shift 5
    # shellcheck disable=SC2046
    "$BIN/replicator" --group "$group" --tables "$table" $(repl_args) "$@" \
        >"$TEST_TMP/refused.out" 2>"$TEST_TMP/refused.err" || rc=$?
    check_eq "$what is refused with exit 2" 2 "$rc"
    check "naming the stream and $why" grep -q -- "$pattern" "$TEST_TMP/refused.err"
    check_eq "and the setting stays" "$kept" "$(stream_config "$field")"
}
# a limit below what the stream holds would cut events
refused "a size limit below what the stream holds" "what it holds" \
    "--stream-max-bytes 64KiB: stream \"$stream\" holds [0-9]* bytes already" \
    max_bytes 262144 --stream-max-bytes 64KiB
# a maximum age shorter than the oldest event would delete it
sleep 2
refused "a maximum age shorter than the oldest event" "the age of its oldest event" \
    "--stream-max-age 1s: stream \"$stream\" holds events from [0-9]*[sm] ago" \
    max_age $((30 * day_ns)) --stream-max-age 1s

# raised, the limit lets the held-back changes through, each once
# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --tables "$table" $(repl_args) --stream-max-bytes 64MiB \
    --retry-initial-wait 100ms --retry-max-wait 1s
all_rows() { [ "$(file_events "$out" | jq -r 'select(.op == "INSERT") | .row.id' | wc -l)" -ge 2000 ]; }
if wait_until 60 all_rows; then
    ok "with the limit raised, every row arrives"
else
    not_ok "with the limit raised, every row arrives"
    dump_bg repl 40
    dump_bg work 20
fi
check_eq "each of the 2000 rows once" "2000 2000" \
    "$(file_events "$out" | jq -r 'select(.op == "INSERT") | .row.id' | sort -n | uniq | wc -l) $(file_events "$out" | jq -r 'select(.op == "INSERT") | .row.id' | wc -l)"
check_eq "the new limit is on the stream" 67108864 "$(stream_config max_bytes)"
rc=0
stop_bg repl || rc=$?
check_eq "the replicator stops with exit 0" 0 "$rc"

# settings left out change nothing
# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --tables "$table" $(repl_args)
wait_until 30 slot_active || not_ok "replicator streams again"
check_eq "a replicator without the settings leaves the maximum age (30d)" $((30 * day_ns)) "$(stream_config max_age)"
check_eq "the size limit" 67108864 "$(stream_config max_bytes)"
check_eq "and the duplicate window" 60000000000 "$(stream_config duplicate_window)"
check "and says nothing of them" bash -c "! grep -q 'stream \"$stream\": ' '$TEST_TMP/repl.err'"
stop_bg repl || true
stop_bg work || true
