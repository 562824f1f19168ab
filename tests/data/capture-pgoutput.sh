#!/usr/bin/env bash
# Regenerates pgoutput_v1.hex: the pgoutput (protocol 1) messages of a
# scripted workload, one message per line in hex, as PostgreSQL's
# pg_logical_slot_peek_binary_changes returns them. The unit tests decode
# this file. Usage: capture-pgoutput.sh "host=... port=... user=... dbname=..."
set -euo pipefail
conn="$1"
out="$(dirname "$0")/pgoutput_v1.hex"
psql "$conn" -X -q -v ON_ERROR_STOP=1 <<'SQL'
DROP TABLE IF EXISTS cap_items, cap_full, "Cap Odd";
DROP TYPE IF EXISTS cap_mood;
SELECT pg_drop_replication_slot('cap_slot') FROM pg_replication_slots WHERE slot_name = 'cap_slot';
DROP PUBLICATION IF EXISTS cap_pub;
CREATE TYPE cap_mood AS ENUM ('sad', 'happy');
CREATE TABLE cap_items (id int PRIMARY KEY, name text, price numeric(10,2), mood cap_mood, big text, tags text[]);
ALTER TABLE cap_items ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE cap_full (a int, b text);
ALTER TABLE cap_full REPLICA IDENTITY FULL;
CREATE TABLE "Cap Odd" ("Key Col" int PRIMARY KEY, "select" text);
CREATE PUBLICATION cap_pub FOR TABLE cap_items, cap_full, "Cap Odd";
SELECT 'init' FROM pg_create_logical_replication_slot('cap_slot', 'pgoutput');
-- 1: two inserts in one transaction, one with NULLs, unicode and quotes
BEGIN;
INSERT INTO cap_items VALUES (1, 'héllo "wörld"', 12.50, 'happy', repeat('x', 5000), '{a,"b c",NULL}');
INSERT INTO cap_items VALUES (2, NULL, NULL, NULL, NULL, NULL);
COMMIT;
-- 2: update of a non-TOAST column: big is sent as unchanged
UPDATE cap_items SET price = 13.00 WHERE id = 1;
-- 3: key change: the old key is sent
UPDATE cap_items SET id = 3 WHERE id = 2;
-- 4: delete by key
DELETE FROM cap_items WHERE id = 3;
-- 5: replica identity full: whole old row
INSERT INTO cap_full VALUES (1, 'one');
UPDATE cap_full SET b = 'uno' WHERE a = 1;
DELETE FROM cap_full WHERE a = 1;
-- 6: quoted identifiers
INSERT INTO "Cap Odd" VALUES (7, 'reserved');
-- 7: a transactional logical message, then truncate of two tables
BEGIN;
SELECT 'msg' FROM pg_logical_emit_message(true, 'tributary.test', 'hello');
TRUNCATE cap_items, cap_full;
COMMIT;
SQL
psql "$conn" -X -q -A -t -v ON_ERROR_STOP=1 -c \
  "SELECT encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes('cap_slot', NULL, NULL, 'proto_version', '1', 'publication_names', 'cap_pub', 'messages', 'true')" > "$out"
psql "$conn" -X -q -c "SELECT pg_drop_replication_slot('cap_slot')" -c "DROP PUBLICATION cap_pub" -c 'DROP TABLE cap_items, cap_full, "Cap Odd"' -c "DROP TYPE cap_mood" >/dev/null
echo "wrote $(wc -l < "$out") messages to $out"
