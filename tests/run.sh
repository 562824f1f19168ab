#!/usr/bin/env bash
# Runs the tests (what "make test" runs):
#
#   tests/run.sh --build BUILD_DIR [--unit-only|--e2e-only|--fuzz-only]
#                [--filter SUBSTR] [--fuzz-seconds N]
#
# Unit tests: every executable BUILD_DIR/tests/test_* (cmocka, TAP output).
# Fuzzing: every libFuzzer target BUILD_DIR/fuzz/fuzz_* for N seconds (15),
# on a copy of its corpus tests/fuzz/corpus/<target>, several at once (one
# per CPU); one test each. An input that crashes is kept in
# BUILD_DIR/fuzz/artifacts/.
# End-to-end tests: starts the servers with internal/services.sh in a fresh
# directory, runs every tests/e2e/test_*.sh in name order with
# TRIBUTARY_BIN=BUILD_DIR/bin and the servers' env file, stops the servers
# at the end. --filter keeps the tests whose file name contains SUBSTR.
# TRIBUTARY_TEST_TIMEOUT sets the time limit of one script (600 s).
#
# The last line of output is "N passed, N failed"; the exit code is 1 when
# a test failed or nothing ran.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
    echo "usage: tests/run.sh --build BUILD_DIR [--unit-only|--e2e-only|--fuzz-only]" \
        "[--filter SUBSTR] [--fuzz-seconds N]" >&2
    exit 2
}

BUILD=''
RUN_UNIT=1
RUN_E2E=1
RUN_FUZZ=1
FILTER=''
FUZZ_SECONDS=15
while [ $# -gt 0 ]; do
    case $1 in
    --build)
        [ $# -ge 2 ] || usage
        BUILD=$2
        shift 2
        ;;
    --unit-only)
        RUN_E2E=0
        RUN_FUZZ=0
        shift
        ;;
    --e2e-only)
        RUN_UNIT=0
        RUN_FUZZ=0
        shift
        ;;
    --fuzz-only)
        RUN_UNIT=0
        RUN_E2E=0
        shift
        ;;
    --fuzz-seconds)
        [ $# -ge 2 ] || usage
        [[ $2 =~ ^[1-9][0-9]*$ ]] || usage
        FUZZ_SECONDS=$2
        shift 2
        ;;
    --filter)
        [ $# -ge 2 ] || usage
        FILTER=$2
        shift 2
        ;;
    *) usage ;;
    esac
done
[ -n "$BUILD" ] || usage
[ "$RUN_UNIT" -eq 1 ] || [ "$RUN_E2E" -eq 1 ] || [ "$RUN_FUZZ" -eq 1 ] || usage
BUILD=$(realpath -m -- "$BUILD")
TIMEOUT=${TRIBUTARY_TEST_TIMEOUT:-600}

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"

PASSED=0
FAILED=0
SKIPPED=0
FAILURES=()
SKIPS=()
WORK=$(mktemp -d /tmp/tributary-run.XXXXXX)
SERVICES_DIR=''
CHILD=''
TAILPID=''
FUZZ_PIDS=()

