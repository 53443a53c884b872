/*
 * log: the daemon's line-oriented log on stderr. Each line is built in a bounded stack buffer
 * (LOG_LINE_MAX) and written with a single write(2), so lines from several threads never
 * interleave. In JSON mode the message is escaped by hand (no allocation on the log path).
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "airlock_limits.h"
#include "util.h"

static bool log_json;
static enum log_level log_min = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
log_setup(bool json, enum log_level min_level)
{
    log_json = json;
    log_min = min_level;
}

int
log_level_parse(const char *s, enum log_level *ret)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *ret = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Appends s to buf as JSON string content, escaping quotes, backslashes and control bytes. */
static size_t
json_escape(char *buf, size_t pos, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    for (; *s && pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(buf + pos, "\\u00", 4);
            buf[pos + 4] = hex[c >> 4];
            buf[pos + 5] = hex[c & 15];
            pos += 6;
        } else {
            buf[pos++] = (char)c;
        }
    }
    return pos;
}

/* Replaces control bytes in a human-readable line so a hostile value cannot forge a line. */
static void
sanitize_text(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

void
log_event(enum log_level level, const char *event, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    char line[LOG_LINE_MAX + 256];
    char now[32];
    size_t pos;
    va_list ap;

    if (level < log_min)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    time_rfc3339(now, sizeof(now), time_now_ms());
    if (log_json) {
        int n = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\",\"event\":\"", now,
                         level_names[level]);
        pos = json_escape(line, (size_t)n, sizeof(line) - 16, event);
        memcpy(line + pos, "\",\"msg\":\"", 9);
        pos = json_escape(line, pos + 9, sizeof(line) - 4, msg);
        memcpy(line + pos, "\"}\n", 3);
        pos += 3;
    } else {
        sanitize_text(msg);
        int n =
            snprintf(line, sizeof(line) - 1, "%s %-5s %s %s", now, level_names[level], event, msg);
        pos = n < 0 ? 0 : (size_t)n;
        if (pos > sizeof(line) - 2)
            pos = sizeof(line) - 2;
        line[pos++] = '\n';
    }
    /* A failed log write has nowhere to be reported; the daemon goes on. */
    ssize_t w = write(STDERR_FILENO, line, pos);
    (void)w;
}
