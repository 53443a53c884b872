/*
 * The HTTP core against the real daemon: auth, every error code of api.md, body limits, and the
 * policy endpoints. Each test starts its own airlockd on a free loopback port.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
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

TestSuite(api, .init = up, .fini = down, .timeout = 60);

Test(api, healthz_needs_no_token_and_reports_the_kernel)
{
    struct resp r = http(&d, "GET", "/healthz", NULL, "", NULL, NULL);
    json_t *k;

    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "ok");
    cr_assert(json_is_string(json_object_get(r.json, "version")));
    k = json_object_get(r.json, "kernel");
    cr_assert(json_is_integer(json_object_get(k, "landlock_abi")));
    cr_assert(json_is_boolean(json_object_get(k, "seccomp_filter")));
    cr_assert(json_is_object(json_object_get(k, "namespaces")));
    cr_assert(json_is_object(json_object_get(k, "cgroups")));
    char *ct = resp_header(&r, "Content-Type");
    cr_assert_str_eq(ct, "application/json");
    free(ct);
    resp_free(&r);
}

Test(api, missing_token_is_401_with_error_body)
{
    struct resp r = http(&d, "GET", "/v1/policies", NULL, "", NULL, NULL);
    char *www = resp_header(&r, "WWW-Authenticate");

    cr_assert_eq(r.status, 401);
    cr_assert_str_eq(err_code(&r), "unauthorized");
    cr_assert(strstr(err_message(&r), "Authorization"));
    cr_assert(www && strstr(www, "Bearer"));
    free(www);
    resp_free(&r);
}

Test(api, wrong_tokens_are_401)
{
    char prefix[128], longer[160];
    const char *bad[] = {"nope", "test-token", prefix, longer};

    snprintf(prefix, sizeof(prefix), "%.*s", (int)strlen(d.token) - 1, d.token);
    snprintf(longer, sizeof(longer), "%sx", d.token);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct resp r = http(&d, "GET", "/v1/policies", NULL, bad[i], NULL, NULL);
        cr_expect_eq(r.status, 401, "token \"%s\" got %ld", bad[i], r.status);
        resp_free(&r);
    }
}

Test(api, other_auth_schemes_are_401)
{
    char line[256];
    struct resp r;

    snprintf(line, sizeof(line), "Authorization: Basic %s", d.token);
    r = http(&d, "GET", "/v1/policies", NULL, "", NULL, line);
    cr_assert_eq(r.status, 401);
    resp_free(&r);
}

Test(api, token_never_appears_in_the_log)
{
    struct resp r = http_get(&d, "/v1/policies");
    resp_free(&r);
    r = http(&d, "GET", "/v1/policies", NULL, "wrong-token-value-123", NULL, NULL);
    resp_free(&r);
    cr_assert(!file_contains(d.log, d.token));
    cr_assert(!file_contains(d.log, "wrong-token-value-123"));
}

Test(api, unknown_route_is_404_after_auth)
{
    struct resp r = http_get(&d, "/v1/nothing-here");
    cr_assert_eq(r.status, 404);
    cr_assert_str_eq(err_code(&r), "not_found");
    resp_free(&r);
    r = http(&d, "GET", "/v1/nothing-here", NULL, "", NULL, NULL);
    cr_assert_eq(r.status, 401, "unknown /v1 routes must not be enumerable without a token");
    resp_free(&r);
    r = http(&d, "GET", "/nothing", NULL, "", NULL, NULL);
    cr_assert_eq(r.status, 404);
    resp_free(&r);
}

Test(api, wrong_method_is_405_with_allow)
{
    struct resp r = http(&d, "DELETE", "/v1/policies", NULL, NULL, NULL, NULL);
    char *allow = resp_header(&r, "Allow");

    cr_assert_eq(r.status, 405);
    cr_assert_str_eq(err_code(&r), "method_not_allowed");
    cr_assert(allow && strstr(allow, "GET"), "Allow: %s", allow ? allow : "(none)");
    free(allow);
    resp_free(&r);
    r = http(&d, "GET", "/v1/policies/default/check", NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 405);
    resp_free(&r);
    r = http(&d, "POST", "/healthz", "{}", "", NULL, NULL);
    cr_assert_eq(r.status, 405);
    resp_free(&r);
}

Test(api, oversized_body_is_413_and_daemon_stays_up)
{
    size_t n = 2 * 1024 * 1024;
    char *big = malloc(n + 1);
    struct resp r;

    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    r = http_post(&d, "/v1/policies/default/check", big);
    cr_assert_eq(r.status, 413);
    cr_assert_str_eq(err_code(&r), "payload_too_large");
    resp_free(&r);
    free(big);
    r = http_get(&d, "/v1/policies");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
}

Test(api, oversized_chunked_body_is_413)
{
    size_t n = 2 * 1024 * 1024;
    char *big = malloc(n + 1);
    struct resp r;

    memset(big, ' ', n);
    big[n] = '\0';
    r = http(&d, "POST", "/v1/policies/default/check", big, NULL, NULL,
             "Transfer-Encoding: chunked");
    cr_assert_eq(r.status, 413, "got %ld", r.status);
    resp_free(&r);
    free(big);
}

Test(api, wrong_content_type_is_415)
{
    const char *types[] = {"text/plain", "multipart/form-data; boundary=x", "application/xml",
                           "application/jsonx", "text/json"};
    struct resp r;

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        r = http(&d, "POST", "/v1/policies/default/check", "{\"url\":\"http://a.example/\"}", NULL,
                 types[i], NULL);
        cr_expect_eq(r.status, 415, "%s: %ld", types[i], r.status);
        cr_expect_str_eq(err_code(&r), "unsupported_media_type");
        resp_free(&r);
    }
    /* What `curl -d` sends by default: the body is still JSON. */
    r = http(&d, "POST", "/v1/policies/default/check", "{\"url\":\"http://a.example/\"}", NULL,
             "application/x-www-form-urlencoded", NULL);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    r = http(&d, "POST", "/v1/policies/default/check", "url=http://a.example/", NULL,
             "application/x-www-form-urlencoded", NULL);
    cr_assert_eq(r.status, 400);
    resp_free(&r);
    r = http(&d, "POST", "/v1/policies/default/check", "{\"url\":\"http://a.example/\"}", NULL,
             "application/json; charset=utf-8", NULL);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
}

