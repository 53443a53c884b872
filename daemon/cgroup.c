/*
 * cgroup: the daemon's per-job cgroups -- one directory <mount>/<parent>/job-<n> in each writable
 * hierarchy that carries a controller we enforce (memory, pids, CPU accounting), a pool of idle
 * ones, and the few files read and written to limit, measure and kill a job. It owns everything
 * under <parent> and must never write, kill in or remove a cgroup outside it. It applies limits
 * and reports counters; which limits a job gets is decided elsewhere. Every file is written with
 * one write(2) (the kernel takes one value per write) on an O_CLOEXEC fd, every read is bounded,
 * and every error names the file. Idle job cgroups are kept reset (no limits, counters at zero),
 * so acquiring one is only the limit writes and the baseline reads.
 */
#include "cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"

#define CG_READ_MAX 4096   /* the small files read whole: oom_control, *.events, cpu.stat */
#define CG_STALE_MAX 4096  /* stale job cgroups handled at start; more are left for the next one */
#define CG_KILL_PAUSE_MS 2 /* between two reads of cgroup.procs while killing */

#define CG_BIT(c) (1u << (c))

/* One hierarchy the pool writes: v1 has one per controller (or per co-mounted group), v2 one for
 * all. dir is <mount>/<parent>. */
struct cg_hier {
    int version;
    unsigned ctrls; /* CG_BIT(enum cgroup_ctrl) of the controllers enforced through it */
    char mount[PATH_MAX];
    char dir[PATH_MAX];
};

struct cgroup_pool {
    pthread_mutex_t lock;
    struct cg_hier hier[CGROUP_CTRL_COUNT]; /* only usable ones; read-only after creation */
    size_t nhier;
    bool memsw; /* v1 memory.memsw.* exist (swap accounting on) */
    char summary[64];
    /* Under lock: */
    unsigned next_id;
    struct cgroup_job *idle[CGROUP_POOL_MAX];
    size_t nidle;
};

struct cgroup_job {
    const struct cgroup_pool *pool;
    unsigned id;
    uint64_t oom_kill_base; /* counters at acquire: a rise since means a limit was hit */
    uint64_t pids_max_base;
    uint64_t cpu_usec_base; /* v2 only: cpu.stat cannot be reset; v1 cpuacct.usage is */
    int peak_fd;            /* v2 memory.peak, reset through this fd at acquire; else -1 */
};

static const char *const ctrl_names[CGROUP_CTRL_COUNT] = {"memory", "pids", "cpu"};

/* ---------------------------------------------------------------------------------------------
 * Files
 */

/* One write(2) of the whole value; a short write would be half a value, so it is an error. */
static int
cg_write(const char *path, const char *value, struct err *err)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    size_t len = strlen(value);
    ssize_t n;
    int e;

    if (fd < 0)
        goto fail;
    n = write(fd, value, len);
    if (n >= 0 && (size_t)n == len)
        return 0;
    if (n >= 0)
        errno = EIO;
fail:
    e = errno;
    return err_set(err, e, "cgroup", "%s: write %s: %s", path, value, strerror(e));
}

/* Reads at most size - 1 bytes of path into buf, NUL-terminated. Returns the length or -errno. */
static int
cg_read(const char *path, char *buf, size_t size, struct err *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t len = 0;
    int e;

    while (fd >= 0 && len < size - 1) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (n == 0) {
            buf[len] = '\0';
            return (int)len;
        }
        len += (size_t)n;
    }
    e = fd < 0 || len < size - 1 ? errno : EFBIG;
    return err_set(err, e, "cgroup", "%s: read: %s", path, strerror(e));
}

/* The value of the line "key N" in a flat-keyed file (memory.events, pids.events, cpu.stat,
 * oom_control). A key the kernel does not print counts as 0 (oom_kill before Linux 4.13). */
static int
cg_parse_key(char *buf, const char *key, uint64_t *ret)
{
    size_t klen = strlen(key);

    for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
            return str_to_u64(line + klen + 1, 0, UINT64_MAX, ret);
    }
    *ret = 0;
    return 0;
}

static int
cg_read_key(const char *path, const char *key, uint64_t *ret, struct err *err)
{
    char buf[CG_READ_MAX];
    int r = cg_read(path, buf, sizeof(buf), err);

    if (r >= 0 && cg_parse_key(buf, key, ret) < 0)
        r = err_set(err, EBADMSG, "cgroup", "%s: %s: not a number", path, key);
    return r < 0 ? r : 0;
}

