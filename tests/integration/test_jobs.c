/*
 * The jobs API against the real daemon (api.md, "Jobs"): happy paths with sh and python3 (files,
 * stdin, env, cwd, labels), the job object, validation errors naming the field, listing with
 * filters and paging, output offsets, the files endpoint, cancel and delete, the concurrency
 * limits and a restart after kill -9. Each test starts its own airlockd; every job is bounded by
 * a short timeout or waits with a short one.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;

static void
up(void)
{
    daemon_init(&d, NULL, true);
    daemon_start(&d);
}

static void
down(void)
{
    daemon_stop(&d);
    daemon_cleanup(&d);
}

TestSuite(jobs, .init = up, .fini = down, .timeout = 90);

/* "2026-11-27T05:27:08.123Z" */
static bool
is_rfc3339_ms(const char *s)
{
    return strlen(s) == 24 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' &&
           s[16] == ':' && s[19] == '.' && s[23] == 'Z';
}

static void
expect_file(const char *id, const char *path, const char *want)
{
    char url[512];
    struct resp r;

    snprintf(url, sizeof(url), "/v1/jobs/%s/files/%s", id, path);
    r = http_get(&d, url);
    cr_expect_eq(r.status, 200, "GET %s: %ld %s", url, r.status, r.body);
    cr_expect_str_eq(r.body, want, "GET %s", url);
    resp_free(&r);
}

Test(jobs, sh_job_with_files_stdin_env_cwd_labels)
{
    const char *script = "echo \"cwd=$(pwd)\"; echo \"foo=$FOO\"; echo \"stdin=$(cat)\";"
                         " echo \"data=$(cat ../data/in.txt)\"; echo \"keep=$(cat keep.txt)\";"
                         " echo out > result.txt; echo err-line >&2";
    json_t *spec = job_sh(script), *job;
    char *out, *err;

    json_object_set_new(spec, "cwd", json_string("sub"));
    json_object_set_new(spec, "stdin", json_string("hello"));
    json_object_set_new(spec, "env", json_pack("{s:s}", "FOO", "bar baz"));
    json_object_set_new(spec, "files",
                        json_pack("{s:s,s:s}", "sub/keep.txt", "k", "data/in.txt", "from-files"));
    json_object_set_new(spec, "labels", json_pack("{s:s,s:s}", "team", "qa", "run", "1"));
    job = job_run(&d, spec);
    cr_assert_str_eq(jstr(job, "status"), "succeeded", "%s", jdump(job));
    out = job_output(&d, jstr(job, "id"), "stdout");
    err = job_output(&d, jstr(job, "id"), "stderr");
    cr_expect(kv_is(out, "cwd", "/workspace/sub"), "stdout: %s", out);
    cr_expect(kv_is(out, "foo", "bar baz"), "stdout: %s", out);
    cr_expect(kv_is(out, "stdin", "hello"), "stdout: %s", out);
    cr_expect(kv_is(out, "data", "from-files"), "stdout: %s", out);
    cr_expect(kv_is(out, "keep", "k"), "stdout: %s", out);
    cr_expect_str_eq(err, "err-line\n");
    cr_expect_eq(jint(job, "stdout_bytes"), (long long)strlen(out), "%s", jdump(job));
    cr_expect_eq(jint(job, "stderr_bytes"), 9, "%s", jdump(job));
    cr_expect_str_eq(jstr(json_object_get(job, "labels"), "team"), "qa", "%s", jdump(job));
    cr_expect_str_eq(jstr(json_object_get(job, "labels"), "run"), "1", "%s", jdump(job));
    expect_file(jstr(job, "id"), "sub/result.txt", "out\n");
    expect_file(jstr(job, "id"), "data/in.txt", "from-files");
    free(out);
    free(err);
    json_decref(job);
}

/* The jobs list has an ETag: a dashboard polling it gets 304 until something changes. */
Test(jobs, the_list_answers_304_while_nothing_changes)
{
    struct resp r, again;
    char *etag;
    json_t *job;

    job = job_run(&d, job_sh("echo one"));
    json_decref(job);
    r = http_get(&d, "/v1/jobs?limit=10");
    cr_assert_eq(r.status, 200);
    etag = resp_header(&r, "ETag");
    cr_assert_not_null(etag, "no ETag on the list");
    char hdr[160];
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
    again = http(&d, "GET", "/v1/jobs?limit=10", NULL, NULL, NULL, hdr);
    cr_expect_eq(again.status, 304, "an unchanged list: %ld", again.status);
    cr_expect_eq(again.len, 0);
    resp_free(&again);
    job = job_run(&d, job_sh("echo two"));
    json_decref(job);
    again = http(&d, "GET", "/v1/jobs?limit=10", NULL, NULL, NULL, hdr);
    cr_expect_eq(again.status, 200, "the list changed: %ld", again.status);
    resp_free(&again);
    free(etag);
    resp_free(&r);
}

