/*
 * log: one line per event on stderr, human-readable by default, JSON lines when configured.
 * Thread-safe (one write(2) per line). It never formats secrets: callers must not pass the API
 * token or request headers, and the API logs routes and status codes, never Authorization.
 */
#ifndef AIRLOCK_LOG_H
#define AIRLOCK_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_setup(bool json, enum log_level min_level);
/* Parses "debug", "info", "warn", "error". Returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *ret);

/* Logs event `event` (a dotted name such as "api.request") with a printf message. In JSON mode
 * the line is {"time","level","event","msg"}. */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For a thread that writes many lines at once (the proxy's audit writer): log_format formats
 * one line, time unix_ms, into buf (cap at least LOG_LINE_MAX + 256) and returns its length with
 * the newline, or 0 when level is below the configured one; log_write writes a buffer of whole
 * lines (one write(2) when it fits the pipe or file). */
bool log_enabled(enum log_level level);
size_t log_format(char *buf, size_t cap, int64_t unix_ms, enum log_level level, const char *event,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void log_write(const char *buf, size_t len);

#define log_debug(ev, ...) log_event(LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...) log_event(LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_event(LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_event(LOG_ERROR, ev, __VA_ARGS__)

#endif
