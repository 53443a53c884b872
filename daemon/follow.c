/*
 * follow: growth and end notifications for the readers of a job's output. One inotify
 * descriptor and one thread serve every follower: each followed file (or, for a job that has
 * not started yet, its directory) has one watch, found by its watch descriptor in a small hash
 * table, with the list of its followers. inotify gives the same watch descriptor for the same
 * inode, so the second follower of a file only joins the list. A job's end comes from
 * jobs_watch, once the end is stored, which jobs does only after the job's output has been
 * written out in full: a follower that saw the end before it read EOF has read everything.
 *
 * The race to avoid is the write that lands between a follower's read finding EOF and its
 * connection being suspended. Every follower is registered (jobs_watch, the inotify watch)
 * before its first read, clears its `pending` flag before each read, and parks under the lock
 * only if no wake came since; a wake sets `pending` and, if the follower is parked, claims it
 * (parked = false) under the lock and resumes it after unlocking. So each park is answered by
 * exactly one wake, and a wake that comes before the park turns into one more read. A claimed
 * follower's connection stays suspended until the wake, so it cannot be torn down (and the
 * follower freed) in between.
 *
 * Lock order: the jobs lock (held while jobs calls on_job_end) before follow's lock; follow
 * never calls jobs while holding its own. The HTTP server's locks are taken inside park (under
 * follow's lock) and inside wake (under no follow lock).
 */
#include "follow.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "log.h"

#define FOLLOW_BUCKETS 64
#define FOLLOW_FILE_EVENTS (IN_MODIFY | IN_CLOSE_WRITE)
#define FOLLOW_DIR_EVENTS (IN_CREATE | IN_ONLYDIR)
#define FOLLOW_ID_MAX 64

/* One inotify watch: a file being followed, or the directory of a job not started yet. */
struct follow_watch {
    int wd; /* -1 once the kernel has dropped it (IN_IGNORED) */
    struct follower *followers;
    struct follow_watch *next; /* hash chain */
};

struct follower {
    struct follow *f;
    char id[FOLLOW_ID_MAX];
    char stream[8];
    const struct follow_ops *ops;
    void *ctx;
    int fd;          /* the output file; -1 until the job has created it */
    uint64_t pos;    /* next byte to read */
    bool registered; /* jobs_watch took it: jobs_unwatch at close */
    /* Under f->lock: */
    struct follow_watch *watch;           /* NULL when none is needed (ended, nothing more) */
    struct follower *prev, *next;         /* in watch->followers */
    struct follower *all_prev, *all_next; /* in f->all */
    bool ended, pending, parked;
    struct follower *wake_next; /* in a batch of claimed followers */
};

struct follow {
    struct jobs *jobs;
    char jobs_dir[PATH_MAX];
    int ifd;     /* inotify */
    int stop_fd; /* eventfd that ends the thread */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    /* Under lock: */
    struct follow_watch *buckets[FOLLOW_BUCKETS];
    struct follower *all; /* every open follower, for an overflow and for follow_stop */
    bool stopping;
};

/* ---- waking ---- */

/* Marks fl as having something new; a parked fl is claimed into *batch. Under f->lock. */
static void
wake_locked(struct follower *fl, struct follower **batch)
{
    fl->pending = true;
    if (!fl->parked)
        return;
    fl->parked = false;
    fl->wake_next = *batch;
    *batch = fl;
}

static void
wake_watch_locked(struct follow_watch *w, struct follower **batch)
{
    for (struct follower *fl = w->followers; fl; fl = fl->next)
        wake_locked(fl, batch);
}

static void
wake_all_locked(struct follow *f, struct follower **batch)
{
    for (struct follower *fl = f->all; fl; fl = fl->all_next)
        wake_locked(fl, batch);
}

/* Resumes the claimed followers, without the lock. Each stays valid until its wake returns
 * (its connection is suspended), so the next one is read before waking this one. */
static void
wake_batch(struct follower *batch)
{
    while (batch) {
        struct follower *next = batch->wake_next;
        batch->ops->wake(batch->ctx);
        batch = next;
    }
}

