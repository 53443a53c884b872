/*
 * proxy.c: the listeners and the connections. One acceptor thread polls every job's listener;
 * each accepted connection is served start to end by one worker thread from a pool that grows on
 * demand up to the connection limit and shrinks when idle. Blocking I/O with deadlines on a
 * worker keeps the request path straight-line code (read head, decide, forward), lets libcurl run
 * its easy interface, and costs a thread per open connection -- bounded per job and in total, so
 * a job cannot take more than its share. A job at its limit simply stops being accepted from
 * (its connections wait in its listener's backlog) until one of its connections ends.
 *
 * This file never decides where a request may go (proxy_route.c) and never parses HTTP itself
 * (httpreq.c).
 */
#include "proxy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#include <jansson.h>

#include "log.h"

#define PROXY_ACCEPT_BATCH 64  /* accepts per listener per wake-up */
#define PROXY_WORKER_IDLE_S 30 /* an idle worker exits after this */
#define PROXY_WORKER_STACK (512 * 1024)
#define PROXY_POLL_SLICE_MS 1000 /* blocking waits look at the cancel flag this often */

/* ---- deadlines and socket I/O ---- */

int64_t
proxy_deadline(unsigned seconds)
{
    return time_mono_ms() + (int64_t)seconds * 1000;
}

