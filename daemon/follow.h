/*
 * follow: tells the readers of a job's output ("followers", GET .../stdout?follow=true) when the
 * file they read has grown or the job has ended, without a thread or a timer per reader. It owns
 * one inotify descriptor, read by one thread, with one watch per followed file (a list of
 * followers hangs off each watch), and it learns a job's end from jobs_watch. A follower that
 * finds nothing to read is parked (the HTTP layer suspends its connection) and woken exactly once
 * when there may be more. It never writes a job's files and knows nothing of HTTP.
 */
#ifndef AIRLOCK_FOLLOW_H
#define AIRLOCK_FOLLOW_H

#include <stdint.h>
#include <sys/types.h>

#include "jobs.h"
#include "util.h"

struct follow;
struct follower;

/* How a follower sleeps and wakes (for libmicrohttpd: MHD_suspend_connection and
 * MHD_resume_connection). park(ctx) is called from inside follow_read, with follow's lock held,
 * when there is nothing to send; wake(ctx) is called later exactly once for that park, from the
 * follow thread or the jobs supervisor, without follow's lock. Neither may call into follow. */
struct follow_ops {
    void (*park)(void *ctx);
    void (*wake)(void *ctx);
};

/* Creates the inotify descriptor and starts the follow thread. jobs (borrowed) must outlive
 * it; the job directories are <state_dir>/jobs/<id>. Returns 0 or -errno with err. */
int follow_new(struct jobs *jobs, const char *state_dir, struct follow **ret, struct err *err);
/* Wakes every parked follower, refuses to park any again (follow_read then ends a stream whose
 * job has not ended with -ESHUTDOWN) and stops the thread. Call after jobs_stop (which ends
 * every job) and before the HTTP server stops: it must not stop with a suspended connection.
 * NULL-safe; idempotent. */
void follow_stop(struct follow *f);
/* follow_stop, then frees. Every follower must have been closed. NULL-safe; returns NULL. */
struct follow *follow_free(struct follow *f);

/* Starts following stream ("stdout" or "stderr") of job id from byte offset. ctx is handed to
 * ops (both borrowed; they must stay valid until follow_close). On success *ret is the follower
 * (the caller frees it with follow_close). Errors: -ENOENT (no such job), -EINVAL (bad stream),
 * -ENOSPC (no inotify watch left: fs.inotify.max_user_watches), -ESHUTDOWN (stopping),
 * -ENOMEM, -EIO. */
int follow_open(struct follow *f, const char *id, const char *stream, uint64_t offset,
                const struct follow_ops *ops, void *ctx, struct follower **ret);
/* Copies up to max next bytes into buf. Returns the count (> 0); 0 once the job has ended and
 * every byte was returned; -EAGAIN when there is nothing yet: ops->park(ctx) has been called
 * and ops->wake(ctx) will follow, after which the caller reads again; -ESHUTDOWN when the
 * daemon stops first; another -errno on a read error. Only one thread at a time may read. */
ssize_t follow_read(struct follower *fl, char *buf, size_t max);
/* Stops following and frees fl (first leaving jobs_watch, so the end callback is not running).
 * Safe while fl is parked: it is then never woken. Not while a wake is in flight, which cannot
 * happen through the HTTP server: a suspended connection is not torn down. NULL-safe. */
void follow_close(struct follower *fl);

#endif
