#!/usr/bin/env bash
# NATS over TLS with a user and password: the test makes its own CA and a
# server certificate for 127.0.0.1, starts a second NATS server (JetStream,
# TLS, user/password), and a group flows through it into the file sink.
# Without the CA the certificate is refused; with a wrong password the login
# is; both are clear errors with exit 1, and the password shows in no log.
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null || {
    skip "openssl is not installed"
    exit 0
}
nats_bin=$(command -v nats-server || echo /usr/sbin/nats-server)
nats_port=${NATS_URL##*:}
port=$((nats_port + 100))
tls=$TEST_TMP/tls
mkdir -p "$tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=tributary test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$tls/server.key" -out "$tls/server.csr" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$tls/ext.cnf"
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 2 -extfile "$tls/ext.cnf" -out "$tls/server.pem" >/dev/null 2>&1
check "the test made a CA and a server certificate" test -s "$tls/server.pem"

natspw="n@ts pass'\"word"
start_bg natstls "$nats_bin" -js -a 127.0.0.1 -p "$port" -sd "$TEST_TMP/js" \
    --tls --tlscert "$tls/server.pem" --tlskey "$tls/server.key" \
    --user tribu --pass "$natspw"
on_exit "kill \$(cat '$TEST_TMP/natstls.pid' 2>/dev/null) 2>/dev/null || true"
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
wait_until 20 port_open || not_ok "the TLS NATS server listens"

new_capture natstls- natstls_ "id int PRIMARY KEY, v text"
url=tls://127.0.0.1:$port
export TRIBUTARY_NATS_PASSWORD=$natspw
out=$TEST_TMP/out
# shellcheck disable=SC2046
start_bg repl "$BIN/replicator" --group "$group" --tables "$table" \
    $(repl_args | sed "s|--nats-url [^ ]*||") --nats-url "$url" \
    --nats-tls-ca "$tls/ca.pem" --nats-user tribu
start_bg wfile "$BIN/worker" file --group "$group" --nats-url "$url" \
    --nats-tls-ca "$tls/ca.pem" --nats-user tribu --file-output-dir "$out"
wait_until 30 slot_active || not_ok "replicator streams"
src_psql "INSERT INTO $table SELECT g, 'v' || g FROM generate_series(1, 50) g"
check "50 changes went through NATS over TLS" wait_until 30 file_count_ge "$out" 50
check_eq "each once" 50 "$(file_events "$out" | jq -r '.row.id' | sort -u | wc -l)"
stop_bg wfile
stop_bg repl

rc=0
timeout 60 "$BIN/worker" file --group "$group" --nats-url "$url" --nats-user tribu \
    --file-output-dir "$TEST_TMP/never" >"$TEST_TMP/noca.out" 2>&1 || rc=$?
check_eq "without the CA the server's certificate is refused (exit 1)" 1 "$rc"
check "and the error says so" grep -qi "certificate\|tls\|ssl" "$TEST_TMP/noca.out"
rc=0
TRIBUTARY_NATS_PASSWORD="wrong" timeout 60 "$BIN/worker" file --group "$group" \
    --nats-url "$url" --nats-tls-ca "$tls/ca.pem" --nats-user tribu \
    --file-output-dir "$TEST_TMP/never" >"$TEST_TMP/badpw.out" 2>&1 || rc=$?
check_eq "a wrong NATS password is refused (exit 1)" 1 "$rc"
check "and the error says so" grep -qi "auth" "$TEST_TMP/badpw.out"
check "the NATS password shows in no log" \
    bash -c "! grep -rlF -- \"\$1\" \"\$2\"/*.out \"\$2\"/*.err" _ "$natspw" "$TEST_TMP"
