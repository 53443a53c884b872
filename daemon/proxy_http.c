/*
 * proxy_http.c: one plain-HTTP request, absolute form, forwarded with libcurl once proxy_route
 * allowed it. libcurl is never given what the job wrote: the URL is rebuilt from the checked
 * parts (the normalised path the policy decided on, and the query), `http` is the only protocol,
 * the checked address is pinned with CURLOPT_CONNECT_TO so libcurl resolves nothing, redirects
 * are passed back and never followed, content is not decoded, and the environment's proxy
 * variables are ignored. Hop-by-hop and Proxy-* fields are dropped both ways; libcurl writes Host
 * from the rebuilt URL. Bodies stream through fixed buffers both ways (a read callback feeding
 * the job's body, decoded from chunked when it came so; a write callback sending the response
 * as it arrives), so a large transfer holds no more memory than a small one.
 *
 * Each worker keeps one easy handle across requests: its connection cache is the keep-alive
 * pool toward upstreams. The job's connection is kept alive when the request and the response
 * were both framed exactly.
 */
#include "proxy_internal.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>

#include <curl/curl.h>

#include "log.h"

#define HTTP_RESP_HEAD_MAX (64 * 1024) /* the upstream's response head we pass on */
#define HTTP_CURL_BUFFER (128 * 1024)
#define HTTP_DRAIN_MAX (256 * 1024) /* body bytes read and dropped so a refusal is seen */

struct fwd {
    struct proxy_conn *c;
    const struct httpreq *req;
    struct proxy_event *ev;
    unsigned idle_s;
    /* the job's request body */
    size_t pos; /* next unread byte of c->buf */
    uint64_t body_left;
    struct httpreq_chunked chunk;
    bool body_done, body_error, body_started;
    /* the upstream's response */
    int status;
    char reason[64];
    char *lines; /* header lines as received, "\r\n"-terminated */
    size_t nlines, cap;
    bool head_sent, no_body, chunked_out, close_after, has_cl, client_broken;
    char *head; /* the response head, built and not yet written: it goes out with the first
                 * body bytes (one segment for a small answer), or before libcurl waits */
    size_t head_len;
    uint64_t cl;
    bool nb;             /* served by a loop: writes go through proxy_out_push, never block */
    bool paused;         /* nb: the write callback paused the transfer until c->out drains */
    bool has_connection; /* the upstream sent a Connection field */
};

/* Writes to the job: blocking with the idle deadline, or (nb) through the loop's buffer. */
static int
job_writev(struct fwd *f, struct iovec *iov, int n)
{
    if (f->nb)
        return proxy_out_push(f->c, iov, n);
    return proxy_io_writev(f->c, f->c->fd, iov, n, proxy_deadline(f->idle_s));
}

/* Fields never forwarded in either direction (RFC 9110 7.6.1, and Proxy-* meant for us). */
static const char *const hop_by_hop[] = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "host",
    "expect",
    NULL,
};

static bool
name_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

static bool
is_hop_by_hop(const char *name, size_t len)
{
    for (size_t i = 0; hop_by_hop[i]; i++)
        if (name_is(name, len, hop_by_hop[i]))
            return true;
    return false;
}

/* ---- the request toward the upstream ---- */

static int
header_list(const struct httpreq *req, struct curl_slist **ret)
{
    struct curl_slist *l = NULL, *n;
    char line[HTTPREQ_FIELD_MAX + 8];
    bool accept = false;

    for (size_t i = 0; i < req->nheaders; i++) {
        const struct httpreq_header *h = &req->headers[i];
        if (is_hop_by_hop(h->name, h->name_len) ||
            httpreq_connection_lists(req, h->name, h->name_len))
            continue;
        accept |= name_is(h->name, h->name_len, "accept");
        /* "Name;" is libcurl's spelling of a field with an empty value. */
        if (h->value_len)
            snprintf(line, sizeof(line), "%.*s: %.*s", (int)h->name_len, h->name, (int)h->value_len,
                     h->value);
        else
            snprintf(line, sizeof(line), "%.*s;", (int)h->name_len, h->name);
        if (!(n = curl_slist_append(l, line)))
            goto oom;
        l = n;
    }
    /* Keep libcurl from adding what the job did not send: its default Accept, and its own
     * Expect: 100-continue on large uploads (the proxy answered the job's Expect itself). */
    if ((!accept && !(n = curl_slist_append(l, "Accept:"))) || (accept && !(n = l)))
        goto oom;
    l = n;
    if (!(n = curl_slist_append(l, "Expect:")))
        goto oom;
    *ret = n;
    return 0;
oom:
    curl_slist_free_all(l);
    return -ENOMEM;
}

