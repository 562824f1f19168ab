#!/usr/bin/env bash
# The initial copy from MariaDB (replicator --source mysql --copy,
# --copy-and-stream, --resync):
# - a table with every MySQL type (integers of each width signed and
#   unsigned, DECIMAL, FLOAT, DOUBLE, dates and times with and without
#   fractions, YEAR, CHAR/VARCHAR/TEXT in utf8mb4 and latin1, BINARY,
#   VARBINARY, BLOB, ENUM, SET, BIT, JSON, POINT, GEOMETRY with an SRID)
#   holding extremes, NULLs, zero values and unicode: its copied rows
#   carry exactly the types and values the binlog decoder gives the same
#   rows streamed (read raw from the stream), and the values expected;
# - tables of 50,000 and more rows with integer, composite string,
#   binary, DATETIME and TIMESTAMP keys and no key, copied in key ranges
#   by 4 readers sharing one snapshot: the postgres target equals the
#   source;
# - kill -9 of the replicator in the middle of a copy, and a restart that
#   resumes it: every row exactly once on the target, which equals the
#   source after changes streamed since;
# - --copy-and-stream while inserts, updates and deletes run: once
#   streaming has caught up, the target equals the source; then --resync
#   (TRUNCATE first) removes rows the target should not have.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

if [ -z "${MY_PORT:-}" ] || ! command -v mariadb >/dev/null 2>&1; then
    skip "MySQL copy" "no MariaDB server (MY_PORT is not set or the mariadb client is missing)"
    exit 0
fi

s=$(unique_name myc_)
gA=$(unique_name mycopya-)
gB=$(unique_name mycopyb-)
gC=$(unique_name mycopyc-)
gD=$(unique_name mycopyd-)
export TRIBUTARY_PASSWORD=$APP_PASSWORD
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD
on_exit "my_sql 'DROP DATABASE IF EXISTS \`$s\`' >/dev/null 2>&1"
on_exit "tgt_psql 'DROP SCHEMA IF EXISTS $s CASCADE' \"DELETE FROM tributary.positions WHERE group_name LIKE 'mycopy%'\" >/dev/null 2>&1"

my_args=(--host "$MY_HOST" --port "$MY_PORT" --user app --nats-url "$NATS_URL")
# repl NAME GROUP TABLES ARGS...: a replicator in the background
repl() {
    local name=$1 group=$2 tables=$3
    shift 3
    start_bg "$name" "$BIN/replicator" --source mysql --group "$group" \
        --tables "$tables" "${my_args[@]}" "$@"
}
pg_worker() {
    start_bg "$1" "$BIN/worker" postgres --group "$2" --nats-url "$NATS_URL" \
        --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app \
        --target-user app --batch-wait 50ms --retry-initial-wait 100ms --retry-max-wait 500ms
}

# raw_msgs STREAM: the payload of every message in STREAM, one per line,
# as the replicator wrote it (types and values exactly), read with
# JetStream's message get API over the plain NATS protocol.
raw_msgs() {
    local stream=$1 hostport=${NATS_URL#nats://} n first seq line len payload
    n=$(nats_stream_msgs "$stream")
    [ "$n" -gt 0 ] || return 0
    first=$(curl -s -m 5 "$NATS_MONITOR/jsz?streams=true" | jq -r --arg s "$stream" \
        '[.account_details[]?.stream_detail[]? | select(.name == $s) | .state.first_seq] | first // 1')
    (
        export LC_ALL=C
        exec 9<>"/dev/tcp/${hostport%:*}/${hostport##*:}"
        IFS= read -r -t 5 line <&9 # INFO
        printf 'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.raw 1\r\n' >&9
        for ((seq = first; seq < first + n; seq++)); do
            payload="{\"seq\":$seq}"
            printf 'PUB $JS.API.STREAM.MSG.GET.%s _INBOX.raw %d\r\n%s\r\n' \
                "$stream" "${#payload}" "$payload" >&9
            while IFS= read -r -t 10 line <&9; do
                line=${line%$'\r'}
                case $line in
                PING) printf 'PONG\r\n' >&9 ;;
                MSG*)
                    len=${line##* }
                    IFS= read -r -N "$((len + 2))" -t 10 payload <&9
                    jq -r '.message.data // empty' <<<"${payload:0:len}" | base64 -d
                    echo
                    break
                    ;;
                -ERR*)
                    echo "nats: $line" >&2
                    exit 1
                    ;;
                esac
            done
        done
        exec 9>&-
    )
}

