/*
 * listen_unix: the API on a Unix socket, beside TCP or instead of it -- its mode and group, the
 * token still required, a job run through it, a stale socket file replaced, a live one or a
 * file that is not a socket refused, and the socket removed at a clean stop.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static char sock[PATH_MAX];

static void
down(void)
{
    daemon_stop(&d);
    daemon_cleanup(&d);
}

TestSuite(unix_socket, .fini = down, .timeout = 60);

/* Rewrites the harness's config with extra members (a JSON object's text). */
static void
config_merge(const char *extra_json)
{
    json_t *cfg = json_load_file(d.config, 0, NULL);
    json_t *extra = json_loads(extra_json, 0, NULL);

    cr_assert(cfg && extra, "config or extra is not JSON: %s", extra_json);
    json_object_update(cfg, extra);
    cr_assert_eq(json_dump_file(cfg, d.config, JSON_INDENT(2)), 0);
    json_decref(cfg);
    json_decref(extra);
}

static size_t
collect(char *p, size_t size, size_t n, void *userdata)
{
    struct resp *r = userdata;
    char *grown = realloc(r->body, r->len + size * n + 1);

    if (!grown)
        return 0;
    memcpy(grown + r->len, p, size * n);
    r->body = grown;
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

/* One request over the Unix socket; token: add the bearer token. */
static struct resp
over_unix(const char *method, const char *path, const char *body, bool token)
{
    struct resp r = {0};
    struct curl_slist *h = NULL;
    char url[512], auth[200];
    CURL *c = curl_easy_init();

    cr_assert_not_null(c);
    snprintf(url, sizeof(url), "http://localhost%s", path);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", d.token);
        h = curl_slist_append(h, auth);
    }
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r.json = r.body ? json_loads(r.body, 0, NULL) : NULL;
    return r;
}

static void
setup(const char *listen_extra)
{
    char extra[PATH_MAX + 256];
    struct group *g = getgrgid(getgid());

    daemon_init(&d, NULL, true);
    snprintf(sock, sizeof(sock), "%s/api.sock", d.dir);
    snprintf(extra, sizeof(extra), "{\"listen_unix\": \"%s\", \"listen_unix_group\": \"%s\"%s}",
             sock, g ? g->gr_name : "0", listen_extra);
    config_merge(extra);
}

Test(unix_socket, beside_tcp_mode_group_token_and_a_job)
{
    struct stat st;
    struct resp r;

    setup("");
    daemon_start(&d); /* waits for /healthz over TCP: both are served */
    cr_assert_eq(lstat(sock, &st), 0, "no socket at %s", sock);
    cr_expect(S_ISSOCK(st.st_mode));
    cr_expect_eq(st.st_mode & 0777, 0660, "mode %o", st.st_mode & 0777);
    cr_expect_eq(st.st_gid, getgid());

    r = over_unix("GET", "/healthz", NULL, false);
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    r = over_unix("GET", "/v1/policies", NULL, false);
    cr_expect_eq(r.status, 401, "the socket's mode is not the token: %ld", r.status);
    resp_free(&r);
    r = over_unix("POST", "/v1/jobs", "{\"command\":[\"echo\",\"via unix\"],\"wait\":true}", true);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(jstr(r.json, "status"), "succeeded", "%s", r.body);
    resp_free(&r);

    /* The CLI reaches it as unix:PATH, and streams a job's output through it. */
    char cli[PATH_MAX + 16], dbuf[PATH_MAX], url[PATH_MAX + 8], tok[200];
    const char *bin = secure_getenv("AIRLOCKD");
    snprintf(dbuf, sizeof(dbuf), "%s", bin ? bin : "build/airlockd");
    snprintf(cli, sizeof(cli), "%s/airlock", dirname(dbuf));
    snprintf(url, sizeof(url), "AIRLOCK_URL=unix:%s", sock);
    snprintf(tok, sizeof(tok), "AIRLOCK_TOKEN=%s", d.token);
    const char *env[] = {url, tok, "PATH=/usr/bin:/bin", NULL};
    const char *argv[] = {cli, "run", "--", "sh", "-c", "echo through-the-socket; exit 3", NULL};
    char *out = NULL;
    cr_expect_eq(daemon_run(argv, env, &out), 3, "airlock run over unix: %s", out);
    cr_expect(out && strstr(out, "through-the-socket"), "%s", out);
    free(out);
    /* A clean stop removes the socket. */
    daemon_stop(&d);
    cr_expect_neq(lstat(sock, &st), 0, "the socket outlived the daemon");
}

