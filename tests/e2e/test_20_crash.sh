#!/usr/bin/env bash
# Crashes: while a workload of thousands of changes runs, the replicator
# and the worker are killed with SIGKILL (and once stopped with SIGTERM) at
# random moments and restarted. At the end the file sink must hold every
# change exactly once. The stream's duplicate window is set to 1 s, so
# JetStream's Msg-Id check cannot hide events the replicator sends again
# after a restart: the file sink's own record of its last position must.
# TEST_SEED replays a run.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

new_capture crash- items_ "id serial PRIMARY KEY, val int, note text"

seed=${TEST_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$seed
echo "# seed $seed (TEST_SEED=$seed replays this run)"

out="$TEST_TMP/out"

# 2000 single-row inserts, an update of every 10th row, and every 50th step
# a transaction of 4 inserts: 2360 changes, ids 1..2160
{
    for i in $(seq 1 2000); do
        echo "INSERT INTO $table (val) VALUES ($i);"
        if ((i % 10 == 0)); then echo "UPDATE $table SET note = 'u$i' WHERE val = $i;"; fi
        if ((i % 50 == 0)); then
            echo "BEGIN; INSERT INTO $table (val) VALUES (-1), (-2), (-3), (-4); COMMIT;"
        fi
        if ((i % 20 == 0)); then echo "SELECT pg_sleep(0.1);"; fi
    done
} >"$TEST_TMP/load.sql"
expected=2360

n_repl=0
n_work=0
start_repl() {
    n_repl=$((n_repl + 1))
    # shellcheck disable=SC2046
    start_bg "repl$n_repl" "$BIN/replicator" --group "$group" --tables "$table" \
        $(repl_args) --dedup-window 1s --status-interval 5s --retry-initial-wait 100ms
}
start_work() {
    n_work=$((n_work + 1))
    start_bg "work$n_work" "$BIN/worker" file --group "$group" --nats-url "$NATS_URL" \
        --file-output-dir "$out" --batch-size 100 --batch-wait 50ms
}

start_repl
start_work
wait_until 30 slot_active || not_ok "replicator streams before the load starts"

start_bg load "${PGBIN:+$PGBIN/}psql" -X -q -v ON_ERROR_STOP=1 \
    "host=$SRC_PGHOST port=$SRC_PGPORT user=postgres dbname=app" -f "$TEST_TMP/load.sql"
kills=0
round=0
# at least 5 rounds, even when the load ends sooner (a fast machine): the
# later rounds then hit the catching-up
while bg_alive load || ((kills < 5)); do
    round=$((round + 1))
    sleep "0.$((RANDOM % 9 + 1))"
    case $((RANDOM % 4)) in
    0) kill9_bg "repl$n_repl"; what="replicator" ;;
    1) kill9_bg "work$n_work"; what="worker" ;;
    2) kill9_bg "repl$n_repl"; kill9_bg "work$n_work"; what="both" ;;
    3) stop_bg "work$n_work" || true; what="worker (SIGTERM)" ;;
    esac
    kills=$((kills + 1))
    echo "# round $round: stopped $what"
    sleep "0.$((RANDOM % 9 + 1))"
    bg_alive "repl$n_repl" || start_repl
    bg_alive "work$n_work" || start_work
    sleep 1
done
rc=0; stop_bg load || rc=$?
check_eq "the workload ran to its end" 0 "$rc"
echo "# the replicator and the worker were stopped $kills times"

if wait_until 120 file_count_ge "$out" $expected; then
    ok "file sink caught up after $kills crashes"
else
    not_ok "file sink caught up after $kills crashes" "got $(file_count "$out") of $expected"
    dump_bg "repl$n_repl"
    dump_bg "work$n_work"
fi
sleep 2

check_eq "the file sink holds exactly $expected events" "$expected" "$(file_count "$out")"
check_eq "no event is written twice (distinct position and index)" "$expected" \
    "$(file_events "$out" | jq -r '"\(.position) \(.tx_index)"' | sort -u | wc -l)"
check_eq "every inserted row is there once (ids 1..2160)" "$(seq 1 2160 | md5sum)" \
    "$(file_events "$out" | jq -r 'select(.op == "INSERT") | .row.id' | sort -n | md5sum)"
check_eq "every update is there once" 200 \
    "$(file_events "$out" | jq -r 'select(.op == "UPDATE") | .row.id' | sort -u | wc -l)"
check_eq "events are in commit order" 0 \
    "$(file_events "$out" | jq -r '.position' | lsn_order_violations)"
msgs=$(stream_events "$group" | wc -l)
echo "# the stream holds $msgs events for $expected changes (re-sent events beyond the duplicate window)"
check "the stream holds at least every change" test "$msgs" -ge $expected

rc=0; stop_bg "repl$n_repl" || rc=$?
check_eq "replicator exits 0 on SIGTERM after the crashes" 0 "$rc"
rc=0; stop_bg "work$n_work" || rc=$?
check_eq "worker exits 0 on SIGTERM after the crashes" 0 "$rc"
check "no sanitizer or crash report in the logs" \
    bash -c "! grep -qiE 'sanitizer|runtime error|fatal' '$TEST_TMP'/*.err"
