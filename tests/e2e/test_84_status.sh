#!/usr/bin/env bash
# replicator status: for a group that has nothing yet (no slot, no stream:
# said so, exit 0, and nothing created); while a replicator streams (the
# slot active, by its walsender's pid); after a worker consumed (the
# stream's messages as the server counts them, the consumer caught up with
# nothing pending, the saved position, the lag once the source moved on);
# with the plan of an initial copy (--copy-and-stream: ranges and rows of
# each table); and its errors: a bad flag (exit 2), a source or NATS that
# cannot be reached (exit 1, one line). A password given as a flag never
# shows.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

new_capture status- status_ "id int PRIMARY KEY, v text"
on_exit "'$BIN/replicator' --group '$group' --cleanup --yes $(repl_args) >/dev/null 2>&1"

# status [FLAGS...]: the report of $group into $TEST_TMP/st.out (stderr in
# st.err); returns its exit code.
status() {
    # shellcheck disable=SC2046
    "$BIN/replicator" status --group "$group" --tables "$table" $(repl_args) "$@" \
        >"$TEST_TMP/st.out" 2>"$TEST_TMP/st.err" </dev/null
}

# value SECTION LABEL: the value of a "label  value" row of a section of
# the last report.
value() {
    awk -v sec="$1" -v lab="$2" '
        /^[^ ]/ { cur = $0; next }
        cur == sec && index($0, "  " lab "  ") == 1 {
            v = substr($0, length(lab) + 3); sub(/^ +/, "", v); print v; exit
        }' "$TEST_TMP/st.out"
}

# consumer_row NAME: "pending ack_pending delivered ack_floor" of a consumer.
consumer_row() {
    awk -v c="$1" '$1 == c { print $2, $3, $4, $5; exit }' "$TEST_TMP/st.out"
}

stream_exists() {
    curl -s -m 5 "$NATS_MONITOR/jsz?streams=true" |
        jq -e --arg s "$1" '[.account_details[]?.stream_detail[]? | select(.name == $s)] | length > 0' >/dev/null
}

show() {
    echo "# ---- report"
    sed 's/^/#   /' "$TEST_TMP/st.out" "$TEST_TMP/st.err"
}

# ---- before anything exists ------------------------------------------------------

rc=0; status || rc=$?
check_eq "status of a new group exits 0" 0 "$rc"
check_eq "it says the slot does not exist" "$slot: does not exist" \
    "$(value "postgres source" "replication slot")"
check_eq "it says the publication does not exist" "$slot: does not exist" \
    "$(value "postgres source" "publication")"
check_eq "it says the stream does not exist" "TRIBUTARY_$group: does not exist" \
    "$(value stream stream)"
check_eq "it says the dead-letter stream does not exist" \
    "TRIBUTARY_DLQ_$group: does not exist (no dead letters yet)" "$(value "dead letters" stream)"
check_eq "no saved position, no copy" "none none recorded" \
    "$(value replicator "saved position") $(value "initial copy" state)"
check_eq "status created no slot and no publication" "0 0" \
    "$(src_psql "SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot') || ' ' || (SELECT count(*) FROM pg_publication WHERE pubname = '$slot')")"
if stream_exists "TRIBUTARY_$group" || stream_exists "KV_tributary_$group"; then
    not_ok "status created no stream and no state bucket"
else
    ok "status created no stream and no state bucket"
fi
[ "$rc" = 0 ] || show

# ---- streaming ----------------------------------------------------------------------

# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --tables "$table" $(repl_args)
start_bg work "$BIN/worker" stdout --group "$group" --nats-url "$NATS_URL"
wait_until 30 slot_active || not_ok "the replicator streams from $slot"

# the walsender's pid read before and after the report: a replicator that
# reconnects in between (its walsender replaced) makes the report again
slot_pid() { src_psql "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$slot'"; }
for _ in 1 2 3 4 5; do
    pid0=$(slot_pid)
    rc=0; status || rc=$?
    pid1=$(slot_pid)
    [ -n "$pid0" ] && [ "$pid0" = "$pid1" ] && break
    echo "# the slot's walsender changed during the report ($pid0, then $pid1): again"
    dump_bg repl 15
    sleep 1
done
check_eq "status of a streaming group exits 0" 0 "$rc"
check_eq "the slot is active, held by the walsender's pid" "yes $pid1" \
    "$(value "postgres source" active) $(value "postgres source" "active pid")"