Test(jobs, the_job_object_has_every_field)
{
    json_t *spec = json_pack("{s:[s,s]}", "command", "echo", "hi"), *job, *usage, *cmd;

    json_object_set_new(spec, "policy", json_string("default"));
    job = job_run(&d, spec);
    cr_assert_str_eq(jstr(job, "status"), "succeeded", "%s", jdump(job));
    cr_expect(strncmp(jstr(job, "id"), "j_", 2) == 0, "%s", jdump(job));
    cr_expect_str_eq(jstr(job, "policy"), "default", "%s", jdump(job));
    cmd = json_object_get(job, "command");
    cr_expect(json_array_size(cmd) == 2 &&
                  strcmp(json_string_value(json_array_get(cmd, 1)), "hi") == 0,
              "%s", jdump(job));
    cr_expect(json_is_object(json_object_get(job, "labels")), "%s", jdump(job));
    cr_expect_eq(jint(job, "exit_code"), 0, "%s", jdump(job));
    cr_expect(json_is_null(json_object_get(job, "signal")), "%s", jdump(job));
    cr_expect(json_is_null(json_object_get(job, "reason")), "%s", jdump(job));
    cr_expect(is_rfc3339_ms(jstr(job, "created_at")), "%s", jdump(job));
    cr_expect(is_rfc3339_ms(jstr(job, "started_at")), "%s", jdump(job));
    cr_expect(is_rfc3339_ms(jstr(job, "finished_at")), "%s", jdump(job));
    cr_expect(strcmp(jstr(job, "created_at"), jstr(job, "started_at")) <= 0, "%s", jdump(job));
    cr_expect(strcmp(jstr(job, "started_at"), jstr(job, "finished_at")) <= 0, "%s", jdump(job));
    cr_expect(jint(job, "duration_ms") >= 0, "%s", jdump(job));
    usage = json_object_get(job, "usage");
    cr_expect(jint(usage, "cpu_ms") >= 0, "%s", jdump(job));
    cr_expect(jint(usage, "max_rss_kb") > 0, "%s", jdump(job));
    cr_expect(json_is_object(json_object_get(job, "egress")), "%s", jdump(job));
    cr_expect_eq(jint(job, "stdout_bytes"), 3, "%s", jdump(job));
    cr_expect_eq(jint(job, "stderr_bytes"), 0, "%s", jdump(job));
    json_decref(job);
}

Test(jobs, python3_job_with_files_and_stdin)
{
    const char *py = "import json, os, sys\n"
                     "data = sys.stdin.read()\n"
                     "cfg = json.load(open('input.json'))\n"
                     "os.makedirs('out', exist_ok=True)\n"
                     "json.dump({'stdin': data, 'n': cfg['n'] * 2, 'greeting': "
                     "os.environ.get('GREETING'), 'cwd': os.getcwd()}, open('out/r.json', 'w'))\n"
                     "print('sum=%d' % sum(range(cfg['n'])))\n";
    json_t *spec = json_pack("{s:[s,s],s:{s:s,s:s},s:s,s:{s:s}}", "command", "python3", "main.py",
                             "files", "main.py", py, "input.json", "{\"n\": 10}", "stdin", "abc",
                             "env", "GREETING", "hi"),
           *job, *res;
    char url[256], *out;
    struct resp r;

    job = job_run(&d, spec);
    cr_assert_str_eq(jstr(job, "status"), "succeeded", "%s", jdump(job));
    out = job_output(&d, jstr(job, "id"), "stdout");
    cr_expect_str_eq(out, "sum=45\n");
    snprintf(url, sizeof(url), "/v1/jobs/%s/files/out/r.json", jstr(job, "id"));
    r = http_get(&d, url);
    cr_assert_eq(r.status, 200, "GET %s: %ld %s", url, r.status, r.body);
    res = r.json;
    cr_expect_str_eq(jstr(res, "stdin"), "abc", "%s", r.body);
    cr_expect_eq(jint(res, "n"), 20, "%s", r.body);
    cr_expect_str_eq(jstr(res, "greeting"), "hi", "%s", r.body);
    cr_expect_str_eq(jstr(res, "cwd"), "/workspace", "%s", r.body);
    resp_free(&r);
    free(out);
    json_decref(job);
}

Test(jobs, post_without_wait_is_201_with_location_then_etag_and_304)
{
    json_t *spec = job_sh("sleep 0.3; echo done"), *job;
    struct resp r = job_post(&d, spec), r2;
    char *loc, want[256], path[256], hdr[512], *etag;

    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    cr_expect(strcmp(jstr(r.json, "status"), "queued") == 0 ||
                  strcmp(jstr(r.json, "status"), "running") == 0,
              "%s", r.body);
    loc = resp_header(&r, "Location");
    snprintf(want, sizeof(want), "/v1/jobs/%s", jstr(r.json, "id"));
    cr_expect(loc && strcmp(loc, want) == 0, "Location: %s, want %s", loc ? loc : "(none)", want);
    job = job_wait_end(&d, jstr(r.json, "id"), 10000);
    cr_expect_str_eq(jstr(job, "status"), "succeeded", "%s", jdump(job));
    snprintf(path, sizeof(path), "/v1/jobs/%s", jstr(r.json, "id"));
    r2 = http_get(&d, path);
    etag = resp_header(&r2, "ETag");
    cr_expect(etag, "GET %s sends no ETag: %s", path, r2.headers);
    resp_free(&r2);
    if (etag) {
        snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
        r2 = http(&d, "GET", path, NULL, NULL, NULL, hdr);
        cr_expect_eq(r2.status, 304, "If-None-Match %s: %ld", etag, r2.status);
        resp_free(&r2);
    }
    /* ?wait=true works as well as "wait": true. */
    r2 = http_post(&d, "/v1/jobs?wait=true", "{\"command\": [\"echo\", \"q\"]}");
    cr_expect_eq(r2.status, 200, "%ld %s", r2.status, r2.body);
    cr_expect_str_eq(jstr(r2.json, "status"), "succeeded", "%s", r2.body);
    resp_free(&r2);
    free(etag);
    free(loc);
    json_decref(job);
    json_decref(spec);
    resp_free(&r);
}

