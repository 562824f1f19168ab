#!/usr/bin/env bash
# One worker at a time per consumer. Postgres workers of one group and sink
# are started while another runs: each stands by until the active one
# stops. Under a load that keeps updating the same rows, the active worker
# is killed (kill -9: the standby sees its process is gone and takes over
# at once), frozen with SIGSTOP (a standby takes over once the lease goes
# unrenewed for --lease-ttl; the frozen one, thawed, sees it lost the lease
# and exits 1 without writing) and stopped with SIGTERM (it releases the
# lease, and the standby takes over). The target ends equal to the source
# (ordered-row md5), and a standby stops cleanly on SIGTERM.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

new_capture lease tl "id int PRIMARY KEY, n int NOT NULL, v text NOT NULL"
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD
tgt_psql "CREATE TABLE $table (id int PRIMARY KEY, n int NOT NULL, v text NOT NULL)"
on_exit "tgt_psql 'DROP TABLE IF EXISTS $table' >/dev/null 2>&1"
src_psql "INSERT INTO $table SELECT g, 0, 'r' || g FROM generate_series(1, 50) g"

# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --tables "$table" $(repl_args)
wait_until 60 slot_active || not_ok "the replicator streams"

worker() {
    start_bg "$1" "$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" \
        --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app \
        --target-user app --batch-wait 20ms --lease-ttl 2s
}
logged() { grep -q "$2" "$TEST_TMP/$1.err"; }
reading() { logged "$1" "reading stream"; }

worker wa
wait_until 60 reading wa || not_ok "the first worker reads the stream" "$(tail -5 "$TEST_TMP/wa.err")"
worker wb
wait_until 30 logged wb "standing by" || true
sleep 1
if logged wb "standing by" && ! reading wb && bg_alive wb; then
    ok "a second worker on the same consumer stands by"
else
    not_ok "a second worker on the same consumer stands by" "$(tail -5 "$TEST_TMP/wb.err")"
fi

# the load: every transaction rewrites rows the others rewrite too, so a
# change applied out of order leaves a row the source does not have
load() {
    local k
    for ((k = 1; k <= 1200; k++)); do
        src_psql "BEGIN; UPDATE $table SET n = n + 1, v = md5(v || n) WHERE id % 7 = $k % 7; INSERT INTO $table VALUES (1000 + $k, $k, 'i$k'); COMMIT"
    done
}
load &
load_pid=$!

sleep 1
kill9_bg wa
if wait_until 30 reading wb && logged wb "its process is gone"; then
    ok "after kill -9 of the active worker, the standby takes over at once"
else
    not_ok "after kill -9 of the active worker, the standby takes over at once" "$(tail -5 "$TEST_TMP/wb.err")"
fi

worker wc
wait_until 30 logged wc "standing by" || not_ok "a third worker stands by" "$(tail -5 "$TEST_TMP/wc.err")"
sleep 1
kill -STOP "$(_bg_pid wb)"
if wait_until 30 reading wc && logged wc "stopped renewing"; then
    ok "a standby takes over from a frozen worker once its lease is not renewed"
else
    not_ok "a standby takes over from a frozen worker once its lease is not renewed" "$(tail -5 "$TEST_TMP/wc.err")"
fi
sleep 1
kill -CONT "$(_bg_pid wb)"
wait_until 30 logged wb "taken over by another worker" || true
rc=0
stop_bg wb || rc=$?
check_eq "the thawed worker exits 1" 1 "$rc"
check "it says another worker took its lease over" logged wb "taken over by another worker"

worker wd
wait_until 30 logged wd "standing by" || not_ok "a fourth worker stands by" "$(tail -5 "$TEST_TMP/wd.err")"
sleep 1
rc=0
stop_bg wc || rc=$?
check_eq "the active worker stops with 0 on SIGTERM" 0 "$rc"
if wait_until 30 reading wd && logged wd "released it"; then
    ok "the standby takes over the lease the stopped worker released"
else
    not_ok "the standby takes over the lease the stopped worker released" "$(tail -5 "$TEST_TMP/wd.err")"
fi

wait "$load_pid"
md5_of() { "$1" "SELECT md5(string_agg(id || ':' || n || ':' || v, ',' ORDER BY id)) FROM $table"; }
same() { [ "$(md5_of src_psql)" = "$(md5_of tgt_psql)" ]; }
wait_until 120 same || true
check_eq "the target equals the source (ordered-row md5)" "$(md5_of src_psql)" "$(md5_of tgt_psql)"
check_eq "every inserted row is there" 1250 "$(tgt_psql "SELECT count(*) FROM $table")"

worker we
wait_until 30 logged we "standing by" || not_ok "a fifth worker stands by" "$(tail -5 "$TEST_TMP/we.err")"
rc=0
stop_bg we || rc=$?
check_eq "a standby stops with 0 on SIGTERM" 0 "$rc"
check "it never read the stream" bash -c "! grep -q 'reading stream' '$TEST_TMP/we.err'"
