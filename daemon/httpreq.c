/*
 * httpreq owns the reading of an HTTP/1.x request head and of a chunked request body for the
 * egress proxy: it turns a job's hostile bytes into a struct httpreq that points into them, and
 * refuses every head that the proxy and an upstream server could read two ways (request
 * smuggling, host confusion), so that what the policy decides on is what is forwarded. It must
 * stay pure -- no syscalls, no allocation, no state outside the caller's buffers and the const
 * tables here -- and it must never decide where a request may go (policy.c does) nor rewrite a
 * byte. httpreq_parse keeps no state between calls: the proxy calls it again on the longer buffer
 * after every read. So every check is a left-to-right scan that decides about a byte only from
 * the bytes before it, and a line or field is judged only once its CRLF is seen. That one rule
 * is what makes a head split at any byte parse like the whole head, and a refusal of a prefix
 * the very refusal (status and message) the whole head gets.
 */
#include "httpreq.h"

#include <sys/socket.h>

#include "netaddr.h"

/* Every refusal: a sentence in err and -EINVAL back. The status is 400 unless the caller set
 * p->status to 414, 417 or 431 first. */
#define REFUSE(p, ...) err_set((p)->err, EINVAL, "bad_request", __VA_ARGS__)
#define CHUNK_REFUSE(err, ...) err_set((err), EINVAL, "bad_request", __VA_ARGS__)

#define V6_TEXT_MAX 45      /* "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" */
#define CHUNK_DIGITS_MAX 16 /* 64 bits of size; more digits are refused, even leading zeros */

static const char *const methods[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                      "CONNECT", "OPTIONS", "TRACE", "PATCH"};

struct parser {
    const char *buf;
    size_t len;      /* bytes to look at: the buffer, cut at HTTPREQ_HEAD_MAX */
    int status;      /* the answer to a refusal */
    struct err *err; /* may be NULL */
    bool connect;    /* the method is CONNECT */
    bool seen_host, seen_length, seen_te;
};

/* How a line ends. Everything but LINE_CRLF and LINE_PARTIAL is a refusal. */
enum line_end {
    LINE_CRLF,    /* complete */
    LINE_PARTIAL, /* the buffer ends first: read more */
    LINE_BARE_CR,
    LINE_BARE_LF,
    LINE_CONTROL, /* a control byte other than HTAB */
    LINE_LONG,    /* more content bytes than the line's limit */
};

struct line {
    const char *s; /* the content, without CRLF */
    size_t n;
    enum line_end end;
    unsigned char stop; /* LINE_CONTROL: the byte */
};

enum auth_state {
    AUTH_START,
    AUTH_NAME,       /* a name or a dotted quad */
    AUTH_V6,         /* inside [ ] */
    AUTH_V6_END,     /* after ] */
    AUTH_PORT_START, /* after : */
    AUTH_PORT,
};

/* An authority (host[:port]) read one byte at a time, so that it can be judged on a prefix. */
struct authority {
    enum auth_state state;
    size_t host_off; /* in the string scanned */
    size_t host_len;
    uint32_t port; /* 0 until a digit is seen; a leading 0 is refused */
};

/* ---- bytes -------------------------------------------------------------------------------- */

static char
ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive in ASCII only: strncasecmp would follow the locale. */
static bool
mem_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return false;
    return true;
}

