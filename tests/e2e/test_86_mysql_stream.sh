#!/usr/bin/env bash
# MariaDB -> replicator --source mysql -> JetStream -> worker postgres
# (PostgreSQL) and worker mysql (another MariaDB database, by routing).
# A table with every MySQL type (integers of each width signed and
# unsigned, DECIMAL, FLOAT, DOUBLE, DATE, TIME(3), DATETIME(6),
# TIMESTAMP(6), YEAR, CHAR/VARCHAR/TEXT in utf8mb4 and latin1, BINARY,
# VARBINARY, BLOB, ENUM, SET, BIT, JSON, POINT) goes through inserts,
# updates and deletes, alone and as multi-row transactions, a key change,
# a transaction over several tables (one of them outside the group), a
# table without a key and TRUNCATE; a schema change becomes a DDL event.
# Both binaries are killed with kill -9 in the middle of a load and
# started again, and the replicator is restarted by GTID and by file and
# offset. At the end both targets equal the source, row by row in an
# ordered, normalised text form. Then the start-up checks: a binlog row
# image that is not FULL, a missing table, and a purged binlog.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

if [ -z "${MY_PORT:-}" ] || ! command -v mariadb >/dev/null 2>&1; then
    skip "MySQL source" "no MariaDB server (MY_PORT is not set or the mariadb client is missing)"
    exit 0
fi

group=$(unique_name mysrc-)
s=$(unique_name mys_)
t=${s}_t
export TRIBUTARY_PASSWORD=$APP_PASSWORD
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD

cols="id INT PRIMARY KEY, ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT,
  siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT,
  iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED, de DECIMAL(20,6), f FLOAT,
  d DOUBLE, dt DATE, tm TIME(3), dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL,
  yr YEAR, c CHAR(10), vc VARCHAR(100), tx TEXT,
  l1 VARCHAR(50) CHARACTER SET latin1, bn BINARY(4), vb VARBINARY(20), bl BLOB,
  en ENUM('small','medium','large'), st SET('a','b','c'), bt BIT(5), js JSON,
  g POINT"
