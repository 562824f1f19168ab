/*
 * config.c: option tables and the loader behind config.h. Every option keeps
 * one value per level (default, file, environment, flag) and the highest
 * level that was given wins. Every value at every level is parsed and
 * checked, so a bad line in a shared file is reported even when a flag
 * overrides it. Problems are printed as they are found and loading goes on,
 * so one run shows all of them; a failed load keeps no values. This is the
 * only file that calls libyaml, and it knows nothing about what an option
 * means beyond its type, its range and the choices of the common options.
 */
#include "common/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

extern char **environ;

/* A config file is a page or two of keys. 1 MiB leaves ample room and stops
 * a mistyped path (a log, a dump) from being read into memory. */
#define CONFIG_FILE_MAX ((size_t)1 << 20)
/* A secret is one line: a password, a token or a key. A longer first line
 * means the option names the wrong file. */
#define SECRET_FILE_MAX ((size_t)64 << 10)
/* Option names are short; this bound keeps every derived name (flag,
 * variable, "-file" form) within the fixed buffers below. */
#define OPT_NAME_MAX 100
#define NAME_BUF (OPT_NAME_MAX + 32)
/* How much of a value, a key or a path a message echoes: enough to
 * recognise it, not so much that one line fills the terminal. */
#define ECHO_MAX 64
#define PATH_ECHO_MAX 200
/* Escaping turns one byte into at most four ("\x1b"), plus "..." and NUL. */
#define ESC_SIZE(max) (4 * (max) + 4)
#define WHERE_MAX 1200
#define WHY_MAX 1200
#define PROBLEM_MAX 3000

#define ENV_PREFIX "TRIBUTARY_"
#define DEFAULT_FILE ".tributary.yaml"
#define FILE_SUFFIX "-file"

/* Levels are indexed by enum cdc_conf_origin; [CDC_ORIGIN_UNSET] is unused. */
#define NLEVELS (CDC_ORIGIN_FLAG + 1)

/* One level's value of one option. */
struct val {
    bool given;
    bool file_form; /* read from the file named by "<name>-file" */
    char *text;     /* as given; a YAML list is joined with "," */
    int64_t num;    /* INT; DURATION in ms; SIZE in bytes */
    bool b;         /* BOOL */
    char **items;   /* LIST */
    size_t nitems;
};

struct slot {
    const struct cdc_opt *opt;
    struct val lv[NLEVELS];
};

struct cdc_conf {
    char *command;
    struct slot *slots; /* options of this command, in the order added */
    size_t nslots;
    size_t capslots;
    const struct cdc_opt **known; /* options of other commands */
    size_t nknown;
    size_t capknown;
    char *file; /* the YAML file read, or NULL */
};

/* State of one cdc_conf_load_env() call. */
struct load {
    struct cdc_conf *cfg;
    struct cdc_err *err;
    size_t nproblems;
};

enum name_kind {
    NAME_UNKNOWN = 0,
    NAME_OWN,      /* an option of this command */
    NAME_OWN_FILE, /* "<name>-file" of a secret of this command */
    NAME_KNOWN,    /* an option of another command, or its "-file" form */
};

static const char *const log_levels[] = {"error", "warn",  "info",
                                         "debug", "trace", NULL};
static const char *const log_formats[] = {"text", "json", NULL};

const struct cdc_opt cdc_common_options[] = {
    {.name = "config",
     .type = CDC_OPT_STRING,
     .flags = CDC_OPT_CLI_ONLY,
     .help = "read options from this YAML file"},
    {.name = "help",
     .type = CDC_OPT_BOOL,
     .flags = CDC_OPT_CLI_ONLY,
     .help = "print this help and exit"},
    {.name = "version",
     .type = CDC_OPT_BOOL,
     .flags = CDC_OPT_CLI_ONLY,
     .help = "print the version and exit"},
    {.name = "log-level",
     .type = CDC_OPT_STRING,
     .def = "info",
     .help = "least severe messages logged: error, warn, info, debug or "
             "trace"},
    {.name = "log-format",
     .type = CDC_OPT_STRING,
     .def = "text",
     .help = "log line format: text or json"},
    {.name = "print-config",
     .type = CDC_OPT_BOOL,
     .flags = CDC_OPT_CLI_ONLY,
     .help = "print the merged configuration and where each value came "
             "from, then exit"},
    {.name = "check-config",
     .type = CDC_OPT_BOOL,
     .flags = CDC_OPT_CLI_ONLY,
     .help = "check the configuration, then exit"},
    {.name = NULL},
};

static void problem(struct load *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ==== Small helpers ==== */

/*
 * Copies at most max bytes of s into out (ESC_SIZE(max) bytes) for a
 * message: control characters, quotes and backslashes are escaped, so the
 * message stays one line, and a cut is marked with "...". A cut never
 * splits a UTF-8 sequence.
 */
static const char *esc(char *out, size_t outsz, const char *s, size_t max)
{
    size_t len = strlen(s);
    size_t cut = len;
    size_t o = 0;

    if (len > max) {
        cut = max;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    for (size_t i = 0; i < cut && o + 5 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\n' || c == '\t' || c == '\r' || c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = c == '\n'   ? 'n'
                       : c == '\t' ? 't'
                       : c == '\r' ? 'r'
                                   : (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(out + o, outsz - o, "\\x%02x", c);
            o += 4;
        } else {
            out[o++] = (char)c;
        }
    }
    if (cut < len && o + 4 <= outsz) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* Writes s to out with control characters escaped, so one value stays on
 * one line. */
static void put_escaped(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c == '\r')
            fputs("\\r", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s);
    size_t m = strlen(suffix);

    return n > m && memcmp(s + n - m, suffix, m) == 0;
}

/* "nats-url" -> "TRIBUTARY_NATS_URL", plus "_FILE" for the file form. */
static void env_name(const char *name, bool file_form, char *out, size_t outsz)
{
    size_t o = strlen(ENV_PREFIX);

    memcpy(out, ENV_PREFIX, o);
    for (; *name != '\0' && o + 1 < outsz; name++) {
        char c = *name;

        if (c == '-')
            c = '_';
        else if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        out[o++] = c;
    }
    out[o] = '\0';
    if (file_form)
        snprintf(out + o, outsz - o, "_FILE");
}

/* Value of variable name in envp ("K=V" strings, NULL-terminated), or NULL. */
static const char *env_get(char **envp, const char *name)
{
    size_t n = strlen(name);

    if (envp == NULL)
        return NULL;
    for (size_t i = 0; envp[i] != NULL; i++) {
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            return envp[i] + n + 1;
    }
    return NULL;
}

static bool in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        if (strcmp(list[i], s) == 0)
            return true;
    }
    return false;
}

