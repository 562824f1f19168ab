#!/usr/bin/env bash
# PostgreSQL -> JetStream -> worker mysql -> MariaDB. Rows that were there
# before come by the initial copy (--copy-and-stream). A table with the
# common PostgreSQL types (integers, numeric, floats, boolean, unicode text,
# bytea, date, time, timestamp, timestamptz, uuid, json, jsonb, int[],
# interval) goes through inserts, a multi-row insert, updates (NULLs to
# values, a key change, updates that leave an unchanged TOAST value alone,
# one of them with a key change) and deletes; a table without a key
# (REPLICA IDENTITY FULL, two equal rows of which one is deleted, rows
# told apart only by the case of a text); TRUNCATE
# alone and in the middle of a transaction; changes the target refuses for
# good (a CHECK constraint, a too long string, NaN into DECIMAL, a missing
# table, a schema change) go to the dead letters with their reason while
# the rest flows;
# then the worker is killed with kill -9 in the middle of a load and
# started again. At the end every table on the target equals its source
# table, value by value in a normalised text form, and a table without a
# key holds each row exactly once.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

if [ -z "${MY_PORT:-}" ] || ! command -v mariadb >/dev/null 2>&1; then
    skip "PostgreSQL to MySQL" "no MariaDB server (MY_PORT is not set or the mariadb client is missing)"
    exit 0
fi

