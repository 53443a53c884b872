/*
 * jobs_request: the checks on a POST /v1/jobs body that need nothing but the body. Every
 * message names the field, so an agent can fix its request without reading our code. What a
 * job names here (file paths, cwd, env names) is treated as hostile: a path is relative, has no
 * "." or ".." segment and no empty one, so it can never leave the workspace.
 */
#include <stdio.h>

#include "jobs.h"
#include "policy.h"
#include "sandbox.h"

#define REQ_FILES_MAX 1000
#define REQ_PATH_MAX 1024
#define REQ_ENV_MAX 128
#define REQ_LABELS_MAX 64
#define REQ_LABEL_KEY_MAX 64
#define REQ_LABEL_VALUE_MAX 256

static const char *const fields[] = {"command",   "policy", "env",  "stdin",  "files",     "cwd",
                                     "timeout_s", "limits", "wait", "labels", "workspace", NULL};

/* The proxy variables are the job's route out; a request cannot point them elsewhere. */
static const char *const reserved_env[] = {"HTTP_PROXY",  "HTTPS_PROXY", "http_proxy",
                                           "https_proxy", "ALL_PROXY",   "all_proxy",
                                           "NO_PROXY",    "no_proxy",    NULL};

static bool
plain_string(json_t *v)
{
    return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

static int
check_fields(json_t *body, struct err *err)
{
    const char *key;
    json_t *v;

    json_object_foreach(body, key, v)
    {
        bool ok = false;
        for (size_t i = 0; fields[i] && !ok; i++)
            ok = strcmp(fields[i], key) == 0;
        if (!ok)
            return err_set(err, EINVAL, "bad_request", "%.64s: unknown field", key);
    }
    return 0;
}

static int
parse_command(json_t *v, struct job_request *r, struct err *err)
{
    size_t i, total = 0;
    json_t *a;

    if (!json_is_array(v) || json_array_size(v) == 0)
        return err_set(err, EINVAL, "bad_request", "command: must be a non-empty array of strings");
    if (json_array_size(v) > SANDBOX_ARGV_MAX)
        return err_set(err, EINVAL, "bad_request", "command: more than %d arguments",
                       SANDBOX_ARGV_MAX);
    json_array_foreach(v, i, a)
    {
        if (!plain_string(a))
            return err_set(err, EINVAL, "bad_request",
                           "command[%zu]: must be a string without NUL bytes", i);
        total += json_string_length(a) + 1;
    }
    if (!*json_string_value(json_array_get(v, 0)))
        return err_set(err, EINVAL, "bad_request", "command[0]: must not be empty");
    if (total > SANDBOX_STRTAB_MAX / 2)
        return err_set(err, EINVAL, "bad_request", "command: longer than %d bytes",
                       SANDBOX_STRTAB_MAX / 2);
    r->command = v;
    return 0;
}

/* A path inside the workspace: relative, segments not empty, not "." or "..". */
bool
job_path_valid(const char *p, bool allow_empty)
{
    if (!*p)
        return allow_empty;
    return path_rel_valid(p, REQ_PATH_MAX, false);
}

static int
parse_files(json_t *v, struct job_request *r, struct err *err)
{
    const char *path;
    json_t *c;

    if (!json_is_object(v))
        return err_set(err, EINVAL, "bad_request", "files: must be an object of path -> text");
    if (json_object_size(v) > REQ_FILES_MAX)
        return err_set(err, EINVAL, "bad_request", "files: more than %d files", REQ_FILES_MAX);
    json_object_foreach(v, path, c)
    {
        if (!job_path_valid(path, false))
            return err_set(err, EINVAL, "bad_request",
                           "files.%.128s: must be a relative path inside the workspace, without "
                           "\"..\", \".\" or empty segments",
                           path);
        if (!json_is_string(c))
            return err_set(err, EINVAL, "bad_request", "files.%.128s: must be a string", path);
    }
    r->files = v;
    return 0;
}

static bool
env_name_valid(const char *k)
{
    if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_'))
        return false;
    for (k++; *k; k++)
        if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_' ||
              (*k >= '0' && *k <= '9')))
            return false;
    return true;
}

static int
parse_env(json_t *v, struct job_request *r, struct err *err)
{
    const char *k;
    json_t *val;

    if (!json_is_object(v))
        return err_set(err, EINVAL, "bad_request", "env: must be an object of name -> string");
    if (json_object_size(v) > REQ_ENV_MAX)
        return err_set(err, EINVAL, "bad_request", "env: more than %d variables", REQ_ENV_MAX);
    json_object_foreach(v, k, val)
    {
        if (!env_name_valid(k) || strlen(k) > 128)
            return err_set(err, EINVAL, "bad_request",
                           "env.%.64s: a name is letters, digits and '_', not starting with a "
                           "digit",
                           k);
        for (size_t i = 0; reserved_env[i]; i++)
            if (strcmp(k, reserved_env[i]) == 0)
                return err_set(err, EINVAL, "bad_request",
                               "env.%s: the proxy variables are set by the sandbox and cannot "
                               "be overridden",
                               k);
        if (!plain_string(val) || json_string_length(val) > SANDBOX_PATH_MAX)
            return err_set(err, EINVAL, "bad_request",
                           "env.%.64s: must be a string without NUL bytes, at most %d bytes", k,
                           SANDBOX_PATH_MAX);
    }
    r->env = v;
    return 0;
}