static bool
is_control(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool
is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int
hex_value(char c)
{
    if (is_digit(c))
        return c - '0';
    c = ascii_lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* RFC 9110 5.6.2: tchar, the bytes of a token. */
static bool
is_tchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* ---- lines -------------------------------------------------------------------------------- */

/*
 * The line at pos: its content runs to the first CR, LF, control byte or the byte past max,
 * whichever comes first. Nothing after the stop is looked at, so a prefix ending anywhere before
 * it sees the same content (as LINE_PARTIAL).
 */
static struct line
line_scan(const struct parser *p, size_t pos, size_t max)
{
    struct line l = {.s = p->buf + pos, .end = LINE_PARTIAL};
    size_t i;

    for (i = pos; i < p->len; i++) {
        unsigned char c = (unsigned char)p->buf[i];
        if (c == '\r') {
            if (i + 1 < p->len)
                l.end = p->buf[i + 1] == '\n' ? LINE_CRLF : LINE_BARE_CR;
            break;
        }
        if (c == '\n' || is_control(c)) {
            l.end = c == '\n' ? LINE_BARE_LF : LINE_CONTROL;
            l.stop = c;
            break;
        }
        if (i - pos == max) {
            l.end = LINE_LONG;
            break;
        }
    }
    l.n = i - pos;
    return l;
}

/* The refusal for how a line ended (field_no 0: the request line), or 0 when it is partial. */
static int
line_refuse(struct parser *p, const struct line *l, size_t field_no)
{
    char what[40] = "the request line";

    if (field_no > 0)
        (void)str_printf(what, sizeof(what), "header line %zu", field_no);
    switch (l->end) {
    case LINE_CRLF:
    case LINE_PARTIAL:
        return 0;
    case LINE_BARE_CR:
        return REFUSE(p, "%s has a CR that is not followed by LF", what);
    case LINE_BARE_LF:
        return REFUSE(p, "%s ends in a bare LF (lines must end in CRLF)", what);
    case LINE_CONTROL:
        if (l->stop == 0)
            return REFUSE(p, "%s has a NUL byte", what);
        return REFUSE(p, "%s has the control byte 0x%02x", what, l->stop);
    case LINE_LONG:
        p->status = field_no > 0 ? 431 : 414;
        return REFUSE(p, "%s is longer than %d bytes", what,
                      field_no > 0 ? HTTPREQ_FIELD_MAX : HTTPREQ_LINE_MAX);
    }
    return REFUSE(p, "%s cannot be read", what);
}

/* ---- authority: host[:port] ---------------------------------------------------------------- */

/* The bytes any target (and a Host value) may hold: visible ASCII without '#' and '\'. */
static int
target_byte(struct parser *p, char c, const char *what)
{
    unsigned char u = (unsigned char)c;

    if (u < 0x21 || u > 0x7e)
        return REFUSE(p, "%s has the byte 0x%02x (only visible ASCII is allowed)", what, u);
    if (c == '#')
        return REFUSE(p, "%s has a fragment ('#')", what);
    if (c == '\\')
        return REFUSE(p, "%s has a backslash, which servers read as '/' or as a byte", what);
    return 0;
}

/* The name itself is left to policy_host_parse; here only what would change where it ends. */
static int
authority_name(struct parser *p, struct authority *a, char c, const char *what)
{
    if (c == '@')
        return REFUSE(p, "%s has userinfo ('@'), which is not allowed", what);
    if (c == ':') {
        if (a->host_len == 0)
            return REFUSE(p, "%s has an empty host", what);
        a->state = AUTH_PORT_START;
        return 0;
    }
    if (c == '[' || c == ']')
        return REFUSE(p, "%s has a bracket outside an IPv6 address", what);
    if (c == '/' || c == '?')
        return REFUSE(p, "%s has a '%c' where only host:port may be", what, c);
    a->host_len++;
    return 0;
}

static int
authority_v6(struct parser *p, struct authority *a, const char *s, size_t i, const char *what)
{
    struct netaddr ip;
    char c = s[i];

    if (c == ']') {
        /* Validated here, not only by the policy: "[evil.example]" must not look like a name. */
        if (netaddr_parse(s + a->host_off + 1, a->host_len - 1, &ip) < 0 || ip.family != AF_INET6)
            return REFUSE(p, "%s has brackets that do not hold an IPv6 address", what);
        a->host_len++;
        a->state = AUTH_V6_END;
        return 0;
    }
    if (hex_value(c) < 0 && c != ':' && c != '.')
        return REFUSE(p, "%s has a byte that cannot be part of an IPv6 address", what);
    if (a->host_len - 1 == V6_TEXT_MAX)
        return REFUSE(p, "%s has an IPv6 address longer than %d bytes", what, V6_TEXT_MAX);
    a->host_len++;
    return 0;
}

static int
authority_port(struct parser *p, struct authority *a, char c, const char *what)
{
    if (is_digit(c)) {
        if (a->state == AUTH_PORT_START && c == '0')
            return REFUSE(p, "%s has a port with a leading zero (or port 0)", what);
        a->port = a->port * 10 + (uint32_t)(c - '0');
        if (a->port > 65535)
            return REFUSE(p, "%s has a port past 65535", what);
        a->state = AUTH_PORT;
        return 0;
    }
    if (c == '@') /* "user:password@host": name the real problem */
        return REFUSE(p, "%s has userinfo ('@'), which is not allowed", what);
    if (a->state == AUTH_PORT_START && (c == '+' || c == '-'))
        return REFUSE(p, "%s has a port with a sign", what);
    if (c == ':')
        return REFUSE(p, "%s has a second ':' (an IPv6 address must be in brackets)", what);
    return REFUSE(p, "%s has a port that is not a number", what);
}

/* Feeds s[i] to the authority; 0 or a refusal. */
static int
authority_byte(struct parser *p, struct authority *a, const char *s, size_t i, const char *what)
{
    switch (a->state) {
    case AUTH_START:
        a->host_off = i;
        if (s[i] == '[') {
            a->state = AUTH_V6;
            a->host_len = 1;
            return 0;
        }
        a->state = AUTH_NAME;
        return authority_name(p, a, s[i], what);
    case AUTH_NAME:
        return authority_name(p, a, s[i], what);
    case AUTH_V6:
        return authority_v6(p, a, s, i, what);
    case AUTH_V6_END:
        if (s[i] == '@')
            return REFUSE(p, "%s has userinfo ('@'), which is not allowed", what);
        if (s[i] != ':')
            return REFUSE(p, "%s has bytes after the ']' of its IPv6 address", what);
        a->state = AUTH_PORT_START;
        return 0;
    case AUTH_PORT_START:
    case AUTH_PORT:
        return authority_port(p, a, s[i], what);
    }
    return REFUSE(p, "%s cannot be read", what);
}

/* The checks that need the authority's end; 1 when it is whole. */
static int
authority_end(struct parser *p, const struct authority *a, bool port_required, const char *what)
{
    switch (a->state) {
    case AUTH_START:
        return REFUSE(p, "%s has an empty host", what);
    case AUTH_V6:
        return REFUSE(p, "%s has an IPv6 address without its closing ']'", what);
    case AUTH_PORT_START:
        return REFUSE(p, "%s has an empty port after ':'", what);
    case AUTH_NAME:
    case AUTH_V6_END:
        if (port_required)
            return REFUSE(p, "%s has no port (CONNECT needs host:port)", what);
        return 1;
    case AUTH_PORT:
        return 1;
    }
    return REFUSE(p, "%s cannot be read", what);
}

/* ---- request line ------------------------------------------------------------------------- */

/* True when s[0..n) is one of the methods (whole) or the start of one. */
static bool
method_match(const char *s, size_t n, bool whole)
{
    for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
        size_t m = strlen(methods[i]);
        if ((whole ? n == m : n <= m) && memcmp(methods[i], s, n) == 0)
            return true;
    }
    return false;
}

/* The method up to its SP; 1 with *pos after the SP, 0 for more input, or a refusal. A lower
 * case "get" is refused at its first byte: methods are case-sensitive (RFC 9110 9.1). */
static int
request_method(struct parser *p, const struct line *l, size_t *pos, struct httpreq *r)
{
    static const char unknown[] = "the method is not one of GET HEAD POST PUT DELETE CONNECT "
                                  "OPTIONS TRACE PATCH (in upper case)";
    size_t i;

    for (i = 0; i < l->n && l->s[i] != ' '; i++)
        if (!method_match(l->s, i + 1, false))
            return REFUSE(p, "%s", unknown);
    if (i == l->n)
        return l->end == LINE_CRLF ? REFUSE(p, "the request line has no target and no version") : 0;
    if (i == 0)
        return REFUSE(p, "the request line starts with a space");
    if (!method_match(l->s, i, true))
        return REFUSE(p, "%s", unknown);
    memcpy(r->method, l->s, i);
    r->method[i] = '\0';
    p->connect = strcmp(r->method, "CONNECT") == 0;
    *pos = i + 1;
    return 1;
}

static int
scheme_refuse(struct parser *p, const char *s)
{
    if (s[0] == '/')
        return REFUSE(p, "the target is in origin form (\"/...\"): a proxy needs http://host/...");
    if (s[0] == '*')
        return REFUSE(p, "the target is in asterisk form (\"*\"), which the proxy does not serve");
    return REFUSE(p, "the target is not an absolute http:// or https:// URL");
}

/* "http://" or "https://", case-insensitive (RFC 3986 3.1); 1 with *pos after it. */
static int
target_scheme(struct parser *p, const char *s, size_t n, size_t *pos, bool *https)
{
    static const char http[] = "http://", https_[] = "https://";
    bool maybe_http = true, maybe_https = true;

    for (size_t i = 0; i < n; i++) {
        char c = ascii_lower(s[i]);
        maybe_http = maybe_http && i < sizeof(http) - 1 && c == http[i];
        maybe_https = maybe_https && i < sizeof(https_) - 1 && c == https_[i];
        if (!maybe_http && !maybe_https)
            return scheme_refuse(p, s);
        if (maybe_http && i == sizeof(http) - 2) {
            *https = false;
            *pos = i + 1;
            return 1;
        }
        if (maybe_https && i == sizeof(https_) - 2) {
            *https = true;
            *pos = i + 1;
            return 1;
        }
    }
    return 0;
}

/* The authority of a target from *pos; stops at '/' or '?' unless CONNECT. 1 when complete. */
static int
target_authority(struct parser *p, const char *s, size_t n, bool complete, size_t *pos,
                 struct httpreq *r)
{
    struct authority a = {0};
    size_t i = *pos;
    int st;

    for (; i < n; i++) {
        if ((st = target_byte(p, s[i], "the target")) < 0)
            return st;
        if (!p->connect && (s[i] == '/' || s[i] == '?'))
            break;
        if ((st = authority_byte(p, &a, s, i, "the target")) < 0)
            return st;
    }
    if (i == n && !complete)
        return 0;
    if ((st = authority_end(p, &a, p->connect, "the target")) < 0)
        return st;
    r->host = s + a.host_off;
    r->host_len = a.host_len;
    r->port_explicit = a.port != 0;
    r->port = a.port != 0 ? (uint16_t)a.port : r->https ? 443 : 80;
    *pos = i;
    return 1;
}

/* Path and query from pos (at '/', '?' or the end). "" (path_len 0) when there is no path. */
static int
target_path(struct parser *p, const char *s, size_t n, bool complete, size_t pos, struct httpreq *r)
{
    size_t q = n;
    int st;

    for (size_t i = pos; i < n; i++) {
        if ((st = target_byte(p, s[i], "the target")) < 0)
            return st;
        if (s[i] == '?' && q == n)
            q = i;
    }
    if (!complete)
        return 0;
    r->path = s + pos;
    r->path_len = q - pos;
    r->query = q < n ? s + q + 1 : NULL;
    r->query_len = q < n ? n - q - 1 : 0;
    return 1;
}

/* The target s[0..n); complete when its delimiter has been seen. */
static int
target_parse(struct parser *p, const char *s, size_t n, bool complete, struct httpreq *r)
{
    size_t pos = 0;
    int st;

    if (complete && n == 0)
        return REFUSE(p, "the request line has no target");
    if (!p->connect) {
        st = target_scheme(p, s, n, &pos, &r->https);
        if (st == 0 && complete)
            return REFUSE(p, "the target is not an absolute http:// or https:// URL");
        if (st <= 0)
            return st;
    }
    st = target_authority(p, s, n, complete, &pos, r);
    if (st <= 0)
        return st;
    if (p->connect) {
        /* Authority form has no path: point at the target's end, inside the buffer. */
        r->form = HTTPREQ_FORM_AUTHORITY;
        r->path = s + n;
        r->path_len = 0;
        r->query = NULL;
        r->query_len = 0;
        return 1;
    }
    r->form = HTTPREQ_FORM_ABSOLUTE;
    return target_path(p, s, n, complete, pos, r);
}

/* The target from *pos up to the next SP; 1 with *pos after that SP. */
static int
request_target(struct parser *p, const struct line *l, size_t *pos, struct httpreq *r)
{
    size_t start = *pos, end = start;
    bool delimited;
    int st;

    while (end < l->n && l->s[end] != ' ')
        end++;
    delimited = end < l->n || l->end == LINE_CRLF;
    if (end == start && end < l->n)
        return REFUSE(p, "more than one space between the method and the target");
    st = target_parse(p, l->s + start, end - start, delimited, r);
    if (st <= 0)
        return st;
    if (end == l->n)
        return REFUSE(p, "the request line has no HTTP version (HTTP/0.9 is not spoken)");
    *pos = end + 1;
    return 1;
}

/* Exactly "HTTP/1.0" or "HTTP/1.1" (the name is case-sensitive, RFC 9112 2.3). */
static int
request_version(struct parser *p, const struct line *l, size_t pos, struct httpreq *r)
{
    static const char prefix[] = "HTTP/1.";
    const size_t minor = sizeof(prefix) - 1; /* where the minor digit is */
    const char *s = l->s + pos;
    size_t n = l->n - pos;

    for (size_t i = 0; i < n; i++) {
        if (i == 0 && s[i] == ' ')
            return REFUSE(p, "more than one space between the target and the version");
        if ((i < minor && s[i] != prefix[i]) || (i == minor && s[i] != '0' && s[i] != '1'))
            return REFUSE(p, "the version is not HTTP/1.0 or HTTP/1.1");
        if (i > minor)
            return REFUSE(p, "the request line has bytes after the version");
    }
    if (l->end != LINE_CRLF)
        return 0;
    if (n <= minor)
        return REFUSE(p, "the version is not HTTP/1.0 or HTTP/1.1");
    r->version_minor = s[minor] - '0';
    return 1;
}

/* 1 when the request line is complete and good, 0 for more input, or a refusal. */
static int
request_line(struct parser *p, const struct line *l, struct httpreq *r)
{
    size_t pos = 0;
    int st;

    if (l->end == LINE_CRLF && l->n == 0)
        return REFUSE(p, "more than two empty lines before the request line");
    if ((st = request_method(p, l, &pos, r)) <= 0)
        return st;
    if ((st = request_target(p, l, &pos, r)) <= 0)
        return st;
    return request_version(p, l, pos, r);
}

/* ---- header fields ------------------------------------------------------------------------ */

static bool
name_is(const struct httpreq_header *h, const char *name)
{
    return h->name_len == strlen(name) && mem_ieq(h->name, name, h->name_len);
}

static bool
value_is(const struct httpreq_header *h, const char *value)
{
    return h->value_len == strlen(value) && mem_ieq(h->value, value, h->value_len);
}

/* "Content_Length" is a different field to us, but CGI-style servers (and the frameworks that
 * copy their habits) map '_' to '-' and would read it as the real one: a second framing. */
static bool
name_lookalike(const struct httpreq_header *h, const char *name)
{
    if (h->name_len != strlen(name) || !memchr(h->name, '_', h->name_len))
        return false;
    for (size_t i = 0; i < h->name_len; i++)
        if (ascii_lower(h->name[i]) != name[i] && !(h->name[i] == '_' && name[i] == '-'))
            return false;
    return true;
}

/* RFC 9112 3.2: a Host that is not host[:port] is answered 400. */
static int
field_host(struct parser *p, const struct httpreq_header *h)
{
    struct authority a = {0};
    int st;

    if (p->seen_host)
        return REFUSE(p, "two Host fields");
    p->seen_host = true;
    for (size_t i = 0; i < h->value_len; i++) {
        if ((st = target_byte(p, h->value[i], "the Host field")) < 0)
            return st;
        if ((st = authority_byte(p, &a, h->value, i, "the Host field")) < 0)
            return st;
    }
    return authority_end(p, &a, false, "the Host field");
}

/* 1*DIGIT up to 2^63-1. Leading zeros are allowed (RFC 9110 8.6): servers read them as decimal. */
static int
length_value(struct parser *p, const struct httpreq_header *h, uint64_t *ret)
{
    const uint64_t max = INT64_MAX;
    uint64_t v = 0;

    if (h->value_len == 0)
        return REFUSE(p, "an empty Content-Length");
    if (h->value[0] == '+' || h->value[0] == '-')
        return REFUSE(p, "a Content-Length with a sign");
    for (size_t i = 0; i < h->value_len; i++) {
        char c = h->value[i];
        if (c == ',')
            return REFUSE(p, "a Content-Length with a list of values");
        if (!is_digit(c))
            return REFUSE(p, "a Content-Length with a byte that is not a digit");
        if (v > (max - (uint64_t)(c - '0')) / 10)
            return REFUSE(p, "a Content-Length past 2^63-1");
        v = v * 10 + (uint64_t)(c - '0');
    }
    *ret = v;
    return 1;
}

static int
field_length(struct parser *p, const struct httpreq_header *h, struct httpreq *r)
{
    int st;

    if (p->seen_length)
        return REFUSE(p, "two Content-Length fields");
    p->seen_length = true;
    if (p->seen_te)
        return REFUSE(p, "both Content-Length and Transfer-Encoding");
    if ((st = length_value(p, h, &r->content_length)) < 0)
        return st;
    /* "Content-Length: 0" says there is no body, which a CONNECT never has. */
    if (p->connect && r->content_length > 0)
        return REFUSE(p, "a CONNECT request with a body (Content-Length above 0)");
    return 1;
}

static int
field_transfer_encoding(struct parser *p, const struct httpreq_header *h, const struct httpreq *r)
{
    if (p->seen_te)
        return REFUSE(p, "two Transfer-Encoding fields");
    p->seen_te = true;
    if (p->seen_length)
        return REFUSE(p, "both Content-Length and Transfer-Encoding");
    if (r->version_minor == 0)
        return REFUSE(p, "Transfer-Encoding in an HTTP/1.0 request");
    if (p->connect)
        return REFUSE(p, "a CONNECT request with a body (Transfer-Encoding)");
    if (!value_is(h, "chunked"))
        return REFUSE(p, "a Transfer-Encoding other than exactly \"chunked\"");
    return 1;
}

/* RFC 9110 10.1.1: a 100-continue from an HTTP/1.0 client is ignored, not obeyed. */
static int
field_expect(struct parser *p, const struct httpreq_header *h, struct httpreq *r)
{
    if (!value_is(h, "100-continue")) {
        p->status = 417;
        return REFUSE(p, "an Expect other than 100-continue");
    }
    if (r->version_minor == 1)
        r->expect_continue = true;
    return 1;
}

/* What a complete field means for the request; 1, or a refusal. */
static int
field_meaning(struct parser *p, const struct httpreq_header *h, struct httpreq *r)
{
    if (name_is(h, "host"))
        return field_host(p, h);
    if (name_is(h, "content-length"))
        return field_length(p, h, r);
    if (name_is(h, "transfer-encoding"))
        return field_transfer_encoding(p, h, r);
    if (name_is(h, "expect"))
        return field_expect(p, h, r);
    if (name_lookalike(h, "content-length") || name_lookalike(h, "transfer-encoding"))
        return REFUSE(p,
                      "the field name \"%.*s\" would be read as a framing field by servers "
                      "that take '_' for '-'",
                      (int)h->name_len, h->name);
    return 1;
}

/* The field name up to its colon: 1 with *colon set, 0 for more input, or a refusal. */
static int
field_name(struct parser *p, const struct line *l, size_t no, size_t *colon)
{
    for (size_t i = 0; i < l->n; i++) {
        char c = l->s[i];
        if (c == ':' && i == 0)
            return REFUSE(p, "header line %zu has an empty field name", no);
        if (c == ':') {
            *colon = i;
            return 1;
        }
        /* RFC 9112 5.2: obs-fold is refused; 2: so is whitespace before the first field. */
        if (i == 0 && is_ows(c))
            return REFUSE(p, "header line %zu starts with whitespace (line folding)", no);
        if (is_ows(c))
            return REFUSE(p, "header line %zu has whitespace before the colon", no);
        if (!is_tchar(c))
            return REFUSE(p, "header line %zu has the byte 0x%02x in its field name", no,
                          (unsigned char)c);
    }
    return l->end == LINE_CRLF ? REFUSE(p, "header line %zu has no colon", no) : 0;
}

/* A field line: 1 when complete and recorded, 0 for more input, or a refusal. The value needs
 * no scan of its own: every byte line_scan lets through (VCHAR, SP, HTAB, obs-text) is allowed. */
static int
field_line(struct parser *p, const struct line *l, struct httpreq *r)
{
    struct httpreq_header *h;
    size_t colon = 0, start, end;
    int st;

    if ((st = field_name(p, l, r->nheaders + 1, &colon)) <= 0)
        return st;
    if (l->end != LINE_CRLF)
        return 0;
    if (r->nheaders >= HTTPREQ_HEADERS_MAX) { /* head_fields refused it already; bounds */
        p->status = 431;
        return REFUSE(p, "more than %d header fields", HTTPREQ_HEADERS_MAX);
    }
    for (start = colon + 1; start < l->n && is_ows(l->s[start]);)
        start++;
    for (end = l->n; end > start && is_ows(l->s[end - 1]);)
        end--;
    h = &r->headers[r->nheaders++];
    *h = (struct httpreq_header){l->s, colon, l->s + start, end - start};
    return field_meaning(p, h, r);
}

/* ---- the head ----------------------------------------------------------------------------- */

static ssize_t
head_end(struct parser *p, struct httpreq *r, size_t end)
{
    if (r->version_minor == 1 && !p->seen_host)
        return REFUSE(p, "no Host field (HTTP/1.1 requires one)");
    r->body = p->seen_te       ? HTTPREQ_BODY_CHUNKED
              : p->seen_length ? HTTPREQ_BODY_LENGTH
                               : HTTPREQ_BODY_NONE;
    /* "close" wins over "keep-alive" when a confused client sends both. */
    r->keep_alive = !httpreq_connection_lists(r, "close", 5) &&
                    (r->version_minor == 1 || httpreq_connection_lists(r, "keep-alive", 10));
    return (ssize_t)end;
}

static ssize_t
head_fields(struct parser *p, size_t pos, struct httpreq *r)
{
    struct line l;
    int st;

    for (;;) {
        if (pos == p->len)
            return 0;
        /* Decided on the first byte of the 101st line, before reading it. */
        if (r->nheaders == HTTPREQ_HEADERS_MAX && p->buf[pos] != '\r' && p->buf[pos] != '\n') {
            p->status = 431;
            return REFUSE(p, "more than %d header fields", HTTPREQ_HEADERS_MAX);
        }
        l = line_scan(p, pos, HTTPREQ_FIELD_MAX);
        if (l.end == LINE_CRLF && l.n == 0)
            return head_end(p, r, pos + 2);
        if ((st = field_line(p, &l, r)) < 0)
            return st;
        if (l.end != LINE_CRLF)
            return line_refuse(p, &l, r->nheaders + 1);
        pos += l.n + 2;
    }
}

static ssize_t
head_parse(struct parser *p, struct httpreq *r)
{
    struct line l;
    size_t pos = 0;
    int st;

    /* RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request line. */
    for (int k = 0; k < 2 && pos + 1 < p->len && p->buf[pos] == '\r' && p->buf[pos + 1] == '\n';
         k++)
        pos += 2;
    l = line_scan(p, pos, HTTPREQ_LINE_MAX);
    if ((st = request_line(p, &l, r)) < 0)
        return st;
    if (l.end != LINE_CRLF)
        return line_refuse(p, &l, 0);
    return head_fields(p, pos + l.n + 2, r);
}

ssize_t
httpreq_parse(const char *buf, size_t len, struct httpreq *ret, int *ret_status, struct err *err)
{
    struct parser p = {
        .buf = buf,
        .len = len < HTTPREQ_HEAD_MAX ? len : HTTPREQ_HEAD_MAX,
        .status = 400,
        .err = err,
    };
    struct httpreq r;
    ssize_t n;

    memset(&r, 0, sizeof(r));
    if (len == 0)
        n = 0;
    else if (!buf)
        n = REFUSE(&p, "no buffer to parse");
    else
        n = head_parse(&p, &r);
    /* HTTPREQ_HEAD_MAX bytes and no end yet: the head cannot fit, whatever comes next. Refusing
     * here rather than at the byte past the limit lets a caller hold the head in exactly
     * HTTPREQ_HEAD_MAX bytes. */
    if (n == 0 && len >= HTTPREQ_HEAD_MAX) {
        p.status = 431;
        n = REFUSE(&p, "the request head is longer than %d bytes", HTTPREQ_HEAD_MAX);
    }
    if (n < 0 && ret_status)
        *ret_status = p.status;
    if (n > 0 && ret)
        *ret = r;
    return n;
}

const struct httpreq_header *
httpreq_header_find(const struct httpreq *r, const char *name)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->nheaders && i < HTTPREQ_HEADERS_MAX; i++)
        if (name_is(&r->headers[i], name))
            return &r->headers[i];
    return NULL;
}