Test(jobs, exit_codes_signals_and_a_missing_command)
{
    json_t *job = job_run(&d, job_sh("echo before; exit 3"));

    cr_expect_str_eq(jstr(job, "status"), "failed", "%s", jdump(job));
    cr_expect_eq(jint(job, "exit_code"), 3, "%s", jdump(job));
    cr_expect(json_is_null(json_object_get(job, "reason")), "%s", jdump(job));
    json_decref(job);

    job = job_run(&d, job_sh("kill -KILL $$"));
    cr_expect_str_eq(jstr(job, "status"), "failed", "%s", jdump(job));
    cr_expect(!json_is_null(json_object_get(job, "signal")) && json_object_get(job, "signal"),
              "killed by SIGKILL but signal is null: %s", jdump(job));
    json_decref(job);

    job = job_run(&d, json_pack("{s:[s]}", "command", "no-such-command-xyz"));
    cr_expect_str_eq(jstr(job, "status"), "failed", "%s", jdump(job));
    cr_expect(strstr(jstr(job, "reason"), "no-such-command-xyz") || jint(job, "exit_code") == 127,
              "a missing command should fail naming it: %s", jdump(job));
    json_decref(job);
}

static void
expect_400(const char *body, const char *field)
{
    struct resp r = http_post(&d, "/v1/jobs", body);

    cr_expect_eq(r.status, 400, "POST %s: %ld %s", body, r.status, r.body);
    if (r.status == 400) {
        cr_expect_str_eq(err_code(&r), "bad_request", "POST %s: %s", body, r.body);
        cr_expect(strstr(err_message(&r), field), "POST %s: message does not name \"%s\": %s", body,
                  field, r.body);
    }
    resp_free(&r);
}

Test(jobs, validation_errors_name_the_field_and_start_nothing)
{
    struct resp r;

    expect_400("{}", "command");
    expect_400("{\"command\": []}", "command");
    expect_400("{\"command\": \"echo hi\"}", "command");
    expect_400("{\"command\": [1]}", "command");
    expect_400("{\"command\": [\"echo\", null]}", "command");
    expect_400("{\"command\": [\"true\"], \"policy\": \"no-such-policy\"}", "policy");
    expect_400("{\"command\": [\"true\"], \"policy\": 5}", "policy");
    expect_400("{\"command\": [\"true\"], \"bogus\": 1}", "bogus");
    expect_400("{\"command\": [\"true\"], \"files\": {\"/etc/x\": \"a\"}}", "files");
    expect_400("{\"command\": [\"true\"], \"files\": {\"../x\": \"a\"}}", "files");
    expect_400("{\"command\": [\"true\"], \"files\": {\"a/../../x\": \"a\"}}", "files");
    expect_400("{\"command\": [\"true\"], \"files\": {\"a/..\": \"a\"}}", "files");
    expect_400("{\"command\": [\"true\"], \"files\": {\"a\": 1}}", "files");
    expect_400("{\"command\": [\"true\"], \"files\": []}", "files");
    expect_400("{\"command\": [\"true\"], \"limits\": {\"memory_mb\": 999999}}", "memory_mb");
    expect_400("{\"command\": [\"true\"], \"limits\": {\"pids\": 100000}}", "pids");
    expect_400("{\"command\": [\"true\"], \"limits\": {\"cpu_s\": 100000}}", "cpu_s");
    expect_400("{\"command\": [\"true\"], \"limits\": {\"output_bytes\": 999999999999}}",
               "output_bytes");
    expect_400("{\"command\": [\"true\"], \"limits\": {\"ram\": 1}}", "ram");
    expect_400("{\"command\": [\"true\"], \"limits\": {\"pids\": 0}}", "pids");
    expect_400("{\"command\": [\"true\"], \"limits\": 5}", "limits");
    expect_400("{\"command\": [\"true\"], \"timeout_s\": -1}", "timeout_s");
    expect_400("{\"command\": [\"true\"], \"timeout_s\": 1000000000}", "timeout_s");
    expect_400("{\"command\": [\"true\"], \"timeout_s\": 301}", "timeout_s");
    expect_400("{\"command\": [\"true\"], \"timeout_s\": \"5\"}", "timeout_s");
    expect_400("{\"command\": [\"true\"], \"env\": []}", "env");
    expect_400("{\"command\": [\"true\"], \"env\": {\"A\": 1}}", "env");
    expect_400("{\"command\": [\"true\"], \"env\": \"A=1\"}", "env");
    expect_400("{\"command\": [\"true\"], \"labels\": {\"a\": 1}}", "labels");
    expect_400("{\"command\": [\"true\"], \"labels\": []}", "labels");
    expect_400("{\"command\": [\"true\"], \"stdin\": 5}", "stdin");
    expect_400("{\"command\": [\"true\"], \"cwd\": 5}", "cwd");
    expect_400("{\"command\": [\"true\"], \"wait\": \"yes\"}", "wait");
    expect_400("[\"true\"]", "body");
    /* Two entries of files that cannot both exist are the client's error, not the daemon's. */
    expect_400("{\"command\": [\"true\"], \"files\": {\"a\": \"x\", \"a/b\": \"y\"}}", "files");
    /* None of those started a job. */
    r = http_get(&d, "/v1/jobs");
    cr_assert_eq(r.status, 200, "%ld %s", r.status, r.body);
    cr_expect_eq(json_array_size(json_object_get(r.json, "jobs")), 0,
                 "rejected requests created jobs: %s", r.body);
    resp_free(&r);
}

