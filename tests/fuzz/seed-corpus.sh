#!/usr/bin/env bash
# Writes the seeds of tests/fuzz/corpus/ that come from other test data;
# the other files there (written by hand, or inputs that once crashed) are
# left alone.
#   - fuzz_pgoutput/seed-*: the messages captured from PostgreSQL
#     (tests/data/pgoutput_v1.hex, one message per line in hex): the whole
#     capture, each transaction with the Relation and Type messages it
#     needs, and a few messages alone, in the target's framing (every
#     message after its length as 2 bytes, big-endian);
#   - fuzz_event/golden-*: the first events of each golden test's in.jsonl;
#   - fuzz_config/golden-*: the golden tests' rules and routing files.
#
#   tests/fuzz/seed-corpus.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HEX="$ROOT/tests/data/pgoutput_v1.hex"
CORPUS="$ROOT/tests/fuzz/corpus"
OUT="$CORPUS/fuzz_pgoutput"

mapfile -t MSG <"$HEX"

# frame N...: the messages of those line numbers (1-based), framed; 0 is an
# empty frame, which the target takes as a reconnect.
frame() {
    local n hex len
    for n in "$@"; do
        if [ "$n" -eq 0 ]; then
            printf '\x00\x00'
            continue
        fi
        hex=${MSG[$((n - 1))]}
        hex=${hex%$'\r'}
        len=$((${#hex} / 2))
        # the length, then the message: both as \x escapes for printf
        # shellcheck disable=SC2059
        printf "$(printf '\\x%02x\\x%02x' $((len >> 8)) $((len & 255)))"
        # shellcheck disable=SC2001,SC2059
        printf "$(sed 's/../\\x&/g' <<<"$hex")"
    done
}

seed() {
    local name=$1
    shift
    frame "$@" >"$OUT/$name"
}

mkdir -p "$OUT"
rm -f "$OUT"/seed-*
# shellcheck disable=SC2046 # one number per argument
seed seed-capture $(seq 1 ${#MSG[@]})
seed seed-tx-insert 1 2 3 4 5 6
seed seed-tx-update-toast 2 3 7 8 9
seed seed-tx-update-key 2 3 10 11 12
seed seed-tx-delete 2 3 13 14 15
seed seed-tx-full-insert 16 17 18 19
seed seed-tx-full-update 17 20 21 22
seed seed-tx-full-delete 17 23 24 25
seed seed-tx-quoted 26 27 28 29
seed seed-tx-message-truncate 30 31 32 33 34 35 36
seed seed-reconnect 1 2 3 5 0 1 2 3 4 5 6
seed seed-begin 1
seed seed-type 2
seed seed-relation 3
seed seed-commit 6
seed seed-message 31
seed seed-truncate-unknown 35
# An Origin message inside a transaction, which the capture has none of:
# 'O', the origin's LSN, its name.
{
    frame 1
    printf '\x00\x12O\x00\x00\x00\x00\x01\x5a\x1c\x00origin-a\x00'
    frame 6
} >"$OUT/seed-origin"

# Events: the first three of each golden test (lines starting with # are
# comments).
mkdir -p "$CORPUS/fuzz_event" "$CORPUS/fuzz_config"
rm -f "$CORPUS/fuzz_event"/golden-* "$CORPUS/fuzz_config"/golden-*
for dir in "$ROOT"/tests/data/golden/*/; do
    name=$(basename "$dir")
    n=0
    while IFS= read -r line; do
        case $line in '#'* | '') continue ;; esac
        n=$((n + 1))
        printf '%s' "$line" >"$CORPUS/fuzz_event/golden-$name-$n"
        [ "$n" -lt 3 ] || break
    done <"$dir/in.jsonl"
    for f in "$dir"/*.yaml; do
        [ -f "$f" ] || continue
        cp "$f" "$CORPUS/fuzz_config/golden-$name-$(basename "$f")"
    done
done
echo "seed-corpus: $(find "$CORPUS" -type f \( -name 'seed-*' -o -name 'golden-*' \) | wc -l) files written"
