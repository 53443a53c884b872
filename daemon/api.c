/*
 * api: the HTTP core. libmicrohttpd calls api_access() several times per request: first with
 * the head (route, auth, method and size are decided there, before any body byte is read), then
 * once per body chunk, then once more to answer. The route table below is the whole API at a
 * glance. Every answer goes through api_reply_json / api_reply_error, so the error shape and the
 * common headers are the same everywhere.
 */
#include "api_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <strings.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "airlock_limits.h"
#include "log.h"
#include "metrics.h"
#include "token.h"

static const struct api_route routes[] = {
    {"GET", "/healthz", api_healthz, false, false},
    {"GET", "/metrics", api_metrics, true, false}, /* unless metrics_public */
    {"GET", "/v1/policies", api_policies_list, true, false},
    {"POST", "/v1/policies/reload", api_policies_reload, true, true},
    {"GET", "/v1/policies/{}", api_policies_get, true, false},
    {"POST", "/v1/policies/{}/check", api_policies_check, true, true},
    {"POST", "/v1/jobs", api_jobs_create, true, true},
    {"GET", "/v1/jobs", api_jobs_list, true, false},
    {"GET", "/v1/jobs/{}", api_jobs_get, true, false},
    {"DELETE", "/v1/jobs/{}", api_jobs_delete, true, false},
    {"POST", "/v1/jobs/{}/cancel", api_jobs_cancel, true, true},
    {"GET", "/v1/jobs/{}/stdout", api_jobs_stdout, true, false},
    {"GET", "/v1/jobs/{}/stderr", api_jobs_stderr, true, false},
    {"GET", "/v1/jobs/{}/egress", api_jobs_egress, true, false},
    {"GET", "/v1/jobs/{}/files", api_jobs_file, true, false},
    {"GET", "/v1/jobs/{}/files/", api_jobs_file, true, false},
    {"GET", "/v1/jobs/{}/files/{*}", api_jobs_file, true, false},
    {"POST", "/v1/workspaces", api_workspaces_create, true, true},
    {"GET", "/v1/workspaces", api_workspaces_list, true, false},
    {"GET", "/v1/workspaces/{}", api_workspaces_get, true, false},
    {"DELETE", "/v1/workspaces/{}", api_workspaces_delete, true, false},
    {"GET", "/v1/workspaces/{}/files", api_workspaces_file_get, true, false},
    {"GET", "/v1/workspaces/{}/files/", api_workspaces_file_get, true, false},
    {"GET", "/v1/workspaces/{}/files/{*}", api_workspaces_file_get, true, false},
    {"PUT", "/v1/workspaces/{}/files/{*}", api_workspaces_file_put, true, false,
     &api_workspaces_upload},
    {"DELETE", "/v1/workspaces/{}/files/{*}", api_workspaces_file_delete, true, false},
    /* The dashboard (api_web.c): any path outside /v1, /healthz and /metrics; no token. */
    {"GET", "/", api_web, false, false},
    {"GET", "/{*}", api_web, false, false},
};

_Static_assert(ARRAY_SIZE(routes) <= METRICS_ROUTES_MAX, "raise METRICS_ROUTES_MAX");

size_t
api_routes(const char **methods, const char **patterns, size_t max)
{
    for (size_t i = 0; i < ARRAY_SIZE(routes) && i < max; i++) {
        methods[i] = routes[i].method;
        patterns[i] = routes[i].pattern;
    }
    return ARRAY_SIZE(routes);
}

