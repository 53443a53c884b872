/*
 * The `airlock` command-line client against the real daemon: the built client (next to
 * $AIRLOCKD, as build/airlock) is run as a process with AIRLOCK_URL and AIRLOCK_TOKEN set, its
 * stdout and stderr read through pipes with a deadline. Covered: run streaming its output as
 * the job writes it, the job's exit code passed through (124 on a timeout, 128+N on a signal,
 * 125 when it cannot start), stderr apart from stdout, --env and --file; ws create/ls/rm; cp
 * both ways with a binary file (and stdin/stdout); ps, show, logs, egress, cancel, rm and
 * policy ls/show/check as tables and as --json; the API's error messages, usage errors, a
 * missing token and an unreachable daemon.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

static struct daemon d;
static char cli_path[PATH_MAX];

static void
up(void)
{
    const char *daemon = secure_getenv("AIRLOCKD");
    char buf[PATH_MAX];

    daemon_init(&d, NULL, true);
    daemon_start(&d);
    snprintf(buf, sizeof(buf), "%s", daemon ? daemon : "build/airlockd");
    snprintf(cli_path, sizeof(cli_path), "%s/airlock", dirname(buf));
    cr_assert(access(cli_path, X_OK) == 0,
              "the client %s is not built (make build/airlock; it is found next to $AIRLOCKD)",
              cli_path);
}

static void
down(void)
{
    daemon_stop(&d);
    daemon_cleanup(&d);
}

TestSuite(cli, .init = up, .fini = down, .timeout = 120);

/* ---- running the client ---- */

struct proc {
    pid_t pid;
    int out, err, in;
};