/* Waits for events on fd until the deadline. 0 when ready, -ETIMEDOUT, -ECANCELED. */
static int
wait_fd(struct proxy_conn *c, int fd, short events, int64_t deadline)
{
    for (;;) {
        if (atomic_load(&c->cancel))
            return -ECANCELED;
        int64_t left = deadline - time_mono_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = fd, .events = events};
        int r = poll(&pfd, 1, (int)(left < PROXY_POLL_SLICE_MS ? left : PROXY_POLL_SLICE_MS));
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

ssize_t
proxy_io_read(struct proxy_conn *c, int fd, void *buf, size_t n, int64_t deadline)
{
    for (;;) {
        if (atomic_load(&c->cancel))
            return -ECANCELED;
        ssize_t r = read(fd, buf, n);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int w = wait_fd(c, fd, POLLIN, deadline);
        if (w < 0)
            return w;
    }
}

int
proxy_io_writev(struct proxy_conn *c, int fd, struct iovec *iov, int iovcnt, int64_t deadline)
{
    while (iovcnt > 0) {
        if (atomic_load(&c->cancel))
            return -ECANCELED;
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
        ssize_t r = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                return -errno;
            int w = wait_fd(c, fd, POLLOUT, deadline);
            if (w < 0)
                return w;
            continue;
        }
        size_t done = (size_t)r;
        while (iovcnt > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

int
proxy_io_write(struct proxy_conn *c, int fd, const void *buf, size_t n, int64_t deadline)
{
    struct iovec iov = {(void *)(uintptr_t)buf, n};

    return proxy_io_writev(c, fd, &iov, 1, deadline);
}

/* ---- answers from the proxy itself ---- */

static const char *
status_text(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 408:
        return "Request Timeout";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Error";
    }
}

void
proxy_reply_error(struct proxy_conn *c, int status, const char *code, const char *reason,
                  const struct proxy_event *ev, const char *message)
{
    json_t *o = json_pack("{s:{s:s, s:s?, s:s?, s:s, s:s}}", "error", "code", code, "reason",
                          reason, "rule", ev && ev->rule[0] ? ev->rule : NULL, "policy",
                          policy_name(c->job->policy), "message", message);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    char head[512];
    size_t blen = body ? strlen(body) : 0;
    int hlen;

    json_decref(o);
    hlen = snprintf(head, sizeof(head),
                    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                    "Cache-Control: no-store\r\nConnection: close\r\n%s%s%s\r\n",
                    status, status_text(status), blen, reason ? "X-Airlock-Deny: " : "",
                    reason ? reason : "", reason ? "\r\n" : "");
    struct iovec iov[2] = {{head, (size_t)hlen}, {body, blen}};
    proxy_io_writev(c, c->fd, iov, body ? 2 : 1,
                    proxy_deadline(c->p->d.cfg->proxy_header_timeout_s));
    free(body);
}

/* ---- serving one connection ---- */

/* A refused head: the proxy answers and records it; nothing is forwarded. */
void
proxy_refuse_head(struct proxy_conn *c, int status, const char *reason, const char *message)
{
    struct proxy_event ev = {0};

    proxy_event_begin(&ev);
    ev.reason = reason;
    ev.scheme = NULL;
    proxy_reply_error(c, status, reason, reason, &ev, message);
    log_info("proxy.refuse", "job %s: %d %s: %s", c->job->id, status, reason, message);
    proxy_audit_record(c->p->audit, c->job, &ev);
}

/* Reads until c->buf holds a whole request head. Returns its length, or 0 when the connection is
 * over (closed, timed out, refused -- already answered and recorded). */
static size_t
read_head(struct proxy_conn *c, bool first, struct httpreq *req)
{
    const struct config *cfg = c->p->d.cfg;
    int64_t deadline =
        proxy_deadline(first || c->len ? cfg->proxy_header_timeout_s : cfg->proxy_idle_timeout_s);
    bool started = first || c->len > 0;
    bool parse = c->len > 0;

    for (;;) {
        /* Parsed again only when a line may have ended: a job trickling its head a byte at a
         * time must not make the proxy re-read 32 KiB per byte. */
        if (parse) {
            struct err err = {0};
            int status = 400;
            ssize_t r = httpreq_parse(c->buf, c->len, req, &status, &err);
            if (r > 0)
                return (size_t)r;
            if (r < 0) {
                proxy_refuse_head(c, status, "bad_request", err.message);
                return 0;
            }
        }
        ssize_t n = proxy_io_read(c, c->fd, c->buf + c->len, HTTPREQ_HEAD_MAX - c->len, deadline);
        if (n == -ETIMEDOUT && c->len) {
            proxy_refuse_head(c, 408, "request_timeout",
                              "the request head did not arrive in time (proxy_header_timeout_s)");
            return 0;
        }
        if (n == 0 && c->len) {
            proxy_refuse_head(c, 400, "bad_request", "the connection closed inside a request head");
            return 0;
        }
        if (n <= 0)
            return 0; /* closed or idle between requests: no request, no event */
        if (!started) {
            started = true;
            deadline = proxy_deadline(cfg->proxy_header_timeout_s);
        }
        parse = c->len == 0 || memchr(c->buf + c->len, '\n', (size_t)n) ||
                c->len + (size_t)n == HTTPREQ_HEAD_MAX;
        c->len += (size_t)n;
    }
}

bool
proxy_conn_serve(struct proxy_conn *c, void **curl_handle)
{
    struct httpreq req;
    size_t hlen = read_head(c, true, &req);

    if (hlen == 0)
        return false;
    if (req.form == HTTPREQ_FORM_AUTHORITY) {
        proxy_tunnel(c, &req, hlen);
        return false;
    }
    return proxy_http(c, &req, hlen, curl_handle);
}

/* ---- jobs and the acceptor ---- */

void
proxy_job_unref(struct proxy_job *pj)
{
    if (!pj || atomic_fetch_sub(&pj->refs, 1) != 1)
        return;
    policy_unref(pj->policy);
    free(pj);
}

static void
job_listen(struct proxy *p, struct proxy_job *pj, bool on)
{
    struct epoll_event ev = {.events = on ? EPOLLIN : 0, .data.ptr = pj};

    if (pj->listen_fd >= 0)
        epoll_ctl(p->epfd, EPOLL_CTL_MOD, pj->listen_fd, &ev);
    pj->paused = !on;
}

/* Called with p->lock held when a connection slot frees up. */
static void
resume_listeners(struct proxy *p, struct proxy_job *pj)
{
    const struct config *cfg = p->d.cfg;

    if (pj && pj->paused && !pj->detached && pj->nconns < cfg->proxy_max_connections_per_job &&
        !p->paused_total)
        job_listen(p, pj, true);
    if (p->paused_total && p->nconns < cfg->proxy_max_connections) {
        p->paused_total = false;
        for (struct proxy_job *x = p->jobs; x; x = x->next)
            if (!x->detached && x->nconns < cfg->proxy_max_connections_per_job)
                job_listen(p, x, true);
    }
}

static void *worker(void *arg);

/* Queues c for a worker, starting one when none is idle. Called with p->lock held. */
static void
enqueue(struct proxy *p, struct proxy_conn *c)
{
    unsigned queued = 1;

    for (struct proxy_conn *q = p->queue; q; q = q->qnext)
        queued++;
    if (p->queue_tail)
        p->queue_tail->qnext = c;
    else
        p->queue = c;
    p->queue_tail = c;
    if (queued > p->idle_workers) {
        pthread_attr_t attr;
        pthread_t t;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, PROXY_WORKER_STACK);
        if (pthread_create(&t, &attr, worker, p) == 0)
            p->workers++;
        else if (p->workers == 0)
            log_error("proxy.worker", "cannot start a proxy worker: %s", strerror(errno));
        pthread_attr_destroy(&attr);
    }
    pthread_cond_signal(&p->cond);
}

void
proxy_worker_take(struct proxy *p, struct proxy_conn *c)
{
    pthread_mutex_lock(&p->lock);
    enqueue(p, c);
    pthread_mutex_unlock(&p->lock);
}

static struct proxy_conn *
conn_new(struct proxy *p, struct proxy_job *pj, int fd)
{
    struct proxy_conn *c = calloc(1, sizeof(*c));

    if (!c || !(c->buf = malloc(HTTPREQ_HEAD_MAX))) {
        free(c);
        return NULL;
    }
    c->p = p;
    c->fd = fd;
    c->job = pj;
    c->tag = PROXY_TAG_CONN;
    atomic_fetch_add(&pj->refs, 1);
    c->next = pj->conns;
    if (pj->conns)
        pj->conns->prev = c;
    pj->conns = c;
    pj->nconns++;
    p->nconns++;
    return c;
}

void
proxy_conn_end(struct proxy *p, struct proxy_conn *c)
{
    struct proxy_job *pj = c->job;

    pthread_mutex_lock(&p->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        pj->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pj->nconns--;
    p->nconns--;
    resume_listeners(p, pj);
    pthread_mutex_unlock(&p->lock);
    close(c->fd);
    proxy_fast_free(c->fast);
    free(c->out);
    free(c->buf);
    free(c);
    proxy_job_unref(pj);
}

/* Accepts what the job's listener holds, within the limits. Called with p->lock held. */
static void
accept_some(struct proxy *p, struct proxy_job *pj)
{
    const struct config *cfg = p->d.cfg;

    for (int n = 0; n < PROXY_ACCEPT_BATCH && !pj->detached && !p->stopping; n++) {
        if (pj->nconns >= cfg->proxy_max_connections_per_job) {
            job_listen(p, pj, false);
            return;
        }
        if (p->nconns >= cfg->proxy_max_connections) {
            p->paused_total = true;
            for (struct proxy_job *x = p->jobs; x; x = x->next)
                job_listen(p, x, false);
            log_warn("proxy.limit",
                     "%u proxy connections open (proxy_max_connections): "
                     "new ones wait",
                     p->nconns);
            return;
        }
        int fd = accept4(pj->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_error("proxy.accept", "job %s: accept: %s", pj->id, strerror(errno));
                p->paused_total = true; /* re-armed when a connection ends, or in a second */
                job_listen(p, pj, false);
            }
            return;
        }
        /* Heads and bodies go out as separate writes: without NODELAY, Nagle holds the second
         * until the job's delayed ACK (40 ms a keep-alive request). */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct proxy_conn *c = conn_new(p, pj, fd);
        if (!c) {
            close(fd);
            return;
        }
        proxy_loop_adopt(p, c);
    }
}

/* Drops detached jobs from the list (the acceptor's own reference). Called with p->lock held,
 * only from the acceptor, so a job pointer from epoll_wait stays valid for the batch. */
static void
sweep_jobs(struct proxy *p)
{
    struct proxy_job **pp = &p->jobs;

    while (*pp) {
        struct proxy_job *x = *pp;
        if (x->detached) {
            *pp = x->next;
            proxy_job_unref(x);
        } else {
            pp = &x->next;
        }
    }
}

static void *
acceptor(void *arg)
{
    struct proxy *p = arg;
    struct epoll_event evs[64];

    for (;;) {
        int n = epoll_wait(p->epfd, evs, (int)ARRAY_SIZE(evs), 1000);
        pthread_mutex_lock(&p->lock);
        if (p->stopping) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                char b[64];
                while (read(p->wake[0], b, sizeof(b)) > 0)
                    ;
                continue;
            }
            accept_some(p, evs[i].data.ptr);
        }
        if (n == 0)
            resume_listeners(p, NULL);
        sweep_jobs(p);
        pthread_mutex_unlock(&p->lock);
    }
}

