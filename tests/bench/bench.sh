#!/usr/bin/env bash
# make bench: tributary (PostgreSQL -> replicator -> JetStream -> worker
# postgres) side by side with PostgreSQL's own logical replication (CREATE
# SUBSCRIPTION) on the same servers, in the same run, alternately, several
# times; prints the median of each and their ratio, and writes the table as
# JSON too.
#
#   BENCH_ROWS     rows of the big-transaction workloads (1000000)
#   BENCH_TXNS     single-row transactions of the backlog workload (100000)
#   BENCH_RUNS     runs of each pair (3)
#   BENCH_ONLY     space-separated workloads to run (insert update backlog
#                  capture mysql_capture latency rules copy); capture compares
#                  the replicator alone with pg_recvlogical draining the same
#                  WAL with pgoutput; mysql_capture compares replicator
#                  --source mysql draining a MariaDB binlog backlog into
#                  JetStream with mariadb-binlog reading the same binlog
#                  range from the server; latency measures commit ->
#                  visible on the target at fixed rates; rules compares a
#                  worker file draining the same events with and without a
#                  rules file; copy compares --copy-and-stream into worker
#                  postgres with a subscription's copy_data of the same rows
#   BENCH_COPY_ARGS more replicator flags for the copy workload (e.g.
#                  "--compress zstd"; none)
#   BENCH_RATES    rows/s of the latency workload (1000 5000 10000)
#   BENCH_LAT_SECS seconds of load at each rate (5)
#   BENCH_OUT      JSON file written at the end (build/bench.json)
#   BENCH_DIR      where the servers live (/tmp/tributary-bench)
#   BENCH_DEBUG    set: also print how many transactions each target
#                  database committed (how large the worker's batches were)
#
# The servers run with fsync on (unlike the tests), on their own ports, and
# are stopped at the end. Times are wall-clock from the start of the source
# workload (or of the apply, for the backlog) until the target shows the
# last row; CPU seconds are read from /proc for each process.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${TRIBUTARY_BIN:-$ROOT/build/default/bin}
ROWS=${BENCH_ROWS:-1000000}
TXNS=${BENCH_TXNS:-100000}
RUNS=${BENCH_RUNS:-3}
ONLY=${BENCH_ONLY:-insert update backlog capture mysql_capture latency rules copy}
RATES=${BENCH_RATES:-1000 5000 10000}
LAT_SECS=${BENCH_LAT_SECS:-5}
OUT=${BENCH_OUT:-$ROOT/build/bench.json}
DIR=${BENCH_DIR:-/tmp/tributary-bench}
export TRIBUTARY_SRC_PGPORT=${BENCH_SRC_PGPORT:-56432}
export TRIBUTARY_TGT_PGPORT=${BENCH_TGT_PGPORT:-56433}
export TRIBUTARY_NATS_PORT=${BENCH_NATS_PORT:-56222}
export TRIBUTARY_NATS_MONITOR_PORT=${BENCH_NATS_MONITOR_PORT:-56822}
export TRIBUTARY_MY_PORT=${BENCH_MY_PORT:-56434}

say() { echo "bench: $*" >&2; }

bash "$ROOT/internal/services.sh" start --dir "$DIR" >/dev/null
# shellcheck disable=SC1090
. <(bash "$ROOT/internal/services.sh" env --dir "$DIR")
trap 'stop_all; bash "$ROOT/internal/services.sh" stop --dir "$DIR" >/dev/null 2>&1 || true' EXIT
export TRIBUTARY_PASSWORD=$APP_PASSWORD TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD
export TRIBUTARY_LOG_LEVEL=warn
LOGS=$DIR/logs
mkdir -p "$LOGS"

psql_() {
    PGOPTIONS='-c client_min_messages=warning' "$PGBIN/psql" -X -qAt -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$1 user=postgres dbname=$2" "${@:3}"
}
src() { psql_ "$SRC_PGPORT" app -c "$1"; }
tgt() { psql_ "$TGT_PGPORT" app -c "$1"; }
nat() { psql_ "$TGT_PGPORT" native -c "$1"; }

now() { date +%s.%N; }
# cpu PID: user+system seconds of a process so far
cpu() {
    awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}
nats_pid() { cat "$DIR/nats/nats.pid"; }
# walsender_snapshot: "pid cpu" of every WAL sender now
walsender_snapshot() {
    local p
    for p in $(pgrep -f "postgres: walsender" || true); do
        echo "$p $(cpu "$p")"
    done
}
# walsender_delta BEFORE_FILE: CPU the WAL senders used since the snapshot
# (one that started since then counts from zero)
walsender_delta() {
    walsender_snapshot | awk -v f="$1" 'BEGIN { while ((getline l < f) > 0) { split(l, a, " "); b[a[1]] = a[2] } }
        { t += $2 - ($1 in b ? b[$1] : 0) } END { printf "%.2f\n", t }'
}

