/*
 * libFuzzer target for tlshello. The first input byte picks the shape: even, the rest is the
 * wire bytes as a job would send them; odd, the next two bytes are a record size and the rest
 * is an extensions block, wrapped here in a well-formed ClientHello and cut into records of that
 * size, so the fuzzer spends its time inside server_name and the extension list rather than on
 * framing (with bit 1 also set, two more bytes size a padding extension, for hellos near
 * TLSHELLO_MAX that the fuzzer would not grow by itself). On what comes out, tlshello_parse must
 * hold to its contract:
 *   - the result is 1, 0, -EPROTO, -EINVAL or -E2BIG, err is set exactly on failure with the
 *     code the errno implies, *ret is written only on 1, and never 0 with TLSHELLO_MAX bytes;
 *   - an accepted name is non-empty, lower case, [a-z0-9._-] in labels of 1..LABEL_MAX bytes,
 *     at most HOST_MAX bytes, without a trailing dot;
 *   - over the prefixes of the input the answer is 0 until it is not, and then never changes:
 *     an accepted hello stays accepted with the same name for any longer buffer, and an error
 *     stays the same error;
 *   - an accepted hello ends where its records say it does (found here without tlshello), is
 *     accepted from there, and needs more one byte earlier -- so every prefix needs more;
 *   - bytes appended to the whole input change nothing once the answer is final.
 * A broken invariant aborts, so libFuzzer keeps the input.
 *
 *   clang -fsanitize=fuzzer,address,undefined -iquote daemon tests/fuzz/fuzz_tlshello.c \
 *       daemon/tlshello.c daemon/util.c -o /tmp/fuzz_tlshello && /tmp/fuzz_tlshello
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlshello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Beyond this many bytes, the prefix check samples prefixes instead of trying every one. */
#define ALL_PREFIXES_MAX 2048
#define SAMPLED_PREFIXES 128

struct result {
    int r;
    struct tlshello hello;
    struct err err;
};

static void
check_name(const char *s)
{
    size_t n = strlen(s), label = 0;

    CHECK(n > 0 && n <= HOST_MAX && s[n - 1] != '.');
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.');
        CHECK(c != '.' || label > 0);
        label = c == '.' ? 0 : label + 1;
        CHECK(label <= LABEL_MAX);
    }
}

static void
parse(const uint8_t *buf, size_t len, struct result *res)
{
    struct tlshello sentinel;

    memset(&sentinel, 0xa5, sizeof(sentinel));
    res->hello = sentinel;
    res->err = (struct err){0};
    res->r = tlshello_parse(buf, len, &res->hello, &res->err);
    CHECK(res->r == 1 || res->r == 0 || res->r == -EPROTO || res->r == -EINVAL || res->r == -E2BIG);
    if (res->r != 1)
        CHECK(memcmp(&res->hello, &sentinel, sizeof(sentinel)) == 0);
    if (len >= TLSHELLO_MAX)
        CHECK(res->r != 0);
    if (res->r >= 0)
        CHECK(res->err.code == NULL);
    else
        CHECK(res->err.code &&
              strcmp(res->err.code, res->r == -EPROTO ? "not_tls" : "bad_tls") == 0 &&
              res->err.message[0] != '\0');
    if (res->r == 1) {
        CHECK(memchr(res->hello.sni, '\0', sizeof(res->hello.sni)) != NULL);
        CHECK(res->hello.has_sni == (res->hello.sni[0] != '\0'));
        if (res->hello.has_sni)
            check_name(res->hello.sni);
        CHECK(res->hello.version >> 8 == 3);
    }
}

static bool
same(const struct result *a, const struct result *b)
{
    if (a->r != b->r)
        return false;
    if (a->r == 1)
        return a->hello.has_sni == b->hello.has_sni && strcmp(a->hello.sni, b->hello.sni) == 0 &&
               a->hello.has_ech == b->hello.has_ech && a->hello.version == b->hello.version;
    if (a->r < 0)
        return strcmp(a->err.code, b->err.code) == 0 && strcmp(a->err.message, b->err.message) == 0;
    return true;
}

/* Walks prefixes in increasing length: 0 until the first final answer, then that answer. */
static void
check_prefixes(const uint8_t *buf, size_t len, const struct result *whole)
{
    static struct result first, cur;
    bool final = false;
    size_t step = len <= ALL_PREFIXES_MAX ? 1 : len / SAMPLED_PREFIXES;

    for (size_t k = 0; k < len; k += step) {
        parse(buf, k, &cur);
        if (final)
            CHECK(same(&cur, &first));
        else if (cur.r != 0) {
            first = cur;
            final = true;
        }
    }
    if (final)
        CHECK(same(whole, &first));
}