/* True when opt is the entry called name of cdc_common_options (not an
 * option of the same name in another table). */
static bool is_common(const struct cdc_opt *opt, const char *name)
{
    for (const struct cdc_opt *c = cdc_common_options; c->name != NULL; c++) {
        if (c == opt)
            return strcmp(c->name, name) == 0;
    }
    return false;
}

/* The fixed set of values allowed for opt, or NULL when any is. Only common
 * options have such a set; struct cdc_opt has no field for it. */
static const char *const *opt_choices(const struct cdc_opt *opt)
{
    if (is_common(opt, "log-level"))
        return log_levels;
    if (is_common(opt, "log-format"))
        return log_formats;
    return NULL;
}

void cdc_conf_format_amount(enum cdc_opt_type type, int64_t v, char *out,
                            size_t outsz)
{
    static const struct {
        int64_t div;
        const char *unit;
    } dur[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}},
      size[] = {{(int64_t)1 << 30, "GiB"},
                {(int64_t)1 << 20, "MiB"},
                {(int64_t)1 << 10, "KiB"}};

    if (v != 0 && type == CDC_OPT_DURATION) {
        for (size_t i = 0; i < sizeof dur / sizeof dur[0]; i++) {
            if (v % dur[i].div == 0) {
                snprintf(out, outsz, "%lld%s", (long long)(v / dur[i].div),
                         dur[i].unit);
                return;
            }
        }
        snprintf(out, outsz, "%lldms", (long long)v);
        return;
    }
    if (v != 0 && type == CDC_OPT_SIZE) {
        for (size_t i = 0; i < sizeof size / sizeof size[0]; i++) {
            if (v % size[i].div == 0) {
                snprintf(out, outsz, "%lld%s", (long long)(v / size[i].div),
                         size[i].unit);
                return;
            }
        }
    }
    snprintf(out, outsz, "%lld", (long long)v);
}

/* ==== Values ==== */

static void val_release(struct val *v)
{
    cdc_free(v->text);
    for (size_t i = 0; i < v->nitems; i++)
        cdc_free(v->items[i]);
    cdc_free(v->items);
    memset(v, 0, sizeof *v);
}

static const struct val *slot_value(const struct slot *s)
{
    for (int lvl = CDC_ORIGIN_FLAG; lvl > CDC_ORIGIN_UNSET; lvl--) {
        if (s->lv[lvl].given)
            return &s->lv[lvl];
    }
    return NULL;
}

static void slots_reset(struct cdc_conf *cfg)
{
    for (size_t i = 0; i < cfg->nslots; i++) {
        for (int lvl = 0; lvl < NLEVELS; lvl++)
            val_release(&cfg->slots[i].lv[lvl]);
    }
    cdc_free(cfg->file);
    cfg->file = NULL;
}

/* Splits a comma-separated list; items are trimmed and empty ones dropped. */
static void list_split(const char *text, struct val *v)
{
    size_t n = 1;

    for (const char *p = text; *p != '\0'; p++) {
        if (*p == ',')
            n++;
    }
    v->items = cdc_xcalloc(n + 1, sizeof *v->items);
    v->nitems = 0;
    for (const char *p = text;;) {
        const char *end = strchr(p, ',');
        const char *stop = end != NULL ? end : p + strlen(p);
        const char *b = p;
        const char *e = stop;

        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > b)
            v->items[v->nitems++] = cdc_xstrndup(b, (size_t)(e - b));
        if (end == NULL)
            break;
        p = end + 1;
    }
}

/* Describes a range violation of v for opt into why. */
static void range_why(const struct cdc_opt *opt, const char *shown, char *why,
                      size_t whysz)
{
    char lo[32];
    char hi[32];

    cdc_conf_format_amount(opt->type, opt->min, lo, sizeof lo);
    cdc_conf_format_amount(opt->type, opt->max, hi, sizeof hi);
    if (opt->min == 0 && opt->max == 0)
        snprintf(why, whysz, "%s is out of range (must be at least 0)", shown);
    else if (opt->max == INT64_MAX)
        snprintf(why, whysz, "%s is out of range (must be at least %s)", shown,
                 lo);
    else
        snprintf(why, whysz, "%s is out of range (%s..%s)", shown, lo, hi);
}

/*
 * Parses text as a value of opt into v (text is copied). On failure writes
 * the reason to why and returns CDC_ECONFIG; the reason quotes the value
 * unless opt is a secret.
 */
static int val_parse(const struct cdc_opt *opt, const char *text, struct val *v,
                     char *why, size_t whysz)
{
    char e[ESC_SIZE(ECHO_MAX)];
    char shown[ESC_SIZE(ECHO_MAX) + 8];
    const char *const *choices = opt_choices(opt);
    int64_t lo = opt->min;
    int64_t hi = opt->max;
    int64_t n = 0;

    if (opt->flags & CDC_OPT_SECRET)
        snprintf(shown, sizeof shown, "the value");
    else
        snprintf(shown, sizeof shown, "\"%s\"",
                 esc(e, sizeof e, text, ECHO_MAX));
    if (lo == 0 && hi == 0)
        hi = INT64_MAX;

    memset(v, 0, sizeof *v);
    switch (opt->type) {
    case CDC_OPT_STRING:
        if (choices != NULL && !in_list(choices, text)) {
            char list[256] = "";
            size_t o = 0;

            for (size_t i = 0; choices[i] != NULL && o < sizeof list; i++) {
                int w = snprintf(list + o, sizeof list - o, "%s%s",
                                 i > 0 ? ", " : "", choices[i]);
                o += w > 0 ? (size_t)w : 0;
            }
            snprintf(why, whysz, "%s is not one of %s", shown, list);
            return CDC_ECONFIG;
        }
        break;
    case CDC_OPT_INT:
        if (cdc_parse_int(text, INT64_MIN, INT64_MAX, &n) != 0) {
            snprintf(why, whysz, "%s is not an integer", shown);
            return CDC_ECONFIG;
        }
        break;
    case CDC_OPT_BOOL:
        if (cdc_parse_bool(text, &v->b) != 0) {
            snprintf(why, whysz, "%s is not a boolean (true or false)", shown);
            return CDC_ECONFIG;
        }
        break;
    case CDC_OPT_DURATION:
        if (cdc_parse_duration_ms(text, &n) != 0) {
            snprintf(why, whysz,
                     "%s is not a duration (like \"250ms\", \"5s\", \"2m\", "
                     "\"1h\")",
                     shown);
            return CDC_ECONFIG;
        }
        break;
    case CDC_OPT_SIZE:
        if (cdc_parse_size(text, &n) != 0) {
            snprintf(why, whysz,
                     "%s is not a size (like \"64MiB\", \"10MB\", \"1024\")",
                     shown);
            return CDC_ECONFIG;
        }
        break;
    case CDC_OPT_LIST:
        list_split(text, v);
        break;
    }
    if ((opt->type == CDC_OPT_INT || opt->type == CDC_OPT_DURATION ||
         opt->type == CDC_OPT_SIZE) &&
        (n < lo || n > hi)) {
        val_release(v);
        range_why(opt, shown, why, whysz);
        return CDC_ECONFIG;
    }
    v->num = n;
    v->text = cdc_xstrdup(text);
    return CDC_OK;
}

