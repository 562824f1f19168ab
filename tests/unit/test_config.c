/*
 * test_config.c: unit tests of the configuration loader (common/config.c):
 * precedence of defaults, YAML file, environment and flags, parsing and
 * rejection of every option type with the exact message, the YAML shape
 * rules, secrets and their "-file" form, and the printed forms. Each test
 * works in its own temporary directory; the environment is passed as an
 * array and stderr is captured into a file, so nothing outside is touched.
 */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "common/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})
#define NOARGS ((char *[]){NULL})
#define ENVP(...) ((char *[]){__VA_ARGS__, NULL})
#define NOENV ((char *[]){NULL})

#define CMD "worker test"

static const struct cdc_opt test_opts[] = {
    {.name = "port",
     .type = CDC_OPT_INT,
     .def = "5432",
     .min = 1,
     .max = 65535,
     .help = "server port"},
    {.name = "group", .type = CDC_OPT_STRING, .help = "group name"},
    {.name = "enabled",
     .type = CDC_OPT_BOOL,
     .def = "true",
     .help = "turn it on"},
    {.name = "timeout",
     .type = CDC_OPT_DURATION,
     .def = "5s",
     .min = 100,
     .max = 3600000,
     .help = "how long to wait"},
    {.name = "max-bytes",
     .type = CDC_OPT_SIZE,
     .def = "1MiB",
     .min = 1024,
     .max = (int64_t)1 << 30,
     .help = "largest batch"},
    {.name = "tables", .type = CDC_OPT_LIST, .help = "tables to copy"},
    {.name = "retries", .type = CDC_OPT_INT, .help = "retry count"},
    {.name = "password",
     .type = CDC_OPT_STRING,
     .flags = CDC_OPT_SECRET,
     .help = "server password"},
    {.name = "pin",
     .type = CDC_OPT_INT,
     .flags = CDC_OPT_SECRET,
     .help = "a numeric secret"},
    {.name = NULL},
};

static const struct cdc_opt required_opts[] = {
    {.name = "slot", .type = CDC_OPT_STRING, .flags = CDC_OPT_REQUIRED},
    {.name = "token",
     .type = CDC_OPT_STRING,
     .flags = CDC_OPT_REQUIRED | CDC_OPT_SECRET},
    {.name = NULL},
};

/* Options of another command. */
static const struct cdc_opt other_opts[] = {
    {.name = "webhook-url", .type = CDC_OPT_STRING},
    {.name = "api-key", .type = CDC_OPT_STRING, .flags = CDC_OPT_SECRET},
    {.name = "webhook-port", .type = CDC_OPT_INT, .min = 1, .max = 65535},
    {.name = NULL},
};

struct fx {
    char dir[256];
    struct cdc_conf *cfg;
    struct cdc_err err;
    int rc;
    char out[16384]; /* stderr of the last load */
    int lines;
};

/* ==== Fixture and helpers ==== */

static int setup(void **state)
{
    struct fx *fx = test_calloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR");

    snprintf(fx->dir, sizeof fx->dir, "%s/tributary-config-XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL) {
        test_free(fx);
        return -1;
    }
    fx->cfg = cdc_conf_new(CMD);
    cdc_conf_add_options(fx->cfg, test_opts);
    cdc_conf_add_known(fx->cfg, other_opts);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    DIR *d = opendir(fx->dir);
    struct dirent *de;
    char path[512];

    cdc_conf_free(fx->cfg);
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", fx->dir, de->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(fx->dir);
    test_free(fx);
    return 0;
}

static void path_in(const struct fx *fx, const char *name, char *out,
                    size_t outsz)
{
    snprintf(out, outsz, "%s/%s", fx->dir, name);
}