/* The ids of the "jobs" array of GET path, joined by commas, into buf; the "next" into next. */
static long
list_ids(const char *path, char *buf, size_t size, char *next, size_t nsize)
{
    struct resp r = http_get(&d, path);
    json_t *jobs = json_object_get(r.json, "jobs"), *nx = json_object_get(r.json, "next");
    size_t i, used = 0;
    long status = r.status;

    buf[0] = '\0';
    for (i = 0; i < json_array_size(jobs) && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? "," : "",
                                 jstr(json_array_get(jobs, i), "id"));
    if (next)
        snprintf(next, nsize, "%s", json_is_string(nx) ? json_string_value(nx) : "null");
    cr_expect(status != 200 || (json_is_array(jobs) && nx), "GET %s: %s", path, r.body);
    resp_free(&r);
    return status;
}

static char *
run_labeled(const char *script, const char *grp)
{
    json_t *spec = job_sh(script), *job;
    char *id;

    if (grp)
        json_object_set_new(spec, "labels", json_pack("{s:s}", "grp", grp));
    job = job_run(&d, spec);
    id = strdup(jstr(job, "id"));
    json_decref(job);
    return id;
}

Test(jobs, list_filters_limit_before_newest_first)
{
    char *j1 = run_labeled("true", "a"), *j2 = run_labeled("exit 1", "b");
    char *j3 = run_labeled("true", "a"), *j4 = run_labeled("true", NULL);
    char got[1024], want[1024], next[128], path[256];

    list_ids("/v1/jobs", got, sizeof(got), next, sizeof(next));
    snprintf(want, sizeof(want), "%s,%s,%s,%s", j4, j3, j2, j1);
    cr_expect_str_eq(got, want, "GET /v1/jobs: newest first");
    cr_expect_str_eq(next, "null");

    list_ids("/v1/jobs?status=failed", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, j2, "status=failed");
    snprintf(want, sizeof(want), "%s,%s", j3, j1);
    list_ids("/v1/jobs?label=grp:a", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, want, "label=grp:a");
    list_ids("/v1/jobs?status=succeeded&label=grp:a", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, want, "status=succeeded&label=grp:a");
    list_ids("/v1/jobs?label=grp:zzz", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "", "label=grp:zzz");
    list_ids("/v1/jobs?status=running", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "", "status=running");

    list_ids("/v1/jobs?limit=2", got, sizeof(got), next, sizeof(next));
    snprintf(want, sizeof(want), "%s,%s", j4, j3);
    cr_expect_str_eq(got, want, "limit=2");
    cr_expect_str_eq(next, j3, "limit=2: next");
    snprintf(path, sizeof(path), "/v1/jobs?limit=2&before=%s", next);
    list_ids(path, got, sizeof(got), next, sizeof(next));
    snprintf(want, sizeof(want), "%s,%s", j2, j1);
    cr_expect_str_eq(got, want, "%s", path);
    if (strcmp(next, "null") != 0) {
        snprintf(path, sizeof(path), "/v1/jobs?limit=2&before=%s", next);
        list_ids(path, got, sizeof(got), next, sizeof(next));
        cr_expect_str_eq(got, "", "%s: a next page past the end", path);
        cr_expect_str_eq(next, "null", "%s", path);
    }
    cr_expect_eq(list_ids("/v1/jobs?status=bogus", got, sizeof(got), NULL, 0), 400,
                 "status=bogus should be a 400");
    cr_expect_eq(list_ids("/v1/jobs?limit=abc", got, sizeof(got), NULL, 0), 400,
                 "limit=abc should be a 400");
    free(j1);
    free(j2);
    free(j3);
    free(j4);
}

