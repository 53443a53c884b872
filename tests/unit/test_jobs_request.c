/*
 * job_request_parse: what a POST /v1/jobs body may say before any policy is looked at. Every
 * refusal names the field; every path that could leave the workspace is refused.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "jobs.h"

static int
parse(const char *text, struct job_request *r, struct err *err, json_t **keep)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);

    cr_assert(j, "test JSON does not parse: %s: %s", text, je.text);
    *keep = j;
    return job_request_parse(j, r, err);
}

struct bad {
    const char *body;
    const char *needle; /* must appear in the message */
};

static const struct bad bad_cases[] = {
    {"{}", "command"},
    {"{\"command\": []}", "command"},
    {"{\"command\": \"ls\"}", "command"},
    {"{\"command\": [1]}", "command[0]"},
    {"{\"command\": [\"\"]}", "command[0]"},
    {"{\"command\": [\"ls\", null]}", "command[1]"},
    {"{\"command\": [\"ls\"], \"nope\": 1}", "nope"},
    {"{\"command\": [\"ls\"], \"policy\": 5}", "policy"},
    {"{\"command\": [\"ls\"], \"policy\": \"\"}", "policy"},
    {"{\"command\": [\"ls\"], \"files\": []}", "files"},
    {"{\"command\": [\"ls\"], \"files\": {\"/etc/passwd\": \"x\"}}", "files./etc/passwd"},
    {"{\"command\": [\"ls\"], \"files\": {\"../x\": \"x\"}}", "files.../x"},
    {"{\"command\": [\"ls\"], \"files\": {\"a/../../x\": \"x\"}}", "files.a/../../x"},
    {"{\"command\": [\"ls\"], \"files\": {\"a/./b\": \"x\"}}", "files.a/./b"},
    {"{\"command\": [\"ls\"], \"files\": {\"a//b\": \"x\"}}", "files.a//b"},
    {"{\"command\": [\"ls\"], \"files\": {\"a/\": \"x\"}}", "files.a/"},
    {"{\"command\": [\"ls\"], \"files\": {\"\": \"x\"}}", "files."},
    {"{\"command\": [\"ls\"], \"files\": {\"..\": \"x\"}}", "files..."},
    {"{\"command\": [\"ls\"], \"files\": {\"a\\nb\": \"x\"}}", "files.a"},
    {"{\"command\": [\"ls\"], \"files\": {\"a\": 5}}", "files.a"},
    {"{\"command\": [\"ls\"], \"env\": []}", "env"},
    {"{\"command\": [\"ls\"], \"env\": {\"1A\": \"x\"}}", "env.1A"},
    {"{\"command\": [\"ls\"], \"env\": {\"A-B\": \"x\"}}", "env.A-B"},
    {"{\"command\": [\"ls\"], \"env\": {\"A=B\": \"x\"}}", "env.A=B"},
    {"{\"command\": [\"ls\"], \"env\": {\"\": \"x\"}}", "env."},
    {"{\"command\": [\"ls\"], \"env\": {\"A\": 1}}", "env.A"},
    {"{\"command\": [\"ls\"], \"env\": {\"HTTP_PROXY\": \"http://evil\"}}", "env.HTTP_PROXY"},
    {"{\"command\": [\"ls\"], \"env\": {\"https_proxy\": \"x\"}}", "env.https_proxy"},
    {"{\"command\": [\"ls\"], \"env\": {\"NO_PROXY\": \"*\"}}", "env.NO_PROXY"},
    {"{\"command\": [\"ls\"], \"env\": {\"ALL_PROXY\": \"x\"}}", "env.ALL_PROXY"},
    {"{\"command\": [\"ls\"], \"stdin\": 5}", "stdin"},
    {"{\"command\": [\"ls\"], \"cwd\": \"/tmp\"}", "cwd"},
    {"{\"command\": [\"ls\"], \"cwd\": \"..\"}", "cwd"},
    {"{\"command\": [\"ls\"], \"cwd\": \"a/../..\"}", "cwd"},
    {"{\"command\": [\"ls\"], \"timeout_s\": 0}", "timeout_s"},
    {"{\"command\": [\"ls\"], \"timeout_s\": -1}", "timeout_s"},
    {"{\"command\": [\"ls\"], \"timeout_s\": 1.5}", "timeout_s"},
    {"{\"command\": [\"ls\"], \"timeout_s\": \"10\"}", "timeout_s"},
    {"{\"command\": [\"ls\"], \"timeout_s\": 99999999999}", "timeout_s"},
    {"{\"command\": [\"ls\"], \"limits\": []}", "limits"},
    {"{\"command\": [\"ls\"], \"limits\": {\"memory_mb\": 0}}", "limits.memory_mb"},
    {"{\"command\": [\"ls\"], \"limits\": {\"pids\": -5}}", "limits.pids"},
    {"{\"command\": [\"ls\"], \"limits\": {\"ram\": 5}}", "ram"},
    {"{\"command\": [\"ls\"], \"wait\": \"yes\"}", "wait"},
    {"{\"command\": [\"ls\"], \"labels\": []}", "labels"},
    {"{\"command\": [\"ls\"], \"labels\": {\"a:b\": \"x\"}}", "labels.a:b"},
    {"{\"command\": [\"ls\"], \"labels\": {\"\": \"x\"}}", "labels."},
    {"{\"command\": [\"ls\"], \"labels\": {\"k\": 1}}", "labels.k"},
    {"{\"command\": [\"ls\"], \"workspace\": 5}", "workspace"},
    {"{\"command\": [\"ls\"], \"workspace\": \"\"}", "workspace"},
};

