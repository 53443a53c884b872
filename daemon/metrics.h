/*
 * metrics: the daemon's counters for GET /metrics and their rendering in Prometheus' text
 * exposition format 0.0.4 (docs/api.md lists every series). The counters are process-wide (one
 * daemon per process, counted since its start) and move with relaxed atomics from any thread:
 * a counting call never blocks and never takes a lock that a job start, the proxy or an API
 * thread waits on. The only lock is a small mutex taken the first time an egress reason is
 * seen. It does no I/O and knows nothing of HTTP: the API registers its route table here and
 * serves the rendered text.
 */
#ifndef AIRLOCK_METRICS_H
#define AIRLOCK_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_ROUTES_MAX 48            /* API routes that can be registered */
#define METRICS_ROUTE_OTHER ((size_t)-1) /* a request that matched no route: route="other" */
#define METRICS_REASONS_MAX 48           /* distinct egress reasons; past it reason="other" */
#define METRICS_LABEL_MAX 96             /* a route label ("GET /v1/jobs/{}") or a reason */

/* A job began running (its sandbox was spawned). */
void metrics_job_started(void);
/* A job reached an end status: succeeded, failed, timed_out, canceled or lost. Another string
 * counts nothing. */
void metrics_job_ended(const char *status);
/* One job's spawn latency, in seconds, into the histogram. */
void metrics_spawn_seconds(double seconds);
/* One egress event: decision "allow" (anything else counts as "deny"), the reason the proxy
 * recorded (NULL for none: counted as ""), and the bytes it relayed each way. */
void metrics_egress(const char *decision, const char *reason, int64_t bytes_up, int64_t bytes_down);

/* Names route index as "METHOD PATTERN" (the route table's pattern, never a raw URL, so the
 * label's values are bounded). Call before the API serves. Returns 0, or -ERANGE when index is
 * METRICS_ROUTES_MAX or more, -ENAMETOOLONG when the label does not fit. */
int metrics_api_route(size_t index, const char *method, const char *pattern);
/* One answered API request: its route's index (METRICS_ROUTE_OTHER, or an index never
 * registered, counts as route="other") and its status code (100..599; others count nothing). */
void metrics_api(size_t route_index, unsigned code);

/* What the renderer takes from elsewhere at scrape time. */
struct metrics_now {
    unsigned jobs_running;
    unsigned jobs_queued;
    int64_t started_ms; /* the daemon's start, Unix ms */
};

/* Renders every series as Prometheus text (HELP and TYPE lines for each family). On success
 * *ret_text is a malloc'd, NUL-terminated buffer of *ret_len bytes that the caller frees.
 * Returns 0 or -ENOMEM. */
int metrics_render(const struct metrics_now *now, char **ret_text, size_t *ret_len);

#endif
