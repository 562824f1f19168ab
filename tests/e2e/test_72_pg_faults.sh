#!/usr/bin/env bash
# The postgres sink through faults, under a steady load of small
# transactions on a table with a primary key and one without any key
# (REPLICA IDENTITY FULL, many equal rows: an event applied twice leaves a
# row too many). The worker is stopped with SIGTERM (exit 0); killed with
# SIGKILL in the middle of a 5000-event batch (inserts made slow on the
# target by a trigger), whose session then commits it, so the next worker
# gets applied events again; and the target is down for 30 s while it
# runs. Source and target must end equal (row count and md5 of the ordered
# rows). Last, a worker is killed while its batch waits on a lock held by
# another target session, and the next one starts meanwhile: still once.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

group=$(unique_name pgflt-)
slot=tributary_${group//-/_}
s=$(unique_name flt_)
services="$(dirname "$0")/../../internal/services.sh"
export TRIBUTARY_PASSWORD=$APP_PASSWORD
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD

ddl="
CREATE SCHEMA $s;
CREATE TABLE $s.kv (id int PRIMARY KEY, v int NOT NULL, note text);
CREATE TABLE $s.nk (a int, b text, n int);
ALTER TABLE $s.nk REPLICA IDENTITY FULL;
CREATE INDEX ON $s.nk (a);
"
src_psql "$ddl"
tgt_psql "$ddl"
src_psql "ALTER SCHEMA $s OWNER TO app; ALTER TABLE $s.kv OWNER TO app; ALTER TABLE $s.nk OWNER TO app"
# target_stop, target_start: the target PostgreSQL with internal/services.sh
# (its data is kept). When target-start fails, that is a "not ok", and the
# cluster is started with pg_ctl, so that the test goes on and the next
# tests find the target running.
target_stop() {
    TRIBUTARY_TGT_PGPORT=$TGT_PGPORT bash "$services" target-stop --dir "$TRIBUTARY_SERVICES_DIR"
}
target_start() {
    local out rc=0 data="$TRIBUTARY_SERVICES_DIR/tgt/data"
    out=$(TRIBUTARY_TGT_PGPORT=$TGT_PGPORT bash "$services" target-start --fast \
        --dir "$TRIBUTARY_SERVICES_DIR" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then
        ok "the target PostgreSQL is started again (services.sh target-start)"
        return 0
    fi
    not_ok "the target PostgreSQL is started again (services.sh target-start)" \
        "exit code $rc; $(printf '%s\n' "$out" | grep -v '^[0-9-]* [0-9:.]* UTC' | tail -n 5)"
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$PGBIN/pg_ctl" start -D "$data" \
            -l "$data/../postgres.log" -w -t 60 >/dev/null)
    else
        "$PGBIN/pg_ctl" start -D "$data" -l "$data/../postgres.log" -w -t 60 >/dev/null
    fi
    echo "# started the target with pg_ctl instead"
}
# whatever happens, the target runs again for the next tests
on_exit "tgt_psql 'SELECT 1' >/dev/null 2>&1 || target_start >/dev/null 2>&1 || true"
on_exit "src_psql \"SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots WHERE slot_name = '$slot'\" >/dev/null 2>&1; src_psql 'DROP PUBLICATION IF EXISTS $slot; DROP SCHEMA $s CASCADE' >/dev/null 2>&1"
on_exit "tgt_psql \"DROP SCHEMA $s CASCADE; DELETE FROM tributary.positions WHERE group_name = '$group'\" >/dev/null 2>&1"

n_work=0
work=''
start_work() {
    n_work=$((n_work + 1))
    work=work$n_work
    start_bg "$work" "$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" \
        --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" \
        --target-dbname app --target-user app --batch-size 5000 --batch-wait 100ms \
        --retry-initial-wait 200ms --retry-max-wait 2s
}
# the sessions of the worker on the target
worker_sessions() {
    tgt_psql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tributary-worker'"
}
session_gone() {
    [ "$(tgt_psql "SELECT count(*) FROM pg_stat_activity WHERE pid = $1")" = 0 ]
}
applied_seq() {
    tgt_psql "SELECT coalesce(max(stream_seq), 0) FROM tributary.positions WHERE group_name = '$group'"
}
# arrived ID: the row kv(ID) is on the target
arrived() {
    [ "$(tgt_psql "SELECT count(*) FROM $s.kv WHERE id = $1")" = 1 ]
}
sums() {
    local t q
    for t in kv nk; do
        q="SELECT count(*) || ' ' || coalesce(md5(string_agg(r, ',' ORDER BY r)), 'empty') FROM (SELECT row_to_json(x)::text AS r FROM $s.$t x) y"
        echo "$t $("$1" "$q")"
    done
}

# ---- the load: small transactions until $TEST_TMP/stop-load exists. kv
# gets a new row, an update and a delete of random rows; nk gets two equal
# rows, and one of several equal rows is updated and one deleted.
load_sql() {
    local i=0
    while [ ! -e "$TEST_TMP/stop-load" ]; do
        i=$((i + 1))
        echo "BEGIN;
INSERT INTO $s.kv VALUES ($i, $((RANDOM % 100)), 'n$i');
INSERT INTO $s.nk VALUES ($((i % 40)), 'b$((i % 3))', 0), ($((i % 40)), 'b$((i % 3))', 0);
UPDATE $s.kv SET v = v + 1, note = 'u$i' WHERE id = $((RANDOM % i + 1));
UPDATE $s.nk SET n = n + 1 WHERE ctid = (SELECT ctid FROM $s.nk WHERE a = $((RANDOM % 40)) LIMIT 1);
DELETE FROM $s.kv WHERE id = $((RANDOM % i + 1));
DELETE FROM $s.nk WHERE ctid = (SELECT ctid FROM $s.nk WHERE a = $((RANDOM % 40)) LIMIT 1);
COMMIT;"
        if ((i % 4 == 0)); then echo "SELECT pg_sleep(0.1);"; fi
    done
}
run_load() {
    load_sql | "${PGBIN:+$PGBIN/}psql" -X -q -v ON_ERROR_STOP=1 \
        "host=$SRC_PGHOST port=$SRC_PGPORT user=postgres dbname=app"
}

# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --schema "$s" $(repl_args) \
    --retry-initial-wait 200ms --retry-max-wait 2s
start_work
wait_until 30 slot_active || not_ok "replicator streams"
start_bg load run_load
sleep 3

# ---- SIGTERM under load, and a restart
rc=0; stop_bg "$work" || rc=$?
check_eq "the worker exits 0 on SIGTERM under load" 0 "$rc"
before=$(applied_seq)
check "the worker had applied events before SIGTERM" test "$before" -gt 0

# ---- SIGKILL while a batch is being applied: while the worker is down,
# big transactions pile up (20000 equal-ish rows, and an update of every
# row of kv), so the next worker starts with batches of 5000 events
src_psql "INSERT INTO $s.nk SELECT g % 100, 'big', g % 7 FROM generate_series(1, 20000) g"
src_psql "UPDATE $s.kv SET v = v + 1000"
src_psql "INSERT INTO $s.nk SELECT g % 50, 'big2', 0 FROM generate_series(1, 8000) g"
# on the target only, each row inserted into nk takes a little time, so
# that a batch of 5000 events keeps its transaction open for a second or
# more, and the kill lands inside it
tgt_psql "CREATE FUNCTION $s.slow() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN PERFORM pg_sleep(0.0002); RETURN NEW; END \$\$;
    CREATE TRIGGER slow BEFORE INSERT ON $s.nk FOR EACH ROW EXECUTE FUNCTION $s.slow()"
sleep 2
start_work
# returns "pid stream_seq" as soon as a session of the worker has written
# in a transaction that has been open for 300 ms (a big batch, not one of
# the small ones of the load), or "" after 20 s
wait_batch_sql="CREATE FUNCTION pg_temp.wait_batch() RETURNS text LANGUAGE plpgsql AS \$f\$
DECLARE p int; t0 timestamptz := clock_timestamp();
BEGIN
  LOOP
    PERFORM pg_stat_clear_snapshot();
    SELECT pid INTO p FROM pg_stat_activity
      WHERE application_name = 'tributary-worker' AND backend_xid IS NOT NULL
        AND query !~* '^\\s*create'
        AND clock_timestamp() - xact_start > interval '300 ms' LIMIT 1;
    IF p IS NOT NULL THEN
      RETURN p || ' ' || (SELECT coalesce(max(stream_seq), 0) FROM tributary.positions WHERE group_name = '$group');
    END IF;
    IF clock_timestamp() - t0 > interval '20 s' THEN RETURN ''; END IF;
    PERFORM pg_sleep(0.002);
  END LOOP;
END \$f\$"
seen=$(tgt_psql "$wait_batch_sql" "SELECT pg_temp.wait_batch()") || seen=''
kill9_bg "$work"
if [ -n "$seen" ]; then
    read -r pid seq_at_kill <<<"$seen"
    ok "the worker is killed with SIGKILL while its target transaction is open"
    # a session whose client is gone may still be running the statements
    # it had received; the next worker starts when it has ended
    wait_until 30 session_gone "$pid" || not_ok "the killed worker's target session ends"
    if [ "$(applied_seq)" = "$seq_at_kill" ]; then
        echo "# the batch in flight was rolled back (applied stream sequence $seq_at_kill)"
    else
        echo "# the batch in flight was committed by its session after the kill (applied stream sequence $seq_at_kill, then $(applied_seq))"
    fi
else
    not_ok "the worker is killed with SIGKILL while its target transaction is open" \
        "no session of the worker wrote in an open transaction within 20 s"
    dump_bg "$work"
fi
tgt_psql "DROP TRIGGER slow ON $s.nk"
start_work
# one by one, 8000 of the equal rows go again (matched on every column)
src_psql "DELETE FROM $s.nk WHERE b = 'big2'"
sleep 3

# ---- the target is down for 30 s while the worker runs
check "the target PostgreSQL is stopped" target_stop
down_at=$SECONDS
sleep 30
target_start
echo "# the target was down for $((SECONDS - down_at)) s"
check "the worker kept running through the outage" bg_alive "$work"
check "the worker said it could not write and was retrying" \
    grep -qE 'could not write to sink "postgres": .*retrying in' "$TEST_TMP/$work.err"
sleep 2

# ---- the end of the load, and the comparison
touch "$TEST_TMP/stop-load"
load_done() { ! bg_alive load; }
wait_until 30 load_done || true
rc=0; stop_bg load || rc=$?
check_eq "the load ran to its end without an error" 0 "$rc"
src_psql "INSERT INTO $s.kv VALUES (-1, 0, 'last')"
if wait_until 90 arrived -1; then
    ok "the target caught up after the faults"
else
    not_ok "the target caught up after the faults" "$(sums tgt_psql)"
    dump_bg "$work"
fi
src_sums=$(sums src_psql)
echo "# source: ${src_sums//$'\n'/; }"
check_eq "both tables equal on source and target (row count and md5)" "$src_sums" "$(sums tgt_psql)"
# the comparison compares something: many rows, many equal rows in nk,
# and updates and deletes that took effect
check "kv holds more than 100 rows, some updated" test \
    "$(src_psql "SELECT count(*) FILTER (WHERE note LIKE 'u%') FROM $s.kv")" -gt 0 -a \
    "$(src_psql "SELECT count(*) FROM $s.kv")" -gt 100
check "nk holds more than 20000 rows, many of them equal, some updated" test \
    "$(src_psql "SELECT count(*) FROM $s.nk")" -gt 20000 -a \
    "$(src_psql "SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT * FROM $s.nk) d) FROM $s.nk")" -gt 10000 -a \
    "$(src_psql "SELECT count(*) FROM $s.nk WHERE b LIKE 'b%' AND n > 0")" -gt 0
