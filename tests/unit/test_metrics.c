/*
 * Unit tests for metrics: what each counting call does to the rendered text -- the histogram's
 * bucket edges (an observation on an edge counts in that bucket), the sum, +Inf equal to
 * _count; egress reasons ("" for none, escaped label values, the table full -> "other"); API
 * routes by index (unregistered -> "other", codes outside 100..599 ignored); unknown end
 * statuses ignored; and exact counts under concurrent increments. Criterion runs each test in
 * its own process, so every test starts from zero counters.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static char *
render(void)
{
    struct metrics_now now = {.jobs_running = 2, .jobs_queued = 7, .started_ms = 1700000000123};
    char *text = NULL;
    size_t len = 0;

    cr_assert_eq(metrics_render(&now, &text, &len), 0);
    cr_assert_eq(strlen(text), len);
    return text;
}

/* True when the text has this exact line. */
static bool
has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; (p = strstr(p, line)); p += n)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

#define expect_line(text, line) cr_expect(has_line(text, line), "no line %s in:\n%s", line, text)

Test(metrics, fresh_counters_render_every_fixed_series_at_zero)
{
    char *t = render();

    expect_line(t, "airlock_jobs_started_total 0");
    expect_line(t, "airlock_jobs_ended_total{status=\"succeeded\"} 0");
    expect_line(t, "airlock_jobs_ended_total{status=\"failed\"} 0");
    expect_line(t, "airlock_jobs_ended_total{status=\"timed_out\"} 0");
    expect_line(t, "airlock_jobs_ended_total{status=\"canceled\"} 0");
    expect_line(t, "airlock_jobs_ended_total{status=\"lost\"} 0");
    expect_line(t, "airlock_jobs_running 2");
    expect_line(t, "airlock_jobs_queued 7");
    expect_line(t, "airlock_job_spawn_seconds_bucket{le=\"+Inf\"} 0");
    expect_line(t, "airlock_job_spawn_seconds_count 0");
    expect_line(t, "airlock_egress_requests_total{decision=\"allow\",reason=\"\"} 0");
    expect_line(t, "airlock_proxy_bytes_total{direction=\"up\"} 0");
    expect_line(t, "airlock_proxy_bytes_total{direction=\"down\"} 0");
    expect_line(t, "airlock_build_info{version=\"" AIRLOCK_VERSION "\"} 1");
    expect_line(t, "airlock_start_time_seconds 1700000000.123");
    expect_line(t, "# TYPE airlock_job_spawn_seconds histogram");
    expect_line(t, "# TYPE airlock_api_requests_total counter");
    cr_expect(!strstr(t, "airlock_api_requests_total{"), "no request yet:\n%s", t);
    free(t);
}

Test(metrics, jobs_by_status_and_unknown_statuses_ignored)
{
    metrics_job_started();
    metrics_job_started();
    metrics_job_ended("succeeded");
    metrics_job_ended("timed_out");
    metrics_job_ended("running"); /* not an end */
    metrics_job_ended("");
    metrics_job_ended(NULL);
    char *t = render();
    expect_line(t, "airlock_jobs_started_total 2");
    expect_line(t, "airlock_jobs_ended_total{status=\"succeeded\"} 1");
    expect_line(t, "airlock_jobs_ended_total{status=\"timed_out\"} 1");
    expect_line(t, "airlock_jobs_ended_total{status=\"failed\"} 0");
    cr_expect(!strstr(t, "running\""), "%s", t);
    free(t);
}

Test(metrics, spawn_histogram_edges_sum_and_count)
{
    metrics_spawn_seconds(0.001);  /* on the first edge: counted there */
    metrics_spawn_seconds(0.0011); /* just past it: the next */
    metrics_spawn_seconds(0.004);
    metrics_spawn_seconds(0.05);
    metrics_spawn_seconds(5.0); /* past every edge: +Inf only */
    metrics_spawn_seconds(-1);  /* a clock step: counted as 0 */
    metrics_spawn_seconds(NAN);
    char *t = render();
    expect_line(t, "airlock_job_spawn_seconds_bucket{le=\"0.001\"} 3");
    expect_line(t, "airlock_job_spawn_seconds_bucket{le=\"0.0025\"} 4");
    expect_line(t, "airlock_job_spawn_seconds_bucket{le=\"0.005\"} 5");
    expect_line(t, "airlock_job_spawn_seconds_bucket{le=\"0.03\"} 5");
    expect_line(t, "airlock_job_spawn_seconds_bucket{le=\"0.05\"} 6");
    expect_line(t, "airlock_job_spawn_seconds_bucket{le=\"1\"} 6");
    expect_line(t, "airlock_job_spawn_seconds_bucket{le=\"+Inf\"} 7");
    expect_line(t, "airlock_job_spawn_seconds_count 7");
    expect_line(t, "airlock_job_spawn_seconds_sum 5.056100");
    free(t);
}