/* Builds a LIST value from YAML sequence items; takes the items array. */
static void val_from_items(char **items, size_t nitems, struct val *v)
{
    size_t len = 1;
    size_t o = 0;

    memset(v, 0, sizeof *v);
    for (size_t i = 0; i < nitems; i++)
        len += strlen(items[i]) + 1;
    v->text = cdc_xmalloc(len);
    for (size_t i = 0; i < nitems; i++) {
        size_t n = strlen(items[i]);

        if (i > 0)
            v->text[o++] = ',';
        memcpy(v->text + o, items[i], n);
        o += n;
    }
    v->text[o] = '\0';
    v->items = items;
    v->nitems = nitems;
}

/*
 * Stores nv as s's value at level lvl and takes its contents. At one level
 * the option's own value beats its "-file" form whatever the order; among
 * values of the same form the last one wins, so a repeated flag (a LIST
 * flag too) replaces the earlier one instead of adding to it.
 */
static void val_store(struct slot *s, enum cdc_conf_origin lvl, struct val *nv)
{
    struct val *cur = &s->lv[lvl];

    if (cur->given && !cur->file_form && nv->file_form) {
        val_release(nv);
        return;
    }
    val_release(cur);
    *cur = *nv;
    cur->given = true;
    memset(nv, 0, sizeof *nv);
}

/* Reads the first line of path, without its line end, into *out (free with
 * cdc_free). On failure writes the reason to why. */
static int secret_read(const char *path, char **out, char *why, size_t whysz)
{
    char e[ESC_SIZE(PATH_ECHO_MAX)];
    struct cdc_buf b;
    FILE *f = NULL;
    int rc = CDC_ECONFIG;
    int c;

    cdc_buf_init(&b, SECRET_FILE_MAX);
    *out = NULL;
    esc(e, sizeof e, path, PATH_ECHO_MAX);
    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(why, whysz, "could not open file \"%s\": %s", e,
                 strerror(errno));
        goto out;
    }
    while ((c = getc(f)) != EOF && c != '\n') {
        if (cdc_buf_append_char(&b, (char)c) != CDC_OK) {
            snprintf(why, whysz,
                     "file \"%s\" has a first line longer than "
                     "64 KiB",
                     e);
            goto out;
        }
    }
    if (ferror(f)) {
        snprintf(why, whysz, "could not read file \"%s\": %s", e,
                 strerror(errno));
        goto out;
    }
    if (b.len > 0 && b.data[b.len - 1] == '\r')
        b.data[--b.len] = '\0';
    *out = b.len > 0 ? cdc_xstrndup(b.data, b.len) : cdc_xstrdup("");
    rc = CDC_OK;
out:
    if (f != NULL)
        fclose(f);
    cdc_buf_release(&b);
    return rc;
}

/*
 * Sets s at level lvl from text, or for the "-file" form from the first
 * line of the file text names. A failure is reported as "<where>: <why>".
 */
static void assign_text(struct load *ld, struct slot *s,
                        enum cdc_conf_origin lvl, bool file_form,
                        const char *text, const char *where)
{
    struct val nv = {0};
    char why[WHY_MAX];
    char *secret = NULL;
    const char *value = text;

    if (file_form) {
        if (secret_read(text, &secret, why, sizeof why) != CDC_OK) {
            problem(ld, "%s: %s", where, why);
            goto out;
        }
        value = secret;
    }
    if (val_parse(s->opt, value, &nv, why, sizeof why) != CDC_OK) {
        problem(ld, "%s: %s", where, why);
        goto out;
    }
    nv.file_form = file_form;
    val_store(s, lvl, &nv);
out:
    val_release(&nv);
    cdc_free(secret);
}

/* ==== Option tables ==== */

static struct slot *slot_find(const struct cdc_conf *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nslots; i++) {
        if (strcmp(cfg->slots[i].opt->name, name) == 0)
            return &cfg->slots[i];
    }
    return NULL;
}

static const struct cdc_opt *known_find(const struct cdc_conf *cfg,
                                        const char *name)
{
    for (size_t i = 0; i < cfg->nknown; i++) {
        if (strcmp(cfg->known[i]->name, name) == 0)
            return cfg->known[i];
    }
    return NULL;
}

/* What name (a flag without dashes, or a YAML key) stands for; *out is the
 * slot for NAME_OWN and NAME_OWN_FILE. An option of this command wins over
 * one of another command with the same name. */
static enum name_kind name_resolve(const struct cdc_conf *cfg, const char *name,
                                   struct slot **out)
{
    char base[NAME_BUF];
    const struct cdc_opt *k;
    size_t n = strlen(name);

    *out = slot_find(cfg, name);
    if (*out != NULL)
        return NAME_OWN;
    if (ends_with(name, FILE_SUFFIX) && n < sizeof base) {
        memcpy(base, name, n - strlen(FILE_SUFFIX));
        base[n - strlen(FILE_SUFFIX)] = '\0';
        *out = slot_find(cfg, base);
        if (*out != NULL && ((*out)->opt->flags & CDC_OPT_SECRET))
            return NAME_OWN_FILE;
        *out = NULL;
        k = known_find(cfg, base);
        if (k != NULL && (k->flags & CDC_OPT_SECRET))
            return NAME_KNOWN;
    }
    if (known_find(cfg, name) != NULL)
        return NAME_KNOWN;
    return NAME_UNKNOWN;
}

/* Option tables are code, so a bad entry is a bug, caught on first use. */
static void opt_check(const struct cdc_opt *opt)
{
    size_t n = strlen(opt->name);

    if (n == 0 || n > OPT_NAME_MAX)
        CDC_BUG("option name empty or too long");
    for (const char *p = opt->name; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-'))
            CDC_BUG("option name not made of [a-z0-9-]");
    }
    if (opt->type < CDC_OPT_STRING || opt->type > CDC_OPT_LIST)
        CDC_BUG("option type out of range");
    if (opt->min > opt->max)
        CDC_BUG("option min above max");
}

struct cdc_conf *cdc_conf_new(const char *command)
{
    struct cdc_conf *cfg = cdc_xcalloc(1, sizeof *cfg);