static int
cg_parse_u64(const char *path, char *buf, uint64_t *ret, struct err *err)
{
    buf[strcspn(buf, "\n")] = '\0';
    if (str_to_u64(buf, 0, UINT64_MAX, ret) < 0)
        return err_set(err, EBADMSG, "cgroup", "%s: not a number: \"%.32s\"", path, buf);
    return 0;
}

static int
cg_read_u64(const char *path, uint64_t *ret, struct err *err)
{
    char buf[64];
    int r = cg_read(path, buf, sizeof(buf), err);

    return r < 0 ? r : cg_parse_u64(path, buf, ret, err);
}

/* ---------------------------------------------------------------------------------------------
 * Processes: cgroup.procs
 */

/* SIGKILLs one pid from cgroup.procs. Never ourselves: if the daemon were ever put into a job
 * cgroup by mistake, the kill loop times out instead of killing the daemon. */
static void
procs_kill_one(const char *line)
{
    uint64_t pid;

    if (str_to_u64(line, 2, INT32_MAX, &pid) == 0 && (pid_t)pid != getpid())
        kill((pid_t)pid, SIGKILL);
}

/* Counts the pids listed in a cgroup.procs file, SIGKILLing each when kill_them. The file has no
 * size bound, so it is read in chunks. Returns the count or -errno. */
static int
procs_scan(const char *path, bool kill_them)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    char buf[4096];
    size_t have = 0;
    int count = 0;

    if (fd < 0)
        return -errno;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
        char *line = buf;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
        for (char *nl; (nl = strchr(line, '\n')); line = nl + 1, count++) {
            *nl = '\0';
            if (kill_them)
                procs_kill_one(line);
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        if (have == sizeof(buf) - 1)
            return -EBADMSG; /* a line longer than any pid */
    }
    return have ? -EBADMSG : count;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Kills everything in one cgroup directory and waits until its cgroup.procs is empty, at most
 * until deadline. v2 has cgroup.kill (Linux 5.14), atomic against forks; v1 re-reads the list
 * until no process is left, which also catches children forked between two reads. */
static int
cg_kill_dir(const char *dir, int version, int64_t deadline)
{
    char path[PATH_MAX];
    int r;

    if (version == 2 && str_printf(path, sizeof(path), "%s/cgroup.kill", dir) >= 0)
        (void)cg_write(path, "1", NULL); /* older kernels: the loop below does it */
    r = str_printf(path, sizeof(path), "%s/cgroup.procs", dir);
    while (r >= 0) {
        r = procs_scan(path, true);
        if (r == 0 || r == -ENOENT)
            return 0;
        if (r > 0 && time_mono_ms() >= deadline)
            return -EBUSY;
        if (r > 0)
            sleep_ms(CG_KILL_PAUSE_MS);
    }
    return r;
}

/* ---------------------------------------------------------------------------------------------
 * One job cgroup
 */

static const struct cg_hier *
pool_hier(const struct cgroup_pool *p, enum cgroup_ctrl c)
{
    for (size_t i = 0; p && i < p->nhier; i++)
        if (p->hier[i].ctrls & CG_BIT(c))
            return &p->hier[i];
    return NULL;
}

/* <hier dir>/job-<id>[/file] into buf (PATH_MAX). */
static int
job_path(const struct cgroup_job *j, const struct cg_hier *h, const char *file, char *buf,
         struct err *err)
{
    int r = file ? str_printf(buf, PATH_MAX, "%s/job-%u/%s", h->dir, j->id, file)
                 : str_printf(buf, PATH_MAX, "%s/job-%u", h->dir, j->id);

    return r < 0 ? err_set(err, -r, "cgroup", "%s/job-%u: path too long", h->dir, j->id) : 0;
}

/* Writes value to file in the job's cgroup of controller c. */
static int
job_write(const struct cgroup_job *j, enum cgroup_ctrl c, const char *file, const char *value,
          struct err *err)
{
    char path[PATH_MAX];
    int r = job_path(j, pool_hier(j->pool, c), file, path, err);

    return r < 0 ? r : cg_write(path, value, err);
}

static int
job_write_u64(const struct cgroup_job *j, enum cgroup_ctrl c, const char *file, uint64_t v,
              struct err *err)
{
    char value[24];

    snprintf(value, sizeof(value), "%" PRIu64, v);
    return job_write(j, c, file, value, err);
}

static int
job_read_key(const struct cgroup_job *j, enum cgroup_ctrl c, const char *file, const char *key,
             uint64_t *ret, struct err *err)
{
    char path[PATH_MAX];
    int r = job_path(j, pool_hier(j->pool, c), file, path, err);

    return r < 0 ? r : cg_read_key(path, key, ret, err);
}