static void
expect_range(const char *id, const char *stream, const char *query, const char *body,
             const char *offset)
{
    char path[256];
    struct resp r;
    char *off, *ct;

    snprintf(path, sizeof(path), "/v1/jobs/%s/%s%s", id, stream, query);
    r = http_get(&d, path);
    off = resp_header(&r, "X-Airlock-Offset");
    ct = resp_header(&r, "Content-Type");
    cr_expect_eq(r.status, 200, "GET %s: %ld %s", path, r.status, r.body);
    cr_expect_str_eq(r.body, body, "GET %s", path);
    cr_expect(off && strcmp(off, offset) == 0, "GET %s: X-Airlock-Offset %s, want %s", path,
              off ? off : "(none)", offset);
    cr_expect(ct && strncmp(ct, "text/plain", 10) == 0, "GET %s: Content-Type %s", path,
              ct ? ct : "(none)");
    free(off);
    free(ct);
    resp_free(&r);
}

Test(jobs, stdout_and_stderr_with_offsets)
{
    json_t *job = job_run(&d, job_sh("printf 0123456789; printf abc >&2"));
    const char *id = jstr(job, "id");
    char path[256];
    struct resp r;

    expect_range(id, "stdout", "", "0123456789", "10");
    expect_range(id, "stdout", "?offset=4", "456789", "10");
    expect_range(id, "stdout", "?offset=10", "", "10");
    expect_range(id, "stderr", "", "abc", "3");
    expect_range(id, "stderr", "?offset=1", "bc", "3");
    snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?offset=-1", id);
    r = http_get(&d, path);
    cr_expect_eq(r.status, 400, "GET %s: %ld %s", path, r.status, r.body);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?offset=1000", id);
    r = http_get(&d, path);
    cr_expect(r.status < 500 && strstr(r.body, "0123") == NULL, "GET %s: %ld %s", path, r.status,
              r.body);
    resp_free(&r);
    r = http_get(&d, "/v1/jobs/j_nosuchjob/stdout");
    cr_expect_eq(r.status, 404, "%ld %s", r.status, r.body);
    resp_free(&r);
    json_decref(job);
}

Test(jobs, files_endpoint_serves_workspace_files)
{
    json_t *job = job_run(&d, job_sh("mkdir -p dir/sub && echo a > a.txt && printf 'b\\n' > "
                                     "dir/sub/b.txt && head -c 300000 /dev/zero > big.bin"));
    const char *id = jstr(job, "id");
    char path[256];
    struct resp r;

    cr_assert_str_eq(jstr(job, "status"), "succeeded", "%s", jdump(job));
    expect_file(id, "a.txt", "a\n");
    expect_file(id, "dir/sub/b.txt", "b\n");
    snprintf(path, sizeof(path), "/v1/jobs/%s/files/big.bin", id);
    r = http_get(&d, path);
    cr_expect_eq(r.status, 200, "GET %s: %ld", path, r.status);
    cr_expect_eq(r.len, 300000, "GET %s: %zu bytes", path, r.len);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/files/missing.txt", id);
    r = http_get(&d, path);
    cr_expect_eq(r.status, 404, "GET %s: %ld %s", path, r.status, r.body);
    cr_expect_str_eq(err_code(&r), "not_found", "%s", r.body);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s/files/dir", id);
    r = http_get(&d, path);
    cr_expect(r.status < 500, "GET %s (a directory): %ld %s", path, r.status, r.body);
    resp_free(&r);
    r = http_get(&d, "/v1/jobs/j_nosuchjob/files/a.txt");
    cr_expect_eq(r.status, 404, "%ld %s", r.status, r.body);
    resp_free(&r);
    json_decref(job);
}

static struct resp
post_action(const char *id, const char *method, const char *what)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/jobs/%s%s", id, what);
    return http(&d, method, path, strcmp(method, "POST") == 0 ? "" : NULL, NULL, NULL, NULL);
}

Test(jobs, cancel_kills_the_tree_then_409)
{
    char m[32], script[128];
    json_t *spec, *job;
    struct resp r;
    char *id;

    make_marker(m, sizeof(m));
    snprintf(script, sizeof(script), "sleep 1000 0.%s & echo started; wait", m);
    spec = job_sh(script);
    r = job_post(&d, spec);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    id = strdup(jstr(r.json, "id"));
    resp_free(&r);
    json_decref(job_wait_running(&d, id, 10000));
    for (int i = 0; i < 100 && procs_matching(m, NULL, 0) < 2; i++)
        usleep(50 * 1000);
    cr_expect_geq(procs_matching(m, NULL, 0), 1, "the job's sleep is not visible on the host");
    r = post_action(id, "POST", "/cancel");
    cr_expect_eq(r.status, 202, "cancel: %ld %s", r.status, r.body);
    cr_expect_str_eq(jstr(r.json, "id"), id, "cancel answers the job: %s", r.body);
    resp_free(&r);
    job = job_wait_end(&d, id, 10000);
    cr_expect_str_eq(jstr(job, "status"), "canceled", "%s", jdump(job));
    cr_expect_str_eq(jstr(job, "reason"), "canceled", "%s", jdump(job));
    cr_expect_eq(procs_wait_gone(m, 3000), 0, "processes of the canceled job remain");
    r = post_action(id, "POST", "/cancel");
    cr_expect_eq(r.status, 409, "cancel after the end: %ld %s", r.status, r.body);
    cr_expect_str_eq(err_code(&r), "conflict", "%s", r.body);
    resp_free(&r);
    r = post_action("j_nosuchjob", "POST", "/cancel");
    cr_expect_eq(r.status, 404, "cancel of no job: %ld %s", r.status, r.body);
    resp_free(&r);
    procs_kill_matching(m);
    json_decref(job);
    json_decref(spec);
    free(id);
}

