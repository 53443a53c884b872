/*
 * proxy_loop.c: the proxy's event loops, one per core (at most PROXY_LOOPS_MAX). A loop owns a
 * connection while it waits for its next request head, and while it forwards a plain-HTTP
 * request without a body to an address known without a lookup (the fast path, proxy_http.c),
 * driving libcurl's multi interface on the same epoll set. Everything that may block -- a DNS
 * lookup, a request body, a CONNECT tunnel, a refusal with its lingering close -- goes to a
 * worker thread (proxy.c), which gives the connection back when it can take another request.
 *
 * Why: with a thread per connection, each request costs two sleeps and two wake-ups of that
 * thread (docs/performance.md); a loop with many connections serves the ready ones in one pass.
 * A loop never decides anything the worker path would not: the fast path calls the same
 * proxy_route and records the same events.
 */
#include "proxy_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>

#include <curl/curl.h>

#include "log.h"

#define PROXY_LOOPS_MAX 4
#define LOOP_SWEEP_MS 100 /* deadlines are checked this often */

struct proxy_loop {
    struct proxy *p;
    int epfd, wake;
    int wake_tag; /* PROXY_TAG_WAKE */
    CURLM *multi;
    int64_t curl_deadline; /* monotonic ms of libcurl's next timeout, 0 for none */
    int64_t next_sweep;
    pthread_mutex_t lock; /* inbox and stopped */
    struct proxy_conn *inbox;
    bool stopped;
    struct proxy_conn *conns; /* owned, in any state */
    /* Connections that left during this batch of events: ended or handed to a worker only once
     * the batch is done, since a later event of the same batch may still point at them. */
    struct proxy_conn *ended, *leaving;
    struct sock_watch *released;
    pthread_t thread;
    bool started;
};

/* A socket libcurl asked us to watch. */
struct sock_watch {
    int tag;                 /* PROXY_TAG_SOCK */
    curl_socket_t s;         /* CURL_SOCKET_BAD once libcurl let go of it */
    struct sock_watch *next; /* the loop's released watches, freed after the batch */
};

static void watch_conn(struct proxy_loop *l, struct proxy_conn *c, uint32_t events);

/* ---- writing to the job without blocking ---- */

static int
out_append(struct proxy_conn *c, const struct iovec *iov, int n, size_t skip)
{
    for (int i = 0; i < n; i++) {
        size_t len = iov[i].iov_len, off = 0;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        off = skip;
        skip = 0;
        if (c->out_len + len - off > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 16384;
            while (cap < c->out_len + len - off)
                cap *= 2;
            char *b = realloc(c->out, cap);
            if (!b)
                return -ENOMEM;
            c->out = b;
            c->out_cap = cap;
        }
        memcpy(c->out + c->out_len, (const char *)iov[i].iov_base + off, len - off);
        c->out_len += len - off;
    }
    return 0;
}

int
proxy_out_push(struct proxy_conn *c, const struct iovec *iov, int n)
{
    ssize_t w = 0;

    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        struct msghdr mh = {.msg_iov = (struct iovec *)(uintptr_t)iov, .msg_iovlen = (size_t)n};
        w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return -errno;
        if (w < 0)
            w = 0;
    }
    int r = out_append(c, iov, n, (size_t)w);
    /* The rest waits for room: the loop watches for it (the fast path runs in the loop). */
    if (r == 0 && c->out_off < c->out_len && c->loop && !c->out_blocked) {
        c->out_blocked = true;
        c->deadline = time_mono_ms() + 1000LL * c->p->d.cfg->proxy_idle_timeout_s;
        watch_conn(c->loop, c, EPOLLOUT);
    }
    return r;
}

/* Writes what c->out holds. 1 when empty, 0 when the socket is full, -errno. */
static int
out_flush(struct proxy_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno == EAGAIN ? 0 : -errno;
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    return 1;
}

/* ---- connections ---- */

static void
watch_conn(struct proxy_loop *l, struct proxy_conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = &c->tag};

    epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
unlink_conn(struct proxy_loop *l, struct proxy_conn *c)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->lprev)
        c->lprev->lnext = c->lnext;
    else
        l->conns = c->lnext;
    if (c->lnext)
        c->lnext->lprev = c->lprev;
    c->lnext = c->lprev = NULL;
    c->loop = NULL;
}

