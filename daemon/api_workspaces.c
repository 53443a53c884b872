/*
 * api_workspaces: the /v1/workspaces handlers -- the workspaces themselves and their files. An
 * upload (PUT .../files/<path>) is streamed: each piece of the body goes to a temporary file
 * beside the target as it arrives (api_stream), so a large upload never sits in memory, and the
 * file is renamed into place once the body is complete.
 */
#include <fcntl.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>

#include "api_internal.h"
#include "log.h"

static const char *const create_fields[] = {"labels", "host_path", "disk_mb", NULL};

enum MHD_Result
api_workspaces_create(struct api_request *req)
{
    struct ws_create c = {0};
    struct err err = {0};
    enum MHD_Result res;
    json_t *body, *v, *obj;
    char location[96];
    int r = 0;

    if (!(body = api_body_object(req, &res)))
        return res;
    if (api_check_fields(body, create_fields, &err) < 0)
        goto bad;
    if ((v = json_object_get(body, "labels")) && !json_is_null(v)) {
        if (job_labels_check(v, &err) < 0)
            goto bad;
        c.labels = v;
    }
    if ((v = json_object_get(body, "host_path")) && !json_is_null(v)) {
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
            !*json_string_value(v)) {
            err_set(&err, EINVAL, "bad_request", "host_path: must be an absolute path");
            goto bad;
        }
        c.host_path = json_string_value(v);
    }
    if ((v = json_object_get(body, "disk_mb")) && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            err_set(&err, EINVAL, "bad_request",
                    "disk_mb: must be a whole number of MB, 1 or more (workspace_disk_mb_max "
                    "is the most)");
            goto bad;
        }
        c.disk_mb = (uint64_t)json_integer_value(v);
    }
    obj = workspaces_create(req->api->deps.workspaces, &c, &r, &err);
    json_decref(body);
    if (!obj) {
        if (r == -ENOMEM)
            return api_reply_error(req, 500, "internal", "out of memory");
        if (err.code && strcmp(err.code, "conflict") == 0)
            return api_reply_error(req, 409, "conflict", "%s", err.message);
        return api_reply_err(req, err.code && strcmp(err.code, "bad_request") == 0 ? 400 : 500,
                             &err);
    }
    snprintf(location, sizeof(location), "/v1/workspaces/%s",
             json_string_value(json_object_get(obj, "id")));
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!text)
        return api_reply_error(req, 500, "internal", "out of memory");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Location", location);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    res = MHD_queue_response(req->conn, 201, resp);
    MHD_destroy_response(resp);
    req->answered = true;
    req->status = 201;
    return res;
bad:
    json_decref(body);
    return api_reply_err(req, 400, &err);
}

enum MHD_Result
api_workspaces_list(struct api_request *req)
{
    const char *label = api_query(req, "label");
    json_t *out = NULL;
    int r = workspaces_list_json(req->api->deps.workspaces, label, &out);

    if (r == -EINVAL)
        return api_reply_error(req, 400, "bad_request", "label: must be key:value");
    if (r < 0)
        return api_reply_error(req, 500, "internal", "workspaces: %s", strerror(-r));
    return api_reply_json(req, 200, out);
}

static enum MHD_Result
no_workspace(struct api_request *req)
{
    return api_reply_error(req, 404, "not_found", "%.64s: no such workspace", req->params[0]);
}

enum MHD_Result
api_workspaces_get(struct api_request *req)
{
    int r = 0;
    json_t *obj = workspaces_get_json(req->api->deps.workspaces, req->params[0], &r);

    if (!obj && r == -ENOENT)
        return no_workspace(req);
    if (!obj)
        return api_reply_error(req, 500, "internal", "%s", strerror(-r));
    return api_reply_json(req, 200, obj);
}

enum MHD_Result
api_workspaces_delete(struct api_request *req)
{
    int r = workspaces_delete(req->api->deps.workspaces, req->params[0]);

    if (r == -ENOENT)
        return no_workspace(req);
    if (r == -EBUSY)
        return api_reply_error(req, 409, "conflict",
                               "workspace %s is in use by a queued or running job: wait for it "
                               "to end, or cancel it",
                               req->params[0]);
    if (r < 0)
        return api_reply_error(req, 500, "internal", "%s: %s", req->params[0], strerror(-r));
    return api_reply_json(req, 200, json_pack("{s:s, s:b}", "id", req->params[0], "deleted", 1));
}

