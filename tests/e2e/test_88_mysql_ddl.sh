#!/usr/bin/env bash
# Schema changes from MariaDB to MariaDB: replicator --source mysql ->
# JetStream -> worker mysql into a second MariaDB server (started here, so
# that the target's database has the source's name). Columns added,
# changed (in the session's database, unqualified) and dropped, an index
# made, with rows between them: the target's columns, indexes and rows end
# equal to the source's. Then the worker is made to see the last schema
# change again, as after a stop between the change and the record of its
# position: with the sink's note that it began, the "duplicate column"
# counts as applied; without it, the change is refused, the table is
# blocked and its changes set aside while another table flows, and a
# replay after the repair applies them.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

if [ -z "${MY_PORT:-}" ] || ! command -v mariadb >/dev/null 2>&1; then
    skip "MySQL schema changes" "no MariaDB server (MY_PORT is not set or the mariadb client is missing)"
    exit 0
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
group=$(unique_name myddl-)
s=$(unique_name myd_)
export TRIBUTARY_PASSWORD=$APP_PASSWORD
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD

# ---- a second MariaDB server, the target ----------------------------------------

TGT_MY_PORT=$((MY_PORT + 100))
tdir=$(mktemp -d /tmp/tribmy.XXXXXX)
on_exit "bash '$ROOT/internal/services.sh' my-stop --dir '$tdir' >/dev/null 2>&1; rm -rf '$tdir'"
if ! TRIBUTARY_MY_PORT=$TGT_MY_PORT bash "$ROOT/internal/services.sh" my-start --dir "$tdir" --fast \
    >"$TEST_TMP/my2.out" 2>&1; then
    not_ok "a second MariaDB server starts on port $TGT_MY_PORT"
    sed 's/^/#   /' "$TEST_TMP/my2.out"
    exit 1
fi
tmy_sql() { MY_PORT=$TGT_MY_PORT my_sql "$@"; }

