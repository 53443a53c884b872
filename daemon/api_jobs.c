/*
 * api_jobs: the /v1/jobs handlers. A POST with wait (body "wait": true or ?wait=true) does not
 * hold a thread: the connection is suspended, and jobs calls back when the job has ended and
 * its end is stored; the connection is then resumed and answered with the final job object.
 * GET .../stdout?follow=true streams the output as it is written, the same way: its connection
 * is suspended whenever there is nothing to send, and follow.c resumes it (follow.h).
 * GET /v1/jobs/<id>?wait_s=N (a long-poll) is suspended too, registered with jobs for the job's
 * next change and with api_wait.c for its deadline; whichever comes first resumes it.
 * An Idempotency-Key on POST /v1/jobs is checked and stored by jobs_submit, with the job.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "airlock_limits.h"
#include "api_internal.h"
#include "follow.h"
#include "log.h"
#include "sha256.h"

#define LIST_LIMIT_DEFAULT 50
/* The block a follow response allocates (per follower); chunked replies use the connection's
 * buffer instead, so it only matters to HTTP/1.0 clients. */
#define FOLLOW_BLOCK_BYTES 4096

static const char *
query(struct api_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result
reply_errno(struct api_request *req, int r, const char *what)
{
    switch (r) {
    case -ENOENT:
        return api_reply_error(req, 404, "not_found", "%s: no such job", what);
    case -ENOMEM:
        return api_reply_error(req, 500, "internal", "out of memory");
    default:
        return api_reply_error(req, 500, "internal", "%s: %s", what, strerror(-r));
    }
}

/* A strong ETag over the job object's bytes (FNV-1a 64). */
static void
etag_of(const char *text, char *buf, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    snprintf(buf, n, "\"%016llx\"", (unsigned long long)h);
}

static const char *
if_none_match(struct api_request *req)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "If-None-Match");
}

static bool
etag_matches(const char *inm, const char *etag)
{
    return inm && (strstr(inm, etag) || strcmp(inm, "*") == 0);
}

/* The job object's text (malloc'd, *ret_text), its ETag and (ret_status non-NULL) status. */
static int
job_text(struct api_request *req, const char *id, char **ret_text, char etag[24],
         char ret_status[16])
{
    int r = 0;
    json_t *job = jobs_get_json(req->api->deps.jobs, id, &r);
    const char *status;
    char *text;

    if (!job)
        return r;
    status = json_string_value(json_object_get(job, "status"));
    if (ret_status)
        str_copy(ret_status, 16, status ? status : "");
    text = json_dumps(job, JSON_COMPACT);
    json_decref(job);
    if (!text)
        return -ENOMEM;
    etag_of(text, etag, 24);
    *ret_text = text;
    return 0;
}

/* Answers 200 with the JSON text (taken) and its ETag, or 304 with no body when the request's
 * If-None-Match names the ETag. Cache-Control no-cache: a client may keep it, and must ask. */