    cfg->command = cdc_xstrdup(command != NULL ? command : "tributary");
    cdc_conf_add_options(cfg, cdc_common_options);
    return cfg;
}

void cdc_conf_free(struct cdc_conf *cfg)
{
    if (cfg == NULL)
        return;
    slots_reset(cfg);
    cdc_free(cfg->slots);
    cdc_free(cfg->known);
    cdc_free(cfg->command);
    cdc_free(cfg);
}

/*
 * Adding an option whose name is already there keeps the first entry when
 * the types agree (two tables of one command may share an option such as
 * "batch-size"); different types under one name are a bug.
 */
void cdc_conf_add_options(struct cdc_conf *cfg, const struct cdc_opt *opts)
{
    for (const struct cdc_opt *opt = opts; opt->name != NULL; opt++) {
        struct slot *dup = slot_find(cfg, opt->name);

        opt_check(opt);
        if (dup != NULL) {
            if (dup->opt->type != opt->type)
                CDC_BUG("option added twice with different types");
            continue;
        }
        if (cfg->nslots == cfg->capslots) {
            cfg->capslots = cfg->capslots > 0 ? cfg->capslots * 2 : 32;
            cfg->slots =
                cdc_xrealloc(cfg->slots, cfg->capslots * sizeof *cfg->slots);
        }
        memset(&cfg->slots[cfg->nslots], 0, sizeof cfg->slots[0]);
        cfg->slots[cfg->nslots].opt = opt;
        cfg->nslots++;
    }
}

void cdc_conf_add_known(struct cdc_conf *cfg, const struct cdc_opt *opts)
{
    for (const struct cdc_opt *opt = opts; opt->name != NULL; opt++) {
        opt_check(opt);
        if (cfg->nknown == cfg->capknown) {
            cfg->capknown = cfg->capknown > 0 ? cfg->capknown * 2 : 32;
            cfg->known =
                cdc_xrealloc(cfg->known, cfg->capknown * sizeof *cfg->known);
        }
        cfg->known[cfg->nknown++] = opt;
    }
}

/* ==== Loading ==== */

/* Prints one problem as "<command>: <problem>"; the first goes to err. */
static void problem(struct load *ld, const char *fmt, ...)
{
    char msg[PROBLEM_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\n", ld->cfg->command, msg);
    if (ld->nproblems == 0)
        cdc_err_set(ld->err, CDC_ECONFIG, 0, "%s", msg);
    ld->nproblems++;
}

/* A "--name" after a flag that needs a value is taken as the next flag, not
 * as the value: "--group --port 5" is a missing group, not a group named
 * "--port". Values starting with "--" can be given as "--name=--value". */
static bool looks_like_flag(const char *arg)
{
    return arg[0] == '-' && arg[1] == '-' && arg[2] != '\0';
}

/*
 * Flags: "--name value", "--name=value", and "--name" alone for a BOOL
 * (which only takes a value after "=", so "--flag false" does not swallow
 * "false"). "-h" is "--help" and "--" ends the options; no positional
 * arguments are accepted.
 */
/* Overwrites value, which lies inside one of argv's strings. */
static void scrub_arg(char **argv, int argc, const char *value)
{
    uintptr_t v = (uintptr_t)value;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        uintptr_t start = (uintptr_t)a;
        if (a != NULL && v >= start && v <= start + strlen(a)) {
            memset(a + (v - start), 'x', strlen(value));
            return;
        }
    }
}

static void flags_load(struct load *ld, int argc, char **argv)
{
    char e[ESC_SIZE(ECHO_MAX)];
    char where[NAME_BUF + 16];
    bool opts_done = false;

    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        const char *eq;
        char *name = NULL;
        struct slot *s = NULL;
        enum name_kind kind;

        if (arg == NULL)
            continue;
        if (!opts_done && strcmp(arg, "--") == 0) {
            opts_done = true;
            continue;
        }
        if (opts_done || arg[0] != '-' || arg[1] == '\0') {
            problem(ld, "unexpected argument \"%s\"",
                    esc(e, sizeof e, arg, ECHO_MAX));
            continue;
        }
        if (strcmp(arg, "-h") == 0)
            arg = "--help";
        if (arg[1] != '-') {
            problem(ld, "unknown option \"%s\"",
                    esc(e, sizeof e, arg, ECHO_MAX));
            continue;
        }
        eq = strchr(arg + 2, '=');
        if (eq != NULL) {
            name = cdc_xstrndup(arg + 2, (size_t)(eq - (arg + 2)));
            value = eq + 1;
        } else {
            name = cdc_xstrdup(arg + 2);
        }
        kind = name_resolve(ld->cfg, name, &s);
        if (kind == NAME_UNKNOWN) {
            problem(ld, "unknown option \"--%s\"",
                    esc(e, sizeof e, name, ECHO_MAX));
            /* a following non-flag word is most likely its value: part of
             * the same mistake */
            if (value == NULL && i + 1 < argc && argv[i + 1] != NULL &&
                !looks_like_flag(argv[i + 1]))
                i++;
        } else if (kind == NAME_KNOWN) {
            const struct cdc_opt *k = known_find(ld->cfg, name);

            problem(ld, "option \"--%s\" does not apply to %s",
                    esc(e, sizeof e, name, ECHO_MAX), ld->cfg->command);
            /* Its value is part of the same mistake; don't report it again
             * as an unexpected argument. */
            if (value == NULL && (k == NULL || k->type != CDC_OPT_BOOL) &&
                i + 1 < argc && argv[i + 1] != NULL &&
                !looks_like_flag(argv[i + 1]))
                i++;
        } else {
            if (value == NULL && kind == NAME_OWN &&
                s->opt->type == CDC_OPT_BOOL)
                value = "true";
            else if (value == NULL && i + 1 < argc && argv[i + 1] != NULL &&
                     !looks_like_flag(argv[i + 1]))
                value = argv[++i];
            snprintf(where, sizeof where, "option \"--%s\"", name);
            if (value == NULL) {
                problem(ld, "%s needs a value", where);
            } else {
                assign_text(ld, s, CDC_ORIGIN_FLAG, kind == NAME_OWN_FILE,
                            value, where);
                /* a secret given on the command line leaves no trace in
                 * the process's arguments (ps, /proc/<pid>/cmdline) */
                if ((s->opt->flags & CDC_OPT_SECRET) && kind == NAME_OWN)
                    scrub_arg(argv, argc, value);
            }
        }
        cdc_free(name);
    }
}

/* Environment: TRIBUTARY_<NAME> (and TRIBUTARY_<NAME>_FILE for a secret)
 * for each option of this command. An empty variable counts as unset, as
 * container runtimes pass unset variables as empty. */
