#!/usr/bin/env bash
# A full disk under the file sink: its directory is a 256 KiB tmpfs made by
# the test. The worker fills it, says why it cannot write, acknowledges
# nothing meanwhile and keeps retrying; once the tmpfs is made larger it
# goes on by itself, and every change is in its files exactly once.
# Needs root (mount); skipped otherwise.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

out=$TEST_TMP/small
mkdir -p "$out"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=256k tmpfs "$out" 2>/dev/null; then
    skip "a full disk under the file sink" "needs root to mount a small tmpfs"
    exit 0
fi
on_exit "umount -l '$out' 2>/dev/null || true"

new_capture diskfull- diskfull_ "id int PRIMARY KEY, pad text"
# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --tables "$table" $(repl_args)
start_bg wfile "$BIN/worker" file --group "$group" --nats-url "$NATS_URL" \
    --file-output-dir "$out" --retry-initial-wait 100ms --retry-max-wait 1s
wait_until 30 slot_active || not_ok "replicator streams"
# about 2 MB of events, eight times what fits
src_psql "INSERT INTO $table SELECT g, repeat('x', 900) FROM generate_series(1, 2000) g"
says_full() { grep -q "No space left on device" "$TEST_TMP/wfile.err"; }
check "the worker says the disk is full" wait_until 60 says_full
check "and keeps running" bg_alive wfile
pending() {
    curl -s -m 5 "$NATS_MONITOR/jsz?consumers=true" |
        jq -r --arg c "file_$group" '[.account_details[]?.stream_detail[]?.consumer_detail[]? | select(.name == $c) | .num_pending + .num_ack_pending] | first // -1'
}
sleep 2
check "events stay unacknowledged while the disk is full" test "$(pending)" -gt 0
mount -o remount,size=16m "$out"
check "once there is room, every change arrives" wait_until 60 file_count_ge "$out" 2000
check_eq "each exactly once" "2000 2000" \
    "$(file_events "$out" | jq -r '.row.id' | wc -l) $(file_events "$out" | jq -r '.row.id' | sort -u | wc -l)"
check "no file holds a torn line" \
    bash -c "! (cat '$out'/*.jsonl | grep -v '^{.*}\$' | grep -q .)"
stop_bg wfile
stop_bg repl