# cells: reads events (single or packed), prints one line per column of
# each COPY or INSERT row: "OP TABLE ID NAME TYPE VALUE" (value as JSON).
cells() {
    jq -r 'select(.op == "COPY" or .op == "INSERT") | . as $e
      | (if $e.rows then [$e.rows[] | [$e.names, $e.types, .] | transpose
           | map({name: .[0], type: .[1], value: .[2]})] else [$e.columns] end)[]
      | . as $c | ($c[] | select(.name == "id") | .value) as $id
      | $c[] | "\($e.op) \($e.table) \($id) \(.name) \(.type) \(.value | tojson)"'
}

# rows_digest my|pg TABLE: "<rows> <md5>" of the table's rows in a
# normalised text form, sorted in the shell (the two servers sort text
# differently).
rows_digest() {
    local side=$1 tb=$2 q
    if [ "$side" = my ]; then
        case $tb in
        big | kill | live) q="CONCAT_WS('|', id, COALESCE(n, 'N'), COALESCE(HEX(CONVERT(v USING utf8mb4)), 'N'))" ;;
        ckey) q="CONCAT_WS('|', HEX(CONVERT(k1 USING utf8mb4)), k2, COALESCE(HEX(CONVERT(v USING utf8mb4)), 'N'))" ;;
        bkey) q="CONCAT_WS('|', HEX(k), v)" ;;
        dkey | tkey) q="CONCAT_WS('|', DATE_FORMAT(k, '%Y-%m-%d %H:%i:%s.%f'), v)" ;;
        nokey) q="CONCAT_WS('|', COALESCE(a, 'N'), COALESCE(HEX(CONVERT(b USING utf8mb4)), 'N'))" ;;
        esac
        my_sql "SET time_zone = '+00:00'; SELECT $q FROM \`$s\`.$tb"
    else
        case $tb in
        big | kill | live) q="concat_ws('|', id, coalesce(n::text, 'N'), coalesce(upper(encode(convert_to(v, 'UTF8'), 'hex')), 'N'))" ;;
        ckey) q="concat_ws('|', upper(encode(convert_to(k1, 'UTF8'), 'hex')), k2, coalesce(upper(encode(convert_to(v, 'UTF8'), 'hex')), 'N'))" ;;
        bkey) q="concat_ws('|', upper(encode(k, 'hex')), v)" ;;
        dkey) q="concat_ws('|', to_char(k, 'YYYY-MM-DD HH24:MI:SS.US'), v)" ;;
        tkey) q="concat_ws('|', to_char(k AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), v)" ;;
        nokey) q="concat_ws('|', coalesce(a::text, 'N'), coalesce(upper(encode(convert_to(b, 'UTF8'), 'hex')), 'N'))" ;;
        esac
        tgt_psql "SELECT $q FROM $s.$tb"
    fi | LC_ALL=C sort | {
        local lines
        lines=$(cat)
        if [ -z "$lines" ]; then
            echo "0 -"
        else
            printf '%s\n' "$lines" | wc -l | tr -d '\n'
            printf ' '
            printf '%s\n' "$lines" | md5sum | cut -d' ' -f1
        fi
    }
}
equal_now() { [ "$(rows_digest my "$1")" = "$(rows_digest pg "$1")" ]; }
compare() {
    local tb=$1 timeout=${2:-120}
    if wait_until "$timeout" equal_now "$tb"; then
        ok "$tb: the target equals the source ($(rows_digest my "$tb" | cut -d' ' -f1) rows)"
    else
        not_ok "$tb: the target equals the source" \
            "source $(rows_digest my "$tb"), target $(rows_digest pg "$tb")"
    fi
}

# ---- every type: copied rows read as streamed ones ------------------------------