static void
end_conn(struct proxy_loop *l, struct proxy_conn *c)
{
    if (c->state == PROXY_LOOP_GONE)
        return;
    if (c->state == PROXY_LOOP_FORWARD)
        proxy_fast_abort(c, l->multi, atomic_load(&c->cancel) ? "job_ended" : "client_closed");
    unlink_conn(l, c);
    c->state = PROXY_LOOP_GONE;
    c->qnext = l->ended;
    l->ended = c;
}

static void
to_worker(struct proxy_loop *l, struct proxy_conn *c)
{
    unlink_conn(l, c);
    c->state = PROXY_LOOP_GONE;
    c->qnext = l->leaving;
    l->leaving = c;
}

/* After a batch: the connections that left go to their end or to a worker. */
static void
settle(struct proxy_loop *l)
{
    while (l->ended) {
        struct proxy_conn *c = l->ended;
        l->ended = c->qnext;
        c->qnext = NULL;
        proxy_conn_end(l->p, c);
    }
    while (l->leaving) {
        struct proxy_conn *c = l->leaving;
        l->leaving = c->qnext;
        c->qnext = NULL;
        proxy_worker_take(l->p, c);
    }
    while (l->released) {
        struct sock_watch *w = l->released;
        l->released = w->next;
        free(w);
    }
}

/* Waits for the next head. */
static void
await_head(struct proxy_loop *l, struct proxy_conn *c)
{
    const struct config *cfg = l->p->d.cfg;

    c->state = PROXY_LOOP_HEAD;
    c->head_started = c->len > 0;
    c->deadline = time_mono_ms() + 1000LL * (c->head_started ? cfg->proxy_header_timeout_s
                                                             : cfg->proxy_idle_timeout_s);
    watch_conn(l, c, EPOLLIN);
}

static void on_readable(struct proxy_loop *l, struct proxy_conn *c);

/* The fast request ended (or was written out): what next for the connection. */
static void
after_request(struct proxy_loop *l, struct proxy_conn *c, bool keep)
{
    int f;

    c->state = PROXY_LOOP_HEAD; /* the transfer is over, whatever comes next */
    f = out_flush(c);
    if (f < 0 || (!keep && f == 1)) {
        end_conn(l, c);
        return;
    }
    if (f == 0) { /* the answer's tail is still on its way */
        c->state = keep ? PROXY_LOOP_HEAD : PROXY_LOOP_FLUSH_CLOSE;
        c->out_blocked = true;
        c->deadline = time_mono_ms() + 1000LL * l->p->d.cfg->proxy_idle_timeout_s;
        watch_conn(l, c, EPOLLOUT);
        return;
    }
    await_head(l, c);
    if (c->len)
        on_readable(l, c); /* a pipelined request is already here */
}

static void
on_head(struct proxy_loop *l, struct proxy_conn *c, const struct httpreq *req, size_t hlen)
{
    int r = proxy_fast_start(c, req, hlen, l->multi);

    if (r <= 0) {
        to_worker(l, c); /* it parses the head again and serves or refuses it */
        return;
    }
    c->state = PROXY_LOOP_FORWARD;
    c->out_blocked = false;
    watch_conn(l, c, 0); /* nothing is read from the job while its request runs */
}

static void
on_readable(struct proxy_loop *l, struct proxy_conn *c)
{
    for (;;) {
        if (c->len) {
            struct httpreq req;
            struct err err = {0};
            int status = 400;
            ssize_t h = httpreq_parse(c->buf, c->len, &req, &status, &err);
            if (h != 0) {
                if (h > 0)
                    on_head(l, c, &req, (size_t)h);
                else
                    to_worker(l, c); /* the worker refuses it with the answer and event */
                return;
            }
        }
        ssize_t n = read(c->fd, c->buf + c->len, HTTPREQ_HEAD_MAX - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            if (c->len && !atomic_load(&c->cancel))
                to_worker(l, c); /* a head cut short: the worker records it */
            else
                end_conn(l, c);
            return;
        }
        if (!c->head_started) {
            c->head_started = true;
            c->deadline = time_mono_ms() + 1000LL * l->p->d.cfg->proxy_header_timeout_s;
        }
        c->len += (size_t)n;
    }
}