struct result {
    int code; /* the exit status, 128+N for a signal, -1 when it did not end in time */
    char *out, *err;
    size_t out_len, err_len;
};

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The environment of the client: ours without AIRLOCK_* (PATH, ASAN_OPTIONS...), plus env
 * (NULL-terminated "K=V"; NULL: the daemon's URL and token). */
static char **
client_env(const char *const *env)
{
    static char url[128], token[160];
    static char *envp[256];
    int n = 0;

    for (char **e = environ; *e && n < 200; e++)
        if (strncmp(*e, "AIRLOCK_", 8) != 0)
            envp[n++] = *e;
    if (!env) {
        snprintf(url, sizeof(url), "AIRLOCK_URL=http://127.0.0.1:%d", d.port);
        snprintf(token, sizeof(token), "AIRLOCK_TOKEN=%s", d.token);
        envp[n++] = url;
        envp[n++] = token;
    } else {
        for (; *env && n < 250; env++)
            envp[n++] = (char *)*env;
    }
    envp[n] = NULL;
    return envp;
}

/* Starts the client with args (NULL-terminated, after "airlock"). */
static struct proc
spawn(const char *const *args, const char *const *env)
{
    const char *argv[64] = {cli_path};
    int po[2], pe[2], pi[2];
    char **envp = client_env(env);
    struct proc p;
    int n = 1;

    for (; args[n - 1] && n < 63; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    cr_assert(pipe2(po, O_CLOEXEC) == 0 && pipe2(pe, O_CLOEXEC) == 0 && pipe2(pi, O_CLOEXEC) == 0);
    p.pid = fork();
    cr_assert(p.pid >= 0);
    if (p.pid == 0) {
        dup2(pi[0], 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        execve(cli_path, (char *const *)argv, envp);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    close(pi[0]);
    p.out = po[0];
    p.err = pe[0];
    p.in = pi[1];
    return p;
}

static void
append(char **buf, size_t *len, const char *p, size_t n)
{
    char *grown = realloc(*buf, *len + n + 1);

    cr_assert(grown);
    memcpy(grown + *len, p, n);
    *len += n;
    grown[*len] = '\0';
    *buf = grown;
}

/* Reads what is there within timeout_ms into r; returns false once both pipes are at EOF. */
static bool
pump(struct proc *p, struct result *r, int timeout_ms)
{
    struct pollfd fds[2] = {{p->out, POLLIN, 0}, {p->err, POLLIN, 0}};
    char buf[65536];

    if (p->out < 0 && p->err < 0)
        return false;
    if (poll(fds, 2, timeout_ms) <= 0)
        return true;
    for (int i = 0; i < 2; i++) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = read(fds[i].fd, buf, sizeof(buf));
        if (n > 0) {
            if (i == 0)
                append(&r->out, &r->out_len, buf, (size_t)n);
            else
                append(&r->err, &r->err_len, buf, (size_t)n);
        } else if (n == 0 || errno != EINTR) {
            close(fds[i].fd);
            if (i == 0)
                p->out = -1;
            else
                p->err = -1;
        }
    }
    return p->out >= 0 || p->err >= 0;
}

/* Collects the output and the exit status within timeout_s; kills the client after it. */
static void
finish(struct proc *p, struct result *r, int timeout_s)
{
    double end = now_s() + timeout_s;
    int status;

    if (p->in >= 0)
        close(p->in);
    p->in = -1;
    while (now_s() < end && pump(p, r, 100))
        ;
    while (now_s() < end && waitpid(p->pid, &status, WNOHANG) == 0)
        usleep(20 * 1000);
    if (now_s() >= end && waitpid(p->pid, &status, WNOHANG) == 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &status, 0);
        r->code = -1;
    } else {
        r->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (p->out >= 0)
        close(p->out);
    if (p->err >= 0)
        close(p->err);
    if (!r->out)
        r->out = strdup("");
    if (!r->err)
        r->err = strdup("");
}

static struct result
run_env(const char *const *env, const char *stdin_data, const char *const *args)
{
    struct proc p = spawn(args, env);
    struct result r = {0};

    if (stdin_data) {
        size_t len = strlen(stdin_data);
        cr_assert(write(p.in, stdin_data, len) == (ssize_t)len);
    }
    finish(&p, &r, 60);
    cr_assert(r.code != -1, "airlock %s did not end within 60 s", args[0]);
    return r;
}

#define CLI(...) run_env(NULL, NULL, (const char *const[]){__VA_ARGS__, NULL})

static void
result_free(struct result *r)
{
    free(r->out);
    free(r->err);
}

/* The client's stdout as JSON (new reference); asserts it parses. */
static json_t *
parse_json(const struct result *r)
{
    json_error_t e;
    json_t *j = json_loads(r->out, 0, &e);

    cr_assert(j, "not JSON (%s): %s", e.text, r->out);
    return j;
}

static void
write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    cr_assert(f, "%s: %s", path, strerror(errno));
    cr_assert(fwrite(data, 1, len, f) == len);
    cr_assert(fclose(f) == 0);
}

/* A job started over the API that sleeps until canceled; its id into id. */
static void
start_sleeper(char *id, size_t n, const char *label)
{
    json_t *spec = job_sh("echo started; sleep 600");
    json_object_set_new(spec, "labels", json_pack("{s:s}", "cli", label));
    struct resp r = job_post(&d, spec);

    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(id, n, "%s", jstr(r.json, "id"));
    resp_free(&r);
    json_decref(spec);
    json_decref(job_wait_running(&d, id, 10000));
}

/* ---- run ---- */

Test(cli, run_streams_output_as_the_job_writes_it)
{
    struct proc p = spawn(
        (const char *const[]){"run", "--", "sh", "-c", "echo first; sleep 2; echo second", NULL},
        NULL);
    struct result r = {0};
    double t0 = now_s(), t_first = 0;
    int status;

    close(p.in);
    p.in = -1;
    while (now_s() < t0 + 10 && !(r.out && strstr(r.out, "first\n")))
        if (!pump(&p, &r, 100))
            break;
    t_first = now_s();
    cr_assert(r.out && strcmp(r.out, "first\n") == 0, "stdout so far: %s", r.out ? r.out : "");
    /* The job still sleeps: the line came as it was printed, not at the end. */
    cr_assert_eq(waitpid(p.pid, &status, WNOHANG), 0,
                 "the client had already ended when the first line arrived");
    finish(&p, &r, 30);
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    cr_assert_str_eq(r.out, "first\nsecond\n");
    cr_assert(now_s() - t_first > 1.0, "the second line came too soon after the first");
    result_free(&r);
}

Test(cli, run_passes_the_exit_code_and_keeps_stderr_apart)
{
    struct result r = CLI("run", "--", "sh", "-c", "echo out; echo err >&2; exit 3");

    cr_assert_eq(r.code, 3, "exit %d, stderr: %s", r.code, r.err);
    cr_assert_str_eq(r.out, "out\n");
    cr_assert_str_eq(r.err, "err\n");
    result_free(&r);

    r = CLI("run", "true");
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    result_free(&r);
}

Test(cli, run_timeout_is_124_signal_is_128_plus_n)
{
    struct result r = CLI("run", "--timeout", "1", "--", "sleep", "30");

    cr_assert_eq(r.code, 124, "exit %d, stderr: %s", r.code, r.err);
    cr_assert(strstr(r.err, "timed out after 1 s"), "stderr: %s", r.err);
    result_free(&r);

    r = CLI("run", "--", "sh", "-c", "kill -TERM $$");
    cr_assert_eq(r.code, 128 + SIGTERM, "exit %d, stderr: %s", r.code, r.err);
    cr_assert(strstr(r.err, "killed by signal 15"), "stderr: %s", r.err);
    result_free(&r);
}

Test(cli, run_that_cannot_start_is_125_with_the_reason)
{
    struct result r = CLI("run", "--", "no-such-command-airlock");

    cr_assert_eq(r.code, 125, "exit %d, stderr: %s", r.code, r.err);
    cr_assert(strstr(r.err, "spawn failed") && strstr(r.err, "no-such-command-airlock"),
              "stderr: %s", r.err);
    result_free(&r);

    r = CLI("run", "--policy", "no-such-policy", "--", "true");
    cr_assert_eq(r.code, 125, "exit %d, stderr: %s", r.code, r.err);
    cr_assert(strstr(r.err, "airlock: ") && strstr(r.err, "no-such-policy"), "stderr: %s", r.err);
    result_free(&r);
}

Test(cli, run_env_file_label_and_json)
{
    char path[PATH_MAX + 16];
    json_t *j;

    snprintf(path, sizeof(path), "%s/hello.txt", d.dir);
    write_file(path, "hello from a file\n", 18);
    struct result r = CLI("run", "--env", "GREETING=hi there", "--file", path, "--label",
                          "suite=cli", "--", "sh", "-c", "echo \"$GREETING\"; cat hello.txt");
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    cr_assert_str_eq(r.out, "hi there\nhello from a file\n");
    result_free(&r);

    /* --json: no output streamed, the ended job printed instead; the exit code still passes */
    r = CLI("run", "--json", "--", "sh", "-c", "echo hidden; exit 4");
    cr_assert_eq(r.code, 4, "exit %d, stderr: %s", r.code, r.err);
    j = parse_json(&r);
    cr_assert_str_eq(jstr(j, "status"), "failed");
    cr_assert_eq(jint(j, "exit_code"), 4);
    json_decref(j);
    result_free(&r);

    r = CLI("run", "--env", "NOEQUALS", "--", "true");
    cr_assert_eq(r.code, 2, "exit %d, stderr: %s", r.code, r.err);
    cr_assert(strstr(r.err, "--env \"NOEQUALS\": must be KEY=VALUE"), "stderr: %s", r.err);
    result_free(&r);
}

/* ---- workspaces and files ---- */

Test(cli, ws_create_ls_rm)
{
    char id[128];
    json_t *j;

    struct result r = CLI("ws", "create", "--label", "team=cli", "--disk-mb", "5");
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    cr_assert(strncmp(r.out, "w_", 2) == 0, "stdout: %s", r.out);
    snprintf(id, sizeof(id), "%.*s", (int)strcspn(r.out, "\n"), r.out);
    result_free(&r);

    r = CLI("ws", "ls");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strncmp(r.out, "ID ", 3) == 0 && strstr(r.out, "HOST PATH"), "stdout: %s", r.out);
    cr_assert(strstr(r.out, id) && strstr(r.out, "team=cli") && strstr(r.out, "5 MiB"),
              "stdout: %s", r.out);
    result_free(&r);

    r = CLI("ws", "ls", "--label", "team=cli", "--json");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    j = parse_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "workspaces")), 1, "%s", r.out);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(j, "workspaces"), 0), "id"), id);
    json_decref(j);
    result_free(&r);

    r = CLI("ws", "rm", id);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "deleted"), "stdout: %s", r.out);
    result_free(&r);

    r = CLI("ws", "rm", id);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "airlock: workspace ") && strstr(r.err, "no such workspace"),
              "stderr: %s", r.err);
    result_free(&r);
}

