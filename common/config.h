/*
 * config.h: options declared in tables, loaded from defaults, a YAML file,
 * TRIBUTARY_* environment variables and command-line flags, in that order of
 * precedence (a later one wins). Included by common.h; include that instead.
 *
 * One name works everywhere: the flag "--nats-url", the YAML key "nats-url"
 * and the variable TRIBUTARY_NATS_URL. Every problem found is printed as one
 * line (file and line for the YAML file) and the load fails with
 * CDC_ECONFIG; nothing is half-loaded. Only config.c and yaml.c call
 * libyaml.
 */
#ifndef CDC_CONFIG_H
#define CDC_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct cdc_err;

enum cdc_opt_type {
    CDC_OPT_STRING = 1,
    CDC_OPT_INT,      /* integer within [min, max] */
    CDC_OPT_BOOL,     /* true/false, yes/no, on/off, 1/0 */
    CDC_OPT_DURATION, /* "500ms", "5s", "2m"; read back in milliseconds */
    CDC_OPT_SIZE,     /* "64MiB", "100MB", bytes; read back in bytes */
    CDC_OPT_LIST,     /* comma-separated string, or a YAML sequence */
};

enum cdc_opt_flags {
    /* Never printed. A "<name>-file" option is accepted alongside and
     * reads the value from the first line of that file. */
    CDC_OPT_SECRET = 1 << 0,
    CDC_OPT_REQUIRED = 1 << 1,
    /* Handled before loading (config, help): not a file key. */
    CDC_OPT_CLI_ONLY = 1 << 2,
};

struct cdc_opt {
    const char *name;       /* flag name without dashes; NULL ends a table */
    enum cdc_opt_type type;
    const char *def;        /* default as text, or NULL for none */
    int64_t min, max;       /* range for INT/DURATION/SIZE (0,0: any >= 0) */
    unsigned flags;
    const char *help;       /* one line */
};

enum cdc_conf_origin {
    CDC_ORIGIN_UNSET = 0,
    CDC_ORIGIN_DEFAULT,
    CDC_ORIGIN_FILE,
    CDC_ORIGIN_ENV,
    CDC_ORIGIN_FLAG,
};

struct cdc_conf;

/* Options every command has: config, help, version, log-level, log-format,
 * print-config, check-config. */
extern const struct cdc_opt cdc_common_options[];

/* Creates an empty configuration for a command ("replicator", "worker
 * file"); the name appears in messages. */
struct cdc_conf *cdc_conf_new(const char *command);
void cdc_conf_free(struct cdc_conf *cfg);

/* Adds options that apply to this command. The table must outlive cfg. */
void cdc_conf_add_options(struct cdc_conf *cfg, const struct cdc_opt *opts);
/* Adds options of other commands: accepted (and ignored) as keys in the
 * YAML file, so one file can serve the replicator and every worker; as a
 * flag they are an error. The table must outlive cfg. */
void cdc_conf_add_known(struct cdc_conf *cfg, const struct cdc_opt *opts);

/*
 * Loads everything: argv (argv[0] is not skipped: pass the arguments only),
 * then the file named by --config (or TRIBUTARY_CONFIG, or the default
 * $HOME/.tributary.yaml when it exists), then the environment, then
 * defaults, and validates types, ranges and required options. Every problem
 * is printed to stderr as one line "<command>: <problem>". Returns CDC_OK or
 * CDC_ECONFIG (err holds the first problem). With --help (or --version)
 * set, required options are not checked.
 */
int cdc_conf_load(struct cdc_conf *cfg, int argc, char **argv,
                  struct cdc_err *err);

/* Same, reading environment variables from envp instead of environ and the
 * default file from home (NULL: no default file). For tests. */
int cdc_conf_load_env(struct cdc_conf *cfg, int argc, char **argv,
                      char **envp, const char *home, struct cdc_err *err);

/* Typed getters. Asking for an option that was not added is a bug. */
const char *cdc_conf_get_str(const struct cdc_conf *cfg, const char *name);
int64_t cdc_conf_get_int(const struct cdc_conf *cfg, const char *name);
bool cdc_conf_get_bool(const struct cdc_conf *cfg, const char *name);
/* Items stay valid until cdc_conf_free. */
size_t cdc_conf_get_list(const struct cdc_conf *cfg, const char *name,
                         const char *const **items);
bool cdc_conf_is_set(const struct cdc_conf *cfg, const char *name);
enum cdc_conf_origin cdc_conf_origin(const struct cdc_conf *cfg,
                                     const char *name);
/* Path of the YAML file that was read, or NULL. */
const char *cdc_conf_file(const struct cdc_conf *cfg);

/* A duration or size in the largest unit that divides it, for messages:
 * 3600000 ms -> "1h", 67108864 bytes -> "64MiB"; other types as numbers. */
void cdc_conf_format_amount(enum cdc_opt_type type, int64_t v, char *out,
                            size_t outsz);
/* Prints usage then every option with its default and help. */
void cdc_conf_print_help(const struct cdc_conf *cfg, FILE *out,
                         const char *usage);
/* Prints the merged configuration, secrets redacted, with each value's
 * origin. */
void cdc_conf_print(const struct cdc_conf *cfg, FILE *out);

#endif