static void
expect_400(const char *body, const char *needle)
{
    struct resp r = http_post(&d, "/v1/policies/default/check", body);
    cr_expect_eq(r.status, 400, "body %s: got %ld", body, r.status);
    cr_expect_str_eq(err_code(&r), "bad_request", "body %s", body);
    cr_expect(strstr(err_message(&r), needle), "body %s: message \"%s\" lacks \"%s\"", body,
              err_message(&r), needle);
    resp_free(&r);
}

Test(api, bad_bodies_are_400_naming_the_field)
{
    expect_400("", "body");
    expect_400("{", "invalid JSON");
    expect_400("[1,2]", "object");
    expect_400("\"x\"", "body");
    expect_400("{\"url\": \"http://a.example/\", \"url\": \"http://b.example/\"}", "duplicate");
    expect_400("{\"url\": \"http://a.example/\", \"nope\": 1}", "body.nope");
    expect_400("{}", "url");
    expect_400("{\"url\": 5}", "url");
    expect_400("{\"url\": \"\"}", "url");
    expect_400("{\"url\": \"ftp://a.example/\"}", "url");
    expect_400("{\"url\": \"pypi.org\"}", "url");
    expect_400("{\"url\": \"http://a.example/\", \"method\": \"get\"}", "method");
    expect_400("{\"url\": \"http://a.example/\", \"method\": 7}", "method");
    expect_400("{\"url\": \"http://a.example/\\u0000x\"}", "");
}

Test(api, deep_json_is_400)
{
    char body[256 + 16];
    size_t n = 0;

    for (int i = 0; i < 100; i++)
        body[n++] = '[';
    for (int i = 0; i < 100; i++)
        body[n++] = ']';
    body[n] = '\0';
    struct resp r = http_post(&d, "/v1/policies/default/check", body);
    cr_assert_eq(r.status, 400);
    resp_free(&r);
}

Test(api, invalid_utf8_is_400)
{
    struct resp r = http_post(&d, "/v1/policies/default/check", "{\"url\": \"http://\xff/\"}");
    cr_assert_eq(r.status, 400);
    resp_free(&r);
}

Test(api, policies_list_and_get)
{
    struct resp r = http_get(&d, "/v1/policies");
    json_t *arr, *p;
    size_t i;
    bool has_default = false;

    cr_assert_eq(r.status, 200);
    arr = json_object_get(r.json, "policies");
    cr_assert(json_array_size(arr) >= 1);
    json_array_foreach(arr, i, p)
    {
        cr_assert(json_is_string(json_object_get(p, "name")));
        cr_assert(json_is_string(json_object_get(p, "description")));
        if (strcmp(json_string_value(json_object_get(p, "name")), "default") == 0)
            has_default = true;
    }
    cr_assert(has_default);
    resp_free(&r);

    r = http_get(&d, "/v1/policies/default");
    cr_assert_eq(r.status, 200);
    cr_assert(json_is_object(json_object_get(r.json, "filesystem")));
    cr_assert(json_is_object(json_object_get(r.json, "limits")));
    cr_assert(json_is_integer(json_object_get(json_object_get(r.json, "limits"), "pids")));
    resp_free(&r);

    r = http_get(&d, "/v1/policies/nope");
    cr_assert_eq(r.status, 404);
    cr_assert(strstr(err_message(&r), "nope"));
    resp_free(&r);
    r = http_get(&d, "/v1/policies/..%2f..%2fetc%2fpasswd");
    cr_assert_eq(r.status, 404);
    resp_free(&r);
}