/* "listen": null -- the Unix socket only: nothing listens on TCP. */
Test(unix_socket, instead_of_tcp)
{
    struct resp r;
    pid_t pid;
    int status = 0;

    setup(", \"listen\": null");
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(d.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        const char *bin = secure_getenv("AIRLOCKD");
        dup2(fd, 1);
        dup2(fd, 2);
        execl(bin ? bin : "build/airlockd", "airlockd", "--config", d.config, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 400; i++) {
        r = over_unix("GET", "/healthz", NULL, false);
        long s = r.status;
        resp_free(&r);
        if (s == 200)
            break;
        cr_assert_eq(waitpid(pid, &status, WNOHANG), 0, "airlockd exited; log: %s", d.log);
        usleep(50 * 1000);
    }
    r = over_unix("GET", "/healthz", NULL, false);
    cr_assert_eq(r.status, 200, "no answer on the socket; log: %s", d.log);
    resp_free(&r);
    r = http_get(&d, "/healthz");
    cr_expect_eq(r.status, 0, "TCP answered with listen null: %ld", r.status);
    resp_free(&r);
    cr_expect(file_contains(d.log, "listening on unix:"), "log: %s", d.log);
    d.pid = pid; /* daemon_stop: SIGTERM, exit 0 */
}

/* A socket file left by a daemon killed with SIGKILL is replaced; a live one is refused. */
Test(unix_socket, stale_replaced_live_refused)
{
    struct daemon other;
    struct resp r;
    char *log;

    setup("");
    daemon_start(&d);
    daemon_kill(&d); /* the socket file stays */
    cr_assert_eq(access(sock, F_OK), 0);
    daemon_start(&d);
    r = over_unix("GET", "/healthz", NULL, false);
    cr_expect_eq(r.status, 200, "after a stale socket: %ld", r.status);
    resp_free(&r);

    /* A second daemon naming the same, live, socket stops at start and says why. */
    daemon_init(&other, NULL, true);
    json_t *cfg = json_load_file(other.config, 0, NULL);
    json_object_set_new(cfg, "listen_unix", json_string(sock));
    json_dump_file(cfg, other.config, JSON_INDENT(2));
    json_decref(cfg);
    cr_expect(!daemon_start_args(&other, NULL), "a second daemon took a live socket");
    log = read_file_str(other.log);
    cr_expect(log && strstr(log, "in use by another process"), "log: %s", log);
    free(log);
    daemon_cleanup(&other);
    r = over_unix("GET", "/healthz", NULL, false);
    cr_expect_eq(r.status, 200, "the first daemon's socket was disturbed: %ld", r.status);
    resp_free(&r);
}

Test(unix_socket, a_file_that_is_not_a_socket_is_refused)
{
    char *log;
    FILE *f;

    setup("");
    f = fopen(sock, "w");
    cr_assert_not_null(f);
    fputs("keep me\n", f);
    fclose(f);
    cr_expect(!daemon_start_args(&d, NULL), "the daemon replaced a regular file");
    log = read_file_str(d.log);
    cr_expect(log && strstr(log, "is not a socket"), "log: %s", log);
    free(log);
    cr_expect(file_contains(sock, "keep me"), "the file was changed");
}