static enum MHD_Result
reply_etagged(struct api_request *req, char *text, const char *etag)
{
    bool same = etag_matches(if_none_match(req), etag);
    struct MHD_Response *resp;

    if (same) {
        free(text);
        resp = MHD_create_response_from_buffer(0, (void *)(uintptr_t) "", MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    }
    if (!resp)
        return MHD_NO;
    if (!same)
        MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result res = MHD_queue_response(req->conn, same ? 304 : 200, resp);
    MHD_destroy_response(resp);
    req->answered = true;
    req->status = same ? 304 : 200;
    return res;
}

/* GET /v1/jobs/<id>: the job with an ETag; 304 when If-None-Match names it. */
static enum MHD_Result
reply_job_etag(struct api_request *req, const char *id)
{
    char etag[24], *text = NULL;
    int r = job_text(req, id, &text, etag, NULL);

    if (r < 0)
        return reply_errno(req, r, id);
    return reply_etagged(req, text, etag);
}

static enum MHD_Result
reply_job(struct api_request *req, unsigned status, const char *id)
{
    int r = 0;
    json_t *job = jobs_get_json(req->api->deps.jobs, id, &r);
    char location[128];
    struct MHD_Response *resp;

    if (!job)
        return reply_errno(req, r, id);
    if (status != 201 && !req->replayed)
        return api_reply_json(req, status, job);
    /* 201 carries Location, a replay Idempotent-Replayed: built here, not in api_reply_json. */
    snprintf(location, sizeof(location), "/v1/jobs/%s", id);
    char *text = json_dumps(job, JSON_COMPACT);
    json_decref(job);
    if (!text)
        return api_reply_error(req, 500, "internal", "out of memory");
    resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (status == 201)
        MHD_add_response_header(resp, "Location", location);
    if (req->replayed)
        MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result res = MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    req->answered = true;
    req->status = status;
    return res;
}

static void
on_job_end(void *ctx)
{
    struct api_request *req = ctx;

    req->watching = false; /* jobs removed the registration before calling */
    MHD_resume_connection(req->conn);
}

static bool
wait_requested(struct api_request *req, const struct job_request *jr)
{
    const char *w = query(req, "wait");

    return jr->wait || (w && (strcmp(w, "true") == 0 || strcmp(w, "1") == 0));
}

/* Idempotency-Key: 1..STORE_IDEM_KEY_MAX printable ASCII characters. */
static bool
idem_key_valid(const char *key)
{
    size_t n = 0;

    for (const char *p = key; *p; p++, n++)
        if (*p < 0x20 || *p > 0x7e)
            return false;
    return n >= 1 && n <= STORE_IDEM_KEY_MAX;
}

enum MHD_Result
api_jobs_create(struct api_request *req)
{
    const char *key = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Idempotency-Key");
    char sha[SHA256_HEX_LEN + 1];
    struct job_request jr;
    struct err err = {0};
    enum MHD_Result res;
    json_t *body;
    int r;

    if (req->resumed)
        return reply_job(req, 200, req->watch_id);
    if (key && !idem_key_valid(key))
        return api_reply_error(req, 400, "bad_request",
                               "Idempotency-Key: must be 1 to %d printable ASCII characters",
                               STORE_IDEM_KEY_MAX);
    if (!(body = api_body_object(req, &res)))
        return res;
    if (job_request_parse(body, &jr, &err) < 0) {
        json_decref(body);
        return api_reply_err(req, 400, &err);
    }
    if (key) {
        /* The exact bytes: a retry sends the same body, not merely an equivalent one. */
        sha256_digest_hex(req->body, req->body_len, sha);
        jr.idem_key = key;
        jr.idem_sha256 = sha;
    }
    r = jobs_submit(req->api->deps.jobs, &jr, req->watch_id, sizeof(req->watch_id), &err);
    bool wait = wait_requested(req, &jr);
    json_decref(body);
    if (r == -EAGAIN)
        return api_reply_error(req, 429, "too_many_jobs", "%s", err.message);
    if (r == -ESHUTDOWN || r == -ENOSPC)
        return api_reply_error(req, 503, "unavailable", "%s", err.message);
    if (r == -EINVAL)
        return api_reply_err(req, 400, &err);
    if (r == -EEXIST && strcmp(err.code ? err.code : "", "conflict") == 0)
        return api_reply_error(req, 409, "conflict", "%s", err.message);
    if (r < 0)
        return api_reply_error(req, 500, "internal", "%s",
                               err.message[0] ? err.message : strerror(-r));
    req->replayed = r == 1;
    if (!wait)
        return reply_job(req, 201, req->watch_id);
    r = jobs_watch(req->api->deps.jobs, req->watch_id, on_job_end, req);
    if (r != 0)
        return r == 1 ? reply_job(req, 200, req->watch_id) : reply_errno(req, r, req->watch_id);
    req->watching = true;
    req->suspended = true;
    req->counted_wait = true;
    __atomic_add_fetch(&req->api->waiting, 1, __ATOMIC_SEQ_CST);
    MHD_suspend_connection(req->conn);
    return MHD_YES;
}

/* ---- ?wait_s=N: a long-poll ---- */

/* The job changed (started or ended; or jobs_stop): the jobs lock is held, so only resume. */
static void
on_job_change(void *ctx)
{
    struct api_request *req = ctx;

    MHD_resume_connection(req->conn);
}

static bool
status_ended(const char *status)
{
    return strcmp(status, "queued") != 0 && strcmp(status, "running") != 0;
}

/* Whether the job moved on from what the client holds: with If-None-Match, its ETag differs
 * from it; without, its status differs from status0, the one when the wait began. */
static bool
job_moved(struct api_request *req, const char *inm, const char *status0)
{
    char etag[24], status[16], *text = NULL;
    int r = job_text(req, req->watch_id, &text, etag, status);

    if (r < 0)
        return true; /* deleted meanwhile, or out of memory: the resumed handler says which */
    free(text);
    return inm ? !etag_matches(inm, etag) : strcmp(status, status0) != 0;
}

/* Suspends req until the job's next change or the deadline. The connection is suspended
 * first, so that any resume -- from jobs, the timer, or here -- comes after the suspend. */
static enum MHD_Result
longpoll_park(struct api_request *req, uint64_t wait_s, const char *inm, const char *status0)
{
    struct api *a = req->api;
    bool ended0 = status_ended(status0), resume = false, timer_only = ended0;
    int r = 0;

    req->suspended = true;
    req->counted_wait = true;
    __atomic_add_fetch(&a->waiting, 1, __ATOMIC_SEQ_CST);
    MHD_suspend_connection(req->conn);
    /* An ended job whose ETag the client holds cannot change: only the deadline answers. */
    if (!ended0) {
        r = jobs_watch_on(a->deps.jobs, req->watch_id, JOBS_WATCH_CHANGE, on_job_change, req);
        req->watching = r == 0;
        resume = r != 0; /* ended meanwhile (1), or deleted: answered at once */
    }
    if (!resume &&
        api_wait_add(a->wait, req, time_mono_ms() + (int64_t)wait_s * 1000, timer_only) < 0)
        resume = !req->watching || jobs_unwatch(a->deps.jobs, req->watch_id, req);
    /* A change between the first look and the registration has no callback: look again. */
    else if (!resume && req->watching && job_moved(req, inm, status0))
        resume = jobs_unwatch(a->deps.jobs, req->watch_id, req);
    if (resume)
        MHD_resume_connection(req->conn);
    return MHD_YES;
}

static enum MHD_Result
longpoll(struct api_request *req, uint64_t wait_s)
{
    const char *id = req->params[0], *inm = if_none_match(req);
    char etag[24], status[16], *text = NULL;
    int r = job_text(req, id, &text, etag, status);

    if (r < 0)
        return reply_errno(req, r, id);
    free(text);
    /* At once: nothing to wait for, a client that does not hold the current object, an ended
     * job (without If-None-Match), a daemon that stops, an id too long to be a job's. */
    if (wait_s == 0 || (inm && !etag_matches(inm, etag)) || (!inm && status_ended(status)) ||
        api_wait_stopping(req->api->wait) || str_copy(req->watch_id, sizeof(req->watch_id), id) < 0)
        return reply_job_etag(req, id);
    return longpoll_park(req, wait_s, inm, status);
}

enum MHD_Result
api_jobs_get(struct api_request *req)
{
    const char *w = query(req, "wait_s");
    uint64_t wait_s = 0;

    if (req->resumed) {
        /* Whoever resumed it took the registration with jobs away; the answer is the job as
         * it is now (304 when the client still holds it). */
        api_wait_forget(req->api->wait, req);
        req->watching = false;
        return reply_job_etag(req, req->params[0]);
    }
    if (w && str_to_u64(w, 0, API_WAIT_S_MAX, &wait_s) < 0)
        return api_reply_error(req, 400, "bad_request",
                               "wait_s: must be an integer from 0 to %d (seconds to wait for the "
                               "job to change)",
                               API_WAIT_S_MAX);
    if (!w)
        return reply_job_etag(req, req->params[0]);
    return longpoll(req, wait_s);
}

static bool
status_valid(const char *s)
{
    static const char *const all[] = {"queued",    "running",  "succeeded", "failed",
                                      "timed_out", "canceled", "lost",      NULL};

    for (size_t i = 0; all[i]; i++)
        if (strcmp(all[i], s) == 0)
            return true;
    return false;
}

/* A list with a strong ETag over its bytes, and 304 when If-None-Match names it: a dashboard
 * polling the jobs table gets an empty answer while nothing changed. Takes out. */
/* A list with a strong ETag over its bytes: a dashboard polling the jobs table gets an empty
 * 304 while nothing changed. Takes out. */
static enum MHD_Result
reply_list_etag(struct api_request *req, json_t *out)
{
    char *text = out ? json_dumps(out, JSON_COMPACT) : NULL;
    char etag[24];

    json_decref(out);
    if (!text)
        return api_reply_error(req, 500, "internal", "out of memory");
    etag_of(text, etag, sizeof(etag));
    return reply_etagged(req, text, etag);
}

enum MHD_Result
api_jobs_list(struct api_request *req)
{
    struct store_job_filter f = {.limit = LIST_LIMIT_DEFAULT};
    const char *status = query(req, "status"), *label = query(req, "label");
    const char *limit = query(req, "limit");
    char key[128];
    uint64_t n;
    json_t *out = NULL;
    int r;

    if (status && !status_valid(status))
        return api_reply_error(req, 400, "bad_request",
                               "status: \"%.32s\" is not one of queued, running, succeeded, "
                               "failed, timed_out, canceled, lost",
                               status);
    f.status = status;
    if (label) {
        const char *colon = strchr(label, ':');
        if (!colon || colon == label || (size_t)(colon - label) >= sizeof(key))
            return api_reply_error(req, 400, "bad_request", "label: must be key:value");
        memcpy(key, label, (size_t)(colon - label));
        key[colon - label] = '\0';
        f.label_key = key;
        f.label_value = colon + 1;
    }
    if (limit) {
        if (str_to_u64(limit, 1, STORE_LIST_MAX, &n) < 0)
            return api_reply_error(req, 400, "bad_request", "limit: must be from 1 to %d",
                                   STORE_LIST_MAX);
        f.limit = (size_t)n;
    }
    f.before = query(req, "before");
    r = jobs_list_json(req->api->deps.jobs, &f, &out);
    if (r == -ENOENT)
        return api_reply_error(req, 400, "bad_request", "before: no job \"%.64s\"", f.before);
    if (r < 0)
        return reply_errno(req, r, "jobs");
    return reply_list_etag(req, out);
}

enum MHD_Result
api_jobs_cancel(struct api_request *req)
{
    int r = jobs_cancel(req->api->deps.jobs, req->params[0]);

    if (r == -EALREADY)
        return api_reply_error(req, 409, "conflict", "job %s has already ended", req->params[0]);
    if (r < 0)
        return reply_errno(req, r, req->params[0]);
    return reply_job(req, 202, req->params[0]);
}

enum MHD_Result
api_jobs_delete(struct api_request *req)
{
    int r = jobs_delete(req->api->deps.jobs, req->params[0]);

    if (r == -EBUSY)
        return api_reply_error(req, 409, "conflict",
                               "job %s is still queued or running: cancel it first",
                               req->params[0]);
    if (r < 0)
        return reply_errno(req, r, req->params[0]);
    return api_reply_json(req, 200, json_pack("{s:s, s:b}", "id", req->params[0], "deleted", 1));
}

/* Sends bytes [offset, size) of fd (taken), with X-Airlock-Offset: size. */
static enum MHD_Result
reply_fd(struct api_request *req, int fd, uint64_t offset, const char *type, bool with_offset)
{
    struct stat st;
    struct MHD_Response *resp;
    char end[32];
    uint64_t size;

    if (fstat(fd, &st) < 0) {
        close(fd);
        return api_reply_error(req, 500, "internal", "stat: %s", strerror(errno));
    }
    size = (uint64_t)st.st_size;
    if (offset > size)
        offset = size;
    resp = MHD_create_response_from_fd_at_offset64(size - offset, fd, offset);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (with_offset) {
        snprintf(end, sizeof(end), "%llu", (unsigned long long)size);
        MHD_add_response_header(resp, "X-Airlock-Offset", end);
    }
    enum MHD_Result r = MHD_queue_response(req->conn, 200, resp);
    MHD_destroy_response(resp);
    req->answered = true;
    req->status = 200;
    return r;
}

/* ---- ?follow=true: a chunked stream of the output as the job writes it ---- */

/* The follower sleeps by suspending its connection, from inside the content reader (allowed
 * there since libmicrohttpd 0.9.74: "The only safe way to call this function is to call it from
 * the MHD_AccessHandlerCallback or MHD_ContentReaderCallback"). Returning 0 without suspending
 * would have the server's thread call the reader again at once: a busy loop. */
static void
follow_park(void *ctx)
{
    MHD_suspend_connection(ctx);
}

static void
follow_wake(void *ctx)
{
    MHD_resume_connection(ctx);
}

static const struct follow_ops follow_mhd_ops = {follow_park, follow_wake};

static ssize_t
follow_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    ssize_t n = follow_read(cls, buf, max);

    (void)pos; /* the follower keeps its own position: offset + pos */
    if (n > 0)
        return n;
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n == -EAGAIN)
        return 0; /* suspended until follow resumes it */
    /* The daemon stops before the job ended, or a read failed: the chunked stream is cut
     * without its last chunk, so the client sees it incomplete. */
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* Called when the response is destroyed: after api_completed, with the connection done. */
static void
follow_done(void *cls)
{
    follow_close(cls);
}