check "the load ran at least 300 transactions" test "$(src_psql "SELECT max(id) FROM $s.kv")" -ge 300
check_eq "the applied position is recorded on the target" 1 \
    "$(tgt_psql "SELECT count(*) FROM tributary.positions WHERE group_name = '$group' AND stream_seq > $before")"

rc=0; stop_bg "$work" || rc=$?
check_eq "the worker exits 0 on SIGTERM after the faults" 0 "$rc"
echo "# worker after the kill: $(grep -ho 'had [0-9]* unacknowledged.*' "$TEST_TMP/$work.err" || true)"
echo "# worker after the kill: $(grep -ho 'stopped after .*' "$TEST_TMP/$work.err" || true)"
start_work

# ---- SIGKILL while the worker's target transaction waits on a lock held
# by another session: that session goes on after the worker is gone, and
# commits the batch once the lock is free. The next worker, started in the
# meantime, must not apply the same events a second time.
start_bg locker "${PGBIN:+$PGBIN/}psql" -X -q \
    "host=$TGT_PGHOST port=$TGT_PGPORT user=postgres dbname=app application_name=t72-locker" \
    -c "BEGIN; LOCK TABLE $s.kv IN EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT"
locked() {
    [ "$(tgt_psql "SELECT count(*) FROM pg_locks WHERE relation = '$s.kv'::regclass AND mode = 'ExclusiveLock' AND granted")" = 1 ]
}
waiting_on_lock() {
    [ "$(tgt_psql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tributary-worker' AND wait_event_type = 'Lock'")" -ge "$1" ]
}
wait_until 10 locked || not_ok "another session locks kv on the target"
src_psql "BEGIN; INSERT INTO $s.nk SELECT 1000 + g % 5, 'locked', 0 FROM generate_series(1, 100) g; INSERT INTO $s.kv VALUES (-2, 0, 'locked'); COMMIT"
if wait_until 30 waiting_on_lock 1; then
    ok "the worker's target transaction waits on the lock"
