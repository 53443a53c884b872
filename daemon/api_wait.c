/*
 * api_wait: the deadlines of long-polls (GET /v1/jobs/<id>?wait_s=N). A waiting request holds
 * no thread: its connection is suspended, registered with jobs for the job's next change
 * (jobs_watch_on) and listed here with its deadline. One timer thread sleeps until the earliest
 * deadline and resumes the requests whose time is up. It never answers a request itself: the
 * resumed handler does (api_jobs.c).
 *
 * Exactly one party resumes a suspended long-poll. A request registered with jobs is resumed by
 * whoever takes its registration away: the jobs callback (the job changed) or jobs_unwatch
 * returning true (here, on the deadline; or the handler itself). A request not registered
 * (timer_only: an ended job the client already holds) is resumed only here. The list is guarded
 * by the lock, which is taken before the jobs lock and never inside a jobs callback, and a
 * request leaves the list before it is freed (api_wait_forget from api_completed), so the timer
 * never touches a freed request.
 */
#include <pthread.h>
#include <time.h>

#include "api_internal.h"

struct api_wait {
    struct jobs *jobs;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* signalled on add and on stop; CLOCK_MONOTONIC */
    struct api_request *head;
    bool stop;
    bool thread_started;
    pthread_t thread;
};

static void
unlink_req(struct api_wait *w, struct api_request *req)
{
    if (req->lp.prev)
        req->lp.prev->lp.next = req->lp.next;
    else
        w->head = req->lp.next;
    if (req->lp.next)
        req->lp.next->lp.prev = req->lp.prev;
    req->lp.prev = req->lp.next = NULL;
    req->lp.queued = false;
}

/* Takes req off the list and resumes it, unless the job's change resumed it already. Lock
 * held. req is not used after the resume: it may be answered and freed at once. */
static void
expire(struct api_wait *w, struct api_request *req)
{
    unlink_req(w, req);
    if (req->lp.timer_only || jobs_unwatch(w->jobs, req->watch_id, req))
        MHD_resume_connection(req->conn);
}

static void *
timer_main(void *arg)
{
    struct api_wait *w = arg;

    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        int64_t now = time_mono_ms(), next = INT64_MAX;
        struct api_request *req = w->head, *after;

        for (; req; req = after) {
            after = req->lp.next;
            if (req->lp.deadline_ms <= now)
                expire(w, req);
            else if (req->lp.deadline_ms < next)
                next = req->lp.deadline_ms;
        }
        if (next == INT64_MAX) {
            pthread_cond_wait(&w->cond, &w->lock);
        } else {
            struct timespec ts = {.tv_sec = next / 1000, .tv_nsec = (next % 1000) * 1000000L};
            pthread_cond_timedwait(&w->cond, &w->lock, &ts);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int
api_wait_new(struct jobs *jobs, struct api_wait **ret)
{
    struct api_wait *w = calloc(1, sizeof(*w));
    pthread_condattr_t ca;
    int r;

    if (!w)
        return -ENOMEM;
    w->jobs = jobs;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    r = pthread_create(&w->thread, NULL, timer_main, w);
    if (r != 0) {
        api_wait_free(w);
        return -r;
    }
    w->thread_started = true;
    *ret = w;
    return 0;
}

void
api_wait_stop(struct api_wait *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    while (w->head)
        expire(w, w->head);
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    if (w->thread_started) {
        pthread_join(w->thread, NULL);
        w->thread_started = false;
    }
}

struct api_wait *
api_wait_free(struct api_wait *w)
{
    if (!w)
        return NULL;
    api_wait_stop(w);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return NULL;
}

bool
api_wait_stopping(struct api_wait *w)
{
    bool stop;

    pthread_mutex_lock(&w->lock);
    stop = w->stop;
    pthread_mutex_unlock(&w->lock);
    return stop;
}

int
api_wait_add(struct api_wait *w, struct api_request *req, int64_t deadline_ms, bool timer_only)
{
    pthread_mutex_lock(&w->lock);
    if (w->stop) {
        pthread_mutex_unlock(&w->lock);
        return -ESHUTDOWN;
    }
    req->lp.used = true;
    req->lp.deadline_ms = deadline_ms;
    req->lp.timer_only = timer_only;
    req->lp.prev = NULL;
    req->lp.next = w->head;
    if (w->head)
        w->head->lp.prev = req;
    w->head = req;
    req->lp.queued = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

void
api_wait_forget(struct api_wait *w, struct api_request *req)
{
    if (!w || !req->lp.used)
        return;
    pthread_mutex_lock(&w->lock);
    if (req->lp.queued)
        unlink_req(w, req);
    pthread_mutex_unlock(&w->lock);
}
