/*
 * docs/openapi.yaml against the route table (api_routes): every route the daemon serves is a
 * documented path and method, and every documented path and method is served. The file is read
 * line by line, which its layout allows: under "paths:", a path key at two spaces' indent, its
 * methods at four. "{name}" in a documented path is one segment; the table's trailing "{*}"
 * (the non-empty rest, which may hold "/") must be documented as a trailing path parameter.
 * HEAD is served wherever GET is, so a documented head needs a served GET.
 *
 * The file is $AIRLOCK_SRC/docs/openapi.yaml (else docs/openapi.yaml from the working
 * directory); when neither exists (`make test-unprivileged` copies only the build), the copy
 * built into this binary is read.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"

__asm__(".pushsection .rodata\n"
        "airlock_openapi_yaml_unit:\n"
        ".incbin \"docs/openapi.yaml\"\n"
        ".byte 0\n"
        ".popsection\n");
extern const char airlock_openapi_yaml_unit[];

#define MAX_OPS 256

struct op {
    char method[16];     /* upper case */
    char pattern[256];   /* normalised: every {name} as {} */
    bool trailing_param; /* the documented path ends with a {name} segment */
};

struct ops {
    struct op op[MAX_OPS];
    size_t n;
};

/* The spec's text (malloc'd) and where it came from. */
static char *
spec_text(char *from, size_t from_n)
{
    const char *src = getenv("AIRLOCK_SRC");
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/docs/openapi.yaml", src && *src ? src : ".");
    f = fopen(path, "r");
    if (!f && src && *src) {
        snprintf(path, sizeof(path), "docs/openapi.yaml");
        f = fopen(path, "r");
    }
    if (!f) {
        snprintf(from, from_n, "the copy built into this test");
        return strdup(airlock_openapi_yaml_unit);
    }
    snprintf(from, from_n, "%s", path);
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    char chunk[8192];
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (len + got + 1 > cap) {
            cap = (len + got + 1) * 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
        memcpy(buf + len, chunk, got);
        len += got;
    }
    fclose(f);
    if (!buf)
        return strdup("");
    buf[len] = '\0';
    return buf;
}

/* "{name}" segments as "{}" (and "{*}" as "{}"); returns whether the last segment was one. */
static bool
normalise(const char *in, size_t len, char *out, size_t out_n)
{
    size_t o = 0;
    bool last_param = false;

    for (size_t i = 0; i < len && o + 3 < out_n; i++) {
        if (in[i] == '{') {
            const char *close = memchr(in + i, '}', len - i);
            cr_assert_not_null(close, "unclosed { in %.*s", (int)len, in);
            out[o++] = '{';
            out[o++] = '}';
            i = (size_t)(close - in);
            last_param = i + 1 == len;
            continue;
        }
        out[o++] = in[i];
    }
    out[o] = '\0';
    return last_param;
}

static bool
is_method(const char *w, size_t len)
{
    static const char *const methods[] = {"get",     "put",  "post",  "delete",
                                          "options", "head", "patch", "trace"};

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strlen(methods[i]) == len && strncmp(methods[i], w, len) == 0)
            return true;
    return false;
}

