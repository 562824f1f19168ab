#!/usr/bin/env bash
# Starts and stops throwaway local servers for tests, the demo and development:
# a source and a target PostgreSQL cluster (wal_level=logical), a MariaDB
# server (row-based binlog) and a NATS server with JetStream, all on 127.0.0.1
# and non-default ports, with every file (data, sockets, logs) under one
# directory.
#
#   internal/services.sh start|stop|status|env [--dir DIR] [--fast]
#
#   start   install what is missing (internal/deps.sh), start what is not
#           running, write DIR/env (export lines to source)
#   stop    stop everything started in DIR and remove DIR
#   status  one line per server; exit 0 if all are up
#   env     print DIR/env
#   --fast  fsync, synchronous_commit and full_page_writes off; MariaDB
#           does not flush its redo log or binlog at commit (tests)
#
# DIR defaults to $TRIBUTARY_SERVICES_DIR, else /tmp/tributary-services.
# Ports: TRIBUTARY_SRC_PGPORT (55432), TRIBUTARY_TGT_PGPORT (55433),
# TRIBUTARY_MY_PORT (55434), TRIBUTARY_NATS_PORT (54222),
# TRIBUTARY_NATS_MONITOR_PORT (58222).
# PostgreSQL: user postgres has trust over TCP; role app (superuser,
# replication) logs in with the password in $APP_PASSWORD from DIR/env.
# MariaDB: root has no password over TCP; user app (all privileges,
# replication) logs in with the same password; database app.
set -euo pipefail
umask 022

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Special characters on purpose, so that quoting bugs show up in tests.
APP_PASSWORD="p@ss:w/rd !#%'\"x"

SRC_PGPORT=${TRIBUTARY_SRC_PGPORT:-55432}
TGT_PGPORT=${TRIBUTARY_TGT_PGPORT:-55433}
MY_PORT=${TRIBUTARY_MY_PORT:-55434}
NATS_PORT=${TRIBUTARY_NATS_PORT:-54222}
NATS_MONITOR_PORT=${TRIBUTARY_NATS_MONITOR_PORT:-58222}

# Written by start; stop removes DIR recursively only when it is present.
MARKER=.tributary-services

usage() {
    echo "usage: internal/services.sh start|stop|status|env|nats-stop|nats-start|target-stop|target-start|source-stop|source-start|my-stop|my-start [--dir DIR] [--fast]" >&2
    echo "  nats-stop, nats-start: stop or start only NATS, keeping its file store (for fault tests)" >&2
    echo "  target-stop, target-start, source-stop, source-start: stop or start only that PostgreSQL, keeping its data" >&2
    echo "  my-stop, my-start: stop or start only MariaDB, keeping its data" >&2
    exit 2
}

say() { echo "services: $*" >&2; }

# die MESSAGE [LOG]: prints the message and the tail of LOG, exits 1.
die() {
    say "$1"
    if [ -n "${2:-}" ] && [ -s "$2" ]; then
        echo "---- last lines of $2" >&2
        tail -n 25 "$2" >&2
        echo "----" >&2
    fi
    exit 1
}

CMD=${1:-}
[ -n "$CMD" ] || usage
shift
DIR=${TRIBUTARY_SERVICES_DIR:-/tmp/tributary-services}
FAST=0
while [ $# -gt 0 ]; do
    case $1 in
    --dir)
        [ $# -ge 2 ] || usage
        DIR=$2
        shift 2
        ;;
    --dir=*)
        DIR=${1#--dir=}
        shift
        ;;
    --fast)
        FAST=1
        shift
        ;;
    *) usage ;;
    esac
done
[ -n "$DIR" ] || usage
DIR=$(realpath -m -- "$DIR")
[ "$DIR" != / ] || die "refusing to use / as the services directory"

for p in SRC_PGPORT TGT_PGPORT MY_PORT NATS_PORT NATS_MONITOR_PORT; do
    case ${!p} in
    '' | *[!0-9]*) die "$p must be a port number, not '${!p}'" ;;
    esac
done

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# as_pg CMD...: runs a PostgreSQL server program; initdb and pg_ctl refuse
# root, so root runs them as the postgres user (from /, which it can read).
as_pg() {
    if [ "$IS_ROOT" -eq 1 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

PGBIN=
find_pgbin() {
    [ -z "$PGBIN" ] || return 0
    local d best='' bestv=0 v
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] || continue
        v=$(basename "$(dirname "$d")")
        case $v in '' | *[!0-9]*) continue ;; esac
        if [ "$v" -gt "$bestv" ]; then
            bestv=$v
            best=$d
        fi
    done
    [ -n "$best" ] || return 1
    PGBIN=$best
}

