/*
 * httpreq: a strict HTTP/1.1 request-head parser for the egress proxy (RFC 9112), and the
 * decoder of a chunked request body. Pure: no syscalls, no allocation, no globals; it reads the
 * bytes it is given and points into them. It decides nothing about where a request may go (that
 * is policy.c); it only refuses every head a proxy and an upstream could read two ways, so that
 * what the policy decides on is what is forwarded. Anything it refuses is answered 400 (or
 * 414/431) by the proxy and never forwarded.
 */
#ifndef AIRLOCK_HTTPREQ_H
#define AIRLOCK_HTTPREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

#define HTTPREQ_LINE_MAX 8192       /* request line without CRLF; longer: 414 */
#define HTTPREQ_HEAD_MAX 32768      /* the whole head, from buf[0] to the empty line; longer: 431 */
#define HTTPREQ_FIELD_MAX 8192      /* one header line without CRLF; longer: 431 */
#define HTTPREQ_HEADERS_MAX 100     /* header fields; more: 431 */
#define HTTPREQ_METHOD_MAX 15       /* longest method token */
#define HTTPREQ_CHUNK_LINE_MAX 4096 /* a chunk-size line with its extensions */
#define HTTPREQ_TRAILER_MAX 8192    /* all trailer lines together */

enum httpreq_form {
    HTTPREQ_FORM_ABSOLUTE,  /* GET http://host[:port]/path?query HTTP/1.1 */
    HTTPREQ_FORM_AUTHORITY, /* CONNECT host:port HTTP/1.1 */
};

enum httpreq_body {
    HTTPREQ_BODY_NONE,    /* neither Content-Length nor Transfer-Encoding */
    HTTPREQ_BODY_LENGTH,  /* Content-Length: content_length bytes (may be 0) */
    HTTPREQ_BODY_CHUNKED, /* Transfer-Encoding: chunked (decode with httpreq_chunked_next) */
};

/* One header field as sent: name without the colon, value with surrounding OWS trimmed. Both
 * point into the parsed buffer and are not NUL-terminated. */
struct httpreq_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct httpreq {
    char method[HTTPREQ_METHOD_MAX + 1]; /* NUL-terminated, upper case, a known method */
    int version_minor;                   /* 0 or 1 (HTTP/1.0, HTTP/1.1) */
    enum httpreq_form form;
    /* From the request target; all point into the buffer, not NUL-terminated. */
    bool https;         /* absolute form: scheme was https (the proxy refuses it: use CONNECT) */
    const char *host;   /* as written: a name, a dotted quad, or [IPv6] with its brackets */
    size_t host_len;    /* never 0 */
    uint16_t port;      /* as written, else 80 (http) / 443 (https); never 0 */
    bool port_explicit; /* the target had ":port" */
    const char *path;   /* absolute form: from the first '/' up to '?' or the end; "" when */
    size_t path_len;    /*   the target had no path (the proxy sends "/"); CONNECT: "" too */
    const char *query;  /* absolute form: after '?' (without it), or NULL when there is no '?' */
    size_t query_len;
    /* Body framing, from the headers. */
    enum httpreq_body body;  /* CONNECT: NONE, or LENGTH with "Content-Length: 0" */
    uint64_t content_length; /* HTTPREQ_BODY_LENGTH */
    /* Connection management. */
    bool keep_alive;      /* HTTP/1.1 without "Connection: close", or 1.0 with "keep-alive" */
    bool expect_continue; /* "Expect: 100-continue" (case-insensitive); HTTP/1.1 only */
    struct httpreq_header headers[HTTPREQ_HEADERS_MAX];
    size_t nheaders; /* every field, in order, including Host, Connection and the framing ones */
};

