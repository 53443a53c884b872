/*
 * harness: see harness.h. Every wait is bounded; a daemon that does not come up or go down in
 * time fails the test instead of hanging it.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *
env_or(const char *name, const char *fallback)
{
    const char *v = secure_getenv(name);
    return v && *v ? v : fallback;
}

static int
free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port;

    cr_assert(fd >= 0);
    cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

char *
read_file_str(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

bool
file_contains(const char *path, const char *needle)
{
    char *s = read_file_str(path);
    bool found = s && strstr(s, needle);
    free(s);
    return found;
}

void
daemon_write_policy(struct daemon *d, const char *name, const char *json)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s.json", d->policy_dir, name);
    write_file(path, json);
}

static void
copy_repo_policies(struct daemon *d)
{
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof(cmd), "cp %s/policies/*.json %s/ 2>/dev/null", env_or("AIRLOCK_SRC", "."),
             d->policy_dir);
    cr_assert(system(cmd) == 0, "cannot copy the repository's policies");
}

const char *
daemon_cgroup_parent(const struct daemon *d)
{
    static char name[64];
    snprintf(name, sizeof(name), "airlock-test-%d", d->port);
    return name;
}

void
daemon_init(struct daemon *d, const char *extra, bool copy_policies)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->dir, sizeof(d->dir), "/tmp/airlock-test-XXXXXX");
    cr_assert(mkdtemp(d->dir), "mkdtemp");
    chmod(d->dir, 0755);
    snprintf(d->state_dir, sizeof(d->state_dir), "%s/state", d->dir);
    snprintf(d->policy_dir, sizeof(d->policy_dir), "%s/policies", d->dir);
    snprintf(d->config, sizeof(d->config), "%s/airlockd.json", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
    cr_assert(mkdir(d->policy_dir, 0755) == 0);
    if (copy_policies)
        copy_repo_policies(d);
    d->port = free_port();
    snprintf(d->token, sizeof(d->token), "test-token-%d-%ld", d->port, (long)time(NULL));
    daemon_write_config(d, extra);
}

void
daemon_write_config(struct daemon *d, const char *extra)
{
    char cfg[16384];

    snprintf(cfg, sizeof(cfg),
             "{\"listen\": \"127.0.0.1:%d\", \"state_dir\": \"state\", \"policy_dir\": "
             "\"policies\", \"token\": \"%s\", \"cgroup_parent\": \"%s\"%s%s}\n",
             d->port, d->token, daemon_cgroup_parent(d), extra ? ", " : "", extra ? extra : "");
    write_file(d->config, cfg);
}

long
proc_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static bool
healthy(struct daemon *d)
{
    struct resp r = http(d, "GET", "/healthz", NULL, "", NULL, NULL);
    bool ok = r.status == 200;
    resp_free(&r);
    return ok;
}

bool
daemon_start_args(struct daemon *d, const char *const *extra_argv)
{
    const char *argv[32] = {d->bin[0] ? d->bin : env_or("AIRLOCKD", "build/airlockd"), "--config",
                            d->config};
    size_t n = 3;
    int status;

    for (size_t i = 0; extra_argv && extra_argv[i] && n < 30; i++)
        argv[n++] = extra_argv[i];
    argv[n] = NULL;
    d->pid = fork();
    cr_assert(d->pid >= 0);
    if (d->pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0)
            _exit(127);
        dup2(fd, 2);
        dup2(fd, 1);
        for (int i = 0; i < d->nenv; i++)
            putenv(d->env[i]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    /* Up to 20 s (sanitized builds start slowly on a loaded 2-core machine). */
    for (int i = 0; i < 400; i++) {
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            return false;
        }
        if (healthy(d))
            return true;
        usleep(50 * 1000);
    }
    cr_assert_fail("airlockd did not answer /healthz within 20 s; log: %s", d->log);
    return false;
}

void
daemon_start(struct daemon *d)
{
    if (!daemon_start_args(d, NULL)) {
        char *log = read_file_str(d->log);
        cr_assert_fail("airlockd exited at start:\n%s", log ? log : "(no log)");
    }
}

static int
wait_exit(pid_t pid, int timeout_ms)
{
    int status;

    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return status;
        usleep(20 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

void
daemon_stop(struct daemon *d)
{
    int status;

    if (d->pid <= 0)
        return;
    kill(d->pid, SIGTERM);
    status = wait_exit(d->pid, 10000);
    d->pid = 0;
    cr_assert(status != -1, "airlockd did not stop within 10 s of SIGTERM");
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "airlockd did not exit cleanly (status 0x%x); log: %s", status, d->log);
    cr_assert(!file_contains(d->log, "Sanitizer"), "sanitizer report in %s", d->log);
    cr_assert(!file_contains(d->log, "runtime error:"), "UBSan report in %s", d->log);
}

void
daemon_kill(struct daemon *d)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, SIGKILL);
    wait_exit(d->pid, 10000);
    d->pid = 0;
}

