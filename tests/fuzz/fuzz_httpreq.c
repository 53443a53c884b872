/*
 * libFuzzer target for httpreq: every input is parsed as a request head (after one of a few
 * canned starts picked by its first byte, so the fuzzer spends its time past the request line
 * too) and decoded as a chunked body, and what they return must hold up:
 *   - a parse gives 0, a head length <= len and <= HTTPREQ_HEAD_MAX, or -EINVAL with a status of
 *     400/414/417/431, the code "bad_request" and a message;
 *   - an accepted head's pointers lie inside the head, its fields are what the header promises
 *     (known method, host_len > 0, port > 0, token names, trimmed values, framing consistent),
 *     and the head alone parses to the same length;
 *   - a prefix never succeeds with another length: it gives 0 before the head's end, the head's
 *     length after it, and when it is refused the whole input gets the same status and message;
 *   - chunked decoding of the whole input equals decoding it fed in two parts (result, data and
 *     bytes consumed), never consumes more than it is given, and a finished body decodes the
 *     same from exactly the bytes it consumed.
 * Every buffer is a heap copy of exactly its length, so ASan sees any read past it. A broken
 * invariant aborts, so libFuzzer keeps the input.
 *
 *   make -f tests/fuzz/fuzz.mk build/fuzz/fuzz_httpreq && build/fuzz/fuzz_httpreq
 * -max_total_time=60
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char *const starts[] = {
    "",
    "GET http://",
    "POST http://a.example/ HTTP/1.1\r\nHost: a.example\r\n",
    "CONNECT ",
    "GET http://a/ HTTP/1.0\r\n",
    "PUT http://[::1]:8080/x?y HTTP/1.1\r\nHost: [::1]:8080\r\nTransfer-Encoding: chunked\r\n",
};

struct result {
    ssize_t n;
    int status;
    struct err err;
    struct httpreq r;
};

/* Parses an exact-length heap copy of in[0..len); the copy is returned for r's pointers. */
static char *
parse(const char *in, size_t len, struct result *res)
{
    char *buf = malloc(len ? len : 1);

    CHECK(buf != NULL);
    memcpy(buf, in, len);
    memset(res, 0, sizeof(*res));
    res->status = -1;
    res->n = httpreq_parse(buf, len, &res->r, &res->status, &res->err);
    return buf;
}

static bool
inside(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && p <= buf + len && n <= (size_t)(buf + len - p);
}