static int
job_read_u64(const struct cgroup_job *j, enum cgroup_ctrl c, const char *file, uint64_t *ret,
             struct err *err)
{
    char path[PATH_MAX];
    int r = job_path(j, pool_hier(j->pool, c), file, path, err);

    return r < 0 ? r : cg_read_u64(path, ret, err);
}

static int
hier_version(const struct cgroup_pool *p, enum cgroup_ctrl c)
{
    const struct cg_hier *h = pool_hier(p, c);
    return h ? h->version : 0;
}

static struct cgroup_job *
job_new(const struct cgroup_pool *p, unsigned id)
{
    struct cgroup_job *j = calloc(1, sizeof(*j));

    if (j) {
        j->pool = p;
        j->id = id;
        j->peak_fd = -1;
    }
    return j;
}

static void
job_free(struct cgroup_job *j)
{
    if (j && j->peak_fd >= 0)
        close(j->peak_fd);
    free(j);
}

/* rmdir in every hierarchy. A failure other than "already gone" is logged: the start-up cleanup
 * of the next daemon will try again. */
static void
job_remove(const struct cgroup_job *j)
{
    char path[PATH_MAX];

    for (size_t i = 0; i < j->pool->nhier; i++) {
        if (job_path(j, &j->pool->hier[i], NULL, path, NULL) < 0)
            continue;
        if (rmdir(path) < 0 && errno != ENOENT)
            log_warn("cgroup.remove", "%s: rmdir: %s", path, strerror(errno));
    }
}

static int
job_mkdirs(const struct cgroup_job *j, bool exist_ok, struct err *err)
{
    char path[PATH_MAX];
    int e;

    for (size_t i = 0; i < j->pool->nhier; i++) {
        int r = job_path(j, &j->pool->hier[i], NULL, path, err);
        if (r < 0)
            return r;
        if (mkdir(path, 0755) < 0 && !(errno == EEXIST && exist_ok)) {
            e = errno;
            return err_set(err, e, "cgroup", "%s: mkdir: %s", path, strerror(e));
        }
    }
    return 0;
}

/* What stays set for the cgroup's life. v1: the OOM killer enabled (oom_control is inherited
 * from the parent, and writing it logs a deprecation warning on recent kernels, so it is only
 * written when someone disabled it). v2: no swap at all, so swap cannot extend the limit. */
static int
job_setup(const struct cgroup_job *j, struct err *err)
{
    uint64_t disabled;
    int r = 0;

    if (hier_version(j->pool, CGROUP_MEMORY) == 1) {
        r = job_read_key(j, CGROUP_MEMORY, "memory.oom_control", "oom_kill_disable", &disabled,
                         err);
        if (r >= 0 && disabled)
            r = job_write(j, CGROUP_MEMORY, "memory.oom_control", "0", err);
    } else if (hier_version(j->pool, CGROUP_MEMORY) == 2) {
        r = job_write(j, CGROUP_MEMORY, "memory.swap.max", "0", err);
        if (r == -ENOENT)
            r = 0; /* no swap accounting: no swap to escape into */
    }
    return r;
}

static int
job_reset_memory(const struct cgroup_job *j, bool reclaim, struct err *err)
{
    int r;

    if (hier_version(j->pool, CGROUP_MEMORY) == 2)
        return job_write(j, CGROUP_MEMORY, "memory.max", "max", err);
    /* memsw must stay >= the memory limit, so it is raised first. */
    r = j->pool->memsw ? job_write(j, CGROUP_MEMORY, "memory.memsw.limit_in_bytes", "-1", err) : 0;
    if (r >= 0)
        r = job_write(j, CGROUP_MEMORY, "memory.limit_in_bytes", "-1", err);
    /* The page cache the last job left stays charged to the cgroup; reclaim it so the next
     * job's peak starts near zero. Best effort: it only affects the reported peak. */
    if (r >= 0 && reclaim)
        (void)job_write(j, CGROUP_MEMORY, "memory.force_empty", "0", NULL);
    if (r >= 0)
        r = job_write(j, CGROUP_MEMORY, "memory.max_usage_in_bytes", "0", err);
    return r;
}

/* Back to the idle state: no limits, counters at zero where the kernel lets them be reset
 * (the others get a baseline at acquire). The cgroup must be empty. */
