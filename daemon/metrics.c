/*
 * metrics.c: the counters behind GET /metrics, and their rendering. Every counter is an atomic
 * moved with relaxed ordering: a scrape may see one counter a moment ahead of another, never a
 * torn value. The histogram keeps one count per bucket (not cumulative) and renders _count as
 * the sum of the buckets, so +Inf always equals _count whatever moves during a scrape. Labels
 * with values that are not known in advance (egress reasons, API status codes) live in fixed
 * tables, so a misbehaving job or client cannot grow them: past METRICS_REASONS_MAX reasons the
 * rest count as "other", and a status code is an index into a 100..599 array.
 */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define CODE_MIN 100
#define CODE_MAX 599
#define NCODES (CODE_MAX - CODE_MIN + 1)
#define REASON_OTHER METRICS_REASONS_MAX /* the slot past the table */

static const char *const end_statuses[] = {"succeeded", "failed", "timed_out", "canceled", "lost"};

/* Spawns take a few milliseconds (docs/performance.md): fine steps from 1 to 50 ms, a few
 * coarse ones past it to show a slow host. */
static const double spawn_le[] = {0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02,
                                  0.03,  0.05,   0.075, 0.1,    0.25, 0.5,   1};
#define NBUCKETS ARRAY_SIZE(spawn_le)

struct reason_slot {
    char name[METRICS_LABEL_MAX];
    _Atomic uint64_t allow, deny;
};

static _Atomic uint64_t jobs_started;
static _Atomic uint64_t jobs_ended[ARRAY_SIZE(end_statuses)];
static _Atomic uint64_t spawn_buckets[NBUCKETS + 1]; /* the last: past every le, +Inf only */
static _Atomic uint64_t spawn_sum_us;
static _Atomic uint64_t proxy_bytes_up, proxy_bytes_down;

/* Slots [0, nreasons) are named and never change once published; slot REASON_OTHER is "other".
 * Slot 0 is "" (allowed without a reason), named from the start so the series always exists. */
static struct reason_slot reasons[METRICS_REASONS_MAX + 1] = {[REASON_OTHER] = {.name = "other"}};
static _Atomic size_t nreasons = 1;
static pthread_mutex_t reasons_lock = PTHREAD_MUTEX_INITIALIZER;

static char route_labels[METRICS_ROUTES_MAX][METRICS_LABEL_MAX];
static _Atomic size_t nroutes;
static _Atomic uint64_t api_counts[METRICS_ROUTES_MAX + 1][NCODES]; /* last row: "other" */

static void
inc(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t
get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void
metrics_job_started(void)
{
    inc(&jobs_started, 1);
}

void
metrics_job_ended(const char *status)
{
    for (size_t i = 0; status && i < ARRAY_SIZE(end_statuses); i++)
        if (strcmp(status, end_statuses[i]) == 0)
            inc(&jobs_ended[i], 1);
}

void
metrics_spawn_seconds(double seconds)
{
    size_t i = 0;

    if (!(seconds >= 0)) /* also NaN */
        seconds = 0;
    while (i < NBUCKETS && seconds > spawn_le[i])
        i++;
    inc(&spawn_buckets[i], 1);
    inc(&spawn_sum_us, (uint64_t)(seconds * 1e6 + 0.5));
}

/* The slot of a reason: found without a lock when seen before; named under reasons_lock the
 * first time (rare: the set of reasons is a handful of static strings). */
static struct reason_slot *
reason_slot(const char *reason)
{
    size_t n = atomic_load_explicit(&nreasons, memory_order_acquire), i;

    for (i = 0; i < n; i++)
        if (strcmp(reasons[i].name, reason) == 0)
            return &reasons[i];
    pthread_mutex_lock(&reasons_lock);
    n = atomic_load_explicit(&nreasons, memory_order_relaxed);
    for (; i < n && strcmp(reasons[i].name, reason) != 0; i++)
        ;
    if (i == n && n < METRICS_REASONS_MAX &&
        str_copy(reasons[n].name, METRICS_LABEL_MAX, reason) == 0)
        atomic_store_explicit(&nreasons, n + 1, memory_order_release);
    else if (i == n)
        i = REASON_OTHER; /* full, or a name too long for a label */
    pthread_mutex_unlock(&reasons_lock);
    return &reasons[i];
}

void
metrics_egress(const char *decision, const char *reason, int64_t bytes_up, int64_t bytes_down)
{
    struct reason_slot *s = reason_slot(reason ? reason : "");

    inc(decision && strcmp(decision, "allow") == 0 ? &s->allow : &s->deny, 1);
    if (bytes_up > 0)
        inc(&proxy_bytes_up, (uint64_t)bytes_up);
    if (bytes_down > 0)
        inc(&proxy_bytes_down, (uint64_t)bytes_down);
}

int
metrics_api_route(size_t index, const char *method, const char *pattern)
{
    size_t n = atomic_load_explicit(&nroutes, memory_order_acquire);

    if (index >= METRICS_ROUTES_MAX)
        return -ERANGE;
    if (str_printf(route_labels[index], METRICS_LABEL_MAX, "%s %s", method, pattern) < 0)
        return -ENAMETOOLONG;
    if (index >= n)
        atomic_store_explicit(&nroutes, index + 1, memory_order_release);
    return 0;
}

void
metrics_api(size_t route_index, unsigned code)
{
    size_t row = route_index < atomic_load_explicit(&nroutes, memory_order_acquire)
                     ? route_index
                     : METRICS_ROUTES_MAX;

    if (code >= CODE_MIN && code <= CODE_MAX)
        inc(&api_counts[row][code - CODE_MIN], 1);
}

/* ---- rendering ---- */

/* A label value as the format wants it: backslash, double quote and newline escaped. */
static void
put_label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f);
        if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