Test(jobs, delete_is_409_while_running_then_forgets_the_job)
{
    char m[32], script[128], *id, path[PATH_MAX + 128];
    json_t *spec, *job;
    struct resp r;
    struct stat st;

    make_marker(m, sizeof(m));
    snprintf(script, sizeof(script), "echo out; echo f > f.txt; sleep 1000 0.%s", m);
    spec = job_sh(script);
    r = job_post(&d, spec);
    cr_assert_eq(r.status, 201, "%ld %s", r.status, r.body);
    id = strdup(jstr(r.json, "id"));
    resp_free(&r);
    json_decref(job_wait_running(&d, id, 10000));
    /* The files endpoint serves a running job's workspace too. */
    for (int i = 0; i < 40; i++) {
        r = post_action(id, "GET", "/files/f.txt");
        if (r.status == 200)
            break;
        resp_free(&r);
        usleep(50 * 1000);
    }
    cr_expect_eq(r.status, 200, "files of a running job: %ld %s", r.status, r.body);
    cr_expect_str_eq(r.body, "f\n");
    resp_free(&r);
    r = post_action(id, "DELETE", "");
    cr_expect_eq(r.status, 409, "DELETE while running: %ld %s", r.status, r.body);
    cr_expect_str_eq(err_code(&r), "conflict", "%s", r.body);
    resp_free(&r);
    r = post_action(id, "POST", "/cancel");
    resp_free(&r);
    job = job_wait_end(&d, id, 10000);
    json_decref(job);
    r = post_action(id, "DELETE", "");
    cr_expect(r.status == 200 || r.status == 204, "DELETE after the end: %ld %s", r.status, r.body);
    resp_free(&r);
    r = post_action(id, "GET", "");
    cr_expect_eq(r.status, 404, "GET after DELETE: %ld %s", r.status, r.body);
    resp_free(&r);
    r = post_action(id, "GET", "/stdout");
    cr_expect_eq(r.status, 404, "stdout after DELETE: %ld %s", r.status, r.body);
    resp_free(&r);
    r = post_action(id, "GET", "/files/f.txt");
    cr_expect_eq(r.status, 404, "files after DELETE: %ld %s", r.status, r.body);
    resp_free(&r);
    r = post_action(id, "DELETE", "");
    cr_expect_eq(r.status, 404, "second DELETE: %ld %s", r.status, r.body);
    resp_free(&r);
    r = http_get(&d, "/v1/jobs");
    cr_expect(!strstr(r.body, id), "a deleted job is still listed: %s", r.body);
    resp_free(&r);
    /* design.md, "State": the job's directory holds its output and workspace. */
    snprintf(path, sizeof(path), "%s/jobs/%s", d.state_dir, id);
    cr_expect_neq(stat(path, &st), 0, "%s remains after DELETE", path);
    procs_kill_matching(m);
    json_decref(spec);
    free(id);
}

/* ---- the concurrency limits: one running, one queued ---- */

static void
up_queue(void)
{
    daemon_init(&d, "\"max_running_jobs\": 1, \"max_queued_jobs\": 1", true);
    daemon_start(&d);
}

TestSuite(queue, .init = up_queue, .fini = down, .timeout = 60);

static char *
post_id(json_t *spec, long want, const char *want_status)
{
    struct resp r = job_post(&d, spec);
    char *id;

    cr_assert_eq(r.status, want, "POST %s: %ld %s", jdump(spec), r.status, r.body);
    if (want_status)
        cr_expect_str_eq(jstr(r.json, "status"), want_status, "%s", r.body);
    id = strdup(jstr(r.json, "id"));
    json_decref(spec);
    resp_free(&r);
    return id;
}

Test(queue, second_job_waits_third_is_429)
{
    char *a, *b;
    json_t *ja, *jb;
    struct resp r;

    a = post_id(job_sh("sleep 2; echo a"), 201, NULL);
    json_decref(job_wait_running(&d, a, 10000));
    b = post_id(job_sh("echo b"), 201, "queued");
    r = http_post(&d, "/v1/jobs", "{\"command\": [\"echo\", \"c\"]}");
    cr_expect_eq(r.status, 429, "beyond running + queued: %ld %s", r.status, r.body);
    cr_expect_str_eq(err_code(&r), "too_many_jobs", "%s", r.body);
    resp_free(&r);
    jb = job_get(&d, b);
    cr_expect_str_eq(jstr(jb, "status"), "queued", "%s", jdump(jb));
    json_decref(jb);
    ja = job_wait_end(&d, a, 15000);
    jb = job_wait_end(&d, b, 15000);
    cr_expect_str_eq(jstr(ja, "status"), "succeeded", "%s", jdump(ja));
    cr_expect_str_eq(jstr(jb, "status"), "succeeded", "%s", jdump(jb));
    cr_expect(strcmp(jstr(jb, "started_at"), jstr(ja, "finished_at")) >= 0,
              "the queued job started before the running one ended: %s / %s", jdump(ja), jdump(jb));
    free(job_output(&d, b, "stdout"));
    json_decref(ja);
    json_decref(jb);
    /* A queued job canceled never starts, and frees its place in the queue. */
    free(a);
    free(b);
    a = post_id(job_sh("sleep 2"), 201, NULL);
    json_decref(job_wait_running(&d, a, 10000));
    b = post_id(job_sh("echo never"), 201, "queued");
    r = post_action(b, "POST", "/cancel");
    cr_expect_eq(r.status, 202, "cancel of a queued job: %ld %s", r.status, r.body);
    resp_free(&r);
    jb = job_wait_end(&d, b, 5000);
    cr_expect_str_eq(jstr(jb, "status"), "canceled", "%s", jdump(jb));
    cr_expect(json_is_null(json_object_get(jb, "started_at")), "a canceled queued job ran: %s",
              jdump(jb));
    free(post_id(job_sh("echo c"), 201, "queued"));
    ja = job_wait_end(&d, a, 15000);
    /* Room again. */
    free(post_id(json_pack("{s:[s,s],s:b}", "command", "echo", "d", "wait", 1), 200, "succeeded"));
    json_decref(ja);
    json_decref(jb);
    free(a);
    free(b);
}