static void *
worker(void *arg)
{
    struct proxy *p = arg;
    void *curl = NULL;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->queue && !p->stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += PROXY_WORKER_IDLE_S;
            p->idle_workers++;
            int r = pthread_cond_timedwait(&p->cond, &p->lock, &ts);
            p->idle_workers--;
            if (r == ETIMEDOUT && !p->queue)
                goto out;
        }
        struct proxy_conn *c = p->queue;
        if (!c)
            break; /* stopping, and nothing left to serve */
        p->queue = c->qnext;
        if (!p->queue)
            p->queue_tail = NULL;
        pthread_mutex_unlock(&p->lock);
        if (proxy_conn_serve(c, &curl))
            proxy_loop_adopt(p, c); /* the next request is the loop's to wait for */
        else
            proxy_conn_end(p, c);
        pthread_mutex_lock(&p->lock);
    }
out:
    p->workers--;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    proxy_http_handle_free(curl);
    return NULL;
}

static void
wake_acceptor(struct proxy *p)
{
    ssize_t w = write(p->wake[1], "x", 1);
    (void)w;
}

/* ---- the public face ---- */

int
proxy_new(const struct proxy_deps *deps, struct proxy **ret, struct err *err)
{
    struct proxy *p = calloc(1, sizeof(*p));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    int r;

    if (!p)
        return err_set(err, ENOMEM, "internal", "out of memory");
    p->d = *deps;
    p->epfd = p->wake[0] = p->wake[1] = -1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    if ((p->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) < 0 ||
        epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wake[0], &ev) < 0) {
        r = err_set(err, errno, "internal", "proxy: %s", strerror(errno));
        proxy_free(p);
        return r;
    }
    if ((r = proxy_audit_new(deps->store, &p->audit)) < 0) {
        proxy_free(p);
        return err_set(err, -r, "internal", "proxy audit: %s", strerror(-r));
    }
    *ret = p;
    return 0;
}