/* "http://host[:port]/path[?query]" and "host:port:addr:port" from the checked parts. */
static int
build_url(const struct proxy_route *r, const struct httpreq *req, const struct sockaddr *sa,
          char **ret_url, char *connect_to, size_t n)
{
    const char *h = r->host.name;
    bool v6 = r->host.is_ip && r->host.ip.family == AF_INET6;
    char addr[INET6_ADDRSTRLEN + 2], port[8] = "";
    size_t len;
    char *url;

    if (sa->sa_family == AF_INET6) {
        char t[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, t,
                  sizeof(t));
        snprintf(addr, sizeof(addr), "[%s]", t);
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr,
                  sizeof(addr));
    }
    snprintf(connect_to, n, "%s%s%s:%u:%s:%u", v6 ? "[" : "", h, v6 ? "]" : "", r->req.port, addr,
             r->req.port);
    if (r->req.port != 80)
        snprintf(port, sizeof(port), ":%u", r->req.port);
    len = strlen(h) + strlen(r->path) + req->query_len + 32;
    if (!(url = malloc(len)))
        return -ENOMEM;
    snprintf(url, len, "http://%s%s%s%s%s%s%.*s", v6 ? "[" : "", h, v6 ? "]" : "", port, r->path,
             req->query ? "?" : "", (int)req->query_len, req->query ? req->query : "");
    *ret_url = url;
    return 0;
}

/* ---- the job's body, for libcurl's read callback ---- */

static size_t
read_length(struct fwd *f, char *out, size_t room)
{
    struct proxy_conn *c = f->c;
    size_t want = room < f->body_left ? room : (size_t)f->body_left;
    ssize_t n;

    if (want == 0)
        return 0;
    if (f->pos < c->len) {
        n = (ssize_t)(c->len - f->pos < want ? c->len - f->pos : want);
        memcpy(out, c->buf + f->pos, (size_t)n);
        f->pos += (size_t)n;
    } else if ((n = proxy_io_read(c, c->fd, out, want, proxy_deadline(f->idle_s))) <= 0) {
        f->body_error = true;
        return CURL_READFUNC_ABORT;
    }
    f->body_left -= (uint64_t)n;
    return (size_t)n;
}

static size_t
read_chunked(struct fwd *f, char *out, size_t room)
{
    struct proxy_conn *c = f->c;
    size_t produced = 0;

    while (!f->body_done && produced == 0) {
        if (f->pos == c->len) {
            ssize_t n =
                proxy_io_read(c, c->fd, c->buf, HTTPREQ_HEAD_MAX, proxy_deadline(f->idle_s));
            if (n <= 0) {
                f->body_error = true;
                return CURL_READFUNC_ABORT;
            }
            f->pos = 0;
            c->len = (size_t)n;
        }
        size_t feed = c->len - f->pos < room ? c->len - f->pos : room;
        size_t used = 0, off = 0, dlen = 0;
        struct err err = {0};
        int r = httpreq_chunked_next(&f->chunk, c->buf + f->pos, feed, &used, &off, &dlen, &err);
        if (r < 0) {
            log_info("proxy.body", "job %s: chunked body refused: %s", c->job->id, err.message);
            f->body_error = true;
            return CURL_READFUNC_ABORT;
        }
        memcpy(out, c->buf + f->pos + off, dlen);
        produced += dlen;
        f->pos += used;
        f->body_done = r == 1;
    }
    return produced;
}