/* From the jobs supervisor (jobs lock held), once the job's end is stored. */
static void
on_job_end(void *ctx)
{
    struct follower *fl = ctx, *batch = NULL;

    pthread_mutex_lock(&fl->f->lock);
    fl->ended = true;
    wake_locked(fl, &batch);
    pthread_mutex_unlock(&fl->f->lock);
    wake_batch(batch);
}

/* ---- watches ---- */

static struct follow_watch **
bucket(struct follow *f, int wd)
{
    return &f->buckets[(unsigned)wd % FOLLOW_BUCKETS];
}

static struct follow_watch *
watch_find(struct follow *f, int wd)
{
    for (struct follow_watch *w = *bucket(f, wd); w; w = w->next)
        if (w->wd == wd)
            return w;
    return NULL;
}

static void
watch_unhash(struct follow *f, struct follow_watch *w)
{
    for (struct follow_watch **p = bucket(f, w->wd); *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            return;
        }
}

/* Adds fl to the watch of path (a new one, or the one inotify already has for that inode).
 * Under f->lock. Returns 0 or -errno. */
static int
watch_join(struct follow *f, struct follower *fl, const char *path, uint32_t mask)
{
    struct follow_watch *w;
    int wd = inotify_add_watch(f->ifd, path, mask);

    if (wd < 0)
        return -errno;
    w = watch_find(f, wd);
    if (!w) {
        w = calloc(1, sizeof(*w));
        if (!w) {
            inotify_rm_watch(f->ifd, wd);
            return -ENOMEM;
        }
        w->wd = wd;
        w->next = *bucket(f, wd);
        *bucket(f, wd) = w;
    }
    fl->prev = NULL;
    fl->next = w->followers;
    if (w->followers)
        w->followers->prev = fl;
    w->followers = fl;
    fl->watch = w;
    return 0;
}

/* Takes fl off its watch; the last follower removes the watch. Under f->lock. */
static void
watch_leave(struct follow *f, struct follower *fl)
{
    struct follow_watch *w = fl->watch;

    if (!w)
        return;
    if (fl->prev)
        fl->prev->next = fl->next;
    else
        w->followers = fl->next;
    if (fl->next)
        fl->next->prev = fl->prev;
    fl->watch = NULL;
    fl->prev = fl->next = NULL;
    if (w->followers)
        return;
    if (w->wd >= 0) {
        watch_unhash(f, w);
        inotify_rm_watch(f->ifd, w->wd);
    }
    free(w);
}

/* ---- the thread ---- */

static void
handle_event(struct follow *f, const struct inotify_event *ev, struct follower **batch)
{
    struct follow_watch *w;

    if (ev->mask & IN_Q_OVERFLOW) {
        /* Events were lost: wake everyone, each reads again and parks again if need be. */
        log_warn("follow.overflow", "inotify queue overflow: waking every follower");
        wake_all_locked(f, batch);
        return;
    }
    /* An event for a watch already removed (its last follower left) finds nothing. */
    if (!(w = watch_find(f, ev->wd)))
        return;
    wake_watch_locked(w, batch);
    if (ev->mask & IN_IGNORED) {
        /* The kernel dropped the watch (the file went away): its number may be given out
         * again, so it leaves the table; its followers keep it until they close. */
        watch_unhash(f, w);
        w->wd = -1;
    }
}

static void
drain_events(struct follow *f)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct follower *batch = NULL;
    ssize_t n;

    while ((n = read(f->ifd, buf, sizeof(buf))) > 0) {
        pthread_mutex_lock(&f->lock);
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
            handle_event(f, ev, &batch);
            p += sizeof(*ev) + ev->len;
        }
        pthread_mutex_unlock(&f->lock);
        wake_batch(batch);
        batch = NULL;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR)
        log_error("follow.read", "inotify: %s", strerror(errno));
}

static void *
follow_thread(void *arg)
{
    struct follow *f = arg;
    struct pollfd pfd[2] = {{.fd = f->ifd, .events = POLLIN}, {.fd = f->stop_fd, .events = POLLIN}};

    for (;;) {
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("follow.poll", "%s", strerror(errno));
            return NULL;
        }
        if (pfd[1].revents)
            return NULL;
        if (pfd[0].revents)
            drain_events(f);
    }
}

