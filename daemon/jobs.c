/*
 * jobs: see jobs.h. One mutex guards the table of active (queued and running) jobs; one
 * supervisor thread runs the epoll loop over the spawner's event socket, each running job's
 * output pipes and proxy listener, and a 100 ms timer for the wall timeout, the CPU and disk
 * caps. Ended jobs live only in the store. A state change is written to the store before the
 * lock is released, so nothing the API answers is ahead of the store.
 */
#include "jobs.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "jobs_fs.h"
#include "workspaces.h"
#include "log.h"
#include "metrics.h"
#include "sandbox.h"

#define JOBS_TICK_MS 100
#define JOBS_DISK_EVERY_MS 250
#define JOBS_DRAIN_GRACE_MS                                                                        \
    2000 /* output pipes or proxy connections still open this long after the end: close */
#define JOBS_PIPE_CHUNK 65536
#define JOBS_NOFILE 4096
#define MIB (1024ULL * 1024ULL)

enum watch_kind { WATCH_STDOUT, WATCH_STDERR };

struct job;

struct watch {
    struct job *job;
    enum watch_kind kind;
};

struct job {
    struct store_job rec;
    struct policy *policy;
    struct policy_limits limits;
    json_t *command, *env;
    char cwd[1100];
    bool has_stdin;
    struct ws_use ws;  /* a persistent workspace (ws.id[0] != 0); ws.dirfd becomes ws_fd */
    uint64_t disk_cap; /* the workspace's size that ends the job with disk_limit (0: none) */
    /* running */
    int pidfd, out_fd, err_fd, out_file, err_file, ws_fd;
    struct watch w_out, w_err;
    struct proxy_job *proxy; /* its listener, served by the proxy */
    int64_t deadline_ms, next_disk_ms, exited_ms;
    struct cgroup_job *cg;
    bool running, exited;
    bool starting; /* the spawner is running it, with the lock released: not to be ended */
    struct spawner_event ev;
    const char *kill_reason;
    struct job *next;
};

struct watcher {
    char id[STORE_ID_MAX];
    enum jobs_watch_on on;
    jobs_watch_fn fn;
    void *ctx;
    struct watcher *next;
};

struct jobs {
    struct jobs_deps d;
    pthread_mutex_t lock;
    struct job *active; /* queued and running, in creation order */
    unsigned running, queued;
    struct watcher *watchers;
    int epfd, timerfd, stop[2], spawn_fd;
    int jobs_dirfd;
    char jobs_dir[PATH_MAX];
    char run_root[PATH_MAX];
    pthread_t thread;
    bool thread_started;
    bool stopping; /* jobs_shutdown: no new job; those left are canceled with reason shutdown */
    /* Retention (retention_hours, record_retention_days): its own thread, once a minute. */
    pthread_t retention;
    bool retention_started, retention_stop;
    pthread_cond_t retention_wake;
    int64_t retention_mark;     /* files of jobs that ended up to here are removed already */
    struct cgroup_job *next_cg; /* reserved for the next job: its warm child waits in it */
    unsigned starting;          /* spawns in flight with the lock released */
    bool start_pending;         /* a slot freed inside the supervisor's batch */
    pthread_cond_t idle;        /* signalled when starting drops to 0 */
    /* Cgroups of ended jobs, released by the supervisor after it drops the lock: a release
     * reclaims memory (~1 ms) and an API thread answering a waiting client needs the lock. */
    struct cgroup_job *to_release[64];
    size_t nrelease;
};

static void start_queued(struct jobs *j);

/* ---- small helpers ---- */

/* mkdirat with exactly mode (the daemon's umask is 077). EEXIST is not an error. */
static int
mkdir_mode(int dirfd, const char *path, mode_t mode)
{
    if (mkdirat(dirfd, path, mode) < 0 && errno != EEXIST)
        return -errno;
    return fchmodat(dirfd, path, mode, 0) < 0 ? -errno : 0;
}

static struct job *
find_active(struct jobs *j, const char *id)
{
    for (struct job *x = j->active; x; x = x->next)
        if (strcmp(x->rec.id, id) == 0)
            return x;
    return NULL;
}

static void
close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void
job_free(struct jobs *j, struct job *x)
{
    if (!x)
        return;
    if (x->ws.id[0]) {
        workspaces_touch(j->d.workspaces, x->ws.id, 0);
        workspaces_release(j->d.workspaces, x->ws.id);
    }
    policy_unref(x->policy);
    json_decref(x->command);
    json_decref(x->env);
    close_fd(&x->pidfd);
    close_fd(&x->out_fd);
    close_fd(&x->err_fd);
    close_fd(&x->out_file);
    close_fd(&x->err_file);
    close_fd(&x->ws_fd);
    close_fd(&x->ws.dirfd);
    store_job_clear(&x->rec);
    free(x);
}

static void
unlink_active(struct jobs *j, struct job *x)
{
    for (struct job **p = &j->active; *p; p = &(*p)->next)
        if (*p == x) {
            *p = x->next;
            return;
        }
}

/* Calls and removes the watchers of id that wait for `on` (JOBS_WATCH_END: all of them, the
 * end being a change too). Called with the lock held; the callbacks only resume HTTP
 * connections and do not call back into jobs. */
static void
notify_on(struct jobs *j, const char *id, enum jobs_watch_on on)
{
    struct watcher **p = &j->watchers;

    while (*p) {
        struct watcher *w = *p;
        if (strcmp(w->id, id) == 0 && (on == JOBS_WATCH_END || w->on == on)) {
            *p = w->next;
            w->fn(w->ctx);
            free(w);
        } else {
            p = &w->next;
        }
    }
}

/* The job ended and its end is stored: every watcher of id is answered. */
static void
notify(struct jobs *j, const char *id)
{
    notify_on(j, id, JOBS_WATCH_END);
}

/* ---- the job object ---- */

static json_t *
time_or_null(int64_t ms)
{
    char buf[40];

    if (!ms)
        return json_null();
    time_rfc3339(buf, sizeof(buf), ms);
    return json_string(buf);
}

static json_t *
record_json(const struct store_job *r)
{
    json_t *command = json_loads(r->command_json ? r->command_json : "[]", 0, NULL);
    json_t *labels = json_loads(r->labels_json ? r->labels_json : "{}", 0, NULL);
    json_t *spec = r->spec_json ? json_loads(r->spec_json, 0, NULL) : NULL;
    /* duration_ms is null until the end: a running job's object changes only when something
     * happens, so its ETag holds between polls. */
    json_t *o = json_pack(
        "{s:s, s:s, s:s?, s:o, s:o, s:o, s:o, s:s?, s:o, s:o, s:o, s:o, s:{s:I, s:I}, "
        "s:{s:I, s:I}, s:I, s:I, s:b, s:b}",
        "id", r->id, "status", r->status, "policy", r->policy, "command",
        command ? command : json_array(), "labels", labels ? labels : json_object(), "exit_code",
        r->has_exit_code ? json_integer(r->exit_code) : json_null(), "signal",
        r->has_signal ? json_integer(r->signal) : json_null(), "reason", r->reason, "created_at",
        time_or_null(r->created_ms), "started_at", time_or_null(r->started_ms), "finished_at",
        time_or_null(r->finished_ms), "duration_ms",
        r->started_ms && r->finished_ms ? json_integer(r->finished_ms - r->started_ms)
                                        : json_null(),
        "usage", "cpu_ms", (json_int_t)r->cpu_ms, "max_rss_kb", (json_int_t)r->max_rss_kb, "egress",
        "allowed", (json_int_t)r->egress_allowed, "denied", (json_int_t)r->egress_denied,
        "stdout_bytes", (json_int_t)r->stdout_bytes, "stderr_bytes", (json_int_t)r->stderr_bytes,
        "stdout_truncated", r->stdout_truncated, "stderr_truncated", r->stderr_truncated);

    if (o)
        json_object_set_new(o, "workspace", r->workspace ? json_string(r->workspace) : json_null());
    if (o && spec) {
        json_object_set(o, "timeout_s", json_object_get(spec, "timeout_s"));
        json_object_set(o, "limits", json_object_get(spec, "limits"));
        json_object_set(o, "cwd", json_object_get(spec, "cwd"));
    }
    json_decref(spec);
    return o;
}