static size_t
on_read(char *out, size_t size, size_t nmemb, void *ud)
{
    struct fwd *f = ud;
    size_t n;

    f->body_started = true;
    if (f->req->body == HTTPREQ_BODY_LENGTH)
        n = read_length(f, out, size * nmemb);
    else
        n = read_chunked(f, out, size * nmemb);
    if (n != CURL_READFUNC_ABORT)
        f->ev->bytes_up += (int64_t)n;
    return n;
}

/* ---- the upstream's response, for libcurl's header and write callbacks ---- */

static bool
line_clean(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
            return false;
    return true;
}

/* Appends "name: value\r\n" to out (bounded). */
static void out_add(char *out, size_t *len, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void
out_add(char *out, size_t *len, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*len >= cap)
        return;
    va_start(ap, fmt);
    n = vsnprintf(out + *len, cap - *len, fmt, ap);
    va_end(ap);
    *len = n < 0 ? *len : (size_t)n >= cap - *len ? cap : *len + (size_t)n;
}

/* True when the upstream's Connection field(s) name this field (hop-by-hop, RFC 9110 7.6.1). */
static bool
named_by_connection(const struct fwd *f, const char *name, size_t nlen)
{
    for (const char *l = f->lines; l < f->lines + f->nlines;) {
        const char *end = strstr(l, "\r\n");
        const char *colon = memchr(l, ':', (size_t)(end - l));
        if (colon && name_is(l, (size_t)(colon - l), "connection") &&
            httpreq_list_has(colon + 1, (size_t)(end - colon - 1), name, nlen))
            return true;
        l = end + 2;
    }
    return false;
}

/* Builds the response head for the job: the upstream's status and end-to-end fields, and our
 * own framing. It is written by flush_head, or with the first body bytes. */
static int
send_head(struct fwd *f)
{
    const struct httpreq *req = f->req;
    bool te = false;
    size_t len = 0, cap = f->nlines + sizeof(f->reason) + 256; /* the lines, our framing */
    char *out = malloc(cap);

    if (!out)
        return -ENOMEM;
    out_add(out, &len, cap, "HTTP/1.1 %d %s\r\n", f->status, f->reason);
    for (const char *l = f->lines; l < f->lines + f->nlines;) {
        const char *end = strstr(l, "\r\n");
        const char *colon = memchr(l, ':', (size_t)(end - l));
        size_t nlen = colon ? (size_t)(colon - l) : 0;
        if (colon && name_is(l, nlen, "transfer-encoding"))
            te = true;
        if (colon && name_is(l, nlen, "content-length")) {
            uint64_t v;
            char num[24];
            snprintf(num, sizeof(num), "%.*s", (int)(end - colon - 1), colon + 1);
            char *s = num + strspn(num, " \t");
            s[strcspn(s, " \t")] = '\0';
            if (str_to_u64(s, 0, INT64_MAX, &v) == 0) {
                f->has_cl = true;
                f->cl = v;
            }
        }
        if (colon && nlen && !is_hop_by_hop(l, nlen) &&
            (!f->has_connection || !named_by_connection(f, l, nlen)))
            out_add(out, &len, cap, "%.*s\r\n", (int)(end - l), l);
        l = end + 2;
    }
    f->no_body = strcmp(req->method, "HEAD") == 0 || f->status == 204 || f->status == 304;
    if (te)
        f->has_cl = false; /* libcurl decoded the chunked body: its length is unknown */
    if (f->has_cl && (!f->no_body || strcmp(req->method, "HEAD") == 0 || f->status == 304))
        out_add(out, &len, cap, "Content-Length: %llu\r\n", (unsigned long long)f->cl);
    else if (!f->no_body && req->version_minor == 1)
        f->chunked_out = true;
    else if (!f->no_body)
        f->close_after = true; /* HTTP/1.0 job, length unknown: the end of the body is the close */
    if (f->chunked_out)
        out_add(out, &len, cap, "Transfer-Encoding: chunked\r\n");
    if (!req->keep_alive)
        f->close_after = true;
    out_add(out, &len, cap, "%s\r\n",
            f->close_after ? "Connection: close\r\n"
                           : (req->version_minor == 0 ? "Connection: keep-alive\r\n" : ""));
    if (len >= cap) {
        free(out);
        return -E2BIG;
    }
    f->head = out;
    f->head_len = len;
    f->head_sent = true;
    return 0;
}

