/*
 * The dashboard's static files against the real daemon (docs/api.md "The dashboard"): GET / and
 * GET /<path> serve web_dir's files with the Content-Type of a fixed extension table, a
 * Content-Security-Policy allowing only the daemon's origin and the other security headers,
 * Cache-Control no-cache with a strong ETag and 304 on If-None-Match, and no token. Nothing
 * outside web_dir is reachable: "..", its encodings and encoded slashes, symlinks (out of
 * web_dir or not), dotfiles, directories, FIFOs and unknown extensions are 404. /v1, /metrics
 * still need the token. A web_dir that does not exist leaves the daemon running and "/" saying
 * where the files were expected (and the log warns at the start).
 *
 * Each suite makes its own web_dir under the daemon's temporary directory (the repository's
 * web/ is not used), with a secret file next to it that no request may reach.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
#define SECRET "TOP-SECRET-outside-web-dir"
#define INDEX "<!doctype html><title>airlock</title><script type=module src=app.js></script>"

static struct daemon d;
static char web[PATH_MAX + 16];

static void
put(const char *rel, const char *content)
{
    char path[PATH_MAX + 256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", web, rel);
    f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(content, f);
    fclose(f);
}

static void
sub(const char *rel)
{
    char path[PATH_MAX + 256];

    snprintf(path, sizeof(path), "%s/%s", web, rel);
    cr_assert_eq(mkdir(path, 0755), 0, "mkdir %s", path);
}

static void
link_to(const char *target, const char *rel)
{
    char path[PATH_MAX + 256];

    snprintf(path, sizeof(path), "%s/%s", web, rel);
    cr_assert_eq(symlink(target, path), 0, "symlink %s", path);
}

static void
up(void)
{
    char secret[PATH_MAX + 32], abs_target[PATH_MAX + 32], fifo[PATH_MAX + 32];
    FILE *f;

    daemon_init(&d, NULL, true);
    snprintf(web, sizeof(web), "%s/web", d.dir);
    cr_assert_eq(mkdir(web, 0755), 0);
    snprintf(secret, sizeof(secret), "%s/secret.txt", d.dir);
    f = fopen(secret, "w");
    cr_assert_not_null(f);
    fputs(SECRET "\n", f);
    fclose(f);

    put("index.html", INDEX);
    put("app.js", "export const x = 1;\n");
    put("mod.mjs", "export default 2;\n");
    put("style.css", "body { color: black; }\n");
    put("logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n");
    put("logo.png", "\x89PNG\r\n");
    put("favicon.ico", "ico");
    put("data.json", "{\"a\": 1}\n");
    put("font.woff2", "wOF2");
    put("notes.txt", "notes\n");
    put("tool.exe", "MZ");
    put("script.php", "<?php ?>");
    put("noext", "none");
    put(".env.txt", "dot\n");
    sub("js");
    put("js/views.js", "export function view() {}\n");
    put("js/.hidden.js", "hidden\n");
    sub(".git");
    put(".git/config.txt", "git\n");
    sub("dir.js");
    link_to("../secret.txt", "out.txt");
    snprintf(abs_target, sizeof(abs_target), "%s/secret.txt", d.dir);
    link_to(abs_target, "abs.txt");
    link_to("notes.txt", "inside.txt");
    link_to("..", "up");
    link_to("js", "jslink");
    snprintf(fifo, sizeof(fifo), "%s/pipe.txt", web);
    cr_assert_eq(mkfifo(fifo, 0644), 0);

    daemon_write_config(&d, "\"web_dir\": \"web\"");
    daemon_start(&d);
}

static void
up_missing(void)
{
    daemon_init(&d, NULL, true);
    snprintf(web, sizeof(web), "%s/no-such-web", d.dir);
    daemon_write_config(&d, "\"web_dir\": \"no-such-web\"");
    daemon_start(&d);
}

static void
down(void)
{
    daemon_stop(&d);
    daemon_cleanup(&d);
}

TestSuite(web, .init = up, .fini = down, .timeout = 60);
TestSuite(web_missing, .init = up_missing, .fini = down, .timeout = 60);

/* GET path without a token; extra_header may be NULL. */
static struct resp
get(const char *path, const char *extra_header)
{
    return http(&d, "GET", path, NULL, "", NULL, extra_header);
}

static void
expect_header(const struct resp *r, const char *name, const char *want, const char *path)
{
    char *v = resp_header(r, name);

    cr_assert_not_null(v, "%s: no %s header:\n%s", path, name, r->headers);
    cr_assert_str_eq(v, want, "%s: %s", path, name);
    free(v);
}