/* A queued or running job: its record with the proxy's live egress counts. */
static json_t *
active_json(struct job *x)
{
    if (x->proxy)
        proxy_job_counts(x->proxy, &x->rec.egress_allowed, &x->rec.egress_denied);
    return record_json(&x->rec);
}

json_t *
jobs_get_json(struct jobs *j, const char *id, int *ret_errno)
{
    struct store_job rec = {0};
    struct job *x;
    json_t *o;
    int r;

    if (!id_valid(id, 'j', STORE_ID_MAX)) {
        *ret_errno = -ENOENT;
        return NULL;
    }
    pthread_mutex_lock(&j->lock);
    x = find_active(j, id);
    if (x) {
        o = active_json(x);
        pthread_mutex_unlock(&j->lock);
        *ret_errno = o ? 0 : -ENOMEM;
        return o;
    }
    pthread_mutex_unlock(&j->lock);
    if ((r = store_job_get(j->d.store, id, &rec)) < 0) {
        *ret_errno = r;
        return NULL;
    }
    o = record_json(&rec);
    store_job_clear(&rec);
    *ret_errno = o ? 0 : -ENOMEM;
    return o;
}

int
jobs_list_json(struct jobs *j, const struct store_job_filter *f, json_t **ret)
{
    struct store_job *rows = NULL;
    size_t n = 0;
    json_t *arr, *o;
    int r;

    if ((r = store_job_list(j->d.store, f, &rows, &n)) < 0)
        return r;
    arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        struct job *x;
        pthread_mutex_lock(&j->lock);
        x = find_active(j, rows[i].id);
        json_array_append_new(arr, x ? active_json(x) : record_json(&rows[i]));
        pthread_mutex_unlock(&j->lock);
    }
    o = json_pack("{s:o?, s:s?}", "jobs", arr, "next",
                  n == f->limit && n > 0 ? rows[n - 1].id : NULL);
    store_job_list_free(rows, n);
    if (!o)
        return -ENOMEM;
    *ret = o;
    return 0;
}

void
jobs_counts(struct jobs *j, unsigned *running, unsigned *queued)
{
    pthread_mutex_lock(&j->lock);
    *running = j->running;
    *queued = j->queued;
    pthread_mutex_unlock(&j->lock);
}

/* ---- ending ---- */

static void
job_kill(struct job *x, const char *reason)
{
    if (!x->kill_reason)
        x->kill_reason = reason;
    if (x->pidfd >= 0)
        syscall(SYS_pidfd_send_signal, x->pidfd, SIGKILL, NULL, 0);
    if (x->cg)
        cgroup_job_kill(x->cg);
}

static int
set_reason(struct store_job *r, const char *reason)
{
    free(r->reason);
    r->reason = reason ? strdup(reason) : NULL;
    return reason && !r->reason ? -ENOMEM : 0;
}

/* Decides status and reason from how the job ended (docs/internals/jobs.md). */
static void
decide_end(struct job *x, const struct cgroup_usage *u)
{
    struct store_job *r = &x->rec;
    int st = x->ev.has_cmd_status ? x->ev.cmd_status : x->ev.init_status;
    bool cmd_known = x->ev.has_cmd_status;

    r->has_exit_code = cmd_known && WIFEXITED(st);
    r->exit_code = r->has_exit_code ? WEXITSTATUS(st) : 0;
    r->has_signal = cmd_known && WIFSIGNALED(st);
    r->signal = r->has_signal ? WTERMSIG(st) : 0;
    if (x->kill_reason) {
        const char *k = x->kill_reason;
        str_copy(r->status, sizeof(r->status),
                 strcmp(k, "timeout") == 0                                  ? "timed_out"
                 : strcmp(k, "canceled") == 0 || strcmp(k, "shutdown") == 0 ? "canceled"
                                                                            : "failed");
        set_reason(r, k);
        return;
    }
    if (r->has_exit_code && r->exit_code == 0) {
        str_copy(r->status, sizeof(r->status), "succeeded");
        return;
    }
    str_copy(r->status, sizeof(r->status), "failed");
    if (u->memory_limit_hit)
        set_reason(r, "memory_limit");
    else if (r->has_signal &&
             (r->signal == SIGXCPU ||
              (r->signal == SIGKILL && (uint64_t)r->cpu_ms >= x->limits.cpu_s * 1000)))
        set_reason(r, "cpu_limit");
    else if (u->pids_limit_hit)
        set_reason(r, "pids_limit");
    else if (!cmd_known)
        set_reason(r, "killed");
}

static void
finalize(struct jobs *j, struct job *x)
{
    struct cgroup_usage u = {0};
    uint64_t cap = x->disk_cap;
    int r;

    /* The disk cap is checked while the job runs and once more at its end, so a job that
     * wrote past it and exited between two checks still ends with disk_limit. */
    if (!x->kill_reason && cap && x->ws_fd >= 0 && fs_usage(x->ws_fd, cap) > cap)
        x->kill_reason = "disk_limit";
    if (x->cg)
        cgroup_job_usage(x->cg, &u);
    x->rec.cpu_ms = u.cpu_ns ? (int64_t)(u.cpu_ns / 1000000) : x->ev.cpu_us / 1000;
    x->rec.max_rss_kb = u.memory_peak ? (int64_t)(u.memory_peak / 1024) : x->ev.max_rss_kb;
    decide_end(x, &u);
    x->rec.finished_ms = time_now_ms();
    /* The proxy stores the job's egress events (and their counts on its row) first, so a
     * client told of the end reads every event of the job. */
    proxy_job_detach(j->d.proxy, TAKE_PTR(x->proxy));
    if ((r = store_job_update(j->d.store, &x->rec)) < 0)
        log_error("job.store", "job %s: cannot record its end: %s", x->rec.id, strerror(-r));
    metrics_job_ended(x->rec.status);
    log_info("job.end", "job %s %s%s%s exit=%d cpu_ms=%lld stdout=%lld stderr=%lld", x->rec.id,
             x->rec.status, x->rec.reason ? " reason=" : "", x->rec.reason ? x->rec.reason : "",
             x->rec.has_exit_code ? x->rec.exit_code : -1, (long long)x->rec.cpu_ms,
             (long long)x->rec.stdout_bytes, (long long)x->rec.stderr_bytes);
    notify(j, x->rec.id);
    if (x->cg && j->nrelease < ARRAY_SIZE(j->to_release))
        j->to_release[j->nrelease++] = x->cg; /* released after the lock (supervisor) */
    else
        cgroup_job_release(j->d.cgroups, x->cg);
    x->cg = NULL;
    unlink_active(j, x);
    j->running--;
    job_free(j, x);
    /* Not started here: the supervisor may be walking the job list; it starts queued jobs
     * once its batch is done (start_job releases the lock while it spawns). */
    j->start_pending = true;
}

static void
maybe_finalize(struct jobs *j, struct job *x)
{
    if (x->exited && !x->starting && x->out_fd < 0 && x->err_fd < 0 &&
        (!x->proxy || proxy_job_idle(j->d.proxy, x->proxy)))
        finalize(j, x);
}