static void put_bytes(const struct fx *fx, const char *name, const char *data,
                      size_t len, char *path, size_t pathsz)
{
    FILE *f;

    path_in(fx, name, path, pathsz);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void put_file(const struct fx *fx, const char *name, const char *text,
                     char *path, size_t pathsz)
{
    put_bytes(fx, name, text, strlen(text), path, pathsz);
}

static void read_back(const char *path, char *out, size_t outsz)
{
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(out, 1, outsz - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* Loads fx->cfg with stderr redirected into a file, kept in fx->out. */
static int load(struct fx *fx, char **argv, char **envp, const char *home)
{
    char errpath[512];
    int argc = 0;
    int saved;
    int fd;
    ssize_t n;

    while (argv[argc] != NULL)
        argc++;
    /* writable, as a real argv is: secrets given as flags are scrubbed */
    char **args = cdc_xcalloc((size_t)argc + 1, sizeof(*args));
    for (int i = 0; i < argc; i++)
        args[i] = cdc_xstrdup(argv[i]);
    path_in(fx, "stderr.txt", errpath, sizeof errpath);
    memset(&fx->err, 0, sizeof fx->err);
    fflush(stderr);
    saved = dup(2);
    assert_true(saved >= 0);
    fd = open(errpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_true(dup2(fd, 2) >= 0);
    fx->rc = cdc_conf_load_env(fx->cfg, argc, args, envp, home, &fx->err);
    for (int i = 0; i < argc; i++)
        cdc_free(args[i]);
    cdc_free(args);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    n = read(fd, fx->out, sizeof fx->out - 1);
    close(fd);
    fx->out[n > 0 ? n : 0] = '\0';
    fx->lines = 0;
    for (const char *p = fx->out; *p != '\0'; p++) {
        if (*p == '\n')
            fx->lines++;
    }
    return fx->rc;
}

/* Loads "--config <file>" holding text. */
static int load_yaml(struct fx *fx, const char *text, char *path, size_t pathsz)
{
    put_file(fx, "cfg.yaml", text, path, pathsz);
    return load(fx, ARGV("--config", path), NOENV, NULL);
}

/* The load failed with exactly one problem, msg, printed and in err. */
static void expect_one_problem(const struct fx *fx, const char *msg)
{
    char line[4096];

    assert_int_equal(fx->rc, CDC_ECONFIG);
    assert_int_equal(fx->err.code, CDC_ECONFIG);
    assert_string_equal(fx->err.msg, msg);
    snprintf(line, sizeof line, "%s: %s\n", CMD, msg);
    assert_string_equal(fx->out, line);
}

static void expect_ok(const struct fx *fx)
{
    assert_string_equal(fx->out, "");
    assert_int_equal(fx->rc, CDC_OK);
}

/* One file problem at the file's path. */
static void expect_file_problem(const struct fx *fx, const char *path,
                                const char *fmt_after_path)
{
    char msg[2048];

    snprintf(msg, sizeof msg, "%s%s", path, fmt_after_path);
    expect_one_problem(fx, msg);
}

/* ==== Precedence ==== */

static void test_defaults(void **state)
{
    struct fx *fx = *state;
    const char *const *items = NULL;

    load(fx, NOARGS, NOENV, NULL);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "port"), 5432);
    assert_int_equal(cdc_conf_origin(fx->cfg, "port"), CDC_ORIGIN_DEFAULT);
    assert_true(cdc_conf_get_bool(fx->cfg, "enabled"));
    assert_int_equal(cdc_conf_get_int(fx->cfg, "timeout"), 5000);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "max-bytes"), 1 << 20);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "log-level"), "info");
    assert_string_equal(cdc_conf_get_str(fx->cfg, "log-format"), "text");
    assert_null(cdc_conf_get_str(fx->cfg, "group"));
    assert_false(cdc_conf_is_set(fx->cfg, "group"));
    assert_int_equal(cdc_conf_origin(fx->cfg, "group"), CDC_ORIGIN_UNSET);
    assert_int_equal(cdc_conf_get_list(fx->cfg, "tables", &items), 0);
    assert_false(cdc_conf_get_bool(fx->cfg, "help"));
    assert_null(cdc_conf_file(fx->cfg));
}

static void test_precedence(void **state)
{
    struct fx *fx = *state;
    char path[512];
    char cfgvar[600];

    put_file(fx, "cfg.yaml", "port: 1111\n", path, sizeof path);
    snprintf(cfgvar, sizeof cfgvar, "TRIBUTARY_CONFIG=%s", path);

    load(fx, ARGV("--port", "3333"), ENVP(cfgvar, "TRIBUTARY_PORT=2222"), NULL);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "port"), 3333);
    assert_int_equal(cdc_conf_origin(fx->cfg, "port"), CDC_ORIGIN_FLAG);

    load(fx, NOARGS, ENVP(cfgvar, "TRIBUTARY_PORT=2222"), NULL);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "port"), 2222);
    assert_int_equal(cdc_conf_origin(fx->cfg, "port"), CDC_ORIGIN_ENV);

    load(fx, NOARGS, ENVP(cfgvar), NULL);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "port"), 1111);
    assert_int_equal(cdc_conf_origin(fx->cfg, "port"), CDC_ORIGIN_FILE);
    assert_string_equal(cdc_conf_file(fx->cfg), path);
    assert_int_equal(cdc_conf_origin(fx->cfg, "config"), CDC_ORIGIN_ENV);

    load(fx, NOARGS, NOENV, NULL);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "port"), 5432);
    assert_int_equal(cdc_conf_origin(fx->cfg, "port"), CDC_ORIGIN_DEFAULT);
    assert_null(cdc_conf_file(fx->cfg));
}

static void test_config_flag_beats_env(void **state)
{
    struct fx *fx = *state;
    char a[512];
    char b[512];
    char cfgvar[600];

    put_file(fx, "a.yaml", "port: 1\n", a, sizeof a);
    put_file(fx, "b.yaml", "port: 2\n", b, sizeof b);
    snprintf(cfgvar, sizeof cfgvar, "TRIBUTARY_CONFIG=%s", a);
    load(fx, ARGV("--config", b), ENVP(cfgvar), NULL);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "port"), 2);
    assert_string_equal(cdc_conf_file(fx->cfg), b);
}

static void test_default_file_in_home(void **state)
{
    struct fx *fx = *state;
    char path[512];

    /* Absent: silently skipped. */
    load(fx, NOARGS, NOENV, fx->dir);
    expect_ok(fx);
    assert_null(cdc_conf_file(fx->cfg));

    put_file(fx, ".tributary.yaml", "port: 1111\n", path, sizeof path);
    load(fx, NOARGS, NOENV, fx->dir);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "port"), 1111);
    assert_string_equal(cdc_conf_file(fx->cfg), path);

    /* No home: no default file. */
    load(fx, NOARGS, NOENV, NULL);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "port"), 5432);
}

static void test_default_file_errors_reported(void **state)
{
    struct fx *fx = *state;
    char path[512];

    put_file(fx, ".tributary.yaml", "prot: 1\n", path, sizeof path);
    load(fx, NOARGS, NOENV, fx->dir);
    expect_file_problem(fx, path, ":1: unknown key \"prot\"");
}

static void test_missing_config_file(void **state)
{
    struct fx *fx = *state;
    char path[512];
    char msg[1024];

    path_in(fx, "nope.yaml", path, sizeof path);
    load(fx, ARGV("--config", path), NOENV, NULL);
    snprintf(msg, sizeof msg,
             "could not open config file \"%s\": No such file or directory",
             path);
    expect_one_problem(fx, msg);

    /* Named by the variable: also an error. */
    snprintf(msg, sizeof msg, "TRIBUTARY_CONFIG=%s", path);
    load(fx, NOARGS, ENVP(msg), NULL);
    assert_int_equal(fx->rc, CDC_ECONFIG);
    assert_int_equal(fx->lines, 1);
}