static json_t *
check(const char *policy, const char *body)
{
    char path[256];
    struct resp r;
    json_t *j;

    snprintf(path, sizeof(path), "/v1/policies/%s/check", policy);
    r = http_post(&d, path, body);
    cr_assert_eq(r.status, 200, "%s %s: %ld %s", policy, body, r.status, r.body);
    j = json_incref(r.json);
    resp_free(&r);
    return j;
}

static void
expect_decision(const char *policy, const char *body, const char *decision, const char *reason)
{
    json_t *j = check(policy, body);
    const char *got = json_string_value(json_object_get(j, "decision"));
    const char *why = json_string_value(json_object_get(j, "reason"));

    cr_expect_str_eq(got, decision, "%s %s", policy, body);
    if (reason)
        cr_expect(why && strcmp(why, reason) == 0, "%s %s: reason %s, expected %s", policy, body,
                  why ? why : "null", reason);
    else
        cr_expect(json_is_null(json_object_get(j, "reason")), "%s %s", policy, body);
    json_decref(j);
}

Test(api, default_policy_denies_everything)
{
    expect_decision("default", "{\"url\": \"https://pypi.org/\"}", "deny", "no_rule");
    expect_decision("default", "{\"url\": \"http://example.com/\"}", "deny", "no_rule");
    expect_decision("default", "{\"url\": \"http://127.0.0.1:8420/\"}", "deny", "no_rule");
}

Test(api, check_decides_from_the_policy)
{
    daemon_write_policy(&d, "lab",
                        "{\"description\": \"lab\", \"network\": {\"allow\": ["
                        "{\"host\": \"pypi.org\", \"ports\": [443]},"
                        "{\"host\": \"*.example.com\"},"
                        "{\"host\": \"api.example.org\", \"methods\": [\"GET\"], "
                        "\"paths\": [\"/v1/\"]},"
                        "{\"cidr\": \"10.20.0.0/16\", \"ports\": [8080]}],"
                        "\"deny\": [{\"host\": \"bad.example.com\"}]}}");
    struct resp r = http_post(&d, "/v1/policies/reload", NULL);
    cr_assert_eq(r.status, 200);
    resp_free(&r);

    expect_decision("lab", "{\"url\": \"https://pypi.org/simple/\"}", "allow", NULL);
    expect_decision("lab", "{\"url\": \"http://pypi.org/\"}", "deny", "port");
    expect_decision("lab", "{\"url\": \"https://a.example.com/\"}", "allow", NULL);
    expect_decision("lab", "{\"url\": \"https://example.com/\"}", "deny", "no_rule");
    expect_decision("lab", "{\"url\": \"https://bad.example.com/\"}", "deny", "denied_by_rule");
    expect_decision("lab", "{\"url\": \"http://api.example.org/v1/x\"}", "allow", NULL);
    expect_decision("lab", "{\"url\": \"http://api.example.org/v1/x\", \"method\": \"POST\"}",
                    "deny", "method");
    expect_decision("lab", "{\"url\": \"http://api.example.org/v2/\"}", "deny", "path");
    expect_decision("lab", "{\"url\": \"http://api.example.org/v1/../v2/\"}", "deny", "path");
    expect_decision("lab", "{\"url\": \"https://api.example.org/v1/\"}", "deny", "method");
    expect_decision("lab", "{\"url\": \"http://10.20.1.2:8080/\"}", "allow", NULL);
    expect_decision("lab", "{\"url\": \"http://10.20.1.2:80/\"}", "deny", "port");
    expect_decision("lab", "{\"url\": \"http://10.21.1.2:8080/\"}", "deny", "ip_literal");
    expect_decision("lab", "{\"url\": \"http://[::1]/\"}", "deny", "ip_literal");
    expect_decision("lab", "{\"url\": \"http://pypi.org:0443/\"}", "deny", "bad_port");
    expect_decision("lab", "{\"url\": \"http://2130706433/\"}", "deny", "bad_host");
    expect_decision("lab", "{\"url\": \"http://0x7f.1/\"}", "deny", "bad_host");
    expect_decision("lab", "{\"url\": \"http://user@pypi.org/\"}", "deny", "bad_host");
    expect_decision("lab", "{\"url\": \"http://a.example.com/%2e%2e/\"}", "deny", "bad_path");

    json_t *j = check("lab", "{\"url\": \"https://pypi.org/\"}");
    cr_assert_str_eq(json_string_value(json_object_get(j, "rule")), "allow[0]");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "rule_detail"), "host")),
                     "pypi.org");
    cr_assert(json_is_string(json_object_get(j, "explanation")));
    json_decref(j);
}