static int
job_reset(const struct cgroup_job *j, bool reclaim, struct err *err)
{
    int r = 0;

    if (hier_version(j->pool, CGROUP_MEMORY))
        r = job_reset_memory(j, reclaim, err);
    if (r >= 0 && hier_version(j->pool, CGROUP_PIDS))
        r = job_write(j, CGROUP_PIDS, "pids.max", "max", err);
    if (r >= 0 && hier_version(j->pool, CGROUP_CPU) == 1)
        r = job_write(j, CGROUP_CPU, "cpuacct.usage", "0", err);
    return r;
}

/* Kills the job's processes in every hierarchy; 0 once all its cgroup.procs are empty. */
static int
job_kill(const struct cgroup_job *j)
{
    int64_t deadline = time_mono_ms() + CGROUP_KILL_TIMEOUT_MS;
    char dir[PATH_MAX];
    int ret = 0;

    for (size_t i = 0; i < j->pool->nhier; i++) {
        const struct cg_hier *h = &j->pool->hier[i];
        int r = job_path(j, h, NULL, dir, NULL);
        if (r >= 0)
            r = cg_kill_dir(dir, h->version, deadline);
        if (r < 0 && ret == 0)
            ret = r;
    }
    return ret;
}

/* A new job cgroup with id, in every hierarchy. exist_ok for a stale one being reused: it is
 * reset first, since a previous daemon left it in an unknown state. */
static int
job_create(const struct cgroup_pool *p, unsigned id, bool exist_ok, struct cgroup_job **ret,
           struct err *err)
{
    struct cgroup_job *j = job_new(p, id);
    int r;

