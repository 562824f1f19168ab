/*
 * util.c: small pieces shared by every part: error details, strict
 * parsers for numbers, booleans, durations, sizes and LSNs, clocks,
 * backoff, signal flags, names derived from a group, and DSN redaction.
 * Parsers accept a whole string or fail; nothing here logs.
 */
#include "common/common.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <execinfo.h>
#include <unistd.h>

/* ==== Errors ==== */

int cdc_err_set(struct cdc_err *err, int code, unsigned flags, const char *fmt,
                ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    err->flags = flags;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    cdc_one_line(err->msg);
    return code;
}

int cdc_err_prefix(struct cdc_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return CDC_EIO;
    char ctx[CDC_ERR_MSG_MAX];
    char old[CDC_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* truncation is acceptable: the message is for people */
    if (snprintf(err->msg, sizeof(err->msg), "%s: %s", ctx, old) < 0)
        err->msg[0] = '\0';
    return err->code;
}

void cdc_one_line(char *s)
{
    /* library messages (libpq's above all) end in newlines and may hold
     * several lines: a log line or an error must be one line */
    char *w = s;
    bool space = false;
    for (const char *r = s; *r != '\0'; r++) {
        char c = *r;
        if (c == '\n' || c == '\r' || c == '\t')
            c = ' ';
        if (c == ' ' && (space || w == s))
            continue;
        space = c == ' ';
        *w++ = c;
    }
    while (w > s && w[-1] == ' ')
        w--;
    *w = '\0';
}

void cdc_err_clear(struct cdc_err *err)
{
    err->code = CDC_OK;
    err->flags = 0;
    err->index = 0;
    err->msg[0] = '\0';
}

const char *cdc_status_str(int code)
{
    switch (code) {
    case CDC_OK: return "ok";
    case CDC_EIO: return "i/o error";
    case CDC_ENOMEM: return "out of memory";
    case CDC_ETOOBIG: return "too big";
    case CDC_EPROTO: return "protocol error";
    case CDC_ECONFIG: return "configuration error";
    case CDC_ETIMEDOUT: return "timed out";
    case CDC_ENOTFOUND: return "not found";
    case CDC_ESTATE: return "state conflict";
    case CDC_ESTOP: return "stopped";
    case CDC_PENDING: return "pending";
    default: return "unknown error";
    }
}

_Noreturn void cdc_bug(const char *file, int line, const char *what)
{
    fprintf(stderr, "fatal: internal error at %s:%d: %s\n", file, line, what);
    abort();
}

/* ==== Parsers ==== */

int cdc_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (s == NULL)
        return CDC_ECONFIG;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0')
        return CDC_ECONFIG;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s)
        return CDC_ECONFIG;
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0' || v < min || v > max)
        return CDC_ECONFIG;
    *out = (int64_t)v;
    return CDC_OK;
}

int cdc_parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"true", "yes", "on", "1", "t", "y"};
    static const char *no[] = {"false", "no", "off", "0", "f", "n"};
    if (s == NULL)
        return CDC_ECONFIG;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return CDC_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return CDC_OK;
        }
    }
    return CDC_ECONFIG;
}

/* Splits "<number><unit>" into a non-negative integer and its unit. */
static int split_number_unit(const char *s, int64_t *num, const char **unit)
{
    if (s == NULL)
        return CDC_ECONFIG;
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return CDC_ECONFIG;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || v > INT64_MAX)
        return CDC_ECONFIG;
    while (isspace((unsigned char)*end))
        end++;
    *num = (int64_t)v;
    *unit = end;
    return CDC_OK;
}

static int mul_checked(int64_t a, int64_t b, int64_t *out)
{
    if (a != 0 && b > INT64_MAX / a)
        return CDC_ECONFIG;
    *out = a * b;
    return CDC_OK;
}

