/*
 * jobs: the job table, the queue, the lifecycle and the supervisor loop. It turns a validated
 * request into a sandbox spec, starts it through the spawner (or queues it), pumps its output
 * into files with the output cap, enforces the wall timeout and the cgroup limits, records every
 * state change in the store before anyone is told, and starts the next queued job when one
 * ends. It knows nothing of HTTP: the API calls these functions and maps their errors.
 *
 * Lifecycle (docs/internals/jobs.md): queued -> running -> succeeded | failed | timed_out |
 * canceled; queued -> canceled; and at start-up, running/queued -> lost (daemon_restart).
 */
#ifndef AIRLOCK_JOBS_H
#define AIRLOCK_JOBS_H

#include <jansson.h>
#include <sys/stat.h>

#include "cgroup.h"
#include "config.h"
#include "policies.h"
#include "probe.h"
#include "proxy.h"
#include "spawner.h"
#include "store.h"
#include "util.h"
#include "workspaces.h"

struct jobs_deps {
    const struct config *cfg;
    struct store *store;
    struct policies *policies;
    struct spawner *spawner;
    struct cgroup_pool *cgroups; /* may enforce nothing */
    const struct probe *probe;
    struct proxy *proxy; /* serves each running job's listener */
    struct workspaces *workspaces;
};

/* A validated POST /v1/jobs body (jobs_request.c). Strings point into the JSON it was parsed
 * from; json values are borrowed references. */
struct job_request {
    json_t *command; /* array of 1..SANDBOX_ARGV_MAX strings */
    const char *policy;
    json_t *env; /* object string -> string, or NULL */
    const char *stdin_data;
    size_t stdin_len;
    json_t *files;   /* object relative path -> string, or NULL */
    const char *cwd; /* relative to /workspace, "" for /workspace itself */
    bool has_timeout;
    uint64_t timeout_s;
    json_t *limits;        /* object, or NULL */
    json_t *labels;        /* object string -> string, or NULL */
    const char *workspace; /* a persistent workspace's id, or NULL */
    bool wait;
    /* Set by the API, not by job_request_parse: the Idempotency-Key header (1..128 printable
     * bytes) and the SHA-256 (hex) of the exact body bytes, or both NULL. */
    const char *idem_key;
    const char *idem_sha256;
};

/* Checks a request body: types, unknown fields, paths, sizes. Policy-dependent checks (the
 * policy exists, limits only tighten) are jobs_submit's. Returns 0 or -EINVAL with err naming
 * the field ("files./etc/passwd: must be a relative path without \"..\""). */
int job_request_parse(json_t *body, struct job_request *ret, struct err *err);

/* Checks a labels object (jobs' and workspaces'): string -> string, keys without ':', sizes.
 * Returns 0 or -EINVAL with err naming the label. */
int job_labels_check(json_t *v, struct err *err);

/* True when p is a relative path inside a workspace: no leading '/', no "." / ".." / empty
 * segment, no control bytes (allow_empty: "" names the workspace itself). */
bool job_path_valid(const char *p, bool allow_empty);

struct jobs;

int jobs_new(const struct jobs_deps *deps, struct jobs **ret, struct err *err);
/* Starts the supervisor thread. */
int jobs_start(struct jobs *j, struct err *err);
/* Stops the supervisor, kills running jobs and records them (and queued ones) as lost with
 * reason daemon_restart, and answers every waiting client. Call before the API stops. */
void jobs_stop(struct jobs *j);
/* jobs_stop if not done, then frees. NULL-safe; returns NULL. */
struct jobs *jobs_free(struct jobs *j);

/* Creates the job (stored as queued), then starts it or leaves it queued. On success copies
 * its id to ret_id. Errors: -EINVAL (err names the field), -EAGAIN (running and queue full:
 * too_many_jobs), -ENOMEM, -EIO.
 * With req->idem_key: when a live key names a job already (store_idem_get), nothing is created
 * and it returns 1 with that job's id in ret_id if the body hashes the same, or -EEXIST with
 * err->code "conflict" if it does not. Otherwise the key is stored with the new job, in one
 * transaction, and checked and inserted under the jobs lock: of concurrent submissions with one
 * key exactly one creates a job. A refused submission (-EINVAL, -EAGAIN) keeps no key. */
int jobs_submit(struct jobs *j, const struct job_request *req, char *ret_id, size_t n,
                struct err *err);
/* The job object of api.md (new reference), or NULL with *ret_errno -ENOENT / -ENOMEM. */
json_t *jobs_get_json(struct jobs *j, const char *id, int *ret_errno);
/* {"jobs": [...], "next": id|null}. -EINVAL for a bad filter, -ENOENT for an unknown before. */
int jobs_list_json(struct jobs *j, const struct store_job_filter *f, json_t **ret);
/* Kills the process tree (or dequeues). -ENOENT; -EALREADY once ended. */
int jobs_cancel(struct jobs *j, const char *id);
/* Forgets an ended job: its row, output and workspace. -ENOENT; -EBUSY while queued/running. */
int jobs_delete(struct jobs *j, const char *id);
/* 0 when the job exists (in the store), else -ENOENT. */
int jobs_exists(struct jobs *j, const char *id);
/* Opens stdout or stderr of a job for reading. -ENOENT. */
int jobs_output_open(struct jobs *j, const char *id, const char *stream, int *ret_fd);
/* Opens a regular file (or a directory, *ret_is_dir) of the job's workspace -- its own, or the
 * persistent one it ran in -- never following a symlink and never leaving the workspace
 * (ws_open_file). -ENOENT, -EINVAL (bad path), -ELOOP / -EXDEV / -EMLINK / -ENXIO (refused). */
int jobs_file_open(struct jobs *j, const char *id, const char *path, int *ret_fd, bool *ret_is_dir);

/* Calls fn(ctx) once, with the jobs lock held (fn must not call back into jobs), when the job
 * has ended and its end is stored, or when jobs_stop answers every watcher. Returns 0
 * (registered), 1 (already ended: not registered), -ENOENT or -ENOMEM. */
typedef void (*jobs_watch_fn)(void *ctx);
int jobs_watch(struct jobs *j, const char *id, jobs_watch_fn fn, void *ctx);
/* What a watcher waits for: the end only (jobs_watch), or the job's next change of status --
 * queued -> running, stored as running, or the end, whichever comes first. */
enum jobs_watch_on { JOBS_WATCH_END, JOBS_WATCH_CHANGE };
/* jobs_watch, for the event `on`. Same calls and returns. */
int jobs_watch_on(struct jobs *j, const char *id, enum jobs_watch_on on, jobs_watch_fn fn,
                  void *ctx);
/* Removes a registration (the client went away, or its wait timed out). Returns true when it
 * was removed, so fn will never be called; false when fn has been called already (or it was
 * never registered). */
bool jobs_unwatch(struct jobs *j, const char *id, void *ctx);

/* Graceful stop (SIGTERM): from now on jobs_submit refuses with -ESHUTDOWN; queued jobs end
 * canceled with reason shutdown, running ones are killed and end the same way once their end
 * is recorded. Returns how many jobs were active; jobs_counts tells when none is left. */
int jobs_shutdown(struct jobs *j);

/* 0 when the state volume has at least min_free_mb free (or the check is off), else -ENOSPC
 * with err (code "unavailable") saying how much is left. */
int jobs_check_free(const struct config *cfg, struct err *err);

/* Counts for /healthz. */
void jobs_counts(struct jobs *j, unsigned *running, unsigned *queued);

#endif