Test(cli, cp_both_ways_with_a_binary_file)
{
    char id[128], src[PATH_MAX + 16], dst[PATH_MAX + 16], remote[256], h1[65], h2[65];
    size_t len = 3 * 1024 * 1024 + 17;
    unsigned char *data = malloc(len);
    unsigned int x = 12345;
    char *back;
    struct stat st;

    cr_assert(data);
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (unsigned char)(x >> 16); /* every byte value, NULs included */
    }
    snprintf(src, sizeof(src), "%s/blob.bin", d.dir);
    write_file(src, data, len);
    sha256_digest_hex(data, len, h1);
    free(data);

    struct result r = CLI("ws", "create");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    snprintf(id, sizeof(id), "%.*s", (int)strcspn(r.out, "\n"), r.out);
    result_free(&r);

    /* Up: a path ending in '/' takes the local name */
    snprintf(remote, sizeof(remote), "%s:in/", id);
    r = CLI("cp", src, remote);
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    cr_assert(strstr(r.out, "in/blob.bin: 3145745 bytes"), "stdout: %s", r.out);
    result_free(&r);

    /* Down into a file, then compare */
    snprintf(remote, sizeof(remote), "%s:in/blob.bin", id);
    snprintf(dst, sizeof(dst), "%s/back.bin", d.dir);
    r = CLI("cp", remote, dst);
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    result_free(&r);
    cr_assert(stat(dst, &st) == 0 && (size_t)st.st_size == len);
    {
        FILE *f = fopen(dst, "rb");
        cr_assert(f);
        back = malloc(len);
        cr_assert(back && fread(back, 1, len, f) == len);
        fclose(f);
        sha256_digest_hex(back, len, h2);
        free(back);
    }
    cr_assert_str_eq(h1, h2);

    /* stdin up, stdout down */
    snprintf(remote, sizeof(remote), "%s:notes/a.txt", id);
    r = run_env(NULL, "line one\nline two\n", (const char *const[]){"cp", "-", remote, NULL});
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    result_free(&r);
    r = CLI("cp", remote, "-");
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    cr_assert_str_eq(r.out, "line one\nline two\n");
    result_free(&r);

    /* A missing remote file: the API's message, and no local file made */
    snprintf(remote, sizeof(remote), "%s:nope.txt", id);
    snprintf(dst, sizeof(dst), "%s/nope.txt", d.dir);
    r = CLI("cp", remote, dst);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "airlock: nope.txt: no such file in workspace"), "stderr: %s", r.err);
    cr_assert(access(dst, F_OK) != 0, "a refused download left %s", dst);
    result_free(&r);

    /* A directory is refused */
    snprintf(remote, sizeof(remote), "%s:in", id);
    r = CLI("cp", remote, dst);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "is a directory"), "stderr: %s", r.err);
    result_free(&r);

    /* Neither side remote: a usage error */
    r = CLI("cp", src, dst);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "exactly one operand must be W:PATH"), "stderr: %s", r.err);
    result_free(&r);

    r = CLI("ws", "rm", id);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    result_free(&r);
}