/* Writes the pending head (if any) followed by more (may be empty). */
static int
flush_head(struct fwd *f, const char *more, size_t more_len)
{
    struct iovec iov[2] = {{f->head, f->head_len}, {(void *)(uintptr_t)more, more_len}};
    int r;

    if (!f->head)
        return more_len ? job_writev(f, iov + 1, 1) : 0;
    r = job_writev(f, iov, more_len ? 2 : 1);
    free(f->head);
    f->head = NULL;
    return r;
}

static size_t
on_header(char *b, size_t size, size_t nmemb, void *ud)
{
    struct fwd *f = ud;
    size_t len = size * nmemb, l = len;

    while (l && (b[l - 1] == '\n' || b[l - 1] == '\r'))
        l--;
    if (len >= 5 && memcmp(b, "HTTP/", 5) == 0) {
        /* A status line: the first, or the final one after 1xx interim responses. */
        const char *sp = memchr(b, ' ', l);
        f->status = 0;
        f->nlines = 0;
        f->has_connection = false;
        if (sp && l - (size_t)(sp - b) >= 4)
            f->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
        size_t rl = sp && l - (size_t)(sp - b) > 5 ? l - (size_t)(sp - b) - 5 : 0;
        if (rl >= sizeof(f->reason) || !line_clean(sp + 5, rl))
            rl = 0;
        memcpy(f->reason, rl ? sp + 5 : "", rl);
        f->reason[rl] = '\0';
        return f->status >= 100 && f->status <= 999 ? len : 0;
    }
    if (l == 0) {
        if (f->status < 200)
            return len; /* end of an interim response: 100 Continue is ours to give */
        return send_head(f) == 0 ? len : 0;
    }
    if (f->status < 200 || b[0] == ' ' || b[0] == '\t' || !line_clean(b, l) || !memchr(b, ':', l))
        return len; /* interim fields, obs-fold and junk are not passed on */
    if (f->nlines + l + 2 > HTTP_RESP_HEAD_MAX)
        return 0; /* an absurd head ends the request (502) */
    if (f->nlines + l + 3 > f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4096;
        while (cap < f->nlines + l + 3)
            cap *= 2;
        char *n = realloc(f->lines, cap);
        if (!n)
            return 0;
        f->lines = n;
        f->cap = cap;
    }
    if (l > 11 && strncasecmp(b, "connection:", 11) == 0)
        f->has_connection = true; /* it may name more fields to drop */
    memcpy(f->lines + f->nlines, b, l);
    memcpy(f->lines + f->nlines + l, "\r\n", 3);
    f->nlines += l + 2;
    return len;
}

static size_t
on_write(char *b, size_t size, size_t nmemb, void *ud)
{
    struct fwd *f = ud;
    size_t len = size * nmemb;
    char hex[24];
    int r;

    if (!f->head_sent && send_head(f) < 0)
        goto broken;
    if (f->no_body || len == 0)
        return len;
    if (f->nb && f->c->out_off < f->c->out_len) {
        f->paused = true; /* the job is slower than the upstream: hold the upstream */
        return CURL_WRITEFUNC_PAUSE;
    }
    struct iovec iov[4] = {{f->head, f->head_len}};
    int n = f->head ? 1 : 0;
    if (f->chunked_out) {
        int hl = snprintf(hex, sizeof(hex), "%zx\r\n", len);
        iov[n++] = (struct iovec){hex, (size_t)hl};
        iov[n++] = (struct iovec){b, len};
        iov[n++] = (struct iovec){(void *)(uintptr_t) "\r\n", 2};
    } else {
        iov[n++] = (struct iovec){b, len};
    }
    r = job_writev(f, iov, n);
    free(f->head);
    f->head = NULL;
    if (r < 0)
        goto broken;
    f->ev->bytes_down += (int64_t)len;
    return len;
broken:
    f->client_broken = true;
    return 0;
}

