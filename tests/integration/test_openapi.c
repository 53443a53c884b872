/*
 * The daemon's real answers against docs/openapi.yaml: each JSON body is checked by
 * openapi_check.py against the schema the spec documents for its operation and status (strictly:
 * an undocumented field, a missing required one, a wrong type or enum value fails, named by its
 * JSON path). Covered: /healthz, the policies (list, one, check in its answers, reload with a
 * broken file), jobs queued, running and ended (list, cancel, delete, wait), a job's egress
 * events after a denied request, a job's files, workspaces and their files (upload, listing,
 * delete), and an error of every status the API gives that a test can cause: 400, 401, 403,
 * 404, 405, 409, 413, 414, 415, 429, 503. What the HTTP core decides before any operation (a 401
 * on an unknown /v1/ path, a 404 for an unknown path, a 405, a 414) is checked against
 * components/responses/Error, as the spec's description says.
 *
 * The spec and the checker come from $AIRLOCK_SRC (the checkout) when they are there, else from
 * the copies built into this binary (`make test-unprivileged` copies only the build).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

__asm__(".pushsection .rodata\n"
        "airlock_openapi_check_py:\n"
        ".incbin \"tests/integration/openapi_check.py\"\n"
        ".byte 0\n"
        "airlock_openapi_yaml:\n"
        ".incbin \"docs/openapi.yaml\"\n"
        ".byte 0\n"
        ".popsection\n");
extern const char airlock_openapi_check_py[];
extern const char airlock_openapi_yaml[];

static struct daemon d;
static char script[PATH_MAX + 64], spec[PATH_MAX + 64];
static int checks;

static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    cr_assert_eq(fclose(f), 0);
}

/* The checkout's file when it is there, else the built-in copy written into the test's dir. */
static void
find_file(char *out, size_t n, const char *rel, const char *builtin)
{
    const char *src = getenv("AIRLOCK_SRC");
    const char *base = strrchr(rel, '/');

    snprintf(out, n, "%s/%s", src && *src ? src : ".", rel);
    if (access(out, R_OK) == 0)
        return;
    snprintf(out, n, "%s/%s", d.dir, base ? base + 1 : rel);
    write_text(out, builtin);
}

static void
up_with(const char *extra)
{
    daemon_init(&d, extra, true);
    find_file(script, sizeof(script), "tests/integration/openapi_check.py",
              airlock_openapi_check_py);
    find_file(spec, sizeof(spec), "docs/openapi.yaml", airlock_openapi_yaml);
    daemon_start(&d);
    checks = 0;
}

static void
up(void)
{
    /* One job runs, one waits: a third is 429. */
    up_with("\"max_running_jobs\": 1, \"max_queued_jobs\": 1");
}

static void
down(void)
{
    daemon_stop(&d);
    daemon_cleanup(&d);
}

static const char *
python(void)
{
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* Runs openapi_check.py with args on r's body; expects a match (the problems in the message). */
static void
run_check(const struct resp *r, const char *what, const char *a1, const char *a2, const char *a3)
{
    char in[PATH_MAX + 32], out[PATH_MAX + 32];
    const char *argv[] = {python(), script, spec, a1, a2, a3, NULL};
    int status;
    pid_t pid;
    char *report;

    cr_assert(r->json, "%s: status %ld, not a JSON body: %.300s", what, r->status,
              r->body ? r->body : "");
    snprintf(in, sizeof(in), "%s/check.in", d.dir);
    snprintf(out, sizeof(out), "%s/check.out", d.dir);
    write_text(in, r->body);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int i = open(in, O_RDONLY | O_CLOEXEC);
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (i < 0 || o < 0 || dup2(i, 0) < 0 || dup2(o, 1) < 0 || dup2(o, 2) < 0)
            _exit(126);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    report = read_file_str(out);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "%s: the answer does not match docs/openapi.yaml (checker status 0x%x):\n%s\n"
              "the body: %.2000s",
              what, status, report ? report : "", r->body);
    free(report);
    checks++;
}

/* r against the spec's response for method, the documented path template and r's status. */
static void
check(const char *method, const char *tmpl, const struct resp *r, long want_status)
{
    char what[512], status[16];

    snprintf(what, sizeof(what), "%s %s %ld", method, tmpl, r->status);
    cr_assert_eq(r->status, want_status, "%s: want %ld: %.500s", what, want_status,
                 r->body ? r->body : "");
    snprintf(status, sizeof(status), "%ld", r->status);
    run_check(r, what, method, tmpl, status);
}

