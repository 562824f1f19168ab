/*
 * conf.h: the configuration of the replicator's commands, the replicator
 * itself and `replicator status`: the options they take, the answers to
 * --help, --version, --print-config and --check-config, the source the
 * configuration names, and the log. Private to replicator/: main.c and
 * status.c use it.
 */
#ifndef REPLICATOR_CONF_H
#define REPLICATOR_CONF_H

#include "common/common.h"
#include "replicator/source.h"

#include <stdbool.h>

/*
 * Creates the configuration of command (the name in messages and in
 * --help, such as "replicator status") with the options of the
 * replicator, NATS and every source. The options of the worker and the
 * sinks are known too: one config file serves every program, so they are
 * accepted in the file and refused as flags. The caller frees it with
 * cdc_conf_free. Main thread only.
 */
struct cdc_conf *replicator_conf_new(const char *command);

/*
 * Loads cfg from argv (argc arguments, the options only), the config
 * file and the environment (see cdc_conf_load), then answers --help
 * (usage, then the options), --version and --print-config on stdout, the
 * first of them that is set, and sets *done when it answered one: the
 * command has nothing more to do. Returns CDC_OK, or CDC_ECONFIG with the
 * problems printed on stderr already. Main thread only.
 */
int replicator_conf_load(struct cdc_conf *cfg, int argc, char **argv,
                         const char *usage, bool *done, struct cdc_err *err);

/*
 * Sets *ops to the source that cfg's "source" names. Returns CDC_OK, or
 * CDC_ECONFIG with *ops NULL: no such source (err names the sources there
 * are), or a flag on the command line that only another source has.
 */
int replicator_conf_source(const struct cdc_conf *cfg,
                           const struct source_ops **ops, struct cdc_err *err);

/*
 * The step after the command's own checks of cfg passed: answers
 * --check-config on stdout and sets *done, or else sets up the log as cfg
 * says (log-level, log-format), its lines naming group, which cfg keeps.
 * Main thread only.
 */
void replicator_conf_start(const struct cdc_conf *cfg, const char *group,
                           bool *done);

#endif