cols="id INT PRIMARY KEY, ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT,
  siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT,
  iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED, de DECIMAL(20,6),
  de0 DECIMAL(5,0) UNSIGNED, f FLOAT, f2 FLOAT(7,3), d DOUBLE, d2 DOUBLE(10,2),
  dt DATE, tm TIME(3), tm0 TIME, dtm DATETIME(6), dt0 DATETIME,
  ts TIMESTAMP(6) NULL DEFAULT NULL, ts0 TIMESTAMP NULL DEFAULT NULL, yr YEAR,
  c CHAR(10), vc VARCHAR(100), tx TEXT, tt TINYTEXT, mt MEDIUMTEXT,
  l1 VARCHAR(50) CHARACTER SET latin1, l1t TEXT CHARACTER SET latin1,
  bn BINARY(4), vb VARBINARY(20), bl BLOB, lb LONGBLOB,
  en ENUM('small','medium','large'), en2 ENUM('it''s','a,b','\\\\x','é'),
  st SET('a','b','c'), bt BIT(5), bt64 BIT(64), js JSON, g POINT, gs GEOMETRY"
my_sql "SET NAMES utf8mb4, time_zone = '+00:00';
CREATE DATABASE \`$s\` CHARACTER SET utf8mb4;
CREATE TABLE \`$s\`.types ($cols) ENGINE=InnoDB;
CREATE TABLE \`$s\`.types_s ($cols) ENGINE=InnoDB;
INSERT INTO \`$s\`.types VALUES (1, -128, 255, -32768, 65535, -8388608, 16777215,
  -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
  -12345678901234.567891, 99999, 3.25, 1234.5, -2.5e-10, 12345678.91, '2024-02-29',
  '-12:34:56.789', '838:59:59', '2024-01-02 03:04:05.678901', '1000-01-01 00:00:00',
  '2038-01-19 03:14:07.999999', '1970-01-01 00:00:01', 2024, 'char',
  'varchar ü \"q\" ''s'' \\\\ b', 'text héllo 😀 tab\\tnl\\n', 'tiny', 'medium 中文',
  'café latin1', '¿qué? £', x'00ff1000', x'deadbeef00', x'000102feff',
  REPEAT(x'00ff', 40000), 'medium', 'it''s', 'a,c', b'10101', b'1000000000000000000000000000000000000000000000000000000000000001',
  '{\"a\": [1, 2.5, null], \"b\": \"x\"}', ST_GeomFromText('POINT(1.5 -2)'),
  ST_GeomFromText('LINESTRING(0 0,1 1,2 0.5)', 4326));
INSERT INTO \`$s\`.types (id) VALUES (2);
INSERT INTO \`$s\`.types VALUES (3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  '0000-00-00', '00:00:00', '00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00',
  '0000-00-00 00:00:00', '0000-00-00 00:00:00', 0, '', '', '', '', '', '', '', x'', x'', x'',
  x'', 'small', 'a,b', '', b'0', b'0', '{}', ST_GeomFromText('POINT(0 0)'),
  ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'));
INSERT INTO \`$s\`.types (id, ti, si, mi, i, bi, de, f, f2, d, d2, tm, tm0, dtm, yr, c, vc, en, en2, st, bt, bt64, js, dt)
  VALUES (4, 127, 32767, 8388607, 2147483647, 9223372036854775807, 99999999999999.999999,
  1.2345678, -0.001, 0.1, 2.25, '00:00:00.001', '-00:00:01', '9999-12-31 23:59:59.999999',
  1901, 'x  ', 'trailing  ', 'large', '\\\\x', 'b', b'11111', b'0', '[]', '9999-12-31'),
  (5, -1, -1, -1, -1, -1, -0.000001, 1e20, 0.5, 1.7976931348623157e308, -0.01,
  '-838:59:59', '12:00:00', '2024-06-30 23:59:59.5', 2155, 'é', '🙂', NULL, 'é',
  'c', b'00001', b'1111111111111111111111111111111111111111111111111111111111111111',
  '\"str\"', '1970-01-01');"

repl rA "$gA" "$s.types,$s.types_s" --copy-and-stream --max-copy-workers-per-table 2
if ! wait_until 60 grep -q "streaming the binlog from" "$TEST_TMP/rA.err"; then
    not_ok "copy of the types table, then streaming"
    dump_bg rA
fi
my_sql "INSERT INTO \`$s\`.types_s SELECT * FROM \`$s\`.types"
events_ge() { [ "$(raw_msgs "TRIBUTARY_$gA" | cells | grep -c "^INSERT types_s [0-9]* id ")" -ge "$1" ]; }
wait_until 60 events_ge 5 || not_ok "the streamed rows arrive" "$(raw_msgs "TRIBUTARY_$gA" | cut -c1-300)"
stop_bg rA || true
raw_msgs "TRIBUTARY_$gA" | cells >"$TEST_TMP/cells"
copied=$(grep '^COPY types ' "$TEST_TMP/cells" | cut -d' ' -f3- | LC_ALL=C sort)
streamed=$(grep '^INSERT types_s ' "$TEST_TMP/cells" | cut -d' ' -f3- | LC_ALL=C sort)
check_eq "5 rows of 44 columns copied" 220 "$(printf '%s\n' "$copied" | grep -c .)"
if [ "$copied" = "$streamed" ]; then
    ok "copied rows have exactly the types and values of the same rows streamed"
else
    not_ok "copied rows have exactly the types and values of the same rows streamed" \
        "$(diff <(printf '%s\n' "$copied") <(printf '%s\n' "$streamed") | head -20)"
fi
cell() { grep "^$1 $2 " <<<"$copied" | cut -d' ' -f3- || true; }
check_eq "TINYINT min" 'tinyint "-128"' "$(cell 1 ti)"
check_eq "TINYINT UNSIGNED max" 'tinyint unsigned "255"' "$(cell 1 tiu)"
check_eq "BIGINT UNSIGNED max" 'bigint unsigned "18446744073709551615"' "$(cell 1 biu)"
check_eq "BIGINT min" 'bigint "-9223372036854775808"' "$(cell 1 bi)"
check_eq "DECIMAL" 'decimal(20,6) "-12345678901234.567891"' "$(cell 1 de)"
check_eq "DECIMAL UNSIGNED zero" 'decimal(5,0) unsigned "0"' "$(cell 3 de0)"
check_eq "FLOAT" 'float "3.25"' "$(cell 1 f)"
check_eq "FLOAT, shortest digits" 'float "1.2345678"' "$(cell 4 f)"
check_eq "FLOAT 1e20" 'float "1e+20"' "$(cell 5 f)"
check_eq "FLOAT(7,3)" 'float "-0.001"' "$(cell 4 f2)"
check_eq "DOUBLE" 'double "-2.5e-10"' "$(cell 1 d)"
check_eq "DOUBLE max" 'double "1.7976931348623157e+308"' "$(cell 5 d)"
check_eq "DOUBLE(10,2)" 'double "12345678.91"' "$(cell 1 d2)"
check_eq "DATE" 'date "2024-02-29"' "$(cell 1 dt)"
check_eq "zero DATE" 'date "0000-00-00"' "$(cell 3 dt)"
check_eq "TIME(3) negative" 'time(3) "-12:34:56.789"' "$(cell 1 tm)"
check_eq "TIME max" 'time "838:59:59"' "$(cell 1 tm0)"
check_eq "DATETIME(6)" 'datetime(6) "2024-01-02 03:04:05.678901"' "$(cell 1 dtm)"
check_eq "zero DATETIME(6)" 'datetime(6) "0000-00-00 00:00:00.000000"' "$(cell 3 dtm)"
check_eq "TIMESTAMP(6) in UTC" 'timestamp(6) "2038-01-19 03:14:07.999999+00"' "$(cell 1 ts)"
check_eq "zero TIMESTAMP" 'timestamp "0000-00-00 00:00:00+00"' "$(cell 3 ts0)"
check_eq "YEAR" 'year "2024"' "$(cell 1 yr)"
check_eq "zero YEAR" 'year "0000"' "$(cell 3 yr)"
check_eq "CHAR without its trailing spaces" 'char "x"' "$(cell 4 c)"
check_eq "VARCHAR with its trailing spaces" 'varchar "trailing  "' "$(cell 4 vc)"
check_eq "TEXT in utf8mb4" 'text "text héllo 😀 tab\tnl\n"' "$(cell 1 tx)"
check_eq "MEDIUMTEXT" 'mediumtext "medium 中文"' "$(cell 1 mt)"
check_eq "latin1 VARCHAR as UTF-8" 'varchar "café latin1"' "$(cell 1 l1)"
check_eq "latin1 TEXT as UTF-8" 'text "¿qué? £"' "$(cell 1 l1t)"
check_eq "BINARY(4) padded, base64" 'binary "AP8QAA=="' "$(cell 1 bn)"
check_eq "empty BINARY(4): four zero bytes" 'binary "AAAAAA=="' "$(cell 3 bn)"
check_eq "VARBINARY base64" 'varbinary "3q2+7wA="' "$(cell 1 vb)"
check_eq "empty BLOB" 'blob ""' "$(cell 3 bl)"
check_eq "LONGBLOB of 80,000 bytes" "longblob $((80000 / 3 * 4 + 4))" \
    "$(cell 1 lb | awk '{ print $1, length($2) - 2 }')"
check_eq "ENUM" 'enum "medium"' "$(cell 1 en)"
check_eq "ENUM member with a quote" "enum \"it's\"" "$(cell 1 en2)"
check_eq "ENUM member with a backslash" 'enum "\\x"' "$(cell 4 en2)"
check_eq "SET" 'set "a,c"' "$(cell 1 st)"
check_eq "empty SET" 'set ""' "$(cell 3 st)"
check_eq "BIT(5)" 'bit(5) "10101"' "$(cell 1 bt)"
check_eq "BIT(64)" 'bit(64) "1000000000000000000000000000000000000000000000000000000000000001"' "$(cell 1 bt64)"
check_eq "JSON (MariaDB: its text)" 'json "{\"a\": [1, 2.5, null], \"b\": \"x\"}"' "$(cell 1 js)"
check_eq "POINT as WKB hex" 'point "0101000000000000000000F83F00000000000000C0"' "$(cell 1 g)"
check_eq "GEOMETRY with an SRID" 'geometry "SRID=4326;01020000000300000000000000000000000000000000000000000000000000F03F000000000000F03F0000000000000040000000000000E03F"' "$(cell 1 gs)"
check_eq "NULL" 'int null' "$(cell 2 i)"
check_eq "NULL TIMESTAMP" 'timestamp(6) null' "$(cell 2 ts)"
raw_msgs "TRIBUTARY_$gA" | jq -r '"\(.op) \(.position)"' | sort -u >"$TEST_TMP/positions"
check "copied rows are at the snapshot's position less one, streamed ones after it" bash -c '
    c=$(grep "^COPY " "$1" | cut -d" " -f2)
    i=$(grep "^INSERT " "$1" | cut -d" " -f2)
    [ "$(wc -l <<<"$c")" = 1 ] && [ "$(wc -l <<<"$i")" = 1 ] && [ "${c%:*}" = "${i%:*}" ] &&
        [ "${c##*:}" -lt "${i##*:}" ]' _ "$TEST_TMP/positions"

# ---- key ranges, several readers, one snapshot --------------------------------------

my_sql "SET NAMES utf8mb4, time_zone = '+00:00';
CREATE TABLE \`$s\`.big (id INT PRIMARY KEY, n INT, v VARCHAR(40)) ENGINE=InnoDB;
INSERT INTO \`$s\`.big SELECT seq, IF(seq % 7 = 0, NULL, seq % 1000), CONCAT('row ', seq, IF(seq % 3 = 0, ' é', '')) FROM seq_1_to_50000;
CREATE TABLE \`$s\`.ckey (k1 VARCHAR(20), k2 INT, v VARCHAR(20), PRIMARY KEY (k1, k2)) ENGINE=InnoDB;
INSERT INTO \`$s\`.ckey SELECT CONCAT(ELT(seq % 6 + 1, 'alpha', 'Beta', 'gamma', 'Ébène', 'zeta', 'ünï'), LPAD(seq DIV 6 % 2000, 5, '0')), seq DIV 12000, seq FROM seq_0_to_23999;
CREATE TABLE \`$s\`.bkey (k VARBINARY(16) PRIMARY KEY, v INT) ENGINE=InnoDB;
INSERT INTO \`$s\`.bkey SELECT UNHEX(MD5(seq)), seq FROM seq_1_to_12000;
INSERT INTO \`$s\`.bkey VALUES (x'', 0), (x'00', -1), (x'ff', -2);
CREATE TABLE \`$s\`.dkey (k DATETIME(6) PRIMARY KEY, v INT) ENGINE=InnoDB;
INSERT INTO \`$s\`.dkey SELECT '2000-01-01' + INTERVAL seq * 7777 SECOND + INTERVAL seq MICROSECOND, seq FROM seq_1_to_12000;
CREATE TABLE \`$s\`.tkey (k TIMESTAMP(6) PRIMARY KEY, v INT) ENGINE=InnoDB;
INSERT INTO \`$s\`.tkey SELECT FROM_UNIXTIME(1000000000 + seq * 3601) + INTERVAL seq MICROSECOND, seq FROM seq_1_to_12000;
CREATE TABLE \`$s\`.nokey (a INT, b VARCHAR(20)) ENGINE=InnoDB;
INSERT INTO \`$s\`.nokey SELECT seq % 10, IF(seq % 4 = 0, NULL, 'dup') FROM seq_1_to_5000;
ANALYZE TABLE \`$s\`.big, \`$s\`.ckey, \`$s\`.bkey, \`$s\`.dkey, \`$s\`.tkey, \`$s\`.nokey;" >/dev/null
tgt_psql "CREATE SCHEMA $s;
CREATE TABLE $s.big (id integer PRIMARY KEY, n integer, v text);
CREATE TABLE $s.ckey (k1 text, k2 integer, v text, PRIMARY KEY (k1, k2));
CREATE TABLE $s.bkey (k bytea PRIMARY KEY, v integer);
CREATE TABLE $s.dkey (k timestamp(6) PRIMARY KEY, v integer);
CREATE TABLE $s.tkey (k timestamptz(6) PRIMARY KEY, v integer);
CREATE TABLE $s.nokey (a integer, b text);
CREATE TABLE $s.kill (id integer PRIMARY KEY, n integer, v text);
CREATE TABLE $s.live (id integer PRIMARY KEY, n integer, v text);"

rc=0
"$BIN/replicator" --source mysql --group "$gB" --tables "$s.big,$s.ckey,$s.bkey,$s.dkey,$s.tkey,$s.nokey" \
    "${my_args[@]}" --copy --max-copy-workers-per-table 4 >"$TEST_TMP/rB.out" 2>"$TEST_TMP/rB.err" || rc=$?
check_eq "replicator --copy exits 0 once the copy is stored" 0 "$rc"
[ "$rc" = 0 ] || dump_bg rB
ranges=$(sed -n 's/.*copying 6 tables in \([0-9]*\) ranges.*/\1/p' "$TEST_TMP/rB.err")
check "the tables were split into key ranges (${ranges:-none}, 30 or more)" test "${ranges:-0}" -ge 30
check "4 or more readers shared one snapshot" grep -qE "\[copy\] ([4-9]|[1-9][0-9]+) readers share one snapshot" "$TEST_TMP/rB.err"
check "the copy logged its progress per table" grep -q "\[copy\] $s.big: 50000 rows" "$TEST_TMP/rB.err"
check "the copy said how many rows in all" grep -q "copied 115003 rows of 6 tables" "$TEST_TMP/rB.err"
pg_worker wB "$gB"
for tb in big ckey bkey dkey tkey nokey; do
    compare "$tb"
done
stop_bg wB || true

# ---- kill -9 in the middle of a copy, then resume ------------------------------------

my_sql "SET NAMES utf8mb4;
CREATE TABLE \`$s\`.kill (id INT PRIMARY KEY, n INT, v VARCHAR(120)) ENGINE=InnoDB;
INSERT INTO \`$s\`.kill SELECT seq, seq % 100, CONCAT(MD5(seq), REPEAT('k', 80)) FROM seq_1_to_100000;
ANALYZE TABLE \`$s\`.kill;" >/dev/null
repl rC "$gC" "$s.kill" --copy-and-stream --max-copy-workers-per-table 2 \
    --metrics-addr 127.0.0.1:0
# the copy takes a few seconds here: throttled, the replicator is killed
# in the middle of it, once it has recorded a range as done
throttle "$(cat "$TEST_TMP/rC.pid")" &
throttle_pid=$!
msgs_ge() { [ "$(nats_stream_msgs "TRIBUTARY_$gC")" -ge "$1" ]; }
mid_copy() { msgs_ge 60 && [ "$(copy_ranges_done rC)" -ge 1 ]; }
if wait_until 120 mid_copy; then
    kill "$throttle_pid" 2>/dev/null || true
    wait "$throttle_pid" 2>/dev/null || true
    kill9_bg rC
    ok "the replicator was killed with SIGKILL in the middle of the copy ($(nats_stream_msgs "TRIBUTARY_$gC") messages)"
else
    kill "$throttle_pid" 2>/dev/null || true
    wait "$throttle_pid" 2>/dev/null || true
    not_ok "the replicator was killed with SIGKILL in the middle of the copy" \
        "the stream holds $(nats_stream_msgs "TRIBUTARY_$gC") messages"
    kill9_bg rC
fi
check "the copy had not finished" bash -c "! grep -q 'copied .* rows' '$TEST_TMP/rC.err'"
my_sql "UPDATE \`$s\`.kill SET v = 'changed while down' WHERE id % 1000 = 0"
repl rC2 "$gC" "$s.kill" --copy-and-stream --max-copy-workers-per-table 2
pg_worker wC "$gC"
check "the restarted replicator resumed the copy" wait_until 120 grep -q "resuming the copy: [1-9][0-9]* of" "$TEST_TMP/rC2.err"
check "streaming starts at the copy's first position" wait_until 120 grep -q "streaming the binlog from" "$TEST_TMP/rC2.err"
my_sql "UPDATE \`$s\`.kill SET n = -1 WHERE id % 997 = 0; DELETE FROM \`$s\`.kill WHERE id % 1000 = 1"
compare kill 180
check_eq "every row exactly once on the target" "99900 99900" \
    "$(tgt_psql "SELECT count(*) || ' ' || count(DISTINCT id) FROM $s.kill")"
stop_bg rC2 || true
stop_bg wC || true

# ---- copy-and-stream while rows change ----------------------------------------------

my_sql "SET NAMES utf8mb4;
CREATE TABLE \`$s\`.live (id INT AUTO_INCREMENT PRIMARY KEY, n INT, v VARCHAR(40)) ENGINE=InnoDB;
INSERT INTO \`$s\`.live (n, v) SELECT seq, CONCAT('live ', seq) FROM seq_1_to_30000;
ANALYZE TABLE \`$s\`.live;" >/dev/null
load() {
    local i
    for i in $(seq 1 1500); do
        echo "INSERT INTO \`$s\`.live (n, v) VALUES ($i, 'new $i');"
        echo "UPDATE \`$s\`.live SET n = n + 1, v = CONCAT(v, '+') WHERE id = $(((i * 7919) % 30000 + 1));"
        if [ $((i % 3)) = 0 ]; then
            echo "DELETE FROM \`$s\`.live WHERE id = $(((i * 104729) % 30000 + 1));"
        fi
        if [ $((i % 50)) = 0 ]; then
            echo "BEGIN; UPDATE \`$s\`.live SET n = -n WHERE id BETWEEN $i AND $((i + 40)); COMMIT;"
        fi
        if [ $((i % 10)) = 0 ]; then
            echo "DO SLEEP(0.05);"
        fi
    done | my_sql
}
start_bg load load
sleep 0.5
repl rD "$gD" "$s.live" --copy-and-stream --max-copy-workers-per-table 3
pg_worker wD "$gD"
if wait_until 60 grep -q "copying 1 tables" "$TEST_TMP/rD.err" && bg_alive load; then
    ok "rows change while the copy runs"
else
    not_ok "rows change while the copy runs"
fi
check "the copy under load finished and streaming began" wait_until 180 grep -q "streaming the binlog from" "$TEST_TMP/rD.err"
wait_until 180 eval '! bg_alive load' || not_ok "the load ends within 180 s"
rc=0
stop_bg load || rc=$?
check_eq "the load ran" 0 "$rc"
compare live 180

# ---- --resync: TRUNCATE first, then the copy ------------------------------------------

stop_bg rD || true
tgt_psql "INSERT INTO $s.live VALUES (900001, 1, 'not on the source'), (900002, 2, 'nor this')"
my_sql "DELETE FROM \`$s\`.live WHERE id % 100 = 5"
repl rE "$gD" "$s.live" --resync --max-copy-workers-per-table 2
check "the resync sent the table's TRUNCATE first" wait_until 60 grep -q "its rows on the targets go first (--resync)" "$TEST_TMP/rE.err"
compare live 120
check_eq "the rows the source does not have are gone" 0 \
    "$(tgt_psql "SELECT count(*) FROM $s.live WHERE id > 900000")"
rc=0
stop_bg rE || rc=$?
check_eq "replicator exits 0" 0 "$rc"
rc=0
stop_bg wD || rc=$?
check_eq "worker exits 0" 0 "$rc"
check "no password in the replicators' logs" bash -c "! grep -qF -- \"\$1\" \"\$2\"/r*.err" _ "$APP_PASSWORD" "$TEST_TMP"
