/*
 * tlshello owns reading a TLS ClientHello as it arrives on the wire, record by record, far enough
 * to name the server it asks for (SNI) and to see whether it hides the name (ECH, ESNI). It reads
 * hostile bytes: every length is checked against the bytes its parent declared before anything
 * is read under it, and nothing is copied out but the name. It must stay pure (no syscalls, no
 * allocation, no globals) and must never decide whether the name is allowed -- that is the
 * policy's job -- nor accept anything a TLS server could read differently from us.
 *
 * The handshake message may be fragmented over several records (RFC 8446 5.1), so it is read
 * through a cursor that maps offsets in the message to offsets on the wire and walks record
 * headers lazily, in wire order, as the parser asks for bytes. Because every decision is made
 * in wire order from the bytes seen so far, the answer for a buffer is also the answer for every
 * longer buffer that starts with it: 0 (need more) until the first byte that makes the hello
 * complete or wrong, then that result for good. The proxy can therefore call again with each
 * read, and the fuzzer checks exactly this.
 *
 * Inside the parser, -EAGAIN means "the bytes so far end here, and are fine so far"; only
 * tlshello_parse turns it into the public 0.
 */
#include "tlshello.h"

#include <stdio.h>

/*
 * Longest TLSPlaintext fragment (RFC 8446 5.1, RFC 5246 6.2.1). The ClientHello is sent before
 * any key exists, so its records are plaintext, and a server must refuse a longer plaintext
 * record with record_overflow. 2^14 + 256 (TLS 1.3) and 2^14 + 2048 (TLS 1.2) bound only
 * protected records, which cannot occur here; accepting them would let a job send a hello the
 * server refuses but we had read.
 */
#define TLS_RECORD_MAX 16384
#define TLS_RECORD_HEADER 5
#define TLS_HANDSHAKE_HEADER 4
#define TLS_CONTENT_HANDSHAKE 22
#define TLS_HANDSHAKE_CLIENT_HELLO 1
#define TLS_RANDOM_LEN 32
#define TLS_SESSION_ID_MAX 32
#define TLS_EXT_SERVER_NAME 0x0000
#define TLS_EXT_ECH 0xfe0d  /* draft-ietf-tls-esni, encrypted_client_hello */
#define TLS_EXT_ESNI 0xffce /* the older encrypted_server_name drafts */
#define TLS_SNI_HOST_NAME 0

#define NEED_MORE (-EAGAIN)

/*
 * The handshake message as a byte string of its own, over the records that carry it. The
 * cursor caches the record holding the last byte read; reads move forward, so each record
 * header is read once per parse.
 */
struct hs_stream {
    const uint8_t *buf;
    size_t len;      /* wire bytes available */
    size_t wire;     /* wire offset of the current record's payload */
    size_t frag_off; /* offset in the message of that payload */
    size_t frag_len; /* its length; 0 before the first record header is read */
    size_t msg_len;  /* handshake header + body, once the header is read; else 0 */
    struct err *err;
};

/* A bounded view of the message, as BoringSSL's CBS: [pos, end), named for error messages. */
struct span {
    struct hs_stream *st;
    size_t pos;
    size_t end;
    const char *what;
};

