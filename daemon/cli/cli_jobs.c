/*
 * cli_jobs: the job commands of the `airlock` client -- run (start a job, stream its stdout and
 * stderr with two ?follow=true requests on one libcurl multi handle, exit with the job's code),
 * ps, show, logs, egress, cancel and rm. The job's own exit code is passed through unchanged;
 * the client's own failures use codes a job's ending can be told apart from (124, 125, 128+N),
 * as timeout(1) and docker run do. It must never retry a POST: a job started twice runs twice.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

#define RUN_EXIT_TIMEOUT 124
#define RUN_EXIT_NOSTART 125
/* A cut follow stream is resumed from its offset this many times. */
#define FOLLOW_RETRIES 5
/* After both streams ended, how long the job may take to be reported ended. */
#define END_WAIT_MS 30000
#define FILE_MAX (1u << 20)

static volatile sig_atomic_t interrupted;

static void
on_interrupt(int sig)
{
    (void)sig;
    interrupted++;
}

/* "what" for messages about job id: "job j_...". */
static const char *
job_what(char *buf, size_t n, const char *id)
{
    str_printf(buf, n, "job %s", id);
    return buf;
}

/* "/v1/jobs/<id><suffix>" with the id escaped; -1 when too long. */
static int
job_path(char *buf, size_t n, const char *id, const char *suffix)
{
    str_copy(buf, n, "/v1/jobs/");
    if (cli_escape(buf, n, id, false) < 0 || strlen(buf) + strlen(suffix) >= n)
        return -1;
    memcpy(buf + strlen(buf), suffix, strlen(suffix) + 1);
    return 0;
}

/* Splits "K=V" (or "k:v" for a label) at the first sep into a JSON object member. */
static int
add_pair(json_t *obj, const char *cmd, const char *opt, const char *s)
{
    const char *eq = strchr(s, '=');
    char key[256];

    if (!eq || eq == s || (size_t)(eq - s) >= sizeof(key))
        return cli_usage_error(cmd, "%s \"%s\": must be KEY=VALUE", opt, s);
    memcpy(key, s, (size_t)(eq - s));
    key[eq - s] = '\0';
    if (json_object_set_new(obj, key, json_string(eq + 1)) < 0)
        return cli_usage_error(cmd, "%s \"%s\": the value is not UTF-8 text", opt, s);
    return 0;
}

/* Reads the local file path (at most FILE_MAX bytes) into files[basename]. */
static int
add_file(json_t *files, const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    _cleanup_free_ char *data = NULL;
    const char *base = strrchr(path, '/');
    struct stat st;
    size_t len = 0;
    json_t *s;

    base = base ? base + 1 : path;
    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "airlock: run: --file %s: %s\n", path, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > FILE_MAX || !*base)
        return cli_usage_error("run",
                               "--file %s: must be a regular file of at most %u bytes "
                               "(larger or binary files: airlock cp into a workspace)",
                               path, FILE_MAX);
    data = malloc((size_t)st.st_size + 1);
    if (!data)
        return cli_usage_error("run", "--file %s: out of memory", path);
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, data + len, (size_t)st.st_size - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    s = json_stringn(data, len);
    if (!s)
        return cli_usage_error("run",
                               "--file %s: not UTF-8 text without NUL bytes (binary "
                               "files: airlock cp into a workspace, then --workspace)",
                               path);
    json_object_set_new(files, base, s);
    return 0;
}

/* ---- run: the request ---- */

struct run_opts {
    json_t *spec;
    json_t *env, *files, *labels;
};

