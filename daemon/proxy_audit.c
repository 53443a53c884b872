/*
 * proxy_audit.c: every request or tunnel the proxy saw becomes one egress event -- a log line and
 * a row in the store, both written by a writer thread in batches (one transaction and one
 * write(2) every AUDIT_INTERVAL_MS or AUDIT_BATCH events), so a relay never waits for SQLite or
 * the log. The job's
 * decision counters move at record time (the job object shows them live); the store moves the
 * job row's counters in the same transaction as its events, so the two always agree.
 * Nothing is dropped: past AUDIT_QUEUE_MAX pending events the recording thread writes the batch
 * itself (back-pressure on the job that makes that many requests, not loss).
 */
#include "proxy_internal.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

#define AUDIT_INTERVAL_MS 100
#define AUDIT_BATCH 512
#define AUDIT_QUEUE_MAX 65536
#define AUDIT_LOG_BUF (64 * 1024) /* log lines written by one write(2) */

struct audit_item {
    struct store_egress e;
    char method[HTTPREQ_METHOD_MAX + 1];
    char host[HOST_MAX + 1];
    char rule[24];
    struct audit_item *next;
};

struct proxy_audit {
    struct store *store;
    pthread_mutex_t lock;       /* the queue */
    pthread_mutex_t write_lock; /* one batch at a time, in order */
    pthread_cond_t cond;
    struct audit_item *head, *tail;
    size_t n;
    bool stop, started;
    pthread_t thread;
};

void
proxy_event_begin(struct proxy_event *ev)
{
    ev->start_ms = time_now_ms();
    ev->start_mono = time_mono_ms();
}

static void
items_free(struct audit_item *it)
{
    while (it) {
        struct audit_item *next = it->next;
        free(it->e.path);
        free(it);
        it = next;
    }
}

/* Appends the event's log line to buf (flushing it first when full). */
static void
log_item(char *buf, size_t *len, size_t cap, const struct store_egress *e)
{
    char status[16] = "-";

    if (cap - *len < LOG_LINE_MAX + 256) {
        log_write(buf, *len);
        *len = 0;
    }
    if (e->status)
        snprintf(status, sizeof(status), "%d", e->status);
    *len +=
        log_format(buf + *len, cap - *len, e->time_ms + e->duration_ms, LOG_INFO, "egress",
                   "job %s %s %s %s://%s:%d%s rule=%s reason=%s status=%s up=%lld down=%lld "
                   "ms=%lld",
                   e->job_id, e->decision, e->method ? e->method : "-", e->scheme ? e->scheme : "-",
                   e->host ? e->host : "-", e->port, e->path ? e->path : "",
                   e->rule ? e->rule : "-", e->reason ? e->reason : "-", status,
                   (long long)e->bytes_up, (long long)e->bytes_down, (long long)e->duration_ms);
}

/* The log lines of a batch, written together: one write(2) for many events instead of one
 * per request on the proxy's hot path. */
static void
log_batch(const struct audit_item *list)
{
    char buf[AUDIT_LOG_BUF];
    size_t len = 0;

    if (!log_enabled(LOG_INFO))
        return;
    for (const struct audit_item *it = list; it; it = it->next)
        log_item(buf, &len, sizeof(buf), &it->e);
    log_write(buf, len);
}

/* Writes the queue as it is now. Called with write_lock held. */
static void
write_batch(struct proxy_audit *a)
{
    struct store_egress rows[AUDIT_BATCH];
    struct audit_item *list;

    pthread_mutex_lock(&a->lock);
    list = a->head;
    a->head = a->tail = NULL;
    a->n = 0;
    pthread_mutex_unlock(&a->lock);
    log_batch(list);
    /* Counted here, on the writer's side of the queue (the writer thread; a relay only when it
     * writes a full queue itself), so a relay's request path never touches a metric. */
    for (const struct audit_item *it = list; it; it = it->next)
        metrics_egress(it->e.decision, it->e.reason, it->e.bytes_up, it->e.bytes_down);
    for (struct audit_item *it = list; it;) {
        size_t n = 0;
        for (; it && n < AUDIT_BATCH; it = it->next)
            rows[n++] = it->e;
        int r = store_egress_insert(a->store, rows, n);
        if (r < 0)
            log_error("egress.store", "cannot store %zu egress events: %s (they are in this log)",
                      n, strerror(-r));
    }
    items_free(list);
}

