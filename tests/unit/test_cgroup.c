/*
 * Unit tests for cgroup, against the real hierarchies: they need root and a writable memory
 * controller and are skipped otherwise (except the unprivileged case, which runs either way, as
 * root by dropping to nobody in a child). Each test uses its own parent directory,
 * "airlock-test-<pid>-<n>", and the suite's .fini kills what is left in it and removes it, so a
 * failing test leaves nothing behind. Children are moved into a job cgroup while they wait on a
 * pipe, so that everything they do happens inside it; every wait is bounded.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "cgroup.h"
#include "probe.h"

#define MIB (1024u * 1024u)
#define WAIT_MS 10000

static struct probe probe;
static char parent[64];
static unsigned parent_seq;

/* ---------------------------------------------------------------------------------------------
 * Helpers
 */

static void
sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* The mounts this machine's pool may use: memory, pids, and cpuacct (v1) or cpu (v2). */
static const char *
mount_of(enum cgroup_ctrl c)
{
    const struct probe_cgroup *pc = c == CGROUP_MEMORY ? &probe.cgroup[PROBE_CG_MEMORY]
                                    : c == CGROUP_PIDS ? &probe.cgroup[PROBE_CG_PIDS]
                                    : probe.cgroup[PROBE_CG_CPU].version == 2
                                        ? &probe.cgroup[PROBE_CG_CPU]
                                        : &probe.cgroup[PROBE_CG_CPUACCT];
    return pc->version ? pc->path : NULL;
}

static void
kill_procs(const char *dir)
{
    char path[PATH_MAX + 16];

    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    for (int round = 0; round < 200; round++) {
        FILE *f = fopen(path, "re");
        int pid, n = 0;
        if (!f)
            return;
        while (fscanf(f, "%d", &pid) == 1) {
            if (pid != getpid())
                kill(pid, SIGKILL);
            n++;
        }
        fclose(f);
        if (!n)
            return;
        sleep_ms(10);
    }
}

/* Kills and removes <mount>/<parent>/ * and <mount>/<parent>: whatever a test left. */
static void
remove_parent(const char *mount)
{
    char dir[PATH_MAX], sub[PATH_MAX + 256];
    struct dirent *de;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/%s", mount, parent);
    d = opendir(dir);
    if (!d)
        return;
    while ((de = readdir(d))) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
        kill_procs(sub);
        rmdir(sub);
    }
    closedir(d);
    rmdir(dir);
}

static void
setup(void)
{
    probe_kernel(&probe);
    snprintf(parent, sizeof(parent), "airlock-test-%d-%u", (int)getpid(), parent_seq++);
}

static void
teardown(void)
{
    for (int c = 0; c < CGROUP_CTRL_COUNT; c++)
        if (mount_of(c))
            remove_parent(mount_of(c));
    if (probe.cgroup2_mounted)
        remove_parent(probe.cgroup2_path);
}

TestSuite(cgroup, .init = setup, .fini = teardown, .timeout = 60);

/* A pool that enforces memory at least, or the test is skipped. */
static struct cgroup_pool *
pool_or_skip(size_t prealloc)
{
    struct cgroup_pool *p = NULL;
    struct err err = {0};

    if (geteuid() != 0)
        cr_skip_test("needs root");
    cr_assert_eq(cgroup_pool_new(&probe, parent, prealloc, &p, &err), 0, "%s", err.message);
    if (!cgroup_pool_enforces(p, CGROUP_MEMORY)) {
        cgroup_pool_free(p);
        cr_skip_test("memory controller not writable");
    }
    return p;
}

static struct cgroup_job *
acquire(struct cgroup_pool *p, uint64_t memory_bytes, uint64_t pids)
{
    struct cgroup_limits l = {.memory_bytes = memory_bytes, .pids = pids};
    struct cgroup_job *j = NULL;
    struct err err = {0};

    cr_assert_eq(cgroup_job_acquire(p, &l, &j, &err), 0, "%s", err.message);
    cr_assert_not_null(j);
    return j;
}