static int bad(struct err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
bad(struct err *err, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(err, EINVAL, "bad_tls", "TLS ClientHello: %s", msg);
}

/*
 * The first record header decides whether this is TLS at all, byte by byte, so "GET ", "SSH-"
 * and an SSLv2 hello (0x80 ...) are refused on their first byte. The record version is a
 * legacy field (RFC 8446 5.1) but always 3.x, 0x0300 from clients that still offer SSL 3.0.
 */
static int
check_first_header(const uint8_t *h, size_t avail, struct err *err)
{
    if (avail >= 1 && h[0] != TLS_CONTENT_HANDSHAKE)
        return err_set(err, EPROTO, "not_tls",
                       "not a TLS handshake: the first byte is 0x%02x, a TLS handshake record "
                       "starts with 0x16",
                       h[0]);
    if (avail >= 2 && h[1] != 3)
        return err_set(err, EPROTO, "not_tls",
                       "not a TLS handshake: record version major 0x%02x, TLS has 0x03", h[1]);
    if (avail >= 3 && h[2] > 4)
        return err_set(err, EPROTO, "not_tls",
                       "not a TLS handshake: record version 0x03%02x is past TLS 1.3 (0x0304)",
                       h[2]);
    return 0;
}

static int
check_next_header(const uint8_t *h, size_t avail, struct err *err)
{
    if (avail >= 1 && h[0] != TLS_CONTENT_HANDSHAKE)
        return bad(err, "a record of type %u arrived before the ClientHello was complete", h[0]);
    if ((avail >= 2 && h[1] != 3) || (avail >= 3 && h[2] > 4))
        return bad(err, "a continuation record's version is not 0x0300..0x0304");
    return 0;
}

/*
 * Once the message length is known: the current record must not carry bytes past the hello
 * (nothing may share a record with the first ClientHello, and a server would read them as a
 * second handshake message), and the rest of the hello must fit in TLSHELLO_MAX wire bytes even
 * if every later record is full.
 */
static int
stream_check_bounds(const struct hs_stream *st)
{
    size_t frag_end = st->frag_off + st->frag_len;
    size_t rest, need;

    if (st->msg_len == 0)
        return 0;
    if (frag_end > st->msg_len)
        return bad(st->err, "a record carries %zu bytes past the end of the ClientHello",
                   frag_end - st->msg_len);
    rest = st->msg_len - frag_end;
    need = st->wire + st->frag_len + rest +
           TLS_RECORD_HEADER * ((rest + TLS_RECORD_MAX - 1) / TLS_RECORD_MAX);
    if (need > TLSHELLO_MAX)
        return err_set(st->err, E2BIG, "bad_tls",
                       "TLS ClientHello: a %zu-byte handshake message needs at least %zu bytes "
                       "on the wire, more than the %d read before a tunnel must name its host",
                       st->msg_len, need, TLSHELLO_MAX);
    return 0;
}

/* Reads the header of the record after the current one and makes it current. */
static int
stream_next_record(struct hs_stream *st)
{
    size_t h = st->wire + st->frag_len, avail, n;
    int r;

    avail = h < st->len ? st->len - h : 0;
    if (avail > TLS_RECORD_HEADER)
        avail = TLS_RECORD_HEADER;
    if (h == 0)
        r = check_first_header(st->buf, avail, st->err);
    else
        r = check_next_header(st->buf + h, avail, st->err);
    if (r < 0)
        return r;
    if (avail < TLS_RECORD_HEADER)
        return NEED_MORE;
    n = (size_t)st->buf[h + 3] << 8 | st->buf[h + 4];
    if (n == 0) /* RFC 8446 5.1: no zero-length handshake fragments */
        return bad(st->err, "an empty handshake record");
    if (n > TLS_RECORD_MAX)
        return bad(st->err, "a record of %zu bytes, more than the %d a plaintext record holds", n,
                   TLS_RECORD_MAX);
    st->frag_off += st->frag_len;
    st->wire = h + TLS_RECORD_HEADER;
    st->frag_len = n;
    return stream_check_bounds(st);
}

/* Reads byte off of the message: 0, NEED_MORE, or an error found in a record header. */
static int
stream_byte(struct hs_stream *st, size_t off, uint8_t *ret)
{
    size_t w;
    int r;

    if (off < st->frag_off) { /* never happens while reads move forward; stay correct anyway */
        st->wire = st->frag_off = st->frag_len = 0;
    }
    while (off - st->frag_off >= st->frag_len) {
        r = stream_next_record(st); /* NEED_MORE while the current record is not all here */
        if (r < 0)
            return r;
    }
    w = st->wire + (off - st->frag_off);
    if (w >= st->len)
        return NEED_MORE;
    *ret = st->buf[w];
    return 0;
}

static int
span_need(const struct span *s, size_t n, const char *field)
{
    if (n > s->end - s->pos)
        return bad(s->st->err, "%s needs %zu bytes, but %s has only %zu left", field, n, s->what,
                   s->end - s->pos);
    return 0;
}

/* Reads an n-byte (n <= 3) big-endian integer. */
static int
span_uint(struct span *s, size_t n, uint32_t *ret, const char *field)
{
    uint32_t v = 0;
    uint8_t b;
    int r;

    r = span_need(s, n, field);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        r = stream_byte(s->st, s->pos, &b);
        if (r < 0)
            return r;
        v = v << 8 | b;
        s->pos++;
    }
    *ret = v;
    return 0;
}