static int
on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct fwd *f = ud;

    (void)dt, (void)dn, (void)ut, (void)un;
    /* libcurl is between reads: a head whose body has not come with it goes out now. */
    if (f->head && flush_head(f, NULL, 0) < 0)
        f->client_broken = true;
    return atomic_load(&f->c->cancel) || f->client_broken ? 1 : 0;
}

/* ---- one request ---- */

/* Sets a handle up for one request. With full false the handle is the fast path's own, set up
 * in full before for the same fwd: only what changes per request is set again (a reset and 30
 * options cost more than the rest of the request's user-space work). */
static int
setup(CURL *h, struct fwd *f, const char *url, struct curl_slist *hdrs, struct curl_slist *to,
      bool full)
{
    const struct config *cfg = f->c->p->d.cfg;
    const struct httpreq *req = f->req;
    bool head = strcmp(req->method, "HEAD") == 0, get = strcmp(req->method, "GET") == 0;
    CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(h, opt, val);                                                    \
    } while (0)
    if (full) {
        curl_easy_reset(h);
        SET(CURLOPT_PROTOCOLS_STR, "http");
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        SET(CURLOPT_PROXY, ""); /* never the daemon's environment's proxy */
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_PATH_AS_IS, 1L); /* the path is already the normalised one that was decided */
        SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        SET(CURLOPT_HTTP_CONTENT_DECODING, 0L);
        SET(CURLOPT_HEADERFUNCTION, on_header);
        SET(CURLOPT_HEADERDATA, f);
        SET(CURLOPT_WRITEFUNCTION, on_write);
        SET(CURLOPT_WRITEDATA, f);
        SET(CURLOPT_XFERINFOFUNCTION, on_progress);
        SET(CURLOPT_XFERINFODATA, f);
        SET(CURLOPT_NOPROGRESS, 0L);
        SET(CURLOPT_CONNECTTIMEOUT, (long)cfg->proxy_connect_timeout_s);
        SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
        SET(CURLOPT_LOW_SPEED_TIME, (long)cfg->proxy_upstream_timeout_s);
        SET(CURLOPT_BUFFERSIZE, (long)HTTP_CURL_BUFFER);
        SET(CURLOPT_UPLOAD_BUFFERSIZE, 65536L);
        SET(CURLOPT_TCP_NODELAY, 1L);
    }
    SET(CURLOPT_URL, url);
    SET(CURLOPT_CONNECT_TO, to);
    SET(CURLOPT_HTTPHEADER, hdrs);
    if (req->body != HTTPREQ_BODY_NONE && !head) {
        SET(CURLOPT_UPLOAD, 1L);
        SET(CURLOPT_READFUNCTION, on_read);
        SET(CURLOPT_READDATA, f);
        SET(CURLOPT_INFILESIZE_LARGE,
            req->body == HTTPREQ_BODY_LENGTH ? (curl_off_t)req->content_length : (curl_off_t)-1);
        SET(CURLOPT_CUSTOMREQUEST, req->method);
    } else {
        SET(CURLOPT_HTTPGET, 1L); /* also clears NOBODY and UPLOAD from an earlier request */
        SET(CURLOPT_NOBODY, head ? 1L : 0L);
        SET(CURLOPT_CUSTOMREQUEST, head || get ? NULL : req->method);
    }
#undef SET
    return rc == CURLE_OK ? 0 : -EINVAL;
}

/* Runs the transfer, trying the next checked address while the upstream refuses the
 * connection and no body byte was taken from the job. */