check_eq "the slot's plugin" pgoutput "$(value "postgres source" plugin)"
check_eq "the publication and its table" "$slot (1 table) public.$table" \
    "$(value "postgres source" publication) $(value "postgres source" tables)"
check_eq "no DDL triggers without --track-ddl" "not installed" \
    "$(value "postgres source" "DDL triggers")"

src_psql "INSERT INTO $table SELECT g, 'row ' || g FROM generate_series(1, 200) g"
for i in $(seq 1 20); do echo "UPDATE $table SET v = 'updated' WHERE id = $i;"; done | src_psql
expected=220
if wait_until 60 lines_ge "$TEST_TMP/work.out" $expected; then
    ok "the worker received $expected events"
else
    not_ok "the worker received $expected events" "got $(grep -c '^{' "$TEST_TMP/work.out" || true)"
    dump_bg repl
    dump_bg work
fi

msgs=$(nats_stream_msgs "TRIBUTARY_$group")
# caught_up: the report shows the consumer with nothing pending, its
# deliveries and acknowledgements at the stream's last message
caught_up() {
    status || return 1
    [ "$(consumer_row "stdout_$group")" = "0 0 $msgs $msgs" ]
}
if wait_until 30 caught_up; then
    ok "the consumer is listed with nothing pending, delivered and acknowledged up to the last message"
else
    not_ok "the consumer is listed with nothing pending, delivered and acknowledged up to the last message" \
        "want \"0 0 $msgs $msgs\", got \"$(consumer_row "stdout_$group")\""
    show
fi
check "the consumer's row names the worker that holds it (host and pid)" \
    grep -qE "^ *stdout_$group .* $(hostname) pid $(_bg_pid work)\$" "$TEST_TMP/st.out"
check_eq "the stream's messages, as the server counts them" "$msgs" "$(value stream messages)"
check_eq "first and last sequence" "1 $msgs" \
    "$(value stream "first sequence") $(value stream "last sequence")"
check "the stream's size is shown in units" \
    grep -qE '^  bytes +[0-9.]+ (B|KiB|MiB)$' "$TEST_TMP/st.out"
check_eq "the dead-letter stream (made by the worker) holds nothing" "TRIBUTARY_DLQ_$group 0" \
    "$(value "dead letters" stream) $(value "dead letters" messages)"

rc=0; stop_bg repl || rc=$?
check_eq "replicator exits 0 on SIGTERM" 0 "$rc"
rc=0; stop_bg work || rc=$?
check_eq "worker exits 0 on SIGTERM" 0 "$rc"

# the source moves on while nothing reads the slot
src_psql "INSERT INTO $table SELECT g, repeat('x', 500) FROM generate_series(1001, 3000) g"
rc=0; status || rc=$?
confirmed=$(src_psql "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'")
check "once the worker stopped, its consumer's row says the lease was released" \
    grep -qE "^ *stdout_$group .* \(released\)\$" "$TEST_TMP/st.out"
check_eq "with the replicator stopped: inactive, at the slot's confirmed position" \
    "no $confirmed" "$(value "postgres source" active) $(value "postgres source" confirmed_flush_lsn)"
check_eq "the position the replicator saved is the slot's" "$confirmed" \
    "$(value replicator "saved position" | awk '{ print $1 }')"
lag=$(value "postgres source" lag)
if [[ $lag =~ ^[0-9.]+\ (KiB|MiB)\ \(([0-9]+)\ bytes\)\ behind\ [0-9A-F]+/[0-9A-F]+$ ]] &&
    [ "${BASH_REMATCH[2]}" -ge 1000000 ]; then
    ok "the lag is shown in units and bytes, at least the 1 MB written since"
else
    not_ok "the lag is shown in units and bytes, at least the 1 MB written since" "lag: $lag"
fi
check "the retained WAL is shown in units" \
    grep -qE '^  retained WAL +[0-9.]+ (B|KiB|MiB|GiB)' "$TEST_TMP/st.out"

# ---- an initial copy -------------------------------------------------------------------

