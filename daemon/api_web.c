/*
 * api_web: the dashboard's static files, served from web_dir at "/" (docs/api.md, "The
 * dashboard"). No token is needed for them: the page asks for it, and every /v1 call it makes
 * sends it. A file is served only when it is a regular file beneath web_dir, reached without a
 * symlink (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), with no segment starting with '.'
 * (no "..", no dotfiles), and with an extension of the fixed table below; anything else is a
 * 404 that says no more. web_dir is opened per request, so the files can be replaced (or the
 * directory made) while the daemon runs.
 */
#include "api_internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>

#include "jobs_fs.h"

#define WEB_PATH_MAX 1024

static const char web_csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

static const struct {
    const char *ext;
    const char *type;
} web_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"ico", "image/x-icon"},
    {"json", "application/json"},
    {"woff2", "font/woff2"},
    {"txt", "text/plain; charset=utf-8"},
};

bool
api_web_path(const char *url)
{
    return strcmp(url, "/healthz") != 0 && strcmp(url, "/metrics") != 0 &&
           strcmp(url, "/v1") != 0 && !str_has_prefix(url, "/v1/");
}

/* The Content-Type for path's extension, or NULL (not served). */
static const char *
web_type(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');

    if (!dot)
        return NULL;
    for (size_t i = 0; i < ARRAY_SIZE(web_types); i++)
        if (strcmp(dot + 1, web_types[i].ext) == 0)
            return web_types[i].type;
    return NULL;
}

/* Whether path (decoded, relative) may name a file: non-empty segments, none starting with '.'
 * (".", "..", dotfiles), no control characters or backslashes. */
static bool
web_path_ok(const char *path)
{
    if (!*path || strlen(path) >= WEB_PATH_MAX)
        return false;
    for (const char *seg = path; *seg;) {
        size_t len = strcspn(seg, "/");
        if (len == 0 || seg[0] == '.')
            return false;
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)seg[i] < 0x20 || seg[i] == 0x7f || seg[i] == '\\')
                return false;
        seg += len;
        if (*seg == '/' && !*++seg)
            return false; /* a trailing slash: a directory */
    }
    return true;
}

static enum MHD_Result
web_not_found(struct api_request *req, const char *path)
{
    return api_reply_error(req, 404, "not_found", "/%.200s: no such file", path);
}

/* Whether the If-None-Match header names etag (or is "*"). Weak comparison, as RFC 9110 asks
 * for If-None-Match: a "W/" prefix is ignored. */
static bool
etag_matches(const char *inm, const char *etag)
{
    size_t elen = strlen(etag);

    while (inm && *inm) {
        inm += strspn(inm, " \t,");
        if (*inm == '*')
            return true;
        if (strncmp(inm, "W/", 2) == 0)
            inm += 2;
        if (strncmp(inm, etag, elen) == 0 &&
            (inm[elen] == '\0' || inm[elen] == ',' || inm[elen] == ' ' || inm[elen] == '\t'))
            return true;
        inm += strcspn(inm, ",");
    }
    return false;
}

static enum MHD_Result
web_queue(struct api_request *req, unsigned status, struct MHD_Response *resp, const char *type,
          const char *etag)
{
    enum MHD_Result r;

    if (type)
        MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "Content-Security-Policy", web_csp);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    r = MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    req->answered = true;
    req->status = status;
    return r;
}

enum MHD_Result
api_web(struct api_request *req)
{
    const char *web_dir = req->api->deps.cfg->web_dir;
    const char *path = req->params[0] ? req->params[0] : "index.html";
    const char *type = web_type(path);
    struct MHD_Response *resp;
    struct stat st;
    char etag[80];
    int fd;

    _cleanup_close_ int dfd = open(web_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        if (!req->params[0])
            return api_reply_error(req, 404, "not_found",
                                   "the dashboard is not installed: its files were expected in "
                                   "%.200s (web_dir), which cannot be opened: %s",
                                   web_dir, strerror(errno));
        return web_not_found(req, path);
    }
    if (!type || !web_path_ok(path))
        return web_not_found(req, path);
    fd = fs_open_beneath(dfd, path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0) {
        if (!req->params[0])
            return api_reply_error(req, 404, "not_found",
                                   "the dashboard is not installed: %.200s/index.html: %s", web_dir,
                                   strerror(-fd));
        return web_not_found(req, path);
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return web_not_found(req, path);
    }
    snprintf(etag, sizeof(etag), "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"", (uint64_t)st.st_size,
             (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec,
             (uint64_t)st.st_ino);
    if (etag_matches(MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "If-None-Match"),
                     etag)) {
        close(fd);
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        return resp ? web_queue(req, 304, resp, NULL, etag) : MHD_NO;
    }
    resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    return web_queue(req, 200, resp, type, etag);
}
