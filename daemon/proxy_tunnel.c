/*
 * proxy_tunnel.c: CONNECT host:port. Decided on host and port (proxy_route), connected from the
 * host namespace to a checked address, answered 200; then the job's first bytes are read and
 * held until they form a whole TLS ClientHello, whose server name must be the CONNECT host
 * (domain fronting and Encrypted Client Hello end the tunnel before the upstream has seen a
 * byte). Only then do bytes flow, both ways, through a pair of pipes with splice(2): the kernel
 * moves them from socket to socket without copying them through the daemon.
 *
 * The tunnel's contents are opaque beyond the ClientHello: that is the limit of what a policy
 * can say about HTTPS (docs/security.md).
 */
#include "proxy_internal.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "tlshello.h"

#define TUNNEL_PIPE_SIZE (1024 * 1024)
#define TUNNEL_SLICE_MS 1000

static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";

static void
nodelay(int fd)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Connects to the first checked address that answers. Returns the fd or -errno (-ETIMEDOUT). */
static int
connect_upstream(struct proxy_conn *c, const struct proxy_route *r)
{
    int last = -ECONNREFUSED;

    for (size_t i = 0; i < r->naddrs; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&r->addrs[i];
        int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            return -errno;
        if (connect(fd, sa, r->addrlens[i]) == 0 || errno == EINPROGRESS) {
            int64_t deadline = proxy_deadline(c->p->d.cfg->proxy_connect_timeout_s);
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            int w;
            do {
                int64_t left = deadline - time_mono_ms();
                w = left <= 0
                        ? 0
                        : poll(&pfd, 1, (int)(left < TUNNEL_SLICE_MS ? left : TUNNEL_SLICE_MS));
            } while ((w == 0 && time_mono_ms() < deadline && !atomic_load(&c->cancel)) ||
                     (w < 0 && errno == EINTR));
            if (w > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
                nodelay(fd);
                return fd;
            }
            last = w > 0 ? -(soerr ? soerr : ECONNREFUSED) : -ETIMEDOUT;
        } else {
            last = -errno;
        }
        close(fd);
        if (atomic_load(&c->cancel))
            return -ECANCELED;
    }
    return last;
}

/* Reads the job's first bytes until they hold a whole ClientHello. Returns NULL when it may go
 * on (buf and *ret_len: the bytes to send upstream first), or the denial reason. */
static const char *
read_hello(struct proxy_conn *c, const struct proxy_route *r, size_t hlen, uint8_t *buf,
           size_t *ret_len, char *why, size_t n)
{
    int64_t deadline = proxy_deadline(c->p->d.cfg->proxy_header_timeout_s);
    size_t len = c->len - hlen;
    struct tlshello th;
    struct err err = {0};
    int t;

    memcpy(buf, c->buf + hlen, len); /* bytes the job sent right behind the CONNECT head */
    while ((t = tlshello_parse(buf, len, &th, &err)) == 0) {
        ssize_t got = proxy_io_read(c, c->fd, buf + len, TLSHELLO_MAX - len, deadline);
        if (got <= 0) {
            snprintf(why, n, "no TLS ClientHello arrived in the tunnel (%s)",
                     got == 0 ? "closed" : strerror((int)-got));
            return got == -ETIMEDOUT || got == 0 ? "not_tls" : "job_ended";
        }
        len += (size_t)got;
    }
    *ret_len = len;
    if (t == -EPROTO) {
        snprintf(why, n, "the tunnel must carry TLS: %.300s", err.message);
        return "not_tls";
    }
    if (t < 0) {
        snprintf(why, n, "malformed TLS ClientHello: %.300s", err.message);
        return "bad_tls";
    }
    if (th.has_ech) {
        snprintf(why, n, "Encrypted Client Hello hides the server name from the policy");
        return "ech";
    }
    if (r->host.is_ip ? th.has_sni : !th.has_sni || strcmp(th.sni, r->host.name) != 0) {
        snprintf(why, n, "the TLS server name \"%.200s\" is not the CONNECT host \"%.200s\"",
                 th.has_sni ? th.sni : "(none)", r->host.name);
        return "sni_mismatch";
    }
    return NULL;
}

struct dir {
    int from, to;
    int pipe[2];
    size_t inpipe;
    bool eof, shut;
    int64_t *bytes;
};

