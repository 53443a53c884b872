/*
 * Unit tests for policy: the policy format and its error messages, host and path parsing
 * (every trick in the book that turns a name into 127.0.0.1 or a path into "/admin"), URL
 * parsing, and the decisions on names, literals and resolved addresses. Most cases are tables:
 * one row, one test, so a failure names the input.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/socket.h>

#include "policy.h"

/* Policies in tests are written with single quotes and turned into JSON here. */
static char *
sq(const char *s)
{
    char *j = strdup(s);

    cr_assert_not_null(j);
    for (char *c = j; *c; c++)
        if (*c == '\'')
            *c = '"';
    return j;
}

static int
parse_sq(const char *text, const struct policy_limits *defaults, struct policy **ret,
         struct err *err)
{
    char *j = sq(text);
    int r = policy_parse("test", j, strlen(j), defaults, ret, err);

    free(j);
    return r;
}

static struct policy *
parse_ok(const char *text)
{
    struct policy *p = NULL;
    struct err err = {0};
    int r = parse_sq(text, NULL, &p, &err);

    cr_assert_eq(r, 0, "parse failed: %s\n  policy: %s", err.message, text);
    cr_assert_not_null(p);
    return p;
}

/* The message of a policy that must fail. */
static void
parse_fails(const char *text, const char *want)
{
    struct policy *p = NULL;
    struct err err = {0};
    int r = parse_sq(text, NULL, &p, &err);

    cr_assert_eq(r, -EINVAL, "expected failure (%s) for %s", want, text);
    cr_assert_null(p);
    cr_assert_str_eq(err.code, "bad_policy");
    cr_assert_not_null(strstr(err.message, want), "message \"%s\" lacks \"%s\" (policy %s)",
                       err.message, want, text);
}

