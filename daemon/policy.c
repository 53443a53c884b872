/*
 * policy owns the policy format -- parsing and validating one policy's JSON text, filling the
 * defaults, rendering it back as normalised JSON -- the strict parsers for what a job names (a
 * host, a URL path, a URL), and every allow or deny decision the proxy takes on them. It is pure:
 * no syscalls, no I/O, no DNS, no globals but the const tables below. It never reads a file,
 * resolves a name or touches a socket, so any decision can be explained and tested from the
 * policy text alone. Where input is ambiguous it refuses rather than guesses: a host that merely
 * looks numeric, a path that hides a dot segment behind an escape, an unknown key, a rule that
 * could mean two things.
 */
#include "policy.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>

#define WHERE_MAX 64   /* a key path in a message: "network.allow[1023].methods[15]" */
#define QUOTE_SHOWN 80 /* bytes of a refused value quoted back in a message */
#define PATH_TOO_LONG "a path is too long"

/* The methods a rule may name, in the order policy_to_json lists them. Bit i of a rule's
 * `methods` is policy_methods[i]. CONNECT is not here: a rule's methods never apply to tunnels. */
static const char *const policy_methods[] = {"GET",    "HEAD",  "POST",   "PUT",
                                             "DELETE", "PATCH", "OPTIONS"};

/* The system directories a policy without "filesystem" sees read-only. Not /etc as a whole:
 * it holds secrets (shadow, ssh host keys, credentials of services), so only what programs need
 * to run, resolve users and verify TLS is bound. */
static const char *const policy_fs_default_ro[] = {
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
};

/* Used for a limit that neither the policy nor the caller's defaults set. */
static const struct policy_limits policy_builtin_limits = POLICY_LIMITS_DEFAULT;

struct policy_limit_key {
    const char *key;
    size_t offset;
    uint64_t max;
};

static const struct policy_limit_key policy_limit_keys[] = {
    {"timeout_s", offsetof(struct policy_limits, timeout_s), POLICY_TIMEOUT_S_MAX},
    {"memory_mb", offsetof(struct policy_limits, memory_mb), POLICY_MEMORY_MB_MAX},
    {"pids", offsetof(struct policy_limits, pids), POLICY_PIDS_MAX},
    {"cpu_s", offsetof(struct policy_limits, cpu_s), POLICY_CPU_S_MAX},
    {"output_bytes", offsetof(struct policy_limits, output_bytes), POLICY_OUTPUT_BYTES_MAX},
    {"disk_mb", offsetof(struct policy_limits, disk_mb), POLICY_DISK_MB_MAX},
};

static const char *const policy_top_keys[] = {"description", "filesystem", "network", "limits",
                                              NULL};
static const char *const policy_fs_keys[] = {"read_only", "read_write", NULL};
static const char *const policy_network_keys[] = {"allow", "deny", NULL};
static const char *const policy_limits_keys[] = {"timeout_s",    "memory_mb", "pids", "cpu_s",
                                                 "output_bytes", "disk_mb",   NULL};
static const char *const policy_rule_keys[] = {"host",  "cidr",    "ports", "methods",
                                               "paths", "comment", NULL};

struct strv {
    char **v;
    size_t n;
};

struct policy_rule {
    bool is_cidr;
    bool wildcard;           /* "*.name": host holds "name" and matches only below it */
    char host[HOST_MAX + 1]; /* normalised name (host rules) */
    size_t host_len;
    struct netaddr_cidr cidr; /* cidr rules */
    uint16_t ports[POLICY_PORTS_MAX];
    size_t n_ports;    /* 0: the default, 80 and 443 */
    unsigned methods;  /* bit i: policy_methods[i]; 0: any method */
    struct strv paths; /* normalised; none: any path */
    char *comment;     /* NULL when there is none */
};

struct policy_list {
    struct policy_rule *rules;
    size_t n;
};

struct policy {
    int refs;
    char *name;
    char *description;
    struct strv fs_ro;
    struct strv fs_rw;
    bool has_network;
    struct policy_list allow;
    struct policy_list deny;
    struct policy_limits limits;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static bool
ascii_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool
ascii_alnum(unsigned char c)
{
    unsigned char l = (unsigned char)(c | 0x20);

    return ascii_digit(c) || (l >= 'a' && l <= 'z');
}

static bool
ascii_hex(unsigned char c)
{
    unsigned char l = (unsigned char)(c | 0x20);

    return ascii_digit(c) || (l >= 'a' && l <= 'f');
}

static unsigned
hex_value(unsigned char c)
{
    return ascii_digit(c) ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

static char
ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
}

/* True when s starts with the lower-case prefix, compared without regard to ASCII case. */
static bool
prefix_ci(const char *s, const char *prefix)
{
    for (; *prefix; s++, prefix++)
        if (ascii_lower(*s) != *prefix)
            return false;
    return true;
}

/* A refused value, quoted for a message: at most QUOTE_SHOWN bytes, with quotes, backslashes,
 * control and non-ASCII bytes escaped, so a message never carries raw bytes from the input. */
struct quoted {
    char s[QUOTE_SHOWN * 4 + 8];
};

static const char *
quote(struct quoted *q, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    q->s[o++] = '"';
    for (size_t i = 0; i < len && i < QUOTE_SHOWN; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f) {
            q->s[o++] = '\\';
            q->s[o++] = 'x';
            q->s[o++] = hex[c >> 4];
            q->s[o++] = hex[c & 15];
            continue;
        }
        if (c == '"' || c == '\\')
            q->s[o++] = '\\';
        q->s[o++] = (char)c;
    }
    if (len > QUOTE_SHOWN)
        for (int i = 0; i < 3; i++)
            q->s[o++] = '.';
    q->s[o++] = '"';
    q->s[o] = '\0';
    return q->s;
}

/* Sets err to "<where>: <message>" with code bad_policy; returns -EINVAL. */
static int fail(struct err *err, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
fail(struct err *err, const char *where, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(err, EINVAL, "bad_policy", "%s: %s", where, msg);
}

static int
oom(struct err *err)
{
    return err_set(err, ENOMEM, "internal", "out of memory");
}

/* Key paths for messages. They always fit WHERE_MAX: keys are ours, indexes are bounded. */
static void
where_key(char *buf, const char *where, const char *key)
{
    str_printf(buf, WHERE_MAX, "%s.%s", where, key);
}

static void
where_index(char *buf, const char *where, size_t i)
{
    str_printf(buf, WHERE_MAX, "%s[%zu]", where, i);
}

static void
strv_free(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static bool
strv_contains(const struct strv *s, const char *str)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], str) == 0)
            return true;
    return false;
}

/* ---- path normalisation ------------------------------------------------------------------- */

struct outbuf {
    char *p;
    size_t cap; /* bytes of text it can hold, not counting the NUL */
    size_t len;
};

static bool
out_put(struct outbuf *o, const char *s, size_t len)
{
    if (o->cap - o->len < len)
        return false;
    memcpy(o->p + o->len, s, len);
    o->len += len;
    return true;
}

