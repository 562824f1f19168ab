#!/usr/bin/env bash
# A short demonstration (what "make demo" runs, after make has built
# bin/replicator and bin/worker): starts throwaway servers in
# /tmp/tributary-demo, replicates table public.sales from the source
# PostgreSQL through NATS JetStream to the stdout sink, runs a scripted
# workload (inserts, a transaction, updates, a delete, a truncate), shows the
# events as they arrive, and counts them. Then it stops everything.
#
#   internal/demo.sh [--keep]
#
#   --keep   leave the servers, the replicator and the worker running and
#            print how to connect and how to stop them
#
# Exits non-zero when no event arrived.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES="$ROOT/internal/services.sh"
REPLICATOR="$ROOT/bin/replicator"
WORKER="$ROOT/bin/worker"
GROUP=demo
DEMO_DIR=/tmp/tributary-demo
EVENTS="$DEMO_DIR/events.jsonl"
# Events the workload below makes: 7 inserts, 4 updates, 1 delete, 1 truncate.
EXPECTED=13

# Ports of the demo's own, so that it does not collide with the tests'.
DEMO_PORTS=(
    TRIBUTARY_SRC_PGPORT=56432
    TRIBUTARY_TGT_PGPORT=56433
    TRIBUTARY_MY_PORT=56434
    TRIBUTARY_NATS_PORT=56222
    TRIBUTARY_NATS_MONITOR_PORT=56822
)

KEEP=0
case ${1:-} in
'') ;;
--keep) KEEP=1 ;;
-h | --help)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "usage: internal/demo.sh [--keep]" >&2
    exit 2
    ;;
esac

say() { echo "demo: $*"; }

die() {
    say "$*" >&2
    exit 1
}

services() {
    env "${DEMO_PORTS[@]}" bash "$SERVICES" "$@" --dir "$DEMO_DIR"
}

for b in "$REPLICATOR" "$WORKER"; do
    [ -x "$b" ] || die "$b is missing: build it with make first"
done

HAVE_JQ=0
command -v jq >/dev/null 2>&1 && HAVE_JQ=1
JQ_COLOR=()
[ -t 1 ] && JQ_COLOR=(-C)

pid_alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null || true)" != Z ]
}

# stop_proc NAME PID: SIGTERM, up to 30 s, then SIGKILL. Prints how it ended.
stop_proc() {
    local name=$1 pid=$2 rc=0 i
    pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        pid_alive "$pid" || break
        sleep 0.1
    done
    if pid_alive "$pid"; then
        say "$name did not stop within 30 s of SIGTERM; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || rc=$?
    say "$name stopped (exit code $rc)"
}

# A previous "--keep" run: stop its processes and servers first.
stop_previous() {
    local f pid
    [ -e "$DEMO_DIR" ] || return 0
    say "stopping the previous demo in $DEMO_DIR"
    for f in "$DEMO_DIR/replicator.pid" "$DEMO_DIR/worker.pid"; do
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        if pid_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -e replicator -e worker; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 100); do
                pid_alive "$pid" || break
                sleep 0.1
            done
            if pid_alive "$pid"; then
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    done
    services stop
}

REPL_PID=''
WORKER_PID=''
LEAVE_RUNNING=0

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$LEAVE_RUNNING" -eq 0 ]; then
        [ -z "$WORKER_PID" ] || stop_proc worker "$WORKER_PID" >/dev/null
        [ -z "$REPL_PID" ] || stop_proc replicator "$REPL_PID" >/dev/null
        services stop || say "stopping the servers failed; run: $SERVICES stop --dir $DEMO_DIR" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo; say "interrupted"; exit 130' INT
trap 'exit 143' TERM

# show_log NAME FILE: the end of a log, for when something went wrong.
show_log() {
    [ -s "$2" ] || return 0
    echo "---- last lines of the $1 log ($2)"
    tail -n 20 "$2"
    echo "----"
}