/* r against a schema or response named by reference (an answer no operation carries). */
static void
check_ref(const char *ref, const struct resp *r, long want_status)
{
    char what[512];

    snprintf(what, sizeof(what), "%s (status %ld)", ref, r->status);
    cr_assert_eq(r->status, want_status, "%s: want %ld: %.500s", what, want_status,
                 r->body ? r->body : "");
    run_check(r, what, ref, NULL, NULL);
}

/* Requests path and checks the answer; returns nothing (the answer is freed). */
static void
req_check(const char *method, const char *path, const char *body, const char *tmpl,
          long want_status)
{
    struct resp r = http(&d, method, path, body, NULL, NULL, NULL);
    check(method, tmpl, &r, want_status);
    resp_free(&r);
}

TestSuite(openapi, .init = up, .fini = down, .timeout = 120);

Test(openapi, health_and_policies)
{
    struct resp r = http(&d, "GET", "/healthz", NULL, "", NULL, NULL);
    char *url, *body;

    check("GET", "/healthz", &r, 200);
    resp_free(&r);
    req_check("GET", "/v1/policies", NULL, "/v1/policies", 200);
    req_check("GET", "/v1/policies/default", NULL, "/v1/policies/{name}", 200);
    req_check("GET", "/v1/policies/pypi", NULL, "/v1/policies/{name}", 200);
    req_check("GET", "/v1/policies/nope", NULL, "/v1/policies/{name}", 404);
    /* The check's answers: a denial without a rule, an allow with one, an IP literal (no note),
     * a URL the proxy would refuse, one too long to decide, and the errors. */
    static const char *const bodies[] = {
        "{\"url\": \"https://pypi.org/\"}",
        "{\"url\": \"http://pypi.org/simple/\", \"method\": \"POST\"}",
        "{\"url\": \"http://10.1.2.3:8080/x\"}",
        "{\"url\": \"http://0x7f.1/\"}",
        "{\"url\": \"http://user@host.example/\"}",
        "{\"url\": \"http://a.example/%2e%2e/\"}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        req_check("POST", "/v1/policies/pypi/check", bodies[i], "/v1/policies/{name}/check", 200);
        req_check("POST", "/v1/policies/default/check", bodies[i], "/v1/policies/{name}/check",
                  200);
    }
    url = malloc(9000);
    body = malloc(9100);
    memset(url, 'a', 8999);
    url[8999] = '\0';
    memcpy(url, "http://a.example/", 17);
    snprintf(body, 9100, "{\"url\": \"%s\"}", url);
    req_check("POST", "/v1/policies/default/check", body, "/v1/policies/{name}/check", 200);
    free(url);
    free(body);
    req_check("POST", "/v1/policies/default/check", "{\"url\": \"ftp://x/\"}",
              "/v1/policies/{name}/check", 400);
    req_check("POST", "/v1/policies/default/check", "{\"nope\": 1}", "/v1/policies/{name}/check",
              400);
    req_check("POST", "/v1/policies/nope/check", "{\"url\": \"http://x/\"}",
              "/v1/policies/{name}/check", 404);
    /* A reload with a file that loads, one that does not, and one removed. */
    daemon_write_policy(&d, "lab",
                        "{\"description\": \"lab\", \"network\": {\"allow\": "
                        "[{\"cidr\": \"127.0.0.1/32\", \"ports\": [8000]}]}}");
    daemon_write_policy(&d, "broken", "{\"network\": {\"allow\": [{\"cidr\": \"10.0.0.0/33\"}]}}");
    char gone[PATH_MAX + 32];
    snprintf(gone, sizeof(gone), "%s/npm.json", d.policy_dir);
    cr_assert_eq(unlink(gone), 0);
    req_check("POST", "/v1/policies/reload", NULL, "/v1/policies/reload", 200);
    req_check("GET", "/v1/policies/lab", NULL, "/v1/policies/{name}", 200);
    cr_assert_eq(checks, 23);
}