/* Moves what is ready in one direction. Returns -1 when the tunnel must end. */
static int
pump(struct dir *d)
{
    ssize_t n;

    if (!d->eof && d->inpipe < TUNNEL_PIPE_SIZE) {
        n = splice(d->from, NULL, d->pipe[1], NULL, TUNNEL_PIPE_SIZE - d->inpipe,
                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0)
            d->inpipe += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            d->eof = true;
    }
    while (d->inpipe > 0) {
        n = splice(d->pipe[0], NULL, d->to, NULL, d->inpipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            d->inpipe -= (size_t)n;
            *d->bytes += n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        return -1; /* the receiver is gone */
    }
    if (d->eof && d->inpipe == 0 && !d->shut) {
        shutdown(d->to, SHUT_WR);
        d->shut = true;
    }
    return 0;
}

static short
want(const struct dir *d, int fd)
{
    short ev = 0;

    if (d->from == fd && !d->eof && d->inpipe < TUNNEL_PIPE_SIZE)
        ev |= POLLIN;
    if (d->to == fd && d->inpipe > 0)
        ev |= POLLOUT;
    return ev;
}

static void
relay(struct proxy_conn *c, int up, struct proxy_event *ev)
{
    struct dir d[2] = {
        {.from = c->fd, .to = up, .pipe = {-1, -1}, .bytes = &ev->bytes_up},
        {.from = up, .to = c->fd, .pipe = {-1, -1}, .bytes = &ev->bytes_down},
    };

    for (int i = 0; i < 2; i++) {
        if (pipe2(d[i].pipe, O_CLOEXEC | O_NONBLOCK) < 0)
            goto out;
        fcntl(d[i].pipe[1], F_SETPIPE_SZ, TUNNEL_PIPE_SIZE);
    }
    while (!(d[0].shut && d[1].shut) && !atomic_load(&c->cancel)) {
        if (pump(&d[0]) < 0 || pump(&d[1]) < 0)
            break;
        struct pollfd pfd[2] = {
            {.fd = c->fd, .events = (short)(want(&d[0], c->fd) | want(&d[1], c->fd))},
            {.fd = up, .events = (short)(want(&d[0], up) | want(&d[1], up))},
        };
        if (d[0].shut && d[1].shut)
            break;
        if (poll(pfd, 2, TUNNEL_SLICE_MS) < 0 && errno != EINTR)
            break;
        if ((pfd[0].revents | pfd[1].revents) & (POLLERR | POLLNVAL))
            break;
    }
out:
    for (int i = 0; i < 2; i++) {
        if (d[i].pipe[0] >= 0)
            close(d[i].pipe[0]);
        if (d[i].pipe[1] >= 0)
            close(d[i].pipe[1]);
    }
}

static void
tunnel_open(struct proxy_conn *c, const struct proxy_route *r, size_t hlen, struct proxy_event *ev)
{
    char why[512];
    uint8_t *hello = malloc(TLSHELLO_MAX);
    size_t len = 0;
    const char *deny;
    int up;

    if (!hello) {
        ev->reason = "internal";
        proxy_reply_error(c, 503, "internal", NULL, ev, "out of memory");
        return;
    }
    if ((up = connect_upstream(c, r)) < 0) {
        ev->reason = up == -ETIMEDOUT ? "upstream_timeout" : "upstream_unreachable";
        snprintf(why, sizeof(why), "%s:%d: %s", ev->host, ev->port, strerror(-up));
        proxy_reply_error(c, up == -ETIMEDOUT ? 504 : 502, ev->reason, NULL, ev, why);
        free(hello);
        return;
    }
    nodelay(c->fd);
    if (proxy_io_write(c, c->fd, established, sizeof(established) - 1,
                       proxy_deadline(c->p->d.cfg->proxy_header_timeout_s)) < 0) {
        ev->reason = "client_closed";
    } else if ((deny = read_hello(c, r, hlen, hello, &len, why, sizeof(why)))) {
        /* The upstream got a connection and not one byte: end both. */
        ev->allow = strcmp(deny, "job_ended") == 0;
        ev->reason = deny;
        ev->rule[0] = '\0';
        log_info("proxy.tunnel", "job %s: CONNECT %s:%d ended: %s", c->job->id, ev->host, ev->port,
                 why);
    } else if (proxy_io_write(c, up, hello, len,
                              proxy_deadline(c->p->d.cfg->proxy_upstream_timeout_s)) == 0) {
        ev->bytes_up = (int64_t)len;
        relay(c, up, ev);
    } else {
        ev->reason = "upstream_error";
    }
    close(up);
    free(hello);
}

void
proxy_tunnel(struct proxy_conn *c, const struct httpreq *req, size_t hlen)
{
    struct proxy_event ev = {0};
    struct proxy_route *r = malloc(sizeof(*r));

    proxy_event_begin(&ev);
    str_copy(ev.method, sizeof(ev.method), "CONNECT");
    ev.scheme = "https";
    if (!r) {
        ev.reason = "internal";
        proxy_reply_error(c, 503, "internal", NULL, &ev, "out of memory");
    } else if (!proxy_route(c->p, c->job, req->host, req->host_len, req->port, "CONNECT", NULL, 0,
                            r, &ev)) {
        proxy_reply_error(c, r->status, r->status == 403 ? "egress_denied" : ev.reason, ev.reason,
                          &ev, r->why);
    } else {
        tunnel_open(c, r, hlen, &ev);
    }
    proxy_audit_record(c->p->audit, c->job, &ev);
    free(r);
}
