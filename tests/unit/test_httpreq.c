/*
 * Unit tests for httpreq: the request heads the proxy accepts (every method in absolute form,
 * CONNECT in authority form, IPv6 literals, ports, queries, HTTP/1.0), every refusal of the
 * header comment with its status and the words of its message, the request-smuggling classics,
 * the limits exactly at and one past each maximum, and the chunked body decoder. Every head is
 * parsed from a heap copy of exactly its length, so ASan sees any read past the end, and every
 * row is also parsed at each of its prefixes: a valid head must give 0 until its last byte, and a
 * refused one may only be refused early with the same status and message. Tables are walked with
 * cr_expect so a failing row names itself and the others still run.
 */
#include <criterion/criterion.h>

#include <stdio.h>

#include "httpreq.h"

/* A string literal with its length, so rows can hold NUL bytes. */
#define S(s) s, sizeof(s) - 1

/* One parse of an exact-length heap copy; buf stays alive for the pointers in r. */
struct parsed {
    char *buf;
    ssize_t n;
    int status;
    struct err err;
    struct httpreq r;
};

static void
parse(const char *in, size_t len, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    p->status = -1;
    p->buf = malloc(len ? len : 1);
    cr_assert_not_null(p->buf);
    memcpy(p->buf, in, len);
    p->n = httpreq_parse(p->buf, len, &p->r, &p->status, &p->err);
}

static void
parsed_free(struct parsed *p)
{
    free(p->buf);
    p->buf = NULL;
}