/* Ends a job that never ran (spawn failure, kernel refusal, cancel while queued). */
static void
end_unstarted(struct jobs *j, struct job *x, const char *status, const char *reason)
{
    int r;

    str_copy(x->rec.status, sizeof(x->rec.status), status);
    set_reason(&x->rec, reason);
    x->rec.finished_ms = time_now_ms();
    if ((r = store_job_update(j->d.store, &x->rec)) < 0)
        log_error("job.store", "job %s: cannot record its end: %s", x->rec.id, strerror(-r));
    metrics_job_ended(status);
    log_info("job.end", "job %s %s reason=%s", x->rec.id, status, reason);
    unlink_active(j, x);
    notify(j, x->rec.id);
    job_free(j, x);
}

/* ---- starting ---- */

static int
add_env(struct sandbox_spec *s, const struct job *x)
{
    static const char *const base[][2] = {
        {"PATH", "/usr/local/bin:/usr/bin:/bin"},
        {"HOME", "/workspace"},
        {"LANG", "C.UTF-8"},
        {"TMPDIR", "/tmp"},
        {"HTTP_PROXY", "http://127.0.0.1:3128"},
        {"HTTPS_PROXY", "http://127.0.0.1:3128"},
        {"http_proxy", "http://127.0.0.1:3128"},
        {"https_proxy", "http://127.0.0.1:3128"},
        {"ALL_PROXY", "http://127.0.0.1:3128"},
        {"all_proxy", "http://127.0.0.1:3128"},
        {"NO_PROXY", ""},
        {"no_proxy", ""},
    };
    const char *k;
    json_t *v;
    int r;

    for (size_t i = 0; i < ARRAY_SIZE(base); i++) {
        if (x->env && json_object_get(x->env, base[i][0]))
            continue; /* PATH, HOME, LANG, TMPDIR may be replaced; proxies cannot (request) */
        if ((r = sandbox_spec_add_env(s, base[i][0], base[i][1])) < 0)
            return r;
    }
    json_object_foreach(x->env, k, v)
    {
        if ((r = sandbox_spec_add_env(s, k, json_string_value(v))) < 0)
            return r;
    }
    return 0;
}

static int
add_mounts(struct sandbox_spec *s, const struct policy *p)
{
    const char *const *paths;
    size_t n;
    int r;

    n = policy_fs_read_only(p, &paths);
    for (size_t i = 0; i < n; i++)
        if ((r = sandbox_spec_add_mount(s, paths[i], 0)) < 0)
            return r;
    n = policy_fs_read_write(p, &paths);
    for (size_t i = 0; i < n; i++)
        if ((r = sandbox_spec_add_mount(s, paths[i], SANDBOX_MNT_RW)) < 0)
            return r;
    return 0;
}

static int
spec_str(struct sandbox_spec *s, uint32_t *field, const char *value)
{
    int off = sandbox_spec_str(s, value);

    if (off < 0)
        return off;
    *field = (uint32_t)off;
    return 0;
}

static int
build_spec(struct jobs *j, struct job *x, struct sandbox_spec *s)
{
    const struct config *cfg = j->d.cfg;
    char path[PATH_MAX], procs[CGROUP_CTRL_COUNT][PATH_MAX];
    size_t i, ncg;
    json_t *a;
    int r;

    sandbox_spec_init(s, x->rec.id);
    json_array_foreach(x->command, i, a)
    {
        if ((r = sandbox_spec_add_arg(s, json_string_value(a))) < 0)
            return r;
    }
    if ((r = add_env(s, x)) < 0 || (r = add_mounts(s, x->policy)) < 0)
        return r;
    if (x->ws.id[0])
        str_copy(path, sizeof(path), x->ws.dir);
    else if (str_printf(path, sizeof(path), "%s/%s/workspace", j->jobs_dir, x->rec.id) < 0)
        return -ENAMETOOLONG;
    if ((r = spec_str(s, &s->workspace, path)) < 0)
        return r;
    snprintf(path, sizeof(path), "/workspace%s%s", x->cwd[0] ? "/" : "", x->cwd);
    if ((r = spec_str(s, &s->cwd, path)) < 0 || (r = spec_str(s, &s->root_dir, j->run_root)) < 0)
        return r;
    if (x->has_stdin) {
        if (str_printf(path, sizeof(path), "%s/%s/stdin", j->jobs_dir, x->rec.id) < 0)
            return -ENAMETOOLONG;
        if ((r = spec_str(s, &s->stdin_path, path)) < 0)
            return r;
    }
    s->tmp_bytes = x->limits.disk_mb * MIB;
    s->host_uid = geteuid() == 0 ? cfg->job_uid : geteuid();
    s->host_gid = geteuid() == 0 ? cfg->job_gid : getegid();
    s->setgroups_deny = geteuid() != 0;
    if (x->ws.adopted) {
        /* The owner's files are the job's own inside, and what the job makes is the owner's
         * outside (a root daemon; an unprivileged one adopts only its own directories). */
        s->idmap =
            geteuid() == 0 && (x->ws.owner_uid != s->host_uid || x->ws.owner_gid != s->host_gid);
        s->idmap_uid = x->ws.owner_uid;
        s->idmap_gid = x->ws.owner_gid;
        for (i = 0; i < cfg->nprotected_paths && i < SANDBOX_PROTECTED_MAX; i++)
            if ((r = spec_str(s, &s->protected_paths[i], cfg->protected_paths[i])) < 0 ||
                (r = spec_str(s, &s->protected_placeholders[i], cfg->protected_placeholders[i])) <
                    0)
                return r;
        s->nprotected = (uint32_t)i;
    }
    s->landlock_abi = j->d.probe->landlock_abi;
    s->rlimits = (struct sandbox_rlimits){
        .cpu_s = x->limits.cpu_s,
        .as_bytes =
            cgroup_pool_enforces(j->d.cgroups, CGROUP_MEMORY) ? 0 : x->limits.memory_mb * MIB,
        .nproc = cgroup_pool_enforces(j->d.cgroups, CGROUP_PIDS) ? 0 : x->limits.pids,
        .fsize_bytes = x->limits.disk_mb * MIB,
        .nofile = JOBS_NOFILE,
    };
    ncg = x->cg ? cgroup_job_procs_files(x->cg, procs, CGROUP_CTRL_COUNT) : 0;
    for (i = 0; i < ncg && i < SANDBOX_CGROUPS_MAX; i++)
        if ((r = spec_str(s, &s->cgroup_procs[i], procs[i])) < 0)
            return r;
    s->ncgroups = (uint32_t)i;
    ncg = j->next_cg ? cgroup_job_procs_files(j->next_cg, procs, CGROUP_CTRL_COUNT) : 0;
    for (i = 0; i < ncg && i < SANDBOX_CGROUPS_MAX; i++)
        if ((r = spec_str(s, &s->next_cgroup_procs[i], procs[i])) < 0)
            return r;
    s->nnext_cgroups = (uint32_t)i;
    return 0;
}

/* What the kernel must offer before any job runs (fail closed). */
static const char *
kernel_missing(const struct jobs *j)
{
    const struct probe *p = j->d.probe;

    if (!p->ns_user || !p->ns_mount || !p->ns_pid || !p->ns_net || !p->ns_ipc || !p->ns_uts ||
        !p->ns_cgroup)
        return "the kernel lacks a namespace the sandbox needs (user, mount, pid, net, ipc, "
               "uts, cgroup): see /healthz";
    if (!p->seccomp_filter)
        return "the kernel lacks seccomp filters";
    if (!p->pidfd)
        return "the kernel lacks pidfd_open";
    if (j->d.cfg->require_landlock && p->landlock_abi < 1)
        return "the kernel lacks Landlock and the config requires it (require_landlock)";
    return NULL;
}