static void env_load(struct load *ld, char **envp)
{
    char var[NAME_BUF];
    char where[NAME_BUF + 32];

    for (size_t i = 0; i < ld->cfg->nslots; i++) {
        struct slot *s = &ld->cfg->slots[i];
        int nforms = (s->opt->flags & CDC_OPT_SECRET) ? 2 : 1;

        if (s->opt->flags & CDC_OPT_CLI_ONLY)
            continue;
        for (int form = 0; form < nforms; form++) {
            const char *v;

            env_name(s->opt->name, form == 1, var, sizeof var);
            v = env_get(envp, var);
            if (v == NULL || *v == '\0')
                continue;
            snprintf(where, sizeof where, "environment variable %s", var);
            assign_text(ld, s, CDC_ORIGIN_ENV, form == 1, v, where);
        }
    }
}

static void defaults_load(struct load *ld)
{
    char where[NAME_BUF + 32];

    for (size_t i = 0; i < ld->cfg->nslots; i++) {
        struct slot *s = &ld->cfg->slots[i];

        if (s->opt->def == NULL)
            continue;
        snprintf(where, sizeof where, "invalid default for \"%s\"",
                 s->opt->name);
        assign_text(ld, s, CDC_ORIGIN_DEFAULT, false, s->opt->def, where);
    }
}

static bool requested(const struct cdc_conf *cfg, const char *name)
{
    const struct slot *s = slot_find(cfg, name);
    const struct val *v = s != NULL ? slot_value(s) : NULL;

    return v != NULL && v->b;
}

static void required_check(struct load *ld)
{
    char var[NAME_BUF];

    for (size_t i = 0; i < ld->cfg->nslots; i++) {
        const struct slot *s = &ld->cfg->slots[i];
        const char *n = s->opt->name;

        if (!(s->opt->flags & CDC_OPT_REQUIRED) || slot_value(s) != NULL)
            continue;
        env_name(n, false, var, sizeof var);
        if (s->opt->flags & CDC_OPT_SECRET)
            problem(ld,
                    "missing required option \"%s\" (flag --%s or --%s-file, "
                    "variable %s or %s_FILE, or key \"%s\" or \"%s-file\" in "
                    "the config file)",
                    n, n, n, var, var, n, n);
        else
            problem(ld,
                    "missing required option \"%s\" (flag --%s, variable %s "
                    "or key \"%s\" in the config file)",
                    n, n, var, n);
    }
}

/* ==== The YAML file ==== */

/* Kinds of value a YAML key can have. */
enum yval_kind {
    YVAL_NULL = 0, /* "key:", "key: ~": as if the key were absent */
    YVAL_SCALAR,
    YVAL_LIST,    /* a sequence of scalars */
    YVAL_NESTED,  /* a mapping, or a sequence holding collections */
    YVAL_ALIAS,   /* "*anchor": not supported */
    YVAL_BADCHAR, /* a NUL byte in a scalar */
};

struct yval {
    enum yval_kind kind;
    char *text;
    char **items;
    size_t nitems;
    size_t capitems;
    size_t line;
};

/* Parser state for one file. Each step leaves ev at the last event of the
 * node it consumed. */
struct yp {
    struct load *ld;
    const unsigned char *data;
    size_t len;
    yaml_parser_t parser;
    yaml_event_t ev;
    bool have_ev;
    char path[ESC_SIZE(PATH_ECHO_MAX)]; /* escaped, for messages */
    char **seen;                        /* keys met so far */
    size_t nseen;
    size_t capseen;
};

static void yval_release(struct yval *yv)
{
    cdc_free(yv->text);
    for (size_t i = 0; i < yv->nitems; i++)
        cdc_free(yv->items[i]);
    cdc_free(yv->items);
    memset(yv, 0, sizeof *yv);
}

static size_t ev_line(const yaml_event_t *ev)
{
    return (size_t)ev->start_mark.line + 1;
}