/* Once the answer is final, more bytes (whatever they are) do not change it. */
static void
check_appended(const uint8_t *buf, size_t len, const struct result *whole)
{
    static const uint8_t tails[][8] = {
        {0x16, 0x03, 0x03, 0x00, 0x04, 0x01, 0x00, 0x00},
        {0x17, 0x03, 0x03, 0xff, 0xff, 0x00, 0x00, 0x00},
        {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
    };
    static struct result cur;
    uint8_t *more;

    if (whole->r == 0)
        return;
    more = malloc(len + sizeof(tails[0]));
    if (!more)
        return;
    if (len > 0)
        memcpy(more, buf, len);
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        for (size_t k = 1; k <= sizeof(tails[i]); k++) {
            memcpy(more + len, tails[i], k);
            parse(more, len + k, &cur);
            CHECK(same(&cur, whole));
        }
    }
    free(more);
}

static size_t
put_record(uint8_t *out, const uint8_t *data, size_t n)
{
    out[0] = 22;
    out[1] = 3;
    out[2] = 3;
    out[3] = (uint8_t)(n >> 8);
    out[4] = (uint8_t)n;
    memcpy(out + 5, data, n);
    return 5 + n;
}

/* A ClientHello around the fuzzer's extensions block, then a padding extension of pad zeros
 * (if pad > 0), in records of chunk bytes. */
static uint8_t *
wrap(const uint8_t *ext, size_t ext_len, size_t pad, size_t chunk, size_t *ret_len)
{
    static const uint8_t fixed[] = {0x03, 0x03, [34] = 0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00};
    size_t pad_len = pad > 0 ? 4 + pad : 0, all = ext_len + pad_len;
    size_t body = sizeof(fixed) + 2 + all, msg_len = 4 + body, w = 0;
    uint8_t *msg, *out, *p;

    if (all > 0xffff)
        return NULL;
    msg = calloc(1, msg_len);
    out = malloc(msg_len + 5 * (msg_len / chunk + 1));
    if (!msg || !out) {
        free(msg);
        free(out);
        return NULL;
    }
    msg[0] = 1;
    msg[1] = (uint8_t)(body >> 16);
    msg[2] = (uint8_t)(body >> 8);
    msg[3] = (uint8_t)body;
    memcpy(msg + 4, fixed, sizeof(fixed));
    p = msg + 4 + sizeof(fixed);
    p[0] = (uint8_t)(all >> 8);
    p[1] = (uint8_t)all;
    if (ext_len > 0)
        memcpy(p + 2, ext, ext_len);
    if (pad > 0) {
        p += 2 + ext_len;
        p[1] = 0x15;
        p[2] = (uint8_t)(pad >> 8);
        p[3] = (uint8_t)pad;
    }
    for (size_t start = 0; start < msg_len; start += chunk)
        w += put_record(out + w, msg + start, msg_len - start < chunk ? msg_len - start : chunk);
    free(msg);
    *ret_len = w;
    return out;
}

/*
 * Where an accepted hello ends, found independently of tlshello: the end of the record that
 * holds the last byte of the handshake message its first four bytes announce.
 */
static size_t
hello_end(const uint8_t *buf, size_t len)
{
    uint8_t head[4];
    size_t off = 0, got = 0, need = sizeof(head);

    while (off + 5 <= len) {
        size_t n = (size_t)buf[off + 3] << 8 | buf[off + 4];
        for (size_t i = 0; i < n && got + i < sizeof(head) && off + 5 + i < len; i++)
            head[got + i] = buf[off + 5 + i];
        got += n;
        off += 5 + n;
        if (need == sizeof(head) && got >= sizeof(head))
            need += (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
        if (got >= need)
            return off;
    }
    return 0;
}

/* An accepted hello is accepted from its last byte on, and needs more just before it. */
static void
check_accepted(const uint8_t *buf, size_t len, const struct result *whole)
{
    static struct result cur;
    size_t end;

    if (whole->r != 1)
        return;
    end = hello_end(buf, len);
    CHECK(end > 0 && end <= len && end <= TLSHELLO_MAX);
    parse(buf, end, &cur);
    CHECK(same(&cur, whole));
    parse(buf, end - 1, &cur);
    CHECK(cur.r == 0);
}

static void
check(const uint8_t *buf, size_t len)
{
    static struct result whole;

    parse(buf, len, &whole);
    check_prefixes(buf, len, &whole);
    check_accepted(buf, len, &whole);
    check_appended(buf, len, &whole);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf;
    size_t len, chunk, pad = 0, skip = 3;

    if (size == 0)
        return 0;
    if ((data[0] & 1) == 0) {
        check(data + 1, size - 1);
        return 0;
    }
    if (size < 3)
        return 0;
    chunk = ((size_t)data[1] << 8 | data[2]) % 16384 + 1;
    if ((data[0] & 2) && size >= 5) { /* a big padding extension: hellos near TLSHELLO_MAX */
        pad = (size_t)data[3] << 8 | data[4];
        skip = 5;
    }
    buf = wrap(data + skip, size - skip, pad, chunk, &len);
    if (!buf)
        return 0;
    check(buf, len);
    free(buf);
    return 0;
}