Test(metrics, egress_by_decision_and_reason_with_bytes)
{
    metrics_egress("allow", NULL, 10, 6);
    metrics_egress("allow", "upstream_timeout", 0, 100);
    metrics_egress("deny", "no_rule", 0, 0);
    metrics_egress("deny", "no_rule", -1, -1); /* never negative */
    metrics_egress("deny", "we\"ird\\\nreason", 0, 0);
    char *t = render();
    expect_line(t, "airlock_egress_requests_total{decision=\"allow\",reason=\"\"} 1");
    expect_line(t,
                "airlock_egress_requests_total{decision=\"allow\",reason=\"upstream_timeout\"} 1");
    expect_line(t, "airlock_egress_requests_total{decision=\"deny\",reason=\"no_rule\"} 2");
    expect_line(
        t, "airlock_egress_requests_total{decision=\"deny\",reason=\"we\\\"ird\\\\\\nreason\"} "
           "1");
    expect_line(t, "airlock_proxy_bytes_total{direction=\"up\"} 10");
    expect_line(t, "airlock_proxy_bytes_total{direction=\"down\"} 106");
    /* A pair that never happened has no series. */
    cr_expect(!strstr(t, "decision=\"allow\",reason=\"no_rule\""), "%s", t);
    free(t);
}

Test(metrics, egress_reasons_past_the_table_count_as_other)
{
    char reason[32];

    for (int i = 0; i < METRICS_REASONS_MAX + 5; i++) {
        snprintf(reason, sizeof(reason), "r%d", i);
        metrics_egress("deny", reason, 0, 0);
    }
    char *t = render();
    /* Slot 0 is "": METRICS_REASONS_MAX - 1 named, the rest other. */
    expect_line(t, "airlock_egress_requests_total{decision=\"deny\",reason=\"r0\"} 1");
    char line[128];
    snprintf(line, sizeof(line),
             "airlock_egress_requests_total{decision=\"deny\",reason=\"r%d\"} 1",
             METRICS_REASONS_MAX - 2);
    expect_line(t, line);
    snprintf(line, sizeof(line), "reason=\"r%d\"", METRICS_REASONS_MAX - 1);
    cr_expect(!strstr(t, line), "%s", t);
    expect_line(t, "airlock_egress_requests_total{decision=\"deny\",reason=\"other\"} 6");
    free(t);
}

Test(metrics, api_requests_by_route_and_code)
{
    cr_assert_eq(metrics_api_route(0, "GET", "/healthz"), 0);
    cr_assert_eq(metrics_api_route(1, "GET", "/v1/jobs/{}"), 0);
    cr_expect_eq(metrics_api_route(METRICS_ROUTES_MAX, "GET", "/x"), -ERANGE);
    char longp[METRICS_LABEL_MAX + 8];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    cr_expect_eq(metrics_api_route(2, "GET", longp), -ENAMETOOLONG);
    metrics_api(1, 200);
    metrics_api(1, 404);
    metrics_api(1, 404);
    metrics_api(0, 200);
    metrics_api(METRICS_ROUTE_OTHER, 404);
    metrics_api(7, 401); /* never registered: other */
    metrics_api(1, 99);  /* outside 100..599: ignored */
    metrics_api(1, 600);
    char *t = render();
    expect_line(t, "airlock_api_requests_total{route=\"GET /v1/jobs/{}\",code=\"200\"} 1");
    expect_line(t, "airlock_api_requests_total{route=\"GET /v1/jobs/{}\",code=\"404\"} 2");
    expect_line(t, "airlock_api_requests_total{route=\"GET /healthz\",code=\"200\"} 1");
    expect_line(t, "airlock_api_requests_total{route=\"other\",code=\"404\"} 1");
    expect_line(t, "airlock_api_requests_total{route=\"other\",code=\"401\"} 1");
    cr_expect(!strstr(t, "code=\"99\"") && !strstr(t, "code=\"600\""), "%s", t);
    free(t);
}

static void *
hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        metrics_job_started();
        metrics_egress(i % 2 ? "allow" : "deny", i % 3 ? "no_rule" : NULL, 1, 2);
        metrics_api(METRICS_ROUTE_OTHER, 200);
        metrics_spawn_seconds(0.003);
    }
    return NULL;
}

Test(metrics, concurrent_counting_loses_nothing)
{
    pthread_t t[4];

    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *s = render();
    expect_line(s, "airlock_jobs_started_total 400000");
    expect_line(s, "airlock_api_requests_total{route=\"other\",code=\"200\"} 400000");
    expect_line(s, "airlock_job_spawn_seconds_count 400000");
    expect_line(s, "airlock_proxy_bytes_total{direction=\"up\"} 400000");
    expect_line(s, "airlock_proxy_bytes_total{direction=\"down\"} 800000");
    /* i % 2 and i % 3 over 0..99999, four times. */
    int allow_none = 0, allow_rule = 0, deny_none = 0, deny_rule = 0;
    for (int i = 0; i < 100000; i++) {
        bool allow = i % 2, none = i % 3 == 0;
        allow_none += allow && none;
        allow_rule += allow && !none;
        deny_none += !allow && none;
        deny_rule += !allow && !none;
    }
    char line[128];
    snprintf(line, sizeof(line), "airlock_egress_requests_total{decision=\"allow\",reason=\"\"} %d",
             4 * allow_none);
    expect_line(s, line);
    snprintf(line, sizeof(line),
             "airlock_egress_requests_total{decision=\"allow\",reason=\"no_rule\"} %d",
             4 * allow_rule);
    expect_line(s, line);
    snprintf(line, sizeof(line), "airlock_egress_requests_total{decision=\"deny\",reason=\"\"} %d",
             4 * deny_none);
    expect_line(s, line);
    snprintf(line, sizeof(line),
             "airlock_egress_requests_total{decision=\"deny\",reason=\"no_rule\"} %d",
             4 * deny_rule);
    expect_line(s, line);
    free(s);
}