void
daemon_signal(struct daemon *d, int sig)
{
    cr_assert(d->pid > 0);
    kill(d->pid, sig);
}

void
daemon_cleanup(struct daemon *d)
{
    char cmd[PATH_MAX + 16];

    daemon_kill(d);
    if (!d->dir[0])
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", d->dir);
    /* The test's cgroups, once empty (a daemon keeps its pool when it stops). */
    snprintf(cmd, sizeof(cmd),
             "for c in /sys/fs/cgroup/*/%s; do [ -d \"$c\" ] || continue;"
             " rmdir \"$c\"/job-* \"$c\" 2>/dev/null; done; true",
             daemon_cgroup_parent(d));
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove the cgroups of %s\n", d->dir);
}

int
daemon_run(const char *const *argv, const char *const *env, char **out)
{
    char path[] = "/tmp/airlock-run-XXXXXX";
    int fd = mkstemp(path);
    int status;
    pid_t pid;

    cr_assert(fd >= 0);
    pid = fork();
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        if (env)
            execve(argv[0], (char *const *)argv, (char *const *)env);
        else
            execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fd);
    status = wait_exit(pid, 20000);
    if (out)
        *out = read_file_str(path);
    unlink(path);
    cr_assert(status != -1, "%s did not exit within 20 s", argv[0]);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- HTTP ---- */

struct buf {
    char *data;
    size_t len;
};

static size_t
on_data(char *p, size_t size, size_t n, void *userdata)
{
    struct buf *b = userdata;
    char *grown = realloc(b->data, b->len + size * n + 1);

    if (!grown)
        return 0;
    memcpy(grown + b->len, p, size * n);
    b->data = grown;
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

/* The body of a request: none, bytes in memory, or a reader. */
struct req_body {
    const void *data; /* with len */
    size_t len;
    body_reader read_cb; /* or this, with length (-1: chunked) */
    void *arg;
    long long length;
};

struct read_state {
    body_reader cb;
    void *arg;
};

static size_t
on_read(char *p, size_t size, size_t n, void *userdata)
{
    struct read_state *rs = userdata;
    return rs->cb(p, size * n, rs->arg);
}

/* The common request: token NULL uses the daemon's, "" sends none; write_cb NULL keeps the body
 * in r.body. */
static struct resp
http_do(struct daemon *d, const char *method, const char *path, const struct req_body *body,
        const char *token, const char *content_type, const char *extra_header, long timeout_s,
        curl_write_callback write_cb, void *write_arg)
{
    struct resp r = {0};
    struct buf b = {0}, h = {0};
    struct curl_slist *hdrs = NULL;
    struct read_state rs = {0};
    char url[8192 + 64], line[512];
    bool expect = extra_header && strncasecmp(extra_header, "Expect", 6) == 0;
    CURL *c = curl_easy_init();

    cr_assert(c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", d->port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb ? write_cb : on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, write_cb ? write_arg : (void *)&b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    /* A large body goes with "Expect: 100-continue": wait for the daemon's answer (an early 413)
     * instead of curl's default 1 s, so a slow (sanitized) daemon's refusal is read before the
     * body is sent -- sending it into a connection being closed can turn the 413 into a reset. */
    curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    /* Paths go out as written: tests send "..", "%2e%2e" and "//" on purpose. */
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    if (!token)
        token = d->token;
    if (*token) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (body && body->read_cb) {
        rs.cb = body->read_cb;
        rs.arg = body->arg;
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &rs);
        if (body->length >= 0)
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body->length);
        else
            hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data ? body->data : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    }
    /* After UPLOAD (which would make it a PUT) and POSTFIELDS (a POST). */
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        snprintf(line, sizeof(line), "Content-Type: %s", content_type);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (!expect)
        hdrs = curl_slist_append(hdrs, "Expect:");
    if (extra_header)
        hdrs = curl_slist_append(hdrs, extra_header);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    r.curl_code = (int)curl_easy_perform(c);
    /* An answer that came while the body was still going out (a 413) counts too. */
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    r.body = b.data ? b.data : calloc(1, 1);
    r.len = b.len;
    r.headers = h.data ? h.data : calloc(1, 1);
    r.json = json_loadb(r.body, r.len, 0, NULL);
    return r;
}

struct resp
http(struct daemon *d, const char *method, const char *path, const char *body, const char *token,
     const char *content_type, const char *extra_header)
{
    struct req_body rb = {.data = body, .len = body ? strlen(body) : 0};

    return http_do(d, method, path, body ? &rb : NULL, token,
                   content_type ? content_type : "application/json", extra_header, 20, NULL, NULL);
}

