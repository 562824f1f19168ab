/*
 * conf.c: the configuration of the replicator's commands (see conf.h).
 * Both commands read one set of options the same way, so a config file
 * that works for the replicator works for `replicator status` too. It
 * checks nothing a command decides for itself: the group and the modes
 * are the caller's.
 */
#include "replicator/conf.h"

#include <stdio.h>
#include <string.h>

#ifndef TRIBUTARY_VERSION
#define TRIBUTARY_VERSION "0.1.0"
#endif

struct cdc_conf *replicator_conf_new(const char *command)
{
    struct cdc_conf *cfg = cdc_conf_new(command);
    cdc_conf_add_options(cfg, cdc_replicator_options);
    cdc_conf_add_options(cfg, cdc_nats_options);
    for (size_t i = 0; source_all[i] != NULL; i++)
        cdc_conf_add_options(cfg, source_all[i]->options);
    /* one config file serves every program */
    cdc_conf_add_known(cfg, cdc_worker_options);
    cdc_conf_add_known(cfg, cdc_sink_known_options);
    cdc_conf_add_known(cfg, cdc_future_options);
    return cfg;
}

int replicator_conf_load(struct cdc_conf *cfg, int argc, char **argv,
                         const char *usage, bool *done, struct cdc_err *err)
{
    *done = false;
    int rc = cdc_conf_load(cfg, argc, argv, err);
    if (rc != CDC_OK)
        return rc;
    if (cdc_conf_get_bool(cfg, "help")) {
        cdc_conf_print_help(cfg, stdout, usage);
        *done = true;
    } else if (cdc_conf_get_bool(cfg, "version")) {
        printf("tributary replicator %s\n", TRIBUTARY_VERSION);
        *done = true;
    } else if (cdc_conf_get_bool(cfg, "print-config")) {
        cdc_conf_print(cfg, stdout);
        *done = true;
    }
    return CDC_OK;
}

static bool has_option(const struct cdc_opt *opts, const char *name)
{
    for (; opts->name != NULL; opts++)
        if (strcmp(opts->name, name) == 0)
            return true;
    return false;
}

/* A flag of another source only, given on the command line: a mistake
 * (the same option in a config file or the environment, which several
 * programs may share, is left alone). */
static int other_source_flag(const struct cdc_conf *cfg,
                             const struct source_ops *ops, struct cdc_err *err)
{
    for (size_t i = 0; source_all[i] != NULL; i++) {
        if (source_all[i] == ops)
            continue;
        for (const struct cdc_opt *o = source_all[i]->options; o->name != NULL;
             o++)
            if (!has_option(ops->options, o->name) &&
                cdc_conf_origin(cfg, o->name) == CDC_ORIGIN_FLAG)
                return cdc_err_set(err, CDC_ECONFIG, 0,
                                   "option \"--%s\" does not apply to the %s "
                                   "source (it is one of the %s source's)",
                                   o->name, ops->name, source_all[i]->name);
    }
    return CDC_OK;
}

int replicator_conf_source(const struct cdc_conf *cfg,
                           const struct source_ops **ops, struct cdc_err *err)
{
    const char *source = cdc_conf_get_str(cfg, "source");
    *ops = source_find(source);
    if (*ops != NULL) {
        int rc = other_source_flag(cfg, *ops, err);
        if (rc != CDC_OK)
            *ops = NULL;
        return rc;
    }
    struct cdc_buf known;
    cdc_buf_init(&known, 0);
    for (size_t i = 0; source_all[i] != NULL; i++) {
        if (i > 0)
            cdc_buf_append_str(&known, ", ");
        cdc_buf_append_str(&known, source_all[i]->name);
    }
    int rc =
        cdc_err_set(err, CDC_ECONFIG, 0, "unknown source \"%s\" (known: %s)",
                    source, known.data != NULL ? known.data : "");
    cdc_buf_release(&known);
    return rc;
}

void replicator_conf_start(const struct cdc_conf *cfg, const char *group,
                           bool *done)
{
    *done = cdc_conf_get_bool(cfg, "check-config");
    if (*done) {
        printf("configuration is valid\n");
        return;
    }
    cdc_log_setup(cdc_log_level_parse(cdc_conf_get_str(cfg, "log-level")),
                  strcmp(cdc_conf_get_str(cfg, "log-format"), "json") == 0,
                  "replicator", group);
}