# Prints the events the worker wrote since the last call (whole lines only).
SHOWN=0
show_new_events() {
    local n line pretty
    [ -f "$EVENTS" ] || return 0
    n=$(wc -l <"$EVENTS")
    [ "$n" -gt "$SHOWN" ] || return 0
    while IFS= read -r line; do
        if [ "$HAVE_JQ" -eq 1 ] && [[ $line == \{* ]] &&
            pretty=$(jq -c "${JQ_COLOR[@]}" . <<<"$line" 2>/dev/null); then
            line=$pretty
        fi
        echo "  event: $line"
    done < <(sed -n "$((SHOWN + 1)),${n}p" "$EVENTS")
    SHOWN=$n
}

REPL_DEAD_REPORTED=0
check_replicator() {
    if [ "$REPL_DEAD_REPORTED" -eq 0 ] && ! pid_alive "$REPL_PID"; then
        REPL_DEAD_REPORTED=1
        say "the replicator exited unexpectedly"
        show_log replicator "$DEMO_DIR/replicator.log"
    fi
}

# pause SECONDS: waits, showing events as they arrive.
pause() {
    local i n
    n=$(awk -v s="$1" 'BEGIN { printf "%d", s * 5 }')
    for ((i = 0; i < n; i++)); do
        sleep 0.2
        show_new_events
    done
    check_replicator
}

count_events() {
    if [ -f "$EVENTS" ]; then
        grep -c '^{' "$EVENTS" || true
    else
        echo 0
    fi
}

# ---- servers -------------------------------------------------------------------

stop_previous
services start
# shellcheck source=/dev/null
. "$DEMO_DIR/env"

APP_CONNINFO="host=$SRC_PGHOST port=$SRC_PGPORT user=app dbname=app"

# sql SQL: runs SQL on the source as user app (over TCP, with its password).
sql() {
    PGPASSWORD=$APP_PASSWORD "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$APP_CONNINFO" "$@"
}

say "creating table public.sales in database app on the source (127.0.0.1:$SRC_PGPORT)"
sql <<'SQL'
CREATE TABLE IF NOT EXISTS public.sales (
    id         bigserial PRIMARY KEY,
    customer   text NOT NULL,
    amount     numeric(10,2),
    note       text,
    created_at timestamptz DEFAULT now()
);
SQL

# ---- replicator and worker -------------------------------------------------------

say "starting the replicator: bin/replicator --group $GROUP --tables sales --host 127.0.0.1 --port $SRC_PGPORT --dbname app --user app --nats-url $NATS_URL"
TRIBUTARY_PASSWORD=$APP_PASSWORD "$REPLICATOR" --group "$GROUP" --tables sales \
    --host 127.0.0.1 --port "$SRC_PGPORT" --dbname app --user app \
    --nats-url "$NATS_URL" </dev/null >"$DEMO_DIR/replicator.log" 2>&1 &
REPL_PID=$!
echo "$REPL_PID" >"$DEMO_DIR/replicator.pid"

# Ready when its replication slot is streaming: changes from then on are
# captured.
slot_active() {
    local n
    n=$(sql -At -c "SELECT count(*) FROM pg_replication_slots WHERE database = 'app' AND slot_type = 'logical' AND active" 2>/dev/null) || return 1
    [ "${n:-0}" -gt 0 ]
}
ready=0
for _ in $(seq 150); do
    if slot_active; then
        ready=1
        break
    fi
    if ! pid_alive "$REPL_PID"; then
        show_log replicator "$DEMO_DIR/replicator.log"
        die "the replicator exited before it started streaming"
    fi
    sleep 0.2
done
if [ "$ready" -ne 1 ]; then
    show_log replicator "$DEMO_DIR/replicator.log"
    die "the replicator did not start streaming within 30 s"
fi
say "the replicator is streaming (replication slot active)"

say "starting the worker: bin/worker stdout --group $GROUP --nats-url $NATS_URL"
: >"$EVENTS"
"$WORKER" stdout --group "$GROUP" --nats-url "$NATS_URL" \
    </dev/null >"$EVENTS" 2>"$DEMO_DIR/worker.log" &
WORKER_PID=$!
echo "$WORKER_PID" >"$DEMO_DIR/worker.pid"
pause 1
if ! pid_alive "$WORKER_PID"; then
    show_log worker "$DEMO_DIR/worker.log"
    die "the worker exited at start"
fi

# ---- workload --------------------------------------------------------------------

# step DESCRIPTION SQL: prints and runs one step of the workload.
step() {
    say "$1"
    printf '%s\n' "$2" | sed 's/^/        /'
    sql -c "$2" >/dev/null
}

step "insert a sale" \
    "INSERT INTO sales (customer, amount, note) VALUES ('alice', 19.99, 'first order');"
pause 1
step "insert another one" \
    "INSERT INTO sales (customer, amount, note) VALUES ('bob', 5.00, 'coffee beans');"
pause 1
step "insert one without a note" \
    "INSERT INTO sales (customer, amount) VALUES ('carol', 120.50);"
pause 1
say "a transaction with three rows in two statements"
sed 's/^/        /' <<'SQL'
BEGIN;
INSERT INTO sales (customer, amount, note) VALUES ('dave', 42.00, 'in a transaction'), ('erin', 7.25, 'in a transaction');
INSERT INTO sales (customer, amount, note) VALUES ('frank', 99.99, 'in a transaction');
COMMIT;
SQL
sql >/dev/null <<'SQL'
BEGIN;
INSERT INTO sales (customer, amount, note) VALUES ('dave', 42.00, 'in a transaction'), ('erin', 7.25, 'in a transaction');
INSERT INTO sales (customer, amount, note) VALUES ('frank', 99.99, 'in a transaction');
COMMIT;
SQL
pause 1.5
step "update an amount" \
    "UPDATE sales SET amount = amount + 10 WHERE customer = 'alice';"
pause 1
step "update that sets note to NULL" \
    "UPDATE sales SET note = NULL WHERE customer = 'bob';"
pause 1
step "update two rows at once" \
    "UPDATE sales SET amount = amount * 0.9, note = 'discount' WHERE customer IN ('dave', 'erin');"
pause 1
step "delete a row" \
    "DELETE FROM sales WHERE customer = 'carol';"
pause 1
step "truncate the table" \
    "TRUNCATE sales;"
pause 1
step "insert after the truncate" \
    "INSERT INTO sales (customer, amount, note) VALUES ('grace', 1.00, 'after the truncate');"

# Wait for the stragglers: up to 20 s for all the events the workload made.
say "waiting for the last events"
for _ in $(seq 100); do
    [ "$(count_events)" -lt "$EXPECTED" ] || break
    pid_alive "$WORKER_PID" || break
    pause 0.2
done
pause 0.5

# ---- the end -----------------------------------------------------------------------

total=$(count_events)

if [ "$KEEP" -eq 1 ] && [ "$total" -gt 0 ]; then
    show_new_events
    LEAVE_RUNNING=1
    say "$total events so far; everything keeps running (--keep):"
    say "  source:   . $DEMO_DIR/env; PGPASSWORD=\"\$APP_PASSWORD\" psql \"host=127.0.0.1 port=$SRC_PGPORT user=app dbname=app\""
    say "  target:   . $DEMO_DIR/env; PGPASSWORD=\"\$APP_PASSWORD\" psql \"host=127.0.0.1 port=$TGT_PGPORT user=app dbname=app\""
    say "  MariaDB:  . $DEMO_DIR/env; MYSQL_PWD=\"\$APP_PASSWORD\" mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P $MY_PORT -u app app"
    say "  NATS:     $NATS_URL (monitoring: $NATS_MONITOR)"
    say "  events:   tail -f $EVENTS"
    say "  logs:     $DEMO_DIR/replicator.log, $DEMO_DIR/worker.log"
    say "  stop:     kill \$(cat $DEMO_DIR/replicator.pid $DEMO_DIR/worker.pid); bash $SERVICES stop --dir $DEMO_DIR"
    exit 0
fi

stop_proc replicator "$REPL_PID"
REPL_PID=''
stop_proc worker "$WORKER_PID"
WORKER_PID=''
show_new_events
total=$(count_events)

if [ "$total" -eq 0 ]; then
    show_log replicator "$DEMO_DIR/replicator.log"
    show_log worker "$DEMO_DIR/worker.log"
    die "no events arrived"
fi

by_op() {
    if [ "$HAVE_JQ" -eq 1 ]; then
        grep '^{' "$EVENTS" | jq -r '.op // "?"' 2>/dev/null
    else
        grep '^{' "$EVENTS" | grep -o '"op": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'
    fi
}
summary=$(by_op | sort | uniq -c | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }') || true
say "$total events (the workload made $EXPECTED): $summary"
say "stopping the servers"
