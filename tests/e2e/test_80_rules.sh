#!/usr/bin/env bash
# Rules and routing end to end, on pg_flo's own scenarios: its rules file
# (mask email and ssn, phone regex, age filter, deletes let through) into
# the file sink and the postgres sink; a multi-tenant filter; routing of
# users/orders/products to customers/transactions/items with renamed
# columns and operation selection, after a rule on the source names; a
# route that passes only INSERT; a filter that cannot be decided goes to
# the dead letters; and a broken rules file stops the worker at start with
# its file and line.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

group=$(unique_name rules-)
slot=tributary_${group//-/_}
s=$(unique_name rules_)
export TRIBUTARY_PASSWORD=$APP_PASSWORD
export TRIBUTARY_TARGET_PASSWORD=$APP_PASSWORD

src_psql "
CREATE SCHEMA $s;
CREATE TABLE $s.users (id int PRIMARY KEY, email text, phone text, age int, ssn text, created_at timestamptz DEFAULT now());
CREATE TABLE $s.events (id int PRIMARY KEY, tenant_id int NOT NULL, data text);
ALTER TABLE $s.events REPLICA IDENTITY FULL;
CREATE TABLE $s.notes (id int PRIMARY KEY, tenant_id int NOT NULL, body text);
CREATE TABLE $s.accounts (id int PRIMARY KEY, username text NOT NULL, email text, plan jsonb);
CREATE TABLE $s.orders (id int PRIMARY KEY, account_id int NOT NULL REFERENCES $s.accounts (id), amount numeric(10,2), lines jsonb);
CREATE TABLE $s.products (id int PRIMARY KEY, name text, stock int, tags text[]);
CREATE TABLE $s.audit (id int PRIMARY KEY, what text);
"
tgt_psql "
CREATE SCHEMA $s;
CREATE TABLE $s.users (id int PRIMARY KEY, email text, phone text, age int, ssn text, created_at timestamptz);
CREATE TABLE $s.events (id int PRIMARY KEY, tenant_id int NOT NULL, data text);
CREATE TABLE $s.notes (id int PRIMARY KEY, tenant_id int NOT NULL, body text);
CREATE TABLE $s.customers (customer_id int PRIMARY KEY, customer_name text NOT NULL, email text, plan jsonb);
CREATE TABLE $s.transactions (transaction_id int PRIMARY KEY, customer_id int NOT NULL, total numeric(10,2), lines jsonb);
CREATE TABLE $s.items (item_id int PRIMARY KEY, item_name text, stock int, tags text[]);
CREATE TABLE $s.audit (id int PRIMARY KEY, what text);
"
src_psql "ALTER SCHEMA $s OWNER TO app"
for t in users events notes accounts orders products audit; do src_psql "ALTER TABLE $s.$t OWNER TO app"; done
on_exit "src_psql \"SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots WHERE slot_name = '$slot'\" >/dev/null 2>&1; src_psql 'DROP PUBLICATION IF EXISTS $slot; DROP SCHEMA $s CASCADE' >/dev/null 2>&1"
on_exit "tgt_psql 'DROP SCHEMA $s CASCADE' >/dev/null 2>&1"

# pg_flo's internal/scripts/rules.yml, as its users have it (operations and
# allow_empty_deletes inside parameters), plus our rules for the other tables
rules=$TEST_TMP/rules.yml
cat >"$rules" <<EOF
tables:
  users:
    - type: transform
      column: email
      parameters:
        type: mask
        mask_char: "*"
        allow_empty_deletes: true
      operations: [INSERT, UPDATE, DELETE]
    - type: transform
      column: phone
      parameters:
        type: regex
        pattern: "^(\\\\d{3})(\\\\d{3})(\\\\d{4})$"
        replace: "(\$1) \$2-\$3"
        allow_empty_deletes: true
      operations: [INSERT, UPDATE, DELETE]
    - type: filter
      column: age
      parameters:
        operator: gte
        value: 18
        allow_empty_deletes: true
      operations: [INSERT, UPDATE, DELETE]
    - type: transform
      column: ssn
      parameters:
        type: mask
        mask_char: "X"
        allow_empty_deletes: true
      operations: [INSERT, UPDATE, DELETE]
  $s.events:
    - type: filter
      column: tenant_id
      parameters: {operator: eq, value: 3}
  notes:
    - type: filter
      column: tenant_id
      parameters: {operator: eq, value: 3}
  accounts:
    - type: transform
      column: username
      parameters: {type: regex, pattern: "^(.)", replace: "user-\$1"}
EOF
routing=$TEST_TMP/routing.yml
cat >"$routing" <<EOF
accounts:
  source_table: accounts
  destination_table: customers
  column_mappings:
    - source: id
      destination: customer_id
    - source: username
      destination: customer_name
  operations: [INSERT, UPDATE]
orders:
  destination_table: transactions
  column_mappings:
    - {source: id, destination: transaction_id}
    - {source: account_id, destination: customer_id}
    - {source: amount, destination: total}
  operations: [INSERT, UPDATE, DELETE]
$s.products:
  destination_table: items
  column_mappings:
    - {source: id, destination: item_id}
    - {source: name, destination: item_name}
audit:
  operations: [INSERT]
EOF

# a broken rules file: the worker refuses to start, naming file and line
bad=$TEST_TMP/bad.yml
printf 'tables:\n  users:\n    - type: filter\n      column: age\n      parameters: {operator: between, value: 1}\n    - type: transform\n      column: phone\n      parameters: {type: regex, pattern: "(a", replace: x}\n' >"$bad"
rc=0
"$BIN/worker" file --group "$group" --nats-url "$NATS_URL" --file-output-dir "$TEST_TMP/never" \
    --rules-config "$bad" >"$TEST_TMP/bad.out" 2>&1 || rc=$?
check_eq "a broken rules file stops the worker with exit code 2" 2 "$rc"
check "both mistakes are reported with file and line" \
    bash -c "grep -q '$bad:5: ' '$TEST_TMP/bad.out' && grep -q '$bad:8: .*(a' '$TEST_TMP/bad.out'"
check "nothing was connected or written" test ! -e "$TEST_TMP/never"

out=$TEST_TMP/out
# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --schema "$s" $(repl_args)
start_bg wfile "$BIN/worker" file --group "$group" --nats-url "$NATS_URL" \
    --file-output-dir "$out" --rules-config "$rules" --routing-config "$routing" \
    --batch-wait 50ms
start_bg wpg "$BIN/worker" postgres --group "$group" --nats-url "$NATS_URL" \
    --target-host "$TGT_PGHOST" --target-port "$TGT_PGPORT" \
    --target-dbname app --target-user app --batch-wait 50ms \
    --rules-config "$rules" --routing-config "$routing"
wait_until 30 slot_active || not_ok "replicator streams"

# pg_flo's transform_filter scenario
src_psql "INSERT INTO $s.users (id, email, phone, age, ssn) VALUES (1, 'john@example.com', '1234567890', 25, '123-45-6789')"
src_psql "INSERT INTO $s.users (id, email, phone, age, ssn) VALUES (2, 'jane@example.com', '9876543210', 17, '987-65-4321')"
src_psql "INSERT INTO $s.users (id, email, phone, age, ssn) VALUES (3, 'bob@example.com', '5555555555', 30, '555-55-5555')"
src_psql "UPDATE $s.users SET email = 'updated@example.com', phone = '1112223333' WHERE id = 1"
src_psql "DELETE FROM $s.users WHERE age = 30"
src_psql "DELETE FROM $s.users WHERE age = 17"
# pg_flo's multi_tenant scenario, then deletes decided on the old row
src_psql "INSERT INTO $s.events VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 3, 'c'), (4, 3, 'd'), (5, 4, 'e'), (6, 3, 'f')"
src_psql "DELETE FROM $s.events WHERE id IN (1, 4)"
# a delete whose old row is the key only cannot be filtered on tenant_id
src_psql "INSERT INTO $s.notes VALUES (1, 3, 'kept'), (2, 3, 'deleted'), (3, 1, 'other tenant')"
src_psql "DELETE FROM $s.notes WHERE id = 2"
# pg_flo's routing scenario
src_psql "INSERT INTO $s.accounts VALUES (1, 'alice', 'alice@example.com', '{\"type\": \"enterprise\"}'), (2, 'bob', 'bob@example.com', '{\"type\": \"basic\"}')"
src_psql "INSERT INTO $s.orders VALUES (1, 1, 99.99, '[{\"sku\": \"w\"}]'), (2, 2, 150.00, '[{\"sku\": \"g\"}, {\"sku\": \"w\"}]')"
src_psql "INSERT INTO $s.products VALUES (1, 'Widget', 100, '{a,b,c}'), (2, 'Gadget', 5, '{x}')"
src_psql "UPDATE $s.products SET stock = 75 WHERE name = 'Widget'"
src_psql "UPDATE $s.accounts SET email = 'alice@new.example.com' WHERE id = 1"
src_psql "DELETE FROM $s.orders WHERE id = 1"
src_psql "DELETE FROM $s.accounts WHERE id = 1"
# a route that passes INSERT only keeps the row as inserted
src_psql "INSERT INTO $s.audit VALUES (1, 'first')"
src_psql "UPDATE $s.audit SET what = 'second' WHERE id = 1"
src_psql "DELETE FROM $s.audit WHERE id = 1"
src_psql "INSERT INTO $s.audit VALUES (2, 'marker')"

tgt_has_marker() { [ "$(tgt_psql "SELECT count(*) FROM $s.audit WHERE id = 2")" = 1 ]; }
file_has_marker() { file_events "$out" | jq -e 'select(.table == "audit" and .row.id == 2)' >/dev/null 2>&1; }
if wait_until 60 tgt_has_marker && wait_until 30 file_has_marker; then
    ok "both workers applied every change up to the last"
else
    not_ok "both workers applied every change up to the last"
    dump_bg repl
    dump_bg wfile
    dump_bg wpg
fi

users=$(file_events "$out" | jq -c 'select(.table == "users")')
check_eq "file: 2 INSERT, 1 UPDATE, 2 DELETE for users (the minor's insert filtered)" \
    "DELETE=2 INSERT=2 UPDATE=1 " \
    "$(jq -r .op <<<"$users" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')"
check_eq "file: no INSERT of id 2" "" \
    "$(jq -r 'select(.op == "INSERT" and .row.id == 2) | .row.id' <<<"$users")"
check_eq "file: email masked, phone formatted, ssn masked" \
    "j**************m (123) 456-7890 1XXXXXXXXX9" \
    "$(jq -r 'select(.op == "INSERT" and .row.id == 1) | "\(.row.email) \(.row.phone) \(.row.ssn)"' <<<"$users")"
check_eq "file: the update is masked and formatted too" \
    "u*****************m (111) 222-3333" \
    "$(jq -r 'select(.op == "UPDATE") | "\(.row.email) \(.row.phone)"' <<<"$users")"
check_eq "file: both deletes passed" "2 3" \
    "$(jq -r 'select(.op == "DELETE") | .old.id' <<<"$users" | sort | xargs)"

check_eq "postgres: users holds john only, masked and formatted" \
    "1|u*****************m|(111) 222-3333|25|1XXXXXXXXX9" \
    "$(tgt_psql "SELECT id, email, phone, age, ssn FROM $s.users ORDER BY id")"
check_eq "postgres: exactly the tenant's rows, its delete applied" \
    "3|3|c
6|3|f" \
    "$(tgt_psql "SELECT id, tenant_id, data FROM $s.events ORDER BY id")"
check_eq "file: events of other tenants filtered out" "3 3 3" \
    "$(file_events "$out" | jq -r 'select(.table == "events" and .op == "INSERT") | .row.tenant_id' | xargs)"

dlq_count_ge() { [ "$(nats_stream_msgs "TRIBUTARY_DLQ_$group")" -ge "$1" ]; }
check "the undecidable delete went to the dead letters of both sinks" wait_until 30 dlq_count_ge 2
check "the reason names table and column" \
    bash -c "grep 'sent to dead letters' '$TEST_TMP/wpg.err' | grep notes | grep -q tenant_id"
check_eq "postgres: notes keeps the rows of tenant 3, the delete set aside" \
    "1|kept
2|deleted" \
    "$(tgt_psql "SELECT id, body FROM $s.notes ORDER BY id")"

check_eq "postgres: customers renamed, both kept (DELETE not routed), rule ran on source names" \
    "1|user-alice|alice@new.example.com|enterprise
2|user-bob|bob@example.com|basic" \
    "$(tgt_psql "SELECT customer_id, customer_name, email, plan->>'type' FROM $s.customers ORDER BY 1")"
check_eq "postgres: transactions renamed, the delete applied by the renamed key" \
    "2|2|150.00|2" \
    "$(tgt_psql "SELECT transaction_id, customer_id, total, jsonb_array_length(lines) FROM $s.transactions ORDER BY 1")"
check_eq "postgres: items renamed, the update applied (a route without operations passes all)" \
    "1|Widget|75|3
2|Gadget|5|1" \
    "$(tgt_psql "SELECT item_id, item_name, stock, cardinality(tags) FROM $s.items ORDER BY 1")"
check_eq "postgres: a route with operations [INSERT] keeps the row as inserted" \
    "1|first
2|marker" \
    "$(tgt_psql "SELECT id, what FROM $s.audit ORDER BY id")"
check_eq "file: renamed table and columns in the output" \
    "customers 1 user-alice" \
    "$(file_events "$out" | jq -r 'select(.op == "INSERT" and .table == "customers" and .row.customer_id == 1) | "\(.table) \(.row.customer_id) \(.row.customer_name)"')"
check_eq "file: the key names follow the renames" '["item_id"]' \
    "$(file_events "$out" | jq -c 'select(.table == "items") | .key' | sort -u)"

stop_bg wfile
stop_bg wpg
check "workers log what they filtered" grep -q "filtered" "$TEST_TMP/wpg.err"