/* The job's directory in the hierarchy mounted at mount, into dir. */
static void
job_dir(const struct cgroup_job *j, const char *mount, char *dir)
{
    char paths[CGROUP_CTRL_COUNT][PATH_MAX];
    size_t n = cgroup_job_procs_files(j, paths, CGROUP_CTRL_COUNT);

    for (size_t i = 0; i < n; i++) {
        if (strncmp(paths[i], mount, strlen(mount)) == 0 && paths[i][strlen(mount)] == '/') {
            *strrchr(paths[i], '/') = '\0';
            snprintf(dir, PATH_MAX, "%s", paths[i]);
            return;
        }
    }
    cr_assert_fail("no cgroup of the job under %s", mount);
}

static void
read_file(const char *dir, const char *name, char *buf, size_t n)
{
    char path[PATH_MAX + 64];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "re");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_not_null(fgets(buf, (int)n, f), "%s: empty", path);
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
}

static void
write_pid(const char *path, pid_t pid)
{
    char value[16];
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int len = snprintf(value, sizeof(value), "%d", (int)pid);

    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, value, (size_t)len), len, "%s: %s", path, strerror(errno));
    close(fd);
}

/* Forks a child that waits on a pipe until it is in all the job's cgroups, then runs fn and
 * exits with its result. If the test fails before releasing it, the pipe closes and the child
 * exits. */
static pid_t
spawn_in(const struct cgroup_job *j, int (*fn)(void))
{
    char paths[CGROUP_CTRL_COUNT][PATH_MAX];
    size_t n = cgroup_job_procs_files(j, paths, CGROUP_CTRL_COUNT);
    int gate[2];
    pid_t pid;

    cr_assert_eq(pipe2(gate, O_CLOEXEC), 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        char c;
        close(gate[1]);
        if (read(gate[0], &c, 1) != 1)
            _exit(100);
        _exit(fn());
    }
    close(gate[0]);
    for (size_t i = 0; i < n; i++)
        write_pid(paths[i], pid);
    cr_assert_eq(write(gate[1], "x", 1), 1);
    close(gate[1]);
    return pid;
}

/* waitpid bounded by ms; on timeout the child is killed and the test fails. */
static int
wait_child(pid_t pid, int ms)
{
    int status = 0;

    for (int waited = 0; waited < ms; waited += 5) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        cr_assert_geq(r, 0, "waitpid: %s", strerror(errno));
        if (r == pid)
            return status;
        sleep_ms(5);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    cr_assert_fail("child %d still running after %d ms", (int)pid, ms);
    return status;
}

static size_t
count_procs(const struct cgroup_job *j)
{
    char paths[CGROUP_CTRL_COUNT][PATH_MAX];
    size_t n = cgroup_job_procs_files(j, paths, CGROUP_CTRL_COUNT);
    size_t count = 0;
    int pid;

    for (size_t i = 0; i < n; i++) {
        FILE *f = fopen(paths[i], "re");
        cr_assert_not_null(f, "%s: %s", paths[i], strerror(errno));
        while (fscanf(f, "%d", &pid) == 1)
            count++;
        fclose(f);
    }
    return count;
}

static struct cgroup_usage
usage(const struct cgroup_job *j)
{
    struct cgroup_usage u;

    cr_assert_eq(cgroup_job_usage(j, &u), 0);
    return u;
}

static bool
exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---------------------------------------------------------------------------------------------
 * What children do in their cgroup
 */

static int
child_hog(void)
{
    size_t n = 64 * MIB;
    char *p = malloc(n);

    if (!p)
        return 2;
    memset(p, 1, n);
    __asm__ volatile("" : : "r"(p) : "memory"); /* or the compiler drops the whole allocation */
    free(p);
    return 0;
}

/* Forks sleepers until fork fails; 0 when it failed with EAGAIN (pids.max), as it should. */
static int
child_forker(void)
{
    for (int i = 0; i < 64; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            sleep(30);
            _exit(0);
        }
        if (pid < 0)
            return errno == EAGAIN ? 0 : 2;
    }
    return 1;
}

static int
child_busy(void)
{
    struct timespec ts;

    do
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    while (ts.tv_sec == 0 && ts.tv_nsec < 300000000);
    return 0;
}