/* "true"/"1" -> 1, "false"/"0"/absent -> 0, else -1. */
static int
flag_value(const char *v)
{
    if (!v || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        return 0;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        return 1;
    return -1;
}

static enum MHD_Result
reply_follow_error(struct api_request *req, int r)
{
    switch (r) {
    case -ESHUTDOWN:
        return api_reply_error(req, 503, "unavailable", "the daemon is shutting down");
    case -ENOSPC:
        return api_reply_error(req, 503, "unavailable",
                               "%s: no inotify watch left to follow it "
                               "(sysctl fs.inotify.max_user_watches)",
                               req->params[0]);
    default:
        return reply_errno(req, r, req->params[0]);
    }
}

/* X-Airlock-Offset is where the stream starts (not its end, which is not known yet). */
static enum MHD_Result
reply_follow(struct api_request *req, const char *stream, uint64_t offset)
{
    struct follower *fl = NULL;
    struct MHD_Response *resp;
    char start[32];
    int r = follow_open(req->api->deps.follow, req->params[0], stream, offset, &follow_mhd_ops,
                        req->conn, &fl);

    if (r < 0)
        return reply_follow_error(req, r);
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, FOLLOW_BLOCK_BYTES, follow_reader,
                                             fl, follow_done);
    if (!resp) {
        follow_close(fl);
        return MHD_NO;
    }
    snprintf(start, sizeof(start), "%llu", (unsigned long long)offset);
    MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Airlock-Offset", start);
    /* Counted like a wait=true client: api_stop gives it time to finish its stream. */
    req->counted_wait = true;
    __atomic_add_fetch(&req->api->waiting, 1, __ATOMIC_SEQ_CST);
    enum MHD_Result res = MHD_queue_response(req->conn, 200, resp);
    MHD_destroy_response(resp);
    req->answered = true;
    req->status = 200;
    return res;
}