/* True when the list v[0..n) has the element name (OWS around elements, empty ones skipped). */
bool
httpreq_list_has(const char *v, size_t n, const char *name, size_t name_len)
{
    size_t i = 0;

    while (i <= n) {
        size_t start = i, end;
        while (i < n && v[i] != ',')
            i++;
        end = i++;
        while (start < end && is_ows(v[start]))
            start++;
        while (end > start && is_ows(v[end - 1]))
            end--;
        if (end - start == name_len && mem_ieq(v + start, name, name_len))
            return true;
    }
    return false;
}

bool
httpreq_connection_lists(const struct httpreq *r, const char *name, size_t name_len)
{
    if (!r || !name || name_len == 0)
        return false;
    for (size_t i = 0; i < r->nheaders && i < HTTPREQ_HEADERS_MAX; i++) {
        const struct httpreq_header *h = &r->headers[i];
        if (name_is(h, "connection") && httpreq_list_has(h->value, h->value_len, name, name_len))
            return true;
    }
    return false;
}

/* ---- chunked body ------------------------------------------------------------------------- */

enum chunk_state {
    CHUNK_SIZE, /* zero: the state of a zeroed struct */
    CHUNK_EXT,
    CHUNK_DATA,
    CHUNK_DATA_CR,
    CHUNK_DATA_LF,
    CHUNK_TRAILER,
    CHUNK_DONE,
    CHUNK_FAILED,
};