/* A printable name for a row in failure messages. */
static const char *
show(const char *in, size_t len, char *out, size_t n)
{
    size_t o = 0;

    for (size_t i = 0; i < len && o + 5 < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\r' || c == '\n') {
            out[o++] = '\\';
            out[o++] = c == '\r' ? 'r' : 'n';
        } else if (c < 0x20 || c >= 0x7f) {
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}

/*
 * Parses every prefix of in[0..len): a prefix shorter than the head gives 0, one that holds it
 * gives the head's length; a refusal of a prefix must be the whole input's refusal (want_n < 0,
 * want_status, want_msg). Returns the number of prefixes refused early.
 */
static size_t
expect_prefixes(const char *in, size_t len, ssize_t want_n, int want_status, const char *want_msg)
{
    char name[256];
    size_t early = 0;

    show(in, len, name, sizeof(name));
    for (size_t k = 0; k < len; k++) {
        struct parsed p;
        parse(in, k, &p);
        if (want_n > 0) {
            ssize_t want = (size_t)want_n <= k ? want_n : 0;
            cr_expect_eq(p.n, want, "\"%s\" cut at %zu: got %zd, want %zd (%s)", name, k, p.n, want,
                         p.err.message);
        } else if (p.n != 0) {
            early++;
            cr_expect_eq(p.n, -EINVAL, "\"%s\" cut at %zu: got %zd", name, k, p.n);
            cr_expect_eq(p.status, want_status, "\"%s\" cut at %zu: status %d, want %d", name, k,
                         p.status, want_status);
            cr_expect_str_eq(p.err.message, want_msg, "\"%s\" cut at %zu: \"%s\", want \"%s\"",
                             name, k, p.err.message, want_msg);
        }
        parsed_free(&p);
    }
    return early;
}

/* ---------------------------------------------------------------------------------------------
 * Good heads: the request line
 */

struct good {
    const char *in;
    const char *method;
    int minor;
    enum httpreq_form form;
    bool https;
    const char *host;
    uint16_t port;
    bool port_explicit;
    const char *path;
    const char *query; /* NULL: no '?' */
};

#define H11 " HTTP/1.1\r\nHost: a\r\n\r\n"

static const struct good good_cases[] = {
    {"GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", "GET", 1, HTTPREQ_FORM_ABSOLUTE,
     false, "a.example", 80, false, "/", NULL},
    {"POST http://a/upload" H11, "POST", 1, HTTPREQ_FORM_ABSOLUTE, false, "a", 80, false, "/upload",
     NULL},
    {"HEAD http://a/x" H11, "HEAD", 1, HTTPREQ_FORM_ABSOLUTE, false, "a", 80, false, "/x", NULL},
    {"PUT http://a/x" H11, "PUT", 1, HTTPREQ_FORM_ABSOLUTE, false, "a", 80, false, "/x", NULL},
    {"DELETE http://a/x" H11, "DELETE", 1, HTTPREQ_FORM_ABSOLUTE, false, "a", 80, false, "/x",
     NULL},
    {"OPTIONS http://a/" H11, "OPTIONS", 1, HTTPREQ_FORM_ABSOLUTE, false, "a", 80, false, "/",
     NULL},
    {"PATCH http://a/x" H11, "PATCH", 1, HTTPREQ_FORM_ABSOLUTE, false, "a", 80, false, "/x", NULL},
    {"TRACE http://a/" H11, "TRACE", 1, HTTPREQ_FORM_ABSOLUTE, false, "a", 80, false, "/", NULL},
    {"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", "CONNECT", 1,
     HTTPREQ_FORM_AUTHORITY, false, "a.example", 443, true, "", NULL},
    {"CONNECT [::1]:8443" H11, "CONNECT", 1, HTTPREQ_FORM_AUTHORITY, false, "[::1]", 8443, true, "",
     NULL},
    {"CONNECT 192.0.2.1:1" H11, "CONNECT", 1, HTTPREQ_FORM_AUTHORITY, false, "192.0.2.1", 1, true,
     "", NULL},
    {"CONNECT a:65535" H11, "CONNECT", 1, HTTPREQ_FORM_AUTHORITY, false, "a", 65535, true, "",
     NULL},
    /* IPv6 literals keep their brackets */
    {"GET http://[::1]:8080/x" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "[::1]", 8080, true,
     "/x", NULL},
    {"GET http://[2001:db8::1]/" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "[2001:db8::1]", 80,
     false, "/", NULL},
    {"GET http://[::ffff:192.0.2.1]/" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false,
     "[::ffff:192.0.2.1]", 80, false, "/", NULL},
    {"GET http://[FE80::1]:1/" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "[FE80::1]", 1, true,
     "/", NULL},
    /* ports: implicit per scheme, explicit even when the default */
    {"GET https://a/" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, true, "a", 443, false, "/", NULL},
    {"GET https://a:8443/" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, true, "a", 8443, true, "/", NULL},
    {"GET http://a:80/" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "a", 80, true, "/", NULL},
    {"GET http://a:65535/" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "a", 65535, true, "/",
     NULL},
    {"GET http://a:1/" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "a", 1, true, "/", NULL},
    {"GET http://192.0.2.1:8080/" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "192.0.2.1", 8080,
     true, "/", NULL},
    /* queries, and targets without a path */
    {"GET http://a/p/q?x=1&y=2" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "a", 80, false, "/p/q",
     "x=1&y=2"},
    {"GET http://a/?" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "a", 80, false, "/", ""},
    {"GET http://a/p?x?y=/z" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "a", 80, false, "/p",
     "x?y=/z"},
    {"GET http://a.b" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "a.b", 80, false, "", NULL},
    {"GET http://a.b:8080" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "a.b", 8080, true, "",
     NULL},
    {"GET http://a.b?q" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "a.b", 80, false, "", "q"},
    {"GET http://[::1]" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "[::1]", 80, false, "", NULL},
    /* the scheme is case-insensitive; the path is kept as sent */
    {"GET HTTP://A.Example/A%2fB" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "A.Example", 80,
     false, "/A%2fB", NULL},
    {"GET HtTpS://a/" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, true, "a", 443, false, "/", NULL},
    /* HTTP/1.0: Host is optional */
    {"GET http://a/ HTTP/1.0\r\n\r\n", "GET", 0, HTTPREQ_FORM_ABSOLUTE, false, "a", 80, false, "/",
     NULL},
    {"GET http://a/ HTTP/1.0\r\nHost: a\r\n\r\n", "GET", 0, HTTPREQ_FORM_ABSOLUTE, false, "a", 80,
     false, "/", NULL},
    {"CONNECT a:443 HTTP/1.0\r\n\r\n", "CONNECT", 0, HTTPREQ_FORM_AUTHORITY, false, "a", 443, true,
     "", NULL},
    /* up to two empty lines before the request line are skipped */
    {"\r\nGET http://a/" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "a", 80, false, "/", NULL},
    {"\r\n\r\nGET http://a/" H11, "GET", 1, HTTPREQ_FORM_ABSOLUTE, false, "a", 80, false, "/",
     NULL},
};

static bool
within(const char *p, size_t n, const struct parsed *in)
{
    return p >= in->buf && p + n <= in->buf + in->n;
}

static void
expect_good(const struct good *t, const struct parsed *p)
{
    char name[256];
    const struct httpreq *r = &p->r;

    show(t->in, strlen(t->in), name, sizeof(name));
    cr_expect_str_eq(r->method, t->method, "\"%s\": method %s", name, r->method);
    cr_expect_eq(r->version_minor, t->minor, "\"%s\": minor %d", name, r->version_minor);
    cr_expect_eq(r->form, t->form, "\"%s\": form %d", name, r->form);
    cr_expect_eq(r->https, t->https, "\"%s\": https %d", name, r->https);
    cr_expect(r->host_len == strlen(t->host) && memcmp(r->host, t->host, r->host_len) == 0,
              "\"%s\": host \"%.*s\"", name, (int)r->host_len, r->host);
    cr_expect_eq(r->port, t->port, "\"%s\": port %u", name, r->port);
    cr_expect_eq(r->port_explicit, t->port_explicit, "\"%s\": port_explicit", name);
    cr_expect(r->path_len == strlen(t->path) && memcmp(r->path, t->path, r->path_len) == 0,
              "\"%s\": path \"%.*s\"", name, (int)r->path_len, r->path);
    if (t->query)
        cr_expect(r->query && r->query_len == strlen(t->query) &&
                      memcmp(r->query, t->query, r->query_len) == 0,
                  "\"%s\": query \"%.*s\"", name, (int)r->query_len, r->query ? r->query : "");
    else
        cr_expect(r->query == NULL && r->query_len == 0, "\"%s\": a query where none is", name);
    cr_expect(within(r->host, r->host_len, p) && within(r->path, r->path_len, p),
              "\"%s\": host or path outside the buffer", name);
    cr_expect(!r->query || within(r->query, r->query_len, p), "\"%s\": query outside", name);
}

Test(parse, accepts_good_request_lines)
{
    for (size_t i = 0; i < ARRAY_SIZE(good_cases); i++) {
        const struct good *t = &good_cases[i];
        size_t len = strlen(t->in);
        struct parsed p;

        parse(t->in, len, &p);
        cr_expect_eq(p.n, (ssize_t)len, "\"%s\" must parse whole, got %zd: %s", t->in, p.n,
                     p.err.message);
        if (p.n == (ssize_t)len)
            expect_good(t, &p);
        parsed_free(&p);
        expect_prefixes(t->in, len, (ssize_t)len, 0, NULL);
    }
}

/* The body, and anything after it, is not part of the head and is never looked at. */
Test(parse, stops_at_the_end_of_the_head)
{
    static const char in[] = "POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"
                             "\x00\n\r junk";
    size_t head = strstr(in, "\r\n\r\n") - in + 4;
    struct parsed p;

    parse(in, sizeof(in) - 1, &p);
    cr_expect_eq(p.n, (ssize_t)head, "got %zd: %s", p.n, p.err.message);
    cr_expect_eq(p.r.body, HTTPREQ_BODY_LENGTH);
    cr_expect_eq(p.r.content_length, 5);
    parsed_free(&p);
    expect_prefixes(in, sizeof(in) - 1, (ssize_t)head, 0, NULL);
}

Test(parse, outputs_only_on_success)
{
    struct httpreq r;
    struct err err = {0};
    int status = 12345;

    memset(&r, 0xa5, sizeof(r));
    cr_expect_eq(httpreq_parse("GET http://a/ HTTP/1.1\r\n", 24, &r, &status, &err), 0);
    cr_expect_eq(status, 12345, "status written while incomplete");
    cr_expect_eq(r.nheaders, (size_t)0xa5a5a5a5a5a5a5a5, "ret written while incomplete");
    cr_expect_eq(httpreq_parse("get http://a/ HTTP/1.1\r\n", 24, &r, &status, &err), -EINVAL);
    cr_expect_eq(status, 400);
    cr_expect_str_eq(err.code, "bad_request");
    cr_expect_eq(r.nheaders, (size_t)0xa5a5a5a5a5a5a5a5, "ret written on a refusal");
    cr_expect_eq(httpreq_parse(NULL, 0, &r, &status, &err), 0);
    cr_expect_eq(httpreq_parse("", 0, NULL, NULL, NULL), 0);
    cr_expect_eq(httpreq_parse("x", 1, NULL, NULL, NULL), -EINVAL, "NULL outputs are allowed");
}

/* ---------------------------------------------------------------------------------------------
 * Good heads: framing, connection, expectations
 */

struct framing {
    const char *in;
    enum httpreq_body body;
    uint64_t length;
    bool keep_alive;
    bool expect_continue;
    size_t nheaders;
};

#define REQ "POST http://a/ HTTP/1.1\r\nHost: a\r\n"
#define REQ10 "POST http://a/ HTTP/1.0\r\n"

static const struct framing framing_cases[] = {
    {REQ "\r\n", HTTPREQ_BODY_NONE, 0, true, false, 1},
    {REQ "Content-Length: 0\r\n\r\n", HTTPREQ_BODY_LENGTH, 0, true, false, 2},
    {REQ "Content-Length: 5\r\n\r\n", HTTPREQ_BODY_LENGTH, 5, true, false, 2},
    {REQ "content-length:5\r\n\r\n", HTTPREQ_BODY_LENGTH, 5, true, false, 2},
    {REQ "Content-Length: \t 12 \t \r\n\r\n", HTTPREQ_BODY_LENGTH, 12, true, false, 2},
    {REQ "Content-Length: 007\r\n\r\n", HTTPREQ_BODY_LENGTH, 7, true, false, 2},
    {REQ "Content-Length: 9223372036854775807\r\n\r\n", HTTPREQ_BODY_LENGTH, INT64_MAX, true, false,
     2},
    {REQ "Transfer-Encoding: chunked\r\n\r\n", HTTPREQ_BODY_CHUNKED, 0, true, false, 2},
    {REQ "TRANSFER-ENCODING: CHUNKED\r\n\r\n", HTTPREQ_BODY_CHUNKED, 0, true, false, 2},
    {REQ "Transfer-Encoding:\t chunked \t\r\n\r\n", HTTPREQ_BODY_CHUNKED, 0, true, false, 2},
    {REQ10 "Content-Length: 3\r\n\r\n", HTTPREQ_BODY_LENGTH, 3, false, false, 1},
    {"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 0\r\n\r\n", HTTPREQ_BODY_LENGTH, 0,
     true, false, 2},
    /* keep-alive: HTTP/1.1 unless "close", HTTP/1.0 only with "keep-alive"; close wins */
    {REQ "Connection: close\r\n\r\n", HTTPREQ_BODY_NONE, 0, false, false, 2},
    {REQ "Connection: Close\r\n\r\n", HTTPREQ_BODY_NONE, 0, false, false, 2},
    {REQ "Connection: keep-alive, close\r\n\r\n", HTTPREQ_BODY_NONE, 0, false, false, 2},
    {REQ "Connection: ,, close ,\r\n\r\n", HTTPREQ_BODY_NONE, 0, false, false, 2},
    {REQ "Connection: upgrade\r\nConnection: x,close\r\n\r\n", HTTPREQ_BODY_NONE, 0, false, false,
     3},
    {REQ "Connection: closed\r\n\r\n", HTTPREQ_BODY_NONE, 0, true, false, 2},
    {REQ "Connection: keep-alive\r\n\r\n", HTTPREQ_BODY_NONE, 0, true, false, 2},
    {REQ "Connection:\r\n\r\n", HTTPREQ_BODY_NONE, 0, true, false, 2},
    {REQ "X-Close: close\r\n\r\n", HTTPREQ_BODY_NONE, 0, true, false, 2},
    {REQ10 "\r\n", HTTPREQ_BODY_NONE, 0, false, false, 0},
    {REQ10 "Connection: keep-alive\r\n\r\n", HTTPREQ_BODY_NONE, 0, true, false, 1},
    {REQ10 "Connection: foo,\tKeep-Alive\r\n\r\n", HTTPREQ_BODY_NONE, 0, true, false, 1},
    {REQ10 "Connection: keep-alive, close\r\n\r\n", HTTPREQ_BODY_NONE, 0, false, false, 1},
    {REQ10 "Connection: keep-alive-ish\r\n\r\n", HTTPREQ_BODY_NONE, 0, false, false, 1},
    /* Expect: 100-continue (case-insensitive), ignored in HTTP/1.0 */
    {REQ "Expect: 100-continue\r\n\r\n", HTTPREQ_BODY_NONE, 0, true, true, 2},
    {REQ "expect:  100-Continue \r\n\r\n", HTTPREQ_BODY_NONE, 0, true, true, 2},
    {REQ10 "Expect: 100-continue\r\n\r\n", HTTPREQ_BODY_NONE, 0, false, false, 1},
    /* values: HTAB inside, obs-text, empty */
    {REQ "X-A: a\tb \x80\xff\r\nX-B:\r\n\r\n", HTTPREQ_BODY_NONE, 0, true, false, 3},
    {REQ "!#$%&'*+-.^_`|~09azAZ: x\r\n\r\n", HTTPREQ_BODY_NONE, 0, true, false, 2},
};

Test(parse, framing_and_connection)
{
    for (size_t i = 0; i < ARRAY_SIZE(framing_cases); i++) {
        const struct framing *t = &framing_cases[i];
        size_t len = strlen(t->in);
        char name[256];
        struct parsed p;

        show(t->in, len, name, sizeof(name));
        parse(t->in, len, &p);
        cr_expect_eq(p.n, (ssize_t)len, "\"%s\" must parse, got %zd: %s", name, p.n, p.err.message);
        if (p.n == (ssize_t)len) {
            cr_expect_eq(p.r.body, t->body, "\"%s\": body %d", name, p.r.body);
            cr_expect_eq(p.r.content_length, t->length, "\"%s\": length %llu", name,
                         (unsigned long long)p.r.content_length);
            cr_expect_eq(p.r.keep_alive, t->keep_alive, "\"%s\": keep_alive", name);
            cr_expect_eq(p.r.expect_continue, t->expect_continue, "\"%s\": expect", name);
            cr_expect_eq(p.r.nheaders, t->nheaders, "\"%s\": %zu headers", name, p.r.nheaders);
            for (size_t h = 0; h < p.r.nheaders; h++)
                cr_expect(within(p.r.headers[h].name, p.r.headers[h].name_len, &p) &&
                              within(p.r.headers[h].value, p.r.headers[h].value_len, &p),
                          "\"%s\": header %zu outside the buffer", name, h);
        }
        parsed_free(&p);
        expect_prefixes(t->in, len, (ssize_t)len, 0, NULL);
    }
}

Test(parse, header_fields_as_sent)
{
    static const char in[] = REQ "X-A:  one  \r\nx-a: two\r\nEmpty:\r\nTab:\tv\t\r\n\r\n";
    const struct httpreq_header *h;
    struct parsed p;

    parse(in, sizeof(in) - 1, &p);
    cr_assert_eq(p.n, (ssize_t)sizeof(in) - 1, "%s", p.err.message);
    cr_assert_eq(p.r.nheaders, 5);
    cr_expect_eq(p.r.headers[0].name_len, 4);
    cr_expect(memcmp(p.r.headers[0].name, "Host", 4) == 0);
    h = httpreq_header_find(&p.r, "X-A");
    cr_assert_not_null(h);
    cr_expect_eq(h, &p.r.headers[1], "the first of two fields");
    cr_expect(h->value_len == 3 && memcmp(h->value, "one", 3) == 0, "OWS trimmed");
    cr_expect_eq(httpreq_header_find(&p.r, "x-A"), h, "names are case-insensitive");
    h = httpreq_header_find(&p.r, "empty");
    cr_assert_not_null(h);
    cr_expect_eq(h->value_len, 0);
    h = httpreq_header_find(&p.r, "TAB");
    cr_assert_not_null(h);
    cr_expect(h->value_len == 1 && h->value[0] == 'v');
    cr_expect_null(httpreq_header_find(&p.r, "X-"));
    cr_expect_null(httpreq_header_find(&p.r, "X-AB"));
    cr_expect_null(httpreq_header_find(&p.r, "Missing"));
    cr_expect_null(httpreq_header_find(&p.r, NULL));
    cr_expect_null(httpreq_header_find(NULL, "Host"));
    parsed_free(&p);
}

struct lists {
    const char *token;
    bool listed;
};

Test(parse, connection_lists)
{
    static const char in[] = REQ "Connection: a, b,,c ,\t d\t,\r\nConnection: ,\r\n"
                                 "Connection: Upgrade\r\nX: e\r\n\r\n";
    static const struct lists cases[] = {
        {"a", true},   {"b", true},         {"c", true},           {"d", true},   {"UPGRADE", true},
        {"A", true},   {"e", false},        {"", false},           {"a,", false}, {" a", false},
        {"ab", false}, {"upgrade2", false}, {"connection", false},
    };
    struct parsed p;

    parse(in, sizeof(in) - 1, &p);
    cr_assert_eq(p.n, (ssize_t)sizeof(in) - 1, "%s", p.err.message);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        cr_expect_eq(httpreq_connection_lists(&p.r, cases[i].token, strlen(cases[i].token)),
                     cases[i].listed, "\"%s\" listed: want %d", cases[i].token, cases[i].listed);
    cr_expect(httpreq_connection_lists(&p.r, "bx", 1), "name_len is honoured");
    cr_expect(!httpreq_connection_lists(NULL, "a", 1));
    cr_expect(!httpreq_connection_lists(&p.r, NULL, 0));
    parsed_free(&p);
}

/* ---------------------------------------------------------------------------------------------
 * Refusals: every one in the header comment, and the smuggling classics
 */

struct bad {
    const char *in;
    size_t len;
    int status;
    const char *why; /* a piece of the message */
};

#define B(s, status, why)                                                                          \
    {                                                                                              \
        S(s), status, why                                                                          \
    }
#define HOST "Host: a\r\n"
#define G "GET http://a/ HTTP/1.1\r\n"
#define P "POST http://a/ HTTP/1.1\r\nHost: a\r\n"

static const struct bad bad_cases[] = {
    /* methods: only the nine, in upper case */
    B("get http://a/ HTTP/1.1\r\n" HOST "\r\n", 400, "method"),
    B("Get http://a/ HTTP/1.1\r\n" HOST "\r\n", 400, "method"),
    B("FOO http://a/ HTTP/1.1\r\n" HOST "\r\n", 400, "method"),
    B("GETS http://a/ HTTP/1.1\r\n" HOST "\r\n", 400, "method"),
    B("GE http://a/ HTTP/1.1\r\n" HOST "\r\n", 400, "method"),
    B("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "method"),
    B("GETGETGETGETGETGE http://a/ HTTP/1.1\r\n" HOST "\r\n", 400, "method"),
    B("GET\thttp://a/ HTTP/1.1\r\n" HOST "\r\n", 400, "method"),
    B(" GET http://a/ HTTP/1.1\r\n" HOST "\r\n", 400, "starts with a space"),
    /* spaces between the parts */
    B("GET  http://a/ HTTP/1.1\r\n" HOST "\r\n", 400, "more than one space"),
    B("GET http://a/  HTTP/1.1\r\n" HOST "\r\n", 400, "more than one space"),
    B("GET http://a/ HTTP/1.1 \r\n" HOST "\r\n", 400, "after the version"),
    B("GET http://a/ x HTTP/1.1\r\n" HOST "\r\n", 400, "not HTTP/1.0 or HTTP/1.1"),
    /* versions */
    B("GET http://a/ HTTP/1.2\r\n" HOST "\r\n", 400, "not HTTP/1.0 or HTTP/1.1"),
    B("GET http://a/ HTTP/2.0\r\n" HOST "\r\n", 400, "not HTTP/1.0 or HTTP/1.1"),
    B("GET http://a/ HTTP/0.9\r\n\r\n", 400, "not HTTP/1.0 or HTTP/1.1"),
    B("GET http://a/ http/1.1\r\n" HOST "\r\n", 400, "not HTTP/1.0 or HTTP/1.1"),
    B("GET http://a/ HTTP/1.10\r\n" HOST "\r\n", 400, "after the version"),
    B("GET http://a/ HTTP/1\r\n" HOST "\r\n", 400, "not HTTP/1.0 or HTTP/1.1"),
    B("GET http://a/ HTTP/1.\r\n" HOST "\r\n", 400, "not HTTP/1.0 or HTTP/1.1"),
    B("GET http://a/\r\n\r\n", 400, "no HTTP version"),
    B("GET http://a/\r\n", 400, "no HTTP version"),
    B("GET \r\n\r\n", 400, "no target"),
    B("GET\r\n\r\n", 400, "no target and no version"),
    B("\r\n\r\n\r\nGET http://a/" H11, 400, "more than two empty lines"),
    /* target forms */
    B("GET /x HTTP/1.1\r\n" HOST "\r\n", 400, "origin form"),
    B("OPTIONS * HTTP/1.1\r\n" HOST "\r\n", 400, "asterisk form"),
    B("GET a:80 HTTP/1.1\r\n" HOST "\r\n", 400, "not an absolute http:// or https:// URL"),
    B("GET ftp://a/ HTTP/1.1\r\n" HOST "\r\n", 400, "not an absolute"),
    B("GET http:/a/ HTTP/1.1\r\n" HOST "\r\n", 400, "not an absolute"),
    B("GET http//a/ HTTP/1.1\r\n" HOST "\r\n", 400, "not an absolute"),
    B("GET http: HTTP/1.1\r\n" HOST "\r\n", 400, "not an absolute"),
    B("GET httpss://a/ HTTP/1.1\r\n" HOST "\r\n", 400, "not an absolute"),
    B("CONNECT http://a:443 HTTP/1.1\r\n" HOST "\r\n", 400, "port that is not a number"),
    B("CONNECT a HTTP/1.1\r\n" HOST "\r\n", 400, "no port"),
    B("CONNECT [::1] HTTP/1.1\r\n" HOST "\r\n", 400, "no port"),
    B("CONNECT a: HTTP/1.1\r\n" HOST "\r\n", 400, "empty port"),
    B("CONNECT /x HTTP/1.1\r\n" HOST "\r\n", 400, "a '/' where only host:port"),
    B("CONNECT a:443/x HTTP/1.1\r\n" HOST "\r\n", 400, "port that is not a number"),
    B("CONNECT a?:443 HTTP/1.1\r\n" HOST "\r\n", 400, "a '?' where only host:port"),
    /* authorities */
    B("GET http://u@a/ HTTP/1.1\r\n" HOST "\r\n", 400, "userinfo"),
    B("GET http://u:p@a/ HTTP/1.1\r\n" HOST "\r\n", 400, "port that is not a number"),
    B("GET http://u:80@a/ HTTP/1.1\r\n" HOST "\r\n", 400, "userinfo"),
    B("GET http://[::1]@a/ HTTP/1.1\r\n" HOST "\r\n", 400, "userinfo"),
    B("GET http://@a/ HTTP/1.1\r\n" HOST "\r\n", 400, "userinfo"),
    B("GET http:/// HTTP/1.1\r\n" HOST "\r\n", 400, "empty host"),
    B("GET http:// HTTP/1.1\r\n" HOST "\r\n", 400, "empty host"),
    B("GET http://?x HTTP/1.1\r\n" HOST "\r\n", 400, "empty host"),
    B("GET http://:80/ HTTP/1.1\r\n" HOST "\r\n", 400, "empty host"),
    B("GET http://a:+80/ HTTP/1.1\r\n" HOST "\r\n", 400, "port with a sign"),
    B("GET http://a:-1/ HTTP/1.1\r\n" HOST "\r\n", 400, "port with a sign"),
    B("GET http://a:8x/ HTTP/1.1\r\n" HOST "\r\n", 400, "port that is not a number"),
    B("GET http://a:80 /x HTTP/1.1\r\n" HOST "\r\n", 400, "not HTTP/1.0 or HTTP/1.1"),
    B("GET http://a:080/ HTTP/1.1\r\n" HOST "\r\n", 400, "leading zero"),
    B("GET http://a:0/ HTTP/1.1\r\n" HOST "\r\n", 400, "leading zero"),
    B("GET http://a:65536/ HTTP/1.1\r\n" HOST "\r\n", 400, "past 65535"),
    B("GET http://a:99999999999999999999/ HTTP/1.1\r\n" HOST "\r\n", 400, "past 65535"),
    B("GET http://a:/ HTTP/1.1\r\n" HOST "\r\n", 400, "empty port"),
    B("GET http://a: HTTP/1.1\r\n" HOST "\r\n", 400, "empty port"),
    B("GET http://::1/ HTTP/1.1\r\n" HOST "\r\n", 400, "empty host"),
    B("GET http://a:1:2/ HTTP/1.1\r\n" HOST "\r\n", 400, "second ':'"),
    B("GET http://fe80::1/ HTTP/1.1\r\n" HOST "\r\n", 400, "second ':'"),
    B("GET http://[::1/ HTTP/1.1\r\n" HOST "\r\n", 400, "without its closing ']'"),
    B("GET http://[::1 HTTP/1.1\r\n" HOST "\r\n", 400, "without its closing ']'"),
    B("GET http://[::1]x/ HTTP/1.1\r\n" HOST "\r\n", 400, "after the ']'"),
    B("GET http://[::1]:/ HTTP/1.1\r\n" HOST "\r\n", 400, "empty port"),
    B("GET http://[]/ HTTP/1.1\r\n" HOST "\r\n", 400, "do not hold an IPv6 address"),
    B("GET http://[1.2.3.4]/ HTTP/1.1\r\n" HOST "\r\n", 400, "do not hold an IPv6 address"),
    B("GET http://[1::2::3]/ HTTP/1.1\r\n" HOST "\r\n", 400, "do not hold an IPv6 address"),
    B("GET http://[evil.example]/ HTTP/1.1\r\n" HOST "\r\n", 400, "cannot be part of an IPv6"),
    B("GET http://[::1%25eth0]/ HTTP/1.1\r\n" HOST "\r\n", 400, "cannot be part of an IPv6"),
    B("GET http://[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2555]/ HTTP/1.1\r\n" HOST "\r\n", 400,
      "longer than 45"),
    B("GET http://a]/ HTTP/1.1\r\n" HOST "\r\n", 400, "bracket outside"),
    B("GET http://a[::1]/ HTTP/1.1\r\n" HOST "\r\n", 400, "bracket outside"),
    /* target bytes */
    B("GET http://a/#f HTTP/1.1\r\n" HOST "\r\n", 400, "fragment"),
    B("GET http://a#f HTTP/1.1\r\n" HOST "\r\n", 400, "fragment"),
    B("GET http://a/\\x HTTP/1.1\r\n" HOST "\r\n", 400, "backslash"),
    B("GET http://a\\b/ HTTP/1.1\r\n" HOST "\r\n", 400, "backslash"),
    B("GET http://a/\x80 HTTP/1.1\r\n" HOST "\r\n", 400, "byte 0x80"),
    B("GET http://a/\xff HTTP/1.1\r\n" HOST "\r\n", 400, "byte 0xff"),
    B("GET http://a/\tx HTTP/1.1\r\n" HOST "\r\n", 400, "byte 0x09"),
    B("GET http://a/\x7f HTTP/1.1\r\n" HOST "\r\n", 400, "control byte 0x7f"),
    /* line ends and control bytes */
    B("GET http://a/ HTTP/1.1\n" HOST "\r\n", 400, "request line ends in a bare LF"),
    B(G "Host: a\n\r\n", 400, "header line 1 ends in a bare LF"),
    B(G HOST "\n", 400, "header line 2 ends in a bare LF"),
    B(G HOST "\n\n", 400, "bare LF"),
    B("\nGET http://a/" H11, 400, "bare LF"),
    B("GET http://a/ HTTP/1.1\rX\n" HOST "\r\n", 400, "request line has a CR that is not"),
    B(G "Host: a\rX: 1\r\n\r\n", 400, "header line 1 has a CR that is not"),
    B(G HOST "\r\r\n", 400, "header line 2 has a CR that is not"),
    B("\rGET http://a/" H11, 400, "CR that is not"),
    B("GET http://a/\x00 HTTP/1.1\r\n" HOST "\r\n", 400, "request line has a NUL byte"),
    B(G "Host: a\x00.evil\r\n\r\n", 400, "header line 1 has a NUL byte"),
    B(G HOST "X-\x00: 1\r\n\r\n", 400, "header line 2 has a NUL byte"),
    B(G HOST "X: \x01\r\n\r\n", 400, "control byte 0x01"),
    B(G HOST "X: \x0b\r\n\r\n", 400, "control byte 0x0b"),
    B(G HOST "X: a\x7f\r\n\r\n", 400, "control byte 0x7f"),
    B(G HOST "X: a\x1b[31m\r\n\r\n", 400, "control byte 0x1b"),
    /* field syntax */
    B(G HOST "X: 1\r\n folded\r\n\r\n", 400, "header line 3 starts with whitespace"),
    B(G HOST "X: 1\r\n\tfolded\r\n\r\n", 400, "starts with whitespace"),
    B(G " Host: a\r\n\r\n", 400, "header line 1 starts with whitespace"),
    B(G "Host : a\r\n\r\n", 400, "whitespace before the colon"),
    B(G "Host\t: a\r\n\r\n", 400, "whitespace before the colon"),
    B(G HOST "X Y: 1\r\n\r\n", 400, "whitespace before the colon"),
    B(G HOST ": x\r\n\r\n", 400, "empty field name"),
    B(G HOST "X(Y): 1\r\n\r\n", 400, "byte 0x28 in its field name"),
    B(G HOST "X@Y: 1\r\n\r\n", 400, "byte 0x40 in its field name"),
    B(G HOST "\x80X: 1\r\n\r\n", 400, "byte 0x80 in its field name"),
    B(G HOST "X\"Y: 1\r\n\r\n", 400, "byte 0x22"),
    B(G HOST "No colon here\r\n\r\n", 400, "whitespace before the colon"),
    B(G HOST "NoColon\r\n\r\n", 400, "header line 2 has no colon"),
    /* Host */
    B(G "\r\n", 400, "no Host field"),
    B(G "X: a\r\n\r\n", 400, "no Host field"),
    B(G HOST HOST "\r\n", 400, "two Host fields"),
    B(G "Host: a\r\nhost: b\r\n\r\n", 400, "two Host fields"),
    B("GET http://a/ HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400, "two Host fields"),
    B(G "Host:\r\n\r\n", 400, "the Host field has an empty host"),
    B(G "Host: \r\n\r\n", 400, "the Host field has an empty host"),
    B(G "Host: u@a\r\n\r\n", 400, "the Host field has userinfo"),
    B(G "Host: a b\r\n\r\n", 400, "the Host field has the byte 0x20"),
    B(G "Host: a\tb\r\n\r\n", 400, "the Host field has the byte 0x09"),
    B(G "Host: a:0\r\n\r\n", 400, "leading zero"),
    B(G "Host: a:\r\n\r\n", 400, "empty port"),
    B(G "Host: a:65536\r\n\r\n", 400, "past 65535"),
    B(G "Host: [::1\r\n\r\n", 400, "closing ']'"),
    B(G "Host: a/b\r\n\r\n", 400, "a '/' where only host:port"),
    B(G "Host: a\x80\r\n\r\n", 400, "byte 0x80"),
    /* Content-Length */
    B(P "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 400, "two Content-Length fields"),
    B(P "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400, "two Content-Length fields"),
    B(P "Content-Length: 5, 5\r\n\r\n", 400, "list of values"),
    B(P "Content-Length: 5,5\r\n\r\n", 400, "list of values"),
    B(P "Content-Length: ,5\r\n\r\n", 400, "list of values"),
    B(P "Content-Length: +5\r\n\r\n", 400, "with a sign"),
    B(P "Content-Length: -5\r\n\r\n", 400, "with a sign"),
    B(P "Content-Length: -0\r\n\r\n", 400, "with a sign"),
    B(P "Content-Length:\r\n\r\n", 400, "empty Content-Length"),
    B(P "Content-Length:  \t \r\n\r\n", 400, "empty Content-Length"),
    B(P "Content-Length: 5a\r\n\r\n", 400, "not a digit"),
    B(P "Content-Length: 0x5\r\n\r\n", 400, "not a digit"),
    B(P "Content-Length: 5 5\r\n\r\n", 400, "not a digit"),
    B(P "Content-Length: 5.0\r\n\r\n", 400, "not a digit"),
    B(P "Content-Length: \"5\"\r\n\r\n", 400, "not a digit"),
    B(P "Content-Length: \xd9\xa5\r\n\r\n", 400, "not a digit"),
    B(P "Content-Length: 9223372036854775808\r\n\r\n", 400, "past 2^63-1"),
    B(P "Content-Length: 18446744073709551616\r\n\r\n", 400, "past 2^63-1"),
    B(P "Content-Length: 99999999999999999999999999\r\n\r\n", 400, "past 2^63-1"),
    B(P "Content-Length : 5\r\n\r\n", 400, "whitespace before the colon"),
    B(P "Content_Length: 5\r\n\r\n", 400, "\"Content_Length\" would be read as a framing"),
    B(P "content_length: 5\r\n\r\n", 400, "framing field"),
    /* Transfer-Encoding */
    B(P "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
      "two Transfer-Encoding fields"),
    B(P "Transfer-Encoding: xchunked\r\n\r\n", 400, "exactly \"chunked\""),
    B(P "Transfer-Encoding: chunkedx\r\n\r\n", 400, "exactly \"chunked\""),
    B(P "Transfer-Encoding: chunked, gzip\r\n\r\n", 400, "exactly \"chunked\""),
    B(P "Transfer-Encoding: gzip, chunked\r\n\r\n", 400, "exactly \"chunked\""),
    B(P "Transfer-Encoding: chunked, chunked\r\n\r\n", 400, "exactly \"chunked\""),
    B(P "Transfer-Encoding: identity\r\n\r\n", 400, "exactly \"chunked\""),
    B(P "Transfer-Encoding: \"chunked\"\r\n\r\n", 400, "exactly \"chunked\""),
    B(P "Transfer-Encoding: ch unked\r\n\r\n", 400, "exactly \"chunked\""),
    B(P "Transfer-Encoding: chunked;q=1\r\n\r\n", 400, "exactly \"chunked\""),
    B(P "Transfer-Encoding:\r\n\r\n", 400, "exactly \"chunked\""),
    B(P "Transfer-Encoding: \xc4\x8bhunked\r\n\r\n", 400, "exactly \"chunked\""),
    B(P "Transfer-Encoding:\x0b chunked\r\n\r\n", 400, "control byte 0x0b"),
    B(P "Transfer-Encoding: chunked\x0c\r\n\r\n", 400, "control byte 0x0c"),
    B(P "Transfer-Encoding : chunked\r\n\r\n", 400, "whitespace before the colon"),
    B(P " Transfer-Encoding: chunked\r\n\r\n", 400, "starts with whitespace"),
    B(P "X: 1\r\n Transfer-Encoding: chunked\r\n\r\n", 400, "starts with whitespace"),
    B(P "Transfer-Encoding:\r\n chunked\r\n\r\n", 400, "exactly \"chunked\""),
    B(P "Transfer_Encoding: chunked\r\n\r\n", 400, "framing field"),
    B(P "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
      "both Content-Length and Transfer-Encoding"),
    B(P "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400,
      "both Content-Length and Transfer-Encoding"),
    B(P "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400,
      "both Content-Length and Transfer-Encoding"),
    B("POST http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
      "Transfer-Encoding in an HTTP/1.0 request"),
    /* CONNECT has no body */
    B("CONNECT a:443 HTTP/1.1\r\n" HOST "Content-Length: 5\r\n\r\n", 400, "CONNECT request with a"),
    B("CONNECT a:443 HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n", 400,
      "CONNECT request with a"),
    /* Expect */
    B(P "Expect: 100-continuex\r\n\r\n", 417, "Expect other than 100-continue"),
    B(P "Expect: 100-continue, x\r\n\r\n", 417, "Expect other than 100-continue"),
    B(P "Expect: 200-ok\r\n\r\n", 417, "Expect other than 100-continue"),
    B(P "Expect:\r\n\r\n", 417, "Expect other than 100-continue"),
    B("GET http://a/ HTTP/1.0\r\nExpect: x\r\n\r\n", 417, "Expect other than 100-continue"),
};

Test(parse, refusals)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
        const struct bad *t = &bad_cases[i];
        char name[256];
        struct parsed p;

        show(t->in, t->len, name, sizeof(name));
        parse(t->in, t->len, &p);
        cr_expect_eq(p.n, -EINVAL, "\"%s\" must be refused, got %zd", name, p.n);
        cr_expect_eq(p.status, t->status, "\"%s\": status %d, want %d (%s)", name, p.status,
                     t->status, p.err.message);
        cr_expect(strstr(p.err.message, t->why) != NULL, "\"%s\": message \"%s\", want \"%s\"",
                  name, p.err.message, t->why);
        cr_expect_str_eq(p.err.code, "bad_request", "\"%s\": code", name);
        if (p.n == -EINVAL)
            expect_prefixes(t->in, t->len, -EINVAL, p.status, p.err.message);
        parsed_free(&p);
    }
}

/* Refused before the head is complete: each of these is a prefix that no bytes can save. */
static const struct bad early_cases[] = {
    B("g", 400, "method"),
    B("GETS", 400, "method"),
    B("PR", 400, "method"),
    B("GET  ", 400, "more than one space"),
    B("GET /", 400, "origin form"),
    B("GET *", 400, "asterisk form"),
    B("GET f", 400, "not an absolute"),
    B("GET http://a@", 400, "userinfo"),
    B("GET http://a:0", 400, "leading zero"),
    B("GET http://a:65536", 400, "past 65535"),
    B("GET http://a:+", 400, "sign"),
    B("GET http://[x", 400, "IPv6"),
    B("GET http://[::1]x", 400, "after the ']'"),
    B("GET http://a/#", 400, "fragment"),
    B("GET http://a/\x00", 400, "NUL"),
    B("GET http://a/ HTTP/2", 400, "not HTTP/1.0 or HTTP/1.1"),
    B("GET http://a/ HTTP/1.2", 400, "not HTTP/1.0 or HTTP/1.1"),
    B("GET http://a/ HTTP/1.1x", 400, "after the version"),
    B("GET http://a/ HTTP/1.1\n", 400, "bare LF"),
    B("GET http://a/ HTTP/1.1\rx", 400, "CR that is not"),
    B(G " ", 400, "starts with whitespace"),
    B(G "X :", 400, "whitespace before the colon"),
    B(G ":", 400, "empty field name"),
    B(G "X\x01", 400, "control byte"),
    B(G "X: \x00", 400, "NUL"),
    B(G "X: 1\n", 400, "bare LF"),
};

Test(parse, refuses_without_waiting_for_the_rest)
{
    for (size_t i = 0; i < ARRAY_SIZE(early_cases); i++) {
        const struct bad *t = &early_cases[i];
        char name[256];
        struct parsed p;

        show(t->in, t->len, name, sizeof(name));
        parse(t->in, t->len, &p);
        cr_expect_eq(p.n, -EINVAL, "\"%s\" must be refused already, got %zd", name, p.n);
        cr_expect_eq(p.status, t->status, "\"%s\": status %d", name, p.status);
        cr_expect(strstr(p.err.message, t->why) != NULL, "\"%s\": message \"%s\", want \"%s\"",
                  name, p.err.message, t->why);
        parsed_free(&p);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Limits, exactly at and one past each maximum
 */

/* Appends n copies of c, or a string, at *o. */
static void
fill(char *b, size_t *o, char c, size_t n)
{
    memset(b + *o, c, n);
    *o += n;
}

static void
put(char *b, size_t *o, const char *s)
{
    memcpy(b + *o, s, strlen(s));
    *o += strlen(s);
}

/* Parses b[0..len) and expects want (> 0: the whole head; < 0: this status). */
static void
expect_limit(const char *what, const char *b, size_t len, int want_status)
{
    struct parsed p;

    parse(b, len, &p);
    if (want_status == 0) {
        cr_expect_eq(p.n, (ssize_t)len, "%s: must parse, got %zd: %s", what, p.n, p.err.message);
    } else {
        cr_expect_eq(p.n, -EINVAL, "%s: must be refused, got %zd", what, p.n);
        cr_expect_eq(p.status, want_status, "%s: status %d (%s)", what, p.status, p.err.message);
    }
    parsed_free(&p);
}

/* A request line of exactly n bytes without its CRLF. */
static size_t
request_line_of(char *b, size_t n)
{
    size_t o = 0;

    put(b, &o, "GET http://a/");
    fill(b, &o, 'x', n - strlen("GET http://a/ HTTP/1.1"));
    put(b, &o, " HTTP/1.1\r\nHost: a\r\n\r\n");
    return o;
}

Test(limits, request_line)
{
    char *b = malloc(2 * HTTPREQ_LINE_MAX);
    size_t len;

    cr_assert_not_null(b);
    len = request_line_of(b, HTTPREQ_LINE_MAX);
    expect_limit("request line at the limit", b, len, 0);
    len = request_line_of(b, HTTPREQ_LINE_MAX + 1);
    expect_limit("request line one past", b, len, 414);
    /* refused as soon as the byte past the limit is seen, not at the CRLF */
    expect_limit("request line one past, cut there", b, HTTPREQ_LINE_MAX + 1, 414);
    cr_expect_eq(httpreq_parse(b, HTTPREQ_LINE_MAX, NULL, NULL, NULL), 0);
    free(b);
}

/* A head whose only extra field line is exactly n bytes without its CRLF. */
static size_t
field_line_of(char *b, size_t n)
{
    size_t o = 0;

    put(b, &o, "GET http://a/ HTTP/1.1\r\nHost: a\r\nX: ");
    fill(b, &o, 'v', n - 3);
    put(b, &o, "\r\n\r\n");
    return o;
}

Test(limits, field_line)
{
    char *b = malloc(2 * HTTPREQ_FIELD_MAX);
    size_t len, start = strlen("GET http://a/ HTTP/1.1\r\nHost: a\r\n");

    cr_assert_not_null(b);
    len = field_line_of(b, HTTPREQ_FIELD_MAX);
    expect_limit("field line at the limit", b, len, 0);
    len = field_line_of(b, HTTPREQ_FIELD_MAX + 1);
    expect_limit("field line one past", b, len, 431);
    expect_limit("field line one past, cut there", b, start + HTTPREQ_FIELD_MAX + 1, 431);
    cr_expect_eq(httpreq_parse(b, start + HTTPREQ_FIELD_MAX, NULL, NULL, NULL), 0);
    free(b);
}

/* A head with n fields (Host and n - 1 others). */
static size_t
fields_of(char *b, size_t n)
{
    size_t o = 0;

    put(b, &o, "GET http://a/ HTTP/1.1\r\nHost: a\r\n");
    for (size_t i = 1; i < n; i++)
        put(b, &o, "X: 1\r\n");
    put(b, &o, "\r\n");
    return o;
}

Test(limits, header_count)
{
    char *b = malloc(HTTPREQ_HEAD_MAX);
    struct parsed p;
    size_t len;

    cr_assert_not_null(b);
    len = fields_of(b, HTTPREQ_HEADERS_MAX);
    parse(b, len, &p);
    cr_expect_eq(p.n, (ssize_t)len, "%d fields must parse: %s", HTTPREQ_HEADERS_MAX, p.err.message);
    cr_expect_eq(p.r.nheaders, HTTPREQ_HEADERS_MAX);
    parsed_free(&p);
    /* at the limit, the empty line may still arrive a byte at a time */
    cr_expect_eq(httpreq_parse(b, len - 1, NULL, NULL, NULL), 0);
    cr_expect_eq(httpreq_parse(b, len - 2, NULL, NULL, NULL), 0);
    len = fields_of(b, HTTPREQ_HEADERS_MAX + 1);
    expect_limit("one field past the limit", b, len, 431);
    /* refused at the first byte of the field past the limit */
    expect_limit("one field past, cut at its first byte", b, len - 2 - strlen("X: 1\r\n") + 1, 431);
    cr_expect_eq(httpreq_parse(b, len - 2 - strlen("X: 1\r\n"), NULL, NULL, NULL), 0);
    free(b);
}

/* A valid head of exactly total bytes, after `empty` empty lines, padded with field lines. */
static size_t
head_of(char *b, size_t total, int empty)
{
    size_t o = 0, left;

    for (int i = 0; i < empty; i++)
        put(b, &o, "\r\n");
    put(b, &o, "GET http://a/ HTTP/1.1\r\nHost: a\r\n");
    left = total - o - 2;
    while (left > 0) {
        size_t line = left > 8000 ? 8000 : left; /* "X:" + value + CRLF */
        if (left - line > 0 && left - line < 4)
            line -= 4;
        put(b, &o, "X:");
        fill(b, &o, 'v', line - 4);
        put(b, &o, "\r\n");
        left -= line;
    }
    put(b, &o, "\r\n");
    cr_assert_eq(o, total);
    return o;
}

Test(limits, head)
{
    char *b = malloc(2 * HTTPREQ_HEAD_MAX);

    cr_assert_not_null(b);
    head_of(b, HTTPREQ_HEAD_MAX, 0);
    expect_limit("head at the limit", b, HTTPREQ_HEAD_MAX, 0);
    head_of(b, HTTPREQ_HEAD_MAX + 1, 0);
    expect_limit("head one past", b, HTTPREQ_HEAD_MAX + 1, 431);
    /* HTTPREQ_HEAD_MAX bytes without the end: refused already, so a buffer that size is enough */
    expect_limit("head one past, cut at the limit", b, HTTPREQ_HEAD_MAX, 431);
    cr_expect_eq(httpreq_parse(b, HTTPREQ_HEAD_MAX - 1, NULL, NULL, NULL), 0);
    /* the skipped empty lines count: the head is measured from buf[0] */
    head_of(b, HTTPREQ_HEAD_MAX, 2);
    expect_limit("head at the limit after two empty lines", b, HTTPREQ_HEAD_MAX, 0);
    head_of(b, HTTPREQ_HEAD_MAX + 1, 2);
    expect_limit("head one past after two empty lines", b, HTTPREQ_HEAD_MAX + 1, 431);
    /* a head at the limit followed by body bytes is still fine */
    head_of(b, HTTPREQ_HEAD_MAX, 1);
    memset(b + HTTPREQ_HEAD_MAX, 'B', 100);
    cr_expect_eq(httpreq_parse(b, HTTPREQ_HEAD_MAX + 100, NULL, NULL, NULL), HTTPREQ_HEAD_MAX);
    free(b);
}

Test(limits, values)
{
    static const struct bad cases[] = {
        B(P "Content-Length: 9223372036854775807\r\n\r\n", 0, ""),
        B(P "Content-Length: 00000000000000000000000009223372036854775807\r\n\r\n", 0, ""),
        B(P "Content-Length: 9223372036854775808\r\n\r\n", 400, ""),
        B("GET http://a:65535/" H11, 0, ""),
        B("GET http://a:65536/" H11, 400, ""),
        B("GET http://[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]/" H11, 0, ""),
        B("GET http://[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2555]/" H11, 400, ""),
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        expect_limit(cases[i].in, cases[i].in, cases[i].len, cases[i].status);
}

/* ---------------------------------------------------------------------------------------------
 * Chunked bodies
 */

struct decoded {
    int st;          /* the last return: 1 ended, 0 more input wanted, -EINVAL */
    size_t consumed; /* over all calls */
    char data[256];
    size_t data_len;
    char message[ERR_MSG_MAX];
};

/* Feeds in[0..len) to c until it is all consumed or the decoder stops; appends data to d. */
static void
feed(struct httpreq_chunked *c, const char *in, size_t len, struct decoded *d)
{
    size_t off = 0;

    while (off < len) {
        size_t used = 99, doff = 99, dlen = 99;
        struct err err = {0};
        d->st = httpreq_chunked_next(c, in + off, len - off, &used, &doff, &dlen, &err);
        cr_assert_leq(used, len - off, "consumed more than given");
        cr_assert_leq(doff + dlen, used, "data outside what was consumed");
        if (dlen > 0) {
            cr_assert_leq(d->data_len + dlen, sizeof(d->data));
            memcpy(d->data + d->data_len, in + off + doff, dlen);
            d->data_len += dlen;
        }
        off += used;
        d->consumed += used;
        if (d->st < 0) {
            memcpy(d->message, err.message, sizeof(d->message));
            return;
        }
        if (d->st == 1)
            return;
        cr_assert(used > 0, "no progress with %zu bytes left", len - off);
    }
}

/* Decodes in[0..len), given to the decoder as in[0..cut) and the rest (each from its own heap
 * copy, so ASan sees a read past either part). */
static void
decode(const char *in, size_t len, size_t cut, struct decoded *d)
{
    struct httpreq_chunked c = {0};
    char *a = malloc(cut ? cut : 1), *b = malloc(len - cut ? len - cut : 1);

    cr_assert(a && b);
    memcpy(a, in, cut);
    memcpy(b, in + cut, len - cut);
    memset(d, 0, sizeof(*d));
    feed(&c, a, cut, d);
    if (d->st == 0)
        feed(&c, b, len - cut, d);
    free(a);
    free(b);
}

struct chunked_case {
    const char *in;
    size_t len;
    int st;
    const char *data; /* st >= 0: the data; st < 0: a piece of the message */
    size_t data_len;
    size_t consumed; /* st == 1: the body's length; 0 for all of in */
};

#define C(s, st, data, consumed)                                                                   \
    {                                                                                              \
        S(s), st, S(data), consumed                                                                \
    }

static const struct chunked_case chunked_cases[] = {
    C("0\r\n\r\n", 1, "", 0),
    C("5\r\nhello\r\n0\r\n\r\n", 1, "hello", 0),
    C("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 1, "hello world", 0),
    C("a\r\n0123456789\r\n0\r\n\r\n", 1, "0123456789", 0),
    C("A\r\n0123456789\r\n0\r\n\r\n", 1, "0123456789", 0),
    C("1\r\n\x00\r\n0\r\n\r\n", 1, "\x00", 0),
    C("2\r\n\r\n\r\n0\r\n\r\n", 1, "\r\n", 0),
    C("0005\r\nhello\r\n0\r\n\r\n", 1, "hello", 0),
    C("0000000000000005\r\nhello\r\n0\r\n\r\n", 1, "hello", 0),
    /* extensions are skipped, whatever visible bytes they hold */
    C("5;name=value\r\nhello\r\n0;last\r\n\r\n", 1, "hello", 0),
    C("5;a=\"q;\\\"x\"\t;b\r\nhello\r\n0\r\n\r\n", 1, "hello", 0),
    C("5;\x80\xff\r\nhello\r\n0\r\n\r\n", 1, "hello", 0),
    /* trailers are consumed and dropped */
    C("0\r\nX-T: 1\r\nY: 2\t3\r\n\r\n", 1, "", 0),
    C("3\r\nabc\r\n0\r\nX: 1\r\n\r\n", 1, "abc", 0),
    /* bytes after the body are not consumed */
    C("0\r\n\r\nGET http://a/ HTTP/1.1\r\n", 1, "", 5),
    C("1\r\nx\r\n0\r\n\r\n\r\n", 1, "x", 11),
    /* not finished: more input wanted */
    C("5\r\nhel", 0, "hel", 0),
    C("5\r\nhello\r\n", 0, "hello", 0),
    C("ffffffffffffffff\r\nabc", 0, "abc", 0),
    C("0\r\nX: 1\r\n", 0, "", 0),
    C("0\r\n\r", 0, "", 0),
    /* refused */
    C("-1\r\n", -EINVAL, "sign", 0),
    C("+5\r\nhello\r\n0\r\n\r\n", -EINVAL, "sign", 0),
    C("0x5\r\nhello\r\n0\r\n\r\n", -EINVAL, "not a hex number", 0),
    C(" 5\r\nhello\r\n0\r\n\r\n", -EINVAL, "whitespace", 0),
    C("5 \r\nhello\r\n0\r\n\r\n", -EINVAL, "whitespace", 0),
    C("5\t;x\r\nhello\r\n0\r\n\r\n", -EINVAL, "whitespace", 0),
    C("5 ;x\r\nhello\r\n0\r\n\r\n", -EINVAL, "whitespace", 0),
    C("\r\n", -EINVAL, "no size", 0),
    C(";x\r\n", -EINVAL, "not a hex number", 0),
    C("g\r\n", -EINVAL, "not a hex number", 0),
    C("5g\r\n", -EINVAL, "not a hex number", 0),
    C("00000000000000005\r\nhello\r\n0\r\n\r\n", -EINVAL, "more than 16 hex digits", 0),
    C("10000000000000000\r\n", -EINVAL, "more than 16 hex digits", 0),
    C("5\nhello\r\n0\r\n\r\n", -EINVAL, "bare LF", 0),
    C("5\rhello\r\n0\r\n\r\n", -EINVAL, "CR that is not followed by LF", 0),
    C("5;a\nb\r\nhello\r\n0\r\n\r\n", -EINVAL, "bare LF", 0),
    C("5;a\x00\r\nhello\r\n0\r\n\r\n", -EINVAL, "control byte 0x00", 0),
    C("5;a\x7f\r\nhello\r\n0\r\n\r\n", -EINVAL, "control byte 0x7f", 0),
    C("5\r\nhelloX\r\n0\r\n\r\n", -EINVAL, "not followed by CRLF", 0),
    C("5\r\nhello0\r\n\r\n", -EINVAL, "not followed by CRLF", 0),
    C("5\r\nhello\n0\r\n\r\n", -EINVAL, "not followed by CRLF", 0),
    C("5\r\nhello\rX0\r\n\r\n", -EINVAL, "CR without LF", 0),
    C("3\r\nhello\r\n0\r\n\r\n", -EINVAL, "not followed by CRLF", 0),
    C("0\r\nX: 1\n\r\n", -EINVAL, "trailer line ends in a bare LF", 0),
    C("0\r\n\n", -EINVAL, "trailer line ends in a bare LF", 0),
    C("0\r\nX: 1\rY\r\n\r\n", -EINVAL, "trailer line has a CR", 0),
    C("0\r\n\rX", -EINVAL, "trailer line has a CR", 0),
    C("0\r\nX: \x01\r\n\r\n", -EINVAL, "control byte 0x01", 0),
    C("0\r\nX: \x00\r\n\r\n", -EINVAL, "control byte 0x00", 0),
};

Test(chunked, rows_whole_and_split_at_every_byte)
{
    for (size_t i = 0; i < ARRAY_SIZE(chunked_cases); i++) {
        const struct chunked_case *t = &chunked_cases[i];
        char name[256];

        show(t->in, t->len, name, sizeof(name));
        for (size_t cut = 0; cut <= t->len; cut++) {
            struct decoded d;
            decode(t->in, t->len, cut, &d);
            cr_expect_eq(d.st, t->st, "\"%s\" cut at %zu: returned %d, want %d (%s)", name, cut,
                         d.st, t->st, d.message);
            if (t->st >= 0) {
                cr_expect(d.data_len == t->data_len && memcmp(d.data, t->data, d.data_len) == 0,
                          "\"%s\" cut at %zu: data \"%.*s\"", name, cut, (int)d.data_len, d.data);
            } else {
                cr_expect(strstr(d.message, t->data) != NULL,
                          "\"%s\" cut at %zu: message \"%s\", want \"%s\"", name, cut, d.message,
                          t->data);
            }
            if (t->st == 1)
                cr_expect_eq(d.consumed, t->consumed ? t->consumed : t->len,
                             "\"%s\" cut at %zu: consumed %zu", name, cut, d.consumed);
            if (t->st == 0)
                cr_expect_eq(d.consumed, t->len, "\"%s\" cut at %zu: consumed %zu", name, cut,
                             d.consumed);
        }
    }
}

/* A byte at a time: one call per byte, the way a slow job sends. */
Test(chunked, byte_at_a_time)
{
    static const char in[] = "3;x\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\nNEXT";
    struct httpreq_chunked c = {0};
    struct decoded d = {0};
    size_t i;

    for (i = 0; i < sizeof(in) - 1 && d.st == 0; i++)
        feed(&c, in + i, 1, &d);
    cr_expect_eq(d.st, 1);
    cr_expect_eq(d.data_len, 5);
    cr_expect(memcmp(d.data, "abcde", 5) == 0);
    cr_expect_eq(d.consumed, sizeof(in) - 1 - 4, "NEXT is not consumed");
}

Test(chunked, after_the_end_and_after_a_refusal)
{
    struct httpreq_chunked c = {0};
    struct err err = {0};
    size_t used, off, dlen;

    cr_expect_eq(httpreq_chunked_next(&c, "0\r\n\r\nX", 6, &used, &off, &dlen, &err), 1);
    cr_expect_eq(used, 5);
    cr_expect_eq(httpreq_chunked_next(&c, "X", 1, &used, &off, &dlen, &err), 1, "ended stays");
    cr_expect_eq(used, 0);
    cr_expect_eq(dlen, 0);

    memset(&c, 0, sizeof(c));
    cr_expect_eq(httpreq_chunked_next(&c, "5\r\nab", 5, &used, &off, &dlen, &err), 0);
    cr_expect_eq(used, 5);
    cr_expect_eq(off, 3);
    cr_expect_eq(dlen, 2);
    cr_expect_eq(c.remaining, 3);
    cr_expect_eq(httpreq_chunked_next(&c, NULL, 0, &used, &off, &dlen, &err), 0, "no input");
    cr_expect_eq(used, 0);
    cr_expect_eq(httpreq_chunked_next(&c, "cdeX", 4, &used, &off, &dlen, &err), 0);
    cr_expect_eq(used, 3, "one data range per call");
    cr_expect_eq(httpreq_chunked_next(&c, "X", 1, &used, &off, &dlen, &err), -EINVAL);
    cr_expect_str_eq(err.code, "bad_request");
    cr_expect_eq(used, 0);
    cr_expect_eq(httpreq_chunked_next(&c, "\r\n0\r\n\r\n", 7, &used, &off, &dlen, &err), -EINVAL,
                 "a refused body stays refused");
    cr_expect_eq(httpreq_chunked_next(&c, "5\r\n", 3, &used, &off, &dlen, NULL), -EINVAL,
                 "err may be NULL");
}

/* A chunk-size line (size and extension) of exactly n bytes. */
static size_t
chunk_line_of(char *b, size_t n)
{
    size_t o = 0;

    put(b, &o, "1;");
    fill(b, &o, 'e', n - 2);
    put(b, &o, "\r\nx\r\n0\r\n\r\n");
    return o;
}

/* Trailers of exactly n bytes (their lines with their CRLFs). */
static size_t
trailers_of(char *b, size_t n)
{
    size_t o = 0;

    put(b, &o, "0\r\n");
    while (n > 0) {
        size_t line = n > 1000 ? 1000 : n;
        if (n - line > 0 && n - line < 3)
            line -= 3;
        fill(b, &o, 't', line - 2);
        put(b, &o, "\r\n");
        n -= line;
    }
    put(b, &o, "\r\n");
    return o;
}

static void
expect_chunked_limit(const char *what, const char *b, size_t len, int want)
{
    struct decoded d;

    decode(b, len, len / 2, &d);
    cr_expect_eq(d.st, want, "%s: returned %d, want %d (%s)", what, d.st, want, d.message);
}

Test(chunked, limits)
{
    char *b = malloc(2 * HTTPREQ_TRAILER_MAX + 64);
    size_t len;

    cr_assert_not_null(b);
    len = chunk_line_of(b, HTTPREQ_CHUNK_LINE_MAX);
    expect_chunked_limit("chunk line at the limit", b, len, 1);
    len = chunk_line_of(b, HTTPREQ_CHUNK_LINE_MAX + 1);
    expect_chunked_limit("chunk line one past", b, len, -EINVAL);
    expect_chunked_limit("chunk line one past, cut there", b, HTTPREQ_CHUNK_LINE_MAX + 1, -EINVAL);
    len = trailers_of(b, HTTPREQ_TRAILER_MAX);
    expect_chunked_limit("trailers at the limit", b, len, 1);
    len = trailers_of(b, HTTPREQ_TRAILER_MAX + 1);
    expect_chunked_limit("trailers one past", b, len, -EINVAL);
    len = trailers_of(b, 4);
    expect_chunked_limit("one short trailer", b, len, 1);
    free(b);
}

/* The list matcher the proxy also uses on an upstream's Connection field. */
Test(httpreq, list_has_tokens)
{
    static const struct {
        const char *v, *tok;
        bool want;
    } rows[] = {
        {"close", "close", true},
        {" Close ", "close", true},
        {"keep-alive, X-Drop", "x-drop", true},
        {",,x-drop,,", "x-drop", true},
        {"x-dropped", "x-drop", false},
        {"x-drop2, y", "x-drop", false},
        {"", "x", false},
        {"x y", "x", false},
        {"a,\tb", "b", true},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        cr_expect_eq(
            httpreq_list_has(rows[i].v, strlen(rows[i].v), rows[i].tok, strlen(rows[i].tok)),
            rows[i].want, "\"%s\" has \"%s\"", rows[i].v, rows[i].tok);
}
