/*
 * compare.c: compares column values in their source text form (what
 * PostgreSQL or MySQL print) with values written in a rules file, by the
 * column's kind of type, and masks values character by character.
 * Numbers compare exactly as decimals, with or without an exponent; NaN
 * equals NaN and sorts above everything, Infinity included (PostgreSQL's
 * order). A date or timestamp without a zone is read as UTC, a date alone
 * as its midnight UTC, and " BC" years are read (1 BC is year 0).
 * Deliberately not here: zone names ("Europe/Paris"), intervals, locale
 * collation of text. Comparing allocates nothing and reads neither the
 * locale nor TZ (no strtod, no mktime).
 */
#include "rules/rules_int.h"

#include <string.h>

/* ==== Small readers ==== */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Whether v (len bytes) is lit, ASCII case ignored; lit is lower case. */
static bool eq_ci(const char *v, size_t len, const char *lit)
{
    if (strlen(lit) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (lower(v[i]) != lit[i])
            return false;
    }
    return true;
}

static int sign_of(int64_t d)
{
    return (d > 0) - (d < 0);
}

/* ==== Kinds of types ==== */

static const struct {
    const char *name;
    enum rules__kind kind;
} kind_names[] = {
    /* PostgreSQL, short and long names */
    {"int2", RULES_KIND_NUMBER},
    {"int4", RULES_KIND_NUMBER},
    {"int8", RULES_KIND_NUMBER},
    {"smallint", RULES_KIND_NUMBER},
    {"integer", RULES_KIND_NUMBER},
    {"bigint", RULES_KIND_NUMBER},
    {"smallserial", RULES_KIND_NUMBER},
    {"serial", RULES_KIND_NUMBER},
    {"bigserial", RULES_KIND_NUMBER},
    {"serial2", RULES_KIND_NUMBER},
    {"serial4", RULES_KIND_NUMBER},
    {"serial8", RULES_KIND_NUMBER},
    {"float4", RULES_KIND_NUMBER},
    {"float8", RULES_KIND_NUMBER},
    {"real", RULES_KIND_NUMBER},
    {"double precision", RULES_KIND_NUMBER},
    {"float", RULES_KIND_NUMBER},
    {"numeric", RULES_KIND_NUMBER},
    {"decimal", RULES_KIND_NUMBER},
    {"oid", RULES_KIND_NUMBER},
    {"bool", RULES_KIND_BOOL},
    {"boolean", RULES_KIND_BOOL},
    {"date", RULES_KIND_INSTANT},
    {"timestamp", RULES_KIND_INSTANT},
    {"timestamptz", RULES_KIND_INSTANT},
    {"timestamp with time zone", RULES_KIND_INSTANT},
    {"timestamp without time zone", RULES_KIND_INSTANT},
    {"time", RULES_KIND_TIME},
    {"timetz", RULES_KIND_TIME},
    {"time with time zone", RULES_KIND_TIME},
    {"time without time zone", RULES_KIND_TIME},
    {"uuid", RULES_KIND_UUID},
    /* MySQL and MariaDB; "tinyint(1)" is a number there, bool an alias */
    {"tinyint", RULES_KIND_NUMBER},
    {"mediumint", RULES_KIND_NUMBER},
    {"middleint", RULES_KIND_NUMBER},
    {"int", RULES_KIND_NUMBER},
    {"int1", RULES_KIND_NUMBER},
    {"int3", RULES_KIND_NUMBER},
    {"double", RULES_KIND_NUMBER},
    {"dec", RULES_KIND_NUMBER},
    {"fixed", RULES_KIND_NUMBER},
    {"year", RULES_KIND_NUMBER},
    {"datetime", RULES_KIND_INSTANT},
};

/* Longer than any name above with its modifiers: a longer type is text. */
#define TYPE_NAME_MAX 64

/*
 * Writes type lower case into out with modifiers in parentheses left out
 * and runs of blanks as one space ("Timestamp(3)  with time zone" ->
 * "timestamp with time zone"). False for an array type, unbalanced
 * parentheses, or a name that does not fit.
 */