struct resp
http_bytes(struct daemon *d, const char *method, const char *path, const void *data, size_t len,
           const char *content_type, const char *extra_header)
{
    struct req_body rb = {.data = data, .len = len};

    return http_do(d, method, path, &rb, NULL,
                   content_type ? content_type : "application/octet-stream", extra_header, 20, NULL,
                   NULL);
}

struct resp
http_stream(struct daemon *d, const char *method, const char *path, body_reader read_cb, void *arg,
            long long length, const char *content_type, const char *extra_header, int timeout_s)
{
    struct req_body rb = {.read_cb = read_cb, .arg = arg, .length = length};

    return http_do(d, method, path, &rb, NULL,
                   content_type ? content_type : "application/octet-stream", extra_header,
                   timeout_s, NULL, NULL);
}

struct hash_sink {
    struct sha256 sha;
    struct buf head; /* the first 4 KiB */
};

static size_t
on_hash(char *p, size_t size, size_t n, void *userdata)
{
    struct hash_sink *hs = userdata;
    size_t len = size * n;

    sha256_update(&hs->sha, p, len);
    if (hs->head.len < 4096) {
        size_t keep = len < 4096 - hs->head.len ? len : 4096 - hs->head.len;
        if (on_data(p, 1, keep, &hs->head) != keep)
            return 0;
    }
    return len;
}

struct resp
http_get_sha256(struct daemon *d, const char *path, char hex[65], unsigned long long *nbytes,
                int timeout_s)
{
    struct hash_sink hs = {0};
    struct resp r;

    sha256_init(&hs.sha);
    r = http_do(d, "GET", path, NULL, NULL, NULL, NULL, timeout_s, on_hash, &hs);
    *nbytes = hs.sha.n;
    sha256_hex_final(&hs.sha, hex);
    free(r.body);
    json_decref(r.json);
    r.body = hs.head.data ? hs.head.data : calloc(1, 1);
    r.len = hs.head.len;
    r.json = json_loadb(r.body, r.len, 0, NULL);
    return r;
}

struct resp
http_get(struct daemon *d, const char *path)
{
    return http(d, "GET", path, NULL, NULL, NULL, NULL);
}

struct resp
http_post(struct daemon *d, const char *path, const char *body)
{
    return http(d, "POST", path, body, NULL, NULL, NULL);
}

void
resp_free(struct resp *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

char *
resp_header(const struct resp *r, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = r->headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            return strndup(v, (size_t)(eol - v));
        }
        p = eol + 2;
    }
    return NULL;
}

static const char *
err_field(const struct resp *r, const char *field)
{
    json_t *v = json_object_get(json_object_get(r->json, "error"), field);
    return json_is_string(v) ? json_string_value(v) : "";
}

const char *
err_code(const struct resp *r)
{
    return err_field(r, "code");
}

const char *
err_message(const struct resp *r)
{
    return err_field(r, "message");
}

/* ---- jobs ---- */

void
daemon_setenv(struct daemon *d, const char *name_value)
{
    cr_assert(d->nenv < (int)(sizeof(d->env) / sizeof(d->env[0])));
    snprintf(d->env[d->nenv++], sizeof(d->env[0]), "%s", name_value);
}

bool
daemon_cgroup_writable(struct daemon *d, const char *ctrl)
{
    struct resp r = http(d, "GET", "/healthz", NULL, "", NULL, NULL);
    json_t *k = json_object_get(json_object_get(r.json, "kernel"), "cgroups");
    bool w = json_is_true(json_object_get(json_object_get(k, ctrl), "writable"));

    resp_free(&r);
    return w;
}

json_t *
job_sh(const char *script)
{
    return json_pack("{s:[s,s,s]}", "command", "sh", "-c", script);
}

struct resp
job_post(struct daemon *d, json_t *spec)
{
    char *body = json_dumps(spec, JSON_COMPACT);
    struct resp r;

    cr_assert(body);
    r = http_post(d, "/v1/jobs", body);
    free(body);
    return r;
}

const char *
jdump(const json_t *o)
{
    static char buf[4096];
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

    snprintf(buf, sizeof(buf), "%s", s ? s : "(none)");
    free(s);
    return buf;
}

json_t *
job_run(struct daemon *d, json_t *spec)
{
    struct resp r;
    json_t *job;

    json_object_set_new(spec, "wait", json_true());
    r = job_post(d, spec);
    cr_assert_eq(r.status, 200, "POST /v1/jobs %s with wait: %ld %s (log %s)", jdump(spec),
                 r.status, r.body, d->log);
    job = json_incref(r.json);
    cr_assert(json_is_string(json_object_get(job, "id")), "no job id: %s", r.body);
    resp_free(&r);
    json_decref(spec);
    return job;
}