/* ---- files ---- */

/* Maps the errors of a file operation to api.md's error shape. */
static enum MHD_Result
file_error(struct api_request *req, int r, const char *path)
{
    const char *ws = req->params[0];

    switch (r) {
    case -ENOENT:
        return api_reply_error(req, 404, "not_found", "%.200s: no such file in workspace %s", path,
                               ws);
    case -EINVAL:
    case -ENAMETOOLONG:
        return api_reply_error(req, 400, "bad_request",
                               "path: \"%.200s\" must be a relative path inside the workspace, "
                               "without \".\", \"..\" or empty segments",
                               path);
    case -ELOOP:
    case -EXDEV:
        return api_reply_error(req, 403, "forbidden",
                               "%.200s: leads through a symlink or out of the workspace; "
                               "refused",
                               path);
    case -EMLINK:
        return api_reply_error(req, 403, "forbidden",
                               "%.200s: has other hard links (it may be a link to a file "
                               "outside the workspace); refused",
                               path);
    case -EPERM:
        return api_reply_error(req, 403, "forbidden",
                               "%.200s: is protected (protected_paths in the daemon config): "
                               "read-only to jobs and to uploads",
                               path);
    case -ENXIO:
        return api_reply_error(req, 400, "bad_request", "%.200s: not a regular file or a directory",
                               path);
    case -ENOTDIR:
        return api_reply_error(req, 400, "bad_request",
                               "%.200s: a component of the path is not a directory", path);
    case -EISDIR:
        return api_reply_error(req, 409, "conflict", "%.200s: is a directory", path);
    case -ENOTEMPTY:
        return api_reply_error(req, 409, "conflict",
                               "%.200s: directory not empty (add ?recursive=true to remove it "
                               "with everything in it)",
                               path);
    case -EFBIG:
        return api_reply_error(req, 413, "payload_too_large",
                               "%.200s: the upload would pass workspace %s's disk cap (disk_mb)",
                               path, ws);
    case -ENOSPC:
    case -EDQUOT:
        return api_reply_error(req, 503, "unavailable",
                               "%.200s: no room on the disk, or the state volume is under "
                               "min_free_mb (%s)",
                               path, strerror(-r));
    case -ESTALE:
        return api_reply_error(req, 409, "conflict",
                               "workspace %s: its directory is no longer the one adopted "
                               "(replaced, or its owner changed)",
                               ws);
    default:
        return api_reply_error(req, 500, "internal", "%.200s: %s", path, strerror(-r));
    }
}

enum MHD_Result
api_reply_file(struct api_request *req, int fd, bool is_dir)
{
    struct MHD_Response *resp;
    struct stat st;
    enum MHD_Result r;

    if (is_dir) {
        json_t *list = ws_list_dir(fd);
        return list ? api_reply_json(req, 200, list)
                    : api_reply_error(req, 500, "internal", "cannot list: %s", strerror(errno));
    }
    if (fstat(fd, &st) < 0) {
        close(fd);
        return api_reply_error(req, 500, "internal", "stat: %s", strerror(errno));
    }
    resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    r = MHD_queue_response(req->conn, 200, resp);
    MHD_destroy_response(resp);
    req->answered = true;
    req->status = 200;
    return r;
}

/* The path parameter with one trailing '/' taken off (*ret_dir: the client asked for a
 * directory). "" for the workspace's root. */
static const char *
file_path(struct api_request *req, char *buf, size_t n, bool *ret_dir)
{
    const char *p = req->params[1] ? req->params[1] : "";
    size_t len = strlen(p);

    *ret_dir = len > 0 && p[len - 1] == '/';
    if (str_copy(buf, n, p) < 0)
        return NULL;
    if (*ret_dir)
        buf[len - 1] = '\0';
    return buf;
}

enum MHD_Result
api_workspaces_file_get(struct api_request *req)
{
    char buf[WS_PATH_MAX + 2];
    bool want_dir, is_dir = false;
    const char *path = file_path(req, buf, sizeof(buf), &want_dir);
    int fd = -1, r;

    if (!path)
        return file_error(req, -ENAMETOOLONG, req->params[1]);
    if (want_dir && !*path)
        return file_error(req, -EINVAL, req->params[1]);
    r = workspaces_file_open(req->api->deps.workspaces, req->params[0], path, &fd, &is_dir);
    if (r == -ENOENT && workspaces_exists(req->api->deps.workspaces, req->params[0]) < 0)
        return no_workspace(req);
    if (r < 0)
        return file_error(req, r, path);
    if (want_dir && !is_dir) {
        close(fd);
        return file_error(req, -ENOTDIR, path);
    }
    return api_reply_file(req, fd, is_dir);
}