/* ---- jobs ---- */

Test(cli, ps_show_logs_rm_as_tables_and_json)
{
    struct result r =
        CLI("run", "--label", "suite=ps", "--", "sh", "-c", "echo to-stdout; echo to-stderr >&2");
    char id[128];
    json_t *j;

    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    result_free(&r);

    r = CLI("ps", "--label", "suite=ps", "--json");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    j = parse_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "jobs")), 1, "%s", r.out);
    snprintf(id, sizeof(id), "%s", jstr(json_array_get(json_object_get(j, "jobs"), 0), "id"));
    json_decref(j);
    result_free(&r);

    r = CLI("ps", "--limit", "5");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strncmp(r.out, "ID ", 3) == 0 && strstr(r.out, "STATUS") && strstr(r.out, "COMMAND"),
              "stdout: %s", r.out);
    cr_assert(strstr(r.out, id) && strstr(r.out, "succeeded"), "stdout: %s", r.out);
    result_free(&r);

    r = CLI("ps", "--status", "succeeded", "--label", "suite=ps");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, id), "stdout: %s", r.out);
    result_free(&r);

    r = CLI("show", id);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "Status:     succeeded") && strstr(r.out, "Labels:     suite=ps"),
              "stdout: %s", r.out);
    result_free(&r);

    r = CLI("show", id, "--json");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    j = parse_json(&r);
    cr_assert_str_eq(jstr(j, "id"), id);
    cr_assert_eq(jint(j, "exit_code"), 0);
    json_decref(j);
    result_free(&r);

    r = CLI("logs", id);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_str_eq(r.out, "to-stdout\n");
    result_free(&r);
    r = CLI("logs", "--stderr", id);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_str_eq(r.out, "to-stderr\n");
    result_free(&r);

    r = CLI("rm", id);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "deleted"), "stdout: %s", r.out);
    result_free(&r);

    r = CLI("show", id);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "airlock: job ") && strstr(r.err, ": no such job"), "stderr: %s",
              r.err);
    result_free(&r);
}