static void *
writer(void *arg)
{
    struct proxy_audit *a = arg;

    for (;;) {
        pthread_mutex_lock(&a->lock);
        if (!a->head && !a->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += AUDIT_INTERVAL_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&a->cond, &a->lock, &ts);
        }
        bool stop = a->stop;
        pthread_mutex_unlock(&a->lock);
        pthread_mutex_lock(&a->write_lock);
        write_batch(a);
        pthread_mutex_unlock(&a->write_lock);
        if (stop)
            return NULL;
        /* Let a batch gather: at most one transaction per interval under load. */
        struct timespec nap = {0, AUDIT_INTERVAL_MS * 1000000L};
        nanosleep(&nap, NULL);
    }
}

int
proxy_audit_new(struct store *store, struct proxy_audit **ret)
{
    struct proxy_audit *a = calloc(1, sizeof(*a));

    if (!a)
        return -ENOMEM;
    a->store = store;
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->write_lock, NULL);
    pthread_cond_init(&a->cond, NULL);
    *ret = a;
    return 0;
}

int
proxy_audit_start(struct proxy_audit *a)
{
    int r = pthread_create(&a->thread, NULL, writer, a);

    if (r != 0)
        return -r;
    a->started = true;
    return 0;
}

void
proxy_audit_flush(struct proxy_audit *a)
{
    pthread_mutex_lock(&a->write_lock);
    write_batch(a);
    pthread_mutex_unlock(&a->write_lock);
}

struct proxy_audit *
proxy_audit_free(struct proxy_audit *a)
{
    if (!a)
        return NULL;
    if (a->started) {
        pthread_mutex_lock(&a->lock);
        a->stop = true;
        pthread_cond_signal(&a->cond);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->thread, NULL);
    }
    proxy_audit_flush(a);
    pthread_mutex_destroy(&a->lock);
    pthread_mutex_destroy(&a->write_lock);
    pthread_cond_destroy(&a->cond);
    free(a);
    return NULL;
}

void
proxy_audit_record(struct proxy_audit *a, struct proxy_job *job, struct proxy_event *ev)
{
    int64_t ms = time_mono_ms() - ev->start_mono;
    struct audit_item *it = calloc(1, sizeof(*it));
    bool full;

    atomic_fetch_add(ev->allow ? &job->allowed : &job->denied, 1);
    if (!it) {
        log_error("egress.store", "job %s: out of memory: an egress event of %s %s is lost",
                  job->id, ev->method, ev->host);
        free(ev->path);
        ev->path = NULL;
        return;
    }
    str_copy(it->e.job_id, sizeof(it->e.job_id), job->id);
    str_copy(it->method, sizeof(it->method), ev->method);
    str_copy(it->host, sizeof(it->host), ev->host);
    str_copy(it->rule, sizeof(it->rule), ev->rule);
    it->e.time_ms = ev->start_ms;
    it->e.method = it->method[0] ? it->method : NULL;
    it->e.scheme = (char *)(uintptr_t)ev->scheme;
    it->e.host = it->host[0] ? it->host : NULL;
    it->e.path = TAKE_PTR(ev->path);
    it->e.port = ev->port;
    it->e.decision = ev->allow ? "allow" : "deny";
    it->e.rule = it->rule[0] ? it->rule : NULL;
    it->e.reason = (char *)(uintptr_t)ev->reason;
    it->e.status = ev->status;
    it->e.bytes_up = ev->bytes_up;
    it->e.bytes_down = ev->bytes_down;
    it->e.duration_ms = ms;
    pthread_mutex_lock(&a->lock);
    if (a->tail)
        a->tail->next = it;
    else
        a->head = it;
    a->tail = it;
    full = ++a->n >= AUDIT_QUEUE_MAX;
    if (a->n == AUDIT_BATCH)
        pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);
    if (full)
        proxy_audit_flush(a);
}
