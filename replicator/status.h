/*
 * status.h: `replicator status --group G`, a report for people of one
 * group's state: what the source keeps for it, the position the
 * replicator saved, the group's stream, its consumers and dead letters.
 * Private to replicator/: main.c hands the command over to it.
 */
#ifndef REPLICATOR_STATUS_H
#define REPLICATOR_STATUS_H

/*
 * Runs the command. argv[0] is "status"; the rest are options, read with
 * the replicator's option tables and config file. Prints the table on
 * stdout only once everything was gathered, and returns the exit code: 0
 * printed, 1 the source or NATS could not be reached or answered with an
 * error (one line on stderr), 2 bad configuration. Never prints a secret.
 * Main thread only.
 */
int replicator_status_main(int argc, char **argv);

#endif