Test(openapi, jobs_queued_running_ended)
{
    json_t *spec_running = job_sh("sleep 60"), *spec_queued = job_sh("sleep 60");
    struct resp r, q, x;
    char path[256], id[64], qid[64];
    json_t *job;

    json_object_set_new(spec_running, "labels", json_pack("{s:s}", "task", "openapi"));
    r = job_post(&d, spec_running);
    check("POST", "/v1/jobs", &r, 201);
    snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
    resp_free(&r);
    json_decref(job_wait_running(&d, id, 10000));
    q = job_post(&d, spec_queued);
    check("POST", "/v1/jobs", &q, 201);
    cr_assert_str_eq(jstr(q.json, "status"), "queued");
    snprintf(qid, sizeof(qid), "%s", jstr(q.json, "id"));
    resp_free(&q);
    x = job_post(&d, spec_queued); /* one running, one queued: full */
    check("POST", "/v1/jobs", &x, 429);
    resp_free(&x);
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    req_check("GET", path, NULL, "/v1/jobs/{id}", 200);
    snprintf(path, sizeof(path), "/v1/jobs/%s", qid);
    req_check("GET", path, NULL, "/v1/jobs/{id}", 200);
    req_check("GET", "/v1/jobs", NULL, "/v1/jobs", 200);
    req_check("GET", "/v1/jobs?status=running&label=task:openapi&limit=1", NULL, "/v1/jobs", 200);
    req_check("GET", "/v1/jobs?limit=1", NULL, "/v1/jobs", 200); /* a page with next */
    req_check("GET", "/v1/jobs?limit=0", NULL, "/v1/jobs", 400);
    snprintf(path, sizeof(path), "/v1/jobs/%s?wait_s=61", id);
    req_check("GET", path, NULL, "/v1/jobs/{id}", 400);
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    req_check("DELETE", path, NULL, "/v1/jobs/{id}", 409);
    snprintf(path, sizeof(path), "/v1/jobs/%s/cancel", qid);
    req_check("POST", path, NULL, "/v1/jobs/{id}/cancel", 202);
    snprintf(path, sizeof(path), "/v1/jobs/%s/cancel", id);
    req_check("POST", path, NULL, "/v1/jobs/{id}/cancel", 202);
    json_decref(job_wait_end(&d, id, 10000));
    req_check("POST", path, NULL, "/v1/jobs/{id}/cancel", 409);
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    req_check("GET", path, NULL, "/v1/jobs/{id}", 200);
    req_check("DELETE", path, NULL, "/v1/jobs/{id}", 200);
    req_check("GET", path, NULL, "/v1/jobs/{id}", 404);
    req_check("DELETE", path, NULL, "/v1/jobs/{id}", 404);
    req_check("POST", "/v1/jobs/j_nope/cancel", NULL, "/v1/jobs/{id}/cancel", 404);
    req_check("GET", "/v1/jobs/j_nope/egress", NULL, "/v1/jobs/{id}/egress", 404);
    req_check("GET", "/v1/jobs/j_nope/files", NULL, "/v1/jobs/{id}/files", 404);
    req_check("GET", "/v1/jobs/j_nope/stdout", NULL, "/v1/jobs/{id}/stdout", 404);
    req_check("GET", "/v1/jobs/j_nope/stderr?follow=maybe", NULL, "/v1/jobs/{id}/stderr", 400);

    /* Ended: with wait, a failed spawn, a timeout; the bad bodies; an Idempotency-Key. */
    job = job_sh("echo out; echo err >&2; exit 3");
    json_object_set_new(job, "wait", json_true());
    r = job_post(&d, job);
    check("POST", "/v1/jobs", &r, 200);
    resp_free(&r);
    json_decref(job);
    req_check("POST", "/v1/jobs", "{\"command\": [\"no-such-program\"], \"wait\": true}",
              "/v1/jobs", 200);
    req_check("POST", "/v1/jobs",
              "{\"command\": [\"sleep\", \"9\"], \"timeout_s\": 1, \"wait\": true}", "/v1/jobs",
              200);
    req_check("POST", "/v1/jobs", "{\"command\": []}", "/v1/jobs", 400);
    req_check("POST", "/v1/jobs", "{\"command\": [\"true\"], \"nope\": 1}", "/v1/jobs", 400);
    req_check("POST", "/v1/jobs", "{\"command\": [\"true\"], \"workspace\": \"w_nope\"}",
              "/v1/jobs", 400);
    r = http(&d, "POST", "/v1/jobs", "{\"command\": [\"true\"], \"wait\": true}", NULL, NULL,
             "Idempotency-Key: openapi-1");
    check("POST", "/v1/jobs", &r, 200);
    resp_free(&r);
    r = http(&d, "POST", "/v1/jobs", "{\"command\": [\"true\"], \"wait\": true}", NULL, NULL,
             "Idempotency-Key: openapi-1");
    check("POST", "/v1/jobs", &r, 200);
    resp_free(&r);
    r = http(&d, "POST", "/v1/jobs", "{\"command\": [\"false\"]}", NULL, NULL,
             "Idempotency-Key: openapi-1");
    check("POST", "/v1/jobs", &r, 409);
    resp_free(&r);
    r = http(&d, "POST", "/v1/jobs", "{\"command\": [\"false\"]}", NULL, NULL,
             "Idempotency-Key: \x01");
    check("POST", "/v1/jobs", &r, 400);
    resp_free(&r);
    req_check("GET", "/v1/jobs?status=failed", NULL, "/v1/jobs", 200);
    json_decref(spec_running);
    json_decref(spec_queued);
}