Test(cli, logs_follow_and_cancel)
{
    char id[128];
    json_t *j;

    start_sleeper(id, sizeof(id), "cancel");
    struct proc p = spawn((const char *const[]){"logs", "-f", id, NULL}, NULL);
    struct result f = {0};
    double t0 = now_s();
    int status;

    close(p.in);
    p.in = -1;
    while (now_s() < t0 + 10 && !(f.out && strstr(f.out, "started\n")))
        if (!pump(&p, &f, 100))
            break;
    cr_assert(f.out && strstr(f.out, "started\n"), "logs -f printed: %s", f.out ? f.out : "");
    cr_assert_eq(waitpid(p.pid, &status, WNOHANG), 0, "logs -f ended while the job runs");

    struct result r = CLI("cancel", id);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, id), "stdout: %s", r.out);
    result_free(&r);

    /* The follower returns once the job has ended */
    finish(&p, &f, 20);
    cr_assert_eq(f.code, 0, "logs -f exit %d, stderr: %s", f.code, f.err);
    result_free(&f);
    j = job_wait_end(&d, id, 10000);
    cr_assert_str_eq(jstr(j, "status"), "canceled");
    json_decref(j);

    /* A second cancel: the API's 409 message */
    r = CLI("cancel", id, "--json");
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "airlock: ") && strstr(r.err, "ended"), "stderr: %s", r.err);
    result_free(&r);
}