static void
on_conn_event(struct proxy_loop *l, struct proxy_conn *c, uint32_t events)
{
    if (c->state == PROXY_LOOP_GONE)
        return; /* it left earlier in this batch */
    if (c->out_blocked) {
        int f = out_flush(c);
        if (f < 0) {
            end_conn(l, c);
            return;
        }
        if (f == 0)
            return;
        c->out_blocked = false;
        if (c->state == PROXY_LOOP_FLUSH_CLOSE) {
            end_conn(l, c);
            return;
        }
        if (c->state == PROXY_LOOP_FORWARD) {
            watch_conn(l, c, 0);
            proxy_fast_resume(c); /* may write again, and block again */
            return;
        }
        await_head(l, c);
    }
    if (c->state == PROXY_LOOP_FORWARD) {
        if (events & (EPOLLHUP | EPOLLERR))
            end_conn(l, c);
        return;
    }
    if (c->state == PROXY_LOOP_HEAD)
        on_readable(l, c);
}

static void
sweep(struct proxy_loop *l, int64_t now)
{
    struct proxy_conn *c = l->conns, *next;

    for (; c; c = next) {
        next = c->lnext;
        if (atomic_load(&c->cancel)) {
            end_conn(l, c);
            continue;
        }
        bool waiting = c->state == PROXY_LOOP_HEAD || c->out_blocked;
        if (!waiting || now < c->deadline)
            continue;
        if (c->state == PROXY_LOOP_HEAD && c->head_started && !c->out_blocked)
            proxy_refuse_head(c, 408, "request_timeout",
                              "the request head did not arrive in time (proxy_header_timeout_s)");
        end_conn(l, c);
    }
}

/* ---- libcurl ---- */

static int
on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct proxy_loop *l = userp;
    struct sock_watch *w = socketp;
    struct epoll_event ev = {0};

    (void)e;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, s, NULL);
        if (w) { /* freed after the batch: a later event of it may be in hand */
            w->s = CURL_SOCKET_BAD;
            w->next = l->released;
            l->released = w;
        }
        return 0;
    }
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    if (!w) {
        if (!(w = calloc(1, sizeof(*w))))
            return -1;
        w->tag = PROXY_TAG_SOCK;
        w->s = s;
        curl_multi_assign(l->multi, s, w);
        ev.data.ptr = w;
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, s, &ev) == 0 || errno != EEXIST)
            return 0;
    }
    ev.data.ptr = w;
    epoll_ctl(l->epfd, EPOLL_CTL_MOD, s, &ev);
    return 0;
}

static int
on_timer(CURLM *m, long ms, void *userp)
{
    struct proxy_loop *l = userp;

    (void)m;
    l->curl_deadline = ms < 0 ? 0 : time_mono_ms() + ms;
    return 0;
}

/* Hands finished transfers back to their connections. */
static void
reap(struct proxy_loop *l)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(l->multi, &left))) {
        struct proxy_conn *c = NULL;
        if (m->msg != CURLMSG_DONE)
            continue;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        if (!c)
            continue;
        after_request(l, c, proxy_fast_done(c, l->multi, (int)rc));
    }
}

static void
socket_action(struct proxy_loop *l, curl_socket_t s, int flags)
{
    int running;

    curl_multi_socket_action(l->multi, s, flags, &running);
    reap(l);
}

/* ---- the loop ---- */

static void
adopt_inbox(struct proxy_loop *l)
{
    struct proxy_conn *list;
    uint64_t v;

    if (read(l->wake, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_error("proxy.loop", "eventfd: %s", strerror(errno));
    pthread_mutex_lock(&l->lock);
    list = l->inbox;
    l->inbox = NULL;
    pthread_mutex_unlock(&l->lock);
    while (list) {
        struct proxy_conn *c = list;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->tag};
        list = c->qnext;
        c->qnext = NULL;
        c->loop = l;
        c->lnext = l->conns;
        c->lprev = NULL;
        if (l->conns)
            l->conns->lprev = c;
        l->conns = c;
        c->out_blocked = false;
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            end_conn(l, c);
            continue;
        }
        await_head(l, c);
        if (c->len)
            on_readable(l, c);
    }
}

static int
wait_ms(struct proxy_loop *l, int64_t now)
{
    int64_t t = l->next_sweep - now;

    if (l->curl_deadline && l->curl_deadline - now < t)
        t = l->curl_deadline - now;
    return t < 0 ? 0 : (int)t;
}