int
proxy_start(struct proxy *p, struct err *err)
{
    int r;

    if ((r = proxy_audit_start(p->audit)) < 0)
        return err_set(err, -r, "internal", "proxy audit writer: %s", strerror(-r));
    if ((r = proxy_loops_start(p, err)) < 0)
        return r;
    if ((r = pthread_create(&p->acceptor, NULL, acceptor, p)) != 0)
        return err_set(err, r, "internal", "proxy acceptor: %s", strerror(r));
    p->started = true;
    return 0;
}

/* Closes the listener and shuts every connection of pj down. Called with p->lock held. */
static void
job_close(struct proxy *p, struct proxy_job *pj)
{
    pj->detached = true;
    if (pj->listen_fd >= 0) {
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, pj->listen_fd, NULL);
        close(pj->listen_fd);
        pj->listen_fd = -1;
    }
    for (struct proxy_conn *c = pj->conns; c; c = c->next) {
        atomic_store(&c->cancel, true);
        shutdown(c->fd, SHUT_RDWR);
    }
}

void
proxy_stop(struct proxy *p)
{
    if (!p || p->stopped)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    for (struct proxy_job *x = p->jobs; x; x = x->next)
        job_close(p, x);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (p->started) {
        wake_acceptor(p);
        pthread_join(p->acceptor, NULL);
    }
    proxy_loops_stop(p); /* their connections end; what workers hand back is ended */
    pthread_mutex_lock(&p->lock);
    while (p->workers > 0)
        pthread_cond_wait(&p->cond, &p->lock);
    sweep_jobs(p);
    pthread_mutex_unlock(&p->lock);
    proxy_loops_free(p);
    p->audit = proxy_audit_free(p->audit); /* the last flush */
    p->stopped = true;
}

