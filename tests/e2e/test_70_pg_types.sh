#!/usr/bin/env bash
# The postgres sink writes every built-in type back exactly: a table with
# one column per type (arrays with NULL elements and two dimensions, enums,
# domains, composite and range types, hstore, xml ...) is inserted, updated
# and deleted on the source, and each target row must equal its source row
# (md5 of row_to_json, row for row).
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

group=$(unique_name pgtypes-)
table=$(unique_name types_)
slot=tributary_${group//-/_}
sfx=${table#types_}
export TRIBUTARY_PASSWORD=$APP_PASSWORD
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD

# the same definitions on both sides
ddl="
CREATE TYPE mood_$sfx AS ENUM ('sad', 'ok', 'happy', 'très bien');
CREATE DOMAIN posint_$sfx AS numeric(12,3) CHECK (VALUE > 0);
CREATE TYPE pair_$sfx AS (label text, m mood_$sfx, n numeric);
CREATE TYPE floatrange_$sfx AS RANGE (subtype = float8);
CREATE TABLE $table (
  id int PRIMARY KEY,
  i2 smallint, i4 integer, i8 bigint, num numeric, num2 numeric(10,2),
  f4 real, f8 double precision,
  t text, vc varchar(20), ch char(5), nm name,
  by bytea, b boolean,
  d date, tm time, ttz timetz, ts timestamp, tstz timestamptz(3), iv interval,
  u uuid, js json, jb jsonb,
  ai int[], at text[], a2 int[][], ab bool[], aby bytea[], an numeric[],
  ats timestamptz[], ajb jsonb[],
  mood mood_$sfx, moods mood_$sfx[], dom posint_$sfx, pair pair_$sfx,
  r4 int4range, r8 int8range, rn numrange, rts tsrange, rtstz tstzrange,
  rd daterange, rf floatrange_$sfx,
  inet_ inet, cidr_ cidr, mac macaddr, mac8 macaddr8, mon money,
  bt bit(4), vb varbit,
  pt point, ln line, ls lseg, bx box, pa path, pg polygon, ci circle,
  tsv tsvector, tsq tsquery, x xml, hs hstore, o oid
);"
# a table of the types that COPY loads in binary form
bin=bin_$sfx
bin_ddl="
CREATE TABLE $bin (
  id int PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, num numeric, num2 numeric(10,2),
  f4 real, f8 double precision, t text, vc varchar(20), ch char(5), by bytea, b boolean,
  d date, ts timestamp, tstz timestamptz(3), u uuid, js json, jb jsonb,
  ai int[], a8 bigint[], at text[], ab bool[], aby bytea[], an numeric[], ats timestamptz[],
  ajb jsonb[], ad date[]
);"
src_psql "$ddl $bin_ddl ALTER TABLE $table OWNER TO app; ALTER TABLE $bin OWNER TO app"
tgt_psql "$ddl $bin_ddl"
on_exit "src_psql \"SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots WHERE slot_name = '$slot'\" >/dev/null 2>&1; src_psql 'DROP PUBLICATION IF EXISTS $slot; DROP TABLE IF EXISTS $table, $bin; DROP TYPE IF EXISTS pair_$sfx, mood_$sfx, floatrange_$sfx; DROP DOMAIN IF EXISTS posint_$sfx' >/dev/null 2>&1"
on_exit "tgt_psql 'DROP TABLE IF EXISTS $table, $bin; DROP TYPE IF EXISTS pair_$sfx, mood_$sfx, floatrange_$sfx; DROP DOMAIN IF EXISTS posint_$sfx; DELETE FROM tributary.positions WHERE group_name = '\\''$group'\\''' >/dev/null 2>&1"

# shellcheck disable=SC2046
# the source prints times in a zone half an hour off the hour (and with
# seconds before 1935), which the target must read back to the same instant
start_bg repl env PGTZ=America/St_Johns "$BIN/replicator" --group "$group" --tables "$table,$bin" $(repl_args)
start_bg work "$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" \
    --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" \
    --target-dbname app --target-user app --batch-size 100 --log-level debug
wait_until 30 slot_active || not_ok "replicator streams"

full_row="1, 32767, -2147483648, 9223372036854775807,
  123456789012345678901234567890.123456789012345678901, 12.50,
  3.4028235e38, -0.0,
  E'h\u00e9llo \U0001F600 \u0301 \"quoted\" \\\\ back\\\\slash\ttab\nnewline', 'varchar ü', 'ab', 'a name',
  '\\x00ff10'::bytea, true,
  '2024-02-29', '23:59:59.999999', '12:00:00+05:30', '2024-01-02 03:04:05.678901',
  '2024-01-02 03:04:05.678+02', '1 year 2 mons 3 days 04:05:06.789',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"b\": 1,  \"a\": [1, 2.50, null], \"a\": \"dup\"}',
  '{\"k\": \"v\", \"n\": 1.50, \"nested\": {\"x\": [true, null]}}',
  '{1,NULL,3}', '{\"a b\",NULL,\"quote\\\"d\",\"comma,x\",\"\",\"NULL\"}', '{{1,2},{3,NULL}}',
  '{t,f,NULL}', '{\"\\\\\\\\x01\",NULL}', '{1.5,NaN,NULL}',
  '{\"2024-01-01 00:00:00+00\",infinity}', ARRAY['{\"a\":1}'::jsonb, NULL],
  'très bien', '{sad,happy,NULL}', 42.125, ROW('lbl, \"x\"', 'ok', 3.14),
  '[1,10)', '(,100]', '[1.5,2.5]', '[2024-01-01 00:00,2024-01-02 00:00)',
  '[2024-01-01 00:00+00,)', 'empty', '[0.5,1.5)',
  '192.168.1.5/24', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', '1234.56',
  B'1010', B'110011',
  '(1.5,-2)', '{1,-1,0}', '[(0,0),(1,1)]', '((0,0),(2,3))', '[(0,0),(1,1),(2,0)]',
  '((0,0),(1,1),(1,0))', '<(1,1),2.5>',
  'a fat cat:1 sat:2,3', 'fat & (rat | cat)', '<doc a=\"1\">t&amp;x</doc>',
  'a=>1, \"b c\"=>NULL, \"quote\\\"d\"=>x', 12345"

src_psql "INSERT INTO $table VALUES ($full_row)"
src_psql "INSERT INTO $table (id) VALUES (2)"
src_psql "INSERT INTO $table (id, num, f4, f8, t, at, ai, js, jb, iv, ts, tstz, d, by, x)
  VALUES (3, 'NaN', 'NaN', '-Infinity', '', '{}', '{}', '[]', '{}', '-1 days +00:00:01',
          'infinity', '-infinity', 'infinity', '', '')"
src_psql "INSERT INTO $table (id, f8, f4, num) VALUES (4, 'Infinity', '-0', '-0.000100')"
# updates: every column of row 1 to NULL, row 2 from NULL to values,
# and a key change
src_psql "UPDATE $table SET (i2, i4, i8, num, num2, f4, f8, t, vc, ch, nm, by, b, d, tm, ttz, ts, tstz,
  iv, u, js, jb, ai, at, a2, ab, aby, an, ats, ajb, mood, moods, dom, pair, r4, r8, rn, rts, rtstz,
  rd, rf, inet_, cidr_, mac, mac8, mon, bt, vb, pt, ln, ls, bx, pa, pg, ci, tsv, tsq, x, hs, o)
  = (SELECT i2, i4, i8, num, num2, f4, f8, t, vc, ch, nm, by, b, d, tm, ttz, ts, tstz,
  iv, u, js, jb, ai, at, a2, ab, aby, an, ats, ajb, mood, moods, dom, pair, r4, r8, rn, rts, rtstz,
  rd, rf, inet_, cidr_, mac, mac8, mon, bt, vb, pt, ln, ls, bx, pa, pg, ci, tsv, tsq, x, hs, o
  FROM $table WHERE id = 1) WHERE id = 2"
src_psql "INSERT INTO $table VALUES ($full_row) ON CONFLICT (id) DO NOTHING"
src_psql "UPDATE $table SET id = 5, t = 'moved' WHERE id = 4"
src_psql "INSERT INTO $table (id, t) VALUES (6, 'gone')"
src_psql "DELETE FROM $table WHERE id = 6"
# every row again under a new id, in one transaction: the target loads
# them with COPY; and again in a transaction that also updates a row, which
# the target gets as one multi-row upsert (one array of texts per column)
cols="i2, i4, i8, num, num2, f4, f8, t, vc, ch, nm, by, b, d, tm, ttz, ts, tstz,
  iv, u, js, jb, ai, at, a2, ab, aby, an, ats, ajb, mood, moods, dom, pair, r4, r8, rn, rts, rtstz,
  rd, rf, inet_, cidr_, mac, mac8, mon, bt, vb, pt, ln, ls, bx, pa, pg, ci, tsv, tsq, x, hs, o"
src_psql "INSERT INTO $table (id, $cols) SELECT id + 100, $cols FROM $table ORDER BY id"
src_psql "BEGIN; INSERT INTO $table (id, $cols) SELECT id + 200, $cols FROM $table WHERE id < 100 ORDER BY id;
  UPDATE $table SET t = t WHERE id = 1; COMMIT"
src_psql "INSERT INTO $table (id, t) VALUES (7, 'last')"

rows() { "$1" "SELECT id, md5(row_to_json(r)::text) FROM $table r ORDER BY id"; }
if wait_until 60 eval '[ "$(tgt_psql "SELECT count(*) FROM '"$table"' WHERE id = 7")" = 1 ]'; then
    ok "the last change arrived"
else
    not_ok "the last change arrived"
    dump_bg work
fi
check_eq "every row equal on source and target (md5 of row_to_json)" "$(rows src_psql)" "$(rows tgt_psql)"
if [ "$(rows src_psql)" != "$(rows tgt_psql)" ]; then
    diff <(src_psql "SELECT row_to_json(r) FROM $table r ORDER BY id") \
        <(tgt_psql "SELECT row_to_json(r) FROM $table r ORDER BY id") | head -20 | sed 's/^/# /'
fi
check_eq "json keeps its exact text" "$(src_psql "SELECT js::text FROM $table WHERE id = 2")" \
    "$(tgt_psql "SELECT js::text FROM $table WHERE id = 2")"
check_eq "float -0 stays -0" "-0" "$(tgt_psql "SELECT f4 FROM $table WHERE id = 5")"
check_eq "the position is recorded on the target" 1 \
    "$(tgt_psql "SELECT count(*) FROM tributary.positions WHERE group_name = '$group'")"

# Inserted rows of types that all have a binary form go in COPY's binary
# form, edge values and all; a transaction with a value the binary form
# does not take (a BC date, two dimensions, numeric Infinity, a float below
# the normal range) goes as text. Either way the rows must be equal.
src_psql "INSERT INTO $bin VALUES
  (1, 32767, -2147483648, 9223372036854775807,
   -123456789012345678901234567890.123456789012345678901, 12.50, 3.4028235e38, -0.0,
   E'h\u00e9llo \U0001F600 \"q\" \\\\ tab\tnl\n', 'varchar ü', 'ab', '\\x00ff10', true,
   '2024-02-29', '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678+02',
   'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{\"b\": 1,  \"a\": [1, 2.50]}', '{\"k\": [true, null]}',
   '{1,NULL,3}', '{-9223372036854775808,7}', '{\"a b\",NULL,\"quote\\\"d\",\"comma,x\",\"\",\"NULL\",\"{}\"}',
   '{t,f,NULL}', '{\"\\\\\\\\x01\",NULL}', '{1.5,NaN,NULL,-0.0010}',
   '{\"2024-01-01 00:00:00+00\",infinity,\"1850-06-01 12:00:00+00\"}', ARRAY['{\"a\":1}'::jsonb, NULL],
   '{2024-01-01,-infinity}'),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (3, -32768, 0, -1, 'NaN', -0.5, 'NaN', '-Infinity', '', '', '', '', false,
   'infinity', 'infinity', '-infinity', '00000000-0000-0000-0000-000000000000', '[]', '{}',
   '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}'),
  (4, 0, 1, 2, '-0.000100', 1.005, '-0', 'Infinity', 'x', 'y', 'z', '\\x', true,
   '0001-01-01', '9999-12-31 23:59:59.999999', '1850-06-01 12:00:00.0005+00',
   NULL, 'null', 'null', '{0}', '{0}', '{x}', '{f}', '{\"\\\\\\\\x\"}', '{0}', '{}', '{}', '{9999-12-31}')"
bin_rows() { "$1" "SELECT id, md5(row_to_json(r)::text) FROM $bin r ORDER BY id"; }
wait_until 30 eval '[ "$(tgt_psql "SELECT count(*) FROM '"$bin"'")" = 4 ]' || dump_bg work
if grep -q "rows into \"public\".\"$bin\" in binary form" "$TEST_TMP/work.err"; then
    ok "inserted rows of types with a binary form go in COPY's binary form"
else
    not_ok "inserted rows of types with a binary form go in COPY's binary form"
    grep "COPY of" "$TEST_TMP/work.err" | tail -5 | sed 's/^/# /'
fi
src_psql "INSERT INTO $bin (id, d, ai, num, f8, t) VALUES
  (11, '0044-03-15 BC', '{{1,2},{3,4}}', 'Infinity', '5e-324', 'text form'),
  (12, '2024-01-01', '{1}', '1', '1', 'with it')"
wait_until 30 eval '[ "$(tgt_psql "SELECT count(*) FROM '"$bin"'")" = 6 ]' || dump_bg work
check_eq "a transaction with a value the binary form does not take goes as text" 1 \
    "$(grep -c "rows into \"public\".\"$bin\" in text form" "$TEST_TMP/work.err")"
check_eq "rows loaded in binary or text form equal the source's (md5 of row_to_json)" \
    "$(bin_rows src_psql)" "$(bin_rows tgt_psql)"
if [ "$(bin_rows src_psql)" != "$(bin_rows tgt_psql)" ]; then
    diff <(src_psql "SELECT row_to_json(r) FROM $bin r ORDER BY id") \
        <(tgt_psql "SELECT row_to_json(r) FROM $bin r ORDER BY id") | head -20 | sed 's/^/# /'
fi

rc=0; stop_bg repl || rc=$?
check_eq "replicator exits 0" 0 "$rc"
# every statement was taken as sent: none failed and went again row by
# row (a multi-row statement whose binary arrays the target could not read
# would, and still end with equal rows)
check_eq "the target took every multi-row statement as sent" 0 \
    "$(grep -c "could not write to sink" "$TEST_TMP/work.err" || true)"
rc=0; stop_bg work || rc=$?
check_eq "worker exits 0" 0 "$rc"