static bool normalize_type(const char *type, char *out, size_t outsz)
{
    size_t n = 0;
    int depth = 0;
    bool space = false;
    for (const char *p = type; *p != '\0'; p++) {
        char c = *p;
        if (c == '(') {
            depth++;
            continue;
        }
        if (c == ')') {
            if (depth == 0)
                return false;
            depth--;
            continue;
        }
        if (depth > 0)
            continue;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            space = n > 0;
            continue;
        }
        if (c == '[') /* "integer[]", "int4[3]" */
            return false;
        if (n + 2 >= outsz)
            return false;
        if (space)
            out[n++] = ' ';
        space = false;
        out[n++] = lower(c);
    }
    out[n] = '\0';
    /* "_int4" is PostgreSQL's name of int4's array type */
    return depth == 0 && n > 0 && out[0] != '_';
}

/* Drops MySQL's trailing attributes: "int unsigned zerofill" -> "int". */
static void strip_attributes(char *name)
{
    static const char *const attrs[] = {" unsigned", " signed", " zerofill"};
    bool again = true;
    while (again) {
        again = false;
        size_t n = strlen(name);
        for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
            size_t an = strlen(attrs[i]);
            if (n > an && memcmp(name + n - an, attrs[i], an) == 0) {
                name[n - an] = '\0';
                again = true;
                break;
            }
        }
    }
}

enum rules__kind rules__kind_of(const char *type)
{
    char name[TYPE_NAME_MAX];
    if (type == NULL || !normalize_type(type, name, sizeof(name)))
        return RULES_KIND_TEXT;
    strip_attributes(name);
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
        if (strcmp(name, kind_names[i].name) == 0)
            return kind_names[i].kind;
    }
    /* money (currency symbols), text, varchar, json, interval, ... */
    return RULES_KIND_TEXT;
}

/* ==== Numbers ==== */

/* Order of the classes of numbers, PostgreSQL's: NaN above everything. */
enum num_class {
    NUM_NEG_INF = -1,
    NUM_FINITE = 0,
    NUM_POS_INF = 1,
    NUM_NAN = 2,
};

/*
 * A finite number is sign, significant digits and a decimal exponent:
 * 0.<digits> x 10^mag, the digits without leading or trailing zeros, read
 * as d1 followed by d2 (integer and fraction part of the text, so no copy
 * is needed). No digits means zero, whatever the sign.
 */
struct num {
    enum num_class cls;
    bool neg;
    const char *d1;
    size_t n1;
    const char *d2;
    size_t n2;
    int64_t mag;
};

/* Exponents are counted up to this and saturate beyond: the values that
 * then compare equal lie far past any type's range. */
#define EXP_MAX INT64_C(1000000000000000)

