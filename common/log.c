/*
 * log.c: one line per message on stderr, as text or JSON. Every line has
 * time, level, component, group and module. Lines are written with a
 * single write() so lines from threads do not interleave. The level check
 * happens in the cdc_log macro, before any formatting.
 */
#include "common/common.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int cdc_log_level_current = CDC_LOG_INFO;

static bool log_json;
static char log_component[32] = "tributary";
static char log_group[64];

static const char *level_names[] = {"error", "warn", "info", "debug",
                                    "trace"};

void cdc_log_setup(int level, bool json, const char *component,
                   const char *group)
{
    cdc_log_level_current = level;
    log_json = json;
    if (component != NULL)
        snprintf(log_component, sizeof(log_component), "%s", component);
    snprintf(log_group, sizeof(log_group), "%s", group ? group : "");
}

int cdc_log_level_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0]));
         i++) {
        if (s != NULL && strcasecmp(s, level_names[i]) == 0)
            return i;
    }
    return -1;
}

void cdc_log_write(int level, const char *module, const char *fmt, ...)
{
    char msg[2048];
    char ts[40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cdc_one_line(msg);
    cdc_time_format_us(cdc_wall_us(), ts, sizeof(ts));
    if (level < 0)
        level = 0;
    if (level > CDC_LOG_TRACE)
        level = CDC_LOG_TRACE;

    struct cdc_buf line;
    cdc_buf_init(&line, 0);
    if (log_json) {
        cdc_buf_printf(&line, "{\"time\":\"%s\",\"level\":\"%s\",", ts,
                       level_names[level]);
        cdc_buf_append_str(&line, "\"component\":");
        cdc_buf_append_json_str(&line, log_component, strlen(log_component));
        if (log_group[0]) {
            cdc_buf_append_str(&line, ",\"group\":");
            cdc_buf_append_json_str(&line, log_group, strlen(log_group));
        }
        cdc_buf_append_str(&line, ",\"module\":");
        cdc_buf_append_json_str(&line, module, strlen(module));
        cdc_buf_append_str(&line, ",\"msg\":");
        cdc_buf_append_json_str(&line, msg, strlen(msg));
        cdc_buf_append_str(&line, "}\n");
    } else {
        cdc_buf_printf(&line, "%s %-5s %s", ts, level_names[level],
                       log_component);
        if (log_group[0])
            cdc_buf_printf(&line, " group=%s", log_group);
        cdc_buf_printf(&line, " [%s] %s\n", module, msg);
    }
    if (line.data != NULL) {
        ssize_t off = 0;
        while ((size_t)off < line.len) {
            ssize_t n = write(STDERR_FILENO, line.data + off, line.len - off);
            if (n <= 0)
                break;
            off += n;
        }
    }
    cdc_buf_release(&line);
}
