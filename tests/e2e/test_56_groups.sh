#!/usr/bin/env bash
# Four groups on one source database and one NATS server, each with its own
# table, replicator and postgres worker, under a concurrent load. In the
# middle, all eight programs are stopped together (SIGTERM for half of the
# groups, SIGKILL for the other half) and started again while the load
# goes on. Then one group's durable consumer is deleted on the server while
# its worker runs, and another's while its worker is down: each worker
# creates it again and resumes from the target's own record of what it
# applied, not from the start of the stream. Every group's target table
# ends equal to its source table (ordered-row md5), and no group's target
# holds another group's rows.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

export TRIBUTARY_PASSWORD=$APP_PASSWORD
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD
base=$(unique_name grp)
groups=()
for i in 1 2 3 4; do
    g=${base}-$i
    groups+=("$g")
    t=${base}_t$i
    src_psql "CREATE TABLE $t (id int PRIMARY KEY, grp int NOT NULL, v text, n int); ALTER TABLE $t OWNER TO app"
    tgt_psql "CREATE TABLE $t (id int PRIMARY KEY, grp int NOT NULL, v text, n int)"
    slot_i=tributary_${g//-/_}
    on_exit "src_psql \"SELECT pg_drop_replication_slot('$slot_i') FROM pg_replication_slots WHERE slot_name = '$slot_i'\" >/dev/null 2>&1; src_psql 'DROP PUBLICATION IF EXISTS $slot_i; DROP TABLE IF EXISTS $t' >/dev/null 2>&1; tgt_psql 'DROP TABLE IF EXISTS $t' >/dev/null 2>&1"
done

start_group() {
    local i=$1 g=${groups[$(($1 - 1))]}
    # shellcheck disable=SC2046
    start_bg "repl$i" "$BIN/replicator" --group "$g" --tables "${base}_t$i" $(repl_args)
    start_bg "w$i" "$BIN/worker" postgres --group "$g" --nats-url "$NATS_URL" \
        --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app \
        --target-user app --batch-wait 50ms
}
all_active() {
    [ "$(src_psql "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'tributary_${base}_%' AND active")" = 4 ]
}
for i in 1 2 3 4; do start_group "$i"; done
wait_until 60 all_active || not_ok "the four replicators stream"

# the load: per group, single-row inserts, updates and deletes, and
# transactions of several rows, all four groups at once
load() {
    local i=$1 t=${base}_t$1 k
    for ((k = 1; k <= 300; k++)); do
        src_psql "INSERT INTO $t VALUES ($k, $i, 'v$k', 0)"
        if ((k % 10 == 0)); then
            src_psql "BEGIN; UPDATE $t SET n = n + 1, v = v || '+' WHERE id > $k - 10; DELETE FROM $t WHERE id = $k - 5; INSERT INTO $t VALUES ($k + 100000, $i, 'tx', $k); COMMIT"
        fi
    done
}
loads=""
for i in 1 2 3 4; do
    load "$i" &
    loads+=" $!"
done

sleep 3
# everyone stops at once: half gracefully, half killed
stops=""
for i in 1 2; do
    stop_bg "repl$i" >/dev/null &
    stops+=" $!"
    stop_bg "w$i" >/dev/null &
    stops+=" $!"
done
for i in 3 4; do
    stop_bg "repl$i" KILL >/dev/null 2>&1 &
    stops+=" $!"
    stop_bg "w$i" KILL >/dev/null 2>&1 &
    stops+=" $!"
done
for p in $stops; do wait "$p" || true; done
ok "all eight programs stopped together in the middle of the load"
sleep 1
for i in 1 2 3 4; do start_group "$i"; done

# NATS's own protocol, enough to send one JetStream API request
consumer_exists() {
    curl -s -m 5 "$NATS_MONITOR/jsz?consumers=true" |
        jq -e --arg s "TRIBUTARY_$1" --arg c "postgres_$1" \
            '[.account_details[]?.stream_detail[]? | select(.name == $s) | .consumer_detail[]? | select(.name == $c)] | length > 0' >/dev/null
}
sleep 2
# group 1: its consumer deleted under the running worker
nats_api "\$JS.API.CONSUMER.DELETE.TRIBUTARY_${groups[0]}.postgres_${groups[0]}"
check "group 1's consumer was deleted on the server" bash -c "! curl -s -m 5 '$NATS_MONITOR/jsz?consumers=true' | grep -q '\"postgres_${groups[0]}\"'"
# group 2: its worker stopped, its consumer deleted, the worker started again
stop_bg w2
nats_api "\$JS.API.CONSUMER.DELETE.TRIBUTARY_${groups[1]}.postgres_${groups[1]}"
start_bg w2 "$BIN/worker" postgres --group "${groups[1]}" --nats-url "$NATS_URL" \
    --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app \
    --target-user app --batch-wait 50ms

for p in $loads; do wait "$p"; done
ok "the load finished"

rows_md5() { echo "SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, ',' ORDER BY id), '')) FROM ${base}_t$1 t"; }
equal() { [ "$(src_psql "$(rows_md5 "$1")")" = "$(tgt_psql "$(rows_md5 "$1")")" ]; }
for i in 1 2 3 4; do
    if wait_until 120 equal "$i"; then
        ok "group $i: the target table equals the source table"
    else
        not_ok "group $i: the target table equals the source table"
        echo "# source $(src_psql "$(rows_md5 "$i")"), target $(tgt_psql "$(rows_md5 "$i")")"
        dump_bg "w$i"
    fi
    check_eq "group $i: only its own rows" "$i" \
        "$(tgt_psql "SELECT string_agg(DISTINCT grp::text, ',') FROM ${base}_t$i")"
done
# a worker that has caught up finds its consumer gone after a quiet spell
# (5 s without messages, checked every 5 s), which may not have passed yet
check "group 1's worker made its consumer again" wait_until 30 consumer_exists "${groups[0]}"
check "group 2's worker made its consumer again" wait_until 30 consumer_exists "${groups[1]}"
check "group 1's worker saw its consumer gone and made it from the target's record" \
    grep -q "is gone from the server; making it again from the sink's last applied event (stream sequence [1-9]" "$TEST_TMP/w1.err"
check "group 2's worker resumed from the target's record, not the start of the stream" \
    grep -q "created consumer \"postgres_${groups[1]}\" on stream \"TRIBUTARY_${groups[1]}\" starting at stream sequence [1-9]" "$TEST_TMP/w2.err"
for i in 1 2 3 4; do
    stop_bg "w$i"
    stop_bg "repl$i"
done