Test(cli, run_interrupted_cancels_the_job)
{
    char marker[64];
    char script[128];

    make_marker(marker, sizeof(marker));
    snprintf(script, sizeof(script), "echo up; sleep 1000 0.%s", marker);
    struct proc p = spawn((const char *const[]){"run", "--", "sh", "-c", script, NULL}, NULL);
    struct result r = {0};
    double t0 = now_s();

    close(p.in);
    p.in = -1;
    while (now_s() < t0 + 10 && !(r.out && strstr(r.out, "up\n")))
        if (!pump(&p, &r, 100))
            break;
    cr_assert(r.out && strstr(r.out, "up\n"));
    kill(p.pid, SIGINT);
    finish(&p, &r, 20);
    cr_assert_eq(r.code, 130, "exit %d, stderr: %s", r.code, r.err);
    cr_assert(strstr(r.err, "canceling job"), "stderr: %s", r.err);
    cr_assert_eq(procs_wait_gone(marker, 10000), 0, "the job's process outlived the cancel");
    procs_kill_matching(marker);
    result_free(&r);
}

Test(cli, egress_table_and_json)
{
    struct result r = CLI("run", "--label", "suite=egress", "--", "sh", "-c",
                          "curl -s -o /dev/null http://example.com/x; true");
    char id[128];
    json_t *j;

    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    result_free(&r);
    r = CLI("ps", "--label", "suite=egress", "--json");
    j = parse_json(&r);
    snprintf(id, sizeof(id), "%s", jstr(json_array_get(json_object_get(j, "jobs"), 0), "id"));
    json_decref(j);
    result_free(&r);

    r = CLI("egress", id);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strncmp(r.out, "TIME ", 5) == 0 && strstr(r.out, "DECISION"), "stdout: %s", r.out);
    cr_assert(strstr(r.out, "http://example.com:80/x") && strstr(r.out, "no_rule") &&
                  strstr(r.out, "deny"),
              "stdout: %s", r.out);
    result_free(&r);

    r = CLI("egress", "--json", id);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    j = parse_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "events")), 1, "%s", r.out);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(j, "events"), 0), "reason"), "no_rule");
    json_decref(j);
    result_free(&r);
}

/* ---- policies ---- */

Test(cli, policy_ls_show_check)
{
    json_t *j;
    struct result r = CLI("policy", "ls");

    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strncmp(r.out, "NAME ", 5) == 0 && strstr(r.out, "\ndefault "), "stdout: %s", r.out);
    result_free(&r);

    r = CLI("policy", "ls", "--json");
    j = parse_json(&r);
    cr_assert(json_array_size(json_object_get(j, "policies")) >= 1);
    json_decref(j);
    result_free(&r);

    r = CLI("policy", "show", "default");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "\"filesystem\": {"), "stdout: %s", r.out);
    result_free(&r);
    r = CLI("--json", "policy", "show", "default");
    j = parse_json(&r);
    cr_assert(json_is_object(json_object_get(j, "filesystem")));
    json_decref(j);
    result_free(&r);

    r = CLI("policy", "check", "default", "https://pypi.org/");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strncmp(r.out, "deny  reason=no_rule\n", 21) == 0, "stdout: %s", r.out);
    result_free(&r);
    r = CLI("policy", "check", "pypi", "https://pypi.org/simple/", "--json");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    j = parse_json(&r);
    cr_assert_str_eq(jstr(j, "decision"), "allow");
    json_decref(j);
    result_free(&r);
    r = CLI("policy", "check", "pypi", "http://pypi.org/simple/", "DELETE");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strncmp(r.out, "deny", 4) == 0, "stdout: %s", r.out);
    result_free(&r);

    r = CLI("policy", "show", "no-such-policy");
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "airlock: ") && strstr(r.err, "no-such-policy"), "stderr: %s", r.err);
    result_free(&r);
}

/* ---- errors, usage, finding the daemon ---- */