static void *
loop_main(void *arg)
{
    struct proxy_loop *l = arg;
    struct epoll_event evs[64];

    for (;;) {
        int n = epoll_wait(l->epfd, evs, (int)ARRAY_SIZE(evs), wait_ms(l, time_mono_ms()));
        for (int i = 0; i < n; i++) {
            int tag = *(int *)evs[i].data.ptr;
            if (tag == PROXY_TAG_WAKE) {
                adopt_inbox(l);
            } else if (tag == PROXY_TAG_SOCK) {
                struct sock_watch *w = evs[i].data.ptr;
                if (w->s == CURL_SOCKET_BAD)
                    continue;
                int flags = ((evs[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                            ((evs[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                            ((evs[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
                socket_action(l, w->s, flags);
            } else {
                struct proxy_conn *c = (struct proxy_conn *)((char *)evs[i].data.ptr -
                                                             offsetof(struct proxy_conn, tag));
                on_conn_event(l, c, evs[i].events);
            }
        }
        int64_t now = time_mono_ms();
        if (l->curl_deadline && now >= l->curl_deadline) {
            l->curl_deadline = 0;
            socket_action(l, CURL_SOCKET_TIMEOUT, 0);
        }
        if (now >= l->next_sweep) {
            l->next_sweep = now + LOOP_SWEEP_MS;
            sweep(l, now);
        }
        settle(l);
        pthread_mutex_lock(&l->lock);
        bool stop = l->stopped;
        pthread_mutex_unlock(&l->lock);
        if (stop)
            break;
    }
    adopt_inbox(l);
    while (l->conns)
        end_conn(l, l->conns);
    settle(l);
    return NULL;
}

void
proxy_loop_adopt(struct proxy *p, struct proxy_conn *c)
{
    struct proxy_loop *l;
    uint64_t one = 1;
    bool stopped;

    /* No p->lock here: the acceptor calls this with it held. */
    l = p->nloops ? &p->loops[atomic_fetch_add(&p->next_loop, 1) % p->nloops] : NULL;
    if (!l) {
        proxy_conn_end(p, c);
        return;
    }
    pthread_mutex_lock(&l->lock);
    stopped = l->stopped;
    if (!stopped) {
        c->qnext = l->inbox;
        l->inbox = c;
    }
    pthread_mutex_unlock(&l->lock);
    if (stopped) {
        proxy_conn_end(p, c);
        return;
    }
    if (write(l->wake, &one, sizeof(one)) < 0)
        log_error("proxy.loop", "eventfd: %s", strerror(errno));
}

static int
loop_init(struct proxy *p, struct proxy_loop *l)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->wake_tag};

    l->p = p;
    l->wake_tag = PROXY_TAG_WAKE;
    pthread_mutex_init(&l->lock, NULL);
    if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        (l->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake, &ev) < 0)
        return -errno;
    if (!(l->multi = curl_multi_init()))
        return -ENOMEM;
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
    return 0;
}

int
proxy_loops_start(struct proxy *p, struct err *err)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned n = cpus < 1 ? 1 : cpus > PROXY_LOOPS_MAX ? PROXY_LOOPS_MAX : (unsigned)cpus;
    int r;

    if (!(p->loops = calloc(n, sizeof(*p->loops))))
        return err_set(err, ENOMEM, "internal", "out of memory");
    for (unsigned i = 0; i < n; i++) {
        p->loops[i].epfd = p->loops[i].wake = -1;
        if ((r = loop_init(p, &p->loops[i])) < 0)
            return err_set(err, -r, "internal", "proxy loop: %s", strerror(-r));
        if ((r = pthread_create(&p->loops[i].thread, NULL, loop_main, &p->loops[i])) != 0)
            return err_set(err, r, "internal", "proxy loop: %s", strerror(r));
        p->loops[i].started = true;
        p->nloops = i + 1;
    }
    return 0;
}

void
proxy_loops_stop(struct proxy *p)
{
    uint64_t one = 1;

    for (unsigned i = 0; p->loops && i < p->nloops; i++) {
        struct proxy_loop *l = &p->loops[i];
        pthread_mutex_lock(&l->lock);
        l->stopped = true;
        pthread_mutex_unlock(&l->lock);
        if (l->started) {
            if (write(l->wake, &one, sizeof(one)) < 0)
                log_error("proxy.loop", "eventfd: %s", strerror(errno));
            pthread_join(l->thread, NULL);
            l->started = false;
        }
    }
}

void
proxy_loops_free(struct proxy *p)
{
    for (unsigned i = 0; p->loops && i < p->nloops; i++) {
        struct proxy_loop *l = &p->loops[i];
        if (l->multi)
            curl_multi_cleanup(l->multi);
        if (l->epfd >= 0)
            close(l->epfd);
        if (l->wake >= 0)
            close(l->wake);
        pthread_mutex_destroy(&l->lock);
    }
    free(p->loops);
    p->loops = NULL;
    p->nloops = 0;
}
