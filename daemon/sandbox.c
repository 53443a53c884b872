/*
 * sandbox: spawning one job. sandbox_spawn runs in the spawner (single-threaded): it clones a
 * child into new user, mount, pid, net, ipc and uts namespaces, writes the child's uid and gid
 * maps and puts it into its cgroups, then releases it. The child -- pid 1 of its namespace --
 * makes a fresh cgroup namespace, sets up the proxy listener and the filesystem, becomes the
 * job's uid, applies Landlock, rlimits, drops every capability, sets no_new_privs, applies
 * seccomp, and forks the command. It stays as the job's init: it reaps orphans and, when the
 * command ends, writes the command's wait status to the status pipe and exits, which makes the
 * kernel kill everything left in the namespace (daemonised children included).
 *
 * Between clone and exec nothing is allocated and no stdio is used: the spec was prepared and
 * checked before the clone. A failing step writes a struct sandbox_fail to the error pipe; the
 * spawner reads it (or EOF, when exec succeeded) before it answers.
 */
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "sandbox_internal.h"
#include "unixmsg.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

void
sandbox_cat(char *dst, size_t n, const char *a, const char *b)
{
    size_t la = strnlen(a, n - 1);
    size_t lb;

    if (a != dst)
        memmove(dst, a, la);
    lb = strnlen(b, n - 1 - la);
    memmove(dst + la, b, lb);
    dst[la + lb] = '\0';
}

void
sandbox_utoa(uint64_t v, char *buf, size_t n)
{
    char rev[24];
    size_t k = 0;

    do {
        rev[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && k < sizeof(rev));
    for (size_t i = 0; i < k && i + 1 < n; i++)
        buf[i] = rev[k - 1 - i];
    buf[k < n ? k : n - 1] = '\0';
}

int
sandbox_fail(struct sandbox_fail *f, int step, int err, const char *what)
{
    f->step = step;
    f->err = err;
    sandbox_cat(f->what, sizeof(f->what), what ? what : "", "");
    return -err;
}

/* ---- the process title ---- */

static char *title_start;
static size_t title_len;

void
sandbox_title_area(char *start, size_t len)
{
    title_start = start;
    title_len = len;
}

void
sandbox_title(const char *title)
{
    if (!title_start || title_len == 0)
        return;
    memset(title_start, 0, title_len);
    memcpy(title_start, title, strnlen(title, title_len - 1));
    prctl(PR_SET_NAME, title, 0, 0, 0);
}

/* ---- the child ---- */

struct child_fds {
    int sync_rd;   /* the spawner writes one byte when maps and cgroups are done */
    int err_wr;    /* struct sandbox_fail on failure; closed by exec on success */
    int sock;      /* the listener goes to the spawner through it */
    int status_wr; /* init writes the command's wait status here */
    int stdin_fd, stdout_wr, stderr_wr;
    int ws_fd;  /* O_PATH of the workspace, opened before the uid change: bound from it */
    int ws_mnt; /* an adopted workspace's idmapped mount (detached), made by the spawner */
};

static int
become_job_uid(const struct sandbox_spec *s, struct sandbox_fail *f)
{
    (void)s;
    /* setgroups is refused when the map was written by an unprivileged spawner ("deny"). */
    if (setgroups(0, NULL) < 0 && errno != EPERM)
        return sandbox_fail(f, SANDBOX_STEP_IDS, errno, "setgroups");
    if (setresgid(SANDBOX_INNER_UID, SANDBOX_INNER_UID, SANDBOX_INNER_UID) < 0 ||
        setresuid(SANDBOX_INNER_UID, SANDBOX_INNER_UID, SANDBOX_INNER_UID) < 0)
        return sandbox_fail(f, SANDBOX_STEP_IDS, errno, "setresuid");
    return 0;
}

static int
set_rlimit(int res, uint64_t v, const char *name, struct sandbox_fail *f)
{
    struct rlimit rl = {.rlim_cur = v, .rlim_max = v};

    if (res == RLIMIT_CPU)
        rl.rlim_max = v + 1; /* SIGXCPU at the soft limit, SIGKILL a second later */
    if (setrlimit(res, &rl) < 0)
        return sandbox_fail(f, SANDBOX_STEP_RLIMIT, errno, name);
    return 0;
}

static int
apply_rlimits(const struct sandbox_rlimits *l, struct sandbox_fail *f)
{
    int r = set_rlimit(RLIMIT_CORE, 0, "RLIMIT_CORE", f);

    if (r == 0 && l->cpu_s)
        r = set_rlimit(RLIMIT_CPU, l->cpu_s, "RLIMIT_CPU", f);
    if (r == 0 && l->as_bytes)
        r = set_rlimit(RLIMIT_AS, l->as_bytes, "RLIMIT_AS", f);
    if (r == 0 && l->nproc)
        r = set_rlimit(RLIMIT_NPROC, l->nproc, "RLIMIT_NPROC", f);
    if (r == 0 && l->fsize_bytes)
        r = set_rlimit(RLIMIT_FSIZE, l->fsize_bytes, "RLIMIT_FSIZE", f);
    if (r == 0 && l->nofile)
        r = set_rlimit(RLIMIT_NOFILE, l->nofile, "RLIMIT_NOFILE", f);
    return r;
}

/* Empties the bounding, ambient, inheritable, permitted and effective sets. */
static int
drop_caps(struct sandbox_fail *f)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2] = {{0}};

    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return sandbox_fail(f, SANDBOX_STEP_CAPS, errno, "PR_CAPBSET_DROP");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return sandbox_fail(f, SANDBOX_STEP_CAPS, errno, "PR_CAP_AMBIENT");
    if (syscall(SYS_capset, &h, d) < 0)
        return sandbox_fail(f, SANDBOX_STEP_CAPS, errno, "capset");
    return 0;
}