/*
 * Parses a request head from the first len bytes of buf.
 *
 * Returns the head's length (> 0: from buf[0], skipped empty lines included, through the empty
 * line; the body, if any, starts at buf + that), 0 when the head is not complete yet and could
 * still become valid (read more and call again with the longer buffer), or -EINVAL when it is
 * refused: *ret_status is 400, 414, 417 or 431 and err says what is wrong in one sentence ("two
 * Content-Length fields"). A refusal is given as soon as the bytes seen cannot start a valid
 * head (a bare LF, a NUL, a line or head over its limit, a bad byte of the method, target or
 * version), without waiting for the rest; a field is judged when its line is complete, and a
 * missing Host at the empty line. A prefix is only ever refused with the status and message the
 * whole head gets, and a head split at any byte parses like the whole head.
 *
 * No state is kept: each call parses from buf[0] again, so a job trickling its head a byte at a
 * time costs up to HTTPREQ_HEAD_MAX^2/2 byte steps if the caller calls after every read; a
 * caller may call only when a read brought a '\n' (and when its buffer is full).
 *
 * Accepted: "METHOD SP target SP HTTP/1.x CRLF", fields "name: value CRLF", a final CRLF. Up to
 * two empty lines (CRLF) before the request line are skipped (RFC 9112 2.2).
 * Refused (400 unless noted):
 *   - a method that is not one of GET HEAD POST PUT DELETE CONNECT OPTIONS TRACE PATCH (lower
 *     case included), more than one SP between parts, a version other than HTTP/1.0 or HTTP/1.1;
 *   - CONNECT with anything but authority form (host:port, port required); any other method with
 *     anything but absolute form "http://" or "https://" (scheme case-insensitive) followed by an
 *     authority; origin form ("/x") and asterisk form ("*"); no target; no version (HTTP/0.9);
 *     more than two empty lines before the request line;
 *   - in an authority: userinfo ('@'), an empty host, a port with a sign, junk, a leading zero,
 *     0, or past 65535, an empty port after ':'; an unbracketed ':' in the host; a bracket
 *     outside "[...]", brackets that do not hold an IPv6 address (checked with netaddr_parse),
 *     bytes after ']' other than ":port"; the name itself is left to policy_host_parse;
 *   - in a target: bytes outside 0x21..0x7e, '#', a backslash;
 *   - bare CR or bare LF line ends, NUL or other control bytes (HTAB is allowed in values),
 *     obs-fold (a line starting with SP or HTAB), whitespace before a colon, an empty or non-token
 *     field name, a line without a colon; a field named like Content-Length or Transfer-Encoding
 *     with '_' for '-' ("Content_Length": CGI-style servers read it as the real one);
 *   - Host missing (HTTP/1.1), repeated, or not a host[:port] by the authority rules above
 *     (RFC 9112 3.2). It is not compared with the target: the proxy must connect to the target
 *     and send a Host made from it, never the job's;
 *   - Content-Length repeated (even with the same value), in a list, with a sign, empty,
 *     non-digits, or over 2^63-1 (leading zeros are allowed); Transfer-Encoding repeated or other
 *     than exactly "chunked" (case-insensitive); both Content-Length and Transfer-Encoding;
 *     Transfer-Encoding in an HTTP/1.0 request; CONNECT with a body (Transfer-Encoding, or a
 *     Content-Length other than 0);
 *   - 417: an Expect other than 100-continue (in HTTP/1.0 too, where 100-continue is ignored);
 *   - 414: a request line over HTTPREQ_LINE_MAX;
 *   - 431: a field line over HTTPREQ_FIELD_MAX, a head over HTTPREQ_HEAD_MAX (refused when
 *     HTTPREQ_HEAD_MAX bytes hold no complete head, so a buffer of that size is enough), more
 *     than HTTPREQ_HEADERS_MAX fields (refused at the first byte of the field past the limit).
 * *ret is written only on success; *ret_status only on -EINVAL.
 */
ssize_t httpreq_parse(const char *buf, size_t len, struct httpreq *ret, int *ret_status,
                      struct err *err);

/* The first field named name (case-insensitive), or NULL. */
const struct httpreq_header *httpreq_header_find(const struct httpreq *r, const char *name);

/* True when the comma-separated list in the request's Connection field(s) names token
 * (case-insensitive; OWS around elements and empty elements are allowed, RFC 9110 5.6.1): such
 * a field is hop-by-hop and not forwarded (RFC 9110 7.6.1). False for an empty name. */
bool httpreq_connection_lists(const struct httpreq *r, const char *name, size_t name_len);

/* True when the comma-separated list in v[0..n) (a field value: Connection, as sent by a job or
 * an upstream) holds token name, compared case-insensitively, with OWS and empty elements
 * skipped. */
bool httpreq_list_has(const char *v, size_t n, const char *name, size_t name_len);

/* Decoder state for a chunked body; zero-initialise before the first call. */
struct httpreq_chunked {
    int state;          /* private */
    uint64_t remaining; /* data bytes left in the current chunk */
    size_t line_len;    /* bytes of the current size or trailer line seen so far */
    size_t trailer_len; /* bytes of trailers seen so far */
    bool line_cr;       /* private: the previous byte was CR */
};

/*
 * Decodes the next part of a chunked body from in[0..len). Returns 1 when the body has ended
 * (the last chunk and its trailers, which are dropped, were read), 0 when more input is needed
 * after this call, or -EINVAL (err says why) for a malformed body: a size that is not hex, has
 * a sign, spaces or more than 16 digits; bad line ends; a missing CRLF after the data; a chunk
 * line over HTTPREQ_CHUNK_LINE_MAX; trailers over HTTPREQ_TRAILER_MAX (their lines with their
 * CRLFs, not the final empty line) or with control bytes; control bytes in an extension.
 * Extensions are skipped unread, and no whitespace is allowed around the size (no BWS).
 * *consumed is set to the bytes of input used (<= len). When the call found chunk data, *data_off
 * and *data_len give it as a range of in (data_len 0 when none); the data is the only output:
 * sizes, extensions and trailers are consumed silently. A caller loops until all input is
 * consumed, handing each data range on, and stops at 1. Bytes after the body are not consumed.
 * A call hands on at most one data range and returns after it. After 1, a call returns 1 and
 * consumes nothing; after -EINVAL, every call returns -EINVAL.
 */
int httpreq_chunked_next(struct httpreq_chunked *c, const char *in, size_t len, size_t *consumed,
                         size_t *data_off, size_t *data_len, struct err *err);

#endif