const char *
api_query(struct api_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- replies ---- */

static enum MHD_Result
queue(struct api_request *req, unsigned status, struct MHD_Response *resp)
{
    enum MHD_Result r;

    if (!resp)
        return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    r = MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    req->answered = true;
    req->status = status;
    return r;
}

static struct MHD_Response *
json_response(json_t *json)
{
    char *text = json_dumps(json, JSON_COMPACT);
    struct MHD_Response *resp;
    size_t len;

    if (!text)
        return NULL;
    len = strlen(text);
    text[len] = '\0';
    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    return resp;
}

enum MHD_Result
api_reply_json(struct api_request *req, unsigned status, json_t *json)
{
    struct MHD_Response *resp;

    if (!json)
        return api_reply_error(req, 500, "internal", "out of memory");
    resp = json_response(json);
    json_decref(json);
    if (!resp)
        return MHD_NO;
    return queue(req, status, resp);
}

static struct MHD_Response *
error_response(const char *code, const char *message)
{
    json_t *j = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    struct MHD_Response *resp;

    if (!j)
        return NULL;
    resp = json_response(j);
    json_decref(j);
    return resp;
}

enum MHD_Result
api_reply_error(struct api_request *req, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return queue(req, status, error_response(code, msg));
}

enum MHD_Result
api_reply_err(struct api_request *req, unsigned status, const struct err *err)
{
    return api_reply_error(req, status, status == 500 ? "internal" : "bad_request", "%s",
                           err->message);
}

/* ---- bodies ---- */

static size_t
json_depth(json_t *j)
{
    size_t max = 0;
    const char *k;
    json_t *v;
    size_t i;

    if (json_is_object(j)) {
        json_object_foreach(j, k, v)
        {
            size_t d = json_depth(v);
            max = d > max ? d : max;
        }
        return max + 1;
    }
    if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            size_t d = json_depth(v);
            max = d > max ? d : max;
        }
        return max + 1;
    }
    return 0;
}

json_t *
api_body_object(struct api_request *req, enum MHD_Result *ret_result)
{
    json_error_t jerr;
    json_t *j;

    if (!req->body || req->body_len == 0) {
        *ret_result = api_reply_error(req, 400, "bad_request", "body: a JSON object is required");
        return NULL;
    }
    j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        *ret_result =
            api_reply_error(req, 400, "bad_request", "body: invalid JSON at line %d column %d: %s",
                            jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        *ret_result = api_reply_error(req, 400, "bad_request", "body: must be a JSON object");
        return NULL;
    }
    if (json_depth(j) > API_JSON_DEPTH_MAX) {
        json_decref(j);
        *ret_result = api_reply_error(req, 400, "bad_request", "body: nested deeper than %d levels",
                                      API_JSON_DEPTH_MAX);
        return NULL;
    }
    return j;
}

int
api_check_fields(json_t *obj, const char *const *allowed, struct err *err)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok)
            return err_set(err, EINVAL, "bad_request", "body.%.64s: unknown field", key);
    }
    return 0;
}

/* ---- routing ---- */

static void
params_free(char **params)
{
    for (size_t i = 0; i < API_PARAMS_MAX; i++) {
        free(params[i]);
        params[i] = NULL;
    }
}