    if (!j)
        return err_set(err, ENOMEM, "cgroup", "out of memory");
    r = job_mkdirs(j, exist_ok, err);
    if (r >= 0 && exist_ok)
        r = job_reset(j, true, err);
    if (r >= 0)
        r = job_setup(j, err);
    if (r < 0) {
        job_remove(j);
        job_free(j);
        return r;
    }
    *ret = j;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Acquire: limits and baselines
 */

static int
job_limit_memory(const struct cgroup_job *j, uint64_t bytes, struct err *err)
{
    int r;

    if (hier_version(j->pool, CGROUP_MEMORY) == 2)
        return job_write_u64(j, CGROUP_MEMORY, "memory.max", bytes, err);
    /* From the reset state (both unlimited) the memory limit goes first, then memsw to the same
     * value, so that swap cannot extend what the job may use. */
    r = job_write_u64(j, CGROUP_MEMORY, "memory.limit_in_bytes", bytes, err);
    if (r >= 0 && j->pool->memsw)
        r = job_write_u64(j, CGROUP_MEMORY, "memory.memsw.limit_in_bytes", bytes, err);
    return r;
}

/* An idle cgroup has no limits, so a 0 ("no limit") needs no write. */
static int
job_limit(const struct cgroup_job *j, const struct cgroup_limits *l, struct err *err)
{
    int r = 0;

    if (l->memory_bytes && hier_version(j->pool, CGROUP_MEMORY))
        r = job_limit_memory(j, l->memory_bytes, err);
    if (r >= 0 && l->pids && hier_version(j->pool, CGROUP_PIDS))
        r = job_write_u64(j, CGROUP_PIDS, "pids.max", l->pids, err);
    return r;
}

/* v2 memory.peak (Linux 6.12) resets for reads through the fd that wrote it; an older kernel
 * refuses the write and the peak is the cgroup's lifetime peak. */
static void
job_open_peak(struct cgroup_job *j)
{
    char path[PATH_MAX];

    if (job_path(j, pool_hier(j->pool, CGROUP_MEMORY), "memory.peak", path, NULL) < 0)
        return;
    j->peak_fd = open(path, O_RDWR | O_CLOEXEC);
    if (j->peak_fd >= 0 && write(j->peak_fd, "reset", 5) != 5) {
        close(j->peak_fd);
        j->peak_fd = -1;
    }
}

/* Counters that cannot be reset get a baseline: a rise since acquire is this job's. failcnt is
 * not used for memory: it also rises when the kernel merely reclaims at the limit. */
static int
job_baseline(struct cgroup_job *j, struct err *err)
{
    int mem = hier_version(j->pool, CGROUP_MEMORY);
    int r = 0;

    if (mem == 1)
        r = job_read_key(j, CGROUP_MEMORY, "memory.oom_control", "oom_kill", &j->oom_kill_base,
                         err);
    else if (mem == 2)
        r = job_read_key(j, CGROUP_MEMORY, "memory.events", "oom_kill", &j->oom_kill_base, err);
    if (r >= 0 && hier_version(j->pool, CGROUP_PIDS))
        r = job_read_key(j, CGROUP_PIDS, "pids.events", "max", &j->pids_max_base, err);
    if (r >= 0 && hier_version(j->pool, CGROUP_CPU) == 2)
        r = job_read_key(j, CGROUP_CPU, "cpu.stat", "usage_usec", &j->cpu_usec_base, err);
    if (r >= 0 && mem == 2 && j->peak_fd < 0)
        job_open_peak(j);
    return r;
}

/* ---------------------------------------------------------------------------------------------
 * The pool
 */

/* Pops an idle job cgroup, or reserves an id for a new one (created outside the lock). */
static struct cgroup_job *
pool_pop(struct cgroup_pool *p, unsigned *ret_id)
{
    struct cgroup_job *j = NULL;

    pthread_mutex_lock(&p->lock);
    if (p->nidle)
        j = p->idle[--p->nidle];
    else
        *ret_id = p->next_id++;
    pthread_mutex_unlock(&p->lock);
    return j;
}

static bool
pool_push(struct cgroup_pool *p, struct cgroup_job *j)
{
    bool pushed = false;

    pthread_mutex_lock(&p->lock);
    if (p->nidle < CGROUP_POOL_MAX) {
        p->idle[p->nidle++] = j;
        pushed = true;
    }
    pthread_mutex_unlock(&p->lock);
    return pushed;
}

/* Access errors mean this daemon may not manage that hierarchy: the controller is then not
 * enforced, which cgroup_pool_describe reports. */
static bool
cg_denied(int e)
{
    return e == EACCES || e == EPERM || e == EROFS;
}

/* v2: a controller's files appear in children only once it is enabled in the parent's
 * cgroup.subtree_control, at the mount root and at <parent>. A controller that cannot be enabled
 * (EBUSY: the root has processes, as in a container's namespaced root) is not enforced. */
static int
hier_enable_v2(struct cg_hier *h, struct err *err)
{
    static const enum cgroup_ctrl need[] = {CGROUP_MEMORY, CGROUP_PIDS};
    char root[PATH_MAX], sub[PATH_MAX], value[16];

    if (str_printf(root, sizeof(root), "%s/cgroup.subtree_control", h->mount) < 0 ||
        str_printf(sub, sizeof(sub), "%s/cgroup.subtree_control", h->dir) < 0)
        return err_set(err, ENAMETOOLONG, "cgroup", "%s: path too long", h->dir);
    for (size_t i = 0; i < ARRAY_SIZE(need); i++) {
        struct err e = {0};
        int r;
        if (!(h->ctrls & CG_BIT(need[i])))
            continue;
        snprintf(value, sizeof(value), "+%s", ctrl_names[need[i]]);
        r = cg_write(root, value, &e);
        if (r >= 0)
            r = cg_write(sub, value, &e);
        if (r == -EBUSY)
            log_warn("cgroup.v2", "%s: not enforced: %s", ctrl_names[need[i]], e.message);
        if (r == -EBUSY || (r < 0 && cg_denied(-r)))
            h->ctrls &= ~CG_BIT(need[i]);
        else if (r < 0)
            return err_set(err, -r, e.code, "%s", e.message);
    }
    return 0;
}

/* Creates <mount>/<parent>. Returns 1 when usable, 0 when this daemon may not write it. */
static int
hier_prepare(struct cg_hier *h, struct err *err)
{
    int e;

    if (mkdir(h->dir, 0755) < 0 && errno != EEXIST) {
        e = errno;
        return cg_denied(e) ? 0 : err_set(err, e, "cgroup", "%s: mkdir: %s", h->dir, strerror(e));
    }
    if (access(h->dir, W_OK) < 0) {
        e = errno;
        return cg_denied(e) ? 0 : err_set(err, e, "cgroup", "%s: access: %s", h->dir, strerror(e));
    }
    if (h->version == 2) {
        int r = hier_enable_v2(h, err);
        if (r < 0)
            return r;
    }
    return h->ctrls ? 1 : 0;
}

/* Where controller c lives according to the probe. CPU time is read from cpuacct on v1 (the v1
 * "cpu" hierarchy would only serve shares and quotas, which we do not set) and from the cpu
 * controller's cpu.stat on v2. */
static const struct probe_cgroup *
probe_for(const struct probe *probe, enum cgroup_ctrl c)
{
    const struct probe_cgroup *pc;

    if (c == CGROUP_MEMORY)
        pc = &probe->cgroup[PROBE_CG_MEMORY];
    else if (c == CGROUP_PIDS)
        pc = &probe->cgroup[PROBE_CG_PIDS];
    else if (probe->cgroup[PROBE_CG_CPU].version == 2)
        pc = &probe->cgroup[PROBE_CG_CPU];
    else
        pc = &probe->cgroup[PROBE_CG_CPUACCT];
    return pc->version ? pc : NULL;
}

/* Groups the controllers by mount (v2, or co-mounted v1, share one). */
static int
pool_collect(struct cgroup_pool *p, const struct probe *probe, const char *parent, struct err *err)
{
    for (int c = 0; c < CGROUP_CTRL_COUNT; c++) {
        const struct probe_cgroup *pc = probe_for(probe, c);
        struct cg_hier *h = NULL;
        if (!pc)
            continue;
        for (size_t i = 0; i < p->nhier && !h; i++)
            if (strcmp(p->hier[i].mount, pc->path) == 0)
                h = &p->hier[i];
        if (!h) {
            h = &p->hier[p->nhier++];
            h->version = pc->version;
            if (str_copy(h->mount, sizeof(h->mount), pc->path) < 0 ||
                str_printf(h->dir, sizeof(h->dir), "%s/%s", pc->path, parent) < 0)
                return err_set(err, ENAMETOOLONG, "cgroup", "%s: path too long", pc->path);
        }
        h->ctrls |= CG_BIT(c);
    }
    return 0;
}

/* Keeps the hierarchies this daemon can write; the others are dropped (not enforced). */
static int
pool_prepare(struct cgroup_pool *p, struct err *err)
{
    size_t kept = 0;
    char path[PATH_MAX];

    for (size_t i = 0; i < p->nhier; i++) {
        int r = hier_prepare(&p->hier[i], err);
        if (r < 0)
            return r;
        if (r > 0 && kept != i)
            p->hier[kept] = p->hier[i];
        kept += r > 0;
    }
    p->nhier = kept;
    if (hier_version(p, CGROUP_MEMORY) == 1) {
        const struct cg_hier *h = pool_hier(p, CGROUP_MEMORY);
        p->memsw = str_printf(path, sizeof(path), "%s/memory.memsw.limit_in_bytes", h->dir) >= 0 &&
                   access(path, F_OK) == 0;
    }
    return 0;
}

static void
pool_summarize(struct cgroup_pool *p)
{
    size_t len = 0;

    for (int c = 0; c < CGROUP_CTRL_COUNT; c++) {
        int v = hier_version(p, c);
        int n = v ? snprintf(p->summary + len, sizeof(p->summary) - len, "%s%s:v%d", len ? " " : "",
                             ctrl_names[c], v)
                  : 0;
        if (n > 0 && (size_t)n < sizeof(p->summary) - len)
            len += (size_t)n;
    }
    if (!len)
        str_copy(p->summary, sizeof(p->summary), "none");
}

/* ---------------------------------------------------------------------------------------------
 * Start-up cleanup of what a previous daemon left in <parent>
 */

struct stale_ids {
    unsigned *ids;
    size_t n;
};

static int
stale_add(struct stale_ids *s, unsigned id)
{
    unsigned *grown;

    if (s->n == CG_STALE_MAX)
        return -ENOSPC;
    grown = realloc(s->ids, (s->n + 1) * sizeof(*s->ids));
    if (!grown)
        return -ENOMEM;
    s->ids = grown;
    s->ids[s->n++] = id;
    return 0;
}

/* Collects the ids of the job-<n> directories in one hierarchy's <parent>. */
static int
stale_scan(const struct cg_hier *h, struct stale_ids *s, struct err *err)
{
    DIR *d = opendir(h->dir);
    struct dirent *de;
    int r = 0;

    if (!d) {
        int e = errno;
        return err_set(err, e, "cgroup", "%s: opendir: %s", h->dir, strerror(e));
    }
    while (r >= 0 && (de = readdir(d))) {
        uint64_t id;
        if (de->d_type != DT_DIR || !str_has_prefix(de->d_name, "job-") ||
            str_to_u64(de->d_name + 4, 0, UINT_MAX - 1, &id) < 0)
            continue;
        r = stale_add(s, (unsigned)id);
    }
    closedir(d);
    if (r == -ENOSPC)
        log_warn("cgroup.cleanup",
                 "%s: more than %d job cgroups; the rest is left for the next "
                 "start",
                 h->dir, CG_STALE_MAX);
    return r == -ENOMEM ? err_set(err, ENOMEM, "cgroup", "out of memory") : 0;
}

static int
cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return (x > y) - (x < y);
}