Test(jobs_request, refusals_name_the_field)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        struct job_request r;
        struct err err = {0};
        json_t *keep;
        int rc = parse(bad_cases[i].body, &r, &err, &keep);

        cr_expect_eq(rc, -EINVAL, "%s: accepted", bad_cases[i].body);
        if (rc == -EINVAL) {
            cr_expect(strstr(err.message, bad_cases[i].needle), "%s: message \"%s\" lacks \"%s\"",
                      bad_cases[i].body, err.message, bad_cases[i].needle);
            cr_expect_str_eq(err.code, "bad_request", "%s", bad_cases[i].body);
        }
        json_decref(keep);
    }
}

Test(jobs_request, a_full_request_is_read_as_given)
{
    struct job_request r;
    struct err err = {0};
    json_t *keep;
    int rc = parse("{\"command\": [\"python3\", \"m.py\"], \"policy\": \"pypi\", \"env\": {\"A\": "
                   "\"1\"}, \"stdin\": \"input\", \"files\": {\"m.py\": \"print(1)\", "
                   "\"d/e/f.txt\": \"\"}, \"cwd\": \"d/e\", \"timeout_s\": 9, \"limits\": "
                   "{\"memory_mb\": 64}, \"wait\": true, \"labels\": {\"task\": \"t1\"}}",
                   &r, &err, &keep);

    cr_assert_eq(rc, 0, "%s", err.message);
    cr_expect_str_eq(r.policy, "pypi");
    cr_expect_str_eq(r.cwd, "d/e");
    cr_expect_eq(r.stdin_len, 5, "stdin: %zu bytes", r.stdin_len);
    cr_expect(r.has_timeout && r.timeout_s == 9);
    cr_expect(r.wait);
    cr_expect_eq(json_array_size(r.command), 2);
    cr_expect_eq(json_object_size(r.files), 2);
    cr_expect_eq(json_object_size(r.labels), 1);
    cr_expect(r.limits);
    json_decref(keep);
}

Test(jobs_request, defaults)
{
    struct job_request r;
    struct err err = {0};
    json_t *keep;

    cr_assert_eq(parse("{\"command\": [\"true\"]}", &r, &err, &keep), 0, "%s", err.message);
    cr_expect_str_eq(r.policy, "default");
    cr_expect_str_eq(r.cwd, "");
    cr_expect_eq(r.stdin_len, 0);
    cr_expect(!r.has_timeout && !r.wait && !r.files && !r.env && !r.labels && !r.limits);
    json_decref(keep);
}

Test(jobs_request, workspace_paths)
{
    static const char *const ok[] = {"a", "a/b", "a.b", ".hidden", "a/.b/c", "...", "a b", "ü"};
    static const char *const bad[] = {"/a", "..",    ".", "a/..", "../a",  "a//b",
                                      "a/", "a/./b", "",  "a\nb", "a\177b"};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_expect(job_path_valid(ok[i], false), "\"%s\" refused", ok[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect(!job_path_valid(bad[i], false), "\"%s\" accepted", bad[i]);
    cr_expect(job_path_valid("", true), "the workspace itself (cwd \"\")");
}