/* RFC 3986 unreserved: an escape of one of these means the same as the character itself. */
static bool
path_unreserved(unsigned char c)
{
    return ascii_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Printable bytes that RFC 3986 does not allow raw in a path. They are percent-encoded, so the
 * raw and the encoded spelling compare equal against a path rule (a deny rule on "/a%20b" must
 * also catch "/a b"). */
static bool
path_needs_encoding(unsigned char c)
{
    return c != '\0' && strchr(" \"<>[]^`{|}", c) != NULL;
}

static const char *
path_put_hex(struct outbuf *o, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    char e[3] = {'%', hex[c >> 4], hex[c & 15]};

    return out_put(o, e, sizeof(e)) ? NULL : PATH_TOO_LONG;
}

static const char *
path_escape(const char *in, size_t end, size_t *i, struct outbuf *o, bool *dot_escaped)
{
    unsigned char v;
    char c;

    if (end - *i < 3 || !ascii_hex((unsigned char)in[*i + 1]) ||
        !ascii_hex((unsigned char)in[*i + 2]))
        return "a '%' must be followed by two hex digits";
    v = (unsigned char)(hex_value((unsigned char)in[*i + 1]) << 4 |
                        hex_value((unsigned char)in[*i + 2]));
    *i += 3;
    if (v == '/')
        return "a path cannot hold an encoded '/' (%2F)";
    if (v == '\\')
        return "a path cannot hold an encoded '\\' (%5C)";
    if (v == '\0')
        return "a path cannot hold an encoded NUL (%00)";
    if (!path_unreserved(v))
        return path_put_hex(o, v);
    if (v == '.')
        *dot_escaped = true;
    c = (char)v;
    return out_put(o, &c, 1) ? NULL : PATH_TOO_LONG;
}

static const char *
path_raw(unsigned char c, struct outbuf *o)
{
    char ch = (char)c;

    if (c < 0x20 || c == 0x7f)
        return "a path cannot hold control characters";
    if (c >= 0x80)
        return "a path must be ASCII (percent-encode other bytes)";
    if (c == '\\')
        return "a path cannot hold '\\'";
    if (path_needs_encoding(c))
        return path_put_hex(o, c);
    return out_put(o, &ch, 1) ? NULL : PATH_TOO_LONG;
}

/* The segment just written at o->p[start] ("/" + segment) is resolved when it is "." or "..",
 * as RFC 3986 5.2.4 does, except that climbing above the root is refused, not clamped. A dot
 * segment spelled with an escape is refused: a server that decodes late would see a different
 * path than the rule was checked against. */
static const char *
path_dots(struct outbuf *o, size_t start, bool dot_escaped, bool last)
{
    const char *seg = o->p + start + 1;
    size_t n = o->len - start - 1;
    bool one = n == 1 && seg[0] == '.';
    bool two = n == 2 && seg[0] == '.' && seg[1] == '.';

    if (!one && !two)
        return NULL;
    if (dot_escaped)
        return "a path cannot spell a \".\" or \"..\" segment with percent-escapes";
    o->len = start;
    if (two) {
        if (o->len == 0)
            return "a path cannot climb above the root";
        while (o->p[--o->len] != '/')
            ;
    }
    if (last && !out_put(o, "/", 1))
        return PATH_TOO_LONG;
    return NULL;
}

/* Copies one "/segment" from in[*i] (a '/') to o, normalised. */
static const char *
path_segment(const char *in, size_t end, size_t *i, struct outbuf *o)
{
    size_t start = o->len;
    bool dot_escaped = false;
    const char *problem = NULL;

    if (!out_put(o, "/", 1))
        return PATH_TOO_LONG;
    for ((*i)++; !problem && *i < end && in[*i] != '/';) {
        if (in[*i] == '%') {
            problem = path_escape(in, end, i, o, &dot_escaped);
        } else {
            problem = path_raw((unsigned char)in[*i], o);
            (*i)++;
        }
    }
    return problem ? problem : path_dots(o, start, dot_escaped, *i >= end);
}

int
policy_path_normalize(const char *in, size_t len, char *out, size_t n, struct err *err)
{
    struct outbuf o = {out, n > 0 ? n - 1 : 0, 0};
    const char *problem = NULL;
    struct quoted q;
    size_t end = 0, i = 0;

    while (end < len && in[end] != '?' && in[end] != '#')
        end++;
    if (n < 2)
        problem = PATH_TOO_LONG;
    else if (end > 0 && in[0] != '/')
        problem = "a path must start with '/'";
    while (!problem && i < end)
        problem = path_segment(in, end, &i, &o);
    if (problem)
        return err_set(err, EINVAL, "bad_path", "%s: %s", quote(&q, in, len), problem);
    if (o.len == 0)
        o.p[o.len++] = '/';
    o.p[o.len] = '\0';
    return 0;
}

/* ---- hosts -------------------------------------------------------------------------------- */

static const char *
host_byte_problem(unsigned char c)
{
    if (c >= 0x80)
        return "a host must be ASCII (write an IDN name as punycode, xn--...)";
    if (c < 0x20 || c == 0x7f)
        return "a host cannot hold control characters";
    if (c == ' ')
        return "a host cannot hold spaces";
    if (c == '@')
        return "a host cannot hold userinfo ('@')";
    if (c == '%')
        return "a host cannot hold percent-escapes";
    if (c == '/' || c == '\\')
        return "a host cannot hold '/' or '\\'";
    if (c == ':')
        return "a host cannot hold ':' (an IPv6 address goes in brackets: [::1])";
    if (ascii_alnum(c) || c == '-' || c == '_' || c == '.')
        return NULL;
    return "a host may only hold letters, digits, '-', '_' and '.'";
}

static const char *
host_labels_problem(const char *s, size_t len)
{
    size_t label = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            label++;
            continue;
        }
        if (label == 0)
            return "a host cannot have an empty label";
        if (label > LABEL_MAX)
            return "a label is longer than 63 bytes";
        label = 0;
    }
    return NULL;
}

/* The WHATWG URL standard's "ends in a number": the last label is all digits, or "0x"/"0X"
 * followed by hex digits (or nothing). Such a host is an IPv4 address in some parser's eyes
 * (inet_aton, browsers, libcurl), whatever we would make of it. s has no trailing dot. */
static bool
host_ends_in_number(const char *s, size_t len)
{
    size_t start = len;
    size_t i;

    while (start > 0 && s[start - 1] != '.')
        start--;
    if (start == len)
        return false;
    i = start;
    if (len - start >= 2 && s[start] == '0' && (s[start + 1] | 0x20) == 'x') {
        for (i = start + 2; i < len; i++)
            if (!ascii_hex((unsigned char)s[i]))
                return false;
        return true;
    }
    for (; i < len; i++)
        if (!ascii_digit((unsigned char)s[i]))
            return false;
    return true;
}