/* A byte of the size itself (c->line_len counts it already, and all bytes so far are digits). */
static int
chunk_size_digit(struct httpreq_chunked *c, char ch, struct err *err)
{
    int v = hex_value(ch);

    if (v >= 0) {
        if (c->line_len > CHUNK_DIGITS_MAX)
            return CHUNK_REFUSE(err, "a chunk size has more than %d hex digits", CHUNK_DIGITS_MAX);
        c->remaining = c->remaining << 4 | (uint64_t)v;
        return 0;
    }
    if (ch == ';' && c->line_len > 1) {
        c->state = CHUNK_EXT;
        return 0;
    }
    if (c->line_len == 1 && (ch == '+' || ch == '-'))
        return CHUNK_REFUSE(err, "a chunk size has a sign");
    if (is_ows(ch))
        return CHUNK_REFUSE(err, "a chunk-size line has whitespace (none is allowed)");
    return CHUNK_REFUSE(err, "a chunk size is not a hex number");
}

/* A byte of a chunk-size line: the size, then extensions, which are skipped but must not hold
 * control bytes (a bare LF in one is a classic way to end the line early for one reader). */
static int
chunk_size_byte(struct httpreq_chunked *c, unsigned char ch, struct err *err)
{
    if (c->line_cr) {
        if (ch != '\n')
            return CHUNK_REFUSE(err, "a chunk-size line has a CR that is not followed by LF");
        c->line_cr = false;
        c->line_len = 0;
        c->state = c->remaining > 0 ? CHUNK_DATA : CHUNK_TRAILER;
        return 0;
    }
    if (ch == '\r' && c->line_len == 0)
        return CHUNK_REFUSE(err, "a chunk-size line has no size");
    if (ch == '\r') {
        c->line_cr = true;
        return 0;
    }
    if (ch == '\n')
        return CHUNK_REFUSE(err, "a chunk-size line ends in a bare LF");
    if (++c->line_len > HTTPREQ_CHUNK_LINE_MAX)
        return CHUNK_REFUSE(err, "a chunk-size line is longer than %d bytes",
                            HTTPREQ_CHUNK_LINE_MAX);
    if (c->state == CHUNK_SIZE)
        return chunk_size_digit(c, (char)ch, err);
    if (is_control(ch))
        return CHUNK_REFUSE(err, "a chunk extension has the control byte 0x%02x", ch);
    return 0;
}