static enum MHD_Result
output(struct api_request *req, const char *stream)
{
    const char *off = query(req, "offset");
    int follow = flag_value(query(req, "follow"));
    uint64_t offset = 0;
    int fd, r;

    if (off && str_to_u64(off, 0, UINT64_MAX / 2, &offset) < 0)
        return api_reply_error(req, 400, "bad_request",
                               "offset: must be a byte offset (0 or more)");
    if (follow < 0)
        return api_reply_error(req, 400, "bad_request", "follow: must be true, false, 1 or 0");
    if (follow)
        return reply_follow(req, stream, offset);
    if ((r = jobs_output_open(req->api->deps.jobs, req->params[0], stream, &fd)) < 0)
        return reply_errno(req, r, req->params[0]);
    return reply_fd(req, fd, offset, "text/plain; charset=utf-8", true);
}

enum MHD_Result
api_jobs_stdout(struct api_request *req)
{
    return output(req, "stdout");
}

enum MHD_Result
api_jobs_stderr(struct api_request *req)
{
    return output(req, "stderr");
}

enum MHD_Result
api_jobs_file(struct api_request *req)
{
    char path[WS_PATH_MAX + 2];
    const char *p = req->params[1] ? req->params[1] : "";
    size_t len = strlen(p);
    bool want_dir = len > 0 && p[len - 1] == '/', is_dir = false;
    int fd = -1, r;

    /* "dir/" names a directory (listed); "" the workspace itself. */
    if (str_copy(path, sizeof(path), p) < 0 || (want_dir && len == 1))
        r = -EINVAL;
    else {
        if (want_dir)
            path[len - 1] = '\0';
        r = jobs_file_open(req->api->deps.jobs, req->params[0], path, &fd, &is_dir);
    }
    if (r == 0 && want_dir && !is_dir) {
        close(fd);
        return api_reply_error(req, 400, "bad_request", "%.200s: not a directory", path);
    }
    switch (r) {
    case 0:
        return api_reply_file(req, fd, is_dir);
    case -ENOENT:
        if (jobs_exists(req->api->deps.jobs, req->params[0]) < 0)
            return reply_errno(req, r, req->params[0]);
        return api_reply_error(req, 404, "not_found", "%.200s: no such file in job %s's workspace",
                               p, req->params[0]);
    case -EINVAL:
        return api_reply_error(req, 400, "bad_request",
                               "path: \"%.200s\" must be a relative path inside the workspace, "
                               "without \"..\"",
                               p);
    case -ELOOP:
    case -EXDEV:
        return api_reply_error(req, 403, "forbidden",
                               "%.200s: leads through a symlink or out of the workspace; "
                               "refused",
                               p);
    case -EMLINK:
        return api_reply_error(req, 403, "forbidden",
                               "%.200s: has other hard links (it may be a link to a file "
                               "outside the workspace); refused",
                               p);
    case -ENXIO:
        return api_reply_error(req, 400, "bad_request", "%.200s: not a regular file or a directory",
                               p);
    case -ESTALE:
        return api_reply_error(req, 409, "conflict",
                               "job %s's workspace is an adopted directory that is no longer the "
                               "one adopted (replaced, or its owner changed)",
                               req->params[0]);
    default:
        return reply_errno(req, r, p);
    }
}