static bool
is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void
check_headers(const struct httpreq *r, const char *buf, size_t n)
{
    CHECK(r->nheaders <= HTTPREQ_HEADERS_MAX);
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct httpreq_header *h = &r->headers[i];
        CHECK(h->name_len > 0 && inside(h->name, h->name_len, buf, n));
        CHECK(inside(h->value, h->value_len, buf, n));
        for (size_t j = 0; j < h->name_len; j++)
            CHECK(is_tchar(h->name[j]));
        CHECK(h->value_len == 0 || (h->value[0] != ' ' && h->value[0] != '\t'));
        CHECK(h->value_len == 0 ||
              (h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t'));
        for (size_t j = 0; j < h->value_len; j++)
            CHECK(h->value[j] == '\t' ||
                  ((unsigned char)h->value[j] >= 0x20 && h->value[j] != 0x7f));
    }
    CHECK(r->version_minor == 0 || httpreq_header_find(r, "host") != NULL);
}

/* What the header promises of an accepted head in buf[0..n). */
static void
check_accepted(const struct httpreq *r, const char *buf, size_t n)
{
    static const char *const methods[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                          "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    bool known = false, connect = strcmp(r->method, "CONNECT") == 0;

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        known = known || strcmp(r->method, methods[i]) == 0;
    CHECK(known);
    CHECK(n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
    CHECK(r->version_minor == 0 || r->version_minor == 1);
    CHECK(r->form == (connect ? HTTPREQ_FORM_AUTHORITY : HTTPREQ_FORM_ABSOLUTE));
    CHECK(r->host_len > 0 && inside(r->host, r->host_len, buf, n));
    CHECK(r->port != 0 && (r->port_explicit || !connect));
    CHECK(r->port_explicit || r->port == (r->https ? 443 : 80));
    CHECK(!connect || !r->https);
    CHECK(inside(r->path, r->path_len, buf, n));
    CHECK(r->path_len == 0 || r->path[0] == '/');
    CHECK(r->query == NULL ? r->query_len == 0 : inside(r->query, r->query_len, buf, n));
    CHECK(!connect || (r->path_len == 0 && r->query == NULL));
    CHECK(r->host[0] != '[' || r->host[r->host_len - 1] == ']');
    CHECK(memchr(r->host, '@', r->host_len) == NULL);
    CHECK(r->body != HTTPREQ_BODY_CHUNKED || (r->version_minor == 1 && !connect));
    CHECK(r->body == HTTPREQ_BODY_LENGTH || r->content_length == 0);
    CHECK(r->content_length <= INT64_MAX);
    CHECK(!connect || r->content_length == 0);
    CHECK(!r->expect_continue || r->version_minor == 1);
    CHECK(r->keep_alive ==
          (!httpreq_connection_lists(r, "close", 5) &&
           (r->version_minor == 1 || httpreq_connection_lists(r, "keep-alive", 10))));
    check_headers(r, buf, n);
}

static void
check_result(const struct result *res, const char *buf, size_t len)
{
    if (res->n < 0) {
        CHECK(res->n == -EINVAL);
        CHECK(res->status == 400 || res->status == 414 || res->status == 417 || res->status == 431);
        CHECK(res->err.code != NULL && strcmp(res->err.code, "bad_request") == 0);
        CHECK(res->err.message[0] != '\0');
        return;
    }
    CHECK(res->status == -1);
    if (res->n == 0)
        return;
    CHECK((size_t)res->n <= len && res->n <= HTTPREQ_HEAD_MAX);
    check_accepted(&res->r, buf, (size_t)res->n);
}

/* A prefix of whole: 0 before the head's end, the same length after it, the same refusal. */
static void
check_prefix(const char *in, size_t k, const struct result *whole)
{
    struct result res;
    char *buf = parse(in, k, &res);

    check_result(&res, buf, k);
    if (whole->n > 0)
        CHECK(res.n == ((size_t)whole->n <= k ? whole->n : 0));
    if (res.n < 0) {
        CHECK(whole->n == res.n && whole->status == res.status);
        CHECK(strcmp(whole->err.message, res.err.message) == 0);
    }
    CHECK(whole->n >= 0 || res.n <= 0);
    free(buf);
}

static void
check_head(const char *in, size_t len, unsigned seed)
{
    struct result whole, again;
    char *buf = parse(in, len, &whole), *head;

    check_result(&whole, buf, len);
    if (whole.n > 0) {
        head = parse(in, (size_t)whole.n, &again);
        CHECK(again.n == whole.n);
        CHECK(again.r.nheaders == whole.r.nheaders && again.r.port == whole.r.port);
        CHECK(again.r.host_len == whole.r.host_len && again.r.path_len == whole.r.path_len);
        free(head);
    }
    /* A few cut points: the whole of every prefix would make each input quadratic. */
    if (len > 0) {
        size_t cuts[] = {seed % len, (seed / 7) % len, len / 2, len - 1,
                         whole.n > 0 ? (size_t)whole.n - 1 : 0};
        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
            check_prefix(in, cuts[i], &whole);
    }
    free(buf);
}

struct decoded {
    int st;
    size_t consumed;
    size_t data_len;
    char *data; /* at most the input's length */
    char message[ERR_MSG_MAX];
};

/* Feeds an exact-length heap copy of in[0..len) to c until it is consumed or c stops. */
static void
feed(struct httpreq_chunked *c, const char *in, size_t len, struct decoded *d)
{
    char *buf = malloc(len ? len : 1);
    size_t off = 0;

    CHECK(buf != NULL);
    memcpy(buf, in, len);
    while (off < len) {
        size_t used, doff, dlen;
        struct err err = {0};
        d->st = httpreq_chunked_next(c, buf + off, len - off, &used, &doff, &dlen, &err);
        CHECK(used <= len - off && doff <= used && dlen <= used - doff);
        CHECK(d->st == 0 || d->st == 1 || d->st == -EINVAL);
        CHECK(d->st != -EINVAL || (err.code && err.message[0]));
        memcpy(d->data + d->data_len, buf + off + doff, dlen);
        d->data_len += dlen;
        off += used;
        d->consumed += used;
        if (d->st < 0)
            memcpy(d->message, err.message, sizeof(d->message));
        if (d->st != 0)
            break;
        CHECK(used > 0);
    }
    free(buf);
}

/* Decodes in[0..len) given in two parts, in[0..cut) and the rest. */
static void
decode(const char *in, size_t len, size_t cut, struct decoded *d)
{
    struct httpreq_chunked c = {0};

    d->st = 0;
    d->consumed = 0;
    d->data_len = 0;
    d->message[0] = '\0';
    feed(&c, in, cut, d);
    if (d->st == 0)
        feed(&c, in + cut, len - cut, d);
}

static void
check_chunked(const char *in, size_t len, unsigned seed)
{
    struct decoded whole, split;

    whole.data = malloc(len + 1);
    split.data = malloc(len + 1);
    CHECK(whole.data && split.data);
    decode(in, len, len, &whole);
    CHECK(whole.consumed <= len && whole.data_len <= whole.consumed);
    CHECK(whole.st != 0 || whole.consumed == len);
    decode(in, len, len ? seed % (len + 1) : 0, &split);
    CHECK(split.st == whole.st && split.consumed == whole.consumed);
    CHECK(split.data_len == whole.data_len && memcmp(split.data, whole.data, whole.data_len) == 0);
    CHECK(strcmp(split.message, whole.message) == 0);
    if (whole.st == 1) {
        decode(in, whole.consumed, whole.consumed / 2, &split);
        CHECK(split.st == 1 && split.consumed == whole.consumed);
    }
    free(whole.data);
    free(split.data);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *start;
    size_t n, body = 0;
    unsigned seed = 0;
    char *in;
    struct result res;
    char *buf;

    if (size == 0)
        return 0;
    for (size_t i = 0; i < size && i < 8; i++)
        seed = seed * 131 + data[i];
    start = starts[data[0] % (sizeof(starts) / sizeof(starts[0]))];
    n = strlen(start) + size - 1;
    in = malloc(n ? n : 1);
    if (!in)
        return 0;
    memcpy(in, start, strlen(start));
    memcpy(in + strlen(start), data + 1, size - 1);
    check_head(in, n, seed);
    /* The bytes after an accepted chunked head are its body: decode them as the proxy would. */
    buf = parse(in, n, &res);
    if (res.n > 0 && res.r.body == HTTPREQ_BODY_CHUNKED)
        body = (size_t)res.n;
    free(buf);
    check_chunked(in + body, n - body, seed);
    check_chunked((const char *)data, size, seed / 3);
    free(in);
    return 0;
}
