/*
 * values_common.c: the pure helpers that the value conversions of the
 * database sinks share (mysql_values.c, pg_values.c): type names made
 * comparable, lists of names, digits, base64, hex digits and the refusal
 * of a value that can never be written. No server, no I/O, no state.
 */
#include "sinks/sink_int.h"

#include <string.h>

const char *const sink__mysql_binary_types[] = {
    "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", NULL,
};

bool sink__norm_type(const char *type, char *out, size_t outsz)
{
    size_t n = 0;
    int depth = 0;
    for (const char *p = type; *p; p++) {
        char c = *p;
        if (c == '(') {
            depth++;
            continue;
        }
        if (c == ')') {
            depth -= depth > 0;
            continue;
        }
        if (depth > 0)
            continue;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c == ' ' && (n == 0 || out[n - 1] == ' '))
            continue;
        if (n + 1 >= outsz)
            return false;
        out[n++] = c;
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    return true;
}

bool sink__is_one_of(const char *s, const char *const *names)
{
    for (; *names != NULL; names++)
        if (strcmp(s, *names) == 0)
            return true;
    return false;
}

bool sink__digits(const char **p, const char *end, int n, int64_t *out)
{
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        if (*p >= end || **p < '0' || **p > '9')
            return false;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return true;
}

int64_t sink__days_in_month(int64_t y, int64_t m)
{
    static const int64_t days[12] = {31, 28, 31, 30, 31, 30,
                                     31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int64_t sink__days_from_civil(int64_t y, int64_t m, int64_t d)
{
    /* counted from March, so that the leap day ends a year */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int sink__refuse(struct cdc_err *err, const char *what, const char *v,
                 size_t len)
{
    return cdc_err_set(err, CDC_EPROTO, CDC_ERR_POISON, "%s: \"%.*s\"", what,
                       SINK_SHOWN(len), v);
}

void sink__append_hex_byte(struct cdc_buf *out, unsigned byte)
{
    static const char hex[] = "0123456789abcdef";
    cdc_buf_append_char(out, hex[(byte >> 4) & 0xf]);
    cdc_buf_append_char(out, hex[byte & 0xf]);
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int sink__base64_decode(const char *v, size_t len, bool bytea_hex,
                        struct cdc_buf *out, struct cdc_err *err)
{
    size_t n = len;
    while (n > 0 && v[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return sink__refuse(err, "malformed base64 value", v, len);
    /* room for every byte at once: the loop below appends unchecked */
    size_t bytes = n / 4 * 3 + 2;
    int rc = cdc_buf_reserve(out, bytea_hex ? 2 + bytes * 2 : bytes + 1);
    if (rc != CDC_OK)
        return rc;
    if (bytea_hex)
        cdc_buf_append(out, "\\x", 2);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int x = b64val(v[i]);
        if (x < 0)
            return sink__refuse(err, "malformed base64 value", v, len);
        acc = (acc << 6) | (uint32_t)x;
        bits += 6;
        if (bits < 8)
            continue;
        bits -= 8;
        if (bytea_hex)
            sink__append_hex_byte(out, (acc >> bits) & 0xff);
        else
            cdc_buf_append_char(out, (char)((acc >> bits) & 0xff));
    }
    return CDC_OK;
}