static bool scalar_is_null(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;

    if (tag != NULL)
        return strcmp(tag, YAML_NULL_TAG) == 0;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static bool scalar_has_nul(const yaml_event_t *ev)
{
    return strlen((const char *)ev->data.scalar.value) !=
           ev->data.scalar.length;
}

/* Moves to the next event; false after a parse error, which is reported. */
static bool yp_next(struct yp *y)
{
    size_t line;

    if (y->have_ev) {
        yaml_event_delete(&y->ev);
        y->have_ev = false;
    }
    if (yaml_parser_parse(&y->parser, &y->ev)) {
        y->have_ev = true;
        return true;
    }
    line = (size_t)y->parser.problem_mark.line + 1;
    if (y->parser.error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark. */
        line = 1;
        for (size_t i = 0; i < y->parser.problem_offset && i < y->len; i++) {
            if (y->data[i] == '\n')
                line++;
        }
    }
    problem(y->ld, "%s:%zu: cannot parse YAML: %s", y->path, line,
            y->parser.problem != NULL ? y->parser.problem : "unknown error");
    return false;
}

/* Skips the node that starts at the current event. */
static bool yp_skip(struct yp *y)
{
    int depth = 0;

    for (;;) {
        if (y->ev.type == YAML_SEQUENCE_START_EVENT ||
            y->ev.type == YAML_MAPPING_START_EVENT)
            depth++;
        else if (y->ev.type == YAML_SEQUENCE_END_EVENT ||
                 y->ev.type == YAML_MAPPING_END_EVENT)
            depth--;
        if (depth <= 0)
            return true;
        if (!yp_next(y))
            return false;
    }
}

/* Reads the value node that starts at the current event into yv. */
static bool yp_value(struct yp *y, struct yval *yv)
{
    yv->line = ev_line(&y->ev);
    switch (y->ev.type) {
    case YAML_SCALAR_EVENT:
        if (scalar_has_nul(&y->ev)) {
            yv->kind = YVAL_BADCHAR;
        } else if (!scalar_is_null(&y->ev)) {
            yv->kind = YVAL_SCALAR;
            yv->text = cdc_xstrdup((const char *)y->ev.data.scalar.value);
        }
        return true;
    case YAML_ALIAS_EVENT:
        yv->kind = YVAL_ALIAS;
        return true;
    case YAML_SEQUENCE_START_EVENT:
        break;
    default:
        yv->kind = YVAL_NESTED;
        return yp_skip(y);
    }
    /* Sequence items: empty and null items are dropped, as in the
     * comma-separated form. */
    yv->kind = YVAL_LIST;
    for (;;) {
        if (!yp_next(y))
            return false;
        if (y->ev.type == YAML_SEQUENCE_END_EVENT)
            return true;
        if (y->ev.type == YAML_ALIAS_EVENT) {
            if (yv->kind == YVAL_LIST) {
                yv->kind = YVAL_ALIAS;
                yv->line = ev_line(&y->ev);
            }
            continue;
        }
        if (y->ev.type != YAML_SCALAR_EVENT) {
            yv->kind = YVAL_NESTED;
            if (!yp_skip(y))
                return false;
            continue;
        }
        if (scalar_has_nul(&y->ev)) {
            if (yv->kind == YVAL_LIST) {
                yv->kind = YVAL_BADCHAR;
                yv->line = ev_line(&y->ev);
            }
            continue;
        }
        if (scalar_is_null(&y->ev) || y->ev.data.scalar.length == 0)
            continue;
        if (yv->nitems + 1 >= yv->capitems) {
            yv->capitems = yv->capitems > 0 ? yv->capitems * 2 : 8;
            yv->items =
                cdc_xrealloc(yv->items, yv->capitems * sizeof *yv->items);
        }
        yv->items[yv->nitems++] =
            cdc_xstrdup((const char *)y->ev.data.scalar.value);
        yv->items[yv->nitems] = NULL;
    }
}

/* True the first time key is met in the file. */
static bool key_first(struct yp *y, const char *key)
{
    for (size_t i = 0; i < y->nseen; i++) {
        if (strcmp(y->seen[i], key) == 0)
            return false;
    }
    if (y->nseen == y->capseen) {
        y->capseen = y->capseen > 0 ? y->capseen * 2 : 16;
        y->seen = cdc_xrealloc(y->seen, y->capseen * sizeof *y->seen);
    }
    y->seen[y->nseen++] = cdc_xstrdup(key);
    return true;
}

/* Applies "key: value" found at key_line. */
static void yp_apply(struct yp *y, const char *key, size_t key_line,
                     struct yval *yv)
{
    char e[ESC_SIZE(ECHO_MAX)];
    char where[WHERE_MAX];
    struct slot *s = NULL;
    enum name_kind kind;
    struct val nv;

    esc(e, sizeof e, key, ECHO_MAX);
    if (!key_first(y, key)) {
        problem(y->ld, "%s:%zu: duplicate key \"%s\"", y->path, key_line, e);
        return;
    }
    kind = name_resolve(y->ld->cfg, key, &s);
    if (kind == NAME_UNKNOWN) {
        problem(y->ld, "%s:%zu: unknown key \"%s\"", y->path, key_line, e);
        return;
    }
    if (s != NULL && (s->opt->flags & CDC_OPT_CLI_ONLY)) {
        problem(y->ld, "%s:%zu: \"%s\" can only be given on the command line",
                y->path, key_line, e);
        return;
    }
    switch (yv->kind) {
    case YVAL_NESTED:
        problem(y->ld, "%s:%zu: \"%s\" must be a scalar or a list of scalars",
                y->path, key_line, e);
        return;
    case YVAL_ALIAS:
        problem(y->ld, "%s:%zu: \"%s\": YAML aliases are not supported",
                y->path, yv->line, e);
        return;
    case YVAL_BADCHAR:
        problem(y->ld,
                "%s:%zu: invalid value for \"%s\": it contains a NUL "
                "character",
                y->path, yv->line, e);
        return;
    default:
        break;
    }
    /* Options of other commands are for them to check. */
    if (kind == NAME_KNOWN || yv->kind == YVAL_NULL)
        return;
    if (yv->kind == YVAL_LIST) {
        if (kind != NAME_OWN || s->opt->type != CDC_OPT_LIST) {
            problem(y->ld, "%s:%zu: \"%s\" takes a single value, not a list",
                    y->path, yv->line, e);
            return;
        }
        val_from_items(yv->items, yv->nitems, &nv);
        yv->items = NULL;
        yv->nitems = 0;
        val_store(s, CDC_ORIGIN_FILE, &nv);
        return;
    }
    snprintf(where, sizeof where, "%s:%zu: invalid value for \"%s\"", y->path,
             yv->line, e);
    assign_text(y->ld, s, CDC_ORIGIN_FILE, kind == NAME_OWN_FILE, yv->text,
                where);
}

/* Reads the top-level mapping; its start is the current event. */
static bool yp_mapping(struct yp *y)
{
    for (;;) {
        struct yval yv = {0};
        char *key = NULL;
        size_t key_line;
        bool ok;

        if (!yp_next(y))
            return false;
        if (y->ev.type == YAML_MAPPING_END_EVENT)
            return true;
        key_line = ev_line(&y->ev);
        if (y->ev.type == YAML_SCALAR_EVENT && !scalar_has_nul(&y->ev)) {
            key = cdc_xstrdup((const char *)y->ev.data.scalar.value);
        } else {
            problem(y->ld, "%s:%zu: %s", y->path, key_line,
                    y->ev.type == YAML_ALIAS_EVENT
                        ? "YAML aliases are not supported"
                        : "a key must be a plain option name");
            if (!yp_skip(y))
                return false;
        }
        ok = yp_next(y) && yp_value(y, &yv);
        if (ok && key != NULL)
            yp_apply(y, key, key_line, &yv);
        yval_release(&yv);
        cdc_free(key);
        if (!ok)
            return false;
    }
}

/* Parses a whole file: an empty stream, a null document or one mapping. */
static void yaml_load(struct load *ld, const char *path,
                      const unsigned char *data, size_t len)
{
    struct yp y = {.ld = ld, .data = data, .len = len};
    bool inited = false;

    esc(y.path, sizeof y.path, path, PATH_ECHO_MAX);
    if (!yaml_parser_initialize(&y.parser)) {
        problem(ld, "%s: could not initialize the YAML parser", y.path);
        goto out;
    }
    inited = true;
    /* libyaml hands out events before it finds a syntax error further on
     * ("port: 1" followed by a badly indented line yields the scalar
     * "1 bad" first), so the whole stream is checked before any key is
     * applied: a malformed file gives one message, not a misleading one. */
    yaml_parser_set_input_string(&y.parser, data, len);
    do {
        if (!yp_next(&y))
            goto out;
    } while (y.ev.type != YAML_STREAM_END_EVENT);
    yaml_event_delete(&y.ev);
    y.have_ev = false;
    yaml_parser_delete(&y.parser);
    inited = false;
    if (!yaml_parser_initialize(&y.parser)) {
        problem(ld, "%s: could not initialize the YAML parser", y.path);
        goto out;
    }
    inited = true;
    yaml_parser_set_input_string(&y.parser, data, len);
    if (!yp_next(&y) || !yp_next(&y))
        goto out;
    if (y.ev.type == YAML_STREAM_END_EVENT)
        goto out;
    if (!yp_next(&y))
        goto out;
    if (y.ev.type == YAML_MAPPING_START_EVENT) {
        if (!yp_mapping(&y))
            goto out;
    } else if (y.ev.type != YAML_SCALAR_EVENT || !scalar_is_null(&y.ev)) {
        problem(ld,
                "%s:%zu: the config file must be a mapping of option "
                "names to values",
                y.path, ev_line(&y.ev));
        if (!yp_skip(&y))
            goto out;
    }
    if (!yp_next(&y) || !yp_next(&y))
        goto out;
    if (y.ev.type == YAML_DOCUMENT_START_EVENT)
        problem(ld,
                "%s:%zu: the config file must hold one YAML document, "
                "not several",
                y.path, ev_line(&y.ev));
out:
    if (y.have_ev)
        yaml_event_delete(&y.ev);
    if (inited)
        yaml_parser_delete(&y.parser);
    for (size_t i = 0; i < y.nseen; i++)
        cdc_free(y.seen[i]);
    cdc_free(y.seen);
}

/* Reads path whole into b; on failure writes the reason to why. */
static int file_read(const char *path, struct cdc_buf *b, char *why,
                     size_t whysz)
{
    char e[ESC_SIZE(PATH_ECHO_MAX)];
    char chunk[4096];
    FILE *f = NULL;
    int rc = CDC_ECONFIG;
    size_t n;

    esc(e, sizeof e, path, PATH_ECHO_MAX);
    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(why, whysz, "could not open config file \"%s\": %s", e,
                 strerror(errno));
        goto out;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (cdc_buf_append(b, chunk, n) != CDC_OK) {
            snprintf(why, whysz, "config file \"%s\" is larger than 1 MiB", e);
            goto out;
        }
    }
    if (ferror(f)) {
        snprintf(why, whysz, "could not read config file \"%s\": %s", e,
                 strerror(errno));
        goto out;
    }
    rc = CDC_OK;
out:
    if (f != NULL)
        fclose(f);
    return rc;
}

