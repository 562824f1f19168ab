# shellcheck shell=bash
# Helpers for the end-to-end tests, sourced by tests/e2e/test_*.sh. The
# scripts run under tests/run.sh, which starts the servers with
# internal/services.sh and passes its env file (SRC_PGHOST, SRC_PGPORT,
# TGT_PGHOST, TGT_PGPORT, MY_HOST, MY_PORT, MY_SOCKET, APP_PASSWORD,
# NATS_URL, NATS_MONITOR, PGBIN) and TRIBUTARY_BIN (the directory with
# replicator and worker).
#
# Results are printed one per line, and tests/run.sh counts them:
#   ok - description
#   not ok - description        (details follow as "#" lines)
#   skip - description: reason
#
# TEST_TMP is a directory of this script's own, removed at exit (kept when
# TRIBUTARY_KEEP_TMP=1). At exit, background processes started with start_bg
# that still run are stopped, then the commands given to on_exit run (last
# first). A script that printed a "not ok" line exits 1.

BIN=${TRIBUTARY_BIN:-}
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tributary-e2e.XXXXXX")
export BIN TEST_TMP

_T_FAILED=0
_T_ON_EXIT=()

# ---- results ---------------------------------------------------------------

ok() {
    echo "ok - $1"
}

# not_ok DESC [DETAILS]: details (any number of lines) are printed as comments.
not_ok() {
    echo "not ok - $1"
    _T_FAILED=$((_T_FAILED + 1))
    if [ -n "${2:-}" ]; then
        printf '%s\n' "$2" | sed 's/^/#   /'
    fi
    return 0
}

skip() {
    echo "skip - $1: ${2:-no reason given}"
}

# check DESC CMD...: ok when CMD succeeds; otherwise not ok with the end of
# its output.
check() {
    local desc=$1 out rc=0
    shift
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then
        ok "$desc"
    else
        if [ -n "$out" ]; then
            out=$'\n'$(printf '%s\n' "$out" | tail -n 20)
        fi
        not_ok "$desc" "command failed with exit code $rc: $*$out"
    fi
    return 0
}

# check_eq DESC EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then
        ok "$1"
    else
        not_ok "$1" "expected: $2
actual:   $3"
    fi
    return 0
}

# ---- PostgreSQL --------------------------------------------------------------