static void test_config_file_is_directory(void **state)
{
    struct fx *fx = *state;
    char msg[1024];

    load(fx, ARGV("--config", fx->dir), NOENV, NULL);
    snprintf(msg, sizeof msg,
             "could not read config file \"%s\": Is a directory", fx->dir);
    expect_one_problem(fx, msg);
}

/* ==== Flags ==== */

static void test_flag_forms(void **state)
{
    struct fx *fx = *state;
    const char *const *items = NULL;

    load(fx,
         ARGV("--port=7", "--group", "g1", "--group=g2", "--tables", "a,b",
              "--tables", "c", "-h"),
         NOENV, NULL);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "port"), 7);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "group"), "g2");
    /* A repeated LIST flag replaces, it does not add. */
    assert_int_equal(cdc_conf_get_list(fx->cfg, "tables", &items), 1);
    assert_string_equal(items[0], "c");
    assert_true(cdc_conf_get_bool(fx->cfg, "help"));
}

static void test_flag_value_with_equals(void **state)
{
    struct fx *fx = *state;

    load(fx, ARGV("--group=a=b", "--password=--x"), NOENV, NULL);
    expect_ok(fx);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "group"), "a=b");
    assert_string_equal(cdc_conf_get_str(fx->cfg, "password"), "--x");
}

static void test_secret_flag_scrubbed(void **state)
{
    struct fx *fx = *state;
    char a0[] = "--password";
    char a1[] = "hunter2";
    char a2[] = "--password=s3cret";
    char a3[] = "--group";
    char a4[] = "g";
    char *argv[] = {a0, a1, a3, a4, NULL};
    assert_int_equal(
        cdc_conf_load_env(fx->cfg, 4, argv, NOENV, NULL, &fx->err), CDC_OK);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "password"), "hunter2");
    assert_string_equal(a1, "xxxxxxx");
    assert_string_equal(a4, "g");
    char *argv2[] = {a2, NULL};
    assert_int_equal(
        cdc_conf_load_env(fx->cfg, 1, argv2, NOENV, NULL, &fx->err), CDC_OK);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "password"), "s3cret");
    assert_string_equal(a2, "--password=xxxxxx");
}

static void test_bool_flag_false(void **state)
{
    struct fx *fx = *state;

    load(fx, ARGV("--enabled=false"), NOENV, NULL);
    expect_ok(fx);
    assert_false(cdc_conf_get_bool(fx->cfg, "enabled"));
    assert_int_equal(cdc_conf_origin(fx->cfg, "enabled"), CDC_ORIGIN_FLAG);

    load(fx, ARGV("--enabled=false", "--enabled"), NOENV, NULL);
    expect_ok(fx);
    assert_true(cdc_conf_get_bool(fx->cfg, "enabled"));
}

static void test_bool_flag_does_not_take_next(void **state)
{
    struct fx *fx = *state;

    load(fx, ARGV("--enabled", "false"), NOENV, NULL);
    expect_one_problem(fx, "unexpected argument \"false\"");
}

static void test_unknown_flag(void **state)
{
    struct fx *fx = *state;

    load(fx, ARGV("--foo"), NOENV, NULL);
    expect_one_problem(fx, "unknown option \"--foo\"");

    load(fx, ARGV("-x"), NOENV, NULL);
    expect_one_problem(fx, "unknown option \"-x\"");
}

static void test_flag_of_other_command(void **state)
{
    struct fx *fx = *state;

    /* Its value is not reported again as an unexpected argument. */
    load(fx, ARGV("--webhook-url", "http://example.com"), NOENV, NULL);
    expect_one_problem(fx, "option \"--webhook-url\" does not apply to " CMD);

    load(fx, ARGV("--api-key-file=/x"), NOENV, NULL);
    expect_one_problem(fx, "option \"--api-key-file\" does not apply to " CMD);
}

static void test_positional_argument(void **state)
{
    struct fx *fx = *state;

    load(fx, ARGV("x"), NOENV, NULL);
    expect_one_problem(fx, "unexpected argument \"x\"");

    load(fx, ARGV("--", "--port"), NOENV, NULL);
    expect_one_problem(fx, "unexpected argument \"--port\"");
}

static void test_flag_missing_value(void **state)
{
    struct fx *fx = *state;

    load(fx, ARGV("--port"), NOENV, NULL);
    expect_one_problem(fx, "option \"--port\" needs a value");

    load(fx, ARGV("--group", "--port", "5"), NOENV, NULL);
    expect_one_problem(fx, "option \"--group\" needs a value");
}

static void test_flag_invalid_value(void **state)
{
    struct fx *fx = *state;

    load(fx, ARGV("--port", "abc"), NOENV, NULL);
    expect_one_problem(fx, "option \"--port\": \"abc\" is not an integer");
}

/* ==== Environment ==== */

static void test_env_error_names_variable(void **state)
{
    struct fx *fx = *state;

    load(fx, NOARGS, ENVP("TRIBUTARY_PORT=abc"), NULL);
    expect_one_problem(
        fx, "environment variable TRIBUTARY_PORT: \"abc\" is not an integer");
}

static void test_env_names_and_others_ignored(void **state)
{
    struct fx *fx = *state;

    load(fx, NOARGS,
         ENVP("TRIBUTARY_MAX_BYTES=4096", "TRIBUTARY_LOG_LEVEL=debug",
              "TRIBUTARY_WEBHOOK_URL=x", "TRIBUTARY_NOPE=1", "TRIBUTARY_HELP=1",
              "TRIBUTARY_GROUP=", "PORT=1"),
         NULL);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "max-bytes"), 4096);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "log-level"), "debug");
    /* CLI-only options are flags only; an empty variable is unset. */
    assert_false(cdc_conf_get_bool(fx->cfg, "help"));
    assert_false(cdc_conf_is_set(fx->cfg, "group"));
}