static void
host_set_ip(struct policy_host *h, const struct netaddr *a)
{
    h->is_ip = true;
    h->ip = *a;
    netaddr_format(a, h->name, sizeof(h->name));
}

static const char *
host_check_bracket(const char *s, size_t len, struct policy_host *h)
{
    struct netaddr a;

    if (len < 3 || s[len - 1] != ']')
        return "an IPv6 address must be closed with ']'";
    if (memchr(s, '%', len))
        return "an IPv6 address cannot carry a zone ('%')";
    if (netaddr_parse(s + 1, len - 2, &a) < 0 || a.family != AF_INET6)
        return "brackets must hold an IPv6 address";
    host_set_ip(h, &a);
    return NULL;
}

static const char *
host_check_name(const char *s, size_t len, struct policy_host *h)
{
    const char *problem;
    struct netaddr a;
    bool dot;

    if (memchr(s, '@', len)) /* before ':' in "user:pw@host": name the real problem */
        return "a host cannot hold userinfo ('@')";
    for (size_t i = 0; i < len; i++)
        if ((problem = host_byte_problem((unsigned char)s[i])))
            return problem;
    dot = len > 0 && s[len - 1] == '.';
    if (dot)
        len--;
    if (len == 0)
        return "empty host";
    if (len > HOST_MAX)
        return "a host is longer than 253 bytes";
    if ((problem = host_labels_problem(s, len)))
        return problem;
    if (host_ends_in_number(s, len)) {
        /* "127.0.0.1." is refused too: is it a name or an address? Either answer is a guess. */
        if (dot || netaddr_parse(s, len, &a) < 0 || a.family != AF_INET)
            return "a numeric host must be a plain dotted quad (like 192.0.2.1)";
        host_set_ip(h, &a);
        return NULL;
    }
    for (size_t i = 0; i < len; i++)
        h->name[i] = ascii_lower(s[i]);
    h->name[len] = '\0';
    h->is_ip = false;
    return NULL;
}

static const char *
host_check(const char *s, size_t len, struct policy_host *h)
{
    if (len == 0)
        return "empty host";
    if (s[0] == '[')
        return host_check_bracket(s, len, h);
    return host_check_name(s, len, h);
}

int
policy_host_parse(const char *s, size_t len, struct policy_host *ret, struct err *err)
{
    struct policy_host h;
    struct quoted q;
    const char *problem;

    memset(&h, 0, sizeof(h));
    problem = host_check(s, len, &h);
    if (problem)
        return err_set(err, EINVAL, "bad_host", "%s: %s", quote(&q, s, len), problem);
    *ret = h;
    return 0;
}

/* ---- URLs --------------------------------------------------------------------------------- */

static int
url_port(const char *s, size_t len, uint16_t *ret, struct err *err)
{
    struct quoted q;
    uint32_t v = 0;

    if (len == 0)
        return err_set(err, EINVAL, "bad_port", "empty port after ':'");
    for (size_t i = 0; i < len && len <= 5 && s[0] != '0'; i++) {
        if (!ascii_digit((unsigned char)s[i])) {
            v = 0;
            break;
        }
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return err_set(err, EINVAL, "bad_port",
                       "%s: a port must be a number from 1 to 65535, without leading zeros",
                       quote(&q, s, len));
    *ret = (uint16_t)v;
    return 0;
}

/* Splits "host[:port]" or "[v6][:port]" and parses both parts into u. */
static int
url_authority(const char *s, size_t len, struct policy_url *u, struct err *err)
{
    struct quoted q;
    size_t hlen = len;
    const char *c;
    int r;

    if (memchr(s, '@', len))
        return err_set(err, EINVAL, "bad_host", "%s: a URL cannot carry userinfo (user@host)",
                       quote(&q, s, len));
    if (len > 0 && s[0] == '[') {
        c = memchr(s, ']', len);
        hlen = c ? (size_t)(c - s) + 1 : len;
        if (hlen < len && s[hlen] != ':')
            return err_set(err, EINVAL, "bad_host", "%s: unexpected characters after ']'",
                           quote(&q, s, len));
    } else if ((c = memchr(s, ':', len))) {
        hlen = (size_t)(c - s);
    }
    r = policy_host_parse(s, hlen, &u->host, err);
    if (r < 0)
        return r;
    if (hlen < len)
        return url_port(s + hlen + 1, len - hlen - 1, &u->port, err);
    u->port = u->https ? 443 : 80;
    return 0;
}

int
policy_url_parse(const char *url, struct policy_url *ret, struct err *err)
{
    struct policy_url *u;
    size_t len = strnlen(url, URL_MAX + 1), off, alen;
    struct quoted q;
    int r;

    if (len > URL_MAX)
        return err_set(err, EINVAL, "bad_url", "a URL can be at most %d bytes", URL_MAX);
    if (prefix_ci(url, "https://"))
        off = 8;
    else if (prefix_ci(url, "http://"))
        off = 7;
    else
        return err_set(err, EINVAL, "scheme", "%s: only http:// and https:// URLs are allowed",
                       quote(&q, url, len));
    /* struct policy_url holds a whole path buffer: build it off the stack, write ret only on
     * success. */
    u = calloc(1, sizeof(*u));
    if (!u)
        return err_set(err, ENOMEM, "internal", "out of memory");
    u->https = off == 8;
    alen = strcspn(url + off, "/?#");
    r = url_authority(url + off, alen, u, err);
    if (r >= 0)
        r = policy_path_normalize(url + off + alen, len - off - alen, u->path, sizeof(u->path),
                                  err);
    if (r >= 0)
        memcpy(ret, u, sizeof(*u));
    free(u);
    return r < 0 ? r : 0;
}

/* ---- parsing: generic pieces -------------------------------------------------------------- */

static bool
key_known(const char *const *keys, const char *key)
{
    for (; *keys; keys++)
        if (strcmp(*keys, key) == 0)
            return true;
    return false;
}

/* Refuses the first key of obj (in file order) that is not in keys, naming it and the keys
 * that are allowed there. */
static int
check_keys(json_t *obj, const char *const *keys, const char *where, struct err *err)
{
    char expected[256] = "";
    char shown[QUOTE_SHOWN + 1];
    const char *key = NULL;
    size_t len = 0;

    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        key = json_object_iter_key(it);
        if (!key_known(keys, key))
            break;
        key = NULL;
    }
    if (!key)
        return 0;
    for (const char *const *k = keys; *k && len < sizeof(expected); k++)
        len += (size_t)snprintf(expected + len, sizeof(expected) - len, "%s%s",
                                k == keys ? "" : ", ", *k);
    for (len = 0; key[len] && len < QUOTE_SHOWN; len++)
        shown[len] =
            (unsigned char)key[len] < 0x20 || (unsigned char)key[len] >= 0x7f ? '?' : key[len];
    shown[len] = '\0';
    return err_set(err, EINVAL, "bad_policy", "%s%s%s: unknown key (expected %s)", where,
                   *where ? "." : "", shown, expected);
}