# _psql HOST PORT [-v NAME=VALUE]... [SQL...]: as user postgres, database app.
# Each SQL argument is one -c command; with none, the SQL is read from stdin.
# Output is unaligned, tuples only.
_psql() {
    local host=$1 port=$2
    shift 2
    local args=()
    while [ $# -ge 2 ] && [ "$1" = -v ]; do
        args+=(-v "$2")
        shift 2
    done
    local sql
    for sql in "$@"; do
        args+=(-c "$sql")
    done
    PGCONNECT_TIMEOUT=10 "${PGBIN:+$PGBIN/}psql" -X -qAt -v ON_ERROR_STOP=1 \
        "host=$host port=$port user=postgres dbname=app" "${args[@]}"
}

src_psql() { _psql "${SRC_PGHOST:-127.0.0.1}" "${SRC_PGPORT:?SRC_PGPORT not set}" "$@"; }
tgt_psql() { _psql "${TGT_PGHOST:-127.0.0.1}" "${TGT_PGPORT:?TGT_PGPORT not set}" "$@"; }

# ---- MariaDB -----------------------------------------------------------------

# my_sql [SQL...]: the mariadb client as root over TCP, database app. Each SQL
# argument is one batch (one client run, stopping at the first error); with
# none, the SQL is read from stdin. Output is tab-separated, without column
# names, values unescaped (NULL prints as NULL).
my_sql() {
    local sql
    local cmd=(mariadb --no-defaults --protocol=TCP -h "${MY_HOST:-127.0.0.1}"
        -P "${MY_PORT:?MY_PORT not set}" -u root --connect-timeout=10
        --default-character-set=utf8mb4 --batch --silent --skip-column-names --raw app)
    if [ $# -eq 0 ]; then
        "${cmd[@]}"
        return
    fi
    for sql in "$@"; do
        "${cmd[@]}" -e "$sql" || return
    done
}

# ---- waiting and names ------------------------------------------------------

# wait_until TIMEOUT_S CMD...: runs CMD every 0.2 s (output discarded) until
# it succeeds; returns 1 when TIMEOUT_S (may be fractional) has passed.
wait_until() {
    local timeout_us now deadline
    timeout_us=$(awk -v t="$1" 'BEGIN { printf "%d", t * 1000000 }')
    shift
    now=${EPOCHREALTIME//[!0-9]/}
    deadline=$((now + timeout_us))
    while true; do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        now=${EPOCHREALTIME//[!0-9]/}
        [ "$now" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

# unique_name PREFIX: PREFIX and 10 random lowercase letters, e.g. for a
# group, table or stream of this test only.
unique_name() {
    local letters=abcdefghijklmnopqrstuvwxyz suffix='' b
    for b in $(od -An -N10 -tu1 /dev/urandom); do
        suffix+=${letters:$((b % 26)):1}
    done
    echo "$1$suffix"
}

# ---- background processes ---------------------------------------------------
# Call start_bg and stop_bg from the script's own shell (not a subshell or
# $(...)), so that stop_bg can collect the exit code.

_pid_alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null || true)
    [ "$state" != Z ]
}

_bg_pid() {
    local f="$TEST_TMP/$1.pid"
    [ -s "$f" ] || {
        echo "lib.sh: no background process named $1" >&2
        return 1
    }
    cat "$f"
}

# start_bg NAME CMD...: stdout to $TEST_TMP/NAME.out, stderr to NAME.err,
# pid in NAME.pid.
start_bg() {
    local name=$1
    shift
    "$@" >"$TEST_TMP/$name.out" 2>"$TEST_TMP/$name.err" &
    echo $! >"$TEST_TMP/$name.pid"
}

# bg_alive NAME: true while the process runs.
bg_alive() {
    local f="$TEST_TMP/$1.pid"
    [ -s "$f" ] || return 1
    _pid_alive "$(cat "$f")"
}

# stop_bg NAME [SIGNAL]: sends SIGNAL (TERM by default), waits up to 30 s and
# returns the process's exit code (use "stop_bg x || rc=$?" under set -e).
# A process that has to be killed with SIGKILL is a "not ok" and returns 137.
stop_bg() {
    local name=$1 sig=${2:-TERM} pid rc=0 i
    pid=$(_bg_pid "$name") || return 1
    kill -s "$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        _pid_alive "$pid" || break
        sleep 0.1
    done
    if _pid_alive "$pid"; then
        # where it is stuck, for the log (when gdb is installed)
        if command -v gdb >/dev/null 2>&1; then
            timeout 60 gdb -p "$pid" -batch -ex "thread apply all bt 20" 2>/dev/null |
                grep -E '^(#|Thread)' >"$TEST_TMP/$name.stacks" || true
        fi
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        rm -f "$TEST_TMP/$name.pid"
        not_ok "$name stops within 30 s of SIG$sig" "killed with SIGKILL"
        if [ -s "$TEST_TMP/$name.stacks" ]; then
            echo "# ---- its threads before SIGKILL"
            grep -E '^Thread|^#[0-9] ' "$TEST_TMP/$name.stacks" | head -80 | sed 's/^/#   /'
        fi
        dump_bg "$name" 20
        return 137
    fi
    wait "$pid" 2>/dev/null || rc=$?
    rm -f "$TEST_TMP/$name.pid"
    return "$rc"
}

# kill9_bg NAME: SIGKILL (a crash), waits for the process to be gone.
kill9_bg() {
    local pid
    pid=$(_bg_pid "$1") || return 1
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$TEST_TMP/$1.pid"
    return 0
}

# throttle PID: lets the process run a tenth of the time (stopped 90 ms,
# running 10 ms), as on a busy machine, until it is gone or this is killed;
# run it in the background, so that a kill lands in the middle of work that
# would otherwise be over at once.
throttle() {
    while kill -STOP "$1" 2>/dev/null; do
        sleep 0.09
        kill -CONT "$1" 2>/dev/null || break
        sleep 0.01
    done
}

# copy_ranges_done NAME: how many ranges the running replicator NAME
# (started with --metrics-addr 127.0.0.1:0) has recorded as copied, from
# its metrics; 0 until it answers.
copy_ranges_done() {
    local url
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$TEST_TMP/$1.err" 2>/dev/null | head -1)
    if [ -z "$url" ]; then
        echo 0
        return
    fi
    curl -s -m 2 "$url/metrics" | awk '/^tributary_copy_ranges_done/ { s += $NF } END { print s + 0 }'
}

# dump_bg NAME: the end of a background process's output, as comments.
dump_bg() {
    local f
    for f in "$TEST_TMP/$1.out" "$TEST_TMP/$1.err"; do
        [ -s "$f" ] || continue
        echo "# ---- end of $f"
        tail -n "${2:-30}" "$f" | sed 's/^/#   /'
    done
}

# ---- NATS ------------------------------------------------------------------

# nats_stream_state STREAM FIELD: a number of STREAM's state (messages,
# bytes), 0 when the stream is absent.
nats_stream_state() {
    local json n
    json=$(curl -s -m 5 "${NATS_MONITOR:?NATS_MONITOR not set}/jsz?streams=true" 2>/dev/null) || json=''
    n=$(jq -r --arg s "$1" --arg f "$2" \
        '[.account_details[]?.stream_detail[]? | select(.name == $s) | .state[$f]] | first // 0' \
        <<<"$json" 2>/dev/null) || n=''
    echo "${n:-0}"
}

# nats_stream_msgs STREAM: number of messages in STREAM, 0 when absent.
nats_stream_msgs() { nats_stream_state "$1" messages; }

# stream_events GROUP: every event in the group's stream, one natural JSON
# line each, read by a worker of its own (a fresh consumer from the start;
# a message may pack several events, so messages are not events).
stream_events() {
    local c
    c=$(unique_name peek_)
    "$BIN/worker" stdout --group "$1" --nats-url "$NATS_URL" --consumer "$c" \
        --idle-exit 2s --log-level warn 2>/dev/null | grep '^{'
}

# nats_pub SUBJECT PAYLOAD: publishes one plain NATS message (ASCII payload)
# with the text protocol, as any other client of the bus could.
nats_pub() {
    local hostport=${NATS_URL#nats://} line
    exec 9<>"/dev/tcp/${hostport%:*}/${hostport##*:}"
    printf 'CONNECT {"verbose":false,"pedantic":false}\r\nPUB %s %d\r\n%s\r\nPING\r\n' \
        "$1" "${#2}" "$2" >&9
    while IFS= read -r -t 5 line <&9; do
        case "$line" in PONG*) break ;; -ERR*) exec 9>&-; return 1 ;; esac
    done
    exec 9>&-
}

# nats_hpub SUBJECT HEADER FILE: publishes the bytes of FILE as one NATS
# message with one header line ("Name: value"), as any other client could.
nats_hpub() {
    local hostport=${NATS_URL#nats://} line hdr size
    hdr=$'NATS/1.0\r\n'"$2"$'\r\n\r\n'
    size=$(stat -c %s "$3")
    exec 9<>"/dev/tcp/${hostport%:*}/${hostport##*:}"
    printf 'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\nHPUB %s %d %d\r\n%s' \
        "$1" "${#hdr}" $((${#hdr} + size)) "$hdr" >&9
    cat "$3" >&9
    printf '\r\nPING\r\n' >&9
    while IFS= read -r -t 5 line <&9; do
        case "$line" in PONG*) break ;; -ERR*) exec 9>&-; return 1 ;; esac
    done
    exec 9>&-
}

# nats_api SUBJECT [JSON]: a request to the JetStream API (deleting a
# consumer, a stream or a message), empty or with an ASCII JSON body, as
# any other client could send it; returns once the server took it.
nats_api() {
    local hostport=${NATS_URL#nats://} body=${2:-}
    exec 5<>"/dev/tcp/${hostport%:*}/${hostport##*:}"
    printf 'CONNECT {"verbose":false}\r\nPUB %s %d\r\n%s\r\nPING\r\n' "$1" "${#body}" "$body" >&5
    # the server's INFO, then PONG once the request was taken
    timeout 5 grep -m1 -q PONG <&5 || true
    exec 5>&-
}

# ---- tributary -----------------------------------------------------------------

# The source as user app (password from the environment, never on the
# command line) and the NATS server, as flags for the replicator.
repl_args() {
    echo --host "$SRC_PGHOST" --port "$SRC_PGPORT" --dbname app --user app \
        --nats-url "$NATS_URL"
}

# new_capture GROUP_PREFIX TABLE_PREFIX COLUMNS: a group and a table (owned
# by app) of this test only: sets $group, $table and $slot, exports the
# app password for the replicator, and drops slot, publication and table at
# exit.
new_capture() {
    group=$(unique_name "$1")
    table=$(unique_name "$2")
    slot=tributary_${group//-/_}
    export TRIBUTARY_PASSWORD=$APP_PASSWORD
    src_psql "CREATE TABLE $table ($3); ALTER TABLE $table OWNER TO app"
    on_exit "src_psql \"SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots WHERE slot_name = '$slot'\" >/dev/null 2>&1; src_psql 'DROP PUBLICATION IF EXISTS $slot; DROP TABLE IF EXISTS $table' >/dev/null 2>&1"
}

# slot_active: true while a walsender streams from $slot.
slot_active() {
    [ "$(src_psql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot' AND active")" = 1 ]
}

# file_events DIR: every line of the file sink's output, oldest file first.
file_events() {
    local f
    for f in $(ls "$1"/tributary-*.jsonl 2>/dev/null | sort); do
        cat "$f"
    done
}

# file_count DIR: number of events in the file sink's output.
file_count() {
    file_events "$1" | wc -l
}

# file_count_ge DIR N: true when the file sink's output has N events or more
# (for wait_until, which must re-run the count).
file_count_ge() {
    [ "$(file_count "$1")" -ge "$2" ]
}

# lines_ge FILE N: true when FILE has N lines starting with "{" or more.
lines_ge() {
    [ "$(grep -c '^{' "$1" 2>/dev/null || true)" -ge "$2" ]
}

# lsn_order_violations: reads "X/Y" positions, one per line, and prints how
# many are smaller than the one before.
lsn_order_violations() {
    local hi lo
    while IFS=/ read -r hi lo; do
        echo $(((16#$hi << 32) + 16#$lo))
    done | awk 'NR > 1 && $1 < last { bad++ } { last = $1 } END { print bad + 0 }'
}

# ---- cleanup -------------------------------------------------------------------

# on_exit CMD: a shell command to run at exit (dropping slots, tables...),
# after the background processes are stopped.
on_exit() {
    _T_ON_EXIT+=("$1")
}

_t_cleanup() {
    local rc=$? f pid i name
    trap - EXIT INT TERM
    for f in "$TEST_TMP"/*.pid; do
        [ -e "$f" ] || continue
        pid=$(cat "$f")
        name=$(basename "$f" .pid)
        _pid_alive "$pid" || continue
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            _pid_alive "$pid" || break
            sleep 0.1
        done
        if _pid_alive "$pid"; then
            echo "# $name still running at exit; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for ((i = ${#_T_ON_EXIT[@]} - 1; i >= 0; i--)); do
        eval "${_T_ON_EXIT[i]}" || echo "# at exit, failed: ${_T_ON_EXIT[i]}" >&2
    done
    if [ "${TRIBUTARY_KEEP_TMP:-0}" = 1 ]; then
        echo "# kept TEST_TMP=$TEST_TMP"
    else
        rm -rf -- "$TEST_TMP"
    fi
    if [ "$rc" -eq 0 ] && [ "$_T_FAILED" -gt 0 ]; then
        rc=1
    fi
    exit "$rc"
}

trap _t_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