/* ==== Types ==== */

static void test_types_parse(void **state)
{
    struct fx *fx = *state;
    char path[512];
    const char *const *items = NULL;

    load_yaml(fx,
              "port: 80\n"
              "group: orders\n"
              "enabled: no\n"
              "timeout: 250ms\n"
              "max-bytes: 64MiB\n"
              "tables: a, b ,,c\n"
              "retries: 0\n"
              "log-format: json\n",
              path, sizeof path);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "port"), 80);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "group"), "orders");
    assert_false(cdc_conf_get_bool(fx->cfg, "enabled"));
    assert_int_equal(cdc_conf_get_int(fx->cfg, "timeout"), 250);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "max-bytes"), 64 << 20);
    assert_int_equal(cdc_conf_get_list(fx->cfg, "tables", &items), 3);
    assert_string_equal(items[0], "a");
    assert_string_equal(items[1], "b");
    assert_string_equal(items[2], "c");
    assert_int_equal(cdc_conf_get_int(fx->cfg, "retries"), 0);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "log-format"), "json");

    load(fx, ARGV("--timeout", "2m", "--enabled=on"), NOENV, NULL);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "timeout"), 120000);
    assert_true(cdc_conf_get_bool(fx->cfg, "enabled"));
}

static void test_reject_int(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "group: g\n\nport: abc\n", path, sizeof path);
    expect_file_problem(fx, path,
                        ":3: invalid value for \"port\": \"abc\" is not an "
                        "integer");
}

static void test_reject_bool(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "enabled: maybe\n", path, sizeof path);
    expect_file_problem(fx, path,
                        ":1: invalid value for \"enabled\": \"maybe\" is not "
                        "a boolean (true or false)");
}

static void test_reject_duration(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "port: 1\ntimeout: 5x\n", path, sizeof path);
    expect_file_problem(fx, path,
                        ":2: invalid value for \"timeout\": \"5x\" is not a "
                        "duration (like \"250ms\", \"5s\", \"2m\", \"1h\")");
}

static void test_reject_size(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "max-bytes: lots\n", path, sizeof path);
    expect_file_problem(fx, path,
                        ":1: invalid value for \"max-bytes\": \"lots\" is not "
                        "a size (like \"64MiB\", \"10MB\", \"1024\")");
}

static void test_reject_log_level(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "log-level: loud\n", path, sizeof path);
    expect_file_problem(fx, path,
                        ":1: invalid value for \"log-level\": \"loud\" is not "
                        "one of error, warn, info, debug, trace");

    load(fx, ARGV("--log-format=xml"), NOENV, NULL);
    expect_one_problem(
        fx, "option \"--log-format\": \"xml\" is not one of text, json");
}

static void test_range_int(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "port: 70000\n", path, sizeof path);
    expect_file_problem(fx, path,
                        ":1: invalid value for \"port\": \"70000\" is out of "
                        "range (1..65535)");

    load(fx, ARGV("--port=0"), NOENV, NULL);
    expect_one_problem(fx,
                       "option \"--port\": \"0\" is out of range (1..65535)");
}

static void test_range_not_negative(void **state)
{
    struct fx *fx = *state;

    /* min == max == 0: any value >= 0. */
    load(fx, ARGV("--retries", "-1"), NOENV, NULL);
    expect_one_problem(
        fx, "option \"--retries\": \"-1\" is out of range (must be at least "
            "0)");

    load(fx, ARGV("--retries", "9000000000"), NOENV, NULL);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "retries"), 9000000000LL);
}

static void test_range_duration(void **state)
{
    struct fx *fx = *state;

    load(fx, NOARGS, ENVP("TRIBUTARY_TIMEOUT=2h"), NULL);
    expect_one_problem(fx, "environment variable TRIBUTARY_TIMEOUT: \"2h\" is "
                           "out of range (100ms..1h)");

    load(fx, NOARGS, ENVP("TRIBUTARY_TIMEOUT=50ms"), NULL);
    expect_one_problem(fx, "environment variable TRIBUTARY_TIMEOUT: \"50ms\" "
                           "is out of range (100ms..1h)");
}

static void test_range_size(void **state)
{
    struct fx *fx = *state;

    load(fx, ARGV("--max-bytes=2048MiB"), NOENV, NULL);
    expect_one_problem(fx, "option \"--max-bytes\": \"2048MiB\" is out of "
                           "range (1KiB..1GiB)");

    load(fx, ARGV("--max-bytes=10"), NOENV, NULL);
    expect_one_problem(
        fx, "option \"--max-bytes\": \"10\" is out of range (1KiB..1GiB)");
}

static const struct cdc_opt bad_default_opts[] = {
    {.name = "workers", .type = CDC_OPT_INT, .def = "many"},
    {.name = NULL},
};

static void test_default_validated(void **state)
{
    struct fx *fx = *state;

    cdc_conf_add_options(fx->cfg, bad_default_opts);
    load(fx, NOARGS, NOENV, NULL);
    expect_one_problem(fx, "invalid default for \"workers\": \"many\" is not "
                           "an integer");

    /* Overriding it does not hide the broken table. */
    load(fx, ARGV("--workers=2"), NOENV, NULL);
    expect_one_problem(fx, "invalid default for \"workers\": \"many\" is not "
                           "an integer");
}

/* ==== YAML shape ==== */

static void test_unknown_key(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "port: 1\n# a comment\n\n\n\n\nprot: 2\n", path, sizeof path);
    expect_file_problem(fx, path, ":7: unknown key \"prot\"");
}