static int
apply_landlock(const struct sandbox_spec *s, struct sandbox_fail *f)
{
    struct sandbox_ll_rule rules[SANDBOX_MOUNTS_MAX + 16];
    size_t n = 0;
    int r;

    if (s->landlock_abi <= 0)
        return 0;
    for (uint32_t i = 0; i < s->nmounts; i++)
        rules[n++] = (struct sandbox_ll_rule){
            sandbox_str(s, s->mounts[i].path),
            SANDBOX_LL_READ | SANDBOX_LL_EXEC |
                ((s->mounts[i].flags & SANDBOX_MNT_RW) ? SANDBOX_LL_WRITE : 0)};
    rules[n++] = (struct sandbox_ll_rule){"/workspace",
                                          SANDBOX_LL_READ | SANDBOX_LL_WRITE | SANDBOX_LL_EXEC};
    rules[n++] =
        (struct sandbox_ll_rule){"/tmp", SANDBOX_LL_READ | SANDBOX_LL_WRITE | SANDBOX_LL_EXEC};
    rules[n++] = (struct sandbox_ll_rule){"/dev/shm", SANDBOX_LL_READ | SANDBOX_LL_WRITE};
    /* Listing "/" shows only what this sandbox mounted; file contents stay per rule. */
    rules[n++] = (struct sandbox_ll_rule){"/", SANDBOX_LL_LIST};
    rules[n++] = (struct sandbox_ll_rule){"/proc", SANDBOX_LL_READ};
    rules[n++] = (struct sandbox_ll_rule){"/etc/hosts", SANDBOX_LL_READ};
    rules[n++] = (struct sandbox_ll_rule){"/dev", SANDBOX_LL_READ};
    rules[n++] = (struct sandbox_ll_rule){"/dev/null", SANDBOX_LL_DEV};
    rules[n++] = (struct sandbox_ll_rule){"/dev/zero", SANDBOX_LL_DEV};
    rules[n++] = (struct sandbox_ll_rule){"/dev/full", SANDBOX_LL_DEV};
    rules[n++] = (struct sandbox_ll_rule){"/dev/random", SANDBOX_LL_DEV};
    rules[n++] = (struct sandbox_ll_rule){"/dev/urandom", SANDBOX_LL_DEV};
    rules[n++] = (struct sandbox_ll_rule){"/dev/tty", SANDBOX_LL_DEV};
    r = sandbox_landlock_apply(s->landlock_abi, rules, n, SANDBOX_PROXY_PORT);
    if (r < 0)
        return sandbox_fail(f, SANDBOX_STEP_LANDLOCK, -r, "landlock");
    return 0;
}

/* execve through the PATH of the job's environment, without allocating. */
static int
exec_path(const char *file, char *const argv[], char *const envp[])
{
    const char *path = DEFAULT_PATH;
    char buf[SANDBOX_PATH_MAX];
    int err = ENOENT;

    if (strchr(file, '/')) {
        execve(file, argv, envp);
        return -errno;
    }
    for (size_t i = 0; envp[i]; i++)
        if (strncmp(envp[i], "PATH=", 5) == 0)
            path = envp[i] + 5;
    while (*path) {
        size_t len = strcspn(path, ":");
        if (len > 0 && len + strlen(file) + 2 < sizeof(buf)) {
            memcpy(buf, path, len);
            buf[len] = '/';
            sandbox_cat(buf + len + 1, sizeof(buf) - len - 1, file, "");
            execve(buf, argv, envp);
            if (errno != ENOENT && errno != ENOTDIR)
                err = errno;
        }
        path += len + (path[len] == ':');
    }
    return -err;
}