static void
up_queue3(void)
{
    daemon_init(&d, "\"max_running_jobs\": 1, \"max_queued_jobs\": 3", true);
    daemon_start(&d);
}

TestSuite(queue_order, .init = up_queue3, .fini = down, .timeout = 60);

Test(queue_order, queued_jobs_start_in_order)
{
    char *ids[4];
    json_t *jobs[4];

    ids[0] = post_id(job_sh("sleep 1"), 201, NULL);
    json_decref(job_wait_running(&d, ids[0], 10000));
    for (int i = 1; i < 4; i++)
        ids[i] = post_id(job_sh("sleep 0.2"), 201, "queued");
    for (int i = 0; i < 4; i++)
        jobs[i] = job_wait_end(&d, ids[i], 15000);
    for (int i = 1; i < 4; i++) {
        cr_expect_str_eq(jstr(jobs[i], "status"), "succeeded", "%s", jdump(jobs[i]));
        cr_expect(strcmp(jstr(jobs[i], "started_at"), jstr(jobs[i - 1], "finished_at")) >= 0,
                  "job %d started before job %d ended: %s / %s", i, i - 1, jdump(jobs[i - 1]),
                  jdump(jobs[i]));
    }
    for (int i = 0; i < 4; i++) {
        json_decref(jobs[i]);
        free(ids[i]);
    }
}

/* ---- restart after kill -9 ---- */

static char restart_marker[32];

static void
down_restart(void)
{
    if (restart_marker[0])
        procs_kill_matching(restart_marker);
    down();
}

TestSuite(restart, .init = up, .fini = down_restart, .timeout = 90);

Test(restart, kill9_marks_running_jobs_lost_and_keeps_finished_ones)
{
    char script[128], url[256];
    json_t *fin, *run, *job;
    char *fid, *rid, *out;
    struct resp r;

    make_marker(restart_marker, sizeof(restart_marker));
    fin = job_run(&d, job_sh("echo persisted; echo data > kept.txt"));
    cr_assert_str_eq(jstr(fin, "status"), "succeeded", "%s", jdump(fin));
    fid = strdup(jstr(fin, "id"));
    snprintf(script, sizeof(script), "sleep 1000 0.%s & echo started; wait", restart_marker);
    rid = post_id(job_sh(script), 201, NULL);
    json_decref(job_wait_running(&d, rid, 10000));
    for (int i = 0; i < 100 && procs_matching(restart_marker, NULL, 0) < 2; i++)
        usleep(50 * 1000);
    cr_assert_geq(procs_matching(restart_marker, NULL, 0), 1,
                  "the running job's sleep is not visible on the host");

    daemon_kill(&d);
    daemon_start(&d);

    run = job_get(&d, rid);
    cr_expect_str_eq(jstr(run, "status"), "lost", "%s", jdump(run));
    cr_expect_str_eq(jstr(run, "reason"), "daemon_restart", "%s", jdump(run));
    cr_expect_eq(procs_wait_gone(restart_marker, 5000), 0,
                 "the lost job's processes survive the restart (sleep 1000 0.%s)", restart_marker);
    job = job_get(&d, fid);
    cr_expect_str_eq(jstr(job, "status"), "succeeded", "%s", jdump(job));
    out = job_output(&d, fid, "stdout");
    cr_expect_str_eq(out, "persisted\n");
    free(out);
    expect_file(fid, "kept.txt", "data\n");
    snprintf(url, sizeof(url), "/v1/jobs?limit=10");
    r = http_get(&d, url);
    cr_expect(strstr(r.body, fid) && strstr(r.body, rid), "list after restart: %s", r.body);
    resp_free(&r);
    /* And the restarted daemon runs jobs. */
    json_decref(fin);
    fin = job_run(&d, job_sh("echo again"));
    cr_expect_str_eq(jstr(fin, "status"), "succeeded", "%s", jdump(fin));
    json_decref(fin);
    json_decref(job);
    json_decref(run);
    free(fid);
    free(rid);
}

