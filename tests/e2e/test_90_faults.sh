#!/usr/bin/env bash
# The fault suite: a mixed workload runs on the source (small transactions
# of inserts, updates and deletes on a keyed table and on a table without a
# key, inserts into an append-only table, and now and then a transaction of
# 5,000 rows) while seeded rounds of faults hit everything: kill -9 of the
# replicator, of the postgres worker, of both, of the file worker; SIGTERM
# of either; the walsender terminated; NATS killed and restarted with its
# file store; the target PostgreSQL stopped for a few seconds; the source
# PostgreSQL stopped and started again; a kill -9 of
# the worker in the middle of a large transaction. Afterwards the target
# tables equal the source's (ordered-row md5) and the file sink holds every
# change exactly once.
#
# FAULT_ROUNDS (default 3; `make test-faults` runs 24) sets the number of
# rounds, FAULT_KINDS (space-separated) limits the kinds; TEST_SEED replays
# a run.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

seed=${TEST_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$seed
rounds=${FAULT_ROUNDS:-3}
echo "# seed $seed, $rounds rounds (TEST_SEED=$seed FAULT_ROUNDS=$rounds replays this run)"
services="$(dirname "$0")/../../internal/services.sh"

group=$(unique_name faults-)
slot=tributary_${group//-/_}
s=$(unique_name faults_)
export TRIBUTARY_PASSWORD=$APP_PASSWORD
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD
ddl="
CREATE SCHEMA $s;
CREATE TABLE $s.kv (id int PRIMARY KEY, v int NOT NULL, note text);
CREATE TABLE $s.nk (a int, b text, n int);
ALTER TABLE $s.nk REPLICA IDENTITY FULL;
CREATE TABLE $s.ins (id bigint PRIMARY KEY, pad text);
"
src_psql "$ddl"
tgt_psql "$ddl"
src_psql "ALTER SCHEMA $s OWNER TO app"
for t in kv nk ins; do src_psql "ALTER TABLE $s.$t OWNER TO app"; done
on_exit "bash '$services' nats-start --dir '$TRIBUTARY_SERVICES_DIR' >/dev/null 2>&1 || true"
on_exit "src_psql 'SELECT 1' >/dev/null 2>&1 || TRIBUTARY_SRC_PGPORT=$SRC_PGPORT bash '$services' source-start --fast --dir '$TRIBUTARY_SERVICES_DIR' >/dev/null 2>&1 || true"
on_exit "tgt_psql 'SELECT 1' >/dev/null 2>&1 || TRIBUTARY_TGT_PGPORT=$TGT_PGPORT bash '$services' target-start --fast --dir '$TRIBUTARY_SERVICES_DIR' >/dev/null 2>&1 || true"
on_exit "src_psql \"SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots WHERE slot_name = '$slot'\" >/dev/null 2>&1; src_psql 'DROP PUBLICATION IF EXISTS $slot; DROP SCHEMA $s CASCADE' >/dev/null 2>&1"
on_exit "tgt_psql \"DROP SCHEMA $s CASCADE; DELETE FROM tributary.positions WHERE group_name = '$group'\" >/dev/null 2>&1"

out=$TEST_TMP/out
start_repl() {
    # shellcheck disable=SC2046
    start_bg repl "$BIN/replicator" --group "$group" --schema "$s" $(repl_args) \
        --retry-initial-wait 200ms --retry-max-wait 2s
}
start_wpg() {
    start_bg wpg "$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" \
        --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app \
        --target-user app --batch-size 2000 --batch-wait 100ms \
        --retry-initial-wait 200ms --retry-max-wait 2s
}
start_wfile() {
    start_bg wfile "$BIN/worker" file --group "$group" --nats-url "$NATS_URL" \
        --file-output-dir "$out" --retry-initial-wait 200ms --retry-max-wait 2s
}
# logs of every incarnation are kept
keep_logs() { cat "$TEST_TMP/$1.err" >>"$TEST_TMP/$1.all.err" 2>/dev/null || true; }
restart() {
    keep_logs "$1"
    "start_$1"
}
start_repl
start_wpg
start_wfile
wait_until 30 slot_active || not_ok "replicator streams"

# the load: until $TEST_TMP/stop-load exists; ins gets ids 1, 2, ... and
# never loses a row, so every one of them must be in the file sink once
load_sql() {
    # after a restart of the source, on from the last committed row
    local i big=0
    i=$(src_psql "SELECT coalesce(max(id), 0) FROM $s.ins")
    while [ ! -e "$TEST_TMP/stop-load" ]; do
        i=$((i + 1))
        echo "BEGIN;
INSERT INTO $s.kv VALUES ($i, $((RANDOM % 100)), 'n$i');
INSERT INTO $s.nk VALUES ($((i % 40)), 'b$((i % 3))', 0), ($((i % 40)), 'b$((i % 3))', 0);
INSERT INTO $s.ins VALUES ($i, 'p$i');
UPDATE $s.kv SET v = v + 1, note = 'u$i' WHERE id = $((RANDOM % i + 1));
UPDATE $s.nk SET n = n + 1 WHERE ctid = (SELECT ctid FROM $s.nk WHERE a = $((RANDOM % 40)) LIMIT 1);
DELETE FROM $s.kv WHERE id = $((RANDOM % i + 1));
DELETE FROM $s.nk WHERE ctid = (SELECT ctid FROM $s.nk WHERE a = $((RANDOM % 40)) LIMIT 1);
COMMIT;"
        if [ -e "$TEST_TMP/big-tx" ]; then
            rm -f "$TEST_TMP/big-tx"
            big=$((big + 1))
            echo "INSERT INTO $s.ins SELECT -g - $big * 100000, 'big' FROM generate_series(1, 5000) g;"
        fi
        if ((i % 4 == 0)); then echo "SELECT pg_sleep(0.05);"; fi
    done
}
run_load() {
    load_sql | "${PGBIN:+$PGBIN/}psql" -X -q -v ON_ERROR_STOP=1 \
        "host=$SRC_PGHOST port=$SRC_PGPORT user=postgres dbname=app"
}
start_bg load run_load

# FAULT_KINDS narrows the kinds, to hunt one down
read -ra faults <<<"${FAULT_KINDS:-kill-repl kill-wpg kill-both kill-wfile term-repl term-wpg walsender nats target source big-tx}"
declare -A seen
for ((round = 1; round <= rounds; round++)); do
    sleep "$((1 + RANDOM % 3)).$((RANDOM % 10))"
    f=${faults[$((RANDOM % ${#faults[@]}))]}
    seen[$f]=1
    case $f in
    kill-repl)
        kill9_bg repl
        sleep 0.$((RANDOM % 10))
        restart repl
        ;;
    kill-wpg)
        kill9_bg wpg
        restart wpg
        ;;
    kill-both)
        kill9_bg repl
        kill9_bg wpg
        sleep 0.$((RANDOM % 10))
        restart repl
        restart wpg
        ;;
    kill-wfile)
        kill9_bg wfile
        restart wfile
        ;;
    term-repl)
        stop_bg repl >/dev/null || not_ok "round $round: the replicator exits 0 on SIGTERM"
        restart repl
        ;;
    term-wpg)
        stop_bg wpg >/dev/null || not_ok "round $round: the worker exits 0 on SIGTERM"
        restart wpg
        ;;
    walsender)
        src_psql "SELECT count(pg_terminate_backend(active_pid)) FROM pg_replication_slots WHERE slot_name = '$slot' AND active" >/dev/null
        ;;
    nats)
        kill -KILL "$(cat "$TRIBUTARY_SERVICES_DIR/nats/nats.pid")" 2>/dev/null || true
        sleep 1
        bash "$services" nats-start --dir "$TRIBUTARY_SERVICES_DIR" >/dev/null ||
            not_ok "round $round: NATS starts again"
        ;;
    target)
        TRIBUTARY_TGT_PGPORT=$TGT_PGPORT bash "$services" target-stop \
            --dir "$TRIBUTARY_SERVICES_DIR" >/dev/null 2>&1 || true
        sleep 3
        TRIBUTARY_TGT_PGPORT=$TGT_PGPORT bash "$services" target-start --fast \
            --dir "$TRIBUTARY_SERVICES_DIR" >/dev/null ||
            not_ok "round $round: the target starts again"
        ;;
    source)
        # the load's session dies with it and is started again
        TRIBUTARY_SRC_PGPORT=$SRC_PGPORT bash "$services" source-stop \
            --dir "$TRIBUTARY_SERVICES_DIR" >/dev/null 2>&1 || true
        sleep 1
        TRIBUTARY_SRC_PGPORT=$SRC_PGPORT bash "$services" source-start --fast \
            --dir "$TRIBUTARY_SERVICES_DIR" >/dev/null ||
            not_ok "round $round: the source starts again"
        if ! bg_alive load; then
            keep_logs load
            start_bg load run_load
        fi
        ;;
    big-tx)
        touch "$TEST_TMP/big-tx"
        sleep 0.$((5 + RANDOM % 5))
        kill9_bg wpg
        restart wpg
        ;;
    esac
    echo "# round $round: $f"