static bool
json_too_deep(json_t *j, int budget)
{
    if (budget < 0)
        return true;
    if (json_is_object(j)) {
        for (void *it = json_object_iter(j); it; it = json_object_iter_next(j, it))
            if (json_too_deep(json_object_iter_value(it), budget - 1))
                return true;
    } else if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++)
            if (json_too_deep(json_array_get(j, i), budget - 1))
                return true;
    }
    return false;
}

/* A string no longer than max bytes, copied. */
static int
parse_string(json_t *v, const char *where, size_t max, char **ret, struct err *err)
{
    if (!json_is_string(v) || json_string_length(v) > max)
        return fail(err, where, "must be a string of at most %zu bytes", max);
    *ret = strdup(json_string_value(v));
    return *ret ? 0 : oom(err);
}

/* ---- parsing: filesystem ------------------------------------------------------------------ */

static const char *
fs_path_problem(const char *s, size_t len)
{
    size_t seg = 1;

    if (len == 0 || s[0] != '/')
        return "must be an absolute path";
    if (len == 1)
        return "cannot be \"/\": a policy cannot bind the whole root";
    if (len > POLICY_FS_PATH_MAX)
        return "is longer than 4096 bytes";
    if (s[len - 1] == '/')
        return "cannot end with '/'";
    for (size_t i = 1; i <= len; i++) {
        if (i < len && ((unsigned char)s[i] < 0x20 || s[i] == 0x7f))
            return "cannot hold control characters";
        if (i < len && s[i] != '/')
            continue;
        if (i == seg)
            return "cannot hold \"//\"";
        if ((i - seg == 1 && s[seg] == '.') || (i - seg == 2 && s[seg] == '.' && s[seg + 1] == '.'))
            return "cannot hold \".\" or \"..\" segments";
        seg = i + 1;
    }
    return NULL;
}

static int
parse_fs_path(json_t *v, const char *where, const struct strv *seen, const struct strv *other,
              struct strv *out, struct err *err)
{
    const char *s = json_string_value(v), *problem;
    size_t len = json_string_length(v);
    struct quoted q;

    if (!s)
        return fail(err, where, "must be a string");
    if ((problem = fs_path_problem(s, len)))
        return fail(err, where, "%s: %s", quote(&q, s, len), problem);
    if (strv_contains(seen, s))
        return fail(err, where, "%s: is listed twice", quote(&q, s, len));
    if (other && strv_contains(other, s))
        return fail(err, where, "%s: is also in filesystem.read_only", quote(&q, s, len));
    out->v[out->n] = strdup(s);
    if (!out->v[out->n])
        return oom(err);
    out->n++;
    return 0;
}

/* Parses filesystem.<key> into out; `other` is the list a path must not also be in. */
static int
parse_fs_list(json_t *fs, const char *key, const struct strv *other, struct strv *out,
              struct err *err)
{
    json_t *v = json_object_get(fs, key);
    char where[WHERE_MAX], ewhere[WHERE_MAX];
    size_t n = json_array_size(v);
    int r;