int
job_labels_check(json_t *v, struct err *err)
{
    const char *k;
    json_t *val;

    if (!json_is_object(v))
        return err_set(err, EINVAL, "bad_request", "labels: must be an object of string -> string");
    if (json_object_size(v) > REQ_LABELS_MAX)
        return err_set(err, EINVAL, "bad_request", "labels: more than %d labels", REQ_LABELS_MAX);
    json_object_foreach(v, k, val)
    {
        if (!*k || strlen(k) > REQ_LABEL_KEY_MAX || strchr(k, ':'))
            return err_set(err, EINVAL, "bad_request",
                           "labels.%.64s: a key is 1 to %d characters without ':'", k,
                           REQ_LABEL_KEY_MAX);
        if (!plain_string(val) || json_string_length(val) > REQ_LABEL_VALUE_MAX)
            return err_set(err, EINVAL, "bad_request",
                           "labels.%.64s: must be a string of at most %d bytes", k,
                           REQ_LABEL_VALUE_MAX);
    }
    return 0;
}

static int
parse_scalars(json_t *body, struct job_request *r, struct err *err)
{
    json_t *v;

    if ((v = json_object_get(body, "policy"))) {
        if (!plain_string(v) || !*json_string_value(v))
            return err_set(err, EINVAL, "bad_request", "policy: must be a policy name");
        r->policy = json_string_value(v);
    }
    if ((v = json_object_get(body, "stdin"))) {
        if (!json_is_string(v))
            return err_set(err, EINVAL, "bad_request", "stdin: must be a string");
        r->stdin_data = json_string_value(v);
        r->stdin_len = json_string_length(v);
    }
    if ((v = json_object_get(body, "cwd"))) {
        if (!plain_string(v) || !job_path_valid(json_string_value(v), true))
            return err_set(err, EINVAL, "bad_request",
                           "cwd: must be a relative path inside the workspace, without \"..\"");
        r->cwd = json_string_value(v);
    }
    if ((v = json_object_get(body, "timeout_s"))) {
        double d = json_is_number(v) ? json_number_value(v) : -1;
        if (!json_is_integer(v) || d < 1 || d > POLICY_TIMEOUT_S_MAX)
            return err_set(err, EINVAL, "bad_request",
                           "timeout_s: must be a whole number of seconds from 1 to %d",
                           POLICY_TIMEOUT_S_MAX);
        r->has_timeout = true;
        r->timeout_s = (uint64_t)json_integer_value(v);
    }
    if ((v = json_object_get(body, "wait"))) {
        if (!json_is_boolean(v))
            return err_set(err, EINVAL, "bad_request", "wait: must be true or false");
        r->wait = json_is_true(v);
    }
    if ((v = json_object_get(body, "workspace")) && !json_is_null(v)) {
        if (!plain_string(v) || !*json_string_value(v) || json_string_length(v) >= 64)
            return err_set(err, EINVAL, "bad_request",
                           "workspace: must be the id of a workspace (POST /v1/workspaces)");
        r->workspace = json_string_value(v);
    }
    return 0;
}

int
job_request_parse(json_t *body, struct job_request *ret, struct err *err)
{
    struct job_request r = {.policy = "default", .cwd = "", .stdin_data = ""};
    json_t *v;
    int rc;

    if ((rc = check_fields(body, err)) < 0)
        return rc;
    if ((rc = parse_command(json_object_get(body, "command"), &r, err)) < 0)
        return rc;
    if ((v = json_object_get(body, "files")) && (rc = parse_files(v, &r, err)) < 0)
        return rc;
    if ((v = json_object_get(body, "env")) && (rc = parse_env(v, &r, err)) < 0)
        return rc;
    if ((v = json_object_get(body, "labels"))) {
        if ((rc = job_labels_check(v, err)) < 0)
            return rc;
        r.labels = v;
    }
    if ((v = json_object_get(body, "limits"))) {
        struct policy_limits l = {0};
        if ((rc = policy_limits_parse(v, "limits", &l, err)) < 0) {
            err->code = "bad_request";
            return rc;
        }
        r.limits = v;
    }
    if ((rc = parse_scalars(body, &r, err)) < 0)
        return rc;
    *ret = r;
    return 0;
}