/* ---- followers ---- */

/* Opens the output file if the job has created it. Returns 1 (fl->fd set and watched), 0 (not
 * created yet) or -errno. */
static int
attach_file(struct follower *fl)
{
    struct follow *f = fl->f;
    char path[64];
    struct stat st;
    int fd, r;

    if ((r = jobs_output_open(f->jobs, fl->id, fl->stream, &fd)) < 0)
        return r;
    /* jobs_output_open gives /dev/null for a job that has not started. */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    /* The magic link names the very inode opened; no path is rebuilt. */
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    pthread_mutex_lock(&f->lock);
    watch_leave(f, fl); /* the job directory's, if it had one */
    r = watch_join(f, fl, path, FOLLOW_FILE_EVENTS);
    pthread_mutex_unlock(&f->lock);
    if (r < 0) {
        close(fd);
        return r;
    }
    fl->fd = fd;
    return 1;
}

/* For a job not started yet: watch its directory for the file's creation, then look again
 * (it may have been created in between). Returns 0 or -errno. */
static int
attach_dir(struct follower *fl)
{
    struct follow *f = fl->f;
    char path[PATH_MAX];
    int r;

    if (str_printf(path, sizeof(path), "%s/%s", f->jobs_dir, fl->id) < 0)
        return -ENAMETOOLONG;
    pthread_mutex_lock(&f->lock);
    r = watch_join(f, fl, path, FOLLOW_DIR_EVENTS);
    pthread_mutex_unlock(&f->lock);
    if (r < 0)
        return r;
    r = attach_file(fl);
    return r < 0 ? r : 0;
}

static bool
stream_valid(const char *s)
{
    return strcmp(s, "stdout") == 0 || strcmp(s, "stderr") == 0;
}

static void
all_link(struct follow *f, struct follower *fl)
{
    fl->all_prev = NULL;
    fl->all_next = f->all;
    if (f->all)
        f->all->all_prev = fl;
    f->all = fl;
}

static void
all_unlink(struct follow *f, struct follower *fl)
{
    if (fl->all_prev)
        fl->all_prev->all_next = fl->all_next;
    else if (f->all == fl)
        f->all = fl->all_next;
    if (fl->all_next)
        fl->all_next->all_prev = fl->all_prev;
    fl->all_prev = fl->all_next = NULL;
}

int
follow_open(struct follow *f, const char *id, const char *stream, uint64_t offset,
            const struct follow_ops *ops, void *ctx, struct follower **ret)
{
    struct follower *fl;
    int r;

    if (!stream_valid(stream))
        return -EINVAL;
    if (strlen(id) >= FOLLOW_ID_MAX)
        return -ENOENT;
    fl = calloc(1, sizeof(*fl));
    if (!fl)
        return -ENOMEM;
    fl->f = f;
    str_copy(fl->id, sizeof(fl->id), id);
    str_copy(fl->stream, sizeof(fl->stream), stream);
    fl->ops = ops;
    fl->ctx = ctx;
    fl->fd = -1;
    fl->pos = offset;
    pthread_mutex_lock(&f->lock);
    r = f->stopping ? -ESHUTDOWN : 0;
    if (r == 0)
        all_link(f, fl);
    pthread_mutex_unlock(&f->lock);
    if (r < 0) {
        free(fl);
        return r;
    }
    /* Registered for the end, and then for growth, before the first read (see the top). */
    r = jobs_watch(f->jobs, id, on_job_end, fl);
    if (r >= 0) {
        fl->registered = r == 0;
        pthread_mutex_lock(&f->lock);
        fl->ended = fl->ended || r == 1;
        bool ended = fl->ended;
        pthread_mutex_unlock(&f->lock);
        r = attach_file(fl);
        if (r == 0 && !ended)
            r = attach_dir(fl);
    }
    if (r < 0) {
        follow_close(fl);
        return r;
    }
    *ret = fl;
    return 0;
}