static bool read_num(const char *v, size_t len, struct num *out)
{
    memset(out, 0, sizeof(*out));
    size_t i = 0;
    if (len > 0 && (v[0] == '+' || v[0] == '-')) {
        out->neg = v[0] == '-';
        i++;
    }
    if (eq_ci(v + i, len - i, "inf") || eq_ci(v + i, len - i, "infinity")) {
        out->cls = out->neg ? NUM_NEG_INF : NUM_POS_INF;
        return true;
    }
    if (i == 0 && eq_ci(v, len, "nan")) {
        out->cls = NUM_NAN;
        return true;
    }
    const char *ip = v + i;
    while (i < len && is_digit(v[i]))
        i++;
    size_t ilen = (size_t)(v + i - ip);
    const char *fp = v + i;
    size_t flen = 0;
    if (i < len && v[i] == '.') {
        i++;
        fp = v + i;
        while (i < len && is_digit(v[i]))
            i++;
        flen = (size_t)(v + i - fp);
    }
    if (ilen + flen == 0)
        return false;
    int64_t exp = 0;
    if (i < len && (v[i] == 'e' || v[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < len && (v[i] == '+' || v[i] == '-')) {
            eneg = v[i] == '-';
            i++;
        }
        size_t start = i;
        for (; i < len && is_digit(v[i]); i++) {
            if (exp < EXP_MAX)
                exp = exp * 10 + (v[i] - '0');
        }
        if (i == start)
            return false;
        if (eneg)
            exp = -exp;
    }
    if (i != len)
        return false;

    while (ilen > 0 && *ip == '0') {
        ip++;
        ilen--;
    }
    while (flen > 0 && fp[flen - 1] == '0')
        flen--;
    if (ilen > 0) {
        out->mag = (int64_t)ilen + exp;
        if (flen == 0) {
            while (ilen > 0 && ip[ilen - 1] == '0')
                ilen--;
        }
        out->d1 = ip;
        out->n1 = ilen;
        out->d2 = fp;
        out->n2 = flen;
    } else {
        size_t z = 0;
        while (z < flen && fp[z] == '0')
            z++;
        out->mag = exp - (int64_t)z;
        out->d1 = fp + z;
        out->n1 = flen - z;
    }
    return true;
}

static char num_digit(const struct num *x, size_t k)
{
    return k < x->n1 ? x->d1[k] : x->d2[k - x->n1];
}

/* Compares the absolute values of two nonzero finite numbers. */
static int cmp_magnitude(const struct num *a, const struct num *b)
{
    if (a->mag != b->mag)
        return a->mag < b->mag ? -1 : 1;
    size_t na = a->n1 + a->n2;
    size_t nb = b->n1 + b->n2;
    size_t n = na < nb ? na : nb;
    for (size_t k = 0; k < n; k++) {
        char da = num_digit(a, k);
        char db = num_digit(b, k);
        if (da != db)
            return da < db ? -1 : 1;
    }
    /* the last digit is never 0, so the longer one is larger */
    return (na > nb) - (na < nb);
}

static int cmp_num(const struct num *a, const struct num *b)
{
    if (a->cls != NUM_FINITE || b->cls != NUM_FINITE)
        return (a->cls > b->cls) - (a->cls < b->cls);
    int sa = a->n1 + a->n2 == 0 ? 0 : (a->neg ? -1 : 1);
    int sb = b->n1 + b->n2 == 0 ? 0 : (b->neg ? -1 : 1);
    if (sa != sb)
        return sa < sb ? -1 : 1;
    if (sa == 0)
        return 0;
    int m = cmp_magnitude(a, b);
    return sa > 0 ? m : -m;
}

/* ==== Booleans ==== */

static bool read_bool(const char *v, size_t len, bool *out)
{
    static const char *const yes[] = {"t", "true", "y", "yes", "on", "1"};
    static const char *const no[] = {"f", "false", "n", "no", "off", "0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (eq_ci(v, len, yes[i])) {
            *out = true;
            return true;
        }
        if (eq_ci(v, len, no[i])) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* ==== Dates, timestamps and times of day ==== */

#define US_PER_SEC INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_SEC)
/* PostgreSQL's dates reach 5874897 AD: seven digits of year. */
#define YEAR_DIGITS_MAX 7
/* PostgreSQL refuses zone offsets past 15:59:59. */
#define ZONE_HOURS_MAX 15

struct cursor {
    const char *p;
    size_t len;
    size_t i;
};

static bool take(struct cursor *c, char ch)
{
    if (c->i < c->len && c->p[c->i] == ch) {
        c->i++;
        return true;
    }
    return false;
}

static bool at_digit(const struct cursor *c)
{
    return c->i < c->len && is_digit(c->p[c->i]);
}

/* Reads exactly n digits. */
static bool take_digits(struct cursor *c, size_t n, int *out)
{
    int v = 0;
    for (size_t k = 0; k < n; k++) {
        if (!at_digit(c))
            return false;
        v = v * 10 + (c->p[c->i] - '0');
        c->i++;
    }
    *out = v;
    return true;
}

/*
 * "HH:MM[:SS[.fraction]]" into microseconds since midnight. Digits of the
 * fraction past the sixth are read but dropped. 24:00:00 is the end of
 * the day and 60 a leap second, as PostgreSQL allows.
 */
static bool take_clock(struct cursor *c, int64_t *us)
{
    int hh = 0;
    int mm = 0;
    int ss = 0;
    int64_t frac = 0;
    bool frac_nonzero = false;
    if (!take_digits(c, 2, &hh) || !take(c, ':') || !take_digits(c, 2, &mm))
        return false;
    if (take(c, ':')) {
        if (!take_digits(c, 2, &ss))
            return false;
        if (take(c, '.')) {
            size_t n = 0;
            for (; at_digit(c); c->i++, n++) {
                char d = c->p[c->i];
                if (n < 6)
                    frac = frac * 10 + (d - '0');
                frac_nonzero = frac_nonzero || d != '0';
            }
            if (n == 0)
                return false;
            for (; n < 6; n++)
                frac *= 10;
        }
    }
    if (hh > 24 || mm > 59 || ss > 60)
        return false;
    if (hh == 24 && (mm != 0 || ss != 0 || frac_nonzero))
        return false;
    *us = ((int64_t)hh * 3600 + mm * 60 + ss) * US_PER_SEC + frac;
    return true;
}

/*
 * An optional zone: "Z", or a sign and "hh", "hhmm", "hh:mm", "hhmmss" or
 * "hh:mm:ss"; *off is east of UTC in microseconds, 0 without a zone.
 */
static bool take_zone(struct cursor *c, int64_t *off)
{
    *off = 0;
    if (take(c, 'Z') || take(c, 'z'))
        return true;
    int sign = 1;
    if (take(c, '-'))
        sign = -1;
    else if (!take(c, '+'))
        return true;
    int hh = 0;
    int mm = 0;
    int ss = 0;
    if (!take_digits(c, 2, &hh))
        return false;
    if (take(c, ':')) {
        if (!take_digits(c, 2, &mm))
            return false;
        if (take(c, ':') && !take_digits(c, 2, &ss))
            return false;
    } else if (at_digit(c)) {
        if (!take_digits(c, 2, &mm))
            return false;
        if (at_digit(c) && !take_digits(c, 2, &ss))
            return false;
    }
    if (hh > ZONE_HOURS_MAX || mm > 59 || ss > 59)
        return false;
    *off = sign * ((int64_t)hh * 3600 + mm * 60 + ss) * US_PER_SEC;
    return true;
}

static bool is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int days_in_month(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar, y
 * astronomical (0 is 1 BC); Howard Hinnant's days_from_civil. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    if (m <= 2)
        y--;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400; /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/*
 * An instant is days since 1970-01-01 plus microseconds into that day,
 * both UTC: microseconds alone would overflow before PostgreSQL's last
 * date. inf is -1 for -infinity, 1 for infinity, else 0.
 */
struct instant {
    int inf;
    int64_t days;
    int64_t us;
};

static bool read_instant(const char *v, size_t len, struct instant *out)
{
    memset(out, 0, sizeof(*out));
    if (eq_ci(v, len, "infinity") || eq_ci(v, len, "+infinity")) {
        out->inf = 1;
        return true;
    }
    if (eq_ci(v, len, "-infinity")) {
        out->inf = -1;
        return true;
    }
    struct cursor c = {.p = v, .len = len, .i = 0};
    int64_t year = 0;
    size_t ndigits = 0;
    for (; at_digit(&c); c.i++, ndigits++) {
        if (ndigits < YEAR_DIGITS_MAX)
            year = year * 10 + (v[c.i] - '0');
    }
    int month = 0;
    int day = 0;
    if (ndigits < 4 || ndigits > YEAR_DIGITS_MAX || !take(&c, '-') ||
        !take_digits(&c, 2, &month) || !take(&c, '-') ||
        !take_digits(&c, 2, &day))
        return false;
    int64_t tod = 0;
    int64_t off = 0;
    bool has_time = take(&c, 'T') || take(&c, 't');
    if (!has_time && c.i + 1 < len && v[c.i] == ' ' && is_digit(v[c.i + 1])) {
        c.i++;
        has_time = true;
    }
    if (has_time && (!take_clock(&c, &tod) || !take_zone(&c, &off)))
        return false;
    bool bc = eq_ci(v + c.i, len - c.i, " bc");
    if (bc)
        c.i += 3;
    if (c.i != len)
        return false;
    /* there is no year 0 in the calendar people write: 1 BC precedes 1 AD */
    if (year == 0 || month < 1 || month > 12)
        return false;
    if (bc)
        year = 1 - year;
    if (day < 1 || day > days_in_month(year, month))
        return false;
    /* tod - off lies within (-16 h, 40 h]: at most one day either way */
    int64_t days = days_from_civil(year, month, day);
    int64_t us = tod - off;
    if (us < 0) {
        us += US_PER_DAY;
        days--;
    } else if (us >= US_PER_DAY) {
        us -= US_PER_DAY;
        days++;
    }
    out->days = days;
    out->us = us;
    return true;
}

static int cmp_instant(const struct instant *a, const struct instant *b)
{
    if (a->inf != 0 || b->inf != 0)
        return (a->inf > b->inf) - (a->inf < b->inf);
    if (a->days != b->days)
        return sign_of(a->days - b->days);
    return sign_of(a->us - b->us);
}

/* A time of day in microseconds, less its zone's offset, so that
 * "03:00:00+01" equals "02:00:00"; not wrapped around midnight. */
static bool read_time(const char *v, size_t len, int64_t *out)
{
    struct cursor c = {.p = v, .len = len, .i = 0};
    int64_t tod = 0;
    int64_t off = 0;
    if (!take_clock(&c, &tod) || !take_zone(&c, &off) || c.i != len)
        return false;
    *out = tod - off;
    return true;
}

/* ==== UUIDs ==== */

/* 32 hex digits, a hyphen allowed after the 8th, 12th, 16th and 20th,
 * the whole optionally in braces. */
static bool read_uuid(const char *v, size_t len, unsigned char out[16])
{
    if (len > 0 && v[0] == '{') {
        if (len < 2 || v[len - 1] != '}')
            return false;
        v++;
        len -= 2;
    }
    size_t nd = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] == '-') {
            if ((nd != 8 && nd != 12 && nd != 16 && nd != 20) ||
                v[i - 1] == '-')
                return false;
            continue;
        }
        int h = cdc_hex_digit(v[i]);
        if (h < 0 || nd == 32)
            return false;
        if (nd % 2 == 0)
            out[nd / 2] = (unsigned char)(h << 4);
        else
            out[nd / 2] |= (unsigned char)h;
        nd++;
    }
    return nd == 32;
}