Test(openapi, egress_events_and_job_files)
{
    json_t *job = NULL;
    char path[256], id[64];
    char *out = run_sh(&d,
                       "mkdir -p d/e; echo hi > d/e/f.txt; "
                       "curl -s -m 10 http://example.com/x; echo; "
                       "curl -s -m 10 https://example.com/ ; echo; "
                       "curl -s -m 10 http://0x7f.1/; echo",
                       NULL, &job);

    free(out);
    snprintf(id, sizeof(id), "%s", jstr(job, "id"));
    cr_assert(jint(json_object_get(job, "egress"), "denied") >= 3, "%s", jdump(job));
    json_decref(job);
    snprintf(path, sizeof(path), "/v1/jobs/%s/egress", id);
    req_check("GET", path, NULL, "/v1/jobs/{id}/egress", 200);
    snprintf(path, sizeof(path), "/v1/jobs/%s/egress?limit=1", id);
    req_check("GET", path, NULL, "/v1/jobs/{id}/egress", 200);
    snprintf(path, sizeof(path), "/v1/jobs/%s/egress?limit=0", id);
    req_check("GET", path, NULL, "/v1/jobs/{id}/egress", 400);
    snprintf(path, sizeof(path), "/v1/jobs/%s/files", id);
    req_check("GET", path, NULL, "/v1/jobs/{id}/files", 200);
    snprintf(path, sizeof(path), "/v1/jobs/%s/files/", id);
    req_check("GET", path, NULL, "/v1/jobs/{id}/files/", 200);
    snprintf(path, sizeof(path), "/v1/jobs/%s/files/d/e", id);
    req_check("GET", path, NULL, "/v1/jobs/{id}/files/{path}", 200);
    snprintf(path, sizeof(path), "/v1/jobs/%s/files/d/e/f.txt/", id);
    req_check("GET", path, NULL, "/v1/jobs/{id}/files/{path}", 400);
    snprintf(path, sizeof(path), "/v1/jobs/%s/files/nope", id);
    req_check("GET", path, NULL, "/v1/jobs/{id}/files/{path}", 404);
    snprintf(path, sizeof(path), "/v1/jobs/%s/stdout?offset=x", id);
    req_check("GET", path, NULL, "/v1/jobs/{id}/stdout", 400);
}