done
touch "$TEST_TMP/stop-load"
load_done() { ! bg_alive load; }
wait_until 60 load_done || not_ok "the load stops"
ok "$rounds rounds of faults under load (kinds: ${!seen[*]})"

# every program runs at the end (one that died on its own is a failure)
for p in repl wpg wfile; do
    check "the $p program is running at the end" bg_alive "$p"
done

sums() {
    local t q
    for t in kv nk ins; do
        q="SELECT count(*) || ' ' || coalesce(md5(string_agg(r, ',' ORDER BY r)), 'empty') FROM (SELECT row_to_json(x)::text AS r FROM $s.$t x) y"
        echo "$t $("$1" "$q")"
    done
}
equal() { [ "$(sums src_psql)" = "$(sums tgt_psql)" ]; }
if wait_until 180 equal; then
    ok "the target tables equal the source's (ordered-row md5)"
else
    not_ok "the target tables equal the source's (ordered-row md5)" \
        "source: $(sums src_psql | xargs); target: $(sums tgt_psql | xargs)"
fi
n_ins=$(src_psql "SELECT count(*) FROM $s.ins")
file_ins() { file_events "$out" | jq -r "select(.table == \"ins\" and .op == \"INSERT\") | .row.id"; }
file_has_all() { [ "$(file_ins | wc -l)" -ge "$n_ins" ]; }
wait_until 120 file_has_all || true
check_eq "the file sink holds each of the $n_ins inserts into ins exactly once" \
    "$n_ins $n_ins" "$(file_ins | wc -l) $(file_ins | sort -u | wc -l)"
check_eq "the file sink holds no change twice" 0 \
    "$(file_events "$out" | jq -r '"\(.position) \(.tx_index)"' | sort | uniq -d | wc -l)"
for p in repl wpg wfile; do
    stop_bg "$p" >/dev/null || true
    keep_logs "$p"
done
check "no program reported a sanitizer error" \
    bash -c "! grep -l 'ERROR: AddressSanitizer\|runtime error:' '$TEST_TMP'/*.err"