static char *
repeat(char c, size_t n)
{
    char *s = malloc(n + 1);

    cr_assert_not_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* A name of exactly len bytes: labels of 63 'a' separated by dots, the last one shorter. */
static char *
long_name(size_t len)
{
    char *s = repeat('a', len);

    for (size_t i = 63; i < len; i += 64)
        s[i] = '.';
    if (s[len - 1] == '.')
        s[len - 2] = '.', s[len - 1] = 'a'; /* never end on a dot */
    return s;
}

/* ==== host parsing ========================================================================== */

/* Criterion runs each test in a re-executed worker and hands it a copy of the parameter struct:
 * pointers inside it would point nowhere there, so strings are held inline. */
struct host_ok {
    char in[48];
    char name[48];
    bool is_ip;
    int family;
};

ParameterizedTestParameters(host, parse_ok)
{
    static struct host_ok cases[] = {
        {"example.com", "example.com", false, 0},
        {"EXAMPLE.com.", "example.com", false, 0},
        {"Example.COM", "example.com", false, 0},
        {"xn--bcher-kva.example", "xn--bcher-kva.example", false, 0},
        {"XN--BCHER-KVA.example", "xn--bcher-kva.example", false, 0},
        {"a_b.example.com", "a_b.example.com", false, 0},
        {"_srv._tcp.example.com", "_srv._tcp.example.com", false, 0},
        {"localhost", "localhost", false, 0},
        {"a", "a", false, 0},
        {"a.", "a", false, 0},
        {"1a.example", "1a.example", false, 0},
        {"example.1a", "example.1a", false, 0},
        {"123.example.com", "123.example.com", false, 0},
        {"1.2.3.com", "1.2.3.com", false, 0},
        {"example.0xg", "example.0xg", false, 0},
        {"0x7f.example", "0x7f.example", false, 0},
        {"a-.example.com", "a-.example.com", false, 0},
        {"-a.example.com", "-a.example.com", false, 0},
        {"a--b.example", "a--b.example", false, 0},
        {"1.2.3.4", "1.2.3.4", true, AF_INET},
        {"192.0.2.1", "192.0.2.1", true, AF_INET},
        {"0.0.0.0", "0.0.0.0", true, AF_INET},
        {"255.255.255.255", "255.255.255.255", true, AF_INET},
        {"127.0.0.1", "127.0.0.1", true, AF_INET},
        {"[::1]", "::1", true, AF_INET6},
        {"[::]", "::", true, AF_INET6},
        {"[2001:DB8::1]", "2001:db8::1", true, AF_INET6},
        {"[2001:db8:0:0:0:0:0:1]", "2001:db8::1", true, AF_INET6},
        {"[::ffff:127.0.0.1]", "::ffff:127.0.0.1", true, AF_INET6},
        {"[fe80::1]", "fe80::1", true, AF_INET6},
    };
    return cr_make_param_array(struct host_ok, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct host_ok *c, host, parse_ok)
{
    struct policy_host h;
    struct err err = {0};
    int r = policy_host_parse(c->in, strlen(c->in), &h, &err);

    cr_assert_eq(r, 0, "%s: %s", c->in, err.message);
    cr_assert_str_eq(h.name, c->name, "%s", c->in);
    cr_assert_eq(h.is_ip, c->is_ip, "%s", c->in);
    if (c->is_ip)
        cr_assert_eq(h.ip.family, c->family, "%s", c->in);
}

struct host_bad {
    char in[40];
    size_t len; /* 0: strlen(in) */
    char why[24];
};

ParameterizedTestParameters(host, parse_bad)
{
    static struct host_bad cases[] = {
        {"", 0, "empty host"},
        {".", 0, "empty host"},
        /* numeric forms resolvers would quietly turn into an address */
        {"2130706433", 0, "numeric"},
        {"0x7f.1", 0, "numeric"},
        {"0177.0.0.1", 0, "numeric"},
        {"127.1", 0, "numeric"},
        {"127.0.1", 0, "numeric"},
        {"127.0.0.1.", 0, "numeric"},
        {"1.2.3.04", 0, "numeric"},
        {"01.2.3.4", 0, "numeric"},
        {"0x7f000001", 0, "numeric"},
        {"0X7F000001", 0, "numeric"},
        {"0x7f.0x0.0x0.0x1", 0, "numeric"},
        {"0x", 0, "numeric"},
        {"0X", 0, "numeric"},
        {"example.0x", 0, "numeric"},
        {"example.0x1f", 0, "numeric"},
        {"example.123", 0, "numeric"},
        {"example.123.", 0, "numeric"},
        {"1.2.3", 0, "numeric"},
        {"1.2.3.4.5", 0, "numeric"},
        {"256.1.1.1", 0, "numeric"},
        {"1.2.3.256", 0, "numeric"},
        {"4294967295", 0, "numeric"},
        {"0", 0, "numeric"},
        {"00", 0, "numeric"},
        /* characters that have no place in a host */
        {"exa mple.com", 0, "spaces"},
        {" example.com", 0, "spaces"},
        {"example.com ", 0, "spaces"},
        {"exa%6dple.com", 0, "percent"},
        {"user@host", 0, "userinfo"},
        {"user:pw@host", 0, "userinfo"},
        {"ex\\ample", 0, "'/' or '\\'"},
        {"ex/ample", 0, "'/' or '\\'"},
        {"bücher.example", 0, "ASCII"},
        {"b\xfc"
         "cher.example",
         0, "ASCII"},
        {"exa\tmple.com", 0, "control"},
        {"exa\nmple.com", 0, "control"},
        {"example.com\r", 0, "control"},
        {"exa\x7fmple.com", 0, "control"},
        {"a\0b.com", 5, "control"},
        {"host:80", 0, "':'"},
        {"::1", 0, "':'"},
        {"a*b.com", 0, "only hold"},
        {"*.example.com", 0, "only hold"},
        {"ex?ample", 0, "only hold"},
        {"ex#ample", 0, "only hold"},
        {"ex,ample", 0, "only hold"},
        {"ex!ample", 0, "only hold"},
        {"example.com]", 0, "only hold"},
        /* labels */
        {"a..b", 0, "empty label"},
        {".a", 0, "empty label"},
        {"a..", 0, "empty label"},
        {"..", 0, "empty label"},
        {"example..com.", 0, "empty label"},
        /* brackets */
        {"[::1", 0, "closed"},
        {"[::1]x", 0, "closed"},
        {"[]", 0, "closed"},
        {"[1.2.3.4]", 0, "IPv6"},
        {"[example.com]", 0, "IPv6"},
        {"[::1]:80", 0, "closed"},
        {"[fe80::1%25eth0]", 0, "zone"},
        {"[fe80::1%eth0]", 0, "zone"},
        {"[::g]", 0, "IPv6"},
        {"[[::1]]", 0, "IPv6"},
        {"[:::1]", 0, "IPv6"},
    };
    return cr_make_param_array(struct host_bad, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct host_bad *c, host, parse_bad)
{
    struct policy_host h;
    struct err err = {0};
    size_t len = c->len ? c->len : strlen(c->in);

    h.name[0] = 'X';
    cr_assert_eq(policy_host_parse(c->in, len, &h, &err), -EINVAL, "accepted: %s", c->in);
    cr_assert_str_eq(err.code, "bad_host", "%s", c->in);
    cr_assert_not_null(strstr(err.message, c->why), "%s: message \"%s\" lacks \"%s\"", c->in,
                       err.message, c->why);
    cr_assert_eq(h.name[0], 'X', "ret written on failure");
}

Test(host, label_and_name_lengths)
{
    struct policy_host h;
    struct err err = {0};
    char *l63 = repeat('a', 63), *l64 = repeat('b', 64);
    char *n253 = long_name(253), *n254 = long_name(254);
    char buf[300];

    str_printf(buf, sizeof(buf), "%s.example", l63);
    cr_assert_eq(policy_host_parse(buf, strlen(buf), &h, &err), 0, "%s", err.message);
    str_printf(buf, sizeof(buf), "%s.example", l64);
    cr_assert_eq(policy_host_parse(buf, strlen(buf), &h, &err), -EINVAL);
    cr_assert_not_null(strstr(err.message, "longer than 63"));
    cr_assert_eq(strlen(n253), 253);
    cr_assert_eq(policy_host_parse(n253, 253, &h, &err), 0, "%s", err.message);
    cr_assert_str_eq(h.name, n253);
    str_printf(buf, sizeof(buf), "%s.", n253);
    cr_assert_eq(policy_host_parse(buf, strlen(buf), &h, &err), 0, "trailing dot after 253");
    cr_assert_eq(policy_host_parse(n254, 254, &h, &err), -EINVAL);
    cr_assert_not_null(strstr(err.message, "longer than 253"));
    free(l63);
    free(l64);
    free(n253);
    free(n254);
}

Test(host, reads_only_len_bytes)
{
    struct policy_host h;
    struct err err = {0};

    cr_assert_eq(policy_host_parse("example.com:443", 11, &h, &err), 0, "%s", err.message);
    cr_assert_str_eq(h.name, "example.com");
    cr_assert_eq(policy_host_parse("[::1]:443", 5, &h, &err), 0, "%s", err.message);
    cr_assert_str_eq(h.name, "::1");
}

/* ==== path normalisation ==================================================================== */

struct path_ok {
    char in[40];
    char out[40];
};

ParameterizedTestParameters(path, normalize_ok)
{
    static struct path_ok cases[] = {
        {"", "/"},
        {"/", "/"},
        {"?x", "/"},
        {"#x", "/"},
        {"/a/../b", "/b"},
        {"/api/./v1", "/api/v1"},
        {"/%41", "/A"},
        {"/%7Euser", "/~user"},
        {"/%7euser", "/~user"},
        {"/%2D%2E%5F%7E", "/-._~"},
        {"/%61%62%63", "/abc"},
        {"/a?x=../../", "/a"},
        {"/a?x#y", "/a"},
        {"/a#../../", "/a"},
        {"/a/b/..", "/a/"},
        {"/a/b/../", "/a/"},
        {"/a/b/.", "/a/b/"},
        {"/a/./", "/a/"},
        {"/.", "/"},
        {"/./", "/"},
        {"/a/.", "/a/"},
        {"/a/..", "/"},
        {"/a/b/c/../../../", "/"},
        {"/a/b/../../c", "/c"},
        {"/a/./b/./c", "/a/b/c"},
        {"//", "//"},
        {"/a//b", "/a//b"},
        {"/a//../b", "/a/b"},
        {"//..", "/"},
        {"/...", "/..."},
        {"/a/.../b", "/a/.../b"},
        {"/a/..b", "/a/..b"},
        {"/a/b..", "/a/b.."},
        {"/.a", "/.a"},
        {"/%2Ex", "/.x"},
        {"/x%2E", "/x."},
        {"/a/%2e%2ex", "/a/..x"},
        {"/a%3ab", "/a%3Ab"},
        {"/a%3Ab", "/a%3Ab"},
        {"/a%20b", "/a%20b"},
        {"/a b", "/a%20b"},
        {"/a|b", "/a%7Cb"},
        {"/a\"b", "/a%22b"},
        {"/<x>", "/%3Cx%3E"},
        {"/{x}", "/%7Bx%7D"},
        {"/[x]^`", "/%5Bx%5D%5E%60"},
        {"/a%25b", "/a%25b"},
        {"/a%3fb", "/a%3Fb"},
        {"/a%23b", "/a%23b"},
        {"/%C3%BC", "/%C3%BC"},
        {"/%c3%bc", "/%C3%BC"},
        {"/%0a", "/%0A"},
        {"/!$&'()*+,;=:@", "/!$&'()*+,;=:@"},
        {"/a/b/c.html", "/a/b/c.html"},
        {"/simple/requests/", "/simple/requests/"},
    };
    return cr_make_param_array(struct path_ok, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct path_ok *c, path, normalize_ok)
{
    char out[PATH_MAX_URL + 1], again[PATH_MAX_URL + 1];
    struct err err = {0};

    cr_assert_eq(policy_path_normalize(c->in, strlen(c->in), out, sizeof(out), &err), 0, "%s: %s",
                 c->in, err.message);
    cr_assert_str_eq(out, c->out, "%s", c->in);
    /* A normalised path is a fixed point. */
    cr_assert_eq(policy_path_normalize(out, strlen(out), again, sizeof(again), &err), 0);
    cr_assert_str_eq(again, out);
}

struct path_bad {
    char in[40];
    size_t len;
    char why[24];
};

ParameterizedTestParameters(path, normalize_bad)
{
    static struct path_bad cases[] = {
        {"/../x", 0, "above the root"},
        {"/..", 0, "above the root"},
        {"/../", 0, "above the root"},
        {"/a/../..", 0, "above the root"},
        {"/a/../../b", 0, "above the root"},
        {"/a/b/../../../c", 0, "above the root"},
        {"/./../x", 0, "above the root"},
        {"/a/%2e%2e/b", 0, "percent-escapes"},
        {"/%2E%2E/", 0, "percent-escapes"},
        {"/%2e%2e", 0, "percent-escapes"},
        {"/.%2e/", 0, "percent-escapes"},
        {"/%2e./", 0, "percent-escapes"},
        {"/%2e", 0, "percent-escapes"},
        {"/a/%2E/b", 0, "percent-escapes"},
        {"/a%2fb", 0, "encoded '/'"},
        {"/a%2Fb", 0, "encoded '/'"},
        {"/%2F", 0, "encoded '/'"},
        {"/a%5cb", 0, "encoded '\\'"},
        {"/a%5Cb", 0, "encoded '\\'"},
        {"/a%00b", 0, "NUL"},
        {"/a%G1", 0, "two hex digits"},
        {"/a%1G", 0, "two hex digits"},
        {"/a%", 0, "two hex digits"},
        {"/a%4", 0, "two hex digits"},
        {"/a%4?x", 0, "two hex digits"},
        {"/a%%41", 0, "two hex digits"},
        {"/a\\b", 0, "'\\'"},
        {"/a\\..\\b", 0, "'\\'"},
        {"/a\tb", 0, "control"},
        {"/a\nb", 0, "control"},
        {"/a\rb", 0, "control"},
        {"/a\x7f", 0, "control"},
        {"/a\0b", 4, "control"},
        {"/a\x80", 0, "ASCII"},
        {"/bücher", 0, "ASCII"},
        {"a/b", 0, "start with '/'"},
        {"*", 0, "start with '/'"},
        {"http://x/", 0, "start with '/'"},
        {".", 0, "start with '/'"},
    };
    return cr_make_param_array(struct path_bad, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct path_bad *c, path, normalize_bad)
{
    char out[256];
    struct err err = {0};
    size_t len = c->len ? c->len : strlen(c->in);

    cr_assert_eq(policy_path_normalize(c->in, len, out, sizeof(out), &err), -EINVAL,
                 "accepted: %s -> %s", c->in, out);
    cr_assert_str_eq(err.code, "bad_path", "%s", c->in);
    cr_assert_not_null(strstr(err.message, c->why), "%s: message \"%s\" lacks \"%s\"", c->in,
                       err.message, c->why);
}

Test(path, output_buffer_bounds)
{
    char out[8];
    struct err err = {0};

    cr_assert_eq(policy_path_normalize("/abcdef", 7, out, sizeof(out), &err), 0);
    cr_assert_str_eq(out, "/abcdef");
    cr_assert_eq(policy_path_normalize("/abcdefg", 8, out, sizeof(out), &err), -EINVAL);
    cr_assert_not_null(strstr(err.message, "too long"));
    cr_assert_eq(policy_path_normalize("/a b c", 6, out, sizeof(out), &err), -EINVAL,
                 "encoding grows the path past the buffer");
    cr_assert_eq(policy_path_normalize("/", 1, out, 1, &err), -EINVAL);
    cr_assert_eq(policy_path_normalize("/a", 2, out, 2, &err), -EINVAL);
    cr_assert_eq(policy_path_normalize("", 0, out, 2, &err), 0);
    cr_assert_str_eq(out, "/");
}

Test(path, reads_only_len_bytes)
{
    char out[64];
    struct err err = {0};

    cr_assert_eq(policy_path_normalize("/a/b/../c", 4, out, sizeof(out), &err), 0);
    cr_assert_str_eq(out, "/a/b");
}

/* ==== URL parsing =========================================================================== */

struct url_ok {
    char url[64];
    bool https;
    char host[32];
    uint16_t port;
    char path[16];
};

ParameterizedTestParameters(url, parse_ok)
{
    static struct url_ok cases[] = {
        {"https://pypi.org/", true, "pypi.org", 443, "/"},
        {"https://pypi.org/simple/", true, "pypi.org", 443, "/simple/"},
        {"https://pypi.org", true, "pypi.org", 443, "/"},
        {"http://example.com", false, "example.com", 80, "/"},
        {"HTTP://Example.COM./A", false, "example.com", 80, "/A"},
        {"hTTpS://x.org:65535", true, "x.org", 65535, "/"},
        {"http://x.org:1/", false, "x.org", 1, "/"},
        {"http://x.org:443/", false, "x.org", 443, "/"},
        {"https://x.org:80/", true, "x.org", 80, "/"},
        {"https://example.com:8443/a/../b?q=1", true, "example.com", 8443, "/b"},
        {"https://example.com?x", true, "example.com", 443, "/"},
        {"https://example.com#f", true, "example.com", 443, "/"},
        {"https://example.com/a?b=/../..#c", true, "example.com", 443, "/a"},
        {"http://[::1]:8080/x", false, "::1", 8080, "/x"},
        {"http://[::1]/x", false, "::1", 80, "/x"},
        {"https://[2001:DB8::1]", true, "2001:db8::1", 443, "/"},
        {"http://1.2.3.4/", false, "1.2.3.4", 80, "/"},
        {"http://10.20.1.2:8080/api", false, "10.20.1.2", 8080, "/api"},
        {"http://x.org/%7Ea/./b", false, "x.org", 80, "/~a/b"},
    };
    return cr_make_param_array(struct url_ok, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct url_ok *c, url, parse_ok)
{
    struct policy_url *u = calloc(1, sizeof(*u));
    struct err err = {0};

    cr_assert_not_null(u);
    cr_assert_eq(policy_url_parse(c->url, u, &err), 0, "%s: %s", c->url, err.message);
    cr_assert_eq(u->https, c->https, "%s", c->url);
    cr_assert_str_eq(u->host.name, c->host, "%s", c->url);
    cr_assert_eq(u->port, c->port, "%s", c->url);
    cr_assert_str_eq(u->path, c->path, "%s", c->url);
    free(u);
}

struct url_bad {
    char url[40];
    char code[12];
};

ParameterizedTestParameters(url, parse_bad)
{
    static struct url_bad cases[] = {
        {"", "scheme"},
        {"ftp://example.com/", "scheme"},
        {"file:///etc/passwd", "scheme"},
        {"gopher://x/", "scheme"},
        {"ws://x/", "scheme"},
        {"http:/x", "scheme"},
        {"http:x", "scheme"},
        {"httpx://x", "scheme"},
        {"https:x", "scheme"},
        {"//example.com/", "scheme"},
        {" http://x/", "scheme"},
        {"example.com", "scheme"},
        {"http://user@x/", "bad_host"},
        {"http://user:pw@x/", "bad_host"},
        {"http://@x/", "bad_host"},
        {"http://evil.com\\@good.com/", "bad_host"},
        {"http://evil.com\\.good.com/", "bad_host"},
        {"http:///", "bad_host"},
        {"http://", "bad_host"},
        {"http://:80/", "bad_host"},
        {"http://2130706433/", "bad_host"},
        {"http://0x7f.1/", "bad_host"},
        {"http://127.1/", "bad_host"},
        {"http://0177.0.0.1/", "bad_host"},
        {"http://127.0.0.1./", "bad_host"},
        {"http://[::1/", "bad_host"},
        {"http://[::1]x/", "bad_host"},
        {"http://[1.2.3.4]/", "bad_host"},
        {"http://[fe80::1%25eth0]/", "bad_host"},
        {"http://a b/", "bad_host"},
        {"http://exa%6dple.com/", "bad_host"},
        {"http://bücher.example/", "bad_host"},
        {"http://x:0/", "bad_port"},
        {"http://x:00080/", "bad_port"},
        {"http://x:08/", "bad_port"},
        {"http://x:65536/", "bad_port"},
        {"http://x:99999/", "bad_port"},
        {"http://x:123456/", "bad_port"},
        {"http://x:/", "bad_port"},
        {"http://x:+80/", "bad_port"},
        {"http://x:-1/", "bad_port"},
        {"http://x:80a/", "bad_port"},
        {"http://x: 80/", "bad_port"},
        {"http://x:80:80/", "bad_port"},
        {"http://[::1]:/", "bad_port"},
        {"http://[::1]:0/", "bad_port"},
        {"http://x/%2e%2e/", "bad_path"},
        {"http://x/../", "bad_path"},
        {"http://x/a%2fb", "bad_path"},
        {"http://x/a b\n", "bad_path"},
        {"http://x/\\", "bad_path"},
    };
    return cr_make_param_array(struct url_bad, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct url_bad *c, url, parse_bad)
{
    struct policy_url *u = calloc(1, sizeof(*u));
    struct err err = {0};

    cr_assert_not_null(u);
    u->port = 7;
    cr_assert_lt(policy_url_parse(c->url, u, &err), 0, "accepted: %s", c->url);
    cr_assert_str_eq(err.code, c->code, "%s: %s (%s)", c->url, err.code, err.message);
    cr_assert_eq(u->port, 7, "ret written on failure");
    free(u);
}

Test(url, too_long)
{
    size_t n = URL_MAX + 1;
    char *url = repeat('a', n);
    struct policy_url *u = calloc(1, sizeof(*u));
    struct err err = {0};

    cr_assert_not_null(u);
    memcpy(url, "http://x.org/", 13);
    cr_assert_eq(policy_url_parse(url, u, &err), -EINVAL);
    cr_assert_str_eq(err.code, "bad_url");
    url[URL_MAX] = '\0';
    cr_assert_eq(policy_url_parse(url, u, &err), 0, "%s", err.message);
    cr_assert_eq(strlen(u->path), URL_MAX - 12);
    free(url);
    free(u);
}

/* ==== the format: errors ==================================================================== */

struct bad_policy {
    char text[160];
    char why[120];
};

ParameterizedTestParameters(format, errors)
{
    static struct bad_policy cases[] = {
        /* JSON itself */
        {"", "line 1"},
        {"{", "line 1"},
        {"{'a':1,}", "line 1"},
        {"{} {}", "end of file expected"},
        {"[]", "top level: must be a JSON object"},
        {"'x'", "line 1"},
        {"{'description':'a','description':'b'}", "duplicate object key"},
        {"{'network':{'allow':[],'allow':[]}}", "duplicate object key"},
        {"{'description':'\\u0000'}", "line 1"},
        /* top level */
        {"{'a':1}", "a: unknown key (expected description, filesystem, network, limits)"},
        {"{'Network':{}}", "Network: unknown key"},
        {"{'name':'x'}", "name: unknown key"},
        {"{'description':1}", "description: must be a string of at most 1024 bytes"},
        {"{'description':null}", "description: must be a string"},
        /* filesystem */
        {"{'filesystem':[]}", "filesystem: must be an object"},
        {"{'filesystem':null}", "filesystem: must be an object"},
        {"{'filesystem':{'rw':[]}}", "filesystem.rw: unknown key"},
        {"{'filesystem':{'read_only':'/usr'}}", "filesystem.read_only: must be an array"},
        {"{'filesystem':{'read_write':{}}}", "filesystem.read_write: must be an array"},
        {"{'filesystem':{'read_only':[1]}}", "filesystem.read_only[0]: must be a string"},
        {"{'filesystem':{'read_only':['usr']}}",
         "filesystem.read_only[0]: \"usr\": must be an absolute path"},
        {"{'filesystem':{'read_only':['']}}", "filesystem.read_only[0]: \"\": must be an absolute"},
        {"{'filesystem':{'read_only':['/']}}", "cannot be \"/\""},
        {"{'filesystem':{'read_write':['/usr','/']}}", "filesystem.read_write[1]: \"/\": cannot"},
        {"{'filesystem':{'read_only':['/usr/']}}", "\"/usr/\": cannot end with '/'"},
        {"{'filesystem':{'read_only':['/usr/../etc']}}", "\"..\" segments"},
        {"{'filesystem':{'read_only':['/usr/..']}}", "\"..\" segments"},
        {"{'filesystem':{'read_only':['/..']}}", "\"..\" segments"},
        {"{'filesystem':{'read_only':['/usr/./lib']}}", "\".\" or"},
        {"{'filesystem':{'read_only':['/.']}}", "\".\" or"},
        {"{'filesystem':{'read_only':['//usr']}}", "\"//\""},
        {"{'filesystem':{'read_only':['/usr//lib']}}", "\"//\""},
        {"{'filesystem':{'read_only':['/a\\u0001b']}}", "\"/a\\x01b\": cannot hold control"},
        {"{'filesystem':{'read_only':['/a\\nb']}}", "control"},
        {"{'filesystem':{'read_only':['/usr','/usr']}}",
         "filesystem.read_only[1]: \"/usr\": is listed twice"},
        {"{'filesystem':{'read_only':['/data'],'read_write':['/data']}}",
         "filesystem.read_write[0]: \"/data\": is also in filesystem.read_only"},
        /* network */
        {"{'network':[]}", "network: must be an object"},
        {"{'network':true}", "network: must be an object"},
        {"{'network':{'allowed':[]}}", "network.allowed: unknown key (expected allow, deny)"},
        {"{'network':{'allow':{}}}", "network.allow: must be an array of rules"},
        {"{'network':{'deny':'x'}}", "network.deny: must be an array of rules"},
        {"{'network':{'allow':[1]}}", "network.allow[0]: must be an object"},
        {"{'network':{'allow':[[]]}}", "network.allow[0]: must be an object"},
        {"{'network':{'allow':[{}]}}", "network.allow[0]: needs exactly one of"},
        {"{'network':{'allow':[{'ports':[80]}]}}", "network.allow[0]: needs exactly one of"},
        {"{'network':{'allow':[{'host':'a.com','cidr':'10.0.0.0/8'}]}}",
         "network.allow[0]: needs exactly one of \"host\" or \"cidr\""},
        {"{'network':{'allow':[{'hosts':'a.com'}]}}",
         "network.allow[0].hosts: unknown key (expected host, cidr, ports, methods, paths, "
         "comment)"},
        {"{'network':{'allow':[{'host':'a.com','port':80}]}}", "network.allow[0].port: unknown"},
        {"{'network':{'allow':[{'host':'a.com'},{'host':'b.com','x':1}]}}",
         "network.allow[1].x: unknown key"},
        {"{'network':{'deny':[{'host':'a.com','Ports':[1]}]}}", "network.deny[0].Ports: unknown"},
        /* host rules */
        {"{'network':{'allow':[{'host':1}]}}", "network.allow[0].host: must be a string"},
        {"{'network':{'allow':[{'host':null}]}}", "network.allow[0].host: must be a string"},
        {"{'network':{'allow':[{'host':''}]}}", "network.allow[0].host: \"\": empty host"},
        {"{'network':{'allow':[{'host':'.'}]}}", "empty host"},
        {"{'network':{'allow':[{'host':'*.'}]}}",
         "network.allow[0].host: \"*.\": a wildcard must be followed by a name"},
        {"{'network':{'allow':[{'host':'*..'}]}}", "a wildcard must be followed by a name"},
        {"{'network':{'allow':[{'host':'*'}]}}", "\"*\": a rule cannot match every host"},
        {"{'network':{'allow':[{'host':'*.*.x.com'}]}}", "whole first label"},
        {"{'network':{'allow':[{'host':'a.*.b.com'}]}}", "whole first label"},
        {"{'network':{'allow':[{'host':'a*b.com'}]}}", "whole first label"},
        {"{'network':{'allow':[{'host':'*a.com'}]}}", "whole first label"},
        {"{'network':{'allow':[{'host':'**.com'}]}}", "whole first label"},
        {"{'network':{'allow':[{'host':'a.com*'}]}}", "whole first label"},
        {"{'network':{'allow':[{'host':'*..com'}]}}", "empty label"},
        {"{'network':{'allow':[{'host':'a..b'}]}}", "\"a..b\": a host cannot have an empty"},
        {"{'network':{'allow':[{'host':'.a.com'}]}}", "empty label"},
        {"{'network':{'allow':[{'host':'a.com..'}]}}", "empty label"},
        {"{'network':{'allow':[{'host':'exa mple.com'}]}}", "spaces"},
        {"{'network':{'allow':[{'host':'bücher.example'}]}}", "punycode"},
        {"{'network':{'allow':[{'host':'exa%6dple.com'}]}}", "percent"},
        {"{'network':{'allow':[{'host':'a/b.com'}]}}", "'/'"},
        {"{'network':{'allow':[{'host':'user@a.com'}]}}", "userinfo"},
        {"{'network':{'allow':[{'host':'a.com:443'}]}}", "':'"},
        {"{'network':{'allow':[{'host':'-a.com'}]}}", "cannot start or end with '-'"},
        {"{'network':{'allow':[{'host':'a-.com'}]}}", "cannot start or end with '-'"},
        {"{'network':{'allow':[{'host':'a.b-'}]}}", "cannot start or end with '-'"},
        {"{'network':{'allow':[{'host':'*.-a.com'}]}}", "cannot start or end with '-'"},
        {"{'network':{'allow':[{'host':'10.0.0.1'}]}}",
         "network.allow[0].host: \"10.0.0.1\": an address, not a name: use a cidr rule"},
        {"{'network':{'allow':[{'host':'127.1'}]}}", "use a cidr rule for addresses"},
        {"{'network':{'allow':[{'host':'2130706433'}]}}", "use a cidr rule for addresses"},
        {"{'network':{'allow':[{'host':'0x7f.1'}]}}", "use a cidr rule for addresses"},
        {"{'network':{'allow':[{'host':'127.0.0.1.'}]}}", "use a cidr rule for addresses"},
        {"{'network':{'allow':[{'host':'example.123'}]}}", "use a cidr rule for addresses"},
        {"{'network':{'allow':[{'host':'*.10.0.0.1'}]}}", "use a cidr rule for addresses"},
        {"{'network':{'allow':[{'host':'[::1]'}]}}", "use a cidr rule for addresses"},
        {"{'network':{'allow':[{'host':'::1'}]}}", "':'"},
        {"{'network':{'allow':[{'host':'a.com','cidr':null}]}}", "needs exactly one"},
        /* cidr rules */
        {"{'network':{'allow':[{'cidr':5}]}}", "network.allow[0].cidr: must be a string"},
        {"{'network':{'allow':[{'cidr':'10.0.0.0/33'}]}}",
         "network.allow[0].cidr: \"10.0.0.0/33\": not an address block"},
        {"{'network':{'allow':[{'cidr':'10.0.0.1/8'}]}}", "\"10.0.0.1/8\": not an address block"},
        {"{'network':{'allow':[{'cidr':'10.0.0.0'}]}}", "\"10.0.0.0\": not an address block"},
        {"{'network':{'allow':[{'cidr':'example.com/8'}]}}", "not an address block"},
        {"{'network':{'allow':[{'cidr':'::1/129'}]}}", "not an address block"},
        {"{'network':{'allow':[{'cidr':'127.1/8'}]}}", "not an address block"},
        {"{'network':{'allow':[{'cidr':''}]}}", "not an address block"},
        {"{'network':{'deny':[{'cidr':'10.0.0.0/-1'}]}}", "network.deny[0].cidr"},
        /* ports */
        {"{'network':{'allow':[{'host':'a.com','ports':[]}]}}",
         "network.allow[0].ports: must be a non-empty array of port numbers"},
        {"{'network':{'allow':[{'host':'a.com','ports':443}]}}", "ports: must be a non-empty"},
        {"{'network':{'allow':[{'host':'a.com','ports':null}]}}", "ports: must be a non-empty"},
        {"{'network':{'allow':[{'host':'a.com','ports':[0]}]}}",
         "network.allow[0].ports[0]: must be an integer from 1 to 65535"},
        {"{'network':{'allow':[{'host':'a.com','ports':[80,65536]}]}}",
         "network.allow[0].ports[1]: must be an integer from 1 to 65535"},
        {"{'network':{'allow':[{'host':'a.com','ports':[-443]}]}}", "ports[0]: must be an int"},
        {"{'network':{'allow':[{'host':'a.com','ports':['443']}]}}", "ports[0]: must be an int"},
        {"{'network':{'allow':[{'host':'a.com','ports':[443.0]}]}}", "ports[0]: must be an int"},
        {"{'network':{'allow':[{'host':'a.com','ports':[true]}]}}", "ports[0]: must be an int"},
        {"{'network':{'allow':[{'host':'a.com','ports':[null]}]}}", "ports[0]: must be an int"},
        {"{'network':{'allow':[{'host':'a.com','ports':[443,80,443]}]}}",
         "ports[2]: 443 is listed twice"},
        /* methods */
        {"{'network':{'allow':[{'host':'a.com','methods':[]}]}}",
         "network.allow[0].methods: must be a non-empty array of methods"},
        {"{'network':{'allow':[{'host':'a.com','methods':'GET'}]}}", "methods: must be a non-e"},
        {"{'network':{'allow':[{'host':'a.com','methods':['get']}]}}",
         "network.allow[0].methods[0]: \"get\": must be one of GET, HEAD, POST, PUT, DELETE, "
         "PATCH, OPTIONS (upper case)"},
        {"{'network':{'allow':[{'host':'a.com','methods':['Get']}]}}", "\"Get\": must be one of"},
        {"{'network':{'allow':[{'host':'a.com','methods':['GET','CONNECT']}]}}",
         "methods[1]: \"CONNECT\": must be one of"},
        {"{'network':{'allow':[{'host':'a.com','methods':['TRACE']}]}}", "\"TRACE\": must be"},
        {"{'network':{'allow':[{'host':'a.com','methods':['GET ']}]}}", "\"GET \": must be"},
        {"{'network':{'allow':[{'host':'a.com','methods':['']}]}}", "\"\": must be one of"},
        {"{'network':{'allow':[{'host':'a.com','methods':[1]}]}}", "methods[0]: must be a string"},
        {"{'network':{'allow':[{'host':'a.com','methods':['GET','GET']}]}}",
         "methods[1]: GET is listed twice"},
        /* paths */
        {"{'network':{'allow':[{'host':'a.com','paths':[]}]}}",
         "network.allow[0].paths: must be a non-empty array of paths"},
        {"{'network':{'allow':[{'host':'a.com','paths':'/api'}]}}", "paths: must be a non-emp"},
        {"{'network':{'allow':[{'host':'a.com','paths':[1]}]}}", "paths[0]: must be a string"},
        {"{'network':{'allow':[{'host':'a.com','paths':['api']}]}}",
         "network.allow[0].paths[0]: \"api\": must start with '/'"},
        {"{'network':{'allow':[{'host':'a.com','paths':['']}]}}", "\"\": must start with '/'"},
        {"{'network':{'allow':[{'host':'a.com','paths':['/a/../../b']}]}}",
         "network.allow[0].paths[0]: \"/a/../../b\": a path cannot climb above the root"},
        {"{'network':{'allow':[{'host':'a.com','paths':['/a%2fb']}]}}", "encoded '/'"},
        {"{'network':{'allow':[{'host':'a.com','paths':['/%2e%2e/x']}]}}", "percent-escapes"},
        {"{'network':{'allow':[{'host':'a.com','paths':['/a%zz']}]}}", "two hex digits"},
        {"{'network':{'allow':[{'host':'a.com','paths':['/a?x=1']}]}}", "query or fragment"},
        {"{'network':{'allow':[{'host':'a.com','paths':['/a#x']}]}}", "query or fragment"},
        {"{'network':{'allow':[{'host':'a.com','paths':['/a\\\\b']}]}}", "'\\'"},
        {"{'network':{'allow':[{'host':'a.com','paths':['/a/b','/a/./b']}]}}",
         "paths[1]: \"/a/./b\": is listed twice (normalised: \"/a/b\")"},
        {"{'network':{'allow':[{'host':'a.com','paths':['/%41','/A']}]}}", "listed twice"},
        /* comment */
        {"{'network':{'allow':[{'host':'a.com','comment':1}]}}",
         "network.allow[0].comment: must be a string"},
        {"{'network':{'deny':[{'host':'a.com','comment':['x']}]}}",
         "network.deny[0].comment: must be a string"},
        /* limits */
        {"{'limits':[]}", "limits: must be an object"},
        {"{'limits':{'pid':1}}",
         "limits.pid: unknown key (expected timeout_s, memory_mb, pids, cpu_s, output_bytes, "
         "disk_mb)"},
        {"{'limits':{'pids':0}}", "limits.pids: must be an integer from 1 to 65536"},
        {"{'limits':{'pids':65537}}", "limits.pids: must be an integer from 1 to 65536"},
        {"{'limits':{'pids':-1}}", "limits.pids: must be an integer"},
        {"{'limits':{'pids':'1'}}", "limits.pids: must be an integer"},
        {"{'limits':{'pids':1.0}}", "limits.pids: must be an integer"},
        {"{'limits':{'pids':1e3}}", "limits.pids: must be an integer"},
        {"{'limits':{'pids':true}}", "limits.pids: must be an integer"},
        {"{'limits':{'pids':null}}", "limits.pids: must be an integer"},
        {"{'limits':{'timeout_s':604801}}",
         "limits.timeout_s: must be an integer from 1 to 604800"},
        {"{'limits':{'timeout_s':0}}", "limits.timeout_s: must be an integer from 1 to 604800"},
        {"{'limits':{'cpu_s':604801}}", "limits.cpu_s: must be an integer from 1 to 604800"},
        {"{'limits':{'memory_mb':1048577}}",
         "limits.memory_mb: must be an integer from 1 to 1048576"},
        {"{'limits':{'output_bytes':1099511627777}}",
         "limits.output_bytes: must be an integer from 1 to 1099511627776"},
        {"{'limits':{'disk_mb':16777217}}",
         "limits.disk_mb: must be an integer from 1 to 16777216"},
        {"{'limits':{'disk_mb':99999999999999999999}}", "line 1"},
        /* the first error wins, in a fixed order of sections */
        {"{'limits':{'pids':0},'network':{'allow':[1]}}", "network.allow[0]"},
    };
    return cr_make_param_array(struct bad_policy, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct bad_policy *c, format, errors)
{
    parse_fails(c->text, c->why);
}

Test(format, spec_messages_exact)
{
    struct policy *p = NULL;
    struct err err = {0};

    cr_assert_eq(parse_sq("{'network':{'allow':[{'host':'a.com'},{'host':'b.com'},{'host':'*.'}]}}",
                          NULL, &p, &err),
                 -EINVAL);
    cr_assert_str_eq(err.message, "network.allow[2].host: \"*.\": a wildcard must be followed "
                                  "by a name");
    cr_assert_eq(parse_sq("{'limits':{'pids':0}}", NULL, &p, &err), -EINVAL);
    cr_assert_str_eq(err.message, "limits.pids: must be an integer from 1 to 65536");
    cr_assert_eq(parse_sq("{'network':{'allow':[{'cidr':'10.0.0.0/33'}]}}", NULL, &p, &err),
                 -EINVAL);
    cr_assert_not_null(strstr(err.message, "\"10.0.0.0/33\""));
    cr_assert_null(p);
}

Test(format, name_is_checked)
{
    static const char *bad[] = {"", "Default", ".x", "-x", "a/b", "a b", "x\n"};
    struct policy *p = NULL;
    struct err err = {0};
    char *n65 = repeat('a', POLICY_NAME_MAX + 1);

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        cr_assert_eq(policy_parse(bad[i], "{}", 2, NULL, &p, &err), -EINVAL, "%s", bad[i]);
        cr_assert_not_null(strstr(err.message, "policy name"));
    }
    cr_assert_eq(policy_parse(NULL, "{}", 2, NULL, &p, &err), -EINVAL);
    cr_assert_eq(policy_parse(n65, "{}", 2, NULL, &p, &err), -EINVAL);
    n65[POLICY_NAME_MAX] = '\0';
    cr_assert_eq(policy_parse(n65, "{}", 2, NULL, &p, &err), 0, "%s", err.message);
    cr_assert_str_eq(policy_name(p), n65);
    policy_unref(p);
    cr_assert_eq(policy_parse("py-pi_2.x", "{}", 2, NULL, &p, &err), 0, "%s", err.message);
    policy_unref(p);
    free(n65);
}

Test(format, sizes)
{
    struct policy *p = NULL;
    struct err err = {0};
    size_t n = POLICY_FILE_MAX + 1;
    char *big = repeat(' ', n);

    big[0] = '{';
    big[n - 1] = '}';
    cr_assert_eq(policy_parse("big", big, n, NULL, &p, &err), -EINVAL);
    cr_assert_not_null(strstr(err.message, "at most 262144 bytes"));
    big[n - 2] = '}';
    cr_assert_eq(policy_parse("big", big, n - 1, NULL, &p, &err), 0, "%s", err.message);
    policy_unref(p);
    free(big);
}

Test(format, depth)
{
    char text[256];
    struct policy *p = NULL;
    struct err err = {0};
    size_t o = 0;

    o += (size_t)str_printf(text, sizeof(text), "{\"description\":");
    for (int i = 0; i < 40; i++)
        text[o++] = '[';
    for (int i = 0; i < 40; i++)
        text[o++] = ']';
    text[o++] = '}';
    text[o] = '\0';
    cr_assert_eq(policy_parse("deep", text, o, NULL, &p, &err), -EINVAL);
    cr_assert_not_null(strstr(err.message, "nested deeper"), "%s", err.message);
}

Test(format, description_length)
{
    char *d = repeat('d', POLICY_DESCRIPTION_MAX + 1);
    char *text = malloc(POLICY_DESCRIPTION_MAX + 64);
    struct policy *p = NULL;
    struct err err = {0};

    cr_assert_not_null(text);
    str_printf(text, POLICY_DESCRIPTION_MAX + 64, "{\"description\":\"%s\"}", d);
    cr_assert_eq(policy_parse("d", text, strlen(text), NULL, &p, &err), -EINVAL);
    cr_assert_not_null(strstr(err.message, "description: must be a string of at most 1024"));
    d[POLICY_DESCRIPTION_MAX] = '\0';
    str_printf(text, POLICY_DESCRIPTION_MAX + 64, "{\"description\":\"%s\"}", d);
    cr_assert_eq(policy_parse("d", text, strlen(text), NULL, &p, &err), 0, "%s", err.message);
    cr_assert_str_eq(policy_description(p), d);
    policy_unref(p);
    free(d);
    free(text);
}

/* Builds {"network":{"allow":[n rules]}} or another list of n items into a fresh string. */
static char *
many(const char *head, const char *item, size_t n, const char *tail)
{
    size_t cap = strlen(head) + n * (strlen(item) + 16) + strlen(tail) + 1;
    char *s = malloc(cap);
    size_t o = 0;

    cr_assert_not_null(s);
    o += (size_t)str_printf(s, cap, "%s", head);
    for (size_t i = 0; i < n; i++)
        o += (size_t)str_printf(s + o, cap - o, i ? ",%s" : "%s", item);
    str_printf(s + o, cap - o, "%s", tail);
    return s;
}

static void
count_limit(const char *head, const char *item, size_t max, const char *tail, const char *why)
{
    struct policy *p = NULL;
    struct err err = {0};
    char *ok = many(head, item, max, tail), *bad = many(head, item, max + 1, tail);

    cr_assert_eq(policy_parse("n", ok, strlen(ok), NULL, &p, &err), 0, "%s", err.message);
    policy_unref(p);
    cr_assert_eq(policy_parse("n", bad, strlen(bad), NULL, &p, &err), -EINVAL);
    cr_assert_not_null(strstr(err.message, why), "%s", err.message);
    free(ok);
    free(bad);
}

Test(format, counts)
{
    count_limit("{\"network\":{\"allow\":[", "{\"host\":\"a.com\"}", POLICY_RULES_MAX, "]}}",
                "network: at most 1024 rules");
    count_limit("{\"network\":{\"allow\":[{\"host\":\"a.com\"}],\"deny\":[", "{\"host\":\"a.com\"}",
                POLICY_RULES_MAX - 1, "]}}", "network: at most 1024 rules");
    count_limit("{\"filesystem\":{\"read_only\":[", "\"/usr\"", 1, "]}}", "listed twice");
}

Test(format, counts_of_lists)
{
    struct policy *p = NULL;
    struct err err = {0};
    char text[16384];
    size_t o;

    o = (size_t)str_printf(text, sizeof(text),
                           "{\"network\":{\"allow\":[{\"host\":\"a\",\"ports\":[");
    for (int i = 1; i <= POLICY_PORTS_MAX + 1; i++)
        o += (size_t)str_printf(text + o, sizeof(text) - o, "%s%d", i > 1 ? "," : "", i);
    str_printf(text + o, sizeof(text) - o, "]}]}}");
    cr_assert_eq(policy_parse("n", text, strlen(text), NULL, &p, &err), -EINVAL);
    cr_assert_not_null(strstr(err.message, "ports: at most 64 entries"), "%s", err.message);

    o = (size_t)str_printf(text, sizeof(text),
                           "{\"network\":{\"allow\":[{\"host\":\"a\",\"paths\":[");
    for (int i = 1; i <= POLICY_PATHS_MAX + 1; i++)
        o += (size_t)str_printf(text + o, sizeof(text) - o, "%s\"/%d\"", i > 1 ? "," : "", i);
    str_printf(text + o, sizeof(text) - o, "]}]}}");
    cr_assert_eq(policy_parse("n", text, strlen(text), NULL, &p, &err), -EINVAL);
    cr_assert_not_null(strstr(err.message, "paths: at most 64 entries"), "%s", err.message);

    o = (size_t)str_printf(text, sizeof(text), "{\"filesystem\":{\"read_write\":[");
    for (int i = 1; i <= POLICY_FS_PATHS_MAX + 1; i++)
        o += (size_t)str_printf(text + o, sizeof(text) - o, "%s\"/d%d\"", i > 1 ? "," : "", i);
    str_printf(text + o, sizeof(text) - o, "]}}");
    cr_assert_eq(policy_parse("n", text, strlen(text), NULL, &p, &err), -EINVAL);
    cr_assert_not_null(strstr(err.message, "filesystem.read_write: at most 128 paths"), "%s",
                       err.message);
}

Test(format, rule_host_lengths)
{
    char *l63 = repeat('a', 63), *l64 = repeat('a', 64), *n253 = long_name(253);
    char *n254 = long_name(254);
    char text[1024];
    struct policy *p = NULL;
    struct err err = {0};

    str_printf(text, sizeof(text), "{\"network\":{\"allow\":[{\"host\":\"%s.com\"}]}}", l63);
    cr_assert_eq(policy_parse("n", text, strlen(text), NULL, &p, &err), 0, "%s", err.message);
    policy_unref(p);
    str_printf(text, sizeof(text), "{\"network\":{\"allow\":[{\"host\":\"%s.com\"}]}}", l64);
    cr_assert_eq(policy_parse("n", text, strlen(text), NULL, &p, &err), -EINVAL);
    cr_assert_not_null(strstr(err.message, "longer than 63"));
    str_printf(text, sizeof(text), "{\"network\":{\"allow\":[{\"host\":\"%s\"}]}}", n253);
    cr_assert_eq(policy_parse("n", text, strlen(text), NULL, &p, &err), 0, "%s", err.message);
    policy_unref(p);
    str_printf(text, sizeof(text), "{\"network\":{\"allow\":[{\"host\":\"%s\"}]}}", n254);
    cr_assert_eq(policy_parse("n", text, strlen(text), NULL, &p, &err), -EINVAL);
    cr_assert_not_null(strstr(err.message, "longer than 253"));
    free(l63);
    free(l64);
    free(n253);
    free(n254);
}

/* ==== the format: what a valid policy becomes =============================================== */

static char *
dump(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);

    cr_assert_not_null(s);
    return s;
}

/* Checks policy_to_json of text against want (single-quoted, compact, in key order). */
static void
renders_as(const char *text, const char *want)
{
    struct policy *p = parse_ok(text);
    json_t *j = policy_to_json(p);
    char *got = dump(j), *w = sq(want);

    cr_assert_str_eq(got, w, "policy %s", text);
    free(got);
    free(w);
    json_decref(j);
    policy_unref(p);
}

#define DEFAULT_FS                                                                                 \
    "'filesystem':{'read_only':['/usr','/bin','/sbin','/lib','/lib32','/lib64','/etc/"             \
    "alternatives','/etc/ssl','/etc/ca-certificates','/etc/ld.so.cache','/etc/localtime','/etc/"   \
    "passwd','/etc/group','/etc/nsswitch.conf'],'read_write':[]}"
#define DEFAULT_LIMITS                                                                             \
    "'limits':{'timeout_s':300,'memory_mb':1024,'pids':256,'cpu_s':300,'output_bytes':16777216,"   \
    "'disk_mb':1024}"

Test(render, empty_policy_gets_defaults)
{
    renders_as("{}", "{'description':''," DEFAULT_FS "," DEFAULT_LIMITS "}");
}

Test(render, filesystem_present_means_explicit)
{
    renders_as("{'filesystem':{}}",
               "{'description':'','filesystem':{'read_only':[],'read_write':[]}," DEFAULT_LIMITS
               "}");
    renders_as("{'filesystem':{'read_write':['/srv/data']}}",
               "{'description':'','filesystem':{'read_only':[],'read_write':['/srv/data']},"
               "" DEFAULT_LIMITS "}");
}

Test(render, rules_normalised)
{
    renders_as("{'network':{'allow':[{'host':'*.Example.COM.','comment':'all of it'},"
               "{'cidr':'10.20.0.0/16','ports':[8080,8081]},"
               "{'host':'API.example.com','ports':[80],'methods':['POST','GET'],"
               "'paths':['/v1/./x','/%7Eme']},{'cidr':'2001:DB8::/32'}],"
               "'deny':[{'host':'bad.example.com'}]}}",
               "{'description':''," DEFAULT_FS ",'network':{'allow':["
               "{'host':'*.example.com','ports':[80,443],'comment':'all of it'},"
               "{'cidr':'10.20.0.0/16','ports':[8080,8081]},"
               "{'host':'api.example.com','ports':[80],'methods':['GET','POST'],"
               "'paths':['/v1/x','/~me']},{'cidr':'2001:db8::/32','ports':[80,443]}],"
               "'deny':[{'host':'bad.example.com','ports':[80,443]}]}," DEFAULT_LIMITS "}");
}

Test(render, empty_network_is_rendered)
{
    renders_as("{'network':{}}", "{'description':''," DEFAULT_FS
                                 ",'network':{'allow':[],'deny':[]}," DEFAULT_LIMITS "}");
}

Test(render, round_trip)
{
    static const char *texts[] = {
        "{}",
        "{'network':{}}",
        "{'description':'x','filesystem':{'read_only':['/a']},'limits':{'pids':9}}",
        ("{'network':{'allow':[{'host':'*.a.com','ports':[1,65535],'methods':['OPTIONS','GET'],"
         "'paths':['/','/x/'],'comment':'c'},{'cidr':'fd00::/8'}],'deny':[{'cidr':'0.0.0.0/0'}]}}"),
    };
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        struct policy *p = parse_ok(texts[i]), *q = NULL;
        json_t *j = policy_to_json(p), *k;
        char *s = dump(j);
        struct err err = {0};
        cr_assert_eq(policy_parse("again", s, strlen(s), NULL, &q, &err), 0, "%s", err.message);
        k = policy_to_json(q);
        cr_assert(json_equal(j, k), "%s", s);
        json_decref(j);
        json_decref(k);
        free(s);
        policy_unref(p);
        policy_unref(q);
    }
}

Test(render, rule_to_json)
{
    struct policy *p = parse_ok("{'network':{'allow':[{'host':'a.com'}],'deny':[{'cidr':"
                                "'10.0.0.0/8','ports':[22]}]}}");
    json_t *j = policy_rule_to_json(p, "allow", 0);
    char *s = dump(j);

    cr_assert_str_eq(s, "{\"host\":\"a.com\",\"ports\":[80,443]}");
    free(s);
    json_decref(j);
    j = policy_rule_to_json(p, "deny", 0);
    s = dump(j);
    cr_assert_str_eq(s, "{\"cidr\":\"10.0.0.0/8\",\"ports\":[22]}");
    free(s);
    json_decref(j);
    cr_assert_null(policy_rule_to_json(p, "allow", 1));
    cr_assert_null(policy_rule_to_json(p, "allow", -1));
    cr_assert_null(policy_rule_to_json(p, "deny", 1));
    cr_assert_null(policy_rule_to_json(p, "other", 0));
    cr_assert_null(policy_rule_to_json(p, NULL, 0));
    policy_unref(p);
}

Test(accessors, filesystem_lists)
{
    struct policy *p = parse_ok("{}");
    const char *const *ro, *const *rw;

    cr_assert_eq(policy_fs_read_only(p, &ro), 14);
    cr_assert_str_eq(ro[0], "/usr");
    cr_assert_str_eq(ro[13], "/etc/nsswitch.conf");
    for (size_t i = 0; i < 14; i++) {
        cr_assert_str_neq(ro[i], "/etc", "the whole of /etc is not bound by default");
        cr_assert_str_neq(ro[i], "/etc/shadow");
    }
    cr_assert_eq(policy_fs_read_write(p, &rw), 0);
    policy_unref(p);
    p = parse_ok("{'filesystem':{'read_only':['/opt/tools','/etc/ssl'],'read_write':['/srv/x']}}");
    cr_assert_eq(policy_fs_read_only(p, &ro), 2);
    cr_assert_str_eq(ro[0], "/opt/tools");
    cr_assert_str_eq(ro[1], "/etc/ssl");
    cr_assert_eq(policy_fs_read_write(p, &rw), 1);
    cr_assert_str_eq(rw[0], "/srv/x");
    policy_unref(p);
    p = parse_ok("{'filesystem':{'read_write':['/srv/x']}}");
    cr_assert_eq(policy_fs_read_only(p, &ro), 0);
    policy_unref(p);
}

Test(accessors, limits_and_defaults)
{
    struct policy_limits d = {.timeout_s = 10,
                              .memory_mb = 20,
                              .pids = 30,
                              .cpu_s = 40,
                              .output_bytes = 50,
                              .disk_mb = 60};
    struct policy_limits partial = {.pids = 7};
    struct policy *p = NULL;
    struct err err = {0};
    const struct policy_limits *l;

    cr_assert_eq(parse_sq("{'limits':{'pids':5,'output_bytes':1099511627776}}", &d, &p, &err), 0);
    l = policy_limits(p);
    cr_assert_eq(l->pids, 5);
    cr_assert_eq(l->output_bytes, POLICY_OUTPUT_BYTES_MAX);
    cr_assert_eq(l->timeout_s, 10);
    cr_assert_eq(l->memory_mb, 20);
    cr_assert_eq(l->cpu_s, 40);
    cr_assert_eq(l->disk_mb, 60);
    policy_unref(p);
    cr_assert_eq(parse_sq("{'limits':{}}", &partial, &p, &err), 0);
    l = policy_limits(p);
    cr_assert_eq(l->pids, 7);
    cr_assert_eq(l->timeout_s, POLICY_TIMEOUT_S_DEFAULT);
    cr_assert_eq(l->output_bytes, POLICY_OUTPUT_BYTES_DEFAULT);
    policy_unref(p);
    cr_assert_eq(parse_sq("{'limits':{'timeout_s':604800,'memory_mb':1048576,'pids':65536,"
                          "'cpu_s':604800,'disk_mb':16777216}}",
                          NULL, &p, &err),
                 0, "%s", err.message);
    l = policy_limits(p);
    cr_assert_eq(l->timeout_s, POLICY_TIMEOUT_S_MAX);
    cr_assert_eq(l->memory_mb, POLICY_MEMORY_MB_MAX);
    cr_assert_eq(l->pids, POLICY_PIDS_MAX);
    cr_assert_eq(l->cpu_s, POLICY_CPU_S_MAX);
    cr_assert_eq(l->disk_mb, POLICY_DISK_MB_MAX);
    cr_assert_eq(l->output_bytes, POLICY_OUTPUT_BYTES_DEFAULT);
    policy_unref(p);
}

Test(accessors, network_and_description)
{
    struct policy *p = parse_ok("{}");

    cr_assert_not(policy_has_network(p));
    cr_assert_str_eq(policy_description(p), "");
    cr_assert_str_eq(policy_name(p), "test");
    policy_unref(p);
    p = parse_ok("{'network':{},'description':'d\\u00e9j\\u00e0'}");
    cr_assert(policy_has_network(p));
    cr_assert_str_eq(policy_description(p), "d\xc3\xa9j\xc3\xa0");
    policy_unref(p);
}

Test(accessors, refcount)
{
    struct policy *p = parse_ok("{}");

    cr_assert_eq(policy_ref(p), p);
    cr_assert_eq(policy_ref(p), p);
    cr_assert_null(policy_unref(p));
    cr_assert_null(policy_unref(p));
    cr_assert_str_eq(policy_name(p), "test", "still held once");
    cr_assert_null(policy_unref(p));
    cr_assert_null(policy_unref(NULL));
    cr_assert_null(policy_ref(NULL));
}

/* ==== decisions on names and literals ======================================================= */

/* The policies the decision tables refer to by index. */
static const char *const decide_policies[] = {
    /* 0: design.md's example */
    "{'description':'Python packages from PyPI, nothing else',"
    "'filesystem':{'read_only':['/usr','/etc/ssl','/etc/alternatives'],'read_write':[]},"
    "'network':{'allow':[{'host':'pypi.org','ports':[443]},"
    "{'host':'*.pythonhosted.org','ports':[443]},"
    "{'host':'example.internal','ports':[80],'methods':['GET'],'paths':['/api/']},"
    "{'cidr':'10.20.0.0/16','ports':[8080]}],"
    "'deny':[{'host':'upload.pypi.org'}]},"
    "'limits':{'timeout_s':300,'memory_mb':1024,'pids':256,'cpu_s':300,"
    "'output_bytes':16777216,'disk_mb':1024}}",
    /* 1: deny rules with methods, paths and cidr */
    "{'network':{'allow':[{'host':'api.example.com'},{'host':'*.example.com','ports':[443]},"
    "{'cidr':'203.0.113.0/24'}],"
    "'deny':[{'host':'api.example.com','methods':['DELETE']},"
    "{'host':'api.example.com','paths':['/admin']},{'cidr':'203.0.113.0/24','ports':[443]}]}}",
    /* 2: paths and methods */
    "{'network':{'allow':[{'host':'x.com','paths':['/api']},{'host':'y.com','paths':['/api/']},"
    "{'host':'z.com','methods':['GET','HEAD']},{'host':'w.com','paths':['/']},"
    "{'host':'v.com','paths':['/a%20b','/~u']}]}}",
    /* 3: no network */
    "{}",
    /* 4: a network section with nothing in it */
    "{'network':{}}",
    /* 5: ports, first match and the deepest partial match */
    "{'network':{'allow':[{'host':'a.com','ports':[8080,8443]},{'host':'b.com'},"
    "{'host':'c.com','ports':[80]},{'host':'c.com','ports':[443]},"
    "{'host':'d.com','ports':[8080]},{'host':'d.com','methods':['GET']},"
    "{'host':'d.com','methods':['POST'],'paths':['/p']}]}}",
    /* 6: wildcards and deny */
    "{'network':{'allow':[{'host':'*.com'},{'host':'exact.org'}],"
    "'deny':[{'host':'*.evil.com'},{'host':'evil.com'}]}}",
    /* 7: IPv6 and IPv4 cidr rules, a host rule that never matches a literal */
    "{'network':{'allow':[{'cidr':'2001:db8::/32','ports':[443]},{'cidr':'fd00::/8'},"
    "{'host':'example.com'},{'cidr':'0.0.0.0/0','ports':[8443]}]}}",
};

/* In the decision tables "" stands for NULL (no method, no path, no reason, no list). */
struct decide_case {
    int policy;
    bool connect;
    char host[32];
    uint16_t port;
    char method[12];
    char path[24];
    bool allow;
    char reason[16];
    char list[8];
    int rule;
};

static const char *
nz(const char *s)
{
    return *s ? s : NULL;
}

#define CONNECT_ true
#define HTTP_ false

ParameterizedTestParameters(decide, names)
{
    static struct decide_case cases[] = {
        /* design.md's example */
        {0, CONNECT_, "pypi.org", 443, "", "", true, "", "allow", 0},
        {0, HTTP_, "pypi.org", 443, "GET", "/simple/", true, "", "allow", 0},
        {0, CONNECT_, "PyPI.org.", 443, "", "", true, "", "allow", 0},
        {0, CONNECT_, "pypi.org", 80, "", "", false, "port", "", -1},
        {0, HTTP_, "pypi.org", 80, "GET", "/", false, "port", "", -1},
        {0, CONNECT_, "files.pythonhosted.org", 443, "", "", true, "", "allow", 1},
        {0, CONNECT_, "a.b.pythonhosted.org", 443, "", "", true, "", "allow", 1},
        {0, CONNECT_, "pythonhosted.org", 443, "", "", false, "no_rule", "", -1},
        {0, CONNECT_, "badpythonhosted.org", 443, "", "", false, "no_rule", "", -1},
        {0, CONNECT_, "pythonhosted.org.evil.com", 443, "", "", false, "no_rule", "", -1},
        {0, CONNECT_, "upload.pypi.org", 443, "", "", false, "denied_by_rule", "deny", 0},
        {0, HTTP_, "upload.pypi.org", 80, "GET", "/", false, "denied_by_rule", "deny", 0},
        {0, CONNECT_, "upload.pypi.org", 8443, "", "", false, "no_rule", "", -1},
        {0, CONNECT_, "www.pypi.org", 443, "", "", false, "no_rule", "", -1},
        {0, HTTP_, "example.internal", 80, "GET", "/api/x", true, "", "allow", 2},
        {0, HTTP_, "example.internal", 80, "GET", "/api/", true, "", "allow", 2},
        {0, HTTP_, "example.internal", 80, "GET", "/api", false, "path", "", -1},
        {0, HTTP_, "example.internal", 80, "GET", "/", false, "path", "", -1},
        {0, HTTP_, "example.internal", 80, "HEAD", "/api/x", false, "method", "", -1},
        {0, HTTP_, "example.internal", 80, "POST", "/api/x", false, "method", "", -1},
        {0, HTTP_, "example.internal", 80, "get", "/api/x", false, "method", "", -1},
        {0, HTTP_, "example.internal", 8080, "GET", "/api/x", false, "port", "", -1},
        {0, CONNECT_, "example.internal", 80, "", "", false, "method", "", -1},
        {0, CONNECT_, "example.internal", 443, "", "", false, "port", "", -1},
        {0, HTTP_, "10.20.1.2", 8080, "GET", "/", true, "", "allow", 3},
        {0, CONNECT_, "10.20.255.255", 8080, "", "", true, "", "allow", 3},
        {0, HTTP_, "10.20.1.2", 80, "GET", "/", false, "port", "", -1},
        {0, HTTP_, "10.21.0.1", 8080, "GET", "/", false, "ip_literal", "", -1},
        {0, CONNECT_, "1.1.1.1", 443, "", "", false, "ip_literal", "", -1},
        {0, CONNECT_, "[::1]", 443, "", "", false, "ip_literal", "", -1},
        {0, CONNECT_, "evil.com", 443, "", "", false, "no_rule", "", -1},
        {0, CONNECT_, "localhost", 443, "", "", false, "no_rule", "", -1},
        /* deny rules with methods, paths, cidr */
        {1, HTTP_, "api.example.com", 80, "GET", "/x", true, "", "allow", 0},
        {1, HTTP_, "api.example.com", 443, "POST", "/x", true, "", "allow", 0},
        {1, HTTP_, "api.example.com", 80, "DELETE", "/x", false, "denied_by_rule", "deny", 0},
        {1, HTTP_, "api.example.com", 80, "GET", "/admin", false, "denied_by_rule", "deny", 1},
        {1, HTTP_, "api.example.com", 80, "GET", "/admin/", false, "denied_by_rule", "deny", 1},
        {1, HTTP_, "api.example.com", 80, "GET", "/admin/x", false, "denied_by_rule", "deny", 1},
        {1, HTTP_, "api.example.com", 80, "GET", "/adminx", true, "", "allow", 0},
        {1, HTTP_, "api.example.com", 80, "GET", "/Admin", true, "", "allow", 0},
        {1, HTTP_, "api.example.com", 8080, "DELETE", "/x", false, "port", "", -1},
        /* CONNECT cannot show the method or path: a deny rule with them matches anyway */
        {1, CONNECT_, "api.example.com", 443, "", "", false, "denied_by_rule", "deny", 0},
        {1, CONNECT_, "www.example.com", 443, "", "", true, "", "allow", 1},
        {1, CONNECT_, "www.example.com", 80, "", "", false, "port", "", -1},
        {1, CONNECT_, "example.com", 443, "", "", false, "no_rule", "", -1},
        {1, CONNECT_, "203.0.113.5", 443, "", "", false, "denied_by_rule", "deny", 2},
        {1, HTTP_, "203.0.113.5", 80, "GET", "/", true, "", "allow", 2},
        {1, HTTP_, "203.0.114.5", 80, "GET", "/", false, "ip_literal", "", -1},
        /* paths and methods */
        {2, HTTP_, "x.com", 80, "GET", "/api", true, "", "allow", 0},
        {2, HTTP_, "x.com", 80, "GET", "/api/", true, "", "allow", 0},
        {2, HTTP_, "x.com", 80, "GET", "/api/v1", true, "", "allow", 0},
        {2, HTTP_, "x.com", 80, "GET", "/apix", false, "path", "", -1},
        {2, HTTP_, "x.com", 80, "GET", "/ap", false, "path", "", -1},
        {2, HTTP_, "x.com", 80, "GET", "/", false, "path", "", -1},
        {2, HTTP_, "x.com", 80, "GET", "/API", false, "path", "", -1},
        {2, HTTP_, "x.com", 80, "GET", "//api", false, "path", "", -1},
        {2, HTTP_, "y.com", 80, "GET", "/api/", true, "", "allow", 1},
        {2, HTTP_, "y.com", 80, "GET", "/api/v1", true, "", "allow", 1},
        {2, HTTP_, "y.com", 80, "GET", "/api", false, "path", "", -1},
        {2, HTTP_, "z.com", 80, "GET", "/x", true, "", "allow", 2},
        {2, HTTP_, "z.com", 80, "HEAD", "/x", true, "", "allow", 2},
        {2, HTTP_, "z.com", 80, "POST", "/x", false, "method", "", -1},
        {2, HTTP_, "z.com", 80, "OPTIONS", "/x", false, "method", "", -1},
        {2, HTTP_, "z.com", 80, "get", "/x", false, "method", "", -1},
        {2, HTTP_, "z.com", 80, "CONNECT", "/x", false, "method", "", -1},
        {2, HTTP_, "z.com", 80, "", "/x", false, "method", "", -1},
        {2, CONNECT_, "z.com", 443, "", "", false, "method", "", -1},
        {2, HTTP_, "w.com", 80, "DELETE", "/anything/at/all", true, "", "allow", 3},
        {2, CONNECT_, "w.com", 443, "", "", false, "method", "", -1},
        {2, HTTP_, "v.com", 80, "GET", "/a%20b", true, "", "allow", 4},
        {2, HTTP_, "v.com", 80, "GET", "/~u/x", true, "", "allow", 4},
        {2, HTTP_, "v.com", 80, "GET", "/a", false, "path", "", -1},
        /* no network */
        {3, CONNECT_, "pypi.org", 443, "", "", false, "no_rule", "", -1},
        {3, HTTP_, "1.1.1.1", 80, "GET", "/", false, "no_rule", "", -1},
        {4, CONNECT_, "pypi.org", 443, "", "", false, "no_rule", "", -1},
        {4, HTTP_, "1.1.1.1", 80, "GET", "/", false, "ip_literal", "", -1},
        /* ports, first match, deepest partial match */
        {5, HTTP_, "a.com", 8080, "GET", "/", true, "", "allow", 0},
        {5, CONNECT_, "a.com", 8443, "", "", true, "", "allow", 0},
        {5, CONNECT_, "a.com", 443, "", "", false, "port", "", -1},
        {5, HTTP_, "a.com", 80, "GET", "/", false, "port", "", -1},
        {5, HTTP_, "b.com", 80, "GET", "/", true, "", "allow", 1},
        {5, CONNECT_, "b.com", 443, "", "", true, "", "allow", 1},
        {5, CONNECT_, "b.com", 8443, "", "", false, "port", "", -1},
        {5, CONNECT_, "b.com", 1, "", "", false, "port", "", -1},
        {5, CONNECT_, "b.com", 65535, "", "", false, "port", "", -1},
        {5, HTTP_, "c.com", 80, "GET", "/", true, "", "allow", 2},
        {5, CONNECT_, "c.com", 443, "", "", true, "", "allow", 3},
        {5, HTTP_, "d.com", 8080, "DELETE", "/", true, "", "allow", 4},
        {5, HTTP_, "d.com", 80, "GET", "/", true, "", "allow", 5},
        {5, HTTP_, "d.com", 80, "PUT", "/", false, "method", "", -1},
        {5, HTTP_, "d.com", 80, "POST", "/q", false, "path", "", -1},
        {5, HTTP_, "d.com", 80, "POST", "/p", true, "", "allow", 6},
        {5, HTTP_, "d.com", 9090, "POST", "/p", false, "port", "", -1},
        {5, CONNECT_, "d.com", 443, "", "", false, "method", "", -1},
        /* wildcards and deny */
        {6, CONNECT_, "good.com", 443, "", "", true, "", "allow", 0},
        {6, CONNECT_, "a.b.good.com", 443, "", "", true, "", "allow", 0},
        {6, CONNECT_, "com", 443, "", "", false, "no_rule", "", -1},
        {6, CONNECT_, "x.evil.com", 443, "", "", false, "denied_by_rule", "deny", 0},
        {6, CONNECT_, "y.x.evil.com", 443, "", "", false, "denied_by_rule", "deny", 0},
        {6, CONNECT_, "evil.com", 443, "", "", false, "denied_by_rule", "deny", 1},
        {6, CONNECT_, "notevil.com", 443, "", "", true, "", "allow", 0},
        {6, CONNECT_, "evil.com.org", 443, "", "", false, "no_rule", "", -1},
        {6, CONNECT_, "exact.org", 443, "", "", true, "", "allow", 1},
        {6, CONNECT_, "sub.exact.org", 443, "", "", false, "no_rule", "", -1},
        {6, CONNECT_, "exact.org.com", 443, "", "", true, "", "allow", 0},
        /* IP literals: cidr rules only */
        {7, CONNECT_, "[2001:db8::1]", 443, "", "", true, "", "allow", 0},
        {7, CONNECT_, "[2001:DB8:ffff::1]", 443, "", "", true, "", "allow", 0},
        {7, CONNECT_, "[2001:db8::1]", 80, "", "", false, "port", "", -1},
        {7, CONNECT_, "[2001:db9::1]", 443, "", "", false, "ip_literal", "", -1},
        {7, HTTP_, "[fd00::1]", 80, "GET", "/", true, "", "allow", 1},
        {7, CONNECT_, "[fe80::1]", 443, "", "", false, "ip_literal", "", -1},
        {7, CONNECT_, "[::ffff:1.2.3.4]", 8443, "", "", false, "ip_literal", "", -1},
        {7, CONNECT_, "1.2.3.4", 8443, "", "", true, "", "allow", 3},
        {7, CONNECT_, "1.2.3.4", 443, "", "", false, "port", "", -1},
        {7, CONNECT_, "93.184.216.34", 443, "", "", false, "port", "", -1},
        {7, CONNECT_, "[2001:db8::1]", 8443, "", "", false, "port", "", -1},
        {7, CONNECT_, "example.com", 443, "", "", true, "", "allow", 2},
        {7, CONNECT_, "example.com", 8443, "", "", false, "port", "", -1},
    };
    return cr_make_param_array(struct decide_case, cases, ARRAY_SIZE(cases));
}

/* Checks d against the expected outcome; "" stands for NULL. */
static void
check_decision(const char *label, bool allow, const char *reason, const char *list, int rule,
               const struct policy_decision *d)
{
    cr_assert_eq(d->allow, allow, "%s: allow %d reason %s", label, d->allow,
                 d->reason ? d->reason : "(null)");
    if (*reason)
        cr_assert_str_eq(d->reason, reason, "%s", label);
    else
        cr_assert_null(d->reason, "%s: %s", label, d->reason);
    if (*list)
        cr_assert_str_eq(d->list, list, "%s", label);
    else
        cr_assert_null(d->list, "%s", label);
    cr_assert_eq(d->rule, rule, "%s: rule %d", label, d->rule);
}

ParameterizedTest(struct decide_case *c, decide, names)
{
    struct policy *p = parse_ok(decide_policies[c->policy]);
    struct policy_host h;
    struct err err = {0};
    struct policy_decision d;
    struct policy_request req = {
        .kind = c->connect ? POLICY_REQ_CONNECT : POLICY_REQ_HTTP,
        .host = &h,
        .port = c->port,
        .method = nz(c->method),
        .path = nz(c->path),
    };
    char label[128];

    str_printf(label, sizeof(label), "policy %d: %s %s:%u %s", c->policy,
               c->connect ? "CONNECT" : c->method, c->host, c->port, c->path);
    cr_assert_eq(policy_host_parse(c->host, strlen(c->host), &h, &err), 0, "%s", err.message);
    memset(&d, 0x5a, sizeof(d));
    policy_decide(p, &req, &d);
    check_decision(label, c->allow, c->reason, c->list, c->rule, &d);
    policy_unref(p);
}

Test(decide, malformed_requests)
{
    struct policy *p = parse_ok(decide_policies[0]);
    struct policy_host h;
    struct policy_decision d;
    struct policy_request req = {
        .kind = POLICY_REQ_HTTP, .host = NULL, .port = 443, .method = "GET", .path = "/"};

    policy_decide(p, &req, &d);
    cr_assert_not(d.allow);
    cr_assert_str_eq(d.reason, "bad_host");
    cr_assert_eq(policy_host_parse("pypi.org", 8, &h, NULL), 0);
    req.host = &h;
    req.path = NULL;
    policy_decide(p, &req, &d);
    cr_assert_str_eq(d.reason, "bad_path");
    req.path = "simple/";
    policy_decide(p, &req, &d);
    cr_assert_str_eq(d.reason, "bad_path");
    req.path = "/simple/";
    policy_decide(p, &req, &d);
    cr_assert(d.allow);
    policy_decide(p, NULL, &d);
    cr_assert_str_eq(d.reason, "bad_host");
    policy_unref(p);
}

/* ==== decisions on resolved addresses ======================================================= */

static const char *const address_policy =
    "{'network':{'allow':[{'host':'api.example.com'},"
    "{'cidr':'10.20.0.0/16','ports':[8080]},"
    "{'cidr':'127.0.0.0/8','ports':[80],'methods':['GET']},"
    "{'cidr':'192.0.2.0/24'},"
    "{'cidr':'fd00::/8','ports':[443]},"
    "{'cidr':'169.254.169.254/32','ports':[80],'paths':['/latest/meta-data/']}],"
    "'deny':[{'cidr':'93.184.216.0/24'},{'cidr':'10.20.99.0/24','ports':[8080]},"
    "{'cidr':'1.0.0.0/24','methods':['POST']}]}}";

struct addr_case {
    char addr[24];
    bool connect;
    uint16_t port;
    char method[8];
    char path[24];
    bool allow;
    char reason[16];
    char list[8];
    int rule;
};

ParameterizedTestParameters(decide, addresses)
{
    static struct addr_case cases[] = {
        /* public */
        {"1.1.1.1", CONNECT_, 443, "", "", true, "", "", -1},
        {"8.8.8.8", HTTP_, 80, "GET", "/", true, "", "", -1},
        {"[2606:4700::1111]", CONNECT_, 443, "", "", true, "", "", -1},
        /* deny cidr over an allowed name */
        {"93.184.216.34", CONNECT_, 443, "", "", false, "denied_by_rule", "deny", 0},
        {"93.184.216.34", HTTP_, 80, "GET", "/", false, "denied_by_rule", "deny", 0},
        {"93.184.216.34", CONNECT_, 8443, "", "", true, "", "", -1},
        {"1.0.0.1", HTTP_, 80, "POST", "/", false, "denied_by_rule", "deny", 2},
        {"1.0.0.1", HTTP_, 80, "GET", "/", true, "", "", -1},
        {"1.0.0.1", CONNECT_, 443, "", "", false, "denied_by_rule", "deny", 2},
        /* private, opened by a cidr rule on its port only */
        {"10.1.2.3", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"10.20.1.1", HTTP_, 8080, "GET", "/", true, "", "allow", 1},
        {"10.20.1.1", CONNECT_, 8080, "", "", true, "", "allow", 1},
        {"10.20.1.1", HTTP_, 80, "GET", "/", false, "private_address", "", -1},
        {"10.20.99.1", HTTP_, 8080, "GET", "/", false, "denied_by_rule", "deny", 1},
        {"172.16.0.1", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"192.168.1.1", CONNECT_, 443, "", "", false, "private_address", "", -1},
        /* loopback, with a rule limited by method */
        {"127.0.0.1", HTTP_, 80, "GET", "/", true, "", "allow", 2},
        {"127.0.0.1", HTTP_, 80, "POST", "/", false, "private_address", "", -1},
        {"127.0.0.1", CONNECT_, 80, "", "", false, "private_address", "", -1},
        {"127.0.0.2", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"[::1]", HTTP_, 80, "GET", "/", false, "private_address", "", -1},
        /* every other class */
        {"0.0.0.0", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"0.1.2.3", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"[::]", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"100.64.0.1", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"169.254.1.1", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"[fe80::1]", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"169.254.169.254", HTTP_, 80, "GET", "/", false, "private_address", "", -1},
        {"169.254.169.254", HTTP_, 80, "GET", "/latest/meta-data/x", true, "", "allow", 5},
        {"169.254.169.254", CONNECT_, 80, "", "", false, "private_address", "", -1},
        {"[fd00:ec2::254]", CONNECT_, 80, "", "", false, "private_address", "", -1},
        {"192.0.2.1", CONNECT_, 443, "", "", true, "", "allow", 3},
        {"192.0.2.1", CONNECT_, 8443, "", "", false, "private_address", "", -1},
        {"198.51.100.1", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"203.0.113.1", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"[2001:db8::1]", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"198.18.0.1", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"224.0.0.1", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"[ff02::1]", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"255.255.255.255", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"240.0.0.1", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"192.0.0.1", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"[fd00::1]", CONNECT_, 443, "", "", true, "", "allow", 4},
        {"[fd00::1]", CONNECT_, 80, "", "", false, "private_address", "", -1},
        {"[fc00::1]", CONNECT_, 443, "", "", false, "private_address", "", -1},
        /* IPv4 hidden in IPv6: an IPv4 cidr rule never opens it */
        {"[::ffff:10.20.1.1]", CONNECT_, 8080, "", "", false, "private_address", "", -1},
        {"[::ffff:1.1.1.1]", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"[::ffff:127.0.0.1]", HTTP_, 80, "GET", "/", false, "private_address", "", -1},
        {"[64:ff9b::101:101]", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"[2002:101:101::1]", CONNECT_, 443, "", "", false, "private_address", "", -1},
        {"[2001::1]", CONNECT_, 443, "", "", false, "private_address", "", -1},
    };
    return cr_make_param_array(struct addr_case, cases, ARRAY_SIZE(cases));
}

ParameterizedTest(struct addr_case *c, decide, addresses)
{
    struct policy *p = parse_ok(address_policy);
    struct policy_host h;
    struct err err = {0};
    struct policy_decision d;
    struct policy_request req = {
        .kind = c->connect ? POLICY_REQ_CONNECT : POLICY_REQ_HTTP,
        .host = &h,
        .port = c->port,
        .method = nz(c->method),
        .path = nz(c->path),
    };
    char label[128];

    str_printf(label, sizeof(label), "%s %s:%u %s", c->connect ? "CONNECT" : c->method, c->addr,
               c->port, c->path);

    cr_assert_eq(policy_host_parse(c->addr, strlen(c->addr), &h, &err), 0, "%s", err.message);
    cr_assert(h.is_ip);
    memset(&d, 0x5a, sizeof(d));
    policy_decide_address(p, &req, &h.ip, &d);
    check_decision(label, c->allow, c->reason, c->list, c->rule, &d);
    policy_unref(p);
}

Test(decide, address_without_network)
{
    struct policy *p = parse_ok("{}");
    struct policy_host h;
    struct policy_decision d;
    struct policy_request req = {.kind = POLICY_REQ_CONNECT, .host = &h, .port = 443};

    cr_assert_eq(policy_host_parse("1.1.1.1", 7, &h, NULL), 0);
    policy_decide_address(p, &req, &h.ip, &d);
    cr_assert_not(d.allow);
    cr_assert_str_eq(d.reason, "no_rule");
    policy_decide_address(p, &req, NULL, &d);
    cr_assert_str_eq(d.reason, "bad_host");
    policy_unref(p);
}

/* A name the policy allows that resolves to a private address is refused; a cidr rule opens
 * it; a public answer is allowed without one. The order the proxy follows. */
Test(decide, name_then_addresses)
{
    struct policy *p = parse_ok("{'network':{'allow':[{'host':'lab.example','ports':[8080]},"
                                "{'cidr':'10.9.0.0/16','ports':[8080]}]}}");
    struct policy_host h, a;
    struct policy_decision d;
    struct policy_request req = {
        .kind = POLICY_REQ_HTTP, .host = &h, .port = 8080, .method = "GET", .path = "/"};

    cr_assert_eq(policy_host_parse("lab.example", 11, &h, NULL), 0);
    policy_decide(p, &req, &d);
    cr_assert(d.allow);
    cr_assert_eq(policy_host_parse("10.9.1.1", 8, &a, NULL), 0);
    policy_decide_address(p, &req, &a.ip, &d);
    cr_assert(d.allow);
    cr_assert_str_eq(d.list, "allow");
    cr_assert_eq(d.rule, 1);
    cr_assert_eq(policy_host_parse("10.8.1.1", 8, &a, NULL), 0);
    policy_decide_address(p, &req, &a.ip, &d);
    cr_assert_not(d.allow);
    cr_assert_str_eq(d.reason, "private_address");
    cr_assert_eq(policy_host_parse("127.0.0.1", 9, &a, NULL), 0);
    policy_decide_address(p, &req, &a.ip, &d);
    cr_assert_str_eq(d.reason, "private_address");
    cr_assert_eq(policy_host_parse("8.8.4.4", 7, &a, NULL), 0);
    policy_decide_address(p, &req, &a.ip, &d);
    cr_assert(d.allow);
    cr_assert_null(d.list);
    cr_assert_eq(d.rule, -1);
    policy_unref(p);
}

/* ==== design.md's example, end to end ======================================================= */

struct e2e_case {
    const char *url;
    const char *method;
    bool allow;
    const char *reason;
};

Test(example, design_policy_end_to_end)
{
    static const struct e2e_case cases[] = {
        {"https://pypi.org/simple/", "GET", true, NULL},
        {"https://PYPI.ORG./simple/requests/", "GET", true, NULL},
        {"http://pypi.org/simple/", "GET", false, "port"},
        {"https://files.pythonhosted.org/packages/x.whl", "GET", true, NULL},
        {"https://upload.pypi.org/legacy/", "POST", false, "denied_by_rule"},
        {"https://pythonhosted.org/", "GET", false, "no_rule"},
        {"http://example.internal/api/v1/items", "GET", true, NULL},
        {"http://example.internal/api/../admin", "GET", false, "path"},
        {"http://example.internal/api/%2e%2e/admin", "GET", false, "bad_path"},
        {"http://example.internal/api/v1", "POST", false, "method"},
        {"https://example.internal/api/v1", "GET", false, "port"},
        {"http://example.internal:443/api/v1", "GET", false, "port"},
        {"http://10.20.3.4:8080/", "GET", true, NULL},
        {"http://10.20.3.4/", "GET", false, "port"},
        {"http://10.30.3.4:8080/", "GET", false, "ip_literal"},
        {"http://2130706433/", "GET", false, "bad_host"},
        {"http://127.1:8080/", "GET", false, "bad_host"},
        {"https://user@pypi.org/", "GET", false, "bad_host"},
        {"https://pypi.org:0/", "GET", false, "bad_port"},
        {"https://github.com/", "GET", false, "no_rule"},
    };
    struct policy *p = parse_ok(decide_policies[0]);
    struct policy_url *u = calloc(1, sizeof(*u));
    const struct policy_limits *l = policy_limits(p);
    const char *const *ro;

    cr_assert_not_null(u);
    cr_assert_str_eq(policy_description(p), "Python packages from PyPI, nothing else");
    cr_assert_eq(policy_fs_read_only(p, &ro), 3);
    cr_assert_str_eq(ro[2], "/etc/alternatives");
    cr_assert_eq(l->output_bytes, 16777216);
    cr_assert_eq(l->pids, 256);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const struct e2e_case *c = &cases[i];
        struct err err = {0};
        struct policy_decision d = {false, NULL, NULL, -1};
        struct policy_request req;
        if (policy_url_parse(c->url, u, &err) < 0) {
            cr_assert_str_eq(err.code, c->reason, "%s: %s", c->url, err.message);
            continue;
        }
        req = (struct policy_request){u->https ? POLICY_REQ_CONNECT : POLICY_REQ_HTTP, &u->host,
                                      u->port, c->method, u->path};
        policy_decide(p, &req, &d);
        if (d.allow && u->host.is_ip)
            policy_decide_address(p, &req, &u->host.ip, &d);
        cr_assert_eq(d.allow, c->allow, "%s: %s", c->url, d.reason ? d.reason : "allowed");
        if (c->reason)
            cr_assert_str_eq(d.reason, c->reason, "%s", c->url);
    }
    free(u);
    policy_unref(p);
}

/* ==== the shipped policies ================================================================== */

/* The repository's policies/ directory, found from this file's path. */
static void
policies_dir(char *buf, size_t n)
{
    const char *self = __FILE__, *tail = "tests/unit/test_policy.c";
    size_t len = strlen(self) - strlen(tail);

    str_printf(buf, n, "%.*spolicies", (int)len, self);
}

static char *
read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(POLICY_FILE_MAX + 2);

    cr_assert_not_null(f, "%s", path);
    cr_assert_not_null(buf);
    *len = fread(buf, 1, POLICY_FILE_MAX + 1, f);
    fclose(f);
    return buf;
}

Test(shipped, every_policy_file_loads)
{
    char dir[4096], path[8192];
    DIR *d;
    struct dirent *de;
    size_t loaded = 0;

    policies_dir(dir, sizeof(dir));
    d = opendir(dir);
    if (!d)
        cr_skip_test("no policies directory at %s", dir);
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name), len;
        char name[256];
        struct policy *p = NULL;
        struct err err = {0};
        char *text;
        if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        str_printf(path, sizeof(path), "%s/%s", dir, de->d_name);
        str_printf(name, sizeof(name), "%.*s", (int)(n - 5), de->d_name);
        text = read_all(path, &len);
        cr_assert_eq(policy_parse(name, text, len, NULL, &p, &err), 0, "%s: %s", path, err.message);
        policy_unref(p);
        free(text);
        loaded++;
    }
    closedir(d);
    if (loaded == 0)
        cr_skip_test("no policy files in %s", dir);
}

/* ---- a job's limits ---- */

Test(policy_limits, a_job_may_tighten_never_loosen)
{
    static const char text[] = "{\"limits\": {\"memory_mb\": 100, \"timeout_s\": 60}}";
    struct policy_limits defaults = {.timeout_s = 300,
                                     .memory_mb = 1024,
                                     .pids = 256,
                                     .cpu_s = 300,
                                     .output_bytes = 1 << 20,
                                     .disk_mb = 10};
    struct policy *p = NULL;
    struct policy_limits asked = {0}, got;
    struct err err = {0};

    cr_assert_eq(policy_parse("lim", text, sizeof(text) - 1, &defaults, &p, &err), 0, "%s",
                 err.message);
    cr_assert_eq(policy_limits_tighten(p, &asked, &got, &err), 0);
    cr_expect_eq(got.memory_mb, 100);
    cr_expect_eq(got.pids, 256, "unset limits come from the defaults");
    asked.memory_mb = 50;
    asked.pids = 256;
    cr_assert_eq(policy_limits_tighten(p, &asked, &got, &err), 0);
    cr_expect_eq(got.memory_mb, 50);
    cr_expect_eq(got.pids, 256, "equal to the policy's is allowed");
    asked.memory_mb = 101;
    cr_expect_eq(policy_limits_tighten(p, &asked, &got, &err), -EINVAL);
    cr_expect(strstr(err.message, "limits.memory_mb") && strstr(err.message, "\"lim\""), "%s",
              err.message);
    asked.memory_mb = 0;
    asked.timeout_s = 61;
    cr_expect_eq(policy_limits_tighten(p, &asked, &got, &err), -EINVAL);
    cr_expect(strncmp(err.message, "timeout_s:", 10) == 0, "%s", err.message);
    policy_unref(p);
}
