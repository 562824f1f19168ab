#!/usr/bin/env bash
# One transaction of 100,000 rows: the replicator publishes its changes as
# they arrive (nothing is held whole), the worker splits it into batches
# of --batch-size, and the file sink ends with every row once, with
# indexes 0..99999 and only the last change marked as the transaction's
# end. Peak memory of both processes is printed (not asserted: that is for
# the benchmarks).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

new_capture bigtx- big_ "id int PRIMARY KEY, payload text"

out="$TEST_TMP/out"
rows=100000

# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --tables "$table" $(repl_args)
start_bg work "$BIN/worker" file --group "$group" --nats-url "$NATS_URL" \
    --file-output-dir "$out" --batch-size 5000
wait_until 30 slot_active || not_ok "replicator streams"

src_psql "INSERT INTO $table SELECT g, md5(g::text) FROM generate_series(1, $rows) g"
if wait_until 300 file_count_ge "$out" $rows; then
    ok "all $rows rows of one transaction arrived"
else
    not_ok "all $rows rows of one transaction arrived" "got $(file_count "$out")"
    dump_bg repl
    dump_bg work
fi
peak() { awk '/VmHWM/ { print $2 " kB" }' "/proc/$(cat "$TEST_TMP/$1.pid")/status" 2>/dev/null || echo "?"; }
echo "# peak RSS: replicator $(peak repl), worker $(peak work) (sanitizer build)"

file_events "$out" | jq -r '"\(.row.id) \(.tx_index) \(.tx_end) \(.position)"' >"$TEST_TMP/summary"
check_eq "every row once" "$(seq 1 $rows | md5sum)" "$(cut -d' ' -f1 "$TEST_TMP/summary" | sort -n | md5sum)"
check_eq "indexes 0..$((rows - 1)) in order" "$(seq 0 $((rows - 1)) | md5sum)" \
    "$(cut -d' ' -f2 "$TEST_TMP/summary" | md5sum)"
check_eq "one position for the whole transaction" 1 "$(cut -d' ' -f4 "$TEST_TMP/summary" | sort -u | wc -l)"
check_eq "only the last change ends the transaction" "$((rows - 1))" \
    "$(awk '$3 == "true" { print $2 }' "$TEST_TMP/summary")"

rc=0; stop_bg repl || rc=$?
check_eq "replicator exits 0" 0 "$rc"
rc=0; stop_bg work || rc=$?
check_eq "worker exits 0" 0 "$rc"