Test(api, reload_reports_broken_files_and_keeps_the_previous_version)
{
    struct resp r;
    json_t *errors;

    daemon_write_policy(&d, "lab", "{\"network\": {\"allow\": [{\"host\": \"a.example\"}]}}");
    r = http_post(&d, "/v1/policies/reload", NULL);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    expect_decision("lab", "{\"url\": \"https://a.example/\"}", "allow", NULL);

    daemon_write_policy(&d, "lab", "{\"network\": {\"allow\": [{\"host\": \"*.\"}]}}");
    daemon_write_policy(&d, "fresh", "{\"nonsense\": true}");
    r = http_post(&d, "/v1/policies/reload", NULL);
    cr_assert_eq(r.status, 200);
    errors = json_object_get(r.json, "errors");
    cr_assert_eq(json_array_size(errors), 2, "%s", r.body);
    cr_assert(strstr(r.body, "lab.json"));
    cr_assert(strstr(r.body, "fresh.json"));
    cr_assert(strstr(r.body, "nonsense"));
    resp_free(&r);
    expect_decision("lab", "{\"url\": \"https://a.example/\"}", "allow", NULL);
    r = http_get(&d, "/v1/policies/fresh");
    cr_assert_eq(r.status, 404);
    resp_free(&r);
    cr_assert(file_contains(d.log, "lab.json"));

    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/lab.json", d.policy_dir);
    unlink(path);
    r = http_post(&d, "/v1/policies/reload", NULL);
    cr_assert(strstr(r.body, "\"removed\":[\"lab\"]"), "%s", r.body);
    resp_free(&r);
}

Test(api, sighup_reloads)
{
    daemon_write_policy(&d, "late", "{\"network\": {\"allow\": [{\"host\": \"late.example\"}]}}");
    daemon_signal(&d, SIGHUP);
    for (int i = 0; i < 100; i++) {
        struct resp r = http_get(&d, "/v1/policies/late");
        long s = r.status;
        resp_free(&r);
        if (s == 200)
            return;
        usleep(50 * 1000);
    }
    cr_assert_fail("SIGHUP did not load the new policy");
}

Test(api, many_requests_in_a_row_keep_working)
{
    for (int i = 0; i < 200; i++) {
        struct resp r =
            http_post(&d, "/v1/policies/default/check", "{\"url\":\"http://x.example/\"}");
        cr_assert_eq(r.status, 200);
        resp_free(&r);
    }
}

/* Sends raw bytes on a fresh connection and returns what comes back (at most n-1 bytes). */
static void
raw_exchange(const char *data, size_t len, char *out, size_t n)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)d.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 3};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t got = 0;

    cr_assert(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
    shutdown(fd, SHUT_WR);
    while (got + 1 < n) {
        ssize_t r = recv(fd, out + got, n - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    out[got] = '\0';
    close(fd);
}

Test(api, garbage_on_the_api_port_is_refused_and_the_daemon_stays_up)
{
    static const char *const junk[] = {
        "GARBAGE\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "POST /v1/policies/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "\r\n\r\n\r\n",
    };
    char out[4096];

    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        raw_exchange(junk[i], strlen(junk[i]), out, sizeof(out));
        cr_expect(out[0] == '\0' || strncmp(out, "HTTP/1.1 4", 10) == 0 ||
                      strncmp(out, "HTTP/1.1 505", 12) == 0,
                  "junk %zu answered: %.80s", i, out);
    }
    struct resp r = http_get(&d, "/v1/policies");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
}

Test(api, huge_header_is_refused)
{
    size_t n = 100000;
    char *req = malloc(n + 128);
    char out[4096];
    int len = snprintf(req, 128, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");

    memset(req + len, 'a', n);
    memcpy(req + len + n, "\r\n\r\n", 5);
    raw_exchange(req, (size_t)len + n + 4, out, sizeof(out));
    cr_assert(out[0] == '\0' || strncmp(out, "HTTP/1.1 4", 10) == 0, "answered: %.80s", out);
    free(req);
    struct resp r = http_get(&d, "/healthz");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
}