int cdc_parse_duration_ms(const char *s, int64_t *out_ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {
        {"", 1000},      {"ms", 1},       {"s", 1000},  {"sec", 1000},
        {"m", 60000},    {"min", 60000},  {"h", 3600000}, {"d", 86400000},
    };
    int64_t num = 0;
    const char *unit = NULL;
    if (split_number_unit(s, &num, &unit) != CDC_OK)
        return CDC_ECONFIG;
    size_t ulen = strlen(unit);
    while (ulen > 0 && isspace((unsigned char)unit[ulen - 1]))
        ulen--;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strlen(units[i].unit) == ulen &&
            strncasecmp(unit, units[i].unit, ulen) == 0)
            return mul_checked(num, units[i].ms, out_ms);
    }
    return CDC_ECONFIG;
}

int cdc_parse_size(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t mult;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1024},
        {"kb", 1000},
        {"kib", 1024},
        {"m", 1024 * 1024},
        {"mb", 1000 * 1000},
        {"mib", 1024 * 1024},
        {"g", 1024LL * 1024 * 1024},
        {"gb", 1000LL * 1000 * 1000},
        {"gib", 1024LL * 1024 * 1024},
    };
    int64_t num = 0;
    const char *unit = NULL;
    if (split_number_unit(s, &num, &unit) != CDC_OK)
        return CDC_ECONFIG;
    size_t ulen = strlen(unit);
    while (ulen > 0 && isspace((unsigned char)unit[ulen - 1]))
        ulen--;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strlen(units[i].unit) == ulen &&
            strncasecmp(unit, units[i].unit, ulen) == 0)
            return mul_checked(num, units[i].mult, out);
    }
    return CDC_ECONFIG;
}

static int parse_hex32(const char *s, size_t len, uint32_t *out)
{
    if (len == 0 || len > 8)
        return CDC_EPROTO;
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (uint32_t)(c - 'A' + 10);
        else
            return CDC_EPROTO;
        v = (v << 4) | d;
    }
    *out = v;
    return CDC_OK;
}

int cdc_lsn_parse(const char *s, uint64_t *out)
{
    if (s == NULL)
        return CDC_EPROTO;
    const char *slash = strchr(s, '/');
    if (slash == NULL)
        return CDC_EPROTO;
    uint32_t hi = 0;
    uint32_t lo = 0;
    if (parse_hex32(s, (size_t)(slash - s), &hi) != CDC_OK ||
        parse_hex32(slash + 1, strlen(slash + 1), &lo) != CDC_OK)
        return CDC_EPROTO;
    *out = ((uint64_t)hi << 32) | lo;
    return CDC_OK;
}

void cdc_lsn_format(uint64_t lsn, char *out, size_t outsz)
{
    snprintf(out, outsz, "%X/%X", (unsigned)(lsn >> 32),
             (unsigned)(lsn & 0xffffffffu));
}

void cdc_size_format(uint64_t bytes, char *out, size_t outsz)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        snprintf(out, outsz, "%u B", (unsigned)bytes);
        return;
    }
    double v = (double)bytes / 1024.0;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    snprintf(out, outsz, "%.1f %s", v, units[u]);
}

/* ==== Time ==== */

int64_t cdc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cdc_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void cdc_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

bool cdc_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    ts.tv_sec += (time_t)(ms / 1000) + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return pthread_cond_timedwait(cv, mu, &ts) != ETIMEDOUT;
}

void cdc_sleep_ms(int64_t ms)
{
    /* sleep in slices so a stop request is noticed within 50 ms */
    int64_t end = cdc_now_ms() + ms;
    while (!cdc_stop_requested) {
        int64_t left = end - cdc_now_ms();
        if (left <= 0)
            break;
        if (left > 50)
            left = 50;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = left * 1000000};
        nanosleep(&ts, NULL);
    }
}

void cdc_time_format_us(int64_t us, char *out, size_t outsz)
{
    time_t secs = (time_t)(us / 1000000);
    int64_t frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%06" PRId64 "Z",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, frac);
}