struct proxy *
proxy_free(struct proxy *p)
{
    if (!p)
        return NULL;
    proxy_stop(p);
    if (p->epfd >= 0)
        close(p->epfd);
    if (p->wake[0] >= 0)
        close(p->wake[0]);
    if (p->wake[1] >= 0)
        close(p->wake[1]);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
    return NULL;
}

int
proxy_job_attach(struct proxy *p, const char *job_id, struct policy *pol, int listen_fd,
                 struct proxy_job **ret)
{
    struct proxy_job *pj = calloc(1, sizeof(*pj));
    struct epoll_event ev = {.events = EPOLLIN};
    int r = 0;

    if (!pj) {
        close(listen_fd);
        return -ENOMEM;
    }
    str_copy(pj->id, sizeof(pj->id), job_id);
    pj->policy = policy_ref(pol);
    pj->listen_fd = listen_fd;
    atomic_init(&pj->refs, 2); /* the caller's and the acceptor's list */
    ev.data.ptr = pj;
    /* The acceptor must never block in accept(2) with the lock held. */
    int fl = fcntl(listen_fd, F_GETFL);
    if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
        r = -errno;
    pthread_mutex_lock(&p->lock);
    if (r < 0)
        ;
    else if (p->stopping)
        r = -ESHUTDOWN;
    else if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0)
        r = -errno;
    if (r == 0) {
        pj->next = p->jobs;
        p->jobs = pj;
        if (p->paused_total)
            job_listen(p, pj, false);
    }
    pthread_mutex_unlock(&p->lock);
    if (r < 0) {
        close(listen_fd);
        policy_unref(pj->policy);
        free(pj);
        return r;
    }
    *ret = pj;
    return 0;
}

void
proxy_job_counts(const struct proxy_job *pj, int64_t *ret_allowed, int64_t *ret_denied)
{
    *ret_allowed = pj ? atomic_load(&pj->allowed) : 0;
    *ret_denied = pj ? atomic_load(&pj->denied) : 0;
}

void
proxy_job_close(struct proxy *p, struct proxy_job *pj)
{
    if (!pj)
        return;
    pthread_mutex_lock(&p->lock);
    if (!pj->detached)
        job_close(p, pj);
    pthread_mutex_unlock(&p->lock);
    wake_acceptor(p);
}

bool
proxy_job_idle(struct proxy *p, struct proxy_job *pj)
{
    bool idle;

    pthread_mutex_lock(&p->lock);
    idle = pj->detached && pj->nconns == 0;
    pthread_mutex_unlock(&p->lock);
    return idle;
}

void
proxy_job_detach(struct proxy *p, struct proxy_job *pj)
{
    if (!pj)
        return;
    proxy_job_close(p, pj);
    if (p->audit)
        proxy_audit_flush(p->audit);
    proxy_job_unref(pj);
}
