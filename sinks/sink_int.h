/*
 * sink_int.h: functions shared by files of sinks/ and not exported from it.
 * Other folders never include this header. No client library types appear
 * here: each function hides its library inside its own file.
 */
#ifndef SINK_SINK_INT_H
#define SINK_SINK_INT_H

#include "common/common.h"

/* Builds SQL that creates on a target every table of the source's
 * publication and everything those tables need, each statement safe to run
 * again (a second run changes nothing). Connects to the source with the
 * libpq keyword/value arrays (NULL-terminated; expand_dbname on). Appends
 * the statements, separated by ";\n", to out. CDC_EIO with a retriable flag
 * (CDC_ERR_RETRIABLE) when the source cannot be reached, CDC_ECONFIG when
 * the publication does not exist.
 *
 * Every statement, the last included, ends with ";\n", so out can be run
 * as one script (PQexec or psql). Names are schema-qualified, so the result
 * does not depend on the target's search_path. Nothing is appended for a
 * publication without tables. kw, val and publication are borrowed for the
 * call; the connection is closed before returning. On failure out is left
 * as it was (CDC_ETOOBIG when it would pass its limit). Any thread may call
 * it. */
int sink__pg_schema_ddl(const char *const *kw, const char *const *val,
                        const char *publication, struct cdc_buf *out,
                        struct cdc_err *err);

#endif
