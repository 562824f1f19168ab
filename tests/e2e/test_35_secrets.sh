#!/usr/bin/env bash
# Secrets stay secret: the source and target passwords (a distinctive one,
# with quotes and spaces) given as command-line flags work, yet appear
# neither in the processes' arguments (ps, /proc/<pid>/cmdline), nor in any
# log line, nor in --print-config, nor in the error of a failed login.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

new_capture secrets- secrets_ "id int PRIMARY KEY, v text"
unset TRIBUTARY_PASSWORD
tgt_psql "CREATE TABLE $table (id int PRIMARY KEY, v text)"
on_exit "tgt_psql 'DROP TABLE IF EXISTS $table' >/dev/null 2>&1"
pw=$APP_PASSWORD

start_bg repl "$BIN/replicator" --group "$group" --tables "$table" \
    --host "$SRC_PGHOST" --port "$SRC_PGPORT" --dbname app --user app \
    --password "$pw" --nats-url "$NATS_URL" --log-level debug
start_bg wpg "$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" \
    --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app \
    --target-user app --target-password="$pw" --log-level debug
wait_until 30 slot_active || not_ok "replicator streams"
src_psql "INSERT INTO $table VALUES (1, 'one')"
tgt_has_row() { [ "$(tgt_psql "SELECT count(*) FROM $table")" = 1 ]; }
check "passwords given as flags work" wait_until 30 tgt_has_row

cmdline() { tr '\0' ' ' <"/proc/$(cat "$TEST_TMP/$1.pid")/cmdline"; }
check "the replicator's arguments do not show the password" \
    bash -c "! grep -qF -- \"\$1\" <<<\"\$2\"" _ "$pw" "$(cmdline repl)"
check "the worker's arguments do not show the password" \
    bash -c "! grep -qF -- \"\$1\" <<<\"\$2\"" _ "$pw" "$(cmdline wpg)"
check "the arguments keep the other flags" grep -qF -- "--group $group" <(cmdline repl)
stop_bg wpg
stop_bg repl

"$BIN/replicator" --group "$group" --password "$pw" --print-config >"$TEST_TMP/print.out" 2>&1 || true
check "--print-config does not show the password" \
    bash -c "! grep -qF -- \"\$1\" \"\$2\"" _ "$pw" "$TEST_TMP/print.out"
rc=0
timeout 60 "$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" \
    --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" --target-dbname app \
    --target-user app --target-password "wrong-$pw" \
    >"$TEST_TMP/badlogin.out" 2>&1 || rc=$?
check "a wrong password is an error" test "$rc" -ne 0
check "the error of a failed login does not show it" \
    bash -c "! grep -qF -- \"\$1\" \"\$2\"" _ "$pw" "$TEST_TMP/badlogin.out"
check "no log line of any run shows the password" \
    bash -c "! grep -rlF -- \"\$1\" \"\$2\"/*.out \"\$2\"/*.err" _ "$pw" "$TEST_TMP"