tables="CREATE DATABASE \`$s\` CHARACTER SET utf8mb4;
CREATE TABLE \`$s\`.t (id INT PRIMARY KEY, a INT, b VARCHAR(10)) ENGINE=InnoDB;
CREATE TABLE \`$s\`.u (id INT PRIMARY KEY, v INT) ENGINE=InnoDB;"
my_sql "$tables"
tmy_sql "$tables"
on_exit "my_sql 'DROP DATABASE IF EXISTS \`$s\`' >/dev/null 2>&1"

start_repl() {
    start_bg repl "$BIN/replicator" --source mysql --group "$group" --tables "$s.t,$s.u" \
        --host "$MY_HOST" --port "$MY_PORT" --user app --nats-url "$NATS_URL"
}
target=(--target-host "$MY_HOST" --target-port "$TGT_MY_PORT" --target-user app)
start_worker() {
    start_bg wmy "$BIN/worker" mysql --group "$group" --nats-url "$NATS_URL" "${target[@]}" \
        --batch-size 50 --batch-wait 50ms --retry-initial-wait 100ms --retry-max-wait 500ms
}
start_repl
wait_until 30 grep -q "streaming the binlog from" "$TEST_TMP/repl.err" || {
    not_ok "replicator streams"
    dump_bg repl
}
start_worker

# ---- schema changes between rows ------------------------------------------------

my_sql "INSERT INTO \`$s\`.t VALUES (1, 10, 'one'), (2, 20, 'two')"
my_sql "ALTER TABLE \`$s\`.t ADD COLUMN c VARCHAR(10) NOT NULL DEFAULT 'x'"
my_sql "INSERT INTO \`$s\`.t VALUES (3, 30, 'three', 'c3')"
my_sql "UPDATE \`$s\`.t SET c = 'c1' WHERE id = 1"
# unqualified, in the session's database: the target runs it in the same
my_sql "USE \`$s\`; ALTER TABLE t MODIFY b VARCHAR(40)"
my_sql "INSERT INTO \`$s\`.t VALUES (4, 40, 'a value longer than ten', 'c4')"
my_sql "CREATE INDEX t_c ON \`$s\`.t (c)"
my_sql "ALTER TABLE \`$s\`.t DROP COLUMN a"
my_sql "INSERT INTO \`$s\`.t VALUES (5, 'five', 'c5'); DELETE FROM \`$s\`.t WHERE id = 2"
my_sql "INSERT INTO \`$s\`.u VALUES (1, 1)"

t_has() { [ "$(tmy_sql "SELECT COUNT(*) FROM \`$s\`.$1 WHERE $2" | tail -n 1)" = 1 ]; }
if wait_until 60 t_has u "id = 1"; then
    ok "the changes reach the target"
else
    not_ok "the changes reach the target"
    dump_bg repl
    dump_bg wmy
fi
shape="SELECT CONCAT_WS(' ', column_name, column_type, is_nullable, COALESCE(column_default, 'none'))
  FROM information_schema.columns WHERE table_schema = '$s' AND table_name = 't' ORDER BY ordinal_position"
indexes="SELECT CONCAT_WS(' ', index_name, seq_in_index, column_name) FROM information_schema.statistics
  WHERE table_schema = '$s' AND table_name = 't' ORDER BY index_name, seq_in_index"
rows="SELECT CONCAT_WS('|', id, b, c) FROM \`$s\`.t ORDER BY id"
check_eq "the target's columns equal the source's" "$(my_sql "$shape")" "$(tmy_sql "$shape")"
check_eq "the target's indexes equal the source's" "$(my_sql "$indexes")" "$(tmy_sql "$indexes")"
check_eq "the target's rows equal the source's" "$(my_sql "$rows")" "$(tmy_sql "$rows")"
check_eq "the rows are the expected ones" "1|one|c1
3|three|c3
4|a value longer than ten|c4
5|five|c5" "$(tmy_sql "$rows")"
check "each schema change is logged as applied" \
    test "$(grep -c "sink=mysql applied the schema change of \`$s\`.\`t\`" "$TEST_TMP/wmy.err")" = 4
check_eq "nothing went to the dead letters" 0 "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")"

# ---- the last schema change seen again -----------------------------------------
#
# A row, then a schema change, each alone in its message. The worker is
# stopped, its record on the target put back to the row (as if it had
# stopped after the change ran but before the record moved), and its
# consumer deleted, so that the new one starts at the row's message.

my_sql "INSERT INTO \`$s\`.t VALUES (6, 'six', 'c6')"
wait_until 30 t_has t "id = 6" || not_ok "the row before the last change arrives"
my_sql "ALTER TABLE \`$s\`.t ADD COLUMN d INT"
has_d() { [ "$(tmy_sql "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = '$s' AND table_name = 't' AND column_name = 'd'")" = 1 ]; }
wait_until 30 has_d || not_ok "the last schema change is applied"
stop_bg wmy
events=$(stream_events "$group" | tail -n 2)
row_pos=$(jq -r 'select(.op == "INSERT") | .position' <<<"$events")
row_idx=$(jq -r 'select(.op == "INSERT") | .tx_index' <<<"$events")
ddl_pos=$(jq -r 'select(.op == "DDL") | .position' <<<"$events")
ddl_idx=$(jq -r 'select(.op == "DDL") | .tx_index' <<<"$events")
seq=$(tmy_sql "SELECT stream_seq FROM tributary.positions WHERE grp = '$group'")
check_eq "the record names the schema change" "$ddl_pos $ddl_idx" \
    "$(tmy_sql "SELECT CONCAT(position, ' ', tx_index) FROM tributary.positions WHERE grp = '$group'")"
check_eq "the note of the change begun is gone once it is recorded" 0 \
    "$(tmy_sql "SELECT COUNT(*) FROM tributary.ddl_started WHERE group_name = '$group'")"
back_to_row() {
    tmy_sql "UPDATE tributary.positions SET stream_seq = $((seq - 1)), position = '$row_pos',
        tx_index = $row_idx WHERE grp = '$group'"
    nats_api "\$JS.API.CONSUMER.DELETE.TRIBUTARY_$group.mysql_$group"
}

# with the note: the change ran before
back_to_row
tmy_sql "INSERT INTO tributary.ddl_started VALUES ('$group', '$ddl_pos', $ddl_idx)"
: >"$TEST_TMP/wmy.err"
start_worker
check "with the note, the duplicate column counts as applied" \
    wait_until 30 grep -q "the schema change of \`$s\`.\`t\` at $ddl_pos was applied before (Duplicate column name 'd'" "$TEST_TMP/wmy.err"
my_sql "INSERT INTO \`$s\`.t VALUES (7, 'seven', 'c7', 7)"
check "the changes after it flow" wait_until 30 t_has t "id = 7"
check_eq "still nothing in the dead letters" 0 "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")"

# without it: the target refuses the change, and the table is blocked
stop_bg wmy
seq=$(tmy_sql "SELECT stream_seq FROM tributary.positions WHERE grp = '$group'")
# the row 7 came after the change: the record goes back to the row 6
seq=$((seq - 1))
back_to_row
: >"$TEST_TMP/wmy.err"
start_worker
check "without the note, the target's refusal blocks the table" \
    wait_until 30 grep -q "sink=mysql changes of \`$s\`.\`t\` are set aside from now on: its schema change at $ddl_pos failed on the target (Duplicate column name 'd'" "$TEST_TMP/wmy.err"
my_sql "INSERT INTO \`$s\`.t VALUES (8, 'eight', 'c8', 8)"
my_sql "INSERT INTO \`$s\`.u VALUES (2, 2)"
check "another table flows on" wait_until 30 t_has u "id = 2"
check_eq "the blocked table is listed on the target" "$s t $ddl_pos" \
    "$(tmy_sql "SELECT CONCAT_WS(' ', schema_name, table_name, position) FROM tributary.blocked WHERE group_name = '$group'")"
check_eq "the change and the rows of the table after it are set aside" 3 \
    "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")"
"$BIN/worker" mysql --group "$group" --nats-url "$NATS_URL" "${target[@]}" \
    --list-dead-letters >"$TEST_TMP/dl.out" 2>"$TEST_TMP/dl.err"
check_eq "the list gives each one's reason" "DDL Duplicate column name
INSERT set aside
INSERT set aside" \
    "$(jq -r '"\(.op) \(.dead_letter.error | if test("Duplicate column name") then "Duplicate column name" elif test("failed on the target earlier") then "set aside" else . end)"' "$TEST_TMP/dl.out")"

# the operator undoes what made it fail, sets the table free and replays
stop_bg wmy
tmy_sql "ALTER TABLE \`$s\`.t DROP COLUMN d; DELETE FROM tributary.blocked WHERE group_name = '$group'"
rc=0
"$BIN/worker" mysql --group "$group" --nats-url "$NATS_URL" "${target[@]}" \
    --replay-dead-letters >"$TEST_TMP/replay.out" 2>&1 || rc=$?
check_eq "the replay exits 0" 0 "$rc"
check_eq "the replayed dead letters are gone" 0 "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")"
start_worker
my_sql "INSERT INTO \`$s\`.t VALUES (9, 'nine', 'c9', 9)"
check "once set free, the table's changes flow again" wait_until 30 t_has t "id = 9"
rows="SELECT CONCAT_WS('|', id, b, c, COALESCE(d, 'N')) FROM \`$s\`.t ORDER BY id"
check_eq "the target's columns equal the source's at the end" "$(my_sql "$shape")" "$(tmy_sql "$shape")"
check_eq "the target's rows equal the source's at the end" "$(my_sql "$rows")" "$(tmy_sql "$rows")"
stop_bg wmy
stop_bg repl