/* ==== Comparing ==== */

union value {
    struct num num;
    bool b;
    struct instant instant;
    int64_t time;
    unsigned char uuid[16];
};

static bool read_value(enum rules__kind kind, const char *v, size_t len,
                       union value *out)
{
    if (kind != RULES_KIND_TEXT && len == 0)
        return false;
    switch (kind) {
    case RULES_KIND_TEXT:
        return true;
    case RULES_KIND_NUMBER:
        return read_num(v, len, &out->num);
    case RULES_KIND_BOOL:
        return read_bool(v, len, &out->b);
    case RULES_KIND_INSTANT:
        return read_instant(v, len, &out->instant);
    case RULES_KIND_TIME:
        return read_time(v, len, &out->time);
    case RULES_KIND_UUID:
        return read_uuid(v, len, out->uuid);
    }
    CDC_BUG("unknown kind of value");
}

static const char *kind_noun(enum rules__kind kind)
{
    switch (kind) {
    case RULES_KIND_TEXT:
        return "a text";
    case RULES_KIND_NUMBER:
        return "a number";
    case RULES_KIND_BOOL:
        return "a boolean";
    case RULES_KIND_INSTANT:
        return "a date or timestamp";
    case RULES_KIND_TIME:
        return "a time of day";
    case RULES_KIND_UUID:
        return "a uuid";
    }
    CDC_BUG("unknown kind of value");
}