g2=$(unique_name statcp-)
slot2=tributary_${g2//-/_}
t2=$(unique_name statcp_)
src_psql "CREATE TABLE $t2 (id int PRIMARY KEY, v text); ALTER TABLE $t2 OWNER TO app"
src_psql "INSERT INTO $t2 SELECT g, repeat('c', 300) FROM generate_series(1, 20000) g"
on_exit "src_psql 'DROP TABLE IF EXISTS $t2' >/dev/null 2>&1"
on_exit "'$BIN/replicator' --group '$g2' --cleanup --yes $(repl_args) >/dev/null 2>&1"
# shellcheck disable=SC2046
start_bg repl2 "$BIN/replicator" --group "$g2" --tables "$t2" $(repl_args) \
    --copy-and-stream --max-copy-workers-per-table 2
if wait_until 120 grep -q "streaming from slot" "$TEST_TMP/repl2.err"; then
    ok "the copy finished and streaming began"
else
    not_ok "the copy finished and streaming began"
    dump_bg repl2
fi
rc=0
# shellcheck disable=SC2046
"$BIN/replicator" status --group "$g2" --tables "$t2" $(repl_args) \
    >"$TEST_TMP/st.out" 2>"$TEST_TMP/st.err" || rc=$?
check_eq "status of the copied group exits 0" 0 "$rc"
check_eq "the copy is done" "done" "$(value "initial copy" state)"
row=$(awk -v t="public.$t2" '$1 == t { print $2, $3; exit }' "$TEST_TMP/st.out")
if [[ $row =~ ^([0-9]+)/([0-9]+)\ 20000$ ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] &&
    [ "${BASH_REMATCH[1]}" -ge 1 ]; then
    ok "the table's ranges are all done and its 20000 rows counted ($row)"
else
    not_ok "the table's ranges are all done and its 20000 rows counted" "row: $row"
    show
fi
check_eq "the copy's slot exists and is active" "$slot2 yes" \
    "$(value "postgres source" "replication slot") $(value "postgres source" active)"
rc=0; stop_bg repl2 || rc=$?
check_eq "the copying replicator exits 0 on SIGTERM" 0 "$rc"

# ---- errors ---------------------------------------------------------------------------

rc=0; status --no-such-flag || rc=$?
check_eq "an unknown flag: exit 2" 2 "$rc"
check_eq "an unknown flag: one line naming it" "1 1" \
    "$(grep -c . "$TEST_TMP/st.err") $(grep -c 'unknown option "--no-such-flag"' "$TEST_TMP/st.err")"
rc=0; "$BIN/replicator" status --nats-url "$NATS_URL" >"$TEST_TMP/st.out" 2>"$TEST_TMP/st.err" || rc=$?
check_eq "no --group: exit 2" 2 "$rc"

secret='Wr0ng-St4tus-S3cret'
rc=0
"$BIN/replicator" status --group "$group" --host "$SRC_PGHOST" --port 1 --dbname app \
    --user app --password "$secret" --nats-url "$NATS_URL" \
    >"$TEST_TMP/st.out" 2>"$TEST_TMP/st.err" || rc=$?
check_eq "a source that cannot be reached: exit 1, one line, nothing printed" "1 1 0" \
    "$rc $(grep -vE '^[^ ]+ info ' "$TEST_TMP/st.err" | grep -c .) $(wc -c <"$TEST_TMP/st.out")"
check "a source that cannot be reached: the line says what failed" grep -q "could not connect to source PostgreSQL" "$TEST_TMP/st.err"
cat "$TEST_TMP/st.out" "$TEST_TMP/st.err" >"$TEST_TMP/all"

rc=0; status --nats-url nats://127.0.0.1:1 || rc=$?
check_eq "NATS that cannot be reached: exit 1, one line" "1 1" \
    "$rc $(grep -vE '^[^ ]+ info ' "$TEST_TMP/st.err" | grep -c .)"

rc=0; status --password "$secret" || rc=$?
check_eq "a wrong password: exit 1" 1 "$rc"
cat "$TEST_TMP/st.out" "$TEST_TMP/st.err" >>"$TEST_TMP/all"
rc=0; status --password "$APP_PASSWORD" || rc=$?
check_eq "the password as a flag: exit 0" 0 "$rc"
cat "$TEST_TMP/st.out" "$TEST_TMP/st.err" >>"$TEST_TMP/all"
status --password "$secret" --print-config || true
cat "$TEST_TMP/st.out" "$TEST_TMP/st.err" >>"$TEST_TMP/all"
check_eq "no password in any output" "0 0" \
    "$(grep -cF -- "$secret" "$TEST_TMP/all") $(grep -cF -- "$APP_PASSWORD" "$TEST_TMP/all")"

# (the report's own stderr held PostgreSQL's "FATAL: password
# authentication failed" above, on purpose)
rm -f "$TEST_TMP/st.err"
check "no sanitizer or crash report in the logs" \
    bash -c "! grep -qiE 'sanitizer|runtime error|fatal' '$TEST_TMP'/*.err"