static int
watch_add(struct jobs *j, int fd, struct watch *w)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};

    fcntl(fd, F_SETFL, O_NONBLOCK);
    return epoll_ctl(j->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int
open_output(struct jobs *j, const char *id, const char *name)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", id, name);
    return openat(j->jobs_dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
}

static int
attach_running(struct jobs *j, struct job *x, const struct spawner_result *res)
{
    int r;

    x->pidfd = res->pidfd;
    x->out_fd = res->stdout_fd;
    x->err_fd = res->stderr_fd;
    x->w_out = (struct watch){x, WATCH_STDOUT};
    x->w_err = (struct watch){x, WATCH_STDERR};
    /* The listener goes to the proxy in every case (it closes it on failure). */
    if ((r = proxy_job_attach(j->d.proxy, x->rec.id, x->policy, res->listener_fd, &x->proxy)) < 0)
        return r;
    if (x->exited) /* its end came while it was being spawned */
        proxy_job_close(j->d.proxy, x->proxy);
    x->out_file = open_output(j, x->rec.id, "stdout");
    x->err_file = open_output(j, x->rec.id, "stderr");
    if (x->out_file < 0 || x->err_file < 0)
        return -errno;
    if (watch_add(j, x->out_fd, &x->w_out) < 0 || watch_add(j, x->err_fd, &x->w_err) < 0)
        return -errno;
    return 0;
}

static int
acquire_cgroup(struct jobs *j, struct job *x, struct err *err)
{
    struct cgroup_limits cl = {.memory_bytes = x->limits.memory_mb * MIB, .pids = x->limits.pids};
    static const struct cgroup_limits none = {0};
    int r;

    if (j->next_cg) {
        x->cg = TAKE_PTR(j->next_cg);
        r = cgroup_job_set_limits(x->cg, &cl, err);
    } else {
        r = cgroup_job_acquire(j->d.cgroups, &cl, &x->cg, err);
    }
    /* The next job's cgroups, reserved now so the spawner can put the next warm child in
     * them off the start path. Without one the next start just acquires its own. */
    if (r == 0 && cgroup_job_acquire(j->d.cgroups, &none, &j->next_cg, NULL) < 0)
        j->next_cg = NULL;
    return r;
}

/* Starts a queued job (lock held). On failure the job ends as failed with the reason. */
static void
start_job(struct jobs *j, struct job *x)
{
    _cleanup_free_ struct sandbox_spec *spec = malloc(sizeof(*spec));
    struct spawner_result res = {.pidfd = -1};
    struct err err = {0};
    const char *missing = kernel_missing(j);
    char reason[ERR_MSG_MAX + 32];
    int r;

    j->queued--;
    if (missing) {
        end_unstarted(j, x, "failed", missing);
        return;
    }
    if (!spec || (r = acquire_cgroup(j, x, &err)) < 0 || (r = build_spec(j, x, spec)) < 0) {
        snprintf(reason, sizeof(reason), "spawn failed: %s",
                 err.message[0] ? err.message : "the job does not fit a sandbox spec");
        cgroup_job_release(j->d.cgroups, x->cg);
        x->cg = NULL;
        end_unstarted(j, x, "failed", reason);
        return;
    }
    /* The spawn (a few ms) runs without the lock, so other jobs are submitted, started and
     * ended meanwhile. This job holds a running slot and is marked starting: nothing ends or
     * frees it until it is attached below (a cancel only records its reason). */
    j->running++;
    x->running = true;
    x->starting = true;
    j->starting++;
    pthread_mutex_unlock(&j->lock);
    int64_t t0 = time_mono_us();
    r = spawner_spawn(j->d.spawner, spec, &res, &err);
    int64_t spawn_us = time_mono_us() - t0;
    pthread_mutex_lock(&j->lock);
    x->starting = false;
    if (--j->starting == 0)
        pthread_cond_broadcast(&j->idle);
    if (r < 0) {
        snprintf(reason, sizeof(reason), "spawn failed: %s", err.message);
        cgroup_job_release(j->d.cgroups, x->cg);
        x->cg = NULL;
        x->running = false;
        j->running--;
        /* A cancel or the timeout that came while it was spawned is its end, not the spawn. */
        if (x->kill_reason)
            end_unstarted(j, x, strcmp(x->kill_reason, "canceled") == 0 ? "canceled" : "failed",
                          x->kill_reason);
        else
            end_unstarted(j, x, "failed", reason);
        return;
    }
    metrics_job_started();
    metrics_spawn_seconds((double)spawn_us / 1e6);
    x->rec.started_ms = time_now_ms();
    x->deadline_ms = time_mono_ms() + (int64_t)x->limits.timeout_s * 1000;
    x->next_disk_ms = time_mono_ms() + JOBS_DISK_EVERY_MS;
    str_copy(x->rec.status, sizeof(x->rec.status), "running");
    if ((r = attach_running(j, x, &res)) < 0)
        job_kill(x, "spawn failed: cannot attach the job's output");
    else if (x->kill_reason)
        job_kill(x, x->kill_reason); /* canceled while it was being spawned */
    if ((r = store_job_update(j->d.store, &x->rec)) < 0)
        log_error("job.store", "job %s: cannot record its start: %s", x->rec.id, strerror(-r));
    notify_on(j, x->rec.id, JOBS_WATCH_CHANGE); /* long-polls: queued -> running */
    log_info("job.start", "job %s pid %d policy %s spawn %.2fms", x->rec.id, res.pid, x->rec.policy,
             (double)spawn_us / 1000.0);
    maybe_finalize(j, x); /* it may have ended already (its exit event came first) */
}

static void
start_queued(struct jobs *j)
{
    while (j->running < j->d.cfg->max_running_jobs) {
        struct job *x = j->active;
        while (x && x->running)
            x = x->next;
        if (!x)
            return;
        start_job(j, x);
    }
}

/* ---- submitting ---- */

/* A job may tighten its policy's limits, never loosen them (policy_limits_tighten). */
static int
effective_limits(const struct job_request *req, const struct policy *p, struct policy_limits *ret,
                 struct err *err)
{
    struct policy_limits asked = {0};

    if (req->limits && policy_limits_parse(req->limits, "limits", &asked, err) < 0)
        return -EINVAL;
    if (req->has_timeout)
        asked.timeout_s = req->timeout_s;
    return policy_limits_tighten(p, &asked, ret, err);
}

static json_t *
spec_json(const struct job *x)
{
    const struct policy_limits *l = &x->limits;

    return json_pack("{s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:s}", "timeout_s",
                     (json_int_t)l->timeout_s, "limits", "timeout_s", (json_int_t)l->timeout_s,
                     "memory_mb", (json_int_t)l->memory_mb, "pids", (json_int_t)l->pids, "cpu_s",
                     (json_int_t)l->cpu_s, "output_bytes", (json_int_t)l->output_bytes, "disk_mb",
                     (json_int_t)l->disk_mb, "cwd", x->cwd);
}

static int
fill_record(struct job *x, const struct job_request *req)
{
    json_t *spec = spec_json(x);
    struct store_job *r = &x->rec;

    r->policy = strdup(policy_name(x->policy));
    r->command_json = json_dumps(req->command, JSON_COMPACT);
    r->labels_json = req->labels ? json_dumps(req->labels, JSON_COMPACT) : strdup("{}");
    r->spec_json = spec ? json_dumps(spec, JSON_COMPACT) : NULL;
    json_decref(spec);
    str_copy(r->status, sizeof(r->status), "queued");
    r->created_ms = time_now_ms();
    return r->policy && r->command_json && r->labels_json && r->spec_json ? 0 : -ENOMEM;
}

/* The job's directory, stdin and workspace, written before the job starts and never after
 * (a persistent workspace's files are written into it, replacing what is there). */
static int
prepare_dir(struct jobs *j, struct job *x, const struct job_request *req, struct err *err)
{
    uid_t uid = geteuid() == 0 ? j->d.cfg->job_uid : (uid_t)-1;
    gid_t gid = geteuid() == 0 ? j->d.cfg->job_gid : (gid_t)-1;
    const char *id = x->rec.id;
    char path[STORE_ID_MAX + 16];
    int fd, r;

    if (mkdirat(j->jobs_dirfd, id, 0700) < 0)
        return err_set(err, errno, "internal", "%s/%s: %m", j->jobs_dir, id);
    if (req->stdin_len) {
        snprintf(path, sizeof(path), "%s/stdin", id);
        fd = openat(j->jobs_dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, req->stdin_data, req->stdin_len) != (ssize_t)req->stdin_len) {
            r = -errno;
            if (fd >= 0)
                close(fd);
            return err_set(err, -r, "internal", "%s/%s: %s", j->jobs_dir, path, strerror(-r));
        }
        close(fd);
        x->has_stdin = true;
    }
    if (x->ws.id[0]) {
        x->ws_fd = TAKE_FD(x->ws.dirfd);
        uid = x->ws.owner_uid;
        gid = x->ws.owner_gid;
        x->disk_cap = x->ws.cap_bytes;
    } else {
        snprintf(path, sizeof(path), "%s/workspace", id);
        if (mkdirat(j->jobs_dirfd, path, 0700) < 0 ||
            (uid != (uid_t)-1 && fchownat(j->jobs_dirfd, path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0))
            return err_set(err, errno, "internal", "%s/%s: %m", j->jobs_dir, path);
        x->ws_fd = openat(j->jobs_dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (x->ws_fd < 0)
            return err_set(err, errno, "internal", "%s/%s: %m", j->jobs_dir, path);
        x->disk_cap = x->limits.disk_mb * MIB;
    }
    if (req->files &&
        (r = fs_write_files(x->ws_fd, req->files, uid, gid, x->ws.id[0] != 0, err)) < 0)
        return r;
    if (x->cwd[0] && (r = fs_mkdirs(x->ws_fd, x->cwd, uid, gid)) < 0)
        return err_set(err, -r, "bad_request", "cwd: cannot create \"%s\": %s", x->cwd,
                       strerror(-r));
    return 0;
}

static struct job *
job_new(void)
{
    struct job *x = calloc(1, sizeof(*x));

    if (!x)
        return NULL;
    x->pidfd = x->out_fd = x->err_fd = x->out_file = x->err_file = x->ws_fd = -1;
    x->ws.dirfd = -1;
    return x;
}

/* In an adopted workspace, files and cwd are written by the daemon as the owner: never into a
 * protected path (or a directory on the way to one), which jobs only see read-only. */
static int
check_protected(struct jobs *j, const struct job *x, const struct job_request *req, struct err *err)
{
    const char *path;
    json_t *v;

    if (!x->ws.adopted)
        return 0;
    json_object_foreach(req->files, path, v)
    {
        if (ws_path_protected(j->d.cfg, path))
            return err_set(err, EPERM, "bad_request",
                           "files.%.128s: is protected in an adopted workspace "
                           "(protected_paths in the daemon config)",
                           path);
    }
    if (x->cwd[0] && ws_path_protected(j->d.cfg, x->cwd))
        return err_set(err, EINVAL, "bad_request",
                       "cwd: \"%.128s\" is protected in an adopted workspace "
                       "(protected_paths in the daemon config)",
                       x->cwd);
    return 0;
}

/* With an Idempotency-Key: 1 with the first job's id in ret_id when a live key names one and
 * the body is the same, -EEXIST ("conflict") when the body differs, 0 when the key is free. */
static int
idem_lookup(struct jobs *j, const struct job_request *req, char *ret_id, size_t n, struct err *err)
{
    struct store_idem idem;
    int r;

    if (!req->idem_key)
        return 0;
    r = store_idem_get(j->d.store, req->idem_key, time_now_ms(), &idem);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return err_set(err, -r, "internal", "Idempotency-Key: cannot look the key up: %s",
                       strerror(-r));
    if (strcmp(idem.body_sha256, req->idem_sha256) != 0)
        return err_set(err, EEXIST, "conflict",
                       "Idempotency-Key: \"%.128s\" was sent within 24 h with another body (job "
                       "%s); send the same body to get that job, or a new key for a new job",
                       req->idem_key, idem.job_id);
    str_copy(ret_id, n, idem.job_id);
    return 1;
}

static int
job_insert(struct jobs *j, const struct job *x, const struct job_request *req)
{
    if (!req->idem_key)
        return store_job_insert(j->d.store, &x->rec);
    return store_job_insert_idem(j->d.store, &x->rec, req->idem_key, req->idem_sha256,
                                 time_now_ms());
}

int
jobs_submit(struct jobs *j, const struct job_request *req, char *ret_id, size_t n, struct err *err)
{
    struct job *x;
    int r;

    if (__atomic_load_n(&j->stopping, __ATOMIC_SEQ_CST))
        return err_set(err, ESHUTDOWN, "unavailable",
                       "the daemon is shutting down and takes no new jobs; retry when it is "
                       "back");
    if ((r = jobs_check_free(j->d.cfg, err)) < 0)
        return r;
    /* A retry is answered before anything else is checked (the policy may have gone since). */
    if ((r = idem_lookup(j, req, ret_id, n, err)) != 0)
        return r;
    if (!(x = job_new()))
        return -ENOMEM;
    x->policy = policies_name_valid(req->policy) ? policies_get(j->d.policies, req->policy) : NULL;
    if (!x->policy) {
        job_free(j, x);
        return err_set(err, EINVAL, "bad_request",
                       "policy: no policy named \"%.64s\" (GET /v1/policies lists them)",
                       req->policy);
    }
    if ((r = effective_limits(req, x->policy, &x->limits, err)) < 0) {
        job_free(j, x);
        return r;
    }
    x->command = json_incref(req->command);
    x->env = json_incref(req->env);
    str_copy(x->cwd, sizeof(x->cwd), req->cwd);
    id_make(x->rec.id, sizeof(x->rec.id), 'j');
    if (req->workspace) {
        struct ws_use use;
        if ((r = workspaces_acquire(j->d.workspaces, req->workspace, &use, err)) < 0) {
            job_free(j, x);
            return err->code && strcmp(err->code, "bad_request") == 0 ? -EINVAL : r;
        }
        x->ws = use; /* released by job_free from here on */
        x->rec.workspace = strdup(use.id);
        if (!x->rec.workspace) {
            job_free(j, x);
            return -ENOMEM;
        }
        if (check_protected(j, x, req, err) < 0) {
            job_free(j, x);
            return -EINVAL;
        }
    }
    pthread_mutex_lock(&j->lock);
    /* Again under the lock, which the insert below holds too: of two submissions with one key,
     * the second finds the first's key here. */
    if ((r = idem_lookup(j, req, ret_id, n, err)) != 0) {
        pthread_mutex_unlock(&j->lock);
        job_free(j, x);
        return r;
    }
    if (j->running >= j->d.cfg->max_running_jobs && j->queued >= j->d.cfg->max_queued_jobs) {
        pthread_mutex_unlock(&j->lock);
        job_free(j, x);
        return err_set(err, EAGAIN, "too_many_jobs",
                       "%u jobs running and %u queued: the limits (max_running_jobs, "
                       "max_queued_jobs) are reached; retry later",
                       j->running, j->queued);
    }
    if ((r = fill_record(x, req)) < 0 || (r = prepare_dir(j, x, req, err)) < 0 ||
        (r = job_insert(j, x, req)) < 0) {
        pthread_mutex_unlock(&j->lock);
        fs_remove_tree(j->jobs_dirfd, x->rec.id);
        job_free(j, x);
        if (err->code && strcmp(err->code, "bad_request") == 0)
            return -EINVAL; /* the request named something impossible (files, cwd) */
        if (r == -ENOMEM || r == -EIO || r == -EEXIST)
            return err_set(err, -r, "internal", "cannot record the job: %s", strerror(-r));
        return r;
    }
    if (x->ws.id[0])
        workspaces_touch(j->d.workspaces, x->ws.id, 1);
    struct job **tail = &j->active;
    while (*tail)
        tail = &(*tail)->next;
    *tail = x;
    j->queued++;
    str_copy(ret_id, n, x->rec.id);
    log_info("job.submit", "job %s policy %s", x->rec.id, x->rec.policy);
    start_queued(j);
    pthread_mutex_unlock(&j->lock);
    return 0;
}

/* ---- the supervisor ---- */

static void
unwatch_fd(struct jobs *j, int *fd)
{
    if (*fd < 0)
        return;
    epoll_ctl(j->epfd, EPOLL_CTL_DEL, *fd, NULL);
    close_fd(fd);
}

/* Moves what a job wrote to its file, within the output cap shared by stdout and stderr. */
static void
pump(struct jobs *j, struct job *x, bool is_err)
{
    static char buf[JOBS_PIPE_CHUNK]; /* the supervisor thread is the only reader */
    int *fd = is_err ? &x->err_fd : &x->out_fd;
    int file = is_err ? x->err_file : x->out_file;
    int64_t *count = is_err ? &x->rec.stderr_bytes : &x->rec.stdout_bytes;
    bool *trunc = is_err ? &x->rec.stderr_truncated : &x->rec.stdout_truncated;

    for (int rounds = 0; rounds < 16; rounds++) {
        ssize_t n = read(*fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            unwatch_fd(j, fd);
            maybe_finalize(j, x);
            return;
        }
        uint64_t used = (uint64_t)(x->rec.stdout_bytes + x->rec.stderr_bytes);
        uint64_t room = used < x->limits.output_bytes ? x->limits.output_bytes - used : 0;
        size_t keep = (uint64_t)n <= room ? (size_t)n : (size_t)room;
        if (keep && write(file, buf, keep) == (ssize_t)keep)
            *count += (int64_t)keep;
        if (keep < (size_t)n) {
            *trunc = true;
            job_kill(x, "output_limit");
        }
    }
}

static void
on_spawner_events(struct jobs *j)
{
    struct spawner_event ev;
    int r;

    while ((r = spawner_read_event(j->d.spawner, &ev)) == 0) {
        struct job *x = find_active(j, ev.job_id);
        if (!x || !x->running)
            continue;
        x->exited = true;
        x->ev = ev;
        x->exited_ms = time_mono_ms();
        close_fd(&x->pidfd);
        /* Its proxy connections end now; their events are in before the job's end. */
        proxy_job_close(j->d.proxy, x->proxy);
        maybe_finalize(j, x);
    }
    if (r == -EPIPE) {
        log_error("spawner.gone", "the spawner exited: no job can start; restart airlockd");
        epoll_ctl(j->epfd, EPOLL_CTL_DEL, j->spawn_fd, NULL);
    }
}

static void
check_limits(struct jobs *j, struct job *x, int64_t now)
{
    struct cgroup_usage u;

    if (x->starting)
        return;
    if (x->exited) {
        if (now - x->exited_ms > JOBS_DRAIN_GRACE_MS) {
            unwatch_fd(j, &x->out_fd);
            unwatch_fd(j, &x->err_fd);
            finalize(j, x);
        } else {
            maybe_finalize(j, x); /* its proxy connections may have ended since */
        }
        return;
    }
    if (now >= x->deadline_ms) {
        job_kill(x, "timeout");
        return;
    }
    if (x->cg && cgroup_job_usage(x->cg, &u) == 0 && u.cpu_ns >= x->limits.cpu_s * 1000000000ULL) {
        job_kill(x, "cpu_limit");
        return;
    }
    if (now >= x->next_disk_ms && x->ws_fd >= 0 && x->disk_cap) {
        int64_t t0 = time_mono_ms();
        if (fs_usage(x->ws_fd, x->disk_cap) > x->disk_cap)
            job_kill(x, "disk_limit");
        /* A big tree makes the scan slow, and it runs with the jobs lock held: scan it at most
         * a tenth of the time. */
        int64_t took = time_mono_ms() - t0;
        x->next_disk_ms =
            time_mono_ms() + (took * 10 > JOBS_DISK_EVERY_MS ? took * 10 : JOBS_DISK_EVERY_MS);
    }
}

static void
on_tick(struct jobs *j)
{
    uint64_t ticks;
    int64_t now = time_mono_ms();
    struct job *x = j->active, *next;

    if (read(j->timerfd, &ticks, sizeof(ticks)) < 0)
        return;
    for (; x; x = next) {
        next = x->next; /* x may be finalized and freed below */
        if (x->running)
            check_limits(j, x, now);
    }
}

static void
on_watch(struct jobs *j, struct watch *w)
{
    switch (w->kind) {
    case WATCH_STDOUT:
        pump(j, w->job, false);
        break;
    case WATCH_STDERR:
        pump(j, w->job, true);
        break;
    }
}

/* True when w still belongs to a live job's open fd (an earlier event of the same batch may
 * have ended that job). */
static bool
find_job_watch(struct jobs *j, const struct watch *w)
{
    for (struct job *x = j->active; x; x = x->next) {
        if (w == &x->w_out)
            return x->out_fd >= 0;
        if (w == &x->w_err)
            return x->err_fd >= 0;
    }
    return false;
}

static void *
supervisor(void *arg)
{
    struct jobs *j = arg;
    struct epoll_event evs[64];

    for (;;) {
        int n = epoll_wait(j->epfd, evs, 64, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        pthread_mutex_lock(&j->lock);
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &j->stop) {
                pthread_mutex_unlock(&j->lock);
                return NULL;
            }
            if (p == &j->spawn_fd)
                on_spawner_events(j);
            else if (p == &j->timerfd)
                on_tick(j);
        }
        /* Job watches last: a finalize above may have freed a job whose fds were closed and
         * removed, so only watches still registered are looked at (checked by fd state). */
        for (int i = 0; i < n; i++) {
            struct watch *w = evs[i].data.ptr;
            if (w == (void *)&j->stop || w == (void *)&j->spawn_fd || w == (void *)&j->timerfd)
                continue;
            if (find_job_watch(j, w))
                on_watch(j, w);
        }
        if (j->start_pending) {
            j->start_pending = false;
            start_queued(j);
        }
        struct cgroup_job *rel[ARRAY_SIZE(j->to_release)];
        size_t nrel = j->nrelease;
        memcpy(rel, j->to_release, nrel * sizeof(rel[0]));
        j->nrelease = 0;
        pthread_mutex_unlock(&j->lock);
        for (size_t i = 0; i < nrel; i++)
            cgroup_job_release(j->d.cgroups, rel[i]);
    }
    return NULL;
}

/* ---- the API's other calls ---- */

int
jobs_shutdown(struct jobs *j)
{
    struct job *x, *next;
    int n = 0;

    pthread_mutex_lock(&j->lock);
    __atomic_store_n(&j->stopping, true, __ATOMIC_SEQ_CST);
    for (x = j->active; x; x = next) {
        next = x->next; /* a queued job is ended and freed here */
        n++;
        if (x->running) {
            job_kill(x, "shutdown"); /* its end is recorded by the supervisor, as any */
        } else {
            j->queued--;
            end_unstarted(j, x, "canceled", "shutdown");
        }
    }
    pthread_mutex_unlock(&j->lock);
    return n;
}

int
jobs_cancel(struct jobs *j, const char *id)
{
    struct store_job rec = {0};
    struct job *x;
    int r;

    if (!id_valid(id, 'j', STORE_ID_MAX))
        return -ENOENT;
    pthread_mutex_lock(&j->lock);
    x = find_active(j, id);
    if (x && x->running) {
        job_kill(x, "canceled");
        pthread_mutex_unlock(&j->lock);
        return 0;
    }
    if (x) {
        j->queued--;
        end_unstarted(j, x, "canceled", "canceled");
        pthread_mutex_unlock(&j->lock);
        return 0;
    }
    pthread_mutex_unlock(&j->lock);
    r = store_job_get(j->d.store, id, &rec);
    store_job_clear(&rec);
    return r < 0 ? r : -EALREADY;
}

int
jobs_delete(struct jobs *j, const char *id)
{
    int r;

    if (!id_valid(id, 'j', STORE_ID_MAX))
        return -ENOENT;
    pthread_mutex_lock(&j->lock);
    if (find_active(j, id)) {
        pthread_mutex_unlock(&j->lock);
        return -EBUSY;
    }
    r = store_job_delete(j->d.store, id);
    pthread_mutex_unlock(&j->lock);
    if (r < 0)
        return r;
    r = fs_remove_tree(j->jobs_dirfd, id);
    if (r < 0)
        log_warn("job.delete", "job %s: removing its files: %s", id, strerror(-r));
    return 0;
}

int
jobs_exists(struct jobs *j, const char *id)
{
    struct store_job rec = {0};
    int r;

    if (!id_valid(id, 'j', STORE_ID_MAX))
        return -ENOENT;
    r = store_job_get(j->d.store, id, &rec);
    store_job_clear(&rec);
    return r;
}

int
jobs_output_open(struct jobs *j, const char *id, const char *stream, int *ret_fd)
{
    char path[STORE_ID_MAX + 16];
    int fd, r;

    if ((r = jobs_exists(j, id)) < 0)
        return r;
    snprintf(path, sizeof(path), "%s/%s", id, stream);
    fd = fs_open_beneath(j->jobs_dirfd, path, O_RDONLY, 0);
    if (fd == -ENOENT) {
        /* Not started yet: empty output. */
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
    }
    if (fd < 0)
        return fd;
    *ret_fd = fd;
    return 0;
}

int
jobs_file_open(struct jobs *j, const char *id, const char *path, int *ret_fd, bool *ret_is_dir)
{
    struct store_job rec = {0};
    char ws[STORE_ID_MAX + 16];
    int wsfd, r;

    if (!id_valid(id, 'j', STORE_ID_MAX))
        return -ENOENT;
    if ((r = store_job_get(j->d.store, id, &rec)) < 0)
        return r;
    if (*path && !path_rel_valid(path, WS_PATH_MAX, true)) {
        store_job_clear(&rec);
        return -EINVAL;
    }
    /* A persistent workspace is read where it is, whichever kind it is. */
    if (rec.workspace) {
        r = workspaces_file_open(j->d.workspaces, rec.workspace, path, ret_fd, ret_is_dir);
        store_job_clear(&rec);
        return r;
    }
    store_job_clear(&rec);
    snprintf(ws, sizeof(ws), "%s/workspace", id);
    wsfd = fs_open_beneath(j->jobs_dirfd, ws, O_RDONLY | O_DIRECTORY, 0);
    if (wsfd < 0)
        return wsfd;
    r = ws_open_file(wsfd, path, ret_fd, ret_is_dir);
    close(wsfd);
    return r;
}

int
jobs_watch(struct jobs *j, const char *id, jobs_watch_fn fn, void *ctx)
{
    return jobs_watch_on(j, id, JOBS_WATCH_END, fn, ctx);
}

int
jobs_watch_on(struct jobs *j, const char *id, enum jobs_watch_on on, jobs_watch_fn fn, void *ctx)
{
    struct watcher *w;
    int r;

    pthread_mutex_lock(&j->lock);
    if (!find_active(j, id)) {
        pthread_mutex_unlock(&j->lock);
        r = jobs_exists(j, id);
        return r < 0 ? r : 1;
    }
    w = calloc(1, sizeof(*w));
    if (!w) {
        pthread_mutex_unlock(&j->lock);
        return -ENOMEM;
    }
    str_copy(w->id, sizeof(w->id), id);
    w->on = on;
    w->fn = fn;
    w->ctx = ctx;
    w->next = j->watchers;
    j->watchers = w;
    pthread_mutex_unlock(&j->lock);
    return 0;
}

bool
jobs_unwatch(struct jobs *j, const char *id, void *ctx)
{
    bool removed = false;

    pthread_mutex_lock(&j->lock);
    for (struct watcher **p = &j->watchers; *p; p = &(*p)->next) {
        struct watcher *w = *p;
        if (w->ctx == ctx && strcmp(w->id, id) == 0) {
            *p = w->next;
            free(w);
            removed = true;
            break;
        }
    }
    pthread_mutex_unlock(&j->lock);
    return removed;
}

/* ---- life of the module ---- */

static int
make_dirs(struct jobs *j, struct err *err)
{
    const char *state = j->d.cfg->state_dir;
    char run[PATH_MAX];

    if (str_printf(j->jobs_dir, sizeof(j->jobs_dir), "%s/jobs", state) < 0 ||
        str_printf(run, sizeof(run), "%s/run", state) < 0 ||
        str_printf(j->run_root, sizeof(j->run_root), "%s/run/root", state) < 0)
        return err_set(err, ENAMETOOLONG, "internal", "%s: path too long", state);
    /* The empty directory the new root is mounted on is reached by the job's uid, so for a
     * root daemon it lives outside the state directory (which stays 0700). */
    if (geteuid() == 0 &&
        (str_printf(run, sizeof(run), "/run/airlock-%s", j->d.cfg->cgroup_parent) < 0 ||
         str_printf(j->run_root, sizeof(j->run_root), "%s/root", run) < 0))
        return err_set(err, ENAMETOOLONG, "internal", "%s: path too long", run);
    if (mkdir_mode(AT_FDCWD, j->jobs_dir, 0700) < 0 || mkdir_mode(AT_FDCWD, run, 0755) < 0 ||
        mkdir_mode(AT_FDCWD, j->run_root, 0755) < 0)
        return err_set(err, errno, "internal", "%s: cannot create the job directories: %m", state);
    j->jobs_dirfd = open(j->jobs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (j->jobs_dirfd < 0)
        return err_set(err, errno, "internal", "%s: %m", j->jobs_dir);
    return 0;
}

static int
epoll_add_ptr(int epfd, int fd, void *ptr)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = ptr};

    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int
jobs_new(const struct jobs_deps *deps, struct jobs **ret, struct err *err)
{
    struct itimerspec its = {.it_interval = {0, JOBS_TICK_MS * 1000000L},
                             .it_value = {0, JOBS_TICK_MS * 1000000L}};
    struct jobs *j = calloc(1, sizeof(*j));
    int r;

    if (!j)
        return -ENOMEM;
    j->d = *deps;
    j->jobs_dirfd = j->epfd = j->timerfd = j->stop[0] = j->stop[1] = -1;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->idle, NULL);
    j->spawn_fd = spawner_event_fd(deps->spawner);
    if ((r = make_dirs(j, err)) < 0)
        goto fail;
    j->epfd = epoll_create1(EPOLL_CLOEXEC);
    j->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (j->epfd < 0 || j->timerfd < 0 || pipe2(j->stop, O_CLOEXEC) < 0 ||
        timerfd_settime(j->timerfd, 0, &its, NULL) < 0 ||
        epoll_add_ptr(j->epfd, j->stop[0], &j->stop) < 0 ||
        epoll_add_ptr(j->epfd, j->spawn_fd, &j->spawn_fd) < 0 ||
        epoll_add_ptr(j->epfd, j->timerfd, &j->timerfd) < 0) {
        r = err_set(err, errno, "internal", "jobs: %m");
        goto fail;
    }
    *ret = j;
    return 0;
fail:
    jobs_free(j);
    return r;
}