static int
chunk_trailer_limit(const struct httpreq_chunked *c, struct err *err)
{
    if (c->trailer_len > HTTPREQ_TRAILER_MAX)
        return CHUNK_REFUSE(err, "the trailers are longer than %d bytes", HTTPREQ_TRAILER_MAX);
    return 0;
}

/* A byte of the trailer section; 1 on the LF of the empty line that ends the body. Trailers are
 * dropped, so only their line ends, bytes and size matter. */
static int
chunk_trailer_byte(struct httpreq_chunked *c, unsigned char ch, struct err *err)
{
    if (c->line_cr) {
        if (ch != '\n')
            return CHUNK_REFUSE(err, "a trailer line has a CR that is not followed by LF");
        c->line_cr = false;
        if (c->line_len == 0) {
            c->state = CHUNK_DONE;
            return 1;
        }
        c->line_len = 0;
        c->trailer_len += 2;
        return chunk_trailer_limit(c, err);
    }
    if (ch == '\r') {
        c->line_cr = true;
        return 0;
    }
    if (ch == '\n')
        return CHUNK_REFUSE(err, "a trailer line ends in a bare LF");
    if (is_control(ch))
        return CHUNK_REFUSE(err, "a trailer has the control byte 0x%02x", ch);
    c->line_len++;
    c->trailer_len++;
    return chunk_trailer_limit(c, err);
}