Test(openapi, workspaces_and_files)
{
    struct resp r;
    char path[256], w[64], small[64];
    json_t *extra, *job = NULL;
    char *out;
    size_t big_n = 2 * 1024 * 1024;
    char *big;

    r = http_post(&d, "/v1/workspaces", "{\"labels\": {\"task\": \"openapi\"}}");
    check("POST", "/v1/workspaces", &r, 201);
    snprintf(w, sizeof(w), "%s", jstr(r.json, "id"));
    resp_free(&r);
    r = http_post(&d, "/v1/workspaces", "{\"disk_mb\": 1}");
    check("POST", "/v1/workspaces", &r, 201);
    snprintf(small, sizeof(small), "%s", jstr(r.json, "id"));
    resp_free(&r);
    req_check("POST", "/v1/workspaces", "{\"host_path\": \"/etc\"}", "/v1/workspaces", 400);
    req_check("POST", "/v1/workspaces", "{\"nope\": 1}", "/v1/workspaces", 400);
    req_check("GET", "/v1/workspaces", NULL, "/v1/workspaces", 200);
    req_check("GET", "/v1/workspaces?label=task:openapi", NULL, "/v1/workspaces", 200);
    req_check("GET", "/v1/workspaces?label=nocolon", NULL, "/v1/workspaces", 400);
    snprintf(path, sizeof(path), "/v1/workspaces/%s", w);
    req_check("GET", path, NULL, "/v1/workspaces/{id}", 200);
    req_check("GET", "/v1/workspaces/w_nope", NULL, "/v1/workspaces/{id}", 404);
    req_check("DELETE", "/v1/workspaces/w_nope", NULL, "/v1/workspaces/{id}", 404);

    /* Uploads: new (201), replaced (200), over the cap (413), over a directory (409). */
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/data/a.txt", w);
    r = http_bytes(&d, "PUT", path, "hello\n", 6, NULL, NULL);
    check("PUT", "/v1/workspaces/{id}/files/{path}", &r, 201);
    resp_free(&r);
    r = http_bytes(&d, "PUT", path, "hello again\n", 12, NULL, NULL);
    check("PUT", "/v1/workspaces/{id}/files/{path}", &r, 200);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/data", w);
    r = http_bytes(&d, "PUT", path, "x", 1, NULL, NULL);
    check("PUT", "/v1/workspaces/{id}/files/{path}", &r, 409);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/data/", w);
    r = http_bytes(&d, "PUT", path, "x", 1, NULL, NULL);
    check("PUT", "/v1/workspaces/{id}/files/{path}", &r, 400);
    resp_free(&r);
    r = http_bytes(&d, "PUT", "/v1/workspaces/w_nope/files/a", "x", 1, NULL, NULL);
    check("PUT", "/v1/workspaces/{id}/files/{path}", &r, 404);
    resp_free(&r);
    big = calloc(1, big_n);
    cr_assert_not_null(big);
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/big.bin", small);
    r = http_bytes(&d, "PUT", path, big, big_n, NULL, "Expect: 100-continue");
    check("PUT", "/v1/workspaces/{id}/files/{path}", &r, 413);
    resp_free(&r);
    free(big);

    /* A job leaves a symlink and a FIFO. */
    extra = json_pack("{s:s}", "workspace", w);
    out = run_sh(&d, "ln -s / data/link; mkfifo data/fifo", extra, &job);
    free(out);
    cr_assert_str_eq(jstr(job, "status"), "succeeded", "%s", jdump(job));
    json_decref(job);
    json_decref(extra);

    /* Listings and reads. */
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files", w);
    req_check("GET", path, NULL, "/v1/workspaces/{id}/files", 200);
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/", w);
    req_check("GET", path, NULL, "/v1/workspaces/{id}/files/", 200);
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/data", w);
    req_check("GET", path, NULL, "/v1/workspaces/{id}/files/{path}", 200);
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/data/link/etc", w);
    req_check("GET", path, NULL, "/v1/workspaces/{id}/files/{path}", 403);
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/data/fifo", w);
    req_check("GET", path, NULL, "/v1/workspaces/{id}/files/{path}", 400);
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/%%2e%%2e/x", w);
    req_check("GET", path, NULL, "/v1/workspaces/{id}/files/{path}", 400);
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/nope", w);
    req_check("GET", path, NULL, "/v1/workspaces/{id}/files/{path}", 404);
    req_check("GET", "/v1/workspaces/w_nope/files", NULL, "/v1/workspaces/{id}/files", 404);

    /* Deletes: a file, a non-empty directory (409, then recursive), a bad recursive. */
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/data/a.txt", w);
    req_check("DELETE", path, NULL, "/v1/workspaces/{id}/files/{path}", 200);
    req_check("DELETE", path, NULL, "/v1/workspaces/{id}/files/{path}", 404);
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/data", w);
    req_check("DELETE", path, NULL, "/v1/workspaces/{id}/files/{path}", 409);
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/data?recursive=maybe", w);
    req_check("DELETE", path, NULL, "/v1/workspaces/{id}/files/{path}", 400);
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/data/link/etc", w);
    req_check("DELETE", path, NULL, "/v1/workspaces/{id}/files/{path}", 403);
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/data?recursive=true", w);
    req_check("DELETE", path, NULL, "/v1/workspaces/{id}/files/{path}", 200);
    /* The root cannot be deleted: the path has no DELETE. */
    snprintf(path, sizeof(path), "/v1/workspaces/%s/files/", w);
    r = http(&d, "DELETE", path, NULL, NULL, NULL, NULL);
    check_ref("#/components/responses/Error", &r, 405);
    resp_free(&r);

    /* A workspace in use cannot be deleted. */
    extra = job_sh("sleep 60");
    json_object_set_new(extra, "workspace", json_string(w));
    r = job_post(&d, extra);
    cr_assert_eq(r.status, 201);
    char id[64];
    snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
    resp_free(&r);
    json_decref(extra);
    snprintf(path, sizeof(path), "/v1/workspaces/%s", w);
    req_check("DELETE", path, NULL, "/v1/workspaces/{id}", 409);
    snprintf(path, sizeof(path), "/v1/jobs/%s/cancel", id);
    req_check("POST", path, NULL, "/v1/jobs/{id}/cancel", 202);
    json_decref(job_wait_end(&d, id, 10000));
    snprintf(path, sizeof(path), "/v1/workspaces/%s", w);
    req_check("DELETE", path, NULL, "/v1/workspaces/{id}", 200);
}

