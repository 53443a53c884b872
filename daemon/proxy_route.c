/*
 * proxy_route.c: where a request may go, in the order design.md sets: the name (or IP literal),
 * port, method and path against the policy first -- a denied name is never looked up, so nothing
 * leaks through DNS -- then the lookup, then every address it returned: the daemon's own API
 * port on a local address is refused whatever the policy says, and each address must pass
 * policy_decide_address (a single forbidden one refuses the request, so an answer mixing public
 * and private addresses cannot be used to reach the private one). The addresses kept are the
 * only ones the proxy connects to: DNS rebinding fails by construction.
 */
#include "proxy_internal.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* A copy of untrusted bytes fit for a log line or an event: printable ASCII, cut at n - 1. */
static void
sanitize(char *dst, size_t n, const char *src, size_t len)
{
    size_t j = 0;

    for (size_t i = 0; i < len && j + 1 < n; i++)
        dst[j++] = (src[i] > 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[j] = '\0';
}

static bool deny(struct proxy_route *r, struct proxy_event *ev, int status, const char *reason,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static bool
deny(struct proxy_route *r, struct proxy_event *ev, int status, const char *reason, const char *fmt,
     ...)
{
    va_list ap;

    r->d.allow = false;
    r->d.reason = reason;
    r->status = status;
    ev->allow = false;
    ev->reason = reason;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
    return false;
}

static void
set_rule(struct proxy_event *ev, const struct policy_decision *d)
{
    if (d->list)
        snprintf(ev->rule, sizeof(ev->rule), "%s[%d]", d->list, d->rule);
    else
        ev->rule[0] = '\0';
}

/* True when a is an address of this host (loopback, unspecified, or on an interface). */
static bool
is_local(const struct netaddr *a)
{
    enum netaddr_class cls = netaddr_classify(a);
    struct ifaddrs *ifa = NULL;
    bool local = false;

    if (cls == NETADDR_LOOPBACK || cls == NETADDR_UNSPECIFIED)
        return true;
    if (getifaddrs(&ifa) < 0)
        return true; /* cannot tell: treat as local, fail closed */
    for (struct ifaddrs *i = ifa; i && !local; i = i->ifa_next) {
        struct netaddr x;
        if (i->ifa_addr && netaddr_from_sockaddr(i->ifa_addr, &x) == 0 && x.family == a->family &&
            memcmp(x.bytes, a->bytes, sizeof(x.bytes)) == 0)
            local = true;
    }
    freeifaddrs(ifa);
    return local;
}

/* Adds a (with port) to r unless already there. */
static void
add_addr(struct proxy_route *r, const struct netaddr *a, uint16_t port)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;

    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, a->bytes, 4);
        len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        memcpy(&sin6->sin6_addr, a->bytes, 16);
        len = sizeof(*sin6);
    }
    for (size_t i = 0; i < r->naddrs; i++)
        if (r->addrlens[i] == len && memcmp(&r->addrs[i], &ss, len) == 0)
            return;
    if (r->naddrs < PROXY_ADDRS_MAX) {
        r->addrs[r->naddrs] = ss;
        r->addrlens[r->naddrs++] = len;
    }
}

/* Checks one address the request would connect to. */
static bool
check_addr(struct proxy *p, struct proxy_job *job, struct proxy_route *r, struct proxy_event *ev,
           const struct netaddr *a)
{
    char text[INET6_ADDRSTRLEN];
    struct policy_decision d;
    struct netaddr v4;

    netaddr_format(a, text, sizeof(text));
    if (r->req.port == p->d.cfg->listen_port &&
        (is_local(a) || (netaddr_unmap(a, &v4) && is_local(&v4)))) {
        ev->rule[0] = '\0'; /* no rule decided this: it is not the policy's to open */
        return deny(r, ev, 403, "daemon_port",
                    "%s:%u is the daemon's own API port; no policy can open it", text, r->req.port);
    }
    policy_decide_address(job->policy, &r->req, a, &d);
    if (!d.allow) {
        set_rule(ev, &d);
        if (strcmp(d.reason, POLICY_REASON_DENIED_BY_RULE) == 0)
            return deny(r, ev, 403, d.reason, "%s resolves to %s, which rule %s[%d] denies",
                        r->host.name, text, d.list, d.rule);
        return deny(r, ev, 403, d.reason,
                    "%s resolves to %s, a %s address; only an allow cidr rule for it and port "
                    "%u can open it",
                    r->host.name, text, netaddr_class_name(netaddr_classify(a)), r->req.port);
    }
    add_addr(r, a, r->req.port);
    return true;
}

/* Resolves the allowed name and checks every address. */
static bool
resolve(struct proxy *p, struct proxy_job *job, struct proxy_route *r, struct proxy_event *ev)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    bool ok = true;
    int g;

    if (r->host.is_ip)
        return check_addr(p, job, r, ev, &r->host.ip);
    g = getaddrinfo(r->host.name, NULL, &hints, &res);
    if (g != 0 || !res) {
        if (res)
            freeaddrinfo(res);
        return deny(r, ev, 502, "dns_failed", "%s could not be resolved: %s", r->host.name,
                    g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
    }
    for (struct addrinfo *ai = res; ai && ok; ai = ai->ai_next) {
        struct netaddr a;
        if (netaddr_from_sockaddr(ai->ai_addr, &a) < 0)
            continue;
        ok = check_addr(p, job, r, ev, &a);
    }
    freeaddrinfo(res);
    if (ok && r->naddrs == 0)
        return deny(r, ev, 502, "dns_failed", "%s has no IPv4 or IPv6 address", r->host.name);
    return ok;
}

bool
proxy_route(struct proxy *p, struct proxy_job *job, const char *host, size_t host_len,
            uint16_t port, const char *method, const char *path, size_t path_len,
            struct proxy_route *r, struct proxy_event *ev)
{
    struct err err = {0};

    r->naddrs = 0;
    r->why[0] = '\0';
    ev->port = port;
    if (policy_host_parse(host, host_len, &r->host, &err) < 0) {
        sanitize(ev->host, sizeof(ev->host), host, host_len);
        return deny(r, ev, 403, POLICY_REASON_BAD_HOST, "%s", err.message);
    }
    str_copy(ev->host, sizeof(ev->host), r->host.name);
    if (path) {
        if (path_len == 0) {
            path = "/";
            path_len = 1;
        }
        if (policy_path_normalize(path, path_len, r->path, sizeof(r->path), &err) < 0) {
            char raw[256];
            sanitize(raw, sizeof(raw), path, path_len);
            ev->path = strdup(raw);
            return deny(r, ev, 403, POLICY_REASON_BAD_PATH, "%s", err.message);
        }
        ev->path = strdup(r->path);
    }
    r->req = (struct policy_request){
        .kind = path ? POLICY_REQ_HTTP : POLICY_REQ_CONNECT,
        .host = &r->host,
        .port = port,
        .method = method,
        .path = path ? r->path : NULL,
    };
    policy_decide(job->policy, &r->req, &r->d);
    set_rule(ev, &r->d);
    if (!r->d.allow) {
        char why[sizeof(r->why)];
        policy_explain(&r->d, &r->req, why, sizeof(why));
        return deny(r, ev, 403, r->d.reason, "%s", why);
    }
    ev->allow = true;
    return resolve(p, job, r, ev);
}