static void test_known_key_accepted(void **state)
{
    struct fx *fx = *state;
    char path[512];

    /* Another command's keys are accepted and left to it to check. */
    load_yaml(fx,
              "webhook-url: http://example.com\n"
              "webhook-port: not-a-number\n"
              "api-key-file: /does/not/exist\n"
              "port: 2\n",
              path, sizeof path);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "port"), 2);
}

static void test_cli_only_key(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "help: true\n", path, sizeof path);
    expect_file_problem(fx, path,
                        ":1: \"help\" can only be given on the command line");
}

static void test_duplicate_key(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "port: 1\ngroup: g\nport: 2\n", path, sizeof path);
    expect_file_problem(fx, path, ":3: duplicate key \"port\"");
}

static void test_nested_mapping(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "port: 1\n\n\ntables:\n  a: b\n", path, sizeof path);
    expect_file_problem(fx, path,
                        ":4: \"tables\" must be a scalar or a list of scalars");

    load_yaml(fx, "tables:\n  - a\n  - [b, c]\n", path, sizeof path);
    expect_file_problem(fx, path,
                        ":1: \"tables\" must be a scalar or a list of scalars");
}

static void test_list_yaml_sequence(void **state)
{
    struct fx *fx = *state;
    char path[512];
    const char *const *items = NULL;

    load_yaml(fx, "tables:\n  - public.a\n  - \"b,c\"\n  - ''\n", path,
              sizeof path);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_list(fx->cfg, "tables", &items), 2);
    assert_string_equal(items[0], "public.a");
    assert_string_equal(items[1], "b,c");

    load_yaml(fx, "tables: [x, y]\n", path, sizeof path);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_list(fx->cfg, "tables", &items), 2);
    assert_string_equal(items[1], "y");
    assert_string_equal(cdc_conf_get_str(fx->cfg, "tables"), "x,y");
}

static void test_list_comma_string(void **state)
{
    struct fx *fx = *state;
    const char *const *items = NULL;

    load(fx, NOARGS, ENVP("TRIBUTARY_TABLES= a ,b,, c "), NULL);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_list(fx->cfg, "tables", &items), 3);
    assert_string_equal(items[0], "a");
    assert_string_equal(items[1], "b");
    assert_string_equal(items[2], "c");
}

static void test_list_for_scalar_option(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "port: [1, 2]\n", path, sizeof path);
    expect_file_problem(fx, path,
                        ":1: \"port\" takes a single value, not a list");
}

static void test_malformed_yaml(void **state)
{
    struct fx *fx = *state;
    char path[512];

    /* Only the syntax error, not also the half-read "1 bad" value. */
    load_yaml(fx, "port: 1\n  bad: x\n", path, sizeof path);
    expect_file_problem(fx, path,
                        ":2: cannot parse YAML: mapping values are not "
                        "allowed in this context");

    load_yaml(fx, "group: g\ntables: [a, b\n", path, sizeof path);
    assert_int_equal(fx->rc, CDC_ECONFIG);
    assert_int_equal(fx->lines, 1);
    assert_non_null(strstr(fx->err.msg, ": cannot parse YAML: "));
}

static void test_not_a_mapping(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "- a\n- b\n", path, sizeof path);
    expect_file_problem(fx, path,
                        ":1: the config file must be a mapping of option "
                        "names to values");

    load_yaml(fx, "port: 1\n---\nport: 2\n", path, sizeof path);
    expect_file_problem(fx, path,
                        ":2: the config file must hold one YAML document, "
                        "not several");
}

static void test_alias_rejected(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "group: &g x\nwebhook-url: *g\n", path, sizeof path);
    expect_file_problem(fx, path,
                        ":2: \"webhook-url\": YAML aliases are not supported");
}

static void test_empty_file(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "", path, sizeof path);
    expect_ok(fx);
    assert_string_equal(cdc_conf_file(fx->cfg), path);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "port"), 5432);

    load_yaml(fx, "# nothing here\n", path, sizeof path);
    expect_ok(fx);
    load_yaml(fx, "---\n", path, sizeof path);
    expect_ok(fx);
}

static void test_null_value_is_unset(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "port:\ngroup: ~\n", path, sizeof path);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "port"), 5432);
    assert_int_equal(cdc_conf_origin(fx->cfg, "port"), CDC_ORIGIN_DEFAULT);
    assert_false(cdc_conf_is_set(fx->cfg, "group"));

    /* Quoted, it is a string. */
    load_yaml(fx, "group: \"null\"\n", path, sizeof path);
    expect_ok(fx);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "group"), "null");
}

/* ==== Required options and reporting ==== */

static void test_missing_required(void **state)
{
    struct fx *fx = *state;

    cdc_conf_add_options(fx->cfg, required_opts);
    load(fx, NOARGS, NOENV, NULL);
    assert_int_equal(fx->rc, CDC_ECONFIG);
    assert_int_equal(fx->lines, 2);
    assert_string_equal(fx->err.msg,
                        "missing required option \"slot\" (flag --slot, "
                        "variable TRIBUTARY_SLOT or key \"slot\" in the "
                        "config file)");
    assert_non_null(strstr(fx->out,
                           CMD ": missing required option \"token\" (flag "
                               "--token or --token-file, variable "
                               "TRIBUTARY_TOKEN or TRIBUTARY_TOKEN_FILE, or "
                               "key \"token\" or \"token-file\" in the "
                               "config file)\n"));

    load(fx, ARGV("--slot=s"), ENVP("TRIBUTARY_TOKEN=t"), NULL);
    expect_ok(fx);
}

static void test_required_not_checked_with_help(void **state)
{
    struct fx *fx = *state;

    cdc_conf_add_options(fx->cfg, required_opts);
    load(fx, ARGV("--help"), NOENV, NULL);
    expect_ok(fx);
    assert_true(cdc_conf_get_bool(fx->cfg, "help"));
}