enum MHD_Result
api_workspaces_file_delete(struct api_request *req)
{
    const char *rec = api_query(req, "recursive");
    char buf[WS_PATH_MAX + 2];
    bool want_dir;
    const char *path = file_path(req, buf, sizeof(buf), &want_dir);
    int r;

    if (rec && strcmp(rec, "true") != 0 && strcmp(rec, "false") != 0)
        return api_reply_error(req, 400, "bad_request", "recursive: must be true or false");
    if (!path || !*path)
        return file_error(req, -EINVAL, req->params[1]);
    if ((r = workspaces_exists(req->api->deps.workspaces, req->params[0])) < 0)
        return no_workspace(req);
    r = workspaces_file_delete(req->api->deps.workspaces, req->params[0], path,
                               rec && strcmp(rec, "true") == 0, want_dir);
    if (r < 0)
        return file_error(req, r, path);
    return api_reply_json(req, 200, json_pack("{s:s, s:b}", "path", path, "deleted", 1));
}

/* ---- uploads ---- */

static bool
expects_continue(struct api_request *req)
{
    const char *e = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Expect");

    return e && strcasecmp(e, "100-continue") == 0;
}

static enum MHD_Result
upload_begin(struct api_request *req)
{
    const char *len = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Length");
    const char *path = req->params[1];
    struct ws_upload *u = NULL;
    struct err err = {0};
    uint64_t expected = 0;
    int r;

    if (len)
        (void)str_to_u64(len, 0, UINT64_MAX, &expected); /* checked by the head already */
    if (workspaces_exists(req->api->deps.workspaces, req->params[0]) < 0)
        return no_workspace(req);
    r = jobs_check_free(req->api->deps.cfg, &err);
    if (r == 0)
        r = workspaces_upload_begin(req->api->deps.workspaces, req->params[0], path, expected, &u,
                                    &err);
    if (r == 0) {
        req->stream = u;
        return MHD_YES;
    }
    /* Refused before the body. A client that asked "Expect: 100-continue" waits for this
     * answer and sends nothing; any other is already sending, and an answer followed by a
     * close with its body unread can reach it as a reset: its body is read and dropped, and
     * the answer given at the end. */
    if (!expects_continue(req) && len && expected > 0) {
        req->stream_err = r;
        return MHD_YES;
    }
    if (r == -EFBIG && err.message[0])
        return api_reply_error(req, 413, "payload_too_large", "%s", err.message);
    if (r == -ENOSPC && err.message[0])
        return api_reply_error(req, 503, "unavailable", "%s", err.message);
    return file_error(req, r, path);
}

static enum MHD_Result
upload_chunk(struct api_request *req, const char *data, size_t n)
{
    int r;

    if (req->stream_err)
        return MHD_YES; /* refused already: the rest is dropped */
    if ((r = workspaces_upload_write(req->stream, data, n)) == 0)
        return MHD_YES;
    workspaces_upload_end(TAKE_PTR(req->stream), false, NULL, NULL);
    log_info("workspace.upload", "workspace %s: %.200s: upload refused: %s", req->params[0],
             req->params[1], strerror(-r));
    req->stream_err = r;
    return MHD_YES;
}

static void
upload_abort(struct api_request *req)
{
    workspaces_upload_end(TAKE_PTR(req->stream), false, NULL, NULL);
}

const struct api_stream api_workspaces_upload = {upload_begin, upload_chunk, upload_abort};

enum MHD_Result
api_workspaces_file_put(struct api_request *req)
{
    json_t *entry = NULL;
    bool created = false;
    int r = req->stream_err ? req->stream_err
                            : workspaces_upload_end(TAKE_PTR(req->stream), true, &created, &entry);

    if (r < 0)
        return file_error(req, r, req->params[1]);
    if (entry)
        json_object_set_new(entry, "path", json_string(req->params[1]));
    return api_reply_json(req, created ? 201 : 200, entry);
}