/* Matches path against pattern without allocating; records where each {} segment is. */
static bool
route_match_spans(const char *pattern, const char *path, const char **starts, size_t *lens,
                  size_t *ret_n)
{
    size_t np = 0;

    while (*pattern && *path) {
        bool rest = strncmp(pattern, "{*}", 3) == 0; /* the rest of the path, slashes too */
        if (rest || (pattern[0] == '{' && pattern[1] == '}')) {
            size_t len = rest ? strlen(path) : strcspn(path, "/");
            if (len == 0 || np == API_PARAMS_MAX)
                return false;
            starts[np] = path;
            lens[np++] = len;
            path += len;
            pattern += rest ? 3 : 2;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    *ret_n = np;
    return *pattern == '\0' && *path == '\0';
}

/* Matches path against pattern; on a match fills params (malloc'd, all or none). */
static bool
route_match(const char *pattern, const char *path, char **params)
{
    const char *starts[API_PARAMS_MAX];
    size_t lens[API_PARAMS_MAX], n = 0;

    if (!route_match_spans(pattern, path, starts, lens, &n))
        return false;
    for (size_t i = 0; i < n; i++) {
        params[i] = strndup(starts[i], lens[i]);
        if (!params[i]) {
            params_free(params);
            return false;
        }
    }
    return true;
}

/* Finds the route for method+path. Sets *path_known when some route has this path. */
static const struct api_route *
route_find(struct api_request *req, bool *path_known, char *allow, size_t allow_n)
{
    const struct api_route *found = NULL;

    *path_known = false;
    allow[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        char *params[API_PARAMS_MAX] = {0};
        if (routes[i].handler == api_web && !api_web_path(req->url))
            continue;
        if (!route_match(routes[i].pattern, req->url, params))
            continue;
        *path_known = true;
        size_t used = strlen(allow);
        snprintf(allow + used, allow_n - used, "%s%s", used ? ", " : "", routes[i].method);
        bool same = strcmp(routes[i].method, req->method) == 0 ||
                    (strcmp(req->method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0);
        if (same && !found) {
            found = &routes[i];
            memcpy(req->params, params, sizeof(params));
        } else {
            params_free(params);
        }
    }
    return found;
}

/* The body types the API reads as JSON: application/json (and +json types), none at all, and
 * application/x-www-form-urlencoded, which is what `curl -d` sends unless told otherwise. The
 * body must still be JSON. Accepting the form type opens no cross-site hole: a browser cannot
 * attach the bearer token to a cross-origin form post, and there are no cookies. */
static bool
is_json_type(const char *ct)
{
    static const char *const types[] = {"application/json", "application/x-www-form-urlencoded"};
    size_t len;

    if (!ct || !*ct)
        return true;
    len = strcspn(ct, "; \t");
    for (size_t i = 0; i < ARRAY_SIZE(types); i++)
        if (len == strlen(types[i]) && strncasecmp(ct, types[i], len) == 0)
            return true;
    return len > 5 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(ct + len - 5, "+json", 5) == 0;
}

/* /metrics is outside /v1, but it tells how busy the daemon is and which routes are used: it
 * needs the token like /v1 unless the operator makes it public (metrics_public) for a scraper
 * that cannot send one. */
static bool
route_needs_auth(const struct api *a, const struct api_route *r)
{
    if (r->handler == api_metrics)
        return !a->deps.cfg->metrics_public;
    return r->auth;
}

/* Decides everything that can be decided from the head. Returns true when it answered. */
static bool
check_head(struct api_request *req, enum MHD_Result *res)
{
    const char *auth, *len, *ct, *te;
    char allow[128];
    bool known;
    uint64_t clen = 0;

    if (strlen(req->url) > API_URL_MAX) {
        *res = api_reply_error(req, 414, "bad_request", "url: longer than %d bytes", API_URL_MAX);
        return true;
    }
    if (strstr(req->url, "%00")) {
        *res = api_reply_error(req, 400, "bad_request",
                               "url: an encoded NUL (%%00) cannot be part of a path");
        return true;
    }
    req->route = route_find(req, &known, allow, sizeof(allow));
    auth = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Authorization");
    bool needs_auth =
        req->route ? route_needs_auth(req->api, req->route) : str_has_prefix(req->url, "/v1/");
    if (needs_auth && !token_check_header(req->api->deps.token, auth)) {
        struct MHD_Response *r =
            error_response("unauthorized", auth ? "Authorization: the bearer token is not valid"
                                                : "Authorization: a bearer token is required "
                                                  "(Authorization: Bearer <token>)");
        if (r)
            MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"airlock\"");
        *res = queue(req, 401, r);
        return true;
    }
    if (!req->route && !known) {
        *res = api_reply_error(req, 404, "not_found", "%s: no such route", req->url);
        return true;
    }
    if (!req->route) {
        struct MHD_Response *r =
            error_response("method_not_allowed", "this path allows only the methods in Allow");
        if (r)
            MHD_add_response_header(r, "Allow", allow);
        *res = queue(req, 405, r);
        return true;
    }
    len = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Length");
    te = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Transfer-Encoding");
    if (len && str_to_u64(len, 0, UINT64_MAX, &clen) < 0) {
        *res = api_reply_error(req, 400, "bad_request", "Content-Length: not a number");
        return true;
    }
    if (clen > req->api->deps.cfg->max_body_bytes && !req->route->stream) {
        *res = api_reply_error(req, 413, "payload_too_large",
                               "body: %llu bytes is more than the limit of %zu (max_body_bytes)",
                               (unsigned long long)clen, req->api->deps.cfg->max_body_bytes);
        return true;
    }
    ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Type");
    if ((clen > 0 || te) && req->route->json_body && !is_json_type(ct)) {
        *res = api_reply_error(req, 415, "unsupported_media_type",
                               "Content-Type: must be application/json, not %.64s",
                               ct ? ct : "(none)");
        return true;
    }
    return false;
}

/* Appends a body chunk, refusing to grow past max_body_bytes. */
static void
body_append(struct api_request *req, const char *data, size_t n)
{
    size_t max = req->api->deps.cfg->max_body_bytes;
    char *grown;

    if (req->body_too_large || !req->route->json_body)
        return;
    if (req->body_len + n > max) {
        req->body_too_large = true;
        return;
    }
    grown = realloc(req->body, req->body_len + n + 1);
    if (!grown) {
        req->body_too_large = true; /* answered as 413 below: cannot hold it */
        return;
    }
    memcpy(grown + req->body_len, data, n);
    req->body = grown;
    req->body_len += n;
    req->body[req->body_len] = '\0';
}

static enum MHD_Result
api_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    struct api_request *req = *con_cls;
    enum MHD_Result res;

    (void)version;
    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        req->api = cls;
        req->conn = conn;
        req->method = method;
        req->url = url;
        req->start_us = time_mono_us();
        *con_cls = req;
        if (check_head(req, &res))
            return res;
        if (req->route->stream)
            return req->route->stream->begin(req);
        return MHD_YES;
    }
    if (req->answered) {
        *upload_data_size = 0; /* already answered early: discard the rest of the body */
        return MHD_YES;
    }
    if (req->suspended) {
        /* Resumed (the job a wait was for has ended): the handler answers now. */
        req->suspended = false;
        req->resumed = true;
        return req->route->handler(req);
    }
    if (*upload_data_size && req->route->stream) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return req->route->stream->chunk(req, upload_data, n);
    }
    if (*upload_data_size) {
        body_append(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->body_too_large)
        return api_reply_error(req, 413, "payload_too_large",
                               "body: more than the limit of %zu bytes (max_body_bytes)",
                               req->api->deps.cfg->max_body_bytes);
    return req->route->handler(req);
}

