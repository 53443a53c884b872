/*
 * api_policies: the /healthz and /v1/policies handlers. The check endpoint answers the decision
 * the proxy would take for a URL from the policy alone: it resolves no name and sends nothing
 * anywhere. For a name, the addresses it resolves to are classified only when the proxy
 * connects, and the answer says so.
 */
#include "api_internal.h"

#include <stdio.h>

#include "airlock_limits.h"
#include "log.h"

enum MHD_Result
api_healthz(struct api_request *req)
{
    const struct api_deps *d = &req->api->deps;
    unsigned running = 0, queued = 0;

    if (d->jobs)
        jobs_counts(d->jobs, &running, &queued);
    return api_reply_json(req, 200,
                          json_pack("{s:s, s:s, s:I, s:I, s:{s:i, s:i, s:i, s:i}, s:s, s:o}",
                                    "status", "ok", "version", AIRLOCK_VERSION, "uptime_s",
                                    (json_int_t)((time_now_ms() - d->started_ms) / 1000),
                                    "policies", (json_int_t)policies_count(d->policies), "jobs",
                                    "running", (int)running, "queued", (int)queued, "max_running",
                                    (int)d->cfg->max_running_jobs, "max_queued",
                                    (int)d->cfg->max_queued_jobs, "cgroups",
                                    d->cgroups ? cgroup_pool_describe(d->cgroups) : "none",
                                    "kernel", probe_to_json(d->probe)));
}

enum MHD_Result
api_policies_list(struct api_request *req)
{
    return api_reply_json(req, 200, policies_list_json(req->api->deps.policies));
}

static struct policy *
find_policy(struct api_request *req, enum MHD_Result *res)
{
    const char *name = req->params[0];
    struct policy *p =
        policies_name_valid(name) ? policies_get(req->api->deps.policies, name) : NULL;

    if (!p)
        *res =
            api_reply_error(req, 404, "not_found",
                            "policy \"%.64s\": no such policy (GET /v1/policies lists them)", name);
    return p;
}

enum MHD_Result
api_policies_get(struct api_request *req)
{
    enum MHD_Result res;
    struct policy *p = find_policy(req, &res);

    if (!p)
        return res;
    res = api_reply_json(req, 200, policy_to_json(p));
    policy_unref(p);
    return res;
}

static bool
method_valid(const char *m)
{
    size_t len = strlen(m);

    if (len == 0 || len > 16)
        return false;
    for (size_t i = 0; i < len; i++)
        if (m[i] < 'A' || m[i] > 'Z')
            return false;
    return true;
}

static json_t *
decide_json(const struct policy *p, const struct policy_url *u, const char *method)
{
    struct policy_request pr = {
        .kind = u->https ? POLICY_REQ_CONNECT : POLICY_REQ_HTTP,
        .host = &u->host,
        .port = u->port,
        .method = u->https ? "CONNECT" : method,
        .path = u->https ? NULL : u->path,
    };
    struct policy_decision d;
    char why[512];
    char rule[32] = "";

    policy_decide(p, &pr, &d);
    if (d.allow && u->host.is_ip)
        policy_decide_address(p, &pr, &u->host.ip, &d);
    policy_explain(&d, &pr, why, sizeof(why));
    if (d.list)
        snprintf(rule, sizeof(rule), "%s[%d]", d.list, d.rule);
    if (u->host.is_ip) {
        /* Say what kind of address it is: "link_local", "loopback", "metadata", ... */
        size_t len = strlen(why);
        snprintf(why + len, sizeof(why) - len, " (%s address)",
                 netaddr_class_name(netaddr_classify(&u->host.ip)));
    }
    return json_pack(
        "{s:s, s:s?, s:s?, s:o?, s:s, s:{s:s, s:s, s:i, s:s, s:s?}, s:s?}", "decision",
        d.allow ? "allow" : "deny", "rule", d.list ? rule : NULL, "reason", d.reason, "rule_detail",
        d.list ? policy_rule_to_json(p, d.list, d.rule) : NULL, "explanation", why, "request",
        "scheme", u->https ? "https" : "http", "host", u->host.name, "port", (int)u->port, "method",
        pr.method, "path", pr.path, "note",
        u->host.is_ip ? NULL
                      : "the addresses this name resolves to are checked again when the proxy "
                        "connects: a non-public address needs a cidr rule");
}

enum MHD_Result
api_policies_check(struct api_request *req)
{
    static const char *const fields[] = {"url", "method", NULL};
    _cleanup_free_ struct policy_url *u = NULL;
    struct policy *p;
    enum MHD_Result res;
    const char *url, *method = "GET";
    struct err err = {0};
    json_t *body = NULL, *v;
    int r;

    if (!(p = find_policy(req, &res)))
        return res;
    if (!(body = api_body_object(req, &res)))
        goto out;
    if (api_check_fields(body, fields, &err) < 0) {
        res = api_reply_err(req, 400, &err);
        goto out;
    }
    v = json_object_get(body, "url");
    if (!json_is_string(v) || !*(url = json_string_value(v))) {
        res = api_reply_error(req, 400, "bad_request",
                              "url: must be an http:// or https:// URL string");
        goto out;
    }
    v = json_object_get(body, "method");
    if (v && (!json_is_string(v) || !method_valid(method = json_string_value(v)))) {
        res = api_reply_error(req, 400, "bad_request",
                              "method: must be an upper-case HTTP method such as \"GET\"");
        goto out;
    }
    u = calloc(1, sizeof(*u));
    if (!u) {
        res = api_reply_error(req, 500, "internal", "out of memory");
        goto out;
    }
    r = policy_url_parse(url, u, &err);
    if (r < 0 && err.code && strcmp(err.code, "scheme") == 0) {
        res = api_reply_error(req, 400, "bad_request", "url: %s", err.message);
        goto out;
    }
    if (r < 0) {
        /* A URL the proxy would refuse is itself an answer: the job would get a denial. */
        res = api_reply_json(req, 200,
                             json_pack("{s:s, s:n, s:s, s:s}", "decision", "deny", "rule", "reason",
                                       err.code ? err.code : "bad_request", "explanation",
                                       err.message));
        goto out;
    }
    res = api_reply_json(req, 200, decide_json(p, u, method));
out:
    json_decref(body);
    policy_unref(p);
    return res;
}

enum MHD_Result
api_policies_reload(struct api_request *req)
{
    struct err err = {0};
    json_t *report = NULL;
    int r = policies_reload(req->api->deps.policies, &report, &err);

    if (r < 0)
        return api_reply_error(req, 500, "internal", "%s", err.message);
    log_info("policy.reload", "reloaded from the API: %zu policies, %zu errors",
             policies_count(req->api->deps.policies),
             json_array_size(json_object_get(report, "errors")));
    return api_reply_json(req, 200, report);
}