    where_key(where, "filesystem", key);
    if (!v)
        return 0;
    if (!json_is_array(v))
        return fail(err, where, "must be an array of absolute paths");
    if (n > POLICY_FS_PATHS_MAX)
        return fail(err, where, "at most %d paths", POLICY_FS_PATHS_MAX);
    out->v = calloc(n ? n : 1, sizeof(*out->v));
    if (!out->v)
        return oom(err);
    for (size_t i = 0; i < n; i++) {
        where_index(ewhere, where, i);
        r = parse_fs_path(json_array_get(v, i), ewhere, out, other, out, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
fs_defaults(struct strv *out, struct err *err)
{
    out->v = calloc(ARRAY_SIZE(policy_fs_default_ro), sizeof(*out->v));
    if (!out->v)
        return oom(err);
    for (; out->n < ARRAY_SIZE(policy_fs_default_ro); out->n++) {
        out->v[out->n] = strdup(policy_fs_default_ro[out->n]);
        if (!out->v[out->n])
            return oom(err);
    }
    return 0;
}

static int
parse_filesystem(json_t *root, struct policy *p, struct err *err)
{
    json_t *fs = json_object_get(root, "filesystem");
    int r;

    if (!fs)
        return fs_defaults(&p->fs_ro, err);
    if (!json_is_object(fs))
        return fail(err, "filesystem", "must be an object");
    r = check_keys(fs, policy_fs_keys, "filesystem", err);
    if (r >= 0)
        r = parse_fs_list(fs, "read_only", NULL, &p->fs_ro, err);
    if (r >= 0)
        r = parse_fs_list(fs, "read_write", &p->fs_ro, &p->fs_rw, err);
    return r;
}

/* ---- parsing: rules ----------------------------------------------------------------------- */

static const char *
rule_hyphen_problem(const char *name)
{
    for (const char *l = name; *l;) {
        size_t n = strcspn(l, ".");
        if (l[0] == '-' || l[n - 1] == '-')
            return "a label cannot start or end with '-'";
        l += n + (l[n] == '.');
    }
    return NULL;
}

static const char *
rule_host_problem(const char *s, size_t len, bool *wildcard, struct policy_host *h)
{
    const char *problem;

    if (len == 1 && s[0] == '*')
        return "a rule cannot match every host; name a domain (\"*.example.com\")";
    *wildcard = len >= 2 && s[0] == '*' && s[1] == '.';
    if (*wildcard) {
        s += 2;
        len -= 2;
    }
    if (memchr(s, '*', len))
        return "a wildcard is only allowed as the whole first label (\"*.example.com\")";
    if (*wildcard && (len == 0 || (len == 1 && s[0] == '.')))
        return "a wildcard must be followed by a name";
    if (len > 0 && (s[0] == '[' || host_ends_in_number(s, len - (s[len - 1] == '.'))))
        return "an address, not a name: use a cidr rule for addresses";
    problem = host_check(s, len, h);
    if (!problem && h->is_ip)
        return "an address, not a name: use a cidr rule for addresses";
    return problem ? problem : rule_hyphen_problem(h->name);
}

static int
parse_rule_host(json_t *v, const char *where, struct policy_rule *r, struct err *err)
{
    const char *s = json_string_value(v), *problem;
    size_t len = json_string_length(v);
    struct policy_host h;
    struct quoted q;

    if (!s)
        return fail(err, where, "must be a string");
    memset(&h, 0, sizeof(h));
    problem = rule_host_problem(s, len, &r->wildcard, &h);
    if (problem)
        return fail(err, where, "%s: %s", quote(&q, s, len), problem);
    r->host_len = strlen(h.name);
    memcpy(r->host, h.name, r->host_len + 1);
    return 0;
}

static int
parse_rule_cidr(json_t *v, const char *where, struct policy_rule *r, struct err *err)
{
    const char *s = json_string_value(v);
    struct quoted q;

    if (!s)
        return fail(err, where, "must be a string");
    if (netaddr_cidr_parse(s, &r->cidr) < 0)
        return fail(err, where,
                    "%s: not an address block with its host bits zero, like \"10.20.0.0/16\" "
                    "or \"fd00::/8\"",
                    quote(&q, s, json_string_length(v)));
    r->is_cidr = true;
    return 0;
}

/* Checks that v is a non-empty array of at most max entries. */
static int
check_array(json_t *v, const char *where, size_t max, const char *what, struct err *err)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return fail(err, where, "must be a non-empty array of %s", what);
    if (json_array_size(v) > max)
        return fail(err, where, "at most %zu entries", max);
    return 0;
}

static int
parse_rule_ports(json_t *v, const char *where, struct policy_rule *r, struct err *err)
{
    char ewhere[WHERE_MAX];
    json_int_t x;
    int ret = check_array(v, where, POLICY_PORTS_MAX, "port numbers", err);

    for (size_t i = 0; ret >= 0 && i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        where_index(ewhere, where, i);
        x = json_is_integer(e) ? json_integer_value(e) : 0;
        if (x < 1 || x > 65535)
            return fail(err, ewhere, "must be an integer from 1 to 65535");
        for (size_t j = 0; j < r->n_ports; j++)
            if (r->ports[j] == x)
                return fail(err, ewhere, "%u is listed twice", (unsigned)x);
        r->ports[r->n_ports++] = (uint16_t)x;
    }
    return ret;
}

static int
method_index(const char *m)
{
    for (size_t i = 0; i < ARRAY_SIZE(policy_methods); i++)
        if (strcmp(policy_methods[i], m) == 0)
            return (int)i;
    return -1;
}

static int
parse_rule_methods(json_t *v, const char *where, struct policy_rule *r, struct err *err)
{
    char ewhere[WHERE_MAX];
    struct quoted q;
    int ret = check_array(v, where, POLICY_METHODS_MAX, "methods", err);

    for (size_t i = 0; ret >= 0 && i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        const char *s = json_string_value(e);
        int m = s ? method_index(s) : -1;
        where_index(ewhere, where, i);
        if (!s)
            return fail(err, ewhere, "must be a string");
        if (m < 0)
            return fail(err, ewhere,
                        "%s: must be one of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS "
                        "(upper case)",
                        quote(&q, s, json_string_length(e)));
        if (r->methods & (1u << m))
            return fail(err, ewhere, "%s is listed twice", s);
        r->methods |= 1u << m;
    }
    return ret;
}

static int
parse_rule_path(json_t *e, const char *where, struct strv *paths, struct err *err)
{
    const char *s = json_string_value(e);
    size_t len = json_string_length(e);
    char buf[PATH_MAX_URL + 1];
    struct err perr = {0};
    struct quoted q;

    if (!s)
        return fail(err, where, "must be a string");
    if (len == 0 || s[0] != '/')
        return fail(err, where, "%s: must start with '/'", quote(&q, s, len));
    if (strpbrk(s, "?#"))
        return fail(err, where, "%s: a path rule cannot hold a query or fragment ('?', '#')",
                    quote(&q, s, len));
    if (policy_path_normalize(s, len, buf, sizeof(buf), &perr) < 0)
        return fail(err, where, "%s", perr.message);
    if (strv_contains(paths, buf))
        return fail(err, where, "%s: is listed twice (normalised: \"%s\")", quote(&q, s, len), buf);
    paths->v[paths->n] = strdup(buf);
    if (!paths->v[paths->n])
        return oom(err);
    paths->n++;
    return 0;
}

static int
parse_rule_paths(json_t *v, const char *where, struct policy_rule *r, struct err *err)
{
    char ewhere[WHERE_MAX];
    int ret = check_array(v, where, POLICY_PATHS_MAX, "paths", err);

    if (ret < 0)
        return ret;
    r->paths.v = calloc(json_array_size(v), sizeof(*r->paths.v));
    if (!r->paths.v)
        return oom(err);
    for (size_t i = 0; ret >= 0 && i < json_array_size(v); i++) {
        where_index(ewhere, where, i);
        ret = parse_rule_path(json_array_get(v, i), ewhere, &r->paths, err);
    }
    return ret;
}

/* Calls parse on rule field `key` when the rule has it. */
static int
rule_field(json_t *j, const char *rwhere, const char *key, struct policy_rule *r,
           int (*parse)(json_t *, const char *, struct policy_rule *, struct err *),
           struct err *err)
{
    json_t *v = json_object_get(j, key);
    char where[WHERE_MAX];

    if (!v)
        return 0;
    where_key(where, rwhere, key);
    return parse(v, where, r, err);
}

static int
parse_rule_comment(json_t *v, const char *where, struct policy_rule *r, struct err *err)
{
    return parse_string(v, where, POLICY_DESCRIPTION_MAX, &r->comment, err);
}

static int
parse_rule(json_t *j, const char *where, struct policy_rule *r, struct err *err)
{
    json_t *host = json_object_get(j, "host"), *cidr = json_object_get(j, "cidr");
    int ret;

    if (!json_is_object(j))
        return fail(err, where, "must be an object");
    ret = check_keys(j, policy_rule_keys, where, err);
    if (ret < 0)
        return ret;
    if (!host == !cidr)
        return fail(err, where, "needs exactly one of \"host\" or \"cidr\"");
    ret = host ? rule_field(j, where, "host", r, parse_rule_host, err)
               : rule_field(j, where, "cidr", r, parse_rule_cidr, err);
    if (ret >= 0)
        ret = rule_field(j, where, "ports", r, parse_rule_ports, err);
    if (ret >= 0)
        ret = rule_field(j, where, "methods", r, parse_rule_methods, err);
    if (ret >= 0)
        ret = rule_field(j, where, "paths", r, parse_rule_paths, err);
    if (ret >= 0)
        ret = rule_field(j, where, "comment", r, parse_rule_comment, err);
    return ret;
}

static void
rule_clear(struct policy_rule *r)
{
    strv_free(&r->paths);
    free(r->comment);
}

static void
list_free(struct policy_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        rule_clear(&l->rules[i]);
    free(l->rules);
}

static int
parse_rule_list(json_t *net, const char *key, struct policy_list *out, struct err *err)
{
    json_t *v = json_object_get(net, key);
    char where[WHERE_MAX], ewhere[WHERE_MAX];
    size_t n = json_array_size(v);
    int r = 0;

    where_key(where, "network", key);
    if (!v)
        return 0;
    if (!json_is_array(v))
        return fail(err, where, "must be an array of rules");
    out->rules = calloc(n ? n : 1, sizeof(*out->rules));
    if (!out->rules)
        return oom(err);
    /* out->n counts a rule before it is parsed, so list_free releases a half-parsed one. */
    for (size_t i = 0; r >= 0 && i < n; i++) {
        out->n = i + 1;
        where_index(ewhere, where, i);
        r = parse_rule(json_array_get(v, i), ewhere, &out->rules[i], err);
    }
    return r;
}

static int
parse_network(json_t *root, struct policy *p, struct err *err)
{
    json_t *net = json_object_get(root, "network");
    int r;

    if (!net)
        return 0;
    if (!json_is_object(net))
        return fail(err, "network", "must be an object");
    r = check_keys(net, policy_network_keys, "network", err);
    if (r < 0)
        return r;
    if (json_array_size(json_object_get(net, "allow")) +
            json_array_size(json_object_get(net, "deny")) >
        POLICY_RULES_MAX)
        return fail(err, "network", "at most %d rules (allow and deny together)", POLICY_RULES_MAX);
    p->has_network = true;
    r = parse_rule_list(net, "allow", &p->allow, err);
    if (r >= 0)
        r = parse_rule_list(net, "deny", &p->deny, err);
    return r;
}

/* ---- parsing: limits, description, the whole ---------------------------------------------- */

static uint64_t *
limit_field(struct policy_limits *l, const struct policy_limit_key *k)
{
    return (uint64_t *)(void *)((char *)l + k->offset);
}

static uint64_t
limit_value(const struct policy_limits *l, const struct policy_limit_key *k)
{
    return *(const uint64_t *)(const void *)((const char *)l + k->offset);
}

int
policy_limits_parse(json_t *lim, const char *where_prefix, struct policy_limits *l, struct err *err)
{
    char where[WHERE_MAX];
    int r;

    if (!json_is_object(lim))
        return fail(err, where_prefix, "must be an object");
    r = check_keys(lim, policy_limits_keys, where_prefix, err);
    for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(policy_limit_keys); i++) {
        const struct policy_limit_key *k = &policy_limit_keys[i];
        json_t *v = json_object_get(lim, k->key);
        json_int_t x = json_is_integer(v) ? json_integer_value(v) : 0;
        if (!v)
            continue;
        where_key(where, where_prefix, k->key);
        if (x < 1 || (uint64_t)x > k->max)
            return fail(err, where, "must be an integer from 1 to %" PRIu64, k->max);
        *limit_field(l, k) = (uint64_t)x;
    }
    return r;
}

int
policy_limits_tighten(const struct policy *p, const struct policy_limits *asked,
                      struct policy_limits *ret, struct err *err)
{
    *ret = p->limits;
    for (size_t i = 0; i < ARRAY_SIZE(policy_limit_keys); i++) {
        const struct policy_limit_key *k = &policy_limit_keys[i];
        uint64_t want = limit_value(asked, k), max = limit_value(&p->limits, k);
        if (!want)
            continue;
        if (want > max)
            return err_set(err, EINVAL, "bad_request",
                           "%s%s: %" PRIu64 " is looser than policy \"%s\" allows (%" PRIu64
                           "); a job may only tighten its policy's limits",
                           strcmp(k->key, "timeout_s") == 0 ? "" : "limits.", k->key, want, p->name,
                           max);
        *limit_field(ret, k) = want;
    }
    return 0;
}

static int
parse_limits(json_t *root, struct policy_limits *l, struct err *err)
{
    json_t *lim = json_object_get(root, "limits");

    return lim ? policy_limits_parse(lim, "limits", l, err) : 0;
}

/* Fills the limits the policy left out: from defaults when they set one, else built in. */
static void
limits_fill(struct policy_limits *l, const struct policy_limits *defaults)
{
    for (size_t i = 0; i < ARRAY_SIZE(policy_limit_keys); i++) {
        const struct policy_limit_key *k = &policy_limit_keys[i];
        uint64_t d = defaults ? limit_value(defaults, k) : 0;
        if (*limit_field(l, k) == 0)
            *limit_field(l, k) = d ? d : limit_value(&policy_builtin_limits, k);
    }
}

static int
parse_description(json_t *root, struct policy *p, struct err *err)
{
    json_t *v = json_object_get(root, "description");

    if (v)
        return parse_string(v, "description", POLICY_DESCRIPTION_MAX, &p->description, err);
    p->description = strdup("");
    return p->description ? 0 : oom(err);
}

static bool
name_valid(const char *name)
{
    size_t len = name ? strnlen(name, POLICY_NAME_MAX + 1) : 0;

    if (len == 0 || len > POLICY_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!ascii_alnum((unsigned char)c) && (i == 0 || !strchr("._-", c)))
            return false;
        if (c >= 'A' && c <= 'Z')
            return false;
    }
    return true;
}

