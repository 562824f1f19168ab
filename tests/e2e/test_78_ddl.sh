#!/usr/bin/env bash
# Schema changes with --track-ddl: two tables of a schema go through ADD
# COLUMN (three), CREATE INDEX CONCURRENTLY, a unique partial index, SET
# DEFAULT, ALTER TYPE varchar(100), RENAME COLUMN, DROP INDEX
# CONCURRENTLY, DROP COLUMN and two constraints, with rows between every
# statement that use the new shape, a schema change inside a transaction
# between its rows, and two statements sent in one query string. At the
# end the target's columns, defaults, types, constraints and indexes equal
# the source's (from the catalogs) and every row is equal. A table created
# in the group's schema reaches the target with its rows, and one dropped
# is dropped. DDL on a table outside the group does not reach the target.
# A schema change the target refuses goes to the dead letters and sets the
# table's later changes aside until the table is set free; the dead letters
# are listed, and replayed in order once the cause is removed. Then --cleanup
# removes the event triggers, slot, publication and streams.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

group=$(unique_name ddl-)
slot=tributary_${group//-/_}
s=$(unique_name ddl_)
export TRIBUTARY_PASSWORD=$APP_PASSWORD
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD

shape="
CREATE SCHEMA $s;
CREATE TABLE $s.customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE $s.orders (id int PRIMARY KEY, customer_id int NOT NULL, note text);
CREATE TABLE $s.logs (id int PRIMARY KEY, line text);
CREATE SCHEMA ${s}_x;
CREATE TABLE ${s}_x.outside (id int PRIMARY KEY, v text);
"
src_psql "$shape"
tgt_psql "$shape"
on_exit "src_psql \"SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots WHERE slot_name = '$slot'\" >/dev/null 2>&1; src_psql 'DROP PUBLICATION IF EXISTS $slot; DROP SCHEMA $s CASCADE; DROP SCHEMA ${s}_x CASCADE' >/dev/null 2>&1; src_psql \"SELECT 'DROP EVENT TRIGGER ' || evtname FROM pg_event_trigger WHERE evtname LIKE '${slot}_ddl_%'\" | src_psql >/dev/null 2>&1"
on_exit "tgt_psql 'DROP SCHEMA $s CASCADE; DROP SCHEMA ${s}_x CASCADE' >/dev/null 2>&1"

# the group covers the whole schema: a table created in it is the group's
# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --schema "$s" --track-ddl $(repl_args)
start_bg wpg "$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" \
    --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app \
    --target-user app --batch-wait 50ms
wait_until 30 slot_active || not_ok "replicator streams"
check_eq "the event triggers are named after the group" \
    "${slot}_ddl_drop ${slot}_ddl_end ${slot}_ddl_start" \
    "$(src_psql "SELECT evtname FROM pg_event_trigger WHERE evtname LIKE '${slot}_ddl_%' ORDER BY 1" | xargs)"

src_psql "INSERT INTO $s.customers VALUES (1, 'ann'); INSERT INTO $s.orders VALUES (1, 1, 'first')"
src_psql "ALTER TABLE $s.customers ADD COLUMN email text"
src_psql "INSERT INTO $s.customers VALUES (2, 'bob', 'bob@example.com')"
src_psql "ALTER TABLE $s.customers ADD COLUMN score int DEFAULT 0"
src_psql "INSERT INTO $s.customers VALUES (3, 'cy', 'cy@example.com', 7)"
src_psql "ALTER TABLE $s.orders ADD COLUMN amount numeric(10,2)"
src_psql "INSERT INTO $s.orders VALUES (2, 2, 'second', 12.50)"
src_psql "CREATE INDEX CONCURRENTLY customers_email_idx ON $s.customers (email)"
src_psql "INSERT INTO $s.customers VALUES (4, 'di', 'di@example.com', 1)"
src_psql "CREATE UNIQUE INDEX orders_note_uq ON $s.orders (note) WHERE note IS NOT NULL"
src_psql "INSERT INTO $s.orders VALUES (3, 3, 'third', 3.00)"
src_psql "ALTER TABLE $s.orders ALTER COLUMN amount SET DEFAULT 1.50"
src_psql "INSERT INTO $s.orders (id, customer_id, note) VALUES (4, 1, 'fourth')"
src_psql "ALTER TABLE $s.customers ALTER COLUMN name TYPE varchar(100)"
src_psql "INSERT INTO $s.customers VALUES (5, repeat('e', 100), 'e@example.com', 2)"
src_psql "ALTER TABLE $s.customers RENAME COLUMN score TO points"
src_psql "INSERT INTO $s.customers (id, name, points) VALUES (6, 'fay', 40)"
src_psql "DROP INDEX CONCURRENTLY $s.customers_email_idx"
src_psql "INSERT INTO $s.customers VALUES (7, 'gus', 'gus@example.com', 3)"
src_psql "ALTER TABLE $s.orders DROP COLUMN note"
src_psql "INSERT INTO $s.orders VALUES (5, 2, 5.55)"
# a schema change between the rows of one transaction
src_psql "BEGIN; INSERT INTO $s.orders VALUES (6, 3, 6.00); ALTER TABLE $s.orders ADD COLUMN shipped boolean NOT NULL DEFAULT false; INSERT INTO $s.orders VALUES (7, 3, 7.00, true); COMMIT"
# two schema changes (and a row) in one query string, with search_path
src_psql "SET search_path TO $s, public; ALTER TABLE customers ADD COLUMN tier text DEFAULT 'basic'; INSERT INTO customers VALUES (8, 'hal', NULL, 0, 'gold'); CREATE INDEX customers_tier_idx ON customers (tier)"
# constraints
src_psql "ALTER TABLE $s.orders ADD CONSTRAINT orders_amount_nonneg CHECK (amount >= 0)"
src_psql "ALTER TABLE $s.orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES $s.customers (id)"
src_psql "INSERT INTO $s.orders VALUES (8, 8, 8.00, false)"
# a table created in the group's schema, filled, and one created and dropped
src_psql "CREATE TABLE $s.fresh (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v text DEFAULT 'new')"
src_psql "INSERT INTO $s.fresh (v) VALUES ('one'), (DEFAULT)"
src_psql "CREATE TABLE $s.gone (id int PRIMARY KEY); INSERT INTO $s.gone VALUES (1)"
src_psql "DROP TABLE $s.gone"
# DDL outside the group
src_psql "ALTER TABLE ${s}_x.outside ADD COLUMN extra int; CREATE INDEX outside_v_idx ON ${s}_x.outside (v); INSERT INTO ${s}_x.outside VALUES (1, 'x', 1)"
src_psql "INSERT INTO $s.logs VALUES (1, 'marker')"

tgt_has() { [ "$(tgt_psql "SELECT count(*) FROM $s.$1 WHERE id = $2")" = 1 ]; }
if wait_until 60 tgt_has logs 1; then
    ok "the worker applied every change up to the last"
else
    not_ok "the worker applied every change up to the last"
    dump_bg repl
    dump_bg wpg
fi

columns_sql="SELECT table_name, ordinal_position, column_name, data_type, character_maximum_length, numeric_precision, numeric_scale, column_default, is_nullable FROM information_schema.columns WHERE table_schema = '$s' AND table_name IN ('customers', 'orders', 'fresh') ORDER BY 1, 2"
indexes_sql="SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = '$s' AND tablename IN ('customers', 'orders', 'fresh') ORDER BY 1"
check_eq "columns, types and defaults are equal" "$(src_psql "$columns_sql")" "$(tgt_psql "$columns_sql")"
constraints_sql="SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = '$s'::regnamespace ORDER BY 1, 2"
check_eq "constraints are equal" "$(src_psql "$constraints_sql")" "$(tgt_psql "$constraints_sql")"
check_eq "indexes are equal" "$(src_psql "$indexes_sql")" "$(tgt_psql "$indexes_sql")"
check_eq "the target has the unique partial index and not the dropped one" \
    "customers_pkey customers_tier_idx orders_pkey" \
    "$(tgt_psql "SELECT indexname FROM pg_indexes WHERE schemaname = '$s' AND tablename IN ('customers', 'orders') ORDER BY 1" | xargs)"
rows_sql() { echo "SELECT md5(coalesce(string_agg(row_to_json(t)::text, ',' ORDER BY id), '')) FROM $s.$1 t"; }
for t in customers orders fresh; do
    check_eq "every row of $t is equal" "$(src_psql "$(rows_sql $t)")" "$(tgt_psql "$(rows_sql $t)")"
done
check_eq "rows after each change carry the new shape" \
    "6|fay||40|basic 8|hal||0|gold" \
    "$(tgt_psql "SELECT id, name, email, points, tier FROM $s.customers WHERE id IN (6, 8) ORDER BY id" | xargs)"
check_eq "the default set on the source came with the row" "4|1.50|f" \
    "$(tgt_psql "SELECT id, amount, shipped FROM $s.orders WHERE id = 4")"
check_eq "a table created in the group's schema came with its rows; a dropped one is gone" \
    "fresh logs orders customers" \
    "$(tgt_psql "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '$s' AND c.relkind = 'r' ORDER BY c.relname = 'customers', c.relname = 'orders', c.relname = 'logs', c.relname" | xargs)"
check_eq "DDL outside the group did not reach the target" "id v" \
    "$(tgt_psql "SELECT column_name FROM information_schema.columns WHERE table_schema = '${s}_x' AND table_name = 'outside' ORDER BY ordinal_position" | xargs)"
check_eq "nor did its index" "outside_pkey" \
    "$(tgt_psql "SELECT indexname FROM pg_indexes WHERE schemaname = '${s}_x' AND tablename = 'outside'" | xargs)"
check "the CONCURRENTLY statements ran outside a transaction" \
    grep -q "applied DROP INDEX of \"$s\".\"customers\"" "$TEST_TMP/wpg.err"

# a schema change the target refuses: dead letters, the table's later
# changes set aside, the other tables flow on
tgt_psql "ALTER TABLE $s.logs ADD COLUMN level int"
src_psql "ALTER TABLE $s.logs ADD COLUMN level text"
src_psql "INSERT INTO $s.logs VALUES (2, 'after', 'warn')"
src_psql "INSERT INTO $s.customers (id, name) VALUES (9, 'ivy')"
dlq_count_ge() { [ "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")" -ge "$1" ]; }
check "the refused schema change and the row after it went to the dead letters" wait_until 30 dlq_count_ge 2
check "the other tables flow on" wait_until 30 tgt_has customers 9
check_eq "the target records the blocked table with the reason" \
    "logs|ALTER TABLE $s.logs ADD COLUMN level text" \
    "$(tgt_psql "SELECT table_name, statement FROM tributary.blocked WHERE group_name = '$group'")"
check "the reason names the table and the error" \
    bash -c "grep 'sent to dead letters' '$TEST_TMP/wpg.err' | grep logs | grep -q 'already exists'"
check_eq "the row after it was not applied" 0 "$(tgt_psql "SELECT count(*) FROM $s.logs WHERE id = 2")"
# the dead letters can be listed, with their reasons
pg_target=(--target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app --target-user app)
"$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" "${pg_target[@]}" \
    --list-dead-letters >"$TEST_TMP/dl.out" 2>"$TEST_TMP/dl.err"
check_eq "the list shows the refused change and the row set aside, with their reasons" \
    "DDL ALTER TABLE $s.logs ADD COLUMN level text already exists
INSERT after set aside" \
    "$(jq -r 'select(.table == "logs") | "\(.op) \(.ddl // .row.line) \(.dead_letter.error | if test("already exists") then "already exists" elif test("set aside|failed on the target earlier") then "set aside" else . end)"' "$TEST_TMP/dl.out")"
# the operator removes what made it fail, sets the table free and replays
# the dead letters: the schema change, then the row, in order
tgt_psql "ALTER TABLE $s.logs DROP COLUMN level; DELETE FROM tributary.blocked WHERE group_name = '$group'"
rc=0
"$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" "${pg_target[@]}" \
    --replay-dead-letters >"$TEST_TMP/replay.out" 2>&1 || rc=$?
check_eq "the replay exits 0" 0 "$rc"
check_eq "the schema change and the row set aside are applied" "2|after|warn" \
    "$(tgt_psql "SELECT id, line, level FROM $s.logs WHERE id = 2")"
check_eq "the replayed dead letters are gone from the stream" 0 \
    "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")"
src_psql "INSERT INTO $s.logs VALUES (3, 'freed', 'info')"
check "once set free, the table's changes flow again" wait_until 30 tgt_has logs 3
check_eq "columns of the repaired table equal the source's" \
    "$(src_psql "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = '$s' AND table_name = 'logs' ORDER BY ordinal_position")" \
    "$(tgt_psql "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = '$s' AND table_name = 'logs' ORDER BY ordinal_position")"

stop_bg wpg
stop_bg repl

# --cleanup: a dry run lists, --yes removes
"$BIN/replicator" --group "$group" --cleanup $(repl_args) >"$TEST_TMP/dry.out" 2>&1
check "the dry run lists the event triggers" grep -q "would drop event trigger \"${slot}_ddl_end\"" "$TEST_TMP/dry.out"
check_eq "the dry run removed nothing" 3 \
    "$(src_psql "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE '${slot}_ddl_%'")"
rc=0
# shellcheck disable=SC2046
"$BIN/replicator" --group "$group" --cleanup --yes $(repl_args) >"$TEST_TMP/cleanup.out" 2>&1 || rc=$?
check_eq "cleanup exits 0" 0 "$rc"
check_eq "no event trigger, function, slot or publication of the group is left" "0 0 0 0" \
    "$(src_psql "SELECT (SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE '${slot}_%'), (SELECT count(*) FROM pg_proc WHERE proname LIKE '${slot}_%'), (SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'), (SELECT count(*) FROM pg_publication WHERE pubname = '$slot')" | tr '|' ' ')"
streams_of_group() {
    curl -s -m 5 "$NATS_MONITOR/jsz?streams=true" |
        jq -r --arg g "$group" '[.account_details[]?.stream_detail[]? | .name | select(contains($g))] | length'
}
check_eq "the group's streams and state bucket are gone" 0 "$(streams_of_group)"