json_t *
job_get(struct daemon *d, const char *id)
{
    char path[256];
    struct resp r;
    json_t *job;

    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    r = http_get(d, path);
    cr_assert_eq(r.status, 200, "GET %s: %ld %s", path, r.status, r.body);
    job = json_incref(r.json);
    resp_free(&r);
    return job;
}

static bool
status_ended(const char *s)
{
    return strcmp(s, "queued") != 0 && strcmp(s, "running") != 0;
}

json_t *
job_wait_end(struct daemon *d, const char *id, int timeout_ms)
{
    for (int waited = 0;; waited += 50) {
        json_t *job = job_get(d, id);
        if (status_ended(jstr(job, "status")))
            return job;
        if (waited >= timeout_ms)
            cr_assert_fail("job %s did not end within %d ms: %s", id, timeout_ms, jdump(job));
        json_decref(job);
        usleep(50 * 1000);
    }
}

json_t *
job_wait_running(struct daemon *d, const char *id, int timeout_ms)
{
    for (int waited = 0;; waited += 50) {
        json_t *job = job_get(d, id);
        if (strcmp(jstr(job, "status"), "running") == 0)
            return job;
        if (waited >= timeout_ms || status_ended(jstr(job, "status")))
            cr_assert_fail("job %s is not running after %d ms: %s", id, waited, jdump(job));
        json_decref(job);
        usleep(50 * 1000);
    }
}

char *
job_output(struct daemon *d, const char *id, const char *stream)
{
    char path[256];
    struct resp r;
    char *out;

    snprintf(path, sizeof(path), "/v1/jobs/%s/%s", id, stream);
    r = http_get(d, path);
    cr_assert_eq(r.status, 200, "GET %s: %ld %s", path, r.status, r.body);
    out = r.body;
    r.body = NULL;
    resp_free(&r);
    return out;
}

char *
run_sh(struct daemon *d, const char *script, json_t *extra, json_t **ret_job)
{
    json_t *spec = job_sh(script), *job;
    char *out;

    if (extra)
        json_object_update(spec, extra);
    job = job_run(d, spec);
    out = job_output(d, jstr(job, "id"), "stdout");
    if (ret_job)
        *ret_job = job;
    else
        json_decref(job);
    return out;
}

const char *
jstr(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_null(v))
        return "null";
    return json_is_string(v) ? json_string_value(v) : "";
}

long long
jint(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

char *
kv(const char *text, const char *key)
{
    size_t n = strlen(key);

    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > n && strncmp(p, key, n) == 0 && p[n] == '=')
            return strndup(p + n + 1, len - n - 1);
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

bool
kv_is(const char *text, const char *key, const char *want)
{
    char *v = kv(text, key);
    bool eq = v && strcmp(v, want) == 0;
    free(v);
    return eq;
}

/* The command line of /proc/<name>, NULs turned into spaces, into buf; false when unreadable. */
static bool
proc_cmdline(const char *name, char *buf, size_t size)
{
    char path[64];
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%s/cmdline", name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return false;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
    return true;
}

int
procs_matching(const char *needle, pid_t *pids, int max)
{
    DIR *dir = opendir("/proc");
    struct dirent *e;
    char cmd[4096];
    int n = 0;

    cr_assert(dir);
    while ((e = readdir(dir))) {
        if (!isdigit((unsigned char)e->d_name[0]) || (pid_t)strtol(e->d_name, NULL, 10) == getpid())
            continue;
        if (!proc_cmdline(e->d_name, cmd, sizeof(cmd)) || !strstr(cmd, needle))
            continue;
        if (pids && n < max)
            pids[n] = (pid_t)strtol(e->d_name, NULL, 10);
        n++;
    }
    closedir(dir);
    return n;
}

int
procs_wait_gone(const char *needle, int timeout_ms)
{
    int n = procs_matching(needle, NULL, 0);

    for (int waited = 0; n > 0 && waited < timeout_ms; waited += 50) {
        usleep(50 * 1000);
        n = procs_matching(needle, NULL, 0);
    }
    return n;
}

void
procs_kill_matching(const char *needle)
{
    pid_t pids[64];
    int n = procs_matching(needle, pids, 64);

    for (int i = 0; i < n && i < 64; i++)
        kill(pids[i], SIGKILL);
}

void
make_marker(char *buf, size_t size)
{
    unsigned long long r = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

    cr_assert(fd >= 0 && read(fd, &r, sizeof(r)) == (ssize_t)sizeof(r));
    close(fd);
    snprintf(buf, size, "%llu", (r % 9000000000000ULL) + 1000000000000ULL);
}