render_jobs(FILE *f, const struct metrics_now *now)
{
    uint64_t cum = 0;

    family(f, "airlock_jobs_started_total", "counter",
           "Jobs that began running (their sandbox was spawned).");
    fprintf(f, "airlock_jobs_started_total %" PRIu64 "\n", get(&jobs_started));
    family(f, "airlock_jobs_ended_total", "counter",
           "Jobs that reached an end status, by status (also jobs that never started).");
    for (size_t i = 0; i < ARRAY_SIZE(end_statuses); i++)
        fprintf(f, "airlock_jobs_ended_total{status=\"%s\"} %" PRIu64 "\n", end_statuses[i],
                get(&jobs_ended[i]));
    family(f, "airlock_jobs_running", "gauge", "Jobs running now.");
    fprintf(f, "airlock_jobs_running %u\n", now->jobs_running);
    family(f, "airlock_jobs_queued", "gauge", "Jobs waiting for a running slot now.");
    fprintf(f, "airlock_jobs_queued %u\n", now->jobs_queued);
    family(f, "airlock_job_spawn_seconds", "histogram",
           "Time to spawn a job's sandbox, from the spawn request to the process running.");
    for (size_t i = 0; i <= NBUCKETS; i++) {
        cum += get(&spawn_buckets[i]);
        if (i < NBUCKETS)
            fprintf(f, "airlock_job_spawn_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", spawn_le[i],
                    cum);
        else
            fprintf(f, "airlock_job_spawn_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    }
    fprintf(f, "airlock_job_spawn_seconds_sum %.6f\n", (double)get(&spawn_sum_us) / 1e6);
    fprintf(f, "airlock_job_spawn_seconds_count %" PRIu64 "\n", cum);
}

static void
render_reason(FILE *f, struct reason_slot *s, bool always)
{
    static const char *const decisions[] = {"allow", "deny"};

    for (size_t d = 0; d < 2; d++) {
        uint64_t v = get(d == 0 ? &s->allow : &s->deny);
        if (!v && !(always && d == 0))
            continue;
        fprintf(f, "airlock_egress_requests_total{decision=\"%s\",reason=\"", decisions[d]);
        put_label(f, s->name);
        fprintf(f, "\"} %" PRIu64 "\n", v);
    }
}

static void
render_egress(FILE *f)
{
    size_t n = atomic_load_explicit(&nreasons, memory_order_acquire);

    family(f, "airlock_egress_requests_total", "counter",
           "Requests and tunnels from jobs that the egress proxy decided, by decision (allow, "
           "deny) and reason (\"\" when allowed and the upstream answered).");
    for (size_t i = 0; i < n; i++)
        render_reason(f, &reasons[i], i == 0);
    render_reason(f, &reasons[REASON_OTHER], false);
    family(f, "airlock_proxy_bytes_total", "counter",
           "Bytes the egress proxy relayed, by direction (up: from jobs, down: to jobs).");
    fprintf(f, "airlock_proxy_bytes_total{direction=\"up\"} %" PRIu64 "\n", get(&proxy_bytes_up));
    fprintf(f, "airlock_proxy_bytes_total{direction=\"down\"} %" PRIu64 "\n",
            get(&proxy_bytes_down));
}

static void
render_api(FILE *f)
{
    size_t n = atomic_load_explicit(&nroutes, memory_order_acquire);

    family(f, "airlock_api_requests_total", "counter",
           "API requests answered, by route (the route table's pattern, \"other\" when none "
           "matched) and status code.");
    for (size_t r = 0; r <= METRICS_ROUTES_MAX; r++) {
        if (r >= n && r < METRICS_ROUTES_MAX)
            continue;
        for (size_t c = 0; c < NCODES; c++) {
            uint64_t v = get(&api_counts[r][c]);
            if (!v)
                continue;
            fputs("airlock_api_requests_total{route=\"", f);
            put_label(f, r < METRICS_ROUTES_MAX ? route_labels[r] : "other");
            fprintf(f, "\",code=\"%zu\"} %" PRIu64 "\n", c + CODE_MIN, v);
        }
    }
}

int
metrics_render(const struct metrics_now *now, char **ret_text, size_t *ret_len)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return -ENOMEM;
    render_jobs(f, now);
    render_egress(f);
    render_api(f);
    family(f, "airlock_build_info", "gauge", "Always 1; the daemon's version as a label.");
    fputs("airlock_build_info{version=\"", f);
    put_label(f, AIRLOCK_VERSION);
    fputs("\"} 1\n", f);
    family(f, "airlock_start_time_seconds", "gauge",
           "When the daemon started, in seconds since the Unix epoch.");
    fprintf(f, "airlock_start_time_seconds %.3f\n", (double)now->started_ms / 1000.0);
    bool failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed) {
        free(text);
        return -ENOMEM;
    }
    *ret_text = text;
    *ret_len = len;
    return 0;
}
