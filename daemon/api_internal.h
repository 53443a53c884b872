/*
 * api_internal: what the API's route handlers share with its core (api.c). Not a public face:
 * only api*.c include it. A handler gets a fully checked request (route matched, token checked,
 * body within limits) and answers with exactly one api_reply_* call.
 */
#ifndef AIRLOCK_API_INTERNAL_H
#define AIRLOCK_API_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>

#include "api.h"

#define API_PARAMS_MAX 4

struct api_wait;

struct api {
    struct api_deps deps;
    struct MHD_Daemon *mhd;      /* TCP, or NULL */
    struct MHD_Daemon *mhd_unix; /* listen_unix, or NULL */
    struct api_wait *wait;       /* long-poll deadlines (api_wait.c) */
    int waiting; /* requests suspended for a job's end, or following its output, and not yet
                  * completed (atomic) */
};

struct api_request {
    struct api *api;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    const struct api_route *route;
    char *params[API_PARAMS_MAX]; /* path parameters, decoded, owned */
    char *body;                   /* NUL-terminated, owned; NULL when none */
    size_t body_len;
    bool body_too_large;
    bool answered;
    bool suspended;    /* waiting for a job to end (MHD_suspend_connection) */
    bool resumed;      /* ... and it has */
    bool watching;     /* registered with jobs_watch under watch_id */
    bool counted_wait; /* counted in api->waiting */
    char watch_id[64];
    bool replayed; /* POST /v1/jobs answered an Idempotency-Key's first job */
    struct {
        struct api_request *prev, *next; /* in api_wait's list, under its lock */
        int64_t deadline_ms;             /* CLOCK_MONOTONIC */
        bool used;                       /* ever added: api_wait_forget at completion */
        bool queued;                     /* in the list */
        bool timer_only;                 /* not registered with jobs: only the timer resumes */
    } lp;                                /* a long-poll (GET /v1/jobs/<id>?wait_s=N) */
    void *stream;   /* a streamed body's state (api_stream), NULL once taken or aborted */
    int stream_err; /* a streamed body refused midway: the rest is read and dropped, and the
                     * error answered at its end (libmicrohttpd would not send an answer
                     * queued before the body is read) */
    unsigned status;
    int64_t start_us;
};

typedef enum MHD_Result (*api_handler)(struct api_request *req);
/* A streamed body: begin is called once the head is checked (it may answer at once, e.g. 404),
 * chunk for each piece of the body as it arrives (it may answer, and the rest is then
 * discarded), the route's handler once it is complete, and abort when the request ends without
 * the handler having taken over the stream (a client that went away). */
struct api_stream {
    api_handler begin;
    enum MHD_Result (*chunk)(struct api_request *req, const char *data, size_t n);
    void (*abort)(struct api_request *req);
};

struct api_route {
    const char *method;
    const char *pattern; /* {} matches one non-empty segment, {*} the non-empty rest */
    api_handler handler;
    bool auth;                       /* needs the bearer token */
    bool json_body;                  /* takes a JSON body (Content-Type checked, size bounded) */
    const struct api_stream *stream; /* streams its body instead (not bounded by max_body_bytes) */
};

/* Answers with status and the JSON value (reference stolen). A NULL json (ENOMEM) is a 500. */
enum MHD_Result api_reply_json(struct api_request *req, unsigned status, json_t *json);
/* Answers with api.md's error shape: {"error": {"code", "message"}}. */
enum MHD_Result api_reply_error(struct api_request *req, unsigned status, const char *code,
                                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Maps an err from a module to a status (by err->code) and answers. */
enum MHD_Result api_reply_err(struct api_request *req, unsigned status, const struct err *err);

/* Parses the request body as a JSON object. On failure answers 400 itself and returns NULL;
 * the caller then returns *ret_result. New reference on success. */
json_t *api_body_object(struct api_request *req, enum MHD_Result *ret_result);
/* Checks that obj has no keys outside allowed (NULL-terminated). Returns 0 or -EINVAL with
 * err naming the key ("body.foo: unknown field"). */
int api_check_fields(json_t *obj, const char *const *allowed, struct err *err);

/* Route handlers, one file per resource. */
enum MHD_Result api_healthz(struct api_request *req);
enum MHD_Result api_metrics(struct api_request *req);
enum MHD_Result api_policies_list(struct api_request *req);
enum MHD_Result api_policies_get(struct api_request *req);
enum MHD_Result api_policies_check(struct api_request *req);
enum MHD_Result api_policies_reload(struct api_request *req);
enum MHD_Result api_jobs_create(struct api_request *req);
enum MHD_Result api_jobs_list(struct api_request *req);
enum MHD_Result api_jobs_get(struct api_request *req);
enum MHD_Result api_jobs_delete(struct api_request *req);
enum MHD_Result api_jobs_cancel(struct api_request *req);
enum MHD_Result api_jobs_stdout(struct api_request *req);
enum MHD_Result api_jobs_stderr(struct api_request *req);
enum MHD_Result api_jobs_egress(struct api_request *req);
enum MHD_Result api_jobs_file(struct api_request *req);
enum MHD_Result api_workspaces_create(struct api_request *req);
enum MHD_Result api_workspaces_list(struct api_request *req);
enum MHD_Result api_workspaces_get(struct api_request *req);
enum MHD_Result api_workspaces_delete(struct api_request *req);
enum MHD_Result api_workspaces_file_get(struct api_request *req);
enum MHD_Result api_workspaces_file_delete(struct api_request *req);
enum MHD_Result api_workspaces_file_put(struct api_request *req);
extern const struct api_stream api_workspaces_upload;
/* The dashboard's static files from web_dir (api_web.c). api_web_path: whether a path is one
 * the dashboard's routes may take (not /v1..., /healthz, /metrics). */
enum MHD_Result api_web(struct api_request *req);
bool api_web_path(const char *url);
/* Answers with the bytes of a regular file (fd taken) or the listing of a directory. */
enum MHD_Result api_reply_file(struct api_request *req, int fd, bool is_dir);
/* Long-poll deadlines (api_wait.c): one timer thread resumes the suspended requests whose time
 * is up. api_wait_add lists a suspended request (-ESHUTDOWN once stopping: not listed);
 * api_wait_forget takes it off (call before it is freed). api_wait_stop resumes every listed
 * request and joins the thread; call it before MHD_stop_daemon. */
int api_wait_new(struct jobs *jobs, struct api_wait **ret);
void api_wait_stop(struct api_wait *w);
struct api_wait *api_wait_free(struct api_wait *w); /* NULL-safe; returns NULL */
bool api_wait_stopping(struct api_wait *w);
int api_wait_add(struct api_wait *w, struct api_request *req, int64_t deadline_ms, bool timer_only);
void api_wait_forget(struct api_wait *w, struct api_request *req);
/* The value of a query parameter, or NULL. */
const char *api_query(struct api_request *req, const char *name);

#endif