/* A value is quoted in a message up to this many bytes, then "...". */
#define QUOTE_MAX 40

/* Copies v into out for a one-line message: cut at QUOTE_MAX bytes on a
 * character boundary, control bytes as '?'. outsz > QUOTE_MAX + 3. */
static void quote_value(const char *v, size_t len, char *out, size_t outsz)
{
    CDC_ASSERT(outsz > QUOTE_MAX + 3);
    size_t n = len;
    bool cut = n > QUOTE_MAX;
    if (cut) {
        n = QUOTE_MAX;
        /* back off to the lead byte of a character the cut would split */
        size_t k = n;
        while (k > 0 && k > n - 3 && ((unsigned char)v[k] & 0xC0) == 0x80)
            k--;
        if (k < n && ((unsigned char)v[k] & 0xC0) == 0xC0)
            n = k;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        out[i] = c < 0x20 || c == 0x7F ? '?' : (char)c;
    }
    if (cut) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

static int not_a(enum rules__kind kind, const char *v, size_t len,
                 struct cdc_err *err)
{
    char q[QUOTE_MAX + 4];
    quote_value(v, len, q, sizeof(q));
    return cdc_err_set(err, CDC_EPROTO, 0, "\"%s\" is not %s", q,
                       kind_noun(kind));
}

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int r = n > 0 ? memcmp(a, b, n) : 0;
    if (r != 0)
        return r < 0 ? -1 : 1;
    return (alen > blen) - (alen < blen);
}