static void
expect_404(const char *path)
{
    struct resp r = get(path, NULL);

    cr_assert_eq(r.status, 404, "%s: %ld %s", path, r.status, r.body);
    cr_assert_str_eq(err_code(&r), "not_found", "%s: %s", path, r.body);
    cr_assert_null(strstr(r.body, SECRET), "%s leaked the secret", path);
    expect_header(&r, "Content-Type", "application/json", path);
    resp_free(&r);
}

Test(web, root_serves_index_without_a_token)
{
    struct resp r = get("/", NULL);

    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_assert_str_eq(r.body, INDEX);
    expect_header(&r, "Content-Type", "text/html; charset=utf-8", "/");
    resp_free(&r);
    r = get("/index.html", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, INDEX);
    resp_free(&r);
    /* A wrong token changes nothing for the static files. */
    r = http(&d, "GET", "/app.js", NULL, "not-the-token-at-all", NULL, NULL);
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    resp_free(&r);
}

Test(web, content_types)
{
    static const struct {
        const char *path, *type, *body;
    } cases[] = {
        {"/index.html", "text/html; charset=utf-8", INDEX},
        {"/app.js", "text/javascript; charset=utf-8", "export const x = 1;\n"},
        {"/mod.mjs", "text/javascript; charset=utf-8", "export default 2;\n"},
        {"/style.css", "text/css; charset=utf-8", "body { color: black; }\n"},
        {"/logo.svg", "image/svg+xml", NULL},
        {"/logo.png", "image/png", NULL},
        {"/favicon.ico", "image/x-icon", "ico"},
        {"/data.json", "application/json", "{\"a\": 1}\n"},
        {"/font.woff2", "font/woff2", "wOF2"},
        {"/notes.txt", "text/plain; charset=utf-8", "notes\n"},
        {"/js/views.js", "text/javascript; charset=utf-8", "export function view() {}\n"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct resp r = get(cases[i].path, NULL);
        cr_assert_eq(r.status, 200, "%s: %ld %s", cases[i].path, r.status, r.body);
        expect_header(&r, "Content-Type", cases[i].type, cases[i].path);
        if (cases[i].body)
            cr_assert_str_eq(r.body, cases[i].body, "%s", cases[i].path);
        resp_free(&r);
    }
}

Test(web, security_and_cache_headers)
{
    const char *paths[] = {"/", "/app.js", "/style.css"};

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct resp r = get(paths[i], NULL);
        cr_assert_eq(r.status, 200, "%s", paths[i]);
        expect_header(&r, "Content-Security-Policy", CSP, paths[i]);
        expect_header(&r, "X-Content-Type-Options", "nosniff", paths[i]);
        expect_header(&r, "Referrer-Policy", "no-referrer", paths[i]);
        expect_header(&r, "X-Frame-Options", "DENY", paths[i]);
        expect_header(&r, "Cache-Control", "no-cache", paths[i]);
        char *etag = resp_header(&r, "ETag");
        cr_assert_not_null(etag, "%s: no ETag", paths[i]);
        cr_assert(strlen(etag) > 2 && etag[0] == '"' && etag[strlen(etag) - 1] == '"',
                  "%s: not a strong ETag: %s", paths[i], etag);
        free(etag);
        /* Exactly one Cache-Control: the API's no-store is not added too. */
        cr_assert_null(strstr(r.headers, "no-store"), "%s: %s", paths[i], r.headers);
        resp_free(&r);
    }
    /* HEAD answers the same headers without the body. */
    struct resp h = http(&d, "HEAD", "/app.js", NULL, "", NULL, NULL);
    cr_assert_eq(h.status, 200);
    cr_assert_eq(h.len, 0);
    expect_header(&h, "Content-Type", "text/javascript; charset=utf-8", "HEAD /app.js");
    expect_header(&h, "Content-Length", "20", "HEAD /app.js");
    resp_free(&h);
}

