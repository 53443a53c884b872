/*
 * proxy_internal: what the proxy's files share -- the connection, the job handle, the event being
 * built, the blocking-with-deadline socket helpers and the route (decide, resolve, classify).
 * Nothing outside daemon/proxy*.c includes it.
 */
#ifndef AIRLOCK_PROXY_INTERNAL_H
#define AIRLOCK_PROXY_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "airlock_limits.h"
#include "httpreq.h"
#include "netaddr.h"
#include "policy.h"
#include "proxy.h"
#include "store.h"

/* The job's handle: shared by the acceptor, its connections and jobs.c; freed with the last
 * reference. */
struct proxy_job {
    atomic_int refs;
    char id[STORE_ID_MAX];
    struct policy *policy;
    int listen_fd;            /* -1 once detached */
    bool detached;            /* under proxy.lock */
    bool paused;              /* listener left out of epoll: at its connection limit */
    unsigned nconns;          /* under proxy.lock */
    struct proxy_conn *conns; /* under proxy.lock: to shut them down on detach */
    atomic_llong allowed, denied;
    struct proxy_job *next; /* proxy.jobs */
};

/* One egress event as the proxy builds it (store_egress's fields, owned buffers). */
struct proxy_event {
    int64_t start_ms; /* wall clock, for "time" */
    int64_t start_mono;
    char method[HTTPREQ_METHOD_MAX + 1];
    const char *scheme;      /* "http" / "https" (static) */
    char host[HOST_MAX + 1]; /* normalised when known, else a sanitised copy of what was sent */
    int port;
    char *path; /* malloc'd normalised path, NULL for CONNECT or when unknown */
    bool allow;
    char rule[24];      /* "allow[3]" or "" */
    const char *reason; /* static; NULL when allowed and the upstream answered */
    int status;         /* upstream status, 0 when none */
    int64_t bytes_up, bytes_down;
};

/* A connection from a job. Served by one worker thread from accept to close. */
struct proxy_conn {
    struct proxy *p;
    struct proxy_job *job;
    int fd;                         /* the job's end, non-blocking; shut down by detach */
    atomic_bool cancel;             /* the job ended or the daemon stops: end any transfer */
    char *buf;                      /* HTTPREQ_HEAD_MAX bytes: the head, then what followed it */
    size_t len;                     /* bytes in buf */
    struct proxy_conn *next, *prev; /* job->conns */
    struct proxy_conn *qnext;       /* the accept queue, or a loop's inbox */
    /* Served by an event loop (proxy_loop.c) between requests and for plain-HTTP requests to
     * a checked address without a body; by a worker thread for everything else. */
    int tag;                 /* PROXY_TAG_CONN: what an epoll event points at */
    struct proxy_loop *loop; /* the loop that owns it, NULL while a worker does */
    int state;               /* PROXY_LOOP_* */
    int64_t deadline;        /* monotonic ms: the head's, or a stalled write's */
    bool head_started;       /* bytes of the next head have arrived */
    struct proxy_fast *fast; /* the request the loop forwards (proxy_http.c) */
    char *out;               /* bytes for the job not yet written (the loop only) */
    size_t out_len, out_off, out_cap;
    bool out_blocked;                 /* a write met EAGAIN: waiting for EPOLLOUT */
    struct proxy_conn *lnext, *lprev; /* the loop's connections */
};

enum { PROXY_TAG_CONN = 1, PROXY_TAG_SOCK, PROXY_TAG_WAKE };
enum { PROXY_LOOP_HEAD, PROXY_LOOP_FORWARD, PROXY_LOOP_FLUSH_CLOSE, PROXY_LOOP_GONE };

/* The addresses a request may connect to, every one of them checked. */
#define PROXY_ADDRS_MAX 16
struct proxy_route {
    struct policy_host host;
    struct policy_request req;
    char path[PATH_MAX_URL + 1];
    struct policy_decision d;
    struct sockaddr_storage addrs[PROXY_ADDRS_MAX];
    socklen_t addrlens[PROXY_ADDRS_MAX];
    size_t naddrs;
    int status;    /* when denied: the status to answer (403, 502) */
    char why[512]; /* when denied: a sentence for the job */
};

struct proxy {
    struct proxy_deps d;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* the accept queue, idle workers, workers gone */
    struct proxy_job *jobs;
    struct proxy_conn *queue, *queue_tail;
    unsigned nconns; /* open connections, all jobs */
    unsigned workers, idle_workers;
    bool paused_total; /* listeners left out because nconns hit the total */
    bool stopping, started, stopped;
    int epfd, wake[2];
    pthread_t acceptor;
    struct proxy_audit *audit;
    struct proxy_loop *loops;
    unsigned nloops;       /* set before the acceptor starts */
    atomic_uint next_loop; /* round robin over the loops */
};

/* ---- proxy.c ---- */
/* Serves the connection's next request in a worker thread. Returns true when the connection
 * goes on (keep-alive: back to a loop), false when it is over. */