enum MHD_Result
api_jobs_egress(struct api_request *req)
{
    struct store_egress *ev = NULL;
    const char *a = query(req, "after"), *l = query(req, "limit");
    uint64_t after = 0, limit = STORE_LIST_MAX;
    size_t n = 0;
    json_t *arr;
    int r;

    /* Paging (docs/api.md, added to the contract): ?after=N skips the first N events, ?limit=M
     * returns at most M (1..1000, default 1000); "next" is the after of the next page. */
    if (a && str_to_u64(a, 0, INT64_MAX, &after) < 0)
        return api_reply_error(req, 400, "bad_request",
                               "after: must be a count of events to skip (0 or more)");
    if (l && str_to_u64(l, 1, STORE_LIST_MAX, &limit) < 0)
        return api_reply_error(req, 400, "bad_request", "limit: must be an integer from 1 to %d",
                               STORE_LIST_MAX);
    if ((r = jobs_exists(req->api->deps.jobs, req->params[0])) < 0)
        return reply_errno(req, r, req->params[0]);
    if ((r = store_egress_list(req->api->deps.store, req->params[0], (size_t)after, (size_t)limit,
                               &ev, &n)) < 0)
        return reply_errno(req, r, req->params[0]);
    arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        char t[40];
        time_rfc3339(t, sizeof(t), ev[i].time_ms);
        json_array_append_new(
            arr, json_pack("{s:s, s:s?, s:s?, s:s?, s:o, s:s?, s:s?, s:s?, s:s?, s:o, s:I, s:I, "
                           "s:I}",
                           "time", t, "method", ev[i].method, "scheme", ev[i].scheme, "host",
                           ev[i].host, "port", ev[i].port ? json_integer(ev[i].port) : json_null(),
                           "path", ev[i].path, "decision", ev[i].decision, "rule", ev[i].rule,
                           "reason", ev[i].reason, "status",
                           ev[i].status ? json_integer(ev[i].status) : json_null(), "bytes_up",
                           (json_int_t)ev[i].bytes_up, "bytes_down", (json_int_t)ev[i].bytes_down,
                           "duration_ms", (json_int_t)ev[i].duration_ms));
    }
    store_egress_free(ev, n);
    return api_reply_json(
        req, 200,
        json_pack("{s:o?, s:o}", "events", arr, "next",
                  n == limit ? json_integer((json_int_t)(after + n)) : json_null()));
}