Test(web, etag_and_304)
{
    struct resp r = get("/app.js", NULL);
    char *etag = resp_header(&r, "ETag"), hdr[256];

    cr_assert_not_null(etag);
    resp_free(&r);

    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
    r = get("/app.js", hdr);
    cr_assert_eq(r.status, 304, "%ld", r.status);
    cr_assert_eq(r.len, 0);
    expect_header(&r, "ETag", etag, "304");
    expect_header(&r, "Cache-Control", "no-cache", "304");
    resp_free(&r);

    snprintf(hdr, sizeof(hdr), "If-None-Match: \"other\", W/%s", etag);
    r = get("/app.js", hdr);
    cr_assert_eq(r.status, 304, "a list with a weak match: %ld", r.status);
    resp_free(&r);

    r = get("/app.js", "If-None-Match: \"something-else\"");
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "export const x = 1;\n");
    resp_free(&r);

    /* The same tag on another file is not a match (the inode differs). */
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
    r = get("/mod.mjs", hdr);
    cr_assert_eq(r.status, 200);
    resp_free(&r);

    /* The file changes: the old tag no longer matches, a new one is sent. */
    put("app.js", "export const x = 2; // changed\n");
    r = get("/app.js", hdr);
    cr_assert_eq(r.status, 200, "%ld", r.status);
    cr_assert_str_eq(r.body, "export const x = 2; // changed\n");
    char *etag2 = resp_header(&r, "ETag");
    cr_assert_not_null(etag2);
    cr_assert_str_neq(etag, etag2);
    resp_free(&r);
    free(etag);
    free(etag2);
}

Test(web, traversal_is_404)
{
    const char *paths[] = {
        "/../secret.txt",
        "/js/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/.%2e/secret.txt",
        "/%2e%2e%2fsecret.txt",
        "/js%2f..%2f..%2fsecret.txt",
        "/js/%2e%2e/%2e%2e/secret.txt",
        "/js/..%2f..%2fsecret.txt",
        "/%2fetc%2fpasswd.txt",
        "//etc/passwd.txt",
        "/%5c..%5csecret.txt",
        "/..%5csecret.txt",
        "/./notes.txt",
        "/js//views.js",
        "/js/./views.js",
        "/js/../notes.txt",
    };

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        expect_404(paths[i]);
}

Test(web, symlinks_are_404)
{
    expect_404("/out.txt");         /* relative, out of web_dir */
    expect_404("/abs.txt");         /* absolute, out of web_dir */
    expect_404("/inside.txt");      /* to a file inside web_dir: still a symlink */
    expect_404("/up/secret.txt");   /* a directory symlink out */
    expect_404("/jslink/views.js"); /* a directory symlink inside */
    /* The targets themselves are fine. */
    struct resp r = get("/notes.txt", NULL);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
}

Test(web, dotfiles_dirs_and_special_files_are_404)
{
    expect_404("/.env.txt");
    expect_404("/js/.hidden.js");
    expect_404("/.git/config.txt");
    expect_404("/dir.js");   /* a directory with a served extension */
    expect_404("/js/");      /* a directory */
    expect_404("/pipe.txt"); /* a FIFO: 404 at once, no hang */
    expect_404("/missing.html");
}

Test(web, unknown_extension_is_404)
{
    expect_404("/tool.exe");
    expect_404("/script.php");
    expect_404("/noext");
    expect_404("/js");
    expect_404("/INDEX.HTML");
    expect_404("/index.html.bak");
}

Test(web, api_still_needs_the_token)
{
    const char *paths[] = {"/v1/jobs", "/v1/policies", "/v1/no-such-route", "/v1/../index.html",
                           "/metrics"};

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct resp r = get(paths[i], NULL);
        cr_assert_eq(r.status, 401, "%s: %ld %s", paths[i], r.status, r.body);
        cr_assert_str_eq(err_code(&r), "unauthorized");
        resp_free(&r);
    }
    struct resp r = http_get(&d, "/v1/jobs");
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    resp_free(&r);
    r = get("/healthz", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(r.json);
    resp_free(&r);
    /* /v1 (no slash) is no route, and not a file either. */
    r = http_get(&d, "/v1");
    cr_assert_eq(r.status, 404);
    cr_assert_str_eq(err_code(&r), "not_found");
    resp_free(&r);
    /* Only GET (and HEAD) for the files. */
    r = http(&d, "POST", "/index.html", "{}", "", NULL, NULL);
    cr_assert_eq(r.status, 405, "%ld %s", r.status, r.body);
    char *allow = resp_header(&r, "Allow");
    cr_assert_not_null(allow);
    cr_assert_str_eq(allow, "GET");
    free(allow);
    resp_free(&r);
}

Test(web_missing, daemon_runs_and_root_says_where)
{
    struct resp r = get("/", NULL);

    cr_assert_eq(r.status, 404, "%ld %s", r.status, r.body);
    cr_assert_str_eq(err_code(&r), "not_found");
    cr_assert_not_null(strstr(err_message(&r), web), "%s", err_message(&r));
    cr_assert_not_null(strstr(err_message(&r), "web_dir"), "%s", err_message(&r));
    resp_free(&r);
    expect_404("/app.js");
    cr_assert(file_contains(d.log, "web.missing"), "no warning in the log");
    r = http_get(&d, "/healthz");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    r = http_get(&d, "/v1/jobs");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
}