/* A client waiting for a job when the daemon is stopped gets the job's end (canceled by the
 * shutdown), not a closed connection. */
struct waiter {
    struct daemon *d;
    struct resp r;
};

static void *
wait_in_thread(void *arg)
{
    struct waiter *w = arg;

    w->r = http(w->d, "POST", "/v1/jobs", "{\"command\": [\"sleep\", \"30\"], \"wait\": true}",
                NULL, NULL, NULL);
    return NULL;
}

Test(restart, sigterm_answers_waiting_clients)
{
    struct waiter w = {.d = &d};
    pthread_t t;
    json_t *list;

    cr_assert_eq(pthread_create(&t, NULL, wait_in_thread, &w), 0);
    for (int i = 0; i < 100; i++) {
        struct resp r = http_get(&d, "/v1/jobs?status=running");
        list = json_object_get(r.json, "jobs");
        size_t n = json_array_size(list);
        resp_free(&r);
        if (n > 0)
            break;
        usleep(50 * 1000);
    }
    daemon_stop(&d);
    pthread_join(t, NULL);
    cr_expect_eq(w.r.status, 200, "the waiting client got %ld: %s", w.r.status, w.r.body);
    cr_expect_str_eq(jstr(w.r.json, "status"), "canceled", "%s", w.r.body);
    cr_expect_str_eq(jstr(w.r.json, "reason"), "shutdown", "%s", w.r.body);
    resp_free(&w.r);
    daemon_start(&d);
}

/* ---- graceful stop: SIGTERM cancels every job with reason shutdown and records it ---- */

static void
up_stop(void)
{
    daemon_init(&d, "\"max_running_jobs\": 2, \"max_queued_jobs\": 4", true);
    daemon_start(&d);
}

static char stop_marker[32];

static int64_t
time_mono_ms_test(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
down_stop(void)
{
    if (stop_marker[0])
        procs_kill_matching(stop_marker);
    down();
}

TestSuite(shutdown, .init = up_stop, .fini = down_stop, .timeout = 90);

/* Two running jobs and two queued ones; a SIGTERM ends them all as canceled (reason shutdown),
 * keeps what the running ones printed, leaves no process of theirs, and exits 0. */
static void
stop_with_jobs(int signals)
{
    char script[160];
    char *ids[4];
    int64_t t0;

    make_marker(stop_marker, sizeof(stop_marker));
    snprintf(script, sizeof(script), "echo started; sleep 1000 0.%s; echo never", stop_marker);
    for (int i = 0; i < 2; i++) {
        ids[i] = post_id(job_sh(script), 201, NULL);
        json_decref(job_wait_running(&d, ids[i], 10000));
    }
    for (int i = 2; i < 4; i++)
        ids[i] = post_id(job_sh("echo queued-ran"), 201, "queued");
    for (int i = 0; i < 100 && procs_matching(stop_marker, NULL, 0) < 2; i++)
        usleep(50 * 1000);
    /* What the running jobs printed is in their output before the stop. */
    for (int i = 0; i < 2; i++) {
        char *out = NULL;
        for (int k = 0; k < 100; k++) {
            free(out);
            out = job_output(&d, ids[i], "stdout");
            if (out && strcmp(out, "started\n") == 0)
                break;
            usleep(20 * 1000);
        }
        cr_assert_str_eq(out, "started\n");
        free(out);
    }
    t0 = time_mono_ms_test();
    for (int i = 1; i < signals; i++)
        kill(d.pid, SIGTERM); /* the extra ones: a second SIGTERM stops at once */
    daemon_stop(&d);          /* SIGTERM, and asserts exit 0 within 10 s */
    cr_expect_lt(time_mono_ms_test() - t0, 5000, "the stop took %lld ms",
                 (long long)(time_mono_ms_test() - t0));
    cr_expect_eq(procs_wait_gone(stop_marker, 5000), 0, "a canceled job's process survived");
    cr_expect(file_contains(d.log, "reason shutdown") || signals > 1, "log: %s", d.log);
    daemon_start(&d);
    for (int i = 0; i < 4; i++) {
        json_t *job = job_get(&d, ids[i]);
        char *out = job_output(&d, ids[i], "stdout");
        cr_expect_str_eq(jstr(job, "status"), "canceled", "%s", jdump(job));
        cr_expect_str_eq(jstr(job, "reason"), "shutdown", "%s", jdump(job));
        cr_expect(!json_is_null(json_object_get(job, "finished_at")), "%s", jdump(job));
        cr_expect_str_eq(out, i < 2 ? "started\n" : "", "job %d's output", i);
        if (i >= 2)
            cr_expect(json_is_null(json_object_get(job, "started_at")),
                      "a queued job ran during the stop: %s", jdump(job));
        free(out);
        json_decref(job);
        free(ids[i]);
    }
    /* And the daemon runs jobs again. */
    free(post_id(json_pack("{s:[s,s],s:b}", "command", "echo", "x", "wait", 1), 200, "succeeded"));
}

Test(shutdown, sigterm_cancels_running_and_queued_jobs_and_records_them)
{
    stop_with_jobs(1);
}

Test(shutdown, a_second_sigterm_stops_at_once_and_still_records)
{
    stop_with_jobs(2);
}