static void
api_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
              enum MHD_RequestTerminationCode toe)
{
    struct api_request *req = *con_cls;

    (void)cls;
    (void)conn;
    if (!req)
        return;
    log_info("api.request", "%s %.256s %u %.1fms%s", req->method, req->url, req->status,
             (double)(time_mono_us() - req->start_us) / 1000.0,
             toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection ended early)");
    if (req->status)
        metrics_api(req->route ? (size_t)(req->route - routes) : METRICS_ROUTE_OTHER, req->status);
    api_wait_forget(req->api->wait, req); /* before the free: the timer may look at it */
    if (req->watching)
        jobs_unwatch(req->api->deps.jobs, req->watch_id, req);
    if (req->stream && req->route && req->route->stream)
        req->route->stream->abort(req);
    if (req->counted_wait)
        __atomic_sub_fetch(&req->api->waiting, 1, __ATOMIC_SEQ_CST);
    params_free(req->params);
    free(req->body);
    free(req);
    *con_cls = NULL;
}

static int
hex_val(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decoding of paths and query values, as libmicrohttpd's own, except that "%00" stays
 * as it is: decoded, the NUL would end the C string and "a.txt%00.bak" would name "a.txt".
 * check_head refuses a path that holds it. */
static size_t
unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    char *w = s;

    (void)cls;
    (void)conn;
    for (const char *r = s; *r;) {
        int hi = r[0] == '%' ? hex_val(r[1]) : -1, lo = hi >= 0 ? hex_val(r[2]) : -1;
        if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
            *w++ = (char)(hi << 4 | lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* libmicrohttpd's own messages; the format comes from the library, not from a client. */
__attribute__((format(printf, 2, 0))) static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_warn("api.http", "%s", msg);
}

/* ---- listening ---- */

int
api_listen(const struct config *cfg, struct err *err)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    char where[80];
    int one = 1;
    _cleanup_close_ int fd = -1;

    config_listen_format(cfg, where, sizeof(where));
    if (cfg->listen_addr.family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(cfg->listen_port);
        memcpy(&s6->sin6_addr, cfg->listen_addr.bytes, 16);
        sl = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(cfg->listen_port);
        memcpy(&s4->sin_addr, cfg->listen_addr.bytes, 4);
        sl = sizeof(*s4);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return err_set(err, errno, "internal", "%s: socket: %m", where);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
        return err_set(err, errno, "internal", "%s: cannot listen: %m%s", where,
                       errno == EADDRINUSE ? " (another airlockd? use --listen ADDR:PORT)" : "");
    if (listen(fd, 128) < 0)
        return err_set(err, errno, "internal", "%s: listen: %m", where);
    return TAKE_FD(fd);
}

int
api_bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -errno;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* One libmicrohttpd daemon per listening socket, all with the same handlers. */
static struct MHD_Daemon *
mhd_start(struct api *a, int fd)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;

    return MHD_start_daemon(flags, 0, NULL, NULL, api_access, a, MHD_OPTION_EXTERNAL_LOGGER,
                            mhd_log, a, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_NOTIFY_COMPLETED,
                            api_completed, a, MHD_OPTION_THREAD_POOL_SIZE,
                            (unsigned)a->deps.cfg->api_threads, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)API_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)API_CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)API_HEADER_BYTES_MAX * 2, MHD_OPTION_END);
}