/*
 * Finds and reads the config file: --config, else TRIBUTARY_CONFIG, else
 * $HOME/.tributary.yaml when it exists. A file that was named and cannot
 * be read is a problem; an absent default file is not.
 */
static void file_load(struct load *ld, char **envp, const char *home)
{
    struct slot *cs = slot_find(ld->cfg, "config");
    const char *env = env_get(envp, ENV_PREFIX "CONFIG");
    char *def_path = NULL;
    const char *path = NULL;
    struct cdc_buf b;
    char why[WHY_MAX];
    struct stat st;

    cdc_buf_init(&b, CONFIG_FILE_MAX);
    if (env != NULL && *env != '\0')
        assign_text(ld, cs, CDC_ORIGIN_ENV, false, env,
                    "environment variable " ENV_PREFIX "CONFIG");
    if (cs->lv[CDC_ORIGIN_FLAG].given) {
        path = cs->lv[CDC_ORIGIN_FLAG].text;
    } else if (cs->lv[CDC_ORIGIN_ENV].given) {
        path = cs->lv[CDC_ORIGIN_ENV].text;
    } else if (home != NULL && *home != '\0') {
        def_path = cdc_xasprintf("%s/%s", home, DEFAULT_FILE);
        if (stat(def_path, &st) != 0 && (errno == ENOENT || errno == ENOTDIR))
            goto out;
        assign_text(ld, cs, CDC_ORIGIN_DEFAULT, false, def_path,
                    "default config file");
        path = def_path;
    } else {
        goto out;
    }
    if (file_read(path, &b, why, sizeof why) != CDC_OK) {
        problem(ld, "%s", why);
        goto out;
    }
    ld->cfg->file = cdc_xstrdup(path);
    /* libyaml takes a length, so an empty file needs no data pointer. */
    yaml_load(ld, path, (const unsigned char *)(b.data != NULL ? b.data : ""),
              b.len);
out:
    cdc_buf_release(&b);
    cdc_free(def_path);
}

int cdc_conf_load_env(struct cdc_conf *cfg, int argc, char **argv, char **envp,
                      const char *home, struct cdc_err *err)
{
    struct load ld = {.cfg = cfg, .err = err};

    slots_reset(cfg);
    flags_load(&ld, argc, argv);
    size_t before_file = ld.nproblems;
    file_load(&ld, envp, home);
    bool file_failed = ld.nproblems > before_file;
    env_load(&ld, envp);
    defaults_load(&ld);
    /* Help and version need nothing else, so a missing required option must
     * not stand in their way; and when the file could not be read, what
     * seems missing is most likely in it. */
    if (!requested(cfg, "help") && !requested(cfg, "version") && !file_failed)
        required_check(&ld);
    if (ld.nproblems == 0)
        return CDC_OK;
    slots_reset(cfg);
    return CDC_ECONFIG;
}

int cdc_conf_load(struct cdc_conf *cfg, int argc, char **argv,
                  struct cdc_err *err)
{
    return cdc_conf_load_env(cfg, argc, argv, environ, getenv("HOME"), err);
}

/* ==== Getters ==== */

static const struct slot *slot_get(const struct cdc_conf *cfg, const char *name)
{
    const struct slot *s = slot_find(cfg, name);
    char msg[NAME_BUF + 64];

    if (s == NULL) {
        snprintf(msg, sizeof msg, "option \"%.*s\" was not added", OPT_NAME_MAX,
                 name);
        CDC_BUG(msg);
    }
    return s;
}

static _Noreturn void type_bug(const char *name, const char *want)
{
    char msg[NAME_BUF + 64];

    snprintf(msg, sizeof msg, "option \"%s\" is not %s", name, want);
    CDC_BUG(msg);
}

/* Works for every type: the value as given. */
const char *cdc_conf_get_str(const struct cdc_conf *cfg, const char *name)
{
    const struct val *v = slot_value(slot_get(cfg, name));

    return v != NULL ? v->text : NULL;
}

int64_t cdc_conf_get_int(const struct cdc_conf *cfg, const char *name)
{
    const struct slot *s = slot_get(cfg, name);
    const struct val *v = slot_value(s);

    if (s->opt->type != CDC_OPT_INT && s->opt->type != CDC_OPT_DURATION &&
        s->opt->type != CDC_OPT_SIZE)
        type_bug(name, "an integer, a duration or a size");
    return v != NULL ? v->num : 0;
}

bool cdc_conf_get_bool(const struct cdc_conf *cfg, const char *name)
{
    const struct slot *s = slot_get(cfg, name);
    const struct val *v = slot_value(s);

    if (s->opt->type != CDC_OPT_BOOL)
        type_bug(name, "a boolean");
    return v != NULL && v->b;
}