/* A sleeper with a sleeping child of its own: a small tree. */
static int
child_sleeper(void)
{
    if (fork() == 0) {
        sleep(30);
        _exit(0);
    }
    sleep(30);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Tests
 */

Test(cgroup, pool_creates_parent_and_job_dirs)
{
    struct cgroup_pool *p = pool_or_skip(2);
    char path[PATH_MAX + 128];

    cr_assert(strstr(cgroup_pool_describe(p), "memory:v") != NULL, "%s", cgroup_pool_describe(p));
    for (int c = 0; c < CGROUP_CTRL_COUNT; c++) {
        if (!cgroup_pool_enforces(p, c))
            continue;
        for (int id = 0; id < 2; id++) {
            snprintf(path, sizeof(path), "%s/%s/job-%d/cgroup.procs", mount_of(c), parent, id);
            cr_expect(exists(path), "%s missing", path);
        }
    }
    cgroup_pool_free(p);
    snprintf(path, sizeof(path), "%s/%s", mount_of(CGROUP_MEMORY), parent);
    cr_expect(!exists(path), "%s left after cgroup_pool_free", path);
}

Test(cgroup, acquire_sets_memory_and_pids_limits)
{
    struct cgroup_pool *p = pool_or_skip(1);
    struct cgroup_job *j = acquire(p, 32 * MIB, 16);
    char dir[PATH_MAX], buf[64];

    job_dir(j, mount_of(CGROUP_MEMORY), dir);
    if (probe.cgroup[PROBE_CG_MEMORY].version == 1) {
        read_file(dir, "memory.limit_in_bytes", buf, sizeof(buf));
        cr_expect_str_eq(buf, "33554432");
        snprintf(buf, sizeof(buf), "%s/memory.memsw.limit_in_bytes", dir);
        if (exists(buf)) {
            read_file(dir, "memory.memsw.limit_in_bytes", buf, sizeof(buf));
            cr_expect_str_eq(buf, "33554432");
        }
    } else {
        read_file(dir, "memory.max", buf, sizeof(buf));
        cr_expect_str_eq(buf, "33554432");
    }
    if (cgroup_pool_enforces(p, CGROUP_PIDS)) {
        job_dir(j, mount_of(CGROUP_PIDS), dir);
        read_file(dir, "pids.max", buf, sizeof(buf));
        cr_expect_str_eq(buf, "16");
    }
    cgroup_job_release(p, j);
    cgroup_pool_free(p);
}

Test(cgroup, memory_hog_is_oom_killed_and_reported)
{
    struct cgroup_pool *p = pool_or_skip(1);
    struct cgroup_job *j = acquire(p, 16 * MIB, 0);
    struct cgroup_usage u = usage(j);
    int status;

    cr_assert(!u.memory_limit_hit);
    status = wait_child(spawn_in(j, child_hog), WAIT_MS);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x", status);
    u = usage(j);
    cr_expect(u.memory_limit_hit);
    cr_expect_gt(u.memory_peak, 8 * MIB, "peak %" PRIu64, u.memory_peak);
    cr_expect_leq(u.memory_peak, 16 * MIB, "peak %" PRIu64, u.memory_peak);
    cgroup_job_release(p, j);
    cgroup_pool_free(p);
}

Test(cgroup, fork_past_pids_max_sees_eagain_and_is_reported)
{
    struct cgroup_pool *p = pool_or_skip(1);
    struct cgroup_job *j;
    int status;

    if (!cgroup_pool_enforces(p, CGROUP_PIDS)) {
        cgroup_pool_free(p);
        cr_skip_test("pids controller not writable");
    }
    j = acquire(p, 0, 8);
    cr_assert(!usage(j).pids_limit_hit);
    status = wait_child(spawn_in(j, child_forker), WAIT_MS);
    cr_assert(WIFEXITED(status), "status %#x", status);
    cr_expect_eq(WEXITSTATUS(status), 0, "forker: 1 = never refused, 2 = not EAGAIN");
    cr_expect(usage(j).pids_limit_hit);
    cgroup_job_release(p, j); /* kills the sleepers it left */
    cgroup_pool_free(p);
}

Test(cgroup, cpu_time_grows_with_a_busy_child)
{
    struct cgroup_pool *p = pool_or_skip(1);
    struct cgroup_job *j;
    uint64_t before;
    int status;

    if (!cgroup_pool_enforces(p, CGROUP_CPU)) {
        cgroup_pool_free(p);
        cr_skip_test("no CPU accounting hierarchy");
    }
    j = acquire(p, 0, 0);
    before = usage(j).cpu_ns;
    cr_expect_lt(before, 50000000u, "cpu_ns %" PRIu64 " before anything ran", before);
    status = wait_child(spawn_in(j, child_busy), WAIT_MS);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
    cr_expect_geq(usage(j).cpu_ns, before + 250000000u, "cpu_ns %" PRIu64, usage(j).cpu_ns);
    cgroup_job_release(p, j);
    cgroup_pool_free(p);
}

Test(cgroup, kill_ends_a_tree_of_sleepers)
{
    struct cgroup_pool *p = pool_or_skip(1);
    struct cgroup_job *j = acquire(p, 0, 0);
    pid_t pids[5];
    size_t nprocs = 0;

    for (size_t i = 0; i < ARRAY_SIZE(pids); i++)
        pids[i] = spawn_in(j, child_sleeper);
    /* Five sleepers and their five children, listed once in each hierarchy. */
    for (int waited = 0; waited < WAIT_MS; waited += 10) {
        char paths[CGROUP_CTRL_COUNT][PATH_MAX];
        size_t n = cgroup_job_procs_files(j, paths, CGROUP_CTRL_COUNT);
        nprocs = count_procs(j);
        if (nprocs >= 10 * n)
            break;
        sleep_ms(10);
    }
    cr_assert_eq(cgroup_job_kill(j), 0);
    for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
        int status = wait_child(pids[i], WAIT_MS);
        cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x", status);
    }
    cr_expect_eq(count_procs(j), 0);
    cgroup_job_release(p, j);
    cgroup_pool_free(p);
}