static CURLcode
perform(CURL *h, struct fwd *f, const struct proxy_route *r, struct curl_slist *hdrs)
{
    CURLcode rc = CURLE_COULDNT_CONNECT;

    for (size_t i = 0; i < r->naddrs; i++) {
        char to[HOST_MAX + INET6_ADDRSTRLEN + 32];
        char *url = NULL;
        struct curl_slist *tol;
        if (build_url(r, f->req, (const struct sockaddr *)&r->addrs[i], &url, to, sizeof(to)) < 0)
            return CURLE_OUT_OF_MEMORY;
        if (!(tol = curl_slist_append(NULL, to))) {
            free(url);
            return CURLE_OUT_OF_MEMORY;
        }
        rc = setup(h, f, url, hdrs, tol, true) == 0 ? curl_easy_perform(h) : CURLE_FAILED_INIT;
        curl_slist_free_all(tol);
        free(url);
        if (rc != CURLE_COULDNT_CONNECT || f->body_started || f->head_sent)
            break;
    }
    return rc;
}

/* After a refusal: stop sending, read (and drop) a little of what the job still sends, so the
 * close does not reset the connection before the job has read the answer. */
static void
linger(struct proxy_conn *c)
{
    char buf[4096];
    size_t total = 0;
    int64_t deadline = time_mono_ms() + 500;
    ssize_t n;

    shutdown(c->fd, SHUT_WR);
    while (total < HTTP_DRAIN_MAX && (n = proxy_io_read(c, c->fd, buf, sizeof(buf), deadline)) > 0)
        total += (size_t)n;
}

/* The answer when the transfer failed before the response head went out. */
static void
fail_reply(struct fwd *f, CURLcode rc)
{
    struct proxy_event *ev = f->ev;
    char msg[CURL_ERROR_SIZE + 128];

    if (f->body_error) {
        ev->reason = "bad_request";
        proxy_reply_error(f->c, 400, "bad_request", "bad_request", ev,
                          "the request body ended early or its chunked framing is malformed");
        return;
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        ev->reason = "upstream_timeout";
        snprintf(msg, sizeof(msg), "%s:%d did not answer in time (proxy_upstream_timeout_s)",
                 ev->host, ev->port);
        proxy_reply_error(f->c, 504, "upstream_timeout", NULL, ev, msg);
        return;
    }
    ev->reason = rc == CURLE_COULDNT_CONNECT ? "upstream_unreachable" : "upstream_error";
    snprintf(msg, sizeof(msg), "%s:%d: %s", ev->host, ev->port, curl_easy_strerror(rc));
    proxy_reply_error(f->c, 502, ev->reason, NULL, ev, msg);
}

/* The upstream answered without reading all of the job's body: read the rest (up to
 * HTTP_DRAIN_MAX) and drop it, so the connection stays in step for the next request. */
static bool
drain_body(struct fwd *f)
{
    char buf[16384];
    size_t total = 0, n;

    for (;;) {
        if (f->req->body == HTTPREQ_BODY_NONE ||
            (f->req->body == HTTPREQ_BODY_LENGTH && f->body_left == 0) ||
            (f->req->body == HTTPREQ_BODY_CHUNKED && f->body_done))
            return true;
        if (total >= HTTP_DRAIN_MAX)
            return false;
        n = f->req->body == HTTPREQ_BODY_LENGTH ? read_length(f, buf, sizeof(buf))
                                                : read_chunked(f, buf, sizeof(buf));
        if (n == CURL_READFUNC_ABORT)
            return false;
        total += n;
    }
}

/* The transfer is over with rc: answer what the job has not seen, close the framing, decide
 * whether the connection goes on. Frees the response's buffers. */
static bool
finish(struct fwd *f, CURLcode rc)
{
    struct proxy_conn *c = f->c;
    struct proxy_event *ev = f->ev;
    bool keep;

    free(f->lines);
    f->lines = NULL;
    ev->status = f->status >= 200 ? f->status : 0;
    if (rc == CURLE_OK && !f->head_sent)
        rc = CURLE_WEIRD_SERVER_REPLY;
    if (rc != CURLE_OK) {
        /* A head built and not yet written was never seen: the job gets a 502/504 instead. */
        bool seen = f->head_sent && !f->head;
        free(f->head);
        f->head = NULL;
        if (atomic_load(&c->cancel))
            ev->reason = "job_ended";
        else if (f->client_broken)
            ev->reason = "client_closed";
        else if (!seen)
            fail_reply(f, rc);
        else
            ev->reason = "upstream_error"; /* cut mid-body: the job sees the connection close */
        return false;
    }
    if (flush_head(f, f->chunked_out ? "0\r\n\r\n" : "", f->chunked_out ? 5 : 0) < 0)
        return false;
    keep = !f->close_after && drain_body(f);
    if (!f->no_body && f->has_cl && (uint64_t)ev->bytes_down != f->cl)
        keep = false;
    if (keep) {
        memmove(c->buf, c->buf + f->pos, c->len - f->pos);
        c->len -= f->pos;
    }
    return keep;
}