static void test_every_problem_reported(void **state)
{
    struct fx *fx = *state;
    char path[512];
    char cfgvar[600];
    char line[1024];

    put_file(fx, "cfg.yaml", "prot: 1\nport: abc\ntables:\n  x: y\n", path,
             sizeof path);
    snprintf(cfgvar, sizeof cfgvar, "TRIBUTARY_CONFIG=%s", path);
    load(fx, ARGV("--foo", "--", "stray"),
         ENVP(cfgvar, "TRIBUTARY_TIMEOUT=soon"), NULL);
    assert_int_equal(fx->rc, CDC_ECONFIG);
    assert_int_equal(fx->lines, 6);
    assert_string_equal(fx->err.msg, "unknown option \"--foo\"");
    assert_non_null(strstr(fx->out, CMD ": unexpected argument \"stray\"\n"));
    snprintf(line, sizeof line, CMD ": %s:1: unknown key \"prot\"\n", path);
    assert_non_null(strstr(fx->out, line));
    snprintf(line, sizeof line,
             CMD ": %s:2: invalid value for \"port\": \"abc\" is not an "
                 "integer\n",
             path);
    assert_non_null(strstr(fx->out, line));
    snprintf(line, sizeof line,
             CMD ": %s:3: \"tables\" must be a scalar or a list of "
                 "scalars\n",
             path);
    assert_non_null(strstr(fx->out, line));
    assert_non_null(strstr(fx->out, CMD ": environment variable "
                                        "TRIBUTARY_TIMEOUT: \"soon\" is not "
                                        "a duration"));
}

/* The word after an unknown option is taken as its value: one mistake,
 * one line. */
static void test_unknown_option_value_not_reported_again(void **state)
{
    struct fx *fx = *state;

    load(fx, ARGV("--prot", "5432"), ENVP(NULL), NULL);
    assert_int_equal(fx->rc, CDC_ECONFIG);
    assert_int_equal(fx->lines, 1);
    assert_string_equal(fx->err.msg, "unknown option \"--prot\"");
}

static void test_failed_load_keeps_nothing(void **state)
{
    struct fx *fx = *state;
    char path[512];

    load_yaml(fx, "port: 7\ngroup: g\nprot: 1\n", path, sizeof path);
    assert_int_equal(fx->rc, CDC_ECONFIG);
    assert_false(cdc_conf_is_set(fx->cfg, "port"));
    assert_false(cdc_conf_is_set(fx->cfg, "group"));
    assert_null(cdc_conf_file(fx->cfg));

    /* The same configuration loads again once fixed. */
    load_yaml(fx, "port: 7\n", path, sizeof path);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "port"), 7);
}

/* ==== Secrets ==== */

static void test_password_file(void **state)
{
    struct fx *fx = *state;
    char secret[512];
    char path[512];
    char var[600];
    char yaml[700];

    put_file(fx, "pw.txt", "s3cret\r\nsecond line\n", secret, sizeof secret);

    load(fx, ARGV("--password-file", secret), NOENV, NULL);
    expect_ok(fx);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "password"), "s3cret");
    assert_int_equal(cdc_conf_origin(fx->cfg, "password"), CDC_ORIGIN_FLAG);

    snprintf(var, sizeof var, "TRIBUTARY_PASSWORD_FILE=%s", secret);
    load(fx, NOARGS, ENVP(var), NULL);
    expect_ok(fx);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "password"), "s3cret");
    assert_int_equal(cdc_conf_origin(fx->cfg, "password"), CDC_ORIGIN_ENV);

    snprintf(yaml, sizeof yaml, "password-file: %s\n", secret);
    load_yaml(fx, yaml, path, sizeof path);
    expect_ok(fx);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "password"), "s3cret");
    assert_int_equal(cdc_conf_origin(fx->cfg, "password"), CDC_ORIGIN_FILE);
}

static void test_password_file_one_line(void **state)
{
    struct fx *fx = *state;
    char secret[512];

    put_file(fx, "pw.txt", "no-newline", secret, sizeof secret);
    load(fx, ARGV("--password-file", secret), NOENV, NULL);
    expect_ok(fx);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "password"), "no-newline");

    put_file(fx, "pw.txt", "", secret, sizeof secret);
    load(fx, ARGV("--password-file", secret), NOENV, NULL);
    expect_ok(fx);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "password"), "");
}

static void test_secret_value_beats_file_form(void **state)
{
    struct fx *fx = *state;
    char secret[512];
    char path[512];
    char var[600];
    char yaml[700];

    put_file(fx, "pw.txt", "from-file\n", secret, sizeof secret);

    /* Same level: the value wins whatever the order. */
    load(fx, ARGV("--password", "direct", "--password-file", secret), NOENV,
         NULL);
    expect_ok(fx);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "password"), "direct");
    load(fx, ARGV("--password-file", secret, "--password", "direct"), NOENV,
         NULL);
    expect_ok(fx);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "password"), "direct");

    /* Across levels: the usual precedence. */
    snprintf(var, sizeof var, "TRIBUTARY_PASSWORD_FILE=%s", secret);
    put_file(fx, "cfg.yaml", "password: in-yaml\n", path, sizeof path);
    load(fx, ARGV("--config", path), ENVP(var), NULL);
    expect_ok(fx);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "password"), "from-file");
    assert_int_equal(cdc_conf_origin(fx->cfg, "password"), CDC_ORIGIN_ENV);

    snprintf(yaml, sizeof yaml, "password-file: %s\n", secret);
    load_yaml(fx, yaml, path, sizeof path);
    assert_int_equal(fx->rc, CDC_OK);
    load(fx, ARGV("--config", path, "--password=flag"), NOENV, NULL);
    expect_ok(fx);
    assert_string_equal(cdc_conf_get_str(fx->cfg, "password"), "flag");
}