# wait_for SQLFUNC EXPECTED: polls until the query's answer equals EXPECTED
wait_for() {
    local f=$1 q=$2 want=$3 deadline=$(($(date +%s) + 1800))
    while [ "$($f "$q")" != "$want" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { say "timed out waiting for $q = $want"; return 1; }
        sleep 0.1
    done
}

REPL_PID=
WORK_PID=
stop_all() {
    local p
    for p in $REPL_PID $WORK_PID; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in $REPL_PID $WORK_PID; do
        wait "$p" 2>/dev/null || true
    done
    REPL_PID=
    WORK_PID=
}

tables_ddl="CREATE TABLE big (id bigint PRIMARY KEY, v int NOT NULL, pad text NOT NULL);
CREATE TABLE small (id bigserial PRIMARY KEY, client int NOT NULL, pad text NOT NULL);"

# latency: each source row records when it was written, each target row
# when it was applied (a column default, which both kinds of apply leave to
# the target)
lat_src_ddl="CREATE TABLE lat (id bigserial PRIMARY KEY, t0 timestamptz NOT NULL DEFAULT clock_timestamp(), pad text NOT NULL);"
lat_tgt_ddl="CREATE TABLE lat (id bigint PRIMARY KEY, t0 timestamptz NOT NULL, pad text NOT NULL, t1 timestamptz NOT NULL DEFAULT clock_timestamp());"

mixed_ddl="CREATE TABLE mixed (id bigint PRIMARY KEY, n int, f float8, ts timestamptz, t text, j jsonb, b bytea, a int[]);"

reset_servers() {
    src "DROP PUBLICATION IF EXISTS native_pub" >/dev/null
    nat "DROP SUBSCRIPTION IF EXISTS native_sub" >/dev/null 2>&1 || true
    src "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active" >/dev/null
    src "DROP TABLE IF EXISTS big, small, lat" >/dev/null
    src "$tables_ddl $lat_src_ddl ALTER TABLE big OWNER TO app; ALTER TABLE small OWNER TO app; ALTER TABLE lat OWNER TO app" >/dev/null
    tgt "DROP TABLE IF EXISTS big, small, lat; DROP SCHEMA IF EXISTS tributary CASCADE" >/dev/null
    tgt "$tables_ddl $lat_tgt_ddl" >/dev/null
    psql_ "$TGT_PGPORT" postgres -c "SELECT 1 FROM pg_database WHERE datname = 'native'" | grep -q 1 ||
        psql_ "$TGT_PGPORT" postgres -c "CREATE DATABASE native" >/dev/null
    nat "DROP TABLE IF EXISTS big, small, lat" >/dev/null
    nat "$tables_ddl $lat_tgt_ddl" >/dev/null
}

group_seq=0
start_tributary() {
    group_seq=$((group_seq + 1))
    GROUP=bench$group_seq
    "$BIN/replicator" --group "$GROUP" --tables big,small,lat --host 127.0.0.1 --port "$SRC_PGPORT" \
        --dbname app --user app --nats-url "$NATS_URL" >"$LOGS/repl-$GROUP.log" 2>&1 &
    REPL_PID=$!
    "$BIN/worker" postgres --group "$GROUP" --nats-url "$NATS_URL" --target-host 127.0.0.1 \
        --target-port "$TGT_PGPORT" --target-dbname app --target-user app \
        --batch-size "${BENCH_BATCH:-5000}" "$@" >"$LOGS/work-$GROUP.log" 2>&1 &
    WORK_PID=$!
    wait_for src "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'tributary_$GROUP' AND active" 1
}

start_native() {
    src "CREATE PUBLICATION native_pub FOR TABLE big, small, lat" >/dev/null
    nat "CREATE SUBSCRIPTION native_sub CONNECTION 'host=127.0.0.1 port=$SRC_PGPORT user=postgres dbname=app' PUBLICATION native_pub WITH (copy_data = false, enabled = ${1:-true})" >/dev/null
}

# peak_rss PID: the process's peak resident set so far, in MiB
peak_rss() {
    awk '/^VmHWM:/ { printf "%.1f\n", $2 / 1024; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# ---- workloads: each prints "seconds cpu_repl cpu_work cpu_nats cpu_walsender
# rss_repl_mib rss_work_mib"

load_insert() {
    src "INSERT INTO big SELECT g, 1, md5(g::text) FROM generate_series(1, $ROWS) g" >/dev/null
}
load_update() {
    src "UPDATE big SET v = 2" >/dev/null
}

# children_cpu CMD...: runs CMD, then prints the CPU seconds (user + system)
# it and its children used
children_cpu() {
    bash -c '"$@" >/dev/null 2>&1; times' _ "$@" | tail -n 1 |
        awk '{ split($1, u, "m"); split($2, s, "m"); printf "%.2f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }'
}

# capture only: the slot exists, 1M rows are inserted, then the timed
# part drains them: pg_recvlogical (pgoutput) to /dev/null up to the WAL
# position after the load, or the replicator until JetStream has stored
# every event (--max-events)
measure_capture() {
    local sys=$1 t0 t1 c0n cr=0 cn cs endpos
    src "CREATE PUBLICATION native_pub FOR TABLE big, small" >/dev/null
    if [ "$sys" = native ]; then
        "$PGBIN/pg_recvlogical" -h 127.0.0.1 -p "$SRC_PGPORT" -U postgres -d app \
            --slot bench_recv --create-slot -P pgoutput
    else
        group_seq=$((group_seq + 1))
        GROUP=bench$group_seq
        "$BIN/replicator" --group "$GROUP" --tables big,small --host 127.0.0.1 \
            --port "$SRC_PGPORT" --dbname app --user app --nats-url "$NATS_URL" \
            --max-events 1 >"$LOGS/repl-$GROUP-setup.log" 2>&1 &
        REPL_PID=$!
        wait_for src "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'tributary_$GROUP'" 1
        stop_all
    fi
    load_insert
    endpos=$(src "SELECT pg_current_wal_lsn()")
    c0n=$(cpu "$(nats_pid)")
    walsender_snapshot >"$DIR/ws0"
    t0=$(now)
    if [ "$sys" = native ]; then
        "$PGBIN/pg_recvlogical" -h 127.0.0.1 -p "$SRC_PGPORT" -U postgres -d app \
            --slot bench_recv --start --endpos "$endpos" -o proto_version=1 \
            -o publication_names=native_pub -f /dev/null
    else
        cr=$(children_cpu "$BIN/replicator" --group "$GROUP" --tables big,small \
            --host 127.0.0.1 --port "$SRC_PGPORT" --dbname app --user app \
            --nats-url "$NATS_URL" --max-events "$ROWS")
    fi
    t1=$(now)
    cn=$(awk -v a="$(cpu "$(nats_pid)")" -v b="$c0n" 'BEGIN { print a - b }')
    cs=$(walsender_delta "$DIR/ws0")
    [ "$sys" = native ] && src "SELECT pg_drop_replication_slot('bench_recv')" >/dev/null
    awk -v a="$t0" -v b="$t1" -v r="$cr" -v n="$cn" -v s="$cs" \
        'BEGIN { printf "%.3f %.2f 0 %.2f %.2f 0 0\n", b - a, r, n, s }'
}

# ---- mysql_capture: MariaDB binlog -> replicator --source mysql -> JetStream

# my [SQL]: the mariadb client as root over TCP (tab-separated, no column
# names); with no SQL it reads stdin
my() {
    local cmd=(mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$MY_PORT" -u root
        --connect-timeout=10 --batch --silent --skip-column-names)
    if [ $# -eq 0 ]; then "${cmd[@]}"; else "${cmd[@]}" -e "$1"; fi
}
my_args() {
    printf '%s\n' --source mysql --tables bench_my.big --host 127.0.0.1 --port "$MY_PORT" \
        --user app --nats-url "$NATS_URL"
}

# my_prepare: a fresh database and group; the group's replicator runs
# until it has saved its start position and is stopped, then ROWS rows
# go in; sets MY_GROUP and MY_RANGE (the binlog files and the start and
# stop offsets of the load, for mariadb-binlog)
MY_GROUP=
MY_RANGE=()
my_prepare() {
    local args pos end files
    command -v mariadb-binlog >/dev/null || { say "mysql_capture needs mariadb-binlog"; return 1; }
    mapfile -t args < <(my_args)
    # a new binlog file, and the old ones gone: the server keeps only this
    # run's data (a row takes about 34 bytes of binlog, so one file of the
    # default max_binlog_size, 1 GiB, holds some 30 million)
    my "FLUSH BINARY LOGS" >/dev/null
    my "PURGE BINARY LOGS TO '$(my "SHOW MASTER STATUS" | cut -f1)'" >/dev/null
    my "DROP DATABASE IF EXISTS bench_my; CREATE DATABASE bench_my;
        CREATE TABLE bench_my.big (id bigint PRIMARY KEY, pad varchar(32) NOT NULL,
            v int NOT NULL) ENGINE=InnoDB" >/dev/null
    group_seq=$((group_seq + 1))
    MY_GROUP=bench$group_seq
    "$BIN/replicator" "${args[@]}" --group "$MY_GROUP" --log-level info \
        >"$LOGS/repl-$MY_GROUP-setup.log" 2>&1 &
    REPL_PID=$!
    local deadline=$(($(date +%s) + 60))
    until grep -q "streaming the binlog from" "$LOGS/repl-$MY_GROUP-setup.log" &&
        "$BIN/replicator" status "${args[@]}" --group "$MY_GROUP" 2>/dev/null |
        grep -qE 'saved position +[^ ]+:[0-9]+'; do
        if ! kill -0 "$REPL_PID" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
            say "replicator --source mysql did not start streaming, see $LOGS/repl-$MY_GROUP-setup.log"
            tail -n 5 "$LOGS/repl-$MY_GROUP-setup.log" >&2
            return 1
        fi
        sleep 0.1
    done
    stop_all
    pos=$(my "SHOW MASTER STATUS" | cut -f1,2)
    # 100,000 rows (one transaction) per statement, from the sequence
    # engine (whose tables are in the current database)
    local a b
    {
        echo "USE bench_my;"
        for ((a = 1; a <= ROWS; a += 100000)); do
            b=$((a + 99999 > ROWS ? ROWS : a + 99999))
            echo "INSERT INTO big SELECT seq, LEFT(MD5(seq), 20), seq % 1000 FROM seq_${a}_to_${b};"
        done
    } | my
    end=$(my "SHOW MASTER STATUS" | cut -f1,2)
    # the files from the first to the last, in case the load crossed one
    files=$(my "SHOW BINARY LOGS" | cut -f1 | awk -v f="${pos%%$'\t'*}" -v l="${end%%$'\t'*}" \
        '$1 == f { on = 1 } on { print } $1 == l { on = 0 }')
    mapfile -t MY_RANGE < <(echo "--start-position=${pos#*$'\t'}"; echo "--stop-position=${end#*$'\t'}"; echo "$files")
    # the row data as the binlog's row images hold it: bigint 8 bytes,
    # varchar a length byte and its bytes, int 4
    my "SELECT ROUND(SUM(8 + 1 + LENGTH(pad) + 4) / 1048576, 1) FROM bench_my.big" >"$DIR/mysql_capture.mib"
}

# my_cleanup: the group's stream and state bucket, and the database
my_cleanup() {
    local args
    mapfile -t args < <(my_args)
    "$BIN/replicator" "${args[@]}" --group "$MY_GROUP" --cleanup --yes \
        >"$LOGS/repl-$MY_GROUP-cleanup.log" 2>&1 || say "could not remove group $MY_GROUP (see $LOGS/repl-$MY_GROUP-cleanup.log)"
    my "DROP DATABASE IF EXISTS bench_my" >/dev/null
    MY_GROUP=
}

# mysql_capture: the load of a run is prepared before its native half and
# read by both: the timed part is mariadb-binlog reading the load's binlog
# range from the server to /dev/null, or the replicator draining the same
# rows from its saved position until JetStream has stored every event
# (--max-events). The server column is the whole mariadbd (its binlog
# dump thread and whatever it does in the background meanwhile).
measure_mysql_capture() {
    local sys=$1 t0 t1 c0n c0m cn cm cr=0 mr=0 rc=0 args myd
    if [ "$sys" = native ] || [ -z "$MY_GROUP" ]; then
        my_prepare
    fi
    mapfile -t args < <(my_args)
    # GNU time: CPU seconds and peak resident KiB of the replicator
    # (without it neither is measured, and both print 0)
    local timer=(/usr/bin/time -o "$DIR/my-time" -f '%U %S %M')
    [ -x /usr/bin/time ] || timer=()
    echo "0 0 0" >"$DIR/my-time"
    myd=$(tr -dc 0-9 <"$DIR/my/my.pid")
    c0n=$(cpu "$(nats_pid)")
    c0m=$(cpu "$myd")
    t0=$(now)
    if [ "$sys" = native ]; then
        mariadb-binlog --no-defaults --read-from-remote-server --protocol=TCP --host 127.0.0.1 \
            --port "$MY_PORT" --user root "${MY_RANGE[@]}" >/dev/null
    else
        "${timer[@]}" "$BIN/replicator" "${args[@]}" --group "$MY_GROUP" \
            --max-events "$ROWS" --log-level info >"$LOGS/repl-$MY_GROUP.log" 2>&1 || rc=$?
    fi
    t1=$(now)
    cn=$(awk -v a="$(cpu "$(nats_pid)")" -v b="$c0n" 'BEGIN { print a - b }')
    cm=$(awk -v a="$(cpu "$myd")" -v b="$c0m" 'BEGIN { print a - b }')
    if [ "$sys" = tributary ]; then
        if [ "$rc" -ne 0 ]; then
            say "replicator --source mysql failed (exit $rc), see $LOGS/repl-$MY_GROUP.log"
            tail -n 5 "$LOGS/repl-$MY_GROUP.log" >&2
            return 1
        fi
        read -r cr mr < <(awk '{ printf "%.2f %.1f\n", $1 + $2, $3 / 1024 }' "$DIR/my-time")
        my_cleanup
    fi
    awk -v a="$t0" -v b="$t1" -v r="$cr" -v n="$cn" -v s="$cm" -v mr="$mr" \
        'BEGIN { printf "%.3f %.2f 0 %.2f %.2f %s 0\n", b - a, r, n, s, mr }'
}

# checkpoint: both clusters write out what the setup dirtied, so no
# checkpoint (and the full-page writes after one) falls inside one system's
# timed run and not the other's
checkpoint() {
    src "CHECKPOINT" >/dev/null
    tgt "CHECKPOINT" >/dev/null
}

measure() { # measure SYSTEM WORKLOAD
    local sys=$1 wl=$2 t0 t1 c0n c1r=0 c1w=0 f
    if [ "$wl" = mysql_capture ]; then
        measure_mysql_capture "$sys"
        return
    fi
    reset_servers
    if [ "$wl" = capture ]; then
        measure_capture "$sys"
        return
    fi
    if [ "$wl" = update ]; then
        src "INSERT INTO big SELECT g, 1, md5(g::text) FROM generate_series(1, $ROWS) g" >/dev/null
        tgt "INSERT INTO big SELECT g, 1, md5(g::text) FROM generate_series(1, $ROWS) g" >/dev/null
        nat "INSERT INTO big SELECT g, 1, md5(g::text) FROM generate_series(1, $ROWS) g" >/dev/null
    fi
    if [ "$sys" = native ]; then f=nat; else f=tgt; fi
    if [ "$wl" = copy ]; then
        # ROWS rows of mixed types, about 200 bytes each, copied from
        # scratch: native CREATE SUBSCRIPTION with copy_data, or
        # replicator --copy-and-stream into worker postgres
        src "DROP TABLE IF EXISTS mixed; $mixed_ddl ALTER TABLE mixed OWNER TO app" >/dev/null
        src "INSERT INTO mixed SELECT g, g % 1000, g / 3.0, '2024-01-01'::timestamptz + g * interval '1 second',
            md5(g::text) || md5((g + 1)::text), jsonb_build_object('id', g, 'tag', 'x' || (g % 100)),
            decode(md5(g::text), 'hex'), ARRAY[g, g + 1, g + 2] FROM generate_series(1, $ROWS) g" >/dev/null
        $f "DROP TABLE IF EXISTS mixed; $mixed_ddl" >/dev/null
        checkpoint
        c0n=$(cpu "$(nats_pid)")
        walsender_snapshot >"$DIR/ws0"
        t0=$(now)
        if [ "$sys" = native ]; then
            src "CREATE PUBLICATION native_pub FOR TABLE mixed" >/dev/null
            nat "CREATE SUBSCRIPTION native_sub CONNECTION 'host=127.0.0.1 port=$SRC_PGPORT user=postgres dbname=app' PUBLICATION native_pub WITH (copy_data = true)" >/dev/null
        else
            group_seq=$((group_seq + 1))
            GROUP=bench$group_seq
            "$BIN/replicator" --group "$GROUP" --tables mixed --host 127.0.0.1 --port "$SRC_PGPORT" \
                --dbname app --user app --nats-url "$NATS_URL" --copy-and-stream ${BENCH_COPY_ARGS:-} \
                >"$LOGS/repl-$GROUP.log" 2>&1 &
            REPL_PID=$!
            "$BIN/worker" postgres --group "$GROUP" --nats-url "$NATS_URL" --target-host 127.0.0.1 \
                --target-port "$TGT_PGPORT" --target-dbname app --target-user app \
                --batch-size "${BENCH_BATCH:-5000}" >"$LOGS/work-$GROUP.log" 2>&1 &
            WORK_PID=$!
        fi
        # a count of the whole table costs the target about a tenth of a
        # second, which a probe every quarter second would take from the
        # load itself: the last row (an index lookup) is waited for first,
        # then every row, as for the other workloads (native commits the
        # copy at once; tributary's parallel ranges end close together)
        wait_for "$f" "SELECT count(*) FROM mixed WHERE id = $ROWS" 1
        wait_for "$f" "SELECT count(*) FROM mixed" "$ROWS"
    elif [ "$wl" = backlog ]; then
        # the capture exists (slot) but nothing applies until the load is in
        if [ "$sys" = native ]; then
            start_native false
        else
            start_tributary
            stop_all
        fi
        printf 'INSERT INTO small (client, pad) VALUES (:client_id, md5(random()::text));\n' >"$DIR/small.sql"
        "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$SRC_PGPORT" -U postgres -c 4 -j 2 \
            -t $((TXNS / 4)) -f "$DIR/small.sql" app >"$LOGS/pgbench.log" 2>&1
        checkpoint
        c0n=$(cpu "$(nats_pid)")
        walsender_snapshot >"$DIR/ws0"
        t0=$(now)
        if [ "$sys" = native ]; then
            nat "ALTER SUBSCRIPTION native_sub ENABLE" >/dev/null
        else
            # same group again: its slot holds the backlog
            group_seq=$((group_seq - 1))
            start_tributary
        fi
        # cheap probe first (the last row), then the full count
        wait_for "$f" "SELECT count(*) FROM small WHERE id = $TXNS" 1
        wait_for "$f" "SELECT count(*) FROM small" "$TXNS"
    else
        if [ "$sys" = native ]; then start_native; else start_tributary; fi
        sleep 1
        checkpoint
        c0n=$(cpu "$(nats_pid)")
        walsender_snapshot >"$DIR/ws0"
        t0=$(now)
        "load_$wl"
        # rows arrive in order: probe the last one, then check them all
        if [ "$wl" = insert ]; then
            wait_for "$f" "SELECT count(*) FROM big WHERE id = $ROWS" 1
            wait_for "$f" "SELECT count(*) FROM big" "$ROWS"
        else
            wait_for "$f" "SELECT count(*) FROM big WHERE id = $ROWS AND v = 2" 1
            wait_for "$f" "SELECT count(*) FROM big WHERE v = 2" "$ROWS"
        fi
    fi
    t1=$(now)
    [ -n "${BENCH_DEBUG:-}" ] && say "target commits: $(tgt "SELECT xact_commit FROM pg_stat_database WHERE datname = 'app'") $(nat "SELECT xact_commit FROM pg_stat_database WHERE datname = 'native'")"
    local cn cs
    cn=$(awk -v a="$(cpu "$(nats_pid)")" -v b="$c0n" 'BEGIN { print a - b }')
    cs=$(walsender_delta "$DIR/ws0")
    local mr=0 mw=0
    if [ -n "$REPL_PID" ]; then
        c1r=$(cpu "$REPL_PID")
        c1w=$(cpu "$WORK_PID")
        mr=$(peak_rss "$REPL_PID")
        mw=$(peak_rss "$WORK_PID")
    fi
    stop_all
    awk -v a="$t0" -v b="$t1" -v r="$c1r" -v w="$c1w" -v n="$cn" -v s="$cs" -v mr="$mr" -v mw="$mw" \
        'BEGIN { printf "%.3f %.2f %.2f %.2f %.2f %s %s\n", b - a, r, w, n, s, mr, mw }'
}

# measure_latency SYSTEM RATE: single-row transactions from 4 clients at
# RATE rows/s for LAT_SECS seconds, both systems running; prints "p50 p95
# p99" in ms of (applied on the target - written on the source)
measure_latency() {
    local sys=$1 rate=$2 f n
    reset_servers
    if [ "$sys" = native ]; then f=nat; start_native; else f=tgt; start_tributary; fi
    sleep 1
    printf 'INSERT INTO lat (pad) VALUES (md5(random()::text));\n' >"$DIR/lat.sql"
    "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$SRC_PGPORT" -U postgres -c 4 -j 2 -R "$rate" \
        -T "$LAT_SECS" -f "$DIR/lat.sql" app >"$LOGS/pgbench-lat.log" 2>&1
    n=$(src "SELECT count(*) FROM lat")
    wait_for "$f" "SELECT count(*) FROM lat" "$n"
    stop_all
    $f "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' ' ||
               round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' ' ||
               round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1)
        FROM (SELECT extract(epoch FROM t1 - t0) * 1000 AS ms FROM lat) l"
}

run_latency() {
    local rate sys run col
    for rate in $RATES; do
        : >"$DIR/lat$rate.native"
        : >"$DIR/lat$rate.tributary"
        for run in $(seq 1 "$RUNS"); do
            for sys in native tributary; do
                say "latency $rate rows/s run $run/$RUNS: $sys"
                measure_latency "$sys" "$rate" >>"$DIR/lat$rate.$sys"
                tail -n 1 "$DIR/lat$rate.$sys" | sed "s/^/bench:   ms p50 p95 p99: /" >&2
            done
        done
        local v=()
        for sys in native tributary; do
            for col in 1 2 3; do
                v+=("$(cut -d' ' -f$col "$DIR/lat$rate.$sys" | median)")
            done
        done
        lat_results+=("$(printf '%-8s %7d %8s %8s %8s %8s %8s %8s %6s' latency "$rate" "${v[@]}" 50)")
        [ "$json" = "[" ] || json+=","
        json+=$(printf '{"workload":"latency","rows_per_s":%d,"native_ms":{"p50":%s,"p95":%s,"p99":%s},"tributary_ms":{"p50":%s,"p95":%s,"p99":%s},"goal_p99_ms_at_5000":50}' \
            "$rate" "${v[@]}")
    done
}

# rules: ROWS inserts of people in JetStream once, then worker file drains
# them from a consumer of its own, alternately without and with a rules
# file of the usual kinds (masks, a regex, filters that every row passes,
# an excluded column), so both write the same rows
rules_yaml='tables:
  people:
    - {type: transform, column: email, parameters: {type: mask, mask_char: "*"}}
    - {type: transform, column: phone, parameters: {type: regex, pattern: "^(\\d{3})(\\d{3})(\\d{4})$", replace: "($1) $2-$3"}}
    - {type: filter, column: age, parameters: {operator: gte, value: 18}}
    - {type: filter, column: created_at, parameters: {operator: gt, value: "2000-01-01T00:00:00Z"}}
    - {type: transform, column: ssn, parameters: {type: mask, mask_char: "X"}, operations: [INSERT, UPDATE]}
    - {type: exclude_column, column: note}'
run_rules() {
    local run sys t0 t1 c
    reset_servers
    src "DROP TABLE IF EXISTS people; CREATE TABLE people (id bigint PRIMARY KEY, email text, phone text, age int, ssn text, created_at timestamptz, note text); ALTER TABLE people OWNER TO app" >/dev/null
    printf '%s\n' "$rules_yaml" >"$DIR/rules.yml"
    group_seq=$((group_seq + 1))
    GROUP=bench$group_seq
    "$BIN/replicator" --group "$GROUP" --tables people --host 127.0.0.1 --port "$SRC_PGPORT" \
        --dbname app --user app --nats-url "$NATS_URL" --max-events "$ROWS" >"$LOGS/repl-$GROUP.log" 2>&1 &
    REPL_PID=$!
    wait_for src "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'tributary_$GROUP' AND active" 1
    src "INSERT INTO people SELECT g, 'user' || g || '@example.com', lpad((g % 10000000000)::text, 10, '5'), 18 + g % 60, lpad(g::text, 9, '0'), now() - g * interval '1 minute', 'note ' || g FROM generate_series(1, $ROWS) g" >/dev/null
    wait "$REPL_PID"
    REPL_PID=
    : >"$DIR/rules.plain"
    : >"$DIR/rules.rules"
    for run in $(seq 1 "$RUNS"); do
        for sys in plain rules; do
            say "rules run $run/$RUNS: worker file $([ $sys = rules ] && echo with || echo without) rules"
            rm -rf "$DIR/rules-out"
            local extra=()
            [ "$sys" = rules ] && extra=(--rules-config "$DIR/rules.yml")
            t0=$(now)
            c=$(children_cpu "$BIN/worker" file --group "$GROUP" --nats-url "$NATS_URL" \
                --consumer "c_${sys}_$run" --file-output-dir "$DIR/rules-out" \
                --batch-size "${BENCH_BATCH:-5000}" --max-events "$ROWS" "${extra[@]}")
            t1=$(now)
            awk -v a="$t0" -v b="$t1" -v c="$c" 'BEGIN { printf "%.3f %.2f\n", b - a, c }' >>"$DIR/rules.$sys"
            tail -n 1 "$DIR/rules.$sys" | sed "s/^/bench:   s cpu(worker): /" >&2
        done
    done
    rm -rf "$DIR/rules-out"
    local tp tr cp cr ratio
    tp=$(cut -d' ' -f1 "$DIR/rules.plain" | median)
    tr=$(cut -d' ' -f1 "$DIR/rules.rules" | median)
    cp=$(cut -d' ' -f2 "$DIR/rules.plain" | median)
    cr=$(cut -d' ' -f2 "$DIR/rules.rules" | median)
    ratio=$(awk -v a="$tp" -v b="$tr" 'BEGIN { printf "%.2f", a / b }')
    rules_results+=("$(printf '%-8s %9d %9.2f %9.2f %8.0f %8.0f %6s %5s %7.1f %7.1f' rules "$ROWS" "$tp" "$tr" \
        "$(awk -v n="$ROWS" -v t="$tp" 'BEGIN { print n / t }')" "$(awk -v n="$ROWS" -v t="$tr" 'BEGIN { print n / t }')" \
        "$ratio" 0.9 "$(awk -v c="$cp" -v n="$ROWS" 'BEGIN { print c * 1000000 / n }')" \
        "$(awk -v c="$cr" -v n="$ROWS" 'BEGIN { print c * 1000000 / n }')")")
    [ "$json" = "[" ] || json+=","
    json+=$(printf '{"workload":"rules","rows":%d,"plain_s":%s,"rules_s":%s,"ratio":%s,"goal":0.9}' \
        "$ROWS" "$tp" "$tr" "$ratio")
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

results=()
lat_results=()
rules_results=()
json="["
for wl in $ONLY; do
    if [ "$wl" = latency ]; then
        run_latency
        continue
    fi
    if [ "$wl" = rules ]; then
        run_rules
        continue
    fi
    case $wl in
    insert | update | capture | mysql_capture | copy) n=$ROWS ;;
    backlog) n=$TXNS ;;
    *) say "unknown workload $wl"; exit 2 ;;
    esac
    : >"$DIR/$wl.native"
    : >"$DIR/$wl.tributary"
    for run in $(seq 1 "$RUNS"); do
        for sys in native tributary; do
            say "$wl run $run/$RUNS: $sys"
            measure "$sys" "$wl" >>"$DIR/$wl.$sys"
            tail -n 1 "$DIR/$wl.$sys" | sed "s/^/bench:   s cpu(repl work nats walsender) rss(repl work): /" >&2
        done
    done
    # the row data moved: the live rows' size, as PostgreSQL stores them
    case $wl in
    backlog) tbl=small ;;
    copy) tbl=mixed ;;
    *) tbl=big ;;
    esac
    if [ "$wl" = mysql_capture ]; then
        mb=$(cat "$DIR/mysql_capture.mib")
    else
        mb=$(src "SELECT round(coalesce(sum(pg_column_size(x.*)), 0) / 1048576.0, 1) FROM $tbl x")
    fi
    tn=$(cut -d' ' -f1 "$DIR/$wl.native" | median)
    tt=$(cut -d' ' -f1 "$DIR/$wl.tributary" | median)
    cr=$(cut -d' ' -f2 "$DIR/$wl.tributary" | median)
    cw=$(cut -d' ' -f3 "$DIR/$wl.tributary" | median)
    cn=$(cut -d' ' -f4 "$DIR/$wl.tributary" | median)
    cs=$(cut -d' ' -f5 "$DIR/$wl.tributary" | median)
    # peak memory: the largest of the runs
    mr=$(cut -d' ' -f6 "$DIR/$wl.tributary" | sort -n | tail -n 1)
    mw=$(cut -d' ' -f7 "$DIR/$wl.tributary" | sort -n | tail -n 1)
    ratio=$(awk -v a="$tn" -v b="$tt" 'BEGIN { printf "%.2f", a / b }')
    goal=1.0
    [ "$wl" = backlog ] && goal=0.8
    [ "$wl" = capture ] && goal=0.9
    [ "$wl" = mysql_capture ] && goal=0.5
    [ "$wl" = copy ] && goal=1.0
    per_m() { awk -v c="$1" -v n="$n" 'BEGIN { printf "%.1f", c * 1000000 / n }'; }
    mbs() { awk -v m="$mb" -v t="$1" 'BEGIN { printf "%.1f", m / t }'; }
    results+=("$(printf '%-13s %9d %9.2f %9.2f %8.0f %8.0f %6s %6s %6s %5s %7s %7s %7s %7s %6s %6s' "$wl" "$n" "$tn" "$tt" \
        "$(awk -v n="$n" -v t="$tn" 'BEGIN { print n / t }')" "$(awk -v n="$n" -v t="$tt" 'BEGIN { print n / t }')" \
        "$(mbs "$tn")" "$(mbs "$tt")" \
        "$ratio" "$goal" "$(per_m "$cr")" "$(per_m "$cw")" "$(per_m "$cn")" "$(per_m "$cs")" "$mr" "$mw")")
    [ "$json" = "[" ] || json+=","
    json+=$(printf '{"workload":"%s","rows":%d,"row_data_mib":%s,"native_s":%s,"tributary_s":%s,"native_mib_per_s":%s,"tributary_mib_per_s":%s,"ratio":%s,"goal":%s,"cpu_s_per_million":{"replicator":%s,"worker":%s,"nats":%s,"walsender":%s},"peak_rss_mib":{"replicator":%s,"worker":%s}}' \
        "$wl" "$n" "$mb" "$tn" "$tt" "$(mbs "$tn")" "$(mbs "$tt")" "$ratio" "$goal" "$(per_m "$cr")" "$(per_m "$cw")" "$(per_m "$cn")" "$(per_m "$cs")" "$mr" "$mw")