find_nats() {
    command -v nats-server 2>/dev/null && return 0
    [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server && return 0
    return 1
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# bind_held LOG FROM PORTS: the server's log after line FROM says a port was
# in use, though none of PORTS has a listener: an outgoing connection that
# happened to get that port as its own is closing (TIME_WAIT, up to 60 s)
# and a new server may bind it once it is gone.
bind_held() {
    local p
    tail -n +"$(($2 + 1))" "$1" 2>/dev/null | grep -qi "address already in use" || return 1
    for p in $3; do
        port_in_use "$p" && return 1
    done
    return 0
}

# bind_wait TRY LABEL LOG FROM PORTS: after start number TRY (from 1) of a
# server failed, whether to start it again: only when bind_held says a
# closing connection holds its port, 2 s later, for up to 40 tries.
bind_wait() {
    [ "$1" -le 40 ] && bind_held "$3" "$4" "$5" || return 1
    [ "$1" -gt 1 ] || say "$2: a port is still held by a closed connection (TIME_WAIT); waiting for it"
    sleep 2
}

pid_alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    # A zombie (exited, not yet reaped) counts as gone.
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
    [ "$state" != Z ]
}

# Quotes a string as a single-quoted postgresql.conf value.
conf_str() {
    local s=${1//\'/\'\'}
    printf "'%s'" "$s"
}

# ---- PostgreSQL ----------------------------------------------------------

pg_running() {
    local data=$1 pid
    [ -f "$data/postmaster.pid" ] || return 1
    # pg_ctl status alone takes an unreaped (zombie) postmaster for alive.
    pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    pid_alive "$pid" || return 1
    find_pgbin || return 1
    as_pg "$PGBIN/pg_ctl" status -D "$data" >/dev/null 2>&1
}

# Port of a running cluster, from line 4 of postmaster.pid.
pg_port() {
    sed -n 4p "$1/postmaster.pid" 2>/dev/null || true
}

# Every parent of DIR must be traversable by postgres.
make_traversable() {
    local p=$1
    while [ "$p" != / ] && [ -n "$p" ]; do
        if [ "$(($(stat -c '0%a' "$p") & 1))" -eq 0 ]; then
            chmod a+x "$p"
        fi
        p=$(dirname "$p")
    done
}

write_pg_hba() {
    cat >"$1/pg_hba.conf" <<'EOF'
# Written by internal/services.sh: postgres is trusted on loopback and on
# the socket; everybody else needs a password (scram-sha-256).
# TYPE  DATABASE     USER      ADDRESS        METHOD
local   all          postgres                 trust
local   replication  postgres                 trust
host    all          postgres  127.0.0.1/32   trust
host    replication  postgres  127.0.0.1/32   trust
local   all          all                      scram-sha-256
local   replication  all                      scram-sha-256
host    all          all       127.0.0.1/32   scram-sha-256
host    replication  all       127.0.0.1/32   scram-sha-256
EOF
}

# Settings are rewritten at every start into tributary.conf, which
# postgresql.conf includes; values are quoted, so DIR may contain spaces.
write_pg_conf() {
    local data=$1 port=$2 sockdir=$3
    {
        echo "# Written by internal/services.sh at every start."
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = $(conf_str "$sockdir")"
        echo "password_encryption = 'scram-sha-256'"
        echo "wal_level = logical"
        echo "max_wal_senders = 20"
        echo "max_replication_slots = 20"
        echo "max_worker_processes = 24"
        echo "max_logical_replication_workers = 16"
        echo "max_sync_workers_per_subscription = 4"
        echo "max_connections = 200"
        echo "logging_collector = off"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        if [ "$FAST" -eq 1 ]; then
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
    } >"$data/tributary.conf"
    [ "$IS_ROOT" -eq 0 ] || chown postgres:postgres "$data/tributary.conf"
}

# Role app, database app, extension hstore. Safe to run again. The password
# goes in as a psql variable and :'pw' makes it a literal with every single
# quote doubled, so no character of it can break the statement.
pg_setup_sql() {
    local port=$1 log=$2
    {
        "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -v pw="$APP_PASSWORD" \
            "host=127.0.0.1 port=$port user=postgres dbname=postgres connect_timeout=10" <<'EOF'
SELECT 'CREATE ROLE app' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app') \gexec
ALTER ROLE app WITH LOGIN REPLICATION SUPERUSER PASSWORD :'pw';
SELECT 'CREATE DATABASE app OWNER app' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'app') \gexec
EOF
        "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 \
            "host=127.0.0.1 port=$port user=postgres dbname=app connect_timeout=10" \
            -c 'CREATE EXTENSION IF NOT EXISTS hstore'
    } >>"$log" 2>&1
}

# start_pg NAME LABEL PORT: a cluster in DIR/NAME (data in DIR/NAME/data).
start_pg() {
    local name=$1 label=$2 port=$3
    local d="$DIR/$name"
    local data="$d/data"
    find_pgbin || die "no PostgreSQL found under /usr/lib/postgresql/*/bin"
    if pg_running "$data"; then
        say "$label postgres already running on 127.0.0.1:$(pg_port "$data")"
        return 0
    fi
    port_in_use "$port" && die "$label postgres: port $port on 127.0.0.1 is already in use (another services directory? set TRIBUTARY_${name^^}_PGPORT)"
    mkdir -p "$d"
    [ "$IS_ROOT" -eq 0 ] || chown postgres:postgres "$d"
    if [ ! -s "$data/PG_VERSION" ]; then
        rm -rf "$data"
        as_pg "$PGBIN/initdb" -D "$data" -A trust -E UTF8 --no-locale -U postgres \
            >"$d/initdb.log" 2>&1 || die "$label postgres: initdb failed" "$d/initdb.log"
        write_pg_hba "$data"
        echo "include_if_exists = 'tributary.conf'" >>"$data/postgresql.conf"
        [ "$IS_ROOT" -eq 0 ] || chown postgres:postgres "$data/pg_hba.conf"
    fi
    write_pg_conf "$data" "$port" "$d"
    local tries=0 mark
    while :; do
        mark=$(wc -l 2>/dev/null <"$d/postgres.log" || echo 0)
        as_pg "$PGBIN/pg_ctl" start -D "$data" -l "$d/postgres.log" -w -t 60 \
            >"$d/pg_ctl.log" 2>&1 && break
        tries=$((tries + 1))
        if ! bind_wait "$tries" "$label postgres" "$d/postgres.log" "$mark" "$port"; then
            cat "$d/pg_ctl.log" >>"$d/postgres.log" 2>/dev/null || true
            die "$label postgres failed to start" "$d/postgres.log"
        fi
    done
    pg_setup_sql "$port" "$d/setup.log" || die "$label postgres: creating role/database app failed" "$d/setup.log"
    say "$label postgres on 127.0.0.1:$port"
}

stop_pg() {
    local name=$1 label=$2
    local data="$DIR/$name/data"
    local pid
    pg_running "$data" || return 0
    if as_pg "$PGBIN/pg_ctl" stop -D "$data" -m fast -w -t 30 >/dev/null 2>&1; then
        return 0
    fi
    say "$label postgres did not stop with -m fast; trying -m immediate"
    as_pg "$PGBIN/pg_ctl" stop -D "$data" -m immediate -w -t 30 >/dev/null 2>&1 && return 0
    pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && pid_alive "$pid"; then
        say "$label postgres still running; killing postmaster $pid"
        kill -KILL "$pid" 2>/dev/null || true
        # Its children notice the postmaster is gone and exit.
        for _ in $(seq 100); do
            pgrep -f -- "$data" >/dev/null 2>&1 || break
            sleep 0.1
        done
    fi
}

# ---- MariaDB -------------------------------------------------------------

# find_prog NAME: prints the path of a program in PATH, /usr/sbin or /usr/bin.
find_prog() {
    local d
    command -v "$1" 2>/dev/null && return 0
    for d in /usr/sbin /usr/bin; do
        [ -x "$d/$1" ] && echo "$d/$1" && return 0
    done
    return 1
}

MYSQLD=''
find_my() {
    [ -z "$MYSQLD" ] || return 0
    MY_INSTALL_DB=$(find_prog mariadb-install-db) || return 1
    MY_CLIENT=$(find_prog mariadb) || return 1
    MY_ADMIN=$(find_prog mariadb-admin) || return 1
    MYSQLD=$(find_prog mariadbd) || return 1
}

# mariadbd refuses to run as root unless it is told to.
MY_USER=()
[ "$IS_ROOT" -eq 0 ] || MY_USER=(--user=root)

# Prints the pid of the mariadbd of DIR; fails when it does not run.
my_pid() {
    local f="$DIR/my/my.pid" pid
    [ -s "$f" ] || return 1
    pid=$(tr -dc 0-9 <"$f")
    [ -n "$pid" ] || return 1
    pid_alive "$pid" || return 1
    # Make sure the pid was not reused by something else.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--pid-file=$f" || return 1
    echo "$pid"
}

# The port MariaDB of DIR listens on (or last listened on).
my_port() {
    local p=''
    [ ! -s "$DIR/my/port" ] || p=$(tr -dc 0-9 <"$DIR/my/port")
    echo "${p:-$MY_PORT}"
}

# my_root PORT ARGS...: the mariadb client, as root over TCP.
my_root() {
    local port=$1
    shift
    "$MY_CLIENT" --no-defaults --protocol=TCP -h 127.0.0.1 -P "$port" -u root \
        --connect-timeout=10 "$@"
}

my_ping() {
    "$MY_ADMIN" --no-defaults --protocol=TCP -h 127.0.0.1 -P "$1" -u root \
        --connect-timeout=2 ping >/dev/null 2>&1
}

# User app (from 127.0.0.1 and localhost) and database app. Safe to run
# again. The password reaches the server as a hex literal, and QUOTE() makes
# the string literal of ALTER USER from it, so no character of it can break
# the statement. None of this goes to the binlog.
my_setup_sql() {
    local port=$1 log=$2 hex host
    hex=$(printf '%s' "$APP_PASSWORD" | od -An -v -tx1 | tr -d ' \n')
    {
        echo "SET SESSION sql_log_bin = 0;"
        echo "SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION';"
        echo "SET @pw = CONVERT(X'$hex' USING utf8mb4);"
        for host in 127.0.0.1 localhost; do
            cat <<SQL
CREATE USER IF NOT EXISTS 'app'@'$host';
SET @s = CONCAT('ALTER USER ''app''@''$host'' IDENTIFIED BY ', QUOTE(@pw));
PREPARE s FROM @s;
EXECUTE s;
DEALLOCATE PREPARE s;
GRANT ALL PRIVILEGES ON *.* TO 'app'@'$host';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR, REPLICATION SLAVE ADMIN ON *.* TO 'app'@'$host';
SQL
        done
        echo "CREATE DATABASE IF NOT EXISTS app CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;"
    } | my_root "$port" --batch >>"$log" 2>&1
}

# MariaDB in DIR/my (data in DIR/my/data, binlog DIR/my/data/binlog.*).
start_my() {
    local d="$DIR/my" pid ok=0 args
    local data="$d/data" sock="$d/my.sock"
    find_my || die "MariaDB not found (internal/deps.sh installs mariadb-server)"
    if my_pid >/dev/null; then
        MY_PORT=$(my_port)
        say "mariadb already running on 127.0.0.1:$MY_PORT"
        return 0
    fi
    # Started again after my-stop: the port it had, unless told otherwise.
    [ -n "${TRIBUTARY_MY_PORT:-}" ] || MY_PORT=$(my_port)
    port_in_use "$MY_PORT" && die "mariadb: port $MY_PORT on 127.0.0.1 is already in use (another services directory? set TRIBUTARY_MY_PORT)"
    # sun_path holds 107 bytes and a NUL.
    [ "${#sock}" -le 107 ] || die "mariadb: socket path $sock is too long; use a shorter --dir"
    mkdir -p "$d"
    if [ ! -e "$d/installed" ]; then
        rm -rf "$data"
        "$MY_INSTALL_DB" --no-defaults "${MY_USER[@]}" --datadir="$data" \
            --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
            >"$d/install.log" 2>&1 || die "mariadb: mariadb-install-db failed" "$d/install.log"
        touch "$d/installed"
    fi
    args=(--no-defaults "${MY_USER[@]}" --datadir="$data" --port="$MY_PORT"
        --bind-address=127.0.0.1 --socket="$sock" --pid-file="$d/my.pid"
        --log-error="$d/error.log" --skip-name-resolve --max-connections=200
        --log-bin="$data/binlog" --server-id=1 --binlog-format=ROW
        --binlog-row-image=FULL --binlog-row-metadata=FULL --binlog-checksum=CRC32
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci)
    if [ "$FAST" -eq 1 ]; then
        args+=(--innodb-flush-log-at-trx-commit=2 --sync-binlog=0
            --innodb-doublewrite=0 --innodb-buffer-pool-size=32M
            --innodb-buffer-pool-dump-at-shutdown=0 --innodb-buffer-pool-load-at-startup=0)
    fi
    rm -f "$d/my.pid"
    # Own session, like NATS: a Ctrl-C meant for a test run does not reach it.
    setsid "$MYSQLD" "${args[@]}" </dev/null >>"$d/mariadbd.out" 2>&1 &
    pid=$!
    for _ in $(seq 600); do
        if my_ping "$MY_PORT" && pid_alive "$pid"; then
            ok=1
            break
        fi
        pid_alive "$pid" || break
        sleep 0.1
    done
    if [ "$ok" -ne 1 ]; then
        kill -KILL "$pid" 2>/dev/null || true
        cat "$d/mariadbd.out" >>"$d/error.log" 2>/dev/null || true
        die "mariadb failed to start" "$d/error.log"
    fi
    [ -s "$d/my.pid" ] || echo "$pid" >"$d/my.pid"
    echo "$MY_PORT" >"$d/port"
    my_setup_sql "$MY_PORT" "$d/setup.log" || die "mariadb: creating user/database app failed" "$d/setup.log"
    say "mariadb on 127.0.0.1:$MY_PORT"
}

stop_my() {
    local pid
    pid=$(my_pid) || return 0
    # SIGTERM is a normal shutdown.
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    say "mariadbd $pid did not exit within 30 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
}

# ---- NATS ----------------------------------------------------------------

nats_pid() {
    local f="$DIR/nats/nats.pid" pid
    [ -s "$f" ] || return 1
    pid=$(tr -dc 0-9 <"$f")
    [ -n "$pid" ] || return 1
    pid_alive "$pid" || return 1
    # Make sure the pid was not reused by something else.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q nats-server || return 1
    echo "$pid"
}

nats_healthy() {
    curl -sf -m 2 "http://127.0.0.1:$1/healthz?js-enabled-only=true" >/dev/null 2>&1
}

start_nats() {
    local d="$DIR/nats" bin pid ok=0
    if nats_pid >/dev/null; then
        read -r NATS_PORT NATS_MONITOR_PORT <"$d/ports" || true
        say "nats already running on 127.0.0.1:$NATS_PORT"
        return 0
    fi
    bin=$(find_nats) || die "nats-server not found (internal/deps.sh installs it)"
    port_in_use "$NATS_PORT" && die "nats: port $NATS_PORT on 127.0.0.1 is already in use (set TRIBUTARY_NATS_PORT)"
    port_in_use "$NATS_MONITOR_PORT" && die "nats: monitor port $NATS_MONITOR_PORT on 127.0.0.1 is already in use (set TRIBUTARY_NATS_MONITOR_PORT)"
    mkdir -p "$d/js"
    local tries=0 mark
    while :; do
        rm -f "$d/nats.pid"
        mark=$(wc -l 2>/dev/null <"$d/nats.log" || echo 0)
        # Own session: a Ctrl-C meant for a test run does not reach the
        # server; the run's cleanup stops it.
        setsid "$bin" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$d/js" -m "$NATS_MONITOR_PORT" \
            -l "$d/nats.log" -P "$d/nats.pid" </dev/null >>"$d/nats.out" 2>&1 &
        pid=$!
        for _ in $(seq 200); do
            if nats_healthy "$NATS_MONITOR_PORT"; then
                ok=1
                break
            fi
            if ! pid_alive "$pid" && ! nats_pid >/dev/null; then
                break
            fi
            sleep 0.1
        done
        [ "$ok" -eq 1 ] && break
        tries=$((tries + 1))
        bind_wait "$tries" nats "$d/nats.log" "$mark" "$NATS_PORT $NATS_MONITOR_PORT" || break
    done
    if [ "$ok" -ne 1 ]; then
        kill -KILL "$pid" 2>/dev/null || true
        cat "$d/nats.out" >>"$d/nats.log" 2>/dev/null || true
        die "nats failed to start" "$d/nats.log"
    fi
    [ -s "$d/nats.pid" ] || echo "$pid" >"$d/nats.pid"
    echo "$NATS_PORT $NATS_MONITOR_PORT" >"$d/ports"
    say "nats (JetStream) on 127.0.0.1:$NATS_PORT, monitor on 127.0.0.1:$NATS_MONITOR_PORT"
}

stop_nats() {
    local pid
    pid=$(nats_pid) || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    say "nats-server $pid did not exit within 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
}

# ---- env file ------------------------------------------------------------

write_env() {
    local tmp="$DIR/env.tmp"
    {
        echo "# Written by internal/services.sh; source it."
        printf 'export TRIBUTARY_SERVICES_DIR=%q\n' "$DIR"
        printf 'export SRC_PGHOST=127.0.0.1\n'
        printf 'export SRC_PGPORT=%q\n' "$1"
        printf 'export TGT_PGHOST=127.0.0.1\n'
        printf 'export TGT_PGPORT=%q\n' "$2"
        printf 'export MY_HOST=127.0.0.1\n'
        printf 'export MY_PORT=%q\n' "$MY_PORT"
        printf 'export MY_SOCKET=%q\n' "$DIR/my/my.sock"
        printf 'export APP_PASSWORD=%q\n' "$APP_PASSWORD"
        printf 'export NATS_URL=%q\n' "nats://127.0.0.1:$NATS_PORT"
        printf 'export NATS_MONITOR=%q\n' "http://127.0.0.1:$NATS_MONITOR_PORT"
        printf 'export PGBIN=%q\n' "$PGBIN"
    } >"$tmp"
    mv -f "$tmp" "$DIR/env"
}

# ---- commands ------------------------------------------------------------

cmd_start() {
    bash "$SCRIPT_DIR/deps.sh" || die "internal/deps.sh failed"
    find_pgbin || die "no PostgreSQL found under /usr/lib/postgresql/*/bin"
    mkdir -p "$DIR"
    touch "$DIR/$MARKER"
    if [ "$IS_ROOT" -eq 1 ]; then
        chmod 755 "$DIR"
        make_traversable "$(dirname "$DIR")"
    fi
    start_pg src source "$SRC_PGPORT"
    start_pg tgt target "$TGT_PGPORT"
    start_my
    start_nats
    write_env "$(pg_port "$DIR/src/data")" "$(pg_port "$DIR/tgt/data")"
}

cmd_stop() {
    [ -d "$DIR" ] || return 0
    if find_pgbin; then
        stop_pg src source
        stop_pg tgt target
    fi
    stop_my
    stop_nats
    if [ -e "$DIR/$MARKER" ]; then
        rm -rf -- "$DIR"
    else
        # Not made by start: remove only what start would have made.
        rm -rf -- "$DIR/src" "$DIR/tgt" "$DIR/my" "$DIR/nats" "$DIR/env"
        rmdir -- "$DIR" 2>/dev/null || say "left $DIR in place: it holds files that are not ours"
    fi
}

# status_pg NAME LABEL PORT: prints one line; returns 1 when down.
status_pg() {
    local data="$DIR/$1/data" port=$3
    if ! pg_running "$data"; then
        echo "$2 postgres 127.0.0.1:$port down"
        return 1
    fi
    port=$(pg_port "$data")
    if ! "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 5; then
        echo "$2 postgres 127.0.0.1:$port down (running, not answering)"
        return 1
    fi
    echo "$2 postgres 127.0.0.1:$port up"
}

# status_my: prints one line; returns 1 when down.
status_my() {
    local port
    port=$(my_port)
    if ! my_pid >/dev/null; then
        echo "mariadb 127.0.0.1:$port down"
        return 1
    fi
    if ! find_my || ! my_ping "$port"; then
        echo "mariadb 127.0.0.1:$port down (running, not answering)"
        return 1
    fi
    echo "mariadb 127.0.0.1:$port up"
}

cmd_status() {
    local rc=0
    find_pgbin || true
    status_pg src source "$SRC_PGPORT" || rc=1
    status_pg tgt target "$TGT_PGPORT" || rc=1
    status_my || rc=1
    if nats_pid >/dev/null; then
        read -r NATS_PORT NATS_MONITOR_PORT <"$DIR/nats/ports" || true
    fi
    if nats_pid >/dev/null && nats_healthy "$NATS_MONITOR_PORT"; then
        echo "nats 127.0.0.1:$NATS_PORT up"
    else
        echo "nats 127.0.0.1:$NATS_PORT down"
        rc=1
    fi
    return "$rc"
}

cmd_env() {
    [ -f "$DIR/env" ] || die "no $DIR/env: run internal/services.sh start first"
    cat "$DIR/env"
}

case $CMD in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
nats-stop) stop_nats ;;
nats-start) start_nats ;;
target-stop) stop_pg tgt target ;;
target-start) start_pg tgt target "$TGT_PGPORT" ;;
source-stop) stop_pg src source ;;
source-start) start_pg src source "$SRC_PGPORT" ;;
my-stop) stop_my ;;
my-start) start_my ;;
*) usage ;;
esac