static void
policy_free(struct policy *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->description);
    strv_free(&p->fs_ro);
    strv_free(&p->fs_rw);
    list_free(&p->allow);
    list_free(&p->deny);
    free(p);
}

static void
policy_freep(struct policy **p)
{
    policy_free(*p);
}

static void
policy_json_decrefp(json_t **j)
{
    json_decref(*j);
}

static int
policy_load_json(const char *text, size_t len, json_t **ret, struct err *err)
{
    json_error_t jerr;
    json_t *root;

    if (!text || len > POLICY_FILE_MAX)
        return err_set(err, EINVAL, "bad_policy", "a policy can be at most %d bytes",
                       POLICY_FILE_MAX);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return err_set(err, EINVAL, "bad_policy", "line %d column %d: %s", jerr.line, jerr.column,
                       jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return err_set(err, EINVAL, "bad_policy", "top level: must be a JSON object");
    }
    if (json_too_deep(root, API_JSON_DEPTH_MAX)) {
        json_decref(root);
        return err_set(err, EINVAL, "bad_policy", "top level: nested deeper than %d levels",
                       API_JSON_DEPTH_MAX);
    }
    *ret = root;
    return 0;
}

int
policy_parse(const char *name, const char *text, size_t len, const struct policy_limits *defaults,
             struct policy **ret, struct err *err)
{
    _cleanup_(policy_json_decrefp) json_t *root = NULL;
    _cleanup_(policy_freep) struct policy *p = NULL;
    int r;

    if (!name_valid(name))
        return err_set(err, EINVAL, "bad_policy",
                       "policy name: must be 1 to %d characters of a-z, 0-9, '.', '_', '-'",
                       POLICY_NAME_MAX);
    r = policy_load_json(text, len, &root, err);
    if (r < 0)
        return r;
    p = calloc(1, sizeof(*p));
    if (!p || !(p->name = strdup(name)))
        return oom(err);
    p->refs = 1;
    r = check_keys(root, policy_top_keys, "", err);
    if (r >= 0)
        r = parse_description(root, p, err);
    if (r >= 0)
        r = parse_filesystem(root, p, err);
    if (r >= 0)
        r = parse_network(root, p, err);
    if (r >= 0)
        r = parse_limits(root, &p->limits, err);
    if (r < 0)
        return r;
    limits_fill(&p->limits, defaults);
    *ret = TAKE_PTR(p);
    return 0;
}

/* ---- references and accessors ------------------------------------------------------------- */

struct policy *
policy_ref(struct policy *p)
{
    if (p)
        __atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
    return p;
}