/* One byte outside chunk data: 0 to go on, 1 at the body's end, or a refusal. */
static int
chunk_byte(struct httpreq_chunked *c, unsigned char ch, struct err *err)
{
    switch (c->state) {
    case CHUNK_SIZE:
    case CHUNK_EXT:
        return chunk_size_byte(c, ch, err);
    case CHUNK_DATA_CR:
        if (ch != '\r')
            return CHUNK_REFUSE(err, "chunk data is not followed by CRLF (its size is wrong)");
        c->state = CHUNK_DATA_LF;
        return 0;
    case CHUNK_DATA_LF:
        if (ch != '\n')
            return CHUNK_REFUSE(err, "chunk data is followed by a CR without LF");
        c->state = CHUNK_SIZE;
        c->remaining = 0;
        c->line_len = 0;
        return 0;
    case CHUNK_TRAILER:
        return chunk_trailer_byte(c, ch, err);
    default:
        return CHUNK_REFUSE(err, "the chunked decoder is in an unknown state");
    }
}

int
httpreq_chunked_next(struct httpreq_chunked *c, const char *in, size_t len, size_t *consumed,
                     size_t *data_off, size_t *data_len, struct err *err)
{
    size_t i = 0;
    int st = 0;

    *consumed = 0;
    *data_off = 0;
    *data_len = 0;
    if (c->state == CHUNK_DONE)
        return 1;
    if (c->state == CHUNK_FAILED)
        return CHUNK_REFUSE(err, "the chunked body was refused before");
    while (i < len && st == 0) {
        if (c->state == CHUNK_DATA) {
            /* One data range per call: hand it on, and come back for the rest. */
            size_t take = c->remaining < len - i ? (size_t)c->remaining : len - i;
            *data_off = i;
            *data_len = take;
            i += take;
            c->remaining -= take;
            if (c->remaining == 0)
                c->state = CHUNK_DATA_CR;
            break;
        }
        if ((st = chunk_byte(c, (unsigned char)in[i], err)) >= 0)
            i++;
    }
    if (st < 0)
        c->state = CHUNK_FAILED;
    *consumed = i;
    return st;
}
