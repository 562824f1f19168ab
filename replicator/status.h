/*
 * status.h: `replicator status --group G`, a report for people of one
 * group's state: what the source keeps for it, the position the
 * replicator saved, the group's stream, its consumers and dead letters.
 * Private to replicator/: main.c hands the command over to it, and a
 * source's part of the report writes its rows with it.
 */
#ifndef REPLICATOR_STATUS_H
#define REPLICATOR_STATUS_H

#include "common/common.h"

/*
 * Runs the command. argv[0] is "status"; the rest are options, read with
 * the replicator's option tables and config file. Prints the table on
 * stdout only once everything was gathered, and returns the exit code: 0
 * printed, 1 the source or NATS could not be reached or answered with an
 * error (one line on stderr), 2 bad configuration. Never prints a secret.
 * Main thread only.
 */
int replicator_status_main(int argc, char **argv);

/*
 * The report's rows, for the sources' parts of it (source_ops.status): a
 * title line, a "label\tvalue" row, and one cell of a row of more
 * columns. A tab or a line break in the text would end its cell or line
 * early, so each becomes a space.
 */
void replicator_status_title(struct cdc_buf *out, const char *s);
void replicator_status_row(struct cdc_buf *out, const char *label,
                           const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void replicator_status_cell(struct cdc_buf *out, const char *s);

#endif
