#!/usr/bin/env bash
# Bad configuration and unreachable servers: each gives one line on stderr
# naming what is wrong (file and line for the YAML file), exit code 2 for a
# configuration error and 1 for a runtime failure, and never a crash or a
# printed password.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

secret='Sup3r-Secret!pw#'
# expect NAME CODE PATTERN CMD...: runs CMD, checks the exit code, that
# stderr is one line matching PATTERN (extended regex), and that the
# password never shows.
expect() {
    local name=$1 code=$2 pattern=$3 rc=0 lines
    shift 3
    "$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err" </dev/null || rc=$?
    # the failure is one line; info lines before it (connected to ...) say
    # how far the program got
    lines=$(grep -vE '^[^ ]+ info ' "$TEST_TMP/err" | grep -c . || true)
    if [ "$rc" = "$code" ] && [ "$lines" = 1 ] && grep -qE "$pattern" "$TEST_TMP/err" &&
        ! grep -q "$secret" "$TEST_TMP/out" "$TEST_TMP/err"; then
        ok "$name"
    else
        not_ok "$name" "exit code $rc (want $code), $lines lines on stderr:
$(head -5 "$TEST_TMP/err")"
    fi
}

R="$BIN/replicator"
W="$BIN/worker"
nats=(--nats-url "$NATS_URL")

expect "replicator without --group" 2 'missing required option "group"' "$R"
expect "replicator with an unknown flag" 2 'unknown option "--prot"' "$R" --group g --prot 5
expect "replicator with a worker-only flag" 2 '"--file-output-dir" does not apply to replicator' \
    "$R" --group g --file-output-dir /tmp
expect "replicator with a flag of the mysql source only" 2 \
    '"--server-id" does not apply to the postgres source' "$R" --group g --tables t --server-id 7
expect "replicator --source mysql with a flag of the postgres source only" 2 \
    '"--stream-in-progress" does not apply to the mysql source' \
    "$R" --group g --tables t --source mysql --stream-in-progress
expect "replicator with a port out of range" 2 'port' "$R" --group g --port 70000
expect "replicator with an invalid group name" 2 'group "Sales" is invalid' "$R" --group Sales
expect "replicator with two modes" 2 'cannot specify multiple modes' "$R" --group g --copy --stream
expect "replicator --cleanup with a mode" 2 'cannot be combined' "$R" --group g --cleanup --copy
expect "replicator --yes without --cleanup" 2 'yes goes with --cleanup' "$R" --group g --yes
expect "replicator with a bad variable" 2 'TRIBUTARY_PORT.*"abc"' env TRIBUTARY_PORT=abc "$R" --group g

cat >"$TEST_TMP/bad-key.yaml" <<'YAML'
group: g
host: 127.0.0.1
prot: 5432
YAML
expect "unknown key in the config file, with file and line" 2 "bad-key.yaml:3: unknown key \"prot\"" \
    "$R" --config "$TEST_TMP/bad-key.yaml"
cat >"$TEST_TMP/bad-type.yaml" <<'YAML'
group: g
port: abc
YAML
expect "wrong type in the config file, with file and line" 2 'bad-type.yaml:2: .*"port".*abc' \
    "$R" --config "$TEST_TMP/bad-type.yaml"
printf 'group: g\ntables: [a, b\n' >"$TEST_TMP/broken.yaml"
expect "malformed YAML, with file and line" 2 'broken.yaml:[0-9]+: cannot parse YAML' \
    "$R" --config "$TEST_TMP/broken.yaml"
expect "missing config file" 2 'nope.yaml' "$R" --config "$TEST_TMP/nope.yaml"
mkdir -p "$TEST_TMP/not-a-file"
expect "unreadable config file" 2 'could not read config file .*not-a-file.*Is a directory' \
    "$R" --config "$TEST_TMP/not-a-file"
expect "unreadable rules file" 2 'could not read .*not-a-file.*Is a directory' \
    "$W" stdout --group g --rules-config "$TEST_TMP/not-a-file"
expect "unreadable routing file" 2 'could not read .*not-a-file.*Is a directory' \
    "$W" stdout --group g --routing-config "$TEST_TMP/not-a-file"

# a pg_flo-style file shared by replicator and workers loads in both
cat >"$TEST_TMP/shared.yaml" <<YAML
host: 127.0.0.1
port: $SRC_PGPORT
dbname: app
user: app
password: "$secret"
group: shared
tables:
  - users