/* The documented operations: a path key at two spaces under "paths:", a method at four. */
static void
spec_ops(const char *text, struct ops *ops)
{
    bool in_paths = false;
    char cur[256] = "";
    bool cur_trailing = false;

    ops->n = 0;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        size_t indent = strspn(line, " ");

        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (indent >= len || line[indent] == '#') {
            /* blank or a comment */
        } else if (indent == 0) {
            in_paths = len >= 6 && strncmp(line, "paths:", 6) == 0;
            cur[0] = '\0';
        } else if (in_paths && indent == 2) {
            const char *k = line + 2;
            size_t klen = len - 2;
            const char *colon;

            if (*k == '"' || *k == '\'') {
                const char *q = memchr(k + 1, *k, klen - 1);
                cr_assert_not_null(q, "unclosed quote: %.*s", (int)len, line);
                colon = q + 1;
                k++;
                klen = (size_t)(q - k);
            } else {
                colon = memchr(k, ':', klen);
                cr_assert_not_null(colon, "a path key without a colon: %.*s", (int)len, line);
                klen = (size_t)(colon - k);
            }
            cr_assert(klen > 0 && k[0] == '/', "a key under paths: that is no path: %.*s", (int)len,
                      line);
            cur_trailing = normalise(k, klen, cur, sizeof(cur));
        } else if (in_paths && indent == 4 && cur[0]) {
            const char *w = line + 4;
            size_t wlen = strcspn(w, ":");

            if (wlen < len - 4 && is_method(w, wlen)) {
                struct op *o;
                cr_assert(ops->n < MAX_OPS, "more than %d operations", MAX_OPS);
                o = &ops->op[ops->n++];
                for (size_t i = 0; i < wlen && i + 1 < sizeof(o->method); i++)
                    o->method[i] = (char)(w[i] - 'a' + 'A');
                o->method[wlen < sizeof(o->method) ? wlen : sizeof(o->method) - 1] = '\0';
                snprintf(o->pattern, sizeof(o->pattern), "%s", cur);
                o->trailing_param = cur_trailing;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
}

/* The route table, normalised like the spec; a {*} must be the last segment. */
struct route {
    const char *method, *pattern;
    char norm[256];
    bool rest; /* ends with {*} */
};

static size_t
table(struct route *r, size_t max)
{
    const char *methods[MAX_OPS], *patterns[MAX_OPS];
    size_t n = api_routes(methods, patterns, MAX_OPS);

    cr_assert(n > 0 && n <= MAX_OPS && n <= max, "api_routes: %zu routes", n);
    for (size_t i = 0; i < n; i++) {
        const char *star = strstr(patterns[i], "{*}");
        r[i].method = methods[i];
        r[i].pattern = patterns[i];
        r[i].rest = star != NULL;
        cr_assert(!star || star[3] == '\0', "%s %s: {*} is not the last segment", methods[i],
                  patterns[i]);
        normalise(patterns[i], strlen(patterns[i]), r[i].norm, sizeof(r[i].norm));
    }
    return n;
}

static bool
documented(const struct ops *ops, const struct route *r)
{
    for (size_t i = 0; i < ops->n; i++)
        if (strcmp(ops->op[i].method, r->method) == 0 && strcmp(ops->op[i].pattern, r->norm) == 0 &&
            (!r->rest || ops->op[i].trailing_param))
            return true;
    return false;
}

static bool
served(const struct route *routes, size_t n, const struct op *o)
{
    const char *m = strcmp(o->method, "HEAD") == 0 ? "GET" : o->method;

    for (size_t i = 0; i < n; i++)
        if (strcmp(routes[i].method, m) == 0 && strcmp(routes[i].norm, o->pattern) == 0)
            return true;
    return false;
}

static struct ops ops;
static struct route routes[MAX_OPS];

Test(openapi, the_reader_finds_paths_and_methods)
{
    static const char text[] = "openapi: 3.1.0\n"
                               "paths:\n"
                               "  /a:\n"
                               "    parameters: []\n"
                               "    get:\n"
                               "      summary: x\n"
                               "    post: { summary: y }\n"
                               "  # a comment\n"
                               "\n"
                               "  \"/b/{id}/files/{path}\":\n"
                               "    delete:\n"
                               "components:\n"
                               "  /c:\n"
                               "    get:\n";

    spec_ops(text, &ops);
    cr_assert_eq(ops.n, 3);
    cr_expect_str_eq(ops.op[0].method, "GET");
    cr_expect_str_eq(ops.op[0].pattern, "/a");
    cr_expect_str_eq(ops.op[1].method, "POST");
    cr_expect_str_eq(ops.op[2].method, "DELETE");
    cr_expect_str_eq(ops.op[2].pattern, "/b/{}/files/{}");
    cr_expect(ops.op[2].trailing_param);
    cr_expect(!ops.op[0].trailing_param);
}

Test(openapi, every_route_is_documented_and_every_documented_route_served)
{
    char from[4200], missing[16384] = "", extra[16384] = "";
    size_t nmissing = 0, nextra = 0;
    char *text = spec_text(from, sizeof(from));
    size_t n = table(routes, MAX_OPS);

    cr_assert(strncmp(text, "openapi: 3.1", 12) == 0, "%s: not an OpenAPI 3.1 document", from);
    spec_ops(text, &ops);
    cr_assert(ops.n > 0, "%s: no operations under paths:", from);
    for (size_t i = 0; i < n; i++) {
        if (documented(&ops, &routes[i]))
            continue;
        size_t used = strlen(missing);
        snprintf(missing + used, sizeof(missing) - used, "\n  %s %s%s", routes[i].method,
                 routes[i].pattern,
                 routes[i].rest ? " (documented with a trailing path parameter, \"{path}\")" : "");
        nmissing++;
    }
    for (size_t i = 0; i < ops.n; i++) {
        if (served(routes, n, &ops.op[i]))
            continue;
        size_t used = strlen(extra);
        snprintf(extra + used, sizeof(extra) - used, "\n  %s %s", ops.op[i].method,
                 ops.op[i].pattern);
        nextra++;
    }
    cr_expect_eq(nmissing, 0, "%zu routes of the daemon are not in %s:%s", nmissing, from, missing);
    cr_expect_eq(nextra, 0, "%zu operations of %s are not served by the daemon:%s", nextra, from,
                 extra);
    free(text);
}
