/*
 * lease.c: the value of a worker's lease on its consumer, a key of the
 * group's state bucket (the worker takes and renews it, replicator status
 * shows who holds it): written and read as one line of JSON that needs no
 * escaping, and whether the process it names still runs. Reading the value
 * is strict: anything but what cdc_lease_format writes is refused.
 */
#include "common/common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cdc_name_lease_key(const char *consumer, char *out, size_t outsz)
{
    snprintf(out, outsz, "worker.lease.%s", consumer);
}

/* ==== The key's value ==== */

/* Copies s into out keeping only what host names, ids and times hold, so
 * that the value needs no escaping. */
static void plain_chars(const char *s, char *out, size_t outsz)
{
    size_t n = 0;
    for (; *s != '\0' && n + 1 < outsz; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                  c == ':' || c == '+';
        out[n++] = ok ? c : '_';
    }
    out[n] = '\0';
}

int cdc_lease_format(const struct cdc_lease_holder *h, char *out, size_t outsz)
{
    char host[sizeof(h->host)];
    char boot[sizeof(h->boot)];
    char pidns[sizeof(h->pidns)];
    char since[sizeof(h->since)];
    plain_chars(h->host, host, sizeof(host));
    plain_chars(h->boot, boot, sizeof(boot));
    plain_chars(h->pidns, pidns, sizeof(pidns));
    plain_chars(h->since, since, sizeof(since));
    int n = snprintf(out, outsz,
                     "{\"host\":\"%s\",\"boot\":\"%s\",\"pidns\":\"%s\","
                     "\"pid\":%" PRId64 ",\"start\":%" PRIu64
                     ",\"ttl_ms\":%" PRId64 ",\"since\":\"%s\","
                     "\"released\":%s}",
                     host, boot, pidns, h->pid, h->start, h->ttl_ms, since,
                     h->released ? "true" : "false");
    return n > 0 && (size_t)n < outsz ? n : -1;
}

/* The text after "name": in text, or NULL. */
static const char *field(const char *text, const char *name)
{
    char pat[40];
    snprintf(pat, sizeof(pat), "\"%s\":", name);
    const char *p = strstr(text, pat);
    return p == NULL ? NULL : p + strlen(pat);
}

static bool str_field(const char *text, const char *name, char *out,
                      size_t outsz)
{
    const char *p = field(text, name);
    if (p == NULL || *p != '"')
        return false;
    p++;
    const char *e = strchr(p, '"');
    if (e == NULL || (size_t)(e - p) >= outsz)
        return false;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return true;
}

static bool int_field(const char *text, const char *name, int64_t *out)
{
    const char *p = field(text, name);
    if (p == NULL)
        return false;
    char num[24];
    size_t n = 0;
    while ((p[n] == '-' || (p[n] >= '0' && p[n] <= '9')) && n + 1 < sizeof(num))
        n++;
    memcpy(num, p, n);
    num[n] = '\0';
    return cdc_parse_int(num, 0, INT64_MAX, out) == CDC_OK;
}

bool cdc_lease_parse(const void *p, size_t len, struct cdc_lease_holder *h)
{
    char text[1024];
    memset(h, 0, sizeof(*h));
    if (len >= sizeof(text) || memchr(p, '\0', len) != NULL)
        return false;
    memcpy(text, p, len);
    text[len] = '\0';
    int64_t start = 0;
    const char *rel = field(text, "released");
    if (!str_field(text, "host", h->host, sizeof(h->host)) ||
        !str_field(text, "boot", h->boot, sizeof(h->boot)) ||
        !str_field(text, "pidns", h->pidns, sizeof(h->pidns)) ||
        !str_field(text, "since", h->since, sizeof(h->since)) ||
        !int_field(text, "pid", &h->pid) || !int_field(text, "start", &start) ||
        !int_field(text, "ttl_ms", &h->ttl_ms) || rel == NULL)
        return false;
    h->start = (uint64_t)start;
    if (strncmp(rel, "true", 4) == 0)
        h->released = true;
    else if (strncmp(rel, "false", 5) != 0)
        return false;
    return true;
}

/* ==== The holder's process ==== */

bool cdc_lease_same_pids(const struct cdc_lease_holder *a,
                         const struct cdc_lease_holder *b)
{
    return a->boot[0] != '\0' && a->pidns[0] != '\0' &&
           strcmp(a->boot, b->boot) == 0 && strcmp(a->pidns, b->pidns) == 0;
}

/* The start time (field 22 of /proc/PID/stat) of pid; 0 with errno
 * ENOENT if there is no such process, 0 with another errno if it cannot be
 * read. */
static uint64_t proc_start(int64_t pid)
{
    char path[64];
    char line[1024];
    snprintf(path, sizeof(path), "/proc/%" PRId64 "/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    /* the command name may hold spaces and parentheses: fields count
     * from the last ')' */
    const char *p = strrchr(line, ')');
    if (p == NULL) {
        errno = EINVAL;
        return 0;
    }
    /* p is at the space before field 3 */
    p++;
    for (int field_no = 3; field_no < 22; field_no++) {
        p = strchr(p + 1, ' ');
        if (p == NULL) {
            errno = EINVAL;
            return 0;
        }
    }
    errno = 0;
    return strtoull(p + 1, NULL, 10);
}

void cdc_lease_me(int64_t ttl_ms, struct cdc_lease_holder *h)
{
    memset(h, 0, sizeof(*h));
    if (gethostname(h->host, sizeof(h->host)) != 0)
        snprintf(h->host, sizeof(h->host), "unknown");
    h->host[sizeof(h->host) - 1] = '\0';
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f != NULL) {
        if (fgets(h->boot, sizeof(h->boot), f) == NULL)
            h->boot[0] = '\0';
        h->boot[strcspn(h->boot, "\n")] = '\0';
        fclose(f);
    }
    /* "pid:[4026531836]" */
    char link[64];
    ssize_t n = readlink("/proc/self/ns/pid", link, sizeof(link) - 1);
    if (n > 0) {
        link[n] = '\0';
        const char *d = strchr(link, '[');
        if (d != NULL)
            snprintf(h->pidns, sizeof(h->pidns), "%.*s",
                     (int)strcspn(d + 1, "]"), d + 1);
    }
    h->pid = (int64_t)getpid();
    h->start = proc_start(h->pid);
    h->ttl_ms = ttl_ms;
    cdc_time_format_us(cdc_wall_us(), h->since, sizeof(h->since));
}

int cdc_lease_holder_alive(const struct cdc_lease_holder *h)
{
    struct cdc_lease_holder me;
    cdc_lease_me(0, &me);
    if (!cdc_lease_same_pids(h, &me) || h->pid <= 0)
        return -1;
    uint64_t start = proc_start(h->pid);
    if (start == 0)
        return errno == ENOENT ? 0 : -1;
    return start == h->start ? 1 : 0;
}
