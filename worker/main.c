/*
 * main.c: the worker command line: `worker <sink> --group G [options]`.
 * It loads the configuration (the sink's options included), connects to
 * NATS, opens the sink and runs the consume loop (consume.c).
 */
#include "common/common.h"
#include "sinks/sink.h"
#include "worker/worker.h"

#include <stdio.h>
#include <string.h>

#ifndef TRIBUTARY_VERSION
#define TRIBUTARY_VERSION "0.1.0"
#endif

static void sink_list(FILE *out)
{
    for (size_t i = 0; sink_all[i] != NULL; i++)
        fprintf(out, "%s %s", i > 0 ? "," : "", sink_all[i]->name);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: worker SINK --group NAME [--nats-url URL] [options]\n"
                 "Reads the group's events from JetStream and writes them to "
                 "a sink.\nSinks:");
    sink_list(out);
    fprintf(out, "\nRun `worker SINK --help` for the options of a sink.\n");
}

/* Prints each line of problems as "<command>: <line>". */
static void print_problems(const char *command, const struct cdc_buf *problems)
{
    const char *p = problems->data;
    const char *end = p + problems->len;
    while (p != NULL && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        fprintf(stderr, "%s: %.*s\n", command, (int)n, p);
        p += n + 1;
    }
}

/* Loads the rules and routing files named by the configuration, checking
 * both whole before anything connects; every problem is printed. */
static int load_pipeline(const struct cdc_conf *cfg, const char *command,
                         struct worker_pipeline *pipe)
{
    struct cdc_buf problems;
    struct cdc_err err;
    int rc = CDC_OK;
    cdc_buf_init(&problems, 0);
    cdc_err_clear(&err);
    const char *rules_path = cdc_conf_get_str(cfg, "rules-config");
    const char *routing_path = cdc_conf_get_str(cfg, "routing-config");
    if (rules_path != NULL &&
        rules_load(rules_path, &pipe->rules, &problems, &err) != CDC_OK)
        rc = CDC_ECONFIG;
    if (routing_path != NULL &&
        route_load(routing_path, &pipe->routes, &problems, &err) != CDC_OK)
        rc = CDC_ECONFIG;
    if (rc != CDC_OK && problems.len == 0)
        fprintf(stderr, "%s: %s\n", command, err.msg);
    print_problems(command, &problems);
    cdc_buf_release(&problems);
    return rc;
}

int main(int argc, char **argv)
{
    struct cdc_err err;
    struct worker_pipeline pipe = {0};
    int code = WORKER_EXIT_OK;
    cdc_err_clear(&err);
    cdc_signals_install();

    if (argc < 2 || argv[1][0] == '-') {
        bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
                                  strcmp(argv[1], "-h") == 0);
        bool version = argc >= 2 && strcmp(argv[1], "--version") == 0;
        if (version) {
            printf("tributary worker %s\n", TRIBUTARY_VERSION);
            return WORKER_EXIT_OK;
        }
        if (help) {
            usage(stdout);
            return WORKER_EXIT_OK;
        }
        fprintf(stderr, "worker: missing sink name (one of:");
        sink_list(stderr);
        fprintf(stderr, "; see worker --help)\n");
        return WORKER_EXIT_CONFIG;
    }
    const struct sink_ops *ops = sink_find(argv[1]);
    if (ops == NULL) {
        fprintf(stderr, "worker: unknown sink \"%s\" (one of:", argv[1]);
        sink_list(stderr);
        fprintf(stderr, ")\n");
        return WORKER_EXIT_CONFIG;
    }

    char command[64];
    snprintf(command, sizeof(command), "worker %s", ops->name);
    struct cdc_conf *cfg = cdc_conf_new(command);
    cdc_conf_add_options(cfg, cdc_worker_options);
    cdc_conf_add_options(cfg, cdc_nats_options);
    cdc_conf_add_options(cfg, ops->options);
    cdc_conf_add_known(cfg, cdc_replicator_options);
    cdc_conf_add_known(cfg, cdc_source_known_options);
    cdc_conf_add_known(cfg, cdc_sink_known_options);
    cdc_conf_add_known(cfg, cdc_future_options);
    if (cdc_conf_load(cfg, argc - 2, argv + 2, &err) != CDC_OK) {
        code = WORKER_EXIT_CONFIG;
        goto out;
    }
    if (cdc_conf_get_bool(cfg, "help")) {
        char u[128];
        snprintf(u, sizeof(u), "usage: worker %s --group NAME [options]\n",
                 ops->name);
        cdc_conf_print_help(cfg, stdout, u);
        goto out;
    }
    if (cdc_conf_get_bool(cfg, "version")) {
        printf("tributary worker %s\n", TRIBUTARY_VERSION);
        goto out;
    }
    if (cdc_conf_get_bool(cfg, "print-config")) {
        cdc_conf_print(cfg, stdout);
        goto out;
    }
    const char *group = cdc_conf_get_str(cfg, "group");
    if (cdc_group_validate(group, &err) != CDC_OK) {
        fprintf(stderr, "%s: %s\n", command, err.msg);
        code = WORKER_EXIT_CONFIG;
        goto out;
    }
    if (load_pipeline(cfg, command, &pipe) != CDC_OK) {
        code = WORKER_EXIT_CONFIG;
        goto out;
    }
    const char *maddr = cdc_conf_get_str(cfg, "metrics-addr");
    char host[256];
    int port = 0;
    if (maddr != NULL && cdc_metrics_parse_addr(maddr, host, sizeof(host),
                                                &port, &err) != CDC_OK) {
        fprintf(stderr, "%s: %s\n", command, err.msg);
        code = WORKER_EXIT_CONFIG;
        goto out;
    }
    if (cdc_conf_get_bool(cfg, "check-config")) {
        printf("configuration is valid\n");
        goto out;
    }
    bool list = cdc_conf_get_bool(cfg, "list-dead-letters");
    bool replay = cdc_conf_get_bool(cfg, "replay-dead-letters");
    if (list && replay) {
        fprintf(stderr,
                "%s: --list-dead-letters and --replay-dead-letters are "
                "separate runs: choose one\n",
                command);
        code = WORKER_EXIT_CONFIG;
        goto out;
    }
    cdc_log_setup(cdc_log_level_parse(cdc_conf_get_str(cfg, "log-level")),
                  strcmp(cdc_conf_get_str(cfg, "log-format"), "json") == 0,
                  command, group);
    if (list || replay) {
        code = worker_dead_letters(cfg, ops, group, &pipe, replay);
        goto out;
    }
    const char *labels[] = {"group", group, "sink", ops->name, NULL};
    cdc_metrics_set_labels(labels);
    if (maddr != NULL &&
        cdc_metrics_serve(maddr, cdc_conf_get_int(cfg, "health-threshold"),
                          &err) != CDC_OK) {
        cdc_log(CDC_LOG_ERROR, "worker", "%s", err.msg);
        code = WORKER_EXIT_RUNTIME;
        goto out;
    }
    code = worker_run(cfg, ops, group, &pipe);
out:
    cdc_metrics_reset();
    rules_free(pipe.rules);
    route_free(pipe.routes);
    cdc_conf_free(cfg);
    return code;
}
