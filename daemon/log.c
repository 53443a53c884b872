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

/* Length of the valid UTF-8 sequence at s (2 to 4), or 0 when it is not one (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF). s is NUL-terminated, so a truncated
 * sequence meets the NUL, which is not a continuation byte. */
static size_t
utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0; /* overlong */
    else if (c == 0xed)
        hi = 0x9f; /* surrogates */
    else if (c == 0xf0)
        lo = 0x90; /* overlong */
    else if (c == 0xf4)
        hi = 0x8f; /* past U+10FFFF */
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* Appends s to buf as JSON string content: quotes, backslashes and control bytes escaped, valid
 * UTF-8 copied whole (never split at the end of the buffer), any other byte replaced by U+FFFD,
 * so the line is always valid JSON whatever a job or a client put in the message. */
static size_t
json_escape(char *buf, size_t pos, size_t cap, const char *str)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;

    while (*s && pos + 7 < cap) {
        unsigned char c = *s;
        size_t n;
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)c;
            s++;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(buf + pos, "\\u00", 4);
            buf[pos + 4] = hex[c >> 4];
            buf[pos + 5] = hex[c & 15];
            pos += 6;
            s++;
        } else if (c < 0x80) {
            buf[pos++] = (char)c;
            s++;
        } else if ((n = utf8_len(s)) > 0) {
            memcpy(buf + pos, s, n);
            pos += n;
            s += n;
        } else {
            memcpy(buf + pos, "\\ufffd", 6);
            pos += 6;
            s++;
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

/* Formats one line (with its newline) for level, event and msg at unix_ms into line. */
static size_t
format_line(char *line, size_t cap, int64_t unix_ms, enum log_level level, const char *event,
            char *msg)
{
    char now[32];
    size_t pos;

    time_rfc3339(now, sizeof(now), unix_ms);
    if (log_json) {
        int n = snprintf(line, cap, "{\"time\":\"%s\",\"level\":\"%s\",\"event\":\"", now,
                         level_names[level]);
        pos = json_escape(line, (size_t)n, cap - 16, event);
        memcpy(line + pos, "\",\"msg\":\"", 9);
        pos = json_escape(line, pos + 9, cap - 4, msg);
        memcpy(line + pos, "\"}\n", 3);
        pos += 3;
    } else {
        sanitize_text(msg);
        int n = snprintf(line, cap - 1, "%s %-5s %s %s", now, level_names[level], event, msg);
        pos = n < 0 ? 0 : (size_t)n;
        if (pos > cap - 2)
            pos = cap - 2;
        line[pos++] = '\n';
    }
    return pos;
}

bool
log_enabled(enum log_level level)
{
    return level >= log_min;
}

size_t
log_format(char *buf, size_t cap, int64_t unix_ms, enum log_level level, const char *event,
           const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    va_list ap;

    if (level < log_min || cap < LOG_LINE_MAX + 256)
        return 0;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return format_line(buf, cap, unix_ms, level, event, msg);
}

void
log_write(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, buf, len);
        if (w <= 0)
            return; /* a failed log write has nowhere to be reported; the daemon goes on */
        buf += w;
        len -= (size_t)w;
    }
}

void
log_event(enum log_level level, const char *event, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    char line[LOG_LINE_MAX + 256];
    size_t pos;
    va_list ap;

    if (level < log_min)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pos = format_line(line, sizeof(line), time_now_ms(), level, event, msg);
    /* One write(2) a line, so lines of different threads never interleave. */
    ssize_t w = write(STDERR_FILENO, line, pos);
    (void)w;
}