bool proxy_conn_serve(struct proxy_conn *c, void **curl_handle);
/* A connection is over: counts, listeners, close, free. */
void proxy_conn_end(struct proxy *p, struct proxy_conn *c);
/* Gives a connection (with a whole head in c->buf, or none) to a worker thread. */
void proxy_worker_take(struct proxy *p, struct proxy_conn *c);
/* Refuses a head that cannot be served (400/408/414/431...): answer, event. */
void proxy_refuse_head(struct proxy_conn *c, int status, const char *reason, const char *message);

/* ---- proxy_loop.c: event loops, one per core ---- */
struct proxy_loop;
int proxy_loops_start(struct proxy *p, struct err *err);
void proxy_loops_stop(struct proxy *p);
void proxy_loops_free(struct proxy *p); /* after the workers have ended */
/* Hands a connection to a loop (from the acceptor or a worker). */
void proxy_loop_adopt(struct proxy *p, struct proxy_conn *c);
/* Writes to the job without blocking: what does not fit is kept in c->out. 0 or -errno. */
int proxy_out_push(struct proxy_conn *c, const struct iovec *iov, int n);

/* ---- proxy_http.c, the loop's fast path ---- */
/* Starts forwarding the request whose head (parsed as head, hlen bytes) begins c->buf on the
 * loop's multi handle when it can be served without blocking: plain HTTP, no body, an
 * IP-literal host that the policy allows. Returns 1 when started, 0 when a worker must serve
 * it, -ENOMEM. */
int proxy_fast_start(struct proxy_conn *c, const struct httpreq *head, size_t hlen, void *multi);
/* The transfer ended with result (a CURLcode). Records the event; returns true when the
 * connection can take another request once c->out is written. Frees the fast state. */
bool proxy_fast_done(struct proxy_conn *c, void *multi, int result);
/* c->out drained: lets a paused transfer go on. */
void proxy_fast_resume(struct proxy_conn *c);
/* Ends a transfer early (the job went away, the daemon stops): records it, frees. */
void proxy_fast_abort(struct proxy_conn *c, void *multi, const char *reason);
/* Frees a connection's fast-path state (its easy handle, not in a multi). NULL-safe. */
void proxy_fast_free(struct proxy_fast *fast);

/* ---- socket I/O with a deadline (monotonic ms); return bytes, 0 at EOF, or -errno
 * (-ETIMEDOUT past the deadline, -ECANCELED once c->cancel is set). ---- */
ssize_t proxy_io_read(struct proxy_conn *c, int fd, void *buf, size_t n, int64_t deadline);
int proxy_io_write(struct proxy_conn *c, int fd, const void *buf, size_t n, int64_t deadline);
int proxy_io_writev(struct proxy_conn *c, int fd, struct iovec *iov, int iovcnt, int64_t deadline);
int64_t proxy_deadline(unsigned seconds);

/* Answers the job with status, a JSON error body and X-Airlock-Deny: reason (when non-NULL),
 * Connection: close. */
void proxy_reply_error(struct proxy_conn *c, int status, const char *code, const char *reason,
                       const struct proxy_event *ev, const char *message);

/* ---- proxy_route.c ---- */
/* Decides req (the parsed host text and port; method and path for plain HTTP, NULL path for a
 * tunnel) with the job's policy, then resolves and classifies. Returns true with r->addrs set
 * when the request may go; false with r->d.reason, r->status and r->why when it may not.
 * ev's host, path, rule and reason are filled either way. */
bool proxy_route(struct proxy *p, struct proxy_job *job, const char *host, size_t host_len,
                 uint16_t port, const char *method, const char *path, size_t path_len,
                 struct proxy_route *r, struct proxy_event *ev);

/* ---- proxy_http.c ---- */
/* Forwards one plain-HTTP request whose head is c->buf[0..hlen). Returns true when the
 * connection can carry another request (c->buf then holds what followed). */
bool proxy_http(struct proxy_conn *c, const struct httpreq *req, size_t hlen, void **curl_handle);
void proxy_http_handle_free(void *curl_handle);

/* ---- proxy_tunnel.c ---- */
/* Serves a CONNECT whose head is c->buf[0..hlen); the connection ends with it. */
void proxy_tunnel(struct proxy_conn *c, const struct httpreq *req, size_t hlen);

/* ---- proxy_audit.c ---- */
struct proxy_audit;
int proxy_audit_new(struct store *store, struct proxy_audit **ret);
int proxy_audit_start(struct proxy_audit *a);
/* Records ev for job (log line + queued for the store) and counts it on the job. Takes ev->path. */
void proxy_audit_record(struct proxy_audit *a, struct proxy_job *job, struct proxy_event *ev);
/* Stores every queued event now (the caller's thread). */
void proxy_audit_flush(struct proxy_audit *a);
/* Stops the writer after a last flush. NULL-safe; returns NULL. */
struct proxy_audit *proxy_audit_free(struct proxy_audit *a);

/* Starts an event at now. */
void proxy_event_begin(struct proxy_event *ev);

void proxy_job_unref(struct proxy_job *pj);

#endif
