/*
 * libFuzzer target for policy: every input goes through policy_parse, policy_host_parse,
 * policy_path_normalize and policy_url_parse, and what they accept must hold up:
 *   - a normalised path normalises to itself;
 *   - a parsed host parses again to the same name (an IPv6 literal inside brackets);
 *   - a parsed URL's host and path are themselves fixed points;
 *   - a parsed policy renders to JSON that parses back to the same policy;
 *   - every decision has a reason exactly when it denies, and names a real rule.
 * A broken invariant aborts, so libFuzzer keeps the input.
 *
 *   clang -fsanitize=fuzzer,address -iquote daemon $(pkg-config --cflags jansson) \
 *       tests/fuzz/fuzz_policy.c daemon/policy.c daemon/netaddr.c daemon/util.c -ljansson \
 *       -o /tmp/fuzz_policy && /tmp/fuzz_policy -max_total_time=20
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void
check_path(const char *s, size_t n)
{
    static char out[PATH_MAX_URL + 1], again[PATH_MAX_URL + 1];
    struct err err = {0};

    if (policy_path_normalize(s, n, out, sizeof(out), &err) < 0) {
        CHECK(err.code && strcmp(err.code, "bad_path") == 0);
        return;
    }
    CHECK(out[0] == '/');
    CHECK(policy_path_normalize(out, strlen(out), again, sizeof(again), &err) == 0);
    CHECK(strcmp(out, again) == 0);
}

static void
check_host_reparses(const struct policy_host *h)
{
    struct policy_host again;
    char buf[HOST_MAX + 3];
    int n;

    if (h->is_ip && h->ip.family == AF_INET6)
        n = snprintf(buf, sizeof(buf), "[%s]", h->name);
    else
        n = snprintf(buf, sizeof(buf), "%s", h->name);
    CHECK(n > 0 && (size_t)n < sizeof(buf));
    CHECK(policy_host_parse(buf, (size_t)n, &again, NULL) == 0);
    CHECK(strcmp(again.name, h->name) == 0);
    CHECK(again.is_ip == h->is_ip);
}

static void
check_host(const char *s, size_t n)
{
    struct policy_host h;
    struct err err = {0};

    if (policy_host_parse(s, n, &h, &err) < 0) {
        CHECK(err.code && strcmp(err.code, "bad_host") == 0);
        return;
    }
    CHECK(strlen(h.name) > 0 && strlen(h.name) <= HOST_MAX);
    check_host_reparses(&h);
}

static void
check_url(const char *s)
{
    static struct policy_url u;
    struct err err = {0};

    if (policy_url_parse(s, &u, &err) < 0) {
        CHECK(err.code != NULL);
        return;
    }
    CHECK(u.port > 0);
    check_host_reparses(&u.host);
    check_path(u.path, strlen(u.path));
}

static void
check_decision(const struct policy *p, const struct policy_decision *d)
{
    CHECK(d->allow == (d->reason == NULL));
    if (d->list) {
        json_t *r = policy_rule_to_json(p, d->list, d->rule);
        CHECK(r != NULL);
        json_decref(r);
    } else {
        CHECK(d->rule == -1);
    }
}

/* A few decisions on names taken from the policy's own rules and on fixed probes. */
static void
check_decisions(const struct policy *p, json_t *j)
{
    static const char *const probes[] = {"pypi.org", "a.example.com", "10.20.1.2", "[::1]",
                                         "127.0.0.1"};
    json_t *allow = json_object_get(json_object_get(j, "network"), "allow");
    struct policy_decision d;
    struct policy_host h;
    struct netaddr a;

    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        struct policy_request req = {POLICY_REQ_HTTP, &h, 80, "GET", "/api/x"};
        CHECK(policy_host_parse(probes[i], strlen(probes[i]), &h, NULL) == 0);
        policy_decide(p, &req, &d);
        check_decision(p, &d);
        req.kind = POLICY_REQ_CONNECT;
        req.port = 443;
        policy_decide(p, &req, &d);
        check_decision(p, &d);
        if (h.is_ip) {
            policy_decide_address(p, &req, &h.ip, &d);
            check_decision(p, &d);
        }
    }
    for (size_t i = 0; i < json_array_size(allow); i++) {
        const char *host = json_string_value(json_object_get(json_array_get(allow, i), "host"));
        struct policy_request req = {POLICY_REQ_CONNECT, &h, 443, NULL, NULL};
        if (!host || host[0] == '*')
            continue;
        CHECK(policy_host_parse(host, strlen(host), &h, NULL) == 0);
        policy_decide(p, &req, &d);
        check_decision(p, &d);
        CHECK(d.allow || d.reason != NULL);
        CHECK(netaddr_parse("8.8.8.8", 7, &a) == 0);
        policy_decide_address(p, &req, &a, &d);
        check_decision(p, &d);
    }
}

static void
check_policy(const char *s, size_t n)
{
    struct policy *p = NULL, *q = NULL;
    struct err err = {0};
    json_t *j, *k;
    char *text;

    if (policy_parse("fuzz", s, n, NULL, &p, &err) < 0) {
        CHECK(err.code != NULL);
        return;
    }
    j = policy_to_json(p);
    CHECK(j != NULL);
    text = json_dumps(j, JSON_COMPACT);
    CHECK(text != NULL);
    CHECK(policy_parse("fuzz", text, strlen(text), NULL, &q, &err) == 0);
    k = policy_to_json(q);
    CHECK(k != NULL && json_equal(j, k));
    check_decisions(p, j);
    free(text);
    json_decref(j);
    json_decref(k);
    policy_unref(q);
    policy_unref(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check_policy(s, size);
    check_host(s, size);
    check_path(s, size);
    check_url(s); /* stops at the first NUL, as a C string would */
    free(s);
    return 0;
}