else
    not_ok "the worker's target transaction waits on the lock" "$(tgt_psql "SELECT application_name, state, wait_event_type, wait_event FROM pg_stat_activity")"
fi
kill9_bg "$work"
start_work
# the new worker's transaction waits too (or it waits at its start)
wait_until 20 waiting_on_lock 2 || echo "# the new worker did not wait on a lock: $(worker_sessions) sessions"
tgt_psql "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 't72-locker'" >/dev/null
wait_until 10 eval '! bg_alive locker' || true
stop_bg locker || true
src_psql "INSERT INTO $s.kv VALUES (-3, 0, 'last')"
if wait_until 60 arrived -3; then
    ok "the target caught up after the kill during the lock"
else
    not_ok "the target caught up after the kill during the lock"
    dump_bg "$work"
fi
check_eq "the 100 rows of the locked batch are on the target once" 100 \
    "$(tgt_psql "SELECT count(*) FROM $s.nk WHERE b = 'locked'")"
check_eq "both tables equal on source and target after the kill during the lock" \
    "$(sums src_psql)" "$(sums tgt_psql)"

rc=0; stop_bg "$work" || rc=$?
check_eq "the last worker exits 0 on SIGTERM" 0 "$rc"
rc=0; stop_bg repl || rc=$?
check_eq "replicator exits 0" 0 "$rc"
check "no sanitizer or crash report in the logs" \
    bash -c "! grep -qE 'Sanitizer|runtime error' '$TEST_TMP'/work*.err '$TEST_TMP'/repl.err"