static void
write_fail(int fd, const struct sandbox_fail *f)
{
    ssize_t w = write(fd, f, sizeof(*f));
    (void)w;
}

/* The command: stdio, cwd, exec. Never returns. */
__attribute__((noreturn)) static void
run_command(const struct sandbox_spec *s, const struct child_fds *fds)
{
    struct sandbox_fail f = {0};
    char *argv[SANDBOX_ARGV_MAX + 1];
    char *envp[SANDBOX_ENV_MAX + 1];
    int r;

    for (uint32_t i = 0; i < s->argc; i++)
        argv[i] = (char *)(uintptr_t)sandbox_str(s, s->argv[i]);
    argv[s->argc] = NULL;
    for (uint32_t i = 0; i < s->envc; i++)
        envp[i] = (char *)(uintptr_t)sandbox_str(s, s->envp[i]);
    envp[s->envc] = NULL;
    if (dup2(fds->stdin_fd, 0) < 0 || dup2(fds->stdout_wr, 1) < 0 || dup2(fds->stderr_wr, 2) < 0) {
        sandbox_fail(&f, SANDBOX_STEP_STDIO, errno, "dup2");
        goto fail;
    }
    if (chdir(sandbox_str(s, s->cwd)) < 0) {
        sandbox_fail(&f, SANDBOX_STEP_CWD, errno, sandbox_str(s, s->cwd));
        goto fail;
    }
    /* Only stdio and the error pipe (CLOEXEC) stay open across exec. */
    r = exec_path(argv[0], argv, envp);
    sandbox_fail(&f, SANDBOX_STEP_EXEC, -r, argv[0]);
fail:
    write_fail(fds->err_wr, &f);
    _exit(127);
}