Test(cgroup, release_then_acquire_reuses_the_dir_with_counters_reset)
{
    struct cgroup_pool *p = pool_or_skip(1);
    struct cgroup_job *j = acquire(p, 16 * MIB, 8);
    char first[PATH_MAX], again[PATH_MAX], buf[64];
    struct cgroup_usage u;

    job_dir(j, mount_of(CGROUP_MEMORY), first);
    wait_child(spawn_in(j, child_hog), WAIT_MS);
    cr_assert(usage(j).memory_limit_hit);
    cgroup_job_release(p, j);

    j = acquire(p, 0, 0);
    job_dir(j, mount_of(CGROUP_MEMORY), again);
    cr_expect_str_eq(again, first);
    u = usage(j);
    cr_expect(!u.memory_limit_hit);
    cr_expect(!u.pids_limit_hit);
    cr_expect_lt(u.cpu_ns, 1000000u, "cpu_ns %" PRIu64, u.cpu_ns);
    cr_expect_lt(u.memory_peak, 16 * MIB, "peak %" PRIu64, u.memory_peak);
    if (probe.cgroup[PROBE_CG_MEMORY].version == 1) {
        read_file(again, "memory.limit_in_bytes", buf, sizeof(buf));
        cr_expect_str_neq(buf, "16777216", "the old limit survived release");
    }
    cgroup_job_release(p, j);
    cgroup_pool_free(p);
}

Test(cgroup, stale_job_cgroup_is_emptied_at_start)
{
    const char *mem = mount_of(CGROUP_MEMORY);
    struct cgroup_pool *p;
    char dir[PATH_MAX], procs[PATH_MAX + 32];
    pid_t pid;
    int status;

    if (geteuid() != 0 || !mem)
        cr_skip_test("needs root and a memory hierarchy");
    snprintf(dir, sizeof(dir), "%s/%s", mem, parent);
    if (mkdir(dir, 0755) < 0)
        cr_skip_test("%s: %s", dir, strerror(errno));
    snprintf(dir, sizeof(dir), "%s/%s/job-99", mem, parent);
    cr_assert_eq(mkdir(dir, 0755), 0, "%s: %s", dir, strerror(errno));
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        sleep(30);
        _exit(0);
    }
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
    write_pid(procs, pid);

    p = pool_or_skip(1);
    status = wait_child(pid, WAIT_MS);
    cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x", status);
    if (exists(dir)) {
        char buf[64] = "";
        FILE *f = fopen(procs, "re");
        cr_assert_not_null(f);
        cr_expect_null(fgets(buf, sizeof(buf), f), "job-99 not empty: %s", buf);
        fclose(f);
    }
    cgroup_pool_free(p);
}