stop_services() {
    [ -n "$SERVICES_DIR" ] || return 0
    bash "$ROOT/internal/services.sh" stop --dir "$SERVICES_DIR" ||
        echo "run: stopping the servers in $SERVICES_DIR failed" >&2
    SERVICES_DIR=''
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
        # timeout(1) passes the signal on to the test's process group.
        kill -TERM "$CHILD" 2>/dev/null || true
        wait "$CHILD" 2>/dev/null || true
    fi
    [ -z "$TAILPID" ] || kill "$TAILPID" 2>/dev/null || true
    local pid
    for pid in "${FUZZ_PIDS[@]}"; do
        # each is a timeout(1), which passes the signal on
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${FUZZ_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    stop_services
    rm -rf -- "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "run: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

matches() {
    [ -z "$FILTER" ] || [[ $1 == *"$FILTER"* ]]
}

filter_note() {
    [ -z "$FILTER" ] || printf ' matching "%s"' "$FILTER"
}

# count PATTERN FILE: lines matching an extended regexp.
count() {
    grep -c -E -- "$1" "$2" || true
}

# ---- static checks ---------------------------------------------------------------

# The style guide's banned calls and include direction: one test each.
run_static() {
    local name script log
    for name in lint check-deps; do
        matches "$name" || continue
        script="internal/$name.sh"
        log="$WORK/static-$name.log"
        if bash "$script" >"$log" 2>&1; then
            PASSED=$((PASSED + 1))
            echo "static $name: ok"
        else
            FAILED=$((FAILED + 1))
            FAILURES+=("static $name: $(tail -1 "$log")")
            echo "static $name: failed"
            cat "$log"
        fi
    done
}

# ---- unit tests ----------------------------------------------------------------

run_unit() {
    local dir="$BUILD/tests" t name log rc p f s
    local found=0
    if [ ! -d "$dir" ]; then
        echo "unit: no directory $dir (nothing built)"
        return 0
    fi
    for t in "$dir"/test_*; do
        if [ ! -f "$t" ] || [ ! -x "$t" ]; then
            continue
        fi
        name=$(basename "$t")
        matches "$name" || continue
        found=$((found + 1))
        log="$WORK/unit-$name.log"
        rc=0
        # The braces keep bash's own "Aborted" line out of the output; the
        # exit code says it.
        { CMOCKA_MESSAGE_OUTPUT=TAP timeout -k 10 "$TIMEOUT" "$t" >"$log" 2>&1; } 2>/dev/null || rc=$?
        # cmocka writes "ok N - name", "not ok N - name" and, for a skipped
        # test, "not ok N # SKIP name".
        p=$(count '^ok [0-9]+' "$log")
        s=$(count '^(not )?ok [0-9]+ # SKIP' "$log")
        f=$(($(count '^not ok [0-9]+' "$log") - $(count '^not ok [0-9]+ # SKIP' "$log")))
        p=$((p - $(count '^ok [0-9]+ # SKIP' "$log")))
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            f=1
            if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
                FAILURES+=("unit $name: timed out after $TIMEOUT s")
            elif [ "$rc" -gt 128 ]; then
                FAILURES+=("unit $name: killed by signal $((rc - 128)) (exit code $rc)")
            else
                FAILURES+=("unit $name: exited with code $rc")
            fi
        fi
        while IFS= read -r line; do
            FAILURES+=("unit $name: ${line#not ok }")
        done < <(grep -E '^not ok [0-9]+' "$log" | grep -v -E '^not ok [0-9]+ # SKIP' || true)
        while IFS= read -r line; do
            line=${line#*# SKIP}
            SKIPS+=("unit $name: ${line# }")
        done < <(grep -E '^(not )?ok [0-9]+ # SKIP' "$log" || true)
        PASSED=$((PASSED + p))
        FAILED=$((FAILED + f))
        SKIPPED=$((SKIPPED + s))
        if [ "$f" -gt 0 ]; then
            echo "unit $name: $p passed, $f failed (exit code $rc)"
            echo "---- output of $name"
            cat "$log"
            echo "----"
        else
            echo "unit $name: $p passed, $s skipped"
        fi
    done
    [ "$found" -gt 0 ] || echo "unit: no test binaries in $dir$(filter_note)"
}

# ---- fuzzing -------------------------------------------------------------------

# fuzz_report NAME LOG: the first lines of the report in a fuzz target's
# log (the sanitizer's or libFuzzer's, or the target's own message).
fuzz_report() {
    local start
    start=$(grep -n -m1 -E '^==[0-9]+== ?(ERROR|WARNING)|runtime error:|^ALARM:|^'"$1"': ' "$2" |
        cut -d: -f1 || true)
    if [ -n "$start" ]; then
        tail -n +"$start" "$2" | head -n 30
    else
        tail -n 30 "$2"
    fi
}

run_fuzz() {
    local dir="$BUILD/fuzz" t name work pid rc log input line runs i
    local names=() pids=() jobs running=0
    for t in "$dir"/fuzz_*; do
        if [ ! -f "$t" ] || [ ! -x "$t" ]; then
            continue
        fi
        name=$(basename "$t")
        matches "$name" || continue
        names+=("$name")
    done
    if [ ${#names[@]} -eq 0 ]; then
        echo "fuzz: no fuzz targets in $dir$(filter_note)"
        if [ -z "$FILTER" ]; then
            SKIPPED=$((SKIPPED + 1))
            SKIPS+=("fuzz: no fuzz targets in $dir (make fuzz-build; needs clang)")
        fi
        return 0
    fi
    jobs=$(nproc 2>/dev/null || echo 1)
    [ "$jobs" -le ${#names[@]} ] || jobs=${#names[@]}
    if [ ${#names[@]} -eq 1 ]; then
        echo "fuzz: 1 target, $FUZZ_SECONDS s"
    else
        echo "fuzz: ${#names[@]} targets, $FUZZ_SECONDS s each, $jobs at a time"
    fi
    mkdir -p "$dir/artifacts"

    for name in "${names[@]}"; do
        if [ "$running" -ge "$jobs" ]; then
            wait -n "${FUZZ_PIDS[@]}" 2>/dev/null || true
            running=$((running - 1))
        fi
        work="$WORK/fuzz-$name"
        mkdir -p "$work/corpus"
        if [ -d "$ROOT/tests/fuzz/corpus/$name" ]; then
            cp -R "$ROOT/tests/fuzz/corpus/$name/." "$work/corpus/"
        fi
        # -timeout: one input that takes this long is a hang, a failure;
        # the outer limit only guards against the fuzzer itself hanging.
        (cd "$work" && exec timeout -k 10 $((FUZZ_SECONDS + 120)) "$dir/$name" \
            -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$dir/artifacts/$name-" \
            corpus) >"$work/log" 2>&1 </dev/null &
        FUZZ_PIDS+=($!)
        pids+=($!)
        running=$((running + 1))
    done

    for i in "${!names[@]}"; do
        name=${names[$i]}
        pid=${pids[$i]}
        log="$WORK/fuzz-$name/log"
        rc=0
        wait "$pid" || rc=$?
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        if [ "$rc" -eq 0 ]; then
            PASSED=$((PASSED + 1))
            echo "fuzz $name: ok (${runs:-?} inputs in $FUZZ_SECONDS s)"
            continue
        fi
        FAILED=$((FAILED + 1))
        input=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            line="did not stop within $((FUZZ_SECONDS + 120)) s"
        else
            # the first line that says what happened, without the pids
            # and addresses
            line=$(grep -m1 -E '^==[0-9]+== ?ERROR: |runtime error:|^'"$name"': ' "$log" |
                sed -E 's/^==[0-9]+== ?//; s/ on address 0x.*//' || true)
            [ -n "$line" ] || line="exited with code $rc"
        fi
        FAILURES+=("fuzz $name: $line${input:+ (input: $input)}")
        echo "fuzz $name: failed (exit code $rc)"
        echo "---- report of $name"
        fuzz_report "$name" "$log"
        echo "----"
        if [ -n "$input" ]; then
            echo "input: $input"
            echo "reproduce: $dir/$name $input"
        fi
    done
    FUZZ_PIDS=()
}

# ---- end-to-end tests ----------------------------------------------------------

run_e2e() {
    local scripts=() s name log rc p f k
    for s in "$ROOT"/tests/e2e/test_*.sh; do
        [ -f "$s" ] || continue
        matches "$(basename "$s")" || continue
        scripts+=("$s")
    done
    if [ ${#scripts[@]} -eq 0 ]; then
        echo "e2e: no scripts in tests/e2e$(filter_note)"
        return 0
    fi
    mapfile -t scripts < <(printf '%s\n' "${scripts[@]}" | LC_ALL=C sort)

    SERVICES_DIR=$(mktemp -d /tmp/tributary-test.XXXXXX)
    export TRIBUTARY_SERVICES_DIR=$SERVICES_DIR
    if ! bash "$ROOT/internal/services.sh" start --fast --dir "$SERVICES_DIR"; then
        FAILED=$((FAILED + 1))
        FAILURES+=("e2e: the servers did not start (internal/services.sh start)")
        return 0
    fi
    set -a
    # shellcheck source=/dev/null
    . "$SERVICES_DIR/env"
    set +a
    export TRIBUTARY_BIN="$BUILD/bin"
    [ -d "$TRIBUTARY_BIN" ] || echo "e2e: note: $TRIBUTARY_BIN does not exist (binaries not built)"

    for s in "${scripts[@]}"; do
        name=$(basename "$s")
        log="$WORK/e2e-$name.log"
        echo "==== e2e $name"
        : >"$log"
        # In the background, so that a Ctrl-C is handled at once; tail
        # streams the output as it comes.
        timeout -k 10 "$TIMEOUT" bash "$s" >"$log" 2>&1 </dev/null &
        CHILD=$!
        tail -n +1 -s 0.2 -f --pid="$CHILD" "$log" &
        TAILPID=$!
        rc=0
        wait "$CHILD" || rc=$?
        CHILD=''
        wait "$TAILPID" 2>/dev/null || true
        TAILPID=''

        p=$(count '^ok( |$)' "$log")
        f=$(count '^not ok( |$)' "$log")
        k=$(count '^skip( |$)' "$log")
        while IFS= read -r line; do
            FAILURES+=("e2e $name: ${line#not ok - }")
        done < <(grep -E '^not ok( |$)' "$log" || true)
        while IFS= read -r line; do
            SKIPS+=("e2e $name: ${line#skip - }")
        done < <(grep -E '^skip( |$)' "$log" || true)
        if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            f=$((f + 1))
            FAILURES+=("e2e $name: timed out after $TIMEOUT s")
            echo "==== e2e $name: timed out after $TIMEOUT s"
        elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            f=1
            FAILURES+=("e2e $name: exited with code $rc")
        fi
        PASSED=$((PASSED + p))
        FAILED=$((FAILED + f))
        SKIPPED=$((SKIPPED + k))
        echo "==== e2e $name: $p passed, $f failed, $k skipped (exit code $rc)"
    done
}

[ "$RUN_UNIT" -eq 0 ] || run_static
[ "$RUN_UNIT" -eq 0 ] || run_unit
[ "$RUN_FUZZ" -eq 0 ] || run_fuzz
[ "$RUN_E2E" -eq 0 ] || run_e2e
# Before the summary, so that nothing is printed after its last line.
stop_services

echo
echo "==== summary"
if [ ${#FAILURES[@]} -gt 0 ]; then
    echo "failed:"
    printf '  %s\n' "${FAILURES[@]}"
fi
if [ ${#SKIPS[@]} -gt 0 ]; then
    echo "skipped:"
    printf '  %s\n' "${SKIPS[@]}"
fi
if [ $((PASSED + FAILED)) -eq 0 ]; then
    echo "nothing ran"
fi
echo "$SKIPPED skipped"
echo "$PASSED passed, $FAILED failed"
if [ "$FAILED" -gt 0 ] || [ $((PASSED + FAILED)) -eq 0 ]; then
    exit 1
fi
exit 0