int
jobs_check_free(const struct config *cfg, struct err *err)
{
    struct statvfs sv;
    uint64_t avail;

    if (!cfg->min_free_mb || statvfs(cfg->state_dir, &sv) < 0)
        return 0;
    avail = (uint64_t)sv.f_bavail * sv.f_frsize;
    if (avail >= (uint64_t)cfg->min_free_mb * MIB)
        return 0;
    return err_set(err, ENOSPC, "unavailable",
                   "the state volume (%s) has %llu MB free, under min_free_mb (%u): nothing new "
                   "is written until space is freed (DELETE old jobs and workspaces, or lower "
                   "retention_hours)",
                   cfg->state_dir, (unsigned long long)(avail / MIB), cfg->min_free_mb);
}

/* One retention pass: records (and files) of jobs older than record_retention_days, then the
 * files of jobs that ended more than retention_hours ago (their records stay). Never a queued
 * or running job; a job's row is gone before its files, so nothing half-deleted is served. */
static void
retention_pass(struct jobs *j)
{
    const struct config *cfg = j->d.cfg;
    int64_t now = time_now_ms();
    size_t n, total = 0;
    char **ids;
    int r;

    if (cfg->record_retention_days) {
        int64_t before = now - (int64_t)cfg->record_retention_days * 86400 * 1000;
        do {
            ids = NULL;
            n = 0;
            if ((r = store_jobs_delete_ended(j->d.store, before, 500, &ids, &n)) < 0) {
                log_warn("retention.records", "cannot delete old jobs: %s", strerror(-r));
                break;
            }
            for (size_t i = 0; i < n; i++)
                fs_remove_tree(j->jobs_dirfd, ids[i]);
            total += n;
            store_ids_free(ids, n);
        } while (n == 500);
        if (total)
            log_info("retention.records",
                     "%zu jobs ended more than %u days ago forgotten (record_retention_days)",
                     total, cfg->record_retention_days);
    }
    if (cfg->retention_hours) {
        int64_t upto = now - (int64_t)cfg->retention_hours * 3600 * 1000, *ts;
        total = 0;
        do {
            ids = NULL;
            ts = NULL;
            n = 0;
            r = store_jobs_ended_between(j->d.store, j->retention_mark, upto, 500, &ids, &ts, &n);
            if (r < 0) {
                log_warn("retention.files", "cannot list old jobs: %s", strerror(-r));
                break;
            }
            for (size_t i = 0; i < n; i++)
                if (faccessat(j->jobs_dirfd, ids[i], F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
                    fs_remove_tree(j->jobs_dirfd, ids[i]) == 0)
                    total++;
            if (n)
                j->retention_mark = ts[n - 1];
            store_ids_free(ids, n);
            free(ts);
        } while (n == 500);
        if (total)
            log_info("retention.files",
                     "output and workspaces of %zu jobs ended more than %u hours ago removed "
                     "(retention_hours); their records stay",
                     total, cfg->retention_hours);
    }
}

static void *
retention_main(void *arg)
{
    struct jobs *j = arg;

    pthread_mutex_lock(&j->lock);
    while (!j->retention_stop) {
        pthread_mutex_unlock(&j->lock);
        retention_pass(j);
        pthread_mutex_lock(&j->lock);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 60;
        while (!j->retention_stop &&
               pthread_cond_timedwait(&j->retention_wake, &j->lock, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

int
jobs_start(struct jobs *j, struct err *err)
{
    pthread_condattr_t ca;
    int r = pthread_create(&j->thread, NULL, supervisor, j);

    if (r != 0)
        return err_set(err, r, "internal", "jobs: cannot start the supervisor: %s", strerror(r));
    j->thread_started = true;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->retention_wake, &ca);
    pthread_condattr_destroy(&ca);
    if ((r = pthread_create(&j->retention, NULL, retention_main, j)) != 0)
        return err_set(err, r, "internal", "jobs: cannot start the retention thread: %s",
                       strerror(r));
    j->retention_started = true;
    return 0;
}

void
jobs_stop(struct jobs *j)
{
    if (!j)
        return;
    if (j->retention_started) {
        pthread_mutex_lock(&j->lock);
        j->retention_stop = true;
        pthread_cond_signal(&j->retention_wake);
        pthread_mutex_unlock(&j->lock);
        pthread_join(j->retention, NULL);
        j->retention_started = false;
    }
    if (j->thread_started) {
        ssize_t w = write(j->stop[1], "x", 1);
        (void)w;
        pthread_join(j->thread, NULL);
        j->thread_started = false;
    }
    pthread_mutex_lock(&j->lock);
    /* No job may be freed under a start in flight (an API thread in spawner_spawn). */
    while (j->starting)
        pthread_cond_wait(&j->idle, &j->lock);
    /* Running jobs are killed (the spawner would kill them anyway when it stops); their
     * records are closed as lost with daemon_restart, exactly as a restart would mark them --
     * or, after jobs_shutdown (a second SIGTERM, or its grace ran out), as the canceled jobs
     * they already are. */
    while (j->active) {
        struct job *x = j->active;
        const char *reason = j->stopping ? "shutdown" : "daemon_restart";
        j->active = x->next;
        if (x->running)
            job_kill(x, reason);
        str_copy(x->rec.status, sizeof(x->rec.status), j->stopping ? "canceled" : "lost");
        set_reason(&x->rec, reason);
        x->rec.finished_ms = time_now_ms();
        proxy_job_detach(j->d.proxy, TAKE_PTR(x->proxy));
        store_job_update(j->d.store, &x->rec);
        metrics_job_ended(x->rec.status);
        cgroup_job_release(j->d.cgroups, x->cg);
        x->cg = NULL;
        job_free(j, x);
    }
    j->running = j->queued = 0;
    for (size_t i = 0; i < j->nrelease; i++)
        cgroup_job_release(j->d.cgroups, j->to_release[i]);
    j->nrelease = 0;
    cgroup_job_release(j->d.cgroups, j->next_cg);
    j->next_cg = NULL;
    /* Waiting clients get their answer now (the job object says lost). */
    while (j->watchers) {
        struct watcher *w = j->watchers;
        j->watchers = w->next;
        w->fn(w->ctx);
        free(w);
    }
    pthread_mutex_unlock(&j->lock);
}

struct jobs *
jobs_free(struct jobs *j)
{
    if (!j)
        return NULL;
    jobs_stop(j);
    close_fd(&j->jobs_dirfd);
    close_fd(&j->epfd);
    close_fd(&j->timerfd);
    close_fd(&j->stop[0]);
    close_fd(&j->stop[1]);
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->idle);
    free(j);
    return NULL;
}