int cdc_time_parse_us(const char *s, int64_t *us)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int n = 0;
    if (s == NULL ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
        n != 19)
        return CDC_EPROTO;
    int64_t frac = 0;
    const char *p = s + n;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            if (digits < 6)
                frac = frac * 10 + (*p - '0');
        }
        if (digits == 0)
            return CDC_EPROTO;
        for (; digits < 6; digits++)
            frac *= 10;
    }
    if (strcmp(p, "Z") != 0 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
        tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return CDC_EPROTO;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *us = (int64_t)timegm(&tm) * 1000000 + frac;
    return CDC_OK;
}

/* ==== Backoff ==== */

void cdc_backoff_init(struct cdc_backoff *bo, int64_t initial_ms,
                      int64_t max_ms)
{
    bo->initial_ms = initial_ms > 0 ? initial_ms : 1;
    bo->max_ms = max_ms > bo->initial_ms ? max_ms : bo->initial_ms;
    cdc_backoff_reset(bo);
}

void cdc_backoff_reset(struct cdc_backoff *bo)
{
    bo->current_ms = bo->initial_ms;
    bo->attempt = 0;
}

int64_t cdc_backoff_next(struct cdc_backoff *bo)
{
    int64_t base = bo->current_ms;
    if (bo->current_ms < bo->max_ms / 2)
        bo->current_ms *= 2;
    else
        bo->current_ms = bo->max_ms;
    bo->attempt++;
    /* jitter: 75% to 100% of the base, so many processes restarted together
     * do not retry in lockstep */
    int64_t jitter = base / 4;
    if (jitter > 0)
        base -= (int64_t)(random() % (jitter + 1));
    return base;
}

/* ==== Signals ==== */

volatile sig_atomic_t cdc_stop_requested;
volatile sig_atomic_t cdc_reopen_requested;

static void on_stop(int sig)
{
    (void)sig;
    cdc_stop_requested = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    cdc_reopen_requested = 1;
}

void cdc_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    /* backtrace() loads its unwinder on first use (a dlopen, which may
     * allocate and takes the loader's lock): done here, while the process
     * has one thread, so the shutdown watchdog never does it with other
     * threads running */
    void *frame[1];
    (void)backtrace(frame, 1);
}

static volatile sig_atomic_t watchdog_code;

static void on_watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "releasing resources at shutdown takes too "
                              "long: exiting now\n";
    ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)n;
    /* where this thread was stuck, for whoever reads the log */
    void *frames[32];
    int depth = backtrace(frames, 32);
    backtrace_symbols_fd(frames, depth, STDERR_FILENO);
    _exit(watchdog_code);
}

void cdc_shutdown_watchdog(unsigned seconds, int code)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_watchdog;
    watchdog_code = code;
    sigaction(SIGALRM, &sa, NULL);
    alarm(seconds);
}

/* ==== Names ==== */

/* 48 characters keep "tributary_<group>" within PostgreSQL's 63-byte
 * identifier limit with room for suffixes. */
#define GROUP_MAX 48