int rules__compare(enum rules__kind kind, const char *a, size_t alen,
                   const char *b, size_t blen, int *cmp, struct cdc_err *err)
{
    if (kind == RULES_KIND_TEXT) {
        *cmp = cmp_bytes(a, alen, b, blen);
        return CDC_OK;
    }
    union value va;
    union value vb;
    if (!read_value(kind, a, alen, &va))
        return not_a(kind, a, alen, err);
    if (!read_value(kind, b, blen, &vb))
        return not_a(kind, b, blen, err);
    switch (kind) {
    case RULES_KIND_TEXT:
        break;
    case RULES_KIND_NUMBER:
        *cmp = cmp_num(&va.num, &vb.num);
        break;
    case RULES_KIND_BOOL:
        *cmp = (int)va.b - (int)vb.b;
        break;
    case RULES_KIND_INSTANT:
        *cmp = cmp_instant(&va.instant, &vb.instant);
        break;
    case RULES_KIND_TIME:
        *cmp = sign_of(va.time - vb.time);
        break;
    case RULES_KIND_UUID:
        *cmp = cmp_bytes((const char *)va.uuid, 16, (const char *)vb.uuid, 16);
        break;
    }
    return CDC_OK;
}

bool rules__valid(enum rules__kind kind, const char *v, size_t len)
{
    union value val;
    return read_value(kind, v, len, &val);
}

/* ==== Masking ==== */

/* Bytes of the character at s (n >= 1 bytes left): a lead byte and all
 * its continuation bytes, or 1 for a byte that does not start one. */
static size_t char_len(const unsigned char *s, size_t n)
{
    size_t more = 0;
    if (s[0] >= 0xC0 && s[0] <= 0xDF)
        more = 1;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        more = 2;
    else if (s[0] >= 0xF0 && s[0] <= 0xF7)
        more = 3;
    if (more == 0 || more >= n)
        return 1;
    for (size_t k = 1; k <= more; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 1;
    }
    return more + 1;
}

/* An empty mask removes the middle characters: "abc" -> "ac". */
const char *rules__mask(const char *s, size_t len, const char *mask,
                        size_t mlen, struct cdc_arena *arena, size_t *outlen)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t nchars = 0;
    size_t first = 0; /* bytes of the first character */
    size_t last = 0;  /* where the last character starts */
    size_t ascii = 0;
    while (ascii < len && u[ascii] < 0x80)
        ascii++;
    if (ascii == len && len > 2) {
        /* all ASCII: one byte per character */
        nchars = len;
        first = 1;
        last = len - 1;
    }
    for (size_t i = ascii == len ? len : 0; i < len;) {
        size_t n = char_len(u + i, len - i);
        if (nchars == 0)
            first = n;
        last = i;
        nchars++;
        i += n;
    }
    if (nchars <= 2) {
        char *out = cdc_arena_alloc(arena, len + 1);
        if (len > 0)
            memcpy(out, s, len);
        out[len] = '\0';
        *outlen = len;
        return out;
    }
    size_t tail = len - last;
    size_t middle = nchars - 2;
    /* the caller bounds values and masks far below this */
    CDC_ASSERT(mlen == 0 || middle <= (SIZE_MAX - first - tail - 1) / mlen);
    size_t n = first + middle * mlen + tail;
    char *out = cdc_arena_alloc(arena, n + 1);
    char *w = out;
    memcpy(w, s, first);
    w += first;
    if (mlen == 1) {
        memset(w, mask[0], middle);
        w += middle;
    } else if (mlen > 0) {
        /* one copy of the mask, then doubling what is written */
        size_t total = middle * mlen;
        memcpy(w, mask, mlen);
        size_t done = mlen;
        while (done < total) {
            size_t k = done <= total - done ? done : total - done;
            memcpy(w + done, w, k);
            done += k;
        }
        w += total;
    }
    memcpy(w, s + last, tail);
    out[n] = '\0';
    *outlen = n;
    return out;
}