/* Skips n bytes without reading them (their records are checked by the next read). */
static int
span_skip(struct span *s, size_t n, const char *field)
{
    int r = span_need(s, n, field);

    if (r < 0)
        return r;
    s->pos += n;
    return 0;
}

/* Reads a length of width bytes and splits off the vector it announces as *ret. */
static int
span_vector(struct span *s, size_t width, const char *what, struct span *ret)
{
    uint32_t n;
    int r;

    r = span_uint(s, width, &n, what);
    if (r < 0)
        return r;
    if (n > s->end - s->pos)
        return bad(s->st->err, "%s is %u bytes long, but %s has only %zu left", what, n, s->what,
                   s->end - s->pos);
    *ret = (struct span){s->st, s->pos, s->pos + n, what};
    s->pos += n;
    return 0;
}

static int
span_expect_end(const struct span *s, const char *last)
{
    if (s->pos != s->end)
        return bad(s->st->err, "%s has %zu bytes after %s", s->what, s->end - s->pos, last);
    return 0;
}

/* ASCII only, spelled out: ctype.h would consult the locale. */
static bool
host_byte_ok(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/*
 * The host_name: what RFC 6066 3 allows (an ASCII DNS name without trailing dot) and nothing a
 * resolver or a certificate check could read in two ways: letters, digits, '-', '_' and '.'
 * between non-empty labels of at most LABEL_MAX bytes, at most HOST_MAX bytes in all. Returned
 * lower case in ret (HOST_MAX + 1 bytes). Each byte is judged as it arrives.
 */
static int
parse_host_name(struct span *name, char *ret)
{
    size_t n = name->end - name->pos, i, label = 0;
    uint8_t c;
    int r;

    if (n == 0)
        return bad(name->st->err, "the server_name host_name is empty");
    if (n > HOST_MAX)
        return bad(name->st->err, "the server_name host_name is %zu bytes, more than %d", n,
                   HOST_MAX);
    for (i = 0; i < n; i++) {
        r = stream_byte(name->st, name->pos + i, &c);
        if (r < 0)
            return r;
        if (c == '.' && i == n - 1)
            return bad(name->st->err, "the server_name host_name ends with a dot");
        if (c == '.' && label == 0)
            return bad(name->st->err, "the server_name host_name has an empty label");
        if (!host_byte_ok(c))
            return bad(name->st->err, "the server_name host_name has byte 0x%02x at offset %zu", c,
                       i);
        label = c == '.' ? 0 : label + 1;
        if (label > LABEL_MAX)
            return bad(name->st->err, "the server_name host_name has a label over %d bytes",
                       LABEL_MAX);
        ret[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    ret[n] = '\0';
    name->pos = name->end;
    return 0;
}

/* RFC 6066 3: a ServerNameList, which here must hold exactly one entry, a host_name. */
static int
parse_server_name(struct span *ext, struct tlshello *hello)
{
    struct span list, name;
    uint32_t type;
    int r;

    r = span_vector(ext, 2, "the server_name list", &list);
    if (r < 0)
        return r;
    r = span_expect_end(ext, "the server_name list");
    if (r < 0)
        return r;
    if (list.pos == list.end)
        return bad(ext->st->err, "the server_name list has no name");
    for (int i = 0; list.pos < list.end; i++) {
        r = span_uint(&list, 1, &type, "a server_name name_type");
        if (r < 0)
            return r;
        if (type != TLS_SNI_HOST_NAME)
            return bad(ext->st->err, "the server_name list has a name of type %u, not host_name",
                       type);
        if (i > 0)
            return bad(ext->st->err, "the server_name list has more than one host_name");
        r = span_vector(&list, 2, "the server_name host_name", &name);
        if (r < 0)
            return r;
        r = parse_host_name(&name, hello->sni);
        if (r < 0)
            return r;
    }
    hello->has_sni = true;
    return 0;
}

/* The extensions block; seen has one bit per extension type (8 KiB, on the caller's stack). */
static int
parse_extensions(struct span *exts, uint8_t seen[static 8192], struct tlshello *hello)
{
    struct span data;
    uint32_t type;
    int r;

    while (exts->pos < exts->end) {
        r = span_uint(exts, 2, &type, "an extension type");
        if (r < 0)
            return r;
        if (seen[type / 8] & (1u << (type % 8)))
            return bad(exts->st->err, "extension 0x%04x appears twice", type);
        seen[type / 8] |= (uint8_t)(1u << (type % 8));
        r = span_vector(exts, 2, "an extension's data", &data);
        if (r < 0)
            return r;
        if (type == TLS_EXT_ECH || type == TLS_EXT_ESNI)
            hello->has_ech = true;
        if (type == TLS_EXT_SERVER_NAME) {
            data.what = "the server_name extension";
            r = parse_server_name(&data, hello);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/*
 * The ClientHello body (RFC 8446 4.1.2, RFC 5246 7.4.1.2). Extensions may be absent altogether
 * in a TLS 1.2 hello, but not present and empty of bytes.
 */
static int
parse_body(struct span *body, uint8_t seen[static 8192], struct tlshello *hello)
{
    struct span v;
    uint32_t version;
    int r;

    r = span_uint(body, 2, &version, "legacy_version");
    if (r < 0)
        return r;
    if (version >> 8 != 3)
        return bad(body->st->err, "legacy_version 0x%04x is not 3.x", version);
    hello->version = (uint16_t)version;
    r = span_skip(body, TLS_RANDOM_LEN, "random");
    if (r < 0)
        return r;
    r = span_vector(body, 1, "legacy_session_id", &v);
    if (r < 0)
        return r;
    if (v.end - v.pos > TLS_SESSION_ID_MAX)
        return bad(body->st->err, "legacy_session_id is %zu bytes, more than %d", v.end - v.pos,
                   TLS_SESSION_ID_MAX);
    r = span_vector(body, 2, "cipher_suites", &v);
    if (r < 0)
        return r;
    if (v.end == v.pos || (v.end - v.pos) % 2 != 0)
        return bad(body->st->err, "cipher_suites is %zu bytes, not a positive even number",
                   v.end - v.pos);
    r = span_vector(body, 1, "legacy_compression_methods", &v);
    if (r < 0)
        return r;
    if (v.end == v.pos)
        return bad(body->st->err, "legacy_compression_methods is empty");
    if (body->pos == body->end)
        return 0;
    r = span_vector(body, 2, "extensions", &v);
    if (r < 0)
        return r;
    r = span_expect_end(body, "the extensions");
    if (r < 0)
        return r;
    return parse_extensions(&v, seen, hello);
}

/* The handshake header: type ClientHello and a 24-bit length, which sets the message's end. */
static int
parse_message(struct hs_stream *st, uint8_t seen[static 8192], struct tlshello *hello)
{
    struct span head = {st, 0, TLS_HANDSHAKE_HEADER, "the handshake header"}, body;
    uint32_t type, n;
    uint8_t last;
    int r;

    r = span_uint(&head, 1, &type, "msg_type");
    if (r < 0)
        return r;
    if (type != TLS_HANDSHAKE_CLIENT_HELLO)
        return bad(st->err, "handshake message type %u, not ClientHello (1)", type);
    r = span_uint(&head, 3, &n, "the handshake length");
    if (r < 0)
        return r;
    st->msg_len = TLS_HANDSHAKE_HEADER + (size_t)n;
    r = stream_check_bounds(st);
    if (r < 0)
        return r;
    body = (struct span){st, TLS_HANDSHAKE_HEADER, st->msg_len, "the ClientHello"};
    r = parse_body(&body, seen, hello);
    if (r < 0)
        return r;
    /* Skipped fields (random, cipher suites, other extensions) may end the message: read its
     * last byte, so that every record up to it has been checked and is here. */
    return stream_byte(st, st->msg_len - 1, &last);
}

int
tlshello_parse(const uint8_t *buf, size_t len, struct tlshello *ret, struct err *err)
{
    struct hs_stream st = {.buf = buf, .len = len, .err = err};
    struct tlshello hello = {.sni = ""};
    uint8_t seen[8192] = {0};
    int r;

    r = parse_message(&st, seen, &hello);
    if (r == NEED_MORE)
        return 0;
    if (r < 0)
        return r;
    *ret = hello;
    return 1;
}