Test(cgroup, write_error_names_the_file)
{
    struct cgroup_pool *p = pool_or_skip(1);
    struct cgroup_limits l = {.memory_bytes = 16 * MIB};
    struct cgroup_job *j = NULL;
    struct err err = {0};
    char dir[PATH_MAX], want[PATH_MAX + 128];

    /* Take the idle cgroup's memory directory away behind the pool's back. */
    snprintf(dir, sizeof(dir), "%s/%s/job-0", mount_of(CGROUP_MEMORY), parent);
    cr_assert_eq(rmdir(dir), 0, "%s: %s", dir, strerror(errno));
    cr_assert_eq(cgroup_job_acquire(p, &l, &j, &err), -ENOENT);
    cr_assert_null(j);
    snprintf(want, sizeof(want), "%s/%s: write 16777216: No such file or directory", dir,
             probe.cgroup[PROBE_CG_MEMORY].version == 1 ? "memory.limit_in_bytes" : "memory.max");
    cr_expect_str_eq(err.message, want);
    cgroup_pool_free(p);
}

/* The v2 code path, as far as this machine allows: a cgroup2 tree without controllers still has
 * cpu.stat and cgroup.kill in every cgroup, so a probe that reports only "cpu" on it drives
 * mkdir, the usage_usec baseline and cgroup.kill there. */
Test(cgroup, v2_cpu_accounting_and_kill_on_the_unified_tree)
{
    struct probe v2 = {0};
    struct cgroup_pool *p = NULL;
    struct cgroup_job *j;
    struct err err = {0};
    pid_t sleeper;
    int status;

    if (geteuid() != 0 || !probe.cgroup2_mounted)
        cr_skip_test("needs root and a cgroup2 mount");
    v2.cgroup[PROBE_CG_CPU].version = 2;
    v2.cgroup[PROBE_CG_CPU].writable = true;
    snprintf(v2.cgroup[PROBE_CG_CPU].path, PATH_MAX, "%s", probe.cgroup2_path);
    cr_assert_eq(cgroup_pool_new(&v2, parent, 1, &p, &err), 0, "%s", err.message);
    cr_assert_str_eq(cgroup_pool_describe(p), "cpu:v2");
    j = acquire(p, 16 * MIB, 8); /* limits of controllers it lacks are ignored */
    cr_assert_lt(usage(j).cpu_ns, 50000000u);
    status = wait_child(spawn_in(j, child_busy), WAIT_MS);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
    cr_expect_geq(usage(j).cpu_ns, 250000000u, "cpu_ns %" PRIu64, usage(j).cpu_ns);
    sleeper = spawn_in(j, child_sleeper);
    cr_assert_eq(cgroup_job_kill(j), 0);
    status = wait_child(sleeper, WAIT_MS);
    cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x", status);
    cgroup_job_release(p, j);
    j = acquire(p, 0, 0); /* the baseline hides the previous job's CPU time */
    cr_expect_lt(usage(j).cpu_ns, 1000000u, "cpu_ns %" PRIu64, usage(j).cpu_ns);
    cgroup_job_release(p, j);
    cgroup_pool_free(p);
}

struct taker {
    struct cgroup_pool *pool;
    struct cgroup_job *jobs[8]; /* held at the end, released once every thread is done */
    int failures;
};

static void *
take_and_give_back(void *arg)
{
    struct taker *t = arg;
    struct cgroup_limits l = {.memory_bytes = 64 * MIB, .pids = 64};

    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < ARRAY_SIZE(t->jobs); i++) {
            struct err err;
            if (cgroup_job_acquire(t->pool, &l, &t->jobs[i], &err) < 0 || !t->jobs[i])
                t->failures++;
        }
        for (size_t i = 0; i < ARRAY_SIZE(t->jobs) && round < 19; i++)
            cgroup_job_release(t->pool, TAKE_PTR(t->jobs[i]));
    }
    return NULL;
}