struct policy *
policy_unref(struct policy *p)
{
    /* Release on the decrement, acquire before the free: every use of p by another holder
     * happens before the last holder frees it. */
    if (p && __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0)
        policy_free(p);
    return NULL;
}

const char *
policy_name(const struct policy *p)
{
    return p->name;
}

const char *
policy_description(const struct policy *p)
{
    return p->description;
}

const struct policy_limits *
policy_limits(const struct policy *p)
{
    return &p->limits;
}

size_t
policy_fs_read_only(const struct policy *p, const char *const **ret)
{
    *ret = (const char *const *)p->fs_ro.v;
    return p->fs_ro.n;
}

size_t
policy_fs_read_write(const struct policy *p, const char *const **ret)
{
    *ret = (const char *const *)p->fs_rw.v;
    return p->fs_rw.n;
}

bool
policy_has_network(const struct policy *p)
{
    return p->has_network;
}

/* ---- rendering ---------------------------------------------------------------------------- */

static json_t *
json_drop(json_t *j)
{
    json_decref(j);
    return NULL;
}

static json_t *
strv_to_json(const struct strv *s)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < s->n; i++)
        if (json_array_append_new(a, json_string(s->v[i])) < 0)
            a = json_drop(a);
    return a;
}

static json_t *
ports_to_json(const struct policy_rule *r)
{
    static const uint16_t defaults[] = {80, 443};
    const uint16_t *ports = r->n_ports ? r->ports : defaults;
    size_t n = r->n_ports ? r->n_ports : ARRAY_SIZE(defaults);
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_integer(ports[i])) < 0)
            a = json_drop(a);
    return a;
}

static json_t *
methods_to_json(const struct policy_rule *r)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < ARRAY_SIZE(policy_methods); i++)
        if ((r->methods & (1u << i)) && json_array_append_new(a, json_string(policy_methods[i])))
            a = json_drop(a);
    return a;
}

static json_t *
rule_to_json(const struct policy_rule *r)
{
    char target[HOST_MAX + 3];
    json_t *o = json_object();

    if (!o)
        return NULL;
    if (r->is_cidr)
        netaddr_cidr_format(&r->cidr, target, sizeof(target));
    else
        str_printf(target, sizeof(target), "%s%s", r->wildcard ? "*." : "", r->host);
    /* json_object_set_new steals the value even when it fails, so nothing leaks here. */
    if (json_object_set_new(o, r->is_cidr ? "cidr" : "host", json_string(target)) < 0 ||
        json_object_set_new(o, "ports", ports_to_json(r)) < 0 ||
        (r->methods && json_object_set_new(o, "methods", methods_to_json(r)) < 0) ||
        (r->paths.n && json_object_set_new(o, "paths", strv_to_json(&r->paths)) < 0) ||
        (r->comment && json_object_set_new(o, "comment", json_string(r->comment)) < 0)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *
list_to_json(const struct policy_list *l)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < l->n; i++)
        if (json_array_append_new(a, rule_to_json(&l->rules[i])) < 0)
            a = json_drop(a);
    return a;
}

static json_t *
limits_to_json(const struct policy_limits *l)
{
    json_t *o = json_object();

    for (size_t i = 0; o && i < ARRAY_SIZE(policy_limit_keys); i++) {
        const struct policy_limit_key *k = &policy_limit_keys[i];
        if (json_object_set_new(o, k->key, json_integer((json_int_t)limit_value(l, k))) < 0)
            o = json_drop(o);
    }
    return o;
}