size_t cdc_conf_get_list(const struct cdc_conf *cfg, const char *name,
                         const char *const **items)
{
    const struct slot *s = slot_get(cfg, name);
    const struct val *v = slot_value(s);

    if (s->opt->type != CDC_OPT_LIST)
        type_bug(name, "a list");
    if (v == NULL) {
        *items = NULL;
        return 0;
    }
    *items = (const char *const *)v->items;
    return v->nitems;
}

bool cdc_conf_is_set(const struct cdc_conf *cfg, const char *name)
{
    return slot_value(slot_get(cfg, name)) != NULL;
}

enum cdc_conf_origin cdc_conf_origin(const struct cdc_conf *cfg,
                                     const char *name)
{
    const struct slot *s = slot_get(cfg, name);

    for (int lvl = CDC_ORIGIN_FLAG; lvl > CDC_ORIGIN_UNSET; lvl--) {
        if (s->lv[lvl].given)
            return (enum cdc_conf_origin)lvl;
    }
    return CDC_ORIGIN_UNSET;
}

const char *cdc_conf_file(const struct cdc_conf *cfg)
{
    return cfg->file;
}

/* ==== Printing ==== */

static const char *value_word(enum cdc_opt_type type)
{
    switch (type) {
    case CDC_OPT_INT:
        return " N";
    case CDC_OPT_BOOL:
        return "";
    case CDC_OPT_DURATION:
        return " DURATION";
    case CDC_OPT_SIZE:
        return " SIZE";
    case CDC_OPT_LIST:
        return " A,B,...";
    case CDC_OPT_STRING:
        break;
    }
    return " VALUE";
}

/* The left column of a help line: "--port N", "-h, --help". */
static void help_left(const struct cdc_opt *opt, bool file_form, char *out,
                      size_t outsz)
{
    if (file_form)
        snprintf(out, outsz, "--%s%s PATH", opt->name, FILE_SUFFIX);
    else if (is_common(opt, "config"))
        snprintf(out, outsz, "--%s PATH", opt->name);
    else
        snprintf(out, outsz, "%s--%s%s", is_common(opt, "help") ? "-h, " : "",
                 opt->name, value_word(opt->type));
}

/* Help descriptions wrap at this column, and never get narrower than
 * HELP_MIN_TEXT however wide the option column is. */
#define HELP_COLUMNS 80
#define HELP_MIN_TEXT 30

/* Writes text word-wrapped to fit after column indent. */
static void put_wrapped(FILE *out, const char *text, size_t indent)
{
    size_t room = HELP_COLUMNS > indent + HELP_MIN_TEXT ? HELP_COLUMNS - indent
                                                        : HELP_MIN_TEXT;
    size_t used = 0;

    while (*text != '\0') {
        size_t word = strcspn(text, " ");

        if (used > 0 && used + 1 + word > room) {
            fprintf(out, "\n%*s", (int)indent, "");
            used = 0;
        } else if (used > 0) {
            fputc(' ', out);
            used++;
        }
        fwrite(text, 1, word, out);
        used += word;
        text += word;
        while (*text == ' ')
            text++;
    }
    fputc('\n', out);
}

/* A usage that begins with "usage:" is printed as given, so a caller can
 * add lines of its own; otherwise it is one line after "Usage: ". */
void cdc_conf_print_help(const struct cdc_conf *cfg, FILE *out,
                         const char *usage)
{
    char left[NAME_BUF + 32];
    char text[1024];
    size_t width = 0;

    for (size_t i = 0; i < cfg->nslots; i++) {
        const struct cdc_opt *opt = cfg->slots[i].opt;

        for (int form = 0; form < ((opt->flags & CDC_OPT_SECRET) ? 2 : 1);
             form++) {
            help_left(opt, form == 1, left, sizeof left);
            if (strlen(left) > width)
                width = strlen(left);
        }
    }
    if (usage == NULL)
        fprintf(out, "Usage: %s [OPTIONS]\n", cfg->command);
    else if (strncasecmp(usage, "usage:", 6) == 0)
        fprintf(out, "%s%s", usage,
                usage[0] != '\0' && usage[strlen(usage) - 1] == '\n' ? ""
                                                                     : "\n");
    else
        fprintf(out, "Usage: %s\n", usage);
    fputs("\nOptions:\n", out);
    for (size_t i = 0; i < cfg->nslots; i++) {
        const struct cdc_opt *opt = cfg->slots[i].opt;
        bool show_def = opt->def != NULL && !(opt->flags & CDC_OPT_SECRET);

        help_left(opt, false, left, sizeof left);
        fprintf(out, "  %-*s  ", (int)width, left);
        snprintf(text, sizeof text, "%s%s%s%s%s",
                 opt->help != NULL ? opt->help : "",
                 show_def ? " (default: " : "", show_def ? opt->def : "",
                 show_def ? ")" : "",
                 (opt->flags & CDC_OPT_REQUIRED) ? " (required)" : "");
        put_wrapped(out, text, width + 4);
        if (opt->flags & CDC_OPT_SECRET) {
            help_left(opt, true, left, sizeof left);
            fprintf(out, "  %-*s  ", (int)width, left);
            snprintf(text, sizeof text, "read %s from the first line of PATH",
                     opt->name);
            put_wrapped(out, text, width + 4);
        }
    }
    fputs("\nEvery option can also be set as TRIBUTARY_<NAME> or as a key in "
          "the YAML file\ngiven by --config (default ~/.tributary.yaml).\n",
          out);
}

/* Options that are actions (help, check-config) are not settings and are
 * left out; "config" is shown. */
void cdc_conf_print(const struct cdc_conf *cfg, FILE *out)
{
    static const char *const origin_names[NLEVELS] = {
        [CDC_ORIGIN_UNSET] = "unset", [CDC_ORIGIN_DEFAULT] = "default",
        [CDC_ORIGIN_FILE] = "file",   [CDC_ORIGIN_ENV] = "env",
        [CDC_ORIGIN_FLAG] = "flag",
    };

    for (size_t i = 0; i < cfg->nslots; i++) {
        const struct slot *s = &cfg->slots[i];
        const struct val *v = slot_value(s);

        if (v == NULL || ((s->opt->flags & CDC_OPT_CLI_ONLY) &&
                          s->opt->type == CDC_OPT_BOOL))
            continue;
        fprintf(out, "%s = ", s->opt->name);
        if (s->opt->flags & CDC_OPT_SECRET)
            fputs("***", out);
        else if (s->opt->type == CDC_OPT_BOOL)
            fputs(v->b ? "true" : "false", out);
        else
            put_escaped(out, v->text);
        fprintf(out, "  (%s)\n",
                origin_names[cdc_conf_origin(cfg, s->opt->name)]);
    }
}