/* Kills what is in stale job cgroup id, then reuses it (reset) while the pool has room, else
 * removes it. */
static void
stale_handle(struct cgroup_pool *p, unsigned id)
{
    struct cgroup_job *j = job_new(p, id);
    struct err err = {0};
    int r;

    if (!j)
        return;
    r = job_kill(j);
    if (r < 0) {
        log_warn("cgroup.cleanup", "job-%u: processes survive SIGKILL: %s", id, strerror(-r));
        job_free(j);
        return;
    }
    job_free(j);
    if (p->nidle < CGROUP_POOL_MAX && job_create(p, id, true, &j, &err) >= 0) {
        p->idle[p->nidle++] = j;
        return;
    }
    if (err.message[0])
        log_warn("cgroup.cleanup", "job-%u: not reused: %s", id, err.message);
    j = job_new(p, id);
    if (j)
        job_remove(j);
    job_free(j);
}

/* Runs before the pool is shared: no lock needed. */
static int
pool_cleanup(struct cgroup_pool *p, struct err *err)
{
    struct stale_ids s = {0};
    size_t handled = 0;
    int r = 0;

    for (size_t i = 0; i < p->nhier && r >= 0; i++)
        r = stale_scan(&p->hier[i], &s, err);
    if (r >= 0 && s.n)
        qsort(s.ids, s.n, sizeof(*s.ids), cmp_unsigned);
    for (size_t i = 0; r >= 0 && i < s.n; i++) {
        if (i > 0 && s.ids[i] == s.ids[i - 1])
            continue; /* the same job in another hierarchy */
        stale_handle(p, s.ids[i]);
        p->next_id = s.ids[i] + 1;
        handled++;
    }
    if (handled)
        log_info("cgroup.cleanup", "%zu stale job cgroups emptied, %zu kept for reuse", handled,
                 p->nidle);
    free(s.ids);
    return r;
}

