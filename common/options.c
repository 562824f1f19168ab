/*
 * options.c: the option tables of the two commands (replicator, worker)
 * and of the NATS connection, kept together so each binary can accept the
 * other's keys in one shared YAML file, as pg_flo users have. Options of a
 * single source or sink live in that source's or sink's file.
 */
#include "common/common.h"

#include <string.h>

const struct cdc_opt cdc_nats_options[] = {
    {"nats-url", CDC_OPT_STRING, "nats://127.0.0.1:4222", 0, 0, 0,
     "NATS server URL(s), comma-separated"},
    {"nats-user", CDC_OPT_STRING, NULL, 0, 0, 0, "NATS user name"},
    {"nats-password", CDC_OPT_STRING, NULL, 0, 0, CDC_OPT_SECRET,
     "NATS password"},
    {"nats-token", CDC_OPT_STRING, NULL, 0, 0, CDC_OPT_SECRET,
     "NATS authentication token"},
    {"nats-creds", CDC_OPT_STRING, NULL, 0, 0, 0,
     "NATS credentials file (JWT and NKey)"},
    {"nats-nkey", CDC_OPT_STRING, NULL, 0, 0, 0, "NATS NKey seed file"},
    {"nats-tls-ca", CDC_OPT_STRING, NULL, 0, 0, 0,
     "CA certificate file for TLS to NATS (enables TLS)"},
    {"nats-tls-cert", CDC_OPT_STRING, NULL, 0, 0, 0,
     "client certificate file for TLS to NATS"},
    {"nats-tls-key", CDC_OPT_STRING, NULL, 0, 0, 0,
     "client key file for TLS to NATS"},
    {"nats-timeout", CDC_OPT_DURATION, "5s", 100, 600000, 0,
     "timeout of NATS connects and requests"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

const struct cdc_opt cdc_replicator_options[] = {
    {"group", CDC_OPT_STRING, NULL, 0, 0, CDC_OPT_REQUIRED,
     "name of the capture group (lower-case letters, digits, '-', '_')"},
    {"source", CDC_OPT_STRING, "postgres", 0, 0, 0,
     "kind of source database: postgres or mysql (MySQL and MariaDB)"},
    {"stream", CDC_OPT_BOOL, "false", 0, 0, 0,
     "stream changes (the default mode)"},
    {"copy", CDC_OPT_BOOL, "false", 0, 0, 0,
     "copy the tables' existing rows, then exit (no slot is created)"},
    {"copy-and-stream", CDC_OPT_BOOL, "false", 0, 0, 0,
     "copy the tables' existing rows, then stream from where the copy's "
     "snapshot ends"},
    {"max-copy-workers-per-table", CDC_OPT_INT, "4", 1, 64, 0,
     "parallel readers per table during a copy"},
    {"cleanup", CDC_OPT_BOOL, "false", 0, 0, 0,
     "remove everything the group keeps (slot, publication, event triggers, "
     "streams, state bucket), then exit; a dry run without --yes"},
    {"yes", CDC_OPT_BOOL, "false", 0, 0, 0,
     "with --cleanup: really remove (else only list what would go)"},
    {"track-ddl", CDC_OPT_BOOL, "false", 0, 0, 0,
     "capture schema changes of the group's tables (installs event "
     "triggers; needs a superuser)"},
    {"max-events", CDC_OPT_INT, "0", 0, INT64_MAX, 0,
     "stop after this many events are stored in JetStream (0: never)"},
    {"max-inflight", CDC_OPT_INT, "4096", 1, 1048576, 0,
     "events published but not yet acknowledged by JetStream, at most"},
    {"ack-timeout", CDC_OPT_DURATION, "30s", 1000, 3600000, 0,
     "how long to wait for JetStream to acknowledge an event"},
    {"compress", CDC_OPT_STRING, "none", 0, 0, 0,
     "compress messages of 1 KiB or more: none, or zstd (fewer bytes "
     "stored and sent; readers need the Tributary-Encoding header)"},
    {"compress-level", CDC_OPT_INT, "1", -7, 19, 0,
     "zstd level with --compress zstd: -7 (fastest) to 19 (smallest)"},
    {"stream-max-age", CDC_OPT_DURATION, CDC_STREAM_MAX_AGE_DEFAULT, 0, 0, 0,
     "how long the group's stream keeps events (0: forever)"},
    {"stream-max-bytes", CDC_OPT_SIZE, "0", 0, 0, 0,
     "size limit of the group's stream; when full the replicator waits "
     "(0: none)"},
    {"dedup-window", CDC_OPT_DURATION, CDC_DEDUP_WINDOW_DEFAULT, 1000, 86400000,
     0, "JetStream duplicate window for re-sent events"},
    {"retry-initial-wait", CDC_OPT_DURATION, "500ms", 1, 3600000, 0,
     "first wait before reconnecting after a failure"},
    {"retry-max-wait", CDC_OPT_DURATION, "30s", 1, 3600000, 0,
     "longest wait between reconnection attempts"},
    {"retry-max-attempts", CDC_OPT_INT, "0", 0, 1000000, 0,
     "give up (exit 1) after this many failed attempts in a row (0: never)"},
    {"status-interval", CDC_OPT_DURATION, "1s", 100, 60000, 0,
     "how often the confirmed position is reported to the source"},
    {"heartbeat-interval", CDC_OPT_DURATION, "0", 0, 86400000, 0,
     "write a heartbeat into the source's WAL this often, so a quiet "
     "group's position advances (0: never)"},
    {"resync", CDC_OPT_BOOL, "false", 0, 0, 0,
     "start over: drop the group's replication slot and saved position, "
     "then copy the tables afresh and stream (after a lost slot)"},
    {"metrics-addr", CDC_OPT_STRING, NULL, 0, 0, 0,
     "serve /metrics and /health on [host:]port (host 127.0.0.1 unless "
     "given; off unless set)"},
    {"health-threshold", CDC_OPT_DURATION, "30s", 1000, 86400000, 0,
     "/health reports failure once a connection has been failing this long"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

const struct cdc_opt cdc_worker_options[] = {
    {"group", CDC_OPT_STRING, NULL, 0, 0, CDC_OPT_REQUIRED,
     "name of the capture group to read"},
    {"consumer", CDC_OPT_STRING, NULL, 0, 0, 0,
     "durable consumer name (default: <sink>_<group>)"},
    {"batch-size", CDC_OPT_INT, "1000", 1, 1000000, 0,
     "events per batch, at most (a larger source transaction is split)"},
    {"batch-wait", CDC_OPT_DURATION, "200ms", 1, 600000, 0,
     "how long a batch may wait to fill up"},
    {"ack-wait", CDC_OPT_DURATION, "60s", 1000, 3600000, 0,
     "JetStream redelivers an event not acknowledged within this time"},
    {"lease-ttl", CDC_OPT_DURATION, "10s", 1000, 3600000, 0,
     "a second worker on the same consumer stands by, and takes over this "
     "long after the active one stops renewing its lease"},
    {"rules-config", CDC_OPT_STRING, NULL, 0, 0, 0,
     "transform and filter rules file (YAML; pg_flo's format and more)"},
    {"routing-config", CDC_OPT_STRING, NULL, 0, 0, 0,
     "routing file: table and column renames, operation selection (YAML)"},
    {"max-events", CDC_OPT_INT, "0", 0, INT64_MAX, 0,
     "stop after this many events were written or filtered (0: never)"},
    {"idle-exit", CDC_OPT_DURATION, "0", 0, 0, 0,
     "exit 0 after no event arrived for this long (0: never)"},
    {"list-dead-letters", CDC_OPT_BOOL, "false", 0, 0, 0,
     "print the group's dead letters of this sink (one JSON line per change, "
     "with its reason), then exit"},
    {"replay-dead-letters", CDC_OPT_BOOL, "false", 0, 0, 0,
     "apply the group's dead letters of this sink again, in order, removing "
     "each once committed; stops at the first that fails again"},
    {"reject-attempts", CDC_OPT_INT, "3", 1, 100, 0,
     "times a change the sink rejects is tried before it goes to the dead "
     "letters"},
    {"retry-initial-wait", CDC_OPT_DURATION, "500ms", 1, 3600000, 0,
     "first wait before retrying a failed write or connection"},
    {"retry-max-wait", CDC_OPT_DURATION, "30s", 1, 3600000, 0,
     "longest wait between retries"},
    {"metrics-addr", CDC_OPT_STRING, NULL, 0, 0, 0,
     "serve /metrics and /health on [host:]port (host 127.0.0.1 unless "
     "given; off unless set)"},
    {"health-threshold", CDC_OPT_DURATION, "30s", 1000, 86400000, 0,
     "/health reports failure once a connection has been failing this long"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

const struct cdc_opt cdc_source_known_options[] = {
    {"host", CDC_OPT_STRING, NULL, 0, 0, 0, "source"},
    {"port", CDC_OPT_INT, NULL, 1, 65535, 0, "source"},
    {"dbname", CDC_OPT_STRING, NULL, 0, 0, 0, "source"},
    {"user", CDC_OPT_STRING, NULL, 0, 0, 0, "source"},
    {"password", CDC_OPT_STRING, NULL, 0, 0, CDC_OPT_SECRET, "source"},
    {"schema", CDC_OPT_STRING, NULL, 0, 0, 0, "source"},
    {"tables", CDC_OPT_LIST, NULL, 0, 0, 0, "source"},
    {"server-id", CDC_OPT_INT, NULL, 0, 4294967295LL, 0, "mysql source"},
    {"gtid", CDC_OPT_BOOL, NULL, 0, 0, 0, "mysql source"},
    {"stream-in-progress", CDC_OPT_BOOL, NULL, 0, 0, 0, "postgres source"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

const struct cdc_opt cdc_sink_known_options[] = {
    {"file-output-dir", CDC_OPT_STRING, NULL, 0, 0, 0, "file sink"},
    {"file-max-bytes", CDC_OPT_SIZE, NULL, 0, 0, 0, "file sink"},
    {"file-max-age", CDC_OPT_DURATION, NULL, 0, 0, 0, "file sink"},
    {"file-fsync", CDC_OPT_BOOL, NULL, 0, 0, 0, "file sink"},
    {"target-host", CDC_OPT_STRING, NULL, 0, 0, 0, "postgres sink"},
    {"target-port", CDC_OPT_INT, NULL, 0, 0, 0, "postgres sink"},
    {"target-dbname", CDC_OPT_STRING, NULL, 0, 0, 0, "postgres sink"},
    {"target-user", CDC_OPT_STRING, NULL, 0, 0, 0, "postgres sink"},
    {"target-password", CDC_OPT_STRING, NULL, 0, 0, CDC_OPT_SECRET,
     "postgres sink"},
    {"target-sync-schema", CDC_OPT_BOOL, NULL, 0, 0, 0, "postgres sink"},
    {"target-disable-foreign-keys", CDC_OPT_BOOL, NULL, 0, 0, 0,
     "postgres sink"},
    {"source-host", CDC_OPT_STRING, NULL, 0, 0, 0, "postgres sink"},
    {"source-port", CDC_OPT_INT, NULL, 0, 0, 0, "postgres sink"},
    {"source-dbname", CDC_OPT_STRING, NULL, 0, 0, 0, "postgres sink"},
    {"source-user", CDC_OPT_STRING, NULL, 0, 0, 0, "postgres sink"},
    {"source-password", CDC_OPT_STRING, NULL, 0, 0, CDC_OPT_SECRET,
     "postgres sink"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

const struct cdc_opt cdc_future_options[] = {
    {"webhook-url", CDC_OPT_STRING, NULL, 0, 0, 0, "webhook sink"},
    {NULL, 0, NULL, 0, 0, 0, NULL},
};

void cdc_js_opts_from_conf(const struct cdc_conf *cfg, const char *name,
                           struct cdc_js_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->url = cdc_conf_get_str(cfg, "nats-url");
    o->name = name;
    o->user = cdc_conf_get_str(cfg, "nats-user");
    o->password = cdc_conf_get_str(cfg, "nats-password");
    o->token = cdc_conf_get_str(cfg, "nats-token");
    o->creds_file = cdc_conf_get_str(cfg, "nats-creds");
    o->nkey_seed_file = cdc_conf_get_str(cfg, "nats-nkey");
    o->tls_ca = cdc_conf_get_str(cfg, "nats-tls-ca");
    o->tls_cert = cdc_conf_get_str(cfg, "nats-tls-cert");
    o->tls_key = cdc_conf_get_str(cfg, "nats-tls-key");
    o->timeout_ms = cdc_conf_get_int(cfg, "nats-timeout");
}