static int
run_parse(struct cli *c, int argc, char **argv, struct run_opts *o)
{
    enum { R_POLICY = 1, R_WS, R_TIMEOUT, R_ENV, R_FILE, R_LABEL };
    static const struct option opts[] = {
        {"policy", required_argument, NULL, R_POLICY},
        {"workspace", required_argument, NULL, R_WS},
        {"timeout", required_argument, NULL, R_TIMEOUT},
        {"env", required_argument, NULL, R_ENV},
        {"file", required_argument, NULL, R_FILE},
        {"label", required_argument, NULL, R_LABEL},
        {0},
    };
    const char *arg;
    int opt, code = 0;
    uint64_t t;
    json_t *cmd;

    optind = 0;
    while ((opt = cli_opt_next(c, "run", argc, argv, NULL, opts, &arg, &code)) != 0) {
        if (opt < 0)
            return code ? code : CLI_DONE;
        if (opt == R_POLICY || opt == R_WS)
            json_object_set_new(o->spec, opt == R_POLICY ? "policy" : "workspace",
                                json_string(arg));
        else if (opt == R_TIMEOUT) {
            if (str_to_u64(arg, 1, 1u << 30, &t) < 0)
                return cli_usage_error("run",
                                       "--timeout \"%s\": must be a whole number of "
                                       "seconds, 1 or more",
                                       arg);
            json_object_set_new(o->spec, "timeout_s", json_integer((json_int_t)t));
        } else if (opt == R_ENV && (code = add_pair(o->env, "run", "--env", arg)))
            return code;
        else if (opt == R_LABEL && (code = add_pair(o->labels, "run", "--label", arg)))
            return code;
        else if (opt == R_FILE && (code = add_file(o->files, arg)))
            return code;
    }
    if (optind >= argc)
        return cli_usage_error("run", "a command is needed: airlock run [OPTIONS] -- CMD [ARG...]");
    cmd = json_array();
    json_object_set_new(o->spec, "command", cmd);
    for (int i = optind; i < argc; i++)
        if (json_array_append_new(cmd, json_string(argv[i])) < 0)
            return cli_usage_error("run", "argument %d is not UTF-8 text", i - optind + 1);
    if (json_object_size(o->env))
        json_object_set(o->spec, "env", o->env);
    if (json_object_size(o->files))
        json_object_set(o->spec, "files", o->files);
    if (json_object_size(o->labels))
        json_object_set(o->spec, "labels", o->labels);
    return 0;
}

/* ---- run: following stdout and stderr ---- */

struct follow {
    CURL *h;
    struct curl_slist *hdrs;
    int fd; /* 1 or 2; -1 to drop the bytes (--json) */
    const char *stream;
    unsigned long long offset; /* bytes received so far */
    int retries;
    bool done;
    long status;
    char err[512]; /* an error answer's first bytes */
    size_t err_len;
};

static size_t
on_follow(char *p, size_t size, size_t n, void *arg)
{
    struct follow *f = arg;
    size_t len = size * n;

    if (!f->status)
        curl_easy_getinfo(f->h, CURLINFO_RESPONSE_CODE, &f->status);
    if (f->status >= 400) {
        size_t room = sizeof(f->err) - 1 - f->err_len;
        size_t k = len < room ? len : room;
        memcpy(f->err + f->err_len, p, k);
        f->err_len += k;
        f->err[f->err_len] = '\0';
        return len;
    }
    /* A reader that went away (`airlock run ... | head -1`): the rest is dropped, and the
     * job's exit code still comes back. */
    if (f->fd >= 0 && cli_write_all(f->fd, p, len) < 0)
        f->fd = -1;
    f->offset += len;
    return len;
}