static int
pool_prealloc(struct cgroup_pool *p, size_t prealloc, struct err *err)
{
    while (p->nidle < prealloc && p->nidle < CGROUP_POOL_MAX) {
        struct cgroup_job *j;
        int r = job_create(p, p->next_id++, false, &j, err);
        if (r < 0)
            return r;
        p->idle[p->nidle++] = j;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Public
 */

static bool
parent_valid(const char *parent)
{
    return parent && *parent && !strchr(parent, '/') && strcmp(parent, ".") != 0 &&
           strcmp(parent, "..") != 0 && strlen(parent) < NAME_MAX;
}

int
cgroup_pool_new(const struct probe *probe, const char *parent, size_t prealloc,
                struct cgroup_pool **ret, struct err *err)
{
    struct cgroup_pool *p;
    int r;

    if (!parent_valid(parent))
        return err_set(err, EINVAL, "cgroup", "cgroup parent \"%s\": must be one directory name",
                       parent ? parent : "");
    p = calloc(1, sizeof(*p));
    if (!p)
        return err_set(err, ENOMEM, "cgroup", "out of memory");
    pthread_mutex_init(&p->lock, NULL);
    r = pool_collect(p, probe, parent, err);
    if (r >= 0)
        r = pool_prepare(p, err);
    if (r >= 0)
        r = pool_cleanup(p, err);
    if (r >= 0)
        r = pool_prealloc(p, prealloc, err);
    if (r < 0) {
        cgroup_pool_free(p);
        return r;
    }
    pool_summarize(p);
    *ret = p;
    return 0;
}

struct cgroup_pool *
cgroup_pool_free(struct cgroup_pool *p)
{
    if (!p)
        return NULL;
    for (size_t i = 0; i < p->nidle; i++) {
        job_remove(p->idle[i]);
        job_free(p->idle[i]);
    }
    /* Fails (EBUSY) when a job was not released or a removal failed: left for the next start. */
    for (size_t i = 0; i < p->nhier; i++)
        (void)rmdir(p->hier[i].dir);
    pthread_mutex_destroy(&p->lock);
    free(p);
    return NULL;
}

bool
cgroup_pool_enforces(const struct cgroup_pool *p, enum cgroup_ctrl c)
{
    return pool_hier(p, c) != NULL;
}

const char *
cgroup_pool_describe(const struct cgroup_pool *p)
{
    return p && p->summary[0] ? p->summary : "none";
}

int
cgroup_job_acquire(struct cgroup_pool *p, const struct cgroup_limits *l, struct cgroup_job **ret,
                   struct err *err)
{
    struct cgroup_job *j;
    unsigned id = 0;
    int r;

    if (!p || p->nhier == 0) {
        *ret = NULL;
        return 0;
    }
    j = pool_pop(p, &id);
    if (!j) {
        r = job_create(p, id, false, &j, err);
        if (r < 0)
            return r;
    }
    r = job_limit(j, l, err);
    if (r >= 0)
        r = job_baseline(j, err);
    if (r < 0) {
        cgroup_job_release(p, j);
        return r;
    }
    *ret = j;
    return 0;
}

int
cgroup_job_set_limits(struct cgroup_job *j, const struct cgroup_limits *l, struct err *err)
{
    int r;

    if (!j)
        return 0;
    r = job_limit(j, l, err);
    return r < 0 ? r : job_baseline(j, err);
}

size_t
cgroup_job_procs_files(const struct cgroup_job *j, char paths[][PATH_MAX], size_t max)
{
    size_t n = 0;

    for (size_t i = 0; j && i < j->pool->nhier && n < max; i++)
        if (job_path(j, &j->pool->hier[i], "cgroup.procs", paths[n], NULL) >= 0)
            n++;
    return n;
}

static int
job_usage_cpu(const struct cgroup_job *j, uint64_t *ret)
{
    uint64_t usec;
    int r;

    if (hier_version(j->pool, CGROUP_CPU) == 1)
        return job_read_u64(j, CGROUP_CPU, "cpuacct.usage", ret, NULL);
    r = job_read_key(j, CGROUP_CPU, "cpu.stat", "usage_usec", &usec, NULL);
    if (r >= 0)
        *ret = usec > j->cpu_usec_base ? (usec - j->cpu_usec_base) * 1000 : 0;
    return r;
}

static int
job_usage_memory(const struct cgroup_job *j, struct cgroup_usage *u)
{
    uint64_t ooms;
    char buf[64];
    int r;

    if (hier_version(j->pool, CGROUP_MEMORY) == 1) {
        r = job_read_u64(j, CGROUP_MEMORY, "memory.max_usage_in_bytes", &u->memory_peak, NULL);
        if (r >= 0)
            r = job_read_key(j, CGROUP_MEMORY, "memory.oom_control", "oom_kill", &ooms, NULL);
    } else if (j->peak_fd >= 0) {
        ssize_t n = pread(j->peak_fd, buf, sizeof(buf) - 1, 0);
        r = n < 0 ? -errno : 0;
        buf[n > 0 ? n : 0] = '\0';
        if (r >= 0)
            r = cg_parse_u64("memory.peak", buf, &u->memory_peak, NULL);
        if (r >= 0)
            r = job_read_key(j, CGROUP_MEMORY, "memory.events", "oom_kill", &ooms, NULL);
    } else {
        r = job_read_u64(j, CGROUP_MEMORY, "memory.peak", &u->memory_peak, NULL);
        if (r >= 0)
            r = job_read_key(j, CGROUP_MEMORY, "memory.events", "oom_kill", &ooms, NULL);
    }
    if (r >= 0)
        u->memory_limit_hit = ooms > j->oom_kill_base;
    return r;
}

int
cgroup_job_usage(const struct cgroup_job *j, struct cgroup_usage *ret)
{
    struct cgroup_usage u = {0};
    uint64_t max_events;
    int r = 0;

    if (j && hier_version(j->pool, CGROUP_CPU))
        r = job_usage_cpu(j, &u.cpu_ns);
    if (r >= 0 && j && hier_version(j->pool, CGROUP_MEMORY))
        r = job_usage_memory(j, &u);
    if (r >= 0 && j && hier_version(j->pool, CGROUP_PIDS)) {
        r = job_read_key(j, CGROUP_PIDS, "pids.events", "max", &max_events, NULL);
        u.pids_limit_hit = r >= 0 && max_events > j->pids_max_base;
    }
    if (r < 0)
        return r;
    *ret = u;
    return 0;
}

int
cgroup_job_kill(struct cgroup_job *j)
{
    return j ? job_kill(j) : 0;
}

void
cgroup_job_release(struct cgroup_pool *p, struct cgroup_job *j)
{
    struct err err = {0};
    int r;

    if (!j)
        return;
    if (j->peak_fd >= 0) {
        close(j->peak_fd);
        j->peak_fd = -1;
    }
    r = job_kill(j);
    if (r < 0)
        err_set(&err, -r, "cgroup", "processes survive SIGKILL: %s", strerror(-r));
    else
        r = job_reset(j, true, &err);
    if (r >= 0 && pool_push(p, j))
        return;
    if (r < 0)
        log_warn("cgroup.release", "job-%u: removed, not reused: %s", j->id, err.message);
    job_remove(j);
    job_free(j);
}