/* Four threads acquire and release at once: no failure, and no cgroup handed out twice. */
Test(cgroup, concurrent_acquire_gives_distinct_cgroups)
{
    struct cgroup_pool *p = pool_or_skip(8);
    static struct taker takers[4];
    static char dirs[32][PATH_MAX];
    pthread_t threads[4];

    for (size_t i = 0; i < 4; i++) {
        takers[i].pool = p;
        cr_assert_eq(pthread_create(&threads[i], NULL, take_and_give_back, &takers[i]), 0);
    }
    for (size_t i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    for (size_t a = 0; a < 32; a++) {
        cr_assert_eq(takers[a / 8].failures, 0);
        job_dir(takers[a / 8].jobs[a % 8], mount_of(CGROUP_MEMORY), dirs[a]);
        for (size_t b = 0; b < a; b++)
            cr_expect_str_neq(dirs[a], dirs[b], "handed out twice: %s", dirs[a]);
    }
    for (size_t a = 0; a < 32; a++)
        cgroup_job_release(p, takers[a / 8].jobs[a % 8]);
    cgroup_pool_free(p);
}

/* The pool's behaviour without rights: created, enforcing nothing, acquire gives NULL. Runs in
 * a child so that root can drop to nobody for it. Exit codes name the failed step. */
static int
unprivileged_checks(void)
{
    struct cgroup_pool *p = NULL;
    struct cgroup_limits l = {.memory_bytes = 16 * MIB, .pids = 8};
    struct cgroup_job *j = (struct cgroup_job *)&l;
    struct err err = {0};

    if (cgroup_pool_new(&probe, parent, 4, &p, &err) < 0)
        return 10;
    for (int c = 0; c < CGROUP_CTRL_COUNT; c++)
        if (cgroup_pool_enforces(p, c))
            return 11;
    if (strcmp(cgroup_pool_describe(p), "none") != 0)
        return 12;
    if (cgroup_job_acquire(p, &l, &j, &err) < 0 || j != NULL)
        return 13;
    cgroup_job_release(p, j);
    cgroup_pool_free(p);
    return 0;
}

Test(cgroup, unprivileged_pool_enforces_nothing)
{
    pid_t pid;
    int status;

    if (geteuid() != 0) {
        cr_assert_eq(unprivileged_checks(), 0);
        return;
    }
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
            setresuid(65534, 65534, 65534) < 0)
            _exit(2);
        _exit(unprivileged_checks());
    }
    status = wait_child(pid, WAIT_MS);
    cr_assert(WIFEXITED(status), "status %#x", status);
    cr_expect_eq(WEXITSTATUS(status), 0, "step %d failed", WEXITSTATUS(status));
}

/* Not a check but a measurement, logged: creating a job cgroup (an acquire from an empty pool)
 * against an acquire from a warm pool. The bounds only catch something pathological. */
Test(cgroup, measure_create_and_warm_acquire)
{
    struct cgroup_pool *p = pool_or_skip(0);
    struct cgroup_job *jobs[100];
    int64_t t0, cold, warm = 0;

    t0 = time_mono_us();
    for (size_t i = 0; i < ARRAY_SIZE(jobs); i++)
        jobs[i] = acquire(p, 64 * MIB, 64);
    cold = time_mono_us() - t0;
    for (size_t i = 0; i < ARRAY_SIZE(jobs); i++)
        cgroup_job_release(p, jobs[i]);
    for (size_t i = 0; i < ARRAY_SIZE(jobs); i++) {
        struct cgroup_job *j;
        t0 = time_mono_us();
        j = acquire(p, 64 * MIB, 64);
        warm += time_mono_us() - t0;
        cgroup_job_release(p, j);
    }
    cr_log_info("cgroup %s: create+limits %.1f us/job, warm acquire %.1f us/job (100 each)",
                cgroup_pool_describe(p), (double)cold / 100.0, (double)warm / 100.0);
    cr_expect_lt(warm / 100, 100000, "warm acquire over 100 ms");
    cgroup_pool_free(p);
}