static bool
forward(struct proxy_conn *c, const struct httpreq *req, size_t hlen, const struct proxy_route *r,
        struct proxy_event *ev, void **curl_handle)
{
    struct fwd f = {.c = c, .req = req, .ev = ev, .pos = hlen, .idle_s = 0};
    struct curl_slist *hdrs = NULL;
    CURLcode rc;

    f.idle_s = c->p->d.cfg->proxy_idle_timeout_s;
    f.body_left = req->body == HTTPREQ_BODY_LENGTH ? req->content_length : 0;
    if (!*curl_handle && !(*curl_handle = curl_easy_init()))
        rc = CURLE_OUT_OF_MEMORY;
    else if (header_list(req, &hdrs) < 0)
        rc = CURLE_OUT_OF_MEMORY;
    else if (req->expect_continue && proxy_io_write(c, c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25,
                                                    proxy_deadline(f.idle_s)) < 0)
        rc = CURLE_SEND_ERROR;
    else
        rc = perform(*curl_handle, &f, r, hdrs);
    curl_slist_free_all(hdrs);
    return finish(&f, rc);
}

/* ---- the event loop's fast path (proxy_loop.c) ---- */

struct proxy_fast {
    struct fwd f;
    struct httpreq req;
    struct proxy_route route;
    struct proxy_event ev;
    struct curl_slist *hdrs, *to;
    char *url;
    CURL *easy;  /* the connection's own, kept across its requests */
    bool active; /* easy is in the loop's multi */
};

/* True when the target is an IP literal, so routing it needs no lookup: decided by the same
 * parser proxy_route uses (a name may start with a digit: "163.com" must not be resolved on a
 * loop). */
static bool
literal_host(const struct httpreq *req)
{
    struct policy_host h;

    return policy_host_parse(req->host, req->host_len, &h, NULL) == 0 && h.is_ip;
}

static void
fast_clear(struct proxy_fast *x)
{
    curl_slist_free_all(x->hdrs);
    curl_slist_free_all(x->to);
    free(x->url);
    free(x->f.lines);
    free(x->f.head);
    free(x->ev.path);
    x->hdrs = x->to = NULL;
    x->url = NULL;
    x->f.lines = x->f.head = NULL;
    x->ev.path = NULL;
}

int
proxy_fast_start(struct proxy_conn *c, const struct httpreq *head, size_t hlen, void *multi)
{
    struct proxy_fast *x = c->fast;
    char to[HOST_MAX + INET6_ADDRSTRLEN + 32];

    if (head->form != HTTPREQ_FORM_ABSOLUTE || head->https || head->body != HTTPREQ_BODY_NONE ||
        head->expect_continue || !literal_host(head))
        return 0;
    if (!x && !(x = c->fast = calloc(1, sizeof(*x))))
        return -ENOMEM;
    x->req = *head; /* its pointers are into c->buf, which holds the head until the end */
    const struct httpreq *req = &x->req;
    memset(&x->ev, 0, sizeof(x->ev));
    proxy_event_begin(&x->ev);
    str_copy(x->ev.method, sizeof(x->ev.method), req->method);
    x->ev.scheme = "http";
    if (!proxy_route(c->p, c->job, req->host, req->host_len, req->port, req->method, req->path,
                     req->path_len, &x->route, &x->ev) ||
        x->route.naddrs != 1) {
        fast_clear(x); /* the worker decides it again and answers */
        return 0;
    }
    memset(&x->f, 0, sizeof(x->f));
    x->f = (struct fwd){.c = c,
                        .req = req,
                        .ev = &x->ev,
                        .pos = hlen,
                        .nb = true,
                        .idle_s = c->p->d.cfg->proxy_idle_timeout_s};
    bool fresh = !x->easy;
    if (!x->easy && !(x->easy = curl_easy_init()))
        goto oom;
    if (header_list(req, &x->hdrs) < 0 ||
        build_url(&x->route, req, (const struct sockaddr *)&x->route.addrs[0], &x->url, to,
                  sizeof(to)) < 0 ||
        !(x->to = curl_slist_append(NULL, to)))
        goto oom;
    if (setup(x->easy, &x->f, x->url, x->hdrs, x->to, fresh) < 0 ||
        (fresh && curl_easy_setopt(x->easy, CURLOPT_PRIVATE, c) != CURLE_OK) ||
        curl_multi_add_handle(multi, x->easy) != CURLM_OK)
        goto oom;
    x->active = true;
    return 1;
oom:
    fast_clear(x);
    return -ENOMEM;
}