my_sql "CREATE DATABASE \`$s\` CHARACTER SET utf8mb4;
CREATE DATABASE \`$t\` CHARACTER SET utf8mb4;
CREATE TABLE \`$s\`.types ($cols) ENGINE=InnoDB;
CREATE TABLE \`$t\`.types ($cols) ENGINE=InnoDB;
CREATE TABLE \`$s\`.nokey (a INT, b VARCHAR(20)) ENGINE=InnoDB;
CREATE TABLE \`$t\`.nokey (a INT, b VARCHAR(20)) ENGINE=InnoDB;
CREATE TABLE \`$s\`.kv (k INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB;
CREATE TABLE \`$t\`.kv (k INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB;
CREATE TABLE \`$s\`.log (n INT NOT NULL, txt VARCHAR(40), UNIQUE KEY (n)) ENGINE=InnoDB;
CREATE TABLE \`$t\`.log (n INT NOT NULL, txt VARCHAR(40), UNIQUE KEY (n)) ENGINE=InnoDB;
CREATE TABLE \`$s\`.ddl (id INT PRIMARY KEY) ENGINE=InnoDB;
CREATE TABLE \`$s\`.other (id INT PRIMARY KEY) ENGINE=InnoDB;"
on_exit "my_sql 'DROP DATABASE IF EXISTS \`$s\`' 'DROP DATABASE IF EXISTS \`$t\`' \"DELETE FROM tributary.positions WHERE grp = '$group'\" \"DELETE FROM tributary.blocked WHERE group_name = '$group'\" \"DELETE FROM tributary.ddl_started WHERE group_name = '$group'\" >/dev/null 2>&1"

# The PostgreSQL target: the types README.md maps each MySQL type to.
tgt_psql "CREATE SCHEMA $s;
CREATE TABLE $s.types (id integer PRIMARY KEY, ti smallint, tiu smallint,
  si smallint, siu integer, mi integer, miu integer, i integer, iu bigint,
  bi bigint, biu numeric(20,0), de numeric(20,6), f real, d double precision,
  dt date, tm interval, dtm timestamp(6), ts timestamptz(6), yr smallint,
  c text, vc text, tx text, l1 text, bn bytea, vb bytea, bl bytea, en text,
  st text, bt bit(5), js json, g bytea);
CREATE TABLE $s.nokey (a integer, b text);
CREATE TABLE $s.kv (k integer PRIMARY KEY, v integer NOT NULL);
CREATE TABLE $s.log (n integer NOT NULL UNIQUE, txt text);"
on_exit "tgt_psql 'DROP SCHEMA IF EXISTS $s CASCADE' \"DELETE FROM tributary.positions WHERE group_name = '$group'\" >/dev/null 2>&1"

# the MariaDB target: the same tables in database $t
routing=$TEST_TMP/routing.yaml
for tb in types nokey kv log; do
    printf '%s.%s:\n  destination_table: %s.%s\n' "$s" "$tb" "$t" "$tb"
done >"$routing"

my_args=(--host "$MY_HOST" --port "$MY_PORT" --user app --nats-url "$NATS_URL")
start_repl() {
    start_bg repl "$BIN/replicator" --source mysql --group "$group" \
        --tables "$s.types,$s.nokey,$s.kv,$s.log,$s.ddl" "${my_args[@]}" "$@"
}
start_pg_worker() {
    start_bg wpg "$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" \
        --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app \
        --target-user app --batch-size 50 --batch-wait 50ms \
        --retry-initial-wait 100ms --retry-max-wait 500ms
}
start_my_worker() {
    start_bg wmy "$BIN/worker" mysql --group "$group" --nats-url "$NATS_URL" \
        --target-host "$MY_HOST" --target-port "$MY_PORT" --target-user app \
        --routing-config "$routing" --batch-size 50 --batch-wait 50ms \
        --retry-initial-wait 100ms --retry-max-wait 500ms
}

start_repl
wait_until 30 grep -q "streaming the binlog from" "$TEST_TMP/repl.err" || {
    not_ok "replicator streams"
    dump_bg repl
}
start_pg_worker
start_my_worker

# ---- every kind of change ------------------------------------------------------

my_sql "INSERT INTO \`$s\`.types VALUES (1, -128, 255, -32768, 65535, -8388608,
  16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
  -12345678901234.567891, 3.25, -2.5e-10, '2024-02-29', '-12:34:56.789',
  '2024-01-02 03:04:05.678901', '2038-01-19 03:14:07.999999', 2024, 'char',
  'varchar ü \"q\" ''s'' \\\\ b', 'text héllo 😀 tab\\tnl\\n', 'café latin1',
  x'00ff1000', x'deadbeef00', x'000102feff', 'medium', 'a,c', b'10101',
  '{\"a\": [1, 2.5, null], \"b\": \"x\"}', ST_GeomFromText('POINT(1.5 -2)'))"
my_sql "INSERT INTO \`$s\`.types (id) VALUES (2)"
my_sql "INSERT INTO \`$s\`.types (id, ti, tm, dtm, yr, c, en, st, bt, f, d, de) VALUES
  (3, 127, '838:59:59', '1000-01-01 00:00:00', 1901, '', 'small', '', b'0', 0, 0, 0),
  (4, 0, '00:00:00.001', '9999-12-31 23:59:59.999999', 2155, 'x', 'large', 'a,b,c', b'11111',
   1e20, 1.7976931348623157e308, 99999999999999.999999)"
# updates: NULLs to values, values to NULL, in one transaction several
my_sql "UPDATE \`$s\`.types SET tx = 'now set', bl = x'ff', js = '[]' WHERE id = 2"
my_sql "BEGIN; UPDATE \`$s\`.types SET i = i + 1 WHERE id IN (3, 4);
  UPDATE \`$s\`.types SET vc = NULL, g = NULL WHERE id = 1; COMMIT"
# a key change
my_sql "UPDATE \`$s\`.types SET id = 10 WHERE id = 4"
# many rows in one transaction, then some of them changed and deleted in one
my_sql "INSERT INTO \`$s\`.types (id, i, vc, dtm, ts) SELECT 100 + seq, seq, CONCAT('row ', seq),
  '2024-05-06 07:08:09.5', FROM_UNIXTIME(1700000000 + seq) FROM seq_1_to_200"
my_sql "BEGIN; UPDATE \`$s\`.types SET vc = CONCAT(vc, ' changed') WHERE id BETWEEN 150 AND 180;
  DELETE FROM \`$s\`.types WHERE id > 290; DELETE FROM \`$s\`.types WHERE id = 3; COMMIT"
# a transaction over the group's tables and one outside it
my_sql "BEGIN; INSERT INTO \`$s\`.kv VALUES (1, 1), (2, 2); INSERT INTO \`$s\`.other VALUES (1);
  UPDATE \`$s\`.kv SET v = 20 WHERE k = 2; COMMIT"
# no key: of two equal rows one goes
my_sql "INSERT INTO \`$s\`.nokey VALUES (1, 'dup'), (1, 'dup'), (2, NULL), (3, 'three')"
my_sql "DELETE FROM \`$s\`.nokey WHERE a = 1 LIMIT 1"
my_sql "UPDATE \`$s\`.nokey SET b = 'was null' WHERE a = 2"
# TRUNCATE, then rows again
my_sql "INSERT INTO \`$s\`.log VALUES (-1, 'gone'), (-2, 'gone')"
my_sql "TRUNCATE TABLE \`$s\`.log"
my_sql "INSERT INTO \`$s\`.log VALUES (0, 'after truncate')"
# a schema change of a table of the group
my_sql "ALTER TABLE \`$s\`.ddl ADD COLUMN note VARCHAR(10)"
my_sql "INSERT INTO \`$s\`.kv VALUES (3, 3)"

my_has() { [ "$(my_sql "SELECT COUNT(*) FROM \`$t\`.$1 WHERE $2" | tail -n 1)" = 1 ]; }
pg_has() { [ "$(tgt_psql "SELECT count(*) FROM $s.$1 WHERE $2")" = 1 ]; }
if wait_until 60 pg_has kv "k = 3" && wait_until 30 my_has kv "k = 3"; then
    ok "the changes reach both targets"
else
    not_ok "the changes reach both targets"
    dump_bg repl
    dump_bg wpg
    dump_bg wmy
fi
events=$(stream_events "$group")
check "the schema change is a DDL event" grep -q '"op":"DDL".*ALTER TABLE' <<<"$events"
check "TRUNCATE is a TRUNCATE event" grep -q '"op":"TRUNCATE"' <<<"$events"
check "events name the source mysql" grep -q '"source":"mysql"' <<<"$events"
check "positions are binlog file and offset" grep -qE '"position":"[^"]+\.[0-9]{6}:[0-9]+"' <<<"$events"
check "the postgres worker sends the schema change to the dead letters" \
    grep -q "schema changes of a mysql source are not applied to PostgreSQL: make the change on the target by hand (ALTER TABLE $s.ddl" "$TEST_TMP/wpg.err"
# the mysql worker runs it as it came, on the source's own database here
# (no route names the table), where the column exists: refused
check "the mysql worker runs it, and the target refuses it" \
    grep -q "could not apply the schema change of \`$s\`.\`ddl\` (position [^)]*): Duplicate column name 'note'" "$TEST_TMP/wmy.err"
dl=$(nats_stream_msgs "TRIBUTARY_DLQ_$group")
check_eq "the schema change is the one dead letter of each worker" 2 "$dl"
if [ "$dl" != 2 ]; then
    for k in postgres mysql; do
        "$BIN/worker" $k --group "$group" --nats-url "$NATS_URL" --list-dead-letters 2>&1 | grep -o "\"error\":.*" | sed 's/^/#   /'
    done
fi
if grep -q '"table":"other"' <<<"$events"; then
    not_ok "the table outside the group is not captured"
else
    ok "the table outside the group is not captured"
fi

# ---- kill -9 of both binaries in the middle of a load --------------------------

my_sql "INSERT INTO \`$s\`.kv SELECT seq, 0 FROM seq_10_to_19"
load() {
    local i
    for i in $(seq 1 300); do
        echo "INSERT INTO \`$s\`.log VALUES ($i, MD5($i)); UPDATE \`$s\`.kv SET v = v + $i WHERE k = 10 + $i % 10;"
        [ $((i % 20)) = 0 ] && echo "DO SLEEP(0.1);"
    done | my_sql
}
start_bg load load
logs_ge() { [ "$(tgt_psql "SELECT count(*) FROM $s.log")" -ge "$1" ]; }
if wait_until 60 logs_ge 40; then
    kill9_bg repl
    kill9_bg wpg
    kill9_bg wmy
    ok "replicator and both workers killed with kill -9 in the middle of the load"
else
    not_ok "the load reaches the target before the kill"
    dump_bg repl
fi
start_repl
start_pg_worker
start_my_worker
wait_until 120 eval '! bg_alive load' || not_ok "the load ends within 120 s"
rc=0; stop_bg load || rc=$?
check_eq "the load ran" 0 "$rc"
# a normal stop and a start by file and offset, then by GTID again
my_sql "INSERT INTO \`$s\`.kv VALUES (100, 100)"
wait_until 60 pg_has kv "k = 100" || not_ok "a change after the restart arrives"
rc=0; stop_bg repl || rc=$?
check_eq "replicator stops with exit 0 on SIGTERM" 0 "$rc"
check "the replicator said where it resumed (by GTID)" grep -q "streaming the binlog from .* gtid .* (by GTID)" "$TEST_TMP/repl.err"
my_sql "INSERT INTO \`$s\`.kv VALUES (101, 101)"
start_repl --gtid=false
wait_until 60 pg_has kv "k = 101" || not_ok "a change made while the replicator was down arrives"
check "restarted by file and offset" grep -q "(by file and offset)" "$TEST_TMP/repl.err"
rc=0; stop_bg repl || rc=$?
my_sql "INSERT INTO \`$s\`.kv VALUES (102, 102)"
start_repl
wait_until 60 pg_has kv "k = 102" || not_ok "a change made while down arrives (GTID)"
wait_until 60 my_has kv "k = 102" || not_ok "a change made while down arrives on MariaDB"

# ---- source and targets, row by row ---------------------------------------------
#
# One line per row, "R|v1|v2|...", NULL as N, sorted in the shell: text as
# the hex of its UTF-8 bytes, binary as hex, floats rounded, times as
# seconds, timestamps in UTC with microseconds, BIT as its digits, the
# point as the hex of its WKB.
my_types="SET time_zone = '+00:00';
SELECT CONCAT('R|', CONCAT_WS('|', id, COALESCE(ti, 'N'), COALESCE(tiu, 'N'), COALESCE(si, 'N'),
  COALESCE(siu, 'N'), COALESCE(mi, 'N'), COALESCE(miu, 'N'), COALESCE(i, 'N'), COALESCE(iu, 'N'),
  COALESCE(bi, 'N'), COALESCE(biu, 'N'), COALESCE(de, 'N'), COALESCE(CAST(f AS CHAR), 'N'), COALESCE(CAST(d AS CHAR), 'N'), COALESCE(DATE_FORMAT(dt, '%Y-%m-%d'), 'N'),
  COALESCE(CAST(TIME_TO_SEC(tm) AS DECIMAL(20,3)), 'N'),
  COALESCE(DATE_FORMAT(dtm, '%Y-%m-%d %H:%i:%s.%f'), 'N'),
  COALESCE(DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), 'N'), COALESCE(yr, 'N'),
  COALESCE(LOWER(HEX(CONVERT(c USING utf8mb4))), 'N'), COALESCE(LOWER(HEX(CONVERT(vc USING utf8mb4))), 'N'),
  COALESCE(LOWER(HEX(CONVERT(tx USING utf8mb4))), 'N'), COALESCE(LOWER(HEX(CONVERT(l1 USING utf8mb4))), 'N'),
  COALESCE(LOWER(HEX(bn)), 'N'), COALESCE(LOWER(HEX(vb)), 'N'), COALESCE(LOWER(HEX(bl)), 'N'),
  COALESCE(en, 'N'), COALESCE(st, 'N'), COALESCE(LPAD(BIN(bt), 5, '0'), 'N'), COALESCE(MD5(js), 'N'),
  COALESCE(LOWER(HEX(ST_AsWKB(g))), 'N')))"
pg_types="SELECT 'R|' || concat_ws('|', id, coalesce(ti::text, 'N'), coalesce(tiu::text, 'N'),
  coalesce(si::text, 'N'), coalesce(siu::text, 'N'), coalesce(mi::text, 'N'), coalesce(miu::text, 'N'),
  coalesce(i::text, 'N'), coalesce(iu::text, 'N'), coalesce(bi::text, 'N'), coalesce(biu::text, 'N'),
  coalesce(de::text, 'N'), coalesce(replace(f::text, 'e+', 'e'), 'N'), coalesce(replace(d::text, 'e+', 'e'), 'N'),
  coalesce(to_char(dt, 'YYYY-MM-DD'), 'N'), coalesce(extract(epoch FROM tm)::numeric(20,3)::text, 'N'),
  coalesce(to_char(dtm, 'YYYY-MM-DD HH24:MI:SS.US'), 'N'),
  coalesce(to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), 'N'), coalesce(yr::text, 'N'),
  coalesce(encode(convert_to(c, 'UTF8'), 'hex'), 'N'), coalesce(encode(convert_to(vc, 'UTF8'), 'hex'), 'N'),
  coalesce(encode(convert_to(tx, 'UTF8'), 'hex'), 'N'), coalesce(encode(convert_to(l1, 'UTF8'), 'hex'), 'N'),
  coalesce(encode(bn, 'hex'), 'N'), coalesce(encode(vb, 'hex'), 'N'), coalesce(encode(bl, 'hex'), 'N'),
  coalesce(en, 'N'), coalesce(st, 'N'), coalesce(bt::text, 'N'), coalesce(md5(js::text), 'N'),
  coalesce(encode(g, 'hex'), 'N'))"
# floats (fields 14 and 15) as awk prints the double they read: the
# servers write small and large values in different notations
norm_floats() {
    awk -F'|' -v OFS='|' '{ if ($14 != "N") $14 = sprintf("%.9g", $14); if ($15 != "N") $15 = sprintf("%.17g", $15); print }'
}
my_rows() { my_sql "$1" | grep '^R|' | LC_ALL=C sort; }
pg_rows() { tgt_psql "$1" | LC_ALL=C sort; }
compare() {
    local name=$1 src=$2 tgt=$3
    check_eq "$name ($(printf '%s\n' "$src" | grep -c '^R|') rows)" "$src" "$tgt" || true
    if [ "$src" != "$tgt" ]; then
        diff <(printf '%s\n' "$src") <(printf '%s\n' "$tgt") | head -20 | sed 's/^/#   /'
    fi
}
wait_until 30 my_has kv "k = 102" || true
src=$(my_rows "$my_types FROM \`$s\`.types" | norm_floats)
compare "types equal on source and PostgreSQL" "$src" "$(pg_rows "$pg_types FROM $s.types" | norm_floats)"
compare "types equal on source and MariaDB" "$src" "$(my_rows "$my_types FROM \`$t\`.types" | norm_floats)"
for tb in nokey kv log; do
    case $tb in
    nokey) mq="SELECT CONCAT('R|', COALESCE(a, 'N'), '|', COALESCE(b, 'N'))"
        pq="SELECT 'R|' || coalesce(a::text, 'N') || '|' || coalesce(b, 'N')" ;;
    kv) mq="SELECT CONCAT('R|', k, '|', v)"; pq="SELECT 'R|' || k || '|' || v" ;;
    log) mq="SELECT CONCAT('R|', n, '|', COALESCE(txt, 'N'))"
        pq="SELECT 'R|' || n || '|' || coalesce(txt, 'N')" ;;
    esac
    src=$(my_rows "$mq FROM \`$s\`.$tb")
    compare "$tb equal on source and PostgreSQL" "$src" "$(pg_rows "$pq FROM $s.$tb")"
    compare "$tb equal on source and MariaDB" "$src" "$(my_rows "$mq FROM \`$t\`.$tb")"
done
check_eq "spot check: TIMESTAMP(6) in UTC on PostgreSQL" "2038-01-19 03:14:07.999999+00" \
    "$(tgt_psql "SET TIME ZONE 'UTC'; SELECT ts FROM $s.types WHERE id = 1" | tail -n 1)"
check_eq "spot check: BIGINT UNSIGNED max" "18446744073709551615" \
    "$(tgt_psql "SELECT biu FROM $s.types WHERE id = 1")"
check_eq "after kill -9: every appended row exactly once" "301 301" \
    "$(tgt_psql "SELECT count(*) || ' ' || count(DISTINCT n) FROM $s.log")"

check "a table without a primary key travels with its unique NOT NULL key" \
    grep -q '"table":"log".*"key":\["n"\]' <<<"$(stream_events "$group" | grep '"table":"log"' | head -n 3)"

# ---- without column names in the binlog, and without checksums -------------------
#
# With binlog_row_metadata=MINIMAL the names come from information_schema
# (and MariaDB's JSON column, a LONGTEXT in the binlog, is json again); a
# schema change makes them read again. binlog_checksum=NONE starts a new
# binlog file whose events carry no CRC32.
g2=$(unique_name mysrc2-)
my_sql "CREATE TABLE \`$s\`.meta (a INT NOT NULL, b VARCHAR(10), j JSON, UNIQUE KEY (a)) ENGINE=InnoDB"
my_sql "SET GLOBAL binlog_row_metadata = 'MINIMAL'"
start_bg repl2 "$BIN/replicator" --source mysql --group "$g2" --tables "$s.meta" "${my_args[@]}"
wait_until 30 grep -q "streaming the binlog from" "$TEST_TMP/repl2.err" || not_ok "second replicator streams"
my_sql "INSERT INTO \`$s\`.meta VALUES (1, 'one', '{\"k\": 1}')"
my_sql "ALTER TABLE \`$s\`.meta ADD COLUMN c INT"
my_sql "INSERT INTO \`$s\`.meta VALUES (2, 'two', NULL, 22)"
my_sql "SET GLOBAL binlog_checksum = 'NONE'"
my_sql "INSERT INTO \`$s\`.meta VALUES (3, 'three', '[]', 33)"
my_sql "SET GLOBAL binlog_checksum = 'CRC32'" "SET GLOBAL binlog_row_metadata = 'FULL'"
my_sql "UPDATE \`$s\`.meta SET b = 'THREE' WHERE a = 3"
ev2() { stream_events "$g2" | grep '"table":"meta"'; }
wait_until 30 eval '[ "$(ev2 | wc -l)" -ge 4 ]' || not_ok "the second group's events arrive"
e2=$(ev2)
check "names from information_schema, and the JSON column is json" grep -qE '"row":\{"a":1,"b":"one","j":\{"k": ?1\}\}' <<<"$e2"
check "the unique key is the key" grep -q '"key":\["a"\]' <<<"$e2"
check "after the schema change the new column has its name" grep -q '"row":{"a":2,"b":"two","j":null,"c":22}' <<<"$e2"
check "events without checksums arrive" grep -q '"row":{"a":3,"b":"three","j":\[\],"c":33}' <<<"$e2"
check "and with checksums again" grep -q '"op":"UPDATE".*"b":"THREE"' <<<"$e2"
rc=0; stop_bg repl2 || rc=$?
check_eq "second replicator exits 0" 0 "$rc"

# replicator status of the group
rc=0
"$BIN/replicator" status --source mysql --group "$group" --tables "$s.kv,$s.nothere" "${my_args[@]}" \
    >"$TEST_TMP/st.out" 2>"$TEST_TMP/st.err" || rc=$?
check_eq "replicator status exits 0" 0 "$rc"
for want in "binlog_row_image  *FULL" "binlog now  *binlog\.[0-9]+:[0-9]+ gtid [0-9]+-[0-9]+-[0-9]+" \
    "behind  *[0-9.]+ [KMG]?i?B of binlog after the saved position" "$s\.kv  *2 columns, key k" \
    "$s\.nothere  *does not exist" "saved position  *binlog\.[0-9]+:[0-9]+ gtid" "binlog dumps  *[1-9]"; do
    check "status shows /$want/" grep -qE "$want" "$TEST_TMP/st.out"
done
grep -qE "behind" "$TEST_TMP/st.out" || sed 's/^/#   /' "$TEST_TMP/st.out" "$TEST_TMP/st.err"

rc=0; stop_bg repl || rc=$?
check_eq "replicator exits 0" 0 "$rc"
rc=0; stop_bg wpg || rc=$?
check_eq "postgres worker exits 0" 0 "$rc"
rc=0; stop_bg wmy || rc=$?
check_eq "mysql worker exits 0" 0 "$rc"
check "no password in the replicator's log" bash -c "! grep -qF -- \"\$1\" \"\$2\"" _ "$APP_PASSWORD" "$TEST_TMP/repl.err"

# ---- start-up checks ---------------------------------------------------------------

expect_exit() {
    local name=$1 code=$2 pattern=$3 rc=0
    shift 3
    "$@" >"$TEST_TMP/expect.out" 2>&1 || rc=$?
    check_eq "$name: exit $code" "$code" "$rc"
    check "$name: says why" grep -qE -- "$pattern" "$TEST_TMP/expect.out"
}
expect_exit "a table that does not exist" 2 "table \"$s\".\"nothere\" of --tables does not exist" \
    "$BIN/replicator" --source mysql --group "$group-x" --tables "$s.nothere" "${my_args[@]}"
my_sql "SET GLOBAL binlog_row_image = 'MINIMAL'"
expect_exit "binlog_row_image MINIMAL" 2 "binlog_row_image is MINIMAL on the source" \
    "$BIN/replicator" --source mysql --group "$group-x" --tables "$s.kv" "${my_args[@]}"
my_sql "SET GLOBAL binlog_row_image = 'FULL'"
# the binlog the group must resume from is purged while it is down
my_sql "FLUSH BINARY LOGS"
my_sql "INSERT INTO \`$s\`.kv VALUES (200, 200)"
cur=$(my_sql "SHOW MASTER STATUS" | cut -f1)
my_sql "FLUSH BINARY LOGS" "PURGE BINARY LOGS TO '$cur'"
expect_exit "a purged binlog" 1 "the binlog the group must resume from is gone: it confirmed .*--resync" \
    "$BIN/replicator" --source mysql --group "$group" --tables "$s.kv" "${my_args[@]}"