Test(cli, api_errors_and_usage_errors)
{
    struct result r = CLI("show", "j_0000000000000000000000000000");

    cr_assert_eq(r.code, 1);
    cr_assert_str_eq(r.err, "airlock: job j_0000000000000000000000000000: no such job\n");
    result_free(&r);

    r = CLI("frobnicate");
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "frobnicate: no such command") && strstr(r.err, "airlock --help"),
              "stderr: %s", r.err);
    result_free(&r);
    r = CLI("run");
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "a command is needed"), "stderr: %s", r.err);
    result_free(&r);
    r = CLI("ps", "--limit", "0");
    cr_assert_eq(r.code, 2);
    result_free(&r);
    r = CLI("ps", "--bogus");
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "unknown option --bogus"), "stderr: %s", r.err);
    result_free(&r);
    r = CLI("run", "--timeout");
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "--timeout needs a value"), "stderr: %s", r.err);
    result_free(&r);

    r = CLI("--help");
    cr_assert_eq(r.code, 0);
    cr_assert(strncmp(r.out, "Usage: airlock ", 15) == 0, "stdout: %s", r.out);
    result_free(&r);
    r = CLI("run", "--help");
    cr_assert_eq(r.code, 0);
    cr_assert(strncmp(r.out, "Usage: airlock run", 18) == 0, "stdout: %s", r.out);
    result_free(&r);
    r = CLI("ws", "create", "--help");
    cr_assert_eq(r.code, 0);
    cr_assert(strncmp(r.out, "Usage: airlock ws create", 24) == 0, "stdout: %s", r.out);
    result_free(&r);
    r = CLI("--version");
    cr_assert_eq(r.code, 0);
    cr_assert(strncmp(r.out, "airlock ", 8) == 0, "stdout: %s", r.out);
    result_free(&r);
}

Test(cli, finding_the_daemon_and_the_token)
{
    char url[128], state[PATH_MAX + 32], bad_state[PATH_MAX + 32], token_file[PATH_MAX + 16];
    snprintf(url, sizeof(url), "AIRLOCK_URL=http://127.0.0.1:%d", d.port);

    /* No token anywhere: what to set */
    snprintf(bad_state, sizeof(bad_state), "AIRLOCK_STATE_DIR=%s/missing", d.dir);
    struct result r = run_env((const char *const[]){url, bad_state, NULL}, NULL,
                              (const char *const[]){"ps", NULL});
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "airlock: no API token") && strstr(r.err, "AIRLOCK_TOKEN") &&
                  strstr(r.err, "--token-file"),
              "stderr: %s", r.err);
    result_free(&r);

    /* A state dir holding the token (the harness gives its daemon the token in the config, so
     * the file is written here as airlockd writes <state_dir>/token) */
    snprintf(state, sizeof(state), "%s/tokdir", d.dir);
    cr_assert(mkdir(state, 0700) == 0);
    snprintf(token_file, sizeof(token_file), "%s/token", state);
    write_file(token_file, d.token, strlen(d.token));
    snprintf(state, sizeof(state), "AIRLOCK_STATE_DIR=%s/tokdir", d.dir);
    r = run_env((const char *const[]){url, state, NULL}, NULL, (const char *const[]){"ps", NULL});
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    result_free(&r);

    /* --url and --token-file */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", d.port);
    r = run_env(
        (const char *const[]){bad_state, NULL}, NULL,
        (const char *const[]){"--url", url, "--token-file", token_file, "policy", "ls", NULL});
    cr_assert_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    result_free(&r);

    /* A wrong token: the API's 401 message */
    r = run_env((const char *const[]){"AIRLOCK_TOKEN=wrong", NULL}, NULL,
                (const char *const[]){"--url", url, "ps", NULL});
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "airlock: ") && strstr(r.err, "token"), "stderr: %s", r.err);
    result_free(&r);

    /* Nothing listening */
    r = run_env((const char *const[]){"AIRLOCK_TOKEN=x", "AIRLOCK_URL=http://127.0.0.1:1", NULL},
                NULL, (const char *const[]){"ps", NULL});
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "cannot reach airlockd at http://127.0.0.1:1") &&
                  strstr(r.err, "AIRLOCK_URL"),
              "stderr: %s", r.err);
    result_free(&r);

    /* Not an http URL: a usage error */
    r = run_env((const char *const[]){"AIRLOCK_TOKEN=x", "AIRLOCK_URL=localhost:8420", NULL}, NULL,
                (const char *const[]){"ps", NULL});
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "must begin with http://"), "stderr: %s", r.err);
    result_free(&r);
}