bool
proxy_fast_done(struct proxy_conn *c, void *multi, int result)
{
    struct proxy_fast *x = c->fast;
    bool keep;

    curl_multi_remove_handle(multi, x->easy);
    x->active = false;
    keep = finish(&x->f, (CURLcode)result);
    proxy_audit_record(c->p->audit, c->job, &x->ev);
    fast_clear(x);
    return keep;
}

void
proxy_fast_resume(struct proxy_conn *c)
{
    struct proxy_fast *x = c->fast;

    if (x && x->f.paused) {
        x->f.paused = false;
        curl_easy_pause(x->easy, CURLPAUSE_CONT);
    }
}

void
proxy_fast_abort(struct proxy_conn *c, void *multi, const char *reason)
{
    struct proxy_fast *x = c->fast;

    if (!x || !x->active)
        return;
    curl_multi_remove_handle(multi, x->easy);
    x->active = false;
    x->ev.reason = reason;
    x->ev.status = x->f.status >= 200 ? x->f.status : 0;
    proxy_audit_record(c->p->audit, c->job, &x->ev);
    fast_clear(x);
}

void
proxy_fast_free(struct proxy_fast *x)
{
    if (!x)
        return;
    fast_clear(x);
    if (x->easy)
        curl_easy_cleanup(x->easy);
    free(x);
}

bool
proxy_http(struct proxy_conn *c, const struct httpreq *req, size_t hlen, void **curl_handle)
{
    struct proxy_event ev = {0};
    struct proxy_route *r = malloc(sizeof(*r));
    bool keep = false, refused = true;

    proxy_event_begin(&ev);
    str_copy(ev.method, sizeof(ev.method), req->method);
    ev.scheme = req->https ? "https" : "http";
    if (!r) {
        ev.reason = "internal";
        proxy_reply_error(c, 503, "internal", NULL, &ev, "out of memory");
    } else if (req->https) {
        ev.port = req->port;
        snprintf(ev.host, sizeof(ev.host), "%.*s",
                 (int)(req->host_len < HOST_MAX ? req->host_len : HOST_MAX), req->host);
        ev.reason = "scheme";
        proxy_reply_error(c, 400, "scheme", "scheme", &ev,
                          "https:// URLs go through a CONNECT tunnel: use HTTPS_PROXY, not an "
                          "absolute https:// request");
    } else if (!proxy_route(c->p, c->job, req->host, req->host_len, req->port, req->method,
                            req->path, req->path_len, r, &ev)) {
        proxy_reply_error(c, r->status, r->status == 403 ? "egress_denied" : ev.reason, ev.reason,
                          &ev, r->why);
    } else {
        refused = false;
        keep = forward(c, req, hlen, r, &ev, curl_handle);
    }
    /* Recorded before the lingering close, so the event keeps its place among the job's. */
    proxy_audit_record(c->p->audit, c->job, &ev);
    free(r);
    if (refused)
        linger(c);
    return keep;
}

void
proxy_http_handle_free(void *curl_handle)
{
    if (curl_handle)
        curl_easy_cleanup(curl_handle);
}
