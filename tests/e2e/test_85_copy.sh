#!/usr/bin/env bash
# The initial copy: --copy-and-stream of 500,001 rows of mixed types (one
# jsonb of 10,000 elements, bytea, arrays, NULLs, text that COPY escapes)
# while 3,000 inserts and a full-table update run, and of a table that was
# never analyzed, into the postgres sink (which loads copied rows with
# COPY): source and target end equal (ordered rows, md5). That replicator
# compresses its messages (--compress zstd), so the group's stream holds
# fewer bytes than the rows' text. Then kill -9 of the replicator in the middle of a
# copy and a restart: it resumes the ranges not done, the rows of a range
# copied twice are refused by COPY and upserted, and the target ends equal. Then --copy alone: the rows arrive, and no replication slot is
# left behind. Then a batch loaded over two connections of which one fails.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

export TRIBUTARY_PASSWORD=$APP_PASSWORD
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD
s=$(unique_name copy_)
g1=$(unique_name copy-)
g2=$(unique_name copyk-)
g3=$(unique_name copyo-)
g4=$(unique_name copyl-)
for g in "$g1" "$g2" "$g3" "$g4"; do
    sl=tributary_${g//-/_}
    on_exit "src_psql \"SELECT pg_drop_replication_slot('$sl') FROM pg_replication_slots WHERE slot_name = '$sl'\" >/dev/null 2>&1; src_psql 'DROP PUBLICATION IF EXISTS $sl' >/dev/null 2>&1"
done
on_exit "src_psql 'DROP SCHEMA $s CASCADE' >/dev/null 2>&1"
on_exit "tgt_psql 'DROP SCHEMA $s CASCADE' >/dev/null 2>&1"

ddl="
CREATE SCHEMA $s;
CREATE TABLE $s.big (id int PRIMARY KEY, n int, t text, j jsonb, b bytea, a text[], f float8, ts timestamptz);
CREATE TABLE $s.never (id int PRIMARY KEY, v text);
CREATE TABLE $s.kill (id int PRIMARY KEY, v text, pad text);
CREATE TABLE $s.only (id int PRIMARY KEY, v text);
CREATE TABLE $s.lane (id int PRIMARY KEY, v text);
"
src_psql "$ddl"
tgt_psql "$ddl"
src_psql "ALTER SCHEMA $s OWNER TO app"
for t in big never kill only lane; do src_psql "ALTER TABLE $s.$t OWNER TO app; ALTER TABLE $s.$t SET (autovacuum_enabled = false)"; done

src_psql "INSERT INTO $s.big SELECT g, g % 1000, CASE g % 5 WHEN 0 THEN NULL WHEN 1 THEN E'tab\there\nline \\\\ back' ELSE 'row ' || g END,
    jsonb_build_object('g', g, 'odd', g % 2 = 1), decode(md5(g::text), 'hex'), ARRAY['x' || g, NULL, 'q\"uote'], g / 7.0, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second'
    FROM generate_series(1, 500000) g"
src_psql "INSERT INTO $s.big (id, j) SELECT 500001, jsonb_agg(g) FROM generate_series(1, 10000) g"
src_psql "INSERT INTO $s.never SELECT g, md5(g::text) FROM generate_series(1, 20000) g"
src_psql "INSERT INTO $s.kill SELECT g, md5(g::text), repeat('k', 100) FROM generate_series(1, 200000) g"
src_psql "INSERT INTO $s.only SELECT g, 'only ' || g FROM generate_series(1, 5000) g"
src_psql "INSERT INTO $s.lane SELECT g, 'lane ' || g FROM generate_series(1, 20000) g"

# ordered rows of a table, as one md5
digest() { # psql-function table
    "$1" "SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, E'\n' ORDER BY x.id)), '') FROM $s.$2 x"
}
equal_now() { [ "$(digest src_psql "$1")" = "$(digest tgt_psql "$1")" ]; }

check_eq "the table to copy was never analyzed (reltuples -1)" -1 \
    "$(src_psql "SELECT reltuples::int FROM pg_class WHERE oid = '$s.never'::regclass")"

# ---- copy-and-stream under load ------------------------------------------------
# shellcheck disable=SC2046
start_bg repl1 "$BIN/replicator" --group "$g1" --tables "$s.big,$s.never" $(repl_args) \
    --copy-and-stream --max-copy-workers-per-table 3 --compress zstd
start_bg work1 "$BIN/worker" postgres --group "$g1" --nats-url "$NATS_URL" \
    --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app --target-user app
slot1=tributary_${g1//-/_}
slot_exists() { [ "$(src_psql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$1'")" = 1 ]; }
wait_until 60 slot_exists "$slot1" || not_ok "the copy created the slot"
# writes while the copy runs: they are either in the copy or in the stream
{
    for i in $(seq 1 3000); do echo "INSERT INTO $s.big (id, n, t) VALUES ($((600000 + i)), $i, 'during copy');"; done
    echo "UPDATE $s.big SET n = n + 1;"
} | src_psql >/dev/null &
load=$!
wait "$load"
check "the copy finished and streaming began" wait_until 180 grep -q "streaming from slot" "$TEST_TMP/repl1.err"
if wait_until 300 equal_now big && wait_until 30 equal_now never; then
    ok "500,004 rows copied under 3,000 inserts and a full-table update: target equals source"
else
    not_ok "500,004 rows copied under 3,000 inserts and a full-table update: target equals source" \
        "source $(digest src_psql big), target $(digest tgt_psql big); never: $(digest src_psql never) / $(digest tgt_psql never)"
    dump_bg repl1
    dump_bg work1
fi
check_eq "the never-analyzed table is whole on the target" 20000 "$(tgt_psql "SELECT count(*) FROM $s.never")"
check_eq "the 10,000-element jsonb arrived whole" 10000 \
    "$(tgt_psql "SELECT jsonb_array_length(j) FROM $s.big WHERE id = 500001")"
check "the copy logged its progress per table" grep -q "\[copy\] $s.big: .* rows" "$TEST_TMP/repl1.err"
src_psql "INSERT INTO $s.never VALUES (0, 'streamed after the copy')"
check "changes after the copy stream on" wait_until 60 equal_now never
# the stream holds the copy and the full-table update, each about as many
# bytes as the rows' text when not compressed
text=$(src_psql "SELECT sum(octet_length(x::text)) FROM $s.big x")
stored=$(nats_stream_state "TRIBUTARY_$g1" bytes)
if [ "$stored" -gt 0 ] && [ "$stored" -lt "$text" ]; then
    ok "compressed, the stream holds fewer bytes than the rows' text once ($stored < $text)"
else
    not_ok "compressed, the stream holds fewer bytes than the rows' text once" "$stored bytes stored, $text of text"
fi
stop_bg repl1
stop_bg work1

# ---- kill -9 in the middle of a copy -----------------------------------------
# shellcheck disable=SC2046
start_bg repl2 "$BIN/replicator" --group "$g2" --tables "$s.kill" $(repl_args) \
    --copy-and-stream --max-copy-workers-per-table 2 --metrics-addr 127.0.0.1:0
# the copy takes well under a second here: throttled, the replicator is
# killed in the middle of it, once it has recorded a range as done
throttle "$(cat "$TEST_TMP/repl2.pid")" &
throttle_pid=$!
msgs_ge() { [ "$(nats_stream_msgs "TRIBUTARY_$g2")" -ge "$1" ]; }
mid_copy() { msgs_ge 150 && [ "$(copy_ranges_done repl2)" -ge 1 ]; }
if wait_until 60 mid_copy; then
    kill "$throttle_pid" 2>/dev/null || true
    wait "$throttle_pid" 2>/dev/null || true
    stop_bg repl2 KILL || true
    ok "the replicator was killed with SIGKILL in the middle of the copy"
else
    kill "$throttle_pid" 2>/dev/null || true
    not_ok "the replicator was killed with SIGKILL in the middle of the copy" \
        "the stream holds $(nats_stream_msgs "TRIBUTARY_$g2") messages"
fi
check "the copy had not finished" bash -c "! grep -q 'copied .* rows' '$TEST_TMP/repl2.err'"
# shellcheck disable=SC2046
start_bg repl2b "$BIN/replicator" --group "$g2" --tables "$s.kill" $(repl_args) \
    --copy-and-stream --max-copy-workers-per-table 2
start_bg work2 "$BIN/worker" postgres --group "$g2" --nats-url "$NATS_URL" \
    --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app --target-user app
check "the restarted replicator resumed the copy" wait_until 120 grep -q "resuming the copy" "$TEST_TMP/repl2b.err"
src_psql "UPDATE $s.kill SET v = 'changed' WHERE id % 1000 = 0; DELETE FROM $s.kill WHERE id % 1000 = 1"
if wait_until 180 equal_now kill; then
    ok "after kill -9 and restart the target equals the source"
else
    not_ok "after kill -9 and restart the target equals the source" \
        "source $(digest src_psql kill), target $(digest tgt_psql kill)"
    dump_bg repl2b
    dump_bg work2
fi
stop_bg repl2b
stop_bg work2

# ---- --copy alone --------------------------------------------------------------
rc=0
# shellcheck disable=SC2046
"$BIN/replicator" --group "$g3" --tables "$s.only" $(repl_args) --copy \
    >"$TEST_TMP/repl3.out" 2>"$TEST_TMP/repl3.err" || rc=$?
check_eq "replicator --copy exits 0 when the copy is stored" 0 "$rc"
check_eq "replicator --copy leaves no replication slot" 0 \
    "$(src_psql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'tributary_${g3//-/_}'")"
start_bg work3 "$BIN/worker" postgres --group "$g3" --nats-url "$NATS_URL" \
    --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app --target-user app \
    --log-level debug
check "the copied rows reach the target" wait_until 60 equal_now only
# the same rows copied again (with a few changed): COPY refuses rows the
# target has, so they are upserted instead
src_psql "UPDATE $s.only SET v = 'changed' WHERE id % 100 = 0"
rc=0
# shellcheck disable=SC2046
"$BIN/replicator" --group "$g3" --tables "$s.only" $(repl_args) --copy \
    >"$TEST_TMP/repl3b.out" 2>"$TEST_TMP/repl3b.err" || rc=$?
check_eq "a second --copy copies again" 0 "$rc"
check "rows copied twice end as the source has them" wait_until 60 equal_now only
check "rows the target had were refused by COPY and upserted" \
    grep -q "COPY of .* rows refused (.*SQLSTATE 23505); applying them as upserts" "$TEST_TMP/work3.err"
stop_bg work3

# ---- the second COPY connection fails ------------------------------------------
# 20,000 copied rows: batches of 4,000 or more are loaded over two
# connections, each part committing on its own. The second connection's
# backend ends itself at its first row, once (a sequence does not roll back),
# while the sink's own connection commits its part: the batch is not
# acknowledged and comes again, the rows already there are refused by COPY
# and upserted, and every row arrives
tgt_psql "CREATE SEQUENCE $s.once;
CREATE FUNCTION $s.lane_dies() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    IF current_setting('application_name') = 'tributary-worker-copy' AND nextval('$s.once') = 1 THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
    END IF;
    RETURN NEW;
END \$\$;
CREATE TRIGGER lane_dies BEFORE INSERT ON $s.lane FOR EACH ROW EXECUTE FUNCTION $s.lane_dies()"
rc=0
# shellcheck disable=SC2046
"$BIN/replicator" --group "$g4" --tables "$s.lane" $(repl_args) --copy \
    >"$TEST_TMP/repl4.out" 2>"$TEST_TMP/repl4.err" || rc=$?
check_eq "replicator --copy of 20,000 rows exits 0" 0 "$rc"
start_bg work4 "$BIN/worker" postgres --group "$g4" --nats-url "$NATS_URL" \
    --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app --target-user app
check "every row arrives although the second connection failed once" wait_until 60 equal_now lane
check "the batch was written again after the failure" \
    grep -q "terminating connection due to administrator command.*retrying in" "$TEST_TMP/work4.err"
check "the rows of the part that had committed were upserted" \
    grep -q "COPY of [0-9]* rows refused (.*SQLSTATE 23505); applying them as upserts" "$TEST_TMP/work4.err"
check "the second connection loaded rows after it failed" \
    test "$(tgt_psql "SELECT last_value FROM $s.once")" -gt 1
stop_bg work4
