#!/usr/bin/env bash
# --target-sync-schema: the worker creates the group's tables on a target
# that lacks them, from the source's catalogs (--source-* flags), with their
# types (enum and array of it, domain, composite, hstore), composite primary
# key and unique index as replica identity, but not a table outside the
# group's --tables. Definitions and rows must match, and a restart with the
# flag must go on without an error. Then a foreign key that only the target
# has: --target-disable-foreign-keys applies a child without its parent;
# without the flag that row becomes a dead letter and later rows arrive.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

group=$(unique_name pgsync-)
slot=tributary_${group//-/_}
s=$(unique_name sync_)
export TRIBUTARY_PASSWORD=$APP_PASSWORD
export TRIBUTARY_SOURCE_PASSWORD=$APP_PASSWORD
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD

# the schema exists on the source only
src_psql "
CREATE SCHEMA $s;
CREATE TYPE $s.mood AS ENUM ('sad', 'ok', 'happy', 'très bien');
CREATE DOMAIN $s.posint AS numeric(10,2) CHECK (VALUE > 0);
CREATE TYPE $s.pair AS (label text, m $s.mood, n numeric);
CREATE TYPE $s.only_other AS ENUM ('x', 'y');
CREATE TABLE $s.items (
  id bigint PRIMARY KEY, m $s.mood NOT NULL, ms $s.mood[], d $s.posint,
  p $s.pair, h hstore, note varchar(40), ts timestamptz(3),
  amount numeric(12,3) NOT NULL DEFAULT 0);
CREATE TABLE $s.ck (a int, b text, v text, PRIMARY KEY (a, b));
CREATE TABLE $s.ri (u uuid NOT NULL, v text, w int);
CREATE UNIQUE INDEX ri_u ON $s.ri (u);
ALTER TABLE $s.ri REPLICA IDENTITY USING INDEX ri_u;
CREATE TABLE $s.parent (id int PRIMARY KEY, name text);
CREATE TABLE $s.child (id int PRIMARY KEY, parent_id int NOT NULL, n int);
CREATE TABLE $s.other (id int PRIMARY KEY, o $s.only_other);
ALTER SCHEMA $s OWNER TO app;
"
tables=(items ck ri parent child)
for t in "${tables[@]}" other; do src_psql "ALTER TABLE $s.$t OWNER TO app"; done
on_exit "src_psql \"SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots WHERE slot_name = '$slot'\" >/dev/null 2>&1; src_psql 'DROP PUBLICATION IF EXISTS $slot; DROP SCHEMA $s CASCADE' >/dev/null 2>&1"
on_exit "tgt_psql \"DROP SCHEMA IF EXISTS $s CASCADE; DELETE FROM tributary.positions WHERE group_name = '$group'\" >/dev/null 2>&1"

check_eq "the target starts without the schema" 0 \
    "$(tgt_psql "SELECT count(*) FROM pg_namespace WHERE nspname = '$s'")"

n_work=0
work=''
start_work() {
    n_work=$((n_work + 1))
    work=work$n_work
    start_bg "$work" "$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" \
        --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" \
        --target-dbname app --target-user app --batch-size 100 --batch-wait 50ms \
        --retry-initial-wait 200ms --retry-max-wait 2s --target-sync-schema \
        --source-host "$SRC_PGHOST" --source-port "$SRC_PGPORT" \
        --source-dbname app --source-user app "$@"
}
dlq_count() { nats_stream_msgs "TRIBUTARY_DLQ_$group"; }
dlq_count_ge() { [ "$(dlq_count)" -ge "$1" ]; }
# arrived TABLE ID: the row is on the target
arrived() {
    [ "$(tgt_psql "SELECT count(*) FROM $s.$1 WHERE id = $2" 2>/dev/null)" = 1 ]
}
rows_sum() {
    "$1" "SELECT count(*) || ' ' || coalesce(md5(string_agg(r, ',' ORDER BY r)), 'empty') FROM (SELECT row_to_json(x)::text AS r FROM $s.$2 x ${3:-}) y"
}
cols() {
    "$1" "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute WHERE attrelid = '$s.$2'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
}
indexes() {
    "$1" "SELECT pg_get_indexdef(indexrelid), indisprimary, indisreplident FROM pg_index WHERE indrelid = '$s.$2'::regclass ORDER BY 1"
}
# every definition that --target-sync-schema should copy, as text
definitions() {
    local t
    for t in "${tables[@]}"; do
        echo "== $t"
        cols "$1" "$t"
        indexes "$1" "$t"
        "$1" "SELECT relreplident FROM pg_class WHERE oid = '$s.$t'::regclass"
    done
    echo "== types"
    "$1" "SELECT enum_range(NULL::$s.mood)"
    "$1" "SELECT format_type(typbasetype, typtypmod), typnotnull, (SELECT string_agg(pg_get_constraintdef(c.oid), ', ') FROM pg_constraint c WHERE c.contypid = t.oid) FROM pg_type t WHERE oid = '$s.posint'::regtype"
    "$1" "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = (SELECT typrelid FROM pg_type WHERE oid = '$s.pair'::regtype) AND attnum > 0 ORDER BY attnum"
}

# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --schema "$s" \
    --tables "$(IFS=,; echo "${tables[*]}")" $(repl_args)
wait_until 30 slot_active || not_ok "replicator streams"

# changes before the worker's first start
src_psql "INSERT INTO $s.items VALUES
  (1, 'happy', '{sad,ok,NULL}', 12.5, ROW('a, \"b\"', 'ok', 1.5), 'a=>1, \"b c\"=>NULL', 'first', '2024-01-02 03:04:05.678+02', 3.5),
  (2, 'sad', NULL, NULL, NULL, NULL, NULL, NULL, DEFAULT),
  (3, 'très bien', '{}', 0.01, ROW(NULL, NULL, NULL), '', 'three', 'infinity', -1)"
src_psql "INSERT INTO $s.ck VALUES (1, 'x', 'a'), (1, 'y', 'b'), (2, 'x', 'c')"
src_psql "INSERT INTO $s.ri VALUES ('11111111-1111-1111-1111-111111111111', 'one', 1), ('22222222-2222-2222-2222-222222222222', 'two', 2)"
src_psql "INSERT INTO $s.parent VALUES (1, 'p1'), (2, 'p2')"
src_psql "INSERT INTO $s.child VALUES (1, 1, 1), (2, 1, 2), (3, 2, 3)"
src_psql "INSERT INTO $s.other VALUES (1, 'x')"

start_work
if wait_until 30 arrived child 3; then
    ok "the first changes arrived in tables the worker created"
else
    not_ok "the first changes arrived in tables the worker created"
    dump_bg "$work"
fi
check "the worker says it created the tables" \
    grep -q "created the tables of publication \"$slot\" on the target" "$TEST_TMP/$work.err"

# changes with the worker running
src_psql "UPDATE $s.items SET ms = array_append(ms, 'happy'), p.n = 2.5, h = h || 'c=>3', note = 'changed' WHERE id = 1"
src_psql "UPDATE $s.items SET m = 'ok', d = 7, p = ROW('new', 'happy', NULL), h = 'k=>v' WHERE id = 2"
src_psql "DELETE FROM $s.items WHERE id = 3"
src_psql "UPDATE $s.ck SET v = 'B' WHERE a = 1 AND b = 'y'"
src_psql "UPDATE $s.ck SET b = 'z' WHERE a = 2"
src_psql "DELETE FROM $s.ck WHERE a = 1 AND b = 'x'"
src_psql "UPDATE $s.ri SET v = 'uno', w = NULL WHERE w = 1"
src_psql "UPDATE $s.ri SET u = '33333333-3333-3333-3333-333333333333' WHERE w = 2"
src_psql "DELETE FROM $s.ri WHERE v = 'uno'"
src_psql "INSERT INTO $s.ri VALUES ('44444444-4444-4444-4444-444444444444', 'four', 4)"
src_psql "UPDATE $s.child SET n = n * 10"
src_psql "INSERT INTO $s.other VALUES (2, 'y')"
src_psql "INSERT INTO $s.items (id, m) VALUES (99, 'ok')"
if wait_until 30 arrived items 99; then
    ok "the last change arrived"
else
    not_ok "the last change arrived"
    dump_bg "$work"
fi

check_eq "the target has the same columns, types, keys, indexes, replica identities and types" \
    "$(definitions src_psql)" "$(definitions tgt_psql 2>&1)"
for t in "${tables[@]}"; do
    check_eq "table $t equal on source and target" "$(rows_sum src_psql "$t")" "$(rows_sum tgt_psql "$t")"
done
check_eq "the comparison compares rows: items, ck, ri, parent, child" "3 2 2 2 3" \
    "$(for t in "${tables[@]}"; do tgt_psql "SELECT count(*) FROM $s.$t"; done | tr '\n' ' ' | sed 's/ $//')"
check_eq "the table outside the group's --tables is not created, nor the type only it uses" "t t" \
    "$(tgt_psql "SELECT to_regclass('$s.other') IS NULL, to_regtype('$s.only_other') IS NULL" | tr '|' ' ')"
check_eq "an array of the enum, the composite and the hstore arrived as they are" \
    "$(src_psql "SELECT ms::text, p::text, h::text FROM $s.items WHERE id = 1")" \
    "$(tgt_psql "SELECT ms::text, p::text, h::text FROM $s.items WHERE id = 1")"

# ---- started again with --target-sync-schema: every object exists
rc=0; stop_bg "$work" || rc=$?
check_eq "worker exits 0" 0 "$rc"
defs_before=$(definitions tgt_psql)
start_work
src_psql "INSERT INTO $s.items (id, m, ms) VALUES (100, 'happy', '{happy}')"
if wait_until 30 arrived items 100; then
    ok "a worker started again with --target-sync-schema applies the next change"
else
    not_ok "a worker started again with --target-sync-schema applies the next change"
    dump_bg "$work"
fi
check "the worker started again is running" bg_alive "$work"
check "the worker started again logged no warning or error" \
    bash -c "! grep -E '^[^ ]+ (warn|error) ' '$TEST_TMP/$work.err'"
check_eq "the definitions on the target did not change" "$defs_before" "$(definitions tgt_psql)"

# ---- a foreign key that only the target has
tgt_psql "ALTER TABLE $s.child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES $s.parent (id)"
rc=0; stop_bg "$work" || rc=$?
check_eq "worker exits 0" 0 "$rc"
start_work --target-disable-foreign-keys
src_psql "INSERT INTO $s.child VALUES (10, 999, 1)"
src_psql "INSERT INTO $s.items (id, m) VALUES (101, 'ok')"
if wait_until 30 arrived items 101; then
    ok "the change after the child without a parent arrived (--target-disable-foreign-keys)"
else
    not_ok "the change after the child without a parent arrived (--target-disable-foreign-keys)"
    dump_bg "$work"
fi
check_eq "with --target-disable-foreign-keys, the child without a parent is applied" 1 \
    "$(tgt_psql "SELECT count(*) FROM $s.child WHERE id = 10 AND parent_id = 999")"
check_eq "and nothing went to the dead letters" 0 "$(dlq_count)"
rc=0; stop_bg "$work" || rc=$?
check_eq "worker exits 0" 0 "$rc"

start_work
msgs=$(nats_stream_msgs "TRIBUTARY_$group")
src_psql "INSERT INTO $s.child VALUES (11, 998, 1)"
src_psql "INSERT INTO $s.parent VALUES (5, 'p5')"
src_psql "BEGIN; INSERT INTO $s.child VALUES (12, 5, 1); UPDATE $s.child SET n = 42 WHERE id = 1; COMMIT"
src_psql "INSERT INTO $s.items (id, m) VALUES (102, 'ok')"
# 5 events; the rejected one may be tried a few times before it is set
# aside, so this waits up to 60 s, unless the consumer has nothing left
# that is not acknowledged (then nothing more will happen)
stream_has() { [ "$(nats_stream_msgs "TRIBUTARY_$group")" -ge "$1" ]; }
# (the two changes of one transaction and table may share a message)
wait_until 30 stream_has $((msgs + 4)) || not_ok "the 5 events are in the stream"
consumer_done() {
    local json
    json=$(curl -s -m 5 "$NATS_MONITOR/jsz?consumers=true") || return 1
    [ "$(jq -r --arg s "TRIBUTARY_$group" --arg c "postgres_$group" \
        '[.account_details[]?.stream_detail[]? | select(.name == $s) | .consumer_detail[]?
          | select(.name == $c) | .num_pending + .num_ack_pending] | first // -1' <<<"$json")" = 0 ]
}
settled() { { dlq_count_ge 1 && arrived items 102; } || consumer_done; }
wait_until 60 settled || true
sleep 0.5
if dlq_count_ge 1; then
    ok "without --target-disable-foreign-keys, the child without a parent goes to the dead letters"
else
    not_ok "without --target-disable-foreign-keys, the child without a parent goes to the dead letters" \
        "dead letters: $(dlq_count); consumer done: $(consumer_done && echo yes || echo no)"
    dump_bg "$work"
fi
if wait_until 5 arrived items 102; then
    ok "the changes after the dead letter arrived"
else
    not_ok "the changes after the dead letter arrived"
fi
check_eq "the child without a parent is not on the target, the rows after it are" "0 1 42" \
    "$(tgt_psql "SELECT (SELECT count(*) FROM $s.child WHERE id = 11), (SELECT count(*) FROM $s.child WHERE id = 12), (SELECT n FROM $s.child WHERE id = 1)" | tr '|' ' ')"
check_eq "exactly one dead letter" 1 "$(dlq_count)"
check "the worker says why the row was set aside" \
    grep -qE 'sent to dead letters .*"child".*foreign key' "$TEST_TMP/$work.err"
for t in items ck ri parent; do
    check_eq "table $t equal on source and target at the end" "$(rows_sum src_psql "$t")" "$(rows_sum tgt_psql "$t")"
done
check_eq "table child equal on source and target at the end, but for the dead letters" \
    "$(rows_sum src_psql child "WHERE id NOT IN (11, 13)")" "$(rows_sum tgt_psql child)"

# ---- the same foreign key, deferred: it fails only at COMMIT
tgt_psql "ALTER TABLE $s.child ALTER CONSTRAINT child_parent_fk DEFERRABLE INITIALLY DEFERRED"
src_psql "INSERT INTO $s.child VALUES (13, 997, 1)"
sleep 1
src_psql "BEGIN; INSERT INTO $s.child VALUES (14, 6, 1); INSERT INTO $s.parent VALUES (6, 'p6'); COMMIT"
src_psql "INSERT INTO $s.items (id, m) VALUES (103, 'ok')"
if wait_until 60 arrived items 103; then
    ok "a deferred foreign key that fails at COMMIT does not stop the group"
else
    not_ok "a deferred foreign key that fails at COMMIT does not stop the group"
    dump_bg "$work"
fi
check_eq "the child without a parent is set aside, the child before its parent in one transaction is not" \
    "0 1 1 2" \
    "$(tgt_psql "SELECT (SELECT count(*) FROM $s.child WHERE id = 13), (SELECT count(*) FROM $s.child WHERE id = 14), (SELECT count(*) FROM $s.parent WHERE id = 6)" | tr '|' ' ') $(dlq_count)"

rc=0; stop_bg "$work" || rc=$?
check_eq "worker exits 0" 0 "$rc"
rc=0; stop_bg repl || rc=$?
check_eq "replicator exits 0" 0 "$rc"
check "no sanitizer or crash report in the logs" \
    bash -c "! grep -qE 'Sanitizer|runtime error' '$TEST_TMP'/work*.err '$TEST_TMP'/repl.err"