group=$(unique_name pgmy-)
slot=tributary_${group//-/_}
s=$(unique_name my_)
export TRIBUTARY_PASSWORD=$APP_PASSWORD
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD

# ---- the tables, on both sides ----------------------------------------------

src_psql "
CREATE SCHEMA $s;
CREATE TABLE $s.types (
  id int PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, num numeric(38,6),
  f4 real, f8 double precision, b boolean, t text, vc varchar(50), by bytea,
  d date, tm time, ts timestamp, tstz timestamptz, u uuid, js json, jb jsonb,
  ai int[], iv interval, big text);
CREATE TABLE $s.nokey (a int, b text, j jsonb, f real);
ALTER TABLE $s.nokey REPLICA IDENTITY FULL;
CREATE TABLE $s.tr (id int PRIMARY KEY);
CREATE TABLE $s.chk (id int PRIMARY KEY, v int, s text, n numeric);
CREATE TABLE $s.nothere (id int PRIMARY KEY);
CREATE TABLE $s.log (n int, txt text);
CREATE TABLE $s.kv (k int PRIMARY KEY, v int NOT NULL);
CREATE TABLE $s.pre (id int PRIMARY KEY, t text, ts timestamptz, b boolean, by bytea);
INSERT INTO $s.pre SELECT g, repeat('é', g % 50), '2024-01-01 00:00:00+03'::timestamptz + g * interval '1 minute',
  g % 3 = 0, decode(md5(g::text), 'hex') FROM generate_series(1, 3000) g;
ALTER SCHEMA $s OWNER TO app;"
for t in types nokey tr chk nothere log kv pre; do src_psql "ALTER TABLE $s.$t OWNER TO app"; done
on_exit "src_psql \"SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots WHERE slot_name = '$slot'\" >/dev/null 2>&1; src_psql 'DROP PUBLICATION IF EXISTS $slot; DROP SCHEMA $s CASCADE' >/dev/null 2>&1; src_psql \"SELECT 'DROP EVENT TRIGGER ' || evtname || ';' FROM pg_event_trigger WHERE evtname LIKE '${slot}_ddl_%'\" | src_psql >/dev/null 2>&1"

# The PostgreSQL schema is the MySQL database. The target's types are the
# ones README.md maps each PostgreSQL type to; `by` is a reserved word in
# MySQL (the sink quotes every name). chk refuses what the source takes:
# v >= 100, s longer than 5 characters, n NaN. nothere does not exist.
my_sql "CREATE DATABASE \`$s\` CHARACTER SET utf8mb4;
CREATE TABLE \`$s\`.types (
  id INT PRIMARY KEY, i2 SMALLINT, i4 INT, i8 BIGINT, num DECIMAL(38,6),
  f4 FLOAT, f8 DOUBLE, b TINYINT(1), t TEXT, vc VARCHAR(50), \`by\` BLOB,
  d DATE, tm TIME(6), ts DATETIME(6), tstz DATETIME(6), u CHAR(36),
  js JSON, jb JSON, ai JSON, iv VARCHAR(100), big LONGTEXT) ENGINE=InnoDB;
CREATE TABLE \`$s\`.nokey (a INT, b TEXT, j JSON, f FLOAT) ENGINE=InnoDB;
CREATE TABLE \`$s\`.tr (id INT PRIMARY KEY) ENGINE=InnoDB;
CREATE TABLE \`$s\`.chk (id INT PRIMARY KEY, v INT, s VARCHAR(5), n DECIMAL(10,2),
  CONSTRAINT v_small CHECK (v < 100)) ENGINE=InnoDB;
CREATE TABLE \`$s\`.log (n INT, txt TEXT) ENGINE=InnoDB;
CREATE TABLE \`$s\`.kv (k INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB;
CREATE TABLE \`$s\`.pre (id INT PRIMARY KEY, t TEXT, ts DATETIME(6), b BOOLEAN, \`by\` VARBINARY(16)) ENGINE=InnoDB;"
on_exit "my_sql 'DROP DATABASE IF EXISTS \`$s\`' \"DELETE FROM tributary.positions WHERE grp = '$group'\" >/dev/null 2>&1"

start_worker() {
    start_bg work "$BIN/worker" mysql --group "$group" --nats-url "$NATS_URL" \
        --target-host "$MY_HOST" --target-port "$MY_PORT" --target-user app \
        --batch-size 50 --batch-wait 50ms \
        --retry-initial-wait 100ms --retry-max-wait 500ms
}

# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --schema "$s" --track-ddl --copy-and-stream $(repl_args)
start_worker
wait_until 30 slot_active || not_ok "replicator streams"

# ---- every kind of change -------------------------------------------------------

src_psql "INSERT INTO $s.types VALUES (1, 32767, -2147483648, 9223372036854775807,
  12345678901234567890.123456, 3.14, 12345.678901234, true,
  E'h\u00e9llo \U0001F600 e\u0301 \"quoted\" ''single'' back\\\\slash\ttab\nnewline',
  'varchar ü', '\\x00ff10275c22'::bytea, '2024-02-29', '23:59:59.999999',
  '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678+02',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"b\": 1,  \"a\": [1, 2.50, null]}',
  '{\"k\": \"v\", \"n\": 1.50, \"nested\": {\"x\": [true, null]}}',
  '{{1,2},{3,NULL}}', '1 year 2 mons 3 days 04:05:06.789', NULL)"
src_psql "INSERT INTO $s.types (id) VALUES (2)"
# a value large enough to be stored out of line (TOAST)
src_psql "INSERT INTO $s.types (id, t, i4, tstz, by, big) VALUES (3, 'toast', 1,
  '1999-12-31 23:30:00-05:30', '', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 640) g))"
src_psql "INSERT INTO $s.types (id, t, f4, f8, num) VALUES (4, 'gone', -1.5, -2.25, -0.5)"
# NULLs to values: the whole row, key kept (an upsert)
src_psql "UPDATE $s.types SET (i2, i4, i8, num, f4, f8, b, t, vc, by, d, tm, ts, tstz, u, js, jb, ai, iv)
  = (SELECT i2, i4, i8, num, f4, f8, false, t, vc, by, d, tm, ts, tstz, u, js, jb, ai, iv
     FROM $s.types WHERE id = 1) WHERE id = 2"
# big is not sent: it must stay as it is
src_psql "UPDATE $s.types SET t = 'toast changed', i4 = i4 + 1 WHERE id = 3"
# key changes, one with the unchanged TOAST value
src_psql "UPDATE $s.types SET id = 10 WHERE id = 1"
src_psql "UPDATE $s.types SET id = 11, vc = 'moved' WHERE id = 3"
src_psql "DELETE FROM $s.types WHERE id = 4"
# every row again under a new id in one transaction: one multi-row insert
src_psql "INSERT INTO $s.types SELECT id + 100, i2, i4, i8, num, f4, f8, b, t, vc, by, d, tm,
  ts, tstz, u, js, jb, ai, iv, big FROM $s.types ORDER BY id"

# no key: of two equal rows one goes; NULL, json and a single precision
# float matched by value; text byte for byte (the target's collation takes
# 'Case' for 'case')
src_psql "INSERT INTO $s.nokey VALUES (1, 'dup', '{\"x\": 1}', 3.14), (1, 'dup', '{\"x\": 1}', 3.14),
  (2, NULL, NULL, NULL), (3, 'three', '[1, 2]', -0.1), (4, 'Case', NULL, 1), (4, 'case', NULL, 1)"
src_psql "DELETE FROM $s.nokey WHERE ctid = (SELECT min(ctid) FROM $s.nokey WHERE a = 1)"
src_psql "DELETE FROM $s.nokey WHERE b = 'case'"
src_psql "UPDATE $s.nokey SET b = 'was null' WHERE a = 2"
src_psql "UPDATE $s.nokey SET j = '{\"y\": 2}' WHERE a = 3"

# TRUNCATE alone, then inside a transaction with rows on both sides
src_psql "INSERT INTO $s.tr SELECT generate_series(1, 10)"
src_psql "TRUNCATE $s.tr"
src_psql "INSERT INTO $s.tr VALUES (20), (21)"
src_psql "BEGIN; INSERT INTO $s.tr VALUES (30); TRUNCATE $s.tr; INSERT INTO $s.tr VALUES (42); COMMIT"

# refused by the target: rows 4 (CHECK), 7 (too long) and 9 (NaN) of one
# multi-row insert, and a table the target does not have
src_psql "INSERT INTO $s.chk SELECT g, CASE WHEN g = 4 THEN 500 ELSE g END,
  CASE WHEN g = 7 THEN 'too long' ELSE 'ok' END,
  CASE WHEN g = 9 THEN 'NaN'::numeric ELSE g END FROM generate_series(1, 10) g"
src_psql "INSERT INTO $s.nothere VALUES (1)"
# a schema change: not applied to MySQL
src_psql "CREATE INDEX ${s}_kv_v ON $s.kv (v)"
src_psql "UPDATE $s.chk SET v = v + 1 WHERE id <= 3"
src_psql "INSERT INTO $s.chk VALUES (12, 12, 'last', 12.5)"

my_has() { [ "$(my_sql "SELECT COUNT(*) FROM \`$s\`.$1 WHERE $2" | tail -n 1)" = 1 ]; }
if wait_until 90 my_has chk "id = 12"; then
    ok "changes after the refused ones arrive"
else
    not_ok "changes after the refused ones arrive"
    dump_bg work
fi
check_eq "the target holds every row of chk it can take" "1:2 2:3 3:4 5:5 6:6 8:8 10:10 12:12" \
    "$(my_sql "SELECT GROUP_CONCAT(id, ':', v ORDER BY id SEPARATOR ' ') FROM \`$s\`.chk" | tail -n 1)"
check_eq "five changes are dead letters" 5 "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")"
# shellcheck disable=SC2016 # the backticks are MySQL's quotes, in the text
check "the reason names the constraint" grep -q 'CONSTRAINT `v_small` failed' "$TEST_TMP/work.err"
check "the reason names the column that is too long" grep -q "Data too long for column 's'" "$TEST_TMP/work.err"
# shellcheck disable=SC2016
check "the reason names the NaN and its column" grep -q 'cannot write column `n` of `'"$s"'`.`chk`: MySQL cannot store NaN' "$TEST_TMP/work.err"
check "the reason names the missing table" grep -q "table \`$s\`.\`nothere\` does not exist on the target" "$TEST_TMP/work.err"
check "the reason says schema changes are not applied" grep -q "schema changes of a postgres source are not applied to MySQL: make the change on the target by hand (index $s.${s}_kv_v" "$TEST_TMP/work.err"

# ---- kill -9 in the middle of a load ------------------------------------------

src_psql "INSERT INTO $s.kv SELECT g, 0 FROM generate_series(0, 9) g"
# 300 transactions of an append to a table without a key and an update
start_bg load src_psql "DO \$\$ BEGIN
  FOR i IN 1..300 LOOP
    INSERT INTO $s.log VALUES (i, md5(i::text));
    UPDATE $s.kv SET v = v + i WHERE k = i % 10;
    COMMIT;
    PERFORM pg_sleep(0.01);
  END LOOP; END \$\$"
log_ge() { [ "$(my_sql "SELECT COUNT(*) FROM \`$s\`.log" | tail -n 1)" -ge "$1" ]; }
if wait_until 60 log_ge 40; then
    kill9_bg work
    ok "worker killed with kill -9 in the middle of the load"
else
    not_ok "the load reaches the target before the kill"
    dump_bg work
fi
wait_until 120 eval '! bg_alive load' || not_ok "the load ends within 120 s"
rc=0; stop_bg load || rc=$?
check_eq "the load ran" 0 "$rc"
start_worker
src_psql "INSERT INTO $s.tr VALUES (999)"
if wait_until 90 my_has tr "id = 999"; then
    ok "the last change arrived after the restart"
else
    not_ok "the last change arrived after the restart"
    dump_bg work
fi

# ---- source and target, value by value ----------------------------------------
#
# Each row becomes one line "R|v1|v2|..." on both sides, NULL as "N", and the
# lines are sorted in the shell (the servers collate differently). The forms
# compare values, not the servers' printing:
# - text and bytea as the hex of their bytes (UTF-8 on both sides), so every
#   character (emoji, combining accent, quotes, backslash, tab, newline) and
#   every byte counts;
# - numeric with its 6 decimals, as both print DECIMAL(38,6);
# - real and double precision rounded to 3 and 6 decimals: both hold the
#   same binary value, but PostgreSQL prints floats in the shortest form
#   that reads back exactly and MySQL with a fixed precision;
# - boolean as 0/1 (TINYINT(1) on the target);
# - dates and times with to_char/DATE_FORMAT, always with microseconds;
#   timestamptz in UTC, which is what the DATETIME column holds;
# - json and jsonb by md5 of their text (the target keeps the text it got:
#   json's exactly as written, jsonb's as PostgreSQL prints it);
# - int[] as array_to_json, the JSON array text the sink writes;
# - interval and uuid as text; the TOAST column by md5.
pg_rows() {
    src_psql "$1" | LC_ALL=C sort
}
my_rows() {
    my_sql "$1" | grep '^R|' | LC_ALL=C sort
}
compare() {
    local name=$1 src tgt
    src=$(pg_rows "$2")
    tgt=$(my_rows "$3")
    check_eq "table $name equal on source and target ($(printf '%s\n' "$src" | grep -c '^R|') rows)" "$src" "$tgt"
    if [ "$src" != "$tgt" ]; then
        diff <(printf '%s\n' "$src") <(printf '%s\n' "$tgt") | head -20 | sed 's/^/#   /'
    fi
}

compare types "SELECT 'R|' || concat_ws('|', id, coalesce(i2::text, 'N'), coalesce(i4::text, 'N'),
  coalesce(i8::text, 'N'), coalesce(num::text, 'N'), coalesce(f4::numeric(30,3)::text, 'N'),
  coalesce(f8::numeric(40,6)::text, 'N'), coalesce(b::int::text, 'N'),
  coalesce(encode(convert_to(t, 'UTF8'), 'hex'), 'N'), coalesce(encode(convert_to(vc, 'UTF8'), 'hex'), 'N'),
  coalesce(encode(by, 'hex'), 'N'), coalesce(to_char(d, 'YYYY-MM-DD'), 'N'),
  coalesce(to_char('2000-01-01'::date + tm, 'HH24:MI:SS.US'), 'N'),
  coalesce(to_char(ts, 'YYYY-MM-DD HH24:MI:SS.US'), 'N'),
  coalesce(to_char(tstz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), 'N'),
  coalesce(u::text, 'N'), coalesce(md5(js::text), 'N'), coalesce(md5(jb::text), 'N'),
  coalesce(array_to_json(ai)::text, 'N'), coalesce(iv::text, 'N'), coalesce(md5(big), 'N'))
  FROM $s.types" \
    "SELECT CONCAT('R|', CONCAT_WS('|', id, COALESCE(i2, 'N'), COALESCE(i4, 'N'),
  COALESCE(i8, 'N'), COALESCE(num, 'N'), COALESCE(CAST(f4 AS DECIMAL(30,3)), 'N'),
  COALESCE(CAST(f8 AS DECIMAL(40,6)), 'N'), COALESCE(b, 'N'),
  COALESCE(LOWER(HEX(t)), 'N'), COALESCE(LOWER(HEX(vc)), 'N'),
  COALESCE(LOWER(HEX(\`by\`)), 'N'), COALESCE(DATE_FORMAT(d, '%Y-%m-%d'), 'N'),
  COALESCE(TIME_FORMAT(tm, '%H:%i:%s.%f'), 'N'),
  COALESCE(DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), 'N'),
  COALESCE(DATE_FORMAT(tstz, '%Y-%m-%d %H:%i:%s.%f'), 'N'),
  COALESCE(u, 'N'), COALESCE(MD5(js), 'N'), COALESCE(MD5(jb), 'N'),
  COALESCE(ai, 'N'), COALESCE(iv, 'N'), COALESCE(MD5(big), 'N')))
  FROM \`$s\`.types"
compare nokey "SELECT 'R|' || concat_ws('|', coalesce(a::text, 'N'), coalesce(encode(convert_to(b, 'UTF8'), 'hex'), 'N'),
  coalesce(md5(j::text), 'N'), coalesce(f::numeric(30,3)::text, 'N')) FROM $s.nokey" \
    "SELECT CONCAT('R|', CONCAT_WS('|', COALESCE(a, 'N'), COALESCE(LOWER(HEX(b)), 'N'),
  COALESCE(MD5(j), 'N'), COALESCE(CAST(f AS DECIMAL(30,3)), 'N'))) FROM \`$s\`.nokey"
compare tr "SELECT 'R|' || id FROM $s.tr" "SELECT CONCAT('R|', id) FROM \`$s\`.tr"
compare pre "SELECT 'R|' || concat_ws('|', id, encode(convert_to(t, 'UTF8'), 'hex'),
  to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), b::int, encode(by, 'hex')) FROM $s.pre" \
    "SELECT CONCAT('R|', CONCAT_WS('|', id, LOWER(HEX(t)), DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), b,
  LOWER(HEX(\`by\`)))) FROM \`$s\`.pre"
compare kv "SELECT 'R|' || k || '|' || v FROM $s.kv" "SELECT CONCAT('R|', k, '|', v) FROM \`$s\`.kv"
compare log "SELECT 'R|' || n || '|' || txt FROM $s.log" "SELECT CONCAT('R|', n, '|', txt) FROM \`$s\`.log"

check_eq "spot check: timestamptz stored in UTC" "2024-01-02 01:04:05.678000" \
    "$(my_sql "SELECT DATE_FORMAT(tstz, '%Y-%m-%d %H:%i:%s.%f') FROM \`$s\`.types WHERE id = 10" | tail -n 1)"
check_eq "spot check: int[] stored as a JSON array" "[[1,2],[3,null]]" \
    "$(my_sql "SELECT ai FROM \`$s\`.types WHERE id = 10" | tail -n 1)"
check_eq "the unchanged TOAST value survived an update and a key change" \
    "$(src_psql "SELECT md5(big) FROM $s.types WHERE id = 11")" \
    "$(my_sql "SELECT MD5(big) FROM \`$s\`.types WHERE id = 11" | tail -n 1)"
check_eq "no key: of two equal rows one is left" 1 \
    "$(my_sql "SELECT COUNT(*) FROM \`$s\`.nokey WHERE a = 1" | tail -n 1)"
check_eq "no key, after kill -9: every appended row exactly once" "300 300" \
    "$(my_sql "SELECT COUNT(*), COUNT(DISTINCT n) FROM \`$s\`.log" | tail -n 1 | tr '\t' ' ')"
check_eq "the position is recorded on the target" 1 \
    "$(my_sql "SELECT COUNT(*) FROM tributary.positions WHERE grp = '$group'" | tail -n 1)"

rc=0; stop_bg repl || rc=$?
check_eq "replicator exits 0" 0 "$rc"
rc=0; stop_bg work || rc=$?
check_eq "worker exits 0" 0 "$rc"
check "no password in the worker's log" bash -c "! grep -qF -- \"\$1\" \"\$2\"" _ "$APP_PASSWORD" "$TEST_TMP/work.err"