int
api_start(const struct api_deps *deps, int listen_fd, int unix_fd, struct api **ret,
          struct err *err)
{
    struct api *a = calloc(1, sizeof(*a));

    if (!a) {
        if (listen_fd >= 0)
            close(listen_fd);
        if (unix_fd >= 0)
            close(unix_fd);
        return -ENOMEM;
    }
    a->deps = *deps;
    if (api_wait_new(deps->jobs, &a->wait) < 0) {
        if (listen_fd >= 0)
            close(listen_fd);
        if (unix_fd >= 0)
            close(unix_fd);
        free(a);
        return err_set(err, ENOMEM, "internal", "cannot start the long-poll timer");
    }
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++)
        metrics_api_route(i, routes[i].method, routes[i].pattern);
    if (listen_fd >= 0 && !(a->mhd = mhd_start(a, listen_fd)))
        close(listen_fd);
    if (unix_fd >= 0 && !(a->mhd_unix = mhd_start(a, unix_fd)))
        close(unix_fd);
    if ((listen_fd >= 0 && !a->mhd) || (unix_fd >= 0 && !a->mhd_unix)) {
        if (a->mhd)
            MHD_stop_daemon(a->mhd);
        if (a->mhd_unix)
            MHD_stop_daemon(a->mhd_unix);
        api_wait_free(a->wait);
        free(a);
        return err_set(err, EIO, "internal", "libmicrohttpd failed to start");
    }
    *ret = a;
    return 0;
}

int
api_listen_unix(const struct config *cfg, struct err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *path = cfg->listen_unix;
    gid_t gid = (gid_t)-1;
    struct stat st;
    int fd;

    if (cfg->listen_unix_group[0]) {
        struct group gr, *found = NULL;
        char buf[4096];
        uint64_t n;
        if (str_to_u64(cfg->listen_unix_group, 0, UINT32_MAX - 1, &n) == 0)
            gid = (gid_t)n;
        else if (getgrnam_r(cfg->listen_unix_group, &gr, buf, sizeof(buf), &found) == 0 && found)
            gid = found->gr_gid;
        else
            return err_set(err, ENOENT, "bad_config", "listen_unix_group: no group \"%s\"",
                           cfg->listen_unix_group);
    }
    str_copy(sa.sun_path, sizeof(sa.sun_path), path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return err_set(err, errno, "internal", "%s: socket: %m", path);
    if (lstat(path, &st) == 0) {
        /* Left by a daemon that died, or in use by a live one: a connect tells. */
        if (!S_ISSOCK(st.st_mode)) {
            close(fd);
            return err_set(err, EEXIST, "internal",
                           "listen_unix: %s exists and is not a socket; refusing to replace it",
                           path);
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        if (probe >= 0)
            close(probe);
        if (live) {
            close(fd);
            return err_set(err, EADDRINUSE, "internal",
                           "listen_unix: %s is in use by another process (another airlockd?)",
                           path);
        }
        unlink(path);
    }
    /* Made 0600 by the umask, then opened to the group: never wider than asked, even briefly. */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0) || chmod(path, 0660) < 0 ||
        listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return err_set(err, e, "internal", "listen_unix: %s: %s", path, strerror(e));
    }
    return fd;
}

struct api *
api_stop(struct api *a)
{
    if (!a)
        return NULL;
    /* Long-polls left waiting (those jobs_stop did not answer: an ended job's) are resumed;
     * none may stay suspended into MHD_stop_daemon. */
    api_wait_stop(a->wait);
    /* Clients waiting for a job were answered by jobs_stop (their jobs are lost); give their
     * resumed connections up to 2 s to be answered before every connection is closed. */
    for (int i = 0; i < 200 && __atomic_load_n(&a->waiting, __ATOMIC_SEQ_CST) > 0; i++)
        usleep(10 * 1000);
    if (a->mhd)
        MHD_stop_daemon(a->mhd);
    if (a->mhd_unix)
        MHD_stop_daemon(a->mhd_unix);
    api_wait_free(a->wait);
    free(a);
    return NULL;
}