static json_t *
pair_to_json(const char *k1, json_t *v1, const char *k2, json_t *v2)
{
    json_t *o = json_object();

    if (!o || json_object_set_new(o, k1, v1) < 0 || json_object_set_new(o, k2, v2) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *
policy_to_json(const struct policy *p)
{
    json_t *o = json_object();

    if (!o)
        return NULL;
    /* Without a network section the policy has no network; rendering none keeps the output a
     * policy that parses back to the same one. */
    if (json_object_set_new(o, "description", json_string(p->description)) < 0 ||
        json_object_set_new(o, "filesystem",
                            pair_to_json("read_only", strv_to_json(&p->fs_ro), "read_write",
                                         strv_to_json(&p->fs_rw))) < 0 ||
        (p->has_network && json_object_set_new(o, "network",
                                               pair_to_json("allow", list_to_json(&p->allow),
                                                            "deny", list_to_json(&p->deny))) < 0) ||
        json_object_set_new(o, "limits", limits_to_json(&p->limits)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static const struct policy_list *
list_named(const struct policy *p, const char *list)
{
    if (list && strcmp(list, "allow") == 0)
        return &p->allow;
    if (list && strcmp(list, "deny") == 0)
        return &p->deny;
    return NULL;
}

json_t *
policy_rule_to_json(const struct policy *p, const char *list, int index)
{
    const struct policy_list *l = list_named(p, list);

    if (!l || index < 0 || (size_t)index >= l->n)
        return NULL;
    return rule_to_json(&l->rules[index]);
}

/* ---- decisions ---------------------------------------------------------------------------- */

/* How far a rule matched a request, in the order the checks run. */
enum policy_match {
    MATCH_NONE,
    MATCH_HOST,
    MATCH_PORT,
    MATCH_METHOD,
    MATCH_FULL,
};

static bool
rule_host_matches(const struct policy_rule *r, const struct policy_host *h)
{
    size_t n;

    if (h->is_ip)
        return r->is_cidr && netaddr_cidr_contains(&r->cidr, &h->ip);
    if (r->is_cidr)
        return false;
    if (!r->wildcard)
        return strcmp(r->host, h->name) == 0;
    n = strlen(h->name);
    return n > r->host_len + 1 && h->name[n - r->host_len - 1] == '.' &&
           memcmp(h->name + n - r->host_len, r->host, r->host_len) == 0;
}

static bool
rule_port_matches(const struct policy_rule *r, uint16_t port)
{
    if (r->n_ports == 0)
        return port == 80 || port == 443;
    for (size_t i = 0; i < r->n_ports; i++)
        if (r->ports[i] == port)
            return true;
    return false;
}

static bool
rule_method_matches(const struct policy_rule *r, const char *method)
{
    int m;

    if (!r->methods)
        return true;
    m = method ? method_index(method) : -1;
    return m >= 0 && (r->methods & (1u << m));
}

/* Rule "/api/" matches what starts with "/api/"; rule "/api" matches "/api" and what is below
 * it ("/api/x"), never a sibling ("/apix"). */
static bool
rule_path_matches(const struct policy_rule *r, const char *path)
{
    if (!r->paths.n)
        return true;
    for (size_t i = 0; path && i < r->paths.n; i++) {
        const char *rp = r->paths.v[i];
        size_t n = strlen(rp);
        if (strncmp(path, rp, n) == 0 && (rp[n - 1] == '/' || path[n] == '\0' || path[n] == '/'))
            return true;
    }
    return false;
}

/* How far rule r matches req once its host (or address) has matched. For CONNECT, the inside of
 * the tunnel is unknown: a deny rule matches on host and port alone (a rule that denies some
 * methods or paths of a host must not let a tunnel carry them), and an allow rule that limits
 * methods or paths never matches in full. */
static enum policy_match
rule_match_rest(const struct policy_rule *r, const struct policy_request *req, bool deny)
{
    if (!rule_port_matches(r, req->port))
        return MATCH_HOST;
    if (req->kind == POLICY_REQ_CONNECT)
        return deny || (!r->methods && !r->paths.n) ? MATCH_FULL : MATCH_PORT;
    if (!rule_method_matches(r, req->method))
        return MATCH_PORT;
    if (!rule_path_matches(r, req->path))
        return MATCH_METHOD;
    return MATCH_FULL;
}

static void
decision_set(struct policy_decision *d, bool allow, const char *reason, const char *list,
             size_t rule)
{
    d->allow = allow;
    d->reason = reason;
    d->list = list;
    d->rule = list ? (int)rule : -1;
}

static const char *
reason_for_match(enum policy_match best, bool is_ip)
{
    switch (best) {
    case MATCH_HOST:
        return POLICY_REASON_PORT;
    case MATCH_PORT:
        return POLICY_REASON_METHOD;
    case MATCH_METHOD:
        return POLICY_REASON_PATH;
    default:
        return is_ip ? POLICY_REASON_IP_LITERAL : POLICY_REASON_NO_RULE;
    }
}

/* A request the proxy should never have passed: no host, or an HTTP path not normalised. */
static const char *
request_problem(const struct policy_request *req)
{
    if (!req || !req->host)
        return POLICY_REASON_BAD_HOST;
    if (req->kind == POLICY_REQ_HTTP && (!req->path || req->path[0] != '/'))
        return POLICY_REASON_BAD_PATH;
    return NULL;
}

/* The decision on the name (or literal) alone: deny rules first, then the first allow rule that
 * matches in full; failing that, the reason of the rule that came closest. */
static void
decide_rules(const struct policy *p, const struct policy_request *req, struct policy_decision *ret)
{
    enum policy_match best = MATCH_NONE, m;

    for (size_t i = 0; i < p->deny.n; i++) {
        if (rule_host_matches(&p->deny.rules[i], req->host) &&
            rule_match_rest(&p->deny.rules[i], req, true) == MATCH_FULL) {
            decision_set(ret, false, POLICY_REASON_DENIED_BY_RULE, "deny", i);
            return;
        }
    }
    for (size_t i = 0; i < p->allow.n; i++) {
        if (!rule_host_matches(&p->allow.rules[i], req->host))
            continue;
        m = rule_match_rest(&p->allow.rules[i], req, false);
        if (m == MATCH_FULL) {
            decision_set(ret, true, NULL, "allow", i);
            return;
        }
        best = m > best ? m : best;
    }
    decision_set(ret, false, reason_for_match(best, req->host->is_ip), NULL, 0);
}

void
policy_decide(const struct policy *p, const struct policy_request *req, struct policy_decision *ret)
{
    const char *problem = request_problem(req);

    if (problem)
        decision_set(ret, false, problem, NULL, 0);
    else if (!p->has_network)
        decision_set(ret, false, POLICY_REASON_NO_RULE, NULL, 0);
    else
        decide_rules(p, req, ret);
}

/* Index of the first cidr rule of l that contains addr and matches req in full, or -1. */
static int
cidr_rule_find(const struct policy_list *l, const struct policy_request *req,
               const struct netaddr *addr, bool deny)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->rules[i].is_cidr && netaddr_cidr_contains(&l->rules[i].cidr, addr) &&
            rule_match_rest(&l->rules[i], req, deny) == MATCH_FULL)
            return (int)i;
    return -1;
}

void
policy_decide_address(const struct policy *p, const struct policy_request *req,
                      const struct netaddr *addr, struct policy_decision *ret)
{
    int deny = -1, allow = -1;

    if (req && addr && p->has_network) {
        deny = cidr_rule_find(&p->deny, req, addr, true);
        allow = deny < 0 ? cidr_rule_find(&p->allow, req, addr, false) : -1;
    }
    if (!req || !addr)
        decision_set(ret, false, POLICY_REASON_BAD_HOST, NULL, 0);
    else if (!p->has_network)
        decision_set(ret, false, POLICY_REASON_NO_RULE, NULL, 0);
    else if (deny >= 0)
        decision_set(ret, false, POLICY_REASON_DENIED_BY_RULE, "deny", (size_t)deny);
    else if (allow >= 0)
        decision_set(ret, true, NULL, "allow", (size_t)allow);
    else if (netaddr_classify(addr) != NETADDR_PUBLIC)
        decision_set(ret, false, POLICY_REASON_PRIVATE_ADDRESS, NULL, 0);
    else
        decision_set(ret, true, NULL, NULL, 0);
}

void
policy_explain(const struct policy_decision *d, const struct policy_request *req, char *buf,
               size_t n)
{
    const char *h = req->host && req->host->name[0] ? req->host->name : "(no host)";
    const char *r = d->reason ? d->reason : "";
    bool tunnel = req->kind == POLICY_REQ_CONNECT;

    if (d->allow)
        snprintf(buf, n, "allowed by %s[%d]", d->list ? d->list : "policy", d->rule);
    else if (strcmp(r, POLICY_REASON_DENIED_BY_RULE) == 0)
        snprintf(buf, n, "%s:%u is denied by rule %s[%d]; deny rules win over allow rules", h,
                 req->port, d->list, d->rule);
    else if (strcmp(r, POLICY_REASON_PORT) == 0)
        snprintf(buf, n, "a rule names %s but not port %u", h, req->port);
    else if (strcmp(r, POLICY_REASON_METHOD) == 0 && tunnel)
        snprintf(buf, n,
                 "the rules for %s limit methods or paths, which cannot be checked inside an "
                 "HTTPS tunnel, so CONNECT is refused",
                 h);
    else if (strcmp(r, POLICY_REASON_METHOD) == 0)
        snprintf(buf, n, "the rules for %s do not allow method %s", h, req->method);
    else if (strcmp(r, POLICY_REASON_PATH) == 0)
        snprintf(buf, n, "the rules for %s do not allow path %.200s", h, req->path);
    else if (strcmp(r, POLICY_REASON_IP_LITERAL) == 0)
        snprintf(buf, n, "%s is an IP address; only a cidr rule can allow one", h);
    else if (strcmp(r, POLICY_REASON_PRIVATE_ADDRESS) == 0)
        snprintf(buf, n, "%s is not a public address; only a cidr rule can open it", h);
    else if (strcmp(r, POLICY_REASON_BAD_HOST) == 0)
        snprintf(buf, n, "no host to decide on");
    else if (strcmp(r, POLICY_REASON_BAD_PATH) == 0)
        snprintf(buf, n, "no normalised path to decide on");
    else
        snprintf(buf, n, "no allow rule names %s (default deny)", h);
}
