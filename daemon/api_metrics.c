/*
 * api_metrics: the GET /metrics handler. It takes the gauges that live elsewhere (running and
 * queued jobs) at scrape time and serves metrics.c's rendering as Prometheus text. Whether it
 * needs the bearer token is decided in api.c with the other routes (metrics_public).
 */
#include "api_internal.h"

#include "metrics.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum MHD_Result
api_metrics(struct api_request *req)
{
    const struct api_deps *d = &req->api->deps;
    struct metrics_now now = {.started_ms = d->started_ms};
    struct MHD_Response *resp;
    char *text = NULL;
    size_t len = 0;

    if (d->jobs)
        jobs_counts(d->jobs, &now.jobs_running, &now.jobs_queued);
    if (metrics_render(&now, &text, &len) < 0)
        return api_reply_error(req, 500, "internal",
                               "out of memory while rendering the metrics; retry the scrape");
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", METRICS_CONTENT_TYPE);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result res = MHD_queue_response(req->conn, 200, resp);
    MHD_destroy_response(resp);
    req->answered = true;
    req->status = 200;
    return res;
}
