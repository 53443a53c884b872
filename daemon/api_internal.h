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

struct api {
    struct api_deps deps;
    struct MHD_Daemon *mhd;
    int waiting; /* requests suspended for a job's end and not yet completed (atomic) */
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
    unsigned status;
    int64_t start_us;
};

typedef enum MHD_Result (*api_handler)(struct api_request *req);

struct api_route {
    const char *method;
    const char *pattern; /* {} matches one non-empty segment, {*} the non-empty rest */
    api_handler handler;
    bool auth;      /* needs the bearer token */
    bool json_body; /* takes a JSON body (Content-Type checked, size bounded) */
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

#endif