done
json+="]"
mkdir -p "$(dirname "$OUT")"
echo "$json" >"$OUT"

if [ ${#results[@]} -gt 0 ]; then
    echo
    echo "tributary vs native logical replication, median of $RUNS runs each ($(nproc) cores, $(date -u +%Y-%m-%d))"
    printf '%-13s %9s %9s %9s %8s %8s %6s %6s %6s %5s %7s %7s %7s %7s %6s %6s\n' workload rows native_s trib_s nat_r/s trib_r/s natMB/s triMB/s ratio goal \
        cpu/M:r w nats walsnd rssMB:r w
    for r in "${results[@]}"; do echo "$r"; done
    echo "(ratio = native time / tributary time, higher is better; MB/s = MiB of row data (pg_column_size of the live rows) per second; cpu/M = CPU seconds per million rows of replicator, worker, NATS, walsender; capture: native is pg_recvlogical with pgoutput, and the WAL sender of a finished drain is not counted; mysql_capture: native is mariadb-binlog reading the same binlog range from the server and printing its row events, undecoded, to /dev/null, so the goal is 0.5 (the replicator decodes every row into an event and publishes it to JetStream with acknowledgements, mariadb-binlog only prints), its MB/s counts the column bytes of the binlog's row images, and walsnd is the whole mariadbd; rssMB = peak resident MiB of replicator and worker, goals 32 and 64)"
fi
if [ ${#lat_results[@]} -gt 0 ]; then
    echo
    echo "latency from source commit to visible on the target, ms, median of $RUNS runs each"
    printf '%-8s %7s %8s %8s %8s %8s %8s %8s %6s\n' workload rows/s nat_p50 nat_p95 nat_p99 trib_p50 trib_p95 trib_p99 goal99
    for r in "${lat_results[@]}"; do echo "$r"; done
    echo "(the goal is a p99 of at most 50 ms at 5000 rows/s; the worker runs with its defaults)"
fi
if [ ${#rules_results[@]} -gt 0 ]; then
    echo
    echo "worker file draining the same events without and with a rules file, median of $RUNS runs each"
    printf '%-8s %9s %9s %9s %8s %8s %6s %5s %7s %7s\n' workload rows plain_s rules_s plain/s rules/s ratio goal cpu/M:p r
    for r in "${rules_results[@]}"; do echo "$r"; done
    echo "(ratio = time without rules / time with rules; the goal is at least 0.9; cpu/M = worker CPU seconds per million events)"
fi
echo "JSON: $OUT"