Test(openapi, errors_of_the_http_core)
{
    size_t n = 2 * 1024 * 1024;
    char *big = malloc(n + 1), *longurl = malloc(5000);
    struct resp r;

    /* 401: no token, a wrong one, on routes and on an unknown /v1/ path. */
    r = http(&d, "GET", "/v1/jobs", NULL, "", NULL, NULL);
    check("GET", "/v1/jobs", &r, 401);
    resp_free(&r);
    r = http(&d, "POST", "/v1/jobs", "{}", "wrong", NULL, NULL);
    check("POST", "/v1/jobs", &r, 401);
    resp_free(&r);
    r = http(&d, "GET", "/metrics", NULL, "", NULL, NULL);
    check("GET", "/metrics", &r, 401);
    resp_free(&r);
    r = http(&d, "GET", "/v1/workspaces/w_x/files/a", NULL, "", NULL, NULL);
    check("GET", "/v1/workspaces/{id}/files/{path}", &r, 401);
    resp_free(&r);
    r = http(&d, "GET", "/v1/nope", NULL, "", NULL, NULL);
    check_ref("#/components/responses/Error", &r, 401);
    resp_free(&r);
    /* 404 and 405 outside any operation. */
    r = http_get(&d, "/v1/nope");
    check_ref("#/components/responses/Error", &r, 404);
    resp_free(&r);
    r = http(&d, "DELETE", "/v1/policies", NULL, NULL, NULL, NULL);
    check_ref("#/components/responses/Error", &r, 405);
    resp_free(&r);
    r = http(&d, "POST", "/healthz", "{}", "", NULL, NULL);
    check_ref("#/components/responses/Error", &r, 405);
    resp_free(&r);
    /* 413 and 415 on each route that takes a JSON body. */
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    static const char *const json_routes[][2] = {
        {"/v1/jobs", "/v1/jobs"},
        {"/v1/workspaces", "/v1/workspaces"},
        {"/v1/policies/default/check", "/v1/policies/{name}/check"},
        {"/v1/policies/reload", "/v1/policies/reload"},
        {"/v1/jobs/j_x/cancel", "/v1/jobs/{id}/cancel"},
    };
    for (size_t i = 0; i < sizeof(json_routes) / sizeof(json_routes[0]); i++) {
        r = http(&d, "POST", json_routes[i][0], big, NULL, NULL, NULL);
        check("POST", json_routes[i][1], &r, 413);
        resp_free(&r);
        r = http(&d, "POST", json_routes[i][0], "{}", NULL, "text/plain", NULL);
        check("POST", json_routes[i][1], &r, 415);
        resp_free(&r);
    }
    /* 400 from the body's JSON; 400 for an encoded NUL; 414 for a long URL. */
    req_check("POST", "/v1/jobs", "{\"command\": [\"true\"], \"command\": [\"true\"]}", "/v1/jobs",
              400);
    req_check("POST", "/v1/workspaces", "{", "/v1/workspaces", 400);
    req_check("GET", "/v1/jobs/a%00b", NULL, "/v1/jobs/{id}", 400);
    memset(longurl, 'a', 4999);
    memcpy(longurl, "/v1/jobs/", 9);
    longurl[4999] = '\0';
    r = http_get(&d, longurl); /* decided before any route */
    check_ref("#/components/responses/Error", &r, 414);
    resp_free(&r);
    free(big);
    free(longurl);
}