/* pid 1 of the job: reap everything; report the command's status; exit. */
__attribute__((noreturn)) static void
run_init(pid_t cmd, const struct child_fds *fds)
{
    struct sandbox_end end = {0};
    struct rusage ru;
    int st;
    pid_t pid;

    for (;;) {
        pid = waitpid(-1, &st, 0);
        if (pid == cmd) {
            end.status = st;
            break;
        }
        if (pid < 0 && errno != EINTR)
            break;
    }
    /* The command has ended: so has the job. Whatever it left behind (background and
     * daemonised children) is killed and reaped here, before the end is reported, so nothing
     * of the job runs after it is recorded as ended. (Exiting as pid 1 would make the kernel
     * do it too, but only after tearing down the namespaces, which can take a grace period.) */
    kill(-1, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    if (getrusage(RUSAGE_CHILDREN, &ru) == 0) {
        end.cpu_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
                     (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
        end.max_rss_kb = ru.ru_maxrss;
    }
    ssize_t w = write(fds->status_wr, &end, sizeof(end));
    (void)w;
    _exit(0);
}

static int
child_setup(const struct sandbox_spec *s, const struct sandbox_seccomp *filter,
            struct child_fds *fds, struct sandbox_fail *f)
{
    char byte;
    int lfd, r;

    /* A warm child was released by the message that brought its fds (sync_rd is -1). */
    if (fds->sync_rd >= 0 && read(fds->sync_rd, &byte, 1) != 1)
        return sandbox_fail(f, SANDBOX_STEP_SYNC, errno ? errno : EPIPE, "released");
    /* Not dumpable: the job runs as the same uid as this init (always inside its namespace,
     * and on the host too when the daemon is unprivileged), and must not read its memory or
     * write to its fds (the status pipe) through /proc/1. Only now: before the release, the
     * spawner still had to write this process's uid_map, which a non-dumpable process's
     * /proc files would refuse. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return sandbox_fail(f, SANDBOX_STEP_NNP, errno, "PR_SET_DUMPABLE");
    if (unshare(CLONE_NEWCGROUP) < 0)
        return sandbox_fail(f, SANDBOX_STEP_CGROUPNS, errno, "unshare");
    /* The workspace is opened while this process still has the spawner's host uid: the job's
     * uid need not be able to traverse the state directory (which stays 0700) to reach it.
     * An idmapped workspace arrives as a mount the spawner made. */
    fds->ws_fd = fds->ws_mnt >= 0 ? fds->ws_mnt
                                  : open(sandbox_str(s, s->workspace),
                                         O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fds->ws_fd < 0)
        return sandbox_fail(f, SANDBOX_STEP_MOUNT, errno, sandbox_str(s, s->workspace));
    /* The job's uid next: files made in the new root must belong to a uid mapped in the
     * namespace, and the capabilities of the namespace stay (the old uid was not its root). */
    if ((r = become_job_uid(s, f)) < 0)
        return r;
    umask(022);
    if ((lfd = sandbox_net_setup(SANDBOX_PROXY_PORT, f)) < 0)
        return lfd;
    r = unixmsg_send(fds->sock, "L", 1, &lfd, 1);
    close(lfd);
    if (r < 0)
        return sandbox_fail(f, SANDBOX_STEP_LISTENER, -r, "send");
    r = sandbox_mount_setup(s, fds->ws_fd, f);
    close(fds->ws_fd);
    if (r < 0)
        return r;
    if (sethostname(SANDBOX_HOSTNAME, sizeof(SANDBOX_HOSTNAME) - 1) < 0)
        return sandbox_fail(f, SANDBOX_STEP_HOSTNAME, errno, SANDBOX_HOSTNAME);
    if ((r = apply_landlock(s, f)) < 0 || (r = apply_rlimits(&s->rlimits, f)) < 0 ||
        (r = drop_caps(f)) < 0)
        return r;
    /* The parent-death signal is cleared by the uid change above, so it is set here: if the
     * spawner dies, this init dies, and with it the whole namespace. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return sandbox_fail(f, SANDBOX_STEP_NNP, errno, "prctl");
    if ((r = sandbox_seccomp_apply(filter)) < 0)
        return sandbox_fail(f, SANDBOX_STEP_SECCOMP, -r, "seccomp");
    return 0;
}

/* Closes every fd but the ones in keep (the spawner's other fds: its socket to the daemon,
 * other jobs' pipes). */
static void
close_others(const int *keep, size_t n)
{
    int sorted[16];
    unsigned lo = 3;

    for (size_t i = 0; i < n && i < ARRAY_SIZE(sorted); i++) {
        size_t j = i;
        while (j > 0 && sorted[j - 1] > keep[i]) {
            sorted[j] = sorted[j - 1];
            j--;
        }
        sorted[j] = keep[i];
    }
    for (size_t i = 0; i < n; i++) {
        if (sorted[i] < 0 || (unsigned)sorted[i] < lo)
            continue;
        if ((unsigned)sorted[i] > lo)
            syscall(SYS_close_range, lo, (unsigned)sorted[i] - 1, 0);
        lo = (unsigned)sorted[i] + 1;
    }
    syscall(SYS_close_range, lo, ~0U, 0);
}

/* fds 0-2 of the init are the daemon's (its log): the init gets /dev/null instead. */
static void
stdio_to_null(void)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

    if (fd < 0)
        return;
    for (int i = 0; i < 3; i++)
        if (i != fd)
            dup2(fd, i);
    if (fd > 2)
        close(fd);
}

/* The spawner runs with signals blocked and SIGPIPE ignored (inherited from the daemon); a
 * job starts with every signal unblocked and at its default. */
static void
reset_signals(void)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigset_t none;

    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* What every child does first: default signals, /dev/null stdio, only its own fds, and no copy
 * of the daemon's argv and environment (it may hold AIRLOCK_TOKEN). */
static void
child_prologue(const int *keep, size_t n)
{
    reset_signals();
    /* A session of its own: no controlling terminal, so /dev/tty inside is never the terminal
     * the daemon was started from (`make run` in a shell), and no signal from that terminal. */
    setsid();
    stdio_to_null();
    close_others(keep, n);
    sandbox_title("airlock-init");
}

__attribute__((noreturn)) static void child_run(const struct sandbox_spec *s,
                                                const struct sandbox_seccomp *filter,
                                                struct child_fds *fds);

__attribute__((noreturn)) static void
child_main(const struct sandbox_spec *s, const struct sandbox_seccomp *filter,
           struct child_fds *fds)
{
    const int keep[] = {fds->sync_rd,  fds->err_wr,    fds->sock,      fds->status_wr,
                        fds->stdin_fd, fds->stdout_wr, fds->stderr_wr, fds->ws_mnt};

    child_prologue(keep, ARRAY_SIZE(keep));
    child_run(s, filter, fds);
}

__attribute__((noreturn)) static void
child_run(const struct sandbox_spec *s, const struct sandbox_seccomp *filter, struct child_fds *fds)
{
    struct sandbox_fail f = {0};
    pid_t cmd;

    if (child_setup(s, filter, fds, &f) < 0) {
        write_fail(fds->err_wr, &f);
        _exit(127);
    }
    cmd = fork();
    if (cmd < 0) {
        sandbox_fail(&f, SANDBOX_STEP_FORK, errno, "fork");
        write_fail(fds->err_wr, &f);
        _exit(127);
    }
    if (cmd == 0)
        run_command(s, fds);
    close(fds->err_wr);
    if (fds->sync_rd >= 0)
        close(fds->sync_rd);
    close(fds->stdin_fd);
    close(fds->stdout_wr);
    close(fds->stderr_wr);
    close(fds->sock);
    run_init(cmd, fds);
}

/* ---- the spawner's side ---- */

static const char *const step_names[] = {
    [SANDBOX_STEP_SYNC] = "waiting for the spawner",
    [SANDBOX_STEP_CGROUPNS] = "cgroup namespace",
    [SANDBOX_STEP_NET] = "network namespace",
    [SANDBOX_STEP_LISTENER] = "proxy listener",
    [SANDBOX_STEP_MOUNT] = "mount",
    [SANDBOX_STEP_PIVOT] = "pivot_root",
    [SANDBOX_STEP_HOSTNAME] = "hostname",
    [SANDBOX_STEP_IDS] = "uid/gid",
    [SANDBOX_STEP_LANDLOCK] = "landlock",
    [SANDBOX_STEP_RLIMIT] = "rlimit",
    [SANDBOX_STEP_CAPS] = "capabilities",
    [SANDBOX_STEP_NNP] = "no_new_privs",
    [SANDBOX_STEP_SECCOMP] = "seccomp",
    [SANDBOX_STEP_FORK] = "fork",
    [SANDBOX_STEP_STDIO] = "stdio",
    [SANDBOX_STEP_CWD] = "cwd",
    [SANDBOX_STEP_EXEC] = "exec",
};

static int
write_file(const char *path, const char *text, struct err *err)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t len = (ssize_t)strlen(text);
    int r = 0;

    if (fd < 0)
        return err_set(err, errno, "internal", "%s: %m", path);
    if (write(fd, text, (size_t)len) != len)
        r = err_set(err, errno, "internal", "%s: write \"%s\": %m", path, text);
    close(fd);
    return r;
}

/* uid_map, gid_map and cgroups, while the child waits on the sync pipe. */
static int
write_maps(const struct sandbox_spec *s, pid_t pid, struct err *err)
{
    char path[64], line[64];
    int r;

    snprintf(line, sizeof(line), "%u %u 1\n", SANDBOX_INNER_UID, s->host_uid);
    snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
    if ((r = write_file(path, line, err)) < 0)
        return r;
    if (s->setgroups_deny) {
        snprintf(path, sizeof(path), "/proc/%d/setgroups", pid);
        if ((r = write_file(path, "deny", err)) < 0)
            return r;
    }
    snprintf(line, sizeof(line), "%u %u 1\n", SANDBOX_INNER_UID, s->host_gid);
    snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
    if ((r = write_file(path, line, err)) < 0)
        return r;
    return 0;
}

static int
write_cgroups_at(const struct sandbox_spec *s, const uint32_t *files, uint32_t n, pid_t pid,
                 struct err *err)
{
    char line[32];
    int r;

    snprintf(line, sizeof(line), "%d\n", pid);
    for (uint32_t i = 0; i < n; i++)
        if ((r = write_file(sandbox_str(s, files[i]), line, err)) < 0)
            return r;
    return 0;
}

static int
write_cgroups(const struct sandbox_spec *s, pid_t pid, struct err *err)
{
    return write_cgroups_at(s, s->cgroup_procs, s->ncgroups, pid, err);
}

/* Reads the error pipe to EOF: nothing means exec succeeded. */
static int
read_result(int err_rd, struct err *err)
{
    struct sandbox_fail f;
    ssize_t n;

    do
        n = read(err_rd, &f, sizeof(f));
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return 0;
    if (n != (ssize_t)sizeof(f) || f.step <= 0 || (size_t)f.step >= ARRAY_SIZE(step_names))
        return err_set(err, EPROTO, "spawn", "the sandbox failed before reporting why");
    f.what[sizeof(f.what) - 1] = '\0';
    if (f.step == SANDBOX_STEP_EXEC && f.err == ENOENT)
        return err_set(err, ENOENT, "spawn", "exec %s: not found in the sandbox's PATH", f.what);
    return err_set(err, f.err, "spawn", "%s %s: %s", step_names[f.step], f.what, strerror(f.err));
}

struct spawn_fds {
    int sync[2], errp[2], sock[2], status[2], out[2], errout[2], in, mnt;
};

static void
close_pair(int p[2])
{
    for (int i = 0; i < 2; i++)
        if (p[i] >= 0) {
            close(p[i]);
            p[i] = -1;
        }
}

static void
spawn_fds_close(struct spawn_fds *x)
{
    close_pair(x->sync);
    close_pair(x->errp);
    close_pair(x->sock);
    close_pair(x->status);
    close_pair(x->out);
    close_pair(x->errout);
    if (x->in >= 0)
        close(x->in);
    if (x->mnt >= 0)
        close(x->mnt);
    x->in = x->mnt = -1;
}

/* The ends the child got (by clone or by message): the spawner closes its copies. */
static void
close_child_ends(struct spawn_fds *x)
{
    int *ends[] = {&x->errp[1],   &x->sock[1], &x->status[1], &x->out[1],
                   &x->errout[1], &x->in,      &x->mnt};

    for (size_t i = 0; i < ARRAY_SIZE(ends); i++) {
        close(*ends[i]);
        *ends[i] = -1;
    }
}

/* A user namespace whose only mapping is from (uid, gid) to the job's host ids: the idmapping
 * of an adopted workspace's mount. A child is cloned into a new user namespace, its maps are
 * written, its namespace is opened, and it exits. */
static int
idmap_userns(const struct sandbox_spec *s, struct err *err)
{
    struct clone_args args = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
    char path[64], line[64];
    int hold[2], fd = -1, r = 0;
    pid_t pid;

    if (pipe2(hold, O_CLOEXEC) < 0)
        return err_set(err, errno, "spawn", "pipe: %m");
    pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
    if (pid == 0) {
        char c;
        close(hold[1]);
        ssize_t n = read(hold[0], &c, 1); /* until the spawner closes its end */
        _exit(n < 0);
    }
    close(hold[0]);
    if (pid < 0) {
        close(hold[1]);
        return err_set(err, errno, "spawn", "idmapped workspace: clone3: %m");
    }
    snprintf(line, sizeof(line), "%u %u 1\n", s->idmap_uid, s->host_uid);
    snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
    if ((r = write_file(path, line, err)) == 0) {
        snprintf(line, sizeof(line), "%u %u 1\n", s->idmap_gid, s->host_gid);
        snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
        r = write_file(path, line, err);
    }
    if (r == 0) {
        snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            r = err_set(err, errno, "spawn", "idmapped workspace: %s: %m", path);
    }
    close(hold[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return r < 0 ? r : fd;
}

/* The adopted workspace as a detached mount whose files owned by its owner appear as owned by
 * the job (and what the job creates belongs to the owner on the host). */
static int
idmap_mount(const struct sandbox_spec *s, struct err *err)
{
    const char *dir = sandbox_str(s, s->workspace);
    int ns, mnt;

    if ((ns = idmap_userns(s, err)) < 0)
        return ns;
    mnt = (int)syscall(SYS_open_tree, AT_FDCWD, dir,
                       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
    if (mnt < 0) {
        int e = errno;
        close(ns);
        return err_set(err, e, "spawn", "idmapped workspace: open_tree %s: %s", dir, strerror(e));
    }
    struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                           .userns_fd = (uint64_t)ns};
    if (syscall(SYS_mount_setattr, mnt, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0) {
        int e = errno;
        close(ns);
        close(mnt);
        return err_set(err, e, "spawn",
                       "idmapped workspace: %s: %s (the filesystem must support idmapped "
                       "mounts: ext4, xfs, btrfs, tmpfs...)",
                       dir, strerror(e));
    }
    close(ns);
    return mnt;
}

static int
spawn_fds_open(const struct sandbox_spec *s, struct spawn_fds *x, struct err *err)
{
    const char *in = s->stdin_path ? sandbox_str(s, s->stdin_path) : "/dev/null";

    memset(x, -1, sizeof(*x));
    if (s->idmap && (x->mnt = idmap_mount(s, err)) < 0)
        return x->mnt;
    if (pipe2(x->sync, O_CLOEXEC) < 0 || pipe2(x->errp, O_CLOEXEC) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, x->sock) < 0 ||
        pipe2(x->status, O_CLOEXEC) < 0 || fcntl(x->status[0], F_SETFL, O_NONBLOCK) < 0 ||
        pipe2(x->out, O_CLOEXEC) < 0 || pipe2(x->errout, O_CLOEXEC) < 0)
        return err_set(err, errno, "internal", "pipes: %m");
    x->in = open(in, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (x->in < 0)
        return err_set(err, errno, "internal", "%s: %m", in);
    /* The job reads stdin blocking, as from any file. */
    fcntl(x->in, F_SETFL, 0);
    return 0;
}

static pid_t
clone_child(int *pidfd)
{
    struct clone_args args = {
        .flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
                 CLONE_NEWUTS | CLONE_PIDFD,
        .pidfd = (uint64_t)(uintptr_t)pidfd,
        .exit_signal = SIGCHLD,
    };

    return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

/* Waits for the job's listener and the exec result; fills ret. Takes pidfd. */
static int
finish_spawn(pid_t pid, int pidfd, struct spawn_fds *x, struct sandbox_child *ret, struct err *err)
{
    size_t nfds = 0;
    int lfd = -1;
    ssize_t got = unixmsg_recv(x->sock[0], &(char){0}, 1, &lfd, 1, &nfds);
    int r = read_result(x->errp[0], err);

    if (r == 0 && (got != 1 || nfds != 1))
        r = err_set(err, EPROTO, "spawn", "the proxy listener did not arrive");
    if (r < 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        close(pidfd);
        if (lfd >= 0)
            close(lfd);
        return r;
    }
    *ret = (struct sandbox_child){.pid = pid,
                                  .pidfd = pidfd,
                                  .stdout_fd = x->out[0],
                                  .stderr_fd = x->errout[0],
                                  .listener_fd = lfd,
                                  .status_fd = x->status[0]};
    x->out[0] = x->errout[0] = x->status[0] = -1;
    return 0;
}

static int spawn_cold(const struct sandbox_spec *spec, const struct sandbox_seccomp *filter,
                      struct sandbox_child *ret, struct err *err);

/* ---- warm children ---- */

/* The warm child moves itself into the next job's cgroups ("0" is the writer itself): a v1
 * attach can wait for an RCU grace period (~10 ms when the host is idle), and this way neither
 * the spawner nor a job start waits for it. It still runs as the spawner's host uid, which
 * owns the cgroup files. One byte tells the spawner whether it worked. */
static void
warm_attach(int ctl, const struct sandbox_spec *next)
{
    char ok = 'A';

    for (uint32_t i = 0; i < next->nnext_cgroups; i++) {
        int fd = open(sandbox_str(next, next->next_cgroup_procs[i]), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1)
            ok = 'F';
        if (fd >= 0)
            close(fd);
    }
    ssize_t w = write(ctl, &ok, 1);
    (void)w;
}

/* The warm child: wait for the fds (and, in shared memory, the spec), then run the job. */
__attribute__((noreturn)) static void
warm_main(int ctl, const struct sandbox_spec *shm, const struct sandbox_spec *next,
          const struct sandbox_seccomp *filter)
{
    int fds[7] = {-1, -1, -1, -1, -1, -1, -1};
    struct child_fds c;

    child_prologue(&ctl, 1);
    /* Until it becomes the job's uid, the spawner's death takes it too. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    warm_attach(ctl, next);
    size_t nfds = 0;
    if (unixmsg_recv(ctl, &(char){0}, 1, fds, ARRAY_SIZE(fds), &nfds) != 1 ||
        nfds != 6u + shm->idmap || sandbox_spec_check(shm) < 0)
        _exit(127);
    close(ctl);
    c = (struct child_fds){.sync_rd = -1,
                           .err_wr = fds[0],
                           .sock = fds[1],
                           .status_wr = fds[2],
                           .stdin_fd = fds[3],
                           .stdout_wr = fds[4],
                           .stderr_wr = fds[5],
                           .ws_fd = -1,
                           .ws_mnt = fds[6]};
    child_run(shm, filter, &c);
}

void
sandbox_warm_discard(struct sandbox_warm *w)
{
    if (!w || w->pid <= 0)
        return;
    /* Through the pidfd: the pid alone could have been reaped and reused. */
    syscall(SYS_pidfd_send_signal, w->pidfd, SIGKILL, NULL, 0);
    while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    close(w->pidfd);
    close(w->ctl);
    munmap(w->shm, sizeof(*w->shm));
    memset(w, 0, sizeof(*w));
}

int
sandbox_warm_prepare(struct sandbox_warm *w, const struct sandbox_spec *spec,
                     const struct sandbox_seccomp *filter, struct err *err)
{
    int sv[2], pidfd = -1;
    void *shm;
    pid_t pid;
    int r;

    shm = mmap(NULL, sizeof(*w->shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED)
        return err_set(err, errno, "internal", "mmap: %m");
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        munmap(shm, sizeof(*w->shm));
        return err_set(err, errno, "internal", "socketpair: %m");
    }
    pid = clone_child(&pidfd);
    if (pid == 0) {
        close(sv[0]);
        warm_main(sv[1], shm, spec, filter);
    }
    close(sv[1]);
    if (pid < 0 || (r = write_maps(spec, pid, err)) < 0) {
        r = pid < 0 ? err_set(err, errno, "spawn", "clone3: %m") : r;
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            close(pidfd);
        }
        close(sv[0]);
        munmap(shm, sizeof(*w->shm));
        return r;
    }
    *w = (struct sandbox_warm){.pid = pid,
                               .pidfd = pidfd,
                               .ctl = sv[0],
                               .shm = shm,
                               .host_uid = spec->host_uid,
                               .host_gid = spec->host_gid,
                               .setgroups_deny = spec->setgroups_deny};
    /* The child puts itself into these (warm_attach); spawn_warm reads whether it did. */
    w->ncgroups = spec->nnext_cgroups;
    for (uint32_t i = 0; i < w->ncgroups; i++)
        str_copy(w->cgroups[i], sizeof(w->cgroups[i]),
                 sandbox_str(spec, spec->next_cgroup_procs[i]));
    return 0;
}

/* True when the warm child already sits in exactly the job's cgroups. */
static bool
warm_in_cgroups(const struct sandbox_warm *w, const struct sandbox_spec *spec)
{
    if (w->ncgroups != spec->ncgroups)
        return false;
    for (uint32_t i = 0; i < w->ncgroups; i++)
        if (strcmp(w->cgroups[i], sandbox_str(spec, spec->cgroup_procs[i])) != 0)
            return false;
    return true;
}

static bool
warm_fits(const struct sandbox_warm *w, const struct sandbox_spec *spec)
{
    return w && w->pid > 0 && w->host_uid == spec->host_uid && w->host_gid == spec->host_gid &&
           w->setgroups_deny == spec->setgroups_deny;
}

/* Starts the job in the warm child. Returns 1 when the warm child was unusable (gone): the
 * caller then spawns cold. */
static int
spawn_warm(const struct sandbox_spec *spec, struct sandbox_warm *w, struct sandbox_child *ret,
           struct err *err)
{
    struct spawn_fds x;
    int r;

    if ((r = spawn_fds_open(spec, &x, err)) < 0)
        return r;
    memcpy(w->shm, spec, sizeof(*spec));
    /* Any failure before the child has its fds sends the job down the cold path, which
     * reports a real error (a cgroup write that fails there fails the same way). */
    char attached = 0;
    if (recv(w->ctl, &attached, 1, 0) != 1) {
        r = 1; /* the warm child is gone */
        goto out_discard;
    }
    if ((attached != 'A' || !warm_in_cgroups(w, spec)) && write_cgroups(spec, w->pid, err) < 0) {
        r = 1;
        goto out_discard;
    }
    int fds[7] = {x.errp[1], x.sock[1], x.status[1], x.in, x.out[1], x.errout[1], x.mnt};
    if (unixmsg_send(w->ctl, "G", 1, fds, 6u + (x.mnt >= 0)) < 0) {
        r = 1;
        goto out_discard;
    }
    close_child_ends(&x);
    close(w->ctl);
    munmap(w->shm, sizeof(*w->shm)); /* the child keeps its own mapping */
    r = finish_spawn(w->pid, w->pidfd, &x, ret, err);
    memset(w, 0, sizeof(*w));
    spawn_fds_close(&x);
    return r;
out_discard:
    sandbox_warm_discard(w);
    spawn_fds_close(&x);
    return r;
}

int
sandbox_spawn(const struct sandbox_spec *spec, const struct sandbox_seccomp *filter,
              struct sandbox_warm *warm, struct sandbox_child *ret, struct err *err)
{
    if (warm_fits(warm, spec)) {
        int r = spawn_warm(spec, warm, ret, err);
        if (r != 1)
            return r;
    } else if (warm) {
        sandbox_warm_discard(warm);
    }
    return spawn_cold(spec, filter, ret, err);
}

static int
spawn_cold(const struct sandbox_spec *spec, const struct sandbox_seccomp *filter,
           struct sandbox_child *ret, struct err *err)
{
    struct spawn_fds x;
    int pidfd = -1, lfd = -1, r;
    pid_t pid;

    if ((r = spawn_fds_open(spec, &x, err)) < 0)
        goto out;
    pid = clone_child(&pidfd);
    if (pid < 0) {
        r = err_set(err, errno, "spawn", "clone3: %m");
        goto out;
    }
    if (pid == 0) {
        struct child_fds c = {.sync_rd = x.sync[0],
                              .err_wr = x.errp[1],
                              .sock = x.sock[1],
                              .status_wr = x.status[1],
                              .stdin_fd = x.in,
                              .stdout_wr = x.out[1],
                              .stderr_wr = x.errout[1],
                              .ws_fd = -1,
                              .ws_mnt = x.mnt};
        child_main(spec, filter, &c);
    }
    /* The parent keeps only its ends. */
    close(x.sync[0]), x.sync[0] = -1;
    close_child_ends(&x);
    if ((r = write_maps(spec, pid, err)) < 0 || (r = write_cgroups(spec, pid, err)) < 0 ||
        write(x.sync[1], "G", 1) != 1) {
        if (r >= 0)
            r = err_set(err, errno, "spawn", "release: %m");
        goto fail_child;
    }
    close(x.sync[1]), x.sync[1] = -1;
    r = finish_spawn(pid, pidfd, &x, ret, err);
    goto out;
fail_child:
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (pidfd >= 0)
        close(pidfd);
    if (lfd >= 0)
        close(lfd);
out:
    spawn_fds_close(&x);
    return r;
}