static void test_password_file_unreadable(void **state)
{
    struct fx *fx = *state;
    char secret[512];
    char path[512];
    char yaml[700];
    char msg[2048];

    path_in(fx, "missing.txt", secret, sizeof secret);
    load(fx, ARGV("--password-file", secret), NOENV, NULL);
    snprintf(msg, sizeof msg,
             "option \"--password-file\": could not open file \"%s\": No such "
             "file or directory",
             secret);
    expect_one_problem(fx, msg);

    snprintf(yaml, sizeof yaml, "port: 1\npassword-file: %s\n", secret);
    load_yaml(fx, yaml, path, sizeof path);
    snprintf(msg, sizeof msg,
             "%s:2: invalid value for \"password-file\": could not open file "
             "\"%s\": No such file or directory",
             path, secret);
    expect_one_problem(fx, msg);
}

static void test_secret_not_echoed_in_errors(void **state)
{
    struct fx *fx = *state;
    char path[512];
    char secret[512];

    load_yaml(fx, "pin: s3cr3t\n", path, sizeof path);
    expect_file_problem(fx, path,
                        ":1: invalid value for \"pin\": the value is not an "
                        "integer");

    put_file(fx, "pin.txt", "s3cr3t\n", secret, sizeof secret);
    load(fx, ARGV("--pin-file", secret, "--pin=s3cr3t"),
         ENVP("TRIBUTARY_PIN=s3cr3t"), NULL);
    assert_int_equal(fx->rc, CDC_ECONFIG);
    assert_int_equal(fx->lines, 3);
    assert_null(strstr(fx->out, "s3cr3t"));

    load_yaml(fx, "password:\n  nested: s3cr3t\n", path, sizeof path);
    assert_int_equal(fx->rc, CDC_ECONFIG);
    assert_null(strstr(fx->out, "s3cr3t"));

    /* A good secret loads, an integer one included. */
    load(fx, ARGV("--pin-file", secret), NOENV, NULL);
    assert_int_equal(fx->rc, CDC_ECONFIG);
    put_file(fx, "pin.txt", "1234\n", secret, sizeof secret);
    load(fx, ARGV("--pin-file", secret), NOENV, NULL);
    expect_ok(fx);
    assert_int_equal(cdc_conf_get_int(fx->cfg, "pin"), 1234);
}

/* ==== Printing ==== */

static void test_print_redacts_secrets(void **state)
{
    struct fx *fx = *state;
    char path[512];
    char text[4096];
    FILE *f;

    load(fx, ARGV("--port", "3333", "--print-config", "--tables=a,b"),
         ENVP("TRIBUTARY_PASSWORD=hunter2", "TRIBUTARY_PIN=4321"), NULL);
    expect_ok(fx);
    path_in(fx, "print.txt", path, sizeof path);
    f = fopen(path, "w");
    assert_non_null(f);
    cdc_conf_print(fx->cfg, f);
    fclose(f);
    read_back(path, text, sizeof text);
    assert_null(strstr(text, "hunter2"));
    assert_null(strstr(text, "4321"));
    assert_non_null(strstr(text, "password = ***  (env)\n"));
    assert_non_null(strstr(text, "pin = ***  (env)\n"));
    assert_non_null(strstr(text, "port = 3333  (flag)\n"));
    assert_non_null(strstr(text, "enabled = true  (default)\n"));
    assert_non_null(strstr(text, "tables = a,b  (flag)\n"));
    assert_non_null(strstr(text, "log-level = info  (default)\n"));
    assert_null(strstr(text, "group"));
    assert_null(strstr(text, "print-config"));
}

static void test_print_help(void **state)
{
    struct fx *fx = *state;
    char path[512];
    char text[8192];
    FILE *f;

    path_in(fx, "help.txt", path, sizeof path);
    f = fopen(path, "w");
    assert_non_null(f);
    cdc_conf_print_help(fx->cfg, f, "worker test [OPTIONS]");
    fclose(f);
    read_back(path, text, sizeof text);
    assert_true(strncmp(text, "Usage: worker test [OPTIONS]\n", 29) == 0);
    assert_non_null(strstr(text, "\n  -h, --help  "));
    assert_non_null(strstr(text, "\n  --port N  "));
    assert_non_null(strstr(text, "server port (default: 5432)\n"));
    assert_non_null(strstr(text, "\n  --enabled  "));
    assert_non_null(strstr(text, "\n  --password-file PATH  "));
    assert_non_null(strstr(text, "TRIBUTARY_<NAME>"));
    assert_null(strstr(text, "TRIBUTARY_PORT"));
    /* Long descriptions wrap within 80 columns. */
    for (const char *l = text; *l != '\0';) {
        const char *nl = strchr(l, '\n');

        assert_non_null(nl);
        assert_true(nl - l <= 80);
        l = nl + 1;
    }
    /* Aligned: every description, and every wrapped continuation, starts
     * in the same column. */
    {
        const char *a = strstr(text, "server port");
        const char *b = strstr(text, "group name");
        char wrapped[256];

        assert_non_null(a);
        assert_non_null(b);
        while (a > text && a[-1] != '\n')
            a--;
        while (b > text && b[-1] != '\n')
            b--;
        assert_int_equal(strstr(a, "server port") - a,
                         strstr(b, "group name") - b);
        snprintf(wrapped, sizeof wrapped,
                 "debug\n%*sor trace (default: info)\n",
                 (int)(strstr(a, "server port") - a), "");
        assert_non_null(strstr(text, wrapped));
    }
}