int cdc_group_validate(const char *group, struct cdc_err *err)
{
    size_t len = group ? strlen(group) : 0;
    if (len == 0)
        return cdc_err_set(err, CDC_ECONFIG, 0, "group must not be empty");
    if (len > GROUP_MAX)
        return cdc_err_set(err, CDC_ECONFIG, 0,
                           "group \"%.60s\" is too long: at most %d characters",
                           group, GROUP_MAX);
    for (size_t i = 0; i < len; i++) {
        char c = group[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (!ok)
            return cdc_err_set(err, CDC_ECONFIG, 0,
                               "group \"%.60s\" is invalid: use lower-case "
                               "letters, digits, '-' and '_' only",
                               group);
    }
    return CDC_OK;
}

static void name_with(const char *prefix, const char *group, bool dash_to_us,
                      char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s%s", prefix, group);
    if (n < 0)
        out[0] = '\0';
    if (!dash_to_us)
        return;
    for (char *p = out; *p; p++) {
        if (*p == '-')
            *p = '_';
    }
}

void cdc_name_pg(const char *group, char *out, size_t outsz)
{
    name_with("tributary_", group, true, out, outsz);
}

void cdc_name_stream(const char *group, char *out, size_t outsz)
{
    name_with("TRIBUTARY_", group, false, out, outsz);
}

void cdc_name_stream_subjects(const char *group, char *out, size_t outsz)
{
    if (snprintf(out, outsz, "tributary.%s.>", group) < 0)
        out[0] = '\0';
}

void cdc_name_dlq_stream(const char *group, char *out, size_t outsz)
{
    name_with("TRIBUTARY_DLQ_", group, false, out, outsz);
}

void cdc_name_dlq_subject(const char *group, const char *sink, char *out,
                          size_t outsz)
{
    if (snprintf(out, outsz, "tributary_dlq.%s.%s", group, sink) < 0)
        out[0] = '\0';
}

void cdc_name_kv(const char *group, char *out, size_t outsz)
{
    name_with("tributary_", group, false, out, outsz);
}

static int append_token(struct cdc_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = CDC_OK;
    if (*s == '\0')
        return cdc_buf_append_str(out, "%00");
    for (const unsigned char *p = (const unsigned char *)s;
         *p && rc == CDC_OK; p++) {
        unsigned char c = *p;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (plain) {
            rc = cdc_buf_append_char(out, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = cdc_buf_append(out, e, 3);
        }
    }
    return rc;
}

int cdc_name_subject(const char *group, const char *schema, const char *table,
                     struct cdc_buf *out)
{
    int rc = cdc_buf_append_str(out, "tributary.");
    if (rc == CDC_OK)
        rc = cdc_buf_append_str(out, group);
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(out, '.');
    if (rc == CDC_OK)
        rc = append_token(out, schema ? schema : "");
    if (rc == CDC_OK)
        rc = cdc_buf_append_char(out, '.');
    if (rc == CDC_OK)
        rc = append_token(out, table ? table : "");
    return rc;
}

/* ==== DSN redaction ==== */

/* Keys whose values are secrets, in a conninfo (key=value) and among URL
 * query parameters (libpq accepts any conninfo key there). */
static const char *const secret_keys[] = {"password", "sslpassword", NULL};

/* Schemes whose userinfo without a colon is only a user name. For any
 * other scheme it may be the credential itself (nats://token@host,
 * https://token@host), so it is hidden. */
static const char *const user_only_schemes[] = {
    "postgres", "postgresql", "mysql", "mariadb", "mongodb", "mongodb+srv",
    NULL};

/* Bounded output that always stays NUL-terminated; what does not fit is
 * dropped. Secrets are never written, so a cut cannot expose part of one. */
struct redact_out {
    char *buf;
    size_t size;
    size_t len;
};

static void put(struct redact_out *w, const char *s, size_t n)
{
    size_t room = w->size - 1 - w->len;
    if (n > room)
        n = room;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

/* Length of the secret key at s if one starts there, else 0. */
static size_t secret_key_len(const char *s)
{
    for (size_t i = 0; secret_keys[i] != NULL; i++) {
        size_t n = strlen(secret_keys[i]);
        if (strncmp(s, secret_keys[i], n) == 0)
            return n;
    }
    return 0;
}

static bool is_scheme_char(char c)
{
    return isalnum((unsigned char)c) || c == '+' || c == '-' || c == '.';
}

/* True if the scheme just before "://" at sep (within dsn) is one whose
 * userinfo may be a user name alone. */
static bool scheme_is_user_only(const char *dsn, const char *sep)
{
    const char *start = sep;
    while (start > dsn && is_scheme_char(start[-1]))
        start--;
    size_t n = (size_t)(sep - start);
    for (size_t i = 0; user_only_schemes[i] != NULL; i++) {
        if (strlen(user_only_schemes[i]) == n &&
            strncasecmp(start, user_only_schemes[i], n) == 0)
            return true;
    }
    return false;
}

/* At the authority of a URL: writes its userinfo with the password, or a
 * token, replaced and returns where copying goes on (at the '@'). The
 * userinfo ends at the last '@' before the first '/' (libpq's rule), so a
 * password with a raw '@', '?' or ',' is still hidden whole. */
static const char *put_userinfo(struct redact_out *w, const char *auth,
                                bool user_only)
{
    size_t n = strcspn(auth, "/");
    const char *at = NULL;
    for (size_t i = 0; i < n; i++) {
        if (auth[i] == '@')
            at = auth + i;
    }
    if (at == NULL)
        return auth;
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon != NULL) {
        put(w, auth, (size_t)(colon + 1 - auth));
        put(w, "***", 3);
        return at;
    }
    if (user_only)
        return auth; /* a user name: copied by the caller like the rest */
    put(w, "***", 3);
    return at;
}

/* At a conninfo value after "key": skips blanks, '=', blanks and the value
 * (single-quoted with backslash escapes, or bare up to a blank). Returns
 * the end of the value, or NULL if no '=' follows the key. */
static const char *skip_conninfo_value(const char *q)
{
    while (isspace((unsigned char)*q))
        q++;
    if (*q != '=')
        return NULL;
    q++;
    while (isspace((unsigned char)*q))
        q++;
    if (*q != '\'') {
        while (*q && !isspace((unsigned char)*q))
            q++;
        return q;
    }
    q++;
    while (*q && *q != '\'') {
        if (*q == '\\' && q[1])
            q++;
        q++;
    }
    return *q ? q + 1 : q;
}

/*
 * One pass over the text that handles both forms and lists of them, so a
 * string that mixes them (a URL inside a conninfo value, several URLs
 * separated by commas as nats-url takes them) leaks nothing either:
 *  - a secret key at the start or after a blank, with '=': conninfo;
 *  - "://": the userinfo of a URL;
 *  - a secret key after '?' or '&', with '=': a URL query parameter,
 *    whose value runs to the next '&' or the end.
 * When in doubt it hides more than needed: the output is only for logs.
 */
void cdc_redact_dsn(const char *dsn, char *out, size_t outsz)
{
    if (outsz == 0)
        return;
    out[0] = '\0';
    if (dsn == NULL)
        return;
    struct redact_out w = {.buf = out, .size = outsz, .len = 0};
    const char *p = dsn;
    while (*p != '\0' && w.len + 1 < w.size) {
        size_t k = 0;
        if (p == dsn || isspace((unsigned char)p[-1]))
            k = secret_key_len(p);
        const char *value_end = k > 0 ? skip_conninfo_value(p + k) : NULL;
        if (value_end != NULL) {
            put(&w, p, k);
            put(&w, "=***", 4);
            p = value_end;
            continue;
        }
        if (strncmp(p, "://", 3) == 0) {
            bool user_only = scheme_is_user_only(dsn, p);
            put(&w, p, 3);
            p = put_userinfo(&w, p + 3, user_only);
            continue;
        }
        if (*p == '?' || *p == '&') {
            k = secret_key_len(p + 1);
            if (k > 0 && p[1 + k] == '=') {
                put(&w, p, 1 + k + 1);
                put(&w, "***", 3);
                p += 1 + k + 1;
                p += strcspn(p, "&");
                continue;
            }
        }
        put(&w, p, 1);
        p++;
    }
}

bool cdc_db_connect_retriable(const char *msg)
{
    return strstr(msg, "authentication") == NULL &&
           strstr(msg, "does not exist") == NULL &&
           strstr(msg, "password") == NULL &&
           strstr(msg, "permission denied") == NULL;
}