/* Parks fl unless something came since its last read. Returns true when parked. */
static bool
park(struct follower *fl, bool *ret_stopping)
{
    struct follow *f = fl->f;
    bool parked = false;

    pthread_mutex_lock(&f->lock);
    *ret_stopping = f->stopping;
    if (!fl->pending && !fl->ended && !f->stopping) {
        fl->parked = parked = true;
        fl->ops->park(fl->ctx);
    }
    pthread_mutex_unlock(&f->lock);
    return parked;
}

ssize_t
follow_read(struct follower *fl, char *buf, size_t max)
{
    struct follow *f = fl->f;
    bool ended, stopping;
    ssize_t n;
    int r;

    for (;;) {
        pthread_mutex_lock(&f->lock);
        fl->pending = false;
        ended = fl->ended;
        pthread_mutex_unlock(&f->lock);
        if (fl->fd < 0 && (r = attach_file(fl)) < 0)
            return r;
        if (fl->fd >= 0) {
            n = pread(fl->fd, buf, max, (off_t)fl->pos);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return -errno;
            if (n > 0) {
                fl->pos += (uint64_t)n;
                return n;
            }
        }
        /* EOF. The end was seen before this read, so nothing more can come. */
        if (ended)
            return 0;
        if (park(fl, &stopping))
            return -EAGAIN;
        if (stopping)
            return -ESHUTDOWN;
    }
}

void
follow_close(struct follower *fl)
{
    struct follow *f;

    if (!fl)
        return;
    f = fl->f;
    /* First, so on_job_end is not running and will not run (jobs holds its lock for it). */
    if (fl->registered)
        jobs_unwatch(f->jobs, fl->id, fl);
    pthread_mutex_lock(&f->lock);
    watch_leave(f, fl);
    all_unlink(f, fl);
    pthread_mutex_unlock(&f->lock);
    if (fl->fd >= 0)
        close(fl->fd);
    free(fl);
}

/* ---- life of the module ---- */

int
follow_new(struct jobs *jobs, const char *state_dir, struct follow **ret, struct err *err)
{
    struct follow *f = calloc(1, sizeof(*f));
    int r;

    if (!f)
        return -ENOMEM;
    f->jobs = jobs;
    f->ifd = f->stop_fd = -1;
    pthread_mutex_init(&f->lock, NULL);
    if (str_printf(f->jobs_dir, sizeof(f->jobs_dir), "%s/jobs", state_dir) < 0) {
        r = err_set(err, ENAMETOOLONG, "internal", "%s: path too long", state_dir);
        goto fail;
    }
    f->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (f->ifd < 0) {
        r = err_set(err, errno, "internal", "follow: inotify: %m%s",
                    errno == EMFILE ? " (fs.inotify.max_user_instances)" : "");
        goto fail;
    }
    f->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (f->stop_fd < 0) {
        r = err_set(err, errno, "internal", "follow: eventfd: %m");
        goto fail;
    }
    if ((r = pthread_create(&f->thread, NULL, follow_thread, f)) != 0) {
        r = err_set(err, r, "internal", "follow: cannot start its thread: %s", strerror(r));
        goto fail;
    }
    f->thread_started = true;
    *ret = f;
    return 0;
fail:
    follow_free(f);
    return r;
}

void
follow_stop(struct follow *f)
{
    struct follower *batch = NULL;
    uint64_t one = 1;

    if (!f)
        return;
    pthread_mutex_lock(&f->lock);
    f->stopping = true;
    wake_all_locked(f, &batch);
    pthread_mutex_unlock(&f->lock);
    wake_batch(batch);
    if (f->thread_started) {
        ssize_t n = write(f->stop_fd, &one, sizeof(one));
        (void)n;
        pthread_join(f->thread, NULL);
        f->thread_started = false;
    }
}

struct follow *
follow_free(struct follow *f)
{
    if (!f)
        return NULL;
    follow_stop(f);
    if (f->ifd >= 0)
        close(f->ifd);
    if (f->stop_fd >= 0)
        close(f->stop_fd);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return NULL;
}
