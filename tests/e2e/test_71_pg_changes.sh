#!/usr/bin/env bash
# The postgres sink through every kind of change: unchanged TOAST values
# (a 1 MB jsonb, a 20 kB text) survive updates of other columns; NULL
# updates; deletes by primary key, composite key, a unique index used as
# replica identity, and REPLICA IDENTITY FULL (of two equal rows only one
# goes); key changes; TRUNCATE; identifiers that need quoting; and 4
# concurrent transactions of parent and child rows that land whole and in
# order; inserted rows the target has already (COPY refuses them, and they
# are upserted); runs of whole-row updates (one MERGE each) of which some
# find no row on the target and insert it, by a quoted composite key,
# with a generated column, and of a table that is all key. Source and
# target must end equal, table by table.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

group=$(unique_name pgchg-)
slot=tributary_${group//-/_}
s=$(unique_name chg_)
export TRIBUTARY_PASSWORD=$APP_PASSWORD
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD

qt="\"$s Odd \"\"Name\"\" é\""
ddl="
CREATE SCHEMA $s;
CREATE TABLE $s.toast (id int PRIMARY KEY, small text, big jsonb, long text, n int);
CREATE TABLE $s.ck (a int, b text, v text, PRIMARY KEY (a, b));
CREATE TABLE $s.ri (u uuid NOT NULL, v text, w int);
CREATE UNIQUE INDEX ${s}_ri_u ON $s.ri (u);
ALTER TABLE $s.ri REPLICA IDENTITY USING INDEX ${s}_ri_u;
CREATE TABLE $s.full_ (a int, b text, j json, p point);
ALTER TABLE $s.full_ REPLICA IDENTITY FULL;
CREATE TABLE $s.kc (id int PRIMARY KEY, v text);
CREATE TABLE $s.tr (id int PRIMARY KEY);
CREATE TABLE $s.pre (id int PRIMARY KEY, v text);
CREATE TABLE $s.mg (\"Key\" int, c0 text, g int GENERATED ALWAYS AS (n * 2) STORED, n int, \"Part\" text, PRIMARY KEY (\"Part\", \"Key\"));
CREATE TABLE $s.ko (a int, b text, PRIMARY KEY (a, b));
CREATE TABLE $s.$qt (\"Select\" int PRIMARY KEY, \"Col Ümlaut\" text, \"from\" text, \"x\"\"y\" int);
CREATE TABLE $s.parent (id int PRIMARY KEY, version int NOT NULL, nchildren int NOT NULL);
CREATE TABLE $s.child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES $s.parent (id) DEFERRABLE INITIALLY DEFERRED, n int NOT NULL);
"
src_psql "$ddl"
tgt_psql "$ddl"
src_psql "ALTER SCHEMA $s OWNER TO app"
for t in toast ck ri full_ kc tr pre mg ko "$qt" parent child; do src_psql "ALTER TABLE $s.$t OWNER TO app"; done
on_exit "src_psql \"SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots WHERE slot_name = '$slot'\" >/dev/null 2>&1; src_psql 'DROP PUBLICATION IF EXISTS $slot; DROP SCHEMA $s CASCADE' >/dev/null 2>&1"
on_exit "tgt_psql 'DROP SCHEMA $s CASCADE' >/dev/null 2>&1"

# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --schema "$s" $(repl_args)
start_bg work "$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" \
    --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" \
    --target-dbname app --target-user app --batch-size 50 --batch-wait 50ms
wait_until 30 slot_active || not_ok "replicator streams"

# TOAST: big values, then updates of other columns only
src_psql "INSERT INTO $s.toast SELECT 1, 's1', (SELECT jsonb_object_agg('k' || g, md5(g::text)) FROM generate_series(1, 25000) g), (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 640) g), 1"
src_psql "INSERT INTO $s.toast VALUES (2, 's2', '{\"a\": 1}', 'short', 2)"
src_psql "UPDATE $s.toast SET small = 'changed', n = n + 10"
src_psql "UPDATE $s.toast SET small = NULL WHERE id = 1"
src_psql "UPDATE $s.toast SET n = NULL, long = NULL WHERE id = 2"
# composite key
src_psql "INSERT INTO $s.ck VALUES (1, 'x', 'a'), (1, 'y', 'b'), (2, 'x', 'c')"
src_psql "UPDATE $s.ck SET v = 'B' WHERE a = 1 AND b = 'y'"
src_psql "UPDATE $s.ck SET b = 'z' WHERE a = 2"
src_psql "DELETE FROM $s.ck WHERE a = 1 AND b = 'x'"
# unique index as replica identity
src_psql "INSERT INTO $s.ri VALUES ('11111111-1111-1111-1111-111111111111', 'one', 1), ('22222222-2222-2222-2222-222222222222', 'two', 2)"
src_psql "UPDATE $s.ri SET v = 'uno', w = NULL WHERE w = 1"
src_psql "UPDATE $s.ri SET u = '33333333-3333-3333-3333-333333333333' WHERE w = 2"
src_psql "DELETE FROM $s.ri WHERE v = 'uno'"
# REPLICA IDENTITY FULL without key, duplicate rows and types without "="
src_psql "INSERT INTO $s.full_ VALUES (1, 'dup', '{\"x\": 1}', '(1,2)'), (1, 'dup', '{\"x\": 1}', '(1,2)'), (2, NULL, NULL, NULL), (3, 'three', '[1, 2]', '(0,0)')"
src_psql "DELETE FROM $s.full_ WHERE ctid = (SELECT min(ctid) FROM $s.full_ WHERE a = 1)"
src_psql "UPDATE $s.full_ SET b = 'was null' WHERE a = 2"
src_psql "UPDATE $s.full_ SET j = '{\"y\": 2}' WHERE a = 3"
# key changes
src_psql "INSERT INTO $s.kc VALUES (1, 'a'), (2, 'b')"
src_psql "UPDATE $s.kc SET id = 10 WHERE id = 1"
src_psql "UPDATE $s.kc SET id = id + 100"
# the same rows updated again and again in one transaction
src_psql "BEGIN; UPDATE $s.kc SET v = 'u1'; UPDATE $s.kc SET v = 'u2'; UPDATE $s.kc SET v = v || '!'; COMMIT"
# truncate
src_psql "INSERT INTO $s.tr SELECT generate_series(1, 10)"
src_psql "TRUNCATE $s.tr"
src_psql "INSERT INTO $s.tr VALUES (42)"
# inserts of rows the target has already, with other values, once the
# target has caught up, so that they make a batch of inserts alone
wait_until 60 eval '[ "$(tgt_psql "SELECT count(*) FROM '"$s"'.tr WHERE id = 42")" = 1 ]' ||
    not_ok "the changes before the inserts arrived"
tgt_psql "INSERT INTO $s.pre VALUES (2, 'target had it'), (3, 'target had it too')"
src_psql "INSERT INTO $s.pre SELECT g, 'source ' || g FROM generate_series(1, 4) g"
src_psql "INSERT INTO $s.pre VALUES (5, 'after')"
wait_until 60 eval '[ "$(tgt_psql "SELECT count(*) FROM '"$s"'.pre WHERE id = 5")" = 1 ]' ||
    not_ok "the inserts arrived"
# whole-row updates in runs, some of whose rows the target lacks
src_psql "INSERT INTO $s.mg (\"Key\", c0, n, \"Part\") SELECT g, 'v' || g, g, CASE WHEN g % 2 = 0 THEN 'even' ELSE 'odd' END FROM generate_series(1, 120) g"
src_psql "INSERT INTO $s.ko VALUES (1, 'a'), (2, 'b'), (3, 'c')"
wait_until 60 eval '[ "$(tgt_psql "SELECT count(*) FROM '"$s"'.mg")" = 120 ]' ||
    not_ok "the rows to update arrived"
tgt_psql "DELETE FROM $s.mg WHERE \"Key\" % 10 = 3"
src_psql "UPDATE $s.mg SET c0 = c0 || '!', n = n + 1"
src_psql "UPDATE $s.ko SET a = a"
# identifiers that need quoting
src_psql "INSERT INTO $s.$qt VALUES (1, 'ü', 'from', 7), (2, NULL, 'x', NULL)"
src_psql "UPDATE $s.$qt SET \"Col Ümlaut\" = 'ö' WHERE \"Select\" = 2"
src_psql "DELETE FROM $s.$qt WHERE \"Select\" = 1"

# 4 concurrent transactions: a parent, its children, then the parent's update
loaders=()
for c in 1 2 3 4; do
    (
        for i in $(seq 1 15); do
            p=$((c * 1000 + i))
            src_psql "BEGIN;
              INSERT INTO $s.child VALUES ($p * 10 + 1, $p, 1);
              INSERT INTO $s.parent VALUES ($p, 1, 0);
              SELECT pg_sleep(random() * 0.01);
              INSERT INTO $s.child VALUES ($p * 10 + 2, $p, 2), ($p * 10 + 3, $p, 3);
              UPDATE $s.parent SET version = version + 1, nchildren = (SELECT count(*) FROM $s.child WHERE parent_id = $p) WHERE id = $p;
              COMMIT;" >/dev/null
        done
    ) &
    loaders+=($!)
done
wait "${loaders[@]}"
src_psql "INSERT INTO $s.tr VALUES (999)"

if wait_until 90 eval '[ "$(tgt_psql "SELECT count(*) FROM '"$s"'.tr WHERE id = 999")" = 1 ]'; then
    ok "the last change arrived"
else
    not_ok "the last change arrived"
    dump_bg work
fi
check "inserts of rows the target had were refused by COPY and upserted" \
    grep -q "COPY of .* rows refused (.*SQLSTATE 23505); applying them as upserts" "$TEST_TMP/work.err"
tables=(toast ck ri full_ kc tr pre mg ko "$qt" parent child)
for t in "${tables[@]}"; do
    q="SELECT md5(string_agg(r, ',' ORDER BY r)) FROM (SELECT row_to_json(x)::text AS r FROM $s.$t x) y"
    check_eq "table $t equal on source and target" "$(src_psql "$q")" "$(tgt_psql "$q")"
done
check_eq "1 MB jsonb kept through updates of other columns" \
    "$(src_psql "SELECT md5(big::text) || length(long) FROM $s.toast WHERE id = 1")" \
    "$(tgt_psql "SELECT md5(big::text) || length(long) FROM $s.toast WHERE id = 1")"
check_eq "REPLICA IDENTITY FULL: of two equal rows one is left" 1 "$(tgt_psql "SELECT count(*) FROM $s.full_ WHERE a = 1")"
check_eq "every parent has its 3 children at version 2" 60 \
    "$(tgt_psql "SELECT count(*) FROM $s.parent WHERE version = 2 AND nchildren = 3")"

rc=0; stop_bg repl || rc=$?
check_eq "replicator exits 0" 0 "$rc"
# every statement was taken as sent: none failed and went again row by
# row (a multi-row statement whose binary arrays the target could not read
# would, and still end with equal rows)
check_eq "the target took every multi-row statement as sent" 0 \
    "$(grep -c "could not write to sink" "$TEST_TMP/work.err" || true)"
rc=0; stop_bg work || rc=$?
check_eq "worker exits 0" 0 "$rc"