nats-url: $NATS_URL
batch-size: 500
file-output-dir: $TEST_TMP/files
target-host: 127.0.0.1
webhook-url: http://127.0.0.1:1/
YAML
check "a pg_flo-style shared file passes --check-config in the replicator" \
    "$R" --config "$TEST_TMP/shared.yaml" --check-config
check "the same file passes --check-config in the file worker" \
    "$W" file --config "$TEST_TMP/shared.yaml" --check-config
"$R" --config "$TEST_TMP/shared.yaml" --print-config >"$TEST_TMP/print" 2>&1
if grep -q "$secret" "$TEST_TMP/print"; then
    not_ok "--print-config hides the password"
else
    ok "--print-config hides the password"
fi
TRIBUTARY_BATCH_SIZE=7 "$W" file --config "$TEST_TMP/shared.yaml" --print-config >"$TEST_TMP/print"
check "an environment variable beats the file" grep -qE '^batch-size = 7 +\(env' "$TEST_TMP/print"
TRIBUTARY_BATCH_SIZE=7 "$W" file --config "$TEST_TMP/shared.yaml" --batch-size 9 --print-config >"$TEST_TMP/print"
check "a flag beats the environment" grep -qE '^batch-size = 9 +\(flag' "$TEST_TMP/print"

check "replicator --help names its flags" bash -c "'$R' --help | grep -q -- --tables"
check "worker file --help names its flags" bash -c "'$W' file --help | grep -q -- --file-output-dir"

expect "worker without a sink" 2 'missing sink name' "$W"
expect "worker with an unknown sink" 2 'unknown sink "nosuch"' "$W" nosuch --group g
expect "worker with batch size 0" 2 'batch-size' "$W" stdout --group g --batch-size 0
expect "worker with a rules file that does not exist" 2 \
    'could not read "/nonexistent/r.yaml": No such file or directory' \
    "$W" stdout --group g --rules-config /nonexistent/r.yaml
printf 'users:\n  destination_table: customers\n  operations: []\n' >"$TEST_TMP/routing.yaml"
expect "worker with a routing file that selects no operation" 2 \
    "routing.yaml:3: .*would drop every change" \
    "$W" stdout --group g --routing-config "$TEST_TMP/routing.yaml"
printf 'tables:\n  users:\n    - {type: exclude_column, column: password}\n' >"$TEST_TMP/rules.yaml"
check "--check-config reads the rules file too" \
    bash -c "'$W' stdout --group g --rules-config '$TEST_TMP/rules.yaml' --check-config | grep -q 'configuration is valid'"
expect "file worker without an output directory" 2 'file-output-dir' \
    "$W" file --group "$(unique_name cfg-)" "${nats[@]}"

# runtime failures: exit 1, one line, no password
expect "unreachable NATS" 1 'could not connect to NATS' \
    "$R" --group g --nats-url nats://127.0.0.1:1 --host 127.0.0.1 --port "$SRC_PGPORT"
expect "worker with unreachable NATS" 1 'could not connect to NATS' \
    "$W" stdout --group g --nats-url nats://127.0.0.1:1
expect "unreachable database" 1 'could not connect to source PostgreSQL' \
    "$R" --group "$(unique_name cfg-)" --host 127.0.0.1 --port 1 --dbname app --user app "${nats[@]}"
expect "wrong password" 1 'could not connect to source PostgreSQL.*password' \
    env TRIBUTARY_PASSWORD="$secret" "$R" --group "$(unique_name cfg-)" --host 127.0.0.1 \
    --port "$SRC_PGPORT" --dbname app --user app "${nats[@]}"
export TRIBUTARY_PASSWORD=$APP_PASSWORD
expect "a table that does not exist" 2 'table "public"."no_such_table" does not exist' \
    "$R" --group "$(unique_name cfg-)" --tables no_such_table --host 127.0.0.1 \
    --port "$SRC_PGPORT" --dbname app --user app "${nats[@]}"
printf '%s\n' "$APP_PASSWORD" >"$TEST_TMP/pw"
unset TRIBUTARY_PASSWORD
expect "--password-file is read (and a missing table still named)" 2 'no_such_table' \
    "$R" --group "$(unique_name cfg-)" --tables no_such_table --host 127.0.0.1 \
    --port "$SRC_PGPORT" --dbname app --user app --password-file "$TEST_TMP/pw" "${nats[@]}"