/* The easy handle of a follower, from its offset. */
static int
follow_start(struct cli *c, CURLM *m, struct follow *f, const char *id)
{
    char path[512], suffix[96];
    char url[CLI_URL_MAX + 512], auth[CLI_TOKEN_MAX + 32];

    str_printf(suffix, sizeof(suffix), "/%s?follow=true&offset=%llu", f->stream, f->offset);
    if (job_path(path, sizeof(path), id, suffix) < 0 ||
        str_printf(url, sizeof(url), "%s%s", c->url, path) < 0)
        return -1;
    f->h = curl_easy_init();
    str_printf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
    f->hdrs = curl_slist_append(NULL, auth);
    explicit_bzero(auth, sizeof(auth));
    if (!f->h || !f->hdrs)
        return -1;
    f->status = 0;
    curl_easy_setopt(f->h, CURLOPT_URL, url);
    if (c->unix_path[0])
        curl_easy_setopt(f->h, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
    curl_easy_setopt(f->h, CURLOPT_HTTPHEADER, f->hdrs);
    curl_easy_setopt(f->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(f->h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(f->h, CURLOPT_WRITEFUNCTION, on_follow);
    curl_easy_setopt(f->h, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(f->h, CURLOPT_PRIVATE, f);
    curl_easy_setopt(f->h, CURLOPT_USERAGENT, "airlock/" AIRLOCK_VERSION);
    return curl_multi_add_handle(m, f->h) == CURLM_OK ? 0 : -1;
}

static void
follow_stop(CURLM *m, struct follow *f)
{
    if (f->h) {
        curl_multi_remove_handle(m, f->h);
        curl_easy_cleanup(f->h);
        f->h = NULL;
    }
    curl_slist_free_all(f->hdrs);
    f->hdrs = NULL;
}

/* One finished transfer: done, or resumed from its offset when it was cut. */
static int
follow_finished(struct cli *c, CURLM *m, struct follow *f, const char *id, CURLcode rc)
{
    long status = 0;

    curl_easy_getinfo(f->h, CURLINFO_RESPONSE_CODE, &status);
    follow_stop(m, f);
    if (rc == CURLE_OK && status == 200) {
        f->done = true;
        return 0;
    }
    if (rc == CURLE_OK && status >= 400) {
        struct cli_resp r = {.status = status, .body = f->err, .len = f->err_len};
        char what[128];
        cli_print_api_error(job_what(what, sizeof(what), id), &r);
        return -1;
    }
    if (rc == CURLE_WRITE_ERROR || ++f->retries > FOLLOW_RETRIES) {
        fprintf(stderr, "airlock: job %s: following its %s failed: %s\n", id, f->stream,
                curl_easy_strerror(rc));
        return -1;
    }
    usleep(200 * 1000);
    return follow_start(c, m, f, id);
}

/* Sends the cancel once, at the first Ctrl-C. */
static void
cancel_on_interrupt(struct cli *c, const char *id, bool *sent)
{
    char path[256];
    struct cli_resp r;

    if (!interrupted || *sent)
        return;
    *sent = true;
    fprintf(stderr, "airlock: canceling job %s (Ctrl-C again to stop waiting)\n", id);
    if (job_path(path, sizeof(path), id, "/cancel") == 0 &&
        cli_call(c, "POST", path, NULL, &r) == 0)
        cli_resp_free(&r);
}

/* Streams both outputs until the job has ended; 0, or -1 when following failed. */
static int
follow_both(struct cli *c, const char *id, bool print)
{
    struct follow f[2] = {{.fd = print ? 1 : -1, .stream = "stdout"},
                          {.fd = print ? 2 : -1, .stream = "stderr"}};
    bool cancel_sent = false;
    CURLM *m = curl_multi_init();
    int ret = 0, running = 1;

    if (!m || follow_start(c, m, &f[0], id) < 0 || follow_start(c, m, &f[1], id) < 0)
        ret = -1;
    while (ret == 0 && !(f[0].done && f[1].done) && interrupted < 2) {
        struct CURLMsg *msg;
        int left;

        if (curl_multi_perform(m, &running) != CURLM_OK ||
            curl_multi_poll(m, NULL, 0, 200, NULL) != CURLM_OK) {
            ret = -1;
            break;
        }
        cancel_on_interrupt(c, id, &cancel_sent);
        while ((msg = curl_multi_info_read(m, &left)) && ret == 0) {
            struct follow *fi = NULL;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&fi);
            if (follow_finished(c, m, fi, id, msg->data.result) < 0)
                ret = -1;
        }
    }
    follow_stop(m, &f[0]);
    follow_stop(m, &f[1]);
    if (m)
        curl_multi_cleanup(m);
    if (ret < 0 && !f[0].status && !f[1].status)
        fprintf(stderr, "airlock: job %s: could not follow its output\n", id);
    return interrupted >= 2 ? -1 : ret;
}

static bool
job_ended(const json_t *job)
{
    const char *s = json_string_value(json_object_get(job, "status"));

    return s && strcmp(s, "queued") != 0 && strcmp(s, "running") != 0;
}

/* The ended job (new reference), polled briefly if the streams ended before its record. */
static json_t *
final_job(struct cli *c, const char *id)
{
    char path[256], what[128];
    json_t *job = NULL;

    job_path(path, sizeof(path), id, "");
    for (int waited = 0; waited <= END_WAIT_MS; waited += 100) {
        json_decref(job);
        job = NULL;
        if (cli_json(c, "GET", path, NULL, job_what(what, sizeof(what), id), &job, NULL))
            return NULL;
        if (job_ended(job))
            return job;
        usleep(100 * 1000);
    }
    fprintf(stderr, "airlock: job %s: its output ended but it is still %s\n", id,
            json_string_value(json_object_get(job, "status")));
    json_decref(job);
    return NULL;
}

/* The exit code for an ended job, and what to say about it on stderr. */
static int
exit_code_of(const json_t *job)
{
    const char *id = json_string_value(json_object_get(job, "id"));
    const char *status = json_string_value(json_object_get(job, "status"));
    const char *reason = json_string_value(json_object_get(job, "reason"));
    json_t *code = json_object_get(job, "exit_code");
    json_t *sig = json_object_get(job, "signal");

    if (!status || !id) {
        fprintf(stderr, "airlock: the daemon's job object has no status or id\n");
        return RUN_EXIT_NOSTART;
    }
    if (!strcmp(status, "succeeded"))
        return 0;
    if (!strcmp(status, "timed_out")) {
        fprintf(stderr, "airlock: job %s: timed out after %lld s\n", id,
                (long long)json_integer_value(json_object_get(job, "timeout_s")));
        return RUN_EXIT_TIMEOUT;
    }
    if (reason && strcmp(reason, status) != 0)
        fprintf(stderr, "airlock: job %s: %s (%s)\n", id, status, reason);
    else if (reason)
        fprintf(stderr, "airlock: job %s: %s\n", id, status);
    if (json_is_integer(sig)) {
        if (!reason)
            fprintf(stderr, "airlock: job %s: killed by signal %lld\n", id,
                    (long long)json_integer_value(sig));
        return 128 + (int)json_integer_value(sig);
    }
    if (json_is_integer(code) && !reason)
        return (int)json_integer_value(code);
    if (!reason)
        fprintf(stderr, "airlock: job %s: %s\n", id, status);
    return RUN_EXIT_NOSTART;
}

int
cli_cmd_run(struct cli *c, int argc, char **argv)
{
    struct run_opts o = {json_object(), json_object(), json_object(), json_object()};
    struct sigaction sa = {.sa_handler = on_interrupt};
    json_t *job = NULL, *end = NULL;
    char id[128];
    int code;

    code = run_parse(c, argc, argv, &o);
    if (code) {
        code = code == CLI_DONE ? 0 : code;
        goto out;
    }
    if (cli_json(c, "POST", "/v1/jobs", o.spec, NULL, &job, NULL)) {
        code = RUN_EXIT_NOSTART;
        goto out;
    }
    str_copy(id, sizeof(id), json_string_value(json_object_get(job, "id")) ?: "");
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (follow_both(c, id, !c->json) < 0 || !(end = final_job(c, id))) {
        code = interrupted ? 130 : RUN_EXIT_NOSTART;
        goto out;
    }
    if (c->json) {
        char *s = json_dumps(end, JSON_COMPACT);
        if (s)
            puts(s);
        free(s);
    }
    code = interrupted ? 130 : exit_code_of(end);
out:
    json_decref(job);
    json_decref(end);
    json_decref(o.spec);
    json_decref(o.env);
    json_decref(o.files);
    json_decref(o.labels);
    return code;
}

/* ---- ps, show ---- */

static void
ps_row(struct cli_table *t, const json_t *j)
{
    char code[32], cmd[256], created[32], dur[32], sig[32];
    json_t *ms = json_object_get(j, "duration_ms");
    json_t *s = json_object_get(j, "signal");

    cli_fmt_value(code, sizeof(code), json_object_get(j, "exit_code"));
    if (json_is_integer(s)) {
        str_printf(sig, sizeof(sig), "sig %lld", (long long)json_integer_value(s));
        str_copy(code, sizeof(code), sig);
    }
    if (json_is_integer(ms))
        str_printf(dur, sizeof(dur), "%.1fs", (double)json_integer_value(ms) / 1000);
    else
        str_copy(dur, sizeof(dur), "-");
    const char *cells[] = {
        json_string_value(json_object_get(j, "id")),
        json_string_value(json_object_get(j, "status")),
        code,
        json_string_value(json_object_get(j, "policy")),
        cli_fmt_time(created, sizeof(created), json_object_get(j, "created_at")),
        dur,
        cli_fmt_command(cmd, sizeof(cmd), json_object_get(j, "command"), 48),
    };
    cli_table_row(t, cells);
}

int
cli_cmd_ps(struct cli *c, int argc, char **argv)
{
    enum { P_STATUS = 1, P_LABEL, P_LIMIT, P_BEFORE };
    static const struct option opts[] = {
        {"status", required_argument, NULL, P_STATUS},
        {"before", required_argument, NULL, P_BEFORE},
        {"label", required_argument, NULL, P_LABEL},
        {"limit", required_argument, NULL, P_LIMIT},
        {0},
    };
    static const char *const head[] = {"ID",      "STATUS",   "EXIT",   "POLICY",
                                       "CREATED", "DURATION", "COMMAND"};
    char path[2048] = "/v1/jobs?limit=";
    const char *arg, *status = NULL, *label = NULL, *limit = "50", *before = NULL;
    struct cli_resp raw;
    struct cli_table t;
    json_t *list = NULL, *j;
    int opt, code = 0;
    uint64_t n;
    size_t i;

    optind = 0;
    while ((opt = cli_opt_next(c, "ps", argc, argv, NULL, opts, &arg, &code)) != 0) {
        if (opt < 0)
            return code;
        if (opt == P_STATUS)
            status = arg;
        else if (opt == P_LABEL)
            label = arg;
        else if (opt == P_BEFORE)
            before = arg;
        else if (str_to_u64(arg, 1, 1000, &n) < 0)
            return cli_usage_error("ps", "--limit \"%s\": must be a number from 1 to 1000", arg);
        else
            limit = arg;
    }
    if (optind < argc)
        return cli_usage_error("ps", "unexpected argument \"%s\"", argv[optind]);
    if (label && !strchr(label, '='))
        return cli_usage_error("ps", "--label \"%s\": must be KEY=VALUE", label);
    str_printf(path + strlen(path), sizeof(path) - strlen(path), "%s", limit);
    if (status) {
        str_printf(path + strlen(path), sizeof(path) - strlen(path), "&status=");
        cli_escape(path, sizeof(path), status, false);
    }
    if (before) {
        str_printf(path + strlen(path), sizeof(path) - strlen(path), "&before=");
        cli_escape(path, sizeof(path), before, false);
    }
    if (label) {
        /* The API writes a label filter as key:value; the CLI takes key=value like --label. */
        char kv[600];
        str_copy(kv, sizeof(kv), label);
        *strchr(kv, '=') = ':';
        str_printf(path + strlen(path), sizeof(path) - strlen(path), "&label=");
        if (cli_escape(path, sizeof(path), kv, false) < 0)
            return cli_usage_error("ps", "--label: too long");
    }
    if (cli_json(c, "GET", path, NULL, NULL, c->json ? NULL : &list, &raw))
        return CLI_EXIT_ERR;
    if (c->json) {
        cli_print_body(&raw);
        cli_resp_free(&raw);
        return 0;
    }
    cli_resp_free(&raw);
    cli_table_init(&t, 7, head);
    json_array_foreach(json_object_get(list, "jobs"), i, j) ps_row(&t, j);
    code = cli_table_print(&t, stdout);
    if (json_is_string(json_object_get(list, "next")))
        printf("(more: airlock ps --before %s)\n",
               json_string_value(json_object_get(list, "next")));
    json_decref(list);
    return code;
}

/* Reads the one operand ID of a command; returns 0, an exit code, or CLI_DONE after --help. */
static int
one_id(struct cli *c, const char *cmd, int argc, char **argv, const char **id)
{
    const char *arg;
    int opt, code = 0;

    optind = 0;
    while ((opt = cli_opt_next(c, cmd, argc, argv, NULL, NULL, &arg, &code)) != 0)
        if (opt < 0)
            return code ? code : CLI_DONE;
    if (optind >= argc)
        return cli_usage_error(cmd, "a job id is needed (airlock ps lists them)");
    if (optind + 1 < argc)
        return cli_usage_error(cmd, "unexpected argument \"%s\"", argv[optind + 1]);
    *id = argv[optind];
    return 0;
}

static void
show_line(const char *key, const char *value)
{
    printf("%-11s %s\n", key, value && *value ? value : "-");
}

static void
show_job(const json_t *j)
{
    char a[512], b[64], cc[64];
    const json_t *u = json_object_get(j, "usage"), *e = json_object_get(j, "egress");
    const json_t *l = json_object_get(j, "limits");

    show_line("ID:", json_string_value(json_object_get(j, "id")));
    show_line("Status:", json_string_value(json_object_get(j, "status")));
    show_line("Exit code:", cli_fmt_value(a, sizeof(a), json_object_get(j, "exit_code")));
    show_line("Signal:", cli_fmt_value(a, sizeof(a), json_object_get(j, "signal")));
    show_line("Reason:", cli_fmt_value(a, sizeof(a), json_object_get(j, "reason")));
    show_line("Policy:", json_string_value(json_object_get(j, "policy")));
    show_line("Command:", cli_fmt_command(a, sizeof(a), json_object_get(j, "command"), 400));
    show_line("Workspace:", cli_fmt_value(a, sizeof(a), json_object_get(j, "workspace")));
    show_line("Labels:", cli_fmt_labels(a, sizeof(a), json_object_get(j, "labels")));
    show_line("Created:", cli_fmt_value(a, sizeof(a), json_object_get(j, "created_at")));
    show_line("Started:", cli_fmt_value(a, sizeof(a), json_object_get(j, "started_at")));
    show_line("Finished:", cli_fmt_value(a, sizeof(a), json_object_get(j, "finished_at")));
    str_printf(a, sizeof(a), "%s ms",
               cli_fmt_value(b, sizeof(b), json_object_get(j, "duration_ms")));
    show_line("Duration:", a);
    str_printf(a, sizeof(a), "cpu %s ms, max rss %s KiB",
               cli_fmt_value(b, sizeof(b), json_object_get(u, "cpu_ms")),
               cli_fmt_value(cc, sizeof(cc), json_object_get(u, "max_rss_kb")));
    show_line("Usage:", a);
    str_printf(a, sizeof(a), "%s allowed, %s denied (airlock egress %s)",
               cli_fmt_value(b, sizeof(b), json_object_get(e, "allowed")),
               cli_fmt_value(cc, sizeof(cc), json_object_get(e, "denied")),
               json_string_value(json_object_get(j, "id")));
    show_line("Egress:", a);
    str_printf(a, sizeof(a), "stdout %s B%s, stderr %s B%s",
               cli_fmt_value(b, sizeof(b), json_object_get(j, "stdout_bytes")),
               json_is_true(json_object_get(j, "stdout_truncated")) ? " (truncated)" : "",
               cli_fmt_value(cc, sizeof(cc), json_object_get(j, "stderr_bytes")),
               json_is_true(json_object_get(j, "stderr_truncated")) ? " (truncated)" : "");
    show_line("Output:", a);
    str_printf(a, sizeof(a),
               "timeout %llds, memory %lld MB, pids %lld, cpu %llds, output %lld B, "
               "disk %lld MB",
               (long long)json_integer_value(json_object_get(l, "timeout_s")),
               (long long)json_integer_value(json_object_get(l, "memory_mb")),
               (long long)json_integer_value(json_object_get(l, "pids")),
               (long long)json_integer_value(json_object_get(l, "cpu_s")),
               (long long)json_integer_value(json_object_get(l, "output_bytes")),
               (long long)json_integer_value(json_object_get(l, "disk_mb")));
    show_line("Limits:", a);
}

/* GET or POST/DELETE on one job, printing the JSON as is or via show (human may be NULL). */
static int
one_job_call(struct cli *c, const char *cmd, int argc, char **argv, const char *method,
             const char *suffix, void (*human)(const json_t *j))
{
    const char *id = NULL;
    char path[512], what[160];
    struct cli_resp raw;
    json_t *j = NULL;
    int code = one_id(c, cmd, argc, argv, &id);

    if (code)
        return code == CLI_DONE ? 0 : code;
    if (job_path(path, sizeof(path), id, suffix) < 0)
        return cli_usage_error(cmd, "the id is too long");
    if (cli_json(c, method, path, NULL, job_what(what, sizeof(what), id), &j, &raw))
        return CLI_EXIT_ERR;
    if (c->json)
        cli_print_body(&raw);
    else
        human(j);
    cli_resp_free(&raw);
    json_decref(j);
    return 0;
}

int
cli_cmd_show(struct cli *c, int argc, char **argv)
{
    return one_job_call(c, "show", argc, argv, "GET", "", show_job);
}

static void
print_canceled(const json_t *j)
{
    printf("%s: canceling (status %s)\n", json_string_value(json_object_get(j, "id")),
           json_string_value(json_object_get(j, "status")));
}

int
cli_cmd_cancel(struct cli *c, int argc, char **argv)
{
    return one_job_call(c, "cancel", argc, argv, "POST", "/cancel", print_canceled);
}

static void
print_deleted(const json_t *j)
{
    printf("%s: deleted\n", json_string_value(json_object_get(j, "id")));
}

int
cli_cmd_rm(struct cli *c, int argc, char **argv)
{
    const char *arg;
    int opt, code = 0, ret = 0;
    char path[512], what[160];

    optind = 0;
    while ((opt = cli_opt_next(c, "rm", argc, argv, NULL, NULL, &arg, &code)) != 0)
        if (opt < 0)
            return code;
    if (optind >= argc)
        return cli_usage_error("rm", "a job id is needed (airlock ps lists them)");
    for (int i = optind; i < argc; i++) {
        struct cli_resp raw;
        json_t *j = NULL;
        if (job_path(path, sizeof(path), argv[i], "") < 0 ||
            cli_json(c, "DELETE", path, NULL, job_what(what, sizeof(what), argv[i]), &j, &raw)) {
            ret = CLI_EXIT_ERR;
            continue;
        }
        if (c->json)
            cli_print_body(&raw);
        else
            print_deleted(j);
        cli_resp_free(&raw);
        json_decref(j);
    }
    return ret;
}

/* ---- logs ---- */

int
cli_cmd_logs(struct cli *c, int argc, char **argv)
{
    enum { L_FOLLOW = 'f', L_STDERR = 1 };
    static const struct option opts[] = {
        {"follow", no_argument, NULL, L_FOLLOW},
        {"stderr", no_argument, NULL, L_STDERR},
        {0},
    };
    const char *arg, *id;
    bool follow = false, err = false;
    char path[512], what[160];
    int opt, code = 0;

    optind = 0;
    while ((opt = cli_opt_next(c, "logs", argc, argv, "f", opts, &arg, &code)) != 0) {
        if (opt < 0)
            return code;
        if (opt == L_FOLLOW)
            follow = true;
        else
            err = true;
    }
    if (optind >= argc)
        return cli_usage_error("logs", "a job id is needed (airlock ps lists them)");
    if (optind + 1 < argc)
        return cli_usage_error("logs", "unexpected argument \"%s\"", argv[optind + 1]);
    id = argv[optind];
    if (job_path(path, sizeof(path), id,
                 follow ? (err ? "/stderr?follow=true" : "/stdout?follow=true")
                        : (err ? "/stderr" : "/stdout")) < 0)
        return cli_usage_error("logs", "the id is too long");
    signal(SIGPIPE, SIG_IGN);
    fflush(stdout);
    return cli_download(c, path, 1, NULL, false, job_what(what, sizeof(what), id), NULL);
}

/* ---- egress ---- */

static void
egress_row(struct cli_table *t, const json_t *e)
{
    char when[32], url[1200], port[16], status[16], up[32], down[32], ms[32];
    const char *scheme = json_string_value(json_object_get(e, "scheme"));
    const char *host = json_string_value(json_object_get(e, "host"));
    const char *path = json_string_value(json_object_get(e, "path"));

    cli_fmt_value(port, sizeof(port), json_object_get(e, "port"));
    if (host)
        str_printf(url, sizeof(url), "%s://%s:%s%s", scheme ? scheme : "?", host, port,
                   path ? path : "");
    else
        str_copy(url, sizeof(url), "(unreadable request)");
    const char *cells[] = {
        cli_fmt_time(when, sizeof(when), json_object_get(e, "time")),
        json_string_value(json_object_get(e, "decision")),
        json_string_value(json_object_get(e, "method")),
        url,
        json_string_value(json_object_get(e, "rule")),
        json_string_value(json_object_get(e, "reason")),
        cli_fmt_value(status, sizeof(status), json_object_get(e, "status")),
        cli_fmt_value(up, sizeof(up), json_object_get(e, "bytes_up")),
        cli_fmt_value(down, sizeof(down), json_object_get(e, "bytes_down")),
        cli_fmt_value(ms, sizeof(ms), json_object_get(e, "duration_ms")),
    };
    cli_table_row(t, cells);
}

int
cli_cmd_egress(struct cli *c, int argc, char **argv)
{
    static const char *const head[] = {"TIME",   "DECISION", "METHOD", "URL",  "RULE",
                                       "REASON", "STATUS",   "UP",     "DOWN", "MS"};
    const char *id = NULL;
    char path[512], suffix[64], what[160];
    json_t *all = json_array(), *page = NULL, *e;
    long long after = 0;
    struct cli_table t;
    int code = one_id(c, "egress", argc, argv, &id);
    size_t i;

    /* Every page, gathered: --json prints them as one answer with "next": null. */
    while (code == 0) {
        str_printf(suffix, sizeof(suffix), "/egress?after=%lld&limit=1000", after);
        if (job_path(path, sizeof(path), id, suffix) < 0 ||
            cli_json(c, "GET", path, NULL, job_what(what, sizeof(what), id), &page, NULL)) {
            code = CLI_EXIT_ERR;
            break;
        }
        json_array_extend(all, json_object_get(page, "events"));
        e = json_object_get(page, "next");
        after = json_is_integer(e) ? (long long)json_integer_value(e) : -1;
        json_decref(page);
        if (after < 0)
            break;
    }
    code = code == CLI_DONE ? 0 : code;
    if (code == 0 && id && c->json) {
        json_t *out = json_pack("{s:O,s:n}", "events", all, "next");
        char *s = out ? json_dumps(out, JSON_COMPACT) : NULL;
        if (s)
            puts(s);
        free(s);
        json_decref(out);
    } else if (code == 0 && id) {
        cli_table_init(&t, 10, head);
        json_array_foreach(all, i, e) egress_row(&t, e);
        code = cli_table_print(&t, stdout);
    }
    json_decref(all);
    return code;
}