static void test_print_help_usage_verbatim(void **state)
{
    struct fx *fx = *state;
    char path[512];
    char text[8192];
    FILE *f;

    path_in(fx, "help.txt", path, sizeof path);
    f = fopen(path, "w");
    assert_non_null(f);
    cdc_conf_print_help(fx->cfg, f,
                        "usage: worker test --group NAME\n"
                        "Copies rows somewhere.\n");
    cdc_conf_print_help(fx->cfg, f, NULL);
    fclose(f);
    read_back(path, text, sizeof text);
    assert_true(strncmp(text,
                        "usage: worker test --group NAME\n"
                        "Copies rows somewhere.\n\nOptions:\n",
                        65) == 0);
    assert_non_null(strstr(text, "\nUsage: " CMD " [OPTIONS]\n\nOptions:\n"));
}

/* ==== Robustness ==== */

static void test_get_unknown_name_is_bug(void **state)
{
    struct fx *fx = *state;
    pid_t pid;
    int status = 0;

    load(fx, NOARGS, NOENV, NULL);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(null, 2);
        (void)cdc_conf_get_str(fx->cfg, "no-such-option");
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_hostile_input(void **state)
{
    struct fx *fx = *state;
    static const struct {
        const char *data;
        size_t len;
    } files[] = {
        {"port: \"a\0b\"\n", 12},
        {"\0\0\0", 3},
        {"\xff\xfe\x00p", 4},
        {"port: \"\\0\"\n", 11},
        {"? [a, b]\n: c\n", 13},
        {"{port: 1, port: 2}\n", 19},
        {"tables: [[[[[[[[[[[]]]]]]]]]]]\n", 31},
        {"tables: [a, *x]\n", 16},
        {"&a port: 1\n", 11},
        {"!!map {}\n", 9},
        {"42\n", 3},
        {"'\n", 2},
        {"port: 99999999999999999999999\n", 30},
        {"max-bytes: 99999999999999999999GiB\n", 35},
        {"timeout: -5s\n", 13},
        {"password-file: \"\"\n", 18},
        {"%YAML 9.9\n---\na: b\n", 19},
        {"---\n...\n---\n", 12},
    };
    char path[512];
    char deep[4096];

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        put_bytes(fx, "cfg.yaml", files[i].data, files[i].len, path,
                  sizeof path);
        load(fx, ARGV("--config", path), NOENV, NULL);
        assert_true(fx->rc == CDC_OK || fx->rc == CDC_ECONFIG);
    }
    memset(deep, '[', sizeof deep);
    memcpy(deep, "tables: ", 8);
    put_bytes(fx, "cfg.yaml", deep, sizeof deep, path, sizeof path);
    load(fx, ARGV("--config", path), NOENV, NULL);
    assert_int_equal(fx->rc, CDC_ECONFIG);

    load(fx, ARGV("", "-", "--", "x"), NOENV, NULL);
    assert_int_equal(fx->lines, 3);
    load(fx, ARGV("--=", "---", "--port=", "--password-file=", "--\n\x01"),
         ENVP("TRIBUTARY_PORT", "=", "TRIBUTARY_PORT==1"), NULL);
    assert_int_equal(fx->rc, CDC_ECONFIG);
    assert_null(strchr(fx->out, '\x01'));
    load(fx, ARGV("--group"), NULL, NULL);
    assert_int_equal(fx->rc, CDC_ECONFIG);
}

static void test_long_value_cut_in_message(void **state)
{
    struct fx *fx = *state;
    char big[5000];

    memset(big, '9', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[0] = 'x';
    load(fx, ARGV("--port", big), NOENV, NULL);
    assert_int_equal(fx->rc, CDC_ECONFIG);
    assert_int_equal(fx->lines, 1);
    assert_true(strlen(fx->out) < 200);
    assert_non_null(strstr(fx->err.msg, "...\" is not an integer"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_precedence),
        T(test_config_flag_beats_env),
        T(test_default_file_in_home),
        T(test_default_file_errors_reported),
        T(test_missing_config_file),
        T(test_config_file_is_directory),
        T(test_flag_forms),
        T(test_flag_value_with_equals),
        T(test_secret_flag_scrubbed),
        T(test_bool_flag_false),
        T(test_bool_flag_does_not_take_next),
        T(test_unknown_flag),
        T(test_flag_of_other_command),
        T(test_positional_argument),
        T(test_flag_missing_value),
        T(test_flag_invalid_value),
        T(test_env_error_names_variable),
        T(test_env_names_and_others_ignored),
        T(test_types_parse),
        T(test_reject_int),
        T(test_reject_bool),
        T(test_reject_duration),
        T(test_reject_size),
        T(test_reject_log_level),
        T(test_range_int),
        T(test_range_not_negative),
        T(test_range_duration),
        T(test_range_size),
        T(test_default_validated),
        T(test_unknown_key),
        T(test_known_key_accepted),
        T(test_cli_only_key),
        T(test_duplicate_key),
        T(test_nested_mapping),
        T(test_list_yaml_sequence),
        T(test_list_comma_string),
        T(test_list_for_scalar_option),
        T(test_malformed_yaml),
        T(test_not_a_mapping),
        T(test_alias_rejected),
        T(test_empty_file),
        T(test_null_value_is_unset),
        T(test_missing_required),
        T(test_required_not_checked_with_help),
        T(test_every_problem_reported),
        T(test_unknown_option_value_not_reported_again),
        T(test_failed_load_keeps_nothing),
        T(test_password_file),
        T(test_password_file_one_line),
        T(test_secret_value_beats_file_form),
        T(test_password_file_unreadable),
        T(test_secret_not_echoed_in_errors),
        T(test_print_redacts_secrets),
        T(test_print_help),
        T(test_print_help_usage_verbatim),
        T(test_get_unknown_name_is_bug),
        T(test_hostile_input),
        T(test_long_value_cut_in_message),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
